// Least-connections: Kong's key (connections + 1) / weight, lowest wins, so
// the heaviest address wins on an idle balancer. Counts go up on a pick and
// down when the try is reported. Weight-0 and unavailable addresses are never
// picked (Kong would pick weight 0 on a retry; reference §3.3).
#include <limits>

#include "balance/balance.h"
#include "balance/min_tree.h"

namespace svc::balance {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Kong's key; unusable addresses sort last.
struct ConnectionsKey {
  const Snapshot& s;
  double operator()(uint32_t i) const {
    if (!s.usable(i)) return kInf;
    return static_cast<double>(s.connections(i) + 1) / s.addresses()[i].weight;
  }
};

class LeastConnections final : public Algorithm {
 public:
  explicit LeastConnections(const Snapshot& s)
      : tree_(static_cast<uint32_t>(s.addresses().size()), KeyOf(s)) {}

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    const auto key = KeyOf(s);
    int64_t chosen = -1;
    const uint32_t top = tree_.top();
    if (top != MinTree::kNone && key(top) != kInf &&
        (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[top].id))) {
      chosen = top;
    } else {
      chosen = Scan(s, ctx, key);
    }
    if (chosen >= 0) {
      s.connections_slot(static_cast<uint32_t>(chosen)).fetch_add(1, std::memory_order_relaxed);
      tree_.Update(static_cast<uint32_t>(chosen), key);
    }
    return chosen;
  }

  void Release(const Snapshot& s, uint32_t i) const override {
    auto& c = s.connections_slot(i);
    int64_t v = c.load(std::memory_order_relaxed);
    while (v > 0 && !c.compare_exchange_weak(v, v - 1, std::memory_order_relaxed)) {
    }
    tree_.Update(i, KeyOf(s));
  }

  void AvailabilityChanged(const Snapshot& s, uint32_t i) const override {
    tree_.Update(i, KeyOf(s));
  }

 private:
  static ConnectionsKey KeyOf(const Snapshot& s) { return ConnectionsKey{s}; }

  // Retry path: the lowest key among untried usable addresses, else among tried.
  template <class Key>
  static int64_t Scan(const Snapshot& s, const PickContext& ctx, Key key) {
    int64_t best = -1, fallback = -1;
    double best_key = kInf, fallback_key = kInf;
    for (uint32_t i = 0; i < s.addresses().size(); ++i) {
      const double k = key(i);
      if (k == kInf) continue;
      if (ctx.Tried(s.addresses()[i].id)) {
        if (k < fallback_key) fallback = i, fallback_key = k;
      } else if (k < best_key) {
        best = i, best_key = k;
      }
    }
    return best >= 0 ? best : fallback;
  }

  mutable MinTree tree_;
};

}  // namespace

std::unique_ptr<Algorithm> MakeLeastConnections(const Snapshot& s, size_t* bytes) {
  auto algo = std::make_unique<LeastConnections>(s);
  *bytes = 2 * s.addresses().size() * sizeof(uint32_t);
  return algo;
}

}  // namespace svc::balance
