#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <set>

#include "resolve/resolve.h"

namespace svc::resolve {

std::vector<std::string> ResolveIpv4(const std::string& name) {
  std::string host = name;
  if (!host.empty() && host.back() == '.') host.pop_back();
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::set<std::string> out;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
    for (addrinfo* p = res; p; p = p->ai_next) {
      char buf[INET_ADDRSTRLEN];
      auto* sin = reinterpret_cast<sockaddr_in*>(p->ai_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) out.insert(buf);
    }
    freeaddrinfo(res);
  }
  return {out.begin(), out.end()};
}

bool IsIpLiteral(const std::string& text, std::string* compact) {
  in_addr a4{};
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    *compact = text;
    return true;
  }
  std::string inner = text;
  if (inner.size() > 2 && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
  in6_addr a6{};
  char buf[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET6, inner.c_str(), &a6) == 1 && inet_ntop(AF_INET6, &a6, buf, sizeof buf)) {
    *compact = buf;
    return true;
  }
  return false;
}

}  // namespace svc::resolve
