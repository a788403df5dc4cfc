// Credentials for API requests, derived from a kubeconfig user: static token, token file
// (re-read when it changes), basic auth, client certificate, or an exec credential plugin
// (run on demand, cached until its expirationTimestamp, re-run after a 401).
// Thread-safe: any thread may call Get() and Invalidate().
#pragma once

#include <sys/types.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/k8s/kubeconfig.h"

namespace tender::k8s {

// What one request authenticates with. Empty fields are unused.
struct Credential {
  std::string bearer_token;
  std::string username;  // Basic auth when not empty.
  std::string password;
  std::string client_cert_pem;
  std::string client_key_pem;
};

// A parsed ExecCredential status.
struct ExecCredentialResult {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<absl::Time> expiry;  // Unset: valid until a 401.
};

// Parses the JSON an exec plugin printed (ExecCredential of `api_version`, or any version when
// `api_version` is empty). InvalidArgument with the reason when malformed.
absl::StatusOr<ExecCredentialResult> ParseExecCredential(std::string_view json,
                                                         std::string_view api_version);

// Runs the plugin (fork/exec with the inherited environment plus `exec.env` and
// KUBERNETES_EXEC_INFO), waits up to `timeout`, and parses its stdout. Errors name the command
// and carry its stderr and the install hint. Blocks the calling thread.
absl::StatusOr<ExecCredentialResult> RunExecPlugin(const ExecConfig& exec,
                                                   absl::Duration timeout = absl::Seconds(60));

class CredentialProvider {
 public:
  using Clock = std::function<absl::Time()>;

  // `clock` decides exec credential expiry; defaults to absl::Now.
  explicit CredentialProvider(UserConfig user, Clock clock = nullptr);

  CredentialProvider(const CredentialProvider&) = delete;
  CredentialProvider& operator=(const CredentialProvider&) = delete;

  // The credential to send now. Reads files and runs the exec plugin as needed (may block for
  // the plugin's run time). Errors when a file cannot be read or the plugin fails.
  absl::StatusOr<Credential> Get();

  // Called after a 401: the next Get() re-runs the exec plugin and re-reads the token file.
  void Invalidate();

  // How many times the exec plugin ran (for tests and metrics).
  int exec_runs() const;

 private:
  absl::Status RefreshTokenFileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadClientCertLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const UserConfig user_;
  const Clock clock_;
  mutable std::mutex mu_;  // Covers everything below (std::mutex: visible to TSan).
  bool cert_loaded_ ABSL_GUARDED_BY(mu_) = false;
  Credential static_ ABSL_GUARDED_BY(mu_);  // Cert/key PEM, static token, basic auth.
  std::string file_token_ ABSL_GUARDED_BY(mu_);
  struct timespec file_mtime_ ABSL_GUARDED_BY(mu_) = {};
  off_t file_size_ ABSL_GUARDED_BY(mu_) = -1;
  std::optional<ExecCredentialResult> exec_cached_ ABSL_GUARDED_BY(mu_);
  int exec_runs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tender::k8s
