// Consistent hashing: Kong's Ketama-like continuum, reproduced exactly so a
// key maps to the address Kong would pick (kong/runloop/balancer/
// consistent_hashing.lua). Differs on retries: Kong walks back to the same
// address (#8948); here the walk skips addresses the request already tried.
#include <xxhash.h>

#include <algorithm>
#include <cmath>

#include "balance/balance.h"

namespace svc::balance {
namespace {

constexpr uint32_t kMinPoints = 1000;
constexpr int kServerPoints = 160;  // Kong: points per target when all weigh the same

class ConsistentHashing final : public Algorithm {
 public:
  ConsistentHashing(std::vector<int32_t> continuum, uint32_t points)
      : continuum_(std::move(continuum)), points_(points) {}

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    if (ctx.hash_index < 0) ctx.hash_index = ContinuumIndex(ctx.hash_value, points_);
    uint32_t index = static_cast<uint32_t>(ctx.hash_index);
    int64_t fallback = -1;
    // Kong: walk the whole continuum once, counter-clockwise from the hash.
    for (uint32_t step = 0; step < points_; ++step) {
      const int32_t a = continuum_[index - 1];
      if (a >= 0 && s.usable(a)) {
        if (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[a].id)) return a;
        if (fallback < 0) fallback = a;
      }
      index = index == 1 ? points_ : index - 1;
    }
    return fallback;
  }

 private:
  std::vector<int32_t> continuum_;  // slot (1-based index - 1) -> address, -1 if empty
  uint32_t points_;
};

}  // namespace

uint32_t ContinuumIndex(std::string_view value, uint32_t points) {
  // luaxxhash yields the signed int32 form; Lua's % is a floored modulo.
  const int64_t h = static_cast<int32_t>(XXH32(value.data(), value.size(), 0));
  int64_t m = h % static_cast<int64_t>(points);
  if (m < 0) m += points;
  return static_cast<uint32_t>(m) + 1;
}

std::unique_ptr<Algorithm> MakeConsistentHashing(const Snapshot& s, int slots, Status* status,
                                                 size_t* bytes) {
  const uint32_t points = slots >= static_cast<int>(kMinPoints) ? static_cast<uint32_t>(slots)
                                                                : kMinPoints;
  const auto& addrs = s.addresses();
  const auto& targets = s.targets();

  // Kong sorts targets by name then port, and addresses by "ip:port" text.
  std::vector<uint32_t> order(targets.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (targets[a].host != targets[b].host) return targets[a].host < targets[b].host;
    return targets[a].port < targets[b].port;
  });

  std::vector<int32_t> continuum(points, -1);
  const double total_weight = static_cast<double>(s.total_weight());
  const double targets_count = static_cast<double>(targets.size());
  for (uint32_t t : order) {
    std::vector<uint32_t> list = targets[t].addresses;
    std::sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) {
      return addrs[a].key() < addrs[b].key();
    });
    for (uint32_t a : list) {
      const Address& addr = addrs[a];
      // Same evaluation order as Kong: ((w / total) * #targets) * 160.
      int64_t entries = addr.weight > 0
          ? static_cast<int64_t>(std::floor(addr.weight / total_weight * targets_count * kServerPoints))
          : 0;
      if (addr.weight > 0 && entries == 0) entries = 1;
      const std::string prefix = addr.kong_ip + "::" + std::to_string(addr.port) + " ";
      std::string key;
      for (int64_t i = 1; i <= entries;) {
        key = prefix;
        key += std::to_string(i);
        const uint32_t index = ContinuumIndex(key, points);
        if (continuum[index - 1] < 0) {
          continuum[index - 1] = static_cast<int32_t>(a);
        } else {
          ++entries;  // Kong: a collision moves the problem forward
        }
        ++i;
        if (i > static_cast<int64_t>(points)) {
          *status = Error(Code::config,
                          "consistent hashing balancer requires more entries to add the number of "
                          "hosts requested, please increase the wheel size (slots: " +
                              std::to_string(slots) + ")");
          return nullptr;
        }
      }
    }
  }
  *bytes = continuum.capacity() * sizeof(int32_t);
  return std::make_unique<ConsistentHashing>(std::move(continuum), points);
}

}  // namespace svc::balance
