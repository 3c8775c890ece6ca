// Connection: one upstream connection, plain or TLS, with bounded reads and
// writes on the caller's thread; and Pool: idle connections keyed by peer
// and the whole TLS policy (DESIGN.md §4.2), with Kong's keepalive limits.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <openssl/ssl.h>

#include "common/status.h"
#include "net/net.h"

namespace svc::net {

class Connection {
 public:
  Connection(UniqueFd fd, SSL* ssl, std::string key, std::string ip, int port, std::string host);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes all of buf within timeout_ms. Code::connect on a reset or close
  // ("write to 10.0.0.1:80 failed: Connection reset by peer"), Code::timeout,
  // Code::canceled, Code::tls for a TLS-level failure.
  Status Write(const void* buf, size_t len, int timeout_ms);
  // Reads at most cap bytes; *n == 0 means the peer closed (EOF).
  // wait_first: poll before reading (an answer just asked for is not there
  // yet, so trying the read first would cost a system call for nothing).
  Status Read(void* buf, size_t cap, size_t* n, int timeout_ms, bool wait_first = false);

  // Waits until a read would not block (bytes or EOF arrived, or decrypted
  // bytes are buffered). Safe while another thread writes: it touches only
  // the socket and an atomic, never the TLS state. *ready false: timed out.
  Status WaitReadable(int timeout_ms, bool* ready);

  // True when an idle connection is still usable: the peer has not closed it
  // and sent nothing unexpected. Non-blocking.
  bool IdleUsable();

  Canceller& canceller() { return cancel_; }
  const std::string& key() const { return key_; }
  const std::string& ip() const { return ip_; }
  int port() const { return port_; }
  const std::string& host() const { return host_; }
  const std::string& peer() const { return peer_; }  // "ip:port", IPv6 bracketed
  bool tls() const { return ssl_ != nullptr; }
  bool resumed() const { return ssl_ && SSL_session_reused(ssl_); }
  std::string tls_version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }
  int uses() const { return uses_; }
  void AddUse() { ++uses_; }
  bool reused() const { return uses_ > 1; }
  Clock::time_point idle_since() const { return idle_since_; }
  void MarkIdle() { idle_since_ = Clock::now(); }

  // Read spin: a read that has to wait polls without sleeping for up to
  // spin_us first, while spinning keeps paying off on this connection: after
  // kSpinCredit waits in a row that spinning did not end, it sleeps at once
  // and spins again only on every kSpinProbe-th wait, to notice a peer that
  // became fast. A slow peer so costs at most spin_us per kSpinProbe waits.
  // 0 (the default here) always sleeps at once.
  static constexpr int kSpinCredit = 4;
  static constexpr int kSpinProbe = 32;
  void set_read_spin_us(int spin_us) { spin_us_ = spin_us; }
  // Whether the next read wait would spin, and how many waits did (for tests).
  bool read_spin_on() const { return spin_us_ > 0 && spin_credit_ > 0; }
  int64_t spun_waits() const { return spun_waits_; }

 private:
  Status TlsIo(bool write, void* buf, size_t len, size_t* n, const Deadline& deadline, int timeout_ms);
  // Waits for bytes to read, spinning first when replies have been quick.
  Status WaitToRead(const Deadline& deadline, int timeout_ms);

  UniqueFd fd_;
  SSL* ssl_;
  std::string key_, ip_;
  int port_;
  std::string host_;
  std::string peer_;
  Canceller cancel_;
  std::atomic<size_t> buffered_{0};  // 1 when OpenSSL holds bytes (records read ahead) after the last read
  int uses_ = 0;
  Clock::time_point idle_since_;
  int spin_us_ = 0;
  int spin_credit_ = kSpinCredit;  // misses left before spinning stops
  int waits_without_spin_ = 0;
  int64_t spun_waits_ = 0;
};

struct PoolOptions {
  int size = 60;             // idle connections kept per key; 0 disables keepalive
  int max_requests = 100;    // uses of one connection; 0 = unlimited
  double idle_timeout_s = 60;
};

class Pool {
 public:
  explicit Pool(PoolOptions options) : options_(options) {}

  // An idle, still usable connection for `key`, or null. Dead and expired
  // ones met on the way are closed.
  std::unique_ptr<Connection> Take(const std::string& key);
  // Keeps `c` for reuse when it may serve more requests and the key's pool
  // has room; otherwise closes it.
  void Put(std::unique_ptr<Connection> c);

  // Closes every idle connection; later Puts close theirs.
  void Close();

  size_t idle(const std::string& key) const;
  size_t idle_total() const;

 private:
  PoolOptions options_;
  mutable std::mutex mu_;
  bool closed_ = false;
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
};

}  // namespace svc::net
