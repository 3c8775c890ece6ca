#include "support/dnsmasq.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace svc::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string FindDnsmasq() {
  if (const char* env = std::getenv("SVC_TEST_DNSMASQ"); env && *env) return access(env, X_OK) == 0 ? env : "";
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    for (std::string d; std::getline(in, d, ':');)
      if (!d.empty()) dirs.push_back(d);
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/sbin");
  for (const std::string& d : dirs) {
    const std::string candidate = d + "/dnsmasq";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A loopback port free for both UDP and TCP right now.
int FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (udp >= 0 && bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      const int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (tcp >= 0 && bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) port = ntohs(addr.sin_port);
      if (tcp >= 0) close(tcp);
    }
    if (udp >= 0) close(udp);
    if (port) return port;
  }
  return 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A DNS query for `name` type A with id `id`.
std::string Query(const std::string& name, uint16_t id) {
  std::string q;
  q += static_cast<char>(id >> 8);
  q += static_cast<char>(id & 0xff);
  q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);  // RD; one question
  std::stringstream labels(name);
  for (std::string label; std::getline(labels, label, '.');) {
    q += static_cast<char>(label.size());
    q += label;
  }
  q += std::string("\x00\x00\x01\x00\x01", 5);  // root, type A, class IN
  return q;
}

// True when a DNS server on 127.0.0.1:`port` answers a UDP query within `ms`.
bool Answers(int port, int ms) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  const uint16_t id = static_cast<uint16_t>(port ^ 0x5a5a);
  const std::string q = Query(std::string("ready.") + Dnsmasq::kDomain, id);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size())) {
    pollfd p{fd, POLLIN, 0};
    unsigned char reply[512];
    if (poll(&p, 1, ms) == 1) {
      const ssize_t n = recv(fd, reply, sizeof reply, 0);
      ok = n >= 12 && (reply[0] << 8 | reply[1]) == id && (reply[2] & 0x80);
    }
  }
  close(fd);
  return ok;
}

}  // namespace

DnsRecord DnsRecord::Address(std::string name, std::string ip, int ttl) {
  DnsRecord r;
  r.type = Type::address;
  r.name = std::move(name);
  r.value = std::move(ip);
  r.ttl = ttl;
  return r;
}

DnsRecord DnsRecord::Srv(std::string name, std::string target, int port, int priority, int weight, int ttl) {
  DnsRecord r;
  r.type = Type::srv;
  r.name = std::move(name);
  r.value = std::move(target);
  r.port = port;
  r.priority = priority;
  r.weight = weight;
  r.ttl = ttl;
  return r;
}

DnsRecord DnsRecord::Cname(std::string alias, std::string target, int ttl) {
  DnsRecord r;
  r.type = Type::cname;
  r.name = std::move(alias);
  r.value = std::move(target);
  r.ttl = ttl;
  return r;
}

Dnsmasq::~Dnsmasq() {
  Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status Dnsmasq::Start(const std::vector<DnsRecord>& records) {
  if (running()) return Error(Code::internal, "dnsmasq: already running on port " + std::to_string(port_));
  if (binary_.empty()) binary_ = FindDnsmasq();
  if (binary_.empty()) {
    const char* env = std::getenv("SVC_TEST_DNSMASQ");
    if (env && *env)
      return Error(Code::internal, std::string("dnsmasq: $SVC_TEST_DNSMASQ (") + env + ") is not executable");
    return Error(Code::internal,
                 "dnsmasq: not found in PATH, /usr/sbin or /sbin; "
                 "install the Debian package dnsmasq-base (scripts/install-deps.sh)");
  }
  if (dir_.empty()) {
    char tmpl[] = "/tmp/svc-dnsmasq-XXXXXX";
    if (!mkdtemp(tmpl)) return Error(Code::internal, std::string("dnsmasq: mkdtemp: ") + std::strerror(errno));
    dir_ = tmpl;
  }
  records_ = records;
  if (port_ != 0) return Launch();
  // A fresh port can be taken between FreePort and dnsmasq's bind: try a few.
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = FreePort();
    if (port_ == 0) return Error(Code::internal, "dnsmasq: no free loopback port");
    last = Launch();
    if (last.ok()) return last;
  }
  port_ = 0;
  return last;
}

Status Dnsmasq::SetRecords(const std::vector<DnsRecord>& records) {
  Stop();
  return Start(records);
}

Status Dnsmasq::Launch() {
  // The config: our records, nothing from /etc.
  int srv_ttl = INT_MAX;
  std::ofstream conf(dir_ + "/dnsmasq.conf", std::ios::trunc);
  for (const DnsRecord& r : records_) {
    switch (r.type) {
      case DnsRecord::Type::address:
        conf << "host-record=" << r.name << "," << r.value << "," << r.ttl << "\n";
        break;
      case DnsRecord::Type::srv:
        conf << "srv-host=" << r.name << "," << r.value << "," << r.port << "," << r.priority << "," << r.weight
             << "\n";
        srv_ttl = std::min(srv_ttl, r.ttl);
        break;
      case DnsRecord::Type::cname:
        conf << "cname=" << r.name << "," << r.value << "," << r.ttl << "\n";
        break;
    }
  }
  conf.close();
  if (!conf) return Error(Code::internal, "dnsmasq: cannot write " + dir_ + "/dnsmasq.conf");
  if (srv_ttl == INT_MAX) srv_ttl = 0;

  std::vector<std::string> args = {
      binary_,
      "--keep-in-foreground",
      "--conf-file=" + dir_ + "/dnsmasq.conf",  // instead of /etc/dnsmasq.conf
      "--port=" + std::to_string(port_),
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      std::string("--local=/") + kDomain + "/",  // unknown names: NXDOMAIN, never forwarded
      "--local-ttl=" + std::to_string(srv_ttl),  // the TTL of srv-host answers
      "--user=",                                 // no privilege drop: the files stay readable
      "--pid-file=" + dir_ + "/dnsmasq.pid",
      "--log-facility=" + dir_ + "/dnsmasq.log",
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string err_path = dir_ + "/stderr.txt";
  const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (err < 0 || null < 0) {
    if (err >= 0) close(err);
    if (null >= 0) close(null);
    return Error(Code::internal, "dnsmasq: cannot open " + err_path + " or /dev/null");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. Die with the starting thread
    // so a crashed test leaves no server behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(null, 0);
    dup2(null, 1);
    dup2(err, 2);
    close_range(3, ~0u, 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err);
  close(null);
  if (pid < 0) return Error(Code::internal, std::string("dnsmasq: fork: ") + std::strerror(errno));
  pid_ = pid;
  return WaitUntilAnswering();
}

Status Dnsmasq::WaitUntilAnswering() {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                          : "died of signal " + std::to_string(WTERMSIG(status));
      return Error(Code::internal, "dnsmasq (" + binary_ + ") " + how + " on port " + std::to_string(port_) +
                                       Diagnostics());
    }
    if (Answers(port_, 100)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Stop();
  return Error(Code::internal, "dnsmasq: no answer on 127.0.0.1:" + std::to_string(port_) + " within 5 s" +
                                   Diagnostics());
}

void Dnsmasq::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
}

std::string Dnsmasq::Diagnostics() const {
  std::string out;
  const std::string err = ReadFile(dir_ + "/stderr.txt");
  if (!err.empty()) out += "; stderr: " + err;
  const std::string log = ReadFile(dir_ + "/dnsmasq.log");
  if (!log.empty()) out += "; log: " + log;
  return out;
}

}  // namespace svc::testing
