// net: the caller-thread I/O that connect mode runs on: non-blocking sockets
// waited on with poll(), every wait bounded by a deadline and interruptible
// through a canceller, so a blocking C call never hangs past its timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "common/status.h"

namespace svc::net {

using Clock = std::chrono::steady_clock;

// A point in time by which an operation must finish.
class Deadline {
 public:
  static Deadline After(int64_t ms) { return Deadline(Clock::now() + std::chrono::milliseconds(ms)); }
  // Milliseconds left (0 when passed), capped for poll().
  int RemainingMs() const;
  bool Passed() const { return Clock::now() >= at_; }

 private:
  explicit Deadline(Clock::time_point at) : at_(at) {}
  Clock::time_point at_;
};

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// Wakes a blocked wait from another thread. Cancel() is thread-safe and
// sticky until Reset(). The eventfd is made on the first wait, so a request
// that only picks costs no system call.
class Canceller {
 public:
  Canceller() = default;
  ~Canceller();
  Canceller(const Canceller&) = delete;
  Canceller& operator=(const Canceller&) = delete;

  void Cancel();
  void Reset();
  bool cancelled() const { return cancelled_.load(); }
  // The eventfd a waiter polls; created on first use.
  int fd() const;

 private:
  mutable std::atomic<int> fd_{-1};
  std::atomic<bool> cancelled_{false};
};

// What a wait is for, so errors say which step timed out.
enum class Op { connect, handshake, read, write };
const char* OpName(Op op);
// " to ", " from " or " with ": how messages join the step and the peer.
const char* Preposition(Op op);

// Waits until `fd` is ready for `events` (POLLIN/POLLOUT). Code::timeout
// "<op> to <peer> timed out after <ms> ms", Code::canceled when cancelled.
// spin_us > 0: first polls without sleeping for up to that long, then
// sleeps in poll() as usual (see Connection's read spin).
Status Wait(int fd, short events, const Deadline& deadline, int timeout_ms, const Canceller* cancel,
            Op op, const std::string& peer, int spin_us = 0);

// Opens a non-blocking TCP connection to ip:port within timeout_ms.
// Code::connect "connect to 10.0.0.1:80 failed: Connection refused",
// Code::timeout "connect to 10.0.0.1:80 timed out after 1000 ms".
Status ConnectTcp(const std::string& ip, int port, int timeout_ms, const Canceller* cancel,
                  UniqueFd* out);

// "ip:port", IPv6 bracketed.
std::string PeerName(const std::string& ip, int port);

}  // namespace svc::net
