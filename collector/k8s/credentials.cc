#include "collector/k8s/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/status_macros.h"
#include "rapidjson/document.h"

extern char** environ;

namespace tender::k8s {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

absl::StatusOr<ExecCredentialResult> ParseExecCredential(std::string_view json,
                                                         std::string_view api_version) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("exec plugin output is not a JSON object");
  }
  if (Member(doc, "kind") != "ExecCredential") {
    return absl::InvalidArgumentError("exec plugin output: kind is not ExecCredential");
  }
  std::string version = Member(doc, "apiVersion");
  if (!api_version.empty() && version != api_version) {
    return absl::InvalidArgumentError(absl::StrCat("exec plugin output: apiVersion \"", version,
                                                   "\" does not match \"", ToAbsl(api_version),
                                                   "\""));
  }
  auto status = doc.FindMember("status");
  if (status == doc.MemberEnd() || !status->value.IsObject()) {
    return absl::InvalidArgumentError("exec plugin output: no status");
  }
  ExecCredentialResult out;
  out.token = Member(status->value, "token");
  out.client_cert_pem = Member(status->value, "clientCertificateData");
  out.client_key_pem = Member(status->value, "clientKeyData");
  if (out.client_cert_pem.empty() != out.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "exec plugin output: clientCertificateData and clientKeyData must come together");
  }
  if (out.token.empty() && out.client_cert_pem.empty()) {
    return absl::InvalidArgumentError(
        "exec plugin output: status has neither token nor client certificate");
  }
  std::string expiry = Member(status->value, "expirationTimestamp");
  if (!expiry.empty()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, expiry, &t, &err)) {
      return absl::InvalidArgumentError(
          absl::StrCat("exec plugin output: bad expirationTimestamp \"", expiry, "\": ", err));
    }
    out.expiry = t;
  }
  return out;
}

absl::StatusOr<ExecCredentialResult> RunExecPlugin(const ExecConfig& exec, absl::Duration timeout) {
  std::string api_version =
      exec.api_version.empty() ? "client.authentication.k8s.io/v1" : exec.api_version;
  // Environment: inherited, then the plugin's env (overriding), then KUBERNETES_EXEC_INFO.
  std::vector<std::string> env_strings;
  auto overridden = [&](const char* entry) {
    std::string_view e(entry);
    if (e.rfind("KUBERNETES_EXEC_INFO=", 0) == 0) return true;
    for (const auto& [name, value] : exec.env) {
      if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
        return true;
      }
    }
    return false;
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!overridden(*e)) env_strings.emplace_back(*e);
  }
  for (const auto& [name, value] : exec.env) env_strings.push_back(name + "=" + value);
  env_strings.push_back(
      absl::StrCat("KUBERNETES_EXEC_INFO={\"apiVersion\":\"", api_version,
                   "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}"));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{exec.command};
  argv_strings.insert(argv_strings.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (exec.command.find('/') != std::string::npos) {
      execve(argv[0], argv.data(), envp.data());
    } else {
      execvpe(argv[0], argv.data(), envp.data());
    }
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::string out, err;
  absl::Time deadline = absl::Now() + timeout;
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      bool& open_flag = i == 0 ? out_open : err_open;
      if (!open_flag || fds[i].revents == 0) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (i == 0 ? out : err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        open_flag = false;
      }
    }
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  std::string hint = exec.install_hint.empty() ? "" : absl::StrCat(" (", exec.install_hint, ")");
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "exec plugin ", exec.command, " timed out after ", absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    return absl::UnavailableError(absl::StrCat("exec plugin ", exec.command, " failed (exit ", code,
                                               ")", code == 127 ? hint : std::string(), ": ",
                                               absl::StripAsciiWhitespace(err)));
  }
  absl::StatusOr<ExecCredentialResult> parsed = ParseExecCredential(out, api_version);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("exec plugin ", exec.command, ": ", parsed.status().message()));
  }
  return parsed;
}

CredentialProvider::CredentialProvider(UserConfig user, Clock clock)
    : user_(std::move(user)), clock_(clock ? std::move(clock) : [] { return absl::Now(); }) {}

absl::Status CredentialProvider::LoadClientCertLocked() {
  if (cert_loaded_) return absl::OkStatus();
  static_.client_cert_pem = user_.client_certificate_data;
  static_.client_key_pem = user_.client_key_data;
  if (static_.client_cert_pem.empty() && !user_.client_certificate_file.empty()) {
    ASSIGN_OR_RETURN(static_.client_cert_pem, ReadWholeFile(user_.client_certificate_file));
  }
  if (static_.client_key_pem.empty() && !user_.client_key_file.empty()) {
    ASSIGN_OR_RETURN(static_.client_key_pem, ReadWholeFile(user_.client_key_file));
  }
  static_.bearer_token = user_.token;
  static_.username = user_.username;
  static_.password = user_.password;
  cert_loaded_ = true;
  return absl::OkStatus();
}

absl::Status CredentialProvider::RefreshTokenFileLocked() {
  struct stat st;
  if (stat(user_.token_file.c_str(), &st) != 0) {
    if (!file_token_.empty()) return absl::OkStatus();  // Keep the last good token.
    return absl::NotFoundError(absl::StrCat("cannot read token file ", user_.token_file));
  }
  if (file_size_ == st.st_size && file_mtime_.tv_sec == st.st_mtim.tv_sec &&
      file_mtime_.tv_nsec == st.st_mtim.tv_nsec) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(user_.token_file));
  file_token_ = std::string(absl::StripAsciiWhitespace(text));
  file_size_ = st.st_size;
  file_mtime_ = st.st_mtim;
  return absl::OkStatus();
}

absl::StatusOr<Credential> CredentialProvider::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(LoadClientCertLocked());
  Credential out = static_;
  if (out.bearer_token.empty() && !user_.token_file.empty()) {
    RETURN_IF_ERROR(RefreshTokenFileLocked());
    out.bearer_token = file_token_;
  }
  if (user_.exec.has_value()) {
    if (exec_cached_.has_value() && exec_cached_->expiry.has_value() &&
        clock_() >= *exec_cached_->expiry) {
      exec_cached_.reset();
    }
    if (!exec_cached_.has_value()) {
      // Runs under the lock on purpose: concurrent callers wait for one run, not start many.
      ++exec_runs_;
      ASSIGN_OR_RETURN(exec_cached_, RunExecPlugin(*user_.exec));
    }
    if (!exec_cached_->token.empty()) out.bearer_token = exec_cached_->token;
    if (!exec_cached_->client_cert_pem.empty()) {
      out.client_cert_pem = exec_cached_->client_cert_pem;
      out.client_key_pem = exec_cached_->client_key_pem;
    }
  }
  return out;
}

void CredentialProvider::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  exec_cached_.reset();
  file_size_ = -1;
}

int CredentialProvider::exec_runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exec_runs_;
}

}  // namespace tender::k8s
