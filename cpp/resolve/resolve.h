// resolve: name resolution for targets. Until the c-ares resolver lands this
// is the system resolver, called off the pick path for upstream targets.
#pragma once

#include <string>
#include <vector>

namespace svc::resolve {

// IPv4 addresses of `name` (a trailing dot is ignored), sorted; empty when
// the name does not resolve. Kong's default record order has no AAAA.
std::vector<std::string> ResolveIpv4(const std::string& name);

// True when `text` is an IPv4 or IPv6 literal (IPv6 optionally bracketed);
// `compact` receives the canonical text ("::1").
bool IsIpLiteral(const std::string& text, std::string* compact);

}  // namespace svc::resolve
