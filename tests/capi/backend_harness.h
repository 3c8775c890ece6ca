/*
 * backend_harness.h: helpers shared by the C programs that talk to the real
 * svc-test-backend (test_connect_tls.c, test_pool.c, test_retries.c), on top
 * of harness.h and backend_proc.h. One translation unit per program.
 */
#ifndef SVC_TESTS_CAPI_BACKEND_HARNESS_H
#define SVC_TESTS_CAPI_BACKEND_HARNESS_H

#include "backend_proc.h"
#include "harness.h"

/* The last answer read by exchange() (64 KiB: not on the stack). */
static http_response res;
static char hbuf[512];
#define HDR(name) http_header(&res, (name), hbuf, sizeof hbuf)
#define BODY (res.data + res.head_len)

static inline void start_or_die(backend_proc *b, const char *const *args) {
  if (backend_start(b, args) != 0) {
    printf("cannot start the backend\n%d passed, %d failed\n", harness_passed, harness_failed + 1);
    exit(1);
  }
}

/* "<pki>/<chain>,<pki>/<key>" for --tls, in buf. */
static inline const char *tls_arg(char *buf, size_t cap, const char *chain, const char *key) {
  snprintf(buf, cap, "%s,", pki_path(chain));
  strncat(buf, pki_path(key), cap - strlen(buf) - 1);
  return buf;
}

/* A request to host:port; scheme https with `store` when tls is non-zero. */
static inline svc_request *target_req(svc_engine *e, const char *host, int port, int tls,
                                      const svc_trust_store *store) {
  svc_request *r = new_request(e);
  REQUIRE_OK(svc_set_target(r, host, port));
  if (tls) REQUIRE_OK(svc_request_set_scheme(r, "https"));
  if (store != NULL) REQUIRE_OK(svc_set_tls_verify_store(r, store));
  return r;
}

/* Connects r and GETs `path` into `res`; returns 1 when both worked (one
 * check passed), else fails a check and returns 0. The connection is
 * released reusable unless out is given (then the caller owns it). */
static inline int exchange_path(svc_request *r, const char *host, const char *path, svc_conn **out) {
  svc_conn *c = NULL;
  svc_error *err = svc_request_connect(r, &c);
  if (err != NULL) {
    CHECK_OK(err);
    return 0;
  }
  err = http_get(c, host, path, &res);
  if (err != NULL) {
    CHECK_OK(err);
    svc_conn_release(c, 0);
    return 0;
  }
  ++harness_passed;
  if (out != NULL)
    *out = c;
  else
    svc_conn_release(c, 1);
  return 1;
}
static inline int exchange(svc_request *r, const char *host, svc_conn **out) {
  return exchange_path(r, host, "/", out);
}

#endif /* SVC_TESTS_CAPI_BACKEND_HARNESS_H */
