#include <algorithm>

#include "health/health.h"

namespace svc::health {

const char* StateName(State s) {
  switch (s) {
    case State::healthy: return "healthy";
    case State::unhealthy: return "unhealthy";
    case State::mostly_healthy: return "mostly_healthy";
    case State::mostly_unhealthy: return "mostly_unhealthy";
  }
  return "unknown";
}

std::optional<Report> ClassifyStatus(const config::HealthchecksConfig& hc, Mode mode, int status) {
  return mode == Mode::active ? ClassifyStatus(hc.active.healthy, hc.active.unhealthy, status)
                              : ClassifyStatus(hc.passive.healthy, hc.passive.unhealthy, status);
}

std::optional<Report> ClassifyStatus(const config::HealthyConfig& healthy, const config::UnhealthyConfig& unhealthy,
                                     int status) {
  auto in = [status](const std::vector<int>& list) {
    return std::find(list.begin(), list.end(), status) != list.end();
  };
  if (in(healthy.http_statuses)) return Report::success;
  if (in(unhealthy.http_statuses) || status == 0) return Report::http_failure;
  return std::nullopt;
}

std::optional<State> Apply(const config::HealthchecksConfig& hc, Mode mode, Report report,
                           AddressHealth* h) {
  const auto& healthy = mode == Mode::active ? hc.active.healthy : hc.passive.healthy;
  const auto& unhealthy = mode == Mode::active ? hc.active.unhealthy : hc.passive.unhealthy;
  int limit = 0;
  uint8_t* counter = nullptr;
  switch (report) {
    case Report::success: limit = healthy.successes; counter = &h->successes; break;
    case Report::http_failure: limit = unhealthy.http_failures; counter = &h->http_failures; break;
    case Report::tcp_failure: limit = unhealthy.tcp_failures; counter = &h->tcp_failures; break;
    case Report::timeout: limit = unhealthy.timeouts; counter = &h->timeouts; break;
  }
  // A counter with limit 0 is disabled.
  if (limit == 0) return std::nullopt;
  const bool good = report == Report::success;
  const State direction = good ? State::healthy : State::unhealthy;
  // Already fully there: nothing to count.
  if (h->state == direction) return std::nullopt;

  if (*counter < 255) ++*counter;
  // A success clears the failure counters; a failure clears the success counter.
  if (good) {
    h->http_failures = h->tcp_failures = h->timeouts = 0;
  } else {
    h->successes = 0;
  }
  const bool failures = h->http_failures || h->tcp_failures || h->timeouts;

  std::optional<State> next;
  if (*counter >= limit) {
    next = direction;
  } else if (h->state == State::healthy && failures) {
    next = State::mostly_healthy;
  } else if (h->state == State::unhealthy && h->successes) {
    next = State::mostly_unhealthy;
  }
  if (!next || *next == h->state) return std::nullopt;
  h->state = *next;
  return next;
}

void Force(bool healthy, AddressHealth* h) {
  *h = AddressHealth{};
  h->state = healthy ? State::healthy : State::unhealthy;
}

}  // namespace svc::health
