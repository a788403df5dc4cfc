#include "collector/relabel/regex.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "re2/re2.h"

namespace tender::relabel::internal {
namespace {

constexpr size_t kLinearAlternatives = 8;  // above this, alternation lookups use a hash set

bool IsMeta(char c) {
  switch (c) {
    case '\\':
    case '.':
    case '+':
    case '*':
    case '?':
    case '(':
    case ')':
    case '|':
    case '[':
    case ']':
    case '{':
    case '}':
    case '^':
    case '$':
      return true;
    default:
      return false;
  }
}

bool IsAsciiPunct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

// Decodes `s` when it is a plain literal: printable ASCII without regex metacharacters, where a
// backslash may escape ASCII punctuation (`foo\.bar`). Anything else (classes, repetition,
// flags, non-ASCII) is left to RE2.
bool ParseLiteral(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      if (i + 1 >= s.size() || !IsAsciiPunct(s[i + 1])) {
        return false;
      }
      out->push_back(s[++i]);
      continue;
    }
    if (c < 0x20 || c > 0x7e || IsMeta(c)) {
      return false;
    }
    out->push_back(c);
  }
  return true;
}

// Splits on '|' that is not escaped. Only meaningful for text without parentheses, which is all
// the callers pass on (ParseLiteral rejects any piece with one).
std::vector<std::string_view> SplitAlternation(std::string_view s) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '|') {
      pieces.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  pieces.push_back(s.substr(start));
  return pieces;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

}  // namespace

Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

absl::StatusOr<Regex> Regex::Compile(const std::string& pattern, bool allow_fast) {
  Regex r;
  RE2::Options options;
  options.set_log_errors(false);
  // Prometheus (model/relabel NewRegexp): "^(?s:" + s + ")$", so `.` also matches newlines.
  r.re_ = std::make_unique<RE2>(absl::StrCat("^(?s:", ToAbsl(pattern), ")$"), options);
  if (!r.re_->ok()) {
    const RE2 plain(pattern, options);
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid regex \"", ToAbsl(pattern), "\": ", plain.ok() ? r.re_->error() : plain.error()));
  }
  r.num_groups_ = r.re_->NumberOfCapturingGroups();
  if (!allow_fast) {
    return r;
  }

  // Strip one pair of parentheses around the whole pattern. The inner shapes below contain no
  // parentheses, so when one is recognised the pair really encloses everything, and a capturing
  // pair is group 1 spanning the whole match.
  std::string_view inner = pattern;
  int wrapper_groups = 0;
  if (StartsWith(inner, "(?:") && EndsWith(inner, ")")) {
    inner = inner.substr(3, inner.size() - 4);
  } else if (StartsWith(inner, "(") && !StartsWith(inner, "(?") && EndsWith(inner, ")")) {
    inner = inner.substr(1, inner.size() - 2);
    wrapper_groups = 1;
  }
  if (wrapper_groups != r.num_groups_) {
    return r;  // groups inside: RE2 must find them
  }

  std::string lit;
  if (inner == ".*") {
    r.kind_ = Kind::kAny;
  } else if (inner == ".+") {
    r.kind_ = Kind::kNonEmpty;
  } else if (ParseLiteral(inner, &lit)) {
    r.kind_ = Kind::kLiteral;
    r.literal_ = std::move(lit);
  } else if (auto pieces = SplitAlternation(inner); pieces.size() > 1) {
    std::vector<std::string> alternatives;
    for (std::string_view piece : pieces) {
      if (!ParseLiteral(piece, &lit)) {
        return r;
      }
      alternatives.push_back(lit);
    }
    r.kind_ = Kind::kAlternation;
    if (alternatives.size() > kLinearAlternatives) {
      r.alt_set_.insert(alternatives.begin(), alternatives.end());
    } else {
      r.alternatives_ = std::move(alternatives);
    }
  } else if (StartsWith(inner, ".*") && EndsWith(inner, ".*") && inner.size() >= 4 &&
             ParseLiteral(inner.substr(2, inner.size() - 4), &lit)) {
    r.kind_ = Kind::kContains;
    r.literal_ = std::move(lit);
  } else if ((EndsWith(inner, ".*") || EndsWith(inner, ".+")) &&
             ParseLiteral(inner.substr(0, inner.size() - 2), &lit)) {
    r.kind_ = Kind::kPrefix;
    r.literal_ = std::move(lit);
    r.min_extra_ = EndsWith(inner, ".+") ? 1 : 0;
  } else if (StartsWith(inner, ".*") && ParseLiteral(inner.substr(2), &lit)) {
    r.kind_ = Kind::kSuffix;
    r.literal_ = std::move(lit);
  }
  return r;
}

bool Regex::Match(std::string_view s) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kNonEmpty:
      return !s.empty();
    case Kind::kLiteral:
      return s == literal_;
    case Kind::kAlternation:
      if (!alt_set_.empty()) {
        return alt_set_.contains(ToAbsl(s));
      }
      for (const std::string& a : alternatives_) {
        if (s == a) {
          return true;
        }
      }
      return false;
    case Kind::kPrefix:
      return s.size() >= literal_.size() + min_extra_ && StartsWith(s, literal_);
    case Kind::kSuffix:
      return EndsWith(s, literal_);
    case Kind::kContains:
      return s.find(literal_) != std::string_view::npos;
    case Kind::kRe2:
      break;
  }
  return re_->Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), RE2::ANCHOR_BOTH, nullptr,
                    0);
}

bool Regex::MatchGroups(std::string_view s, std::string_view* groups) const {
  if (kind_ != Kind::kRe2) {
    if (!Match(s)) {
      return false;
    }
    // Every group of a fast kind spans the whole match (see Kind).
    for (int i = 0; i <= num_groups_; ++i) {
      groups[i] = s;
    }
    return true;
  }
  constexpr int kStackGroups = 16;
  re2::StringPiece stack[kStackGroups];
  std::vector<re2::StringPiece> heap;
  const int n = num_groups_ + 1;
  re2::StringPiece* pieces = stack;
  if (n > kStackGroups) {
    heap.resize(n);
    pieces = heap.data();
  }
  if (!re_->Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), RE2::ANCHOR_BOTH, pieces, n)) {
    return false;
  }
  for (int i = 0; i < n; ++i) {
    groups[i] = std::string_view(pieces[i].data(), pieces[i].size());
  }
  return true;
}

const std::map<std::string, int>& Regex::named_groups() const {
  return re_->NamedCapturingGroups();
}

}  // namespace tender::relabel::internal
