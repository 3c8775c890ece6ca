// health: lua-resty-healthcheck's per-address state machine (reference §5.3):
// four states, four separate 8-bit counters, per-mode thresholds, statuses in
// neither list ignored. Pure logic: the engine owns the state and applies
// availability changes to the balancer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"

namespace svc::health {

enum class State : uint8_t { healthy, unhealthy, mostly_healthy, mostly_unhealthy };

// Healthy and mostly-healthy addresses stay in the balancer.
inline bool Available(State s) { return s == State::healthy || s == State::mostly_healthy; }
const char* StateName(State s);

enum class Mode { active, passive };
enum class Report { success, http_failure, tcp_failure, timeout };

struct AddressHealth {
  State state = State::healthy;
  uint8_t successes = 0, http_failures = 0, tcp_failures = 0, timeouts = 0;
};

// Classifies an HTTP status by the mode's lists: healthy list -> success,
// unhealthy list or 0 -> HTTP failure, anything else -> ignored (nullopt).
std::optional<Report> ClassifyStatus(const config::HealthchecksConfig& hc, Mode mode, int status);
// The same against one mode's lists.
std::optional<Report> ClassifyStatus(const config::HealthyConfig& healthy, const config::UnhealthyConfig& unhealthy,
                                     int status);

// Applies one report. Returns the new state when the state changed.
std::optional<State> Apply(const config::HealthchecksConfig& hc, Mode mode, Report report,
                           AddressHealth* h);

// Forces a state and clears the counters (Kong's set_target_status).
void Force(bool healthy, AddressHealth* h);

}  // namespace svc::health
