// Command line of svc-test-backend, the one test backend every language's
// suite starts. The protocol it serves is described in backend.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace svc::testing {

enum class AcceptMode {
  on,    // accept and serve
  off,   // listen, never accept; the backlog is filled at start so connects hang
  hold,  // accept, then never read nor write: handshakes and requests hang
};

struct BackendOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: the kernel picks a free port
  std::string name = "backend";
  std::string tls_cert_chain;  // empty: plain TCP
  std::string tls_key;
  std::string client_ca;  // non-empty: a client certificate is required
  std::string tls_max;    // "", "1.2" or "1.3"
  bool session_tickets = true;
  unsigned status = 200;
  std::optional<std::string> body;  // absent: the JSON info
  unsigned delay_ms = 0;
  unsigned idle_timeout_ms = 60000;
  AcceptMode accept = AcceptMode::on;
  bool raw = false;  // echo bytes instead of speaking HTTP
  unsigned threads = 4;
  bool exit_on_stdin_eof = false;
  long parent_pid = 0;            // 0: not watched
  std::string write_self_signed;  // non-empty: write self-signed.{pem,key} here and exit
  bool help = false;
};

// Parses argv[1..argc). Errors name the option and the value that was wrong.
Status ParseBackendOptions(int argc, char** argv, BackendOptions* out);

// The --help text.
const char* BackendUsage();

}  // namespace svc::testing
