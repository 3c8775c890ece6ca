// Kong's declarative configuration (YAML or JSON): `_format_version` plus
// `upstreams:` with nested `targets:`; other Kong entity lists are accepted
// and ignored. YAML is converted to JSON with YAML 1.2 core-schema typing.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>

#include "config/schema.h"

namespace svc::config {

namespace {

using schema::json;

const std::vector<std::string> kFormatVersions = {"1.1", "2.1", "3.0"};
// Kong entity lists (and meta keys) a file may carry that svc does not use.
const std::set<std::string> kIgnoredKeys = {"services",     "routes",          "consumers",
                                            "plugins",      "snis",            "ca_certificates",
                                            "_transform",   "_comment"};

bool IsDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 8    ? (c >= '0' && c <= '7')
              : base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                           : std::isdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) return false;
  }
  return true;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsCoreFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!IsDigits(s.substr(i), 10)) return false;
    i = s.size();
  }
  return i == s.size();
}

// A plain (unquoted) YAML scalar typed by the YAML 1.2 core schema.
json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string_view v = s;
  std::string_view unsigned_part = (v[0] == '-' || v[0] == '+') ? v.substr(1) : v;
  try {
    if (IsDigits(unsigned_part, 10)) return std::stoll(s);
    if (v.substr(0, 2) == "0o" && IsDigits(v.substr(2), 8)) return std::stoll(s.substr(2), nullptr, 8);
    if (v.substr(0, 2) == "0x" && IsDigits(v.substr(2), 16)) return std::stoll(s.substr(2), nullptr, 16);
  } catch (const std::out_of_range&) {
    return std::strtod(s.c_str(), nullptr);  // too large for int64: keep the magnitude
  }
  if (IsCoreFloat(v)) return std::strtod(s.c_str(), nullptr);  // overflow -> inf
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF") {
    return v[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (v == ".nan" || v == ".NaN" || v == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  return s;
}

// Aliases can make a small YAML text expand enormously ("billion laughs"):
// the conversion stops after this many nodes.
constexpr size_t kMaxYamlNodes = 200000;

Status YamlError(const YAML::Mark& mark, const std::string& what) {
  return Error(Code::config, "invalid YAML at line " + std::to_string(mark.line + 1) + ", column " +
                                 std::to_string(mark.column + 1) + ": " + what);
}

// `path` holds the sequences and maps being converted, outermost first. An
// alias inside its own anchor makes a node contain itself: following it
// would never end. (An error ends the whole conversion, so `path` is left
// as it is then.)
Status YamlToJson(const YAML::Node& node, json* out, size_t* budget, std::vector<YAML::Node>* path) {
  if (++*budget > kMaxYamlNodes) {
    return Error(Code::config, "declarative config is too large (more than " +
                                   std::to_string(kMaxYamlNodes) + " YAML nodes once aliases expand)");
  }
  if (node.IsSequence() || node.IsMap()) {
    for (const YAML::Node& outer : *path) {
      if (outer.is(node)) return YamlError(node.Mark(), "an alias refers to a node that contains it");
    }
    if (path->size() >= schema::kMaxNesting) {
      return YamlError(node.Mark(), "nested deeper than " + std::to_string(schema::kMaxNesting) + " levels");
    }
    path->push_back(node);
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      *out = nullptr;
      return Status::Ok();
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      // "!" marks a quoted (non-plain) scalar: always a string, as is !!str.
      if (tag == "!" || tag == "tag:yaml.org,2002:str") {
        *out = node.Scalar();
      } else {
        *out = PlainScalar(node.Scalar());
      }
      return Status::Ok();
    }
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& item : node) {
        json v;
        SVC_TRY(YamlToJson(item, &v, budget, path));
        arr.push_back(std::move(v));
      }
      path->pop_back();
      *out = std::move(arr);
      return Status::Ok();
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return Error(Code::config, "invalid YAML at line " + std::to_string(kv.first.Mark().line + 1) +
                                         ": map keys must be scalars");
        }
        json v;
        SVC_TRY(YamlToJson(kv.second, &v, budget, path));
        obj[kv.first.Scalar()] = std::move(v);
      }
      path->pop_back();
      *out = std::move(obj);
      return Status::Ok();
    }
  }
  return Error(Code::internal, "unexpected YAML node");
}

// "invalid JSON at line L, column C: <what>" for the byte at `pos` (1-based line and column).
Status JsonError(std::string_view text, size_t pos, const std::string& what) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return Error(Code::config, "invalid JSON at line " + std::to_string(line) + ", column " +
                                 std::to_string(column) + ": " + what);
}

// Where JSON text first opens more than kMaxNesting levels, or npos.
// Brackets inside strings do not count.
size_t FindTooDeep(std::string_view text, size_t start) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > schema::kMaxNesting) return i;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

Status ParseText(std::string_view text, json* out) {
  size_t start = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") start = 3;  // UTF-8 byte order mark
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  if (start < text.size() && text[start] == '{') {
    if (size_t deep = FindTooDeep(text, start); deep != std::string_view::npos) {
      return JsonError(text, deep, "nested deeper than " + std::to_string(schema::kMaxNesting) + " levels");
    }
    try {
      *out = json::parse(text.begin() + static_cast<std::ptrdiff_t>(start), text.end());
      return Status::Ok();
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      // nlohmann: "[json.exception.parse_error.101] parse error at line L, column C: <reason>"
      size_t reason = what.find(": ", what.find("parse error"));
      what = (reason == std::string::npos) ? what : what.substr(reason + 2);
      // The byte where parsing stopped.
      return JsonError(text, start + (e.byte ? e.byte - 1 : 0), what);
    }
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    size_t budget = 0;
    std::vector<YAML::Node> path;
    if (!root.IsMap()) return YamlToJson(root, out, &budget, &path);
    path.push_back(root);
    // Only the keys svc reads are converted; the others (services, routes, ...)
    // are checked by name only.
    json obj = json::object();
    for (const auto& kv : root) {
      if (!kv.first.IsScalar()) return Error(Code::config, "declarative config keys must be scalars");
      const std::string& key = kv.first.Scalar();
      json v;
      if (key == "_format_version" || key == "upstreams" || key == "targets") {
        SVC_TRY(YamlToJson(kv.second, &v, &budget, &path));
      }
      obj[key] = std::move(v);
    }
    *out = std::move(obj);
    return Status::Ok();
  } catch (const YAML::Exception& e) {
    return Error(Code::config, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

// Kong's declarative uniqueness message (kong/db/schema/others/declarative_config.lua).
std::string Uniqueness(const std::string& entity, const std::string& key, const std::string& value) {
  return "uniqueness violation: '" + entity + "' entity with " + key + " set to '" + value +
         "' already declared";
}

// Adds one target to `owner`, rejecting a duplicate (normalised) target or id.
Status AddTarget(const json& item, const std::string& where, UpstreamWithTargets* owner,
                 std::set<std::string>* target_ids) {
  if (!item.is_object()) return Error(Code::config, where + ": expected a record");
  TargetConfig t;
  Status st = ParseTarget(item, &t);
  if (!st.ok()) return Error(Code::config, where + ": " + st.message());
  for (const auto& other : owner->targets) {
    if (other.address.target == t.address.target) {
      return Error(Code::config, where + ": target: " + Uniqueness("targets", "target", t.address.target));
    }
  }
  if (!target_ids->insert(t.id).second) {
    return Error(Code::config, where + ": id: " + Uniqueness("targets", "primary key", t.id));
  }
  owner->targets.push_back(std::move(t));
  return Status::Ok();
}

std::string UpstreamLabel(const json& item, size_t i) {
  std::string label = "upstreams[" + std::to_string(i) + "]";
  if (item.is_object()) {
    auto name = item.find("name");
    if (name != item.end() && name->is_string()) label += " (name '" + name->get<std::string>() + "')";
  }
  return label;
}

Status ParseDeclarativeUnchecked(std::string_view text, std::vector<UpstreamWithTargets>* out,
                                 std::vector<CertificateConfig>* certificates);

// The `certificates:` list: records with PEM `cert` and `key` (Kong's other
// certificate fields are accepted and not used).
Status ParseCertificates(const json& list, std::vector<CertificateConfig>* out) {
  if (list.is_null()) return Status::Ok();
  if (!list.is_array()) return Error(Code::config, "certificates: expected an array");
  static const std::set<std::string> kKnown = {"id", "cert", "key", "cert_alt", "key_alt",
                                               "tags", "snis", "created_at", "updated_at"};
  std::set<std::string> ids;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "certificates[" + std::to_string(i) + "]";
    const json& item = list[i];
    if (!item.is_object()) return Error(Code::config, where + ": expected a record");
    for (auto it = item.begin(); it != item.end(); ++it)
      if (!kKnown.count(it.key())) return Error(Code::config, where + ": " + it.key() + ": unknown field");
    CertificateConfig c;
    for (const char* field : {"cert", "key"}) {
      auto it = item.find(field);
      if (it == item.end() || it->is_null()) return Error(Code::config, where + ": " + field + ": required field missing");
      if (!it->is_string()) return Error(Code::config, where + ": " + field + ": expected a string");
    }
    c.cert = item["cert"].get<std::string>();
    c.key = item["key"].get<std::string>();
    if (auto it = item.find("id"); it != item.end() && !it->is_null()) {
      if (!it->is_string() || !schema::IsUuid(it->get<std::string>()))
        return Error(Code::config, where + ": id: expected a valid UUID");
      c.id = it->get<std::string>();
    } else {
      c.id = NewUuid();
    }
    if (!ids.insert(c.id).second)
      return Error(Code::config, where + ": id: " + Uniqueness("certificates", "primary key", c.id));
    out->push_back(std::move(c));
  }
  return Status::Ok();
}

}  // namespace

Status ParseDeclarative(std::string_view text, std::vector<UpstreamWithTargets>* out) {
  return ParseDeclarative(text, out, nullptr);
}

Status ParseDeclarative(std::string_view text, std::vector<UpstreamWithTargets>* out,
                        std::vector<CertificateConfig>* certificates) {
  // Bad input must come back as an error, never as an exception.
  try {
    return ParseDeclarativeUnchecked(text, out, certificates);
  } catch (const std::bad_alloc&) {
    return Error(Code::no_memory, "out of memory while loading the declarative config");
  } catch (const std::exception& e) {
    return Error(Code::config, std::string("invalid declarative config: ") + e.what());
  }
}

namespace {

Status ParseDeclarativeUnchecked(std::string_view text, std::vector<UpstreamWithTargets>* out,
                                 std::vector<CertificateConfig>* certificates) {
  json doc;
  SVC_TRY(ParseText(text, &doc));
  if (doc.is_null()) return Error(Code::config, "declarative config is empty");
  if (!doc.is_object()) {
    return Error(Code::config, "declarative config must be a map of entity lists, got " +
                                   std::string(doc.is_array() ? "a list" : "a scalar"));
  }

  auto version = doc.find("_format_version");
  if (version == doc.end() || version->is_null()) {
    return Error(Code::config, "_format_version: required field missing");
  }
  if (!version->is_string()) return Error(Code::config, "_format_version: expected a string");
  if (std::find(kFormatVersions.begin(), kFormatVersions.end(), version->get<std::string>()) ==
      kFormatVersions.end()) {
    return Error(Code::config, "_format_version: " + schema::OneOf(kFormatVersions));
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    if (key != "_format_version" && key != "upstreams" && key != "targets" && key != "certificates" &&
        !kIgnoredKeys.count(key)) {
      return Error(Code::config, key + ": unknown field");
    }
  }

  std::vector<CertificateConfig> certs;
  SVC_TRY(ParseCertificates(doc.value("certificates", json(nullptr)), &certs));

  std::vector<UpstreamWithTargets> result;
  std::map<std::string, size_t> by_name, by_id;
  std::set<std::string> all_target_ids;

  const json upstreams = doc.value("upstreams", json(nullptr));
  if (!upstreams.is_null() && !upstreams.is_array()) return Error(Code::config, "upstreams: expected an array");
  for (size_t i = 0; upstreams.is_array() && i < upstreams.size(); ++i) {
    const json& item = upstreams[i];
    const std::string label = UpstreamLabel(item, i);
    if (!item.is_object()) return Error(Code::config, label + ": expected a record");
    json entity = item;
    json targets = entity.value("targets", json(nullptr));
    entity.erase("targets");

    UpstreamWithTargets uw;
    Status st = ParseUpstream(entity, &uw.upstream);
    if (!st.ok()) return Error(Code::config, label + ": " + st.message());
    if (by_name.count(uw.upstream.name)) {
      return Error(Code::config, label + ": name: " + Uniqueness("upstreams", "name", uw.upstream.name));
    }
    if (by_id.count(uw.upstream.id)) {
      return Error(Code::config, label + ": id: " + Uniqueness("upstreams", "primary key", uw.upstream.id));
    }
    if (const auto& ref = uw.upstream.client_certificate;
        ref && std::none_of(certs.begin(), certs.end(), [&](const CertificateConfig& c) { return c.id == *ref; })) {
      return Error(Code::config, label + ": client_certificate: invalid reference 'client_certificate: " + *ref +
                                     "' (no such entry in 'certificates')");
    }
    if (!targets.is_null() && !targets.is_array()) {
      return Error(Code::config, label + ": targets: expected an array");
    }
    for (size_t j = 0; targets.is_array() && j < targets.size(); ++j) {
      SVC_TRY(AddTarget(targets[j], label + ": targets[" + std::to_string(j) + "]", &uw, &all_target_ids));
    }
    by_name[uw.upstream.name] = result.size();
    by_id[uw.upstream.id] = result.size();
    result.push_back(std::move(uw));
  }

  // Kong also allows a flat `targets:` list whose entries name their upstream.
  const json flat = doc.value("targets", json(nullptr));
  if (!flat.is_null() && !flat.is_array()) return Error(Code::config, "targets: expected an array");
  for (size_t j = 0; flat.is_array() && j < flat.size(); ++j) {
    const std::string where = "targets[" + std::to_string(j) + "]";
    const json& item = flat[j];
    if (!item.is_object()) return Error(Code::config, where + ": expected a record");
    auto ref = item.find("upstream");
    std::string key;
    if (ref != item.end() && ref->is_string()) {
      key = ref->get<std::string>();
    } else if (ref != item.end() && ref->is_object()) {
      if (ref->contains("id") && (*ref)["id"].is_string()) key = (*ref)["id"].get<std::string>();
      if (ref->contains("name") && (*ref)["name"].is_string()) key = (*ref)["name"].get<std::string>();
    }
    if (ref == item.end() || ref->is_null()) {
      return Error(Code::config, where + ": upstream: required field missing");
    }
    if (key.empty()) return Error(Code::config, where + ": upstream: expected a record");
    std::optional<size_t> owner;
    if (auto n = by_name.find(key); n != by_name.end()) owner = n->second;
    if (auto d = by_id.find(key); !owner && d != by_id.end()) owner = d->second;
    if (!owner) {
      return Error(Code::config, where + ": upstream: invalid reference 'upstream: " + key +
                                     "' (no such entry in 'upstreams')");
    }
    SVC_TRY(AddTarget(item, where, &result[*owner], &all_target_ids));
  }

  *out = std::move(result);
  if (certificates) *certificates = std::move(certs);
  return Status::Ok();
}

}  // namespace

}  // namespace svc::config
