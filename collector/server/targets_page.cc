#include "collector/server/targets_page.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/config/config.h"
#include "collector/model/absl_compat.h"

namespace tender::server {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void String(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void LabelsObject(Writer& w, const model::Labels& labels) {
  w.StartObject();
  for (const auto& l : labels) {
    w.Key(l.name.data(), static_cast<rapidjson::SizeType>(l.name.size()));
    String(w, l.value);
  }
  w.EndObject();
}

// RFC 3339 with nanoseconds, as Go's time.Time marshals; the zero time when never scraped.
std::string Rfc3339(absl::Time t) {
  if (t == absl::InfinitePast()) return "0001-01-01T00:00:00Z";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string Html(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string LabelsHtml(const model::Labels& labels) {
  std::string out;
  for (const auto& l : labels) {
    absl::StrAppend(&out, "<span class=\"label\">", Html(l.name), "=\"", Html(l.value),
                    "\"</span> ");
  }
  return out;
}

// "dns 0 ms · connect 1.2 ms · ..." for the last scrape: where a slow link spends its time.
std::string PhasesHtml(const scrape::TargetStatus& s) {
  if (s.last_scrape == absl::InfinitePast()) return "";
  const auto& p = s.last_phases;
  const std::pair<const char*, absl::Duration> phases[] = {
      {"dns", p.dns},           {"connect", p.connect},
      {"tls", p.tls},           {"first byte", p.first_byte},
      {"transfer", p.transfer}, {"parse", p.parse}};
  std::string out;
  for (const auto& [name, d] : phases) {
    if (!out.empty()) out += " · ";
    absl::StrAppend(&out, name, " ", absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(d)));
  }
  if (s.last_reused_connection) out += " (reused connection)";
  return out;
}

std::string Ago(absl::Time now, absl::Time t) {
  if (t == absl::InfinitePast()) return "never";
  const double s = absl::ToDoubleSeconds(now - t);
  return s < 120 ? absl::StrFormat("%.3fs ago", s) : absl::StrFormat("%.1fm ago", s / 60);
}

}  // namespace

std::string TargetsJson(const std::vector<scrape::TargetStatus>& active,
                        const std::vector<scrape::DroppedTarget>& dropped,
                        const std::string& state) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("status");
  w.String("success");
  w.Key("data");
  w.StartObject();
  w.Key("activeTargets");
  w.StartArray();
  if (state == "any" || state == "active") {
    for (const auto& s : active) {
      const auto& t = *s.target;
      w.StartObject();
      w.Key("discoveredLabels");
      LabelsObject(w, t.discovered_labels);
      w.Key("labels");
      LabelsObject(w, t.labels);
      w.Key("scrapePool");
      String(w, t.job);
      w.Key("scrapeUrl");
      String(w, t.url);
      w.Key("globalUrl");
      String(w, t.url);
      w.Key("lastError");
      String(w, s.last_error);
      w.Key("lastScrape");
      String(w, Rfc3339(s.last_scrape));
      w.Key("lastScrapeDuration");
      w.Double(absl::ToDoubleSeconds(s.last_duration));
      w.Key("health");
      String(w, s.health);
      w.Key("scrapeInterval");
      String(w, config::FormatDuration(t.interval));
      w.Key("scrapeTimeout");
      String(w, config::FormatDuration(t.timeout));
      w.EndObject();
    }
  }
  w.EndArray();
  w.Key("droppedTargets");
  w.StartArray();
  if (state == "any" || state == "dropped") {
    for (const auto& d : dropped) {
      w.StartObject();
      w.Key("discoveredLabels");
      LabelsObject(w, d.discovered_labels);
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string TargetsHtml(const std::vector<scrape::TargetStatus>& active,
                        const std::vector<scrape::DroppedTarget>& dropped, absl::Time now) {
  std::map<std::string, std::vector<const scrape::TargetStatus*>> by_job;
  for (const auto& s : active) by_job[s.target->job].push_back(&s);
  std::string out = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tender: targets</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.up{color:#fff;background:#2e7d32}.down{color:#fff;background:#c62828}
.unknown{background:#eee}.state{font-weight:bold;text-align:center;width:5em}
.label{display:inline-block;background:#eef;border-radius:3px;padding:0 4px;margin:1px;
font-family:monospace;font-size:.85em}.error{color:#c62828;font-family:monospace}
details summary{cursor:pointer;color:#555}
</style></head><body>
<h1>Targets</h1>
)";
  for (const auto& [job, targets] : by_job) {
    size_t up = 0;
    for (const auto* s : targets) up += s->health == "up";
    absl::StrAppend(&out, "<h2 id=\"job-", Html(job), "\">", Html(job), " (", up, "/",
                    targets.size(), " up)</h2>\n<table class=\"job\"><tr><th>Endpoint</th>",
                    "<th>State</th><th>Labels</th><th>Last scrape</th><th>Duration</th>",
                    "<th>Phases</th><th>Error</th></tr>\n");
    for (const auto* s : targets) {
      const auto& t = *s->target;
      absl::StrAppend(
          &out, "<tr class=\"target\"><td><a href=\"", Html(t.url), "\">", Html(t.url),
          "</a></td><td class=\"state ", Html(s->health), "\">",
          Html(s->health == "up"     ? "UP"
               : s->health == "down" ? "DOWN"
                                     : "UNKNOWN"),
          "</td><td>", LabelsHtml(t.labels), "<details><summary>discovered labels</summary>",
          LabelsHtml(t.discovered_labels), "</details></td><td>", Ago(now, s->last_scrape),
          "</td><td>", absl::StrFormat("%.3fs", absl::ToDoubleSeconds(s->last_duration)),
          "</td><td class=\"phases\">", PhasesHtml(*s), "</td><td class=\"error\">",
          Html(s->last_error), "</td></tr>\n");
    }
    out += "</table>\n";
  }
  if (active.empty()) out += "<p>No active targets.</p>\n";
  absl::StrAppend(&out, "<h2 id=\"dropped\">Dropped targets (", dropped.size(), ")</h2>\n");
  if (!dropped.empty()) {
    out += "<table><tr><th>Job</th><th>Discovered labels</th></tr>\n";
    for (const auto& d : dropped) {
      absl::StrAppend(&out, "<tr class=\"dropped\"><td>", Html(d.job), "</td><td>",
                      LabelsHtml(d.discovered_labels), "</td></tr>\n");
    }
    out += "</table>\n";
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace tender::server
