// TLS material (cpp/tls): certificate chains, private keys, trust stores,
// checked against the throwaway test PKI (tests/support/pki.h).
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/status.h"
#include "support/pki.h"
#include "tls/tls.h"

namespace svc::tls {
namespace {

namespace fs = std::filesystem;

// One PKI for the whole binary, in a fresh temporary directory.
class PkiEnvironment : public ::testing::Environment {
 public:
  static std::string dir;

  void SetUp() override {
    char tmpl[] = "/tmp/svc-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    Status s = svc::testing::GeneratePki(dir + "/pki");
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};
std::string PkiEnvironment::dir;
::testing::Environment* const g_pki_env =
    ::testing::AddGlobalTestEnvironment(new PkiEnvironment);

std::string Path(const std::string& name) { return PkiEnvironment::dir + "/pki/" + name; }

std::string Read(const std::string& name) {
  std::ifstream in(Path(name), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<const CertChain> Chain(const std::string& name) {
  std::shared_ptr<const CertChain> chain;
  Status s = CertChain::ParsePem(Read(name), &chain);
  EXPECT_TRUE(s.ok()) << name << ": " << s.message();
  return chain;
}

std::shared_ptr<const PrivateKey> Key(const std::string& name, const char* passphrase = nullptr) {
  std::shared_ptr<const PrivateKey> key;
  Status s = PrivateKey::ParsePem(Read(name), passphrase, &key);
  EXPECT_TRUE(s.ok()) << name << ": " << s.message();
  return key;
}

Status ChainError(std::string_view pem) {
  std::shared_ptr<const CertChain> chain;
  Status s = CertChain::ParsePem(pem, &chain);
  EXPECT_EQ(chain, nullptr);
  return s;
}

Status KeyError(std::string_view pem, const char* passphrase = nullptr) {
  std::shared_ptr<const PrivateKey> key;
  Status s = PrivateKey::ParsePem(pem, passphrase, &key);
  EXPECT_EQ(key, nullptr);
  return s;
}

std::shared_ptr<TrustStore> NewStore() {
  std::shared_ptr<TrustStore> store;
  Status s = TrustStore::New(&store);
  EXPECT_TRUE(s.ok()) << s.message();
  return store;
}

std::shared_ptr<TrustStore> StoreOf(const std::string& name) {
  auto store = NewStore();
  Status s = store->LoadFile(Path(name));
  EXPECT_TRUE(s.ok()) << s.message();
  return store;
}

std::string Sha256Hex(const unsigned char* data, size_t len) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EXPECT_EQ(EVP_Digest(data, len, md, &md_len, EVP_sha256(), nullptr), 1);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < md_len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// X509_verify_cert of `chain`'s leaf against `store`; the chain's other
// certificates and `extra` are the untrusted intermediates. X509_V_OK or the error.
int Verify(X509_STORE* store, const CertChain& chain, int purpose,
           const CertChain* extra = nullptr, int depth = -1) {
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.certs().size(); ++i) sk_X509_push(untrusted, chain.certs()[i]);
  if (extra != nullptr) {
    for (X509* cert : extra->certs()) sk_X509_push(untrusted, cert);
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  EXPECT_EQ(X509_STORE_CTX_init(ctx, store, chain.leaf(), untrusted), 1);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  if (depth >= 0) X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx), depth);
  int ok = X509_verify_cert(ctx);
  int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  ERR_clear_error();
  return err;
}

std::string NameOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

// Sets an environment variable for one scope and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string EmptyDir(const std::string& name) {
  std::string dir = PkiEnvironment::dir + "/" + name;
  fs::create_directories(dir);
  return dir;
}

// ---------------------------------------------------------------------------
// The generated PKI

TEST(Pki, WritesEveryFileWithPrivateKeysReadableByOwnerOnly) {
  ASSERT_EQ(svc::testing::PkiFileNames().size(), 18u);
  for (const std::string& name : svc::testing::PkiFileNames()) {
    struct stat st {};
    ASSERT_EQ(stat(Path(name).c_str(), &st), 0) << name;
    EXPECT_GT(st.st_size, 0) << name;
    bool is_key = name.size() > 4 && name.substr(name.size() - 4) == ".key";
    EXPECT_EQ(st.st_mode & 0777, is_key ? 0600u : 0644u) << name;
  }
}

TEST(Pki, ChainFilesHoldLeafThenIssuer) {
  auto server = Chain("server-chain.pem");
  auto client = Chain("client-chain.pem");
  auto bundle = Chain("bundle.pem");
  ASSERT_EQ(server->certs().size(), 2u);
  EXPECT_EQ(NameOf(server->certs()[0]), "/O=svc test/CN=localhost");
  EXPECT_EQ(NameOf(server->certs()[1]), "/O=svc test/CN=svc test intermediate CA");
  ASSERT_EQ(client->certs().size(), 2u);
  EXPECT_EQ(NameOf(client->certs()[0]), "/O=svc test/CN=svc test client");
  EXPECT_EQ(NameOf(client->certs()[1]), "/O=svc test/CN=svc test root CA");
  ASSERT_EQ(bundle->certs().size(), 2u);
  EXPECT_EQ(NameOf(bundle->certs()[0]), "/O=svc test/CN=svc test root CA");
  EXPECT_EQ(NameOf(bundle->certs()[1]), "/O=svc test/CN=svc test other CA");
}

TEST(Pki, ServerChainVerifiesAgainstRootForServerAuth) {
  auto store = StoreOf("ca.pem");
  EXPECT_EQ(Verify(store->Freeze(), *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
}

TEST(Pki, ServerLeafVerifiesWithIntermediateSuppliedSeparately) {
  auto store = StoreOf("ca.pem");
  auto inter = Chain("inter.pem");
  EXPECT_EQ(Verify(store->Freeze(), *Chain("server.pem"), X509_PURPOSE_SSL_SERVER, inter.get()),
            X509_V_OK);
  // Without the intermediate the leaf cannot reach the root.
  EXPECT_EQ(Verify(store->Freeze(), *Chain("server.pem"), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(Pki, ServerCertificateNamesLocalhostBackendAndLoopbackAddresses) {
  auto server = Chain("server.pem");
  X509* leaf = server->leaf();
  EXPECT_EQ(X509_check_host(leaf, "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf, "backend.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "::1", 0), 1);
  EXPECT_EQ(X509_check_host(leaf, "other.test", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(leaf, "127.0.0.2", 0), 0);
}

TEST(Pki, ExpiredLeafFailsWithCertHasExpired) {
  auto store = StoreOf("ca.pem");
  auto inter = Chain("inter.pem");
  auto expired = Chain("expired.pem");
  EXPECT_EQ(X509_check_host(expired->leaf(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(Verify(store->Freeze(), *expired, X509_PURPOSE_SSL_SERVER, inter.get()),
            X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST(Pki, WrongHostLeafVerifiesButDoesNotNameLocalhost) {
  auto store = StoreOf("ca.pem");
  auto inter = Chain("inter.pem");
  auto wrong = Chain("wrong-host.pem");
  EXPECT_EQ(Verify(store->Freeze(), *wrong, X509_PURPOSE_SSL_SERVER, inter.get()), X509_V_OK);
  EXPECT_EQ(X509_check_host(wrong->leaf(), "localhost", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(wrong->leaf(), "127.0.0.1", 0), 0);
  EXPECT_EQ(X509_check_host(wrong->leaf(), "other.test", 0, 0, nullptr), 1);
}

TEST(Pki, ClientCertificateIsForClientAuthOnly) {
  auto store = StoreOf("ca.pem");
  X509_STORE* x = store->Freeze();
  EXPECT_EQ(Verify(x, *Chain("client.pem"), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(x, *Chain("client-chain.pem"), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(x, *Chain("client.pem"), X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(Verify(x, *Chain("server-chain.pem"), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST(Pki, UnrelatedRootTrustsNothingGenerated) {
  auto store = StoreOf("other-ca.pem");
  X509_STORE* x = store->Freeze();
  EXPECT_EQ(Verify(x, *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(Verify(x, *Chain("client.pem"), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(Pki, BundleTrustsTheRoot) {
  auto store = StoreOf("bundle.pem");
  EXPECT_EQ(Verify(store->Freeze(), *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
}

TEST(Pki, VerifyDepthZeroRejectsTheServerChain) {
  auto store = StoreOf("ca.pem");
  X509_STORE* x = store->Freeze();
  EXPECT_EQ(Verify(x, *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER, nullptr, 0),
            X509_V_ERR_CERT_CHAIN_TOO_LONG);
  EXPECT_EQ(Verify(x, *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER, nullptr, 1), X509_V_OK);
}

TEST(Pki, CertificatesCarryCaFlagsAndKeyIdentifiers) {
  auto root_chain = Chain("ca.pem");
  auto inter_chain = Chain("inter.pem");
  auto server_chain = Chain("server.pem");
  auto client_chain = Chain("client.pem");
  X509* root = root_chain->leaf();
  X509* inter = inter_chain->leaf();
  X509* server = server_chain->leaf();
  X509* client = client_chain->leaf();
  EXPECT_EQ(X509_check_ca(root), 1);
  EXPECT_EQ(X509_check_ca(inter), 1);
  EXPECT_EQ(X509_check_ca(server), 0);
  EXPECT_EQ(X509_check_ca(client), 0);
  EXPECT_EQ(X509_get_pathlen(inter), 0);
  EXPECT_TRUE(X509_get_key_usage(root) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(server) & KU_DIGITAL_SIGNATURE);
  EXPECT_TRUE(X509_get_extended_key_usage(server) & XKU_SSL_SERVER);
  EXPECT_TRUE(X509_get_extended_key_usage(client) & XKU_SSL_CLIENT);
  EXPECT_FALSE(X509_get_extended_key_usage(client) & XKU_SSL_SERVER);
  // Each authority key id is the issuer's subject key id.
  ASSERT_NE(X509_get0_subject_key_id(root), nullptr);
  ASSERT_NE(X509_get0_subject_key_id(inter), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(server), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(root), X509_get0_subject_key_id(root)), 0);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(inter), X509_get0_subject_key_id(root)), 0);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(server), X509_get0_subject_key_id(inter)), 0);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(client), X509_get0_subject_key_id(root)), 0);
}

TEST(Pki, ValidityWindowsAndRandomSerials) {
  const time_t now = std::time(nullptr);
  auto in_window = [now](X509* cert, long from, long to) {
    time_t lo = now + from - 300;
    time_t hi = now + from + 300;
    time_t lo2 = now + to - 300;
    time_t hi2 = now + to + 300;
    return X509_cmp_time(X509_get0_notBefore(cert), &lo) > 0 &&
           X509_cmp_time(X509_get0_notBefore(cert), &hi) < 0 &&
           X509_cmp_time(X509_get0_notAfter(cert), &lo2) > 0 &&
           X509_cmp_time(X509_get0_notAfter(cert), &hi2) < 0;
  };
  const long hour = 3600, day = 24 * hour;
  EXPECT_TRUE(in_window(Chain("ca.pem")->leaf(), -hour, 30 * day));
  EXPECT_TRUE(in_window(Chain("server.pem")->leaf(), -hour, 30 * day));
  EXPECT_TRUE(in_window(Chain("client.pem")->leaf(), -hour, 30 * day));
  EXPECT_TRUE(in_window(Chain("expired.pem")->leaf(), -30 * day, -day));

  std::vector<std::string> serials;
  for (const char* name : {"ca.pem", "other-ca.pem", "inter.pem", "server.pem", "expired.pem",
                           "wrong-host.pem", "client.pem"}) {
    auto chain = Chain(name);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(chain->leaf());
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER) << name << " serial must be positive";
    EXPECT_EQ(ASN1_STRING_length(serial), 16) << name;
    serials.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)),
                         static_cast<size_t>(ASN1_STRING_length(serial)));
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(std::unique(serials.begin(), serials.end()), serials.end());
}

TEST(Pki, EncryptedClientKeyIsPbes2Aes256Cbc) {
  EXPECT_EQ(Read("client-encrypted.key").rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 0), 0u);
  BIO* bio = BIO_new_file(Path("client-encrypted.key").c_str(), "r");
  ASSERT_NE(bio, nullptr);
  X509_SIG* sig = PEM_read_bio_PKCS8(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(sig, nullptr);
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(sig, &alg, nullptr);
  const ASN1_OBJECT* oid = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&oid, &ptype, &pval, alg);
  EXPECT_EQ(OBJ_obj2nid(oid), NID_pbes2);
  ASSERT_EQ(ptype, V_ASN1_SEQUENCE);
  PBE2PARAM* params = static_cast<PBE2PARAM*>(
      ASN1_item_unpack(static_cast<const ASN1_STRING*>(pval), ASN1_ITEM_rptr(PBE2PARAM)));
  ASSERT_NE(params, nullptr);
  EXPECT_EQ(OBJ_obj2nid(params->encryption->algorithm), NID_aes_256_cbc);
  PBE2PARAM_free(params);
  X509_SIG_free(sig);
}

TEST(Pki, EachRunMakesNewKeys) {
  std::string again = PkiEnvironment::dir + "/pki-again";
  Status s = svc::testing::GeneratePki(again);
  ASSERT_TRUE(s.ok()) << s.message();
  std::shared_ptr<const CertChain> other;
  std::ifstream in(again + "/ca.pem");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_TRUE(CertChain::ParsePem(text.str(), &other).ok());
  EXPECT_NE(other->fingerprint(), Chain("ca.pem")->fingerprint());
}

TEST(Pki, UnwritableDirectoryIsAnError) {
  Status s = svc::testing::GeneratePki("/nonexistent-svc-dir/pki");
  EXPECT_EQ(s.code(), Code::internal);
  EXPECT_EQ(s.message(), "pki: cannot create '/nonexistent-svc-dir/pki': No such file or directory");
}

// ---------------------------------------------------------------------------
// CertChain

TEST(CertChain, ParsesEveryCertificateLeafFirst) {
  auto chain = Chain("server-chain.pem");
  ASSERT_EQ(chain->certs().size(), 2u);
  EXPECT_EQ(chain->leaf(), chain->certs()[0]);
  EXPECT_EQ(chain->subject(), "CN=localhost,O=svc test");
  EXPECT_EQ(Chain("server.pem")->certs().size(), 1u);
  EXPECT_EQ(Chain("client.pem")->subject(), "CN=svc test client,O=svc test");
}

TEST(CertChain, FingerprintIsSha256OfTheLeafDerInLowercaseHex) {
  auto chain = Chain("server-chain.pem");
  unsigned char* der = nullptr;
  int len = i2d_X509(chain->leaf(), &der);
  ASSERT_GT(len, 0);
  std::string expected = Sha256Hex(der, static_cast<size_t>(len));
  OPENSSL_free(der);
  EXPECT_EQ(chain->fingerprint(), expected);
  EXPECT_EQ(chain->fingerprint().size(), 64u);
  EXPECT_EQ(chain->fingerprint().find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(CertChain, FingerprintIsStableAndIdentifiesTheLeaf) {
  EXPECT_EQ(Chain("server.pem")->fingerprint(), Chain("server.pem")->fingerprint());
  // Same leaf, with or without the intermediate.
  EXPECT_EQ(Chain("server.pem")->fingerprint(), Chain("server-chain.pem")->fingerprint());
  EXPECT_EQ(Chain("client.pem")->fingerprint(), Chain("client-chain.pem")->fingerprint());
  EXPECT_NE(Chain("server.pem")->fingerprint(), Chain("client.pem")->fingerprint());
  EXPECT_NE(Chain("server.pem")->fingerprint(), Chain("expired.pem")->fingerprint());
}

TEST(CertChain, EmptyOrBlankInputHasNoCertificate) {
  for (const char* pem : {"", " ", "\n\r\n\t"}) {
    Status s = ChainError(pem);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "chain: no certificate found in PEM");
  }
}

TEST(CertChain, RandomBytesHaveNoCertificate) {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    Status s = ChainError(RandomBytes(4096, seed));
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "chain: no certificate found in PEM") << "seed " << seed;
  }
}

TEST(CertChain, PrivateKeyGivenAsChainHasNoCertificate) {
  Status s = ChainError(Read("client.key"));
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "chain: no certificate found in PEM");
}

TEST(CertChain, TruncatedPemReportsOpenSslReason) {
  std::string pem = Read("server-chain.pem");
  Status s = ChainError(pem.substr(0, pem.size() / 2));
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "chain: bad end line");
}

TEST(CertChain, CorruptBase64ReportsOpenSslReason) {
  std::string pem = Read("server-chain.pem");
  pem[100] = '*';
  Status s = ChainError(pem);
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "chain: bad base64 decode");
}

TEST(CertChain, CorruptDerReportsOpenSslReason) {
  // Valid base64 ("hello, world") that is no certificate.
  Status s = ChainError("-----BEGIN CERTIFICATE-----\naGVsbG8sIHdvcmxk\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "chain: bad object header");
}

TEST(CertChain, TrailingJunkIsRejected) {
  Status s = ChainError(Read("server-chain.pem") + "trailing junk\n");
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "chain: unexpected data after the last PEM block");
}

TEST(CertChain, OtherPemBlocksAndLeadingTextAreSkipped) {
  std::shared_ptr<const CertChain> chain;
  // A key stored beside the certificates, and text before a block (openssl x509 -text).
  std::string pem = "subject=CN=localhost\n" + Read("server-chain.pem") + Read("server.key");
  Status s = CertChain::ParsePem(pem, &chain);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(chain->certs().size(), 2u);
  EXPECT_EQ(chain->fingerprint(), Chain("server.pem")->fingerprint());
}

TEST(CertChain, FailureLeavesNoOpenSslErrorAndIgnoresStaleOnes) {
  ERR_raise(ERR_LIB_USER, 42);  // a stale error from elsewhere on this thread
  std::shared_ptr<const CertChain> chain;
  Status s = CertChain::ParsePem(Read("server.pem"), &chain);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ERR_peek_error(), 0ul);

  EXPECT_EQ(ChainError("-----BEGIN CERTIFICATE-----\nAAA*\n-----END CERTIFICATE-----\n").message(), "chain: bad base64 decode");
  EXPECT_EQ(ERR_peek_error(), 0ul);
  EXPECT_EQ(ChainError("nothing").message(), "chain: no certificate found in PEM");
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

TEST(CertChain, ConcurrentParsesGetTheirOwnErrors) {
  const std::string good = Read("server-chain.pem");
  std::string bad = good;
  bad[100] = '*';
  const std::string expected_fp = Chain("server.pem")->fingerprint();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::shared_ptr<const CertChain> chain;
        int kind = (t + i) % 3;
        Status s = CertChain::ParsePem(kind == 0 ? good : kind == 1 ? bad : std::string("junk"),
                                       &chain);
        bool right = kind == 0   ? s.ok() && chain->fingerprint() == expected_fp
                     : kind == 1 ? s.message() == "chain: bad base64 decode"
                                 : s.message() == "chain: no certificate found in PEM";
        if (!right || ERR_peek_error() != 0) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------------------
// PrivateKey

TEST(PrivateKey, FingerprintIsSha256OfThePublicKeyDer) {
  auto key = Key("client.key");
  // The certificate's public key hashes to the same value.
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(X509_get0_pubkey(Chain("client.pem")->leaf()), &der);
  ASSERT_GT(len, 0);
  std::string expected = Sha256Hex(der, static_cast<size_t>(len));
  OPENSSL_free(der);
  EXPECT_EQ(key->fingerprint(), expected);
  EXPECT_EQ(key->fingerprint().size(), 64u);
  EXPECT_EQ(EVP_PKEY_get_base_id(key->pkey()), EVP_PKEY_EC);
}

TEST(PrivateKey, DifferentKeysHaveDifferentFingerprints) {
  EXPECT_NE(Key("client.key")->fingerprint(), Key("client-other.key")->fingerprint());
  EXPECT_NE(Key("client.key")->fingerprint(), Key("server.key")->fingerprint());
}

TEST(PrivateKey, EncryptedKeyOpensWithTheRightPassphrase) {
  auto key = Key("client-encrypted.key", svc::testing::kPkiPassphrase);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->fingerprint(), Key("client.key")->fingerprint());
}

TEST(PrivateKey, WrongPassphraseIsBadDecrypt) {
  for (const char* pass : {"wrong", "", "s3cret "}) {
    Status s = KeyError(Read("client-encrypted.key"), pass);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "key: bad decrypt") << "passphrase '" << pass << "'";
  }
}

TEST(PrivateKey, MissingPassphraseSaysTheKeyIsEncrypted) {
  Status s = KeyError(Read("client-encrypted.key"), nullptr);
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "key: the key is encrypted and no passphrase was given");
}

TEST(PrivateKey, PassphraseLongerThanOpenSslAcceptsIsAnError) {
  std::string pass(100000, 'x');
  Status s = KeyError(Read("client-encrypted.key"), pass.c_str());
  EXPECT_EQ(s.message(), "key: the passphrase is too long");
}

TEST(PrivateKey, PassphraseIsIgnoredForAnUnencryptedKey) {
  EXPECT_EQ(Key("client.key", "unused")->fingerprint(), Key("client.key")->fingerprint());
}

TEST(PrivateKey, TraditionalFormatsParse) {
  auto pkcs8 = Key("client.key");
  for (const char* pass : {static_cast<const char*>(nullptr), "trad"}) {
    BIO* bio = BIO_new(BIO_s_mem());
    const EVP_CIPHER* cipher = pass != nullptr ? EVP_aes_128_cbc() : nullptr;
    int pass_len = pass != nullptr ? static_cast<int>(strlen(pass)) : 0;
    ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(
                  bio, pkcs8->pkey(), cipher,
                  reinterpret_cast<unsigned char*>(const_cast<char*>(pass)), pass_len, nullptr,
                  nullptr),
              1);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(len));
    BIO_free(bio);
    EXPECT_EQ(pem.rfind("-----BEGIN EC PRIVATE KEY-----\n", 0), 0u);
    std::shared_ptr<const PrivateKey> key;
    Status s = PrivateKey::ParsePem(pem, pass, &key);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(key->fingerprint(), pkcs8->fingerprint());
    if (pass != nullptr) {
      EXPECT_EQ(KeyError(pem, nullptr).message(),
                "key: the key is encrypted and no passphrase was given");
      EXPECT_EQ(KeyError(pem, "nope").message(), "key: bad decrypt");
    }
  }
}

TEST(PrivateKey, KeyAfterACertificateIsFound) {
  std::shared_ptr<const PrivateKey> key;
  Status s = PrivateKey::ParsePem(Read("client.pem") + Read("client-encrypted.key"),
                                  svc::testing::kPkiPassphrase, &key);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(key->fingerprint(), Key("client.key")->fingerprint());
}

TEST(PrivateKey, InputWithoutAKeyHasNoPrivateKey) {
  std::vector<std::string> inputs = {"", "\n", "not pem at all", Read("client.pem"),
                                     Read("server-chain.pem"), RandomBytes(2048, 7)};
  for (const std::string& pem : inputs) {
    Status s = KeyError(pem);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "key: no private key found in PEM");
  }
}

TEST(PrivateKey, MalformedKeyReportsOpenSslReason) {
  std::string pem = Read("client.key");
  EXPECT_EQ(KeyError(pem.substr(0, pem.size() - 40)).message(), "key: bad end line");
  std::string bad = pem;
  bad[60] = '*';
  EXPECT_EQ(KeyError(bad).message(), "key: bad base64 decode");
  EXPECT_EQ(KeyError("-----BEGIN PRIVATE KEY-----\naGVsbG8sIHdvcmxk\n-----END PRIVATE KEY-----\n")
                .code(),
            Code::invalid);
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

// ---------------------------------------------------------------------------
// CheckKeyMatchesChain

TEST(CheckKeyMatchesChain, AcceptsTheLeafsOwnKey) {
  EXPECT_TRUE(CheckKeyMatchesChain(*Chain("client.pem"), *Key("client.key")).ok());
  EXPECT_TRUE(CheckKeyMatchesChain(*Chain("client-chain.pem"),
                                   *Key("client-encrypted.key", svc::testing::kPkiPassphrase))
                  .ok());
  EXPECT_TRUE(CheckKeyMatchesChain(*Chain("server-chain.pem"), *Key("server.key")).ok());
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

TEST(CheckKeyMatchesChain, MismatchNamesTheCertificate) {
  Status s = CheckKeyMatchesChain(*Chain("client.pem"), *Key("client-other.key"));
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "key does not match the certificate 'CN=svc test client,O=svc test'");
  // The intermediate's key does not make the server chain match either.
  s = CheckKeyMatchesChain(*Chain("server-chain.pem"), *Key("inter.key"));
  EXPECT_EQ(s.message(), "key does not match the certificate 'CN=localhost,O=svc test'");
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

// ---------------------------------------------------------------------------
// TrustStore

TEST(TrustStore, IdsAreUniquePerStore) {
  auto a = NewStore();
  auto b = NewStore();
  auto c = NewStore();
  EXPECT_NE(a->id(), 0u);
  EXPECT_NE(a->id(), b->id());
  EXPECT_NE(b->id(), c->id());
  EXPECT_NE(a->id(), c->id());
  EXPECT_EQ(a->count(), 0u);
}

TEST(TrustStore, AddPemAddsEveryCertificate) {
  auto store = NewStore();
  ASSERT_TRUE(store->AddPem(Read("bundle.pem")).ok());
  EXPECT_EQ(store->count(), 2u);
}

TEST(TrustStore, DuplicatesAreAcceptedAndCountedOnce) {
  auto store = NewStore();
  ASSERT_TRUE(store->AddPem(Read("ca.pem")).ok());
  Status s = store->AddPem(Read("ca.pem"));
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(store->count(), 1u);
  ASSERT_TRUE(store->AddPem(Read("bundle.pem")).ok());
  EXPECT_EQ(store->count(), 2u);
}

TEST(TrustStore, InputWithoutCertificateFailsAndLeavesStoreUnchanged) {
  auto store = NewStore();
  ASSERT_TRUE(store->AddPem(Read("ca.pem")).ok());
  for (const std::string& pem : {std::string(), Read("ca.key"), RandomBytes(512, 3)}) {
    Status s = store->AddPem(pem);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "store: no certificate found in PEM");
  }
  EXPECT_EQ(store->count(), 1u);
}

TEST(TrustStore, BadBlockAddsNothingAtAll) {
  // The first certificate is fine, the second is corrupt: neither goes in.
  std::string pem = Read("bundle.pem");
  pem[Read("ca.pem").size() + 100] = '*';
  auto store = NewStore();
  Status s = store->AddPem(pem);
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "store: bad base64 decode");
  EXPECT_EQ(store->count(), 0u);
  EXPECT_EQ(Verify(store->Freeze(), *Chain("client.pem"), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

  auto junk = NewStore();
  EXPECT_EQ(junk->AddPem(Read("ca.pem") + "junk").message(),
            "store: unexpected data after the last PEM block");
  EXPECT_EQ(junk->count(), 0u);
}

TEST(TrustStore, LoadFileReadsABundle) {
  auto store = NewStore();
  Status s = store->LoadFile(Path("bundle.pem"));
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(store->count(), 2u);
}

TEST(TrustStore, LoadFileErrorsNameThePathAndReason) {
  auto store = NewStore();
  std::string missing = Path("missing.pem");
  Status s = store->LoadFile(missing);
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "store: cannot open '" + missing + "': No such file or directory");

  std::string dir = EmptyDir("a-directory");
  s = store->LoadFile(dir);
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "store: cannot read '" + dir + "': Is a directory");

  s = store->LoadFile(Path("client.key"));
  EXPECT_EQ(s.message(), "store: no certificate found in PEM");
  EXPECT_EQ(store->count(), 0u);
}

TEST(TrustStore, LoadSystemUsesTheSystemStore) {
  auto store = NewStore();
  Status s = store->LoadSystem();
  ASSERT_TRUE(s.ok()) << s.message();
  const char* file = std::getenv(X509_get_default_cert_file_env());
  std::string bundle = file != nullptr ? file : X509_get_default_cert_file();
  std::error_code ec;
  if (fs::is_regular_file(bundle, ec) && fs::file_size(bundle, ec) > 0) {
    EXPECT_GT(store->count(), 0u);
  }
  // The test root is not a system root.
  EXPECT_EQ(Verify(store->Freeze(), *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(TrustStore, LoadSystemHonoursSslCertFile) {
  ScopedEnv file(X509_get_default_cert_file_env(), Path("bundle.pem"));
  ScopedEnv dir(X509_get_default_cert_dir_env(), EmptyDir("empty-cert-dir"));
  auto store = NewStore();
  Status s = store->LoadSystem();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(store->count(), 2u);
  EXPECT_EQ(Verify(store->Freeze(), *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
}

TEST(TrustStore, LoadSystemWithNoSystemStoreFailsAndLeavesStoreUnchanged) {
  ScopedEnv file(X509_get_default_cert_file_env(), Path("missing.pem"));
  ScopedEnv dir(X509_get_default_cert_dir_env(), EmptyDir("empty-cert-dir"));
  auto store = NewStore();
  ASSERT_TRUE(store->AddPem(Read("other-ca.pem")).ok());
  Status s = store->LoadSystem();
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), "store: no system trust store found");
  EXPECT_EQ(store->count(), 1u);
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

TEST(TrustStore, FreezeStopsEveryChange) {
  auto store = NewStore();
  ASSERT_TRUE(store->AddPem(Read("ca.pem")).ok());
  X509_STORE* x = store->Freeze();
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(store->Freeze(), x);
  const std::string frozen = "store: trust store is in use and can no longer change";
  Status s = store->AddPem(Read("other-ca.pem"));
  EXPECT_EQ(s.code(), Code::invalid);
  EXPECT_EQ(s.message(), frozen);
  EXPECT_EQ(store->LoadFile(Path("bundle.pem")).message(), frozen);
  EXPECT_EQ(store->LoadFile(Path("missing.pem")).message(), frozen);
  EXPECT_EQ(store->LoadSystem().message(), frozen);
  EXPECT_EQ(store->count(), 1u);
  EXPECT_EQ(Verify(x, *Chain("server-chain.pem"), X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

TEST(TrustStore, ConcurrentAddsAreSafe) {
  auto store = NewStore();
  const std::string ca = Read("ca.pem");
  const std::string bundle = Read("bundle.pem");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (!store->AddPem(t % 2 == 0 ? ca : bundle).ok()) ++failures;
        (void)store->count();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store->count(), 2u);
}

TEST(TrustStore, FreezeRacingAddsEitherAddsOrRefuses) {
  auto store = NewStore();
  const std::string ca = Read("ca.pem");
  std::atomic<int> unexpected{0};
  std::thread adder([&] {
    for (int i = 0; i < 200; ++i) {
      Status s = store->AddPem(ca);
      if (!s.ok() && s.message() != "store: trust store is in use and can no longer change") {
        ++unexpected;
      }
    }
  });
  X509_STORE* x = store->Freeze();
  adder.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(store->Freeze(), x);
  EXPECT_LE(store->count(), 1u);
}

}  // namespace
}  // namespace svc::tls
