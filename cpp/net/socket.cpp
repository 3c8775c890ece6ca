#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/net.h"

namespace svc::net {

int Deadline::RemainingMs() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1 << 30 ? 1 << 30 : static_cast<int>(left);
}

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Canceller::~Canceller() {
  const int fd = fd_.load();
  if (fd >= 0) ::close(fd);
}

int Canceller::fd() const {
  int fd = fd_.load();
  if (fd >= 0) return fd;
  const int made = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (made < 0) return -1;
  if (fd_.compare_exchange_strong(fd, made)) return made;
  ::close(made);  // another thread made one first
  return fd;
}

void Canceller::Cancel() {
  // Flag first, then look for the fd: a waiter makes the fd before it reads
  // the flag, so one of the two always sees the other (both seq_cst).
  cancelled_.store(true);
  const int fd = fd_.load();
  if (fd >= 0) {
    const uint64_t one = 1;
    ssize_t n = ::write(fd, &one, sizeof one);
    (void)n;
  }
}

void Canceller::Reset() {
  if (!cancelled_.exchange(false)) return;  // nothing to drain: no system call
  const int fd = fd_.load();
  if (fd >= 0) {
    uint64_t v;
    ssize_t n = ::read(fd, &v, sizeof v);
    (void)n;
  }
}

const char* OpName(Op op) {
  switch (op) {
    case Op::connect: return "connect";
    case Op::handshake: return "TLS handshake";
    case Op::read: return "read";
    case Op::write: return "write";
  }
  return "?";
}

const char* Preposition(Op op) {
  switch (op) {
    case Op::read: return " from ";
    case Op::handshake: return " with ";
    default: return " to ";
  }
}

std::string PeerName(const std::string& ip, int port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

Status Wait(int fd, short events, const Deadline& deadline, int timeout_ms, const Canceller* cancel,
            Op op, const std::string& peer, int spin_us) {
  const int cancel_fd = cancel ? cancel->fd() : -1;
  // Spinning: poll(0) until ready, cancelled or spin_us passed. A thread that
  // sleeps in poll() pays the scheduler's (and a virtual CPU's) wake-up on
  // top of the round trip; for a reply that comes within microseconds that
  // wake-up is most of the wait.
  bool spinning = spin_us > 0;
  const Clock::time_point spin_end = spinning ? Clock::now() + std::chrono::microseconds(spin_us) : Clock::time_point();
  for (;;) {
    if (cancel && cancel->cancelled())
      return Error(Code::canceled, std::string(OpName(op)) + Preposition(op) + peer + " cancelled");
    pollfd fds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    if (spinning && Clock::now() >= spin_end) spinning = false;
    const int n = ::poll(fds, cancel ? 2 : 1, spinning ? 0 : deadline.RemainingMs());
    if (n == 0 && spinning) {
      // Another thread ready to run on this CPU gets it: spinning only
      // uses time nobody else wants.
      ::sched_yield();
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(Code::internal, std::string("poll failed: ") + std::strerror(errno));
    }
    if (n == 0)
      return Error(Code::timeout, std::string(OpName(op)) + Preposition(op) + peer + " timed out after " +
                                      std::to_string(timeout_ms) + " ms");
    if (cancel && (fds[1].revents & POLLIN))
      return Error(Code::canceled, std::string(OpName(op)) + Preposition(op) + peer + " cancelled");
    if (fds[0].revents) return Status::Ok();
  }
}

Status ConnectTcp(const std::string& ip, int port, int timeout_ms, const Canceller* cancel, UniqueFd* out) {
  const std::string peer = PeerName(ip, port);
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family;
  if (ip.find(':') != std::string::npos) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, ip.c_str(), &a6->sin6_addr) != 1)
      return Error(Code::invalid, "not an IP address: '" + ip + "'");
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, ip.c_str(), &a4->sin_addr) != 1)
      return Error(Code::invalid, "not an IP address: '" + ip + "'");
    len = sizeof(sockaddr_in);
  }
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Error(Code::connect, "connect to " + peer + " failed: " + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const Deadline deadline = Deadline::After(timeout_ms);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS)
      return Error(Code::connect, "connect to " + peer + " failed: " + std::strerror(errno));
    SVC_TRY(Wait(fd.get(), POLLOUT, deadline, timeout_ms, cancel, Op::connect, peer));
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return Error(Code::connect, "connect to " + peer + " failed: " + std::strerror(err));
  }
  *out = std::move(fd);
  return Status::Ok();
}

}  // namespace svc::net
