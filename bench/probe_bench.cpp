// probe_bench: the cost of active health checks. One engine, one upstream of
// N targets (default 10 000), each a listener on 127.0.0.1 in a child process
// that accepts and closes; tcp probes every second on both lanes. Reports
// the engine process's CPU per second of wall time with and without probes,
// the probes completed, and the cost of a round-robin pick measured on the
// main thread in both phases.
//
//   svc_probe_bench [targets] [seconds] [concurrency]
//   svc_probe_bench dns [names] [seconds]
// The dns mode starts dnsmasq on a loopback port with `names` A records of
// TTL 1 s, one target each, and compares picks with the refresh running
// against picks on an upstream of the same size made of IP targets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <new>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/request.h"

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Connections the listeners accepted, shared with the child.
std::atomic<uint64_t>* g_accepted = nullptr;

// Forks a process holding n listeners that accept and close; returns their ports.
std::vector<int> StartListeners(int n, pid_t* child) {
  void* shared = mmap(nullptr, sizeof(std::atomic<uint64_t>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) std::exit(1);
  g_accepted = new (shared) std::atomic<uint64_t>(0);
  int pipefd[2];
  if (pipe(pipefd) != 0) std::exit(1);
  *child = fork();
  if (*child == 0) {
    close(pipefd[0]);
    const int ep = epoll_create1(0);
    std::vector<int> ports;
    for (int i = 0; i < n; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 128) != 0) _exit(2);
      socklen_t len = sizeof a;
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
      ports.push_back(ntohs(a.sin_port));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    if (write(pipefd[1], ports.data(), ports.size() * sizeof(int)) < 0) _exit(3);
    close(pipefd[1]);
    epoll_event events[256];
    for (;;) {
      const int k = epoll_wait(ep, events, 256, 1000);
      if (getppid() == 1) _exit(0);
      for (int i = 0; i < k; ++i)
        for (;;) {
          const int c = accept4(events[i].data.fd, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          close(c);
          g_accepted->fetch_add(1, std::memory_order_relaxed);
        }
    }
  }
  close(pipefd[1]);
  std::vector<int> ports(static_cast<size_t>(n));
  size_t got = 0;
  auto* out = reinterpret_cast<char*>(ports.data());
  while (got < ports.size() * sizeof(int)) {
    const ssize_t r = read(pipefd[0], out + got, ports.size() * sizeof(int) - got);
    if (r <= 0) std::exit(1);
    got += static_cast<size_t>(r);
  }
  close(pipefd[0]);
  return ports;
}

// Nanoseconds per pick (new request, set_upstream, pick) over `seconds`.
double PickNs(const std::shared_ptr<svc::Engine>& engine, double seconds) {
  svc::Request r(engine);
  uint64_t n = 0;
  const double start = Now();
  double now = start;
  while (now - start < seconds) {
    for (int i = 0; i < 1000; ++i) {
      svc::Request req(engine);
      req.SetUpstream("u");
      if (!req.Pick().ok()) std::exit(4);
    }
    n += 1000;
    now = Now();
  }
  return (now - start) * 1e9 / static_cast<double>(n);
}

// CPU seconds per plain blocking connect + close to the listeners: what the
// kernel alone charges for one tcp probe on this machine.
double RawConnectCpu(const std::vector<int>& ports, int rounds) {
  const double cpu = CpuSeconds();
  uint64_t n = 0;
  for (int r = 0; r < rounds; ++r)
    for (int port : ports) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port));
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ++n;
      const linger abortive{1, 0};  // as the prober closes: no TIME_WAIT
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
      close(fd);
    }
  return (CpuSeconds() - cpu) / static_cast<double>(n ? n : 1);
}

}  // namespace

// Picks while `names` hostnames with 1 s TTLs are refreshed, against picks
// over the same number of IP targets.
int DnsMode(int names, double seconds) {
  char dir[] = "/tmp/svc-probe-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  const std::string conf = std::string(dir) + "/dnsmasq.conf";
  {
    FILE* f = std::fopen(conf.c_str(), "w");
    for (int i = 0; i < names; ++i)
      std::fprintf(f, "host-record=n%d.svc.test,127.0.%d.%d,1\n", i, 1 + i / 250, 1 + i % 250);
    std::fclose(f);
  }
  int port = 0;
  {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    close(fd);
  }
  const pid_t dns = fork();
  if (dns == 0) {
    const std::string c = "--conf-file=" + conf, p = "--port=" + std::to_string(port),
                      pid = "--pid-file=" + std::string(dir) + "/pid";
    execl("/usr/sbin/dnsmasq", "dnsmasq", "--keep-in-foreground", c.c_str(), p.c_str(), "--listen-address=127.0.0.1",
          "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll", "--local=/svc.test/", "--user=", pid.c_str(),
          "--log-facility=/dev/null", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  svc::EngineOptions o;
  o.dns_servers = {"127.0.0.1:" + std::to_string(port)};
  std::shared_ptr<svc::Engine> engine;
  if (!svc::Engine::Create(o, &engine).ok()) return 1;
  auto load = [&](bool by_name) {
    nlohmann::json ts = nlohmann::json::array();
    for (int i = 0; i < names; ++i)
      ts.push_back({{"target", by_name ? "n" + std::to_string(i) + ".svc.test:8000"
                                       : "127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250) + ":8000"}});
    nlohmann::json doc = {{"_format_version", "3.0"}, {"upstreams", {{{"name", "u"}, {"targets", ts}}}}};
    svc::Status st = engine->LoadConfig(doc.dump());
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      std::exit(1);
    }
  };
  load(false);
  const double ip_ns = PickNs(engine, seconds);
  load(true);
  const double dns_ns = PickNs(engine, seconds);
  std::string health;
  engine->Health("u", &health);
  const auto w = nlohmann::json::parse(health)["weight"];
  std::printf("probe_bench dns: %d names, TTL 1 s, refreshed by the engine's DNS thread, %.0f s per phase\n", names,
              seconds);
  std::printf("  picks over %d IP targets:          %.0f ns\n", names, ip_ns);
  std::printf("  picks while %d names refresh:      %.0f ns (weight total %lld: every name resolved)\n", names,
              dns_ns, static_cast<long long>(w["total"].get<int64_t>()));
  engine->Shutdown();
  kill(dns, SIGTERM);
  waitpid(dns, nullptr, 0);
  std::remove(conf.c_str());
  rmdir(dir);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "dns")
    return DnsMode(argc > 2 ? std::atoi(argv[2]) : 1000, argc > 3 ? std::atof(argv[3]) : 5);
  const int targets = argc > 1 ? std::atoi(argv[1]) : 10000;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 10;
  const int concurrency = argc > 3 ? std::atoi(argv[3]) : 10;
  pid_t child = 0;
  std::vector<int> ports = StartListeners(targets, &child);

  std::shared_ptr<svc::Engine> engine;
  if (!svc::Engine::Create({}, &engine).ok()) return 1;
  auto upstream = [&](bool probing) {
    nlohmann::json doc = {{"_format_version", "3.0"}};
    nlohmann::json u = {{"name", "u"}};
    if (probing)
      u["healthchecks"] = {{"active",
                            {{"type", "tcp"},
                             {"concurrency", concurrency},
                             {"healthy", {{"interval", 1}, {"successes", 1}}},
                             {"unhealthy", {{"interval", 1}, {"tcp_failures", 1}}}}}};
    nlohmann::json ts = nlohmann::json::array();
    for (int p : ports) ts.push_back({{"target", "127.0.0.1:" + std::to_string(p)}});
    u["targets"] = ts;
    doc["upstreams"] = {u};
    svc::Status st = engine->LoadConfig(doc.dump());
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      std::exit(1);
    }
  };

  std::printf("probe_bench: %d targets, tcp probes every 1 s (both lanes), concurrency %d, %.0f s per phase\n",
              targets, concurrency, seconds);
  upstream(false);
  double cpu = CpuSeconds(), wall = Now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double idle_cpu = (CpuSeconds() - cpu) / (Now() - wall);
  const double pick_idle = PickNs(engine, 2);

  upstream(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the first round starts after 1 s
  const uint64_t p0 = g_accepted->load();
  cpu = CpuSeconds();
  wall = Now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double probe_cpu = (CpuSeconds() - cpu) / (Now() - wall);
  const double rate = static_cast<double>(g_accepted->load() - p0) / (Now() - wall);
  const double pick_probing = PickNs(engine, 2);

  const double raw = RawConnectCpu(ports, 1);
  std::printf("  kernel baseline: %.1f us CPU per blocking connect + abortive close (%.1f %% of a core at %d/s)\n",
              raw * 1e6, raw * targets * 100, targets);
  std::printf("  without probes: engine CPU %5.1f %% of one core, pick %.0f ns\n", idle_cpu * 100, pick_idle);
  std::string health;
  engine->Health("u", &health);
  const auto h = nlohmann::json::parse(health)["weight"];
  std::printf("  with probes:    engine CPU %5.1f %% of one core, pick %.0f ns, %.0f probes/s accepted; "
              "weight available %lld of %lld\n",
              probe_cpu * 100, pick_probing, rate, static_cast<long long>(h["available"].get<int64_t>()),
              static_cast<long long>(h["total"].get<int64_t>()));
  engine->Shutdown();
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return 0;
}
