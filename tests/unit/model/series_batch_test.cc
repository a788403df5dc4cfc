#include "collector/model/series_batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "collector/model/protowire.h"

namespace tender::model {
namespace {

struct Decoded {
  std::vector<std::pair<std::string, std::string>> labels;
  uint64_t value_bits = 0;
  int64_t ts = 0;
};

// A minimal hand decoder; the protoc-generated decoder checks the same bytes in the
// remote_write tests.
bool ReadLen(const char** p, const char* end, std::string_view* out) {
  uint64_t n = 0;
  if (!protowire::ReadVarint(p, end, &n) || static_cast<uint64_t>(end - *p) < n) return false;
  *out = std::string_view(*p, n);
  *p += n;
  return true;
}

std::vector<Decoded> Decode(std::string_view data) {
  std::vector<Decoded> out;
  const char* p = data.data();
  const char* end = p + data.size();
  while (p < end) {
    EXPECT_EQ(*p++, 0x0a);
    std::string_view ts_bytes;
    EXPECT_TRUE(ReadLen(&p, end, &ts_bytes));
    Decoded d;
    const char* q = ts_bytes.data();
    const char* qe = q + ts_bytes.size();
    while (q < qe) {
      const char tag = *q++;
      std::string_view msg;
      EXPECT_TRUE(ReadLen(&q, qe, &msg));
      const char* r = msg.data();
      const char* re = r + msg.size();
      if (tag == 0x0a) {
        std::string_view name, value;
        EXPECT_EQ(*r++, 0x0a);
        EXPECT_TRUE(ReadLen(&r, re, &name));
        EXPECT_EQ(*r++, 0x12);
        EXPECT_TRUE(ReadLen(&r, re, &value));
        d.labels.emplace_back(name, value);
      } else {
        EXPECT_EQ(tag, 0x12);
        EXPECT_EQ(*r++, 0x09);
        for (int i = 0; i < 8; ++i) {
          d.value_bits |= static_cast<uint64_t>(static_cast<uint8_t>(r[i])) << (8 * i);
        }
        r += 8;
        EXPECT_EQ(*r++, 0x10);
        uint64_t ts = 0;
        EXPECT_TRUE(protowire::ReadVarint(&r, re, &ts));
        d.ts = static_cast<int64_t>(ts);
      }
    }
    out.push_back(d);
  }
  return out;
}

TEST(SeriesEncoderTest, EncodesEntriesThatDecode) {
  SeriesBatch batch;
  SeriesEncoder enc(&batch);
  const std::string long_value(300, 'v');  // Forces two-byte lengths.
  struct Case {
    std::vector<std::pair<std::string, std::string>> labels;
    uint64_t bits;
    int64_t ts;
  };
  const std::vector<Case> cases = {
      {{{"__name__", "up"}, {"job", "x"}}, protowire::DoubleBits(1.0), 1700000000000},
      {{{"__name__", "a"}, {"v", long_value}}, kStaleNaNBits, 1},
      {{{"__name__", "neg"}}, protowire::DoubleBits(-2.5), -5},
  };
  for (const auto& c : cases) {
    size_t n = 0;
    for (const auto& [k, v] : c.labels) n += LabelFieldSize(k.size(), v.size());
    enc.Begin(n, c.ts);
    for (const auto& [k, v] : c.labels) enc.AddLabel(k, v);
    EXPECT_TRUE(enc.LabelsComplete());
    EXPECT_EQ(enc.CurrentLabels().size(), n);
    enc.Finish(c.bits);
  }
  // An abandoned entry leaves nothing behind.
  enc.Begin(LabelFieldSize(1, 1), 5);
  enc.AddLabel("x", "y");
  enc.Abandon();

  EXPECT_EQ(batch.samples, 3u);
  EXPECT_EQ(batch.min_timestamp_ms, -5);
  EXPECT_EQ(batch.max_timestamp_ms, 1700000000000);
  const auto decoded = Decode(batch.data);
  ASSERT_EQ(decoded.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(decoded[i].labels.size(), cases[i].labels.size());
    for (size_t j = 0; j < cases[i].labels.size(); ++j) {
      EXPECT_EQ(decoded[i].labels[j].first, cases[i].labels[j].first);
      EXPECT_EQ(decoded[i].labels[j].second, cases[i].labels[j].second);
    }
    EXPECT_EQ(decoded[i].value_bits, cases[i].bits);
    EXPECT_EQ(decoded[i].ts, cases[i].ts);
  }
  EXPECT_TRUE(std::isnan(protowire::BitsToDouble(decoded[1].value_bits)));
}

TEST(SeriesEncoderTest, RecordsAMarkEveryStrideEntries) {
  SeriesBatch batch;
  SeriesEncoder enc(&batch);
  std::vector<size_t> starts;  // Offset at which each entry starts.
  const uint32_t n = 3 * kEntryMarkStride + 5;
  for (uint32_t i = 0; i < n; ++i) {
    starts.push_back(batch.data.size());
    const std::string value(i % 7, 'v');  // Entries of different sizes.
    enc.Begin(LabelFieldSize(1, value.size()), 1000 + i);
    enc.AddLabel("a", value);
    enc.FinishDouble(i);
    if (i == 10) {  // An abandoned entry leaves no trace.
      enc.Begin(LabelFieldSize(1, 1), 1);
      enc.AddLabel("a", "x");
      enc.Abandon();
    }
  }
  starts.push_back(batch.data.size());
  ASSERT_TRUE(EntryMarksValid(batch));
  ASSERT_EQ(batch.marks.size(), 3u);
  for (size_t k = 0; k < batch.marks.size(); ++k) {
    EXPECT_EQ(batch.marks[k], starts[(k + 1) * kEntryMarkStride]) << k;
  }
  const std::vector<uint32_t> recorded = batch.marks;
  RebuildEntryMarks(&batch);
  EXPECT_EQ(batch.marks, recorded);
  // A count that does not match the data clears them.
  batch.samples -= 1;
  RebuildEntryMarks(&batch);
  EXPECT_TRUE(batch.marks.empty());
  EXPECT_TRUE(EntryMarksValid(batch) == (batch.samples < kEntryMarkStride));
}

TEST(ProtowireTest, CopyBytesCopiesEveryLengthAndNothingAround) {
  std::string src(100, '\0');
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<char>('A' + i % 53);
  for (size_t n = 0; n <= 80; ++n) {
    for (size_t offset : {0, 1, 7}) {
      std::string dst(n + 32, '#');
      protowire::CopyBytes(dst.data() + 16, src.data() + offset, n);
      EXPECT_EQ(dst.substr(16, n), src.substr(offset, n)) << n << " " << offset;
      EXPECT_EQ(dst.substr(0, 16), std::string(16, '#')) << n;
      EXPECT_EQ(dst.substr(16 + n), std::string(16, '#')) << n;
    }
  }
}

}  // namespace
}  // namespace tender::model
