#include "net/connection.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace svc::net {

Connection::Connection(UniqueFd fd, SSL* ssl, std::string key, std::string ip, int port, std::string host)
    : fd_(std::move(fd)), ssl_(ssl), key_(std::move(key)), ip_(std::move(ip)), port_(port),
      host_(std::move(host)), peer_(PeerName(ip_, port_)) {}

Connection::~Connection() {
  if (ssl_) {
    // Take in session tickets that already arrived (TLS 1.3 sends them after
    // the handshake), so the next connection to this peer can resume.
    pollfd p{fd_.get(), POLLIN, 0};
    if (SSL_version(ssl_) >= TLS1_3_VERSION && ::poll(&p, 1, 0) > 0) {
      char scratch[512];
      size_t got = 0;
      ERR_clear_error();
      SSL_read_ex(ssl_, scratch, sizeof scratch, &got);
    }
    // Best effort close_notify; never wait for the peer's.
    SSL_set_quiet_shutdown(ssl_, 0);
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
    SSL_free(ssl_);
  }
}

Status Connection::TlsIo(bool write, void* buf, size_t len, size_t* n, const Deadline& deadline,
                         int timeout_ms) {
  for (;;) {
    ERR_clear_error();
    size_t done = 0;
    const int ret = write ? SSL_write_ex(ssl_, buf, len, &done) : SSL_read_ex(ssl_, buf, len, &done);
    if (ret == 1) {
      *n = done;
      if (!write) buffered_.store(SSL_has_pending(ssl_) ? 1 : 0);
      return Status::Ok();
    }
    const int err = SSL_get_error(ssl_, ret);
    const Op op = write ? Op::write : Op::read;
    switch (err) {
      case SSL_ERROR_WANT_READ:
        if (write) {
          SVC_TRY(Wait(fd_.get(), POLLIN, deadline, timeout_ms, &cancel_, op, peer_));
        } else {
          SVC_TRY(WaitToRead(deadline, timeout_ms));
        }
        continue;
      case SSL_ERROR_WANT_WRITE:
        SVC_TRY(Wait(fd_.get(), POLLOUT, deadline, timeout_ms, &cancel_, op, peer_));
        continue;
      case SSL_ERROR_ZERO_RETURN:
        *n = 0;  // close_notify: a clean EOF
        return Status::Ok();
      case SSL_ERROR_SYSCALL:
        if (!write && errno == 0 && ERR_peek_error() == 0) {
          *n = 0;  // EOF without close_notify: treat as EOF
          return Status::Ok();
        }
        return Error(Code::connect, std::string(OpName(op)) + Preposition(op) + peer_ + " failed: " +
                                        (errno ? std::strerror(errno) : "the peer closed the connection"));
      default: {
        std::string reason = ERR_peek_error() ? ERR_reason_error_string(ERR_peek_error()) : "TLS error";
        ERR_clear_error();
        if (!write && reason.find("unexpected eof") != std::string::npos) {
          *n = 0;
          return Status::Ok();
        }
        return Error(Code::tls, std::string(OpName(op)) + Preposition(op) + peer_ + " failed: " + reason);
      }
    }
  }
}

Status Connection::Write(const void* buf, size_t len, int timeout_ms) {
  const Deadline deadline = Deadline::After(timeout_ms);
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    if (cancel_.cancelled()) return Error(Code::canceled, "write to " + peer_ + " cancelled");
    size_t n = 0;
    if (ssl_) {
      SVC_TRY(TlsIo(true, const_cast<char*>(p), len, &n, deadline, timeout_ms));
    } else {
      const ssize_t r = ::send(fd_.get(), p, len, MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          SVC_TRY(Wait(fd_.get(), POLLOUT, deadline, timeout_ms, &cancel_, Op::write, peer_));
          continue;
        }
        return Error(Code::connect, "write to " + peer_ + " failed: " + std::strerror(errno));
      }
      n = static_cast<size_t>(r);
    }
    p += n;
    len -= n;
  }
  return Status::Ok();
}

Status Connection::Read(void* buf, size_t cap, size_t* n, int timeout_ms, bool wait_first) {
  *n = 0;
  if (cap == 0) return Status::Ok();
  if (cancel_.cancelled()) return Error(Code::canceled, "read from " + peer_ + " cancelled");
  const Deadline deadline = Deadline::After(timeout_ms);
  if (wait_first && (!ssl_ || !SSL_has_pending(ssl_))) SVC_TRY(WaitToRead(deadline, timeout_ms));
  if (ssl_) return TlsIo(false, buf, cap, n, deadline, timeout_ms);
  for (;;) {
    const ssize_t r = ::recv(fd_.get(), buf, cap, 0);
    if (r >= 0) {
      *n = static_cast<size_t>(r);
      return Status::Ok();
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      SVC_TRY(WaitToRead(deadline, timeout_ms));
      continue;
    }
    return Error(Code::connect, "read from " + peer_ + " failed: " + std::strerror(errno));
  }
}

Status Connection::WaitToRead(const Deadline& deadline, int timeout_ms) {
  bool spin = spin_us_ > 0 && spin_credit_ > 0;
  if (spin_us_ > 0 && !spin && ++waits_without_spin_ >= kSpinProbe) {
    waits_without_spin_ = 0;
    spin = true;
  }
  if (!spin) return Wait(fd_.get(), POLLIN, deadline, timeout_ms, &cancel_, Op::read, peer_);
  ++spun_waits_;
  const Clock::time_point start = Clock::now();
  Status st = Wait(fd_.get(), POLLIN, deadline, timeout_ms, &cancel_, Op::read, peer_, spin_us_);
  const bool caught = Clock::now() - start < std::chrono::microseconds(spin_us_);
  spin_credit_ = caught ? kSpinCredit : std::max(spin_credit_ - 1, 0);
  return st;
}

Status Connection::WaitReadable(int timeout_ms, bool* ready) {
  *ready = false;
  if (buffered_.load() > 0) {
    *ready = true;
    return Status::Ok();
  }
  Status st = Wait(fd_.get(), POLLIN, Deadline::After(timeout_ms), timeout_ms, &cancel_, Op::read, peer_);
  if (st.ok()) {
    *ready = true;
    return st;
  }
  if (st.code() == Code::timeout) return Status::Ok();
  return st;
}

bool Connection::IdleUsable() {
  char byte;
  // The raw socket first: 0 means the peer closed, an error means it is gone;
  // neither touches the TLS state (and so the cached session).
  const ssize_t r = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0) return false;
  if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // alive and quiet
  // Bytes arrived. On plain TCP nobody asked for them: not reusable.
  if (!ssl_) return false;
  // TLS: let OpenSSL consume what arrived (session tickets, close_notify)
  // and see whether application data or EOF is left.
  if (SSL_pending(ssl_) > 0) return false;
  ERR_clear_error();
  size_t got = 0;
  const int ret = SSL_peek_ex(ssl_, &byte, 1, &got);
  if (ret == 1) return false;  // unexpected application data
  const int err = SSL_get_error(ssl_, ret);
  ERR_clear_error();
  return err == SSL_ERROR_WANT_READ;
}

std::unique_ptr<Connection> Pool::Take(const std::string& key) {
  // Candidates leave the pool under the lock; the liveness check (a system
  // call) runs outside it, so threads never wait on each other's peeks.
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = idle_.find(key);
      if (it == idle_.end() || it->second.empty()) return nullptr;
      // Most recently used first: the warmest connection.
      c = std::move(it->second.back());
      it->second.pop_back();
    }
    const double idle_s = std::chrono::duration<double>(Clock::now() - c->idle_since()).count();
    if (options_.idle_timeout_s > 0 && idle_s > options_.idle_timeout_s) continue;  // closes c
    if (!c->IdleUsable()) continue;                                                   // closes c
    return c;
  }
}

void Pool::Put(std::unique_ptr<Connection> c) {
  if (!c) return;
  if (options_.size <= 0) return;
  if (options_.max_requests > 0 && c->uses() >= options_.max_requests) return;
  c->MarkIdle();
  c->canceller().Reset();
  std::unique_ptr<Connection> evicted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      evicted = std::move(c);
      return;
    }
    // Queues stay once made (a key's queue empties and refills all the time).
    auto& q = idle_[c->key()];
    if (static_cast<int>(q.size()) >= options_.size) {
      evicted = std::move(q.front());  // the least recently used goes
      q.pop_front();
    }
    q.push_back(std::move(c));
  }
}

void Pool::Close() {
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> gone;
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  gone.swap(idle_);
}

size_t Pool::idle(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(key);
  return it == idle_.end() ? 0 : it->second.size();
}

size_t Pool::idle_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [k, q] : idle_) n += q.size();
  return n;
}

}  // namespace svc::net
