// The per-request control language of svc-test-backend: what a request path
// asks the backend to do (backend.md lists it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace svc::testing {

struct Control {
  enum class Admin { none, info, reset, status, delay, close };
  enum class Body { info, bytes, echo };
  enum class Ending { respond, close, close_after_headers };

  Admin admin = Admin::none;  // a /_admin/ request; the fields below are then unused
  unsigned admin_value = 0;

  std::optional<unsigned> status;
  std::optional<unsigned> delay_ms;
  Body body = Body::info;
  uint64_t bytes = 0;
  bool chunked = false;
  Ending ending = Ending::respond;

  std::string error;  // non-empty: the path was malformed; answer 400 with this text
};

// Reads the commands at the start of `path` (no query). A path that does not
// start with a command, like "/x", asks for the default answer.
Control ParseControl(std::string_view path);

}  // namespace svc::testing
