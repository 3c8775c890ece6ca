// svc-test-backend's server: HTTP/1.1 (or a raw echo) over TCP or TLS on one
// io_context run by a few threads.
#pragma once

#include <cstdint>
#include <functional>

#include "common/status.h"
#include "support/backend_options.h"

namespace svc::testing {

// Loads the TLS material, binds and listens, calls `on_listening` with the
// bound port, then serves until SIGTERM or SIGINT (or stdin EOF, or the
// watched parent's exit, when the options ask for it). Returns the reason a
// start failed, or Ok after a requested stop.
Status RunBackend(const BackendOptions& options,
                  const std::function<void(uint16_t port)>& on_listening);

}  // namespace svc::testing
