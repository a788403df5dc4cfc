// The tender process: command line, sub-commands (check config, check metrics, version) and
// the collector itself with its wiring (exporters start first and stop last), signals and
// reload. Called from main() only.
#pragma once

#include <string>
#include <vector>

namespace tender::app {

// Runs tender with the arguments after argv[0]. Returns the process exit code: 0 ok, 1 runtime
// or check failure, 2 bad usage or bad config.
int Main(const std::vector<std::string>& args);

}  // namespace tender::app
