// /targets in a real browser: headless Chromium from Debian loads the page of a running tender
// and the rendered DOM lists the fixture targets with their state and last error.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/process.h"

namespace tender::testing {
namespace {

// Runs headless Chromium on `url`; returns the rendered DOM and writes a screenshot.
std::string RenderInChromium(const std::string& dir, const std::string& url,
                             const std::string& screenshot) {
  const std::string flags =
      "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-quic "
      "--no-first-run --disable-background-networking --disable-component-update "
      "--disable-sync --window-size=1280,900 --user-data-dir=" +
      dir + "/chromium";
  const std::string chromium = Env("CHROMIUM_BIN", "chromium");
  std::system(
      (chromium + " " + flags + " --screenshot=" + screenshot + " " + url + " >/dev/null 2>&1")
          .c_str());
  const std::string dom_file = dir + "/dom.html";
  std::system(
      (chromium + " " + flags + " --dump-dom " + url + " > " + dom_file + " 2>/dev/null").c_str());
  return ReadFile(dom_file);
}

TEST(E2EBrowserTest, TargetsPageInChromium) {
  const std::string dir = MakeTempDir("tender-e2e-browser-");
  httplib::Server fixture;
  fixture.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("a 1\n", "text/plain; version=0.0.4");
  });
  const int fixture_port = fixture.bind_to_any_port("127.0.0.1");
  std::thread fixture_thread([&] { fixture.listen_after_bind(); });
  const int dead_port = FreePort();  // Nothing listens there.

  std::ofstream(dir + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 500ms
scrape_configs:
  - job_name: good
    static_configs:
      - targets: ['127.0.0.1:)",
                                                     fixture_port, R"(']
  - job_name: broken
    static_configs:
      - targets: ['127.0.0.1:)",
                                                     dead_port, R"(']
    relabel_configs:
      - source_labels: [__address__]
        regex: '.*:1'
        action: drop
remote_write:
  - url: http://127.0.0.1:1/api/v1/write
)");
  const int port = FreePort();
  ChildProcess tender(testing::TenderArgs(dir, port), dir + "/tender.log");
  httplib::Client client("127.0.0.1", port);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = client.Get("/targets");
        return r && absl::StrContains(r->body, ">UP<") && absl::StrContains(r->body, ">DOWN<");
      },
      absl::Seconds(20)))
      << ReadFile(dir + "/tender.log");

  const std::string shot = dir + "/targets.png";
  const std::string dom =
      RenderInChromium(dir, absl::StrCat("http://127.0.0.1:", port, "/targets"), shot);
  ASSERT_FALSE(dom.empty()) << "chromium rendered nothing";
  EXPECT_TRUE(absl::StrContains(dom, "<title>tender: targets</title>")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, "good (1/1 up)")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, "broken (0/1 up)")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, absl::StrCat("127.0.0.1:", fixture_port, "/metrics")));
  EXPECT_TRUE(absl::StrContains(dom, ">UP<"));
  EXPECT_TRUE(absl::StrContains(dom, ">DOWN<"));
  EXPECT_TRUE(absl::StrContains(dom, "Couldn't connect to server")) << dom;
  // The screenshot is a real PNG of the page.
  const std::string png = ReadFile(shot);
  ASSERT_GT(png.size(), 5000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  std::cerr << "screenshot: " << shot << "\n";

  fixture.stop();
  fixture_thread.join();
}

}  // namespace
}  // namespace tender::testing
