// svc.h: requests, the kong.service setters and pick mode.
#include "handles.h"

using svc::Status;
using svc::capi::Guard;
using svc::capi::Null;
using svc::capi::NullArgument;

extern "C" {

svc_error* svc_request_new(svc_request** out, svc_engine* e) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_request_new", [&]() -> Status {
    if (!e) return Null("engine");
    if (e->engine->closed()) return svc::Error(svc::Code::closed, "the engine is closed");
    auto handle = std::make_unique<svc_request>();
    handle->request = std::make_unique<svc::Request>(e->engine);
    *out = handle.release();
    return Status::Ok();
  });
}

void svc_request_free(svc_request* r) { delete r; }

svc_error* svc_request_set_phase(svc_request* r, svc_phase p) {
  return Guard("svc_request_set_phase", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetPhase(static_cast<svc::Phase>(svc::capi::EnumValue(p)));
  });
}

svc_phase svc_request_phase(const svc_request* r) {
  return r ? static_cast<svc_phase>(r->request->phase()) : static_cast<svc_phase>(0);
}

svc_error* svc_set_upstream(svc_request* r, const char* host) {
  return Guard("svc_set_upstream", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetUpstream(host);
  });
}

svc_error* svc_set_target(svc_request* r, const char* host, int port) {
  return Guard("svc_set_target", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetTarget(host, port);
  });
}

svc_error* svc_set_tls_cert_key(svc_request* r, const svc_cert_chain* chain, const svc_private_key* key) {
  return Guard("svc_set_tls_cert_key", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetTlsCertKey(chain ? chain->chain : nullptr, key ? key->key : nullptr);
  });
}

svc_error* svc_set_tls_verify(svc_request* r, int on) {
  return Guard("svc_set_tls_verify", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetTlsVerify(on != 0);
  });
}

svc_error* svc_set_tls_verify_depth(svc_request* r, int depth) {
  return Guard("svc_set_tls_verify_depth", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetTlsVerifyDepth(depth);
  });
}

svc_error* svc_set_tls_verify_store(svc_request* r, const svc_trust_store* store) {
  return Guard("svc_set_tls_verify_store", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetTlsVerifyStore(store ? store->store : nullptr);
  });
}

svc_error* svc_set_retries(svc_request* r, int retries) {
  return Guard("svc_set_retries", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetRetries(retries);
  });
}

svc_error* svc_set_timeouts(svc_request* r, int connect_ms, int write_ms, int read_ms) {
  return Guard("svc_set_timeouts", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetTimeouts(connect_ms, write_ms, read_ms);
  });
}

svc_error* svc_set_hash_key(svc_request* r, const char* key, size_t len) {
  return Guard("svc_set_hash_key", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetHashKey(key, len);
  });
}

svc_error* svc_request_set_scheme(svc_request* r, const char* scheme) {
  return Guard("svc_request_set_scheme", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetScheme(scheme);
  });
}

const char* svc_request_scheme(const svc_request* r) {
  if (!r) return nullptr;
  const std::string& s = r->request->scheme();
  // Static text, so the pointer outlives later changes.
  if (s == "https") return "https";
  if (s == "tcp") return "tcp";
  if (s == "tls") return "tls";
  return "http";
}

svc_error* svc_request_set_hash_input(svc_request* r, svc_hash_on kind, const char* name, const char* value) {
  return Guard("svc_request_set_hash_input", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->SetHashInput(svc::capi::EnumValue(kind), name, value);
  });
}

svc_error* svc_request_pick(svc_request* r) {
  return Guard("svc_request_pick", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->Pick();
  });
}

const char* svc_request_peer_ip(const svc_request* r) {
  const std::string* s = r ? r->request->peer_ip() : nullptr;
  return s ? s->c_str() : nullptr;
}

int svc_request_peer_port(const svc_request* r) { return r ? r->request->peer_port() : 0; }

const char* svc_request_peer_host(const svc_request* r) {
  const std::string* s = r ? r->request->peer_host() : nullptr;
  return s ? s->c_str() : nullptr;
}

int svc_request_tries(const svc_request* r) { return r ? r->request->tries() : 0; }

svc_error* svc_request_report(svc_request* r, svc_outcome o, int http_status, uint32_t latency_us) {
  return Guard("svc_request_report", [&]() -> Status {
    if (!r) return Null("request");
    return r->request->Report(svc::capi::EnumValue(o), http_status, latency_us);
  });
}

}  // extern "C"
