#include "tests/unit/scrape_http/test_servers.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tender::scrape::testing {

namespace {

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

}  // namespace

void Gate::Open() {
  // Notified under the lock: a waiter may destroy the object as soon as it sees the change.
  std::lock_guard<std::mutex> lock(mu_);
  open_ = true;
  cv_.notify_all();
}

bool Gate::WaitOpen(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, ToChrono(timeout), [this] { return open_; });
}

void Counter::Add(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ += n;
  cv_.notify_all();
}

int Counter::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  return value_;
}

bool Counter::WaitAtLeast(int target, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, ToChrono(timeout), [this, target] { return value_ >= target; });
}

std::string SeenRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) {
      return v;
    }
  }
  return "";
}

TestServer::TestServer() : TestServer(std::make_unique<httplib::Server>(), false) {}

TestServer::TestServer(std::unique_ptr<httplib::Server> server, bool tls)
    : server_(std::move(server)), tls_(tls) {
  server_->set_keep_alive_timeout(2);
  server_->set_keep_alive_max_count(100);
}

TestServer::~TestServer() {
  gate_.Open();
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

void TestServer::Start() {
  ASSERT_TRUE(server_->is_valid());
  // httplib listens with a backlog of 5; hundreds of simultaneous connects then overflow the
  // accept queue and wait for SYN retransmits (1 s, 3 s, 7 s, ...). Real targets (Go servers)
  // use SOMAXCONN, so widen it: remember the socket httplib creates and listen() again.
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](int sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  ASSERT_GT(port_, 0);
  ASSERT_GE(listen_fd, 0);
  ASSERT_EQ(::listen(listen_fd, 1024), 0);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so wait for it (the socket already listens,
  // so clients could connect even now).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_->is_running() && absl::Now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(server_->is_running());
}

std::string TestServer::Url(const std::string& path) const {
  return absl::StrCat(tls_ ? "https" : "http", "://127.0.0.1:", port_, path);
}

void TestServer::Record(const httplib::Request& req) {
  SeenRequest seen;
  seen.path = req.path;
  for (const auto& [k, v] : req.headers) {
    seen.headers.emplace(k, v);
  }
  seen.remote_port = req.remote_port;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(std::move(seen));
  }
  requests_.Add();
}

std::vector<SeenRequest> TestServer::Seen() {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

namespace {

// A TCP socket bound to 127.0.0.1:0; returns the fd and sets *port.
int BindLoopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

RawServer::RawServer(std::string response) : response_(std::move(response)) {
  listen_fd_ = BindLoopback(&port_);
  EXPECT_GE(listen_fd_, 0);
  EXPECT_EQ(::listen(listen_fd_, 64), 0);
  thread_ = std::thread([this] { Serve(); });
}

RawServer::~RawServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string RawServer::Url() const { return absl::StrCat("http://127.0.0.1:", port_, "/metrics"); }

void RawServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;  // Timeout: look at stop_ again.
    }
    const int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      continue;
    }
    // Read the request head (bounded in size and time), answer, close.
    std::string head;
    char buf[4096];
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 &&
           absl::Now() < deadline) {
      pollfd cp{conn, POLLIN, 0};
      if (::poll(&cp, 1, 100) <= 0) {
        continue;
      }
      const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      head.append(buf, static_cast<size_t>(n));
    }
    size_t off = 0;
    while (off < response_.size()) {
      const ssize_t n = ::send(conn, response_.data() + off, response_.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        break;
      }
      off += static_cast<size_t>(n);
    }
    ::close(conn);
  }
}

RefusingPort::RefusingPort() {
  fd_ = BindLoopback(&port_);
  EXPECT_GE(fd_, 0);
}

RefusingPort::~RefusingPort() { ::close(fd_); }

std::function<void(FetchResult&&)> ResultSink::Callback(int index) {
  return [this, index](FetchResult&& r) {
    std::lock_guard<std::mutex> lock(mu_);
    results_[index] = std::move(r);
    if (++calls_[index] == 1) {
      ++done_;
    }
    cv_.notify_all();
  };
}

bool ResultSink::WaitAll(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, ToChrono(timeout),
                      [this] { return done_ == static_cast<int>(results_.size()); });
}

FetchResult FetchAndWait(Fetcher& fetcher, FetchRequest request) {
  auto promise = std::make_shared<std::promise<FetchResult>>();
  std::future<FetchResult> future = promise->get_future();
  fetcher.Fetch(std::move(request),
                [promise](FetchResult&& r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "fetch did not complete within 60 s";
    FetchResult r;
    r.status = absl::InternalError("test: no result");
    return r;
  }
  return future.get();
}

namespace {

// Deflates `next(chunk)` slices into a gzip stream.
std::string GzipStream(const std::function<bool(std::string* chunk)>& next) {
  z_stream zs{};
  // 15 window bits + 16 = gzip wrapper.
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out;
  std::string chunk;
  char buf[65536];
  bool more = true;
  while (more) {
    chunk.clear();
    more = next(&chunk);
    zs.next_in = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_in = static_cast<uInt>(chunk.size());
    const int flush = more ? Z_NO_FLUSH : Z_FINISH;
    int rc = Z_OK;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      rc = deflate(&zs, flush);
      out.append(buf, sizeof(buf) - zs.avail_out);
    } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  deflateEnd(&zs);
  return out;
}

}  // namespace

std::string Gzip(const std::string& data) {
  return GzipStream([&data](std::string* chunk) {
    *chunk = data;
    return false;
  });
}

std::string GzipZeros(int64_t zero_bytes) {
  static constexpr int64_t kSlice = 1 << 20;
  int64_t left = zero_bytes;
  return GzipStream([&left](std::string* chunk) {
    const int64_t n = std::min(left, kSlice);
    chunk->assign(static_cast<size_t>(n), '\0');
    left -= n;
    return left > 0;
  });
}

namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return false;
  }
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named `cn`, signed by `issuer_key` (issuer = `issuer`, or itself).
CertPtr MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                 bool is_ca, const std::string& san, long serial) {
  CertPtr cert(X509_new(), &X509_free);
  if (cert == nullptr) {
    return cert;
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  bool ok = AddExtension(cert.get(), signer, NID_basic_constraints,
                         is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
            AddExtension(cert.get(), signer, NID_key_usage,
                         is_ca ? "critical,keyCertSign,cRLSign"
                               : "critical,digitalSignature,keyEncipherment") &&
            AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (!is_ca) {
    ok = ok && AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (!san.empty()) {
    ok = ok && AddExtension(cert.get(), signer, NID_subject_alt_name, san);
  }
  if (!ok || X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) {
    cert.reset();
  }
  return cert;
}

bool WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return false;
  }
  const bool ok = cert != nullptr
                      ? PEM_write_X509(f, cert) == 1
                      : PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

bool MakeTestPki(const std::string& dir, const std::vector<std::string>& server_dns_names,
                 TestPki* out) {
  KeyPtr ca_key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  KeyPtr server_key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  KeyPtr client_key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  if (ca_key == nullptr || server_key == nullptr || client_key == nullptr) {
    return false;
  }
  std::string san;
  for (const std::string& dns : server_dns_names) {
    absl::StrAppend(&san, san.empty() ? "" : ",", "DNS:", dns);
  }
  CertPtr ca = MakeCert(ca_key.get(), "tender test CA", nullptr, ca_key.get(), true, "", 1);
  if (ca == nullptr) {
    return false;
  }
  CertPtr server =
      MakeCert(server_key.get(), server_dns_names.empty() ? "server" : server_dns_names[0],
               ca.get(), ca_key.get(), false, san, 2);
  CertPtr client =
      MakeCert(client_key.get(), "tender client", ca.get(), ca_key.get(), false, "", 3);
  if (server == nullptr || client == nullptr) {
    return false;
  }
  out->ca_cert = dir + "/ca.pem";
  out->server_cert = dir + "/server.pem";
  out->server_key = dir + "/server.key";
  out->client_cert = dir + "/client.pem";
  out->client_key = dir + "/client.key";
  return WritePem(out->ca_cert, ca.get(), nullptr) &&
         WritePem(out->server_cert, server.get(), nullptr) &&
         WritePem(out->server_key, nullptr, server_key.get()) &&
         WritePem(out->client_cert, client.get(), nullptr) &&
         WritePem(out->client_key, nullptr, client_key.get());
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tender_http_XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::WriteFile(const std::string& name, const std::string& content) {
  const std::string full = path_ + "/" + name;
  // Write to a temporary name and rename, so a concurrent reader never sees a half file.
  const std::string tmp = full + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
    EXPECT_TRUE(f.good());
  }
  std::filesystem::rename(tmp, full);
  return full;
}

}  // namespace tender::scrape::testing
