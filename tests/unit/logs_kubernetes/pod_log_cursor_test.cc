#include "collector/logs/kubernetes/pod_log_cursor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tender::logs {
namespace {

constexpr int64_t kSec = 1000000000;
// 2026-12-02T01:02:03Z
constexpr int64_t kT0 = 1796173323 * kSec;

TEST(ParseTimestampedLineTest, Forms) {
  struct Case {
    std::string line;
    bool ok;
    int64_t ts;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"2026-12-02T01:02:03.123456789Z hello world", true, kT0 + 123456789, "hello world"},
      {"2026-12-02T01:02:03.000000001Z ", true, kT0 + 1, ""},
      {"2026-12-02T01:02:03.000000001Z", true, kT0 + 1, ""},
      {"2026-12-02T01:02:03Z short", true, kT0, "short"},
      {"2026-12-02T02:02:03.5+01:00 offset", true, kT0 + kSec / 2, "offset"},
      {"no timestamp here", false, 0, ""},
      {"", false, 0, ""},
      {"2026-13-02T01:02:03.123456789Z bad month", false, 0, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    int64_t ts = 0;
    std::string_view text;
    ASSERT_EQ(ParseTimestampedLine(c.line, &ts, &text), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(ts, c.ts);
    EXPECT_EQ(text, c.text);
  }
}

TEST(SinceTimeTest, SecondPrecision) {
  EXPECT_EQ(SinceTime(kT0 + 999999999), "2026-12-02T01:02:03Z");
  EXPECT_EQ(SinceTime(kT0), "2026-12-02T01:02:03Z");
}

TEST(LineSplitterTest, PartialLinesWaitForTheirNewline) {
  LineSplitter s(1024);
  std::vector<std::string> out;
  s.Add("a1\na", &out);
  EXPECT_EQ(out, (std::vector<std::string>{"a1"}));
  EXPECT_TRUE(s.has_partial());
  s.Add("2\r\n", &out);
  s.Add("", &out);
  EXPECT_EQ(out, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_FALSE(s.has_partial());
  // A broken connection mid-line: the partial line is dropped, the reconnect sends it whole.
  s.Add("half of a li", &out);
  s.Reset();
  s.Add("whole line\n", &out);
  EXPECT_EQ(out.back(), "whole line");
  // The clean end of a body: the last line without a newline is a line.
  s.Add("last", &out);
  s.Finish(&out);
  EXPECT_EQ(out.back(), "last");
  EXPECT_FALSE(s.has_partial());
}

TEST(LineSplitterTest, LongLinesAreCutAndCounted) {
  LineSplitter s(8);
  std::vector<std::string> out;
  s.Add("0123", &out);
  s.Add("456789abc", &out);
  s.Add("def\nok\n0123456789\n", &out);
  EXPECT_EQ(out, (std::vector<std::string>{"01234567", "ok", "01234567"}));
  EXPECT_EQ(s.truncated_lines(), 2u);
}

TEST(LineSplitterTest, InvalidUtf8IsReplaced) {
  LineSplitter s(1024);
  std::vector<std::string> out;
  s.Add("ok \xC3\xA9\nbad \xFF\xFE end\n", &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "ok \xC3\xA9");
  EXPECT_EQ(out[1], "bad \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(s.invalid_utf8_lines(), 1u);
}

// Feeds `lines` (timestamp, text) through a filter on `cursor`; returns the accepted texts.
std::vector<std::string> Connect(PodLogCursor* cursor,
                                 const std::vector<std::pair<int64_t, std::string>>& lines) {
  CursorFilter f(cursor);
  std::vector<std::string> out;
  for (const auto& [ts, text] : lines) {
    if (f.Accept(ts, text)) out.push_back(text);
  }
  return out;
}

TEST(CursorFilterTest, ReconnectAtSecondPrecisionNeitherRepeatsNorSkips) {
  PodLogCursor c;
  // First connection: three lines, two of them sharing a timestamp, then a break after b.
  EXPECT_EQ(Connect(&c, {{kT0 + 100, "a"}, {kT0 + 200, "b1"}, {kT0 + 200, "b2"}}),
            (std::vector<std::string>{"a", "b1", "b2"}));
  EXPECT_EQ(c.timestamp_ns, kT0 + 200);
  EXPECT_EQ(c.delivered.size(), 2u);
  // The server wrote b3 at the same timestamp, then c; the reconnect from the cursor's second
  // replays a, b1, b2.
  const std::vector<std::pair<int64_t, std::string>> replay = {
      {kT0 + 100, "a"}, {kT0 + 200, "b1"}, {kT0 + 200, "b2"}, {kT0 + 200, "b3"}, {kT0 + 300, "c"}};
  EXPECT_EQ(Connect(&c, replay), (std::vector<std::string>{"b3", "c"}));
  // Again: nothing new.
  EXPECT_EQ(Connect(&c, replay), std::vector<std::string>{});
  EXPECT_EQ(c.timestamp_ns, kT0 + 300);
}

TEST(CursorFilterTest, IdenticalLinesAtOneTimestampAreCounted) {
  PodLogCursor c;
  EXPECT_EQ(Connect(&c, {{kT0, "same"}, {kT0, "same"}}).size(), 2u);
  // The third identical line at that timestamp arrived after the break.
  EXPECT_EQ(Connect(&c, {{kT0, "same"}, {kT0, "same"}, {kT0, "same"}}),
            (std::vector<std::string>{"same"}));
}

TEST(CursorFilterTest, AfterTheReplayEveryLineIsNew) {
  PodLogCursor c;
  Connect(&c, {{kT0 + 500, "x"}});
  // A clock that stepped back after a new line: still delivered, the cursor does not go back.
  EXPECT_EQ(Connect(&c, {{kT0 + 500, "x"}, {kT0 + 600, "y"}, {kT0 + 550, "back"}}),
            (std::vector<std::string>{"y", "back"}));
  EXPECT_EQ(c.timestamp_ns, kT0 + 600);
}

TEST(CursorFilterTest, NewInstanceContinuesFromTheCursor) {
  // A restarted container: the new instance's lines are later than the old one's, and the
  // cursor (kept across the instance change) lets all of them through.
  PodLogCursor c;
  c.container_id = "containerd://old";
  Connect(&c, {{kT0 + 10, "old 1"}, {kT0 + 20, "old 2"}});
  c.container_id = "containerd://new";
  EXPECT_EQ(Connect(&c, {{kT0 + 30, "new 1"}, {kT0 + 40, "new 2"}}),
            (std::vector<std::string>{"new 1", "new 2"}));
}

TEST(CursorsTextTest, RoundTrip) {
  std::map<std::string, PodLogCursor> cursors;
  PodLogCursor a;
  a.container_id = "containerd://abc";
  Connect(&a, {{kT0 + 1, "one"}, {kT0 + 1, "two"}, {kT0 + 1, "two"}});
  cursors["ns/pod/c"] = a;
  cursors["ns/pod/other"] = PodLogCursor{};
  absl::StatusOr<std::map<std::string, PodLogCursor>> back =
      ParseCursors(SerializeCursors(cursors));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, cursors);
  EXPECT_FALSE(ParseCursors("ns/pod/c id notanumber -\n").ok());
  EXPECT_FALSE(ParseCursors("ns/pod/c id 5 zz:1\n").ok());
}

}  // namespace
}  // namespace tender::logs
