/* svc.h connect mode over TLS against the real svc-test-backend: the
 * verification matrix (trust, depth, host and IP names, expiry, self-signed,
 * verification off), SNI, client certificates (mTLS under TLS 1.3 and 1.2,
 * encrypted keys, mismatched keys), and TLS policy set in the balancer
 * callback. Every failure asserts the exact code and message. */
#include "backend_harness.h"

static const char *self_signed_dir(void) {
  const char *d = getenv("SVC_TEST_SELF_SIGNED_DIR");
  if (d == NULL || *d == '\0') {
    printf("SVC_TEST_SELF_SIGNED_DIR is not set\n0 passed, 1 failed\n");
    exit(1);
  }
  return d;
}

static svc_request *tls_request(svc_engine *e, const char *host, int port, const svc_trust_store *store) {
  return target_req(e, host, port, 1, store);
}

/* The one-try verification failure message. */
static const char *verify_failure(int port, const char *reason) {
  static char msg[1024];
  snprintf(msg, sizeof msg,
           "1 try failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: "
           "certificate verify failed: %s",
           port, port, reason);
  return msg;
}

static void expect_verify_failure(svc_request *r, int port, const char *reason) {
  svc_conn *c = (svc_conn *)&c;
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETLS, verify_failure(port, reason));
  CHECK(c == NULL);
  CHECK_INT(svc_request_phase(r), SVC_PHASE_LOG);
}

/* ----- the fixtures ------------------------------------------------------ */

static backend_proc b_ok, b_tls12, b_wrong, b_expired, b_self, b_mtls, b_mtls12;
static svc_trust_store *st_ca, *st_other, *st_ca_inter, *st_self;

static void start_backends(void) {
  char server[1024], wrong[1024], expired[1024], self[1024], ca[1024];
  snprintf(server, sizeof server, "%s,", pki_path("server-chain.pem"));
  strncat(server, pki_path("server.key"), sizeof server - strlen(server) - 1);
  snprintf(wrong, sizeof wrong, "%s,", pki_path("wrong-host.pem"));
  strncat(wrong, pki_path("wrong-host.key"), sizeof wrong - strlen(wrong) - 1);
  snprintf(expired, sizeof expired, "%s,", pki_path("expired.pem"));
  strncat(expired, pki_path("expired.key"), sizeof expired - strlen(expired) - 1);
  snprintf(self, sizeof self, "%s/self-signed.pem,%s/self-signed.key", self_signed_dir(), self_signed_dir());
  snprintf(ca, sizeof ca, "%s", pki_path("ca.pem"));
  {
    const char *a[] = {"--name", "ok", "--threads", "1", "--tls", server, NULL};
    start_or_die(&b_ok, a);
  }
  {
    const char *a[] = {"--name", "tls12", "--threads", "1", "--tls", server, "--tls-max", "1.2", NULL};
    start_or_die(&b_tls12, a);
  }
  {
    const char *a[] = {"--name", "wrong", "--threads", "1", "--tls", wrong, NULL};
    start_or_die(&b_wrong, a);
  }
  {
    const char *a[] = {"--name", "expired", "--threads", "1", "--tls", expired, NULL};
    start_or_die(&b_expired, a);
  }
  {
    const char *a[] = {"--name", "self", "--threads", "1", "--tls", self, NULL};
    start_or_die(&b_self, a);
  }
  {
    const char *a[] = {"--name", "mtls", "--threads", "1", "--tls", server, "--client-ca", ca, NULL};
    start_or_die(&b_mtls, a);
  }
  {
    const char *a[] = {"--name", "mtls12", "--threads", "1", "--tls", server, "--client-ca", ca,
                       "--tls-max", "1.2", NULL};
    start_or_die(&b_mtls12, a);
  }
  {
    const char *n1[] = {"ca.pem", NULL};
    const char *n2[] = {"other-ca.pem", NULL};
    const char *n3[] = {"ca.pem", "inter.pem", NULL};
    char path[1024];
    st_ca = pki_store(n1);
    st_other = pki_store(n2);
    st_ca_inter = pki_store(n3);
    REQUIRE_OK(svc_trust_store_new(&st_self));
    snprintf(path, sizeof path, "%s/self-signed.pem", self_signed_dir());
    REQUIRE_OK(svc_trust_store_load_file(st_self, path));
  }
}

static void stop_backends(void) {
  backend_proc *all[] = {&b_ok, &b_tls12, &b_wrong, &b_expired, &b_self, &b_mtls, &b_mtls12};
  size_t i;
  SECTION("Backend.StopsCleanly");
  for (i = 0; i < sizeof all / sizeof all[0]; ++i) CHECK_INT(backend_stop(all[i]), 0);
  svc_trust_store_free(st_ca);
  svc_trust_store_free(st_other);
  svc_trust_store_free(st_ca_inter);
  svc_trust_store_free(st_self);
}

/* ----- verification ------------------------------------------------------ */

static void test_right_ca(svc_engine *e) {
  svc_request *r;
  svc_conn *c = NULL;

  SECTION("Tls.RightCaByIpLiteral");
  r = tls_request(e, "127.0.0.1", b_ok.port, st_ca);
  if (exchange(r, "127.0.0.1", &c)) {
    CHECK_INT(res.status, 200);
    CHECK_STR(svc_conn_tls_version(c), "TLSv1.3");
    CHECK_INT(svc_conn_reused(c), 0);
    CHECK_INT(svc_conn_tls_resumed(c), 0);
    CHECK_STR(svc_conn_peer_ip(c), "127.0.0.1");
    CHECK_INT(svc_conn_peer_port(c), b_ok.port);
    CHECK_STR(svc_conn_peer_host(c), "127.0.0.1");
    CHECK_STR(HDR("X-Backend"), "ok");
    CHECK_STR(HDR("X-TLS-Version"), "TLSv1.3");
    SECTION("Tls.NoSniForAnIpLiteral");
    CHECK_STR(HDR("X-SNI"), "");
    CHECK_CONTAINS(BODY, "\"sni\":\"\"");
    CHECK_CONTAINS(BODY, "\"tls_version\":\"TLSv1.3\"");
    CHECK_STR(HDR("X-Client-Subject"), "");
    svc_conn_release(c, 0);
  }
  CHECK_INT(svc_request_tries(r), 1);
  svc_request_free(r);

  SECTION("Tls.RightCaByHostname");
  c = NULL;
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  if (exchange(r, "localhost", &c)) {
    CHECK_INT(res.status, 200);
    CHECK_STR(svc_conn_peer_host(c), "localhost");
    CHECK_STR(svc_conn_peer_ip(c), "127.0.0.1");
    SECTION("Tls.SniIsTheHost");
    CHECK_STR(HDR("X-SNI"), "localhost");
    CHECK_CONTAINS(BODY, "\"sni\":\"localhost\"");
    CHECK_CONTAINS(BODY, "\"host\":\"localhost\"");
    svc_conn_release(c, 0);
  }
  svc_request_free(r);

  SECTION("Tls.SniWithoutTrailingDot");
  c = NULL;
  r = tls_request(e, "localhost.", b_ok.port, st_ca);
  if (exchange(r, "localhost.", &c)) {
    CHECK_STR(HDR("X-SNI"), "localhost");
    /* the peer host is stored without the dot (Host header too) */
    CHECK_STR(svc_conn_peer_host(c), "localhost");
    CHECK_STR(svc_request_peer_host(r), "localhost");
    svc_conn_release(c, 0);
  }
  svc_request_free(r);

  SECTION("Tls.Tls12Negotiated");
  c = NULL;
  r = tls_request(e, "localhost", b_tls12.port, st_ca);
  if (exchange(r, "localhost", &c)) {
    CHECK_STR(svc_conn_tls_version(c), "TLSv1.2");
    CHECK_STR(HDR("X-TLS-Version"), "TLSv1.2");
    CHECK_STR(HDR("X-SNI"), "localhost");
    svc_conn_release(c, 0);
  }
  svc_request_free(r);

  SECTION("Tls.HttpsSchemeIsRequiredForTls");
  /* plain http to a TLS port: the backend gets bytes that are not a
   * ClientHello and the connect itself is plain TCP, so it succeeds. */
  r = new_request(e);
  REQUIRE_OK(svc_set_target(r, "127.0.0.1", b_ok.port));
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_STR(svc_conn_tls_version(c), "");
  svc_conn_release(c, 0);
  svc_request_free(r);

  SECTION("Tls.TlsSchemeAlsoHandshakes");
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  CHECK_OK(svc_request_set_scheme(r, "tls"));
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  CHECK_STR(svc_conn_tls_version(c), "TLSv1.3");
  svc_conn_release(c, 0);
  svc_request_free(r);
}

static void test_failures(svc_engine *e) {
  svc_request *r;
  svc_conn *c = NULL;

  SECTION("Tls.NoStoreWithTrustNone");
  r = tls_request(e, "localhost", b_ok.port, NULL);
  expect_verify_failure(r, b_ok.port, "unable to get local issuer certificate");
  svc_request_free(r);

  SECTION("Tls.WrongCa");
  r = tls_request(e, "localhost", b_ok.port, st_other);
  expect_verify_failure(r, b_ok.port, "unable to get local issuer certificate");
  svc_request_free(r);

  SECTION("Tls.DepthZeroTooShortForLeafInterRoot");
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  CHECK_OK(svc_set_tls_verify_depth(r, 0));
  expect_verify_failure(r, b_ok.port, "certificate chain too long");
  svc_request_free(r);

  SECTION("Tls.DepthOneIsEnough");
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  CHECK_OK(svc_set_tls_verify_depth(r, 1));
  exchange(r, "localhost", NULL);
  svc_request_free(r);

  SECTION("Tls.DepthTwo");
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  CHECK_OK(svc_set_tls_verify_depth(r, 2));
  exchange(r, "localhost", NULL);
  svc_request_free(r);

  SECTION("Tls.WrongHostByName");
  r = tls_request(e, "localhost", b_wrong.port, st_ca_inter);
  expect_verify_failure(r, b_wrong.port, "certificate does not match 'localhost' (it is for DNS:other.test)");
  svc_request_free(r);

  SECTION("Tls.WrongHostByIp");
  r = tls_request(e, "127.0.0.1", b_wrong.port, st_ca_inter);
  expect_verify_failure(r, b_wrong.port, "certificate does not match '127.0.0.1' (it is for DNS:other.test)");
  svc_request_free(r);

  SECTION("Tls.WrongHostTrailingDotNamedWithoutIt");
  r = tls_request(e, "localhost.", b_wrong.port, st_ca_inter);
  expect_verify_failure(r, b_wrong.port, "certificate does not match 'localhost' (it is for DNS:other.test)");
  svc_request_free(r);

  SECTION("Tls.IpSanChecked");
  /* server.pem carries IP:127.0.0.1: verified by IP, no SNI */
  r = tls_request(e, "127.0.0.1", b_ok.port, st_ca);
  exchange(r, "127.0.0.1", NULL);
  svc_request_free(r);

  SECTION("Tls.Expired");
  r = tls_request(e, "localhost", b_expired.port, st_ca_inter);
  expect_verify_failure(r, b_expired.port, "certificate has expired");
  svc_request_free(r);

  SECTION("Tls.SelfSigned");
  r = tls_request(e, "localhost", b_self.port, st_ca);
  expect_verify_failure(r, b_self.port, "self-signed certificate");
  svc_request_free(r);
  r = tls_request(e, "localhost", b_self.port, NULL);
  expect_verify_failure(r, b_self.port, "self-signed certificate");
  svc_request_free(r);

  SECTION("Tls.SelfSignedTrustedByItsOwnStore");
  r = tls_request(e, "localhost", b_self.port, st_self);
  exchange(r, "localhost", NULL);
  svc_request_free(r);
  r = tls_request(e, "127.0.0.1", b_self.port, st_self);
  exchange(r, "127.0.0.1", NULL);
  svc_request_free(r);

  SECTION("Tls.VerifyOffConnectsToEveryOne");
  {
    struct {
      const char *host;
      int port;
      svc_trust_store *store;
      int depth;
    } cases[] = {
        {"localhost", b_ok.port, NULL, -1},           {"localhost", b_ok.port, st_other, -1},
        {"localhost", b_ok.port, st_ca, 0},           {"localhost", b_wrong.port, st_ca_inter, -1},
        {"127.0.0.1", b_wrong.port, st_ca_inter, -1}, {"localhost", b_expired.port, st_ca_inter, -1},
        {"localhost", b_self.port, NULL, -1},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
      r = tls_request(e, cases[i].host, cases[i].port, cases[i].store);
      if (cases[i].depth >= 0) CHECK_OK(svc_set_tls_verify_depth(r, cases[i].depth));
      CHECK_OK(svc_set_tls_verify(r, 0));
      c = NULL;
      if (exchange(r, cases[i].host, &c)) {
        CHECK_INT(res.status, 200);
        /* SNI is still sent with verification off */
        CHECK_STR(HDR("X-SNI"), strcmp(cases[i].host, "localhost") == 0 ? "localhost" : "");
        svc_conn_release(c, 0);
      } else {
        printf("     (verify-off case %zu)\n", i);
      }
      svc_request_free(r);
    }
  }

  SECTION("Tls.VerifyOnAgainAfterOff");
  r = tls_request(e, "localhost", b_self.port, NULL);
  CHECK_OK(svc_set_tls_verify(r, 0));
  CHECK_OK(svc_set_tls_verify(r, 1));
  expect_verify_failure(r, b_self.port, "self-signed certificate");
  svc_request_free(r);
}

static void test_trust_system(void) {
  svc_engine *e = new_engine("{\"retries\": 0, \"tls\": {\"trust\": \"system\"}}");
  svc_request *r;
  SECTION("Tls.SystemTrustDoesNotKnowTheTestCa");
  r = tls_request(e, "localhost", b_ok.port, NULL);
  expect_verify_failure(r, b_ok.port, "unable to get local issuer certificate");
  svc_request_free(r);
  SECTION("Tls.StoreReplacesTheSystemTrust");
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  exchange(r, "localhost", NULL);
  svc_request_free(r);
  svc_engine_free(e);
}

/* ----- client certificates ----------------------------------------------- */

static void test_mtls(svc_engine *e) {
  svc_request *r;
  svc_conn *c = NULL;
  svc_cert_chain *client = pki_chain("client.pem");
  svc_cert_chain *client_chain = pki_chain("client-chain.pem");
  svc_private_key *key = pki_key("client.key", NULL);
  svc_private_key *enc = pki_key("client-encrypted.key", "s3cret");
  svc_private_key *other = pki_key("client-other.key", NULL);
  char msg[512];
  char buf[64];
  size_t n = 99;

  SECTION("Mtls.Tls13NoClientCertFailsOnFirstRead");
  /* TLS 1.3: the client's handshake completes before the server checks the
   * (empty) Certificate; its alert arrives on the first read. */
  r = tls_request(e, "localhost", b_mtls.port, st_ca);
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  if (c != NULL) {
    CHECK_STR(svc_conn_tls_version(c), "TLSv1.3");
    snprintf(msg, sizeof msg, "read from 127.0.0.1:%d failed: tlsv13 alert certificate required", b_mtls.port);
    CHECK_ERR(svc_conn_read(c, buf, sizeof buf, &n), SVC_ETLS, msg);
    CHECK_INT(n, 0);
    svc_conn_release(c, 1); /* the I/O error keeps it out of the pool */
  }
  svc_request_free(r);

  SECTION("Mtls.Tls12NoClientCertFailsTheHandshake");
  r = tls_request(e, "localhost", b_mtls12.port, st_ca);
  snprintf(msg, sizeof msg,
           "1 try failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: sslv3 alert handshake failure",
           b_mtls12.port, b_mtls12.port);
  c = (svc_conn *)&c;
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETLS, msg);
  CHECK(c == NULL);
  svc_request_free(r);

  SECTION("Mtls.ClientCertAccepted");
  r = tls_request(e, "localhost", b_mtls.port, st_ca);
  CHECK_OK(svc_set_tls_cert_key(r, client, key));
  c = NULL;
  if (exchange(r, "localhost", &c)) {
    CHECK_INT(res.status, 200);
    CHECK_STR(HDR("X-Client-Subject"), "/O=svc test/CN=svc test client");
    CHECK_CONTAINS(BODY, "\"client_subject\":\"/O=svc test/CN=svc test client\"");
    svc_conn_release(c, 0);
  }
  svc_request_free(r);

  SECTION("Mtls.ClientCertAcceptedOverTls12");
  r = tls_request(e, "localhost", b_mtls12.port, st_ca);
  CHECK_OK(svc_set_tls_cert_key(r, client, key));
  c = NULL;
  if (exchange(r, "localhost", &c)) {
    CHECK_STR(svc_conn_tls_version(c), "TLSv1.2");
    CHECK_STR(HDR("X-Client-Subject"), "/O=svc test/CN=svc test client");
    svc_conn_release(c, 0);
  }
  svc_request_free(r);

  SECTION("Mtls.ChainAndEncryptedKey");
  r = tls_request(e, "localhost", b_mtls.port, st_ca);
  CHECK_OK(svc_set_tls_cert_key(r, client_chain, enc));
  if (exchange(r, "localhost", NULL)) CHECK_STR(HDR("X-Client-Subject"), "/O=svc test/CN=svc test client");
  svc_request_free(r);

  SECTION("Mtls.ClientCertToAServerThatDoesNotAsk");
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  CHECK_OK(svc_set_tls_cert_key(r, client, key));
  if (exchange(r, "localhost", NULL)) CHECK_STR(HDR("X-Client-Subject"), "");
  svc_request_free(r);

  SECTION("Mtls.MismatchedKeyRejected");
  r = tls_request(e, "localhost", b_mtls.port, st_ca);
  CHECK_ERR(svc_set_tls_cert_key(r, client, other), SVC_EINVAL,
            "key does not match the certificate 'CN=svc test client,O=svc test'");
  CHECK_ERR(svc_set_tls_cert_key(r, client_chain, other), SVC_EINVAL,
            "key does not match the certificate 'CN=svc test client,O=svc test'");
  /* the rejected pair left no certificate behind: TLS 1.3 fails on read */
  c = NULL;
  CHECK_OK(svc_request_connect(r, &c));
  if (c != NULL) {
    snprintf(msg, sizeof msg, "read from 127.0.0.1:%d failed: tlsv13 alert certificate required", b_mtls.port);
    CHECK_ERR(svc_conn_read(c, buf, sizeof buf, &n), SVC_ETLS, msg);
    svc_conn_release(c, 0);
  }
  svc_request_free(r);

  svc_cert_chain_free(client);
  svc_cert_chain_free(client_chain);
  svc_private_key_free(key);
  svc_private_key_free(enc);
  svc_private_key_free(other);
}

/* ----- policy set in the balancer callback ------------------------------- */

typedef struct cb_state {
  int calls;
  int phase[8];
  int port[8];
  const svc_trust_store *store_on_try; /* set this store on try `store_try` */
  int store_try;
  int verify_off_try; /* turn verification off on this try (0: never) */
  int depth_try;      /* set depth 0 on this try */
  const svc_cert_chain *chain;
  const svc_private_key *key;
  const char *scheme; /* set this scheme on every try */
} cb_state;

static svc_error *policy_cb(void *userdata, svc_request *r) {
  cb_state *s = (cb_state *)userdata;
  const int t = svc_request_tries(r);
  svc_error *err = NULL;
  if (s->calls < 8) {
    s->phase[s->calls] = svc_request_phase(r);
    s->port[s->calls] = svc_request_peer_port(r);
  }
  ++s->calls;
  if (s->store_on_try != NULL && t == s->store_try) err = svc_set_tls_verify_store(r, s->store_on_try);
  if (err == NULL && s->verify_off_try == t) err = svc_set_tls_verify(r, 0);
  if (err == NULL && s->depth_try == t) err = svc_set_tls_verify_depth(r, 0);
  if (err == NULL && s->chain != NULL) err = svc_set_tls_cert_key(r, s->chain, s->key);
  if (err == NULL && s->scheme != NULL) err = svc_request_set_scheme(r, s->scheme);
  return err;
}

static void test_balancer_policy(svc_engine *e) {
  svc_request *r;
  cb_state s;
  svc_conn *c = NULL;
  char msg[1024];
  svc_cert_chain *client = pki_chain("client.pem");
  svc_private_key *key = pki_key("client.key", NULL);

  SECTION("Balancer.StoreSetOnTry2Only");
  memset(&s, 0, sizeof s);
  s.store_on_try = st_ca;
  s.store_try = 2;
  r = tls_request(e, "localhost", b_ok.port, NULL);
  CHECK_OK(svc_set_retries(r, 1));
  CHECK_OK(svc_request_on_balancer(r, policy_cb, &s));
  if (exchange(r, "localhost", NULL)) CHECK_STR(HDR("X-SNI"), "localhost");
  CHECK_INT(svc_request_tries(r), 2);
  CHECK_INT(s.calls, 2);
  CHECK_INT(s.phase[0], SVC_PHASE_BALANCER);
  CHECK_INT(s.phase[1], SVC_PHASE_BALANCER);
  CHECK_INT(s.port[0], b_ok.port);
  CHECK_INT(s.port[1], b_ok.port);
  svc_request_free(r);

  SECTION("Balancer.StoreNotSetFailsBothTries");
  memset(&s, 0, sizeof s);
  s.store_on_try = st_ca;
  s.store_try = 3; /* never reached */
  r = tls_request(e, "localhost", b_ok.port, NULL);
  CHECK_OK(svc_set_retries(r, 1));
  CHECK_OK(svc_request_on_balancer(r, policy_cb, &s));
  snprintf(msg, sizeof msg,
           "2 tries failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: certificate verify "
           "failed: unable to get local issuer certificate; try 2 (127.0.0.1:%d): TLS handshake with "
           "127.0.0.1:%d failed: certificate verify failed: unable to get local issuer certificate",
           b_ok.port, b_ok.port, b_ok.port, b_ok.port);
  c = (svc_conn *)&c;
  CHECK_ERR(svc_request_connect(r, &c), SVC_ETLS, msg);
  CHECK_INT(s.calls, 2);
  svc_request_free(r);

  SECTION("Balancer.VerifyOffOnTry1");
  memset(&s, 0, sizeof s);
  s.verify_off_try = 1;
  r = tls_request(e, "localhost", b_self.port, NULL);
  CHECK_OK(svc_request_on_balancer(r, policy_cb, &s));
  exchange(r, "localhost", NULL);
  CHECK_INT(svc_request_tries(r), 1);
  CHECK_INT(s.calls, 1);
  svc_request_free(r);

  SECTION("Balancer.DepthOverridesTheAccessPolicy");
  memset(&s, 0, sizeof s);
  s.depth_try = 1;
  r = tls_request(e, "localhost", b_ok.port, st_ca);
  CHECK_OK(svc_set_tls_verify_depth(r, 5));
  CHECK_OK(svc_request_on_balancer(r, policy_cb, &s));
  expect_verify_failure(r, b_ok.port, "certificate chain too long");
  svc_request_free(r);

  SECTION("Balancer.ClientCertSetInTheBalancerPhase");
  memset(&s, 0, sizeof s);
  s.chain = client;
  s.key = key;
  r = tls_request(e, "localhost", b_mtls.port, st_ca);
  CHECK_OK(svc_request_on_balancer(r, policy_cb, &s));
  if (exchange(r, "localhost", NULL)) CHECK_STR(HDR("X-Client-Subject"), "/O=svc test/CN=svc test client");
  svc_request_free(r);

  SECTION("Balancer.SchemeSetInTheBalancerPhase");
  r = new_request(e);
  REQUIRE_OK(svc_set_target(r, "localhost", b_ok.port));
  REQUIRE_OK(svc_set_tls_verify_store(r, st_ca));
  memset(&s, 0, sizeof s);
  s.scheme = "https";
  CHECK_OK(svc_request_on_balancer(r, policy_cb, &s));
  c = NULL;
  if (exchange(r, "localhost", &c)) {
    CHECK_STR(svc_conn_tls_version(c), "TLSv1.3");
    CHECK_STR(HDR("X-SNI"), "localhost");
    svc_conn_release(c, 0);
  }
  CHECK_STR(svc_request_scheme(r), "https");
  svc_request_free(r);

  svc_cert_chain_free(client);
  svc_private_key_free(key);
}

int main(void) {
  svc_engine *e;
  start_backends();
  e = new_engine("{\"retries\": 0, \"tls\": {\"trust\": \"none\"},"
                 " \"timeouts\": {\"connect\": 5000, \"write\": 5000, \"read\": 5000}}");
  test_right_ca(e);
  test_failures(e);
  test_trust_system();
  test_mtls(e);
  test_balancer_policy(e);
  svc_engine_free(e);
  stop_backends();
  HARNESS_END();
}
