// fuzz_upstream: one Kong Upstream entity in JSON, as svc_upstream_upsert
// receives it (the engine parses it with nlohmann and calls
// config::ParseUpstream), plus the Target entity parser and target
// normalisation on the same document, since targets arrive the same way.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "fuzz_support.h"

using namespace svc;
using nlohmann::json;

namespace {

// Every string in the document, as a target text ("host:port", "[v6]:p").
void NormalizeStrings(const json& v, int* budget) {
  if (--*budget < 0) return;
  if (v.is_string()) {
    config::TargetAddress a;
    const Status st = config::NormalizeTarget(v.get_ref<const std::string&>(), &a);
    if (!st.ok()) {
      fuzz::CheckConfigError(st);
      return;
    }
    config::TargetConfig t;
    t.address = a;
    fuzz::CheckTarget(t);
    return;
  }
  if (v.is_structured()) {
    for (const auto& item : v) NormalizeStrings(item, budget);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  const json entity = json::parse(text, text + size, nullptr, /*allow_exceptions=*/false);
  if (entity.is_discarded()) return 0;  // the engine answers SVC_EINVAL before any parser runs

  config::UpstreamConfig up;
  const Status st = config::ParseUpstream(entity, &up);
  if (st.ok()) {
    fuzz::CheckUpstreamRoundTrip(up);
  } else {
    fuzz::CheckConfigError(st);
  }

  config::TargetConfig target;
  const Status tst = config::ParseTarget(entity, &target);
  if (tst.ok()) {
    fuzz::CheckTarget(target);
    config::TargetConfig again;
    const json shown = config::TargetToJson(target, "b5a0c1c4-3c52-4d4a-8a3e-2f6f1b0e9d11");
    const Status ast = config::ParseTarget(shown, &again);
    FUZZ_CHECK(ast.ok(), ast.message() + " for " + shown.dump());
    FUZZ_CHECK(again.address.target == target.address.target && again.weight == target.weight &&
                   again.tags == target.tags && again.id == target.id,
               shown.dump());
  } else {
    fuzz::CheckConfigError(tst);
  }

  int budget = 256;
  NormalizeStrings(entity, &budget);
  return 0;
}
