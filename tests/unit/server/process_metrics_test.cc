#include "collector/server/process_metrics.h"

#include <unistd.h>

#include <map>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tender::server {
namespace {

std::map<std::string, double> Values(prometheus::Registry& registry) {
  std::map<std::string, double> out;
  for (const auto& family : registry.Collect()) {
    for (const auto& m : family.metric) {
      out[family.name] =
          family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return out;
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  prometheus::Registry registry;
  ProcessMetrics metrics(registry);
  ASSERT_TRUE(metrics.Update().ok());
  // Burn a little CPU so that the counter must move.
  volatile double x = 0;
  const absl::Time end = absl::Now() + absl::Milliseconds(200);
  while (absl::Now() < end) x = x + 1;
  const double before = Values(registry)["process_cpu_seconds_total"];
  ASSERT_TRUE(metrics.Update().ok());
  const auto v = Values(registry);
  EXPECT_GT(v.at("process_cpu_seconds_total"), before);
  EXPECT_GT(v.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(v.at("process_virtual_memory_bytes"), v.at("process_resident_memory_bytes"));
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(v.at("process_start_time_seconds"), now - 3600);
  EXPECT_LE(v.at("process_start_time_seconds"), now + 1);
  EXPECT_GE(v.at("process_open_fds"), 3);  // stdin, stdout, stderr at least.
  EXPECT_GE(v.at("process_max_fds"), v.at("process_open_fds"));
}

}  // namespace
}  // namespace tender::server
