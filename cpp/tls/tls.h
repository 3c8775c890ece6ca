// tls: TLS material as real OpenSSL objects. Immutable once built (a trust
// store is frozen by its first use), shared by reference count, so a C
// handle may be freed while requests still hold the object.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/status.h"

namespace svc::tls {

// A parsed PEM certificate chain: leaf first, then intermediates.
class CertChain {
 public:
  ~CertChain();
  // Code::invalid with the reason, e.g. "chain: no certificate found in PEM",
  // or OpenSSL's reason for a malformed block.
  static Status ParsePem(std::string_view pem, std::shared_ptr<const CertChain>* out);

  X509* leaf() const { return certs_.front(); }
  const std::vector<X509*>& certs() const { return certs_; }
  // SHA-256 of the leaf's DER, lowercase hex: the identity used in pool keys.
  const std::string& fingerprint() const { return fingerprint_; }
  // The leaf's subject, one line, for logs and messages.
  std::string subject() const;

 private:
  CertChain() = default;
  std::vector<X509*> certs_;  // owned, freed in the destructor
  std::string fingerprint_;
};

// A parsed PEM private key (PKCS#8, traditional RSA/EC, optionally encrypted).
class PrivateKey {
 public:
  ~PrivateKey();
  // Code::invalid: "key: no private key found in PEM", "key: bad decrypt"
  // (wrong passphrase), "key: the key is encrypted and no passphrase was
  // given", or OpenSSL's reason. A NULL passphrase never prompts.
  static Status ParsePem(std::string_view pem, const char* passphrase,
                         std::shared_ptr<const PrivateKey>* out);

  EVP_PKEY* pkey() const { return pkey_; }
  // SHA-256 of the public key's DER, lowercase hex.
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  PrivateKey() = default;
  EVP_PKEY* pkey_ = nullptr;
  std::string fingerprint_;
};

// Code::invalid "key does not match the certificate '<subject>'" unless the
// key is the private half of the chain's leaf.
Status CheckKeyMatchesChain(const CertChain& chain, const PrivateKey& key);

// A set of trusted CA certificates (an X509_STORE).
class TrustStore {
 public:
  ~TrustStore();
  static Status New(std::shared_ptr<TrustStore>* out);

  // Each adds certificates; Code::invalid with the reason on a bad input
  // ("store: no certificate found in PEM", "store: cannot open '<path>': No
  // such file or directory"); the store is unchanged on error. Code::invalid
  // "store: trust store is in use and can no longer change" once frozen.
  Status AddPem(std::string_view pem);
  Status LoadFile(const std::string& path);
  Status LoadSystem();

  // Freezes the store (no more additions) and returns it for use by a handshake.
  X509_STORE* Freeze() const;
  // Unique per store object: the identity used in pool keys.
  uint64_t id() const { return id_; }
  // Distinct certificates held (a duplicate adds nothing); certificates that
  // the system's hashed directory supplies on demand are not counted.
  size_t count() const;

 private:
  TrustStore() = default;
  X509_STORE* store_ = nullptr;
  uint64_t id_ = 0;
  mutable std::mutex mu_;
  mutable bool frozen_ = false;
  size_t count_ = 0;
};

namespace detail {

// RAII owners for the OpenSSL objects this module hands around.
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Clears this thread's OpenSSL error queue on entry and on exit, so no error
// leaks into (or out of) a call.
class OpenSslErrorScope {
 public:
  OpenSslErrorScope();
  ~OpenSslErrorScope();
  OpenSslErrorScope(const OpenSslErrorScope&) = delete;
  OpenSslErrorScope& operator=(const OpenSslErrorScope&) = delete;
};

// OpenSSL's reason string for the most recent specific error queued on this
// thread ("bad base64 decode"; generic wrappers such as "ASN1 lib" are passed
// over), or `fallback` when the queue is empty. Drains the queue.
std::string LastOpenSslReason(const char* fallback);

// Lowercase hex of `len` bytes.
std::string HexLower(const unsigned char* data, size_t len);

// Every CERTIFICATE block of `pem`, in order. Messages start with `what`
// ("chain", "store"): "<what>: no certificate found in PEM", "<what>: bad
// base64 decode", "<what>: unexpected data after the last PEM block".
// Other PEM blocks (a key stored beside the certificates) are skipped.
Status ParseCertificatesPem(std::string_view pem, const char* what, std::vector<X509Ptr>* out);

}  // namespace detail

}  // namespace svc::tls
