#include "collector/config/yaml_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"

namespace tender::config::internal {
namespace {

// Levenshtein distance, for "did you mean" hints on misspelt keys.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Quote(std::string_view s) { return absl::StrCat("\"", ToAbsl(s), "\""); }

bool TypeError(const Field& field, Diagnostics* diag, std::string_view expected) {
  diag->Error(field.line, field.path,
              absl::StrCat("expected ", ToAbsl(expected), ", got ", DescribeType(field.value)));
  return false;
}

// A plain (unquoted) scalar; the YAML types bool and int only come from plain scalars.
bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

}  // namespace

std::vector<Field> SequenceItems(const Field& field, const Diagnostics& diag) {
  std::vector<Field> out;
  size_t i = 0;
  for (const YAML::Node& item : field.value) {
    int line = LineOf(item);
    if (item.IsNull()) {
      line = diag.NullItemLine(item.Mark(), field.line);
    }
    out.push_back(Field{item, IndexPath(field.path, i), line > 0 ? line : field.line});
    ++i;
  }
  return out;
}

Diagnostics::Diagnostics(std::string_view source) {
  if (source.empty()) {
    return;
  }
  size_t start = 0;
  while (start <= source.size()) {
    const size_t end = source.find('\n', start);
    if (end == std::string_view::npos) {
      lines_.push_back(source.substr(start));
      break;
    }
    lines_.push_back(source.substr(start, end - start));
    start = end + 1;
  }
}

int Diagnostics::NullItemLine(const YAML::Mark& mark, int fallback) const {
  if (mark.line < 0 || static_cast<size_t>(mark.line) > lines_.size()) {
    return fallback;
  }
  const size_t line = static_cast<size_t>(mark.line);
  if (line < lines_.size() && mark.column >= 0 &&
      static_cast<size_t>(mark.column) < lines_[line].size()) {
    // An explicit null ("- ~", "- null") is marked where it is.
    const std::string_view at = lines_[line].substr(static_cast<size_t>(mark.column));
    for (std::string_view literal : {"~", "null", "Null", "NULL"}) {
      if (at.substr(0, literal.size()) == literal) {
        return mark.line + 1;
      }
    }
  }
  for (size_t i = line; i-- > 0;) {
    const std::string_view text = lines_[i];
    const size_t first = text.find_first_not_of(" \t");
    if (first != std::string_view::npos && text[first] == '-') {
      return static_cast<int>(i) + 1;
    }
  }
  return fallback;
}

void Diagnostics::Error(int line, std::string path, std::string message) {
  errors_.push_back(ConfigError{std::move(path), line, std::move(message)});
}

void Diagnostics::Warning(std::string message) { warnings_.push_back(std::move(message)); }

std::vector<ConfigError> Diagnostics::TakeErrors() {
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  return std::move(errors_);
}

int LineOf(const YAML::Node& node) {
  if (!node.IsDefined()) {
    return 0;
  }
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : 0;
}

std::string ChildPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) {
    return std::string(key);
  }
  return absl::StrCat(ToAbsl(parent), ".", ToAbsl(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(ToAbsl(parent), "[", index, "]");
}

std::string DescribeType(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") {
        return absl::StrCat("the quoted string ", Quote(node.Scalar()));
      }
      return Quote(node.Scalar());
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

MapReader::MapReader(const Field& field, Diagnostics* diag)
    : diag_(diag), path_(field.path), line_(field.line) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsMap()) {
    TypeError(field, diag, "a map");
    ok_ = false;
    return;
  }
  if (const int line = LineOf(field.value); line > 0) {
    line_ = line;
  }
  // yaml-cpp's iterator yields pairs by value: copy the node handles out of it.
  for (const auto& pair : field.value) {
    const YAML::Node key = pair.first;
    const int key_line = LineOf(key);
    if (!key.IsScalar()) {
      diag->Error(key_line, path_,
                  absl::StrCat("map keys must be strings, got ", DescribeType(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    std::string path = ChildPath(path_, name);
    const bool duplicate = std::any_of(entries_.begin(), entries_.end(),
                                       [&](const Entry& e) { return e.key == name; });
    if (duplicate) {
      diag->Error(key_line, std::move(path),
                  absl::StrCat("key ", Quote(name), " appears more than once in this map"));
      continue;
    }
    const YAML::Node value = pair.second;
    const int value_line = LineOf(value);
    const int line = (!value.IsNull() && value_line > 0) ? value_line : key_line;
    entries_.push_back(Entry{name, key_line, Field{value, std::move(path), line}});
  }
}

const Field* MapReader::Take(std::string_view key) {
  for (Entry& e : entries_) {
    if (e.key == key) {
      e.taken = true;
      return &e.field;
    }
  }
  return nullptr;
}

void MapReader::Finish(const std::vector<std::string_view>& known,
                       const std::vector<std::string_view>& not_supported) {
  for (const Entry& e : entries_) {
    if (e.taken) {
      continue;
    }
    const int key_line = e.key_line;
    if (std::find(not_supported.begin(), not_supported.end(), e.key) != not_supported.end()) {
      diag_->Error(
          key_line, e.field.path,
          absl::StrCat(Quote(e.key), " is a Prometheus setting tender does not support yet"));
      continue;
    }
    std::string message = absl::StrCat("unknown key ", Quote(e.key));
    std::string_view best;
    size_t best_distance = 3;  // Suggest only near misses (at most 2 edits).
    for (const auto* candidates : {&known, &not_supported}) {
      for (std::string_view k : *candidates) {
        const size_t d = EditDistance(e.key, k);
        if (d < best_distance) {
          best_distance = d;
          best = k;
        }
      }
    }
    if (!best.empty()) {
      absl::StrAppend(&message, " (did you mean ", Quote(best), "?)");
    }
    diag_->Error(key_line, e.field.path, std::move(message));
  }
}

bool ReadString(const Field& field, Diagnostics* diag, std::string* out) {
  if (field.IsNull()) {
    return true;
  }
  if (!field.value.IsScalar()) {
    return TypeError(field, diag, "a string");
  }
  *out = field.value.Scalar();
  return true;
}

bool ReadBool(const Field& field, Diagnostics* diag, bool* out) {
  if (field.IsNull()) {
    return true;
  }
  if (!IsPlainScalar(field.value)) {
    return TypeError(field, diag, "true or false");
  }
  static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                               "on",   "On",   "ON",   "y",   "Y"};
  static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No", "NO",
                                                "off",   "Off",   "OFF",   "n",  "N"};
  const std::string& text = field.value.Scalar();
  if (std::find(std::begin(kTrue), std::end(kTrue), text) != std::end(kTrue)) {
    *out = true;
    return true;
  }
  if (std::find(std::begin(kFalse), std::end(kFalse), text) != std::end(kFalse)) {
    *out = false;
    return true;
  }
  diag->Error(field.line, field.path, absl::StrCat("expected true or false, got ", Quote(text)));
  return false;
}

bool ReadInt(const Field& field, Diagnostics* diag, int64_t min, int64_t max, int64_t* out) {
  if (field.IsNull()) {
    return true;
  }
  int64_t value = 0;
  if (!IsPlainScalar(field.value) || !absl::SimpleAtoi(field.value.Scalar(), &value)) {
    return TypeError(field, diag, "an integer");
  }
  if (value < min || value > max) {
    diag->Error(field.line, field.path,
                absl::StrCat("must be between ", min, " and ", max, ", got ", value));
    return false;
  }
  *out = value;
  return true;
}

bool ReadInt(const Field& field, Diagnostics* diag, int min, int max, int* out) {
  int64_t value = *out;
  if (!ReadInt(field, diag, int64_t{min}, int64_t{max}, &value)) {
    return false;
  }
  *out = static_cast<int>(value);
  return true;
}

bool ReadDuration(const Field& field, Diagnostics* diag, absl::Duration* out) {
  if (field.IsNull()) {
    return true;
  }
  if (!field.value.IsScalar()) {
    return TypeError(field, diag, "a duration such as 15s or 1m30s");
  }
  absl::StatusOr<absl::Duration> d = ParseDuration(field.value.Scalar());
  if (!d.ok()) {
    diag->Error(field.line, field.path, std::string(d.status().message()));
    return false;
  }
  *out = *d;
  return true;
}

bool ReadByteSize(const Field& field, Diagnostics* diag, int64_t* out) {
  if (field.IsNull()) {
    return true;
  }
  if (!field.value.IsScalar()) {
    return TypeError(field, diag, "a byte size such as 10MB");
  }
  absl::StatusOr<int64_t> bytes = ParseByteSize(field.value.Scalar());
  if (!bytes.ok()) {
    diag->Error(field.line, field.path, std::string(bytes.status().message()));
    return false;
  }
  *out = *bytes;
  return true;
}

bool ReadStringList(const Field& field, Diagnostics* diag, std::vector<std::string>* out) {
  if (field.IsNull()) {
    return true;
  }
  if (!field.value.IsSequence()) {
    return TypeError(field, diag, "a list of strings");
  }
  bool ok = true;
  std::vector<std::string> values;
  for (const Field& item : SequenceItems(field, *diag)) {
    if (!item.value.IsScalar()) {
      ok = TypeError(item, diag, "a string");
      continue;
    }
    values.push_back(item.value.Scalar());
  }
  if (ok) {
    *out = std::move(values);
  }
  return ok;
}

bool ReadStringMap(const Field& field, Diagnostics* diag, std::map<std::string, std::string>* out) {
  const size_t errors_before = diag->error_count();
  MapReader reader(field, diag);
  std::map<std::string, std::string> values;
  for (MapReader::Entry& e : reader.entries()) {
    e.taken = true;
    std::string value;
    if (ReadString(e.field, diag, &value)) {
      values.emplace(e.key, std::move(value));
    }
  }
  if (diag->error_count() != errors_before) {
    return false;
  }
  *out = std::move(values);
  return true;
}

bool ReadLabels(const Field& field, Diagnostics* diag, model::Labels* out) {
  const size_t errors_before = diag->error_count();
  MapReader reader(field, diag);
  model::Labels labels;
  for (MapReader::Entry& e : reader.entries()) {
    e.taken = true;
    std::string value;
    if (!ReadString(e.field, diag, &value)) {
      continue;
    }
    if (!IsValidLabelName(e.key)) {
      diag->Error(e.key_line, e.field.path,
                  absl::StrCat(Quote(e.key),
                               " is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"));
      continue;
    }
    if (!IsValidUtf8(value)) {
      diag->Error(e.field.line, e.field.path, "label value is not valid UTF-8");
      continue;
    }
    labels.push_back(model::Label{e.key, std::move(value)});
  }
  if (diag->error_count() != errors_before) {
    return false;
  }
  model::Normalize(labels);
  *out = std::move(labels);
  return true;
}

}  // namespace tender::config::internal
