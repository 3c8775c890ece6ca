// Status: the engine's typed error. One table in capi/ maps Code to svc_code.
#pragma once

#include <string>
#include <utility>

namespace svc {

// Numbered like svc_code so the C ABI maps them one to one.
enum class Code : int {
  ok = 0,
  invalid,    // SVC_EINVAL
  phase,      // SVC_EPHASE
  not_found,  // SVC_ENOTFOUND
  exists,     // SVC_EEXIST
  config,     // SVC_ECONFIG
  no_peer,    // SVC_ENOPEER
  dns,        // SVC_EDNS
  connect,    // SVC_ECONNECT
  timeout,    // SVC_ETIMEOUT
  tls,        // SVC_ETLS
  proto,      // SVC_EPROTO
  closed,     // SVC_ECLOSED
  no_memory,  // SVC_ENOMEM
  internal,   // SVC_EINTERNAL
  canceled,   // SVC_ECANCELED
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::ok;
  std::string message_;
};

inline Status Error(Code code, std::string message) { return Status(code, std::move(message)); }

}  // namespace svc

// Returns early from the enclosing function when `expr` yields a failed Status.
#define SVC_TRY(expr)                      \
  do {                                     \
    ::svc::Status svc_try_status_ = (expr); \
    if (!svc_try_status_.ok()) return svc_try_status_; \
  } while (0)
