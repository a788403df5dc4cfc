#include "collector/k8s/kubeconfig.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "collector/model/absl_compat.h"
#include "collector/model/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace tender::k8s {
namespace {

std::string Where(std::string_view source, std::string_view path, const YAML::Node& node) {
  std::string out = absl::StrCat(ToAbsl(source), ": ", ToAbsl(path));
  if (node.IsDefined() && node.Mark().line >= 0) {
    absl::StrAppend(&out, " (line ", node.Mark().line + 1, ")");
  }
  return out;
}

// Reads and parses one kubeconfig document; every accessor reports the YAML path on error.
class Reader {
 public:
  Reader(std::string_view source, std::string_view base_dir)
      : source_(source), base_dir_(base_dir) {}

  absl::StatusOr<std::string> String(const YAML::Node& parent, const char* key,
                                     const std::string& path) const {
    YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return std::string();
    if (!n.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source_, path + "." + key, n), ": expected a string"));
    }
    return n.Scalar();
  }

  absl::StatusOr<bool> Bool(const YAML::Node& parent, const char* key,
                            const std::string& path) const {
    YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return false;
    bool value = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source_, path + "." + key, n), ": expected true or false"));
    }
    return value;
  }

  absl::StatusOr<std::string> Base64(const YAML::Node& parent, const char* key,
                                     const std::string& path) const {
    ASSIGN_OR_RETURN(std::string encoded, String(parent, key, path));
    if (encoded.empty()) return encoded;
    std::string decoded;
    if (!absl::Base64Unescape(encoded, &decoded)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source_, path + "." + key, parent[key]), ": not valid base64"));
    }
    return decoded;
  }

  absl::StatusOr<std::string> Path(const YAML::Node& parent, const char* key,
                                   const std::string& path) const {
    ASSIGN_OR_RETURN(std::string p, String(parent, key, path));
    return Resolve(p);
  }

  std::string Resolve(const std::string& p) const {
    if (p.empty() || p[0] == '/' || base_dir_.empty()) return p;
    if (base_dir_.back() == '/') return absl::StrCat(ToAbsl(base_dir_), p);
    return absl::StrCat(ToAbsl(base_dir_), "/", p);
  }

  // Finds the entry called `name` in the named list (`contexts`, `clusters`, `users`) and
  // returns its inner map (`context`, `cluster`, `user`); `*path` gets its YAML path.
  absl::StatusOr<YAML::Node> Find(const YAML::Node& root, const char* list, const char* inner,
                                  const std::string& name, std::string* path) const {
    YAML::Node seq = root[list];
    if (!seq.IsDefined()) {
      return absl::NotFoundError(
          absl::StrCat(ToAbsl(source_), ": ", list, ": no entry named \"", name, "\""));
    }
    if (!seq.IsNull() && !seq.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source_, list, seq), ": expected a list"));
    }
    if (seq.IsSequence()) {
      for (size_t i = 0; i < seq.size(); ++i) {
        YAML::Node entry = seq[i];
        if (!entry.IsMap()) continue;
        YAML::Node n = entry["name"];
        if (n.IsDefined() && n.IsScalar() && n.Scalar() == name) {
          *path = absl::StrCat(list, "[", i, "].", inner);
          YAML::Node body = entry[inner];
          if (body.IsDefined() && !body.IsNull() && !body.IsMap()) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(source_, *path, body), ": expected a map"));
          }
          return body.IsDefined() && body.IsMap() ? body : YAML::Node(YAML::NodeType::Map);
        }
      }
    }
    return absl::NotFoundError(
        absl::StrCat(ToAbsl(source_), ": ", list, ": no entry named \"", name, "\""));
  }

 private:
  std::string_view source_;
  std::string_view base_dir_;
};

absl::StatusOr<ExecConfig> ReadExec(const Reader& r, const YAML::Node& exec,
                                    const std::string& path, std::string_view source) {
  ExecConfig out;
  ASSIGN_OR_RETURN(out.command, r.String(exec, "command", path));
  if (out.command.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, path + ".command", exec), ": required"));
  }
  if (out.command.find('/') != std::string::npos) out.command = r.Resolve(out.command);
  YAML::Node args = exec["args"];
  if (args.IsDefined() && !args.IsNull()) {
    if (!args.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source, path + ".args", args), ": expected a list"));
    }
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(source, absl::StrCat(path, ".args[", i, "]"), args[i]), ": expected a string"));
      }
      out.args.push_back(args[i].Scalar());
    }
  }
  YAML::Node env = exec["env"];
  if (env.IsDefined() && !env.IsNull()) {
    if (!env.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source, path + ".env", env), ": expected a list"));
    }
    for (size_t i = 0; i < env.size(); ++i) {
      std::string p = absl::StrCat(path, ".env[", i, "]");
      if (!env[i].IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(source, p, env[i]), ": expected {name, value}"));
      }
      ASSIGN_OR_RETURN(std::string name, r.String(env[i], "name", p));
      ASSIGN_OR_RETURN(std::string value, r.String(env[i], "value", p));
      if (name.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(source, p + ".name", env[i]), ": required"));
      }
      out.env.emplace_back(std::move(name), std::move(value));
    }
  }
  ASSIGN_OR_RETURN(out.api_version, r.String(exec, "apiVersion", path));
  ASSIGN_OR_RETURN(out.install_hint, r.String(exec, "installHint", path));
  ASSIGN_OR_RETURN(out.interactive_mode, r.String(exec, "interactiveMode", path));
  ASSIGN_OR_RETURN(out.provide_cluster_info, r.Bool(exec, "provideClusterInfo", path));
  if (!out.interactive_mode.empty() && out.interactive_mode != "Never" &&
      out.interactive_mode != "IfAvailable" && out.interactive_mode != "Always") {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, path + ".interactiveMode", exec["interactiveMode"]),
                     ": must be Never, IfAvailable or Always"));
  }
  return out;
}

absl::StatusOr<KubeConfig> Parse(const YAML::Node& root, std::string_view base_dir,
                                 std::string_view context, std::string_view source) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(source), ": not a YAML map"));
  }
  Reader r(source, base_dir);
  KubeConfig out;
  out.source = std::string(source);
  if (context.empty()) {
    ASSIGN_OR_RETURN(out.context, r.String(root, "current-context", ""));
    if (out.context.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(source), ": current-context is not set and no context was given"));
    }
  } else {
    out.context = std::string(context);
  }
  std::string ctx_path;
  ASSIGN_OR_RETURN(YAML::Node ctx, r.Find(root, "contexts", "context", out.context, &ctx_path));
  ASSIGN_OR_RETURN(std::string cluster_name, r.String(ctx, "cluster", ctx_path));
  ASSIGN_OR_RETURN(std::string user_name, r.String(ctx, "user", ctx_path));
  ASSIGN_OR_RETURN(out.namespace_, r.String(ctx, "namespace", ctx_path));
  if (out.namespace_.empty()) out.namespace_ = "default";
  if (cluster_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, ctx_path + ".cluster", ctx), ": required"));
  }

  std::string cp;
  ASSIGN_OR_RETURN(YAML::Node cluster, r.Find(root, "clusters", "cluster", cluster_name, &cp));
  ClusterConfig& c = out.cluster;
  ASSIGN_OR_RETURN(c.server, r.String(cluster, "server", cp));
  if (c.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, cp + ".server", cluster), ": required"));
  }
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  ASSIGN_OR_RETURN(c.ca_file, r.Path(cluster, "certificate-authority", cp));
  ASSIGN_OR_RETURN(c.ca_data, r.Base64(cluster, "certificate-authority-data", cp));
  ASSIGN_OR_RETURN(c.insecure_skip_tls_verify, r.Bool(cluster, "insecure-skip-tls-verify", cp));
  ASSIGN_OR_RETURN(c.tls_server_name, r.String(cluster, "tls-server-name", cp));
  ASSIGN_OR_RETURN(c.proxy_url, r.String(cluster, "proxy-url", cp));
  ASSIGN_OR_RETURN(c.disable_compression, r.Bool(cluster, "disable-compression", cp));

  if (!user_name.empty()) {
    std::string up;
    ASSIGN_OR_RETURN(YAML::Node user, r.Find(root, "users", "user", user_name, &up));
    UserConfig& u = out.user;
    ASSIGN_OR_RETURN(u.client_certificate_file, r.Path(user, "client-certificate", up));
    ASSIGN_OR_RETURN(u.client_certificate_data, r.Base64(user, "client-certificate-data", up));
    ASSIGN_OR_RETURN(u.client_key_file, r.Path(user, "client-key", up));
    ASSIGN_OR_RETURN(u.client_key_data, r.Base64(user, "client-key-data", up));
    ASSIGN_OR_RETURN(u.token, r.String(user, "token", up));
    ASSIGN_OR_RETURN(u.token_file, r.Path(user, "tokenFile", up));
    ASSIGN_OR_RETURN(u.username, r.String(user, "username", up));
    ASSIGN_OR_RETURN(u.password, r.String(user, "password", up));
    YAML::Node exec = user["exec"];
    if (exec.IsDefined() && !exec.IsNull()) {
      if (!exec.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(source, up + ".exec", exec), ": expected a map"));
      }
      ASSIGN_OR_RETURN(u.exec, ReadExec(r, exec, up + ".exec", source));
    }
    bool has_cert = !u.client_certificate_file.empty() || !u.client_certificate_data.empty();
    bool has_key = !u.client_key_file.empty() || !u.client_key_data.empty();
    if (has_cert != has_key) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(source, up, user), ": client-certificate and client-key must be given together"));
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

absl::StatusOr<KubeConfig> ParseKubeConfig(std::string_view yaml, std::string_view base_dir,
                                           std::string_view context, std::string_view source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
    return Parse(root, base_dir, context, source_name);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(source_name), ": ", e.what()));
  }
}

absl::StatusOr<KubeConfig> LoadKubeConfigFile(const std::string& path, std::string_view context) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  return ParseKubeConfig(text, dir, context, path);
}

std::string ResolveKubeConfigPath(std::string_view explicit_path, std::string_view kubeconfig_env,
                                  std::string_view home) {
  if (!explicit_path.empty()) return std::string(explicit_path);
  for (absl::string_view part : absl::StrSplit(ToAbsl(kubeconfig_env), ':')) {
    if (!part.empty()) return std::string(part);
  }
  return absl::StrCat(ToAbsl(home), "/.kube/config");
}

absl::StatusOr<KubeConfig> LoadDefaultKubeConfig(std::string_view explicit_path,
                                                 std::string_view context) {
  return LoadKubeConfigFile(
      ResolveKubeConfigPath(explicit_path, GetEnv("KUBECONFIG"), GetEnv("HOME")), context);
}

absl::StatusOr<KubeConfig> LoadInClusterConfig(std::string_view sa_dir, std::string_view host,
                                               std::string_view port) {
  std::string h = host.empty() ? GetEnv("KUBERNETES_SERVICE_HOST") : std::string(host);
  std::string p = port.empty() ? GetEnv("KUBERNETES_SERVICE_PORT") : std::string(port);
  if (h.empty() || p.empty()) {
    return absl::FailedPreconditionError(
        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  std::string dir(sa_dir);
  KubeConfig out;
  out.source = "in-cluster";
  if (h.find(':') != std::string::npos) h = absl::StrCat("[", h, "]");  // IPv6 literal.
  out.cluster.server = absl::StrCat("https://", h, ":", p);
  out.user.token_file = dir + "/token";
  if (!ReadFile(out.user.token_file).ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("not in a cluster: cannot read ", out.user.token_file));
  }
  out.cluster.ca_file = dir + "/ca.crt";
  absl::StatusOr<std::string> ns = ReadFile(dir + "/namespace");
  out.namespace_ = ns.ok() ? std::string(absl::StripAsciiWhitespace(*ns)) : "default";
  if (out.namespace_.empty()) out.namespace_ = "default";
  return out;
}

}  // namespace tender::k8s
