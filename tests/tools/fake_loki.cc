#include "tests/tools/fake_loki.h"

#include <httplib.h>
#include <rapidjson/document.h>
#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "exporters/loki/push_encoder.h"
#include "exporters/proto/push.pb.h"

namespace tender::test_tools {
namespace {

constexpr char kFramedMagic[] = "\xff\x06\x00\x00sNaPpY";
constexpr char kSingleTenant[] = "fake";

// Inflates a gzip or zlib (deflate) body.
absl::Status Inflate(const std::string& in, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return absl::InternalError("inflateInit2");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out->append(buf, sizeof(buf) - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return absl::InvalidArgumentError("bad gzip/deflate body");
  return absl::OkStatus();
}

std::string Header(const LokiRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? std::string() : it->second;
}

// Media type without parameters, lowercased.
std::string MediaType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(t));
}

bool ValidTenant(const std::string& t) {
  if (t.empty() || t.size() > 150 || t == "." || t == "..") return false;
  for (char c : t) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!-_.*'()").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

FakeLoki::FakeLoki(Options options)
    : options_(options), server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  server_->Post("/loki/api/v1/push", [this](const httplib::Request& req, httplib::Response& res) {
    LokiRequest request;
    request.received = absl::Now();
    request.body_bytes = req.body.size();
    for (const auto& [name, value] : req.headers) {
      request.headers[absl::AsciiStrToLower(name)] = value;
    }
    const LokiResponse response = Handle(&request, req.body);
    if (response.delay > absl::ZeroDuration()) {
      absl::SleepFor(response.delay);  // Simulated latency, not a wait for a condition.
    }
    res.status = response.status;
    if (!response.retry_after.empty()) res.set_header("Retry-After", response.retry_after);
    if (!response.body.empty()) res.set_content(response.body, "text/plain");
  });
}

FakeLoki::~FakeLoki() { Stop(); }

absl::Status FakeLoki::Start(int port) {
  if (port == 0) {
    port_ = server_->bind_to_any_port("127.0.0.1");
  } else {
    port_ = server_->bind_to_port("127.0.0.1", port) ? port : -1;
  }
  if (port_ <= 0) return absl::UnavailableError("fake loki: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib has no readiness callback: poll for the accept loop, with a deadline.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_->is_running()) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("fake loki did not start");
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

void FakeLoki::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string FakeLoki::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/loki/api/v1/push");
}

void FakeLoki::ScriptResponses(std::vector<LokiResponse> responses) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : responses) script_.push_back(std::move(r));
}

void FakeLoki::SetResponder(Responder responder) {
  std::lock_guard<std::mutex> lock(mu_);
  responder_ = std::move(responder);
}

absl::Status FakeLoki::Decode(const LokiRequest& request, const std::string& raw,
                              std::vector<Decoded>* out) {
  const std::string encoding = absl::AsciiStrToLower(Header(request, "content-encoding"));
  std::string inflated;
  const std::string* body = &raw;
  if (encoding == "gzip" || encoding == "deflate") {
    if (absl::Status s = Inflate(raw, &inflated); !s.ok()) return s;
    body = &inflated;
  } else if (!encoding.empty() && encoding != "snappy") {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Encoding \"", encoding, "\" not supported"));
  }
  if (request.json) {
    rapidjson::Document doc;
    doc.Parse(body->data(), body->size());
    if (doc.HasParseError() || !doc.IsObject()) return absl::InvalidArgumentError("bad JSON");
    auto streams = doc.FindMember("streams");
    if (streams == doc.MemberEnd() || !streams->value.IsArray()) {
      return absl::InvalidArgumentError("JSON: streams must be an array");
    }
    for (const auto& s : streams->value.GetArray()) {
      if (!s.IsObject()) return absl::InvalidArgumentError("JSON: stream must be an object");
      auto labels = s.FindMember("stream");
      auto values = s.FindMember("values");
      if (labels == s.MemberEnd() || !labels->value.IsObject()) {
        return absl::InvalidArgumentError("JSON: stream labels must be an object");
      }
      model::Labels ls;
      for (const auto& m : labels->value.GetObject()) {
        if (!m.value.IsString()) return absl::InvalidArgumentError("JSON: label not a string");
        ls.push_back({m.name.GetString(), m.value.GetString()});
      }
      model::Normalize(ls);
      Decoded d;
      d.selector = model::ToString(ls);
      if (values != s.MemberEnd() && !values->value.IsNull()) {
        if (!values->value.IsArray()) return absl::InvalidArgumentError("JSON: bad values");
        for (const auto& v : values->value.GetArray()) {
          if (!v.IsArray() || v.Size() < 2 || v.Size() > 3) {
            return absl::InvalidArgumentError("JSON: a value has 2 or 3 elements");
          }
          if (!v[0].IsString()) {
            return absl::InvalidArgumentError("JSON: timestamp must be a string of nanoseconds");
          }
          LokiEntry e;
          if (!absl::SimpleAtoi(absl::string_view(v[0].GetString(), v[0].GetStringLength()),
                                &e.timestamp_ns)) {
            return absl::InvalidArgumentError("JSON: timestamp is not an integer");
          }
          if (!v[1].IsString()) return absl::InvalidArgumentError("JSON: line not a string");
          e.line.assign(v[1].GetString(), v[1].GetStringLength());
          if (v.Size() == 3) {
            if (!v[2].IsObject()) {
              return absl::InvalidArgumentError("JSON: structured metadata must be an object");
            }
            for (const auto& m : v[2].GetObject()) {
              if (!m.value.IsString()) {
                return absl::InvalidArgumentError("JSON: structured metadata value not a string");
              }
              e.metadata[std::string(m.name.GetString(), m.name.GetStringLength())] =
                  std::string(m.value.GetString(), m.value.GetStringLength());
            }
          }
          d.entries.push_back(std::move(e));
        }
      }
      out->push_back(std::move(d));
    }
    return absl::OkStatus();
  }
  if (body->compare(0, sizeof(kFramedMagic) - 1, kFramedMagic) == 0) {
    return absl::InvalidArgumentError("framed snappy body (block format required)");
  }
  std::string proto;
  if (!snappy::Uncompress(body->data(), body->size(), &proto)) {
    return absl::InvalidArgumentError("snappy: corrupt input");
  }
  logproto::PushRequest push;
  if (!push.ParseFromString(proto)) return absl::InvalidArgumentError("protobuf: cannot parse");
  for (const auto& s : push.streams()) {
    absl::StatusOr<model::Labels> labels = loki::ParseSelector(s.labels());
    if (!labels.ok()) return labels.status();
    Decoded d;
    d.selector = model::ToString(*labels);
    for (const auto& e : s.entries()) {
      if (e.timestamp().nanos() < 0 || e.timestamp().nanos() > 999999999) {
        return absl::InvalidArgumentError("timestamp nanos out of range");
      }
      LokiEntry entry{e.timestamp().seconds() * 1000000000 + e.timestamp().nanos(), e.line(), {}};
      for (const auto& m : e.structuredmetadata()) entry.metadata[m.name()] = m.value();
      d.entries.push_back(std::move(entry));
    }
    out->push_back(std::move(d));
  }
  return absl::OkStatus();
}

LokiResponse FakeLoki::Handle(LokiRequest* request, const std::string& body) {
  request->json = MediaType(Header(*request, "content-type")) == "application/json";
  std::vector<std::string> problems;
  if (!request->json && MediaType(Header(*request, "content-type")) != "application/x-protobuf") {
    problems.push_back(
        absl::StrCat("protobuf push with Content-Type \"", Header(*request, "content-type"), "\""));
  }
  LokiResponse response;
  std::unique_lock<std::mutex> lock(mu_);
  auto finish = [&](LokiResponse r) {
    request->status = r.status;
    for (auto& p : problems) violations_.push_back(std::move(p));
    requests_.push_back(*request);
    changed_.notify_all();
    return r;
  };
  if (!script_.empty()) {
    response = std::move(script_.front());
    script_.pop_front();
    if (response.status / 100 != 2) return finish(std::move(response));
  } else if (responder_) {
    response = responder_(*request);
    if (response.status / 100 != 2) return finish(std::move(response));
  }
  // Tenant rules (protocols.md §6.7).
  if (options_.multi_tenant) {
    const std::string tenant = Header(*request, "x-scope-orgid");
    if (tenant.empty()) {
      problems.push_back("missing X-Scope-OrgID");
      return finish({401, "", "no org id"});
    }
    if (tenant.find('|') != std::string::npos || !ValidTenant(tenant)) {
      problems.push_back(absl::StrCat("bad tenant ", tenant));
      return finish({400, "", "bad tenant"});
    }
    request->tenant = tenant;
  } else {
    request->tenant = kSingleTenant;
  }
  std::vector<Decoded> decoded;
  lock.unlock();
  const absl::Status status = Decode(*request, body, &decoded);
  lock.lock();
  if (!status.ok()) {
    problems.push_back(std::string(FromAbsl(status.message())));
    return finish({400, "", std::string(FromAbsl(status.message()))});
  }
  if (decoded.empty()) return finish({422, "", "no streams"});
  std::string errors;
  auto& streams = tenants_[request->tenant];
  for (Decoded& d : decoded) {
    Stream& s = streams[d.selector];
    for (LokiEntry& e : d.entries) {
      ++request->entries;
      if (s.has_last && s.last == e) {
        ++duplicates_;
        continue;
      }
      if (s.newest_ns != INT64_MIN &&
          e.timestamp_ns < s.newest_ns - absl::ToInt64Nanoseconds(options_.ordering_window)) {
        ++rejected_;
        absl::StrAppend(&errors, "entry for stream '", d.selector,
                        "' has timestamp too old: ", e.timestamp_ns, "; entry too far behind\n");
        continue;
      }
      s.newest_ns = std::max(s.newest_ns, e.timestamp_ns);
      s.last = e;
      s.has_last = true;
      s.entries.push_back(std::move(e));
      ++accepted_;
    }
  }
  if (!errors.empty()) return finish({400, "", errors});
  response.status = response.status / 100 == 2 ? response.status : 204;
  return finish(std::move(response));
}

std::map<std::string, std::map<std::string, std::vector<LokiEntry>>> FakeLoki::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::map<std::string, std::vector<LokiEntry>>> out;
  for (const auto& [tenant, streams] : tenants_) {
    for (const auto& [selector, s] : streams) {
      if (!s.entries.empty()) out[tenant][selector] = s.entries;
    }
  }
  return out;
}

std::vector<LokiEntry> FakeLoki::stream(const std::string& tenant,
                                        const std::string& selector) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return {};
  auto s = t->second.find(selector);
  return s == t->second.end() ? std::vector<LokiEntry>() : s->second.entries;
}

size_t FakeLoki::accepted_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

size_t FakeLoki::duplicates() const {
  std::lock_guard<std::mutex> lock(mu_);
  return duplicates_;
}

size_t FakeLoki::rejected_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rejected_;
}

std::vector<LokiRequest> FakeLoki::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<std::string> FakeLoki::violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

bool FakeLoki::WaitForEntries(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [&] { return accepted_ >= n; });
}

bool FakeLoki::WaitForRequests(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [&] { return requests_.size() >= n; });
}

}  // namespace tender::test_tools
