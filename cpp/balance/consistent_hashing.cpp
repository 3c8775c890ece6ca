// Consistent hashing: Kong's Ketama-like continuum, reproduced exactly so a
// key maps to the address Kong would pick (kong/runloop/balancer/
// consistent_hashing.lua). Differs on retries: Kong walks back to the same
// address (#8948); here the walk skips addresses the request already tried.
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "balance/balance.h"

namespace svc::balance {
namespace {

constexpr uint32_t kMinPoints = 1000;
constexpr int kServerPoints = 160;  // Kong: points per target when all weigh the same

class ConsistentHashing final : public Algorithm {
 public:
  ConsistentHashing(std::vector<int32_t> continuum, uint32_t points)
      : continuum_(std::move(continuum)), points_(points), nearest_(points_, -1) {
    // nearest_[i]: the first filled slot at or below i, wrapping past 0 to
    // the top, so a pick jumps over empty slots instead of walking them
    // (a sparse wheel, e.g. 10 targets on 65536 slots, has gaps of ~40).
    int32_t last = -1;
    for (uint32_t i = 0; i < points_; ++i) if (continuum_[i] >= 0) last = static_cast<int32_t>(i);
    for (uint32_t i = 0; i < points_; ++i) {
      if (continuum_[i] >= 0) last = static_cast<int32_t>(i);
      nearest_[i] = last;
      if (continuum_[i] >= 0) ++filled_;
    }
  }

  int64_t Pick(const Snapshot& s, PickContext& ctx) const override {
    if (filled_ == 0) return -1;
    if (ctx.hash_index < 0) ctx.hash_index = ContinuumIndex(ctx.hash_value, points_);
    // Kong: walk the continuum once, counter-clockwise from the hash
    // (indexes are 1-based there; slot i here is Kong's i + 1).
    int32_t slot = nearest_[static_cast<uint32_t>(ctx.hash_index) - 1];
    int64_t fallback = -1;
    for (uint32_t seen = 0; seen < filled_; ++seen) {
      const int32_t a = continuum_[slot];
      if (s.usable(a)) {
        if (ctx.tried_count == 0 || !ctx.Tried(s.addresses()[a].id)) return a;
        if (fallback < 0) fallback = a;
      }
      slot = nearest_[slot == 0 ? points_ - 1 : static_cast<uint32_t>(slot) - 1];
    }
    return fallback;
  }

 private:
  std::vector<int32_t> continuum_;  // slot (Kong's 1-based index - 1) -> address, -1 if empty
  uint32_t points_;
  std::vector<int32_t> nearest_;
  uint32_t filled_ = 0;
};

}  // namespace

uint32_t ContinuumIndex(std::string_view value, uint32_t points) {
  // luaxxhash yields the signed int32 form; Lua's % is a floored modulo.
  const int64_t h = static_cast<int32_t>(XXH32(value.data(), value.size(), 0));
  int64_t m = h % static_cast<int64_t>(points);
  if (m < 0) m += points;
  return static_cast<uint32_t>(m) + 1;
}

namespace {

// Fills the continuum with `entries[a]` points per address in Kong's order;
// false when an address runs past the wheel (Kong's "requires more entries").
bool Fill(const Snapshot& s, const std::vector<uint32_t>& order, std::vector<int64_t> entries,
          uint32_t points, std::vector<int32_t>* continuum) {
  const auto& addrs = s.addresses();
  continuum->assign(points, -1);
  char key[96];
  for (uint32_t a : order) {
    const Address& addr = addrs[a];
    // Kong's key: ip .. ":" .. (":" .. port) .. " " .. i, e.g. "1.2.3.4::80 1".
    const size_t ip_len = std::min(addr.kong_ip.size(), sizeof key - 32);
    std::memcpy(key, addr.kong_ip.data(), ip_len);
    char* p = key + ip_len;
    *p++ = ':';
    *p++ = ':';
    p = std::to_chars(p, key + sizeof key, addr.port).ptr;
    *p++ = ' ';
    char* const counter = p;
    for (int64_t i = 1; i <= entries[a];) {
      char* end = std::to_chars(counter, key + sizeof key, i).ptr;
      const uint32_t index = ContinuumIndex(std::string_view(key, static_cast<size_t>(end - key)), points);
      if ((*continuum)[index - 1] < 0) {
        (*continuum)[index - 1] = static_cast<int32_t>(a);
      } else {
        ++entries[a];  // Kong: a collision moves the problem forward
      }
      ++i;
      if (i > static_cast<int64_t>(points)) return false;
    }
  }
  return true;
}

}  // namespace

std::unique_ptr<Algorithm> MakeConsistentHashing(const Snapshot& s, int slots, Status* status,
                                                 size_t* bytes) {
  const uint32_t points = slots >= static_cast<int>(kMinPoints) ? static_cast<uint32_t>(slots)
                                                                : kMinPoints;
  const auto& addrs = s.addresses();
  const auto& targets = s.targets();

  // Kong sorts targets by name then port, and addresses by "ip:port" text.
  std::vector<uint32_t> by_target(targets.size());
  for (uint32_t i = 0; i < by_target.size(); ++i) by_target[i] = i;
  std::sort(by_target.begin(), by_target.end(), [&](uint32_t a, uint32_t b) {
    if (targets[a].host != targets[b].host) return targets[a].host < targets[b].host;
    return targets[a].port < targets[b].port;
  });
  std::vector<uint32_t> order;
  for (uint32_t t : by_target) {
    std::vector<uint32_t> list = targets[t].addresses;
    std::sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) { return addrs[a].key() < addrs[b].key(); });
    order.insert(order.end(), list.begin(), list.end());
  }

  // Kong's entries: floor(w / total * #targets * 160), at least 1 when w > 0,
  // evaluated in the same order as Kong so the floors agree.
  const double total_weight = static_cast<double>(s.total_weight());
  const double targets_count = static_cast<double>(targets.size());
  std::vector<int64_t> entries(addrs.size(), 0);
  int64_t wanted = 0, weighted = 0;
  for (uint32_t a = 0; a < addrs.size(); ++a) {
    if (addrs[a].weight <= 0) continue;
    entries[a] = static_cast<int64_t>(std::floor(addrs[a].weight / total_weight * targets_count * kServerPoints));
    if (entries[a] == 0) entries[a] = 1;
    wanted += entries[a];
    ++weighted;
  }

  std::vector<int32_t> continuum;
  if (wanted <= static_cast<int64_t>(points) && Fill(s, order, entries, points, &continuum)) {
    *bytes = 2 * continuum.capacity() * sizeof(int32_t);
    return std::make_unique<ConsistentHashing>(std::move(continuum), points);
  }
  // Kong refuses a change whose continuum does not fit the wheel (about
  // slots/160 equal targets) and keeps an outdated one. svc instead fills
  // half the wheel in proportion to the weights: keys still stick to their
  // address, and a wheel of 65536 holds tens of thousands of targets.
  if (weighted * 2 <= static_cast<int64_t>(points)) {
    const double budget = points / 2.0;
    for (uint32_t a = 0; a < addrs.size(); ++a) {
      if (addrs[a].weight <= 0) continue;
      entries[a] = std::max<int64_t>(1, static_cast<int64_t>(std::floor(addrs[a].weight / total_weight * budget)));
    }
    if (Fill(s, order, entries, points, &continuum)) {
      *bytes = 2 * continuum.capacity() * sizeof(int32_t);
      return std::make_unique<ConsistentHashing>(std::move(continuum), points);
    }
  }
  *status = Error(Code::config, "consistent hashing balancer requires more entries to add the number of "
                                "hosts requested, please increase the wheel size (slots: " +
                                    std::to_string(slots) + ", addresses: " + std::to_string(weighted) + ")");
  return nullptr;
}

}  // namespace svc::balance
