// Lease: a connection handed to the caller by connect mode, with what it
// needs to report the try when it comes back (passive health, least
// connections, latency) and to return to the pool under its key.
#pragma once

#include <atomic>
#include <memory>

#include "balance/balance.h"
#include "engine/engine.h"
#include "net/connection.h"

namespace svc {

class Lease {
 public:
  Lease(std::shared_ptr<Engine> engine, std::unique_ptr<net::Connection> conn,
        std::shared_ptr<Upstream> upstream, std::shared_ptr<const balance::Snapshot> snapshot,
        uint32_t address, int write_timeout_ms, int read_timeout_ms, double connect_seconds);
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  Status Write(const void* buf, size_t len);
  Status Read(void* buf, size_t cap, size_t* n);
  // May run while another thread writes (see Connection::WaitReadable).
  Status WaitReadable(int timeout_ms, bool* ready) {
    if (!conn_) return Error(Code::closed, "the connection was released");
    return conn_->WaitReadable(timeout_ms, ready);
  }
  // Back to the pool (reusable) or closed. A reusable release reports the
  // try as a success; either way the least-connections slot is freed.
  void Release(bool reusable);
  // Thread-safe; a cancelled connection is never pooled.
  void Cancel() {
    cancelled_.store(true);
    if (conn_) conn_->canceller().Cancel();
  }
  void SetTimeouts(int write_ms, int read_ms) { write_timeout_ms_ = write_ms; read_timeout_ms_ = read_ms; }

  net::Connection* connection() const { return conn_.get(); }

 private:
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<net::Connection> conn_;
  std::shared_ptr<Upstream> upstream_;
  std::shared_ptr<const balance::Snapshot> snapshot_;
  uint32_t address_;
  int write_timeout_ms_, read_timeout_ms_;
  double connect_seconds_;
  bool broken_ = false;  // an I/O error: never pooled
  std::atomic<bool> cancelled_{false};
  bool released_ = false;
};

}  // namespace svc
