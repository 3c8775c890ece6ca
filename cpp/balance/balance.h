// balance: the four load-balancing algorithms over an immutable snapshot of
// an upstream's addresses. A pick takes no lock, allocates nothing and never
// waits on I/O; per-address runtime state (availability, connection counts,
// latency) lives in atomics inside the snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace svc::balance {

// One resolved address of a target: what the balancer picks.
struct Address {
  std::string ip;         // "10.0.0.1" or "::1"
  std::string kong_ip;    // Kong's form: IPv6 bracketed and fully expanded, used in hashing and sorting
  int port = 0;
  std::string host;       // the target's host as Kong names it (health keys, logs)
  std::string peer_host;  // Host header, SNI and verified name: host_header, the
                          // hostname without trailing dot, or the IP ("[::1]" for IPv6)
  int weight = 0;
  uint32_t target = 0;    // index into Snapshot::targets
  uint64_t id = 0;        // hash of "kong_ip:port", stable across snapshots (tried-peer identity)
  std::string key() const { return kong_ip + ":" + std::to_string(port); }
};

// A target as the balancer sees it.
struct Target {
  std::string name;       // normalised "host:port"
  std::string host;       // host part (Kong form)
  int port = 0;
  int weight = 0;
  double created_at = 0;
  bool dns_error = false;  // a name that resolved to nothing
  std::vector<uint32_t> addresses;
};

// The request's side of a pick: which peers it already tried, and its hash.
struct PickContext {
  static constexpr size_t kMaxTried = 64;
  uint64_t tried[kMaxTried];  // Address::id of earlier tries (the newest kMaxTried)
  size_t tried_count = 0;
  std::string_view hash_value;  // consistent hashing input
  int64_t hash_index = -1;      // continuum index, computed on the first try (Kong keeps it)

  bool Tried(uint64_t id) const {
    for (size_t i = 0; i < tried_count && i < kMaxTried; ++i)
      if (tried[i] == id) return true;
    return false;
  }
  void AddTried(uint64_t id) { tried[tried_count++ % kMaxTried] = id; }
};

class Snapshot;

// One algorithm's tables over a snapshot. Built off the pick path.
class Algorithm {
 public:
  virtual ~Algorithm() = default;
  // Returns the picked address index, or -1 when no address is available.
  // Prefers addresses not in ctx.tried; repeats a tried one only when no
  // untried available address exists.
  virtual int64_t Pick(const Snapshot& s, PickContext& ctx) const = 0;
  // A try on `address` finished (least-connections releases its count,
  // latency records `latency_s` at time `now_s`).
  virtual void Release(const Snapshot&, uint32_t /*address*/) const {}
  virtual void Record(const Snapshot&, uint32_t /*address*/, double /*latency_s*/,
                      double /*now_s*/) const {}
  // An address changed availability at engine time now_s.
  virtual void AvailabilityChanged(const Snapshot&, uint32_t /*address*/, double /*now_s*/) const {}
  // Whether Record uses the latency (only the latency balancer does).
  virtual bool records_latency() const { return false; }
};

// Immutable topology plus atomic runtime state.
class Snapshot {
 public:
  // algorithm: "round-robin" | "consistent-hashing" | "least-connections" | "latency".
  // `available` gives the initial availability per address (health kept
  // across rebuilds). `now_s` is the engine clock, for latency's slow start.
  static Status Build(std::string algorithm, int slots, double threshold,
                      std::vector<Target> targets, std::vector<Address> addresses,
                      const std::vector<bool>& available, double now_s,
                      std::shared_ptr<Snapshot>* out);

  // What the owner built this snapshot from (the engine keeps the upstream
  // entity here), so a request reads topology and entity with one load.
  void set_context(std::shared_ptr<const void> context) { context_ = std::move(context); }
  const void* context() const { return context_.get(); }

  const std::vector<Address>& addresses() const { return addresses_; }
  const std::vector<Target>& targets() const { return targets_; }
  const std::string& algorithm_name() const { return algorithm_name_; }

  bool available(uint32_t i) const { return available_[i].load(std::memory_order_acquire) != 0; }
  // Pickable: available and weight > 0.
  bool usable(uint32_t i) const { return addresses_[i].weight > 0 && available(i); }
  // Changes availability at engine time now_s; returns true when it changed.
  bool SetAvailable(uint32_t i, bool on, double now_s = 0) const;

  int64_t total_weight() const { return total_weight_; }
  int64_t unavailable_weight() const { return unavailable_weight_.load(std::memory_order_acquire); }
  // Kong: healthy iff total > 0 and available% > threshold (strict).
  bool healthy() const;

  int64_t Pick(PickContext& ctx) const { return algorithm_->Pick(*this, ctx); }
  void Release(uint32_t i) const { algorithm_->Release(*this, i); }
  void Record(uint32_t i, double latency_s, double now_s) const {
    algorithm_->Record(*this, i, latency_s, now_s);
  }
  bool records_latency() const { return algorithm_->records_latency(); }

  // Least-connections count and latency EWMA, for tests and health output.
  int64_t connections(uint32_t i) const { return conns_[i].load(std::memory_order_relaxed); }
  std::atomic<int64_t>& connections_slot(uint32_t i) const { return conns_[i]; }

  // Index of an address by its Kong key ("ip:port"), or -1. A hash lookup:
  // health reports from probes of 10 000 addresses call it for each.
  int64_t Find(std::string_view key) const;

  size_t MemoryBytes() const;  // approximate, for the benchmark report

 private:
  Snapshot() = default;
  std::string algorithm_name_;
  std::shared_ptr<const void> context_;
  std::vector<Target> targets_;
  std::vector<Address> addresses_;
  mutable std::unique_ptr<std::atomic<uint8_t>[]> available_;
  mutable std::unique_ptr<std::atomic<int64_t>[]> conns_;
  std::unordered_map<uint64_t, uint32_t> by_id_;  // Address::id -> index, for Find
  int64_t total_weight_ = 0;
  mutable std::atomic<int64_t> unavailable_weight_{0};
  double threshold_ = 0;
  std::unique_ptr<Algorithm> algorithm_;
  size_t algorithm_bytes_ = 0;

};

// Algorithm factories (one file each).
std::unique_ptr<Algorithm> MakeRoundRobin(const Snapshot& s, size_t* bytes);
std::unique_ptr<Algorithm> MakeConsistentHashing(const Snapshot& s, int slots, Status* status,
                                                 size_t* bytes);
std::unique_ptr<Algorithm> MakeLeastConnections(const Snapshot& s, size_t* bytes);
std::unique_ptr<Algorithm> MakeLatency(const Snapshot& s, double now_s, size_t* bytes);

// Kong's continuum index for a value: (signed xxh32(value) floored-mod points) + 1.
uint32_t ContinuumIndex(std::string_view value, uint32_t points);

// A deterministic 64-bit id for an address key.
uint64_t AddressId(std::string_view key);

}  // namespace svc::balance
