// Latency: Kong's EWMA balancer (kong/runloop/balancer/latency.lua). A
// report updates ewma = ewma*w + rtt*(1-w) with w = exp(-dt/10 s); a pick
// scores every address by its EWMA decayed to now, divided by its weight,
// and takes the lowest. Every score decays by the common factor
// exp(-now/10), so the order is that of log(ewma) + touched/10 - log(weight),
// which does not change with time: the winner is kept in a tournament tree
// and a pick is one atomic load.
#include <cmath>
#include <cstring>
#include <limits>

#include "balance/balance.h"
#include "balance/min_tree.h"

namespace svc::balance {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kDecaySeconds = 10.0;  // Kong: DECAY_TIME

double Load(const std::atomic<uint64_t>& a) {
  const uint64_t bits = a.load(std::memory_order_acquire);
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
void Store(std::atomic<uint64_t>& a, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof d);
  a.store(bits, std::memory_order_release);
}

class Latency final : public Algorithm {
 public:
  Latency(const Snapshot& s, double now_s) : n_(static_cast<uint32_t>(s.addresses().size())) {
    ewma_.reset(new std::atomic<uint64_t>[n_ ? n_ : 1]);
    touched_.reset(new std::atomic<uint64_t>[n_ ? n_ : 1]);
    // Kong: a new balancer starts every address at the average EWMA (0), touched now.
    for (uint32_t i = 0; i < n_; ++i) {
      Store(ewma_[i], 0.0);
      Store(touched_[i], now_s);
    }
    tree_ = std::make_unique<MinTree>(n_, [&](uint32_t i) { return KeyOf(s, i); });
  }

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    const uint32_t top = tree_->top();
    if (top != MinTree::kNone && tree_->key(top) != kInf &&
        (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[top].id)))
      return top;
    int64_t best = -1, only = -1;
    double best_key = kInf;
    uint32_t usable = 0;
    for (uint32_t i = 0; i < n_; ++i) {
      const double k = tree_->key(i);
      if (k == kInf) continue;
      ++usable;
      only = i;
      if (ctx.Tried(s.addresses()[i].id)) continue;
      if (best < 0 || k < best_key) best = i, best_key = k;
    }
    // Kong: once every address was tried the retries end ("all endpoints
    // have been retried"), except that a single address is tried again.
    if (best < 0 && usable == 1) return only;
    return best;
  }

  bool records_latency() const override { return true; }

  void Record(const Snapshot& s, uint32_t i, double rtt_s, double now_s) const override {
    double dt = now_s - Load(touched_[i]);
    if (dt < 0) dt = 0;
    const double w = std::exp(-dt / kDecaySeconds);
    Store(ewma_[i], Load(ewma_[i]) * w + rtt_s * (1.0 - w));
    Store(touched_[i], now_s);
    tree_->Update(i, KeyOf(s, i));
  }

  void AvailabilityChanged(const Snapshot& s, uint32_t i, double now_s) const override {
    if (s.available(i)) {
      // Kong's slow start: a returning address starts at the average EWMA of
      // the available addresses (its own counting as 0).
      double total = 0;
      uint32_t count = 0;
      for (uint32_t j = 0; j < n_; ++j) {
        if (!s.available(j)) continue;
        ++count;
        if (j != i) total += Load(ewma_[j]);
      }
      Store(ewma_[i], count ? total / count : 0.0);
      Store(touched_[i], now_s);
    } else {
      Store(ewma_[i], 0.0);  // Kong forgets the EWMA of an address that went away
    }
    tree_->Update(i, KeyOf(s, i));
  }

 private:
  double KeyOf(const Snapshot& s, uint32_t i) const {
    if (!s.usable(i)) return kInf;
    const double e = Load(ewma_[i]);
    if (e <= 0) return -kInf;  // no latency yet: best, ties go to the lower index
    return std::log(e) + Load(touched_[i]) / kDecaySeconds - std::log(s.addresses()[i].weight);
  }

  uint32_t n_;
  std::unique_ptr<std::atomic<uint64_t>[]> ewma_;
  std::unique_ptr<std::atomic<uint64_t>[]> touched_;
  std::unique_ptr<MinTree> tree_;
};

}  // namespace

std::unique_ptr<Algorithm> MakeLatency(const Snapshot& s, double now_s, size_t* bytes) {
  auto algo = std::make_unique<Latency>(s, now_s);
  *bytes = s.addresses().size() * (3 * sizeof(uint64_t) + 2 * sizeof(uint32_t));
  return algo;
}

}  // namespace svc::balance
