// Encoding of Loki push requests (protocols.md §6.2, §6.3): the protobuf PushRequest written
// by hand with collector/model/protowire.h (no generated code on the hot path), the JSON body,
// and the stream-selector parser the JSON encoding needs. Stateless functions; any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/model/labels.h"

namespace tender::loki {

// One entry of a stream; `line` and `metadata` point into storage owned by the caller.
// `metadata` is the entry's structured metadata (protocols.md §6.2, §6.3), sent in the given
// order; empty for most entries.
struct EntryView {
  int64_t timestamp_ns = 0;
  std::string_view line;
  std::span<const model::Label> metadata;
};

// The entries of one stream, in the order they are to be sent.
struct StreamView {
  std::string_view labels;  // Selector text, `{a="1", b="2"}`.
  std::vector<EntryView> entries;
};

// Parses a stream selector as Loki does for the protobuf `labels` field (a PromQL selector of
// `name="value"` pairs, double-quoted values with \\, \", \n, \t escapes): returns the labels
// sorted by name with empty values dropped. Errors (InvalidArgument): syntax, a label name that
// is not [a-zA-Z_][a-zA-Z0-9_]*, a repeated name, or no non-empty label.
absl::StatusOr<model::Labels> ParseSelector(std::string_view text);

// Appends the PushRequest encoding of `streams` (field 1 StreamAdapter per stream, each entry
// an EntryAdapter with a google.protobuf.Timestamp, the line and one field 3 LabelPairAdapter
// per structured metadata pair) to `*out`. Not compressed.
void AppendProtobufPush(const std::vector<StreamView>& streams, std::string* out);

// Appends the JSON push body `{"streams":[{"stream":{...},"values":[["<ns>","<line>"],...]}]}`
// to `*out`; an entry with structured metadata gets a third element `{"<name>":"<value>",...}`.
// Streams whose selector does not parse are skipped and counted in `*bad_streams` (may be null);
// their entries are not in the output.
void AppendJsonPush(const std::vector<StreamView>& streams, std::string* out,
                    size_t* bad_streams = nullptr);

// Exact number of bytes the EntryAdapter of (timestamp_ns, line, metadata) takes inside a
// StreamAdapter, tag and length prefix included.
size_t ProtobufEntrySize(int64_t timestamp_ns, size_t line_size,
                         std::span<const model::Label> metadata = {});

}  // namespace tender::loki
