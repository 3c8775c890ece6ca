// Self-signed server identity, built in-process with the OpenSSL 3 API like
// the rest of the test PKI (pki.cpp keeps its helpers private).
#include "support/pki_extra.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace svc::testing {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ExtFree>;

constexpr long kHour = 3600;
constexpr long kDay = 24 * kHour;

Status SslError(const std::string& step) {
  unsigned long err = ERR_peek_last_error();
  const char* reason = err != 0 ? ERR_reason_error_string(err) : nullptr;
  std::string message =
      "pki: self-signed: " + step + ": " + (reason != nullptr ? reason : "unknown error");
  ERR_clear_error();
  return Error(Code::internal, message);
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return SslError(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return Status::Ok();
}

Status Build(EVP_PKEY* key, X509* x) {
  if (X509_set_version(x, X509_VERSION_3) != 1) return SslError("set the version");
  // A positive 127-bit random serial, as RFC 5280 recommends.
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return SslError("random serial");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) == nullptr) {
    return SslError("set the serial number");
  }
  if (X509_gmtime_adj(X509_getm_notBefore(x), -kHour) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), 30 * kDay) == nullptr) {
    return SslError("set the validity");
  }
  X509_NAME* name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("svc test self-signed"),
                                 -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                                 0) != 1) {
    return SslError("set the subject");
  }
  if (X509_set_issuer_name(x, name) != 1) return SslError("set the issuer");
  if (X509_set_pubkey(x, key) != 1) return SslError("set the public key");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  SVC_TRY(AddExtension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  SVC_TRY(AddExtension(x, &ctx, NID_key_usage, "critical,digitalSignature"));
  SVC_TRY(AddExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  SVC_TRY(AddExtension(x, &ctx, NID_ext_key_usage, "serverAuth"));
  SVC_TRY(AddExtension(x, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"));
  if (X509_sign(x, key, EVP_sha256()) <= 0) return SslError("sign");
  return Status::Ok();
}

Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0 || fchmod(fd, mode) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    return Error(Code::internal, "pki: cannot write '" + path + "': " + std::strerror(err));
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return Error(Code::internal, "pki: cannot write '" + path + "': " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    return Error(Code::internal, "pki: cannot write '" + path + "': " + std::strerror(errno));
  }
  return Status::Ok();
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

Status Generate(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error(Code::internal, "pki: cannot create '" + dir + "': " + std::strerror(errno));
  }
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return SslError("generate an EC P-256 key");
  X509Ptr cert(X509_new());
  if (!cert) return SslError("allocate a certificate");
  SVC_TRY(Build(key.get(), cert.get()));

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return SslError("write the certificate");
  }
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                                           nullptr, nullptr) != 1) {
    return SslError("write the key");
  }
  SVC_TRY(WriteFile(dir + "/self-signed.pem", BioText(cert_bio.get()), 0644));
  return WriteFile(dir + "/self-signed.key", BioText(key_bio.get()), 0600);
}

}  // namespace

const std::vector<std::string>& SelfSignedFileNames() {
  static const std::vector<std::string> kNames = {"self-signed.pem", "self-signed.key"};
  return kNames;
}

Status GenerateSelfSigned(const std::string& dir) {
  ERR_clear_error();
  Status status = Generate(dir);
  ERR_clear_error();
  return status;
}

}  // namespace svc::testing
