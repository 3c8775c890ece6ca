// svc_bench: what a balancer pick costs next to the cheapest possible pick
// (an atomic counter over an array), what the engine adds per request, how
// long a snapshot rebuild takes, how many bytes a target costs, and that a
// pick allocates nothing (global operator new is counted in this binary).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "balance/balance.h"
#include "engine/engine.h"
#include "engine/request.h"

// ----- Allocation counting ----------------------------------------------
// Every operator new form bumps the process-wide atomic count and a
// per-thread one; benchmarks read the per-thread count around their loop so
// a second benchmark thread's allocations are never charged to the first.

namespace {

std::atomic<uint64_t> g_allocations{0};
thread_local uint64_t t_allocations = 0;

void CountAllocation() {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  ++t_allocations;
}

void* Allocate(std::size_t n) {
  CountAllocation();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}

void* AllocateNoThrow(std::size_t n) noexcept {
  CountAllocation();
  return std::malloc(n ? n : 1);
}

void* AllocateAligned(std::size_t n, std::align_val_t al) noexcept {
  CountAllocation();
  const std::size_t a = static_cast<std::size_t>(al);
  const std::size_t rounded = n == 0 ? a : (n + a - 1) / a * a;  // aligned_alloc needs a multiple
  return std::aligned_alloc(a, rounded);
}

}  // namespace

void* operator new(std::size_t n) { return Allocate(n); }
void* operator new[](std::size_t n) { return Allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return AllocateNoThrow(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return AllocateNoThrow(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = AllocateAligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = AllocateAligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return AllocateAligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return AllocateAligned(n, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using svc::balance::Address;
using svc::balance::PickContext;
using svc::balance::Snapshot;
using svc::balance::Target;

constexpr int kTargetCounts[] = {10, 1000, 10000};
constexpr int kDefaultSlots = 10000;  // Kong's upstream default
constexpr int kMaxSlots = 65536;      // Kong's largest wheel
constexpr size_t kKeyCount = 4096;    // power of two: index with a mask

// ----- Topologies and snapshots -----------------------------------------

struct Topology {
  std::vector<Target> targets;
  std::vector<Address> addresses;
};

// n targets "10.a.b.c:80", one address each. Equal weights 100, or mixed
// weights 10..100 (ten classes, so the round-robin schedule is ~5.5 n long).
Topology MakeTopology(int n, bool mixed) {
  Topology t;
  t.targets.reserve(n);
  t.addresses.reserve(n);
  for (int i = 0; i < n; ++i) {
    const int v = i + 1;  // skip 10.0.0.0
    const std::string ip = "10." + std::to_string((v >> 16) & 255) + "." +
                           std::to_string((v >> 8) & 255) + "." + std::to_string(v & 255);
    const int weight = mixed ? 10 * (1 + i % 10) : 100;
    Address a;
    a.ip = ip;
    a.kong_ip = ip;
    a.port = 80;
    a.host = ip;
    a.weight = weight;
    a.target = static_cast<uint32_t>(i);
    t.addresses.push_back(std::move(a));
    Target tg;
    tg.name = ip + ":80";
    tg.host = ip;
    tg.port = 80;
    tg.weight = weight;
    tg.addresses = {static_cast<uint32_t>(i)};
    t.targets.push_back(std::move(tg));
  }
  return t;
}

svc::Status BuildSnapshot(const std::string& algorithm, int n, bool mixed, int slots,
                          std::shared_ptr<Snapshot>* out) {
  Topology t = MakeTopology(n, mixed);
  return Snapshot::Build(algorithm, slots, 0, std::move(t.targets), std::move(t.addresses), {}, 0,
                         out);
}

// Snapshots shared by a benchmark's threads, built once per configuration.
struct Cached {
  std::shared_ptr<Snapshot> snapshot;
  svc::Status status;
};

const Cached& GetSnapshot(const std::string& algorithm, int n, bool mixed, int slots,
                          const std::string& variant = "") {
  static std::mutex mu;
  static std::map<std::string, Cached> cache;
  const std::string key = algorithm + "/" + std::to_string(n) + "/" + (mixed ? "mixed" : "equal") +
                          "/" + std::to_string(slots) + "/" + variant;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Cached c;
  c.status = BuildSnapshot(algorithm, n, mixed, slots, &c.snapshot);
  if (c.status.ok() && variant == "seeded") {
    // Latency in steady state: every address has an EWMA, so a pick scores
    // its winner with logarithms instead of the "no latency yet" shortcut.
    for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i)
      c.snapshot->Record(i, 0.001 * (1 + (i * 7919u) % 100), 1.0);
  }
  return cache.emplace(key, std::move(c)).first->second;
}

const std::vector<std::string>& HashKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (size_t i = 0; i < kKeyCount; ++i) k.push_back("consumer-" + std::to_string(i * 2654435761u));
    return k;
  }();
  return keys;
}

const std::vector<double>& Latencies() {
  static const std::vector<double> rtts = [] {
    std::vector<double> r;
    for (size_t i = 0; i < kKeyCount; ++i) r.push_back(0.0005 + 0.00001 * ((i * 40503u) % 1000));
    return r;
  }();
  return rtts;
}

void ReportAllocations(benchmark::State& state, uint64_t before) {
  // Summed over threads, divided by the total iterations: allocations per pick.
  state.counters["allocs/pick"] = benchmark::Counter(static_cast<double>(t_allocations - before),
                                                     benchmark::Counter::kAvgIterations);
}

// ----- Pick benchmarks --------------------------------------------------

// The floor: one shared relaxed increment, a modulo and an array read.
void BM_Baseline(benchmark::State& state) {
  static std::map<int, std::vector<uint32_t>> arrays;
  static std::mutex mu;
  alignas(64) static std::atomic<uint64_t> cursor{0};
  const int n = static_cast<int>(state.range(0));
  const std::vector<uint32_t>* array;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& a = arrays[n];
    if (a.empty())
      for (int i = 0; i < n; ++i) a.push_back(static_cast<uint32_t>(i));
    array = &a;
  }
  const size_t len = array->size();
  const uint32_t* data = array->data();
  const uint64_t before = t_allocations;
  for (auto _ : state) {
    const uint64_t c = cursor.fetch_add(1, std::memory_order_relaxed);
    uint32_t v = data[c % len];
    benchmark::DoNotOptimize(v);
  }
  ReportAllocations(state, before);
}

enum class Mode { pick, pick_release, pick_record, hashed };

void BM_Pick(benchmark::State& state, std::string algorithm, bool mixed, int slots, Mode mode,
             std::string variant) {
  const int n = static_cast<int>(state.range(0));
  const Cached& c = GetSnapshot(algorithm, n, mixed, slots, variant);
  if (!c.status.ok()) {
    state.SkipWithError(("Snapshot::Build failed: " + c.status.message()).c_str());
    for (auto _ : state) {
    }
    return;
  }
  const Snapshot& snap = *c.snapshot;
  const std::vector<std::string>& keys = HashKeys();
  const std::vector<double>& rtts = Latencies();
  PickContext ctx;
  size_t k = static_cast<size_t>(state.thread_index()) * 977;
  double now = 2.0;
  const uint64_t before = t_allocations;
  for (auto _ : state) {
    if (mode == Mode::hashed) {
      ctx.hash_value = keys[k++ & (kKeyCount - 1)];
      ctx.hash_index = -1;
      ctx.tried_count = 0;
    }
    const int64_t i = snap.Pick(ctx);
    benchmark::DoNotOptimize(i);
    if (i < 0) {
      state.SkipWithError("Pick returned -1");
      break;
    }
    if (mode == Mode::pick_release) snap.Release(static_cast<uint32_t>(i));
    if (mode == Mode::pick_record) {
      now += 1e-6;
      snap.Record(static_cast<uint32_t>(i), rtts[k++ & (kKeyCount - 1)], now);
    }
  }
  ReportAllocations(state, before);
}

// The whole request path through the engine: a new request, set_upstream,
// pick, report. Round-robin, so the balancer's own share is the RR number.
void BM_EnginePath(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  static std::mutex mu;
  static std::map<int, std::shared_ptr<svc::Engine>> engines;
  std::shared_ptr<svc::Engine> engine;
  svc::Status st;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& e = engines[n];
    if (!e) {
      st = svc::Engine::Create(svc::EngineOptions{}, &e);
      std::string doc = R"({"_format_version": "3.0", "upstreams": [{"name": "bench", )"
                        R"("algorithm": "round-robin", "targets": [)";
      Topology t = MakeTopology(n, false);
      for (size_t i = 0; i < t.targets.size(); ++i)
        doc += std::string(i ? "," : "") + R"({"target": ")" + t.targets[i].name + R"(", "weight": 100})";
      doc += "]}]}";
      if (st.ok()) st = e->LoadConfig(doc);
      if (!st.ok()) e.reset();
    }
    engine = e;
  }
  if (!engine) {
    state.SkipWithError(("engine setup failed: " + st.message()).c_str());
    for (auto _ : state) {
    }
    return;
  }
  const uint64_t before = t_allocations;
  for (auto _ : state) {
    svc::Request req(engine);
    svc::Status s = req.SetUpstream("bench");
    if (s.ok()) s = req.Pick();
    if (s.ok()) s = req.Report(0 /* SVC_OUTCOME_OK */, 200, 1500);
    if (!s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(req.peer_port());
  }
  ReportAllocations(state, before);
}

// ----- Rebuild and memory -----------------------------------------------

// Snapshot::Build alone: the topology copy and the old snapshot's
// destruction are outside the timed region. The bytes/target counter is
// Snapshot::MemoryBytes() / targets.
void BM_Rebuild(benchmark::State& state, std::string algorithm, int slots) {
  const int n = static_cast<int>(state.range(0));
  const Topology topology = MakeTopology(n, false);
  std::shared_ptr<Snapshot> snap;
  svc::Status status;
  uint64_t allocations = 0;  // inside Build only; also shows the operator new hook counts
  for (auto _ : state) {
    state.PauseTiming();
    snap.reset();
    std::vector<Target> targets = topology.targets;
    std::vector<Address> addresses = topology.addresses;
    state.ResumeTiming();
    const uint64_t before = t_allocations;
    status = Snapshot::Build(algorithm, slots, 0, std::move(targets), std::move(addresses), {}, 0,
                             &snap);
    allocations += t_allocations - before;
    if (!status.ok()) break;
  }
  if (!status.ok()) {
    state.SkipWithError(("Snapshot::Build failed: " + status.message()).c_str());
    return;
  }
  state.counters["bytes/target"] = static_cast<double>(snap->MemoryBytes()) / n;
  state.counters["allocs/build"] =
      benchmark::Counter(static_cast<double>(allocations), benchmark::Counter::kAvgIterations);
}

// How long a consistent-hashing build takes to refuse a topology that does
// not fit the continuum: the time an admin call blocks before the error.
void ThreadCounts(benchmark::internal::Benchmark* b) { b->Threads(1)->Threads(2); }

void RegisterAll() {
  using benchmark::RegisterBenchmark;
  for (int n : kTargetCounts)
    RegisterBenchmark("pick/baseline", BM_Baseline)->Arg(n)->Apply(ThreadCounts);

  struct PickCase {
    const char* name;
    const char* algorithm;
    bool mixed;
    Mode mode;
    const char* variant;
  };
  const PickCase cases[] = {
      {"pick/round-robin", "round-robin", false, Mode::pick, ""},
      {"pick/round-robin-mixed", "round-robin", true, Mode::pick, ""},
      {"pick/consistent-hashing", "consistent-hashing", false, Mode::hashed, ""},
      {"pick/least-connections+release", "least-connections", false, Mode::pick_release, ""},
      {"pick/latency", "latency", false, Mode::pick, "seeded"},
      {"pick/latency+record", "latency", false, Mode::pick_record, "seeded-record"},
  };
  // Consistent hashing runs on a 65536-slot wheel, the largest Kong allows:
  // Kong's exact continuum holds about 400 equal targets there, and svc fills
  // half the wheel proportionally beyond that (README, differences from Kong).
  for (const PickCase& c : cases)
    for (int n : kTargetCounts)
      RegisterBenchmark(c.name, BM_Pick, std::string(c.algorithm), c.mixed,
                        std::string(c.algorithm) == "consistent-hashing" ? kMaxSlots : kDefaultSlots, c.mode,
                        std::string(c.variant))
          ->Arg(n)
          ->Apply(ThreadCounts);

  RegisterBenchmark("engine/request-rr", BM_EnginePath)->Arg(1000)->Apply(ThreadCounts);

  for (const char* algorithm : {"round-robin", "least-connections", "latency"})
    RegisterBenchmark((std::string("rebuild/") + algorithm).c_str(), BM_Rebuild,
                      std::string(algorithm), kDefaultSlots)
        ->Arg(10000)
        ->Unit(benchmark::kMillisecond);
  RegisterBenchmark("rebuild/consistent-hashing-slots65536", BM_Rebuild,
                    std::string("consistent-hashing"), kMaxSlots)
      ->Arg(400)
      ->Arg(10000)
      ->Unit(benchmark::kMillisecond);
  RegisterBenchmark("rebuild/consistent-hashing-slots10000", BM_Rebuild,
                    std::string("consistent-hashing"), kDefaultSlots)
      ->Arg(60)
      ->Arg(4000)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
