/* svc.h errors and version: codes, names, error objects, svc_free. */
#include "harness.h"

static void test_version(void) {
  char expected[64];
  SECTION("Version.MatchesHeader");
  CHECK_STR(svc_version(), SVC_VERSION_STRING);
  snprintf(expected, sizeof expected, "%d.%d.%d", SVC_VERSION_MAJOR, SVC_VERSION_MINOR,
           SVC_VERSION_PATCH);
  CHECK_STR(svc_version(), expected);
  /* static text: the same pointer every time */
  CHECK(svc_version() == svc_version());
}

static void test_code_values(void) {
  SECTION("Codes.AppendOnlyNumbering");
  CHECK_INT(SVC_OK, 0);
  CHECK_INT(SVC_EINVAL, 1);
  CHECK_INT(SVC_EPHASE, 2);
  CHECK_INT(SVC_ENOTFOUND, 3);
  CHECK_INT(SVC_EEXIST, 4);
  CHECK_INT(SVC_ECONFIG, 5);
  CHECK_INT(SVC_ENOPEER, 6);
  CHECK_INT(SVC_EDNS, 7);
  CHECK_INT(SVC_ECONNECT, 8);
  CHECK_INT(SVC_ETIMEOUT, 9);
  CHECK_INT(SVC_ETLS, 10);
  CHECK_INT(SVC_EPROTO, 11);
  CHECK_INT(SVC_ECLOSED, 12);
  CHECK_INT(SVC_ENOMEM, 13);
  CHECK_INT(SVC_EINTERNAL, 14);
  CHECK_INT(SVC_ECANCELED, 15);

  SECTION("Enums.Values");
  CHECK_INT(SVC_PHASE_REWRITE, 1);
  CHECK_INT(SVC_PHASE_ACCESS, 2);
  CHECK_INT(SVC_PHASE_BALANCER, 3);
  CHECK_INT(SVC_PHASE_LOG, 4);
  CHECK_INT(SVC_OUTCOME_OK, 0);
  CHECK_INT(SVC_OUTCOME_HTTP, 1);
  CHECK_INT(SVC_OUTCOME_TCP_FAILURE, 2);
  CHECK_INT(SVC_OUTCOME_TIMEOUT, 3);
  CHECK_INT(SVC_HASH_CONSUMER, 1);
  CHECK_INT(SVC_HASH_IP, 2);
  CHECK_INT(SVC_HASH_HEADER, 3);
  CHECK_INT(SVC_HASH_COOKIE, 4);
  CHECK_INT(SVC_HASH_PATH, 5);
  CHECK_INT(SVC_HASH_QUERY_ARG, 6);
  CHECK_INT(SVC_HASH_URI_CAPTURE, 7);
}

static void test_code_names(void) {
  SECTION("CodeName.EveryCode");
  CHECK_STR(svc_code_name(SVC_OK), "SVC_OK");
  CHECK_STR(svc_code_name(SVC_EINVAL), "SVC_EINVAL");
  CHECK_STR(svc_code_name(SVC_EPHASE), "SVC_EPHASE");
  CHECK_STR(svc_code_name(SVC_ENOTFOUND), "SVC_ENOTFOUND");
  CHECK_STR(svc_code_name(SVC_EEXIST), "SVC_EEXIST");
  CHECK_STR(svc_code_name(SVC_ECONFIG), "SVC_ECONFIG");
  CHECK_STR(svc_code_name(SVC_ENOPEER), "SVC_ENOPEER");
  CHECK_STR(svc_code_name(SVC_EDNS), "SVC_EDNS");
  CHECK_STR(svc_code_name(SVC_ECONNECT), "SVC_ECONNECT");
  CHECK_STR(svc_code_name(SVC_ETIMEOUT), "SVC_ETIMEOUT");
  CHECK_STR(svc_code_name(SVC_ETLS), "SVC_ETLS");
  CHECK_STR(svc_code_name(SVC_EPROTO), "SVC_EPROTO");
  CHECK_STR(svc_code_name(SVC_ECLOSED), "SVC_ECLOSED");
  CHECK_STR(svc_code_name(SVC_ENOMEM), "SVC_ENOMEM");
  CHECK_STR(svc_code_name(SVC_EINTERNAL), "SVC_EINTERNAL");
  CHECK_STR(svc_code_name(SVC_ECANCELED), "SVC_ECANCELED");

  SECTION("CodeName.OutsideTheEnum");
  CHECK_STR(svc_code_name((svc_code)16), "SVC_UNKNOWN");
  CHECK_STR(svc_code_name((svc_code)-1), "SVC_UNKNOWN");
  CHECK_STR(svc_code_name((svc_code)1000), "SVC_UNKNOWN");
}

static void test_error_objects(void) {
  svc_engine *e = NULL;
  svc_error *a, *b;
  SECTION("Error.CodeAndMessageOwnedByCaller");
  a = svc_engine_new(NULL, NULL);
  b = svc_engine_new(NULL, NULL);
  CHECK(a != NULL);
  CHECK(b != NULL);
  CHECK(a != b); /* each call returns its own object */
  if (a && b) {
    CHECK_INT(svc_error_code(a), SVC_EINVAL);
    CHECK_STR(svc_error_message(a), "out must not be NULL");
    /* the message is borrowed from its error: stable until that error is freed */
    CHECK(svc_error_message(a) == svc_error_message(a));
    svc_error_free(b);
    CHECK_STR(svc_error_message(a), "out must not be NULL");
  }
  svc_error_free(a);

  SECTION("Error.FromEveryModule");
  e = new_engine(NULL);
  a = svc_upstream_delete(e, "nope");
  CHECK(a != NULL);
  if (a) {
    CHECK_INT(svc_error_code(a), SVC_ENOTFOUND);
    CHECK_STR(svc_code_name(svc_error_code(a)), "SVC_ENOTFOUND");
    CHECK_STR(svc_error_message(a), "could not find an Upstream named 'nope'");
  }
  svc_error_free(a);
  svc_engine_free(e);

  SECTION("Free.NullAccepted");
  svc_error_free(NULL);
  svc_free(NULL);
  svc_engine_free(NULL);
  svc_request_free(NULL);
  svc_cert_chain_free(NULL);
  svc_private_key_free(NULL);
  svc_trust_store_free(NULL);
  CHECK(1); /* reached: none of them crashed */
}

static void test_svc_free(void) {
  svc_engine *e = new_engine(NULL);
  char *json = NULL;
  SECTION("SvcFree.ReleasesLibraryMemory");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\":\"a\"}"));
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK(json != NULL);
  CHECK_CONTAINS(json, "\"name\":\"a\"");
  svc_free(json);
  json = NULL;
  CHECK_OK(svc_upstream_health(e, "a", &json));
  CHECK(json != NULL);
  svc_free(json);
  svc_engine_free(e);
}

int main(void) {
  test_version();
  test_code_values();
  test_code_names();
  test_error_objects();
  test_svc_free();
  HARNESS_END();
}
