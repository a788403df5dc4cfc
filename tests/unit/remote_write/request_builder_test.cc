#include "exporters/remote_write/request_builder.h"

#include <snappy.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/model/protowire.h"
#include "gtest/gtest.h"
#include "tests/unit/remote_write/batch_util.h"

namespace tender::remote_write {
namespace {

using testing_util::AppendSample;
using testing_util::Decode;

struct Point {
  model::Labels labels;
  int64_t timestamp_ms;
  uint64_t bits;
};

// A batch of `n` entries of one metric with distinct `i` labels, timestamps 1000 + i.
model::SeriesBatch MakeBatch(int n, int64_t base_ts = 1000, std::string name = "m") {
  model::SeriesBatch batch;
  for (int i = 0; i < n; ++i) {
    AppendSample(&batch, {{"__name__", name}, {"i", absl::StrCat(i)}}, base_ts + i,
                 static_cast<double>(i));
  }
  return batch;
}

// Checks that `request` holds exactly `points`, in order, one sample per TimeSeries.
void ExpectPoints(const tender::prompb::WriteRequest& request, const std::vector<Point>& points) {
  ASSERT_EQ(request.timeseries_size(), static_cast<int>(points.size()));
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("entry ", i));
    const auto& ts = request.timeseries(static_cast<int>(i));
    ASSERT_EQ(ts.labels_size(), static_cast<int>(points[i].labels.size()));
    for (int j = 0; j < ts.labels_size(); ++j) {
      EXPECT_EQ(ts.labels(j).name(), points[i].labels[j].name);
      EXPECT_EQ(ts.labels(j).value(), points[i].labels[j].value);
    }
    ASSERT_EQ(ts.samples_size(), 1);
    EXPECT_EQ(ts.samples(0).timestamp(), points[i].timestamp_ms);
    EXPECT_EQ(protowire::DoubleBits(ts.samples(0).value()), points[i].bits);
  }
}

TEST(RequestBuilderTest, RoundTripPreservesLabelsValueBitsAndTimestamps) {
  const std::vector<Point> points = {
      {{{"__name__", "up"}, {"instance", "a:9100"}, {"job", "node"}}, 1700000000123, 0},
      {{{"__name__", "stale"}}, 1, model::kStaleNaNBits},
      {{{"__name__", "nan"}}, 2, model::kNormalNaNBits},
      {{{"__name__", "inf"}, {"sign", "+"}},
       3,
       protowire::DoubleBits(std::numeric_limits<double>::infinity())},
      {{{"__name__", "inf"}, {"sign", "-"}},
       4,
       protowire::DoubleBits(-std::numeric_limits<double>::infinity())},
      {{{"__name__", "neg"}}, -5, protowire::DoubleBits(-1.5e-300)},
      {{{"__name__", "max_ts"}}, std::numeric_limits<int64_t>::max(), protowire::DoubleBits(1e308)},
      {{{"__name__", "utf8"}, {"v", "µs \"quoted\"\n"}}, 6, protowire::DoubleBits(-0.0)},
      {{{"__name__", "long"}, {"v", std::string(300, 'x')}}, 7, protowire::DoubleBits(42)},
  };
  model::SeriesBatch batch;
  for (const auto& p : points) {
    AppendSample(&batch, p.labels, p.timestamp_ms, p.bits);
  }
  RequestBuilder builder(100);
  size_t offset = 0;
  const auto result = builder.Append(batch.data, batch.samples, &offset);
  EXPECT_EQ(result.entries, points.size());
  EXPECT_FALSE(result.malformed);
  EXPECT_EQ(offset, batch.data.size());
  EXPECT_EQ(builder.samples(), points.size());
  EXPECT_EQ(builder.body(), batch.data);  // Framing copies entries byte for byte.

  tender::prompb::WriteRequest request;
  ASSERT_TRUE(Decode(builder.body(), &request));
  ExpectPoints(request, points);
  // The stale marker stays the signalling NaN, never the canonical quiet one.
  EXPECT_EQ(protowire::DoubleBits(request.timeseries(1).samples(0).value()), 0x7ff0000000000002ULL);
}

TEST(RequestBuilderTest, SplitsLargeBatchAtEntryBoundaries) {
  const model::SeriesBatch batch = MakeBatch(10);
  RequestBuilder builder(3);
  size_t offset = 0;
  uint32_t taken = 0;
  std::vector<int> sizes;
  std::vector<int64_t> timestamps;
  while (offset < batch.data.size()) {
    builder.Clear();
    const auto r = builder.Append(batch.data, batch.samples - taken, &offset);
    ASSERT_FALSE(r.malformed);
    taken += r.entries;
    sizes.push_back(static_cast<int>(r.entries));
    tender::prompb::WriteRequest request;
    ASSERT_TRUE(Decode(builder.body(), &request));
    ASSERT_EQ(request.timeseries_size(), static_cast<int>(r.entries));
    for (const auto& ts : request.timeseries()) {
      timestamps.push_back(ts.samples(0).timestamp());
    }
  }
  EXPECT_EQ(sizes, (std::vector<int>{3, 3, 3, 1}));
  std::vector<int64_t> want;
  for (int i = 0; i < 10; ++i) {
    want.push_back(1000 + i);
  }
  EXPECT_EQ(timestamps, want);
}

TEST(RequestBuilderTest, MergesSmallBatchesUpToBudget) {
  const model::SeriesBatch a = MakeBatch(2, 100, "a");
  const model::SeriesBatch b = MakeBatch(3, 200, "b");
  const model::SeriesBatch c = MakeBatch(4, 300, "c");
  RequestBuilder builder(7);
  size_t oa = 0, ob = 0, oc = 0;
  EXPECT_EQ(builder.Append(a.data, a.samples, &oa).entries, 2u);
  EXPECT_EQ(builder.Append(b.data, b.samples, &ob).entries, 3u);
  EXPECT_FALSE(builder.full());
  EXPECT_EQ(builder.Append(c.data, c.samples, &oc).entries, 2u);  // Only 2 fit.
  EXPECT_TRUE(builder.full());
  EXPECT_EQ(builder.Append(c.data, 2, &oc).entries, 0u);  // Full: nothing more.
  EXPECT_LT(oc, c.data.size());

  tender::prompb::WriteRequest request;
  ASSERT_TRUE(Decode(builder.body(), &request));
  std::vector<std::string> names;
  for (const auto& ts : request.timeseries()) {
    names.push_back(ts.labels(0).value());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "a", "b", "b", "b", "c", "c"}));

  // The rest of c goes into the next request.
  builder.Clear();
  EXPECT_EQ(builder.Append(c.data, 2, &oc).entries, 2u);
  EXPECT_EQ(oc, c.data.size());
  ASSERT_TRUE(Decode(builder.body(), &request));
  ASSERT_EQ(request.timeseries_size(), 2);
  EXPECT_EQ(request.timeseries(0).samples(0).timestamp(), 302);
  EXPECT_EQ(request.timeseries(1).samples(0).timestamp(), 303);
}

TEST(RequestBuilderTest, SkipEntriesReportsMalformedData) {
  const model::SeriesBatch good = MakeBatch(3);
  const EntryRun whole = SkipEntries(good.data, 0, 10);
  const EntryRun two = SkipEntries(good.data, 0, 2);
  struct Case {
    std::string name;
    std::string data;
    uint32_t max;
    EntryRun want;
  };
  const std::vector<Case> cases = {
      {"all", good.data, 10, {good.data.size(), 3, false}},
      {"limited", good.data, 2, {two.end, 2, false}},
      {"truncated last entry", good.data.substr(0, good.data.size() - 1), 10, {two.end, 2, true}},
      {"wrong tag", std::string("\x12\x01x", 3), 10, {0, 0, true}},
      {"truncated varint", std::string("\x0a\x80", 2), 10, {0, 0, true}},
      {"empty", "", 10, {0, 0, false}},
  };
  EXPECT_EQ(whole.end, good.data.size());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const EntryRun got = SkipEntries(c.data, 0, c.max);
    EXPECT_EQ(got.end, c.want.end);
    EXPECT_EQ(got.entries, c.want.entries);
    EXPECT_EQ(got.malformed, c.want.malformed);
  }
}

TEST(RequestBuilderTest, AppendKeepsGoodPrefixOfMalformedBatch) {
  model::SeriesBatch broken = MakeBatch(3, 100, "b");
  const size_t two_end = SkipEntries(broken.data, 0, 2).end;
  broken.data.resize(broken.data.size() - 2);  // Break the 3rd entry.
  const model::SeriesBatch first = MakeBatch(7, 1, "a");

  RequestBuilder builder(10);
  size_t offset = 0;
  ASSERT_EQ(builder.Append(first.data, first.samples, &offset).entries, 7u);
  // 3 entries of room and a batch claiming 5: the builder walks and meets the broken entry.
  offset = 0;
  const auto r = builder.Append(broken.data, 5, &offset);
  EXPECT_EQ(r.entries, 2u);
  EXPECT_TRUE(r.malformed);
  EXPECT_EQ(offset, two_end);
  EXPECT_EQ(builder.samples(), 9u);

  tender::prompb::WriteRequest request;
  ASSERT_TRUE(Decode(builder.body(), &request));
  ASSERT_EQ(request.timeseries_size(), 9);
  EXPECT_EQ(request.timeseries(8).samples(0).timestamp(), 101);
}

TEST(RequestBuilderTest, CutsAtEntryMarksAsAWalkWould) {
  // Entries of different sizes, so that a wrong offset would not land on an entry boundary.
  model::SeriesBatch batch;
  for (int i = 0; i < 500; ++i) {
    AppendSample(&batch, {{"__name__", "m"}, {"i", std::string(i % 13 + 1, 'x')}}, 1000 + i,
                 static_cast<double>(i));
  }
  ASSERT_TRUE(model::EntryMarksValid(batch));
  ASSERT_FALSE(batch.marks.empty());
  model::SeriesBatch unmarked = batch;
  unmarked.marks.clear();  // Invalid: the builder walks every entry.
  model::SeriesBatch wrong = batch;
  for (uint32_t& m : wrong.marks) m += 1;  // Not at entry starts: the builder must notice.
  auto check = [&](uint32_t max, uint32_t prefill) {
    SCOPED_TRACE(absl::StrCat("max ", max, " prefill ", prefill));
    const model::SeriesBatch small = MakeBatch(static_cast<int>(prefill), 1, "p");
    std::vector<std::string> want;
    for (const model::SeriesBatch* b : {&unmarked, &batch, &wrong}) {
      RequestBuilder builder(max);
      std::vector<std::string> bodies;
      size_t offset = 0;
      uint32_t taken = 0;
      size_t small_offset = 0;
      builder.Append(small, 0, &small_offset);
      while (offset < b->data.size()) {
        const RequestBuilder::AppendResult r = builder.Append(*b, taken, &offset);
        ASSERT_FALSE(r.malformed);
        ASSERT_GT(r.entries, 0u);
        taken += r.entries;
        ASSERT_EQ(offset, SkipEntries(b->data, 0, taken).end);
        bodies.push_back(builder.body());
        builder.Clear();
      }
      EXPECT_EQ(taken, b->samples);
      if (b == &unmarked) {
        want = bodies;
      } else {
        EXPECT_EQ(bodies, want);
      }
    }
  };
  for (uint32_t max : {1u, 7u, 31u, 32u, 33u, 64u, 100u, 499u, 500u}) {
    for (uint32_t prefill : {0u, 5u}) {
      if (prefill < max) check(max, prefill);
    }
  }
}

TEST(RequestBuilderTest, CompressesEntriesInPlaceAcrossBatches) {
  // Batches of different sizes, so that snappy's 64 KiB blocks start inside one batch and end
  // inside another; compressing from the batches must equal compressing the joined body.
  std::vector<model::SeriesBatch> batches;
  for (int n : {1, 700, 3, 2500, 40, 1900}) batches.push_back(MakeBatch(n, 1000 + n));
  RequestBuilder builder(100000);
  std::string joined;
  for (const model::SeriesBatch& b : batches) {
    size_t offset = 0;
    ASSERT_EQ(builder.Append(b, 0, &offset).entries, b.samples);
    joined += b.data;
  }
  ASSERT_GT(joined.size(), 3u * 65536);
  EXPECT_EQ(builder.body_size(), joined.size());
  EXPECT_EQ(builder.body(), joined);
  std::string expected;
  SnappyCompress(joined, &expected);
  EXPECT_EQ(builder.Compress(), expected);
}

TEST(RequestBuilderTest, CompressIsSnappyBlockFormat) {
  const model::SeriesBatch batch = MakeBatch(500);
  RequestBuilder builder(1000);
  size_t offset = 0;
  builder.Append(batch.data, batch.samples, &offset);
  const std::string body(builder.body());
  const std::string compressed(builder.Compress());

  // Block format starts with the varint of the uncompressed length (Appendix B) ...
  const char* p = compressed.data();
  uint64_t declared = 0;
  ASSERT_TRUE(protowire::ReadVarint(&p, compressed.data() + compressed.size(), &declared));
  EXPECT_EQ(declared, body.size());
  // ... and not with the framed format's stream identifier.
  EXPECT_NE(compressed.rfind("\xff\x06\x00\x00sNaPpY", 0), 0u);
  EXPECT_LT(compressed.size(), body.size() / 3);  // Repetitive labels compress well.

  std::string raw;
  ASSERT_TRUE(snappy::Uncompress(compressed.data(), compressed.size(), &raw));
  EXPECT_EQ(raw, body);

  // The buffer is reused: a smaller request compresses correctly after a larger one.
  builder.Clear();
  const model::SeriesBatch small = MakeBatch(2, 5);
  offset = 0;
  builder.Append(small.data, small.samples, &offset);
  const std::string_view again = builder.Compress();
  ASSERT_TRUE(snappy::Uncompress(again.data(), again.size(), &raw));
  EXPECT_EQ(raw, small.data);

  std::string out;
  SnappyCompress(small.data, &out);
  ASSERT_TRUE(snappy::Uncompress(out.data(), out.size(), &raw));
  EXPECT_EQ(raw, small.data);
}

}  // namespace
}  // namespace tender::remote_write
