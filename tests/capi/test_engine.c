/* svc.h engine: options, NULL arguments of every engine function, callbacks,
 * engine defaults seen by requests, closing. */
#include <dirent.h>
#include <stdatomic.h>

#include "harness.h"

#define UPSTREAM_A "{\"name\":\"a\"}"

static void test_new_defaults(void) {
  svc_engine *e = (svc_engine *)&e; /* any non-NULL value: must be reset */
  SECTION("EngineNew.NullOut");
  CHECK_ERR(svc_engine_new(NULL, NULL), SVC_EINVAL, "out must not be NULL");
  CHECK_ERR(svc_engine_new(NULL, "{}"), SVC_EINVAL, "out must not be NULL");

  SECTION("EngineNew.DefaultsFromNullEmptyBlankAndEmptyObject");
  CHECK_OK(svc_engine_new(&e, NULL));
  CHECK(e != NULL);
  svc_engine_free(e);
  e = NULL;
  CHECK_OK(svc_engine_new(&e, ""));
  CHECK(e != NULL);
  svc_engine_free(e);
  e = NULL;
  CHECK_OK(svc_engine_new(&e, " \n\t "));
  CHECK(e != NULL);
  svc_engine_free(e);
  e = NULL;
  CHECK_OK(svc_engine_new(&e, "{}"));
  CHECK(e != NULL);
  svc_engine_free(e);

  SECTION("EngineNew.EveryKey");
  e = NULL;
  CHECK_OK(svc_engine_new(&e,
      "{\"io_threads\": 2, \"scheme\": \"https\", \"retries\": 3,"
      " \"timeouts\": {\"connect\": 1000, \"write\": 2000, \"read\": 3000},"
      " \"tls\": {\"verify\": false, \"trust\": \"none\", \"min_version\": \"1.3\"},"
      " \"keepalive\": {\"pool_size\": 10, \"max_requests\": 5, \"idle_timeout\": 1.5},"
      " \"dns\": {\"servers\": [\"127.0.0.1:53\"], \"order\": [\"LAST\", \"SRV\", \"A\", \"AAAA\", \"CNAME\"],"
      "           \"stale_ttl\": 4, \"not_found_ttl\": 30, \"error_ttl\": 1},"
      " \"limits\": {\"max_header_bytes\": 65536, \"max_body_bytes\": 67108864},"
      " \"read_spin_us\": 0, \"seed\": 42}"));
  CHECK(e != NULL);
  svc_engine_free(e);
}

/* The option is rejected with exactly `message`, and *out is NULL. */
static void bad_option(const char *json, const char *message, int line) {
  svc_engine *e = (svc_engine *)&e;
  svc_error *err = svc_engine_new(&e, json);
  harness_check_err(err, SVC_EINVAL, message, 0, __FILE__, line, json);
  if (e != NULL) {
    harness_fail_head(__FILE__, line, "out must be NULL after an error");
    e = NULL;
  } else {
    ++harness_passed;
  }
}
#define BAD_OPTION(json, message) bad_option((json), (message), __LINE__)

static void test_new_bad_options(void) {
  SECTION("EngineNew.MalformedJson");
  BAD_OPTION("{", "options: not valid JSON: {");
  BAD_OPTION("io_threads: 1", "options: not valid JSON: io_threads: 1");
  BAD_OPTION("[1]", "options: expected a JSON object, given [1]");
  BAD_OPTION("7", "options: expected a JSON object, given 7");

  SECTION("EngineNew.UnknownKeys");
  BAD_OPTION("{\"bogus\": 1}", "options: unknown key 'bogus'");
  BAD_OPTION("{\"timeouts\": {\"conect\": 1}}", "options.timeouts: unknown key 'conect'");
  BAD_OPTION("{\"tls\": {\"verfy\": true}}", "options.tls: unknown key 'verfy'");
  BAD_OPTION("{\"keepalive\": {\"size\": 1}}", "options.keepalive: unknown key 'size'");
  BAD_OPTION("{\"dns\": {\"ttl\": 1}}", "options.dns: unknown key 'ttl'");
  BAD_OPTION("{\"limits\": {\"max\": 1}}", "options.limits: unknown key 'max'");

  SECTION("EngineNew.WrongTypesAndRanges");
  BAD_OPTION("{\"io_threads\": 0}", "options.io_threads: expected an integer between 1 and 64, given 0");
  BAD_OPTION("{\"io_threads\": \"1\"}", "options.io_threads: expected an integer between 1 and 64, given \"1\"");
  BAD_OPTION("{\"retries\": -1}", "options.retries: expected an integer between 0 and 32767, given -1");
  BAD_OPTION("{\"retries\": 32768}", "options.retries: expected an integer between 0 and 32767, given 32768");
  BAD_OPTION("{\"read_spin_us\": 10001}",
             "options.read_spin_us: expected an integer between 0 and 10000, given 10001");
  BAD_OPTION("{\"scheme\": \"ftp\"}", "options.scheme: expected one of: http, https, tcp, tls, given \"ftp\"");
  BAD_OPTION("{\"timeouts\": 5}", "options.timeouts: expected an object, given 5");
  BAD_OPTION("{\"timeouts\": {\"connect\": 0}}",
             "options.timeouts.connect: expected an integer between 1 and 2147483646, given 0");
  BAD_OPTION("{\"timeouts\": {\"write\": 2147483647}}",
             "options.timeouts.write: expected an integer between 1 and 2147483646, given 2147483647");
  BAD_OPTION("{\"timeouts\": {\"read\": 0}}",
             "options.timeouts.read: expected an integer between 1 and 2147483646, given 0");
  BAD_OPTION("{\"tls\": {\"verify\": \"yes\"}}", "options.tls.verify: expected a boolean, given \"yes\"");
  BAD_OPTION("{\"tls\": {\"trust\": \"all\"}}", "options.tls.trust: expected one of: system, none, given \"all\"");
  BAD_OPTION("{\"tls\": {\"min_version\": \"1.1\"}}",
             "options.tls.min_version: expected one of: 1.2, 1.3, given \"1.1\"");
  BAD_OPTION("{\"keepalive\": {\"idle_timeout\": -1}}",
             "options.keepalive.idle_timeout: expected a number between 0 and 86400, given -1");
  BAD_OPTION("{\"dns\": {\"order\": [\"MX\"]}}",
             "options.dns.order: expected LAST, SRV, A, AAAA or CNAME, given \"MX\"");
  BAD_OPTION("{\"dns\": {\"servers\": \"127.0.0.1\"}}",
             "options.dns.servers: expected an array of strings, given \"127.0.0.1\"");
  BAD_OPTION("{\"limits\": {\"max_header_bytes\": 10}}",
             "options.limits.max_header_bytes: expected an integer between 1024 and 1073741824, given 10");
  BAD_OPTION("{\"seed\": -1}", "options.seed: expected an integer between 0 and 9223372036854775807, given -1");
}

static void test_null_engine(void) {
  char *json = (char *)"x";
  SECTION("Engine.NullEngineEveryFunction");
  CHECK_ERR(svc_engine_load_config(NULL, "{}", 2), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_upstream_upsert(NULL, UPSTREAM_A), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_upstream_delete(NULL, "a"), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_upstream_get(NULL, "a", &json), SVC_EINVAL, "engine must not be NULL");
  CHECK(json == NULL);
  CHECK_ERR(svc_target_add(NULL, "a", "10.0.0.1", 100), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_target_delete(NULL, "a", "10.0.0.1"), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_target_set_health(NULL, "a", "10.0.0.1", NULL, 1), SVC_EINVAL, "engine must not be NULL");
  json = (char *)"x";
  CHECK_ERR(svc_upstream_health(NULL, "a", &json), SVC_EINVAL, "engine must not be NULL");
  CHECK(json == NULL);
  CHECK_ERR(svc_engine_on_health(NULL, NULL, NULL), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_engine_on_log(NULL, NULL, NULL), SVC_EINVAL, "engine must not be NULL");
  CHECK_ERR(svc_request_new(NULL, NULL), SVC_EINVAL, "out must not be NULL");
}

static void test_null_arguments(void) {
  svc_engine *e = new_engine(NULL);
  char *json = (char *)"x";
  SECTION("Engine.NullStrings");
  REQUIRE_OK(svc_upstream_upsert(e, UPSTREAM_A));
  CHECK_ERR(svc_engine_load_config(e, NULL, 0), SVC_EINVAL, "text must not be NULL");
  CHECK_ERR(svc_engine_load_config(e, NULL, 10), SVC_EINVAL, "text must not be NULL");
  CHECK_ERR(svc_upstream_upsert(e, NULL), SVC_EINVAL, "upstream_json must not be NULL");
  CHECK_ERR(svc_upstream_delete(e, NULL), SVC_EINVAL, "name must not be NULL");
  CHECK_ERR(svc_upstream_get(e, NULL, &json), SVC_EINVAL, "name must not be NULL");
  CHECK(json == NULL);
  CHECK_ERR(svc_upstream_get(e, "a", NULL), SVC_EINVAL, "out_json must not be NULL");
  CHECK_ERR(svc_target_add(e, NULL, "10.0.0.1", 100), SVC_EINVAL, "upstream must not be NULL");
  CHECK_ERR(svc_target_add(e, "a", NULL, 100), SVC_EINVAL, "target must not be NULL");
  CHECK_ERR(svc_target_delete(e, NULL, "10.0.0.1"), SVC_EINVAL, "upstream must not be NULL");
  CHECK_ERR(svc_target_delete(e, "a", NULL), SVC_EINVAL, "target must not be NULL");
  CHECK_ERR(svc_target_set_health(e, NULL, "10.0.0.1", NULL, 1), SVC_EINVAL, "upstream must not be NULL");
  CHECK_ERR(svc_target_set_health(e, "a", NULL, NULL, 1), SVC_EINVAL, "target must not be NULL");
  json = (char *)"x";
  CHECK_ERR(svc_upstream_health(e, NULL, &json), SVC_EINVAL, "upstream must not be NULL");
  CHECK(json == NULL);
  CHECK_ERR(svc_upstream_health(e, "a", NULL), SVC_EINVAL, "out_json must not be NULL");

  SECTION("Engine.UnknownUpstreamEveryFunction");
  json = (char *)"x";
  CHECK_ERR(svc_upstream_delete(e, "nope"), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");
  CHECK_ERR(svc_upstream_get(e, "nope", &json), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");
  CHECK(json == NULL);
  CHECK_ERR(svc_target_add(e, "nope", "10.0.0.1", 100), SVC_ENOTFOUND,
            "could not find an Upstream named 'nope'");
  CHECK_ERR(svc_target_delete(e, "nope", "10.0.0.1"), SVC_ENOTFOUND,
            "could not find an Upstream named 'nope'");
  CHECK_ERR(svc_target_set_health(e, "nope", "10.0.0.1", NULL, 0), SVC_ENOTFOUND,
            "could not find an Upstream named 'nope'");
  json = (char *)"x";
  CHECK_ERR(svc_upstream_health(e, "nope", &json), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");
  CHECK(json == NULL);
  svc_engine_free(e);
}

/* ----- callbacks -------------------------------------------------------- */

static atomic_int log_loaded; /* "configuration loaded: 1 upstream(s)" at level 1 */
static atomic_int health_events;

static void on_log(void *userdata, int level, const char *message) {
  (void)userdata;
  if (level == 1 && strcmp(message, "configuration loaded: 1 upstream(s)") == 0)
    atomic_fetch_add(&log_loaded, 1);
}

static void on_health(void *userdata, const char *upstream, const char *target, const char *address,
                      int healthy) {
  (void)upstream;
  (void)target;
  (void)address;
  (void)healthy;
  atomic_fetch_add(&health_events, 1);
  atomic_fetch_add((atomic_int *)userdata, 1);
}

static void test_callbacks(void) {
  svc_engine *e = new_engine(NULL);
  atomic_int mine = 0;
  static const char doc[] =
      "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\","
      " \"healthchecks\": {\"passive\": {\"unhealthy\": {\"tcp_failures\": 1}}},"
      " \"targets\": [{\"target\": \"10.0.0.1\"}]}]}";
  SECTION("OnLog.ReceivesConfigurationLoaded");
  CHECK_OK(svc_engine_on_log(e, on_log, NULL));
  CHECK_OK(svc_engine_load_config(e, doc, strlen(doc)));
  CHECK(wait_count(&log_loaded, 1));
  CHECK_INT(atomic_load(&log_loaded), 1);

  SECTION("OnHealth.UserdataIsPassedThrough");
  CHECK_OK(svc_engine_on_health(e, on_health, &mine));
  CHECK_OK(svc_target_set_health(e, "a", "10.0.0.1", NULL, 0));
  CHECK(wait_count(&mine, 1));
  CHECK_INT(atomic_load(&health_events), 1);

  SECTION("OnLog.NullUnsubscribes");
  CHECK_OK(svc_engine_on_log(e, NULL, NULL));
  CHECK_OK(svc_engine_load_config(e, doc, strlen(doc)));
  /* Events are delivered in order on one engine thread: once the health
   * event that follows has arrived, the load's log event was delivered (to
   * nobody). */
  CHECK_OK(svc_target_set_health(e, "a", "10.0.0.1", NULL, 1));
  CHECK(wait_count(&mine, 2));
  CHECK_INT(atomic_load(&log_loaded), 1);

  SECTION("OnHealth.NullUnsubscribes");
  CHECK_OK(svc_engine_on_health(e, NULL, NULL));
  CHECK_OK(svc_target_set_health(e, "a", "10.0.0.1", NULL, 0));
  /* barrier: a log event posted after the health event */
  CHECK_OK(svc_engine_on_log(e, on_log, NULL));
  CHECK_OK(svc_engine_load_config(e, doc, strlen(doc)));
  CHECK(wait_count(&log_loaded, 2));
  CHECK_INT(atomic_load(&health_events), 2);
  CHECK_INT(atomic_load(&mine), 2);
  CHECK_OK(svc_engine_on_log(e, NULL, NULL));
  svc_engine_free(e);

  SECTION("EngineFree.NoCallbackAfterwards");
  /* nothing to wait for: engine_free joined the thread; the counters are final */
  CHECK_INT(atomic_load(&health_events), 2);
}

/* ----- engine defaults seen by requests; closing -------------------------- */

static void test_defaults_reach_requests(void) {
  svc_engine *e = new_engine("{\"scheme\": \"https\", \"retries\": 1}");
  svc_request *r;
  SECTION("EngineOptions.SchemeAndRetriesAreRequestDefaults");
  REQUIRE_OK(svc_upstream_upsert(e, UPSTREAM_A));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  r = new_request(e);
  CHECK_STR(svc_request_scheme(r), "https");
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_request_pick(r));
  CHECK_OK(svc_request_pick(r)); /* retries 1: a second try */
  CHECK_INT(svc_request_tries(r), 2);
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "no more tries: 2 tries made and retries is 1");
  svc_request_free(r);
  svc_engine_free(e);

  SECTION("EngineOptions.DefaultRetriesIsFive");
  e = new_engine(NULL);
  REQUIRE_OK(svc_upstream_upsert(e, UPSTREAM_A));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  r = new_request(e);
  CHECK_STR(svc_request_scheme(r), "http");
  CHECK_OK(svc_set_upstream(r, "a"));
  for (int i = 0; i < 6; ++i) CHECK_OK(svc_request_pick(r));
  CHECK_INT(svc_request_tries(r), 6);
  CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "no more tries: 6 tries made and retries is 5");
  svc_request_free(r);
  svc_engine_free(e);
}

static void test_request_outlives_engine(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *r, *r2;
  SECTION("EngineFree.RequestsStillAliveGetClosed");
  REQUIRE_OK(svc_upstream_upsert(e, UPSTREAM_A));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  r = new_request(e);
  r2 = new_request(e);
  CHECK_OK(svc_set_upstream(r, "a"));
  CHECK_OK(svc_set_target(r2, "10.0.0.9", 80));
  svc_engine_free(e);
  /* the requests keep what they hold; a pick reports the closed engine */
  CHECK_INT(svc_request_phase(r), SVC_PHASE_ACCESS);
  CHECK_OK(svc_set_retries(r, 2));
  CHECK_ERR(svc_request_pick(r), SVC_ECLOSED, "the engine is closed");
  CHECK_ERR(svc_request_pick(r2), SVC_ECLOSED, "the engine is closed");
  CHECK_ERR(svc_set_upstream(r, "a"), SVC_ECLOSED, "the engine is closed");
  svc_request_free(r);
  svc_request_free(r2);
}

/* Threads of this process, from /proc/self/task. */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *ent;
  int n = 0;
  if (!d) return -1;
  while ((ent = readdir(d)))
    if (ent->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

static void count_log(void *userdata, int level, const char *message) {
  (void)level;
  (void)message;
  atomic_fetch_add((atomic_int *)userdata, 1);
}

/* A thousand engines, each with a request holding an upstream, a trust store
 * and a log subscriber, freed in three different orders; every engine
 * thread is gone once the last engine is freed (ASan checks the memory). */
static void test_lifetime_any_order(void) {
  const int threads_before = thread_count();
  atomic_int logs;
  int i;
  SECTION("Lifetime.ThousandEnginesWithObjectsFreedInAnyOrder");
  atomic_init(&logs, 0);
  for (i = 0; i < 1000; ++i) {
    svc_engine *e = new_engine("{\"tls\": {\"trust\": \"none\"}, \"io_threads\": 2}");
    svc_trust_store *s = NULL;
    svc_request *r;
    REQUIRE_OK(svc_engine_on_log(e, count_log, &logs));
    REQUIRE_OK(svc_upstream_upsert(e, UPSTREAM_A)); /* logs nothing; load_config does */
    REQUIRE_OK(svc_engine_load_config(e, "_format_version: '3.0'", 22));
    REQUIRE_OK(svc_trust_store_new(&s));
    r = new_request(e);
    CHECK_OK(svc_set_tls_verify_store(r, s));
    CHECK_OK(svc_set_target(r, "10.0.0.9", 80));
    CHECK_OK(svc_request_pick(r));
    switch (i % 3) {
      case 0: /* engine, request, store */
        svc_engine_free(e);
        svc_request_free(r);
        svc_trust_store_free(s);
        break;
      case 1: /* store, request, engine */
        svc_trust_store_free(s);
        svc_request_free(r);
        svc_engine_free(e);
        break;
      default: /* request, store, engine */
        svc_request_free(r);
        svc_trust_store_free(s);
        svc_engine_free(e);
        break;
    }
  }
  /* svc_engine_free delivers pending events: every load was logged */
  CHECK_INT(atomic_load(&logs), 1000);
  CHECK_INT(thread_count(), threads_before);
}

static void test_delete_upstream(void) {
  svc_engine *e = new_engine(NULL);
  char *json = NULL;
  SECTION("UpstreamDelete.GoneAfterwards");
  REQUIRE_OK(svc_upstream_upsert(e, UPSTREAM_A));
  CHECK_OK(svc_upstream_delete(e, "a"));
  CHECK_ERR(svc_upstream_delete(e, "a"), SVC_ENOTFOUND, "could not find an Upstream named 'a'");
  CHECK_ERR(svc_upstream_get(e, "a", &json), SVC_ENOTFOUND, "could not find an Upstream named 'a'");
  CHECK(json == NULL);
  /* and it can be created again */
  CHECK_OK(svc_upstream_upsert(e, UPSTREAM_A));
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"targets\":[]");
  svc_free(json);
  svc_engine_free(e);
}

int main(void) {
  test_new_defaults();
  test_lifetime_any_order();
  test_new_bad_options();
  test_null_engine();
  test_null_arguments();
  test_callbacks();
  test_defaults_reach_requests();
  test_request_outlives_engine();
  test_delete_upstream();
  HARNESS_END();
}
