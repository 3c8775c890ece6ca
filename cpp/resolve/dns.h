// resolve/dns: the c-ares resolver for upstream targets, with Kong's record
// order (dns_order: LAST, SRV, A, CNAME; AAAA only when listed). It asks the
// servers and reports what they said, TTL included; it keeps no cache, so the
// caller decides when to ask again (Kong: reference §4.6).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace svc::resolve {

// One address an answer offers.
struct Record {
  std::string ip;    // "10.0.0.1" or compact IPv6 "::1"
  int port = 0;      // SRV port (0 when the SRV record says 0: use the target's own port); 0 for A/AAAA
  int weight = 0;    // SRV weight, 0 counted as 1 (Kong); 0 for A/AAAA
  std::string name;  // SRV: the SRV target name (no trailing dot); A/AAAA: the queried name
};

// What one name resolved to.
struct Answer {
  // ok: records is non-empty. not_found: the servers said authoritatively
  // that the name has no usable record (NXDOMAIN, no data, SRV targets
  // without addresses). error: a server could not be asked or failed
  // (timeout, connection refused, SERVFAIL, REFUSED) and nothing answered.
  enum class Kind { ok, not_found, error };
  Kind kind = Kind::error;
  std::string type;             // record type that answered: "SRV", "A" or "AAAA" (empty when not ok)
  std::vector<Record> records;  // A/AAAA sorted by ip text; SRV: only the top (lowest-number)
                                // priority, sorted by (name, port, ip)
  double ttl_s = 0;             // smallest TTL of the records used, SRV target lookups included; 0 when not ok
  std::string message;          // when not ok: what failed, for which name and which types were
                                // tried, e.g. "dns server error: 3 name error for 'x.test' (tried SRV, A)"
};

struct DnsOptions {
  // "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53"; tried in this order,
  // moving on after a timeout, a refused connection, SERVFAIL, REFUSED or
  // NOTIMP. Empty: the servers of /etc/resolv.conf, read once by Create.
  // With several servers c-ares only says that none answered usefully; with
  // one, the message names what it said.
  std::vector<std::string> servers;
  // Kong's dns_order. LAST is the type that last answered for the name;
  // CNAME is asked with an A query (the server follows the chain).
  std::vector<std::string> order{"LAST", "SRV", "A", "CNAME"};
  double timeout_s = 2;  // per try, (0, 3600]; c-ares doubles it on each round over the servers
  int tries = 2;         // tries per server, 1..10
};

class DnsResolver {
 public:
  // Checks `options` and makes a resolver in `*out` (left untouched on
  // failure). Fails with Code::invalid:
  //   "dns.servers: '<text>' is not an IP address with an optional port" (port 1..65535),
  //   "dns.order: '<text>' is not one of LAST, SRV, A, AAAA, CNAME" (case-insensitive),
  //   "dns.order: names no record type (SRV, A, AAAA or CNAME)",
  //   "dns.timeout_s: must be a number greater than 0 and at most 3600: given <v>",
  //   "dns.tries: must be an integer between 1 and 10: given <n>";
  // and with Code::internal when c-ares cannot start (the message says why).
  static Status Create(const DnsOptions& options, std::unique_ptr<DnsResolver>* out);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // Resolves every name in `names` and returns one Answer per name, in the
  // same order. All names are resolved together on one c-ares channel (at
  // most 64 queries on the wire at once); the types of one name are tried one
  // after the other, in `order`, and the first type with a non-empty answer
  // wins and is remembered for LAST (per name, case-insensitive). As in
  // Kong, a network problem (timeout, refused connection) ends that name's
  // lookup with Kind::error at once, so an A answer never stands in for an
  // SRV query that could not be asked; an error rcode (SERVFAIL, REFUSED)
  // moves on to the next type and makes the answer Kind::error only when no
  // type succeeds. A trailing dot is ignored; an empty name is not_found; an
  // IP literal answers itself (type "A" or "AAAA", TTL ten years, no query).
  // Blocks the calling thread until every
  // name has its answer: a query that gets no reply gives up after about
  // servers * timeout_s * (2^tries - 1), and a name asks at most one query
  // per type plus one round for its SRV targets. Thread-safe: concurrent
  // calls run one after the other.
  std::vector<Answer> ResolveAll(const std::vector<std::string>& names);

  // ResolveAll for one name.
  Answer Resolve(const std::string& name);

 private:
  struct Impl;
  explicit DnsResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace svc::resolve
