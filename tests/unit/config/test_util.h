// Helpers shared by the config tests: fixture paths and a readable gtest printer for Config.
// Test-only; any thread.
#pragma once

#include <ostream>
#include <string>

#include "collector/config/config.h"

#ifndef TENDER_CONFIG_TESTDATA_DIR
#error "TENDER_CONFIG_TESTDATA_DIR must be defined by tests/unit/config/CMakeLists.txt"
#endif

namespace tender::config {

// Absolute path of a file under tests/testdata/config.
inline std::string TestdataPath(const std::string& name) {
  return std::string(TENDER_CONFIG_TESTDATA_DIR) + "/" + name;
}

// gtest prints a Config as YAML (found by ADL), then the secrets the YAML hides, so a failing
// comparison shows what differs.
inline void PrintTo(const Config& config, std::ostream* os) {
  *os << "\n" << RedactedYaml(config) << "secrets:";
  auto secrets = [&](const std::string& where, const HttpClientConfig& http) {
    if (http.basic_auth.has_value()) {
      *os << " " << where << ".password=" << http.basic_auth->password;
    }
    if (http.authorization.has_value()) {
      *os << " " << where << ".credentials=" << http.authorization->credentials;
    }
  };
  for (const ScrapeConfig& sc : config.scrape_configs) {
    secrets(sc.job_name, sc.http);
  }
  for (const RemoteWriteConfig& rw : config.remote_write) {
    secrets(rw.name, rw.http);
    *os << " " << rw.name << ".url=" << rw.url;
  }
  *os << "\n";
}

}  // namespace tender::config
