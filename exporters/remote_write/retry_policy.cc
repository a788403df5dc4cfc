#include "exporters/remote_write/retry_policy.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "collector/model/absl_compat.h"

namespace tender::remote_write {

RetryPolicy::RetryPolicy(const config::QueueConfig& queue)
    : min_backoff_(std::max(queue.min_backoff, kMinBackoffFloor)),
      max_backoff_(std::max(queue.max_backoff, min_backoff_)),
      retry_on_http_429_(queue.retry_on_http_429) {}

RetryDecision RetryPolicy::Decide(const RetryInput& input) const {
  using Action = RetryDecision::Action;
  const int status = input.http_status;
  if (status >= 200 && status < 300) {
    return {Action::kSuccess};
  }
  const bool retryable =
      status == 0 || (status >= 500 && status < 600) || (status == 429 && retry_on_http_429_);
  if (!retryable) {
    return {Action::kDrop};
  }

  RetryDecision decision;
  decision.action = Action::kRetry;
  if (!input.retry_after.empty()) {
    const std::optional<absl::Duration> wait = ParseRetryAfter(input.retry_after, input.now);
    if (wait.has_value() && *wait > absl::ZeroDuration()) {
      decision.delay = std::min(*wait, kMaxRetryAfter);
      decision.backoff = std::min(decision.delay, max_backoff_);
      return decision;
    }
  }
  absl::Duration backoff = min_backoff_;
  if (input.attempt > 1 && input.previous_backoff > absl::ZeroDuration()) {
    backoff = std::clamp(input.previous_backoff * 2, min_backoff_, max_backoff_);
  }
  const double jitter = std::clamp(input.jitter, 0.0, 1.0);
  decision.backoff = backoff;
  decision.delay = backoff * (1.0 - kJitterFraction * jitter);
  return decision;
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(ToAbsl(value));
  if (trimmed.empty()) {
    return std::nullopt;
  }
  if (std::all_of(trimmed.begin(), trimmed.end(), absl::ascii_isdigit)) {
    // Anything beyond 10 digits is far past kMaxRetryAfter; avoid overflow.
    if (trimmed.size() > 10) {
      return absl::Seconds(9999999999);
    }
    int64_t seconds = 0;
    for (const char c : trimmed) {
      seconds = seconds * 10 + (c - '0');
    }
    return absl::Seconds(seconds);
  }
  // IMF-fixdate, obsolete RFC 850, asctime (RFC 9110 §5.6.7). Always GMT/UTC.
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",
      "%A, %d-%b-%y %H:%M:%S GMT",
      "%a %b %e %H:%M:%S %Y",
  };
  const std::string text(trimmed);
  for (const char* format : kFormats) {
    absl::Time when;
    std::string error;
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &when, &error)) {
      return std::max(when - now, absl::ZeroDuration());
    }
  }
  return std::nullopt;
}

}  // namespace tender::remote_write
