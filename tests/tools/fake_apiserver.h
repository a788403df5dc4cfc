// FakeApiServer: an in-process Kubernetes API server for tests (cpp-httplib on 127.0.0.1, an
// OS-chosen port). Serves list (limit/continue paging over a consistent snapshot) and watch
// (chunked newline-delimited events, bookmarks, timeoutSeconds) for nodes, namespaces, pods,
// services, endpoints (all-namespace and namespaced paths), discovery.k8s.io/v1 endpointslices
// and networking.k8s.io/v1 ingresses, core/v1 events. Selectors are recorded, not applied. Tests
// mutate objects while watches run, force 410 (at watch start or mid-stream), close streams,
// and script 429/503 answers. Checks the bearer token when one is set. Serves single pods
// (GET .../pods/NAME) and pod logs (GET .../pods/NAME/log with container, follow, timestamps,
// sinceTime, previous; protocols.md §7.5): tests append lines, restart containers and cut the
// log streams.
// Thread-safe: requests run on server threads; tests call any method from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace tender::test_tools {

class FakeApiServer {
 public:
  FakeApiServer();
  ~FakeApiServer();  // Stops.

  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Binds 127.0.0.1:0 and serves. Call once.
  absl::Status Start();
  // Ends all watch streams and stops the server. Idempotent.
  void Stop();

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>"

  // Requests must carry "Authorization: Bearer <token>" (401 otherwise). "" disables the check.
  void set_token(std::string token);
  // Interval at which watches with allowWatchBookmarks=true get a BOOKMARK (zero: only on
  // SendBookmarks()).
  void set_bookmark_interval(absl::Duration interval);

  // `resource` is one of nodes, namespaces, pods, services, endpoints, endpointslices,
  // ingresses, events. `object_json` is a
  // JSON object with metadata.name (and metadata.namespace for namespaced kinds); the server
  // sets metadata.resourceVersion (and a uid when missing). Creates or replaces; emits ADDED or
  // MODIFIED. Returns the new resourceVersion.
  int64_t Upsert(std::string_view resource, std::string_view object_json);
  // Deletes ns/name (ns "" for nodes); emits DELETED. False when absent.
  bool Delete(std::string_view resource, std::string_view ns, std::string_view name);

  // Forgets event history up to now: a watch from an older resourceVersion gets HTTP 410.
  void Compact();
  // Compacts, and every open watch stream gets an ERROR event (Status code 410, reason
  // Expired) and is then closed.
  void ExpireWatches();
  // Closes every open watch stream cleanly (as a server-side timeout does).
  void CloseWatches();
  // Sends a BOOKMARK with the current resourceVersion to every watch that allows them.
  void SendBookmarks();
  // The next `count` requests (list or watch) are answered with `status` (e.g. 429, 503) and
  // Retry-After: 1.
  void FailNext(int status, int count);

  // API-server proxy (protocols.md §7.4): GET /api/v1/nodes/NAME[:PORT]/proxy/PATH,
  // /api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy/PATH and
  // /api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH are forwarded as
  // GET base_url + /PATH?QUERY to the fixture registered for `kind` ("nodes", "pods" or
  // "services"), `ns` ("" for nodes) and `name_port` (the name part without the scheme, e.g.
  // "n1", "n1:9100", "web-1:8080"); 404 when none is. The bearer token is checked as for
  // list/watch.
  void SetProxyTarget(std::string_view kind, std::string_view ns, std::string_view name_port,
                      std::string base_url);
  // Each proxy request waits this long before it is forwarded (keeps requests in flight long
  // enough for concurrency to show).
  void set_proxy_delay(absl::Duration delay);
  // The next `count` proxy requests are answered with `status` and Retry-After: 1.
  void FailNextProxy(int status, int count);
  // From now on, `fraction` (0..1) of the proxy requests, spread evenly (every fifth for 0.2),
  // are answered with `status` and Retry-After: 1. 0 turns it off.
  void FailProxyFraction(int status, double fraction);
  struct ProxyStats {
    int requests = 0;                    // Proxy requests received.
    int forwarded = 0;                   // Answered by a fixture.
    int failed = 0;                      // Answered 429/503 (FailNextProxy, FailProxyFraction).
    int unauthorized = 0;                // Answered 401.
    int max_in_flight = 0;               // Most proxy requests in progress at once.
    std::map<std::string, int> by_path;  // Requests per proxy path (query left out).
  };
  ProxyStats proxy_stats() const;
  // Pod logs. Lines are kept per (namespace, pod, container) instance; the pod must be
  // upserted for its log to be served (404 otherwise, 400 for a container it does not have).
  // Appends `line` to the current instance's log with a timestamp from the server's log clock:
  // the wall clock, forced to increase by at least 1 ns per call. Returns the timestamp.
  int64_t AppendLog(std::string_view ns, std::string_view pod, std::string_view container,
                    std::string_view line);
  // Appends `lines` sharing one timestamp (as a runtime may stamp lines written together).
  int64_t AppendLogLines(std::string_view ns, std::string_view pod, std::string_view container,
                         const std::vector<std::string>& lines);
  // Restarts a container: its current log becomes the `previous=true` log, the new instance
  // starts empty, and the pod's status.containerStatuses (or initContainerStatuses) entry gets
  // a new containerID and restartCount + 1 (a MODIFIED event), all at once. Follow streams of
  // the old instance send what they have not sent yet and end cleanly. Returns the new
  // containerID ("" when the pod is unknown).
  std::string RestartContainer(std::string_view ns, std::string_view pod,
                               std::string_view container);
  // Breaks every open log stream (the connection closes without the end of the chunked body).
  // With `mid_line`, each stream first sends the first half of its next line, if it has one.
  void CutLogStreams(bool mid_line = false);
  // The lines of the current (or previous) instance, as "<RFC3339Nano> <line>".
  std::vector<std::string> LogLines(std::string_view ns, std::string_view pod,
                                    std::string_view container, bool previous = false) const;
  int log_requests() const;
  int open_log_streams() const;
  // Blocks until at least `n` follow streams are open (or the deadline passes).
  bool WaitForOpenLogStreams(int n, absl::Duration timeout) const;

  // Fixed-width RFC3339Nano in UTC, as the kubelet prefixes lines: 2026-12-02T01:02:03.123456789Z.
  static std::string FormatLogTimestamp(int64_t unix_ns);

  int64_t resource_version() const;
  // Every request seen: its path and decoded query parameters sorted by name
  // ("/api/v1/namespaces/a/pods?labelSelector=app=web&limit=500").
  std::vector<std::string> requests() const;
  int list_requests() const;
  int watch_requests() const;
  int open_watches() const;
  // Blocks until at least `n` watches are open (or the deadline passes); true on success.
  bool WaitForOpenWatches(int n, absl::Duration timeout) const;

 private:
  struct Event {
    int64_t rv;
    std::string type;
    std::string ns;
    std::string json;  // The object.
  };
  struct Resource {
    std::map<std::string, std::pair<std::string, std::string>> objects;  // key -> (ns, json)
    std::vector<Event> history;
  };
  struct Snapshot {
    std::vector<std::string> items;
    int64_t rv;
  };

  struct LogLine {
    int64_t ts_ns;
    std::string text;
  };
  struct ContainerLog {
    std::vector<LogLine> current;
    std::vector<LogLine> previous;
    bool has_previous = false;
    int64_t instance = 0;  // Incremented by RestartContainer.
  };

  void Handle(const httplib::Request& req, httplib::Response& res, const std::string& resource,
              const std::string& ns);
  // Records the request and applies the token check and scripted failures; false when `res`
  // was answered.
  bool Admit(const httplib::Request& req, httplib::Response& res);
  void GetPod(const httplib::Request& req, httplib::Response& res, const std::string& ns,
              const std::string& name);
  void PodLog(const httplib::Request& req, httplib::Response& res, const std::string& ns,
              const std::string& pod);
  int64_t UpsertLocked(const std::string& resource, std::string_view object_json);
  int64_t NextLogTimestampLocked();
  void List(const httplib::Request& req, httplib::Response& res, const std::string& resource,
            const std::string& ns);
  void Watch(const httplib::Request& req, httplib::Response& res, const std::string& resource,
             const std::string& ns);

  struct ProxyState;  // fake_apiserver_proxy.cc
  static std::shared_ptr<ProxyState> NewProxyState();
  // Adds the proxy routes (fake_apiserver_proxy.cc); called by Start().
  void RegisterProxyRoutes();
  void HandleProxy(const httplib::Request& req, httplib::Response& res, const std::string& kind,
                   const std::string& ns, const std::string& name_part, const std::string& path);

  std::shared_ptr<ProxyState> proxy_ =
      NewProxyState();  // Has its own mutex; never locked together with mu_.
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;  // Covers everything below.
  mutable std::condition_variable cv_;
  std::string token_;
  absl::Duration bookmark_interval_ = absl::ZeroDuration();
  int64_t rv_ = 100;
  int64_t compacted_rv_ = 0;
  std::map<std::string, Resource> resources_;
  std::map<std::string, Snapshot> snapshots_;  // Continue token id -> list snapshot.
  int64_t next_snapshot_ = 1;
  int64_t expire_generation_ = 0;
  int64_t close_generation_ = 0;
  int64_t bookmark_generation_ = 0;
  int fail_status_ = 0;
  int fail_count_ = 0;
  std::vector<std::string> requests_;
  int list_requests_ = 0;
  int watch_requests_ = 0;
  int open_watches_ = 0;
  bool stopping_ = false;
  std::map<std::string, ContainerLog> logs_;  // "ns/pod/container" -> log.
  int64_t last_log_ts_ = 0;
  int64_t cut_generation_ = 0;
  bool cut_mid_line_ = false;
  int log_requests_ = 0;
  int open_log_streams_ = 0;
};

}  // namespace tender::test_tools
