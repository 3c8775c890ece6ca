// http: one HTTP/1.1 exchange over a connection, with Boost.Beast doing the
// serialising and the parsing. Used by send mode (and by active probes).
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

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // path with query, e.g. "/users?id=3"
  Fields headers;       // in order; Host is added when absent
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

// Writes `request` and reads one response on `conn`. *started becomes true
// once a byte of the response arrived (a try that started is never retried).
// Errors: Code::proto for a malformed response or one over the limits
// ("response header exceeds 65536 bytes"), the connection's codes for I/O.
Status Exchange(net::Connection& conn, const Request& request, const Limits& limits, int write_timeout_ms,
                int read_timeout_ms, Response* response, bool* started);

}  // namespace svc::http
