// Internal to collector/config: helpers that read yaml-cpp nodes into typed values while
// collecting every problem (with YAML path and 1-based line) instead of stopping at the first.
// A Diagnostics and the readers using it belong to one load; not thread-safe, any one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/labels.h"
#include "collector/model/utf8.h"
#include "yaml-cpp/yaml.h"

namespace tender::config::internal {

// The errors and warnings of one load, and the source text for line fix-ups.
class Diagnostics {
 public:
  // `source` must outlive this object; empty when unknown.
  explicit Diagnostics(std::string_view source = {});

  void Error(int line, std::string path, std::string message);
  void Warning(std::string message);

  size_t error_count() const { return errors_.size(); }
  // Errors sorted by line (stable, so errors on one line keep the order they were found in).
  std::vector<ConfigError> TakeErrors();
  std::vector<std::string> TakeWarnings() { return std::move(warnings_); }

  // 1-based line of a null sequence item ("-" with nothing after it). yaml-cpp marks such an
  // item at the next token, so this searches back from there to the "-" that opened it.
  // Returns `fallback` when the source does not help.
  int NullItemLine(const YAML::Mark& mark, int fallback) const;

 private:
  std::vector<std::string_view> lines_;
  std::vector<ConfigError> errors_;
  std::vector<std::string> warnings_;
};

// 1-based line of `node`, or 0 when yaml-cpp does not know it.
int LineOf(const YAML::Node& node);

// One value found in the YAML: a map entry or a sequence item.
struct Field {
  YAML::Node value;
  std::string path;  // "scrape_configs[0].job_name".
  // Where errors about the value point. For a null value (`key:` with nothing after it)
  // yaml-cpp marks the next token, so this is the key's line instead.
  int line = 0;

  bool IsNull() const { return value.IsNull(); }
};

// Path helpers: Child("a", "b") == "a.b" (or "b" when the parent is the root ""),
// Index("a", 2) == "a[2]".
std::string ChildPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, size_t index);

// A YAML map read key by key. Construction checks that the node is a map (null counts as an
// empty map), that keys are scalars and that no key appears twice; each problem is an error.
// Take() hands out known keys; Finish() reports every key nobody took.
class MapReader {
 public:
  MapReader(const Field& field, Diagnostics* diag);

  // False when the node was neither a map nor null (an error has been recorded).
  bool ok() const { return ok_; }

  // The entry for `key` if present (marking it used), else nullptr. The pointer lives as long
  // as this reader.
  const Field* Take(std::string_view key);

  // Takes `key` without reading it (an accepted but unused key).
  void Ignore(std::string_view key) { Take(key); }

  // Reports each entry not taken: "not supported yet" for keys in `not_supported` (Prometheus
  // keys tender does not implement), otherwise "unknown key", with a "did you mean" when the
  // key is within two edits of a key in `known` or `not_supported`.
  void Finish(const std::vector<std::string_view>& known,
              const std::vector<std::string_view>& not_supported);

  // The line of the map itself (its first key), or the key line of the field for a null map.
  int line() const { return line_; }
  const std::string& path() const { return path_; }

  struct Entry {
    std::string key;
    int key_line = 0;
    Field field;
    bool taken = false;
  };
  // Every well-formed entry (duplicates and non-scalar keys left out), in file order; for maps
  // with free-form keys (labels, headers, params). Callers set `taken`.
  std::vector<Entry>& entries() { return entries_; }

 private:
  Diagnostics* diag_;
  std::string path_;
  int line_ = 0;
  bool ok_ = true;
  std::vector<Entry> entries_;
};

// The items of a sequence, each with its path ("a[2]") and line. `field` must be a sequence.
std::vector<Field> SequenceItems(const Field& field, const Diagnostics& diag);

// Readers for scalar and simple collection values. Each returns false after recording an
// error (wrong YAML type or invalid value) and then leaves `*out` unchanged. A null value is
// "not set": the readers return true and leave `*out` unchanged.

// Any scalar (plain or quoted) as text.
bool ReadString(const Field& field, Diagnostics* diag, std::string* out);
// A plain true/false (also yes/no/on/off, as YAML 1.1); a quoted string is a type error.
bool ReadBool(const Field& field, Diagnostics* diag, bool* out);
// A plain integer in [min, max].
bool ReadInt(const Field& field, Diagnostics* diag, int64_t min, int64_t max, int64_t* out);
bool ReadInt(const Field& field, Diagnostics* diag, int min, int max, int* out);
// A Prometheus duration (see ParseDuration).
bool ReadDuration(const Field& field, Diagnostics* diag, absl::Duration* out);
// A Base2Bytes size (see ParseByteSize).
bool ReadByteSize(const Field& field, Diagnostics* diag, int64_t* out);
// A sequence of scalars; each item is checked, items with errors are skipped.
bool ReadStringList(const Field& field, Diagnostics* diag, std::vector<std::string>* out);
// A map of scalar -> scalar.
bool ReadStringMap(const Field& field, Diagnostics* diag, std::map<std::string, std::string>* out);
// A map of label name -> value: names must be legacy Prometheus label names, values UTF-8.
// The result is normalized (sorted, empty values dropped).
bool ReadLabels(const Field& field, Diagnostics* diag, model::Labels* out);

// The checks of collector/model/utf8.h, under the names the config code uses.
using model::IsValidLabelName;
inline bool IsValidUtf8(std::string_view text) { return model::ValidUtf8(text); }

// What a node is, for error messages: "a map", "a list", "null", "\"15x\"" (a plain scalar)
// or "the quoted string \"true\"".
std::string DescribeType(const YAML::Node& node);

}  // namespace tender::config::internal
