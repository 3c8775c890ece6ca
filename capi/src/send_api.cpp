// svc.h: send mode and responses.
#include <strings.h>

#include "handles.h"

using svc::Status;
using svc::capi::Guard;
using svc::capi::Null;
using svc::capi::NullArgument;

extern "C" {

svc_error* svc_request_send(svc_request* r, const char* method, const char* path, const char* const* headers,
                            const void* body, size_t body_len, svc_response** out) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_request_send", [&]() -> Status {
    if (!r) return Null("request");
    if (!method) return Null("method");
    if (!path) return Null("path");
    if (!body && body_len) return svc::Error(svc::Code::invalid, "body must not be NULL when body_len is not 0");
    svc::http::Fields fields;
    for (size_t i = 0; headers && headers[i]; ++i) {
      std::string name, value;
      SVC_TRY(svc::http::ParseHeaderLine(headers[i], &name, &value));
      fields.emplace_back(std::move(name), std::move(value));
    }
    auto handle = std::make_unique<svc_response>();
    SVC_TRY(r->request->Send(method, path, std::move(fields),
                             std::string_view(static_cast<const char*>(body), body_len), &handle->response));
    handle->peer_ip = r->request->peer_ip() ? *r->request->peer_ip() : "";
    handle->peer_port = r->request->peer_port();
    *out = handle.release();
    return Status::Ok();
  });
}

int svc_response_status(const svc_response* res) { return res ? res->response.status : 0; }

const char* svc_response_header(const svc_response* res, const char* name) {
  if (!res || !name) return nullptr;
  for (const auto& [n, v] : res->response.headers)
    if (strcasecmp(n.c_str(), name) == 0) return v.c_str();
  return nullptr;
}

size_t svc_response_header_count(const svc_response* res) { return res ? res->response.headers.size() : 0; }

int svc_response_header_at(const svc_response* res, size_t i, const char** name, const char** value) {
  if (!res || i >= res->response.headers.size()) return 0;
  if (name) *name = res->response.headers[i].first.c_str();
  if (value) *value = res->response.headers[i].second.c_str();
  return 1;
}

const void* svc_response_body(const svc_response* res, size_t* out_len) {
  if (out_len) *out_len = res ? res->response.body.size() : 0;
  return res ? res->response.body.data() : nullptr;
}

const char* svc_response_peer_ip(const svc_response* res) { return res ? res->peer_ip.c_str() : nullptr; }

int svc_response_peer_port(const svc_response* res) { return res ? res->peer_port : 0; }

void svc_response_free(svc_response* res) { delete res; }

}  // extern "C"
