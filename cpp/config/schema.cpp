// Kong's generic schema validators (kong/db/schema/init.lua) over nlohmann::json.
#include "config/schema.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace svc::config::schema {

void Errors::Field(const std::string& path, const std::string& message) {
  if (!Has(path)) fields_.emplace_back(path, message);
}

void Errors::Entity(const std::string& message) {
  if (std::find(entity_.begin(), entity_.end(), message) == entity_.end()) {
    entity_.push_back(message);
  }
}

bool Errors::Has(const std::string& path) const {
  for (const auto& f : fields_) {
    if (f.first == path) return true;
  }
  return false;
}

bool Errors::HasUnder(const std::string& prefix) const {
  for (const auto& f : fields_) {
    if (f.first == prefix) return true;
    if (f.first.size() > prefix.size() && f.first.compare(0, prefix.size(), prefix) == 0 &&
        f.first[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

size_t Errors::Rank(const std::string& path) const {
  std::string head = path.substr(0, path.find('.'));
  for (size_t i = 0; i < order_.size(); ++i) {
    if (order_[i] == head) return i;
  }
  return order_.size();
}

std::string Errors::Join() const {
  std::vector<std::pair<std::string, std::string>> sorted = fields_;
  std::stable_sort(sorted.begin(), sorted.end(), [this](const auto& a, const auto& b) {
    return Rank(a.first) < Rank(b.first);
  });
  std::string out;
  auto append = [&out](const std::string& s) {
    if (!out.empty()) out += "; ";
    out += s;
  };
  for (const auto& e : entity_) append(e);
  for (const auto& f : sorted) append(f.first + ": " + f.second);
  return out;
}

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string Between(int64_t min, int64_t max) {
  return "value should be between " + std::to_string(min) + " and " + std::to_string(max);
}

std::string OneOf(const std::vector<std::string>& values) {
  std::string out = "expected one of: ";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += values[i];
  }
  return out;
}

bool ReadString(const json& v, const std::string& path, Errors* errs, std::string* out) {
  if (!v.is_string()) {
    errs->Field(path, "expected a string");
    return false;
  }
  const auto& s = v.get_ref<const std::string&>();
  // Kong: every string field has len_min = 1 unless the schema says otherwise.
  if (s.empty()) {
    errs->Field(path, "length must be at least 1");
    return false;
  }
  *out = s;
  return true;
}

bool ReadInteger(const json& v, const std::string& path, Errors* errs, int64_t min, int64_t max,
                 int64_t* out) {
  double d = 0;
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    int64_t i = v.get<int64_t>();
    if (i < min || i > max) {
      errs->Field(path, Between(min, max));
      return false;
    }
    *out = i;
    return true;
  }
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max) || static_cast<int64_t>(u) < min) {
      errs->Field(path, Between(min, max));
      return false;
    }
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (!v.is_number_float()) {
    errs->Field(path, "expected an integer");
    return false;
  }
  // Kong (Lua) sees 3.0 as an integer: math.floor(v) == v.
  d = v.get<double>();
  if (!std::isfinite(d) || std::floor(d) != d) {
    errs->Field(path, std::isinf(d) ? Between(min, max) : "expected an integer");
    return false;
  }
  // Compare in double, and keep the cast below inside int64's range.
  if (d < static_cast<double>(min) || d > static_cast<double>(max) || d >= 9223372036854775808.0 ||
      d < -9223372036854775808.0) {
    errs->Field(path, Between(min, max));
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ReadNumber(const json& v, const std::string& path, Errors* errs, double min, double max,
                double* out) {
  if (!v.is_number()) {
    errs->Field(path, "expected a number");
    return false;
  }
  double d = v.get<double>();
  if (!(d >= min && d <= max)) {  // NaN fails too
    errs->Field(path, Between(static_cast<int64_t>(min), static_cast<int64_t>(max)));
    return false;
  }
  *out = d;
  return true;
}

bool ReadBoolean(const json& v, const std::string& path, Errors* errs, bool* out) {
  if (!v.is_boolean()) {
    errs->Field(path, "expected a boolean");
    return false;
  }
  *out = v.get<bool>();
  return true;
}

namespace {

// Kong typedefs.tag: printable ASCII except ',' and '/', space, or UTF-8 bytes.
bool TagChar(unsigned char c) {
  if (c == ' ') return true;
  if (c >= 33 && c <= 43) return true;
  if (c == 45 || c == 46) return true;
  if (c >= 48 && c <= 126) return true;
  return c >= 128 && c <= 244;
}

// Position (1-based) of the first invalid UTF-8 byte, 0 when valid.
// Mirrors Kong's utils.validate_utf8, including its lax second-byte range.
size_t Utf8ErrorPosition(std::string_view s) {
  auto in = [](unsigned char c, int lo, int hi) { return c >= lo && c <= hi; };
  size_t i = 0;
  const size_t n = s.size();
  auto at = [&](size_t k) -> unsigned char { return k < n ? static_cast<unsigned char>(s[k]) : 0; };
  while (i < n) {
    unsigned char c = at(i);
    if (c <= 127) {
      i += 1;
    } else if (in(c, 194, 223) && i + 1 < n && in(at(i + 1), 123, 191)) {
      i += 2;
    } else if (i + 2 < n &&
               ((c == 224 && in(at(i + 1), 160, 191) && in(at(i + 2), 128, 191)) ||
                (in(c, 225, 236) && in(at(i + 1), 128, 191) && in(at(i + 2), 128, 191)) ||
                (c == 237 && in(at(i + 1), 128, 159) && in(at(i + 2), 128, 191)) ||
                (in(c, 238, 239) && in(at(i + 1), 128, 191) && in(at(i + 2), 128, 191)))) {
      i += 3;
    } else if (i + 3 < n &&
               ((c == 240 && in(at(i + 1), 144, 191) && in(at(i + 2), 128, 191) &&
                 in(at(i + 3), 128, 191)) ||
                (in(c, 241, 243) && in(at(i + 1), 128, 191) && in(at(i + 2), 128, 191) &&
                 in(at(i + 3), 128, 191)) ||
                (c == 244 && in(at(i + 1), 128, 143) && in(at(i + 2), 128, 191) &&
                 in(at(i + 3), 128, 191)))) {
      i += 4;
    } else {
      return i + 1;
    }
  }
  return 0;
}

}  // namespace

bool ValidUtf8(std::string_view s) { return Utf8ErrorPosition(s) == 0; }

bool ReadTags(const json& v, const std::string& path, Errors* errs, std::vector<std::string>* out) {
  if (!v.is_array()) {
    errs->Field(path, "expected a set");
    return false;
  }
  std::vector<std::string> tags;
  for (const auto& e : v) {
    std::string tag;
    if (!ReadString(e, path, errs, &tag)) return false;
    if (size_t pos = Utf8ErrorPosition(tag)) {
      errs->Field(path, "invalid utf-8 character sequence detected at position " + std::to_string(pos));
      return false;
    }
    for (unsigned char c : tag) {
      if (!TagChar(c)) {
        errs->Field(path, "invalid tag '" + tag +
                              "': expected printable ascii (except `,` and `/`) or valid utf-8 sequences");
        return false;
      }
    }
    // Kong: a set keeps one copy of each element.
    if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
  }
  *out = std::move(tags);
  return true;
}

bool IsUuid(std::string_view s) {
  // Kong: ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$, case-insensitive.
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool ReadUuid(const json& v, const std::string& path, Errors* errs, std::string* out) {
  std::string s;
  if (!ReadString(v, path, errs, &s)) return false;
  if (!IsUuid(s)) {
    errs->Field(path, "expected a valid UUID");
    return false;
  }
  *out = s;
  return true;
}

size_t Nesting(const json& v, size_t limit) {
  size_t deepest = 0;
  std::vector<std::pair<const json*, size_t>> todo{{&v, 1}};
  while (!todo.empty()) {
    auto [node, level] = todo.back();
    todo.pop_back();
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, level);
    if (deepest > limit) return deepest;
    for (const json& child : *node) todo.emplace_back(&child, level + 1);
  }
  return deepest;
}

json NumberJson(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) {
    return json(static_cast<int64_t>(d));
  }
  return json(d);
}

}  // namespace svc::config::schema
