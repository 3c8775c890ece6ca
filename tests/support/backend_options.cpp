#include "support/backend_options.h"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>

namespace svc::testing {

namespace {

Status Invalid(const std::string& option, const std::string& value, const std::string& why) {
  return Error(Code::invalid, option + " '" + value + "': " + why);
}

Status ParseUnsigned(const std::string& option, const std::string& value, unsigned long max,
                     unsigned long* out) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
    return Invalid(option, value, "expected a non-negative integer");
  }
  errno = 0;
  unsigned long n = std::strtoul(value.c_str(), nullptr, 10);
  if (errno != 0 || n > max) {
    return Invalid(option, value, "must be at most " + std::to_string(max));
  }
  *out = n;
  return Status::Ok();
}

// HOST:PORT with HOST an IPv4 literal, or [IPV6]:PORT.
Status ParseListen(const std::string& value, BackendOptions* out) {
  std::string host;
  std::string port;
  if (!value.empty() && value[0] == '[') {
    size_t close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':') {
      return Invalid("--listen", value, "expected [IPV6]:PORT");
    }
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    size_t colon = value.rfind(':');
    if (colon == std::string::npos) return Invalid("--listen", value, "expected HOST:PORT");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  if (host.empty()) return Invalid("--listen", value, "empty host");
  unsigned long n = 0;
  SVC_TRY(ParseUnsigned("--listen", port, 65535, &n));
  out->listen_host = host;
  out->listen_port = static_cast<uint16_t>(n);
  return Status::Ok();
}

Status ParseOnOff(const std::string& option, const std::string& value, bool* out) {
  if (value == "on") {
    *out = true;
  } else if (value == "off") {
    *out = false;
  } else {
    return Invalid(option, value, "expected on or off");
  }
  return Status::Ok();
}

}  // namespace

const char* BackendUsage() {
  return R"(usage: svc-test-backend [options]
       svc-test-backend --write-self-signed DIR

Prints "LISTENING <port>" once on stdout, then serves until SIGTERM/SIGINT.

  --listen HOST:PORT        IPv4 HOST:PORT or [IPV6]:PORT (default 127.0.0.1:0; 0 = free port)
  --name NAME               reported in X-Backend and the JSON info (default "backend")
  --tls CHAIN_PEM,KEY_PEM   serve TLS (1.2 and 1.3) with this certificate chain and key
  --client-ca CA_PEM        require a client certificate that verifies against CA_PEM
  --tls-max 1.2|1.3         highest TLS version offered
  --session-tickets on|off  TLS session resumption (tickets and session cache; default on)
  --status N                default response status (default 200)
  --body TEXT               default response body (default: the JSON info)
  --delay-ms N              wait N ms before every response (not /_admin/*)
  --idle-timeout-ms N       close a keep-alive connection idle for N ms (default 60000)
  --accept on|off|hold      off: never accept, backlog pre-filled so connects hang;
                            hold: accept but never read or write (default on)
  --raw                     echo bytes (over TCP or TLS) instead of HTTP
  --threads N               I/O threads (default 4)
  --exit-on-stdin-eof       exit when stdin reaches EOF (the parent test died or closed it)
  --parent-pid PID          exit when process PID is gone
  --write-self-signed DIR   write DIR/self-signed.pem and DIR/self-signed.key, print their
                            paths, exit

SIGUSR1 resets every /_admin/ override. Paths: see tests/support/backend.md.
)";
}

Status ParseBackendOptions(int argc, char** argv, BackendOptions* out) {
  BackendOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    auto take = [&](std::string* v) -> Status {
      if (has_inline_value) {
        *v = value;
        return Status::Ok();
      }
      if (i + 1 >= argc) return Error(Code::invalid, arg + ": missing value");
      *v = argv[++i];
      return Status::Ok();
    };
    auto no_value = [&]() -> Status {
      if (has_inline_value) return Invalid(arg, value, "takes no value");
      return Status::Ok();
    };
    unsigned long n = 0;
    if (arg == "--help" || arg == "-h") {
      SVC_TRY(no_value());
      opts.help = true;
    } else if (arg == "--listen") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseListen(value, &opts));
    } else if (arg == "--name") {
      SVC_TRY(take(&opts.name));
    } else if (arg == "--tls") {
      SVC_TRY(take(&value));
      size_t comma = value.find(',');
      if (comma == std::string::npos || comma == 0 || comma + 1 == value.size()) {
        return Invalid(arg, value, "expected CHAIN_PEM,KEY_PEM");
      }
      opts.tls_cert_chain = value.substr(0, comma);
      opts.tls_key = value.substr(comma + 1);
    } else if (arg == "--client-ca") {
      SVC_TRY(take(&opts.client_ca));
      if (opts.client_ca.empty()) return Invalid(arg, "", "expected a file");
    } else if (arg == "--tls-max") {
      SVC_TRY(take(&value));
      if (value != "1.2" && value != "1.3") return Invalid(arg, value, "expected 1.2 or 1.3");
      opts.tls_max = value;
    } else if (arg == "--session-tickets") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseOnOff(arg, value, &opts.session_tickets));
    } else if (arg == "--status") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseUnsigned(arg, value, 599, &n));
      if (n < 200) return Invalid(arg, value, "expected a status from 200 to 599");
      opts.status = static_cast<unsigned>(n);
    } else if (arg == "--body") {
      SVC_TRY(take(&value));
      opts.body = value;
    } else if (arg == "--delay-ms") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseUnsigned(arg, value, 3600000, &n));
      opts.delay_ms = static_cast<unsigned>(n);
    } else if (arg == "--idle-timeout-ms") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseUnsigned(arg, value, 3600000, &n));
      if (n == 0) return Invalid(arg, value, "must be positive");
      opts.idle_timeout_ms = static_cast<unsigned>(n);
    } else if (arg == "--accept") {
      SVC_TRY(take(&value));
      if (value == "on") {
        opts.accept = AcceptMode::on;
      } else if (value == "off") {
        opts.accept = AcceptMode::off;
      } else if (value == "hold") {
        opts.accept = AcceptMode::hold;
      } else {
        return Invalid(arg, value, "expected on, off or hold");
      }
    } else if (arg == "--raw") {
      SVC_TRY(no_value());
      opts.raw = true;
    } else if (arg == "--threads") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseUnsigned(arg, value, 64, &n));
      if (n == 0) return Invalid(arg, value, "must be positive");
      opts.threads = static_cast<unsigned>(n);
    } else if (arg == "--exit-on-stdin-eof") {
      SVC_TRY(no_value());
      opts.exit_on_stdin_eof = true;
    } else if (arg == "--parent-pid") {
      SVC_TRY(take(&value));
      SVC_TRY(ParseUnsigned(arg, value, 0x7fffffff, &n));
      if (n == 0) return Invalid(arg, value, "must be positive");
      opts.parent_pid = static_cast<long>(n);
    } else if (arg == "--write-self-signed") {
      SVC_TRY(take(&opts.write_self_signed));
      if (opts.write_self_signed.empty()) return Invalid(arg, "", "expected a directory");
    } else {
      return Error(Code::invalid, "unknown option '" + arg + "' (see --help)");
    }
  }
  if (!opts.client_ca.empty() && opts.tls_cert_chain.empty()) {
    return Error(Code::invalid, "--client-ca needs --tls");
  }
  *out = std::move(opts);
  return Status::Ok();
}

}  // namespace svc::testing
