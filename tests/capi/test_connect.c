/* svc.h connect mode over plain TCP on loopback: NULL arguments, the log
 * phase, I/O, EOF, timeouts, the keepalive pool, refused peers with retries
 * and passive health, the balancer callback, cancellation.
 *
 * Single-threaded: the kernel completes a TCP connect against a listening
 * socket's backlog, so the test accepts after svc_request_connect returns. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_on(int *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    printf("cannot listen on loopback\n%d passed, %d failed\n", harness_passed, harness_failed + 1);
    exit(1);
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* A loopback port with nothing listening on it. */
static int closed_port(void) {
  int port;
  int fd = listen_on(&port);
  close(fd);
  return port;
}

static svc_request *target_request(svc_engine *e, int port) {
  svc_request *r = new_request(e);
  REQUIRE_OK(svc_set_target(r, "127.0.0.1", port));
  return r;
}

static void test_null_arguments(svc_engine *e) {
  svc_conn *c = (svc_conn *)&c;
  svc_request *r = new_request(e);
  size_t n = 7;
  char buf[4];
  SECTION("Connect.NullArguments");
  CHECK_ERR(svc_request_connect(r, NULL), SVC_EINVAL, "out must not be NULL");
  CHECK_ERR(svc_request_connect(NULL, &c), SVC_EINVAL, "request must not be NULL");
  CHECK(c == NULL);
  CHECK_ERR(svc_request_on_balancer(NULL, NULL, NULL), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_conn_write(NULL, "x", 1), SVC_EINVAL, "connection must not be NULL");
  CHECK_ERR(svc_conn_read(NULL, buf, sizeof buf, &n), SVC_EINVAL, "connection must not be NULL");
  CHECK_INT(n, 0);
  CHECK_ERR(svc_conn_read(NULL, buf, sizeof buf, NULL), SVC_EINVAL, "out_len must not be NULL");
  CHECK_ERR(svc_conn_set_timeouts(NULL, 1, 1), SVC_EINVAL, "connection must not be NULL");
  svc_request_cancel(NULL);
  svc_conn_cancel(NULL);
  svc_conn_release(NULL, 1);
  CHECK(svc_conn_peer_ip(NULL) == NULL);
  CHECK_INT(svc_conn_peer_port(NULL), 0);
  CHECK(svc_conn_peer_host(NULL) == NULL);
  CHECK_INT(svc_conn_reused(NULL), 0);
  CHECK_INT(svc_conn_tls_resumed(NULL), 0);
  CHECK_STR(svc_conn_tls_version(NULL), "");

  SECTION("Connect.NoRoute");
  CHECK_ERR(svc_request_connect(r, &c), SVC_EINVAL,
            "no upstream or target set: call svc_set_upstream or svc_set_target first");
  CHECK_INT(svc_request_phase(r), SVC_PHASE_ACCESS);
  svc_request_free(r);
}

static void test_plain_exchange(svc_engine *e) {
  int port, server, peer;
  int lfd = listen_on(&port);
  svc_request *r = target_request(e, port);
  svc_conn *c = NULL;
  char buf[16];
  size_t n = 99;
  ssize_t got;

  SECTION("Connect.PlainTcp");
  CHECK_OK(svc_request_connect(r, &c));
  if (c == NULL) {
    close(lfd);
    svc_request_free(r);
    return;
  }
  CHECK_INT(svc_request_phase(r), SVC_PHASE_LOG);
  CHECK_INT(svc_request_tries(r), 1);
  CHECK_STR(svc_conn_peer_ip(c), "127.0.0.1");
  CHECK_INT(svc_conn_peer_port(c), port);
  CHECK_STR(svc_conn_peer_host(c), "127.0.0.1");
  CHECK_INT(svc_conn_reused(c), 0);
  CHECK_INT(svc_conn_tls_resumed(c), 0);
  CHECK_STR(svc_conn_tls_version(c), "");
  server = accept(lfd, NULL, NULL);
  CHECK(server >= 0);

  SECTION("Conn.WriteAndRead");
  CHECK_OK(svc_conn_write(c, "ping", 4));
  CHECK_OK(svc_conn_write(c, NULL, 0));
  got = read(server, buf, sizeof buf);
  CHECK_INT(got, 4);
  CHECK(got == 4 && memcmp(buf, "ping", 4) == 0);
  CHECK_INT(write(server, "pong", 4), 4);
  CHECK_OK(svc_conn_read(c, buf, sizeof buf, &n));
  CHECK_INT(n, 4);
  CHECK(n == 4 && memcmp(buf, "pong", 4) == 0);
  CHECK_ERR(svc_conn_write(c, NULL, 3), SVC_EINVAL, "buf must not be NULL");
  CHECK_ERR(svc_conn_read(c, NULL, 3, &n), SVC_EINVAL, "buf must not be NULL");

  SECTION("Conn.SetTimeouts");
  CHECK_ERR(svc_conn_set_timeouts(c, 0, 1), SVC_EINVAL, "write_timeout must be an integer between 1 and 2147483646: given 0");
  CHECK_ERR(svc_conn_set_timeouts(c, 1, 2147483647), SVC_EINVAL,
            "read_timeout must be an integer between 1 and 2147483646: given 2147483647");
  CHECK_OK(svc_conn_set_timeouts(c, 1000, 50));

  SECTION("Conn.ReadTimeout");
  {
    /* the text says "read from <peer> timed out ..." today (see the report:
     * "read from" would match the cancel message); only the stable part */
    svc_error *err = svc_conn_read(c, buf, sizeof buf, &n);
    CHECK(err != NULL);
    if (err) {
      CHECK_INT(svc_error_code(err), SVC_ETIMEOUT);
      CHECK_CONTAINS(svc_error_message(err), "timed out after 50 ms");
    }
    svc_error_free(err);
  }
  CHECK_OK(svc_conn_set_timeouts(c, 1000, 1000));

  SECTION("Conn.Eof");
  peer = server;
  close(peer);
  n = 99;
  CHECK_OK(svc_conn_read(c, buf, sizeof buf, &n));
  CHECK_INT(n, 0);

  SECTION("Phase.LogRejectsEverySetter");
  CHECK_ERR(svc_set_upstream(r, "a"), SVC_EPHASE, "function cannot be called in log phase (only in: access)");
  CHECK_ERR(svc_set_target(r, "127.0.0.1", 1), SVC_EPHASE, "function cannot be called in log phase (only in: access)");
  CHECK_ERR(svc_set_retries(r, 1), SVC_EPHASE, "function cannot be called in log phase (only in: access)");
  CHECK_ERR(svc_set_timeouts(r, 1, 1, 1), SVC_EPHASE, "function cannot be called in log phase (only in: access)");
  CHECK_ERR(svc_set_hash_key(r, "k", 1), SVC_EPHASE, "function cannot be called in log phase (only in: access)");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_IP, NULL, "1.1.1.1"), SVC_EPHASE,
            "function cannot be called in log phase (only in: rewrite, access)");
  CHECK_ERR(svc_set_tls_verify(r, 1), SVC_EPHASE, "function cannot be called in log phase (only in: rewrite, access, balancer)");
  CHECK_ERR(svc_set_tls_verify_depth(r, 1), SVC_EPHASE,
            "function cannot be called in log phase (only in: rewrite, access, balancer)");
  CHECK_ERR(svc_set_tls_cert_key(r, NULL, NULL), SVC_EPHASE,
            "function cannot be called in log phase (only in: rewrite, access, balancer)");
  CHECK_ERR(svc_set_tls_verify_store(r, NULL), SVC_EPHASE,
            "function cannot be called in log phase (only in: rewrite, access, balancer)");
  CHECK_ERR(svc_request_set_scheme(r, "https"), SVC_EPHASE,
            "function cannot be called in log phase (only in: rewrite, access, balancer)");
  CHECK_ERR(svc_request_pick(r), SVC_EPHASE, "function cannot be called in log phase (only in: rewrite, access, balancer)");
  {
    svc_conn *c2 = (svc_conn *)&c2;
    CHECK_ERR(svc_request_connect(r, &c2), SVC_EPHASE,
              "function cannot be called in log phase (only in: rewrite, access, balancer)");
    CHECK(c2 == NULL);
  }
  CHECK_ERR(svc_request_set_phase(r, SVC_PHASE_ACCESS), SVC_EPHASE,
            "the phase can only be set before the first try (now in log phase)");
  svc_conn_release(c, 0);
  svc_request_free(r);
  close(lfd);
}

static void test_pool(svc_engine *e) {
  int port;
  int lfd = listen_on(&port);
  svc_request *r = target_request(e, port);
  svc_conn *c = NULL;
  int server;
  SECTION("Pool.ReleasedReusableConnectionIsReused");
  CHECK_OK(svc_request_connect(r, &c));
  server = accept(lfd, NULL, NULL);
  CHECK(server >= 0);
  CHECK_INT(svc_conn_reused(c), 0);
  svc_conn_release(c, 1);
  svc_request_free(r);
  r = target_request(e, port);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_INT(svc_conn_reused(c), 1);
  CHECK_OK(svc_conn_write(c, "again", 5));
  {
    char buf[8];
    CHECK_INT(read(server, buf, sizeof buf), 5);
  }
  svc_conn_release(c, 0); /* closed, not pooled */
  svc_request_free(r);

  SECTION("Pool.ClosedConnectionIsNotReused");
  r = target_request(e, port);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_INT(svc_conn_reused(c), 0);
  svc_conn_release(c, 0);
  svc_request_free(r);
  close(server);
  close(lfd);
}

static atomic_int balancer_calls;
static int balancer_tries[8];
static int balancer_phase[8];

static svc_error *count_tries(void *userdata, svc_request *r) {
  int n = atomic_fetch_add(&balancer_calls, 1);
  (void)userdata;
  if (n < 8) {
    balancer_tries[n] = svc_request_tries(r);
    balancer_phase[n] = svc_request_phase(r);
  }
  return svc_set_tls_verify(r, 0); /* TLS setters are allowed here: NULL */
}

static svc_error *refuse(void *userdata, svc_request *r) {
  (void)userdata;
  /* the only way a C caller can make an svc_error: a call that fails */
  return svc_set_upstream(r, "x");
}

static void test_refused_retries_health(svc_engine *e) {
  int p1 = closed_port(), p2 = closed_port();
  char target[64], prefix[96];
  char *json = NULL;
  svc_request *r;
  svc_conn *c = (svc_conn *)&c;
  svc_error *err;

  SECTION("Connect.RefusedPeersAreRetriedAndReported");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"refused\", \"healthchecks\": {\"passive\": {\"unhealthy\": {\"tcp_failures\": 1}}}}"));
  snprintf(target, sizeof target, "127.0.0.1:%d", p1);
  REQUIRE_OK(svc_target_add(e, "refused", target, 100));
  snprintf(target, sizeof target, "127.0.0.1:%d", p2);
  REQUIRE_OK(svc_target_add(e, "refused", target, 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "refused"));
  CHECK_OK(svc_set_retries(r, 1));
  CHECK_OK(svc_request_on_balancer(r, count_tries, NULL));
  err = svc_request_connect(r, &c);
  CHECK(c == NULL);
  CHECK(err != NULL);
  if (err) {
    CHECK_INT(svc_error_code(err), SVC_ECONNECT);
    snprintf(prefix, sizeof prefix, "2 tries failed: try 1 (127.0.0.1:%d): connect to 127.0.0.1:%d failed: ",
             svc_request_peer_port(r) == p1 ? p2 : p1, svc_request_peer_port(r) == p1 ? p2 : p1);
    CHECK(strncmp(svc_error_message(err), prefix, strlen(prefix)) == 0);
    CHECK_CONTAINS(svc_error_message(err), "Connection refused; try 2 (127.0.0.1:");
    if (strncmp(svc_error_message(err), prefix, strlen(prefix)) != 0)
      printf("     got \"%s\"\n     want prefix \"%s\"\n", svc_error_message(err), prefix);
  }
  svc_error_free(err);
  CHECK_INT(svc_request_tries(r), 2);
  CHECK_INT(svc_request_phase(r), SVC_PHASE_LOG);

  SECTION("OnBalancer.CalledOnEachTryAfterThePickInBalancerPhase");
  CHECK_INT(atomic_load(&balancer_calls), 2);
  CHECK_INT(balancer_tries[0], 1);
  CHECK_INT(balancer_tries[1], 2);
  CHECK_INT(balancer_phase[0], SVC_PHASE_BALANCER);
  CHECK_INT(balancer_phase[1], SVC_PHASE_BALANCER);
  svc_request_free(r);

  SECTION("Connect.FailuresFeedPassiveHealth");
  CHECK_OK(svc_upstream_health(e, "refused", &json));
  CHECK_NOT_CONTAINS(json, "\"health\":\"HEALTHY\"");
  svc_free(json);
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "refused"));
  c = (svc_conn *)&c;
  CHECK_ERR(svc_request_connect(r, &c), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
  svc_request_free(r);

  SECTION("OnBalancer.ErrorAbortsTheConnect");
  r = target_request(e, p1);
  CHECK_OK(svc_request_on_balancer(r, refuse, NULL));
  CHECK_ERR(svc_request_connect(r, &c), SVC_EPHASE,
            "balancer callback failed on try 1: function cannot be called in balancer phase (only in: access)");
  CHECK_INT(svc_request_tries(r), 1);
  svc_request_free(r);

  SECTION("OnBalancer.NullClears");
  r = target_request(e, p1);
  atomic_store(&balancer_calls, 0);
  CHECK_OK(svc_request_on_balancer(r, count_tries, NULL));
  CHECK_OK(svc_request_on_balancer(r, NULL, NULL));
  CHECK_OK(svc_set_retries(r, 0));
  CHECK_ERR_PREFIX(svc_request_connect(r, &c), SVC_ECONNECT, "1 try failed: try 1 (127.0.0.1:");
  CHECK_INT(atomic_load(&balancer_calls), 0);
  svc_request_free(r);
}

static void test_cancel(svc_engine *e) {
  int port;
  int lfd = listen_on(&port);
  svc_request *r = target_request(e, port);
  svc_conn *c = (svc_conn *)&c;
  char buf[4];
  size_t n;
  SECTION("Cancel.RequestBeforeConnect");
  svc_request_cancel(r);
  CHECK_ERR(svc_request_connect(r, &c), SVC_ECANCELED, "connect cancelled");
  CHECK(c == NULL);
  svc_request_free(r);

  SECTION("Cancel.ConnectionRead");
  r = target_request(e, port);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  if (c) {
    svc_conn_cancel(c);
    CHECK_ERR_PREFIX(svc_conn_read(c, buf, sizeof buf, &n), SVC_ECANCELED, "read from 127.0.0.1:");
    CHECK_ERR_PREFIX(svc_conn_write(c, "x", 1), SVC_ECANCELED, "write to 127.0.0.1:");
    svc_conn_release(c, 1); /* not reusable after a cancel */
  }
  svc_request_free(r);
  r = target_request(e, port);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_INT(svc_conn_reused(c), 0);
  svc_conn_release(c, 0);
  svc_request_free(r);
  close(lfd);
}

static void test_conn_outlives_request(svc_engine *e) {
  int port;
  int lfd = listen_on(&port);
  svc_request *r = target_request(e, port);
  svc_conn *c = NULL;
  int server;
  char buf[4];
  SECTION("Conn.OutlivesItsRequest");
  CHECK_OK(svc_request_connect(r, &c));
  svc_request_free(r);
  server = accept(lfd, NULL, NULL);
  CHECK_OK(svc_conn_write(c, "abc", 3));
  CHECK_INT(read(server, buf, sizeof buf), 3);
  svc_conn_release(c, 1);
  close(server);
  close(lfd);
}

int main(void) {
  svc_engine *e = new_engine("{\"timeouts\": {\"connect\": 2000, \"write\": 2000, \"read\": 2000}}");
  test_null_arguments(e);
  test_plain_exchange(e);
  test_pool(e);
  test_refused_retries_health(e);
  test_cancel(e);
  test_conn_outlives_request(e);
  svc_engine_free(e);
  HARNESS_END();
}
