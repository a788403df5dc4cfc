// Internal to collector/relabel: replacement templates expanded the way Go's regexp.Expand does
// ($1, ${1}, $name, ${name}, $$), resolved against one regex's groups at compile time. Also the
// Unicode helpers the engine shares. Immutable after Parse; any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "collector/model/utf8.h"

namespace tender::relabel::internal {

class Template {
 public:
  // Parses `text` against a regex with `num_groups` capture groups and `named_groups`. Go's
  // rules: a name is the longest run of letters, digits and '_' after '$' (or inside ${...});
  // an all-digit name without a leading zero is a group number; a number past the last group
  // or an unknown name expands to ""; "$$" is "$"; a '$' that starts no valid reference (end of
  // text, "${" without "}", "$-") is kept as is.
  static Template Parse(std::string_view text, int num_groups,
                        const std::map<std::string, int>& named_groups);

  // True when the template references no group: the expansion is literal().
  bool is_literal() const { return is_literal_; }
  const std::string& literal() const { return literal_; }

  // Appends the expansion to `out`. `groups` holds the submatches (index 0 = whole match).
  void Expand(const std::string_view* groups, std::string* out) const;

 private:
  struct Segment {
    std::string text;  // used when group < 0
    int group = -1;
  };

  std::vector<Segment> segments_;
  std::string literal_;
  bool is_literal_ = true;
};

// Decodes the rune at the start of non-empty `s` as Go's utf8.DecodeRuneInString does: an invalid
// or truncated sequence (overlong, surrogate, > U+10FFFF) is U+FFFD with width 1.
char32_t DecodeRune(std::string_view s, size_t* width);

// Go's unicode.IsLetter(r) || unicode.IsDigit(r), through glibc's C.UTF-8 tables for non-ASCII
// (ASCII only when that locale is missing).
bool IsLetterOrDigit(char32_t r);

// Prometheus legacy label name: [a-zA-Z_][a-zA-Z0-9_]*.
using model::IsValidLabelName;

// Go's strings.ToLower / strings.ToUpper: Unicode simple case mapping per code point; an invalid
// UTF-8 byte becomes U+FFFD. Appends to `out`.
void AppendCaseMapped(std::string_view in, bool upper, std::string* out);

// True when `s` is all ASCII and already in the requested case (the mapping is the identity and
// the input can be used as is).
bool CaseMappingIsIdentity(std::string_view s, bool upper);

}  // namespace tender::relabel::internal
