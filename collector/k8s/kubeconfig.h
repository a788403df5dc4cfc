// Kubernetes client configuration: loads a kubeconfig (v1) file or the in-cluster service
// account into one resolved KubeConfig (cluster endpoint + TLS, user credentials). Relative
// file paths are resolved against the kubeconfig's directory. Pure functions: any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tender::k8s {

// users[].user.exec: a credential plugin (client.authentication.k8s.io ExecCredential).
struct ExecConfig {
  std::string command;  // Resolved against the kubeconfig dir when it contains a '/'.
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // Added to the inherited environment.
  std::string api_version;                               // client.authentication.k8s.io/v1...
  std::string install_hint;
  std::string interactive_mode;  // Never | IfAvailable | Always ("" when not given).
  bool provide_cluster_info = false;
};

// clusters[].cluster, with file references resolved to absolute paths and data decoded.
struct ClusterConfig {
  std::string server;   // https://host:port[/prefix], no trailing '/'.
  std::string ca_file;  // certificate-authority (absolute path) or "".
  std::string ca_data;  // certificate-authority-data, base64-decoded PEM, or "".
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string proxy_url;
  bool disable_compression = false;
};

// users[].user, resolved the same way.
struct UserConfig {
  std::string client_certificate_file;  // Absolute path or "".
  std::string client_certificate_data;  // Decoded PEM or "".
  std::string client_key_file;
  std::string client_key_data;
  std::string token;       // Takes precedence over token_file.
  std::string token_file;  // Re-read when it changes (service-account tokens rotate).
  std::string username;
  std::string password;
  std::optional<ExecConfig> exec;
};

// The selected context, fully resolved.
struct KubeConfig {
  std::string context;     // Context name ("" for in-cluster).
  std::string namespace_;  // Context namespace; "default" when unset.
  ClusterConfig cluster;
  UserConfig user;
  std::string source;  // Where it came from (file path or "in-cluster"), for messages.
};

// Parses kubeconfig YAML text. `context` selects a context by name; "" means current-context.
// `base_dir` resolves relative paths; `source_name` prefixes error messages. Errors
// (InvalidArgument / NotFound) name the YAML path, e.g. "users[1].user.exec.command".
absl::StatusOr<KubeConfig> ParseKubeConfig(std::string_view yaml, std::string_view base_dir,
                                           std::string_view context,
                                           std::string_view source_name = "kubeconfig");

// Reads and parses the kubeconfig file at `path` (relative paths inside resolve against its
// directory). NotFound when the file does not exist.
absl::StatusOr<KubeConfig> LoadKubeConfigFile(const std::string& path,
                                              std::string_view context = {});

// The kubeconfig path to use: `explicit_path` when not empty, else the first entry of
// `kubeconfig_env` (a ':'-separated list, normally $KUBECONFIG), else `home`/.kube/config.
// Never fails; the file may not exist.
std::string ResolveKubeConfigPath(std::string_view explicit_path, std::string_view kubeconfig_env,
                                  std::string_view home);

// Same, reading $KUBECONFIG and $HOME from the environment, then loads the file.
absl::StatusOr<KubeConfig> LoadDefaultKubeConfig(std::string_view explicit_path = {},
                                                 std::string_view context = {});

inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster credentials: `sa_dir`/{token,ca.crt,namespace} and the service host/port
// (normally $KUBERNETES_SERVICE_HOST / $KUBERNETES_SERVICE_PORT; pass "" to read those).
// The token is referenced as token_file so rotation is picked up. FailedPrecondition when not
// running in a cluster (no host/port or no token).
absl::StatusOr<KubeConfig> LoadInClusterConfig(std::string_view sa_dir = kServiceAccountDir,
                                               std::string_view host = {},
                                               std::string_view port = {});

}  // namespace tender::k8s
