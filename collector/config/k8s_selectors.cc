// ValidateLabelSelector / ValidateFieldSelector: the selector grammars of the Kubernetes API
// server (apimachinery labels.Parse and fields.ParseSelector), checked at load time so a typo
// fails the config instead of every list request.

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "collector/config/config.h"
#include "collector/model/absl_compat.h"

namespace tender::config {
namespace {

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A label name part or a label value: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63.
bool IsLabelToken(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// A DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253, alphanumeric ends.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!lower_alnum(c) && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::Status CheckKey(std::string_view key) {
  std::string_view name = key;
  if (const size_t slash = key.find('/'); slash != std::string_view::npos) {
    if (!IsDnsSubdomain(key.substr(0, slash))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid label key \"", ToAbsl(key), "\": the prefix must be a lowercase DNS subdomain"));
    }
    name = key.substr(slash + 1);
  }
  if (!IsLabelToken(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid label key \"", ToAbsl(key),
        "\": the name must be 1-63 characters of [A-Za-z0-9._-], starting and ending with an "
        "alphanumeric character"));
  }
  return absl::OkStatus();
}

absl::Status CheckValue(std::string_view value) {
  if (!value.empty() && !IsLabelToken(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid label value \"", ToAbsl(value),
        "\": must be empty or 1-63 characters of [A-Za-z0-9._-], starting and ending with an "
        "alphanumeric character"));
  }
  return absl::OkStatus();
}

// Splits a label selector into tokens: identifiers and the operators ! = == != < > ( ) ,.
class LabelLexer {
 public:
  explicit LabelLexer(std::string_view s) : s_(s) {}

  // The next token without consuming it ("" at the end).
  std::string_view Peek() {
    const size_t save = pos_;
    std::string_view t = Next();
    pos_ = save;
    return t;
  }

  std::string_view Next() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])) != 0) {
      ++pos_;
    }
    if (pos_ >= s_.size()) {
      return {};
    }
    const size_t start = pos_;
    const char c = s_[pos_];
    if (c == '=' || c == '!') {
      pos_ += (pos_ + 1 < s_.size() && s_[pos_ + 1] == '=') ? 2 : 1;
      return s_.substr(start, pos_ - start);
    }
    if (c == '<' || c == '>' || c == '(' || c == ')' || c == ',') {
      ++pos_;
      return s_.substr(start, 1);
    }
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])) == 0 &&
           std::string_view("=!<>(),").find(s_[pos_]) == std::string_view::npos) {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  static bool IsOperatorToken(std::string_view t) {
    return t == "=" || t == "==" || t == "!=" || t == "!" || t == "<" || t == ">" || t == "(" ||
           t == ")" || t == ",";
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

absl::Status LabelError(std::string_view selector, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid label selector \"", ToAbsl(selector), "\": ", ToAbsl(what)));
}

}  // namespace

absl::Status ValidateLabelSelector(std::string_view selector) {
  LabelLexer lex(selector);
  if (lex.Peek().empty()) {
    return absl::OkStatus();
  }
  while (true) {
    std::string_view t = lex.Next();
    bool negated = false;
    if (t == "!") {
      negated = true;
      t = lex.Next();
    }
    if (t.empty() || LabelLexer::IsOperatorToken(t)) {
      return LabelError(selector, absl::StrCat("expected a label key, found \"", ToAbsl(t), "\""));
    }
    if (absl::Status s = CheckKey(t); !s.ok()) {
      return LabelError(selector, FromAbsl(s.message()));
    }
    std::string_view op = lex.Peek();
    if (negated || op.empty() || op == ",") {
      // Exists / DoesNotExist.
    } else if (op == "in" || op == "notin") {
      lex.Next();
      if (lex.Next() != "(") {
        return LabelError(selector, absl::StrCat("expected '(' after '", ToAbsl(op), "'"));
      }
      int values = 0;
      while (true) {
        std::string_view v = lex.Next();
        if (v == ")" && values == 0) {
          return LabelError(selector, "a set of values for 'in' or 'notin' must not be empty");
        }
        if (v == "," || v == ")") {
          return LabelError(selector, "expected a value in the set");
        }
        if (v.empty()) {
          return LabelError(selector, "unterminated set of values");
        }
        if (absl::Status s = CheckValue(v); !s.ok()) {
          return LabelError(selector, FromAbsl(s.message()));
        }
        ++values;
        std::string_view sep = lex.Next();
        if (sep == ")") {
          break;
        }
        if (sep != ",") {
          return LabelError(selector, "expected ',' or ')' in the set of values");
        }
      }
    } else if (op == "=" || op == "==" || op == "!=") {
      lex.Next();
      std::string_view v = lex.Peek();
      if (v == "," || v.empty()) {
        // An empty value is allowed ("tier=").
      } else if (LabelLexer::IsOperatorToken(v)) {
        return LabelError(selector,
                          absl::StrCat("unexpected \"", ToAbsl(v), "\" after '", ToAbsl(op), "'"));
      } else {
        lex.Next();
        if (absl::Status s = CheckValue(v); !s.ok()) {
          return LabelError(selector, FromAbsl(s.message()));
        }
      }
    } else if (op == "<" || op == ">") {
      lex.Next();
      std::string_view v = lex.Next();
      bool digits = !v.empty();
      for (char c : v) {
        digits = digits && c >= '0' && c <= '9';
      }
      if (!digits) {
        return LabelError(
            selector,
            absl::StrCat("'", ToAbsl(op), "' needs an integer value, found \"", ToAbsl(v), "\""));
      }
    } else {
      return LabelError(selector, absl::StrCat("unknown operator \"", ToAbsl(op), "\""));
    }
    std::string_view after = lex.Next();
    if (after.empty()) {
      return absl::OkStatus();
    }
    if (after != ",") {
      return LabelError(selector, absl::StrCat("expected ',' between requirements, found \"",
                                               ToAbsl(after), "\""));
    }
  }
}

absl::Status ValidateFieldSelector(std::string_view selector) {
  auto error = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid field selector \"", ToAbsl(selector), "\": ", ToAbsl(what)));
  };
  // Terms are separated by unescaped commas; empty terms are skipped, as the API server does.
  std::vector<std::string_view> terms;
  size_t start = 0;
  for (size_t i = 0; i <= selector.size(); ++i) {
    if (i + 1 < selector.size() && selector[i] == '\\') {
      ++i;
      continue;
    }
    if (i == selector.size() || selector[i] == ',') {
      terms.push_back(selector.substr(start, i - start));
      start = i + 1;
    }
  }
  for (std::string_view term : terms) {
    if (term.empty()) {
      continue;
    }
    size_t op_at = std::string_view::npos;
    size_t op_len = 0;
    for (size_t i = 0; i < term.size() && op_at == std::string_view::npos; ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      for (std::string_view op : {"!=", "==", "="}) {
        if (term.substr(i, op.size()) == op) {
          op_at = i;
          op_len = op.size();
          break;
        }
      }
    }
    if (op_at == std::string_view::npos) {
      return error(absl::StrCat("cannot understand \"", ToAbsl(term),
                                "\" (expected field=value, field==value or field!=value)"));
    }
    const std::string_view value = term.substr(op_at + op_len);
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\\') {
        if (i + 1 >= value.size() ||
            std::string_view("\\,=").find(value[i + 1]) == std::string_view::npos) {
          return error(absl::StrCat("invalid escape sequence in \"", ToAbsl(value), "\""));
        }
        ++i;
      } else if (value[i] == '=' || value[i] == ',') {
        return error(absl::StrCat("unescaped '", std::string(1, value[i]), "' in value \"",
                                  ToAbsl(value), "\""));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tender::config
