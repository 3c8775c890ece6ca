// svc's own balancing guarantees (DESIGN.md §4): deterministic smooth
// round-robin exact per cycle, retries never repeating a tried peer while an
// untried available one exists, weight 0 never picked, the strict threshold.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "balance/balance.h"

namespace svc::balance {
namespace {

std::shared_ptr<Snapshot> Make(const std::string& algorithm, const std::vector<int>& weights,
                               double threshold = 0, int slots = 10000) {
  std::vector<Target> targets;
  std::vector<Address> addresses;
  for (size_t i = 0; i < weights.size(); ++i) {
    Target t;
    t.host = "10.0.0." + std::to_string(i + 1);
    t.port = 80;
    t.name = t.host + ":80";
    t.weight = weights[i];
    t.addresses.push_back(static_cast<uint32_t>(i));
    Address a;
    a.ip = a.kong_ip = a.host = t.host;
    a.port = 80;
    a.weight = weights[i];
    a.target = static_cast<uint32_t>(i);
    targets.push_back(t);
    addresses.push_back(a);
  }
  std::shared_ptr<Snapshot> s;
  Status st = Snapshot::Build(algorithm, slots, threshold, targets, addresses, {}, 0, &s);
  EXPECT_TRUE(st.ok()) << st.message();
  return s;
}

int64_t PickOnce(const Snapshot& s, std::string_view key = "") {
  PickContext ctx;
  ctx.hash_value = key;
  return s.Pick(ctx);
}

const char* kAlgorithms[] = {"round-robin", "consistent-hashing", "least-connections", "latency"};

TEST(RoundRobin, SmoothScheduleInterleavesHeavyAddress) {
  auto s = Make("round-robin", {5, 1, 1});
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += static_cast<char>('a' + PickOnce(*s));
  // Positions (2k+1)/(2w): a at 1/10,3/10,5/10,7/10,9/10; b and c at 1/2.
  EXPECT_EQ(seq, "aaabcaa");
}

TEST(RoundRobin, ExactOverEveryCycle) {
  auto s = Make("round-robin", {100, 50, 50, 25});
  // gcd 25: a cycle is 4+2+2+1 = 9 picks.
  for (int cycle = 0; cycle < 50; ++cycle) {
    std::map<int64_t, int> counts;
    for (int i = 0; i < 9; ++i) ++counts[PickOnce(*s)];
    EXPECT_EQ(counts[0], 4);
    EXPECT_EQ(counts[1], 2);
    EXPECT_EQ(counts[2], 2);
    EXPECT_EQ(counts[3], 1);
  }
}

TEST(RoundRobin, SkipsUnavailableAddresses) {
  auto s = Make("round-robin", {10, 10, 10});
  s->SetAvailable(1, false);
  std::map<int64_t, int> counts;
  for (int i = 0; i < 300; ++i) ++counts[PickOnce(*s)];
  EXPECT_EQ(counts[0], 150);
  EXPECT_EQ(counts[1], 0);
  EXPECT_EQ(counts[2], 150);
}

TEST(AllAlgorithms, RetryNeverRepeatsTriedPeerWhileAnUntriedOneExists) {
  for (const char* algorithm : kAlgorithms) {
    auto s = Make(algorithm, {100, 100, 100, 100, 100});
    for (int request = 0; request < 20; ++request) {
      PickContext ctx;
      const std::string key = "user-" + std::to_string(request);
      ctx.hash_value = key;
      std::map<int64_t, int> seen;
      for (int attempt = 0; attempt < 5; ++attempt) {
        const int64_t i = s->Pick(ctx);
        ASSERT_GE(i, 0) << algorithm;
        ctx.AddTried(s->addresses()[i].id);
        s->Release(static_cast<uint32_t>(i));
        ++seen[i];
      }
      EXPECT_EQ(seen.size(), 5u) << algorithm << " request " << request;
      // All tried: latency ends the retries (Kong); the others go on.
      if (std::string(algorithm) == "latency") {
        EXPECT_EQ(s->Pick(ctx), -1);
      } else {
        const int64_t again = s->Pick(ctx);
        EXPECT_GE(again, 0) << algorithm;
        if (again >= 0) s->Release(static_cast<uint32_t>(again));
      }
    }
  }
}

TEST(AllAlgorithms, WeightZeroIsNeverPicked) {
  for (const char* algorithm : kAlgorithms) {
    auto s = Make(algorithm, {0, 100, 0});
    PickContext ctx;
    for (int i = 0; i < 100; ++i) {
      const std::string key = std::to_string(i);
      ctx.hash_value = key;
      ctx.hash_index = -1;
      ctx.tried_count = 0;
      EXPECT_EQ(s->Pick(ctx), 1) << algorithm;
      ctx.AddTried(s->addresses()[1].id);  // even as a retry, weight 0 stays out
      const int64_t retry = s->Pick(ctx);
      EXPECT_NE(retry, 0) << algorithm;
      EXPECT_NE(retry, 2) << algorithm;
      s->Release(1);
      if (retry == 1) s->Release(1);
    }
  }
}

TEST(AllAlgorithms, NoAvailableAddressGivesNoPick) {
  for (const char* algorithm : kAlgorithms) {
    auto s = Make(algorithm, {10, 10});
    s->SetAvailable(0, false);
    s->SetAvailable(1, false);
    EXPECT_EQ(PickOnce(*s), -1) << algorithm;
  }
}

TEST(Threshold, HealthyOnlyWhenAvailablePercentIsStrictlyAbove) {
  auto s = Make("round-robin", {50, 50}, 50);
  EXPECT_TRUE(s->healthy());
  s->SetAvailable(0, false);
  EXPECT_FALSE(s->healthy());  // 50% is not > 50
  EXPECT_EQ(s->unavailable_weight(), 50);
  s->SetAvailable(0, true);
  EXPECT_TRUE(s->healthy());
  EXPECT_FALSE(Make("round-robin", {50, 50}, 100)->healthy());  // Kong: 100 is never healthy
  EXPECT_FALSE(Make("round-robin", {0, 0}, 0)->healthy());      // total weight 0
}

TEST(Threshold, SetAvailableReportsChangesOnce) {
  auto s = Make("least-connections", {10, 20});
  EXPECT_TRUE(s->SetAvailable(1, false));
  EXPECT_FALSE(s->SetAvailable(1, false));
  EXPECT_EQ(s->unavailable_weight(), 20);
  EXPECT_EQ(PickOnce(*s), 0);
  EXPECT_TRUE(s->SetAvailable(1, true));
  EXPECT_EQ(s->unavailable_weight(), 0);
}

TEST(LeastConnections, TreeAgreesWithAScanUnderRandomTraffic) {
  std::vector<int> weights;
  std::mt19937 rng(7);
  for (int i = 0; i < 37; ++i) weights.push_back(1 + static_cast<int>(rng() % 200));
  auto s = Make("least-connections", weights);
  std::vector<uint32_t> open;
  for (int step = 0; step < 5000; ++step) {
    if (!open.empty() && rng() % 3 == 0) {
      const size_t k = rng() % open.size();
      s->Release(open[k]);
      open.erase(open.begin() + static_cast<long>(k));
      continue;
    }
    if (rng() % 50 == 0) s->SetAvailable(rng() % weights.size(), rng() % 2);
    // Expected: the lowest (conns+1)/weight among usable addresses, lowest index on ties.
    int64_t expected = -1;
    double best = 0;
    for (uint32_t i = 0; i < weights.size(); ++i) {
      if (!s->usable(i)) continue;
      const double key = static_cast<double>(s->connections(i) + 1) / weights[i];
      if (expected < 0 || key < best) expected = i, best = key;
    }
    const int64_t got = PickOnce(*s);
    ASSERT_EQ(got, expected) << "step " << step;
    if (got >= 0) open.push_back(static_cast<uint32_t>(got));
  }
}

TEST(ConsistentHashing, SameKeySamePeerAndRetryMoves) {
  auto s = Make("consistent-hashing", {100, 100, 100});
  for (int k = 0; k < 50; ++k) {
    const std::string key = "session-" + std::to_string(k);
    const int64_t first = PickOnce(*s, key);
    for (int again = 0; again < 3; ++again) EXPECT_EQ(PickOnce(*s, key), first);
    PickContext ctx;
    ctx.hash_value = key;
    EXPECT_EQ(s->Pick(ctx), first);
    ctx.AddTried(s->addresses()[first].id);
    EXPECT_NE(s->Pick(ctx), first);  // Kong #8948: the retry goes elsewhere
  }
}

TEST(ConsistentHashing, ContinuumIndexIsSignedFlooredModulo) {
  // xxh32("") = 0x02CC5D05 (positive); the continuum index is h % points + 1.
  EXPECT_EQ(ContinuumIndex("", 10000), static_cast<uint32_t>(0x02CC5D05 % 10000 + 1));
  // A negative signed hash maps through a floored modulo: never 0, never > points.
  for (int i = 0; i < 1000; ++i) {
    const uint32_t idx = ContinuumIndex("k" + std::to_string(i), 1000);
    EXPECT_GE(idx, 1u);
    EXPECT_LE(idx, 1000u);
  }
}

TEST(ConsistentHashing, TooManyEntriesForTheWheelIsAnError) {
  std::vector<int> weights(2000, 1);
  std::shared_ptr<Snapshot> s;
  std::vector<Target> targets;
  std::vector<Address> addresses;
  for (size_t i = 0; i < weights.size(); ++i) {
    Target t;
    t.host = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    t.port = 80;
    t.name = t.host + ":80";
    t.weight = 1;
    t.addresses.push_back(static_cast<uint32_t>(i));
    Address a;
    a.ip = a.kong_ip = a.host = t.host;
    a.port = 80;
    a.weight = 1;
    a.target = static_cast<uint32_t>(i);
    targets.push_back(t);
    addresses.push_back(a);
  }
  Status st = Snapshot::Build("consistent-hashing", 100, 0, targets, addresses, {}, 0, &s);
  EXPECT_EQ(st.code(), Code::config);
  EXPECT_EQ(st.message(),
            "consistent hashing balancer requires more entries to add the number of hosts requested, "
            "please increase the wheel size (slots: 100, addresses: 2000)");
}

TEST(ConsistentHashing, BeyondKongsCapacityFillsHalfTheWheelAndKeysStick) {
  // 5000 equal targets need 800000 Kong points: more than any wheel. svc
  // fills half of a 65536 wheel (6 points each) instead of refusing.
  std::vector<int> weights(5000, 100);
  auto s = Make("consistent-hashing", weights, 0, 65536);
  ASSERT_TRUE(s);
  std::map<int64_t, int> counts;
  for (int k = 0; k < 20000; ++k) {
    const std::string key = "k" + std::to_string(k);
    const int64_t a = PickOnce(*s, key);
    ASSERT_GE(a, 0);
    EXPECT_EQ(PickOnce(*s, key), a);
    ++counts[a];
  }
  EXPECT_GT(counts.size(), 4000u);  // spread over most addresses
}

}  // namespace
}  // namespace svc::balance

namespace svc::balance {
namespace {

TEST(RoundRobin, RetriesKeepRotatingOnceEveryPeerWasTried) {
  auto s = Make("round-robin", {100, 100, 100});
  PickContext ctx;
  std::string seq;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const int64_t i = s->Pick(ctx);
    ASSERT_GE(i, 0);
    seq += static_cast<char>('a' + i);
    ctx.AddTried(s->addresses()[i].id);
  }
  EXPECT_EQ(seq, "abcabc");
}

}  // namespace
}  // namespace svc::balance
