/* An installed-package consumer: prints the library version and picks a peer
 * from a one-target upstream. Output: "svc <version> picked 10.0.0.1:8000". */
#include <svc/svc.h>
#include <stdio.h>

static int fail(svc_error *e, const char *what) {
  printf("%s: %s %s\n", what, svc_code_name(svc_error_code(e)), svc_error_message(e));
  svc_error_free(e);
  return 1;
}

int main(void) {
  svc_engine *engine = NULL;
  svc_request *request = NULL;
  svc_error *e;
  int rc = 0;
  if ((e = svc_engine_new(&engine, NULL)) != NULL) return fail(e, "engine_new");
  if ((e = svc_upstream_upsert(engine, "{\"name\": \"up\"}")) != NULL) rc = fail(e, "upsert");
  if (!rc && (e = svc_target_add(engine, "up", "10.0.0.1", 100)) != NULL) rc = fail(e, "target_add");
  if (!rc && (e = svc_request_new(&request, engine)) != NULL) rc = fail(e, "request_new");
  if (!rc && (e = svc_set_upstream(request, "up")) != NULL) rc = fail(e, "set_upstream");
  if (!rc && (e = svc_request_pick(request)) != NULL) rc = fail(e, "pick");
  if (!rc)
    printf("svc %s picked %s:%d\n", svc_version(), svc_request_peer_ip(request),
           svc_request_peer_port(request));
  svc_request_free(request);
  svc_engine_free(engine);
  return rc;
}
