// MinTree: a tournament tree over per-address keys, so that the address with
// the lowest key is one atomic load away. Keys are stored (a double per
// leaf), so an update writes one key and recompares the stored keys on the
// path to the root (log n). Concurrent updates may leave an inner node
// briefly stale; every later update on that path repairs it, and picks
// re-check the winner.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>

namespace svc::balance {

class MinTree {
 public:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  template <class Key>
  MinTree(uint32_t n, Key key) : n_(n) {
    m_ = 1;
    while (m_ < n_) m_ <<= 1;
    nodes_.reset(new std::atomic<uint32_t>[2 * m_]);
    keys_.reset(new std::atomic<uint64_t>[n_ ? n_ : 1]);
    for (uint32_t i = 0; i < n_; ++i) Store(i, key(i));
    for (uint32_t i = 0; i < m_; ++i)
      nodes_[m_ + i].store(i < n_ ? i : kNone, std::memory_order_relaxed);
    for (uint32_t k = m_ - 1; k >= 1; --k) Recompute(k);
  }

  uint32_t top() const { return nodes_[1].load(std::memory_order_acquire); }
  double key(uint32_t i) const {
    const uint64_t bits = keys_[i].load(std::memory_order_acquire);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  // Sets leaf i's key and repairs the path to the root.
  void Update(uint32_t i, double value) {
    Store(i, value);
    for (uint32_t k = (i + m_) >> 1; k >= 1; k >>= 1) Recompute(k);
  }

  size_t bytes() const { return 2 * m_ * sizeof(std::atomic<uint32_t>) + n_ * sizeof(std::atomic<uint64_t>); }

 private:
  void Store(uint32_t i, double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    keys_[i].store(bits, std::memory_order_release);
  }

  void Recompute(uint32_t k) {
    const uint32_t l = nodes_[2 * k].load(std::memory_order_acquire);
    const uint32_t r = nodes_[2 * k + 1].load(std::memory_order_acquire);
    uint32_t best;
    if (l == kNone) {
      best = r;
    } else if (r == kNone) {
      best = l;
    } else {
      // Ties go to the lower index, so results are deterministic.
      best = key(r) < key(l) ? r : l;
    }
    nodes_[k].store(best, std::memory_order_release);
  }

  uint32_t n_;
  uint32_t m_;
  std::unique_ptr<std::atomic<uint32_t>[]> nodes_;
  std::unique_ptr<std::atomic<uint64_t>[]> keys_;
};

}  // namespace svc::balance
