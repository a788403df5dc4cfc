// Strict OpenMetrics 1.0: our own cases, at least one per rule of protocols.md §2.2, plus the
// positive shapes the OpenMetrics parser suite exercises (escaping, NaN, timestamps, uint64
// counters, exemplars with '#' in label values, no newline after # EOF, non-canonical le,
// TYPE/HELP order, untyped families). Written from the spec, not copied from the suite.
#include <string>

#include "collector/textparse/parser.h"
#include "gtest/gtest.h"
#include "tests/unit/textparse/test_util.h"

namespace tender::textparse {
namespace {

using ::tender::textparse::testing::HasPosition;
using ::tender::textparse::testing::ParseAll;
using ::tender::textparse::testing::ParseResult;
using namespace std::string_literals;

struct StrictCase {
  const char* name;
  std::string input;
  bool should_parse;
};

std::string Long(char c, size_t n) { return std::string(n, c); }

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

const StrictCase kCases[] = {
    // ---- Positive cases. ----
    {"simple_counter", "# TYPE a counter\n# HELP a help\na_total 1\n# EOF\n", true},
    {"simple_gauge", "# TYPE a gauge\n# HELP a help\na 1\n# EOF\n", true},
    {"simple_histogram",
     "# TYPE a histogram\n# HELP a help\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 3\n"
     "a_count 3\na_sum 2\n# EOF\n",
     true},
    {"histogram_with_created",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2\na_created 1520430000\n"
     "# EOF\n",
     true},
    {"simple_gaugehistogram",
     "# TYPE a gaugehistogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 3\na_gcount 3\n"
     "a_gsum 2\n# EOF\n",
     true},
    {"gaugehistogram_negative_gsum",
     "# TYPE a gaugehistogram\na_bucket{le=\"-1\"} 1\na_bucket{le=\"+Inf\"} 3\na_gcount 3\n"
     "a_gsum -2\n# EOF\n",
     true},
    {"simple_summary",
     "# TYPE a summary\na{quantile=\"0.5\"} 1\na{quantile=\"1\"} 2\na_sum 2\na_count 1\n"
     "a_created 1\n# EOF\n",
     true},
    {"summary_nan_quantile_value", "# TYPE a summary\na{quantile=\"0.9\"} NaN\n# EOF\n", true},
    {"simple_info", "# TYPE a info\na_info{foo=\"bar\"} 1\n# EOF\n", true},
    {"simple_stateset", "# TYPE a stateset\na{a=\"x\"} 1\na{a=\"y\"} 0\n# EOF\n", true},
    {"simple_unknown", "# TYPE a unknown\na 1\n# EOF\n", true},
    {"untyped", "# HELP a help\na 1\nb{x=\"1\"} 2\n# EOF\n", true},
    {"empty_metadata", "# HELP a \n# UNIT a \na 1\n# EOF\n", true},
    {"unit", "# TYPE a_seconds counter\n# UNIT a_seconds seconds\na_seconds_total 1\n# EOF\n",
     true},
    {"type_help_switched", "# HELP a help\n# TYPE a counter\na_total 1\n# EOF\n", true},
    {"escaping",
     "# HELP a q\\\"uote \\n newline \\\\ backslash\na{a=\"q\\\"uote\",b=\"n\\nl\",c=\"b\\\\s\"} "
     "1\n"
     "# EOF\n",
     true},
    {"odd_label_escape_tolerated", "a{a=\"\\q\"} 1\n# EOF\n", true},
    {"null_byte", "# HELP a h\0lp\na{a=\"x\0y\"} 1\n# EOF\n"s, true},
    {"utf8_label_value", "a{a=\"\xe6\x97\xa5\xe6\x9c\xac\"} 1\n# EOF\n", true},
    {"nan", "a NaN\n# EOF\n", true},
    {"nan_gauge", "# TYPE a gauge\na nan\n# EOF\n", true},
    {"timestamps",
     "# TYPE a counter\na_total{foo=\"1\"} 1 000\na_total{foo=\"2\"} 1 0.0\n"
     "a_total{foo=\"3\"} 1 1.1\na_total{foo=\"4\"} 1 -1.5\na_total{foo=\"5\"} 1 1e3\n# EOF\n",
     true},
    {"points_with_increasing_timestamps", "a 1 1\na 2 2\n# EOF\n", true},
    {"duplicate_timestamps", "a 1 1\na 2 1\n# EOF\n", true},
    {"uint64_counter", "# TYPE a counter\na_total 18446744073709551615\n# EOF\n", true},
    {"float_counter", "# TYPE a counter\na_total 1.5\n# EOF\n", true},
    {"counter_exemplar", "# TYPE a counter\na_total 1 # {trace_id=\"abc\"} 0.5 123\n# EOF\n", true},
    {"exemplars_with_hash_in_label_values",
     "# TYPE a counter\na_total{foo=\"#\"} 1 # {id=\"#1 # {x}\"} 1\n# EOF\n", true},
    {"histogram_exemplars",
     "# TYPE a histogram\na_bucket{le=\"1\"} 0 # {a=\"b\"} 0.5\n"
     "a_bucket{le=\"2\"} 2 # {a=\"c\"} 1.5 123\na_bucket{le=\"+Inf\"} 3 # {} 9\n# EOF\n",
     true},
    {"exemplar_128_code_points",
     "# TYPE a counter\na_total 1 # {a=\"" + Long('x', 127) + "\"} 1\n# EOF\n", true},
    // 1 + 100 + 27 = 128 code points in 328 bytes.
    {"exemplar_wide_chars",
     "# TYPE a counter\na_total 1 # {a=\"" + Repeat("\xe6\x97\xa5", 100) + Long('x', 27) +
         "\"} 1\n# EOF\n",
     true},
    {"bad_exemplar_wide_chars",
     "# TYPE a counter\na_total 1 # {a=\"" + Repeat("\xe6\x97\xa5", 100) + Long('x', 28) +
         "\"} 1\n# EOF\n",
     false},
    {"no_newline_after_eof", "a 1\n# EOF", true},
    {"histogram_noncanonical",
     "# TYPE a histogram\na_bucket{le=\"0\"} 0\na_bucket{le=\"00.1e1\"} 1\n"
     "a_bucket{le=\"2.5e0\"} 2\na_bucket{le=\"+Inf\"} 3\n# EOF\n",
     true},
    {"histogram_negative_buckets_no_sum",
     "# TYPE a histogram\na_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 3\n# EOF\n", true},
    {"histogram_two_points",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 1\na_count 1 1\na_sum 1 1\n"
     "a_bucket{le=\"+Inf\"} 2 2\na_count 2 2\na_sum 2 2\n# EOF\n",
     true},
    {"histogram_metrics",
     "# TYPE a histogram\na_bucket{x=\"1\",le=\"+Inf\"} 1\na_count{x=\"1\"} 1\n"
     "a_sum{x=\"1\"} 1\na_bucket{le=\"+Inf\",x=\"2\"} 1\n# EOF\n",
     true},
    {"gauge_with_le_label", "# TYPE a gauge\na{le=\"x\"} 1\n# EOF\n", true},
    {"empty_brackets", "a{} 1\n# EOF\n", true},
    {"metadata_for_family_without_samples", "# TYPE a counter\n# TYPE b gauge\nb 1\n# EOF\n", true},
    {"family_named_like_suffix_of_unknown", "a 1\na_total 2\n# EOF\n", true},

    // ---- Structure. ----
    {"bad_no_eof", "a 1\n", false},
    {"bad_text_after_eof", "a 1\n# EOF\nb 1\n", false},
    {"bad_blank_after_eof", "# EOF\n\n", false},
    {"bad_blank_line", "a 1\n\nb 1\n# EOF\n", false},
    {"bad_tab", "a\t1\n# EOF\n", false},
    {"bad_double_space", "a  1\n# EOF\n", false},
    {"bad_leading_space", " a 1\n# EOF\n", false},
    {"bad_trailing_space", "a 1 \n# EOF\n", false},
    {"bad_other_comment", "# FOO a x\na 1\n# EOF\n", false},
    {"bad_help_no_text", "# HELP a\n# EOF\n", false},
    {"bad_unit_no_text", "# UNIT a\n# EOF\n", false},
    {"bad_type_after_samples", "a 1\n# TYPE a gauge\n# EOF\n", false},
    {"bad_help_after_samples", "# TYPE a gauge\na 1\n# HELP a help\n# EOF\n", false},
    {"bad_unit_after_samples", "# TYPE a_s gauge\na_s 1\n# UNIT a_s s\n# EOF\n", false},
    {"bad_repeated_type", "# TYPE a gauge\n# TYPE a gauge\na 1\n# EOF\n", false},
    {"bad_repeated_help", "# HELP a x\n# HELP a y\na 1\n# EOF\n", false},
    {"bad_repeated_unit", "# UNIT a_s s\n# UNIT a_s s\na_s 1\n# EOF\n", false},
    {"bad_unknown_type", "# TYPE a untyped\na 1\n# EOF\n", false},
    {"bad_type_case", "# TYPE a Gauge\na 1\n# EOF\n", false},

    // ---- Names and labels. ----
    {"bad_metric_name", "0a 1\n# EOF\n", false},
    {"bad_label_name", "a{0b=\"c\"} 1\n# EOF\n", false},
    {"bad_label_name_dot", "a{b.c=\"d\"} 1\n# EOF\n", false},
    {"bad_missing_equals", "a{b\"c\"} 1\n# EOF\n", false},
    {"bad_missing_quotes", "a{b=c} 1\n# EOF\n", false},
    {"bad_single_quotes", "a{b='c'} 1\n# EOF\n", false},
    {"bad_missing_comma", "a{b=\"c\"d=\"e\"} 1\n# EOF\n", false},
    {"bad_extra_comma", "a{b=\"c\",,d=\"e\"} 1\n# EOF\n", false},
    {"bad_trailing_comma", "a{b=\"c\",} 1\n# EOF\n", false},
    {"bad_leading_comma", "a{,b=\"c\"} 1\n# EOF\n", false},
    {"bad_quoted_metric_name", "{\"a.b\"} 1\n# EOF\n", false},
    {"bad_quoted_label_name", "a{\"b.c\"=\"d\"} 1\n# EOF\n", false},
    {"bad_duplicate_label", "a{b=\"1\",b=\"2\"} 1\n# EOF\n", false},
    {"bad_histogram_le_on_count",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count{le=\"1\"} 1\n# EOF\n", false},
    {"bad_histogram_bucket_without_le", "# TYPE a histogram\na_bucket 1\n# EOF\n", false},
    {"bad_summary_quantile_on_sum", "# TYPE a summary\na_sum{quantile=\"0.5\"} 1\n# EOF\n", false},
    {"bad_summary_without_quantile", "# TYPE a summary\na 1\n# EOF\n", false},
    {"bad_stateset_without_state_label", "# TYPE a stateset\na{b=\"x\"} 1\n# EOF\n", false},
    {"bad_clashing_names_counter_then_gauge",
     "# TYPE a counter\na_total 1\n# TYPE a_total gauge\na_total 1\n# EOF\n", false},
    {"bad_clashing_names_gauge_then_counter",
     "# TYPE a_created gauge\na_created 1\n# TYPE a counter\na_total 1\n# EOF\n", false},
    {"bad_clashing_names_histogram",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\n# TYPE a_count gauge\na_count 1\n# EOF\n",
     false},
    {"bad_info_name", "# TYPE a info\na 1\n# EOF\n", false},

    // ---- Numbers. ----
    {"bad_value_word", "a a\n# EOF\n", false},
    {"bad_value_suffix", "a 1z\n# EOF\n", false},
    {"bad_value_underscore", "a 1_2\n# EOF\n", false},
    {"bad_value_two_dots", "a 1.1.1\n# EOF\n", false},
    {"bad_value_hex", "a 0x1\n# EOF\n", false},
    {"bad_value_hex_float", "a 0x1p-3\n# EOF\n", false},
    {"bad_value_octal", "a 0o1\n# EOF\n", false},
    {"bad_value_binary", "a 0b1\n# EOF\n", false},
    {"bad_missing_value", "a\n# EOF\n", false},
    {"bad_missing_value_after_labels", "a{b=\"c\"}\n# EOF\n", false},
    {"bad_timestamp_nan", "a 1 NaN\n# EOF\n", false},
    {"bad_timestamp_inf", "a 1 +Inf\n# EOF\n", false},
    {"bad_timestamp_negative_inf", "a 1 -Inf\n# EOF\n", false},
    {"bad_timestamp_word", "a 1 z\n# EOF\n", false},
    {"bad_timestamp_hex", "a 1 0x1\n# EOF\n", false},

    // ---- Type rules. ----
    {"bad_counter_without_total", "# TYPE a counter\na 1\n# EOF\n", false},
    {"bad_counter_negative", "# TYPE a counter\na_total -1\n# EOF\n", false},
    {"bad_counter_nan", "# TYPE a counter\na_total NaN\n# EOF\n", false},
    {"bad_counter_negative_inf", "# TYPE a counter\na_total -Inf\n# EOF\n", false},
    {"bad_histogram_no_inf",
     "# TYPE a histogram\na_bucket{le=\"1\"} 0\na_count 0\na_sum 0\n# EOF\n", false},
    {"bad_histogram_only_count", "# TYPE a histogram\na_count 0\na_sum 0\n# EOF\n", false},
    {"bad_histogram_not_cumulative",
     "# TYPE a histogram\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\n# EOF\n", false},
    {"bad_histogram_unsorted",
     "# TYPE a histogram\na_bucket{le=\"2\"} 0\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 0\n"
     "# EOF\n",
     false},
    {"bad_histogram_duplicate_le",
     "# TYPE a histogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"1.0\"} 0\na_bucket{le=\"+Inf\"} 0\n"
     "# EOF\n",
     false},
    {"bad_histogram_count_mismatch",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 2\na_sum 1\n# EOF\n", false},
    {"bad_histogram_count_before_buckets",
     "# TYPE a histogram\na_count 1\na_bucket{le=\"+Inf\"} 0\n# EOF\n", false},
    {"bad_histogram_negative_bucket_count", "# TYPE a histogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n",
     false},
    {"bad_gaugehistogram_negative_bucket_count",
     "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n", false},
    {"bad_histogram_nan_count",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count NaN\na_sum 1\n# EOF\n", false},
    {"bad_histogram_nan_sum",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1\na_sum NaN\n# EOF\n", false},
    {"bad_histogram_negative_sum",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1\na_sum -1\n# EOF\n", false},
    {"bad_histogram_sum_with_negative_buckets",
     "# TYPE a histogram\na_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 1\na_count 1\n"
     "a_sum 1\n# EOF\n",
     false},
    {"bad_histogram_sum_without_count",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_sum 1\n# EOF\n", false},
    {"bad_histogram_count_without_sum",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1\n# EOF\n", false},
    {"bad_gaugehistogram_gsum_without_gcount",
     "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0\na_gsum 0\n# EOF\n", false},
    {"bad_gaugehistogram_gcount_without_gsum",
     "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0\na_gcount 0\n# EOF\n", false},
    {"bad_histogram_le_word", "# TYPE a histogram\na_bucket{le=\"x\"} 0\n# EOF\n", false},
    {"bad_histogram_le_nan", "# TYPE a histogram\na_bucket{le=\"NaN\"} 0\n# EOF\n", false},
    {"bad_histogram_inf_spelling", "# TYPE a histogram\na_bucket{le=\"+INF\"} 0\n# EOF\n", false},
    {"bad_summary_negative_sum",
     "# TYPE a summary\na{quantile=\"0.5\"} 1\na_sum -1\na_count 1\n# EOF\n", false},
    {"bad_summary_nan_count", "# TYPE a summary\na_sum 1\na_count NaN\n# EOF\n", false},
    {"bad_summary_negative_quantile_value", "# TYPE a summary\na{quantile=\"0.5\"} -1\n# EOF\n",
     false},
    {"bad_summary_quantile_above_one", "# TYPE a summary\na{quantile=\"1.5\"} 1\n# EOF\n", false},
    {"bad_summary_quantile_below_zero", "# TYPE a summary\na{quantile=\"-0.1\"} 1\n# EOF\n", false},
    {"bad_summary_quantile_word", "# TYPE a summary\na{quantile=\"q\"} 1\n# EOF\n", false},
    {"bad_info_value", "# TYPE a info\na_info 2\n# EOF\n", false},
    {"bad_info_value_zero", "# TYPE a info\na_info 0\n# EOF\n", false},
    {"bad_stateset_value", "# TYPE a stateset\na{a=\"x\"} 0.5\n# EOF\n", false},
    {"bad_stateset_value_two", "# TYPE a stateset\na{a=\"x\"} 2\n# EOF\n", false},
    {"bad_unit_not_suffix", "# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n", false},
    {"bad_unit_not_at_word_boundary", "# UNIT abseconds seconds\nabseconds 1\n# EOF\n", false},
    {"bad_unit_on_info", "# TYPE a_s info\n# UNIT a_s s\na_s_info 1\n# EOF\n", false},
    {"bad_unit_on_stateset", "# UNIT a_s s\n# TYPE a_s stateset\na_s{a_s=\"x\"} 1\n# EOF\n", false},

    // ---- Exemplars. ----
    {"bad_exemplar_on_gauge", "# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n", false},
    {"bad_exemplar_on_unknown", "a 1 # {x=\"y\"} 1\n# EOF\n", false},
    {"bad_exemplar_on_counter_created",
     "# TYPE a counter\na_total 1\na_created 1 # {x=\"y\"} 1\n# EOF\n", false},
    {"bad_exemplar_on_histogram_count",
     "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1 # {x=\"y\"} 1\na_sum 1\n# EOF\n",
     false},
    {"bad_exemplar_on_summary", "# TYPE a summary\na{quantile=\"0.5\"} 1 # {x=\"y\"} 1\n# EOF\n",
     false},
    {"bad_exemplar_on_info", "# TYPE a info\na_info 1 # {x=\"y\"} 1\n# EOF\n", false},
    {"bad_exemplar_size", "# TYPE a counter\na_total 1 # {a=\"" + Long('x', 128) + "\"} 1\n# EOF\n",
     false},
    {"bad_exemplar_size_names",
     "# TYPE a counter\na_total 1 # {" + Long('n', 64) + "=\"" + Long('v', 64) +
         "\",b=\"\"} 1\n"
         "# EOF\n",
     false},
    {"bad_exemplar_missing_value", "# TYPE a counter\na_total 1 # {a=\"b\"}\n# EOF\n", false},
    {"bad_exemplar_no_braces", "# TYPE a counter\na_total 1 # a=\"b\" 1\n# EOF\n", false},
    {"bad_exemplar_bad_labels", "# TYPE a counter\na_total 1 # {a} 1\n# EOF\n", false},
    {"bad_exemplar_value", "# TYPE a counter\na_total 1 # {a=\"b\"} x\n# EOF\n", false},
    {"bad_exemplar_timestamp_nan", "# TYPE a counter\na_total 1 # {a=\"b\"} 1 NaN\n# EOF\n", false},
    {"bad_exemplar_timestamp_inf", "# TYPE a counter\na_total 1 # {a=\"b\"} 1 +Inf\n# EOF\n",
     false},
    {"bad_exemplar_timestamp_word", "# TYPE a counter\na_total 1 # {a=\"b\"} 1 z\n# EOF\n", false},
    {"bad_exemplar_trailing", "# TYPE a counter\na_total 1 # {a=\"b\"} 1 1 1\n# EOF\n", false},
    {"bad_exemplar_outside_bucket",
     "# TYPE a histogram\na_bucket{le=\"1\"} 0 # {a=\"b\"} 2\na_bucket{le=\"+Inf\"} 1\n# EOF\n",
     false},
    {"bad_exemplar_below_bucket",
     "# TYPE a histogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"2\"} 0 # {a=\"b\"} 0.5\n"
     "a_bucket{le=\"+Inf\"} 1\n# EOF\n",
     false},

    // ---- Grouping and time. ----
    {"bad_interleaved_families", "a 1\nb 1\na 1\n# EOF\n", false},
    {"bad_interleaved_typed_families",
     "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\na 2\n# EOF\n", false},
    {"bad_interleaved_metrics", "a{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 2\n# EOF\n", false},
    {"bad_interleaved_histogram_metrics",
     "# TYPE a histogram\na_bucket{x=\"1\",le=\"+Inf\"} 1\na_bucket{x=\"2\",le=\"+Inf\"} 1\n"
     "a_count{x=\"1\"} 1\n# EOF\n",
     false},
    {"bad_mixed_timestamps", "a 1 1\na 2\n# EOF\n", false},
    {"bad_mixed_timestamps_reverse", "a 1\na 2 1\n# EOF\n", false},
    {"bad_decreasing_timestamps", "a 1 2\na 2 1\n# EOF\n", false},
    {"bad_decreasing_counter_timestamps", "# TYPE a counter\na_total 1 2\na_total 2 1.999\n# EOF\n",
     false},
};

TEST(OmStrictTest, Suite) {
  auto check = [&](const StrictCase& c) {
    SCOPED_TRACE(c.name);
    SCOPED_TRACE(c.input);
    ParseResult r = ParseAll(c.input, Format::kOpenMetrics, /*strict=*/true);
    EXPECT_EQ(r.status.ok(), c.should_parse) << r.status;
    if (!r.status.ok()) {
      EXPECT_TRUE(HasPosition(std::string(r.status.message()))) << r.status;
    }
  };
  int positive = 0;
  for (const StrictCase& c : kCases) {
    check(c);
    positive += c.should_parse ? 1 : 0;
  }
  // The table must keep both kinds of case.
  EXPECT_GE(positive, 40);
  EXPECT_GE(static_cast<int>(std::size(kCases)) - positive, 100);
}

TEST(OmStrictTest, ErrorNamesTheLineOfTheOffendingSample) {
  ParseResult r =
      ParseAll("# TYPE a counter\na_total 1\na_total -1\n# EOF\n", Format::kOpenMetrics, true);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(std::string(r.status.message()).substr(0, 5), "3:1: ");
  ParseResult eof =
      ParseAll("# TYPE a histogram\na_bucket{le=\"1\"} 0\n# EOF\n", Format::kOpenMetrics, true);
  ASSERT_FALSE(eof.status.ok());
  EXPECT_EQ(std::string(eof.status.message()).substr(0, 5), "3:1: ") << eof.status;
}

TEST(OmStrictTest, StrictIsIgnoredForTheTextFormat) {
  ParseResult r = ParseAll("a{b=\"c\",} 1\na 2\n", Format::kText, true);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.samples.size(), 2u);
}

}  // namespace
}  // namespace tender::textparse
