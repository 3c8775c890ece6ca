// svc_handles.hpp: a thin header-only RAII layer over <svc/svc.h> for the
// Python binding. It owns C handles and errors and knows nothing of Python.
#pragma once

#include <svc/svc.h>

#include <memory>

namespace svc_py {

// Calls the matching svc_*_free on destruction.
template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};

template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

inline void free_error(svc_error* e) { svc_error_free(e); }
inline void free_engine(svc_engine* e) { svc_engine_free(e); }
inline void free_request(svc_request* r) { svc_request_free(r); }
inline void free_chain(svc_cert_chain* c) { svc_cert_chain_free(c); }
inline void free_key(svc_private_key* k) { svc_private_key_free(k); }
inline void free_store(svc_trust_store* s) { svc_trust_store_free(s); }
inline void free_chars(char* p) { svc_free(p); }
inline void free_response(svc_response* r) { svc_response_free(r); }
// An svc_conn not yet handed to Python is closed, never pooled.
inline void close_conn(svc_conn* c) { svc_conn_release(c, 0); }

using ErrorPtr = Owned<svc_error, free_error>;
using EnginePtr = Owned<svc_engine, free_engine>;
using RequestPtr = Owned<svc_request, free_request>;
using ChainPtr = Owned<svc_cert_chain, free_chain>;
using KeyPtr = Owned<svc_private_key, free_key>;
using StorePtr = Owned<svc_trust_store, free_store>;
using CharsPtr = Owned<char, free_chars>;  // JSON from svc_upstream_health / _get
using ConnPtr = Owned<svc_conn, close_conn>;
using ResponsePtr = Owned<svc_response, free_response>;

// Takes ownership of what a fallible svc_* call returned (NULL = success).
inline ErrorPtr take(svc_error* e) noexcept { return ErrorPtr(e); }

}  // namespace svc_py
