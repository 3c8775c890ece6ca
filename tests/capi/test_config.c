/* svc.h configuration: declarative load (JSON, YAML), upstream upsert/get/
 * delete, target add/delete, with Kong's validation messages. */
#include "harness.h"

static svc_error *load(svc_engine *e, const char *text) { return svc_engine_load_config(e, text, strlen(text)); }

static const char kDocJson[] =
    "{\"_format_version\": \"3.0\", \"upstreams\": ["
    " {\"name\": \"a\", \"targets\": [{\"target\": \"10.0.0.1\"}, {\"target\": \"10.0.0.2:9000\", \"weight\": 50}]},"
    " {\"name\": \"b\", \"algorithm\": \"least-connections\", \"targets\": [{\"target\": \"127.0.0.1:8080\"}]}]}";

static const char kDocYaml[] =
    "_format_version: \"3.0\"\n"
    "upstreams:\n"
    "- name: c\n"
    "  slots: 100\n"
    "  targets:\n"
    "  - target: 10.0.0.3:81\n"
    "    weight: 10\n"
    "  - target: \"[::1]:8443\"\n";

static void test_load_valid(void) {
  svc_engine *e = new_engine(NULL);
  char *json = NULL;
  char peer[64];

  SECTION("LoadConfig.Json");
  CHECK_OK(load(e, kDocJson));
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"name\":\"a\"");
  CHECK_CONTAINS(json, "\"algorithm\":\"round-robin\"");
  CHECK_CONTAINS(json, "\"slots\":10000");
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.1:8000\""); /* Kong's default port */
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.2:9000\"");
  CHECK_CONTAINS(json, "\"weight\":50");
  svc_free(json);
  json = NULL;
  CHECK_OK(svc_upstream_get(e, "b", &json));
  CHECK_CONTAINS(json, "\"algorithm\":\"least-connections\"");
  svc_free(json);
  CHECK(pick_once(e, "b", peer, sizeof peer) == 0);
  CHECK_STR(peer, "127.0.0.1:8080");

  SECTION("LoadConfig.YamlReplacesEverything");
  CHECK_OK(load(e, kDocYaml));
  json = NULL;
  CHECK_ERR(svc_upstream_get(e, "a", &json), SVC_ENOTFOUND, "could not find an Upstream named 'a'");
  CHECK_ERR(svc_upstream_get(e, "b", &json), SVC_ENOTFOUND, "could not find an Upstream named 'b'");
  CHECK_OK(svc_upstream_get(e, "c", &json));
  CHECK_CONTAINS(json, "\"slots\":100");
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.3:81\"");
  CHECK_CONTAINS(json, "\"weight\":10");
  /* Kong expands and brackets IPv6 targets */
  CHECK_CONTAINS(json, "\"target\":\"[0000:0000:0000:0000:0000:0000:0000:0001]:8443\"");
  svc_free(json);

  SECTION("LoadConfig.OtherKongEntitiesIgnored");
  CHECK_OK(load(e, "{\"_format_version\": \"2.1\", \"services\": [], \"routes\": [], \"upstreams\": []}"));
  json = NULL;
  CHECK_ERR(svc_upstream_get(e, "c", &json), SVC_ENOTFOUND, "could not find an Upstream named 'c'");

  SECTION("LoadConfig.FlatTargetsList");
  CHECK_OK(load(e, "_format_version: \"1.1\"\nupstreams:\n- name: f\ntargets:\n- target: 10.0.0.5\n  upstream: f\n"));
  CHECK(pick_once(e, "f", peer, sizeof peer) == 0);
  CHECK_STR(peer, "10.0.0.5:8000");
  svc_engine_free(e);
}

static void test_load_invalid(void) {
  svc_engine *e = new_engine(NULL);
  char *json = NULL;
  char peer[64];
  REQUIRE_OK(load(e, kDocJson));

  SECTION("LoadConfig.EmptyAndMalformed");
  CHECK_ERR(svc_engine_load_config(e, "", 0), SVC_ECONFIG, "declarative config is empty");
  CHECK_ERR(svc_engine_load_config(e, kDocJson, 0), SVC_ECONFIG, "declarative config is empty");
  CHECK_ERR_PREFIX(load(e, "{\"_format_version\": "), SVC_ECONFIG, "invalid JSON at line 1, column ");
  CHECK_ERR_PREFIX(load(e, "{\n\"upstreams\": [}\n"), SVC_ECONFIG, "invalid JSON at line 2, column ");
  CHECK_ERR_PREFIX(load(e, "upstreams: [a\n"), SVC_ECONFIG, "invalid YAML at line ");
  CHECK_ERR_PREFIX(load(e, "a: b: c\n"), SVC_ECONFIG, "invalid YAML at line 1, column ");
  CHECK_ERR(load(e, "- 1\n- 2\n"), SVC_ECONFIG, "declarative config must be a map of entity lists, got a list");
  CHECK_ERR(load(e, "hello"), SVC_ECONFIG, "declarative config must be a map of entity lists, got a scalar");
  /* len is honoured: a document cut short is malformed */
  CHECK_ERR_PREFIX(svc_engine_load_config(e, kDocJson, 20), SVC_ECONFIG, "invalid JSON at line 1, column ");

  SECTION("LoadConfig.FormatVersion");
  CHECK_ERR(load(e, "{\"upstreams\": []}"), SVC_ECONFIG, "_format_version: required field missing");
  CHECK_ERR(load(e, "{\"_format_version\": 3}"), SVC_ECONFIG, "_format_version: expected a string");
  CHECK_ERR(load(e, "{\"_format_version\": \"9.9\"}"), SVC_ECONFIG,
            "_format_version: expected one of: 1.1, 2.1, 3.0");

  SECTION("LoadConfig.UnknownFields");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"bogus\": []}"), SVC_ECONFIG, "bogus: unknown field");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\", \"bogus\": 1}]}"),
            SVC_ECONFIG, "upstreams[0] (name 'a'): bogus: unknown field");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\","
                    " \"targets\": [{\"target\": \"10.0.0.1\", \"bogus\": 1}]}]}"),
            SVC_ECONFIG, "upstreams[0] (name 'a'): targets[0]: bogus: unknown field");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\","
                    " \"healthchecks\": {\"passive\": {\"bogus\": 1}}}]}"),
            SVC_ECONFIG, "upstreams[0] (name 'a'): healthchecks.passive.bogus: unknown field");

  SECTION("LoadConfig.SchemaViolationsNameUpstreamAndField");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"ok\"}, {\"name\": \"a\", \"slots\": 5}]}"),
            SVC_ECONFIG, "upstreams[1] (name 'a'): slots: value should be between 10 and 65536");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"slots\": 100}]}"),
            SVC_ECONFIG, "upstreams[0]: name: required field missing");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": {\"name\": \"a\"}}"),
            SVC_ECONFIG, "upstreams: expected an array");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\", \"targets\": [{\"target\": \"10.0.0.1:99999\"}]}]}"),
            SVC_ECONFIG,
            "upstreams[0] (name 'a'): targets[0]: target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\", \"targets\": [{\"target\": \"10.0.0.1\", \"weight\": 70000}]}]}"),
            SVC_ECONFIG, "upstreams[0] (name 'a'): targets[0]: weight: value should be between 0 and 65535");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\", \"targets\": [{\"weight\": 1}]}]}"),
            SVC_ECONFIG, "upstreams[0] (name 'a'): targets[0]: target: required field missing");

  SECTION("LoadConfig.Duplicates");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}"),
            SVC_ECONFIG,
            "upstreams[1] (name 'a'): name: uniqueness violation: 'upstreams' entity with name set to 'a' already declared");
  CHECK_ERR(load(e, "{\"_format_version\": \"3.0\", \"upstreams\": [{\"name\": \"a\", \"targets\":"
                    " [{\"target\": \"10.0.0.1\"}, {\"target\": \"10.0.0.1:8000\"}]}]}"),
            SVC_ECONFIG,
            "upstreams[0] (name 'a'): targets[1]: target: uniqueness violation: 'targets' entity with target set to '10.0.0.1:8000' already declared");

  SECTION("LoadConfig.FailureChangesNothing");
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.2:9000\"");
  svc_free(json);
  json = NULL;
  CHECK_OK(svc_upstream_get(e, "b", &json));
  svc_free(json);
  CHECK(pick_once(e, "b", peer, sizeof peer) == 0);
  CHECK_STR(peer, "127.0.0.1:8080");
  svc_engine_free(e);
}

static void test_upsert(void) {
  svc_engine *e = new_engine(NULL);
  char *json = NULL;
  char *before = NULL;
  const char *id;
  char peer[64];

  SECTION("UpstreamUpsert.BadInput");
  CHECK_ERR(svc_upstream_upsert(e, NULL), SVC_EINVAL, "upstream_json must not be NULL");
  CHECK_ERR(svc_upstream_upsert(e, "{"), SVC_EINVAL, "upstream entity is not valid JSON: {");
  CHECK_ERR(svc_upstream_upsert(e, ""), SVC_EINVAL, "upstream entity is not valid JSON: ");
  CHECK_ERR(svc_upstream_upsert(e, "[1]"), SVC_ECONFIG, "expected a record");
  CHECK_ERR(svc_upstream_upsert(e, "{}"), SVC_ECONFIG, "name: required field missing");

  SECTION("UpstreamUpsert.KongSchemaMessages");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"bogus\": 1}"), SVC_ECONFIG, "bogus: unknown field");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"slots\": 5}"), SVC_ECONFIG,
            "slots: value should be between 10 and 65536");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"slots\": 65537}"), SVC_ECONFIG,
            "slots: value should be between 10 and 65536");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a:80\"}"), SVC_ECONFIG, "name: Invalid name ('a:80'); no port allowed");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"10.0.0.1\"}"), SVC_ECONFIG,
            "name: Invalid name ('10.0.0.1'); no ip addresses allowed");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": 5}"), SVC_ECONFIG, "name: expected a string");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"algorithm\": \"random\"}"), SVC_ECONFIG,
            "algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"hash_on\": \"header\"}"), SVC_ECONFIG,
            "failed conditional validation given value of field 'hash_on'; hash_on_header: required field missing");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"healthchecks\": {\"passive\": {\"unhealthy\": {\"tcp_failures\": 256}}}}"),
            SVC_ECONFIG, "healthchecks.passive.unhealthy.tcp_failures: value should be between 0 and 255");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"healthchecks\": {\"threshold\": 101}}"), SVC_ECONFIG,
            "healthchecks.threshold: value should be between 0 and 100");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"healthchecks\": {\"active\": {\"type\": \"udp\"}}}"), SVC_ECONFIG,
            "healthchecks.active.type: expected one of: tcp, http, https, grpc, grpcs");
  /* several violations, joined in schema order, unknown fields last */
  CHECK_ERR(svc_upstream_upsert(e, "{\"bogus\": 1, \"slots\": 5, \"name\": \"a\"}"), SVC_ECONFIG,
            "slots: value should be between 10 and 65536; bogus: unknown field");
  /* nothing was created by the failures */
  CHECK_ERR(svc_upstream_get(e, "a", &json), SVC_ENOTFOUND, "could not find an Upstream named 'a'");

  SECTION("UpstreamUpsert.DefaultsAndShorthands");
  CHECK_OK(svc_upstream_upsert(e, "{\"name\": \"a\"}"));
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"algorithm\":\"round-robin\"");
  CHECK_CONTAINS(json, "\"hash_on\":\"none\"");
  CHECK_CONTAINS(json, "\"hash_fallback\":\"none\"");
  CHECK_CONTAINS(json, "\"slots\":10000");
  CHECK_CONTAINS(json, "\"use_srv_name\":false");
  CHECK_CONTAINS(json, "\"threshold\":0");
  CHECK_CONTAINS(json, "\"targets\":[]");
  svc_free(json);
  json = NULL;
  CHECK_OK(svc_upstream_upsert(e, "{\"name\": \"h\", \"hash_on\": \"ip\"}"));
  CHECK_OK(svc_upstream_get(e, "h", &json));
  CHECK_CONTAINS(json, "\"algorithm\":\"consistent-hashing\"");
  CHECK_CONTAINS(json, "\"hash_on\":\"ip\"");
  svc_free(json);
  json = NULL;

  SECTION("UpstreamUpsert.ReplaceKeepsIdAndTargets");
  CHECK_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  CHECK_OK(svc_upstream_get(e, "a", &before));
  CHECK_OK(svc_upstream_upsert(e, "{\"name\": \"a\", \"algorithm\": \"least-connections\"}"));
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"algorithm\":\"least-connections\"");
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.1:8000\"");
  id = before ? strstr(before, "\"id\":\"") : NULL;
  CHECK(id != NULL);
  if (id) {
    char idfield[64];
    snprintf(idfield, sizeof idfield, "%.44s", id); /* "id":"<36-char uuid>" */
    CHECK_CONTAINS(json, idfield);
  }
  svc_free(before);
  svc_free(json);
  json = NULL;
  CHECK(pick_once(e, "a", peer, sizeof peer) == 0);
  CHECK_STR(peer, "10.0.0.1:8000");

  SECTION("UpstreamUpsert.FailedReplaceChangesNothing");
  CHECK_ERR(svc_upstream_upsert(e, "{\"name\": \"a\", \"slots\": 1}"), SVC_ECONFIG,
            "slots: value should be between 10 and 65536");
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"algorithm\":\"least-connections\"");
  svc_free(json);
  svc_engine_free(e);
}

static void test_targets(void) {
  svc_engine *e = new_engine(NULL);
  char *json = NULL;
  char peer[64];
  int i;
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"a\"}"));

  SECTION("TargetAdd.Validation");
  CHECK_ERR(svc_target_add(e, "a", "10.0.0.1:99999", 100), SVC_ECONFIG,
            "target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address");
  CHECK_ERR(svc_target_add(e, "a", "", 100), SVC_ECONFIG,
            "target: Invalid target (''); not a valid hostname or ip address");
  CHECK_ERR(svc_target_add(e, "a", "10.0.0.1", -1), SVC_ECONFIG, "weight: value should be between 0 and 65535");
  CHECK_ERR(svc_target_add(e, "a", "10.0.0.1", 65536), SVC_ECONFIG, "weight: value should be between 0 and 65535");
  CHECK_ERR(svc_target_add(e, "nope", "10.0.0.1", 100), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");

  SECTION("TargetAdd.FormsAndBounds");
  CHECK_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  CHECK_OK(svc_target_add(e, "a", "10.0.0.2:9000", 0));
  CHECK_OK(svc_target_add(e, "a", "10.0.0.3:1", 65535));
  CHECK_OK(svc_target_add(e, "a", "[::1]:8080", 1));
  CHECK_OK(svc_target_add(e, "a", "localhost:8081", 1));
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.1:8000\"");
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.2:9000\"");
  CHECK_CONTAINS(json, "\"target\":\"10.0.0.3:1\"");
  CHECK_CONTAINS(json, "\"target\":\"[0000:0000:0000:0000:0000:0000:0000:0001]:8080\"");
  CHECK_CONTAINS(json, "\"target\":\"localhost:8081\"");
  CHECK_CONTAINS(json, "\"weight\":65535");
  svc_free(json);
  json = NULL;

  SECTION("TargetAdd.DuplicateAfterNormalisation");
  CHECK_ERR(svc_target_add(e, "a", "10.0.0.1", 100), SVC_EEXIST,
            "target '10.0.0.1:8000' already exists in upstream 'a'");
  CHECK_ERR(svc_target_add(e, "a", "10.0.0.1:8000", 5), SVC_EEXIST,
            "target '10.0.0.1:8000' already exists in upstream 'a'");
  CHECK_ERR(svc_target_add(e, "a", "[0:0:0:0:0:0:0:1]:8080", 5), SVC_EEXIST,
            "target '[0000:0000:0000:0000:0000:0000:0000:0001]:8080' already exists in upstream 'a'");

  SECTION("TargetDelete");
  CHECK_ERR(svc_target_delete(e, "a", "10.0.0.9"), SVC_ENOTFOUND,
            "could not find a Target '10.0.0.9:8000' in Upstream 'a'");
  CHECK_ERR(svc_target_delete(e, "nope", "10.0.0.1"), SVC_ENOTFOUND, "could not find an Upstream named 'nope'");
  CHECK_ERR(svc_target_delete(e, "a", "10.0.0.1:99999"), SVC_ECONFIG,
            "target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address");
  CHECK_OK(svc_target_delete(e, "a", "10.0.0.3:1"));
  CHECK_OK(svc_target_delete(e, "a", "[::1]:8080"));
  CHECK_OK(svc_target_delete(e, "a", "localhost:8081"));
  CHECK_ERR(svc_target_delete(e, "a", "10.0.0.3:1"), SVC_ENOTFOUND,
            "could not find a Target '10.0.0.3:1' in Upstream 'a'");
  CHECK_OK(svc_upstream_get(e, "a", &json));
  CHECK_NOT_CONTAINS(json, "10.0.0.3");
  svc_free(json);
  /* left: 10.0.0.1 (100) and 10.0.0.2:9000 (0): only 10.0.0.1 is picked */
  for (i = 0; i < 20; ++i) {
    CHECK(pick_once(e, "a", peer, sizeof peer) == 0);
    CHECK_STR(peer, "10.0.0.1:8000");
  }
  /* a deleted target can come back */
  CHECK_OK(svc_target_add(e, "a", "10.0.0.3:1", 100));
  svc_engine_free(e);
}

int main(void) {
  test_load_valid();
  test_load_invalid();
  test_upsert();
  test_targets();
  HARNESS_END();
}
