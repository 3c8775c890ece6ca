// http: one HTTP/1.1 exchange over a connection: the request written as one
// buffer, the response parsed by Boost.Beast. Used by send mode (active probes
// speak HTTP through Beast on Asio, in health/prober.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "net/connection.h"

namespace svc::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

// What Exchange writes; it borrows everything for the call. Every field is
// checked by the caller (Request::Send: a token method, a target without
// spaces or line breaks, CheckHeader on each header).
struct Request {
  std::string_view method;          // "GET", "POST", ...
  std::string_view target;          // path with query, e.g. "/users?id=3"
  const Fields* headers = nullptr;  // in order; may be null
  std::string_view host;            // written first as "Host: <host>" when not empty
  std::string_view body;
};

struct Response {
  int status = 0;
  Fields headers;       // as received, in order
  std::string body;     // decoded (chunked transfer encoding removed)
  bool keep_alive = false;
};

struct Limits {
  int64_t max_header_bytes = 65536;
  int64_t max_body_bytes = 67108864;
};

// True when `s` is a non-empty HTTP token (RFC 9110 §5.6.2): method and header names.
bool IsToken(std::string_view s);

// Checks one header of a request before it is written (Beast writes names
// and values as given, so CR or LF would start a header of the caller's
// choosing). Code::invalid "header name 'X Y' is not an HTTP token", or
// "header 'Name: value' contains CR, LF or NUL".
Status CheckHeader(std::string_view name, std::string_view value);

// Splits "Name: value" into its parts. Code::invalid when the name is not an
// HTTP token or the line holds CR, LF or NUL (header injection), e.g.
// "header 'X-A: b\r\nX-Evil: 1' contains CR or LF".
Status ParseHeaderLine(std::string_view line, std::string* name, std::string* value);

// True for GET, HEAD, PUT, DELETE, OPTIONS, TRACE (RFC 9110 §9.2.2).
bool Idempotent(std::string_view method);

// Writes `request` and reads one response on `conn`. The request carries
// Content-Length when it has a body, and for POST and PUT (as Beast's
// prepare_payload does); a TRACE with a body is Code::invalid (RFC 9110
// §9.3.8). *started becomes true once a byte of the response arrived (a try
// that started is never retried).
// Errors: Code::proto for a malformed response or one over the limits
// ("response header exceeds 65536 bytes"), the connection's codes for I/O.
Status Exchange(net::Connection& conn, const Request& request, const Limits& limits, int write_timeout_ms,
                int read_timeout_ms, Response* response, bool* started);

}  // namespace svc::http
