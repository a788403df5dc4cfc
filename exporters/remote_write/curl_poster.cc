#include "exporters/remote_write/curl_poster.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"

namespace tender::remote_write {
namespace {

// Headers that belong to the connection or to the auth settings; user `headers:` cannot
// override them, whatever the protocol. Lowercase.
constexpr std::string_view kConnectionHeaders[] = {
    "authorization", "connection",          "content-length",    "expect",     "host",
    "keep-alive",    "proxy-authorization", "transfer-encoding", "user-agent",
};

bool IsReservedHeader(std::string_view name, const std::vector<std::string>& protocol) {
  const std::string lower = absl::AsciiStrToLower(ToAbsl(name));
  return std::find(std::begin(kConnectionHeaders), std::end(kConnectionHeaders), lower) !=
             std::end(kConnectionHeaders) ||
         std::find(protocol.begin(), protocol.end(), lower) != protocol.end();
}

// Reads a secret file as Prometheus does: the whole file, surrounding whitespace trimmed.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(contents.str()));
}

struct Transfer {
  PostResponse* response;
  const std::atomic<bool>* cancel;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string& body = transfer->response->body;
  if (body.size() < kMaxResponseBodyBytes) {
    body.append(data, std::min(n, kMaxResponseBodyBytes - body.size()));
  }
  return n;  // Swallow the rest: the body only matters for logs.
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (e.g. after 100 Continue): forget headers of the previous one.
    transfer->response->retry_after.clear();
    return n;
  }
  constexpr absl::string_view kRetryAfter = "retry-after:";
  if (line.size() > kRetryAfter.size() && absl::StartsWithIgnoreCase(line, kRetryAfter)) {
    transfer->response->retry_after =
        std::string(absl::StripAsciiWhitespace(line.substr(kRetryAfter.size())));
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* transfer = static_cast<Transfer*>(user);
  return transfer->cancel != nullptr && transfer->cancel->load(std::memory_order_relaxed) ? 1 : 0;
}

// Owns a curl_slist for the duration of one request.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
};

// Owns a CURLU URL handle.
struct UrlHandle {
  CURLU* url = curl_url();
  ~UrlHandle() { curl_url_cleanup(url); }

  std::string Get(CURLUPart part, unsigned int flags = 0) const {
    char* value = nullptr;
    if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) {
      return "";
    }
    std::string out(value);
    curl_free(value);
    return out;
  }
};

}  // namespace

CurlHttpPoster::Protocol CurlHttpPoster::RemoteWriteProtocol() {
  // Headers the remote-write sender owns (protocols.md §4.3).
  Protocol p;
  p.headers = {"Content-Encoding: snappy", "Content-Type: application/x-protobuf",
               "X-Prometheus-Remote-Write-Version: 0.1.0"};
  p.reserved = {"content-encoding", "content-type", "retry-attempt",
                "x-prometheus-remote-write-version"};
  return p;
}

CurlHttpPoster::CurlHttpPoster(const config::RemoteWriteConfig& config, Protocol protocol)
    : config_(config), protocol_(std::move(protocol)) {}

CurlHttpPoster::~CurlHttpPoster() {
  for (auto& connection : connections_) {
    std::lock_guard<std::mutex> lock(connection->mu);
    curl_easy_cleanup(connection->easy);
  }
}

absl::StatusOr<std::unique_ptr<CurlHttpPoster>> CurlHttpPoster::Create(
    const config::RemoteWriteConfig& config, std::string user_agent, int shards,
    Protocol protocol) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CurlHttpPoster> poster(new CurlHttpPoster(config, std::move(protocol)));
  RETURN_IF_ERROR(poster->Init(std::move(user_agent), std::max(1, shards)));
  return poster;
}

absl::Status CurlHttpPoster::Init(std::string user_agent, int shards) {
  UrlHandle url;
  if (url.url == nullptr) {
    return absl::ResourceExhaustedError("curl_url failed");
  }
  if (curl_url_set(url.url, CURLUPART_URL, config_.url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("invalid remote_write url: ", config_.url));
  }
  const std::string scheme = absl::AsciiStrToLower(url.Get(CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("remote_write url must be http or https: ", config_.url));
  }
  url_ = config_.url;
  const std::string& server_name = config_.http.tls_config.server_name;
  if (scheme == "https" && !server_name.empty()) {
    // Present `server_name` for SNI and certificate checks while connecting to the URL's host:
    // curl takes both from the URL host, so the URL gets server_name and CONNECT_TO maps it back
    // to the real host. The Host header keeps the URL's original authority.
    const std::string host = url.Get(CURLUPART_HOST);
    const std::string port = url.Get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
    const std::string explicit_port = url.Get(CURLUPART_PORT);
    connect_to_ = absl::StrCat(server_name, ":", port, ":", host, ":", port);
    fixed_headers_.push_back(
        absl::StrCat("Host: ", host, explicit_port.empty() ? "" : ":", explicit_port));
    curl_url_set(url.url, CURLUPART_HOST, server_name.c_str(), 0);
    url_ = url.Get(CURLUPART_URL);
  }

  for (const std::string& line : protocol_.headers) fixed_headers_.push_back(line);
  fixed_headers_.push_back(absl::StrCat("User-Agent: ", user_agent));
  // No `Expect: 100-continue` round trip for large bodies: it costs one RTT per request.
  fixed_headers_.push_back("Expect:");
  for (const auto& [name, value] : config_.headers) {
    if (IsReservedHeader(name, protocol_.reserved)) {
      log::Warn(protocol_.component, "ignoring reserved header in the configured headers",
                {{"remote_name", config_.name}, {"header", name}});
      continue;
    }
    if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      log::Warn(protocol_.component, "ignoring malformed configured header",
                {{"remote_name", config_.name}, {"header", name}});
      continue;
    }
    fixed_headers_.push_back(absl::StrCat(name, ": ", value));
  }

  for (int i = 0; i < shards; ++i) {
    auto connection = std::make_unique<Connection>();
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      return absl::ResourceExhaustedError("curl_easy_init failed");
    }
    {
      std::lock_guard<std::mutex> lock(connection->mu);
      connection->easy = easy;
    }
    connections_.push_back(std::move(connection));
    RETURN_IF_ERROR(ConfigureHandle(easy));
  }
  return absl::OkStatus();
}

absl::Status CurlHttpPoster::ConfigureHandle(CURL* easy) const {
  const long timeout_ms =  // NOLINT(runtime/int): curl takes long.
      static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(config_.remote_timeout)));
  const config::TlsConfig& tls = config_.http.tls_config;
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) {
      rc = r;
    }
  };
  set(curl_easy_setopt(easy, CURLOPT_URL, url_.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_POST, 1L));
  set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms));
  set(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms));
  set(curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L));
  // Prometheus disables HTTP/2 for remote write (3.0); one request per connection at a time.
  set(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1));
  set(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody));
  set(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader));
  set(curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress));
  set(curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L));
  if (!tls.ca_file.empty()) {
    set(curl_easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.c_str()));
  }
  if (!tls.cert_file.empty()) {
    set(curl_easy_setopt(easy, CURLOPT_SSLCERT, tls.cert_file.c_str()));
  }
  if (!tls.key_file.empty()) {
    set(curl_easy_setopt(easy, CURLOPT_SSLKEY, tls.key_file.c_str()));
  }
  if (tls.insecure_skip_verify) {
    set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L));
    set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L));
  }
  if (rc != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_easy_setopt: ", curl_easy_strerror(rc)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CurlHttpPoster::HeaderLines(int retry_attempt,
                                                                     std::string* password) const {
  std::vector<std::string> lines = fixed_headers_;
  if (retry_attempt > 0 && protocol_.retry_attempt_header) {
    lines.push_back(absl::StrCat("Retry-Attempt: ", retry_attempt));
  }
  if (const auto& auth = config_.http.authorization; auth.has_value()) {
    std::string credentials = auth->credentials;
    if (!auth->credentials_file.empty()) {
      ASSIGN_OR_RETURN(credentials, ReadSecretFile(auth->credentials_file));
    }
    lines.push_back(absl::StrCat("Authorization: ", auth->type.empty() ? "Bearer" : auth->type, " ",
                                 credentials));
  }
  if (const auto& basic = config_.http.basic_auth; basic.has_value()) {
    *password = basic->password;
    if (!basic->password_file.empty()) {
      ASSIGN_OR_RETURN(*password, ReadSecretFile(basic->password_file));
    }
  }
  return lines;
}

PostResponse CurlHttpPoster::Post(const PostRequest& request) {
  PostResponse response;
  std::string password;
  absl::StatusOr<std::vector<std::string>> lines = HeaderLines(request.retry_attempt, &password);
  if (!lines.ok()) {
    response.error = std::string(FromAbsl(lines.status().message()));
    return response;
  }
  if (request.extra_headers != nullptr) {
    lines->insert(lines->end(), request.extra_headers->begin(), request.extra_headers->end());
  }
  HeaderList headers;
  for (const std::string& line : *lines) {
    curl_slist* next = curl_slist_append(headers.list, line.c_str());
    if (next == nullptr) {
      response.error = "out of memory building headers";
      return response;
    }
    headers.list = next;
  }
  HeaderList connect_to;
  if (!connect_to_.empty()) {
    connect_to.list = curl_slist_append(nullptr, connect_to_.c_str());
  }

  const size_t index = static_cast<size_t>(std::max(0, request.shard)) % connections_.size();
  Connection& connection = *connections_[index];
  std::lock_guard<std::mutex> lock(connection.mu);
  CURL* easy = connection.easy;
  Transfer transfer{&response, request.cancel};
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to.list);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  if (const auto& basic = config_.http.basic_auth; basic.has_value()) {
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(easy, CURLOPT_USERNAME, basic->username.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, password.c_str());
  }

  const CURLcode rc = curl_easy_perform(easy);
  long status = 0;  // NOLINT(runtime/int): curl's type.
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  // Nothing below may outlive this call; drop the pointers curl keeps.
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(easy, CURLOPT_CONNECT_TO, nullptr);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(easy, CURLOPT_PASSWORD, nullptr);

  if (rc != CURLE_OK) {
    response.status = 0;
    response.body.clear();
    response.retry_after.clear();
    response.error =
        error_buffer[0] != '\0' ? std::string(error_buffer) : std::string(curl_easy_strerror(rc));
    return response;
  }
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace tender::remote_write
