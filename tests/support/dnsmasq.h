// A dnsmasq DNS server on a loopback port for the DNS suites: serves the
// records a test gives it and nothing else, and can be stopped and started
// again on the same port to play a failing server.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace svc::testing {

// One record the server answers with.
struct DnsRecord {
  enum class Type { address, srv, cname };
  Type type = Type::address;
  std::string name;   // the owner name, e.g. "web.svc.test"
  std::string value;  // address: an IPv4 or IPv6 literal; srv and cname: the target name
  int port = 0;       // srv only
  int priority = 0;   // srv only
  int weight = 0;     // srv only
  int ttl = 0;        // seconds. dnsmasq has one TTL for all SRV answers: the smallest srv ttl given

  // An A record (IPv4 `ip`) or AAAA record (IPv6 `ip`).
  static DnsRecord Address(std::string name, std::string ip, int ttl);
  // An SRV record of `name` pointing at `target`:`port`.
  static DnsRecord Srv(std::string name, std::string target, int port, int priority, int weight, int ttl);
  // A CNAME `alias` -> `target`; dnsmasq only serves it when `target` is one
  // of this server's own address records.
  static DnsRecord Cname(std::string alias, std::string target, int ttl);
};

// One dnsmasq process. Names under kDomain that no record names get
// NXDOMAIN; names elsewhere get REFUSED (no upstream: nothing leaves the
// machine). The process dies with the thread that started it.
class Dnsmasq {
 public:
  static constexpr const char* kDomain = "svc.test";

  Dnsmasq() = default;
  // Stops the server and removes its files.
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // Starts dnsmasq serving `records` and returns once it answers queries.
  // The first start picks a free loopback port; later starts (after Stop)
  // reuse it. Fails with Code::internal saying why, e.g. when dnsmasq is
  // not installed (scripts/install-deps.sh installs dnsmasq-base) or exits.
  // The binary is $SVC_TEST_DNSMASQ, else dnsmasq from PATH, /usr/sbin or /sbin.
  Status Start(const std::vector<DnsRecord>& records);

  // Serves `records` instead: restarts the server on the same port and
  // returns once it answers (dnsmasq rereads host-record and srv-host lines
  // only at start).
  Status SetRecords(const std::vector<DnsRecord>& records);

  // Stops the server (SIGTERM, then SIGKILL after 2 s); queries to port()
  // are then refused. Does nothing when it is not running.
  void Stop();

  bool running() const { return pid_ > 0; }
  // The UDP and TCP port on 127.0.0.1; 0 before the first Start.
  int port() const { return port_; }
  // "127.0.0.1:<port>", the form DnsOptions::servers takes.
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  // The directory holding the config and dnsmasq's log (for failure messages).
  const std::string& dir() const { return dir_; }

 private:
  Status Launch();
  Status WaitUntilAnswering();
  std::string Diagnostics() const;

  std::string dir_;
  std::string binary_;
  std::vector<DnsRecord> records_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace svc::testing
