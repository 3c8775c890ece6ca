// tls client: the engine's client SSL_CTX (TLS >= 1.2, the default trust),
// the per-connection application of a request's TLS policy (client chain
// and key, verify, depth, store, SNI and verified name), and a session
// cache keyed by the pool key so new connections resume.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/status.h"
#include "tls/tls.h"

namespace svc::tls {

// What one handshake is made under.
struct ClientPolicy {
  bool verify = true;
  int depth = -1;  // -1: OpenSSL's default (100)
  std::shared_ptr<const CertChain> chain;
  std::shared_ptr<const PrivateKey> key;
  std::shared_ptr<const TrustStore> store;  // null: the engine's default trust
  std::string host;                         // SNI (unless an IP) and verified name
};

class ClientContext {
 public:
  // trust: "system" or "none"; ca_file: a PEM file of CAs trusted as well
  // (empty: none); min_version: "1.2" or "1.3". Code::invalid
  // "options.tls.ca_file: cannot load '<path>': <reason>".
  static Status Create(const std::string& trust, const std::string& ca_file, const std::string& min_version,
                       std::unique_ptr<ClientContext>* out);
  ~ClientContext();

  // Runs a client handshake on the connected non-blocking `fd` under
  // `policy`, resuming a session cached under `session_key` when there is
  // one. Code::tls with OpenSSL's reason, e.g.
  //   "TLS handshake with 127.0.0.1:8443 failed: certificate verify failed:
  //    unable to get local issuer certificate".
  // `wait` is called with POLLIN/POLLOUT when OpenSSL needs the socket.
  template <class WaitFn>
  Status Handshake(int fd, const ClientPolicy& policy, const std::string& session_key,
                   const std::string& peer, WaitFn wait, SSL** out);

  void ForgetSession(const std::string& session_key);
  size_t cached_sessions() const;

  // The two halves of Handshake for callers that drive the socket
  // themselves (active probes wait on Asio): Prepare makes the SSL for `fd`
  // under `policy`; Failure turns a failed SSL_connect into Code::tls.
  Status Prepare(int fd, const ClientPolicy& policy, const std::string& session_key, SSL** out);
  Status Failure(SSL* ssl, int ret, const ClientPolicy& policy, const std::string& peer);

 private:
  ClientContext() = default;
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  mutable std::mutex sessions_mu_;
  std::map<std::string, SSL_SESSION*> sessions_;
};

// The handshake loop: SSL_connect until done, waiting on the socket as asked.
template <class WaitFn>
Status ClientContext::Handshake(int fd, const ClientPolicy& policy, const std::string& session_key,
                                const std::string& peer, WaitFn wait, SSL** out) {
  SSL* ssl = nullptr;
  SVC_TRY(Prepare(fd, policy, session_key, &ssl));
  for (;;) {
    ERR_clear_error();
    const int ret = SSL_connect(ssl);
    if (ret == 1) break;
    const int err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      Status st = wait(err == SSL_ERROR_WANT_READ ? short{0x001} /*POLLIN*/ : short{0x004} /*POLLOUT*/);
      if (!st.ok()) {
        SSL_free(ssl);
        return st;
      }
      continue;
    }
    Status st = Failure(ssl, ret, policy, peer);
    SSL_free(ssl);
    return st;
  }
  *out = ssl;
  return Status::Ok();
}

}  // namespace svc::tls
