/* pick: loads a Kong declarative configuration and shows which peer each of
 * a series of requests gets, and why. Uses only svc.h.
 *
 *   pick [CONFIG]      (default: examples/config.yaml next to the source)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <svc/svc.h>

#ifndef SVC_EXAMPLE_CONFIG
#define SVC_EXAMPLE_CONFIG "config.yaml"
#endif

static int check(svc_error *err, const char *what) {
  if (!err) return 0;
  fprintf(stderr, "%s failed: %s: %s\n", what, svc_code_name(svc_error_code(err)), svc_error_message(err));
  svc_error_free(err);
  return 1;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long size;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)size + 1);
  if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[size] = '\0';
    *len = (size_t)size;
  }
  return buf;
}

/* One request through `upstream`; prints the peer. Returns the request (caller frees). */
static svc_request *pick(svc_engine *e, const char *upstream, const char *user, const char *why) {
  svc_request *r = NULL;
  if (check(svc_request_new(&r, e), "svc_request_new")) exit(1);
  if (check(svc_set_upstream(r, upstream), "svc_set_upstream")) exit(1);
  if (user && check(svc_request_set_hash_input(r, SVC_HASH_HEADER, "X-User", user), "set_hash_input")) exit(1);
  if (check(svc_request_pick(r), "svc_request_pick")) exit(1);
  printf("  %-9s %-10s -> %s:%d  (%s)\n", upstream, user ? user : "", svc_request_peer_ip(r),
         svc_request_peer_port(r), why);
  return r;
}

static void report(svc_request *r, svc_outcome o) {
  if (check(svc_request_report(r, o, 0, 1500), "svc_request_report")) exit(1);
}

static void on_health(void *userdata, const char *upstream, const char *target, const char *address,
                      int healthy) {
  (void)userdata;
  printf("  [health event] %s / %s / %s is now %s\n", upstream, target, address,
         healthy ? "HEALTHY" : "UNHEALTHY");
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : SVC_EXAMPLE_CONFIG;
  svc_engine *e = NULL;
  svc_request *r, *held[3];
  char *json = NULL;
  size_t len = 0;
  int i;
  char *text = read_file(path, &len);
  const char *users[] = {"alice", "bob", "carol", "alice", "bob", "carol"};

  if (!text) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  printf("svc %s: picking peers from %s\n\n", svc_version(), path);
  if (check(svc_engine_new(&e, NULL), "svc_engine_new")) return 1;
  if (check(svc_engine_on_health(e, on_health, NULL), "svc_engine_on_health")) return 1;
  if (check(svc_engine_load_config(e, text, len), "svc_engine_load_config")) return 1;
  free(text);

  printf("round-robin, weights 100/50/50: every cycle of 4 gives 2:1:1, interleaved\n");
  for (i = 0; i < 8; ++i) {
    r = pick(e, "web", NULL, "smooth weighted round-robin");
    report(r, SVC_OUTCOME_OK);
    svc_request_free(r);
  }

  printf("\nconsistent hashing on header X-User: a user keeps their peer\n");
  for (i = 0; i < 6; ++i) {
    r = pick(e, "sessions", users[i], "xxh32 of the user on Kong's continuum");
    report(r, SVC_OUTCOME_OK);
    svc_request_free(r);
  }

  printf("\nleast-connections, weights 200/100: (connections+1)/weight, lowest wins\n");
  for (i = 0; i < 3; ++i) held[i] = pick(e, "workers", NULL, "open connections held");
  for (i = 0; i < 3; ++i) {
    report(held[i], SVC_OUTCOME_OK);
    svc_request_free(held[i]);
  }

  printf("\na retry never repeats a peer while an untried one is left\n");
  if (check(svc_request_new(&r, e), "svc_request_new")) return 1;
  if (check(svc_set_upstream(r, "web"), "svc_set_upstream")) return 1;
  for (i = 0; i < 3; ++i) {
    if (check(svc_request_pick(r), "svc_request_pick")) return 1;
    printf("  try %d -> %s:%d  (refused, reported as a TCP failure)\n", svc_request_tries(r),
           svc_request_peer_ip(r), svc_request_peer_port(r));
    report(r, SVC_OUTCOME_TCP_FAILURE);
  }
  svc_request_free(r);

  printf("\npassive health: two TCP failures on 127.0.0.1:9001 take it out\n");
  for (i = 0; i < 8; ++i) {
    int bad;
    if (check(svc_request_new(&r, e), "svc_request_new")) return 1;
    if (check(svc_set_upstream(r, "web"), "svc_set_upstream")) return 1;
    if (check(svc_request_pick(r), "svc_request_pick")) return 1;
    bad = svc_request_peer_port(r) == 9001;
    printf("  web                  -> %s:%d  (%s)\n", svc_request_peer_ip(r), svc_request_peer_port(r),
           bad ? "refused: TCP failure reported" : "answered: success reported");
    report(r, bad ? SVC_OUTCOME_TCP_FAILURE : SVC_OUTCOME_OK);
    svc_request_free(r);
  }
  /* Health events arrive on an engine thread; the report below is synchronous. */
  if (check(svc_upstream_health(e, "web", &json), "svc_upstream_health")) return 1;
  printf("  health: %s\n", json);
  svc_free(json);

  printf("\nset_target bypasses the balancer\n");
  if (check(svc_request_new(&r, e), "svc_request_new")) return 1;
  if (check(svc_set_target(r, "localhost", 8443), "svc_set_target")) return 1;
  if (check(svc_request_pick(r), "svc_request_pick")) return 1;
  printf("  target     localhost  -> %s:%d  (host %s: Host header, SNI and verified name)\n",
         svc_request_peer_ip(r), svc_request_peer_port(r), svc_request_peer_host(r));
  svc_request_free(r);

  svc_engine_free(e);
  return 0;
}
