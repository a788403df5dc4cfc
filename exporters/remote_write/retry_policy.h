// The remote-write retry rules as a pure function of what happened (protocols.md §4.4, DESIGN
// decision 7): 2xx succeeds, 5xx / 429 (when enabled) / no response are retried with jittered
// exponential backoff or the receiver's Retry-After, every other status drops the request.
// Stateless after construction; const methods are safe from any thread.
#pragma once

#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "collector/config/config.h"

namespace tender::remote_write {

// Longest wait a Retry-After may impose. A receiver may legitimately ask for a minute of quiet
// during a restart; beyond 5 minutes (the default query lookback, after which the data would
// look stale anyway) we assume a misconfiguration and retry after 5 minutes instead.
inline constexpr absl::Duration kMaxRetryAfter = absl::Minutes(5);

// Shortest backoff ever used, so that min_backoff: 0s cannot make a shard spin.
inline constexpr absl::Duration kMinBackoffFloor = absl::Milliseconds(1);

// Jitter: a computed backoff b is slept as b * (1 - kJitterFraction * u), u uniform in [0, 1),
// i.e. between 80% and 100% of b. This spreads shards that failed together, never exceeds
// max_backoff, and keeps successive sleeps growing (ratio >= 2 * 0.8 until the cap, >= 0.8 at
// the cap) as remote-write senders are expected to.
inline constexpr double kJitterFraction = 0.2;

// What the last attempt of one request observed.
struct RetryInput {
  int http_status = 0;           // HTTP status; 0 = no response (connect error, timeout, reset).
  std::string_view retry_after;  // Raw Retry-After header value; empty when absent.
  absl::Time now;                // Reference time for an HTTP-date Retry-After.
  int attempt = 1;               // 1-based number of the attempt that just finished.
  // The `backoff` of the previous kRetry decision for this request (ignored when attempt == 1).
  absl::Duration previous_backoff = absl::ZeroDuration();
  double jitter = 0;  // Uniform random draw in [0, 1); 0 means no jitter.
};

struct RetryDecision {
  enum class Action { kSuccess, kRetry, kDrop };

  Action action = Action::kDrop;
  absl::Duration delay = absl::ZeroDuration();    // kRetry: wait this long, then resend.
  absl::Duration backoff = absl::ZeroDuration();  // kRetry: pass back as previous_backoff.
};

class RetryPolicy {
 public:
  // Uses min_backoff, max_backoff and retry_on_http_429 of `queue`.
  explicit RetryPolicy(const config::QueueConfig& queue);

  // Classifies the outcome and, for a retry, computes the delay:
  //  - first retry: min_backoff; later: double the previous backoff, capped at max_backoff;
  //    the sleep is that backoff with jitter (see kJitterFraction);
  //  - a Retry-After that parses to more than zero replaces the computed delay (no jitter,
  //    capped at kMaxRetryAfter), and the next backoff doubles from it, capped at max_backoff;
  //  - there is no retry limit: the caller retries until success, a drop, or shutdown.
  RetryDecision Decide(const RetryInput& input) const;

 private:
  absl::Duration min_backoff_;
  absl::Duration max_backoff_;
  bool retry_on_http_429_;
};

// Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds (digits only) or an HTTP-date
// (IMF-fixdate, with RFC 850 and asctime forms accepted as the RFC asks), relative to `now`.
// Returns the wait (zero for a date in the past) or nullopt when the value does not parse.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now);

}  // namespace tender::remote_write
