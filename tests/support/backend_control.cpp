#include "support/backend_control.h"

#include <charconv>
#include <vector>

namespace svc::testing {

namespace {

constexpr unsigned kMaxDelayMs = 600000;
constexpr uint64_t kMaxBytes = uint64_t{256} << 20;

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < path.size()) {
    if (path[pos] == '/') {
      ++pos;
      continue;
    }
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

// Parses segment `i` of `segs` as an integer in [min, max] into `out`, or
// explains what was wrong in `error`.
bool Number(const std::vector<std::string_view>& segs, size_t i, uint64_t min, uint64_t max,
            uint64_t* out, std::string* error) {
  const std::string command(segs[i - 1]);
  if (i >= segs.size()) {
    *error = "/" + command + " needs a number";
    return false;
  }
  std::string_view text = segs[i];
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < min || n > max) {
    *error = "/" + command + "/" + std::string(text) + ": expected " + std::to_string(min) +
             ".." + std::to_string(max);
    return false;
  }
  *out = n;
  return true;
}

Control ParseAdmin(const std::vector<std::string_view>& segs) {
  Control c;
  uint64_t n = 0;
  std::string_view op = segs.size() > 1 ? segs[1] : std::string_view();
  if (op == "info" && segs.size() == 2) {
    c.admin = Control::Admin::info;
  } else if (op == "reset" && segs.size() == 2) {
    c.admin = Control::Admin::reset;
  } else if (op == "status" && segs.size() <= 3) {
    c.admin = Control::Admin::status;
    // 0 clears the override.
    if (Number(segs, 2, 0, 599, &n, &c.error) && n != 0 && n < 200) {
      c.error = "/_admin/status/" + std::to_string(n) + ": expected 0 or 200..599";
    }
  } else if (op == "delay" && segs.size() <= 3) {
    c.admin = Control::Admin::delay;
    Number(segs, 2, 0, kMaxDelayMs, &n, &c.error);
  } else if (op == "close" && segs.size() <= 3) {
    c.admin = Control::Admin::close;
    Number(segs, 2, 0, 2, &n, &c.error);
  } else {
    c.admin = Control::Admin::info;
    c.error = "unknown admin path; expected /_admin/{info,reset,status/N,delay/MS,close/0|1|2}";
  }
  c.admin_value = static_cast<unsigned>(n);
  return c;
}

}  // namespace

Control ParseControl(std::string_view path) {
  const std::vector<std::string_view> segs = Segments(path);
  if (!segs.empty() && segs[0] == "_admin") return ParseAdmin(segs);

  Control c;
  uint64_t n = 0;
  for (size_t i = 0; i < segs.size() && c.error.empty(); ++i) {
    std::string_view s = segs[i];
    if (s == "status") {
      if (Number(segs, ++i, 200, 599, &n, &c.error)) c.status = static_cast<unsigned>(n);
    } else if (s == "delay") {
      if (Number(segs, ++i, 0, kMaxDelayMs, &n, &c.error)) c.delay_ms = static_cast<unsigned>(n);
    } else if (s == "bytes") {
      if (Number(segs, ++i, 0, kMaxBytes, &n, &c.error)) {
        c.body = Control::Body::bytes;
        c.bytes = n;
      }
    } else if (s == "echo") {
      c.body = Control::Body::echo;
    } else if (s == "chunked") {
      c.chunked = true;
    } else if (s == "close") {
      c.ending = Control::Ending::close;
    } else if (s == "close-after-headers") {
      c.ending = Control::Ending::close_after_headers;
    } else {
      break;  // an ordinary path segment: the rest is not a command
    }
  }
  return c;
}

}  // namespace svc::testing
