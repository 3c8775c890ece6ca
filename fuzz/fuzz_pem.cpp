// fuzz_pem: PEM certificate chains, private keys (plain, PKCS#8, encrypted)
// and trust store bundles, through the tls/ classes that
// svc_cert_chain_parse_pem, svc_private_key_parse_pem and
// svc_trust_store_add_pem wrap. Every input goes to all three parsers.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tls/tls.h"

using namespace svc;

namespace {

// The passphrase of the encrypted keys in corpus/pem.
constexpr const char* kPassphrase = "svc-fuzz";

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void CheckInvalid(const Status& st, const std::string& prefix) {
  FUZZ_CHECK(st.code() == Code::invalid || st.code() == Code::no_memory, st.message());
  FUZZ_CHECK(st.message().size() > prefix.size() && st.message().compare(0, prefix.size(), prefix) == 0,
             st.message());
}

std::shared_ptr<const tls::PrivateKey> ParseKey(std::string_view pem, const char* passphrase) {
  std::shared_ptr<const tls::PrivateKey> key;
  const Status st = tls::PrivateKey::ParsePem(pem, passphrase, &key);
  if (!st.ok()) {
    CheckInvalid(st, "key: ");
    FUZZ_CHECK(!key, "a rejected key was returned");
    return nullptr;
  }
  FUZZ_CHECK(key && key->pkey(), "accepted key without EVP_PKEY");
  FUZZ_CHECK(IsHex64(key->fingerprint()), key->fingerprint());
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view pem(reinterpret_cast<const char*>(data), size);

  std::shared_ptr<const tls::CertChain> chain;
  const Status chain_st = tls::CertChain::ParsePem(pem, &chain);
  if (chain_st.ok()) {
    FUZZ_CHECK(chain && !chain->certs().empty() && chain->leaf() == chain->certs().front(), "empty chain");
    FUZZ_CHECK(IsHex64(chain->fingerprint()), chain->fingerprint());
    (void)chain->subject();
  } else {
    CheckInvalid(chain_st, "chain: ");
    FUZZ_CHECK(!chain, "a rejected chain was returned");
  }

  auto plain = ParseKey(pem, nullptr);
  auto decrypted = ParseKey(pem, kPassphrase);
  // An unencrypted key does not need the passphrase and ignores it.
  if (plain) FUZZ_CHECK(decrypted && decrypted->fingerprint() == plain->fingerprint(), "passphrase changed the key");
  if (chain) {
    for (const auto& key : {plain, decrypted}) {
      if (!key) continue;
      const Status st = tls::CheckKeyMatchesChain(*chain, *key);
      if (!st.ok()) CheckInvalid(st, "key does not match the certificate '");
    }
  }

  // The store reads certificates with the chain's code: both accept or both
  // refuse, for the same reason.
  std::shared_ptr<tls::TrustStore> store;
  FUZZ_CHECK(tls::TrustStore::New(&store).ok(), "TrustStore::New failed");
  const Status store_st = store->AddPem(pem);
  if (store_st.ok()) {
    FUZZ_CHECK(chain_st.ok(), "store accepted what the chain refused: " + chain_st.message());
    FUZZ_CHECK(store->count() >= 1 && store->count() <= chain->certs().size(), std::to_string(store->count()));
  } else {
    CheckInvalid(store_st, "store: ");
    FUZZ_CHECK(store->count() == 0, "a failed add changed the store");
    FUZZ_CHECK(!chain_st.ok() && chain_st.message().substr(7) == store_st.message().substr(7),
               chain_st.message() + " vs " + store_st.message());
  }
  // Frozen by its first use: later additions fail and change nothing.
  const size_t before = store->count();
  store->Freeze();
  const Status frozen = store->AddPem(pem);
  FUZZ_CHECK(frozen.code() == Code::invalid &&
                 frozen.message() == "store: trust store is in use and can no longer change",
             frozen.message());
  FUZZ_CHECK(store->count() == before, "a frozen store changed");
  return 0;
}
