// Kong's declarative format (YAML and JSON) for upstreams and targets.
#include <gtest/gtest.h>

#include "config/config.h"

namespace svc::config {
namespace {

std::string Err(std::string_view text) {
  std::vector<UpstreamWithTargets> out;
  Status st = ParseDeclarative(text, &out);
  if (st.ok()) return "";
  EXPECT_EQ(st.code(), Code::config) << st.message();
  return st.message();
}

std::vector<UpstreamWithTargets> Load(std::string_view text) {
  std::vector<UpstreamWithTargets> out;
  Status st = ParseDeclarative(text, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

const char* kYaml = R"(
_format_version: "3.0"
_transform: true
services:
- name: svc
  host: api
routes:
- name: r
  paths: [/]
upstreams:
- name: api
  algorithm: consistent-hashing
  hash_on: header
  hash_on_header: X-User
  slots: 100
  tags: [edge, "1", "true"]
  healthchecks:
    threshold: 25.5
    active:
      type: https
      http_path: /health
      https_sni: probe.test
      headers:
        X-Probe: [svc]
      healthy:
        interval: 5
        successes: 2
      unhealthy:
        interval: 1.5
        http_failures: 3
    passive:
      unhealthy:
        timeouts: 7
  targets:
  - target: 10.0.0.1
  - target: "[::1]:8443"
    weight: 50
  - target: backend.test.
    weight: 0
    tags: [canary]
- name: other
  targets: []
- name: lonely
)";

TEST(Declarative, LoadsYamlUpstreamsWithTargets) {
  auto ups = Load(kYaml);
  ASSERT_EQ(ups.size(), 3u);
  const UpstreamConfig& api = ups[0].upstream;
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.algorithm, "consistent-hashing");
  EXPECT_EQ(api.hash_on, "header");
  EXPECT_EQ(api.hash_on_header, "X-User");
  EXPECT_EQ(api.slots, 100);
  // Quoted scalars stay strings.
  EXPECT_EQ(api.tags, (std::vector<std::string>{"edge", "1", "true"}));
  EXPECT_DOUBLE_EQ(api.healthchecks.threshold, 25.5);
  EXPECT_EQ(api.healthchecks.active.type, "https");
  EXPECT_EQ(api.healthchecks.active.http_path, "/health");
  EXPECT_EQ(api.healthchecks.active.https_sni, "probe.test");
  EXPECT_EQ(api.healthchecks.active.headers.at("X-Probe"), (std::vector<std::string>{"svc"}));
  EXPECT_EQ(api.healthchecks.active.healthy.interval, 5);
  EXPECT_EQ(api.healthchecks.active.healthy.successes, 2);
  EXPECT_DOUBLE_EQ(api.healthchecks.active.unhealthy.interval, 1.5);
  EXPECT_EQ(api.healthchecks.active.unhealthy.http_failures, 3);
  EXPECT_EQ(api.healthchecks.passive.unhealthy.timeouts, 7);
  EXPECT_EQ(api.healthchecks.passive.unhealthy.http_statuses, (std::vector<int>{429, 500, 503}));
  EXPECT_TRUE(api.healthchecks.enabled());

  const auto& t = ups[0].targets;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].address.target, "10.0.0.1:8000");
  EXPECT_EQ(t[0].weight, 100);
  EXPECT_EQ(t[1].address.target, "[0000:0000:0000:0000:0000:0000:0000:0001]:8443");
  EXPECT_EQ(t[1].weight, 50);
  EXPECT_EQ(t[2].address.target, "backend.test.:8000");
  EXPECT_EQ(t[2].weight, 0);
  EXPECT_EQ(t[2].tags, (std::vector<std::string>{"canary"}));

  EXPECT_EQ(ups[1].upstream.name, "other");
  EXPECT_TRUE(ups[1].targets.empty());
  EXPECT_EQ(ups[2].upstream.name, "lonely");
  EXPECT_EQ(ups[2].upstream.algorithm, "round-robin");
  EXPECT_NE(ups[1].upstream.id, ups[2].upstream.id);
}

TEST(Declarative, LoadsJson) {
  auto ups = Load(R"({
    "_format_version": "2.1",
    "upstreams": [
      {"name": "api", "algorithm": "least-connections", "hash_on": "ip",
       "id": "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10",
       "targets": [{"target": "001.002.003.004:80", "weight": 10}]}
    ]
  })");
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].upstream.id, "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10");
  EXPECT_EQ(ups[0].upstream.algorithm, "least-connections");
  EXPECT_EQ(ups[0].upstream.hash_on, "none");
  ASSERT_EQ(ups[0].targets.size(), 1u);
  EXPECT_EQ(ups[0].targets[0].address.target, "1.2.3.4:80");
  EXPECT_EQ(ups[0].targets[0].weight, 10);
}

TEST(Declarative, JsonAndYamlGiveTheSameEntities) {
  auto a = Load("_format_version: '3.0'\nupstreams:\n- name: u\n  slots: 10\n  targets:\n  - target: a.test:81\n");
  auto b = Load(R"({"_format_version": "3.0", "upstreams": [{"name": "u", "slots": 10,
                    "targets": [{"target": "a.test:81"}]}]})");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  a[0].upstream.id = b[0].upstream.id;
  a[0].upstream.created_at = b[0].upstream.created_at;
  EXPECT_EQ(UpstreamToJson(a[0].upstream), UpstreamToJson(b[0].upstream));
  EXPECT_EQ(a[0].targets[0].address.target, b[0].targets[0].address.target);
}

TEST(Declarative, EmptyUpstreamListAndNoUpstreams) {
  EXPECT_TRUE(Load("_format_version: \"3.0\"\nupstreams: []\n").empty());
  EXPECT_TRUE(Load("_format_version: \"1.1\"\n").empty());
}

TEST(Declarative, FormatVersionIsRequired) {
  EXPECT_EQ(Err("upstreams: []\n"), "_format_version: required field missing");
  EXPECT_EQ(Err("_format_version: \"4.0\"\n"), "_format_version: expected one of: 1.1, 2.1, 3.0");
  // Unquoted, YAML reads 3.0 as a number.
  EXPECT_EQ(Err("_format_version: 3.0\n"), "_format_version: expected a string");
  EXPECT_EQ(Err(R"({"_format_version": 3})"), "_format_version: expected a string");
}

TEST(Declarative, OtherKongEntitiesAreIgnoredUnknownKeysRejected) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\nconsumers: []\nplugins: []\ncertificates: []\n"
                "ca_certificates: []\n_comment: hi\n"),
            "");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstream: []\n"), "upstream: unknown field");
}

TEST(Declarative, UpstreamErrorsNameTheUpstream) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  slots: 5\n"),
            "upstreams[0] (name 'api'): slots: value should be between 10 and 65536");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: ok\n- slots: 100\n"),
            "upstreams[1]: name: required field missing");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  foo: 1\n"),
            "upstreams[0] (name 'api'): foo: unknown field");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  use_srv_name: yes\n"),
            "upstreams[0] (name 'api'): use_srv_name: expected a boolean");  // YAML 1.2: "yes" is a string
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  healthchecks:\n    active:\n"
                "      healthy:\n        successes: 300\n"),
            "upstreams[0] (name 'api'): healthchecks.active.healthy.successes: value should be between 0 and 255");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  tags: [1]\n"),
            "upstreams[0] (name 'api'): tags: expected a string");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- api\n"), "upstreams[0]: expected a record");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n  name: api\n"), "upstreams: expected an array");
}

TEST(Declarative, TargetErrorsNameUpstreamAndTarget) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  targets:\n  - target: 10.0.0.1\n"
                "  - target: 10.0.0.2\n  - target: a..b\n"),
            "upstreams[0] (name 'api'): targets[2]: target: Invalid target ('a..b'); "
            "not a valid hostname or ip address");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  targets:\n  - target: a.test\n"
                "    weight: 70000\n"),
            "upstreams[0] (name 'api'): targets[0]: weight: value should be between 0 and 65535");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  targets:\n  - weight: 1\n"),
            "upstreams[0] (name 'api'): targets[0]: target: required field missing");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  targets: 10.0.0.1\n"),
            "upstreams[0] (name 'api'): targets: expected an array");
}

TEST(Declarative, DuplicateUpstreamNamesAreRejected) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n- name: api\n"),
            "upstreams[1] (name 'api'): name: uniqueness violation: 'upstreams' entity with name set to "
            "'api' already declared");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: a\n  id: a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10\n"
                "- name: b\n  id: a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10\n"),
            "upstreams[1] (name 'b'): id: uniqueness violation: 'upstreams' entity with primary key set to "
            "'a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10' already declared");
}

TEST(Declarative, DuplicateTargetsAreComparedAfterNormalisation) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  targets:\n  - target: 10.0.0.1\n"
                "  - target: 010.0.0.1:8000\n"),
            "upstreams[0] (name 'api'): targets[1]: target: uniqueness violation: 'targets' entity with "
            "target set to '10.0.0.1:8000' already declared");
  // The same target in two upstreams is fine.
  auto ups = Load("_format_version: \"3.0\"\nupstreams:\n- name: a\n  targets: [{target: 10.0.0.1}]\n"
                  "- name: b\n  targets: [{target: 10.0.0.1}]\n");
  EXPECT_EQ(ups.size(), 2u);
}

TEST(Declarative, FlatTargetsReferToTheirUpstream) {
  auto ups = Load(R"(
_format_version: "3.0"
upstreams:
- name: api
  id: a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10
  targets:
  - target: 10.0.0.1
targets:
- target: 10.0.0.2
  upstream: api
- target: 10.0.0.3
  upstream: { id: a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10 }
)");
  ASSERT_EQ(ups.size(), 1u);
  ASSERT_EQ(ups[0].targets.size(), 3u);
  EXPECT_EQ(ups[0].targets[2].address.target, "10.0.0.3:8000");
  EXPECT_EQ(Err("_format_version: \"3.0\"\ntargets:\n- target: 10.0.0.2\n  upstream: nope\n"),
            "targets[0]: upstream: invalid reference 'upstream: nope' (no such entry in 'upstreams')");
  EXPECT_EQ(Err("_format_version: \"3.0\"\ntargets:\n- target: 10.0.0.2\n"),
            "targets[0]: upstream: required field missing");
}

TEST(Declarative, MalformedYamlReportsLineAndColumn) {
  std::string msg = Err("_format_version: \"3.0\"\nupstreams:\n- name: [api\n");
  EXPECT_EQ(msg.rfind("invalid YAML at line ", 0), 0u) << msg;
  msg = Err("_format_version: \"3.0\"\nupstreams:\n  - name: a\n   bad: indent\n");
  EXPECT_EQ(msg, "invalid YAML at line 4, column 4: end of sequence not found");
}

TEST(Declarative, MalformedJsonReportsLineAndColumn) {
  std::string msg = Err("{\n  \"_format_version\": \"3.0\",\n  \"upstreams\": [,]\n}");
  EXPECT_EQ(msg.rfind("invalid JSON at line 3, column 17: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("syntax error"), std::string::npos) << msg;
}

TEST(Declarative, EmptyOrNonMapDocumentsAreClearErrors) {
  EXPECT_EQ(Err(""), "declarative config is empty");
  EXPECT_EQ(Err("# only a comment\n"), "declarative config is empty");
  EXPECT_EQ(Err("- a\n- b\n"), "declarative config must be a map of entity lists, got a list");
  EXPECT_EQ(Err("just text"), "declarative config must be a map of entity lists, got a scalar");
}

TEST(Declarative, HugeNumbersAreRangeErrors) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  slots: 1e999\n"),
            "upstreams[0] (name 'api'): slots: value should be between 10 and 65536");
  EXPECT_EQ(Err("_format_version: \"3.0\"\nupstreams:\n- name: api\n  slots: 99999999999999999999999\n"),
            "upstreams[0] (name 'api'): slots: value should be between 10 and 65536");
}

TEST(Declarative, AliasExpansionIsBounded) {
  // Seven levels of ten aliases each would expand to ten million nodes; svc stops at 200000.
  std::string text = "_format_version: \"3.0\"\n_comment:\n- &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 7; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    text += "- &l" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", " : "") + prev;
    text += "]\n";
  }
  text += "upstreams: *l7\n";
  EXPECT_EQ(Err(text), "declarative config is too large (more than 200000 YAML nodes once aliases expand)");
}

// fuzz_declarative found this one: an alias inside its own anchor makes the
// loaded YAML a cycle, which the conversion followed until the stack ran out
// (fuzz/regressions/declarative/yaml-alias-cycle.yaml).
TEST(Declarative, AliasInsideItsOwnAnchorIsAnError) {
  EXPECT_EQ(Err("_format_version: \"3.0\"\n"
                "upstreams:\n"
                "- name: a\n"
                "  healthchecks: &hc\n"
                "    passive:\n"
                "      unhealthy: *hc\n"),
            "invalid YAML at line 4, column 17: an alias refers to a node that contains it");
  EXPECT_EQ(Err("&root\n_format_version: \"3.0\"\nupstreams: [*root]\n"),
            "invalid YAML at line 1, column 1: an alias refers to a node that contains it");
}

// Copying and converting a document recurse once per level, so nesting is
// bounded before either happens (a deep JSON `upstreams` overflowed the stack).
TEST(Declarative, DeepNestingIsAnError) {
  const std::string deep_json = "{\"_format_version\": \"3.0\",\n \"upstreams\": " + std::string(200000, '[') +
                                std::string(200000, ']') + "}";
  EXPECT_EQ(Err(deep_json), "invalid JSON at line 2, column 114: nested deeper than 100 levels");
  // Brackets inside strings do not count.
  EXPECT_EQ(Err("{\"_format_version\": \"3.0\", \"services\": [{\"name\": \"" + std::string(300, '[') +
                "\\\"\"}]}"),
            "");
  // 100 levels are fine (the limit is far above Kong's documents).
  const std::string hundred = "{\"_format_version\": \"3.0\", \"services\": " + std::string(99, '[') +
                              std::string(99, ']') + "}";
  EXPECT_EQ(Err(hundred), "");
  std::string deep_yaml = "_format_version: \"3.0\"\nupstreams: " + std::string(150, '[') +
                          std::string(150, ']') + "\n";
  EXPECT_EQ(Err(deep_yaml), "invalid YAML at line 2, column 111: nested deeper than 100 levels");
}

TEST(Declarative, FailureLeavesOutputUntouched) {
  std::vector<UpstreamWithTargets> out(1);
  out[0].upstream.name = "keep";
  EXPECT_FALSE(ParseDeclarative("_format_version: \"3.0\"\nupstreams:\n- name: 1.2.3.4\n", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].upstream.name, "keep");
}

}  // namespace
}  // namespace svc::config
