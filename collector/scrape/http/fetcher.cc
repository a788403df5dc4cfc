#include "collector/scrape/http/fetcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"

namespace tender::scrape {
namespace {

constexpr std::string_view kComponent = "scrape_fetcher";

// Idle keep-alive connections older than this are not reused; Prometheus's HTTP client uses the
// same 5 minute idle timeout.
constexpr long kMaxConnectionAgeSeconds = 300;
// An easy handle whose key (target) has not fetched for this long is freed: the target is gone
// or scraped rarely, and a handle holds ~20 KiB.
constexpr absl::Duration kIdleHandleTtl = absl::Minutes(10);
constexpr absl::Duration kEvictionPeriod = absl::Minutes(1);
// Longest wait in curl_multi_poll when nothing is due; new requests wake it up at once.
constexpr int kPollTimeoutMs = 1000;
// Redirects followed, as Go's http.Client does (Prometheus follows redirects by default).
constexpr long kMaxRedirects = 10;
// Secret files are small; refuse to read a huge file into memory.
constexpr long kMaxSecretFileBytes = 1 << 20;
// Idle connections kept beyond one per cached handle (temporary handles, redirects).
constexpr long kExtraIdleConnections = 64;
// API-server connections (see the Fetcher comment): keep-alive probes after 10 s idle, every
// 5 s, 3 of them; unacknowledged data gives up after 30 s. A dead idle connection is thus
// noticed about 25 s after its last traffic, before the usual 30 s scrape interval comes round.
constexpr long kApiKeepIdleSeconds = 10;
constexpr long kApiKeepIntervalSeconds = 5;
constexpr int kApiKeepCount = 3;
constexpr unsigned int kApiUserTimeoutMs = 30000;

std::once_flag g_curl_init_once;
CURLcode g_curl_init_code = CURLE_OK;

absl::Duration Micros(curl_off_t us) { return absl::Microseconds(std::max<curl_off_t>(us, 0)); }

// Reads a password/credentials file at request time; surrounding whitespace is trimmed as
// Prometheus does (strings.TrimSpace), so the usual trailing newline does not end up in a header.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", ToAbsl(what), " ", path, ": ", std::strerror(errno)));
  }
  std::string data;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    data.append(buf, n);
    if (data.size() > static_cast<size_t>(kMaxSecretFileBytes)) {
      std::fclose(f);
      return absl::FailedPreconditionError(
          absl::StrCat(ToAbsl(what), " ", path, " is larger than ", kMaxSecretFileBytes, " bytes"));
    }
  }
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", ToAbsl(what), " ", path));
  }
  return std::string(absl::StripAsciiWhitespace(data));
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool HeaderNameIs(std::string_view name, std::string_view want) {
  return absl::EqualsIgnoreCase(ToAbsl(name), ToAbsl(want));
}

// Owns a curl_slist.
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Appends `line` to `list`; false when curl could not allocate.
bool Append(Slist& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (grown == nullptr) {
    return false;
  }
  list.release();
  list.reset(grown);
  return true;
}

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString GetUrlPart(CURLU* url, CURLUPart part, unsigned int flags) {
  char* out = nullptr;
  if (curl_url_get(url, part, &out, flags) != CURLUE_OK) {
    return nullptr;
  }
  return CurlString(out);
}

// The rewrite for tls_config.server_name (see the class comment).
struct ServerNameRewrite {
  std::string url;         // The URL with its host replaced by the server name.
  std::string connect_to;  // "server_name:port:original_host:port".
  std::string host;        // "Host: original_host[:port]".
};

// Returns the rewrite, nullopt when none applies (not https, or the URL already names the
// server), or an error for a URL curl cannot parse.
absl::StatusOr<std::optional<ServerNameRewrite>> RewriteForServerName(
    const std::string& url, const std::string& server_name) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (u == nullptr) {
    return absl::InternalError("curl_url: out of memory");
  }
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("malformed URL: ", url));
  }
  CurlString scheme = GetUrlPart(u.get(), CURLUPART_SCHEME, 0);
  CurlString host = GetUrlPart(u.get(), CURLUPART_HOST, 0);  // IPv6 comes in brackets.
  CurlString port = GetUrlPart(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (scheme == nullptr || host == nullptr || port == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("malformed URL: ", url));
  }
  if (!absl::EqualsIgnoreCase(scheme.get(), "https") ||
      absl::EqualsIgnoreCase(host.get(), server_name)) {
    return std::optional<ServerNameRewrite>();
  }
  CurlString explicit_port = GetUrlPart(u.get(), CURLUPART_PORT, 0);
  ServerNameRewrite rw;
  rw.host = absl::StrCat("Host: ", host.get());
  if (explicit_port != nullptr) {
    absl::StrAppend(&rw.host, ":", explicit_port.get());
  }
  rw.connect_to = absl::StrCat(server_name, ":", port.get(), ":", host.get(), ":", port.get());
  if (curl_url_set(u.get(), CURLUPART_HOST, server_name.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid tls_config.server_name: ", server_name));
  }
  CurlString rewritten = GetUrlPart(u.get(), CURLUPART_URL, 0);
  if (rewritten == nullptr) {
    return absl::InternalError("curl_url_get: cannot render URL");
  }
  rw.url = rewritten.get();
  return std::optional<ServerNameRewrite>(std::move(rw));
}

// One request in flight.
struct Transfer {
  absl::Time started;
  int local_port = 0;  // Of the connection the request went out on (API-server requests).
  FetchRequest request;
  std::function<void(FetchResult&&)> done;
  FetchResult result;
  CURL* easy = nullptr;
  bool cached_handle = false;  // Belongs to Impl::handles (else a temporary handle).
  Slist headers;
  Slist connect_to;
  std::string url;
  bool limit_exceeded = false;
  bool out_of_memory = false;
  char error[CURL_ERROR_SIZE] = {};
};

// CURLOPT_WRITEFUNCTION: appends decompressed body bytes, stopping past the limit. Returning
// less than `size * nmemb` makes curl abort the transfer with CURLE_WRITE_ERROR, so an inflating
// gzip bomb stops at the first chunk over the limit.
size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string& body = t->result.body;
  const int64_t limit = t->request.body_size_limit;
  if (limit > 0 && static_cast<int64_t>(body.size() + n) > limit) {
    t->limit_exceeded = true;
    return 0;
  }
  try {
    body.append(data, n);
  } catch (const std::bad_alloc&) {
    t->out_of_memory = true;
    return 0;
  }
  return n;
}

absl::Status StatusFromCurl(CURLcode code, const Transfer& t) {
  if (code == CURLE_OK) {
    return absl::OkStatus();
  }
  if (code == CURLE_WRITE_ERROR && t.limit_exceeded) {
    return absl::ResourceExhaustedError(
        absl::StrCat("body size limit exceeded (", t.request.body_size_limit, " bytes)"));
  }
  std::string msg = absl::StrCat(curl_easy_strerror(code));
  if (t.error[0] != '\0') {
    absl::StrAppend(&msg, ": ", t.error);
  }
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case CURLE_WRITE_ERROR:
      if (t.out_of_memory) {
        return absl::ResourceExhaustedError(absl::StrCat("out of memory storing the body: ", msg));
      }
      return absl::InternalError(msg);
    case CURLE_OUT_OF_MEMORY:
      // curl 7.88 also reports a response header over its 100 KiB limit this way: a bad peer.
      return absl::UnavailableError(
          absl::StrCat(msg, " (or a response header line over curl's limit)"));
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(msg);
    case CURLE_BAD_CONTENT_ENCODING:
      return absl::DataLossError(msg);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_FILE_COULDNT_READ_FILE:
      return absl::FailedPreconditionError(msg);
    // The scheme was checked before the transfer started, so this is the peer: an HTTP/0.9
    // answer, or a redirect to a scheme other than http(s).
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_UNRECOVERABLE_POLL:
    case CURLE_AGAIN:
    case CURLE_RANGE_ERROR:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace

struct Fetcher::Impl {
  struct Handle {
    CURL* easy = nullptr;
    bool busy = false;
    absl::Time last_used;
    size_t last_body_size = 0;  // To size the next body buffer in one allocation.
  };

  explicit Impl(Fetcher* owner) : fetcher(owner) {}

  // Everything is torn down by Close() on the fetcher thread; this is the fallback when the
  // thread never ran.
  ~Impl() { Close(); }

  // Removes and cancels in-flight transfers, frees every handle.
  void Close() {
    for (auto& [easy, t] : in_flight) {
      curl_multi_remove_handle(multi, easy);
      t->result.status = absl::CancelledError("fetcher shut down");
      ReleaseHandle(*t);
      fetcher->Complete(t->done, std::move(t->result));
    }
    in_flight.clear();
    for (auto& [key, h] : handles) {
      curl_easy_cleanup(h.easy);
    }
    handles.clear();
    if (multi != nullptr) {
      curl_multi_cleanup(multi);
      multi = nullptr;
    }
  }

  void UpdateMaxConnects() {
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(handles.size()) + kExtraIdleConnections);
  }

  // A reset easy handle for `key`: the cached one when idle, else a temporary one.
  bool AcquireHandle(Transfer& t) {
    const uint64_t key = t.request.connection_key;
    auto it = handles.find(key);
    if (it == handles.end()) {
      CURL* easy = curl_easy_init();
      if (easy == nullptr) {
        return false;
      }
      it = handles.emplace(key, Handle{easy}).first;
      UpdateMaxConnects();
    } else if (it->second.busy) {
      // The same key twice at once (callers normally avoid it): a one-off handle. Connections
      // live in the multi handle's pool, so this one can still reuse an idle connection.
      t.easy = curl_easy_init();
      t.cached_handle = false;
      return t.easy != nullptr;
    } else {
      // Keeps live connections, TLS session ids and the DNS cache; drops all options.
      curl_easy_reset(it->second.easy);
    }
    it->second.busy = true;
    t.easy = it->second.easy;
    t.cached_handle = true;
    const size_t want = it->second.last_body_size;
    t.result.body = fetcher->bodies_->Take(want + want / 8);
    if (want > t.result.body.capacity()) {
      size_t reserve = want + want / 8;
      if (t.request.body_size_limit > 0) {
        reserve = std::min(reserve, static_cast<size_t>(t.request.body_size_limit));
      }
      try {
        t.result.body.reserve(reserve);
      } catch (const std::bad_alloc&) {
        // The write callback will grow it as far as memory allows.
      }
    }
    return true;
  }

  void ReleaseHandle(Transfer& t) {
    if (t.easy == nullptr) {
      return;
    }
    if (!t.cached_handle) {
      curl_easy_cleanup(t.easy);
    } else if (auto it = handles.find(t.request.connection_key); it != handles.end()) {
      it->second.busy = false;
      it->second.last_used = absl::Now();
      it->second.last_body_size = t.result.body.size();
    }
    t.easy = nullptr;
  }

  void EvictIdleHandles(absl::Time now) {
    size_t before = handles.size();
    absl::erase_if(handles, [&](const auto& entry) {
      const Handle& h = entry.second;
      if (h.busy || now - h.last_used < kIdleHandleTtl) {
        return false;
      }
      curl_easy_cleanup(h.easy);
      return true;
    });
    if (handles.size() != before) {
      UpdateMaxConnects();
    }
  }

  // Sets every option of `t.easy` for `t.request`.
  absl::Status Configure(Transfer& t) {
    CURL* e = t.easy;
    const FetchRequest& r = t.request;
    t.url = r.url;
    if (!absl::StartsWithIgnoreCase(ToAbsl(r.url), "http://") &&
        !absl::StartsWithIgnoreCase(ToAbsl(r.url), "https://")) {
      return absl::InvalidArgumentError(absl::StrCat("not an http(s) URL: ", r.url));
    }

    // Request headers: the caller's, then auth and Host unless the caller set them.
    bool has_authorization = false;
    bool has_host = false;
    for (const auto& [name, value] : r.headers) {
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
          name.find(':') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("invalid request header: ", name));
      }
      has_authorization |= HeaderNameIs(name, "Authorization");
      has_host |= HeaderNameIs(name, "Host");
      // "Name;" is curl's way to send a header with an empty value.
      if (!Append(t.headers,
                  value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value))) {
        return absl::ResourceExhaustedError("out of memory building request headers");
      }
    }
    const ApiServerConnection* api = r.api_server.get();
    const config::HttpClientConfig* http = api == nullptr ? r.http : nullptr;
    if (api != nullptr && !has_authorization && !api->authorization.empty()) {
      if (HasLineBreak(api->authorization)) {
        return absl::FailedPreconditionError("credentials contain a line break");
      }
      if (!Append(t.headers, absl::StrCat("Authorization: ", api->authorization))) {
        return absl::ResourceExhaustedError("out of memory building request headers");
      }
    }
    if (http != nullptr && !has_authorization) {
      // Basic auth wins over `authorization` when both are set, as in Prometheus (whose config
      // loader rejects that combination anyway).
      std::string header;
      if (http->basic_auth.has_value()) {
        const config::BasicAuth& basic = *http->basic_auth;
        std::string password = basic.password;
        if (!basic.password_file.empty()) {
          absl::StatusOr<std::string> secret = ReadSecretFile(basic.password_file, "password_file");
          if (!secret.ok()) {
            return secret.status();
          }
          password = *std::move(secret);
        }
        header = absl::StrCat("Authorization: Basic ",
                              absl::Base64Escape(absl::StrCat(basic.username, ":", password)));
      } else if (http->authorization.has_value()) {
        const config::Authorization& auth = *http->authorization;
        std::string credentials = auth.credentials;
        if (!auth.credentials_file.empty()) {
          absl::StatusOr<std::string> secret =
              ReadSecretFile(auth.credentials_file, "credentials_file");
          if (!secret.ok()) {
            return secret.status();
          }
          credentials = *std::move(secret);
        }
        header = absl::StrCat("Authorization: ", auth.type.empty() ? "Bearer" : auth.type, " ",
                              credentials);
      }
      if (HasLineBreak(header)) {
        return absl::FailedPreconditionError("credentials contain a line break");
      }
      if (!header.empty() && !Append(t.headers, header)) {
        return absl::ResourceExhaustedError("out of memory building request headers");
      }
    }
    const std::string& server_name =
        api != nullptr ? api->server_name
                       : (http != nullptr ? http->tls_config.server_name : std::string());
    if (!server_name.empty()) {
      absl::StatusOr<std::optional<ServerNameRewrite>> rw =
          RewriteForServerName(r.url, server_name);
      if (!rw.ok()) {
        return rw.status();
      }
      if (rw->has_value()) {
        ServerNameRewrite& rewrite = **rw;
        t.url = std::move(rewrite.url);
        if (!Append(t.connect_to, rewrite.connect_to) ||
            (!has_host && !Append(t.headers, rewrite.host))) {
          return absl::ResourceExhaustedError("out of memory building request headers");
        }
      }
    }

    CURLcode rc = CURLE_OK;
    auto set = [&rc, e](CURLoption option, auto value) {
      if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, option, value);
      }
    };
    set(CURLOPT_URL, t.url.c_str());
    set(CURLOPT_PRIVATE, static_cast<void*>(&t));
    set(CURLOPT_ERRORBUFFER, t.error);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_HTTPGET, 1L);
    set(CURLOPT_WRITEFUNCTION, &WriteBody);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
    set(CURLOPT_ACCEPT_ENCODING, r.accept_gzip ? "gzip" : "identity");
    if (api == nullptr) {
      // HTTP/1.1 like Prometheus scrapes (enable_http2 defaults to false for scrape configs).
      set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    } else {
      // Many scrapes on one connection: HTTP/2 over TLS when offered, waiting for an existing
      // connection's multiplexing rather than opening another.
      set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
      set(CURLOPT_PIPEWAIT, 1L);
    }
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set(CURLOPT_FOLLOWLOCATION, 1L);
    set(CURLOPT_MAXREDIRS, kMaxRedirects);
    // No proxy from the environment (http_proxy etc.); Prometheus uses none unless configured.
    set(CURLOPT_PROXY, api != nullptr ? api->proxy_url.c_str() : "");
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    if (api != nullptr) {
      set(CURLOPT_TCP_KEEPIDLE, kApiKeepIdleSeconds);
      set(CURLOPT_TCP_KEEPINTVL, kApiKeepIntervalSeconds);
      // A node of api_hosts: its address stays valid (std::unordered_map).
      ApiHost* host = &api_hosts[api->host_key];
      set(CURLOPT_SOCKOPTFUNCTION, &Impl::SocketOpened);
      set(CURLOPT_SOCKOPTDATA, static_cast<void*>(host));
      set(CURLOPT_CLOSESOCKETFUNCTION, &Impl::SocketClosing);
      set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(host));
      set(CURLOPT_PREREQFUNCTION, &Impl::RequestGoesOut);
      set(CURLOPT_PREREQDATA, static_cast<void*>(&t));
      if (host->fresh_next) {
        host->fresh_next = false;
        set(CURLOPT_FRESH_CONNECT, 1L);
      }
      // curl copies blobs (CURL_BLOB_COPY), so these may point into `api`.
      if (!api->ca_pem.empty()) {
        curl_blob ca{const_cast<char*>(api->ca_pem.data()), api->ca_pem.size(), CURL_BLOB_COPY};
        set(CURLOPT_CAINFO_BLOB, &ca);
      }
      if (!api->client_cert_pem.empty() && !api->client_key_pem.empty()) {
        curl_blob cert{const_cast<char*>(api->client_cert_pem.data()), api->client_cert_pem.size(),
                       CURL_BLOB_COPY};
        curl_blob key{const_cast<char*>(api->client_key_pem.data()), api->client_key_pem.size(),
                      CURL_BLOB_COPY};
        set(CURLOPT_SSLCERTTYPE, "PEM");
        set(CURLOPT_SSLCERT_BLOB, &cert);
        set(CURLOPT_SSLKEYTYPE, "PEM");
        set(CURLOPT_SSLKEY_BLOB, &key);
      }
      if (api->insecure_skip_verify) {
        set(CURLOPT_SSL_VERIFYPEER, 0L);
        set(CURLOPT_SSL_VERIFYHOST, 0L);
      }
    }
    set(CURLOPT_MAXAGE_CONN, kMaxConnectionAgeSeconds);
    if (r.timeout > absl::ZeroDuration()) {
      const long ms = static_cast<long>(std::max<int64_t>(
          1, absl::ToInt64Milliseconds(absl::Ceil(r.timeout, absl::Milliseconds(1)))));
      set(CURLOPT_TIMEOUT_MS, ms);
      set(CURLOPT_CONNECTTIMEOUT_MS, ms);
    }
    if (!fetcher->settings_.user_agent.empty()) {
      set(CURLOPT_USERAGENT, fetcher->settings_.user_agent.c_str());
    }
    if (t.headers != nullptr) {
      set(CURLOPT_HTTPHEADER, t.headers.get());
    }
    if (t.connect_to != nullptr) {
      set(CURLOPT_CONNECT_TO, t.connect_to.get());
    }
    if (http != nullptr) {
      const config::TlsConfig& tls = http->tls_config;
      if (!tls.ca_file.empty()) {
        set(CURLOPT_CAINFO, tls.ca_file.c_str());
      }
      if (!tls.cert_file.empty()) {
        set(CURLOPT_SSLCERT, tls.cert_file.c_str());
      }
      if (!tls.key_file.empty()) {
        set(CURLOPT_SSLKEY, tls.key_file.c_str());
      }
      if (tls.insecure_skip_verify) {
        set(CURLOPT_SSL_VERIFYPEER, 0L);
        set(CURLOPT_SSL_VERIFYHOST, 0L);
      }
    }
    if (rc != CURLE_OK) {
      return absl::InternalError(absl::StrCat("curl_easy_setopt: ", curl_easy_strerror(rc)));
    }
    return absl::OkStatus();
  }

  // Takes one request into curl, or completes it at once when it cannot start.
  void StartTransfer(Pending&& p) {
    auto t = std::make_unique<Transfer>();
    t->started = absl::Now();
    t->request = std::move(p.request);
    t->done = std::move(p.done);
    if (!AcquireHandle(*t)) {
      t->result.status = absl::ResourceExhaustedError("curl_easy_init failed");
      fetcher->Complete(t->done, std::move(t->result));
      return;
    }
    absl::Status s = Configure(*t);
    if (s.ok()) {
      const CURLMcode mc = curl_multi_add_handle(multi, t->easy);
      if (mc != CURLM_OK) {
        s = absl::InternalError(absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(mc)));
      }
    }
    if (!s.ok()) {
      ReleaseHandle(*t);
      t->result.status = std::move(s);
      fetcher->Complete(t->done, std::move(t->result));
      return;
    }
    CURL* easy = t->easy;
    in_flight.emplace(easy, std::move(t));
  }

  // Fills the result of a finished transfer from curl and completes it.
  void FinishTransfer(CURL* easy, CURLcode code) {
    auto node = in_flight.extract(easy);
    if (node.empty()) {
      return;  // Not ours; cannot happen.
    }
    Transfer& t = *node.mapped();
    FetchResult& r = t.result;
    if (t.request.api_server != nullptr) {
      // Before the handle leaves the multi: curl finds the connection only while it is in.
      CheckApiServerHealth(t, code);
    }
    curl_multi_remove_handle(multi, easy);
    r.status = StatusFromCurl(code, t);
    // CURLE_HTTP2*: an HTTP/2 connection or stream went away under the request (for instance
    // the connection of a timed-out request was shut down; see CheckApiServerHealth).
    r.connection_lost = code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR ||
                        code == CURLE_GOT_NOTHING || code == CURLE_PARTIAL_FILE ||
                        code == CURLE_HTTP2 || code == CURLE_HTTP2_STREAM;
    if (t.limit_exceeded) {
      fetcher->counters_.body_limit_exceeded.fetch_add(1, std::memory_order_relaxed);
    }

    long http_status = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status) == CURLE_OK) {
      r.http_status = static_cast<int>(http_status);
    }
    char* content_type = nullptr;
    if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK &&
        content_type != nullptr) {
      r.content_type = content_type;
    }
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0) {
      r.retry_after = absl::Seconds(retry_after);
    }
    curl_off_t wire = 0;
    if (curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &wire) == CURLE_OK) {
      r.wire_bytes = static_cast<int64_t>(wire);
    }
    long connects = 0;
    if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
      r.reused_connection = connects == 0 && r.status.ok();
    }
    curl_off_t lookup = 0, connect = 0, app_connect = 0, pre_transfer = 0, start_transfer = 0,
               total = 0;
    curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &lookup);
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &app_connect);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre_transfer);
    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &start_transfer);
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
    // Each *_TIME_T is an offset from the start; a phase that did not happen reads 0.
    r.timings.dns = Micros(lookup);
    r.timings.connect = connect > 0 ? Micros(connect - lookup) : absl::ZeroDuration();
    r.timings.tls = app_connect > 0 ? Micros(app_connect - connect) : absl::ZeroDuration();
    r.timings.first_byte =
        start_transfer > 0 ? Micros(start_transfer - pre_transfer) : absl::ZeroDuration();
    r.timings.total = Micros(total);

    ReleaseHandle(t);
    fetcher->Complete(t.done, std::move(r));
  }

  // Keeps the API server's liveness (when an answer last came back, and which of its
  // connections have answered at least once) and shuts down the connection of a request that
  // timed out while the API server stayed silent: after a partition, an HTTP/2 connection would
  // otherwise stay in the pool (curl closes a timed-out stream, not its connection) and every
  // later scrape would wait on it. Only a connection that has answered before is given up, and
  // only once: a new connection slow to answer its first request (a loaded machine, a slow TLS
  // handshake) is left to curl's own timeouts, or every replacement could be killed before it
  // answers. Connections are told apart by their local port (CURLOPT_PREREQFUNCTION), since
  // curl does not say which connection a multiplexed request used once it has finished. With
  // HTTP/1.1 curl closes a timed-out connection itself, so there is nothing left to shut down.
  void CheckApiServerHealth(Transfer& t, CURLcode code) {
    ApiHost& host = api_hosts[t.request.api_server->host_key];
    long http_status = 0;
    if (curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &http_status) == CURLE_OK &&
        http_status > 0) {
      host.last_answer = absl::Now();
      if (t.local_port > 0) {
        host.answered_ports.insert(t.local_port);
      }
      return;
    }
    if (code != CURLE_OPERATION_TIMEDOUT || host.last_answer >= t.started || t.local_port <= 0 ||
        host.answered_ports.erase(t.local_port) == 0) {
      return;
    }
    for (curl_socket_t socket : host.sockets) {
      if (LocalPort(socket) == t.local_port) {
        // shutdown, not close: curl still owns the descriptor and closes it when it sees the
        // connection dead (every stream on it fails at once).
        ::shutdown(socket, SHUT_RDWR);
        host.fresh_next = true;
        t.result.connection_reset = true;
        fetcher->counters_.connection_resets.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
  }

  static int LocalPort(curl_socket_t socket) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(socket, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return 0;
    }
    if (addr.ss_family == AF_INET) {
      return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    }
    if (addr.ss_family == AF_INET6) {
      return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    }
    return 0;
  }

  // CURLOPT_SOCKOPTFUNCTION of API-server connections (`host` is their ApiHost): the probe
  // count and TCP_USER_TIMEOUT, which curl 7.88 has no options for (failures are ignored: the
  // connection still works), and the socket joins the host's connections.
  static int SocketOpened(void* host, curl_socket_t socket, curlsocktype purpose) {
    if (purpose == CURLSOCKTYPE_IPCXN) {
      int count = kApiKeepCount;
      setsockopt(socket, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
      unsigned int user_timeout = kApiUserTimeoutMs;
      setsockopt(socket, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
      static_cast<ApiHost*>(host)->sockets.insert(socket);
    }
    return CURL_SOCKOPT_OK;
  }

  // CURLOPT_CLOSESOCKETFUNCTION of API-server connections.
  static int SocketClosing(void* host, curl_socket_t socket) {
    auto* h = static_cast<ApiHost*>(host);
    if (h->sockets.erase(socket) > 0) {
      h->answered_ports.erase(LocalPort(socket));
    }
    return ::close(socket);
  }

  // CURLOPT_PREREQFUNCTION: the request is about to go out on a connection.
  static int RequestGoesOut(void* transfer, char* /*remote_ip*/, char* /*local_ip*/,
                            int /*remote_port*/, int local_port) {
    static_cast<Transfer*>(transfer)->local_port = local_port;
    return CURL_PREREQFUNC_OK;
  }

  void DrainFinished() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        // `msg` is invalid once the handle is removed: copy what we need first.
        CURL* easy = msg->easy_handle;
        const CURLcode code = msg->data.result;
        FinishTransfer(easy, code);
      }
    }
  }

  struct ApiHost {
    absl::Time last_answer = absl::InfinitePast();  // Last response (any status) from it.
    std::set<curl_socket_t> sockets;                // Its open connections.
    std::set<int> answered_ports;  // Local ports of those that have answered at least once.
    bool fresh_next = false;       // The next request opens a new connection.
  };

  Fetcher* const fetcher;
  CURLM* multi = nullptr;
  // By ApiServerConnection::host_key. Node-based: curl callbacks hold ApiHost pointers.
  std::unordered_map<std::string, ApiHost> api_hosts;
  absl::flat_hash_map<uint64_t, Handle> handles;
  absl::flat_hash_map<CURL*, std::unique_ptr<Transfer>> in_flight;
};

Fetcher::Fetcher(Settings settings)
    : settings_(std::move(settings)),
      bodies_(settings_.body_pool != nullptr ? settings_.body_pool : &model::LargeBufferPool()) {}

Fetcher::~Fetcher() { Shutdown(); }

absl::Status Fetcher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("fetcher already started or shut down");
  }
  std::call_once(g_curl_init_once, [] { g_curl_init_code = curl_global_init(CURL_GLOBAL_ALL); });
  if (g_curl_init_code != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(g_curl_init_code)));
  }
  auto impl = std::make_unique<Impl>(this);
  impl->multi = curl_multi_init();
  if (impl->multi == nullptr) {
    return absl::InternalError("curl_multi_init failed");
  }
  if (settings_.max_total_connections > 0) {
    curl_multi_setopt(impl->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      static_cast<long>(settings_.max_total_connections));
  }
  // Multiplexing applies to the HTTP/2 connections of API-server requests only; plain scrapes
  // ask for HTTP/1.1.
  curl_multi_setopt(impl->multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  impl->UpdateMaxConnects();
  impl_ = std::move(impl);
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    impl_.reset();
    return absl::InternalError(absl::StrCat("cannot start fetcher thread: ", e.what()));
  }
  state_ = State::kRunning;
  return absl::OkStatus();
}

void Fetcher::Shutdown() {
  std::vector<Pending> never_started;
  {
    std::lock_guard<std::mutex> lock(mu_);
    switch (state_) {
      case State::kStopped:
        return;
      case State::kNew:
        state_ = State::kStopped;
        never_started.swap(pending_);
        break;
      case State::kRunning:
        state_ = State::kStopped;
        curl_multi_wakeup(impl_->multi);
        break;
    }
  }
  CancelPending(never_started);
  if (thread_.joinable()) {
    thread_.join();
  }
  impl_.reset();
}

void Fetcher::Fetch(FetchRequest request, std::function<void(FetchResult&&)> done) {
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  counters_.in_flight.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kStopped) {
      pending_.push_back(Pending{std::move(request), std::move(done)});
      if (state_ == State::kRunning) {
        curl_multi_wakeup(impl_->multi);
      }
      return;
    }
  }
  FetchResult result;
  result.status = absl::CancelledError("fetcher shut down");
  Complete(done, std::move(result));
}

void Fetcher::RecycleBuffer(std::string&& buffer) { bodies_->Give(std::move(buffer)); }

Fetcher::Stats Fetcher::GetStats() const {
  Stats s;
  s.requests = counters_.requests.load(std::memory_order_relaxed);
  s.completed = counters_.completed.load(std::memory_order_relaxed);
  s.failed = counters_.failed.load(std::memory_order_relaxed);
  s.timeouts = counters_.timeouts.load(std::memory_order_relaxed);
  s.body_limit_exceeded = counters_.body_limit_exceeded.load(std::memory_order_relaxed);
  s.cancelled = counters_.cancelled.load(std::memory_order_relaxed);
  s.reused_connections = counters_.reused_connections.load(std::memory_order_relaxed);
  s.connection_resets = counters_.connection_resets.load(std::memory_order_relaxed);
  s.in_flight = counters_.in_flight.load(std::memory_order_relaxed);
  return s;
}

void Fetcher::Complete(std::function<void(FetchResult&&)>& done, FetchResult&& result) {
  const absl::StatusCode code = result.status.code();
  if (code != absl::StatusCode::kOk) {
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
  }
  if (code == absl::StatusCode::kDeadlineExceeded) {
    counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
  } else if (code == absl::StatusCode::kCancelled) {
    counters_.cancelled.fetch_add(1, std::memory_order_relaxed);
  }
  if (result.reused_connection) {
    counters_.reused_connections.fetch_add(1, std::memory_order_relaxed);
  }
  counters_.completed.fetch_add(1, std::memory_order_relaxed);
  counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (done) {
    done(std::move(result));
  }
}

void Fetcher::CancelPending(std::vector<Pending>& pending) {
  for (Pending& p : pending) {
    FetchResult result;
    result.status = absl::CancelledError("fetcher shut down");
    Complete(p.done, std::move(result));
  }
  pending.clear();
}

void Fetcher::Run() {
  Impl& impl = *impl_;
  std::vector<Pending> batch;
  absl::Time next_eviction = absl::Now() + kEvictionPeriod;
  while (true) {
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
      stopping = state_ == State::kStopped;
    }
    if (stopping) {
      CancelPending(batch);
      impl.Close();
      return;
    }
    for (Pending& p : batch) {
      impl.StartTransfer(std::move(p));
    }
    batch.clear();

    int running = 0;
    const CURLMcode mc = curl_multi_perform(impl.multi, &running);
    if (mc != CURLM_OK) {
      static log::Throttle throttle(absl::Seconds(10));
      if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
        log::Error(kComponent, "curl_multi_perform failed", {{"error", curl_multi_strerror(mc)}});
      }
    }
    impl.DrainFinished();

    const absl::Time now = absl::Now();
    if (now >= next_eviction) {
      impl.EvictIdleHandles(now);
      next_eviction = now + kEvictionPeriod;
    }
    // Returns when a socket is ready, curl's next timeout is due, or Fetch()/Shutdown() woke
    // us up.
    curl_multi_poll(impl.multi, nullptr, 0, kPollTimeoutMs, nullptr);
  }
}

}  // namespace tender::scrape
