#include "exporters/remote_write/retry_policy.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tender::remote_write {
namespace {

using Action = RetryDecision::Action;

std::string ActionName(Action a) {
  switch (a) {
    case Action::kSuccess:
      return "success";
    case Action::kRetry:
      return "retry";
    case Action::kDrop:
      return "drop";
  }
  return "?";
}

config::QueueConfig Queue(bool retry_429) {
  config::QueueConfig q;
  q.min_backoff = absl::Milliseconds(30);
  q.max_backoff = absl::Seconds(5);
  q.retry_on_http_429 = retry_429;
  return q;
}

// Durations scaled by a double may be off by a tick of absl's representation.
void ExpectNear(absl::Duration got, absl::Duration want) {
  EXPECT_LE(absl::AbsDuration(got - want), absl::Microseconds(1))
      << absl::FormatDuration(got) << " vs " << absl::FormatDuration(want);
}

// 2015-10-21 07:28:00 UTC.
const absl::Time kNow = absl::FromUnixSeconds(1445412480);

TEST(RetryPolicyTest, ClassifiesOutcomes) {
  struct Case {
    int status;
    bool retry_429;
    Action want;
  };
  const std::vector<Case> cases = {
      {200, true, Action::kSuccess}, {204, true, Action::kSuccess}, {299, false, Action::kSuccess},
      {400, true, Action::kDrop},    {401, true, Action::kDrop},    {403, true, Action::kDrop},
      {404, true, Action::kDrop},    {413, true, Action::kDrop},    {415, true, Action::kDrop},
      {429, true, Action::kRetry},   {429, false, Action::kDrop},   {500, false, Action::kRetry},
      {502, false, Action::kRetry},  {503, false, Action::kRetry},  {504, true, Action::kRetry},
      {0, false, Action::kRetry},  // No response.
      {301, true, Action::kDrop},    {100, true, Action::kDrop},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(absl::StrCat("status ", c.status, " retry_on_http_429=", c.retry_429));
    const RetryPolicy policy(Queue(c.retry_429));
    RetryInput in;
    in.http_status = c.status;
    in.now = kNow;
    const RetryDecision d = policy.Decide(in);
    EXPECT_EQ(ActionName(d.action), ActionName(c.want));
    if (c.want == Action::kRetry) {
      EXPECT_EQ(d.delay, absl::Milliseconds(30));  // First retry, no jitter: min_backoff.
      EXPECT_EQ(d.backoff, absl::Milliseconds(30));
    } else {
      EXPECT_EQ(d.delay, absl::ZeroDuration());
    }
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(RetryPolicyTest, BackoffDoublesUpToCap) {
  const RetryPolicy policy(Queue(true));
  const std::vector<int64_t> want_ms = {30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000};
  absl::Duration previous = absl::ZeroDuration();
  for (size_t i = 0; i < want_ms.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("attempt ", i + 1));
    RetryInput in;
    in.http_status = 503;
    in.now = kNow;
    in.attempt = static_cast<int>(i + 1);
    in.previous_backoff = previous;
    const RetryDecision d = policy.Decide(in);
    ASSERT_EQ(d.action, Action::kRetry);
    EXPECT_EQ(d.backoff, absl::Milliseconds(want_ms[i]));
    EXPECT_EQ(d.delay, absl::Milliseconds(want_ms[i]));
    previous = d.backoff;
  }
}

TEST(RetryPolicyTest, JitterShortensDelayByAtMostTwentyPercent) {
  const RetryPolicy policy(Queue(true));
  struct Case {
    double jitter;
    absl::Duration previous;
    int attempt;
    absl::Duration want_delay;
    absl::Duration want_backoff;
  };
  const std::vector<Case> cases = {
      {0.5, absl::ZeroDuration(), 1, absl::Milliseconds(27), absl::Milliseconds(30)},
      {0.5, absl::Milliseconds(30), 2, absl::Milliseconds(54), absl::Milliseconds(60)},
      {1.0, absl::Seconds(4), 5, absl::Seconds(4), absl::Seconds(5)},  // 5s * 0.8.
      {0.25, absl::Seconds(5), 9, absl::Milliseconds(4750), absl::Seconds(5)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("jitter ", c.jitter, " attempt ", c.attempt));
    RetryInput in;
    in.http_status = 500;
    in.now = kNow;
    in.attempt = c.attempt;
    in.previous_backoff = c.previous;
    in.jitter = c.jitter;
    const RetryDecision d = policy.Decide(in);
    ExpectNear(d.delay, c.want_delay);
    EXPECT_EQ(d.backoff, c.want_backoff);  // Doubling continues from the un-jittered value.
  }
}

TEST(RetryPolicyTest, RetryAfterReplacesComputedDelay) {
  const RetryPolicy policy(Queue(true));
  struct Case {
    std::string name;
    int status;
    std::string retry_after;
    absl::Duration previous;
    absl::Duration want_delay;
    absl::Duration want_backoff;
  };
  const std::vector<Case> cases = {
      {"seconds on 503", 503, "2", absl::Milliseconds(30), absl::Seconds(2), absl::Seconds(2)},
      {"seconds on 429", 429, "120", absl::ZeroDuration(), absl::Seconds(120), absl::Seconds(5)},
      {"http-date", 503, "Wed, 21 Oct 2015 07:28:03 GMT", absl::ZeroDuration(), absl::Seconds(3),
       absl::Seconds(3)},
      {"capped", 503, "86400", absl::ZeroDuration(), kMaxRetryAfter, absl::Seconds(5)},
      {"zero: computed backoff", 503, "0", absl::Milliseconds(30), absl::Milliseconds(60),
       absl::Milliseconds(60)},
      {"date in the past: computed", 503, "Wed, 21 Oct 2015 07:27:00 GMT", absl::Milliseconds(30),
       absl::Milliseconds(60), absl::Milliseconds(60)},
      {"unparsable: computed", 503, "soon", absl::Milliseconds(30), absl::Milliseconds(60),
       absl::Milliseconds(60)},
      {"on network error", 0, "1", absl::ZeroDuration(), absl::Seconds(1), absl::Seconds(1)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RetryInput in;
    in.http_status = c.status;
    in.retry_after = c.retry_after;
    in.now = kNow;
    in.attempt = c.previous > absl::ZeroDuration() ? 2 : 1;
    in.previous_backoff = c.previous;
    in.jitter = 0.9;  // Ignored for Retry-After.
    const RetryDecision d = policy.Decide(in);
    ASSERT_EQ(d.action, Action::kRetry);
    if (c.retry_after == "0" || c.name.find("computed") != std::string::npos) {
      EXPECT_EQ(d.backoff, c.want_backoff);
      ExpectNear(d.delay, c.want_backoff * (1 - kJitterFraction * 0.9));
    } else {
      EXPECT_EQ(d.delay, c.want_delay);
      EXPECT_EQ(d.backoff, c.want_backoff);
    }
  }
  // Retry-After on a 400 does not make it retryable.
  RetryInput in;
  in.http_status = 400;
  in.retry_after = "1";
  in.now = kNow;
  EXPECT_EQ(policy.Decide(in).action, Action::kDrop);
}

TEST(RetryPolicyTest, ParsesRetryAfter) {
  struct Case {
    std::string value;
    std::optional<absl::Duration> want;
  };
  const std::vector<Case> cases = {
      {"0", absl::ZeroDuration()},
      {"17", absl::Seconds(17)},
      {" 5 ", absl::Seconds(5)},
      {"99999999999999999999", absl::Seconds(9999999999)},
      {"Wed, 21 Oct 2015 07:29:30 GMT", absl::Seconds(90)},      // IMF-fixdate.
      {"Wednesday, 21-Oct-15 07:29:30 GMT", absl::Seconds(90)},  // RFC 850.
      {"Wed Oct 21 07:29:30 2015", absl::Seconds(90)},           // asctime.
      {"Wed, 21 Oct 2015 07:00:00 GMT", absl::ZeroDuration()},   // In the past.
      {"", std::nullopt},
      {"-5", std::nullopt},
      {"1.5", std::nullopt},
      {"5s", std::nullopt},
      {"tomorrow", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("\"", c.value, "\""));
    const std::optional<absl::Duration> got = ParseRetryAfter(c.value, kNow);
    ASSERT_EQ(got.has_value(), c.want.has_value());
    if (got.has_value()) {
      EXPECT_EQ(*got, *c.want);
    }
  }
}

TEST(RetryPolicyTest, DegenerateBackoffSettings) {
  config::QueueConfig q;
  q.min_backoff = absl::ZeroDuration();
  q.max_backoff = absl::ZeroDuration();
  const RetryPolicy policy(q);
  RetryInput in;
  in.http_status = 500;
  in.now = kNow;
  const RetryDecision d = policy.Decide(in);
  EXPECT_EQ(d.delay, kMinBackoffFloor);  // Never a zero-delay spin.
  in.attempt = 2;
  in.previous_backoff = d.backoff;
  EXPECT_EQ(policy.Decide(in).delay, kMinBackoffFloor);
}

}  // namespace
}  // namespace tender::remote_write
