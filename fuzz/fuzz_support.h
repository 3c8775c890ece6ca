// Shared by the fuzz targets: a check that survives NDEBUG, and the
// invariants every parsed Upstream and Target must keep.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"

// Aborts (a libFuzzer crash) with the broken invariant and a detail string.
#define FUZZ_CHECK(cond, detail)                                                          \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(detail).c_str());                                          \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace svc::fuzz {

// A rejected entity or document: Code::config (or no_memory) and a message.
inline void CheckConfigError(const Status& st) {
  FUZZ_CHECK(st.code() == Code::config || st.code() == Code::no_memory, st.message());
  FUZZ_CHECK(!st.message().empty(), "empty error message");
}

// What the Admin API shows of an accepted upstream must load back, and a
// second round changes nothing. Only `algorithm` may move on the first round
// (hash_on decides it: Kong's shorthand), everything else stays.
inline void CheckUpstreamRoundTrip(const config::UpstreamConfig& u) {
  const nlohmann::json shown = config::UpstreamToJson(u);
  config::UpstreamConfig again;
  const Status st = config::ParseUpstream(shown, &again);
  FUZZ_CHECK(st.ok(), st.message() + " for " + shown.dump());
  nlohmann::json shown_again = config::UpstreamToJson(again);
  config::UpstreamConfig third;
  const Status st3 = config::ParseUpstream(shown_again, &third);
  FUZZ_CHECK(st3.ok(), st3.message());
  FUZZ_CHECK(config::UpstreamToJson(third) == shown_again, shown_again.dump());
  nlohmann::json a = shown, b = shown_again;
  a.erase("algorithm");
  b.erase("algorithm");
  FUZZ_CHECK(a == b, shown.dump() + " became " + shown_again.dump());
  FUZZ_CHECK(u.slots >= 10 && u.slots <= 65536, std::to_string(u.slots));
  FUZZ_CHECK(u.healthchecks.threshold >= 0 && u.healthchecks.threshold <= 100, shown.dump());
}

// An accepted target is normalised: normalising it again is a no-op.
inline void CheckTarget(const config::TargetConfig& t) {
  FUZZ_CHECK(t.weight >= 0 && t.weight <= 65535, std::to_string(t.weight));
  FUZZ_CHECK(t.address.port >= 0 && t.address.port <= 65535, t.address.target);
  config::TargetAddress again;
  const Status st = config::NormalizeTarget(t.address.target, &again);
  FUZZ_CHECK(st.ok(), st.message());
  FUZZ_CHECK(again.target == t.address.target && again.host == t.address.host &&
                 again.port == t.address.port && again.kind == t.address.kind,
             t.address.target + " became " + again.target);
}

}  // namespace svc::fuzz
