#include "resolve/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "resolve/resolve.h"

namespace svc::resolve {

namespace {

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeAaaa = 28;
constexpr int kTypeSrv = 33;
constexpr int kLast = 0;  // the LAST entry of dns_order, before it is looked up
// Kong gives IP literals a synthetic record with a ten-year TTL.
constexpr double kLiteralTtl = 10.0 * 365 * 24 * 3600;
// Queries on the wire at once. More replies than this arriving together
// overflow a default UDP receive buffer (212992 bytes) when the reader is slow,
// and each dropped reply costs a whole timeout.
constexpr int kMaxInFlight = 64;

const char* TypeName(int type) {
  switch (type) {
    case kTypeA: return "A";
    case kTypeAaaa: return "AAAA";
    case kTypeSrv: return "SRV";
  }
  return "?";
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

template <typename T>
std::string Text(T v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// How a failed query counts, with Kong's wording for DNS rcodes.
struct Failure {
  Answer::Kind kind = Answer::Kind::not_found;
  std::string reason;
  // Kong: a network error ends the lookup, an error rcode falls through to
  // the next type; an A answer must not stand in for an SRV query that could
  // not be asked.
  bool stop = false;
};

// `one_server`: c-ares 1.18 reports a query that used up every server
// without a timeout as ARES_ECONNREFUSED, whether a connection was refused or
// a server answered SERVFAIL, REFUSED or NOTIMP; only with a single server
// (asked with ARES_FLAG_NOCHECKRESP, see Create) does it mean a refused
// connection.
Failure Classify(int status, bool one_server) {
  using K = Answer::Kind;
  switch (status) {
    case ARES_ENOTFOUND: return {K::not_found, "dns server error: 3 name error"};
    case ARES_ENODATA: return {K::not_found, "dns client error: 101 empty record received"};
    case ARES_EBADNAME: return {K::not_found, "dns client error: not a valid DNS name"};
    case ARES_EFORMERR: return {K::error, "dns server error: 1 format error"};
    case ARES_ESERVFAIL: return {K::error, "dns server error: 2 server failure"};
    case ARES_ENOTIMP: return {K::error, "dns server error: 4 not implemented"};
    case ARES_EREFUSED: return {K::error, "dns server error: 5 refused"};
    case ARES_ETIMEOUT: return {K::error, "dns server unreachable: timeout", true};
    case ARES_ECONNREFUSED:
      return {K::error,
              one_server ? "dns server unreachable: connection refused"
                         : "dns server unreachable: no server answered usefully (connection refused, "
                           "server failure, refused or not implemented)",
              true};
  }
  return {K::error, std::string("dns client error: ") + ares_strerror(status), true};
}

// Parses "ip", "ip:port", "ipv6" or "[ipv6]:port" into `node`.
bool ParseServer(const std::string& text, ares_addr_port_node* node) {
  std::string host = text;
  std::string port;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    const std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    bracketed = true;
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return false;
  }
  int number = 53;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
    number = std::stoi(port);
    if (number < 1 || number > 65535) return false;
  }
  *node = ares_addr_port_node{};
  if (!bracketed && inet_pton(AF_INET, host.c_str(), &node->addr.addr4) == 1) {
    node->family = AF_INET;
  } else if (host.find(':') != std::string::npos &&
             inet_pton(AF_INET6, host.c_str(), &node->addr.addr6) == 1) {
    node->family = AF_INET6;
  } else {
    return false;
  }
  node->udp_port = number;
  node->tcp_port = number;
  return true;
}

// Steps over the (possibly compressed) name at `*pos` of the message `m`.
bool SkipName(const unsigned char* m, int len, int* pos) {
  int p = *pos;
  while (p < len) {
    const unsigned label = m[p];
    if ((label & 0xC0) == 0xC0) {
      if (p + 2 > len) return false;
      *pos = p + 2;
      return true;
    }
    if (label & 0xC0) return false;  // reserved label types
    if (label == 0) {
      *pos = p + 1;
      return true;
    }
    p += 1 + static_cast<int>(label);
  }
  return false;
}

// The smallest TTL in the answer section of the DNS message `m` (CNAMEs of
// the chain included). c-ares 1.18 has no TTL for SRV records, so the
// message is read here. False when the message is malformed or has no answer.
bool MinAnswerTtl(const unsigned char* m, int len, double* ttl) {
  if (len < 12) return false;
  const int questions = m[4] << 8 | m[5];
  const int answers = m[6] << 8 | m[7];
  int p = 12;
  for (int i = 0; i < questions; ++i) {
    if (!SkipName(m, len, &p) || p + 4 > len) return false;
    p += 4;
  }
  bool any = false;
  uint32_t min = UINT32_MAX;
  for (int i = 0; i < answers; ++i) {
    if (!SkipName(m, len, &p) || p + 10 > len) return false;
    const int klass = m[p + 2] << 8 | m[p + 3];
    uint32_t t = uint32_t{m[p + 4]} << 24 | uint32_t{m[p + 5]} << 16 | uint32_t{m[p + 6]} << 8 | m[p + 7];
    if (t > 0x7FFFFFFFu) t = 0;  // RFC 2181 §8: a TTL with the top bit set counts as 0
    const int rdlength = m[p + 8] << 8 | m[p + 9];
    p += 10 + rdlength;
    if (p > len) return false;
    if (klass == kClassIn) {
      min = std::min(min, t);
      any = true;
    }
  }
  if (any) *ttl = min;
  return any;
}

struct Address {
  std::string ip;
  double ttl = 0;
};

// The addresses of an A or AAAA reply, each with its TTL (capped by the
// CNAMEs it came through). ARES_ENODATA when there is none.
int ParseAddresses(int type, const unsigned char* abuf, int alen, std::vector<Address>* out) {
  // Each address record takes at least 16 bytes of the message.
  int count = alen / 16 + 1;
  char text[INET6_ADDRSTRLEN];
  if (type == kTypeA) {
    std::vector<ares_addrttl> ttls(static_cast<size_t>(count));
    const int status = ares_parse_a_reply(abuf, alen, nullptr, ttls.data(), &count);
    if (status != ARES_SUCCESS) return status;
    for (int i = 0; i < count; ++i)
      if (inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof text))
        out->push_back({text, double(std::max(0, ttls[i].ttl))});
  } else {
    std::vector<ares_addr6ttl> ttls(static_cast<size_t>(count));
    const int status = ares_parse_aaaa_reply(abuf, alen, nullptr, ttls.data(), &count);
    if (status != ARES_SUCCESS) return status;
    for (int i = 0; i < count; ++i)
      if (inet_ntop(AF_INET6, &ttls[i].ip6addr, text, sizeof text))
        out->push_back({text, double(std::max(0, ttls[i].ttl))});
  }
  if (out->empty()) return ARES_ENODATA;
  double cap = 0;
  if (MinAnswerTtl(abuf, alen, &cap))
    for (Address& a : *out) a.ttl = std::min(a.ttl, cap);
  return ARES_SUCCESS;
}

struct Srv {
  std::string target;
  int priority = 0;
  int weight = 0;
  int port = 0;
};

// The records of an SRV reply and their smallest TTL. ARES_ENODATA when
// there is none.
int ParseSrv(const unsigned char* abuf, int alen, std::vector<Srv>* out, double* ttl) {
  ares_srv_reply* head = nullptr;
  const int status = ares_parse_srv_reply(abuf, alen, &head);
  if (status != ARES_SUCCESS) return status;
  for (ares_srv_reply* r = head; r; r = r->next)
    out->push_back({r->host ? r->host : "", r->priority, r->weight, r->port});
  ares_free_data(head);
  if (out->empty()) return ARES_ENODATA;
  if (!MinAnswerTtl(abuf, alen, ttl)) return ARES_EBADRESP;
  return ARES_SUCCESS;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

struct DnsResolver::Impl {
  ares_channel channel = nullptr;
  std::vector<int> order;  // kLast or a query type, in dns_order with CNAME as A
  bool aaaa = false;       // AAAA is listed: SRV targets are asked for it too
  int servers = 0;         // how many servers the channel asks

  std::mutex mu;  // one ResolveAll at a time: a c-ares channel is single-threaded
  // Lower-case name -> type that last answered. It grows with every name
  // that ever answered; upstream targets are a bounded set.
  std::unordered_map<std::string, int> last;
  std::map<int, short> sockets;               // what c-ares wants polled (sock_state_cb)

  ~Impl() {
    if (channel) ares_destroy(channel);
  }

  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Impl*>(data);
    if (!readable && !writable) {
      self->sockets.erase(fd);
      return;
    }
    self->sockets[fd] = static_cast<short>((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
  }

  struct Batch;

  // One name of a batch, from its first query to its Answer.
  struct Lookup {
    std::string name;        // as asked, trailing dot removed
    std::vector<int> types;  // query types to try, in order, no repeats
    size_t next = 0;
    std::vector<std::string> tried;
    std::string server_error;  // an error rcode an earlier type got: the answer if nothing else does
    Answer answer;
    // The SRV round: top-priority records and what their targets resolved to.
    std::vector<Srv> srv;
    double srv_ttl = 0;
    struct Target {
      std::vector<Address> addresses;
      Failure failure;  // the last failed lookup of this target
      std::vector<std::string> tried;
    };
    std::map<std::string, Target> targets;
    int targets_pending = 0;
  };

  // What a c-ares callback needs to find its way back.
  struct Query {
    Batch* batch;
    Lookup* lookup;
    int type;
    std::string target;  // empty: the name's own query; else the SRV target asked for
  };

  struct Batch {
    Impl* impl;
    std::deque<Lookup> lookups;
    std::deque<Query> waiting;  // asked for, not yet sent (kMaxInFlight)
    std::deque<Query> sent;     // stable addresses for the c-ares callbacks
    int in_flight = 0;
  };

  void Ask(Batch& b, Lookup& l, int type, const std::string& target) {
    b.waiting.push_back(Query{&b, &l, type, target});
  }

  // Sends waiting queries while fewer than kMaxInFlight are on the wire.
  void Send(Batch& b) {
    while (b.in_flight < kMaxInFlight && !b.waiting.empty()) {
      b.sent.push_back(std::move(b.waiting.front()));
      b.waiting.pop_front();
      Query& q = b.sent.back();
      ++b.in_flight;
      const std::string& qname = q.target.empty() ? q.lookup->name : q.target;
      // The callback may run inside ares_query (a bad name) and ask for more.
      ares_query(channel, qname.c_str(), kClassIn, q.type, &Impl::OnReply, &q);
    }
  }

  static void OnReply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* q = static_cast<Query*>(arg);
    --q->batch->in_flight;
    if (status == ARES_EDESTRUCTION) return;  // the channel is going away with the batch
    if (q->target.empty()) {
      q->batch->impl->OnNameReply(*q->batch, *q->lookup, q->type, status, abuf, alen);
    } else {
      q->batch->impl->OnTargetReply(*q->lookup, q->target, q->type, status, abuf, alen);
    }
  }

  void Finish(Lookup& l, Answer::Kind kind, const std::string& reason) {
    l.answer.kind = kind;
    l.answer.message = reason + " for '" + l.name + "' (tried " + Join(l.tried) + ")";
  }

  void TryNext(Batch& b, Lookup& l, const std::string& reason) {
    if (l.next < l.types.size()) {
      Ask(b, l, l.types[l.next++], "");
      return;
    }
    if (!l.server_error.empty()) {
      Finish(l, Answer::Kind::error, l.server_error);
      return;
    }
    Finish(l, Answer::Kind::not_found, reason);
  }

  void OnNameReply(Batch& b, Lookup& l, int type, int status, const unsigned char* abuf, int alen) {
    l.tried.push_back(TypeName(type));
    if (status == ARES_SUCCESS) {
      if (type == kTypeSrv) {
        status = ParseSrv(abuf, alen, &l.srv, &l.srv_ttl);
        if (status == ARES_SUCCESS) {
          AskSrvTargets(b, l);
          return;
        }
      } else {
        std::vector<Address> addresses;
        status = ParseAddresses(type, abuf, alen, &addresses);
        if (status == ARES_SUCCESS) {
          AnswerAddresses(l, type, addresses);
          return;
        }
      }
    }
    const Failure f = Classify(status, servers == 1);
    if (f.stop) {
      Finish(l, f.kind, f.reason);
      return;
    }
    if (f.kind == Answer::Kind::error && l.server_error.empty()) l.server_error = f.reason;
    TryNext(b, l, f.reason);
  }

  void AnswerAddresses(Lookup& l, int type, std::vector<Address>& addresses) {
    std::sort(addresses.begin(), addresses.end(),
              [](const Address& x, const Address& y) { return x.ip < y.ip; });
    Answer& a = l.answer;
    a.kind = Answer::Kind::ok;
    a.type = TypeName(type);
    a.ttl_s = addresses.front().ttl;
    for (const Address& addr : addresses) {
      a.records.push_back(Record{addr.ip, 0, 0, l.name});
      a.ttl_s = std::min(a.ttl_s, addr.ttl);
    }
    last[Lower(l.name)] = type;
  }

  void AskSrvTargets(Batch& b, Lookup& l) {
    int top = l.srv.front().priority;
    for (const Srv& s : l.srv) top = std::min(top, s.priority);
    l.srv.erase(std::remove_if(l.srv.begin(), l.srv.end(), [top](const Srv& s) { return s.priority != top; }),
                l.srv.end());
    for (const Srv& s : l.srv) {
      if (s.target.empty() || s.target == ".") continue;
      if (!l.targets.emplace(s.target, Lookup::Target{}).second) continue;
      l.targets_pending += aaaa ? 2 : 1;
    }
    if (l.targets.empty()) {
      // RFC 2782: target "." says the service is not offered at this name.
      Finish(l, Answer::Kind::not_found, "dns client error: the SRV records have no target but '.'");
      return;
    }
    for (const auto& t : l.targets) {
      Ask(b, l, kTypeA, t.first);
      if (aaaa) Ask(b, l, kTypeAaaa, t.first);
    }
  }

  void OnTargetReply(Lookup& l, const std::string& target, int type, int status, const unsigned char* abuf,
                     int alen) {
    Lookup::Target& t = l.targets[target];
    t.tried.push_back(TypeName(type));
    std::vector<Address> addresses;
    if (status == ARES_SUCCESS) status = ParseAddresses(type, abuf, alen, &addresses);
    t.addresses.insert(t.addresses.end(), addresses.begin(), addresses.end());
    if (status != ARES_SUCCESS) {
      const Failure f = Classify(status, servers == 1);
      // A server problem outweighs "no such name" when explaining a miss.
      if (t.failure.reason.empty() || f.kind == Answer::Kind::error) t.failure = f;
    }
    if (--l.targets_pending == 0) AnswerSrv(l);
  }

  void AnswerSrv(Lookup& l) {
    Answer& a = l.answer;
    a.ttl_s = l.srv_ttl;
    for (const Srv& s : l.srv) {
      auto it = l.targets.find(s.target);
      if (it == l.targets.end()) continue;
      for (const Address& addr : it->second.addresses) {
        a.records.push_back(Record{addr.ip, s.port, s.weight == 0 ? 1 : s.weight, s.target});  // Kong: 0 counts as 1
        a.ttl_s = std::min(a.ttl_s, addr.ttl);
      }
    }
    if (!a.records.empty()) {
      std::sort(a.records.begin(), a.records.end(), [](const Record& x, const Record& y) {
        return std::tie(x.name, x.port, x.ip) < std::tie(y.name, y.port, y.ip);
      });
      a.kind = Answer::Kind::ok;
      a.type = "SRV";
      last[Lower(l.name)] = kTypeSrv;
      return;
    }
    a.ttl_s = 0;
    // Explain with the target whose failure says most: a server problem first.
    const std::pair<const std::string, Lookup::Target>* worst = &*l.targets.begin();
    for (const auto& t : l.targets)
      if (t.second.failure.kind == Answer::Kind::error && worst->second.failure.kind != Answer::Kind::error)
        worst = &t;
    const Failure& f = worst->second.failure;
    a.kind = f.kind;
    a.message = "no SRV target of '" + l.name + "' has an address: " + f.reason + " for '" + worst->first +
                "' (tried " + Join(worst->second.tried) + ")";
  }

  std::vector<Answer> ResolveAll(const std::vector<std::string>& names) {
    std::lock_guard<std::mutex> lock(mu);
    Batch b{this, {}, {}, {}, 0};
    for (const std::string& asked : names) {
      Lookup& l = b.lookups.emplace_back();
      l.name = asked;
      if (!l.name.empty() && l.name.back() == '.') l.name.pop_back();
      std::string ip;
      if (l.name.empty()) {
        l.answer.kind = Answer::Kind::not_found;
        l.answer.message = "dns client error: empty name";
      } else if (IsIpLiteral(l.name, &ip)) {
        l.answer.kind = Answer::Kind::ok;
        l.answer.type = ip.find(':') == std::string::npos ? "A" : "AAAA";
        l.answer.records.push_back(Record{ip, 0, 0, l.name});
        l.answer.ttl_s = kLiteralTtl;
      } else if (FromHostsFile(l.name, &l.answer)) {
        // The hosts file comes first, as in Kong's client ("localhost").
      } else {
        l.types = TypesFor(l.name);
        l.next = 1;
        Ask(b, l, l.types.front(), "");
      }
    }
    Drive(b);
    std::vector<Answer> out;
    out.reserve(b.lookups.size());
    for (Lookup& l : b.lookups) out.push_back(std::move(l.answer));
    return out;
  }

  // The hosts file's addresses for `name` (A, else AAAA when the order asks
  // for it), answered like an IP literal: no query, a ten-year TTL.
  bool FromHostsFile(const std::string& name, Answer* answer) {
    const bool want_v6 = std::find(order.begin(), order.end(), kTypeAaaa) != order.end();
    for (int family : {AF_INET, AF_INET6}) {
      if (family == AF_INET6 && !want_v6) break;
      hostent* host = nullptr;
      if (ares_gethostbyname_file(channel, name.c_str(), family, &host) != ARES_SUCCESS || !host) continue;
      std::vector<std::string> ips;
      for (char** a = host->h_addr_list; a && *a; ++a) {
        char text[INET6_ADDRSTRLEN] = "";
        if (inet_ntop(family, *a, text, sizeof text)) ips.push_back(text);
      }
      ares_free_hostent(host);
      if (ips.empty()) continue;
      std::sort(ips.begin(), ips.end());
      ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
      answer->kind = Answer::Kind::ok;
      answer->type = family == AF_INET ? "A" : "AAAA";
      for (std::string& ip : ips) answer->records.push_back(Record{std::move(ip), 0, 0, name});
      answer->ttl_s = kLiteralTtl;
      return true;
    }
    return false;
  }

  std::vector<int> TypesFor(const std::string& name) {
    std::vector<int> types;
    for (int t : order) {
      if (t == kLast) {
        auto it = last.find(Lower(name));
        if (it == last.end()) continue;
        t = it->second;
      }
      if (std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
    }
    return types;
  }

  // Runs the channel until every query of the batch has called back.
  void Drive(Batch& b) {
    std::vector<pollfd> fds;
    for (Send(b); b.in_flight > 0; Send(b)) {
      fds.clear();
      for (const auto& [fd, events] : sockets) fds.push_back(pollfd{fd, events, 0});
      // c-ares always has a timeout while queries are pending; the cap only
      // keeps the arithmetic in range (the loop simply waits again).
      timeval tv{};
      int ms = 100;
      if (ares_timeout(channel, nullptr, &tv))
        ms = static_cast<int>(std::min<long long>(60000, tv.tv_sec * 1000LL + (tv.tv_usec + 999) / 1000));
      const int ready = poll(fds.data(), fds.size(), ms);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) {
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (const pollfd& p : fds) {
        if (!p.revents) continue;
        // Errors go to the side c-ares waits on, so it reads or writes and learns them.
        const short problem = POLLERR | POLLHUP | POLLNVAL;
        const bool read = (p.events & POLLIN) && (p.revents & (POLLIN | problem));
        const bool write = (p.events & POLLOUT) && (p.revents & (POLLOUT | problem));
        ares_process_fd(channel, read ? p.fd : ARES_SOCKET_BAD, write ? p.fd : ARES_SOCKET_BAD);
      }
    }
  }
};

DnsResolver::DnsResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DnsResolver::~DnsResolver() = default;

Status DnsResolver::Create(const DnsOptions& options, std::unique_ptr<DnsResolver>* out) {
  std::vector<ares_addr_port_node> servers(options.servers.size());
  for (size_t i = 0; i < options.servers.size(); ++i) {
    if (!ParseServer(options.servers[i], &servers[i]))
      return Error(Code::invalid,
                   "dns.servers: '" + options.servers[i] + "' is not an IP address with an optional port");
    if (i > 0) servers[i - 1].next = &servers[i];
  }
  auto impl = std::make_unique<Impl>();
  bool any_type = false;
  for (const std::string& entry : options.order) {
    const std::string upper = [&] {
      std::string s = entry;
      for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      return s;
    }();
    int type;
    if (upper == "LAST") {
      type = kLast;
    } else if (upper == "SRV") {
      type = kTypeSrv;
    } else if (upper == "A" || upper == "CNAME") {
      type = kTypeA;  // the server follows the CNAME chain of an A query
    } else if (upper == "AAAA") {
      type = kTypeAaaa;
      impl->aaaa = true;
    } else {
      return Error(Code::invalid, "dns.order: '" + entry + "' is not one of LAST, SRV, A, AAAA, CNAME");
    }
    any_type = any_type || type != kLast;
    impl->order.push_back(type);
  }
  if (!any_type) return Error(Code::invalid, "dns.order: names no record type (SRV, A, AAAA or CNAME)");
  if (!(options.timeout_s > 0 && options.timeout_s <= 3600))
    return Error(Code::invalid,
                 "dns.timeout_s: must be a number greater than 0 and at most 3600: given " + Text(options.timeout_s));
  // c-ares doubles the timeout each round, so many tries overflow its arithmetic.
  if (options.tries < 1 || options.tries > 10)
    return Error(Code::invalid, "dns.tries: must be an integer between 1 and 10: given " + Text(options.tries));

  static std::once_flag once;
  static int init_status = ARES_SUCCESS;
  std::call_once(once, [] { init_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (init_status != ARES_SUCCESS)
    return Error(Code::internal, std::string("dns: c-ares did not initialise: ") + ares_strerror(init_status));

  // Without ARES_FLAG_NOCHECKRESP c-ares moves on to the next server after
  // SERVFAIL, REFUSED or NOTIMP, and reports ARES_ECONNREFUSED once all are
  // used up. With one server there is nowhere to move on to, so the channel
  // is made again with the flag and hands those answers back as they are.
  for (int flags : {0, ARES_FLAG_NOCHECKRESP}) {
    if (impl->channel) ares_destroy(impl->channel);
    impl->channel = nullptr;
    ares_options opts{};
    opts.flags = flags;
    opts.timeout = std::max(1, static_cast<int>(std::lround(options.timeout_s * 1000)));
    opts.tries = options.tries;
    opts.sock_state_cb = &Impl::OnSocketState;
    opts.sock_state_cb_data = impl.get();
    int status = ares_init_options(&impl->channel, &opts,
                                   ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
    if (status != ARES_SUCCESS) {
      impl->channel = nullptr;
      return Error(Code::internal, std::string("dns: c-ares could not start: ") + ares_strerror(status));
    }
    if (!servers.empty()) {
      status = ares_set_servers_ports(impl->channel, servers.data());
      if (status != ARES_SUCCESS)
        return Error(Code::internal, std::string("dns: c-ares did not take the servers: ") + ares_strerror(status));
    }
    ares_addr_port_node* used = nullptr;
    impl->servers = 0;
    if (ares_get_servers_ports(impl->channel, &used) == ARES_SUCCESS)
      for (ares_addr_port_node* n = used; n; n = n->next) ++impl->servers;
    ares_free_data(used);
    if (impl->servers != 1) break;
  }
  out->reset(new DnsResolver(std::move(impl)));
  return Status::Ok();
}

std::vector<Answer> DnsResolver::ResolveAll(const std::vector<std::string>& names) {
  return impl_->ResolveAll(names);
}

Answer DnsResolver::Resolve(const std::string& name) { return std::move(impl_->ResolveAll({name}).front()); }

}  // namespace svc::resolve
