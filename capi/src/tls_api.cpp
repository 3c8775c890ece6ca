// svc.h: TLS material.
#include "handles.h"

using svc::Status;
using svc::capi::Guard;
using svc::capi::Null;
using svc::capi::NullArgument;

extern "C" {

svc_error* svc_cert_chain_parse_pem(svc_cert_chain** out, const char* pem, size_t len) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_cert_chain_parse_pem", [&]() -> Status {
    if (!pem) return Null("pem");
    auto handle = std::make_unique<svc_cert_chain>();
    SVC_TRY(svc::tls::CertChain::ParsePem(std::string_view(pem, len), &handle->chain));
    *out = handle.release();
    return Status::Ok();
  });
}

svc_error* svc_private_key_parse_pem(svc_private_key** out, const char* pem, size_t len,
                                     const char* passphrase) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_private_key_parse_pem", [&]() -> Status {
    if (!pem) return Null("pem");
    auto handle = std::make_unique<svc_private_key>();
    SVC_TRY(svc::tls::PrivateKey::ParsePem(std::string_view(pem, len), passphrase, &handle->key));
    *out = handle.release();
    return Status::Ok();
  });
}

svc_error* svc_trust_store_new(svc_trust_store** out) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_trust_store_new", [&]() -> Status {
    auto handle = std::make_unique<svc_trust_store>();
    SVC_TRY(svc::tls::TrustStore::New(&handle->store));
    *out = handle.release();
    return Status::Ok();
  });
}

svc_error* svc_trust_store_add_pem(svc_trust_store* s, const char* pem, size_t len) {
  return Guard("svc_trust_store_add_pem", [&]() -> Status {
    if (!s) return Null("store");
    if (!pem) return Null("pem");
    return s->store->AddPem(std::string_view(pem, len));
  });
}

svc_error* svc_trust_store_load_file(svc_trust_store* s, const char* path) {
  return Guard("svc_trust_store_load_file", [&]() -> Status {
    if (!s) return Null("store");
    if (!path) return Null("path");
    return s->store->LoadFile(path);
  });
}

svc_error* svc_trust_store_load_system(svc_trust_store* s) {
  return Guard("svc_trust_store_load_system", [&]() -> Status {
    if (!s) return Null("store");
    return s->store->LoadSystem();
  });
}

void svc_cert_chain_free(svc_cert_chain* c) { delete c; }
void svc_private_key_free(svc_private_key* k) { delete k; }
void svc_trust_store_free(svc_trust_store* s) { delete s; }

}  // extern "C"
