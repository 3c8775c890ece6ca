// TrustStore: trusted CA certificates in an X509_STORE, mutable until the
// first handshake freezes it.
#include <dirent.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls/tls.h"

namespace svc::tls {

namespace {

struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;

struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileClose>;

const char kFrozen[] = "store: trust store is in use and can no longer change";

std::atomic<uint64_t> g_next_store_id{1};

// strerror is not thread-safe; strerror_r comes in a GNU and an XSI flavour.
[[maybe_unused]] std::string ErrnoText(const char* gnu_result, const char*) {
  return gnu_result;
}
[[maybe_unused]] std::string ErrnoText(int xsi_result, const char* buf) {
  return xsi_result == 0 ? std::string(buf) : std::string("unknown error");
}
std::string ErrnoMessage(int err) {
  char buf[256] = {0};
  return ErrnoText(strerror_r(err, buf, sizeof buf), buf);
}

size_t CountCertificates(X509_STORE* store) {
  size_t n = 0;
  STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i) {
    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509) ++n;
  }
  return n;
}

// Whether a hashed certificate directory ("5ad8a5d6.0") named by SSL_CERT_DIR
// or OpenSSL's default exists: such certificates load on demand, so they
// cannot be counted up front, only detected.
bool HasHashedCertDir() {
  const char* env = std::getenv(X509_get_default_cert_dir_env());
  std::string dirs = env != nullptr ? env : X509_get_default_cert_dir();
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    start = end + 1;
    if (dir.empty()) continue;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    bool found = false;
    while (dirent* entry = readdir(d)) {
      const char* name = entry->d_name;
      size_t len = std::strlen(name);
      if (len < 10 || name[8] != '.') continue;
      bool hashed = true;
      for (size_t i = 0; i < len && hashed; ++i) {
        char c = name[i];
        if (i < 8) hashed = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        else if (i > 8) hashed = c >= '0' && c <= '9';
      }
      if (hashed) {
        found = true;
        break;
      }
    }
    closedir(d);
    if (found) return true;
  }
  return false;
}

}  // namespace

TrustStore::~TrustStore() { X509_STORE_free(store_); }

Status TrustStore::New(std::shared_ptr<TrustStore>* out) {
  detail::OpenSslErrorScope errors;
  StorePtr store(X509_STORE_new());
  if (!store) return Error(Code::no_memory, "store: out of memory");
  std::shared_ptr<TrustStore> ts(new TrustStore());
  ts->store_ = store.release();
  ts->id_ = g_next_store_id.fetch_add(1, std::memory_order_relaxed);
  *out = std::move(ts);
  return Status::Ok();
}

Status TrustStore::AddPem(std::string_view pem) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (frozen_) return Error(Code::invalid, kFrozen);
  }
  // Parse outside the lock, into a temporary list: a bad input leaves the
  // store as it was.
  std::vector<detail::X509Ptr> certs;
  SVC_TRY(detail::ParseCertificatesPem(pem, "store", &certs));

  detail::OpenSslErrorScope errors;
  std::lock_guard<std::mutex> lock(mu_);
  if (frozen_) return Error(Code::invalid, kFrozen);
  for (const auto& cert : certs) {
    // A certificate already present is a success (OpenSSL >= 1.1.1).
    if (X509_STORE_add_cert(store_, cert.get()) != 1) {
      count_ = CountCertificates(store_);
      return Error(Code::internal,
                   "store: cannot add a certificate: " + detail::LastOpenSslReason("unknown error"));
    }
  }
  count_ = CountCertificates(store_);
  return Status::Ok();
}

Status TrustStore::LoadFile(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (frozen_) return Error(Code::invalid, kFrozen);
  }
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return Error(Code::invalid, "store: cannot open '" + path + "': " + ErrnoMessage(errno));
  }
  std::string text;
  char buf[16384];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, file.get());
    text.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(file.get())) {
    return Error(Code::invalid, "store: cannot read '" + path + "': " + ErrnoMessage(errno));
  }
  return AddPem(text);
}

Status TrustStore::LoadSystem() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (frozen_) return Error(Code::invalid, kFrozen);
  }
  detail::OpenSslErrorScope errors;
  // Load into a scratch store first so that failure leaves this one as it was.
  StorePtr scratch(X509_STORE_new());
  if (!scratch) return Error(Code::no_memory, "store: out of memory");
  X509_STORE_set_default_paths(scratch.get());  // reads SSL_CERT_FILE or the default bundle
  ERR_clear_error();                              // a missing default file is not an error here
  const bool has_dir = HasHashedCertDir();
  if (CountCertificates(scratch.get()) == 0 && !has_dir) {
    return Error(Code::invalid, "store: no system trust store found");
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (frozen_) return Error(Code::invalid, kFrozen);
  STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(scratch.get());
  for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i) {
    X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
    if (cert != nullptr && X509_STORE_add_cert(store_, cert) != 1) {
      count_ = CountCertificates(store_);
      return Error(Code::internal,
                   "store: cannot add a certificate: " + detail::LastOpenSslReason("unknown error"));
    }
  }
  if (has_dir) {
    // The hashed directory is consulted on demand during verification.
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store_, X509_LOOKUP_hash_dir());
    if (lookup == nullptr ||
        X509_LOOKUP_add_dir(lookup, nullptr, X509_FILETYPE_DEFAULT) != 1) {
      count_ = CountCertificates(store_);
      return Error(Code::internal, "store: cannot use the system certificate directory: " +
                                       detail::LastOpenSslReason("unknown error"));
    }
  }
  count_ = CountCertificates(store_);
  return Status::Ok();
}

X509_STORE* TrustStore::Freeze() const {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = true;
  return store_;
}

size_t TrustStore::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

}  // namespace svc::tls
