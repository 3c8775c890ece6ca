// fuzz_declarative: Kong's declarative format, YAML and JSON, through
// config::ParseDeclarative (what svc_engine_load_config runs before it
// touches the engine; JSON is chosen by a leading '{').
// Bad input comes back as Code::config with a message and no result; an
// accepted document holds unique upstreams whose entities round-trip.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "fuzz_support.h"

using namespace svc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<config::UpstreamWithTargets> out;
  const Status st = config::ParseDeclarative(text, &out);
  if (!st.ok()) {
    fuzz::CheckConfigError(st);
    FUZZ_CHECK(out.empty(), "a rejected document left a result");
    return 0;
  }
  std::set<std::string> names, ids, target_ids;
  for (const auto& uw : out) {
    FUZZ_CHECK(names.insert(uw.upstream.name).second, "duplicate upstream " + uw.upstream.name);
    FUZZ_CHECK(ids.insert(uw.upstream.id).second, "duplicate upstream id " + uw.upstream.id);
    fuzz::CheckUpstreamRoundTrip(uw.upstream);
    std::set<std::string> targets;
    for (const auto& t : uw.targets) {
      FUZZ_CHECK(targets.insert(t.address.target).second, "duplicate target " + t.address.target);
      FUZZ_CHECK(target_ids.insert(t.id).second, "duplicate target id " + t.id);
      fuzz::CheckTarget(t);
    }
  }
  return 0;
}
