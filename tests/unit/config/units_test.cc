#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"

namespace tender::config {
namespace {

constexpr absl::Duration kDay = absl::Hours(24);

TEST(ParseDurationTest, AcceptsPrometheusDurations) {
  struct Case {
    std::string text;
    absl::Duration want;
  };
  const std::vector<Case> cases = {
      {"0", absl::ZeroDuration()},
      {"0s", absl::ZeroDuration()},
      {"0ms", absl::ZeroDuration()},
      {"1s", absl::Seconds(1)},
      {"15s", absl::Seconds(15)},
      {"001s", absl::Seconds(1)},
      {"100ms", absl::Milliseconds(100)},
      {"90m", absl::Minutes(90)},
      {"1m30s", absl::Seconds(90)},
      {"1h30m", absl::Minutes(90)},
      {"1d", kDay},
      {"1w", 7 * kDay},
      {"1y", 365 * kDay},
      {"2w3d", 17 * kDay},
      {"1y2w3d4h5m6s7ms", 365 * kDay + 14 * kDay + 3 * kDay + absl::Hours(4) + absl::Minutes(5) +
                              absl::Seconds(6) + absl::Milliseconds(7)},
      {"1s500ms", absl::Milliseconds(1500)},
      // The largest value that fits in Go's int64 nanoseconds is about 292 years.
      {"292y", 292 * 365 * kDay},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<absl::Duration> got = ParseDuration(c.text);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want);
  }
}

TEST(ParseDurationTest, RejectsInvalidDurations) {
  struct Case {
    std::string text;
    std::string message;  // Substring of the error.
  };
  const std::vector<Case> cases = {
      {"", "empty duration"},
      {"1", "not a valid duration"},      // No unit.
      {"s", "not a valid duration"},      // No number.
      {"1.5s", "not a valid duration"},   // No fractions.
      {"-1s", "not a valid duration"},    // No sign.
      {"+1s", "not a valid duration"},    //
      {"1s1m", "not a valid duration"},   // Smaller unit first.
      {"1m1m", "not a valid duration"},   // Unit twice.
      {"1ms1s", "not a valid duration"},  // ms is smaller than s.
      {"1x", "unknown unit \"x\""},       //
      {"1S", "unknown unit \"S\""},       // Case-sensitive.
      {"1e3s", "unknown unit \"e\""},     //
      {" 1s", "not a valid duration"},    // No spaces.
      {"1s ", "unknown unit \"s \""},     //
      {"1h 30m", "unknown unit \"h \""},  //
      {"293y", "out of range"},           //
      {"99999999999999999999s", "out of range"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<absl::Duration> got = ParseDuration(c.text);
    ASSERT_FALSE(got.ok()) << "parsed as " << *got;
    EXPECT_NE(std::string(got.status().message()).find(c.message), std::string::npos)
        << got.status();
  }
}

TEST(FormatDurationTest, PrintsLikePrometheus) {
  struct Case {
    absl::Duration d;
    std::string want;
  };
  const std::vector<Case> cases = {
      {absl::ZeroDuration(), "0s"},
      {absl::Microseconds(999), "0s"},  // Below a millisecond is dropped.
      {absl::Milliseconds(100), "100ms"},
      {absl::Milliseconds(1500), "1s500ms"},
      {absl::Seconds(15), "15s"},
      {absl::Seconds(90), "1m30s"},
      {absl::Minutes(90), "1h30m"},
      {absl::Hours(25), "1d1h"},
      {kDay, "1d"},
      {7 * kDay, "1w"},
      {8 * kDay, "8d"},  // Weeks only when exact.
      {14 * kDay, "2w"},
      {90 * kDay, "90d"},  // Not "12w6d".
      {365 * kDay, "1y"},
      {366 * kDay, "366d"},
      {730 * kDay, "2y"},
      {-absl::Seconds(5), "-5s"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(config::FormatDuration(c.d), c.want);
  }
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  for (absl::Duration d :
       {absl::Milliseconds(1), absl::Milliseconds(30), absl::Seconds(59), absl::Minutes(61),
        kDay + absl::Milliseconds(1), 91 * kDay + absl::Hours(3), 365 * kDay + 7 * kDay,
        3 * 365 * kDay, absl::Hours(100000)}) {
    SCOPED_TRACE(config::FormatDuration(d));
    absl::StatusOr<absl::Duration> back = ParseDuration(config::FormatDuration(d));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, d);
  }
}

TEST(ParseByteSizeTest, AcceptsBase2Bytes) {
  constexpr int64_t kKi = 1024;
  struct Case {
    std::string text;
    int64_t want;
  };
  const std::vector<Case> cases = {
      {"0", 0},
      {"1024", 1024},  // A plain integer is bytes.
      {"0B", 0},
      {"1B", 1},
      {"1KB", kKi},  // KB means 1024 bytes, as in Prometheus.
      {"1KiB", kKi},
      {"512MB", 512 * kKi * kKi},
      {"10MiB", 10 * kKi * kKi},
      {"1GB", kKi * kKi * kKi},
      {"2TiB", 2 * kKi * kKi * kKi * kKi},
      {"1PB", kKi * kKi * kKi * kKi * kKi},
      {"7EiB", 7 * kKi * kKi * kKi * kKi * kKi * kKi},
      {"1GB512MB", 3 * kKi * kKi * kKi / 2},
      {"1KiB1B", kKi + 1},
      {"1.5KB", 1536},
      {".5KiB", 512},
      {"1.0009765625KB", kKi + 1},
      {"0.3B", 0},  // Truncated to whole bytes.
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<int64_t> got = ParseByteSize(c.text);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want);
  }
}

TEST(ParseByteSizeTest, RejectsInvalidSizes) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "empty byte size"},
      {"KB", "not a valid byte size"},
      {"1.5", "not a valid byte size"},  // A fraction needs a unit.
      {".", "not a valid byte size"},
      {"-1KB", "not a valid byte size"},
      {"1kb", "unknown unit \"kb\""},  // Case-sensitive.
      {"1 KB", "unknown unit \" KB\""},
      {"1KB ", "unknown unit \"KB \""},
      {"1XB", "unknown unit \"XB\""},
      {"1Ki", "unknown unit \"Ki\""},
      {"1KB512MiB", "mixes"},
      {"8EiB", "out of range"},
      {"99999999999999999999", "out of range"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<int64_t> got = ParseByteSize(c.text);
    ASSERT_FALSE(got.ok()) << "parsed as " << *got;
    EXPECT_NE(std::string(got.status().message()).find(c.message), std::string::npos)
        << got.status();
  }
}

TEST(FormatByteSizeTest, PrintsBase2AndRoundTrips) {
  struct Case {
    int64_t bytes;
    std::string want;
  };
  const std::vector<Case> cases = {
      {0, "0B"},          {512, "512B"},       {1024, "1KiB"},
      {1536, "1KiB512B"}, {10 << 20, "10MiB"}, {(int64_t{1} << 30) + 1, "1GiB1B"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(FormatByteSize(c.bytes), c.want);
    absl::StatusOr<int64_t> back = ParseByteSize(FormatByteSize(c.bytes));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, c.bytes);
  }
}

TEST(ValidateTargetAddressTest, AcceptsHostPortForms) {
  for (const std::string address :
       {"localhost:9100", "10.0.0.1:80", "node-1.internal:9100", "[::1]:9100", "[2001:db8::1]",
        "example.com", "a:65535", "a:1"}) {
    SCOPED_TRACE(address);
    EXPECT_TRUE(ValidateTargetAddress(address).ok()) << ValidateTargetAddress(address);
  }
}

TEST(ValidateTargetAddressTest, RejectsWhatIsNotHostPort) {
  struct Case {
    std::string address;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "empty target address"},
      {"http://x:80", "without a scheme"},
      {"x:80/metrics", "without a path"},
      {"x:80?a=b", "without a path"},
      {"x:0", "port"},
      {"x:65536", "port"},
      {"x:", "port"},
      {"x:8a", "port"},
      {"x:123456", "port"},
      {":80", "missing host"},
      {"::1", "brackets"},
      {"[::1", "missing ']'"},
      {"[::1]80", "expected ':port'"},
      {"[host]:80", "only for IPv6"},
      {"x y:80", "whitespace"},
      {"x:80\n", "whitespace"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.address);
    absl::Status s = ValidateTargetAddress(c.address);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(std::string(s.message()).find(c.message), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace tender::config
