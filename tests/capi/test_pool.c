/* svc.h connect mode, the keepalive pool, against the real svc-test-backend:
 * one connection reused for sequential requests under one TLS policy; a new
 * connection for every other policy (verify, depth, store object, client
 * certificate, host); no reuse after reusable=0, an I/O error or EOF, nor of
 * a connection the peer closed while idle; TLS session resumption on a new
 * connection (TLS 1.3 and 1.2), never across policies; pool_size and
 * max_requests. The backend's X-Connection / X-Request headers say which
 * connection served a request and how many it served. */
#include "backend_harness.h"

static backend_proc b_tls, b_tls12, b_plain, b_idle_plain, b_idle_tls, b_noticket;
static svc_trust_store *st_ca, *st_ca_again;

static void start_backends(void) {
  char tls[2048];
  tls_arg(tls, sizeof tls, "server-chain.pem", "server.key");
  {
    const char *a[] = {"--name", "tls", "--threads", "1", "--tls", tls, NULL};
    start_or_die(&b_tls, a);
  }
  {
    const char *a[] = {"--name", "tls12", "--threads", "1", "--tls", tls, "--tls-max", "1.2", NULL};
    start_or_die(&b_tls12, a);
  }
  {
    const char *a[] = {"--name", "plain", "--threads", "1", NULL};
    start_or_die(&b_plain, a);
  }
  {
    const char *a[] = {"--name", "idle-plain", "--threads", "1", "--idle-timeout-ms", "100", NULL};
    start_or_die(&b_idle_plain, a);
  }
  {
    const char *a[] = {"--name", "idle-tls", "--threads", "1", "--idle-timeout-ms", "100", "--tls", tls, NULL};
    start_or_die(&b_idle_tls, a);
  }
  {
    const char *a[] = {"--name", "noticket", "--threads", "1", "--session-tickets", "off", "--tls", tls, NULL};
    start_or_die(&b_noticket, a);
  }
  {
    const char *n[] = {"ca.pem", NULL};
    st_ca = pki_store(n);
    st_ca_again = pki_store(n); /* same certificates, another object */
  }
}

static void stop_backends(void) {
  backend_proc *all[] = {&b_tls, &b_tls12, &b_plain, &b_idle_plain, &b_idle_tls, &b_noticket};
  size_t i;
  SECTION("Backend.StopsCleanly");
  for (i = 0; i < sizeof all / sizeof all[0]; ++i) CHECK_INT(backend_stop(all[i]), 0);
  svc_trust_store_free(st_ca);
  svc_trust_store_free(st_ca_again);
}

/* One request: connect + GET "/" + release(reusable). Reports through
 * *conn_no / *req_no the backend's X-Connection / X-Request, *reused and
 * *resumed the connection's flags. Returns 1 on success. */
typedef struct outcome {
  long conn_no, req_no;
  int reused, resumed;
  char backend_resumed[8];
} outcome;

static int one(svc_request *r, const char *host, int reusable, outcome *o) {
  svc_conn *c = NULL;
  memset(o, 0, sizeof *o);
  o->conn_no = o->req_no = -1;
  if (!exchange(r, host, &c)) return 0;
  o->conn_no = http_header_long(&res, "X-Connection");
  o->req_no = http_header_long(&res, "X-Request");
  o->reused = svc_conn_reused(c);
  o->resumed = svc_conn_tls_resumed(c);
  if (HDR("X-TLS-Resumed") != NULL) snprintf(o->backend_resumed, sizeof o->backend_resumed, "%.7s", hbuf);
  svc_conn_release(c, reusable);
  return 1;
}

/* ----- reuse under one policy, new connections under another -------------- */

static void test_same_policy(svc_engine *e) {
  outcome o;
  long base;
  int i;
  svc_request *r;

  SECTION("Pool.TlsSamePolicyReusesOneConnection");
  r = target_req(e, "localhost", b_tls.port, 1, st_ca);
  CHECK(one(r, "localhost", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.req_no, 1);
  base = o.conn_no;
  CHECK(base >= 1);
  for (i = 2; i <= 4; ++i) {
    r = target_req(e, "localhost", b_tls.port, 1, st_ca);
    CHECK(one(r, "localhost", 1, &o));
    CHECK_INT(o.reused, 1);
    CHECK_INT(o.conn_no, base);
    CHECK_INT(o.req_no, i);
    CHECK_INT(o.resumed, 0); /* the same connection: no new handshake */
    svc_request_free(r);
  }

  SECTION("Pool.PlainSamePolicyReusesOneConnection");
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  base = o.conn_no;
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 1);
  CHECK_INT(o.conn_no, base);
  CHECK_INT(o.req_no, 2);
  CHECK_STR(HDR("X-TLS-Version"), "");
}

typedef enum policy_kind { P_BASE, P_VERIFY_OFF, P_DEPTH, P_STORE, P_CERT, P_HOST_IP, P_PLAIN } policy_kind;

static svc_cert_chain *client_chain;
static svc_private_key *client_key;

static svc_request *policy_request(svc_engine *e, policy_kind k) {
  svc_request *r =
      target_req(e, k == P_HOST_IP ? "127.0.0.1" : "localhost", b_tls.port, k != P_PLAIN,
                 k == P_STORE ? st_ca_again : (k == P_PLAIN ? NULL : st_ca));
  if (k == P_VERIFY_OFF) REQUIRE_OK(svc_set_tls_verify(r, 0));
  if (k == P_DEPTH) REQUIRE_OK(svc_set_tls_verify_depth(r, 3));
  if (k == P_CERT) REQUIRE_OK(svc_set_tls_cert_key(r, client_chain, client_key));
  return r;
}

static void test_policies(svc_engine *e) {
  static const char *names[] = {"base", "verify off", "depth 3", "another store object",
                                "client certificate", "host 127.0.0.1", "plain http"};
  long conn_of[7];
  outcome o;
  int k;
  svc_request *r;

  client_chain = pki_chain("client.pem");
  client_key = pki_key("client.key", NULL);

  /* The base policy's connection is idle in the pool (test_same_policy). */
  SECTION("Pool.EveryOtherPolicyOpensItsOwnConnection");
  r = policy_request(e, P_BASE);
  CHECK(one(r, "localhost", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 1);
  conn_of[P_BASE] = o.conn_no;
  for (k = P_VERIFY_OFF; k <= P_PLAIN; ++k) {
    r = policy_request(e, (policy_kind)k);
    if (k == P_PLAIN) {
      /* plain bytes to the TLS port: the pool key differs ("tcp|"), the
       * connect succeeds and is a new connection; the exchange is not HTTP */
      svc_conn *c = NULL;
      CHECK_OK(svc_request_connect(r, &c));
      CHECK_INT(svc_conn_reused(c), 0);
      svc_conn_release(c, 0);
      svc_request_free(r);
      continue;
    }
    CHECK(one(r, k == P_HOST_IP ? "127.0.0.1" : "localhost", 1, &o));
    svc_request_free(r);
    if (o.reused != 0) printf("     policy \"%s\" reused a connection\n", names[k]);
    CHECK_INT(o.reused, 0);
    CHECK_INT(o.req_no, 1);
    CHECK(o.conn_no > conn_of[P_BASE]);
    conn_of[k] = o.conn_no;
  }
  SECTION("Pool.EachPolicyKeepsItsOwnConnection");
  for (k = P_BASE; k < P_PLAIN; ++k) {
    r = policy_request(e, (policy_kind)k);
    CHECK(one(r, k == P_HOST_IP ? "127.0.0.1" : "localhost", 1, &o));
    svc_request_free(r);
    if (o.reused != 1 || o.conn_no != conn_of[k]) printf("     policy \"%s\"\n", names[k]);
    CHECK_INT(o.reused, 1);
    CHECK_INT(o.conn_no, conn_of[k]);
  }

  SECTION("Pool.SameContentDifferentClientCertObjectsShareAConnection");
  {
    /* the key is the certificate's identity (fingerprint), not the handle */
    svc_cert_chain *chain2 = pki_chain("client.pem");
    svc_private_key *key2 = pki_key("client-encrypted.key", "s3cret");
    r = target_req(e, "localhost", b_tls.port, 1, st_ca);
    REQUIRE_OK(svc_set_tls_cert_key(r, chain2, key2));
    CHECK(one(r, "localhost", 1, &o));
    svc_request_free(r);
    CHECK_INT(o.reused, 1);
    CHECK_INT(o.conn_no, conn_of[P_CERT]);
    svc_cert_chain_free(chain2);
    svc_private_key_free(key2);
  }

  svc_cert_chain_free(client_chain);
  svc_private_key_free(client_key);
}

/* A connection made with verification off, idle in the pool, must never
 * serve a request that verifies: with no trust (trust "none") that request
 * has to fail the handshake (Kong #13992). Its TLS session must not be
 * resumed either (a resumed session skips the certificate). */
static void test_verify_off_never_leaks(svc_engine *e) {
  svc_request *r;
  outcome o;
  char msg[512];
  svc_conn *c = (svc_conn *)&c;

  SECTION("Pool.VerifyOffConnectionNotReusedWhenVerifying");
  r = target_req(e, "localhost", b_tls12.port, 1, NULL);
  REQUIRE_OK(svc_set_tls_verify(r, 0));
  CHECK(one(r, "localhost", 1, &o)); /* idle in the pool, session cached */
  svc_request_free(r);
  r = target_req(e, "localhost", b_tls12.port, 1, NULL);
  snprintf(msg, sizeof msg,
           "1 try failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "
           "unable to get local issuer certificate",
           b_tls12.port, b_tls12.port);
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETLS, msg);
  CHECK(c == NULL);
  svc_request_free(r);
  SECTION("Pool.VerifyOffSessionNotResumedWhenVerifying");
  r = target_req(e, "localhost", b_tls12.port, 1, NULL);
  REQUIRE_OK(svc_set_tls_verify(r, 0));
  CHECK(one(r, "localhost", 0, &o)); /* the pooled one, now closed */
  CHECK_INT(o.reused, 1);
  svc_request_free(r);
  r = target_req(e, "localhost", b_tls12.port, 1, NULL);
  c = (svc_conn *)&c;
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETLS, msg);
  svc_request_free(r);
  r = target_req(e, "localhost", b_tls.port, 1, NULL);
  snprintf(msg, sizeof msg,
           "1 try failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "
           "unable to get local issuer certificate",
           b_tls.port, b_tls.port);
  c = (svc_conn *)&c;
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETLS, msg); /* verify-off sessions on b_tls exist too */
  svc_request_free(r);
}

/* ----- no reuse ----------------------------------------------------------- */

static void test_not_reused(svc_engine *e) {
  svc_request *r;
  outcome o;
  long base;
  svc_conn *c = NULL;
  char msg[256];

  SECTION("Pool.ReleasedNotReusableIsClosed");
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 0, &o)); /* takes the idle one, closes it */
  svc_request_free(r);
  base = o.conn_no;
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 0, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 1);
  CHECK_INT(o.req_no, 1);

  SECTION("Pool.ResetConnectionNotReused");
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  if (c != NULL) {
    snprintf(msg, sizeof msg, "read from 127.0.0.1:%d failed: Connection reset by peer", b_plain.port);
    CHECK_ERR(http_get(c, "127.0.0.1", "/close", &res), SVC_ECONNECT, msg);
    svc_conn_release(c, 1); /* broken: closed, not pooled */
  }
  svc_request_free(r);
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 3);

  SECTION("Pool.EofConnectionNotReused");
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_INT(svc_conn_reused(c), 1);
  if (c != NULL) {
    /* headers, then FIN: the helper reads to EOF (*out_len == 0) */
    CHECK_ERR_PREFIX(http_get(c, "127.0.0.1", "/close-after-headers", &res), SVC_EPROTO, "test: EOF after ");
    svc_conn_release(c, 1);
  }
  svc_request_free(r);
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 4);

  SECTION("Pool.CancelledConnectionNotReused");
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_INT(svc_conn_reused(c), 1);
  svc_conn_cancel(c);
  svc_conn_release(c, 1);
  svc_request_free(r);
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 5);
}

static void test_peer_closed_idle(svc_engine *e, int tls) {
  const int port = tls ? b_idle_tls.port : b_idle_plain.port;
  const char *host = tls ? "localhost" : "127.0.0.1";
  svc_request *r;
  outcome o;
  long base;

  SECTION(tls ? "Pool.PeerClosedIdleTlsConnectionNotReused" : "Pool.PeerClosedIdlePlainConnectionNotReused");
  r = target_req(e, host, port, tls, tls ? st_ca : NULL);
  CHECK(one(r, host, 1, &o));
  svc_request_free(r);
  base = o.conn_no;
  CHECK_INT(o.reused, 0);
  sleep_for_ms(300); /* the backend closes it after 100 ms idle (FIN, no close_notify) */
  r = target_req(e, host, port, tls, tls ? st_ca : NULL);
  CHECK(one(r, host, 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 1);
  CHECK_INT(o.req_no, 1);
  if (tls) {
    /* the first connection read a response, so its session ticket arrived;
     * the peer's close of the idle connection must not spoil that session */
    SECTION("Pool.SessionResumedAfterThePeerClosedTheIdleConnection");
    CHECK_INT(o.resumed, 1);
    CHECK_STR(o.backend_resumed, "1");
  }
}

/* ----- TLS session resumption -------------------------------------------- */

static void test_resumption(svc_engine *e, backend_proc *b, const char *version) {
  svc_request *r;
  outcome o;
  long base;
  svc_conn *c = NULL;

  r = target_req(e, "127.0.0.1", b->port, 1, st_ca_again);
  /* the response is read, so the TLS 1.3 ticket has arrived by now */
  if (exchange(r, "127.0.0.1", &c)) {
    CHECK_STR(svc_conn_tls_version(c), version);
    CHECK_INT(svc_conn_tls_resumed(c), 0);
    CHECK_STR(HDR("X-TLS-Resumed"), "0");
    svc_conn_release(c, 0); /* forces a new connection next */
  }
  base = http_header_long(&res, "X-Connection");
  svc_request_free(r);
  r = target_req(e, "127.0.0.1", b->port, 1, st_ca_again);
  CHECK(one(r, "127.0.0.1", 0, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 1);
  CHECK_INT(o.resumed, 1);
  CHECK_STR(o.backend_resumed, "1");
  CHECK_STR(HDR("X-TLS-Version"), version);
}

static void test_resumption_all(svc_engine *e) {
  svc_request *r;
  outcome o;
  SECTION("Pool.NewConnectionResumesTheSessionTls13");
  test_resumption(e, &b_tls, "TLSv1.3");
  SECTION("Pool.NewConnectionResumesTheSessionTls12");
  test_resumption(e, &b_tls12, "TLSv1.2");

  SECTION("Pool.SessionNotResumedUnderAnotherPolicy");
  /* st_ca_again's session on b_tls exists (above); st_ca is another store */
  r = target_req(e, "127.0.0.1", b_tls.port, 1, st_ca);
  REQUIRE_OK(svc_set_tls_verify_depth(r, 7));
  CHECK(one(r, "127.0.0.1", 0, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.resumed, 0);
  CHECK_STR(o.backend_resumed, "0");

  SECTION("Pool.NoTicketsNoResumption");
  r = target_req(e, "localhost", b_noticket.port, 1, st_ca);
  CHECK(one(r, "localhost", 0, &o));
  svc_request_free(r);
  CHECK_INT(o.resumed, 0);
  r = target_req(e, "localhost", b_noticket.port, 1, st_ca);
  CHECK(one(r, "localhost", 0, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.resumed, 0);
  CHECK_STR(o.backend_resumed, "0");
}

/* ----- pool_size and max_requests ---------------------------------------- */

static void test_limits(void) {
  svc_engine *e = new_engine("{\"retries\": 0, \"tls\": {\"trust\": \"none\"},"
                             " \"keepalive\": {\"pool_size\": 1, \"max_requests\": 2},"
                             " \"timeouts\": {\"connect\": 5000, \"write\": 5000, \"read\": 5000}}");
  svc_request *r, *r2;
  svc_conn *a = NULL, *b = NULL;
  outcome o;
  long base, conn_a, conn_b;
  const int port = b_tls.port;

  SECTION("Pool.MaxRequestsPerConnection");
  r = target_req(e, "localhost", port, 1, st_ca);
  CHECK(one(r, "localhost", 1, &o));
  svc_request_free(r);
  base = o.conn_no;
  CHECK_INT(o.reused, 0);
  r = target_req(e, "localhost", port, 1, st_ca);
  CHECK(one(r, "localhost", 1, &o)); /* its 2nd request: then closed */
  svc_request_free(r);
  CHECK_INT(o.reused, 1);
  CHECK_INT(o.conn_no, base);
  CHECK_INT(o.req_no, 2);
  r = target_req(e, "localhost", port, 1, st_ca);
  CHECK(one(r, "localhost", 0, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 1);
  CHECK_INT(o.req_no, 1);

  SECTION("Pool.PoolSizeOne");
  r = target_req(e, "localhost", port, 1, st_ca);
  r2 = target_req(e, "localhost", port, 1, st_ca);
  CHECK(exchange(r, "localhost", &a));
  conn_a = http_header_long(&res, "X-Connection");
  CHECK(exchange(r2, "localhost", &b));
  conn_b = http_header_long(&res, "X-Connection");
  CHECK_INT(conn_a, base + 2);
  CHECK_INT(conn_b, base + 3);
  svc_conn_release(a, 1);
  svc_conn_release(b, 1); /* the pool holds one: a is closed */
  svc_request_free(r);
  svc_request_free(r2);
  r = target_req(e, "localhost", port, 1, st_ca);
  r2 = target_req(e, "localhost", port, 1, st_ca);
  a = b = NULL;
  CHECK(exchange(r, "localhost", &a));
  CHECK_INT(svc_conn_reused(a), 1);
  CHECK_INT(http_header_long(&res, "X-Connection"), conn_b);
  CHECK_INT(http_header_long(&res, "X-Request"), 2);
  CHECK(exchange(r2, "localhost", &b));
  CHECK_INT(svc_conn_reused(b), 0);
  CHECK_INT(http_header_long(&res, "X-Connection"), base + 4);
  svc_conn_release(a, 0);
  svc_conn_release(b, 0);
  svc_request_free(r);
  svc_request_free(r2);
  svc_engine_free(e);
}

static void test_pool_size_zero(void) {
  svc_engine *e = new_engine("{\"keepalive\": {\"pool_size\": 0}}");
  svc_request *r;
  outcome o;
  long base;
  SECTION("Pool.SizeZeroNeverKeeps");
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  base = o.conn_no;
  r = target_req(e, "127.0.0.1", b_plain.port, 0, NULL);
  CHECK(one(r, "127.0.0.1", 1, &o));
  svc_request_free(r);
  CHECK_INT(o.reused, 0);
  CHECK_INT(o.conn_no, base + 1);
  svc_engine_free(e);
}

int main(void) {
  svc_engine *e;
  start_backends();
  e = new_engine("{\"retries\": 0, \"tls\": {\"trust\": \"none\"},"
                 " \"timeouts\": {\"connect\": 5000, \"write\": 5000, \"read\": 5000}}");
  test_same_policy(e);
  test_policies(e);
  test_verify_off_never_leaks(e);
  test_not_reused(e);
  test_peer_closed_idle(e, 0);
  test_peer_closed_idle(e, 1);
  test_resumption_all(e);
  svc_engine_free(e);
  test_limits();
  test_pool_size_zero();
  stop_backends();
  HARNESS_END();
}
