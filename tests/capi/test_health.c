/* svc.h health: passive health from reports, health events, the health JSON,
 * svc_target_set_health, the threshold rule, health kept across changes. */
#include "harness.h"

/* ----- a recorder for health events (written on the engine thread) ------ */

#define MAX_EVENTS 64
typedef struct {
  char upstream[64], target[64], address[64];
  int healthy;
} event;

static event events[MAX_EVENTS];
static atomic_int event_count;
static atomic_int barrier_count;

/* Events of the upstream "barrier" only mark a point in the ordered event
 * stream: once one arrives, every earlier event has been delivered. */
static void on_health(void *userdata, const char *upstream, const char *target, const char *address,
                      int healthy) {
  int n;
  (void)userdata;
  if (strcmp(upstream, "barrier") == 0) {
    atomic_fetch_add(&barrier_count, 1);
    return;
  }
  n = atomic_load(&event_count);
  if (n < MAX_EVENTS) {
    snprintf(events[n].upstream, sizeof events[n].upstream, "%s", upstream);
    snprintf(events[n].target, sizeof events[n].target, "%s", target);
    snprintf(events[n].address, sizeof events[n].address, "%s", address);
    events[n].healthy = healthy;
  }
  atomic_store(&event_count, n + 1); /* publishes the entry */
}

/* Waits until every event posted so far has been delivered. */
static void barrier(svc_engine *e) {
  int want = atomic_load(&barrier_count) + 1;
  static int flip = 0;
  flip = !flip;
  REQUIRE_OK(svc_target_set_health(e, "barrier", "10.0.0.250", NULL, flip ? 0 : 1));
  CHECK(wait_count(&barrier_count, want));
}

static void check_event(int i, const char *upstream, const char *target, const char *address, int healthy,
                        int line) {
  char what[64];
  snprintf(what, sizeof what, "event %d", i);
  if (i >= atomic_load(&event_count)) {
    harness_fail_head(__FILE__, line, what);
    printf("     only %d events\n", atomic_load(&event_count));
    return;
  }
  harness_check_str(events[i].upstream, upstream, __FILE__, line, "event upstream");
  harness_check_str(events[i].target, target, __FILE__, line, "event target");
  harness_check_str(events[i].address, address, __FILE__, line, "event address");
  harness_check_int(events[i].healthy, healthy, __FILE__, line, "event healthy");
}
#define CHECK_EVENT(i, u, t, a, h) check_event((i), (u), (t), (a), (h), __LINE__)

static char *health_json(svc_engine *e, const char *upstream) {
  char *json = NULL;
  CHECK_OK(svc_upstream_health(e, upstream, &json));
  return json;
}

/* ----- order-independent looks into the health JSON ---------------------- */

/* The value text of `key` in the outermost object, or "" when absent. */
static const char *top_member(const char *json, const char *key) {
  int depth = 0, in_string = 0;
  size_t klen = strlen(key);
  if (json == NULL) return "";
  for (const char *p = json; *p; ++p) {
    if (in_string) {
      if (*p == '\\' && p[1]) ++p;
      else if (*p == '"') in_string = 0;
      continue;
    }
    if (*p == '{' || *p == '[') ++depth;
    else if (*p == '}' || *p == ']') --depth;
    else if (*p == '"') {
      if (depth == 1 && strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"' && p[2 + klen] == ':')
        return p + 3 + klen;
      in_string = 1;
    }
  }
  return "";
}

/* Copies the innermost object around `needle` into out ("" when absent). */
static void enclosing_object(const char *json, const char *needle, char *out, size_t cap) {
  const char *at = json ? strstr(json, needle) : NULL;
  const char *start = NULL, *end;
  int depth = 0;
  out[0] = '\0';
  if (at == NULL) return;
  for (const char *q = at; q > json;) {
    --q;
    if (*q == '}') ++depth;
    else if (*q == '{') {
      if (depth == 0) {
        start = q;
        break;
      }
      --depth;
    }
  }
  if (start == NULL) return;
  depth = 0;
  for (end = start; *end; ++end) {
    if (*end == '{') ++depth;
    else if (*end == '}' && --depth == 0) break;
  }
  if (*end == '\0') return;
  snprintf(out, cap, "%.*s", (int)(end - start + 1), start);
}

static int occurrences(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) ++n;
  return n;
}

/* The health JSON has the upstream's health, its weights, and the target
 * "10.0.0.x:8000" (weight 100, one address) in state `target_health`. */
static void check_target_health(const char *json, const char *ip, const char *state, int line) {
  char needle[96], entry[1024], want[64];
  snprintf(needle, sizeof needle, "\"target\":\"%s:8000\"", ip);
  enclosing_object(json, needle, entry, sizeof entry);
  harness_check_contains(entry, needle, 1, __FILE__, line, "target entry");
  snprintf(want, sizeof want, "\"health\":\"%s\"", state);
  /* the target's own health and its one address's */
  harness_check_int(occurrences(entry, want), 2, __FILE__, line, want);
  snprintf(want, sizeof want, "\"ip\":\"%s\"", ip);
  harness_check_contains(entry, want, 1, __FILE__, line, "address ip");
  harness_check_contains(entry, "\"port\":8000", 1, __FILE__, line, "address port");
  harness_check_int(occurrences(entry, "\"weight\":100"), 2, __FILE__, line, "target and address weight");
}
#define CHECK_TARGET_HEALTH(json, ip, state) check_target_health((json), (ip), (state), __LINE__)

static void check_upstream_health(const char *json, const char *state, int total, int available, int line) {
  char want[64];
  const char *weight = top_member(json, "weight");
  snprintf(want, sizeof want, "\"%s\"", state);
  harness_check_int(strncmp(top_member(json, "health"), want, strlen(want)), 0, __FILE__, line, want);
  snprintf(want, sizeof want, "\"total\":%d", total);
  harness_check_contains(weight, want, 1, __FILE__, line, "weight.total");
  snprintf(want, sizeof want, "\"available\":%d", available);
  harness_check_contains(weight, want, 1, __FILE__, line, "weight.available");
  snprintf(want, sizeof want, "\"unavailable\":%d", total - available);
  harness_check_contains(weight, want, 1, __FILE__, line, "weight.unavailable");
}
#define CHECK_UPSTREAM_HEALTH(json, state, total, available) \
  check_upstream_health((json), (state), (total), (available), __LINE__)

/* A fresh request whose first pick is the address `ip` (the requests that
 * picked another peer on the way are reported OK), or NULL. */
static svc_request *pick_until(svc_engine *e, const char *upstream, const char *ip) {
  for (int n = 0; n < 100; ++n) {
    svc_request *r = new_request(e);
    svc_error *err = svc_set_upstream(r, upstream);
    if (err == NULL) err = svc_request_pick(r);
    if (err != NULL) {
      svc_error_free(err);
      svc_request_free(r);
      return NULL;
    }
    if (strcmp(svc_request_peer_ip(r), ip) == 0) return r;
    svc_error_free(svc_request_report(r, SVC_OUTCOME_OK, 0, 0));
    svc_request_free(r);
  }
  return NULL;
}

/* Reports `outcome` for a try on the address `ip`; 0 on success. */
static int report_for(svc_engine *e, const char *upstream, const char *ip, svc_outcome outcome, int status) {
  svc_request *r = pick_until(e, upstream, ip);
  svc_error *err;
  if (r == NULL) return -1;
  err = svc_request_report(r, outcome, status, 0);
  svc_request_free(r);
  if (err == NULL) return 0;
  svc_error_free(err);
  return -1;
}

/* Counts picks per peer over n fresh requests. */
static void count_picks(svc_engine *e, const char *upstream, int n, int *c1, int *c2, int *c3) {
  char peer[64];
  *c1 = *c2 = *c3 = 0;
  for (int k = 0; k < n; ++k) {
    if (pick_once(e, upstream, peer, sizeof peer) != 0) continue;
    if (strcmp(peer, "10.0.0.1:8000") == 0) ++*c1;
    if (strcmp(peer, "10.0.0.2:8000") == 0) ++*c2;
    if (strcmp(peer, "10.0.0.3:8000") == 0) ++*c3;
  }
}

static const char kPassive[] =
    "{\"name\": \"hc\", \"healthchecks\": {\"passive\": {"
    "\"healthy\": {\"successes\": 1},"
    "\"unhealthy\": {\"tcp_failures\": 2, \"timeouts\": 2, \"http_failures\": 2}}}}";

static void test_passive(svc_engine *e) {
  char *json;
  svc_request *held;
  int c1, c2, c3;
  REQUIRE_OK(svc_upstream_upsert(e, kPassive));
  REQUIRE_OK(svc_target_add(e, "hc", "10.0.0.1", 100));
  REQUIRE_OK(svc_target_add(e, "hc", "10.0.0.2", 100));
  REQUIRE_OK(svc_target_add(e, "hc", "10.0.0.3", 100));

  SECTION("Health.InitiallyHealthy");
  json = health_json(e, "hc");
  CHECK_CONTAINS(json, "\"name\":\"hc\"");
  CHECK_UPSTREAM_HEALTH(json, "HEALTHY", 300, 300);
  CHECK_NOT_CONTAINS(json, "UNHEALTHY");
  CHECK_TARGET_HEALTH(json, "10.0.0.1", "HEALTHY");
  CHECK_TARGET_HEALTH(json, "10.0.0.2", "HEALTHY");
  CHECK_TARGET_HEALTH(json, "10.0.0.3", "HEALTHY");
  CHECK(strncmp(top_member(json, "algorithm"), "\"round-robin\",", 14) == 0);
  CHECK(strncmp(top_member(json, "name"), "\"hc\",", 5) == 0);
  svc_free(json);

  SECTION("Passive.OneTcpFailureIsNotEnough");
  CHECK(report_for(e, "hc", "10.0.0.1", SVC_OUTCOME_TCP_FAILURE, 0) == 0);
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 0);
  json = health_json(e, "hc");
  CHECK_NOT_CONTAINS(json, "UNHEALTHY");
  svc_free(json);

  SECTION("Passive.TwoTcpFailuresMakeItUnhealthyWithOneEvent");
  held = pick_until(e, "hc", "10.0.0.1"); /* a try in flight on 10.0.0.1 */
  CHECK(held != NULL);
  CHECK(report_for(e, "hc", "10.0.0.1", SVC_OUTCOME_TCP_FAILURE, 0) == 0);
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 1);
  CHECK_EVENT(0, "hc", "10.0.0.1:8000", "10.0.0.1:8000", 0);
  json = health_json(e, "hc");
  CHECK_UPSTREAM_HEALTH(json, "HEALTHY", 300, 200);
  CHECK_TARGET_HEALTH(json, "10.0.0.1", "UNHEALTHY");
  CHECK_TARGET_HEALTH(json, "10.0.0.2", "HEALTHY");
  CHECK_TARGET_HEALTH(json, "10.0.0.3", "HEALTHY");
  svc_free(json);

  SECTION("Passive.PicksAvoidTheUnhealthyAddress");
  count_picks(e, "hc", 100, &c1, &c2, &c3);
  CHECK_INT(c1, 0);
  CHECK_INT(c2, 50);
  CHECK_INT(c3, 50);

  SECTION("Passive.NoSecondEventWhileUnhealthy");
  /* the try in flight fails too: the address is already unhealthy */
  if (held) CHECK_OK(svc_request_report(held, SVC_OUTCOME_TCP_FAILURE, 0, 0));
  svc_request_free(held);
  {
    /* an explicit target feeds no upstream's health */
    svc_request *r = new_request(e);
    CHECK_OK(svc_set_target(r, "10.0.0.1", 8000));
    CHECK_OK(svc_request_pick(r));
    CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
    svc_request_free(r);
  }
  CHECK_OK(svc_target_set_health(e, "hc", "10.0.0.1", NULL, 0)); /* forcing the same state: no event */
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 1);

  SECTION("SetHealth.BringsItBack");
  CHECK_OK(svc_target_set_health(e, "hc", "10.0.0.1:8000", NULL, 1));
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 2);
  CHECK_EVENT(1, "hc", "10.0.0.1:8000", "10.0.0.1:8000", 1);
  json = health_json(e, "hc");
  CHECK_UPSTREAM_HEALTH(json, "HEALTHY", 300, 300);
  CHECK_TARGET_HEALTH(json, "10.0.0.1", "HEALTHY");
  CHECK_NOT_CONTAINS(json, "UNHEALTHY");
  svc_free(json);
  count_picks(e, "hc", 300, &c1, &c2, &c3);
  CHECK_INT(c1, 100);
  CHECK_INT(c2, 100);
  CHECK_INT(c3, 100);

  SECTION("Passive.SuccessResetsTheFailureCount");
  CHECK(report_for(e, "hc", "10.0.0.2", SVC_OUTCOME_TCP_FAILURE, 0) == 0);
  CHECK(report_for(e, "hc", "10.0.0.2", SVC_OUTCOME_OK, 0) == 0);
  CHECK(report_for(e, "hc", "10.0.0.2", SVC_OUTCOME_TCP_FAILURE, 0) == 0);
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 2);

  SECTION("Passive.TimeoutsCountSeparately");
  CHECK(report_for(e, "hc", "10.0.0.2", SVC_OUTCOME_TIMEOUT, 0) == 0); /* tcp 1 from before, timeouts 1 */
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 2);
  CHECK(report_for(e, "hc", "10.0.0.2", SVC_OUTCOME_TIMEOUT, 0) == 0);
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 3);
  CHECK_EVENT(2, "hc", "10.0.0.2:8000", "10.0.0.2:8000", 0);

  SECTION("Passive.HttpStatusesByKongLists");
  CHECK(report_for(e, "hc", "10.0.0.3", SVC_OUTCOME_HTTP, 500) == 0);
  CHECK(report_for(e, "hc", "10.0.0.3", SVC_OUTCOME_HTTP, 404) == 0); /* in neither list: ignored */
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 3);
  CHECK(report_for(e, "hc", "10.0.0.3", SVC_OUTCOME_HTTP, 503) == 0);
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 4);
  CHECK_EVENT(3, "hc", "10.0.0.3:8000", "10.0.0.3:8000", 0);
  count_picks(e, "hc", 20, &c1, &c2, &c3);
  CHECK_INT(c1, 20);

  SECTION("SetHealth.OneAddress");
  CHECK_OK(svc_target_set_health(e, "hc", "10.0.0.2", "10.0.0.2:8000", 1));
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 5);
  CHECK_EVENT(4, "hc", "10.0.0.2:8000", "10.0.0.2:8000", 1);
  CHECK_OK(svc_target_set_health(e, "hc", "10.0.0.3", "10.0.0.3", 1)); /* missing port means 8000 */
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 6);
  CHECK_EVENT(5, "hc", "10.0.0.3:8000", "10.0.0.3:8000", 1);
  json = health_json(e, "hc");
  CHECK_NOT_CONTAINS(json, "UNHEALTHY");
  svc_free(json);
}

static void test_health_kept(svc_engine *e) {
  char *json;
  SECTION("Health.KeptAcrossUpsert");
  CHECK_OK(svc_target_set_health(e, "hc", "10.0.0.1", NULL, 0));
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 7);
  CHECK_EVENT(6, "hc", "10.0.0.1:8000", "10.0.0.1:8000", 0);
  CHECK_OK(svc_upstream_upsert(e, kPassive));
  json = health_json(e, "hc");
  CHECK_TARGET_HEALTH(json, "10.0.0.1", "UNHEALTHY");
  CHECK_UPSTREAM_HEALTH(json, "HEALTHY", 300, 200);
  svc_free(json);

  SECTION("Health.KeptWhenTheTargetComesBack");
  CHECK_OK(svc_target_delete(e, "hc", "10.0.0.1"));
  json = health_json(e, "hc");
  CHECK_NOT_CONTAINS(json, "10.0.0.1");
  svc_free(json);
  CHECK_OK(svc_target_add(e, "hc", "10.0.0.1", 100));
  json = health_json(e, "hc");
  CHECK_TARGET_HEALTH(json, "10.0.0.1", "UNHEALTHY");
  CHECK_UPSTREAM_HEALTH(json, "HEALTHY", 300, 200);
  svc_free(json);
  CHECK_OK(svc_target_set_health(e, "hc", "10.0.0.1", NULL, 1));
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 8);
  CHECK_EVENT(7, "hc", "10.0.0.1:8000", "10.0.0.1:8000", 1);
}

static void test_set_health_errors(svc_engine *e) {
  SECTION("SetHealth.Errors");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"plain\"}"));
  REQUIRE_OK(svc_target_add(e, "plain", "10.0.0.1", 100));
  CHECK_ERR(svc_target_set_health(e, "plain", "10.0.0.1", NULL, 0), SVC_EINVAL, "no healthchecker found for plain");
  CHECK_ERR(svc_target_set_health(e, "nope", "10.0.0.1", NULL, 0), SVC_ENOTFOUND,
            "could not find an Upstream named 'nope'");
  CHECK_ERR(svc_target_set_health(e, "hc", "10.0.0.9", NULL, 0), SVC_ENOTFOUND,
            "could not find a Target '10.0.0.9:8000' in Upstream 'hc'");
  CHECK_ERR(svc_target_set_health(e, "hc", "10.0.0.1", "10.0.0.9:8000", 0), SVC_ENOTFOUND,
            "could not find the address '10.0.0.9:8000' of Target '10.0.0.1:8000' in Upstream 'hc'");
  CHECK_ERR(svc_target_set_health(e, "hc", "10.0.0.1", "localhost", 0), SVC_EINVAL,
            "address must be an IP with an optional port: given 'localhost'");
  CHECK_ERR(svc_target_set_health(e, "hc", "10.0.0.1:99999", NULL, 0), SVC_ECONFIG,
            "target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address");
  barrier(e);
  CHECK_INT(atomic_load(&event_count), 8); /* none of them changed anything */

  SECTION("Health.UnknownUpstream");
  {
    char *json = (char *)"x";
    CHECK_ERR(svc_upstream_health(e, "nope", &json), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");
    CHECK(json == NULL);
  }

  SECTION("Health.ChecksOff");
  {
    char *json = health_json(e, "plain");
    CHECK_UPSTREAM_HEALTH(json, "HEALTHCHECKS_OFF", 100, 100);
    CHECK_NOT_CONTAINS(json, "\"health\":\"HEALTHY\"");
    CHECK_INT(occurrences(json, "\"health\":\"HEALTHCHECKS_OFF\""), 3); /* upstream, target, address */
    CHECK_CONTAINS(json, "\"target\":\"10.0.0.1:8000\"");
    svc_free(json);
  }
}

static void test_threshold(svc_engine *e) {
  char *json;
  svc_request *r;
  SECTION("Threshold.AvailableWeightMustExceedIt");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"th\", \"healthchecks\": {\"threshold\": 50,"
                                    " \"passive\": {\"unhealthy\": {\"tcp_failures\": 1}}}}"));
  REQUIRE_OK(svc_target_add(e, "th", "10.0.0.1", 100));
  REQUIRE_OK(svc_target_add(e, "th", "10.0.0.2", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "th"));
  CHECK_OK(svc_request_pick(r));
  svc_request_free(r);

  CHECK_OK(svc_target_set_health(e, "th", "10.0.0.1", NULL, 0)); /* 50% available, not > 50 */
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "th"));
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
  CHECK_INT(svc_request_tries(r), 0);
  svc_request_free(r);
  json = health_json(e, "th");
  CHECK_CONTAINS(json, "\"name\":\"th\"");
  CHECK_UPSTREAM_HEALTH(json, "UNHEALTHY", 200, 100);
  CHECK_TARGET_HEALTH(json, "10.0.0.1", "UNHEALTHY");
  CHECK_TARGET_HEALTH(json, "10.0.0.2", "HEALTHY");
  svc_free(json);

  SECTION("Threshold.HealthyAgain");
  CHECK_OK(svc_target_set_health(e, "th", "10.0.0.1", NULL, 1));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "th"));
  CHECK_OK(svc_request_pick(r));
  svc_request_free(r);

  SECTION("Threshold.PassiveFailureTripsIt");
  CHECK(report_for(e, "th", "10.0.0.2", SVC_OUTCOME_TCP_FAILURE, 0) == 0);
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "th"));
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
  svc_request_free(r);

  SECTION("Threshold.ZeroAndEveryAddressDown");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"z\", \"healthchecks\": {\"passive\": {\"unhealthy\": {\"timeouts\": 1}}}}"));
  REQUIRE_OK(svc_target_add(e, "z", "10.0.0.1", 100));
  CHECK_OK(svc_target_set_health(e, "z", "10.0.0.1", NULL, 0));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "z"));
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
  svc_request_free(r);
  json = health_json(e, "z");
  CHECK_UPSTREAM_HEALTH(json, "UNHEALTHY", 100, 0);
  svc_free(json);
}

int main(void) {
  svc_engine *e = new_engine(NULL);
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"barrier\", \"healthchecks\": {\"passive\": {\"unhealthy\": {\"tcp_failures\": 1}}}}"));
  REQUIRE_OK(svc_target_add(e, "barrier", "10.0.0.250", 100));
  REQUIRE_OK(svc_engine_on_health(e, on_health, NULL));
  test_passive(e);
  test_health_kept(e);
  test_set_health_errors(e);
  test_threshold(e);
  svc_engine_free(e);
  HARNESS_END();
}
