/* svc.h send mode from C against the real svc-test-backend: every response
 * accessor, keepalive reuse, the Host header, bodies, passive health from
 * statuses, the retry rules, limits and every bad-input path. */
#include <string.h>

#include "backend_harness.h"

static backend_proc b1, b2;

/* 1 when the len bytes at hay hold needle (memmem is not C11). */
static int has(const char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle), i;
  for (i = 0; n <= len && i <= len - n; ++i)
    if (memcmp(hay + i, needle, n) == 0) return 1;
  return 0;
}

static void test_send_and_accessors(svc_engine *e) {
  svc_request *r;
  svc_response *resp = NULL;
  const char *name = NULL, *value = NULL, *body;
  char want[128];
  size_t len = 0, i, count;
  int found_backend = 0;
  const char *headers[] = {"X-Test: 1", "Accept: text/plain", NULL};

  SECTION("Send.GetThroughTheUpstream");
  r = new_request(e);
  REQUIRE_OK(svc_set_upstream(r, "app"));
  CHECK_OK(svc_request_send(r, "GET", "/x?y=1", headers, NULL, 0, &resp));
  CHECK_INT(svc_response_status(resp), 200);
  CHECK_STR(svc_response_header(resp, "x-backend"), "b1");
  CHECK_STR(svc_response_header(resp, "X-Connection"), "1");
  CHECK(svc_response_header(resp, "X-Not-There") == NULL);
  CHECK_STR(svc_response_peer_ip(resp), "127.0.0.1");
  CHECK_INT(svc_response_peer_port(resp), b1.port);
  count = svc_response_header_count(resp);
  CHECK(count >= 8);
  for (i = 0; i < count; ++i) {
    CHECK_INT(svc_response_header_at(resp, i, &name, &value), 1);
    if (strcmp(name, "X-Backend") == 0 && strcmp(value, "b1") == 0) found_backend = 1;
  }
  CHECK_INT(found_backend, 1);
  CHECK_INT(svc_response_header_at(resp, count, &name, &value), 0);
  body = svc_response_body(resp, &len);
  snprintf(want, sizeof want, "\"host\":\"127.0.0.1:%d\"", b1.port);
  CHECK(len > 0 && has(body, len, want));
  CHECK(has(body, len, "\"x-test\":\"1\""));
  CHECK(has(body, len, "\"target\":\"/x?y=1\""));
  CHECK_INT(svc_request_phase(r), SVC_PHASE_LOG);
  svc_response_free(resp);
  svc_request_free(r);

  SECTION("Send.PostEchoAndKeepaliveReuse");
  r = new_request(e);
  REQUIRE_OK(svc_set_upstream(r, "app"));
  {
    const char *h[] = {"Content-Type: text/plain", NULL};
    CHECK_OK(svc_request_send(r, "POST", "/echo", h, "hello svc", 9, &resp));
  }
  body = svc_response_body(resp, &len);
  CHECK_INT(len, 9);
  CHECK(memcmp(body, "hello svc", 9) == 0);
  CHECK_STR(svc_response_header(resp, "X-Backend"), "b2");
  svc_response_free(resp);
  svc_request_free(r);
  r = new_request(e);
  REQUIRE_OK(svc_set_upstream(r, "app"));
  CHECK_OK(svc_request_send(r, "GET", "/", NULL, NULL, 0, &resp));
  CHECK_STR(svc_response_header(resp, "X-Backend"), "b1");
  CHECK_STR(svc_response_header(resp, "X-Request"), "2"); /* the pooled connection */
  svc_response_free(resp);
  svc_request_free(r);
}

static void test_send_errors(svc_engine *e) {
  svc_request *r;
  svc_response *resp = (svc_response *)&resp;
  char msg[256];
  int dead = dead_port();

  SECTION("Send.BadInput");
  r = new_request(e);
  REQUIRE_OK(svc_set_upstream(r, "app"));
  CHECK_ERR(svc_request_send(r, "GET", "/", NULL, NULL, 0, NULL), SVC_EINVAL, "out must not be NULL");
  CHECK_ERR(svc_request_send(NULL, "GET", "/", NULL, NULL, 0, &resp), SVC_EINVAL, "request must not be NULL");
  CHECK(resp == NULL);
  CHECK_ERR(svc_request_send(r, NULL, "/", NULL, NULL, 0, &resp), SVC_EINVAL, "method must not be NULL");
  CHECK_ERR(svc_request_send(r, "GET", NULL, NULL, NULL, 0, &resp), SVC_EINVAL, "path must not be NULL");
  CHECK_ERR(svc_request_send(r, "GET", "/", NULL, NULL, 3, &resp), SVC_EINVAL,
            "body must not be NULL when body_len is not 0");
  CHECK_ERR(svc_request_send(r, "GET\r\nX: y", "/", NULL, NULL, 0, &resp), SVC_EINVAL,
            "method must be an HTTP token: given 'GET\r\nX: y'");
  CHECK_ERR(svc_request_send(r, "GET", "/a\r\nX-Evil: 1", NULL, NULL, 0, &resp), SVC_EINVAL,
            "path must start with '/' and hold no spaces or line breaks: given '/a\r\nX-Evil: 1'");
  {
    const char *h[] = {"X-A: b\r\nX-Evil: 1", NULL};
    CHECK_ERR(svc_request_send(r, "GET", "/", h, NULL, 0, &resp), SVC_EINVAL,
              "header 'X-A: b\r\nX-Evil: 1' contains CR, LF or NUL");
  }
  {
    const char *h[] = {"NoColon", NULL};
    CHECK_ERR(svc_request_send(r, "GET", "/", h, NULL, 0, &resp), SVC_EINVAL,
              "header 'NoColon' is not 'Name: value'");
  }
  {
    const char *h[] = {"Transfer-Encoding: chunked", NULL};
    CHECK_ERR(svc_request_send(r, "GET", "/", h, NULL, 0, &resp), SVC_EINVAL,
              "header 'Transfer-Encoding' is managed by svc and cannot be set");
  }
  CHECK_ERR(svc_request_send(r, "TRACE", "/", NULL, "x", 1, &resp), SVC_EINVAL,
            "a TRACE request cannot have a body");
  CHECK_INT(svc_request_tries(r), 0); /* nothing was sent */
  svc_request_free(r);

  SECTION("Send.NoRouteAndAccessorsAcceptNull");
  r = new_request(e);
  CHECK_ERR(svc_request_send(r, "GET", "/", NULL, NULL, 0, &resp), SVC_EINVAL,
            "no upstream or target set: call svc_set_upstream or svc_set_target first");
  svc_request_free(r);
  CHECK_INT(svc_response_status(NULL), 0);
  CHECK(svc_response_header(NULL, "x") == NULL);
  CHECK_INT(svc_response_header_count(NULL), 0);
  CHECK_INT(svc_response_header_at(NULL, 0, NULL, NULL), 0);
  CHECK(svc_response_peer_ip(NULL) == NULL);
  CHECK_INT(svc_response_peer_port(NULL), 0);
  {
    size_t len = 99;
    CHECK(svc_response_body(NULL, &len) == NULL);
    CHECK_INT(len, 0);
  }
  svc_response_free(NULL);

  SECTION("Send.DeadPeerRetriedElsewhere");
  r = new_request(e);
  REQUIRE_OK(svc_set_target(r, "127.0.0.1", dead));
  REQUIRE_OK(svc_set_retries(r, 1));
  snprintf(msg, sizeof msg,
           "2 tries failed: try 1 (127.0.0.1:%d): connect to 127.0.0.1:%d failed: Connection refused; "
           "try 2 (127.0.0.1:%d): connect to 127.0.0.1:%d failed: Connection refused",
           dead, dead, dead, dead);
  CHECK_ERR(svc_request_send(r, "GET", "/", NULL, NULL, 0, &resp), SVC_ECONNECT, msg);
  svc_request_free(r);

  SECTION("Send.StatusIsAnAnswerNotRetried");
  r = new_request(e);
  REQUIRE_OK(svc_set_upstream(r, "app"));
  CHECK_OK(svc_request_send(r, "GET", "/status/503", NULL, NULL, 0, &resp));
  CHECK_INT(svc_response_status(resp), 503);
  CHECK_INT(svc_request_tries(r), 1);
  svc_response_free(resp);
  svc_request_free(r);
}

int main(void) {
  svc_engine *e;
  char config[512];
  (void)hbuf; /* backend_harness.h's raw-exchange buffers are not used here */
  (void)res;
  {
    const char *a[] = {"--name", "b1", "--threads", "1", NULL};
    start_or_die(&b1, a);
  }
  {
    const char *a[] = {"--name", "b2", "--threads", "1", NULL};
    start_or_die(&b2, a);
  }
  e = new_engine(NULL);
  snprintf(config, sizeof config,
           "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"app\", \"targets\": "
           "[{\"target\": \"127.0.0.1:%d\"}, {\"target\": \"127.0.0.1:%d\"}]}]}",
           b1.port, b2.port);
  REQUIRE_OK(svc_engine_load_config(e, config, strlen(config)));
  test_send_and_accessors(e);
  test_send_errors(e);
  svc_engine_free(e);
  SECTION("Backend.StopsCleanly");
  CHECK_INT(backend_stop(&b1), 0);
  CHECK_INT(backend_stop(&b2), 0);
  HARNESS_END();
}
