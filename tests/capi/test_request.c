/* svc.h requests: the kong.service setters (arguments, ranges, phases with
 * Kong's text), phases, explicit targets, tries and reports. */
#include "harness.h"

static svc_engine *engine_with_upstream(void) {
  svc_engine *e = new_engine(NULL);
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"a\"}"));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  return e;
}

static void test_new_and_null_request(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *r = (svc_request *)&r;
  SECTION("RequestNew.NullArguments");
  CHECK_ERR(svc_request_new(NULL, e), SVC_EINVAL, "out must not be NULL");
  CHECK_ERR(svc_request_new(&r, NULL), SVC_EINVAL, "engine must not be NULL");
  CHECK(r == NULL);

  SECTION("Request.StartsInAccessWithNoPeer");
  CHECK_OK(svc_request_new(&r, e));
  CHECK(r != NULL);
  CHECK_INT(svc_request_phase(r), SVC_PHASE_ACCESS);
  CHECK(svc_request_peer_ip(r) == NULL);
  CHECK_INT(svc_request_peer_port(r), 0);
  CHECK(svc_request_peer_host(r) == NULL);
  CHECK_INT(svc_request_tries(r), 0);
  CHECK_STR(svc_request_scheme(r), "http");
  svc_request_free(r);

  SECTION("Request.NullRequestEveryFunction");
  CHECK_ERR(svc_request_set_phase(NULL, SVC_PHASE_REWRITE), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_upstream(NULL, "a"), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_target(NULL, "10.0.0.1", 80), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_tls_cert_key(NULL, NULL, NULL), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_tls_verify(NULL, 1), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_tls_verify_depth(NULL, 1), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_tls_verify_store(NULL, NULL), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_retries(NULL, 1), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_timeouts(NULL, 1, 1, 1), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_set_hash_key(NULL, "k", 1), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_request_set_scheme(NULL, "http"), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_request_set_hash_input(NULL, SVC_HASH_IP, NULL, "1.2.3.4"), SVC_EINVAL,
            "request must not be NULL");
  CHECK_ERR(svc_request_pick(NULL), SVC_EINVAL, "request must not be NULL");
  CHECK_ERR(svc_request_report(NULL, SVC_OUTCOME_OK, 0, 0), SVC_EINVAL, "request must not be NULL");
  /* the accessors are total on NULL */
  CHECK_INT(svc_request_phase(NULL), 0);
  CHECK(svc_request_peer_ip(NULL) == NULL);
  CHECK_INT(svc_request_peer_port(NULL), 0);
  CHECK(svc_request_peer_host(NULL) == NULL);
  CHECK_INT(svc_request_tries(NULL), 0);
  CHECK(svc_request_scheme(NULL) == NULL);
  svc_engine_free(e);
}

static void test_argument_validation(void) {
  svc_engine *e = engine_with_upstream();
  svc_request *r = new_request(e);
  static const char zeros[3] = {0, 0, 0};

  SECTION("SetUpstream.Arguments");
  CHECK_ERR(svc_set_upstream(r, NULL), SVC_EINVAL, "host must be a string");
  CHECK_ERR(svc_set_upstream(r, ""), SVC_EINVAL, "host must be a string");
  CHECK_ERR(svc_set_upstream(r, "nope"), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");
  CHECK_OK(svc_set_upstream(r, "a"));

  SECTION("SetTarget.Arguments");
  CHECK_ERR(svc_set_target(r, NULL, 80), SVC_EINVAL, "host must be a string");
  CHECK_ERR(svc_set_target(r, "", 80), SVC_EINVAL, "host must be a string");
  CHECK_ERR(svc_set_target(r, "10.0.0.1", -1), SVC_EINVAL, "port must be an integer between 0 and 65535: given -1");
  CHECK_ERR(svc_set_target(r, "10.0.0.1", 65536), SVC_EINVAL,
            "port must be an integer between 0 and 65535: given 65536");
  CHECK_ERR(svc_set_target(r, "10.0.0.1", 70000), SVC_EINVAL,
            "port must be an integer between 0 and 65535: given 70000");
  CHECK_OK(svc_set_target(r, "10.0.0.1", 0)); /* Kong accepts port 0 */
  CHECK_OK(svc_set_target(r, "10.0.0.1", 65535));

  SECTION("SetRetries.Range");
  CHECK_ERR(svc_set_retries(r, -1), SVC_EINVAL, "retries must be an integer between 0 and 32767: given -1");
  CHECK_ERR(svc_set_retries(r, 32768), SVC_EINVAL, "retries must be an integer between 0 and 32767: given 32768");
  CHECK_OK(svc_set_retries(r, 0));
  CHECK_OK(svc_set_retries(r, 32767));

  SECTION("SetTimeouts.RangeEachInOrder");
  CHECK_ERR(svc_set_timeouts(r, 0, 1, 1), SVC_EINVAL,
            "connect_timeout must be an integer between 1 and 2147483646: given 0");
  CHECK_ERR(svc_set_timeouts(r, 2147483647, 1, 1), SVC_EINVAL,
            "connect_timeout must be an integer between 1 and 2147483646: given 2147483647");
  CHECK_ERR(svc_set_timeouts(r, 1, 0, 1), SVC_EINVAL,
            "write_timeout must be an integer between 1 and 2147483646: given 0");
  CHECK_ERR(svc_set_timeouts(r, 1, 2147483647, 1), SVC_EINVAL,
            "write_timeout must be an integer between 1 and 2147483646: given 2147483647");
  CHECK_ERR(svc_set_timeouts(r, 1, 1, 0), SVC_EINVAL,
            "read_timeout must be an integer between 1 and 2147483646: given 0");
  CHECK_ERR(svc_set_timeouts(r, 1, 1, 2147483647), SVC_EINVAL,
            "read_timeout must be an integer between 1 and 2147483646: given 2147483647");
  CHECK_ERR(svc_set_timeouts(r, -5, 0, 0), SVC_EINVAL,
            "connect_timeout must be an integer between 1 and 2147483646: given -5");
  CHECK_ERR(svc_set_timeouts(r, 1, -5, 0), SVC_EINVAL,
            "write_timeout must be an integer between 1 and 2147483646: given -5");
  CHECK_OK(svc_set_timeouts(r, 1, 1, 1));
  CHECK_OK(svc_set_timeouts(r, 2147483646, 2147483646, 2147483646));

  SECTION("SetTlsVerifyDepth.Range");
  CHECK_ERR(svc_set_tls_verify_depth(r, -1), SVC_EINVAL, "depth expects a non-negative integer but found -1");
  CHECK_ERR(svc_set_tls_verify_depth(r, -100), SVC_EINVAL, "depth expects a non-negative integer but found -100");
  CHECK_OK(svc_set_tls_verify_depth(r, 0));
  CHECK_OK(svc_set_tls_verify_depth(r, 100));

  SECTION("SetTlsVerify.AnyInt");
  CHECK_OK(svc_set_tls_verify(r, 0));
  CHECK_OK(svc_set_tls_verify(r, 1));
  CHECK_OK(svc_set_tls_verify(r, 42));

  SECTION("SetTlsCertKeyAndStore.Null");
  CHECK_ERR(svc_set_tls_cert_key(r, NULL, NULL), SVC_EINVAL, "chain must not be NULL");
  CHECK_ERR(svc_set_tls_verify_store(r, NULL), SVC_EINVAL, "store must not be NULL");

  SECTION("SetHashKey.Arguments");
  CHECK_OK(svc_set_hash_key(r, NULL, 0));
  CHECK_OK(svc_set_hash_key(r, "", 0));
  CHECK_OK(svc_set_hash_key(r, zeros, sizeof zeros)); /* any bytes */
  CHECK_ERR(svc_set_hash_key(r, NULL, 3), SVC_EINVAL, "key must not be NULL when len is 3");

  SECTION("SetScheme.Values");
  CHECK_ERR(svc_request_set_scheme(r, NULL), SVC_EINVAL, "scheme must be a string");
  CHECK_ERR(svc_request_set_scheme(r, "ftp"), SVC_EINVAL, "invalid scheme: ftp");
  CHECK_ERR(svc_request_set_scheme(r, "HTTP"), SVC_EINVAL, "invalid scheme: HTTP");
  CHECK_ERR(svc_request_set_scheme(r, ""), SVC_EINVAL, "invalid scheme: ");
  CHECK_STR(svc_request_scheme(r), "http"); /* unchanged by the failures */
  CHECK_OK(svc_request_set_scheme(r, "https"));
  CHECK_STR(svc_request_scheme(r), "https");
  CHECK_OK(svc_request_set_scheme(r, "tcp"));
  CHECK_STR(svc_request_scheme(r), "tcp");
  CHECK_OK(svc_request_set_scheme(r, "tls"));
  CHECK_STR(svc_request_scheme(r), "tls");
  CHECK_OK(svc_request_set_scheme(r, "http"));
  CHECK_STR(svc_request_scheme(r), "http");

  SECTION("SetHashInput.Arguments");
  CHECK_ERR(svc_request_set_hash_input(r, (svc_hash_on)0, NULL, "x"), SVC_EINVAL,
            "kind must be one of SVC_HASH_CONSUMER .. SVC_HASH_URI_CAPTURE: given 0");
  CHECK_ERR(svc_request_set_hash_input(r, (svc_hash_on)8, NULL, "x"), SVC_EINVAL,
            "kind must be one of SVC_HASH_CONSUMER .. SVC_HASH_URI_CAPTURE: given 8");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_HEADER, NULL, "x"), SVC_EINVAL,
            "name must be a non-empty string for this kind");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_COOKIE, "", "x"), SVC_EINVAL,
            "name must be a non-empty string for this kind");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_QUERY_ARG, NULL, "x"), SVC_EINVAL,
            "name must be a non-empty string for this kind");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_URI_CAPTURE, NULL, "x"), SVC_EINVAL,
            "name must be a non-empty string for this kind");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_CONSUMER, "n", "x"), SVC_EINVAL, "name must be NULL for this kind");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_IP, "n", "x"), SVC_EINVAL, "name must be NULL for this kind");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_PATH, "n", "x"), SVC_EINVAL, "name must be NULL for this kind");
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_CONSUMER, NULL, "c1"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_IP, NULL, "10.1.1.1"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_HEADER, "X-User", "u1"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_COOKIE, "sid", "s1"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_PATH, NULL, "/p"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_QUERY_ARG, "q", "v1"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_URI_CAPTURE, "id", "7"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_HEADER, "X-User", NULL)); /* clears */
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_CONSUMER, NULL, NULL));

  SECTION("SetPhase.Arguments");
  CHECK_ERR(svc_request_set_phase(r, SVC_PHASE_BALANCER), SVC_EINVAL,
            "phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given 3");
  CHECK_ERR(svc_request_set_phase(r, SVC_PHASE_LOG), SVC_EINVAL,
            "phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given 4");
  CHECK_ERR(svc_request_set_phase(r, (svc_phase)0), SVC_EINVAL,
            "phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given 0");
  CHECK_INT(svc_request_phase(r), SVC_PHASE_ACCESS);
  svc_request_free(r);
  svc_engine_free(e);
}

static void test_rewrite_phase(void) {
  svc_engine *e = engine_with_upstream();
  svc_request *r = new_request(e);
  SECTION("Phase.RewriteAllowsTlsSchemeAndHashInputOnly");
  CHECK_OK(svc_request_set_phase(r, SVC_PHASE_REWRITE));
  CHECK_INT(svc_request_phase(r), SVC_PHASE_REWRITE);
  CHECK_ERR(svc_set_upstream(r, "a"), SVC_EPHASE, "function cannot be called in rewrite phase (only in: access)");
  CHECK_ERR(svc_set_target(r, "10.0.0.1", 80), SVC_EPHASE,
            "function cannot be called in rewrite phase (only in: access)");
  CHECK_ERR(svc_set_retries(r, 1), SVC_EPHASE, "function cannot be called in rewrite phase (only in: access)");
  CHECK_ERR(svc_set_timeouts(r, 1, 1, 1), SVC_EPHASE, "function cannot be called in rewrite phase (only in: access)");
  CHECK_ERR(svc_set_hash_key(r, "k", 1), SVC_EPHASE, "function cannot be called in rewrite phase (only in: access)");
  /* the phase check comes before argument checks (Kong checks the phase first) */
  CHECK_ERR(svc_set_upstream(r, NULL), SVC_EPHASE, "function cannot be called in rewrite phase (only in: access)");
  CHECK_ERR(svc_set_retries(r, -1), SVC_EPHASE, "function cannot be called in rewrite phase (only in: access)");
  CHECK_OK(svc_set_tls_verify(r, 0));
  CHECK_OK(svc_set_tls_verify_depth(r, 3));
  CHECK_ERR(svc_set_tls_verify_depth(r, -1), SVC_EINVAL, "depth expects a non-negative integer but found -1");
  CHECK_ERR(svc_set_tls_cert_key(r, NULL, NULL), SVC_EINVAL, "chain must not be NULL");
  CHECK_ERR(svc_set_tls_verify_store(r, NULL), SVC_EINVAL, "store must not be NULL");
  CHECK_OK(svc_request_set_scheme(r, "https"));
  CHECK_OK(svc_request_set_hash_input(r, SVC_HASH_IP, NULL, "10.9.9.9"));
  CHECK_ERR(svc_request_pick(r), SVC_EINVAL,
            "no upstream or target set: call svc_set_upstream or svc_set_target first");

  SECTION("Phase.BackToAccess");
  CHECK_OK(svc_request_set_phase(r, SVC_PHASE_ACCESS));
  CHECK_INT(svc_request_phase(r), SVC_PHASE_ACCESS);
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_request_set_phase(r, SVC_PHASE_REWRITE)); /* still before any try */
  CHECK_OK(svc_request_set_phase(r, SVC_PHASE_ACCESS));
  svc_request_free(r);
  svc_engine_free(e);
}

static void test_balancer_phase(void) {
  svc_engine *e = engine_with_upstream();
  svc_request *r = new_request(e);
  SECTION("Phase.PickEntersBalancer");
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_request_pick(r));
  CHECK_INT(svc_request_phase(r), SVC_PHASE_BALANCER);

  SECTION("Phase.BalancerRejectsAccessOnlySetters");
  CHECK_ERR(svc_set_upstream(r, "a"), SVC_EPHASE, "function cannot be called in balancer phase (only in: access)");
  CHECK_ERR(svc_set_target(r, "10.0.0.1", 80), SVC_EPHASE,
            "function cannot be called in balancer phase (only in: access)");
  CHECK_ERR(svc_set_retries(r, 1), SVC_EPHASE, "function cannot be called in balancer phase (only in: access)");
  CHECK_ERR(svc_set_timeouts(r, 1, 1, 1), SVC_EPHASE, "function cannot be called in balancer phase (only in: access)");
  CHECK_ERR(svc_set_hash_key(r, "k", 1), SVC_EPHASE, "function cannot be called in balancer phase (only in: access)");
  CHECK_ERR(svc_request_set_hash_input(r, SVC_HASH_IP, NULL, "1.1.1.1"), SVC_EPHASE,
            "function cannot be called in balancer phase (only in: rewrite, access)");
  CHECK_ERR(svc_request_set_phase(r, SVC_PHASE_ACCESS), SVC_EPHASE,
            "the phase can only be set before the first try (now in balancer phase)");
  CHECK_ERR(svc_request_set_phase(r, SVC_PHASE_REWRITE), SVC_EPHASE,
            "the phase can only be set before the first try (now in balancer phase)");
  CHECK_INT(svc_request_phase(r), SVC_PHASE_BALANCER);

  SECTION("Phase.BalancerAllowsTlsSetters");
  CHECK_OK(svc_set_tls_verify(r, 1));
  CHECK_OK(svc_set_tls_verify_depth(r, 2));
  CHECK_ERR(svc_set_tls_cert_key(r, NULL, NULL), SVC_EINVAL, "chain must not be NULL");
  CHECK_ERR(svc_set_tls_verify_store(r, NULL), SVC_EINVAL, "store must not be NULL");
  CHECK_OK(svc_request_set_scheme(r, "https"));
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
  CHECK_OK(svc_request_pick(r)); /* a retry stays in balancer */
  CHECK_INT(svc_request_phase(r), SVC_PHASE_BALANCER);
  svc_request_free(r);
  svc_engine_free(e);
}

static void test_explicit_target(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *r;
  SECTION("SetTarget.PickReturnsTheTarget");
  r = new_request(e);
  CHECK_OK(svc_set_target(r, "10.0.0.7", 8443));
  CHECK(svc_request_peer_ip(r) == NULL);
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.7");
  CHECK_INT(svc_request_peer_port(r), 8443);
  CHECK_STR(svc_request_peer_host(r), "10.0.0.7");
  CHECK_INT(svc_request_tries(r), 1);
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_OK, 0, 10));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.7");
  CHECK_INT(svc_request_tries(r), 2);
  svc_request_free(r);

  SECTION("SetTarget.Localhost");
  r = new_request(e);
  CHECK_OK(svc_set_target(r, "localhost", 80));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "127.0.0.1");
  CHECK_INT(svc_request_peer_port(r), 80);
  CHECK_STR(svc_request_peer_host(r), "localhost");
  svc_request_free(r);

  SECTION("SetTarget.Ipv6");
  r = new_request(e);
  CHECK_OK(svc_set_target(r, "::1", 443));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "::1");
  CHECK_INT(svc_request_peer_port(r), 443);
  svc_request_free(r);
  r = new_request(e);
  CHECK_OK(svc_set_target(r, "[::1]", 443));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "::1");
  svc_request_free(r);

  SECTION("SetTarget.OverridesUpstreamAndBack");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"a\"}"));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_set_target(r, "10.0.0.8", 81)); /* the last call wins */
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.8");
  svc_request_free(r);
  r = new_request(e);
  CHECK_OK(svc_set_target(r, "10.0.0.8", 81));
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.1");
  CHECK_INT(svc_request_peer_port(r), 8000);
  svc_request_free(r);
  svc_engine_free(e);
}

static void test_tries_and_reports(void) {
  svc_engine *e = engine_with_upstream();
  svc_request *r = new_request(e);
  int i;
  SECTION("Report.WithoutPick");
  CHECK_ERR(svc_request_report(r, SVC_OUTCOME_OK, 0, 0), SVC_EINVAL, "no try to report: call svc_request_pick first");
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_ERR(svc_request_report(r, SVC_OUTCOME_OK, 0, 0), SVC_EINVAL, "no try to report: call svc_request_pick first");

  SECTION("Report.BadOutcomeAndStatus");
  CHECK_OK(svc_request_pick(r));
  CHECK_ERR(svc_request_report(r, (svc_outcome)4, 0, 0), SVC_EINVAL,
            "outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, SVC_OUTCOME_TCP_FAILURE, "
            "SVC_OUTCOME_TIMEOUT: given 4");
  CHECK_ERR(svc_request_report(r, (svc_outcome)-1, 0, 0), SVC_EINVAL,
            "outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, SVC_OUTCOME_TCP_FAILURE, "
            "SVC_OUTCOME_TIMEOUT: given -1");
  CHECK_ERR(svc_request_report(r, SVC_OUTCOME_HTTP, 99, 0), SVC_EINVAL,
            "http_status must be 0 (no valid response) or between 100 and 999: given 99");
  CHECK_ERR(svc_request_report(r, SVC_OUTCOME_HTTP, 1000, 0), SVC_EINVAL,
            "http_status must be 0 (no valid response) or between 100 and 999: given 1000");
  CHECK_ERR(svc_request_report(r, SVC_OUTCOME_HTTP, -1, 0), SVC_EINVAL,
            "http_status must be 0 (no valid response) or between 100 and 999: given -1");

  SECTION("Report.OncePerPick");
  /* the failed reports above did not consume the try */
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_HTTP, 200, 1500));
  CHECK_ERR(svc_request_report(r, SVC_OUTCOME_OK, 0, 0), SVC_EINVAL, "no try to report: call svc_request_pick first");
  CHECK_OK(svc_request_pick(r));
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_TIMEOUT, 0, UINT32_MAX));
  CHECK_OK(svc_request_pick(r));
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_HTTP, 999, 0));
  CHECK_OK(svc_request_pick(r));
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_HTTP, 100, 0));

  SECTION("Pick.RetriesUsedUp");
  svc_request_free(r);
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_set_retries(r, 2));
  for (i = 0; i < 3; ++i) {
    CHECK_OK(svc_request_pick(r));
    CHECK_INT(svc_request_tries(r), i + 1);
  }
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "no more tries: 3 tries made and retries is 2");
  CHECK_INT(svc_request_tries(r), 3);
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.1"); /* the last peer is still readable */
  svc_request_free(r);

  SECTION("Pick.RetriesZeroMeansOneTry");
  r = new_request(e);
  CHECK_OK(svc_set_target(r, "10.0.0.5", 80));
  CHECK_OK(svc_set_retries(r, 0));
  CHECK_OK(svc_request_pick(r));
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "no more tries: 1 tries made and retries is 0");
  svc_request_free(r);

  SECTION("Pick.NoRoute");
  r = new_request(e);
  CHECK_ERR(svc_request_pick(r), SVC_EINVAL, "no upstream or target set: call svc_set_upstream or svc_set_target first");
  CHECK_INT(svc_request_phase(r), SVC_PHASE_ACCESS);
  CHECK_INT(svc_request_tries(r), 0);
  svc_request_free(r);

  SECTION("Pick.FreeWithUnreportedTry");
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_request_pick(r));
  svc_request_free(r); /* releases the pending try */
  CHECK(1);
  svc_engine_free(e);
}

int main(void) {
  test_new_and_null_request();
  test_argument_validation();
  test_rewrite_phase();
  test_balancer_phase();
  test_explicit_target();
  test_tries_and_reports();
  HARNESS_END();
}
