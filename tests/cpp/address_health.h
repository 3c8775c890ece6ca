// One address's health as svc_upstream_health reports it, for tests that
// follow an address through health transitions.
#pragma once

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace svc::testing {

// "HEALTHY", "UNHEALTHY", ... of `address` ("ip:port") in `upstream`'s
// health document, or "absent" when no target lists it.
inline std::string AddressHealth(Engine& engine, const std::string& upstream, const std::string& address) {
  std::string text;
  EXPECT_TRUE(engine.Health(upstream, &text).ok());
  const nlohmann::json health = nlohmann::json::parse(text);
  for (const auto& t : health["data"])
    for (const auto& a : t["data"]["addresses"])
      if (a["ip"].get<std::string>() + ":" + std::to_string(a["port"].get<int>()) == address) return a["health"];
  return "absent";
}

}  // namespace svc::testing
