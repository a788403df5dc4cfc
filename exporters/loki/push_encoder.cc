#include "exporters/loki/push_encoder.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/protowire.h"

namespace tender::loki {
namespace {

using protowire::kLengthDelimited;
using protowire::kVarint;
using protowire::LengthDelimitedSize;
using protowire::Tag;
using protowire::VarintSize;

// google.protobuf.Timestamp {1: seconds int64, 2: nanos int32 in 0..999999999}: floor
// division so that a negative time still has non-negative nanos. Zero fields are omitted.
struct SplitTime {
  int64_t seconds;
  int32_t nanos;
};

SplitTime Split(int64_t ns) {
  int64_t seconds = ns / 1000000000;
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --seconds;
  }
  return {seconds, static_cast<int32_t>(nanos)};
}

size_t TimestampPayloadSize(SplitTime t) {
  size_t n = 0;
  if (t.seconds != 0) n += 1 + VarintSize(static_cast<uint64_t>(t.seconds));
  // int32 fields are sign-extended to 64 bits on the wire; nanos is never negative here.
  if (t.nanos != 0) n += 1 + VarintSize(static_cast<uint64_t>(t.nanos));
  return n;
}

// LabelPairAdapter {1: name, 2: value}; empty strings are omitted.
size_t LabelPairPayloadSize(const model::Label& l) {
  size_t n = 0;
  if (!l.name.empty()) n += LengthDelimitedSize(l.name.size());
  if (!l.value.empty()) n += LengthDelimitedSize(l.value.size());
  return n;
}

size_t EntryPayloadSize(SplitTime t, size_t line_size, std::span<const model::Label> metadata) {
  size_t n = LengthDelimitedSize(TimestampPayloadSize(t));
  if (line_size > 0) n += LengthDelimitedSize(line_size);
  for (const model::Label& l : metadata) n += LengthDelimitedSize(LabelPairPayloadSize(l));
  return n;
}

void AppendTag(std::string* out, uint32_t tag) { protowire::AppendVarint(*out, tag); }

void AppendBytes(std::string* out, uint32_t field, std::string_view bytes) {
  AppendTag(out, Tag(field, kLengthDelimited));
  protowire::AppendVarint(*out, bytes.size());
  out->append(bytes);
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

void SkipSpace(std::string_view text, size_t* i) {
  while (*i < text.size() &&
         (text[*i] == ' ' || text[*i] == '\t' || text[*i] == '\n' || text[*i] == '\r')) {
    ++*i;
  }
}

}  // namespace

absl::StatusOr<model::Labels> ParseSelector(std::string_view text) {
  auto error = [&text](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream selector ", ToAbsl(text), ": ", ToAbsl(why)));
  };
  model::Labels labels;
  size_t i = 0;
  SkipSpace(text, &i);
  if (i >= text.size() || text[i] != '{') return error("must start with {");
  ++i;
  SkipSpace(text, &i);
  bool closed = false;
  while (i < text.size()) {
    if (text[i] == '}') {
      ++i;
      closed = true;
      break;
    }
    if (!IsNameStart(text[i])) return error("bad label name");
    const size_t name_start = i;
    while (i < text.size() && IsNameChar(text[i])) ++i;
    std::string name(text.substr(name_start, i - name_start));
    SkipSpace(text, &i);
    if (i >= text.size() || text[i] != '=') return error("expected = after a label name");
    ++i;
    SkipSpace(text, &i);
    if (i >= text.size() || text[i] != '"') return error("expected a double-quoted value");
    ++i;
    std::string value;
    bool terminated = false;
    while (i < text.size()) {
      const char c = text[i++];
      if (c == '"') {
        terminated = true;
        break;
      }
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i >= text.size()) break;
      const char e = text[i++];
      switch (e) {
        case '\\':
        case '"':
        case '\'':
          value += e;
          break;
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        default:
          return error("unknown escape in value");
      }
    }
    if (!terminated) return error("unterminated value");
    for (const model::Label& l : labels) {
      if (l.name == name) return error(absl::StrCat("repeated label ", name));
    }
    labels.push_back({std::move(name), std::move(value)});
    SkipSpace(text, &i);
    if (i < text.size() && text[i] == ',') {
      ++i;
      SkipSpace(text, &i);
    }
  }
  if (!closed) return error("missing }");
  SkipSpace(text, &i);
  if (i != text.size()) return error("trailing text after }");
  model::Normalize(labels);
  if (labels.empty()) return error("at least one label pair is required per stream");
  return labels;
}

size_t ProtobufEntrySize(int64_t timestamp_ns, size_t line_size,
                         std::span<const model::Label> metadata) {
  return LengthDelimitedSize(EntryPayloadSize(Split(timestamp_ns), line_size, metadata));
}

void AppendProtobufPush(const std::vector<StreamView>& streams, std::string* out) {
  for (const StreamView& stream : streams) {
    size_t stream_payload = stream.labels.empty() ? 0 : LengthDelimitedSize(stream.labels.size());
    for (const EntryView& e : stream.entries) {
      stream_payload += ProtobufEntrySize(e.timestamp_ns, e.line.size(), e.metadata);
    }
    out->reserve(out->size() + LengthDelimitedSize(stream_payload));
    AppendTag(out, Tag(1, kLengthDelimited));
    protowire::AppendVarint(*out, stream_payload);
    if (!stream.labels.empty()) AppendBytes(out, 1, stream.labels);
    for (const EntryView& e : stream.entries) {
      const SplitTime t = Split(e.timestamp_ns);
      AppendTag(out, Tag(2, kLengthDelimited));
      protowire::AppendVarint(*out, EntryPayloadSize(t, e.line.size(), e.metadata));
      AppendTag(out, Tag(1, kLengthDelimited));
      protowire::AppendVarint(*out, TimestampPayloadSize(t));
      if (t.seconds != 0) {
        AppendTag(out, Tag(1, kVarint));
        protowire::AppendVarint(*out, static_cast<uint64_t>(t.seconds));
      }
      if (t.nanos != 0) {
        AppendTag(out, Tag(2, kVarint));
        protowire::AppendVarint(*out, static_cast<uint64_t>(t.nanos));
      }
      if (!e.line.empty()) AppendBytes(out, 2, e.line);
      for (const model::Label& l : e.metadata) {
        AppendTag(out, Tag(3, kLengthDelimited));
        protowire::AppendVarint(*out, LabelPairPayloadSize(l));
        if (!l.name.empty()) AppendBytes(out, 1, l.name);
        if (!l.value.empty()) AppendBytes(out, 2, l.value);
      }
    }
  }
}

void AppendJsonPush(const std::vector<StreamView>& streams, std::string* out, size_t* bad_streams) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("streams");
  writer.StartArray();
  for (const StreamView& stream : streams) {
    absl::StatusOr<model::Labels> labels = ParseSelector(stream.labels);
    if (!labels.ok()) {
      if (bad_streams != nullptr) ++*bad_streams;
      continue;
    }
    writer.StartObject();
    writer.Key("stream");
    writer.StartObject();
    for (const model::Label& l : *labels) {
      writer.Key(l.name.data(), static_cast<rapidjson::SizeType>(l.name.size()));
      writer.String(l.value.data(), static_cast<rapidjson::SizeType>(l.value.size()));
    }
    writer.EndObject();
    writer.Key("values");
    writer.StartArray();
    for (const EntryView& e : stream.entries) {
      writer.StartArray();
      const std::string ts = absl::StrCat(e.timestamp_ns);
      writer.String(ts.data(), static_cast<rapidjson::SizeType>(ts.size()));
      writer.String(e.line.data(), static_cast<rapidjson::SizeType>(e.line.size()));
      if (!e.metadata.empty()) {
        writer.StartObject();
        for (const model::Label& l : e.metadata) {
          writer.Key(l.name.data(), static_cast<rapidjson::SizeType>(l.name.size()));
          writer.String(l.value.data(), static_cast<rapidjson::SizeType>(l.value.size()));
        }
        writer.EndObject();
      }
      writer.EndArray();
    }
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  out->append(buffer.GetString(), buffer.GetSize());
}

}  // namespace tender::loki
