// The C handles behind svc.h and the one catch-all that turns anything the
// engine throws into an svc_error. No C++ type crosses svc.h.
#pragma once

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "svc/svc.h"
#include "tls/tls.h"

struct svc_error {
  svc_code code;
  std::string message;
};

struct svc_engine {
  std::shared_ptr<svc::Engine> engine;
};

struct svc_request {
  std::unique_ptr<svc::Request> request;
};

struct svc_cert_chain {
  std::shared_ptr<const svc::tls::CertChain> chain;
};

struct svc_private_key {
  std::shared_ptr<const svc::tls::PrivateKey> key;
};

struct svc_trust_store {
  std::shared_ptr<svc::tls::TrustStore> store;
};

namespace svc::capi {

// Allocates an error; under memory exhaustion returns a static one that
// svc_error_free recognises and leaves alone.
svc_error* MakeError(svc_code code, std::string message) noexcept;
svc_error* OutOfMemory() noexcept;
svc_error* FromStatus(const Status& status) noexcept;
svc_error* NullArgument(const char* name) noexcept;  // "<name> must not be NULL"
// The same, as a Status for the bodies that Guard runs.
inline Status Null(const char* name) { return Error(Code::invalid, std::string(name) + " must not be NULL"); }

// Runs `body` (returning Status) and converts the result; anything thrown
// becomes SVC_ENOMEM or SVC_EINTERNAL with the exception's text.
template <class Body>
svc_error* Guard(const char* function, Body&& body) noexcept {
  try {
    return FromStatus(body());
  } catch (const std::bad_alloc&) {
    return MakeError(SVC_ENOMEM, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return MakeError(SVC_EINTERNAL, std::string(function) + ": internal error: " + e.what());
  } catch (...) {
    return MakeError(SVC_EINTERNAL, std::string(function) + ": internal error");
  }
}

// The integer a C caller passed for an enum parameter. Read through memcpy:
// a C caller may pass any int, and loading an out-of-range value as the C++
// enum type would be undefined behaviour.
template <class Enum>
int EnumValue(const Enum& e) noexcept {
  static_assert(sizeof(Enum) == sizeof(int), "svc.h enums are int-sized");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// Copies text into memory the caller releases with svc_free.
char* CopyOut(const std::string& text) noexcept;

}  // namespace svc::capi

struct svc_conn {
  std::unique_ptr<svc::Lease> lease;
};

struct svc_response {
  svc::http::Response response;
  std::string peer_ip;
  int peer_port = 0;
};
