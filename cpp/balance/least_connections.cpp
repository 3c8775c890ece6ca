// Least-connections: Kong's key (connections + 1) / weight, lowest wins, so
// the heaviest address wins on an idle balancer. Counts go up on a pick and
// down when the try is reported. Weight-0 and unavailable addresses are never
// picked (Kong would pick weight 0 on a retry; reference §3.3). When every
// usable address was tried, a new round starts, as in Kong.
#include <limits>

#include "balance/balance.h"
#include "balance/min_tree.h"

namespace svc::balance {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double KeyOf(const Snapshot& s, uint32_t i) {
  if (!s.usable(i)) return kInf;
  return static_cast<double>(s.connections(i) + 1) / s.addresses()[i].weight;
}

class LeastConnections final : public Algorithm {
 public:
  explicit LeastConnections(const Snapshot& s)
      : tree_(static_cast<uint32_t>(s.addresses().size()), [&s](uint32_t i) { return KeyOf(s, i); }) {}

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    int64_t chosen = -1;
    const uint32_t top = tree_.top();
    if (top != MinTree::kNone && tree_.key(top) != kInf &&
        (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[top].id))) {
      chosen = top;
    } else {
      chosen = Scan(s, ctx);
      if (chosen < 0 && ctx.tried_count > 0) {
        // Kong: all addresses failed; clear the failed set and start over.
        ctx.tried_count = 0;
        chosen = Scan(s, ctx);
      }
    }
    if (chosen >= 0) {
      const auto i = static_cast<uint32_t>(chosen);
      s.connections_slot(i).fetch_add(1, std::memory_order_relaxed);
      tree_.Update(i, KeyOf(s, i));
    }
    return chosen;
  }

  void Release(const Snapshot& s, uint32_t i) const override {
    auto& c = s.connections_slot(i);
    int64_t v = c.load(std::memory_order_relaxed);
    while (v > 0 && !c.compare_exchange_weak(v, v - 1, std::memory_order_relaxed)) {
    }
    tree_.Update(i, KeyOf(s, i));
  }

  void AvailabilityChanged(const Snapshot& s, uint32_t i, double) const override {
    tree_.Update(i, KeyOf(s, i));
  }

 private:
  // The lowest key among untried usable addresses (the retry path, O(n)).
  int64_t Scan(const Snapshot& s, const PickContext& ctx) const {
    int64_t best = -1;
    double best_key = kInf;
    for (uint32_t i = 0; i < s.addresses().size(); ++i) {
      const double k = tree_.key(i);
      if (k == kInf || ctx.Tried(s.addresses()[i].id)) continue;
      if (k < best_key) best = i, best_key = k;
    }
    return best;
  }

  mutable MinTree tree_;
};

}  // namespace

std::unique_ptr<Algorithm> MakeLeastConnections(const Snapshot& s, size_t* bytes) {
  auto algo = std::make_unique<LeastConnections>(s);
  *bytes = 2 * s.addresses().size() * sizeof(uint32_t) + s.addresses().size() * sizeof(uint64_t);
  return algo;
}

}  // namespace svc::balance
