#include <xxhash.h>

#include <algorithm>

#include "balance/balance.h"

namespace svc::balance {

uint64_t AddressId(std::string_view key) { return XXH64(key.data(), key.size(), 0x5c5c); }

Status Snapshot::Build(std::string algorithm, int slots, double threshold,
                       std::vector<Target> targets, std::vector<Address> addresses,
                       const std::vector<bool>& available, double now_s,
                       std::shared_ptr<Snapshot>* out) {
  std::shared_ptr<Snapshot> s(new Snapshot());
  s->algorithm_name_ = std::move(algorithm);
  s->targets_ = std::move(targets);
  s->addresses_ = std::move(addresses);
  s->threshold_ = threshold;
  const size_t n = s->addresses_.size();
  s->available_.reset(new std::atomic<uint8_t>[n]);
  s->conns_.reset(new std::atomic<int64_t>[n]);
  int64_t unavailable = 0;
  for (size_t i = 0; i < n; ++i) {
    Address& a = s->addresses_[i];
    a.id = AddressId(a.key());
    s->by_id_.emplace(a.id, static_cast<uint32_t>(i));
    const bool on = i < available.size() ? available[i] : true;
    s->available_[i].store(on ? 1 : 0, std::memory_order_relaxed);
    s->conns_[i].store(0, std::memory_order_relaxed);
    s->total_weight_ += a.weight;
    if (!on) unavailable += a.weight;
  }
  s->unavailable_weight_.store(unavailable, std::memory_order_relaxed);

  Status status;
  size_t bytes = 0;
  const std::string& name = s->algorithm_name_;
  if (name == "round-robin") {
    s->algorithm_ = MakeRoundRobin(*s, &bytes);
  } else if (name == "consistent-hashing") {
    s->algorithm_ = MakeConsistentHashing(*s, slots, &status, &bytes);
  } else if (name == "least-connections") {
    s->algorithm_ = MakeLeastConnections(*s, &bytes);
  } else if (name == "latency") {
    s->algorithm_ = MakeLatency(*s, now_s, &bytes);
  } else {
    return Error(Code::internal, "unknown balancer algorithm '" + name + "'");
  }
  if (!status.ok()) return status;
  s->algorithm_bytes_ = bytes;
  *out = std::move(s);
  return Status::Ok();
}

bool Snapshot::SetAvailable(uint32_t i, bool on, double now_s) const {
  const uint8_t want = on ? 1 : 0;
  if (available_[i].exchange(want, std::memory_order_acq_rel) == want) return false;
  const int64_t w = addresses_[i].weight;
  unavailable_weight_.fetch_add(on ? -w : w, std::memory_order_acq_rel);
  algorithm_->AvailabilityChanged(*this, i, now_s);
  return true;
}

bool Snapshot::healthy() const {
  if (total_weight_ <= 0) return false;
  const double available = static_cast<double>(total_weight_ - unavailable_weight());
  // Kong: strictly greater than the threshold, so 100 is never healthy.
  return available / static_cast<double>(total_weight_) * 100.0 > threshold_;
}

int64_t Snapshot::Find(std::string_view key) const {
  auto it = by_id_.find(AddressId(key));
  if (it == by_id_.end() || addresses_[it->second].key() != key) return -1;
  return it->second;
}

size_t Snapshot::MemoryBytes() const {
  size_t bytes = sizeof(*this) + algorithm_bytes_ + by_id_.size() * (sizeof(uint64_t) + sizeof(uint32_t) + 2 * sizeof(void*));
  for (const Address& a : addresses_)
    bytes += sizeof(Address) + a.ip.capacity() + a.kong_ip.capacity() + a.host.capacity() +
             sizeof(std::atomic<uint8_t>) + sizeof(std::atomic<int64_t>);
  for (const Target& t : targets_)
    bytes += sizeof(Target) + t.name.capacity() + t.host.capacity() +
             t.addresses.capacity() * sizeof(uint32_t);
  return bytes;
}

}  // namespace svc::balance
