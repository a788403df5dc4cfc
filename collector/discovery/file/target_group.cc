// Target-group file parsing (Prometheus discovery/file readFile + targetgroup.Group).

#include "collector/discovery/file/target_group.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/config/config.h"
#include "collector/model/absl_compat.h"
#include "collector/model/utf8.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "yaml-cpp/yaml.h"

namespace tender::discovery {
namespace {

std::string Quote(std::string_view s) { return absl::StrCat("\"", ToAbsl(s), "\""); }

// Builds one group, checking each target and label. `where` is "group N" for messages.
class GroupBuilder {
 public:
  GroupBuilder(std::string_view path, size_t index) : where_(absl::StrCat("group ", index)) {
    group_.source = absl::StrCat(ToAbsl(path), ":", index);
    group_.labels.push_back({std::string(kFilePathLabel), std::string(path)});
  }

  absl::Status AddTarget(std::string address) {
    if (absl::Status s = config::ValidateTargetAddress(address); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where_, ": target ", group_.targets.size(), ": ", s.message()));
    }
    group_.targets.push_back(std::move(address));
    return absl::OkStatus();
  }

  absl::Status AddLabel(std::string name, std::string value) {
    if (!model::IsValidLabelName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(where_, ": ", Quote(name),
                                                     " is not a valid label name (must match "
                                                     "[a-zA-Z_][a-zA-Z0-9_]*)"));
    }
    if (!model::ValidUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where_, ": the value of label ", name, " is not valid UTF-8"));
    }
    if (name == kFilePathLabel) {
      return absl::OkStatus();  // Prometheus overwrites it with the file's path.
    }
    group_.labels.push_back({std::move(name), std::move(value)});
    return absl::OkStatus();
  }

  absl::Status Error(std::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", ToAbsl(message)));
  }

  TargetGroup Finish() && {
    // Later duplicates win in Normalize; keep __meta_filepath by re-setting it last.
    const std::string path = group_.labels.front().value;
    model::Normalize(group_.labels);
    model::Set(group_.labels, kFilePathLabel, path);
    return std::move(group_);
  }

 private:
  std::string where_;
  TargetGroup group_;
};

absl::StatusOr<std::vector<TargetGroup>> ParseJson(std::string_view path,
                                                   std::string_view content) {
  rapidjson::Document doc;
  doc.Parse(content.data(), content.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at offset ", doc.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(doc.GetParseError())));
  }
  std::vector<TargetGroup> groups;
  if (doc.IsNull()) {
    return groups;
  }
  if (!doc.IsArray()) {
    return absl::InvalidArgumentError("expected a JSON array of target groups");
  }
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    const rapidjson::Value& g = doc[i];
    GroupBuilder b(path, i);
    if (g.IsNull()) {
      return b.Error("nil target group item found");
    }
    if (!g.IsObject()) {
      return b.Error("expected an object with targets and labels");
    }
    if (auto it = g.FindMember("targets"); it != g.MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsArray()) {
        return b.Error("targets must be a list of strings");
      }
      for (const rapidjson::Value& t : it->value.GetArray()) {
        if (!t.IsString()) {
          return b.Error("targets must be a list of strings");
        }
        if (absl::Status s = b.AddTarget(std::string(t.GetString(), t.GetStringLength()));
            !s.ok()) {
          return s;
        }
      }
    }
    if (auto it = g.FindMember("labels"); it != g.MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsObject()) {
        return b.Error("labels must be an object of strings");
      }
      for (const auto& m : it->value.GetObject()) {
        if (!m.value.IsString()) {
          return b.Error(
              absl::StrCat("the value of label ", m.name.GetString(), " must be a string"));
        }
        if (absl::Status s =
                b.AddLabel(std::string(m.name.GetString(), m.name.GetStringLength()),
                           std::string(m.value.GetString(), m.value.GetStringLength()));
            !s.ok()) {
          return s;
        }
      }
    }
    groups.push_back(std::move(b).Finish());
  }
  return groups;
}

absl::StatusOr<std::vector<TargetGroup>> ParseYamlGroups(std::string_view path,
                                                         std::string_view content) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(content));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid YAML at line ", e.mark.line + 1, ": ", e.msg));
  }
  std::vector<TargetGroup> groups;
  try {
    if (!doc.IsDefined() || doc.IsNull()) {
      return groups;
    }
    if (!doc.IsSequence()) {
      return absl::InvalidArgumentError("expected a YAML list of target groups");
    }
    for (size_t i = 0; i < doc.size(); ++i) {
      const YAML::Node g = doc[i];
      GroupBuilder b(path, i);
      if (g.IsNull()) {
        return b.Error("nil target group item found");
      }
      if (!g.IsMap()) {
        return b.Error("expected a map with targets and labels");
      }
      for (const auto& kv : g) {
        const std::string key = kv.first.Scalar();
        const YAML::Node& v = kv.second;
        if (key == "targets") {
          if (v.IsNull()) {
            continue;
          }
          if (!v.IsSequence()) {
            return b.Error("targets must be a list of strings");
          }
          for (const YAML::Node& t : v) {
            if (!t.IsScalar()) {
              return b.Error("targets must be a list of strings");
            }
            if (absl::Status s = b.AddTarget(t.Scalar()); !s.ok()) {
              return s;
            }
          }
        } else if (key == "labels") {
          if (v.IsNull()) {
            continue;
          }
          if (!v.IsMap()) {
            return b.Error("labels must be a map of strings");
          }
          for (const auto& l : v) {
            if (!l.second.IsScalar() && !l.second.IsNull()) {
              return b.Error(
                  absl::StrCat("the value of label ", l.first.Scalar(), " must be a string"));
            }
            if (absl::Status s =
                    b.AddLabel(l.first.Scalar(), l.second.IsNull() ? "" : l.second.Scalar());
                !s.ok()) {
              return s;
            }
          }
        } else {
          // Prometheus reads YAML target files strictly.
          return b.Error(absl::StrCat("unknown key ", Quote(key), " (expected targets, labels)"));
        }
      }
      groups.push_back(std::move(b).Finish());
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid target group file: ", e.what()));
  }
  return groups;
}

}  // namespace

absl::StatusOr<std::vector<TargetGroup>> ParseTargetGroupFile(std::string_view path,
                                                              std::string_view content) {
  if (absl::EndsWithIgnoreCase(ToAbsl(path), ".json")) {
    return ParseJson(path, content);
  }
  return ParseYamlGroups(path, content);
}

}  // namespace tender::discovery
