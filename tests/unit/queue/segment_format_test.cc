#include "exporters/queue/segment_format.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/queue/queue_test_util.h"

namespace tender::queue {
namespace {

using testing_util::MakeBatch;
using testing_util::SameBatch;

TEST(SegmentFormatTest, FileNamesRoundTrip) {
  EXPECT_EQ(SegmentFileName(42), "00000000000000000042.seg");
  auto check = [](std::string name, bool ok, uint64_t want) {
    SCOPED_TRACE(name);
    uint64_t seq = 0;
    EXPECT_EQ(ParseSegmentFileName(name, &seq), ok);
    if (ok) {
      EXPECT_EQ(seq, want);
    }
  };
  check("00000000000000000042.seg", true, 42);
  check("18446744073709551615.seg", true, UINT64_MAX);
  check("18446744073709551616.seg", false, 0);
  check("0000000000000000042.seg", false, 0);
  check("0000000000000000004a.seg", false, 0);
  check("00000000000000000042.tmp", false, 0);
  check("cursor", false, 0);
}

TEST(SegmentFormatTest, RecordRoundTrip) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{70000}}) {
    SCOPED_TRACE(size);
    const model::SeriesBatch in = MakeBatch(7, size, -5);
    std::string rec;
    AppendRecord(in, &rec);
    EXPECT_EQ(rec.size(), RecordBytes(in));
    model::SeriesBatch out;
    ASSERT_TRUE(DecodeRecord(rec, &out));
    EXPECT_TRUE(SameBatch(in, out));
    rec[rec.size() / 2 + 4] ^= 0x10;
    EXPECT_FALSE(DecodeRecord(rec, &out));
  }
}

TEST(SegmentFormatTest, ScanSkipsDamageAndCountsIt) {
  std::string seg = SegmentHeader();
  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < 5; ++i) {
    offsets.push_back(seg.size());
    AppendRecord(MakeBatch(i, 50 + i), &seg);
  }
  ASSERT_TRUE(CheckSegmentHeader(seg));
  std::vector<RecordRef> refs;
  uint64_t corrupt = 0;
  ScanSegment(seg, kSegmentHeaderBytes, &refs, &corrupt);
  EXPECT_EQ(refs.size(), 5u);
  EXPECT_EQ(corrupt, 0u);

  // Garbage between records 1 and 2 is skipped by the byte scan.
  std::string with_garbage = seg;
  with_garbage.insert(offsets[2], "garbage!");
  refs.clear();
  ScanSegment(with_garbage, kSegmentHeaderBytes, &refs, &corrupt);
  EXPECT_EQ(refs.size(), 5u);
  EXPECT_EQ(corrupt, 1u);
}

}  // namespace
}  // namespace tender::queue
