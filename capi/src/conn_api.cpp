// svc.h: connect mode.
#include "handles.h"

using svc::Status;
using svc::capi::Guard;
using svc::capi::Null;
using svc::capi::NullArgument;

extern "C" {

svc_error* svc_request_on_balancer(svc_request* r, svc_balancer_cb cb, void* userdata) {
  return Guard("svc_request_on_balancer", [&]() -> Status {
    if (!r) return Null("request");
    if (!cb) {
      r->request->SetBalancerCallback(nullptr);
      return Status::Ok();
    }
    r->request->SetBalancerCallback([r, cb, userdata]() -> Status {
      svc_error* e = cb(userdata, r);
      if (!e) return Status::Ok();
      Status st(static_cast<svc::Code>(svc_error_code(e)), svc_error_message(e));
      svc_error_free(e);
      return st;
    });
    return Status::Ok();
  });
}

svc_error* svc_request_connect(svc_request* r, svc_conn** out) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_request_connect", [&]() -> Status {
    if (!r) return Null("request");
    auto handle = std::make_unique<svc_conn>();
    SVC_TRY(r->request->Connect(&handle->lease));
    *out = handle.release();
    return Status::Ok();
  });
}

void svc_request_cancel(svc_request* r) {
  if (r) r->request->Cancel();
}

svc_error* svc_conn_write(svc_conn* c, const void* buf, size_t len) {
  return Guard("svc_conn_write", [&]() -> Status {
    if (!c) return Null("connection");
    if (!buf && len) return Null("buf");
    return c->lease->Write(buf, len);
  });
}

svc_error* svc_conn_read(svc_conn* c, void* buf, size_t cap, size_t* out_len) {
  if (!out_len) return NullArgument("out_len");
  *out_len = 0;
  return Guard("svc_conn_read", [&]() -> Status {
    if (!c) return Null("connection");
    if (!buf && cap) return Null("buf");
    return c->lease->Read(buf, cap, out_len);
  });
}

svc_error* svc_conn_wait_readable(svc_conn* c, int timeout_ms, int* ready) {
  if (!ready) return NullArgument("ready");
  *ready = 0;
  return Guard("svc_conn_wait_readable", [&]() -> Status {
    if (!c) return Null("connection");
    if (timeout_ms < 0 || timeout_ms > 2147483646)
      return svc::Error(svc::Code::invalid,
                        "timeout must be an integer between 0 and 2147483646: given " + std::to_string(timeout_ms));
    bool ok = false;
    SVC_TRY(c->lease->WaitReadable(timeout_ms, &ok));
    *ready = ok ? 1 : 0;
    return Status::Ok();
  });
}

svc_error* svc_conn_set_timeouts(svc_conn* c, int write_ms, int read_ms) {
  return Guard("svc_conn_set_timeouts", [&]() -> Status {
    if (!c) return Null("connection");
    SVC_TRY(svc::CheckTimeout("write", write_ms));
    SVC_TRY(svc::CheckTimeout("read", read_ms));
    c->lease->SetTimeouts(write_ms, read_ms);
    return Status::Ok();
  });
}

void svc_conn_cancel(svc_conn* c) {
  if (c) c->lease->Cancel();
}

const char* svc_conn_peer_ip(const svc_conn* c) {
  return c && c->lease->connection() ? c->lease->connection()->ip().c_str() : nullptr;
}

int svc_conn_peer_port(const svc_conn* c) {
  return c && c->lease->connection() ? c->lease->connection()->port() : 0;
}

const char* svc_conn_peer_host(const svc_conn* c) {
  return c && c->lease->connection() ? c->lease->connection()->host().c_str() : nullptr;
}

int svc_conn_reused(const svc_conn* c) {
  return c && c->lease->connection() && c->lease->connection()->reused() ? 1 : 0;
}

int svc_conn_tls_resumed(const svc_conn* c) {
  return c && c->lease->connection() && c->lease->connection()->resumed() ? 1 : 0;
}

const char* svc_conn_tls_version(const svc_conn* c) {
  if (!c || !c->lease->connection() || !c->lease->connection()->tls()) return "";
  const std::string v = c->lease->connection()->tls_version();
  // Static text for the caller.
  if (v == "TLSv1.3") return "TLSv1.3";
  if (v == "TLSv1.2") return "TLSv1.2";
  return "unknown";
}

void svc_conn_release(svc_conn* c, int reusable) {
  if (!c) return;
  try {
    c->lease->Release(reusable != 0);
  } catch (...) {
  }
  delete c;
}

}  // extern "C"
