/* svc.h connect mode, retries, passive health, timeouts and cancellation,
 * against the real svc-test-backend: a dead target among live ones is
 * retried past and turns UNHEALTHY after the configured TCP failures; all
 * dead lists every try; the last try's code wins; connect (--accept off),
 * TLS handshake (--accept hold) and read (/delay) timeouts; svc_request_cancel
 * and svc_conn_cancel from another thread end blocked calls promptly. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "backend_harness.h"

static backend_proc b_one, b_two, b_tls, b_off, b_hold;

static void start_backends(void) {
  char tls[2048];
  tls_arg(tls, sizeof tls, "server-chain.pem", "server.key");
  {
    const char *a[] = {"--name", "one", "--threads", "1", NULL};
    start_or_die(&b_one, a);
  }
  {
    const char *a[] = {"--name", "two", "--threads", "1", NULL};
    start_or_die(&b_two, a);
  }
  {
    const char *a[] = {"--name", "tls", "--threads", "1", "--tls", tls, NULL};
    start_or_die(&b_tls, a);
  }
  {
    const char *a[] = {"--name", "off", "--threads", "1", "--accept", "off", NULL};
    start_or_die(&b_off, a);
  }
  {
    const char *a[] = {"--name", "hold", "--threads", "1", "--accept", "hold", "--tls", tls, NULL};
    start_or_die(&b_hold, a);
  }
}

static void stop_backends(void) {
  backend_proc *all[] = {&b_one, &b_two, &b_tls, &b_off, &b_hold};
  size_t i;
  SECTION("Backend.StopsCleanly");
  for (i = 0; i < sizeof all / sizeof all[0]; ++i) CHECK_INT(backend_stop(all[i]), 0);
}

/* ----- the balancer callback records each try's peer --------------------- */

typedef struct tries_seen {
  int n;
  int port[16];
  atomic_int entered; /* set when a try is about to connect */
} tries_seen;

static svc_error *record_try(void *userdata, svc_request *r) {
  tries_seen *s = (tries_seen *)userdata;
  if (s->n < 16) s->port[s->n] = svc_request_peer_port(r);
  ++s->n;
  atomic_store(&s->entered, 1);
  return NULL;
}

static char expected[4096];

/* Appends "try N (127.0.0.1:P): <what>" (with "; " between) to expected. */
static void expect_try(int n, int port, const char *what) {
  char one[512];
  snprintf(one, sizeof one, "%stry %d (127.0.0.1:%d): %s", n > 1 ? "; " : "", n, port, what);
  strncat(expected, one, sizeof expected - strlen(expected) - 1);
}

static const char *refused(int port) {
  static char buf[128];
  snprintf(buf, sizeof buf, "connect to 127.0.0.1:%d failed: Connection refused", port);
  return buf;
}

/* ----- health events ------------------------------------------------------ */

static atomic_int unhealthy_events;
static atomic_int healthy_events;
static char last_event[256];

static void on_health(void *userdata, const char *upstream, const char *target, const char *address, int healthy) {
  (void)userdata;
  snprintf(last_event, sizeof last_event, "%s %s %s %d", upstream, target, address, healthy);
  atomic_fetch_add(healthy ? &healthy_events : &unhealthy_events, 1);
}

/* ----- retries and passive health ----------------------------------------- */

static void test_dead_among_live(svc_engine *e) {
  const int dead = dead_port();
  char t[64], want[256], ev[256];
  char *json = NULL;
  int i, retried = 0, on_one = 0, on_two = 0;

  SECTION("Retries.DeadTargetIsRetriedPast");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"mix\", \"healthchecks\": {\"passive\": "
                                    "{\"unhealthy\": {\"tcp_failures\": 2}}}}"));
  snprintf(t, sizeof t, "127.0.0.1:%d", b_one.port);
  REQUIRE_OK(svc_target_add(e, "mix", t, 100));
  snprintf(t, sizeof t, "127.0.0.1:%d", b_two.port);
  REQUIRE_OK(svc_target_add(e, "mix", t, 100));
  snprintf(t, sizeof t, "127.0.0.1:%d", dead);
  REQUIRE_OK(svc_target_add(e, "mix", t, 100));
  atomic_store(&unhealthy_events, 0);
  REQUIRE_OK(svc_engine_on_health(e, on_health, NULL));

  /* 12 requests are >= 4 round-robin cycles: the dead target is picked at
   * least twice before its 2nd TCP failure makes it unhealthy. */
  for (i = 0; i < 12; ++i) {
    tries_seen s;
    svc_request *r = new_request(e);
    memset(&s, 0, sizeof s);
    REQUIRE_OK(svc_set_upstream(r, "mix"));
    REQUIRE_OK(svc_request_on_balancer(r, record_try, &s));
    if (exchange(r, "mix", NULL)) {
      char name[32];
      snprintf(name, sizeof name, "%.31s", HDR("X-Backend") ? hbuf : "?");
      on_one += strcmp(name, "one") == 0;
      on_two += strcmp(name, "two") == 0;
      CHECK(svc_request_tries(r) == 1 || svc_request_tries(r) == 2);
      if (svc_request_tries(r) == 2) {
        ++retried;
        CHECK_INT(s.port[0], dead); /* only the dead one fails */
        CHECK(s.port[1] != dead);
      } else {
        CHECK(s.port[0] != dead || retried < 2);
      }
    }
    svc_request_free(r);
  }
  CHECK_INT(retried, 2);
  CHECK_INT(on_one + on_two, 12);
  CHECK(on_one >= 3 && on_two >= 3);

  SECTION("Retries.DeadTargetTurnsUnhealthy");
  CHECK_OK(svc_upstream_health(e, "mix", &json));
  snprintf(want, sizeof want, "\"ip\":\"127.0.0.1\",\"port\":%d,\"health\":\"UNHEALTHY\"", dead);
  CHECK_CONTAINS(json, want);
  snprintf(want, sizeof want, "\"ip\":\"127.0.0.1\",\"port\":%d,\"health\":\"HEALTHY\"", b_one.port);
  CHECK_CONTAINS(json, want);
  snprintf(want, sizeof want, "\"ip\":\"127.0.0.1\",\"port\":%d,\"health\":\"HEALTHY\"", b_two.port);
  CHECK_CONTAINS(json, want);
  CHECK_CONTAINS(json, "\"weight\":{\"total\":300,\"available\":200,\"unavailable\":100}");
  svc_free(json);
  CHECK(wait_count(&unhealthy_events, 1));
  snprintf(ev, sizeof ev, "mix 127.0.0.1:%d 127.0.0.1:%d 0", dead, dead);
  CHECK_STR(last_event, ev);
  CHECK_INT(atomic_load(&unhealthy_events), 1);
  REQUIRE_OK(svc_engine_on_health(e, NULL, NULL));
}

static void test_all_dead(svc_engine *e) {
  const int d1 = dead_port(), d2 = dead_port(), d3 = dead_port();
  char t[64];
  tries_seen s;
  svc_request *r;
  svc_conn *c = (svc_conn *)&c;
  int i;

  SECTION("Retries.AllDeadListsEveryTry");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"dead3\"}"));
  snprintf(t, sizeof t, "127.0.0.1:%d", d1);
  REQUIRE_OK(svc_target_add(e, "dead3", t, 100));
  snprintf(t, sizeof t, "127.0.0.1:%d", d2);
  REQUIRE_OK(svc_target_add(e, "dead3", t, 100));
  snprintf(t, sizeof t, "127.0.0.1:%d", d3);
  REQUIRE_OK(svc_target_add(e, "dead3", t, 100));
  r = new_request(e);
  memset(&s, 0, sizeof s);
  REQUIRE_OK(svc_set_upstream(r, "dead3"));
  REQUIRE_OK(svc_set_retries(r, 3));
  REQUIRE_OK(svc_request_on_balancer(r, record_try, &s));
  {
    svc_error *err = svc_request_connect(r, &c);
    CHECK(c == NULL);
    CHECK_INT(s.n, 4);
    /* no peer repeats while an untried one exists */
    CHECK(s.port[0] != s.port[1] && s.port[1] != s.port[2] && s.port[0] != s.port[2]);
    snprintf(expected, sizeof expected, "4 tries failed: ");
    for (i = 0; i < 4 && i < s.n; ++i) expect_try(i + 1, s.port[i], refused(s.port[i]));
    CHECK_ERR(err, SVC_ECONNECT, expected);
  }
  CHECK_INT(svc_request_tries(r), 4);
  CHECK_INT(svc_request_phase(r), SVC_PHASE_LOG);
  svc_request_free(r);

  SECTION("Retries.ZeroRetriesOneTry");
  r = target_req(e, "127.0.0.1", d1, 0, NULL);
  REQUIRE_OK(svc_set_retries(r, 0));
  snprintf(expected, sizeof expected, "1 try failed: ");
  expect_try(1, d1, refused(d1));
  CHECK_ERR(svc_request_connect(r, &c), SVC_ECONNECT, expected);
  svc_request_free(r);
}

static void test_last_code_wins(svc_engine *e) {
  const int dead = dead_port();
  char t[64], tls_fail[512];
  tries_seen s;
  svc_request *r;
  svc_conn *c = (svc_conn *)&c;
  svc_error *err;

  SECTION("Retries.LastTrysCodeWins");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"mixed\"}"));
  snprintf(t, sizeof t, "127.0.0.1:%d", dead);
  REQUIRE_OK(svc_target_add(e, "mixed", t, 100));
  snprintf(t, sizeof t, "127.0.0.1:%d", b_tls.port);
  REQUIRE_OK(svc_target_add(e, "mixed", t, 100));
  snprintf(tls_fail, sizeof tls_fail,
           "TLS handshake with 127.0.0.1:%d failed: certificate verify failed: unable to get local issuer certificate",
           b_tls.port);
  r = new_request(e);
  memset(&s, 0, sizeof s);
  REQUIRE_OK(svc_set_upstream(r, "mixed"));
  REQUIRE_OK(svc_request_set_scheme(r, "https")); /* trust "none": verification fails */
  REQUIRE_OK(svc_set_retries(r, 1));
  REQUIRE_OK(svc_request_on_balancer(r, record_try, &s));
  err = svc_request_connect(r, &c);
  CHECK_INT(s.n, 2);
  snprintf(expected, sizeof expected, "2 tries failed: ");
  expect_try(1, s.port[0], s.port[0] == dead ? refused(dead) : tls_fail);
  expect_try(2, s.port[1], s.port[1] == dead ? refused(dead) : tls_fail);
  CHECK(s.port[0] != s.port[1]);
  CHECK_ERR(err, s.port[1] == dead ? SVC_ECONNECT : SVC_ETLS, expected);
  svc_request_free(r);
}

/* ----- timeouts -------------------------------------------------------------- */

static void test_timeouts(svc_engine *e) {
  svc_request *r;
  svc_conn *c = (svc_conn *)&c;
  double t0, ms;
  char what[256];
  char *json = NULL;

  SECTION("Timeout.Connect");
  r = target_req(e, "127.0.0.1", b_off.port, 0, NULL);
  REQUIRE_OK(svc_set_retries(r, 0));
  REQUIRE_OK(svc_set_timeouts(r, 200, 1000, 1000));
  snprintf(what, sizeof what, "connect to 127.0.0.1:%d timed out after 200 ms", b_off.port);
  snprintf(expected, sizeof expected, "1 try failed: ");
  expect_try(1, b_off.port, what);
  t0 = monotonic_ms();
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETIMEOUT, expected);
  ms = monotonic_ms() - t0;
  CHECK(ms >= 150 && ms < 2000);
  svc_request_free(r);

  SECTION("Timeout.ConnectRetried");
  r = target_req(e, "127.0.0.1", b_off.port, 0, NULL);
  REQUIRE_OK(svc_set_retries(r, 1));
  REQUIRE_OK(svc_set_timeouts(r, 200, 1000, 1000));
  snprintf(expected, sizeof expected, "2 tries failed: ");
  expect_try(1, b_off.port, what);
  expect_try(2, b_off.port, what);
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETIMEOUT, expected);
  CHECK_INT(svc_request_tries(r), 2);
  svc_request_free(r);

  SECTION("Timeout.ConnectFeedsPassiveTimeouts");
  {
    char t[64], want[256];
    REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"slow\", \"healthchecks\": {\"passive\": "
                                      "{\"unhealthy\": {\"timeouts\": 1}}}}"));
    snprintf(t, sizeof t, "127.0.0.1:%d", b_off.port);
    REQUIRE_OK(svc_target_add(e, "slow", t, 100));
    r = new_request(e);
    REQUIRE_OK(svc_set_upstream(r, "slow"));
    REQUIRE_OK(svc_set_timeouts(r, 200, 1000, 1000));
    snprintf(expected, sizeof expected, "1 try failed: ");
    expect_try(1, b_off.port, what);
    /* retries 5, but the only target is unhealthy after its first timeout:
     * the second pick finds no peer, and the message says so */
    strncat(expected, "; then: failure to get a peer from the ring-balancer", sizeof expected - strlen(expected) - 1);
    CHECK_ERR(svc_request_connect(r, &c), SVC_ETIMEOUT, expected);
    CHECK_INT(svc_request_tries(r), 1);
    svc_request_free(r);
    CHECK_OK(svc_upstream_health(e, "slow", &json));
    snprintf(want, sizeof want, "\"ip\":\"127.0.0.1\",\"port\":%d,\"health\":\"UNHEALTHY\"", b_off.port);
    CHECK_CONTAINS(json, want);
    CHECK_CONTAINS(json, "\"health\":\"UNHEALTHY\"");
    svc_free(json);
    r = new_request(e);
    REQUIRE_OK(svc_set_upstream(r, "slow"));
    CHECK_ERR(svc_request_connect(r, &c), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
    svc_request_free(r);
  }

  SECTION("Timeout.TlsHandshake");
  r = target_req(e, "localhost", b_hold.port, 1, NULL);
  REQUIRE_OK(svc_set_retries(r, 0));
  REQUIRE_OK(svc_set_timeouts(r, 200, 1000, 1000));
  snprintf(what, sizeof what, "TLS handshake with 127.0.0.1:%d timed out after 200 ms", b_hold.port);
  snprintf(expected, sizeof expected, "1 try failed: ");
  expect_try(1, b_hold.port, what);
  t0 = monotonic_ms();
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETIMEOUT, expected);
  ms = monotonic_ms() - t0;
  CHECK(ms >= 150 && ms < 2000);
  svc_request_free(r);

  SECTION("Timeout.Read");
  {
    int tls;
    for (tls = 0; tls <= 1; ++tls) {
      const int port = tls ? b_tls.port : b_one.port;
      r = target_req(e, "127.0.0.1", port, tls, NULL);
      if (tls) REQUIRE_OK(svc_set_tls_verify(r, 0));
      REQUIRE_OK(svc_set_timeouts(r, 1000, 1000, 100));
      c = NULL;
      CHECK_OK(svc_request_connect(r, &c));
      if (c != NULL) {
        snprintf(what, sizeof what, "read from 127.0.0.1:%d timed out after 100 ms", port);
        t0 = monotonic_ms();
        CHECK_ERR(http_get(c, "127.0.0.1", "/delay/500", &res), SVC_ETIMEOUT, what);
        ms = monotonic_ms() - t0;
        CHECK(ms >= 50 && ms < 2000);
        svc_conn_release(c, 1); /* a timed-out connection is not pooled */
      }
      svc_request_free(r);
      r = target_req(e, "127.0.0.1", port, tls, NULL);
      if (tls) REQUIRE_OK(svc_set_tls_verify(r, 0));
      REQUIRE_OK(svc_set_timeouts(r, 1000, 1000, 100));
      c = NULL;
      CHECK_OK(svc_request_connect(r, &c));
      if (c != NULL) {
        CHECK_INT(svc_conn_reused(c), 0);
        SECTION(tls ? "Timeout.ConnSetTimeoutsRaisesTheReadTimeoutTls" : "Timeout.ConnSetTimeoutsRaisesTheReadTimeout");
        CHECK_OK(svc_conn_set_timeouts(c, 1000, 3000));
        CHECK_OK(http_get(c, "127.0.0.1", "/delay/300", &res));
        CHECK_INT(res.status, 200);
        svc_conn_release(c, 0);
      }
      svc_request_free(r);
      SECTION("Timeout.Read");
    }
  }
}

/* ----- cancellation ---------------------------------------------------------- */

typedef struct canceller {
  svc_request *r;
  svc_conn *c;
  atomic_int *armed; /* cancel 100 ms after this becomes 1 */
} canceller;

static void *cancel_later(void *arg) {
  canceller *k = (canceller *)arg;
  int i;
  for (i = 0; i < 10000 && atomic_load(k->armed) == 0; ++i) sleep_for_ms(1);
  sleep_for_ms(100);
  if (k->c != NULL)
    svc_conn_cancel(k->c);
  else
    svc_request_cancel(k->r);
  return NULL;
}

static void cancel_connect(svc_engine *e, int port, int tls, const char *what) {
  svc_request *r = target_req(e, "127.0.0.1", port, tls, NULL);
  svc_conn *c = (svc_conn *)&c;
  tries_seen s;
  canceller k;
  pthread_t th;
  double t0, ms;
  char msg[256];
  memset(&s, 0, sizeof s);
  REQUIRE_OK(svc_set_timeouts(r, 10000, 10000, 10000));
  REQUIRE_OK(svc_request_on_balancer(r, record_try, &s));
  k.r = r;
  k.c = NULL;
  k.armed = &s.entered;
  if (pthread_create(&th, NULL, cancel_later, &k) != 0) {
    CHECK(!"pthread_create");
    svc_request_free(r);
    return;
  }
  t0 = monotonic_ms();
  snprintf(msg, sizeof msg, "%s 127.0.0.1:%d cancelled", what, port);
  CHECK_ERR(svc_request_connect(r, &c), SVC_ECANCELED, msg);
  ms = monotonic_ms() - t0;
  pthread_join(th, NULL);
  CHECK(c == NULL);
  CHECK(ms < 2000);
  CHECK_INT(s.n, 1); /* a cancel is not retried */
  CHECK_INT(svc_request_phase(r), SVC_PHASE_LOG);
  svc_request_free(r);
}

static void test_cancel(svc_engine *e) {
  svc_request *r;
  svc_conn *c = NULL;
  canceller k;
  pthread_t th;
  atomic_int armed;
  double t0, ms;
  char msg[256], buf[64];
  size_t n = 99;

  SECTION("Cancel.RequestDuringConnect");
  cancel_connect(e, b_off.port, 0, "connect to");
  SECTION("Cancel.RequestDuringTlsHandshake");
  cancel_connect(e, b_hold.port, 1, "TLS handshake with");

  SECTION("Cancel.ConnDuringBlockedRead");
  r = target_req(e, "127.0.0.1", b_one.port, 0, NULL);
  REQUIRE_OK(svc_set_timeouts(r, 10000, 10000, 10000));
  CHECK_OK(svc_request_connect(r, &c));
  if (c != NULL) {
    static const char get[] = "GET /delay/10000 HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_OK(svc_conn_write(c, get, sizeof get - 1));
    atomic_store(&armed, 0);
    k.r = r;
    k.c = c;
    k.armed = &armed;
    if (pthread_create(&th, NULL, cancel_later, &k) == 0) {
      atomic_store(&armed, 1);
      t0 = monotonic_ms();
      snprintf(msg, sizeof msg, "read from 127.0.0.1:%d cancelled", b_one.port);
      CHECK_ERR(svc_conn_read(c, buf, sizeof buf, &n), SVC_ECANCELED, msg);
      ms = monotonic_ms() - t0;
      pthread_join(th, NULL);
      CHECK_INT(n, 0);
      CHECK(ms < 2000);
    } else {
      CHECK(!"pthread_create");
    }
    svc_conn_release(c, 1); /* a cancelled connection is not pooled */
  }
  svc_request_free(r);
  r = target_req(e, "127.0.0.1", b_one.port, 0, NULL);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_INT(svc_conn_reused(c), 0);
  svc_conn_release(c, 0);
  svc_request_free(r);
}

/* svc_conn_wait_readable: waits without the read, may run beside a write. */
typedef struct writer_arg {
  svc_conn *c;
  svc_error *err;
} writer_arg;

static void *write_later(void *arg) {
  writer_arg *w = (writer_arg *)arg;
  static const char get[] = "GET /delay/100 HTTP/1.1\r\nHost: x\r\n\r\n";
  struct timespec pause = {0, 50 * 1000 * 1000};
  nanosleep(&pause, NULL);
  w->err = svc_conn_write(w->c, get, sizeof get - 1);
  return NULL;
}

static void test_wait_readable(svc_engine *e) {
  svc_request *r;
  svc_conn *c = NULL;
  int ready = 7;
  pthread_t th;
  writer_arg w;
  char buf[4096];
  size_t n = 0;

  SECTION("WaitReadable.TimesOutWhenNothingArrives");
  r = target_req(e, "127.0.0.1", b_one.port, 0, NULL);
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_OK(svc_conn_wait_readable(c, 50, &ready));
  CHECK_INT(ready, 0);
  CHECK_OK(svc_conn_wait_readable(c, 0, &ready));
  CHECK_INT(ready, 0);

  SECTION("WaitReadable.RunsBesideAWriteFromAnotherThread");
  w.c = c;
  w.err = NULL;
  if (pthread_create(&th, NULL, write_later, &w) == 0) {
    CHECK_OK(svc_conn_wait_readable(c, 5000, &ready)); /* the answer to the other thread's write */
    pthread_join(th, NULL);
    CHECK(w.err == NULL);
    svc_error_free(w.err);
    CHECK_INT(ready, 1);
    CHECK_OK(svc_conn_read(c, buf, sizeof buf, &n));
    CHECK(n > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0);
  } else {
    CHECK(!"pthread_create");
  }

  SECTION("WaitReadable.BadInput");
  CHECK_ERR(svc_conn_wait_readable(c, -1, &ready), SVC_EINVAL,
            "timeout must be an integer between 0 and 2147483646: given -1");
  CHECK_ERR(svc_conn_wait_readable(c, 10, NULL), SVC_EINVAL, "ready must not be NULL");
  CHECK_ERR(svc_conn_wait_readable(NULL, 10, &ready), SVC_EINVAL, "connection must not be NULL");
  svc_conn_release(c, 0);
  svc_request_free(r);
}

int main(void) {
  svc_engine *e;
  start_backends();
  e = new_engine("{\"tls\": {\"trust\": \"none\"},"
                 " \"timeouts\": {\"connect\": 5000, \"write\": 5000, \"read\": 5000}}");
  test_dead_among_live(e);
  test_all_dead(e);
  test_last_code_wins(e);
  test_timeouts(e);
  test_cancel(e);
  test_wait_readable(e);
  svc_engine_free(e);
  stop_backends();
  HARNESS_END();
}
