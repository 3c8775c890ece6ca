// The kong.service PDK functions through svc::Request, ported from Kong's
// t/01-pdk/09-service/*.t (phase checks, set_upstream, set_target,
// set_tls_*, set_retries, set_timeouts) with svc's C spellings.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/request.h"

namespace svc {
namespace {

class ServicePdk : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Engine::Create(EngineOptions{}, &engine_).ok());
    ASSERT_TRUE(engine_->UpsertUpstream(R"({"name": "my_upstream"})").ok());
    ASSERT_TRUE(engine_->AddTarget("my_upstream", "10.0.0.1:80", 100).ok());
    request_ = std::make_unique<Request>(engine_);
  }
  void ExpectError(const Status& st, Code code, const std::string& message) {
    EXPECT_EQ(st.code(), code) << st.message();
    EXPECT_EQ(st.message(), message);
  }
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<Request> request_;
};

// 00-phase_checks.t: set_upstream / set_target / set_retries / set_timeouts are access-only.
TEST_F(ServicePdk, AccessOnlySettersRejectRewrite) {
  ASSERT_TRUE(request_->SetPhase(Phase::rewrite).ok());
  const std::string msg = "function cannot be called in rewrite phase (only in: access)";
  ExpectError(request_->SetUpstream("my_upstream"), Code::phase, msg);
  ExpectError(request_->SetTarget("example.test", 80), Code::phase, msg);
  ExpectError(request_->SetRetries(3), Code::phase, msg);
  ExpectError(request_->SetTimeouts(1, 2, 3), Code::phase, msg);
  ExpectError(request_->SetHashKey("k", 1), Code::phase, msg);
}

TEST_F(ServicePdk, AccessOnlySettersRejectBalancer) {
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  ASSERT_TRUE(request_->Pick().ok());
  EXPECT_EQ(request_->phase(), Phase::balancer);
  const std::string msg = "function cannot be called in balancer phase (only in: access)";
  ExpectError(request_->SetUpstream("my_upstream"), Code::phase, msg);
  ExpectError(request_->SetTarget("example.test", 80), Code::phase, msg);
  ExpectError(request_->SetRetries(3), Code::phase, msg);
  ExpectError(request_->SetTimeouts(1, 2, 3), Code::phase, msg);
}

TEST_F(ServicePdk, TlsSettersAllowedInRewriteAccessBalancer) {
  ASSERT_TRUE(request_->SetPhase(Phase::rewrite).ok());
  EXPECT_TRUE(request_->SetTlsVerify(false).ok());
  EXPECT_TRUE(request_->SetTlsVerifyDepth(3).ok());
  ASSERT_TRUE(request_->SetPhase(Phase::access).ok());
  EXPECT_TRUE(request_->SetTlsVerify(true).ok());
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  ASSERT_TRUE(request_->Pick().ok());
  EXPECT_TRUE(request_->SetTlsVerifyDepth(1).ok());
  EXPECT_EQ(request_->tls().depth, 1);
  EXPECT_FALSE(request_->tls().chain);
}

TEST_F(ServicePdk, SetPhaseOnlyBeforeTheFirstTry) {
  ExpectError(request_->SetPhase(Phase::balancer), Code::invalid,
              "phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given 3");
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  ASSERT_TRUE(request_->Pick().ok());
  ExpectError(request_->SetPhase(Phase::access), Code::phase,
              "the phase can only be set before the first try (now in balancer phase)");
}

// 01-set-upstream.t
TEST_F(ServicePdk, SetUpstreamRejectsMissingHost) {
  ExpectError(request_->SetUpstream(nullptr), Code::invalid, "host must be a string");
  ExpectError(request_->SetUpstream(""), Code::invalid, "host must be a string");
}

TEST_F(ServicePdk, SetUpstreamUnknownNameIsNotFound) {
  ExpectError(request_->SetUpstream("not_an_upstream"), Code::not_found,
              "could not find an Upstream named 'not_an_upstream'");
}

TEST_F(ServicePdk, SetUpstreamRoutesPicksThroughTheUpstream) {
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  ASSERT_TRUE(request_->Pick().ok());
  EXPECT_EQ(*request_->peer_ip(), "10.0.0.1");
  EXPECT_EQ(request_->peer_port(), 80);
  EXPECT_EQ(*request_->peer_host(), "10.0.0.1");
}

// 02-set-target.t
TEST_F(ServicePdk, SetTargetValidatesHostAndPort) {
  ExpectError(request_->SetTarget(nullptr, 80), Code::invalid, "host must be a string");
  ExpectError(request_->SetTarget("example.test", -1), Code::invalid,
              "port must be an integer between 0 and 65535: given -1");
  ExpectError(request_->SetTarget("example.test", 65536), Code::invalid,
              "port must be an integer between 0 and 65535: given 65536");
  ExpectError(request_->SetTarget("example.test", 70000), Code::invalid,
              "port must be an integer between 0 and 65535: given 70000");
  // Kong accepts port 0.
  EXPECT_TRUE(request_->SetTarget("example.test", 0).ok());
}

TEST_F(ServicePdk, SetTargetBypassesTheBalancer) {
  ASSERT_TRUE(request_->SetTarget("127.0.0.1", 8443).ok());
  ASSERT_TRUE(request_->Pick().ok());
  EXPECT_EQ(*request_->peer_ip(), "127.0.0.1");
  EXPECT_EQ(request_->peer_port(), 8443);
  EXPECT_EQ(*request_->peer_host(), "127.0.0.1");
}

TEST_F(ServicePdk, SetTargetHostIsTheVerifiedNameWithoutTrailingDot) {
  ASSERT_TRUE(request_->SetTarget("localhost.", 8443).ok());
  ASSERT_TRUE(request_->Pick().ok());
  EXPECT_EQ(*request_->peer_ip(), "127.0.0.1");
  EXPECT_EQ(*request_->peer_host(), "localhost");
}

TEST_F(ServicePdk, SetTargetAcceptsIpv6Literals) {
  ASSERT_TRUE(request_->SetTarget("[::1]", 443).ok());
  ASSERT_TRUE(request_->Pick().ok());
  EXPECT_EQ(*request_->peer_ip(), "::1");
}

// 03-set-tls-cert-key.t and the other TLS setters.
TEST_F(ServicePdk, SetTlsCertKeyRejectsNull) {
  ExpectError(request_->SetTlsCertKey(nullptr, nullptr), Code::invalid, "chain must not be NULL");
}

TEST_F(ServicePdk, SetTlsVerifyDepthRejectsNegative) {
  ExpectError(request_->SetTlsVerifyDepth(-1), Code::invalid,
              "depth expects a non-negative integer but found -1");
  EXPECT_TRUE(request_->SetTlsVerifyDepth(0).ok());
}

TEST_F(ServicePdk, SetTlsVerifyStoreRejectsNull) {
  ExpectError(request_->SetTlsVerifyStore(nullptr), Code::invalid, "store must not be NULL");
}

TEST_F(ServicePdk, VerificationIsOnByDefault) {
  EXPECT_TRUE(request_->tls().verify);
  ASSERT_TRUE(request_->SetTlsVerify(false).ok());
  EXPECT_FALSE(request_->tls().verify);
}

// 04-set-retries.t
TEST_F(ServicePdk, SetRetriesRange) {
  ExpectError(request_->SetRetries(-1), Code::invalid, "retries must be an integer between 0 and 32767: given -1");
  ExpectError(request_->SetRetries(32768), Code::invalid,
              "retries must be an integer between 0 and 32767: given 32768");
  EXPECT_TRUE(request_->SetRetries(0).ok());
  EXPECT_TRUE(request_->SetRetries(32767).ok());
  EXPECT_EQ(request_->retries(), 32767);
}

TEST_F(ServicePdk, RetriesDefaultToFive) { EXPECT_EQ(request_->retries(), 5); }

// 05-set-timeouts.t
TEST_F(ServicePdk, SetTimeoutsRangeInKongOrder) {
  ExpectError(request_->SetTimeouts(0, 1, 1), Code::invalid,
              "connect_timeout must be an integer between 1 and 2147483646: given 0");
  ExpectError(request_->SetTimeouts(1, 2147483647, 1), Code::invalid,
              "write_timeout must be an integer between 1 and 2147483646: given 2147483647");
  ExpectError(request_->SetTimeouts(1, 1, -5), Code::invalid,
              "read_timeout must be an integer between 1 and 2147483646: given -5");
  ASSERT_TRUE(request_->SetTimeouts(1, 2, 2147483646).ok());
  EXPECT_EQ(request_->connect_timeout_ms(), 1);
  EXPECT_EQ(request_->write_timeout_ms(), 2);
  EXPECT_EQ(request_->read_timeout_ms(), 2147483646);
}

TEST_F(ServicePdk, SetSchemeAcceptsKongSchemes) {
  EXPECT_EQ(request_->scheme(), "http");
  for (const char* s : {"https", "tcp", "tls", "http"}) EXPECT_TRUE(request_->SetScheme(s).ok()) << s;
  ExpectError(request_->SetScheme("ftp"), Code::invalid, "invalid scheme: ftp");
}

// Pick mode bookkeeping.
TEST_F(ServicePdk, PickWithoutRouteIsAnError) {
  ExpectError(request_->Pick(), Code::invalid,
              "no upstream or target set: call svc_set_upstream or svc_set_target first");
}

TEST_F(ServicePdk, TriesAreBoundedByRetries) {
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  ASSERT_TRUE(request_->SetRetries(2).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(request_->Pick().ok()) << i;
    ASSERT_TRUE(request_->Report(2, 0, 0).ok());
  }
  EXPECT_EQ(request_->tries(), 3);
  ExpectError(request_->Pick(), Code::no_peer, "no more tries: 3 tries made and retries is 2");
}

TEST_F(ServicePdk, ReportNeedsAPick) {
  ExpectError(request_->Report(0, 0, 0), Code::invalid, "no try to report: call svc_request_pick first");
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  ASSERT_TRUE(request_->Pick().ok());
  ASSERT_TRUE(request_->Report(0, 0, 0).ok());
  ExpectError(request_->Report(0, 0, 0), Code::invalid, "no try to report: call svc_request_pick first");
  ExpectError(request_->Report(7, 0, 0), Code::invalid,
              "outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, SVC_OUTCOME_TCP_FAILURE, "
              "SVC_OUTCOME_TIMEOUT: given 7");
}

TEST_F(ServicePdk, PickAfterEngineShutdownIsClosed) {
  ASSERT_TRUE(request_->SetUpstream("my_upstream").ok());
  engine_->Shutdown();
  ExpectError(request_->Pick(), Code::closed, "the engine is closed");
}

}  // namespace
}  // namespace svc
