// fuzz_response: HTTP/1.1 responses through send mode's own code:
// http::Exchange writes a request on a net::Connection and parses the answer
// with Beast, reading it from a real socket.
//
// Input: one option byte, then the bytes the "peer" sends.
//   bit 0     the request is HEAD (the parser expects no body)
//   bit 1     small limits (header 256 bytes, body 256 bytes) instead of 64 KiB / 1 MiB
//   bits 2-7  k: the first 64 reads return k bytes each (0: 512 bytes), the rest 512
// The bytes travel over an AF_UNIX SOCK_SEQPACKET pair, so each record is
// exactly one read of Connection::Read (Beast asks for at least 512 bytes),
// and the peer's shutdown is the EOF. Each input is parsed twice: split as
// the option byte says and in 512-byte pieces; both must agree.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "http/http.h"
#include "net/connection.h"

using namespace svc;

namespace {

constexpr size_t kMaxRead = 512;  // Beast never offers a smaller buffer to read_some
constexpr size_t kSmallReads = 64;

struct Result {
  Status status;
  http::Response response;
  bool started = false;
};

// Sends `bytes` as records (the first kSmallReads of `first` bytes), shuts
// the sending side, and runs one exchange on the other end.
bool RunExchange(std::string_view bytes, size_t first, bool head, const http::Limits& limits, Result* out) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return false;
  const int big = 1 << 20;  // all records are queued before the exchange starts
  setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  size_t pos = 0, records = 0;
  bool queued = true;
  while (pos < bytes.size()) {
    const size_t n = std::min(bytes.size() - pos, records < kSmallReads ? first : kMaxRead);
    if (::send(fds[1], bytes.data() + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
      queued = false;
      break;
    }
    pos += n;
    ++records;
  }
  ::shutdown(fds[1], SHUT_WR);
  if (!queued) {  // the socket buffer is full: this split cannot be replayed faithfully
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  net::Connection conn(net::UniqueFd(fds[0]), nullptr, "fuzz", "127.0.0.1", 8080, "backend.test");
  const http::Fields headers{{"Accept", "*/*"}};
  http::Request req{head ? "HEAD" : "GET", "/fuzz", &headers, "backend.test", {}};
  out->status = http::Exchange(conn, req, limits, 1000, 1000, &out->response, &out->started);
  ::close(fds[1]);
  return true;
}

void CheckResult(const Result& r, size_t sent, bool head, const http::Limits& limits) {
  FUZZ_CHECK(r.started == (sent > 0), "started is " + std::to_string(r.started) + " after " +
                                          std::to_string(sent) + " bytes");
  if (!r.status.ok()) {
    const Code c = r.status.code();
    FUZZ_CHECK(c == Code::proto || c == Code::connect, r.status.message());
    FUZZ_CHECK(r.status.message().find("127.0.0.1:8080") != std::string::npos, r.status.message());
    return;
  }
  const http::Response& res = r.response;
  FUZZ_CHECK(res.status >= 0 && res.status <= 999, std::to_string(res.status));
  FUZZ_CHECK(res.body.size() <= static_cast<size_t>(limits.max_body_bytes), std::to_string(res.body.size()));
  if (head) FUZZ_CHECK(res.body.empty(), "a HEAD response with a body");
  size_t header_bytes = 0;
  for (const auto& [name, value] : res.headers) header_bytes += name.size() + value.size();
  FUZZ_CHECK(header_bytes <= static_cast<size_t>(limits.max_header_bytes), std::to_string(header_bytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t options = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool head = options & 1;
  http::Limits limits;
  if (options & 2) {
    limits.max_header_bytes = 256;
    limits.max_body_bytes = 256;
  } else {
    limits.max_body_bytes = 1 << 20;
  }
  const size_t k = options >> 2;
  const size_t first = k == 0 ? kMaxRead : k;

  Result split;
  if (!RunExchange(bytes, first, head, limits, &split)) return 0;
  CheckResult(split, bytes.size(), head, limits);
  if (first == kMaxRead) return 0;

  // How the bytes were cut into reads must not change whether, and what,
  // was parsed. The error may differ: Beast checks the start line in the
  // first read when that read holds enough of it, and otherwise waits for
  // the end of the header first, so a broken header that never ends is
  // "bad version" when read whole and "closed in the middle of the
  // response" when cut small.
  Result whole;
  if (!RunExchange(bytes, kMaxRead, head, limits, &whole)) return 0;
  CheckResult(whole, bytes.size(), head, limits);
  FUZZ_CHECK(split.status.ok() == whole.status.ok(), split.status.message() + " vs " + whole.status.message());
  if (split.status.ok()) {
    FUZZ_CHECK(split.response.status == whole.response.status, std::to_string(split.response.status));
    FUZZ_CHECK(split.response.headers == whole.response.headers, "headers differ");
    FUZZ_CHECK(split.response.body == whole.response.body, "bodies differ");
  }
  return 0;
}
