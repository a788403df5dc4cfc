// Internal to collector/relabel: a relabel regex compiled once, anchored as Prometheus anchors
// it (^(?s:regex)$), with fast matchers that bypass RE2 for the shapes real configs use.
// Immutable after Compile; safe to call from any number of threads at once.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace tender::relabel::internal {

class Regex {
 public:
  // How a match is decided. Every kind but kRe2 has at most one capture group, and when it has
  // one the group spans the whole match, so groups never need RE2 either.
  enum class Kind {
    kAny,          // .*
    kNonEmpty,     // .+
    kLiteral,      // foo, foo\.bar
    kAlternation,  // a|b|c
    kPrefix,       // foo.*  (foo.+ when min_extra_ is 1)
    kSuffix,       // .*foo
    kContains,     // .*foo.*
    kRe2,
  };

  // Compiles `pattern` (as the user wrote it). `allow_fast` false forces the RE2 path (for
  // equivalence tests and benchmarks). Error: InvalidArgument with RE2's message.
  static absl::StatusOr<Regex> Compile(const std::string& pattern, bool allow_fast);

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  // True when the whole of `s` matches.
  bool Match(std::string_view s) const;

  // Full match with submatches: on success fills groups[0..num_groups()] (an unmatched group
  // gets a view with data() == nullptr) and returns true. `groups` must hold num_groups() + 1.
  bool MatchGroups(std::string_view s, std::string_view* groups) const;

  Kind kind() const { return kind_; }
  int num_groups() const { return num_groups_; }
  // Named groups (?P<name>...) -> index.
  const std::map<std::string, int>& named_groups() const;

 private:
  Regex() = default;

  Kind kind_ = Kind::kRe2;
  int num_groups_ = 0;
  size_t min_extra_ = 0;  // kPrefix/kSuffix/kContains: bytes required besides the literal
  std::string literal_;
  std::vector<std::string> alternatives_;     // kAlternation with few entries
  absl::flat_hash_set<std::string> alt_set_;  // kAlternation with many entries
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace tender::relabel::internal
