#include "collector/relabel/expand.h"

#include <utility>

namespace tender::relabel::internal {
namespace {

// Go regexp's extract(): parses the reference after a '$'. Returns false when `s` starts no
// valid reference. On success sets the name, its group number (-1 when not a number) and how
// many bytes of `s` the reference used.
bool Extract(std::string_view s, std::string_view* name, int* num, size_t* used) {
  if (s.empty()) {
    return false;
  }
  bool brace = false;
  size_t start = 0;
  if (s[0] == '{') {
    brace = true;
    start = 1;
  }
  size_t i = start;
  while (i < s.size()) {
    size_t width = 1;
    const char32_t r = DecodeRune(s.substr(i), &width);
    if (r != '_' && !IsLetterOrDigit(r)) {
      break;
    }
    i += width;
  }
  if (i == start) {
    return false;  // empty name
  }
  *name = s.substr(start, i - start);
  if (brace) {
    if (i >= s.size() || s[i] != '}') {
      return false;  // missing closing brace
    }
    ++i;
  }
  int n = 0;
  for (const char c : *name) {
    if (c < '0' || c > '9' || n >= 100000000) {
      n = -1;
      break;
    }
    n = n * 10 + (c - '0');
  }
  if ((*name)[0] == '0' && name->size() > 1) {
    n = -1;  // leading zeros are not numbers
  }
  *num = n;
  *used = i;
  return true;
}

}  // namespace

Template Template::Parse(std::string_view text, int num_groups,
                         const std::map<std::string, int>& named_groups) {
  Template t;
  std::string pending;
  auto flush = [&] {
    if (!pending.empty()) {
      t.segments_.push_back(Segment{std::move(pending), -1});
      pending.clear();
    }
  };
  while (!text.empty()) {
    const size_t dollar = text.find('$');
    if (dollar == std::string_view::npos) {
      pending.append(text);
      break;
    }
    pending.append(text.substr(0, dollar));
    text = text.substr(dollar);
    if (text.size() > 1 && text[1] == '$') {
      pending.push_back('$');
      text = text.substr(2);
      continue;
    }
    std::string_view name;
    int num = -1;
    size_t used = 0;
    if (!Extract(text.substr(1), &name, &num, &used)) {
      pending.push_back('$');  // malformed: the '$' is raw text
      text = text.substr(1);
      continue;
    }
    text = text.substr(1 + used);
    t.is_literal_ = false;
    int group = -1;
    if (num >= 0) {
      group = num <= num_groups ? num : -1;
    } else if (auto it = named_groups.find(std::string(name)); it != named_groups.end()) {
      group = it->second;
    }
    if (group >= 0) {
      flush();
      t.segments_.push_back(Segment{std::string(), group});
    }
    // A reference to no group expands to nothing.
  }
  flush();
  if (t.is_literal_) {
    for (const Segment& s : t.segments_) {
      t.literal_ += s.text;
    }
  }
  return t;
}

void Template::Expand(const std::string_view* groups, std::string* out) const {
  for (const Segment& s : segments_) {
    if (s.group < 0) {
      out->append(s.text);
    } else {
      out->append(groups[s.group]);
    }
  }
}

}  // namespace tender::relabel::internal
