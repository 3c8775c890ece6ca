/* svc.h compiles as plain C99 with -Wall -Wextra -pedantic -Werror, and every
 * public type, enum and function is usable from C. */
#include <svc/svc.h>
#include <stdio.h>
#include <string.h>

static svc_error *on_balancer_like(void *userdata, svc_request *r) {
  (void)userdata;
  return svc_set_tls_verify(r, 1);
}

static void health_cb(void *userdata, const char *upstream, const char *target, const char *address,
                      int healthy) {
  (void)userdata; (void)upstream; (void)target; (void)address; (void)healthy;
}

static void log_cb(void *userdata, int level, const char *message) {
  (void)userdata; (void)level; (void)message;
}

int main(void) {
  svc_code code = SVC_EINTERNAL;
  svc_phase phase = SVC_PHASE_LOG;
  svc_outcome outcome = SVC_OUTCOME_TIMEOUT;
  svc_hash_on hash_on = SVC_HASH_URI_CAPTURE;
  svc_health_cb hcb = health_cb;
  svc_log_cb lcb = log_cb;
  svc_error *(*bcb)(void *, svc_request *) = on_balancer_like;
  svc_engine *engine = NULL;
  svc_request *request = NULL;
  svc_cert_chain *chain = NULL;
  svc_private_key *key = NULL;
  svc_trust_store *store = NULL;
  uint32_t latency = 0;
  size_t len = 0;
  (void)hcb; (void)lcb; (void)bcb; (void)engine; (void)request; (void)chain; (void)key;
  (void)store; (void)latency; (void)len; (void)phase; (void)outcome; (void)hash_on;
  if (strcmp(svc_version(), SVC_VERSION_STRING) != 0) {
    printf("c99: version mismatch: %s vs %s\n", svc_version(), SVC_VERSION_STRING);
    return 1;
  }
  printf("c99: svc %s, %s\n", svc_version(), svc_code_name(code));
  return 0;
}
