// Latency: Kong's EWMA balancer. rtt updates ewma = ewma*w + rtt*(1-w) with
// w = exp(-dt/10 s); a pick scores every address by its EWMA decayed to now,
// divided by its weight, and takes the lowest. Since every score decays by
// the common factor exp(-now/10), the order is that of
// log(ewma) + touched/10 - log(weight), which is time-invariant: the winner
// is kept in a tournament tree and a pick is one atomic load.
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

class Latency;

// Time-invariant order of Kong's decayed score; unusable addresses sort last.
struct LatencyKey {
  const Snapshot& s;
  const std::atomic<uint64_t>* ewma;
  const std::atomic<uint64_t>* touched;
  double operator()(uint32_t i) const {
    if (!s.usable(i)) return kInf;
    const double e = Load(ewma[i]);
    if (e <= 0) return -kInf;  // no latency yet: best, ties go to the lower index
    return std::log(e) + Load(touched[i]) / kDecaySeconds - std::log(s.addresses()[i].weight);
  }
};

class Latency final : public Algorithm {
 public:
  Latency(const Snapshot& s, double now_s) : n_(static_cast<uint32_t>(s.addresses().size())) {
    ewma_.reset(new std::atomic<uint64_t>[n_]);
    touched_.reset(new std::atomic<uint64_t>[n_]);
    // Kong: every address starts at the average EWMA (0 on a new balancer), touched now.
    for (uint32_t i = 0; i < n_; ++i) {
      Store(ewma_[i], 0.0);
      Store(touched_[i], now_s);
    }
    tree_ = std::make_unique<MinTree>(n_, KeyOf(s));
  }

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    const auto key = KeyOf(s);
    const uint32_t top = tree_->top();
    if (top != MinTree::kNone && key(top) != kInf &&
        (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[top].id)))
      return top;
    int64_t best = -1, fallback = -1;
    double best_key = kInf, fallback_key = kInf;
    for (uint32_t i = 0; i < n_; ++i) {
      const double k = key(i);
      if (k == kInf) continue;
      if (ctx.Tried(s.addresses()[i].id)) {
        if (fallback < 0 || k < fallback_key) fallback = i, fallback_key = k;
      } else if (best < 0 || k < best_key) {
        best = i, best_key = k;
      }
    }
    return best >= 0 ? best : fallback;
  }

  void Record(const Snapshot& s, uint32_t i, double rtt_s, double now_s) const override {
    const double last = Load(touched_[i]);
    double dt = now_s - last;
    if (dt < 0) dt = 0;
    const double w = std::exp(-dt / kDecaySeconds);
    Store(ewma_[i], Load(ewma_[i]) * w + rtt_s * (1.0 - w));
    Store(touched_[i], now_s);
    tree_->Update(i, KeyOf(s));
  }

  void AvailabilityChanged(const Snapshot& s, uint32_t i) const override {
    tree_->Update(i, KeyOf(s));
  }

  // The EWMA of address i decayed to now_s: Kong's score numerator.
  double Score(uint32_t i, double now_s) const {
    double dt = now_s - Load(touched_[i]);
    if (dt < 0) dt = 0;
    return Load(ewma_[i]) * std::exp(-dt / kDecaySeconds);
  }

 private:
  LatencyKey KeyOf(const Snapshot& s) const { return LatencyKey{s, ewma_.get(), touched_.get()}; }

  uint32_t n_;
  std::unique_ptr<std::atomic<uint64_t>[]> ewma_;
  std::unique_ptr<std::atomic<uint64_t>[]> touched_;
  std::unique_ptr<MinTree> tree_;
};

}  // namespace

std::unique_ptr<Algorithm> MakeLatency(const Snapshot& s, double now_s, size_t* bytes) {
  auto algo = std::make_unique<Latency>(s, now_s);
  *bytes = s.addresses().size() * (2 * sizeof(uint64_t) + 2 * sizeof(uint32_t));
  return algo;
}

}  // namespace svc::balance
