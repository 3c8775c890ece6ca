// PrivateKey: a PEM private key (optionally encrypted) parsed into an EVP_PKEY.
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls/tls.h"

namespace svc::tls {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// What OpenSSL asked for while decoding: `asked` tells an encrypted key apart
// from a missing one when decoding fails.
struct PassphraseRequest {
  const char* passphrase = nullptr;
  bool asked = false;
  bool too_long = false;
};

// Supplies the caller's passphrase; with none it returns 0 so OpenSSL never
// falls back to prompting on the terminal.
int SupplyPassphrase(char* buf, int size, int /*rwflag*/, void* userdata) {
  auto* req = static_cast<PassphraseRequest*>(userdata);
  req->asked = true;
  if (req->passphrase == nullptr) return 0;
  size_t len = std::strlen(req->passphrase);
  if (size <= 0 || len > static_cast<size_t>(size)) {
    req->too_long = true;
    return -1;
  }
  std::memcpy(buf, req->passphrase, len);
  return static_cast<int>(len);
}

bool IsNoStartLine(unsigned long err) {
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

// PEM labels of private keys: "PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
// "RSA PRIVATE KEY", "EC PRIVATE KEY", ...
bool IsPrivateKeyLabel(std::string_view label) {
  constexpr std::string_view kSuffix = "PRIVATE KEY";
  return label.size() >= kSuffix.size() &&
         label.substr(label.size() - kSuffix.size()) == kSuffix;
}

// Walks the PEM blocks before decoding: OpenSSL 3's key decoder reports
// "unsupported" for anything it cannot read, so "no key here" and "malformed
// PEM" are told apart from the PEM layer itself.
Status FindPrivateKeyBlock(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error(Code::no_memory, "key: out of memory");
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    int ok = PEM_read_bio(bio.get(), &name, &header, &data, &len);
    bool is_key = ok && IsPrivateKeyLabel(name);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (is_key) break;
    if (!ok) {
      unsigned long err = ERR_peek_last_error();
      if (err == 0 || IsNoStartLine(err)) {
        return Error(Code::invalid, "key: no private key found in PEM");
      }
      return Error(Code::invalid, "key: " + detail::LastOpenSslReason("malformed PEM"));
    }
  }
  ERR_clear_error();
  return Status::Ok();
}

}  // namespace

PrivateKey::~PrivateKey() { EVP_PKEY_free(pkey_); }

Status PrivateKey::ParsePem(std::string_view pem, const char* passphrase,
                            std::shared_ptr<const PrivateKey>* out) {
  detail::OpenSslErrorScope errors;
  if (pem.size() > static_cast<size_t>(INT_MAX)) {
    return Error(Code::invalid, "key: PEM input is too large");
  }
  SVC_TRY(FindPrivateKeyBlock(pem));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error(Code::no_memory, "key: out of memory");

  PassphraseRequest req;
  req.passphrase = passphrase;
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, SupplyPassphrase, &req));
  if (!pkey) {
    if (req.asked && passphrase == nullptr) {
      return Error(Code::invalid, "key: the key is encrypted and no passphrase was given");
    }
    if (req.too_long) return Error(Code::invalid, "key: the passphrase is too long");
    if (req.asked) {
      // Decryption failed: a wrong passphrase, whatever layer reported it.
      return Error(Code::invalid, "key: bad decrypt");
    }
    unsigned long err = ERR_peek_last_error();
    if (err == 0 || IsNoStartLine(err)) {
      return Error(Code::invalid, "key: no private key found in PEM");
    }
    return Error(Code::invalid, "key: " + detail::LastOpenSslReason("malformed private key"));
  }

  unsigned char* der = nullptr;
  int der_len = i2d_PUBKEY(pkey.get(), &der);
  if (der_len <= 0) {
    return Error(Code::invalid, "key: cannot encode the public key: " +
                                    detail::LastOpenSslReason("encoding failed"));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  int hashed = EVP_Digest(der, static_cast<size_t>(der_len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (hashed != 1) {
    return Error(Code::internal, "key: cannot hash the public key: " +
                                     detail::LastOpenSslReason("digest failed"));
  }

  std::shared_ptr<PrivateKey> key(new PrivateKey());
  key->pkey_ = pkey.release();
  key->fingerprint_ = detail::HexLower(md, md_len);
  *out = std::move(key);
  return Status::Ok();
}

Status CheckKeyMatchesChain(const CertChain& chain, const PrivateKey& key) {
  detail::OpenSslErrorScope errors;
  if (X509_check_private_key(chain.leaf(), key.pkey()) != 1) {
    return Error(Code::invalid, "key does not match the certificate '" + chain.subject() + "'");
  }
  return Status::Ok();
}

}  // namespace svc::tls
