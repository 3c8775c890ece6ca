// Throwaway test PKI: everything built in-process with the OpenSSL 3 API.
#include "support/pki.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
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

// Fails with the step and OpenSSL's reason, and leaves the error queue empty.
Status SslError(const std::string& step) {
  unsigned long err = ERR_peek_last_error();
  const char* reason = err != 0 ? ERR_reason_error_string(err) : nullptr;
  std::string message = "pki: " + step + ": " + (reason != nullptr ? reason : "unknown error");
  ERR_clear_error();
  return Error(Code::internal, message);
}

struct Identity {
  PkeyPtr key;
  X509Ptr cert;
};

struct CertSpec {
  std::string common_name;
  const char* basic_constraints = "critical,CA:FALSE";
  const char* key_usage = "critical,digitalSignature";
  const char* extended_key_usage = nullptr;  // e.g. "serverAuth"
  const char* subject_alt_name = nullptr;    // e.g. "DNS:localhost,IP:127.0.0.1"
  long not_before = -kHour;                  // seconds from now
  long not_after = 30 * kDay;
};

Status NewKey(PkeyPtr* out) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return SslError("generate an EC P-256 key");
  *out = std::move(key);
  return Status::Ok();
}

// A positive 127-bit random serial, as RFC 5280 recommends (unpredictable, <= 20 octets).
Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return SslError("random serial");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return SslError("set the serial number");
  }
  return Status::Ok();
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return SslError(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return Status::Ok();
}

// Issues a certificate for a fresh key; `issuer` null makes it self-signed.
Status Issue(const CertSpec& spec, const Identity* issuer, Identity* out) {
  PkeyPtr key;
  SVC_TRY(NewKey(&key));
  X509Ptr cert(X509_new());
  if (!cert) return SslError("allocate a certificate");
  X509* x = cert.get();
  if (X509_set_version(x, X509_VERSION_3) != 1) return SslError("set the version");
  SVC_TRY(SetRandomSerial(x));
  if (X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after) == nullptr) {
    return SslError("set the validity");
  }

  X509_NAME* name = X509_get_subject_name(x);
  auto add_entry = [name](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                      -1, 0) == 1;
  };
  if (!add_entry("O", "svc test") || !add_entry("CN", spec.common_name)) {
    return SslError("set the subject");
  }
  X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer->cert.get()) : name;
  if (X509_set_issuer_name(x, issuer_name) != 1) return SslError("set the issuer");
  if (X509_set_pubkey(x, key.get()) != 1) return SslError("set the public key");

  // The subject key id goes in first: a self-signed certificate's authority
  // key id is read from it.
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->cert.get() : x, x, nullptr, nullptr, 0);
  SVC_TRY(AddExtension(x, &ctx, NID_basic_constraints, spec.basic_constraints));
  SVC_TRY(AddExtension(x, &ctx, NID_key_usage, spec.key_usage));
  SVC_TRY(AddExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  SVC_TRY(AddExtension(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (spec.extended_key_usage != nullptr) {
    SVC_TRY(AddExtension(x, &ctx, NID_ext_key_usage, spec.extended_key_usage));
  }
  if (spec.subject_alt_name != nullptr) {
    SVC_TRY(AddExtension(x, &ctx, NID_subject_alt_name, spec.subject_alt_name));
  }

  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : key.get();
  if (X509_sign(x, signer, EVP_sha256()) <= 0) return SslError("sign " + spec.common_name);
  out->key = std::move(key);
  out->cert = std::move(cert);
  return Status::Ok();
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

Status CertPem(const X509* cert, std::string* out) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return SslError("write a certificate");
  *out += BioText(bio.get());
  return Status::Ok();
}

// PKCS#8; encrypted with PBES2 AES-256-CBC when `passphrase` is given.
Status KeyPem(const EVP_PKEY* key, const char* passphrase, std::string* out) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return SslError("write a key");
  int ok = passphrase != nullptr
               ? PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), passphrase,
                                               static_cast<int>(std::strlen(passphrase)),
                                               nullptr, nullptr)
               : PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  if (ok != 1) return SslError("write a key");
  *out += BioText(bio.get());
  return Status::Ok();
}

Status WriteFile(const std::string& dir, const std::string& name, const std::string& text,
                 mode_t mode) {
  const std::string path = dir + "/" + name;
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

// Writes `name` holding the certificates, in the order given.
Status WriteCerts(const std::string& dir, const std::string& name,
                  std::initializer_list<const Identity*> certs) {
  std::string text;
  for (const Identity* id : certs) SVC_TRY(CertPem(id->cert.get(), &text));
  return WriteFile(dir, name, text, 0644);
}

Status WriteKey(const std::string& dir, const std::string& name, const EVP_PKEY* key,
                const char* passphrase = nullptr) {
  std::string text;
  SVC_TRY(KeyPem(key, passphrase, &text));
  return WriteFile(dir, name, text, 0600);
}

Status Generate(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error(Code::internal, "pki: cannot create '" + dir + "': " + std::strerror(errno));
  }

  CertSpec root_spec;
  root_spec.common_name = "svc test root CA";
  root_spec.basic_constraints = "critical,CA:TRUE";
  root_spec.key_usage = "critical,keyCertSign,cRLSign";
  Identity root;
  SVC_TRY(Issue(root_spec, nullptr, &root));

  CertSpec other_spec = root_spec;
  other_spec.common_name = "svc test other CA";
  Identity other;
  SVC_TRY(Issue(other_spec, nullptr, &other));

  CertSpec inter_spec = root_spec;
  inter_spec.common_name = "svc test intermediate CA";
  inter_spec.basic_constraints = "critical,CA:TRUE,pathlen:0";
  Identity inter;
  SVC_TRY(Issue(inter_spec, &root, &inter));

  CertSpec server_spec;
  server_spec.common_name = "localhost";
  server_spec.extended_key_usage = "serverAuth";
  server_spec.subject_alt_name = "DNS:localhost,DNS:backend.test,IP:127.0.0.1,IP:::1";
  Identity server;
  SVC_TRY(Issue(server_spec, &inter, &server));

  CertSpec expired_spec = server_spec;
  expired_spec.subject_alt_name = "DNS:localhost";
  expired_spec.not_before = -30 * kDay;
  expired_spec.not_after = -kDay;
  Identity expired;
  SVC_TRY(Issue(expired_spec, &inter, &expired));

  CertSpec wrong_spec = server_spec;
  wrong_spec.common_name = "other.test";
  wrong_spec.subject_alt_name = "DNS:other.test";
  Identity wrong;
  SVC_TRY(Issue(wrong_spec, &inter, &wrong));

  CertSpec client_spec;
  client_spec.common_name = "svc test client";
  client_spec.extended_key_usage = "clientAuth";
  Identity client;
  SVC_TRY(Issue(client_spec, &root, &client));

  PkeyPtr client_other;
  SVC_TRY(NewKey(&client_other));

  SVC_TRY(WriteCerts(dir, "ca.pem", {&root}));
  SVC_TRY(WriteKey(dir, "ca.key", root.key.get()));
  SVC_TRY(WriteCerts(dir, "other-ca.pem", {&other}));
  SVC_TRY(WriteCerts(dir, "inter.pem", {&inter}));
  SVC_TRY(WriteKey(dir, "inter.key", inter.key.get()));
  SVC_TRY(WriteCerts(dir, "server.pem", {&server}));
  SVC_TRY(WriteKey(dir, "server.key", server.key.get()));
  SVC_TRY(WriteCerts(dir, "server-chain.pem", {&server, &inter}));
  SVC_TRY(WriteCerts(dir, "expired.pem", {&expired}));
  SVC_TRY(WriteKey(dir, "expired.key", expired.key.get()));
  SVC_TRY(WriteCerts(dir, "wrong-host.pem", {&wrong}));
  SVC_TRY(WriteKey(dir, "wrong-host.key", wrong.key.get()));
  SVC_TRY(WriteCerts(dir, "client.pem", {&client}));
  SVC_TRY(WriteKey(dir, "client.key", client.key.get()));
  // The client is issued by the root directly, so its chain is leaf + root.
  SVC_TRY(WriteCerts(dir, "client-chain.pem", {&client, &root}));
  SVC_TRY(WriteKey(dir, "client-encrypted.key", client.key.get(), kPkiPassphrase));
  SVC_TRY(WriteKey(dir, "client-other.key", client_other.get()));
  SVC_TRY(WriteCerts(dir, "bundle.pem", {&root, &other}));
  return Status::Ok();
}

}  // namespace

const std::vector<std::string>& PkiFileNames() {
  static const std::vector<std::string> kNames = {
      "ca.pem",           "ca.key",         "other-ca.pem",         "inter.pem",
      "inter.key",        "server.pem",     "server.key",           "server-chain.pem",
      "expired.pem",      "expired.key",    "wrong-host.pem",       "wrong-host.key",
      "client.pem",       "client.key",     "client-chain.pem",     "client-encrypted.key",
      "client-other.key", "bundle.pem",
  };
  return kNames;
}

Status GeneratePki(const std::string& dir) {
  ERR_clear_error();
  Status status = Generate(dir);
  ERR_clear_error();
  return status;
}

const std::vector<std::string>& SelfSignedFileNames() {
  static const std::vector<std::string> kNames = {"self-signed.pem", "self-signed.key"};
  return kNames;
}

Status GenerateSelfSigned(const std::string& dir) {
  ERR_clear_error();
  Status status = [&]() -> Status {
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error(Code::internal, "pki: cannot create '" + dir + "': " + std::strerror(errno));
    }
    CertSpec spec;  // a server leaf that is its own issuer
    spec.common_name = "localhost";
    spec.extended_key_usage = "serverAuth";
    spec.subject_alt_name = "DNS:localhost,IP:127.0.0.1,IP:::1";
    Identity self;
    SVC_TRY(Issue(spec, nullptr, &self));
    SVC_TRY(WriteCerts(dir, "self-signed.pem", {&self}));
    return WriteKey(dir, "self-signed.key", self.key.get());
  }();
  ERR_clear_error();
  return status;
}

Status GenerateTempPki(const std::string& prefix, std::string* dir) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) return Error(Code::internal, "mkdtemp " + tmpl + ": " + std::strerror(errno));
  *dir = tmpl + "/pki";
  return GeneratePki(*dir);
}

std::string ReadPkiFile(const std::string& dir, const std::string& name) {
  std::ifstream in(dir + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace svc::testing
