// CertChain: a PEM certificate chain parsed into X509 objects, plus the
// PEM helpers the trust store shares.
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tls/tls.h"

namespace svc::tls {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Certificates are never encrypted in practice; a PEM block that says it is
// must fail instead of prompting on the terminal (OpenSSL's default).
int NoPassphrase(char*, int, int, void*) { return 0; }

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

bool IsNoStartLine(unsigned long err) {
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

// True when `rest` holds only well-formed PEM blocks (of any type), with at
// most free text before each: OpenSSL skips such text, so only text after the
// last block counts as junk.
bool OnlyPemBlocks(std::string_view rest) {
  BioPtr bio(BIO_new_mem_buf(rest.data(), static_cast<int>(rest.size())));
  if (!bio) return false;
  for (;;) {
    size_t left = BIO_ctrl_pending(bio.get());
    if (IsBlank(rest.substr(rest.size() - left))) return true;
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    int ok = PEM_read_bio(bio.get(), &name, &header, &data, &len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (!ok) return false;
  }
}

}  // namespace

namespace detail {

OpenSslErrorScope::OpenSslErrorScope() { ERR_clear_error(); }
OpenSslErrorScope::~OpenSslErrorScope() { ERR_clear_error(); }

std::string LastOpenSslReason(const char* fallback) {
  // Newest first, skipping the generic "ASN1 lib"-style wrappers that outer
  // layers add on top of the error that says what was wrong.
  std::vector<unsigned long> queue;
  while (unsigned long err = ERR_get_error()) queue.push_back(err);
  if (queue.empty()) return fallback;
  unsigned long chosen = queue.back();
  for (auto it = queue.rbegin(); it != queue.rend(); ++it) {
    if (!ERR_COMMON_ERROR(*it)) {
      chosen = *it;
      break;
    }
  }
  const char* reason = ERR_reason_error_string(chosen);
  if (reason != nullptr && *reason != '\0') return reason;
  char buf[256];
  ERR_error_string_n(chosen, buf, sizeof buf);
  return buf;
}

std::string HexLower(const unsigned char* data, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0f]);
  }
  return out;
}

Status ParseCertificatesPem(std::string_view pem, const char* what, std::vector<X509Ptr>* out) {
  OpenSslErrorScope errors;
  const std::string prefix = std::string(what) + ": ";
  const Status none = Error(Code::invalid, prefix + "no certificate found in PEM");
  if (pem.size() > static_cast<size_t>(INT_MAX)) {
    return Error(Code::invalid, prefix + "PEM input is too large");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error(Code::no_memory, prefix + "out of memory");

  std::vector<X509Ptr> certs;
  for (;;) {
    const std::string_view rest = pem.substr(pem.size() - BIO_ctrl_pending(bio.get()));
    if (IsBlank(rest)) break;
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr);
    if (cert != nullptr) {
      certs.emplace_back(cert);
      continue;
    }
    if (!IsNoStartLine(ERR_peek_last_error())) {
      return Error(Code::invalid, prefix + LastOpenSslReason("malformed certificate"));
    }
    // No further certificate: what is left is other PEM blocks or junk.
    if (certs.empty()) return none;
    if (!OnlyPemBlocks(rest)) {
      return Error(Code::invalid, prefix + "unexpected data after the last PEM block");
    }
    break;
  }
  if (certs.empty()) return none;
  *out = std::move(certs);
  return Status::Ok();
}

}  // namespace detail

CertChain::~CertChain() {
  for (X509* cert : certs_) X509_free(cert);
}

Status CertChain::ParsePem(std::string_view pem, std::shared_ptr<const CertChain>* out) {
  std::vector<detail::X509Ptr> certs;
  SVC_TRY(detail::ParseCertificatesPem(pem, "chain", &certs));

  detail::OpenSslErrorScope errors;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(certs.front().get(), EVP_sha256(), md, &md_len) != 1) {
    return Error(Code::internal, "chain: cannot hash the certificate: " +
                                     detail::LastOpenSslReason("digest failed"));
  }

  std::shared_ptr<CertChain> chain(new CertChain());
  chain->certs_.reserve(certs.size());
  for (auto& cert : certs) chain->certs_.push_back(cert.release());
  chain->fingerprint_ = detail::HexLower(md, md_len);
  *out = std::move(chain);
  return Status::Ok();
}

std::string CertChain::subject() const {
  detail::OpenSslErrorScope errors;
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  // RFC 2253 order, but UTF-8 kept readable instead of \XX escapes.
  const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(leaf()), 0, flags) < 0) return {};
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace svc::tls
