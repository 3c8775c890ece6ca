// Target entity: Kong 3.2's normalisation and schema.
// Ports spec/01-unit/01-db/01-schema/08-targets_spec.lua and reference §3.3.
#include <gtest/gtest.h>

#include "config/config.h"

namespace svc::config {
namespace {

using nlohmann::json;

std::string Normalized(std::string_view text) {
  TargetAddress a;
  Status st = NormalizeTarget(text, &a);
  EXPECT_TRUE(st.ok()) << text << " -> " << st.message();
  return a.target;
}

std::string NormalizeError(std::string_view text) {
  TargetAddress a;
  Status st = NormalizeTarget(text, &a);
  EXPECT_EQ(st.code(), Code::config) << text;
  return st.message();
}

std::string Err(const json& entity) {
  TargetConfig t;
  Status st = ParseTarget(entity, &t);
  if (st.ok()) return "";
  EXPECT_EQ(st.code(), Code::config);
  return st.message();
}

TEST(TargetSchema, ValidatesKongExamples) {
  EXPECT_EQ(Normalized("valid.name"), "valid.name:8000");
  EXPECT_EQ(Normalized("valid.name:8080"), "valid.name:8080");
  EXPECT_EQ(Normalized("12.34.56.78"), "12.34.56.78:8000");
  EXPECT_EQ(Normalized("1.2.3.4:123"), "1.2.3.4:123");
}

TEST(TargetSchema, RejectsAnInvalidHostnameWithKongText) {
  EXPECT_EQ(NormalizeError("\\\\bad\\\\////name////"),
            "target: Invalid target ('\\\\bad\\\\////name////'); not a valid hostname or ip address");
  EXPECT_EQ(Err({{"target", "\\\\bad\\\\////name////"}}),
            "target: Invalid target ('\\\\bad\\\\////name////'); not a valid hostname or ip address");
}

TEST(TargetSchema, DefaultPortIs8000) {
  TargetAddress a;
  ASSERT_TRUE(NormalizeTarget("konghq.test", &a).ok());
  EXPECT_EQ(a.target, "konghq.test:8000");
  EXPECT_EQ(a.host, "konghq.test");
  EXPECT_EQ(a.port, 8000);
  EXPECT_EQ(a.kind, TargetAddress::Kind::name);
}

TEST(TargetSchema, Ipv4LosesLeadingZeros) {
  TargetAddress a;
  ASSERT_TRUE(NormalizeTarget("001.002.003.004:0080", &a).ok());
  EXPECT_EQ(a.target, "1.2.3.4:80");
  EXPECT_EQ(a.host, "1.2.3.4");
  EXPECT_EQ(a.port, 80);
  EXPECT_EQ(a.kind, TargetAddress::Kind::ipv4);
  EXPECT_EQ(Normalized("010.000.000.001"), "10.0.0.1:8000");
}

TEST(TargetSchema, Ipv6IsExpandedLowercasedAndBracketed) {
  TargetAddress a;
  ASSERT_TRUE(NormalizeTarget("::1", &a).ok());
  EXPECT_EQ(a.target, "[0000:0000:0000:0000:0000:0000:0000:0001]:8000");
  EXPECT_EQ(a.host, "[0000:0000:0000:0000:0000:0000:0000:0001]");
  EXPECT_EQ(a.kind, TargetAddress::Kind::ipv6);
  EXPECT_EQ(Normalized("[::1]:80"), "[0000:0000:0000:0000:0000:0000:0000:0001]:80");
  EXPECT_EQ(Normalized("[FE80::A:1]"), "[fe80:0000:0000:0000:0000:0000:000a:0001]:8000");
  EXPECT_EQ(Normalized("2001:db8::"), "[2001:0db8:0000:0000:0000:0000:0000:0000]:8000");
  EXPECT_EQ(Normalized("::"), "[0000:0000:0000:0000:0000:0000:0000:0000]:8000");
  EXPECT_EQ(Normalized("1:2:3:4:5:6:7:8"), "[0001:0002:0003:0004:0005:0006:0007:0008]:8000");
}

TEST(TargetSchema, PortAbove65535IsRejected) {
  EXPECT_EQ(NormalizeError("1.2.3.4:65536"),
            "target: Invalid target ('1.2.3.4:65536'); not a valid hostname or ip address");
  EXPECT_EQ(NormalizeError("a.test:70000"),
            "target: Invalid target ('a.test:70000'); not a valid hostname or ip address");
  EXPECT_EQ(NormalizeError("[::1]:99999"),
            "target: Invalid target ('[::1]:99999'); not a valid hostname or ip address");
  EXPECT_EQ(Normalized("1.2.3.4:65535"), "1.2.3.4:65535");
}

TEST(TargetSchema, PortZeroIsAllowedByTheParser) {
  EXPECT_EQ(Normalized("1.2.3.4:0"), "1.2.3.4:0");
}

TEST(TargetSchema, HostnameRules) {
  EXPECT_EQ(Normalized("example.test."), "example.test.:8000");  // trailing dot kept
  EXPECT_EQ(Normalized("my_host.test"), "my_host.test:8000");
  EXPECT_EQ(Normalized("-lead.test"), "-lead.test:8000");  // only trailing dashes are refused
  EXPECT_EQ(Normalized("Mixed.Case"), "Mixed.Case:8000");  // names are not normalised
  for (const char* bad : {"a..b", ".a", "a-.b", "a-", "a b", "a/b", "a:b", "", ":80", "a.test:", "1.2.3",
                          "256.1.1.1", "1.2.3.4.5", "1.2.3.4:", "[::1]:", "[::1]x", "1:2:3:4:5:6:7:8:9",
                          "::g", "1::2::3", "[::1"}) {
    EXPECT_EQ(NormalizeError(bad),
              std::string("target: Invalid target ('") + bad + "'); not a valid hostname or ip address");
  }
}

TEST(TargetSchema, InvalidUtf8OmitsTheTarget) {
  EXPECT_EQ(NormalizeError("\xff\xfe"), "target: Invalid target; not a valid hostname or ip address");
}

TEST(TargetSchema, WeightIsBetween0And65535) {
  EXPECT_TRUE(ValidateWeight(0).ok());
  EXPECT_TRUE(ValidateWeight(65535).ok());
  Status st = ValidateWeight(-1);
  EXPECT_EQ(st.code(), Code::config);
  EXPECT_EQ(st.message(), "weight: value should be between 0 and 65535");
  EXPECT_EQ(ValidateWeight(65536).message(), "weight: value should be between 0 and 65535");
  EXPECT_EQ(Err({{"target", "a.test"}, {"weight", 65536}}), "weight: value should be between 0 and 65535");
  EXPECT_EQ(Err({{"target", "a.test"}, {"weight", -1}}), "weight: value should be between 0 and 65535");
  EXPECT_EQ(Err({{"target", "a.test"}, {"weight", 1.5}}), "weight: expected an integer");
  EXPECT_EQ(Err({{"target", "a.test"}, {"weight", "10"}}), "weight: expected an integer");
}

TEST(TargetSchema, ParseTargetAppliesDefaults) {
  TargetConfig t;
  ASSERT_TRUE(ParseTarget({{"target", "10.0.0.1"}}, &t).ok());
  EXPECT_EQ(t.address.target, "10.0.0.1:8000");
  EXPECT_EQ(t.weight, 100);
  EXPECT_TRUE(t.tags.empty());
  EXPECT_EQ(t.id.size(), 36u);
  EXPECT_GT(t.created_at, 1.6e12);  // milliseconds
}

TEST(TargetSchema, ParseTargetKeepsEveryField) {
  TargetConfig t;
  ASSERT_TRUE(ParseTarget({{"id", "4f2c1c7e-2d5e-4c8a-9f0e-1b2c3d4e5f60"},
                           {"target", "api.test:9000"},
                           {"weight", 0},
                           {"tags", {"blue"}},
                           {"created_at", 1700000000.125},
                           {"upstream", {{"id", "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10"}}}},
                          &t)
                  .ok());
  EXPECT_EQ(t.id, "4f2c1c7e-2d5e-4c8a-9f0e-1b2c3d4e5f60");
  EXPECT_EQ(t.weight, 0);
  EXPECT_EQ(t.tags, (std::vector<std::string>{"blue"}));
  EXPECT_DOUBLE_EQ(t.created_at, 1700000000125.0);

  json j = TargetToJson(t, "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10");
  EXPECT_EQ(j, json({{"id", "4f2c1c7e-2d5e-4c8a-9f0e-1b2c3d4e5f60"},
                     {"created_at", 1700000000.125},
                     {"upstream", {{"id", "a7b2a7c4-5f1b-4b51-9c1e-2b0c3e8c9d10"}}},
                     {"target", "api.test:9000"},
                     {"weight", 0},
                     {"tags", {"blue"}}}));
  TargetConfig none;
  ASSERT_TRUE(ParseTarget({{"target", "a.test"}}, &none).ok());
  EXPECT_EQ(TargetToJson(none, "u")["tags"], nullptr);
}

TEST(TargetSchema, ParseTargetReportsEveryViolation) {
  EXPECT_EQ(Err(json::object()), "target: required field missing");
  EXPECT_EQ(Err({{"target", ""}}), "target: length must be at least 1");
  EXPECT_EQ(Err({{"target", 5}}), "target: expected a string");
  EXPECT_EQ(Err({{"target", "a.test"}, {"port", 80}}), "port: unknown field");
  EXPECT_EQ(Err({{"target", "a..b"}, {"weight", 70000}, {"id", "x"}}),
            "id: expected a valid UUID; target: Invalid target ('a..b'); not a valid hostname or ip address; "
            "weight: value should be between 0 and 65535");
  EXPECT_EQ(Err("10.0.0.1"), "expected a record");
}

}  // namespace
}  // namespace svc::config
