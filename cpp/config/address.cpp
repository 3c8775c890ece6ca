// Kong's host and address rules: utils.normalize_ip / hostname_type /
// check_hostname, and the typedefs built on them (header and cookie names,
// paths, SNI, host with optional port).
#include <cctype>

#include "config/schema.h"

namespace svc::config::schema {

namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Lua's tonumber() on a run of digits, for port checks: > 65535 is an error.
std::optional<int> PortNumber(std::string_view digits) {
  size_t i = 0;
  while (i + 1 < digits.size() && digits[i] == '0') ++i;  // leading zeros
  digits.remove_prefix(i);
  if (digits.size() > 5) return std::nullopt;
  int port = std::stoi(std::string(digits));
  if (port > 65535) return std::nullopt;
  return port;
}

// Kong's hostname_type: more than one ':' means ipv6; only digits and dots
// (once colons are removed) means ipv4; anything else is a name.
TargetAddress::Kind HostnameType(std::string_view name) {
  std::string rest;
  int colons = 0;
  for (char c : name) {
    if (c == ':') {
      ++colons;
    } else {
      rest += c;
    }
  }
  if (colons > 1) return TargetAddress::Kind::ipv6;
  if (!rest.empty()) {
    bool digits_dots = true;
    for (char c : rest) {
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') digits_dots = false;
    }
    if (digits_dots) return TargetAddress::Kind::ipv4;
  }
  return TargetAddress::Kind::name;
}

std::optional<std::string> NormalizeIpv4(std::string_view address, HostPort* out) {
  const std::string err = "invalid ipv4 address: " + std::string(address);
  std::string_view ip = address;
  std::optional<std::string_view> port_text;
  if (auto colon = address.find(':'); colon != std::string_view::npos) {
    ip = address.substr(0, colon);
    port_text = address.substr(colon + 1);
    if (!AllDigits(*port_text)) return err;
  }
  // Four dot-separated groups of one to three digits, each 0..255.
  int octets[4];
  size_t pos = 0;
  for (int k = 0; k < 4; ++k) {
    size_t end = (k < 3) ? ip.find('.', pos) : ip.size();
    if (end == std::string_view::npos) return err;
    std::string_view part = ip.substr(pos, end - pos);
    if (part.empty() || part.size() > 3 || !AllDigits(part)) return err;
    octets[k] = std::stoi(std::string(part));
    if (octets[k] > 255) return err;
    pos = end + 1;
  }
  if (port_text) {
    auto port = PortNumber(*port_text);
    if (!port) return std::string("invalid port number");
    out->port = *port;
  }
  out->kind = TargetAddress::Kind::ipv4;
  out->host = std::to_string(octets[0]) + "." + std::to_string(octets[1]) + "." +
              std::to_string(octets[2]) + "." + std::to_string(octets[3]);
  return std::nullopt;
}

std::optional<std::string> NormalizeIpv6(std::string_view address, HostPort* out) {
  std::string check;
  if (!address.empty() && address[0] == '[') {
    // Lua %b[]: the bracket matching the first one, counting nesting.
    int depth = 0;
    size_t close = std::string_view::npos;
    for (size_t i = 0; i < address.size(); ++i) {
      if (address[i] == '[') ++depth;
      if (address[i] == ']' && --depth == 0) {
        close = i;
        break;
      }
    }
    if (close == std::string_view::npos) {
      check = std::string(address);  // unbalanced: checked (and rejected) below
    } else {
      check = std::string(address.substr(1, close - 1));
      std::string_view rest = address.substr(close + 1);
      if (!rest.empty()) {
        // Kong: port must be ":" followed by digits.
        if (rest[0] != ':' || !AllDigits(rest.substr(1))) return std::string("invalid ipv6 address");
        auto port = PortNumber(rest.substr(1));
        if (!port) return std::string("invalid port number");
        out->port = *port;
      }
    }
  } else {
    check = std::string(address);
  }
  if (!check.empty() && check.front() == ':') check = "0" + check;
  if (!check.empty() && check.back() == ':') check += "0";
  if (auto dc = check.find("::"); dc != std::string::npos) {
    int count = 0;
    for (char c : check) count += (c == ':');
    std::string ins = ":";
    for (int i = 0; i < 8 - count; ++i) ins += "0:";
    check.replace(dc, 2, ins);
  }
  const std::string err = "invalid ipv6 address: " + std::string(address);
  std::string expanded;
  size_t pos = 0;
  for (int k = 0; k < 8; ++k) {
    size_t end = (k < 7) ? check.find(':', pos) : check.size();
    if (end == std::string::npos) return err;
    std::string group = check.substr(pos, end - pos);
    if (group.empty() || group.size() > 4) return err;
    for (char& c : group) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return err;
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (k) expanded += ':';
    expanded += std::string(4 - group.size(), '0') + group;
    pos = end + 1;
  }
  out->kind = TargetAddress::Kind::ipv6;
  out->host = expanded;
  return std::nullopt;
}

// Penlight's stringx.split(s, "."), which Kong's check_hostname relies on:
// empty pieces are kept except a trailing one, which is added back when the
// string ends with the separator.
std::vector<std::string> SplitDots(std::string_view s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      std::string last(s.substr(start));
      if (!last.empty()) parts.push_back(last);
      if (parts.size() == 1 && parts[0].empty()) parts.clear();
      break;
    }
    parts.emplace_back(s.substr(start, dot - start));
    start = dot + 1;
  }
  if (!s.empty() && s.back() == '.') parts.emplace_back();
  return parts;
}

std::optional<std::string> CheckHostname(std::string_view address, HostPort* out) {
  std::string_view name = address;
  // Kong: a trailing ":<digits>" is the port.
  size_t colon = address.rfind(':');
  if (colon != std::string_view::npos && AllDigits(address.substr(colon + 1))) {
    auto port = PortNumber(address.substr(colon + 1));
    if (!port) return std::string("invalid port number");
    out->port = *port;
    name = address.substr(0, colon);
  }
  const std::string err = "invalid hostname: " + std::string(address);
  if (name.empty()) return err;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return err;
  }
  // No segment may end in '-'; empty segments only at the end (FQDN dot).
  auto segments = SplitDots(name);
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& seg = segments[i];
    if ((!seg.empty() && seg.back() == '-') || (seg.empty() && i + 1 != segments.size())) return err;
  }
  out->kind = TargetAddress::Kind::name;
  out->host = std::string(name);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> NormalizeIp(std::string_view address, HostPort* out) {
  *out = HostPort{};
  switch (HostnameType(address)) {
    case TargetAddress::Kind::ipv4: return NormalizeIpv4(address, out);
    case TargetAddress::Kind::ipv6: return NormalizeIpv6(address, out);
    case TargetAddress::Kind::name: break;
  }
  return CheckHostname(address, out);
}

std::optional<std::string> CheckHeaderName(const std::string& name) {
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return "bad header name '" + name + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckCookieName(const std::string& name) {
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return "bad cookie name '" + name + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckPath(const std::string& path) {
  // Kong validator order: match_none ("//"), starts_with, then the custom check.
  if (path.find("//") != std::string::npos) return std::string("must not have empty segments");
  if (path.empty() || path[0] != '/') return std::string("should start with: /");
  static const std::string allowed = ".-_~/%:@!$&'()*+,;=";
  for (char c : path) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && allowed.find(c) == std::string::npos) {
      return "invalid path: '" + path + "' (characters outside of the reserved list of RFC 3986 found)";
    }
  }
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    if (i + 2 < path.size() && std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      i += 2;
      continue;
    }
    return "invalid url-encoded value: '" + path.substr(i, 3) + "'";
  }
  return std::nullopt;
}

std::optional<std::string> CheckSni(const std::string& host) {
  HostPort hp;
  auto err = NormalizeIp(host, &hp);
  if (err && *err != "invalid port number") return "invalid value: " + host;
  if (!err && hp.kind != TargetAddress::Kind::name) return std::string("must not be an IP");
  if (err || hp.port) return std::string("must not have a port");
  return std::nullopt;
}

std::optional<std::string> CheckHostWithOptionalPort(const std::string& host) {
  HostPort hp;
  return NormalizeIp(host, &hp);
}

}  // namespace svc::config::schema
