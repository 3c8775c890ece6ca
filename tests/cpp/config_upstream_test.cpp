// Upstream entity: Kong 3.2's schema, shorthands, defaults and messages.
// Ports spec/01-unit/01-db/01-schema/09-upstreams_spec.lua and adds 3.x fields.
#include <gtest/gtest.h>

#include <regex>

#include "config/config.h"

namespace svc::config {
namespace {

using nlohmann::json;

// The message of a failed parse (Code::config), or "" when it succeeded.
std::string Err(const json& entity) {
  UpstreamConfig u;
  Status st = ParseUpstream(entity, &u);
  if (st.ok()) return "";
  EXPECT_EQ(st.code(), Code::config) << st.message();
  return st.message();
}

UpstreamConfig Ok(const json& entity) {
  UpstreamConfig u;
  Status st = ParseUpstream(entity, &u);
  EXPECT_TRUE(st.ok()) << entity.dump() << " -> " << st.message();
  return u;
}

json WithHealthchecks(const json& hc) { return json{{"name", "x"}, {"healthchecks", hc}}; }

TEST(UpstreamSchema, ValidatesAValidUpstream) {
  UpstreamConfig u = Ok({{"id", "cbb297c0-a956-486d-ad1d-f9b42df9465a"},
                         {"name", "my_service"},
                         {"hash_on", "header"},
                         {"hash_on_header", "X-Balance"},
                         {"hash_fallback", "cookie"},
                         {"hash_on_cookie", "a_cookie"}});
  EXPECT_EQ(u.id, "cbb297c0-a956-486d-ad1d-f9b42df9465a");
  EXPECT_EQ(u.algorithm, "consistent-hashing");
  EXPECT_EQ(u.hash_on_header, "X-Balance");
  EXPECT_EQ(u.hash_fallback, "cookie");
  EXPECT_EQ(u.hash_on_cookie, "a_cookie");
}

TEST(UpstreamSchema, InvalidNamesAreRejectedWithKongText) {
  EXPECT_EQ(Err({{"name", "1234"}}), "name: Invalid name ('1234'); must be a valid hostname");
  EXPECT_EQ(Err({{"name", "fafa fafa"}}), "name: Invalid name ('fafa fafa'); must be a valid hostname");
  EXPECT_EQ(Err({{"name", "192.168.0.1"}}), "name: Invalid name ('192.168.0.1'); no ip addresses allowed");
  EXPECT_EQ(Err({{"name", "myserver:8000"}}), "name: Invalid name ('myserver:8000'); no port allowed");
}

TEST(UpstreamSchema, NameIsRequiredValidAndPortless) {
  EXPECT_EQ(Err(json::object()), "name: required field missing");
  EXPECT_EQ(Err({{"name", nullptr}}), "name: required field missing");
  EXPECT_EQ(Err({{"name", "123.123.123.123"}}),
            "name: Invalid name ('123.123.123.123'); no ip addresses allowed");
  EXPECT_EQ(Err({{"name", "\\\\bad\\\\////name////"}}),
            "name: Invalid name ('\\\\bad\\\\////name////'); must be a valid hostname");
  EXPECT_EQ(Err({{"name", "name:80"}}), "name: Invalid name ('name:80'); no port allowed");
  EXPECT_EQ(Err({{"name", "::1"}}), "name: Invalid name ('::1'); no ip addresses allowed");
  EXPECT_EQ(Err({{"name", ""}}), "name: length must be at least 1");
  EXPECT_EQ(Err({{"name", 42}}), "name: expected a string");
}

TEST(UpstreamSchema, InvalidUtf8NameOmitsTheName) {
  EXPECT_EQ(Err({{"name", std::string("a\xff")}}), "name: Invalid name; must be a valid hostname");
}

TEST(UpstreamSchema, AcceptsValidNames) {
  EXPECT_EQ(Ok({{"name", "valid.host.name"}}).name, "valid.host.name");
  EXPECT_EQ(Ok({{"name", "my_service"}}).name, "my_service");
  EXPECT_EQ(Ok({{"name", "fqdn.example.test."}}).name, "fqdn.example.test.");
}

TEST(UpstreamSchema, InvalidHashOnCookieProducesError) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on_cookie", "a cookie"}}),
            "hash_on_cookie: bad cookie name 'a cookie', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
}

TEST(UpstreamSchema, InvalidHeaderNamesProduceError) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "header"}, {"hash_on_header", "a header"}}),
            "hash_on_header: bad header name 'a header', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
}

TEST(UpstreamSchema, InvalidHealthcheckLeavesNameTheField) {
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"timeout", -1}}}})),
            "healthchecks.active.timeout: value should be between 0 and 65535");
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"concurrency", -1}}}})),
            "healthchecks.active.concurrency: value should be between 1 and 2147483648");
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"http_path", "potato"}}}})),
            "healthchecks.active.http_path: should start with: /");
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"healthy", {{"interval", -1}}}}}})),
            "healthchecks.active.healthy.interval: value should be between 0 and 65535");
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"healthy", {{"successes", -1}}}}}})),
            "healthchecks.active.healthy.successes: value should be between 0 and 255");
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"healthy", {{"successes", 256}}}}}})),
            "healthchecks.active.healthy.successes: value should be between 0 and 255");
  EXPECT_EQ(Err(WithHealthchecks({{"active", {{"healthy", {{"http_statuses", "potato"}}}}}})),
            "healthchecks.active.healthy.http_statuses: expected an array");
}

// Kong's "rejects invalid configurations" table, with Kong 3.2's ranges
// (counters 0..255) and its trailing-dot rule for SNI names.
TEST(UpstreamSchema, HealthchecksRejectInvalidConfigurations) {
  const std::string seconds = "value should be between 0 and 65535";
  const std::string pos_integer = "value should be between 1 and 2147483648";
  const std::string counter = "value should be between 0 and 255";
  const std::string status_code = "value should be between 100 and 999";
  const std::string integer = "expected an integer";
  struct Case {
    json hc;
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"active", {{"timeout", -1}}}}, "active.timeout", seconds},
      {{{"active", {{"timeout", 1e+42}}}}, "active.timeout", seconds},
      {{{"active", {{"concurrency", 0.5}}}}, "active.concurrency", integer},
      {{{"active", {{"concurrency", 0}}}}, "active.concurrency", pos_integer},
      {{{"active", {{"concurrency", -10}}}}, "active.concurrency", pos_integer},
      {{{"active", {{"http_path", ""}}}}, "active.http_path", "length must be at least 1"},
      {{{"active", {{"http_path", "ovo"}}}}, "active.http_path", "should start with: /"},
      {{{"active", {{"http_path", "/a//b"}}}}, "active.http_path", "must not have empty segments"},
      {{{"active", {{"https_sni", "127.0.0.1"}}}}, "active.https_sni", "must not be an IP"},
      {{{"active", {{"https_sni", "127.0.0.1:8080"}}}}, "active.https_sni", "must not be an IP"},
      {{{"active", {{"https_sni", "/example"}}}}, "active.https_sni", "invalid value: /example"},
      {{{"active", {{"https_sni", ".example"}}}}, "active.https_sni", "invalid value: .example"},
      {{{"active", {{"https_sni", "example:"}}}}, "active.https_sni", "invalid value: example:"},
      {{{"active", {{"https_sni", "mock;bin"}}}}, "active.https_sni", "invalid value: mock;bin"},
      {{{"active", {{"https_sni", "example.com/org"}}}}, "active.https_sni", "invalid value: example.com/org"},
      {{{"active", {{"https_sni", "example-.org"}}}}, "active.https_sni", "invalid value: example-.org"},
      {{{"active", {{"https_sni", "example.org-"}}}}, "active.https_sni", "invalid value: example.org-"},
      {{{"active", {{"https_sni", "hello..example.com"}}}}, "active.https_sni", "invalid value: hello..example.com"},
      {{{"active", {{"https_sni", "hello-.example.com"}}}}, "active.https_sni", "invalid value: hello-.example.com"},
      {{{"active", {{"https_sni", "example.com:1234"}}}}, "active.https_sni", "must not have a port"},
      {{{"active", {{"https_verify_certificate", "ovo"}}}}, "active.https_verify_certificate", "expected a boolean"},
      {{{"active", {{"healthy", {{"interval", -1}}}}}}, "active.healthy.interval", seconds},
      {{{"active", {{"healthy", {{"interval", 1e+42}}}}}}, "active.healthy.interval", seconds},
      {{{"active", {{"healthy", {{"http_statuses", 404}}}}}}, "active.healthy.http_statuses", "expected an array"},
      {{{"active", {{"healthy", {{"http_statuses", {"ovo"}}}}}}}, "active.healthy.http_statuses", integer},
      {{{"active", {{"healthy", {{"http_statuses", {-1}}}}}}}, "active.healthy.http_statuses", status_code},
      {{{"active", {{"healthy", {{"http_statuses", {99}}}}}}}, "active.healthy.http_statuses", status_code},
      {{{"active", {{"healthy", {{"http_statuses", {1000}}}}}}}, "active.healthy.http_statuses", status_code},
      {{{"active", {{"healthy", {{"http_statuses", {111.314}}}}}}}, "active.healthy.http_statuses", integer},
      {{{"active", {{"healthy", {{"successes", 0.5}}}}}}, "active.healthy.successes", integer},
      {{{"active", {{"healthy", {{"successes", -1}}}}}}, "active.healthy.successes", counter},
      {{{"active", {{"unhealthy", {{"interval", -1}}}}}}, "active.unhealthy.interval", seconds},
      {{{"active", {{"unhealthy", {{"interval", 1e+42}}}}}}, "active.unhealthy.interval", seconds},
      {{{"active", {{"unhealthy", {{"http_statuses", 404}}}}}}, "active.unhealthy.http_statuses", "expected an array"},
      {{{"active", {{"unhealthy", {{"http_statuses", {"ovo"}}}}}}}, "active.unhealthy.http_statuses", integer},
      {{{"active", {{"unhealthy", {{"http_statuses", {-1}}}}}}}, "active.unhealthy.http_statuses", status_code},
      {{{"active", {{"unhealthy", {{"http_statuses", {99}}}}}}}, "active.unhealthy.http_statuses", status_code},
      {{{"active", {{"unhealthy", {{"http_statuses", {1000}}}}}}}, "active.unhealthy.http_statuses", status_code},
      {{{"active", {{"unhealthy", {{"tcp_failures", 0.5}}}}}}, "active.unhealthy.tcp_failures", integer},
      {{{"active", {{"unhealthy", {{"tcp_failures", -1}}}}}}, "active.unhealthy.tcp_failures", counter},
      {{{"active", {{"unhealthy", {{"timeouts", 0.5}}}}}}, "active.unhealthy.timeouts", integer},
      {{{"active", {{"unhealthy", {{"timeouts", -1}}}}}}, "active.unhealthy.timeouts", counter},
      {{{"active", {{"unhealthy", {{"http_failures", 0.5}}}}}}, "active.unhealthy.http_failures", integer},
      {{{"active", {{"unhealthy", {{"http_failures", -1}}}}}}, "active.unhealthy.http_failures", counter},
      {{{"passive", {{"healthy", {{"http_statuses", 404}}}}}}, "passive.healthy.http_statuses", "expected an array"},
      {{{"passive", {{"healthy", {{"http_statuses", {"ovo"}}}}}}}, "passive.healthy.http_statuses", integer},
      {{{"passive", {{"healthy", {{"http_statuses", {-1}}}}}}}, "passive.healthy.http_statuses", status_code},
      {{{"passive", {{"healthy", {{"http_statuses", {99}}}}}}}, "passive.healthy.http_statuses", status_code},
      {{{"passive", {{"healthy", {{"http_statuses", {1000}}}}}}}, "passive.healthy.http_statuses", status_code},
      {{{"passive", {{"healthy", {{"successes", 0.5}}}}}}, "passive.healthy.successes", integer},
      {{{"passive", {{"healthy", {{"successes", -1}}}}}}, "passive.healthy.successes", counter},
      {{{"passive", {{"unhealthy", {{"http_statuses", 404}}}}}}, "passive.unhealthy.http_statuses", "expected an array"},
      {{{"passive", {{"unhealthy", {{"http_statuses", {"ovo"}}}}}}}, "passive.unhealthy.http_statuses", integer},
      {{{"passive", {{"unhealthy", {{"http_statuses", {-1}}}}}}}, "passive.unhealthy.http_statuses", status_code},
      {{{"passive", {{"unhealthy", {{"http_statuses", {99}}}}}}}, "passive.unhealthy.http_statuses", status_code},
      {{{"passive", {{"unhealthy", {{"http_statuses", {1000}}}}}}}, "passive.unhealthy.http_statuses", status_code},
      {{{"passive", {{"unhealthy", {{"tcp_failures", 0.5}}}}}}, "passive.unhealthy.tcp_failures", integer},
      {{{"passive", {{"unhealthy", {{"tcp_failures", -1}}}}}}, "passive.unhealthy.tcp_failures", counter},
      {{{"passive", {{"unhealthy", {{"timeouts", 0.5}}}}}}, "passive.unhealthy.timeouts", integer},
      {{{"passive", {{"unhealthy", {{"timeouts", -1}}}}}}, "passive.unhealthy.timeouts", counter},
      {{{"passive", {{"unhealthy", {{"http_failures", 0.5}}}}}}, "passive.unhealthy.http_failures", integer},
      {{{"passive", {{"unhealthy", {{"http_failures", -1}}}}}}, "passive.unhealthy.http_failures", counter},
      {{{"threshold", 101}}, "threshold", "value should be between 0 and 100"},
      {{{"threshold", "x"}}, "threshold", "expected a number"},
      {{{"active", {{"type", "udp"}}}}, "active.type", "expected one of: tcp, http, https, grpc, grpcs"},
      {{{"active", {{"headers", json::array()}}}}, "active.headers", "expected a map"},
      {{{"active", {{"headers", {{"X-A", "v"}}}}}}, "active.headers", "expected an array"},
      {{{"active", {{"headers", {{"X-A", {1}}}}}}}, "active.headers", "expected a string"},
      {{{"active", {{"headers", {{"bad name", {"v"}}}}}}}, "active.headers",
       "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
      {{{"active", 1}}, "active", "expected a record"},
      {{{"passive", {{"healthy", {{"interval", 1}}}}}}, "passive.healthy.interval", "unknown field"},
      {{{"active", {{"foo", 1}}}}, "active.foo", "unknown field"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Err(WithHealthchecks(c.hc)), "healthchecks." + c.path + ": " + c.message) << c.hc.dump();
  }
  EXPECT_EQ(Err({{"name", "x"}, {"healthchecks", 5}}), "healthchecks: expected a record");
}

TEST(UpstreamSchema, HealthchecksAcceptCorrectValues) {
  const std::vector<json> cases = {
      {{"active", {{"timeout", 0.5}}}},
      {{"active", {{"timeout", 1}}}},
      {{"active", {{"concurrency", 2}}}},
      {{"active", {{"http_path", "/"}}}},
      {{"active", {{"http_path", "/test"}}}},
      {{"active", {{"https_sni", "example.com"}}}},
      // Kong 3.2's check_hostname accepts an FQDN's trailing dot.
      {{"active", {{"https_sni", "example."}}}},
      {{"active", {{"https_verify_certificate", false}}}},
      {{"active", {{"healthy", {{"interval", 0}}}}}},
      {{"active", {{"healthy", {{"http_statuses", {200, 300}}}}}}},
      {{"active", {{"healthy", {{"successes", 2}}}}}},
      {{"active", {{"unhealthy", {{"interval", 0}}}}}},
      {{"active", {{"unhealthy", {{"http_statuses", {404}}}}}}},
      {{"active", {{"unhealthy", {{"tcp_failures", 3}}}}}},
      {{"active", {{"unhealthy", {{"timeouts", 9}}}}}},
      {{"active", {{"unhealthy", {{"http_failures", 2}}}}}},
      {{"active", {{"type", "grpcs"}}}},
      {{"active", {{"headers", {{"X-Probe", {"a", "b"}}}}}}},
      {{"passive", {{"healthy", {{"http_statuses", {200, 201}}}}}}},
      {{"passive", {{"healthy", {{"successes", 2}}}}}},
      {{"passive", {{"unhealthy", {{"http_statuses", {400, 500}}}}}}},
      {{"passive", {{"unhealthy", {{"tcp_failures", 8}}}}}},
      {{"passive", {{"unhealthy", {{"timeouts", 1}}}}}},
      {{"passive", {{"unhealthy", {{"http_failures", 2}}}}}},
      {{"passive", {{"unhealthy", {{"http_failures", 255}}}}}},
      {{"threshold", 33.5}},
  };
  for (const auto& hc : cases) EXPECT_EQ(Err(WithHealthchecks(hc)), "") << hc.dump();
}

TEST(UpstreamSchema, HashOnHeaderMakesHashOnHeaderRequired) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "header"}}),
            "failed conditional validation given value of field 'hash_on'; "
            "hash_on_header: required field missing");
}

TEST(UpstreamSchema, HashFallbackHeaderMakesHashFallbackHeaderRequired) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "ip"}, {"hash_fallback", "header"}}),
            "failed conditional validation given value of field 'hash_fallback'; "
            "hash_fallback_header: required field missing");
}

TEST(UpstreamSchema, HashOnCookieMakesHashOnCookieRequired) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "cookie"}}),
            "failed conditional validation given value of field 'hash_on'; "
            "hash_on_cookie: required field missing");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "ip"}, {"hash_fallback", "cookie"}}),
            "failed conditional validation given value of field 'hash_fallback'; "
            "hash_on_cookie: required field missing");
}

TEST(UpstreamSchema, HashOnNoneRequiresHashFallbackNone) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "none"}, {"hash_fallback", "ip"}}),
            "failed conditional validation given value of field 'hash_on'; hash_fallback: expected one of: none");
  // Kong's spec case: both checks on hash_fallback=header fire.
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "none"}, {"hash_fallback", "header"}}),
            "failed conditional validation given value of field 'hash_fallback'; "
            "failed conditional validation given value of field 'hash_on'; "
            "hash_fallback: expected one of: none; hash_fallback_header: required field missing");
}

TEST(UpstreamSchema, HashOnCookieRequiresHashFallbackNone) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "cookie"}, {"hash_on_cookie", "c"}, {"hash_fallback", "ip"}}),
            "failed conditional validation given value of field 'hash_on'; hash_fallback: expected one of: none");
}

TEST(UpstreamSchema, HashOnMustDifferFromHashFallback) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "consumer"}, {"hash_fallback", "consumer"}}),
            "failed conditional validation given value of field 'hash_on'; "
            "hash_fallback: expected one of: none, ip, header, cookie, path, query_arg, uri_capture");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "ip"}, {"hash_fallback", "ip"}}),
            "failed conditional validation given value of field 'hash_on'; "
            "hash_fallback: expected one of: none, consumer, header, cookie, path, query_arg, uri_capture");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "path"}, {"hash_fallback", "path"}}),
            "failed conditional validation given value of field 'hash_on'; "
            "hash_fallback: expected one of: none, consumer, ip, header, cookie, query_arg, uri_capture");
}

TEST(UpstreamSchema, HeaderQueryArgAndCaptureNamesMustBeDistinct) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "header"}, {"hash_on_header", "X-A"},
                 {"hash_fallback", "header"}, {"hash_fallback_header", "X-A"}}),
            "values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "query_arg"}, {"hash_on_query_arg", "a"},
                 {"hash_fallback", "query_arg"}, {"hash_fallback_query_arg", "a"}}),
            "values of these fields must be distinct: 'hash_on_query_arg', 'hash_fallback_query_arg'");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "uri_capture"}, {"hash_on_uri_capture", "c"},
                 {"hash_fallback", "uri_capture"}, {"hash_fallback_uri_capture", "c"}}),
            "values of these fields must be distinct: 'hash_on_uri_capture', 'hash_fallback_uri_capture'");
  UpstreamConfig u = Ok({{"name", "x"}, {"hash_on", "query_arg"}, {"hash_on_query_arg", "a"},
                         {"hash_fallback", "query_arg"}, {"hash_fallback_query_arg", "b"}});
  EXPECT_EQ(u.hash_on_query_arg, "a");
  EXPECT_EQ(u.hash_fallback_query_arg, "b");
}

TEST(UpstreamSchema, QueryArgAndUriCaptureNamesAreRequired) {
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "query_arg"}}),
            "failed conditional validation given value of field 'hash_on'; "
            "hash_on_query_arg: required field missing");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "ip"}, {"hash_fallback", "uri_capture"}}),
            "failed conditional validation given value of field 'hash_fallback'; "
            "hash_fallback_uri_capture: required field missing");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on_query_arg", ""}}), "hash_on_query_arg: length must be at least 1");
}

TEST(UpstreamSchema, ProducesDefaults) {
  UpstreamConfig u = Ok({{"name", "www.example.com"}});
  EXPECT_TRUE(std::regex_match(u.id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << u.id;
  EXPECT_GT(u.created_at, 1600000000);
  EXPECT_EQ(u.name, "www.example.com");
  EXPECT_EQ(u.algorithm, "round-robin");
  EXPECT_EQ(u.hash_on, "none");
  EXPECT_EQ(u.hash_fallback, "none");
  EXPECT_EQ(u.hash_on_cookie_path, "/");
  EXPECT_EQ(u.slots, 10000);
  EXPECT_FALSE(u.use_srv_name);
  EXPECT_FALSE(u.host_header.has_value());
  EXPECT_FALSE(u.client_certificate.has_value());
  EXPECT_TRUE(u.tags.empty());

  json expected = {
      {"active",
       {{"type", "http"},
        {"timeout", 1},
        {"concurrency", 10},
        {"http_path", "/"},
        {"https_sni", nullptr},
        {"https_verify_certificate", true},
        {"headers", nullptr},
        {"healthy", {{"interval", 0}, {"http_statuses", {200, 302}}, {"successes", 0}}},
        {"unhealthy",
         {{"interval", 0},
          {"http_statuses", {429, 404, 500, 501, 502, 503, 504, 505}},
          {"tcp_failures", 0},
          {"timeouts", 0},
          {"http_failures", 0}}}}},
      {"passive",
       {{"type", "http"},
        {"healthy",
         {{"http_statuses", {200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}},
          {"successes", 0}}},
        {"unhealthy", {{"http_statuses", {429, 500, 503}}, {"tcp_failures", 0}, {"timeouts", 0}, {"http_failures", 0}}}}},
      {"threshold", 0}};
  EXPECT_EQ(UpstreamToJson(u)["healthchecks"], expected);
  EXPECT_FALSE(u.healthchecks.enabled());
}

TEST(UpstreamSchema, HashOnNoneForcesRoundRobin) {
  UpstreamConfig u = Ok({{"name", "x"}, {"algorithm", "consistent-hashing"}, {"hash_on", "none"}});
  EXPECT_EQ(u.algorithm, "round-robin");
  EXPECT_EQ(u.hash_on, "none");
}

TEST(UpstreamSchema, ConsistentHashingWithoutHashOnStaysConsistentHashing) {
  UpstreamConfig u = Ok({{"name", "x"}, {"algorithm", "consistent-hashing"}});
  EXPECT_EQ(u.algorithm, "consistent-hashing");
  EXPECT_EQ(u.hash_on, "none");
}

TEST(UpstreamSchema, HashOnOtherThanNoneForcesConsistentHashing) {
  UpstreamConfig u = Ok({{"name", "x"}, {"algorithm", "round-robin"}, {"hash_on", "ip"}});
  EXPECT_EQ(u.algorithm, "consistent-hashing");
  EXPECT_EQ(u.hash_on, "ip");
}

TEST(UpstreamSchema, LeastConnectionsAndLatencyClearHashOn) {
  for (const char* algorithm : {"least-connections", "latency"}) {
    UpstreamConfig u = Ok({{"name", "x"}, {"algorithm", algorithm}, {"hash_on", "header"}, {"hash_on_header", "X-A"}});
    EXPECT_EQ(u.algorithm, algorithm);
    EXPECT_EQ(u.hash_on, "none");
    EXPECT_EQ(u.hash_on_header, "X-A");
  }
}

TEST(UpstreamSchema, NullHashOnBecomesNoneAndKeepsAlgorithm) {
  UpstreamConfig u = Ok({{"name", "x"}, {"algorithm", "consistent-hashing"}, {"hash_on", nullptr}});
  EXPECT_EQ(u.algorithm, "consistent-hashing");
  EXPECT_EQ(u.hash_on, "none");
}

TEST(UpstreamSchema, AlgorithmMustBeKnown) {
  EXPECT_EQ(Err({{"name", "x"}, {"algorithm", "not-algo"}}),
            "algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency");
  EXPECT_EQ(Err({{"name", "x"}, {"hash_on", "body"}}),
            "hash_on: expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture");
}

TEST(UpstreamSchema, SlotsBetween10And65536) {
  EXPECT_EQ(Err({{"name", "x"}, {"slots", 9}}), "slots: value should be between 10 and 65536");
  EXPECT_EQ(Err({{"name", "x"}, {"slots", 65537}}), "slots: value should be between 10 and 65536");
  EXPECT_EQ(Err({{"name", "x"}, {"slots", "100"}}), "slots: expected an integer");
  EXPECT_EQ(Err({{"name", "x"}, {"slots", 100.5}}), "slots: expected an integer");
  EXPECT_EQ(Ok({{"name", "x"}, {"slots", 10}}).slots, 10);
  EXPECT_EQ(Ok({{"name", "x"}, {"slots", 65536}}).slots, 65536);
  EXPECT_EQ(Ok({{"name", "x"}, {"slots", 100.0}}).slots, 100);  // Lua sees 100.0 as an integer
}

TEST(UpstreamSchema, NullOptionalFieldsMeanNotSet) {
  UpstreamConfig u = Ok({{"name", "x"}, {"slots", nullptr}, {"hash_on_header", nullptr}, {"healthchecks", nullptr},
                         {"tags", nullptr}, {"host_header", nullptr}, {"client_certificate", nullptr}});
  EXPECT_EQ(u.slots, 10000);
  EXPECT_FALSE(u.hash_on_header.has_value());
  EXPECT_EQ(u.healthchecks.active.healthy.http_statuses, (std::vector<int>{200, 302}));
}

TEST(UpstreamSchema, UnknownFieldsAreRejected) {
  EXPECT_EQ(Err({{"name", "x"}, {"foo", 1}}), "foo: unknown field");
  EXPECT_EQ(Err({{"name", "x"}, {"updated_at", 1}}), "updated_at: unknown field");
}

TEST(UpstreamSchema, WrongTypesUseKongMessages) {
  EXPECT_EQ(Err({{"name", "x"}, {"use_srv_name", "yes"}}), "use_srv_name: expected a boolean");
  EXPECT_EQ(Err({{"name", "x"}, {"tags", "a"}}), "tags: expected a set");
  EXPECT_EQ(Err({{"name", "x"}, {"tags", {1}}}), "tags: expected a string");
  EXPECT_EQ(Err({{"name", "x"}, {"tags", {"a,b"}}}),
            "tags: invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences");
  EXPECT_EQ(Err({{"name", "x"}, {"id", "not-a-uuid"}}), "id: expected a valid UUID");
  EXPECT_EQ(Err({{"name", "x"}, {"created_at", "now"}}), "created_at: expected an integer");
  EXPECT_EQ(Err({{"name", "x"}, {"client_certificate", {{"id", "nope"}}}}), "client_certificate.id: expected a valid UUID");
  EXPECT_EQ(Err({{"name", "x"}, {"client_certificate", 5}}), "client_certificate: expected a record");
  EXPECT_EQ(Err(json::array()), "expected a record");
}

TEST(UpstreamSchema, HostHeaderIsAHostWithOptionalPort) {
  EXPECT_EQ(Err({{"name", "x"}, {"host_header", "not a header"}}), "host_header: invalid hostname: not a header");
  EXPECT_EQ(Err({{"name", "x"}, {"host_header", "http://ahostname.test"}}),
            "host_header: invalid hostname: http://ahostname.test");
  EXPECT_EQ(Ok({{"name", "x"}, {"host_header", "example.com:8443"}}).host_header, "example.com:8443");
}

TEST(UpstreamSchema, SeveralErrorsJoinInSchemaFieldOrder) {
  EXPECT_EQ(Err({{"zzz", true}, {"use_srv_name", 1}, {"slots", 5}, {"name", "1.2.3.4"}, {"algorithm", "x"}}),
            "name: Invalid name ('1.2.3.4'); no ip addresses allowed; "
            "algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency; "
            "slots: value should be between 10 and 65536; use_srv_name: expected a boolean; zzz: unknown field");
}

TEST(UpstreamSchema, KeepsEveryField) {
  UpstreamConfig u = Ok({{"id", "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10"},
                         {"created_at", 1700000000},
                         {"name", "api"},
                         {"hash_on", "cookie"},
                         {"hash_on_cookie", "sid"},
                         {"hash_on_cookie_path", "/app"},
                         {"slots", 100},
                         {"tags", {"a", "b", "a"}},
                         {"host_header", "api.test"},
                         {"client_certificate", {{"id", "0e4e6a3b-2f7a-4b8e-9a54-3c5e1c2d7f00"}}},
                         {"use_srv_name", true},
                         {"healthchecks",
                          {{"active", {{"https_sni", "probe.test"}, {"healthy", {{"interval", 5}}}}},
                           {"threshold", 50}}}});
  EXPECT_EQ(u.created_at, 1700000000);
  EXPECT_EQ(u.hash_on_cookie_path, "/app");
  EXPECT_EQ(u.tags, (std::vector<std::string>{"a", "b"}));  // a set
  EXPECT_EQ(u.client_certificate, "0e4e6a3b-2f7a-4b8e-9a54-3c5e1c2d7f00");
  EXPECT_EQ(u.healthchecks.active.https_sni, "probe.test");
  EXPECT_EQ(u.healthchecks.threshold, 50);
  EXPECT_TRUE(u.healthchecks.enabled());

  json j = UpstreamToJson(u);
  EXPECT_EQ(j["id"], "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10");
  EXPECT_EQ(j["created_at"], 1700000000);
  EXPECT_EQ(j["algorithm"], "consistent-hashing");
  EXPECT_EQ(j["hash_on"], "cookie");
  EXPECT_EQ(j["hash_fallback"], "none");
  EXPECT_EQ(j["hash_on_header"], nullptr);
  EXPECT_EQ(j["hash_fallback_header"], nullptr);
  EXPECT_EQ(j["hash_on_cookie"], "sid");
  EXPECT_EQ(j["hash_on_query_arg"], nullptr);
  EXPECT_EQ(j["hash_fallback_query_arg"], nullptr);
  EXPECT_EQ(j["hash_on_uri_capture"], nullptr);
  EXPECT_EQ(j["hash_fallback_uri_capture"], nullptr);
  EXPECT_EQ(j["slots"], 100);
  EXPECT_EQ(j["tags"], json({"a", "b"}));
  EXPECT_EQ(j["host_header"], "api.test");
  EXPECT_EQ(j["client_certificate"], json({{"id", "0e4e6a3b-2f7a-4b8e-9a54-3c5e1c2d7f00"}}));
  EXPECT_EQ(j["use_srv_name"], true);
  EXPECT_EQ(j["healthchecks"]["active"]["https_sni"], "probe.test");
  EXPECT_EQ(j["healthchecks"]["active"]["healthy"]["interval"], 5);
  EXPECT_EQ(j["healthchecks"]["threshold"], 50);
  EXPECT_EQ(j.size(), 20u);

  // The Admin API shape parses back to the same entity.
  UpstreamConfig back = Ok(j);
  EXPECT_EQ(UpstreamToJson(back), j);
}

TEST(UpstreamSchema, ClientCertificateAcceptsABareId) {
  EXPECT_EQ(Ok({{"name", "x"}, {"client_certificate", "0e4e6a3b-2f7a-4b8e-9a54-3c5e1c2d7f00"}}).client_certificate,
            "0e4e6a3b-2f7a-4b8e-9a54-3c5e1c2d7f00");
}

TEST(HealthchecksConfig, EnabledWhenAnIntervalOrPassiveUnhealthyCounterIsNonZero) {
  HealthchecksConfig hc;
  EXPECT_FALSE(hc.enabled());
  hc.passive.healthy.successes = 3;  // passive successes alone do not enable it
  hc.active.healthy.successes = 3;
  EXPECT_FALSE(hc.enabled());
  auto with = [](auto set) {
    HealthchecksConfig h;
    set(h);
    return h.enabled();
  };
  EXPECT_TRUE(with([](HealthchecksConfig& h) { h.active.healthy.interval = 0.5; }));
  EXPECT_TRUE(with([](HealthchecksConfig& h) { h.active.unhealthy.interval = 1; }));
  EXPECT_TRUE(with([](HealthchecksConfig& h) { h.passive.unhealthy.tcp_failures = 1; }));
  EXPECT_TRUE(with([](HealthchecksConfig& h) { h.passive.unhealthy.timeouts = 1; }));
  EXPECT_TRUE(with([](HealthchecksConfig& h) { h.passive.unhealthy.http_failures = 1; }));
  EXPECT_FALSE(with([](HealthchecksConfig& h) { h.active.unhealthy.tcp_failures = 1; }));
}

TEST(Uuid, NewUuidIsRandomVersion4) {
  std::string a = NewUuid(), b = NewUuid();
  std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(a, v4)) << a;
  EXPECT_TRUE(std::regex_match(b, v4)) << b;
  EXPECT_NE(a, b);
}

// An entity from svc_upstream_upsert is copied before validation, and the
// copy recursed once per level: deep nesting overflowed the stack
// (fuzz/regressions/upstream/deep-tags.json).
TEST(UpstreamSchema, DeepNestingIsAnError) {
  // Built by moves: a copy of this value is what used to crash.
  auto nest = [](int levels) {
    json v = json::array();
    for (int i = 1; i < levels; ++i) {
      json outer = json::array();
      outer.push_back(std::move(v));
      v = std::move(outer);
    }
    return v;
  };
  json entity = json::object();
  entity["name"] = "x";
  entity["tags"] = nest(200000);
  EXPECT_EQ(Err(entity), "tags: nested deeper than 100 levels");
  // The entity is one level, its fields may nest 99 more.
  entity["tags"] = nest(99);
  EXPECT_EQ(Err(entity), "tags: expected a string");
  entity["tags"] = nest(100);
  EXPECT_EQ(Err(entity), "tags: nested deeper than 100 levels");
}

}  // namespace
}  // namespace svc::config
