#include "tests/tools/fake_receiver.h"

#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/model/labels.h"
#include "exporters/proto/remote.pb.h"

namespace tender::test_tools {
namespace {

// Stream identifier chunk of the framed snappy format, which remote write must not use.
constexpr char kFramedMagic[] = "\xff\x06\x00\x00sNaPpY";

uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

void CheckHeader(const ReceivedRequest& request, const std::string& name, const std::string& want,
                 std::vector<std::string>* problems) {
  auto it = request.headers.find(name);
  if (it == request.headers.end()) {
    problems->push_back(absl::StrCat("missing header ", name));
  } else if (it->second != want) {
    problems->push_back(
        absl::StrCat("header ", name, ": got \"", it->second, "\", want \"", want, "\""));
  }
}

// Checks remote-write 1.0 label rules (protocols.md §4.2) and returns the canonical key.
std::string SeriesKey(const tender::prompb::TimeSeries& ts, std::vector<std::string>* problems) {
  model::Labels labels;
  bool has_name = false;
  for (int i = 0; i < ts.labels_size(); ++i) {
    const auto& label = ts.labels(i);
    if (label.name().empty() || label.value().empty()) {
      problems->push_back(
          absl::StrCat("empty label name or value: ", label.name(), "=\"", label.value(), "\""));
    }
    if (i > 0 && !(ts.labels(i - 1).name() < label.name())) {
      problems->push_back(absl::StrCat("labels not sorted or repeated at ", label.name()));
    }
    has_name |= label.name() == model::kMetricName;
    labels.push_back({label.name(), label.value()});
  }
  if (!has_name) {
    problems->push_back("series without __name__");
  }
  std::stable_sort(labels.begin(), labels.end(),
                   [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
  return model::ToString(labels);
}

}  // namespace

FakeRemoteWriteReceiver::FakeRemoteWriteReceiver(int worker_threads)
    : server_(std::make_unique<httplib::Server>()) {
  const size_t threads = static_cast<size_t>(std::max(1, worker_threads));
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_keep_alive_max_count(100000);
  server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    ReceivedRequest request;
    request.received = absl::Now();
    request.remote_port = req.remote_port;
    for (const auto& [name, value] : req.headers) {
      request.headers[absl::AsciiStrToLower(name)] = value;
    }
    if (auto it = request.headers.find("retry-attempt"); it != request.headers.end()) {
      if (!absl::SimpleAtoi(it->second, &request.retry_attempt)) {
        request.retry_attempt = -1;
      }
    }
    const ReceiverResponse response = Handle(std::move(request), req.body);
    if (response.delay > absl::ZeroDuration()) {
      // Simulated latency of a slow receiver (not a wait for a condition).
      absl::SleepFor(response.delay);
    }
    res.status = response.status;
    if (!response.retry_after.empty()) {
      res.set_header("Retry-After", response.retry_after);
    }
    if (!response.body.empty()) {
      res.set_content(response.body, "text/plain");
    }
  });
}

FakeRemoteWriteReceiver::~FakeRemoteWriteReceiver() { Stop(); }

absl::Status FakeRemoteWriteReceiver::Start() {
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    return absl::UnavailableError("fake receiver: cannot bind 127.0.0.1");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Stop() is only effective once the accept loop runs, and httplib has no readiness callback:
  // poll for it, with a deadline.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_->is_running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("fake receiver: server did not start");
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

void FakeRemoteWriteReceiver::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string FakeRemoteWriteReceiver::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/api/v1/write");
}

void FakeRemoteWriteReceiver::ScriptResponses(std::vector<ReceiverResponse> responses) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : responses) {
    script_.push_back(std::move(r));
  }
}

void FakeRemoteWriteReceiver::SetResponder(Responder responder) {
  std::lock_guard<std::mutex> lock(mu_);
  responder_ = std::move(responder);
}

ReceiverResponse FakeRemoteWriteReceiver::NextResponse(const ReceivedRequest& request) {
  Responder responder;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!script_.empty()) {
      ReceiverResponse next = std::move(script_.front());
      script_.pop_front();
      return next;
    }
    responder = responder_;
  }
  return responder ? responder(request) : ReceiverResponse{};
}

ReceiverResponse FakeRemoteWriteReceiver::Handle(ReceivedRequest request, const std::string& body) {
  std::vector<std::string> problems;
  CheckHeader(request, "content-encoding", "snappy", &problems);
  CheckHeader(request, "content-type", "application/x-protobuf", &problems);
  CheckHeader(request, "x-prometheus-remote-write-version", "0.1.0", &problems);
  if (auto it = request.headers.find("user-agent");
      it == request.headers.end() || it->second.empty()) {
    problems.push_back("missing header user-agent");
  }
  request.compressed_bytes = body.size();

  tender::prompb::WriteRequest write;
  std::string raw;
  if (body.compare(0, sizeof(kFramedMagic) - 1, kFramedMagic, sizeof(kFramedMagic) - 1) == 0) {
    problems.push_back("body uses the framed snappy format");
  } else if (!snappy::Uncompress(body.data(), body.size(), &raw)) {
    problems.push_back("body is not snappy block format");
  } else if (!write.ParseFromString(raw)) {
    problems.push_back("body is not a prometheus.WriteRequest");
  } else {
    request.decoded = true;
  }

  // Decode outside the lock; record under it.
  std::vector<std::pair<std::string, ReceivedSample>> samples;
  if (request.decoded) {
    for (const auto& ts : write.timeseries()) {
      const std::string key = SeriesKey(ts, &problems);
      for (const auto& s : ts.samples()) {
        samples.emplace_back(key, ReceivedSample{s.timestamp(), Bits(s.value())});
      }
    }
    request.samples = samples.size();
  }

  ReceiverResponse response;
  if (!request.decoded) {
    response.status = 400;  // As Prometheus answers undecodable bodies.
    response.body = problems.empty() ? "bad request" : problems.back();
  } else {
    response = NextResponse(request);
  }
  request.status = response.status;

  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : problems) {
    violations_.push_back(std::move(p));
  }
  if (response.status >= 200 && response.status < 300) {
    for (auto& [key, sample] : samples) {
      std::vector<ReceivedSample>& points = series_[key];
      if (!points.empty() && sample.timestamp_ms <= points.back().timestamp_ms) {
        ++order_violations_;
        violations_.push_back(
            absl::StrCat(sample.timestamp_ms == points.back().timestamp_ms ? "duplicate timestamp "
                                                                           : "out of order ",
                         key, ": ", sample.timestamp_ms, " after ", points.back().timestamp_ms));
      }
      points.push_back(sample);
    }
    accepted_samples_ += samples.size();
  }
  requests_.push_back(std::move(request));
  changed_.notify_all();
  return response;
}

std::map<std::string, std::vector<ReceivedSample>> FakeRemoteWriteReceiver::series() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_;
}

std::vector<ReceivedRequest> FakeRemoteWriteReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t FakeRemoteWriteReceiver::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

size_t FakeRemoteWriteReceiver::accepted_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_samples_;
}

std::vector<std::string> FakeRemoteWriteReceiver::violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

size_t FakeRemoteWriteReceiver::order_violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return order_violations_;
}

bool FakeRemoteWriteReceiver::WaitForAcceptedSamples(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [this, n] { return accepted_samples_ >= n; });
}

bool FakeRemoteWriteReceiver::WaitForRequests(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [this, n] { return requests_.size() >= n; });
}

}  // namespace tender::test_tools
