#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "tls/client.h"

namespace svc::tls {
namespace {

// The pool key a connection's SSL carries, so the new-session callback can
// file the session under it.
void FreeSessionKey(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}
int SessionKeyIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeSessionKey);
  return index;
}
int ContextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Writes of a TLS connection go through send(MSG_NOSIGNAL): OpenSSL's
// socket BIO uses write(), which raises SIGPIPE (and kills a host that did
// not ignore it) on a connection the peer reset, e.g. for the close_notify
// sent to a backend that just died. Reads stay with the socket BIO.
int NoSigpipeWrite(BIO* bio, const char* data, int len) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  errno = 0;
  const ssize_t n = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  // The errors OpenSSL's socket BIO retries on (BIO_sock_non_fatal_error).
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == EINPROGRESS ||
                errno == EALREADY || errno == ENOTCONN || errno == EPROTO))
    BIO_set_retry_write(bio);
  return static_cast<int>(n);
}
long NoSigpipeCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
const BIO_METHOD* NoSigpipeWriteMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "svc socket write");
    if (m && (BIO_meth_set_write(m, &NoSigpipeWrite) != 1 || BIO_meth_set_ctrl(m, &NoSigpipeCtrl) != 1)) {
      BIO_meth_free(m);
      m = nullptr;
    }
    return m;
  }();
  return method;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The names a certificate answers to, for a hostname-mismatch message.
std::string CertificateNames(X509* cert) {
  std::string names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      std::string one;
      if (gn->type == GEN_DNS) {
        one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                                   ASN1_STRING_length(gn->d.dNSName));
      } else if (gn->type == GEN_IPADD) {
        char text[INET6_ADDRSTRLEN] = "";
        const int len = ASN1_STRING_length(gn->d.iPAddress);
        const unsigned char* data = ASN1_STRING_get0_data(gn->d.iPAddress);
        inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text, sizeof text);
        one = std::string("IP:") + text;
      }
      if (one.empty()) continue;
      if (!names.empty()) names += ", ";
      names += one;
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    names = std::string("CN:") + cn;
  }
  return names;
}

}  // namespace

Status ClientContext::Create(const std::string& trust, const std::string& ca_file,
                             const std::string& min_version, std::unique_ptr<ClientContext>* out) {
  std::unique_ptr<ClientContext> c(new ClientContext());
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return Error(Code::no_memory, "cannot create the TLS client context");
  SSL_CTX_set_min_proto_version(c->ctx_, min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A peer that closes an idle keepalive connection without close_notify must
  // not poison the cached session (a fatal unexpected-EOF error would).
  SSL_CTX_set_options(c->ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Read whole socket buffers, not a record header then its body: one read
  // system call per response instead of two per record.
  SSL_CTX_set_read_ahead(c->ctx_, 1);
  if (trust == "system") SSL_CTX_set_default_verify_paths(c->ctx_);
  if (!ca_file.empty()) {
    detail::OpenSslErrorScope scope;
    errno = 0;
    if (SSL_CTX_load_verify_locations(c->ctx_, ca_file.c_str(), nullptr) != 1) {
      const int sys = errno;
      std::string reason = detail::LastOpenSslReason("no certificate found");
      if (sys) reason = std::strerror(sys);
      return Error(Code::invalid, "options.tls.ca_file: cannot load '" + ca_file + "': " + reason);
    }
  }
  // Sessions live in our cache (keyed by the pool key), not OpenSSL's.
  SSL_CTX_set_session_cache_mode(c->ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c->ctx_, &ClientContext::OnNewSession);
  SSL_CTX_set_ex_data(c->ctx_, ContextIndex(), c.get());
  *out = std::move(c);
  return Status::Ok();
}

ClientContext::~ClientContext() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

int ClientContext::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ContextIndex()));
  auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, SessionKeyIndex()));
  if (!self || !key) return 0;
  std::lock_guard<std::mutex> lock(self->sessions_mu_);
  SSL_SESSION*& slot = self->sessions_[*key];
  if (slot) SSL_SESSION_free(slot);
  slot = session;
  return 1;  // we keep the reference
}

void ClientContext::ForgetSession(const std::string& session_key) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  auto it = sessions_.find(session_key);
  if (it == sessions_.end()) return;
  SSL_SESSION_free(it->second);
  sessions_.erase(it);
}

size_t ClientContext::cached_sessions() const {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  return sessions_.size();
}

Status ClientContext::Prepare(int fd, const ClientPolicy& policy, const std::string& session_key, SSL** out) {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return Error(Code::no_memory, "cannot create a TLS connection");
  auto fail = [&](std::string what) {
    std::string reason = detail::LastOpenSslReason("unknown error");
    SSL_free(ssl);
    return Error(Code::tls, what + ": " + reason);
  };
  detail::OpenSslErrorScope scope;
  BIO* rbio = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* wbio = NoSigpipeWriteMethod() ? BIO_new(NoSigpipeWriteMethod()) : nullptr;
  if (!rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    return fail("cannot attach the socket");
  }
  BIO_set_data(wbio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(wbio, 1);
  SSL_set_bio(ssl, rbio, wbio);  // the SSL owns both
  // The key string lives in the SSL's ex_data; FreeSessionKey frees it with the SSL.
  SSL_set_ex_data(ssl, SessionKeyIndex(), new std::string(session_key));

  std::string host = policy.host;
  if (!host.empty() && host.back() == '.') host.pop_back();  // RFC 6066: no trailing dot (Kong #7550)
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const bool ip = IsIpLiteral(host);
  if (!ip && !host.empty() && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
    return fail("cannot set SNI '" + host + "'");

  if (policy.chain && policy.key) {
    const auto& certs = policy.chain->certs();
    if (SSL_use_certificate(ssl, certs.front()) != 1) return fail("cannot use the client certificate");
    for (size_t i = 1; i < certs.size(); ++i)
      if (SSL_add1_chain_cert(ssl, certs[i]) != 1) return fail("cannot use the client certificate chain");
    if (SSL_use_PrivateKey(ssl, policy.key->pkey()) != 1) return fail("cannot use the client key");
  }
  if (policy.verify) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    if (policy.store && SSL_set1_verify_cert_store(ssl, policy.store->Freeze()) != 1)
      return fail("cannot use the trust store");
    if (policy.depth >= 0) SSL_set_verify_depth(ssl, policy.depth);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (host.empty()) return fail("no host to verify the certificate against");
    if (ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) return fail("cannot verify IP '" + host + "'");
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl, host.c_str()) != 1) return fail("cannot verify host '" + host + "'");
    }
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    auto it = sessions_.find(session_key);
    if (it != sessions_.end()) {
      // Each connection resumes from its own copy of the cached session:
      // reading a TLS 1.3 ticket, OpenSSL duplicates the connection's
      // session and drops it, and connections sharing one object did that
      // on several threads at once, ordered only by OpenSSL's reference
      // counts (TSan reported the peer-chain stack copied on one thread
      // and freed on another).
      SSL_SESSION* copy = SSL_SESSION_dup(it->second);
      if (copy) {
        SSL_set_session(ssl, copy);  // takes its own reference
        SSL_SESSION_free(copy);
      }
    }
  }
  *out = ssl;
  return Status::Ok();
}

Status ClientContext::Failure(SSL* ssl, int ret, const ClientPolicy& policy, const std::string& peer) {
  const std::string prefix = "TLS handshake with " + peer + " failed: ";
  const long verify = SSL_get_verify_result(ssl);
  if (policy.verify && verify != X509_V_OK) {
    std::string reason = X509_verify_cert_error_string(verify);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      // OpenSSL 3 keeps no peer certificate after a failed verification,
      // only the chain it received: its first entry is the leaf.
      X509* cert = SSL_get0_peer_certificate(ssl);
      if (!cert) {
        STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
        if (chain && sk_X509_num(chain) > 0) cert = sk_X509_value(chain, 0);
      }
      std::string host = policy.host;
      if (!host.empty() && host.back() == '.') host.pop_back();
      reason = "certificate does not match '" + host + "'" +
               (cert ? " (it is for " + CertificateNames(cert) + ")" : std::string());
    }
    ERR_clear_error();
    return Error(Code::tls, prefix + "certificate verify failed: " + reason);
  }
  const int err = SSL_get_error(ssl, ret);
  std::string reason;
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    reason = errno ? std::strerror(errno) : "the peer closed the connection";
  } else {
    reason = detail::LastOpenSslReason("unknown error");
  }
  ERR_clear_error();
  return Error(Code::tls, prefix + reason);
}

}  // namespace svc::tls
