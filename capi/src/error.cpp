#include <cstdlib>
#include <cstring>

#include "handles.h"

namespace svc::capi {
svc_error* OutOfMemory() noexcept {
  static svc_error oom{SVC_ENOMEM, "out of memory"};
  return &oom;
}

svc_error* MakeError(svc_code code, std::string message) noexcept {
  try {
    return new svc_error{code, std::move(message)};
  } catch (...) {
    return OutOfMemory();
  }
}

svc_error* FromStatus(const Status& status) noexcept {
  if (status.ok()) return nullptr;
  // Code and svc_code share their numbering.
  return MakeError(static_cast<svc_code>(status.code()), status.message());
}

svc_error* NullArgument(const char* name) noexcept {
  return MakeError(SVC_EINVAL, std::string(name) + " must not be NULL");
}

char* CopyOut(const std::string& text) noexcept {
  char* p = static_cast<char*>(std::malloc(text.size() + 1));
  if (p) std::memcpy(p, text.c_str(), text.size() + 1);
  return p;
}

}  // namespace svc::capi

extern "C" {

svc_code svc_error_code(const svc_error* e) { return e ? e->code : SVC_OK; }

const char* svc_error_message(const svc_error* e) { return e ? e->message.c_str() : ""; }

svc_error* svc_error_new(svc_code code, const char* message) {
  const int value = svc::capi::EnumValue(code);
  const svc_code c = value <= SVC_OK || value > SVC_ECANCELED ? SVC_EINVAL : static_cast<svc_code>(value);
  return svc::capi::MakeError(c, message ? message : "");
}

void svc_error_free(svc_error* e) {
  // The static out-of-memory error is never freed.
  if (e == svc::capi::OutOfMemory()) return;
  delete e;
}

const char* svc_code_name(svc_code code) {
  const int value = svc::capi::EnumValue(code);
  if (value < SVC_OK || value > SVC_ECANCELED) return "SVC_UNKNOWN";
  switch (static_cast<svc_code>(value)) {
    case SVC_OK: return "SVC_OK";
    case SVC_EINVAL: return "SVC_EINVAL";
    case SVC_EPHASE: return "SVC_EPHASE";
    case SVC_ENOTFOUND: return "SVC_ENOTFOUND";
    case SVC_EEXIST: return "SVC_EEXIST";
    case SVC_ECONFIG: return "SVC_ECONFIG";
    case SVC_ENOPEER: return "SVC_ENOPEER";
    case SVC_EDNS: return "SVC_EDNS";
    case SVC_ECONNECT: return "SVC_ECONNECT";
    case SVC_ETIMEOUT: return "SVC_ETIMEOUT";
    case SVC_ETLS: return "SVC_ETLS";
    case SVC_EPROTO: return "SVC_EPROTO";
    case SVC_ECLOSED: return "SVC_ECLOSED";
    case SVC_ENOMEM: return "SVC_ENOMEM";
    case SVC_EINTERNAL: return "SVC_EINTERNAL";
    case SVC_ECANCELED: return "SVC_ECANCELED";
  }
  return "SVC_UNKNOWN";
}

void svc_free(void* p) { std::free(p); }

const char* svc_version(void) { return SVC_VERSION_STRING; }

}  // extern "C"
