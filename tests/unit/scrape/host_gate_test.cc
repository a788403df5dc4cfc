#include "collector/scrape/host_gate.h"

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tender::scrape {
namespace {

TEST(HostGateTest, LimitsPerHostAndStartsWaitersInOrder) {
  HostGate gate(2);
  std::vector<std::string> started;
  auto start = [&](std::string name) { return [&started, name] { started.push_back(name); }; };
  EXPECT_TRUE(gate.Acquire("https://api:6443", start("a")));
  EXPECT_TRUE(gate.Acquire("https://api:6443", start("b")));
  EXPECT_FALSE(gate.Acquire("https://api:6443", start("c")));
  EXPECT_FALSE(gate.Acquire("https://api:6443", start("d")));
  EXPECT_TRUE(gate.Acquire("http://other:9100", start("x")));  // Another host is not held up.
  EXPECT_EQ(gate.running("https://api:6443"), 2u);
  EXPECT_EQ(gate.waiting("https://api:6443"), 2u);
  EXPECT_TRUE(started.empty());  // Callers start what Acquire admitted themselves.
  gate.Release("https://api:6443");
  EXPECT_EQ(started, (std::vector<std::string>{"c"}));
  EXPECT_EQ(gate.running("https://api:6443"), 2u);  // The slot passed on.
  gate.Release("https://api:6443");
  gate.Release("https://api:6443");
  gate.Release("https://api:6443");
  EXPECT_EQ(started, (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(gate.running("https://api:6443"), 0u);
  EXPECT_EQ(gate.waiting("https://api:6443"), 0u);
}

TEST(HostGateTest, ALimitPerCallReplacesTheDefault) {
  HostGate gate(16);
  int started = 0;
  auto start = [&] { ++started; };
  EXPECT_TRUE(gate.Acquire("https://api:6443", start, 1));
  EXPECT_FALSE(gate.Acquire("https://api:6443", start, 1));
  EXPECT_TRUE(gate.Acquire("http://node:9100", start));  // The default (16) elsewhere.
  EXPECT_TRUE(gate.Acquire("http://node:9100", start));
  gate.Release("https://api:6443");
  EXPECT_EQ(started, 1);
  EXPECT_EQ(gate.running("https://api:6443"), 1u);
}

TEST(HostGateTest, NoLimitWhenZeroAndBlocksOnlyGrow) {
  HostGate gate(0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(gate.Acquire("h", [] {}));
  EXPECT_EQ(gate.BlockedUntil("h"), absl::InfinitePast());
  const absl::Time t = absl::Now() + absl::Seconds(30);
  gate.Block("h", t);
  gate.Block("h", t - absl::Seconds(10));  // An earlier block does not shorten it.
  EXPECT_EQ(gate.BlockedUntil("h"), t);
  EXPECT_EQ(gate.BlockedUntil("other"), absl::InfinitePast());
}

TEST(HostGateTest, HostKeyIsSchemeHostAndPort) {
  EXPECT_EQ(HostKey("https://api.example:6443/api/v1/nodes/n1/proxy/metrics"),
            "https://api.example:6443");
  EXPECT_EQ(HostKey("http://10.0.0.1:9100/metrics?x=1"), "http://10.0.0.1:9100");
  EXPECT_EQ(HostKey("http://[::1]:8080"), "http://[::1]:8080");
}

}  // namespace
}  // namespace tender::scrape
