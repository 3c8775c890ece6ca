// Round-robin as a precomputed, deterministic smooth weighted schedule.
// Kong shuffles its wheel randomly per rebuild (#3460); here each address i
// with unit weight u_i takes the positions (2k+1)/(2u_i), k < u_i, merged in
// time order: exact over every cycle of sum(u_i) picks and interleaved.
// A pick is one atomic increment and an array read.
#include <numeric>
#include <queue>

#include "balance/balance.h"

namespace svc::balance {
namespace {

constexpr uint64_t kMaxSchedule = uint64_t{1} << 20;

class RoundRobin final : public Algorithm {
 public:
  explicit RoundRobin(std::vector<uint32_t> schedule) : schedule_(std::move(schedule)) {}

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    const size_t len = schedule_.size();
    if (len == 0) return -1;
    if (ctx.tried_count > 0 && !AnyUntried(s, ctx)) {
      // Every available address was tried: go on with the next one in the
      // schedule, so further retries keep rotating (one cursor step).
      const uint64_t start = cursor_.fetch_add(1, std::memory_order_relaxed);
      for (size_t step = 0; step < len; ++step) {
        const uint32_t i = schedule_[(start + step) % len];
        if (s.available(i)) return i;
      }
      return -1;
    }
    // Each look consumes a slot of the shared cursor, so skipped (unavailable
    // or tried) addresses leave the others in exact proportion to their weights.
    for (size_t step = 0; step < len; ++step) {
      const uint32_t i = schedule_[cursor_.fetch_add(1, std::memory_order_relaxed) % len];
      if (!s.available(i)) continue;
      if (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[i].id)) return i;
    }
    return -1;
  }

 private:
  static bool AnyUntried(const Snapshot& s, const PickContext& ctx) {
    for (uint32_t i = 0; i < s.addresses().size(); ++i)
      if (s.usable(i) && !ctx.Tried(s.addresses()[i].id)) return true;
    return false;
  }

  std::vector<uint32_t> schedule_;
  mutable std::atomic<uint64_t> cursor_{0};
};

}  // namespace

std::unique_ptr<Algorithm> MakeRoundRobin(const Snapshot& s, size_t* bytes) {
  const auto& addrs = s.addresses();
  uint64_t g = 0;
  for (const Address& a : addrs)
    if (a.weight > 0) g = std::gcd(g, static_cast<uint64_t>(a.weight));
  std::vector<uint64_t> units(addrs.size(), 0);
  uint64_t total = 0;
  for (size_t i = 0; i < addrs.size(); ++i) {
    if (addrs[i].weight > 0) units[i] = static_cast<uint64_t>(addrs[i].weight) / g;
    total += units[i];
  }
  // Bound the table: scale the weights down proportionally (at least 1 each).
  if (total > kMaxSchedule) {
    const uint64_t old_total = total;
    total = 0;
    for (uint64_t& u : units) {
      if (u == 0) continue;
      u = std::max<uint64_t>(1, u * kMaxSchedule / old_total);
      total += u;
    }
  }

  struct Slot {
    uint64_t k, u;  // next position is (2k+1)/(2u)
    uint32_t index;
  };
  // Min-heap on (2k+1)/(2u), ties by index: compare by cross-multiplication.
  auto later = [](const Slot& a, const Slot& b) {
    const unsigned __int128 lhs = static_cast<unsigned __int128>(2 * a.k + 1) * b.u;
    const unsigned __int128 rhs = static_cast<unsigned __int128>(2 * b.k + 1) * a.u;
    if (lhs != rhs) return lhs > rhs;
    return a.index > b.index;
  };
  std::priority_queue<Slot, std::vector<Slot>, decltype(later)> heap(later);
  for (size_t i = 0; i < units.size(); ++i)
    if (units[i] > 0) heap.push({0, units[i], static_cast<uint32_t>(i)});

  std::vector<uint32_t> schedule;
  schedule.reserve(total);
  while (!heap.empty()) {
    Slot top = heap.top();
    heap.pop();
    schedule.push_back(top.index);
    if (++top.k < top.u) heap.push(top);
  }
  *bytes = schedule.capacity() * sizeof(uint32_t);
  return std::make_unique<RoundRobin>(std::move(schedule));
}

}  // namespace svc::balance
