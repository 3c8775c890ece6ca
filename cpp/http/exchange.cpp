#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "http/http.h"

namespace svc::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

using Parser = bhttp::response_parser<bhttp::string_body>;

// Beast's SyncReadStream over a connection: reads honour the read timeout,
// and the connection's own Status is kept for the error message. It sees
// the parser and its buffer for one workaround (ReadsOneMore).
class ConnectionStream {
 public:
  ConnectionStream(net::Connection& conn, int timeout_ms, Status* status, bool* started, const Parser& parser,
                   const beast::flat_buffer& buffer)
      : conn_(conn), timeout_ms_(timeout_ms), status_(status), started_(started), parser_(&parser),
        buffer_(buffer) {}

  // The parser of the message being read (a new one after an interim response).
  void set_parser(const Parser& parser) { parser_ = &parser; }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    auto it = boost::asio::buffer_sequence_begin(buffers);
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end; ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      size_t n = 0;
      Status st = conn_.Read(b.data(), b.size(), &n, timeout_ms_, /*wait_first=*/!*started_);
      if (!st.ok()) {
        *status_ = st;
        ec = boost::asio::error::connection_aborted;
        return 0;
      }
      if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      *started_ = true;
      if (n == 1 && b.size() > 1 && ReadsOneMore()) {
        // The message cannot end with this byte, so the next one is due
        // anyway: wait for it here rather than hand Beast 4 bytes.
        size_t more = 0;
        st = conn_.Read(static_cast<char*>(b.data()) + 1, b.size() - 1, &more, timeout_ms_);
        if (!st.ok()) {
          *status_ = st;
          ec = boost::asio::error::connection_aborted;
          return 0;
        }
        if (more == 0) {
          ec = boost::asio::error::eof;  // the body is cut short either way
          return 0;
        }
        n += more;
      }
      bytes_read_ += n;
      return n;
    }
    return 0;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Beast 1.74 asserts that at least 5 bytes are buffered when it comes back
  // to a final chunk, but the 3 bytes "0\r\n" of an empty chunked body and
  // one more byte are 4 (boostorg/beast#2861: the assertion is wrong, the
  // code after it right), so a debug build aborted when the peer sent the
  // end of the body a byte at a time. Left unconsumed in a chunked body,
  // "0\r\n" is that final chunk, and it needs at least "\r\n" more.
  bool ReadsOneMore() const {
    return parser_->is_header_done() && parser_->chunked() && buffer_.size() == 3 &&
           std::memcmp(buffer_.data().data(), "0\r\n", 3) == 0;
  }

  net::Connection& conn_;
  int timeout_ms_;
  Status* status_;
  bool* started_;
  const Parser* parser_;
  const beast::flat_buffer& buffer_;
  uint64_t bytes_read_ = 0;
};

}  // namespace

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

Status CheckHeader(std::string_view name, std::string_view value) {
  if (!IsToken(name))
    return Error(Code::invalid, "header name '" + std::string(name.substr(0, 200)) + "' is not an HTTP token");
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return Error(Code::invalid, "header '" + (std::string(name) + ": " + std::string(value)).substr(0, 200) +
                                    "' contains CR, LF or NUL");
  return Status::Ok();
}

Status ParseHeaderLine(std::string_view line, std::string* name, std::string* value) {
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return Error(Code::invalid, "header '" + std::string(line.substr(0, 200)) + "' contains CR, LF or NUL");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Error(Code::invalid, "header '" + std::string(line.substr(0, 200)) + "' is not 'Name: value'");
  std::string_view n = line.substr(0, colon);
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  SVC_TRY(CheckHeader(n, v));
  *name = std::string(n);
  *value = std::string(v);
  return Status::Ok();
}

bool Idempotent(std::string_view method) {
  for (const char* m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
    if (method == m) return true;
  return false;
}

Status Exchange(net::Connection& conn, const Request& request, const Limits& limits, int write_timeout_ms,
                int read_timeout_ms, Response* response, bool* started) {
  *started = false;
  // The request in one buffer: one write, and no Beast message (its field
  // list and an ostringstream cost more than the I/O for a small GET).
  const bool content_length = !request.body.empty() || request.method == "POST" || request.method == "PUT";
  if (request.method == "TRACE" && !request.body.empty())
    return Error(Code::invalid, "a TRACE request cannot have a body");
  const char* const kCrlf = "\r\n";
  size_t size = request.method.size() + request.target.size() + 64 + request.host.size() + request.body.size();
  if (request.headers)
    for (const auto& [name, value] : *request.headers) size += name.size() + value.size() + 4;
  std::string wire;
  wire.reserve(size);
  wire.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  if (!request.host.empty()) wire.append("Host: ").append(request.host).append(kCrlf);
  if (request.headers)
    for (const auto& [name, value] : *request.headers) wire.append(name).append(": ").append(value).append(kCrlf);
  if (content_length) wire.append("Content-Length: ").append(std::to_string(request.body.size())).append(kCrlf);
  wire.append(kCrlf).append(request.body);
  SVC_TRY(conn.Write(wire.data(), wire.size(), write_timeout_ms));

  // Parse with Beast, within the limits.
  Status io;
  std::optional<Parser> parser;
  auto fresh_parser = [&] {
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(std::min<int64_t>(limits.max_header_bytes, UINT32_MAX)));
    parser->body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
    if (request.method == "HEAD") parser->skip(true);
  };
  fresh_parser();
  // The read buffer stays with the thread between exchanges (a fresh 16 KiB
  // per request cost an allocation and its first-touch page faults).
  thread_local beast::flat_buffer buffer;
  buffer.clear();
  if (buffer.capacity() < 16384) buffer.reserve(16384);  // most answers arrive in one read
  struct Trim {
    ~Trim() {
      buffer.clear();
      if (buffer.capacity() > 65536) buffer.shrink_to_fit();  // after a header near the limit
    }
  } trim;
  ConnectionStream stream(conn, read_timeout_ms, &io, started, *parser, buffer);
  beast::error_code ec;
  uint64_t header_bytes = 0;  // of the final response's header, as read
  for (int interim = 0;; ++interim) {
    // The header first: a declared length over the limit fails before any
    // body byte is read (Beast 1.74's eager read does not apply body_limit to
    // a body that arrives with its header).
    const uint64_t consumed = stream.bytes_read() - buffer.size();
    bhttp::read_header(stream, buffer, *parser, ec);
    // Beast 1.74 gives the start line and the fields header_limit bytes each
    // when they arrive in one read, so a header of up to twice the limit got
    // through. What the parser consumed (read, minus what is left in the
    // buffer: read_header stops after the header) is the whole header.
    header_bytes = stream.bytes_read() - buffer.size() - consumed;
    if (!ec && header_bytes > static_cast<uint64_t>(limits.max_header_bytes)) ec = bhttp::error::header_limit;
    if (ec) break;
    // An interim response (100 Continue, 103 Early Hints) comes before the
    // final one: read on. 101 Switching Protocols is final (svc does not
    // switch; the caller sees it).
    const unsigned status = parser->get().result_int();
    if (status < 100 || status >= 200 || status == 101) break;
    if (interim == 16) return Error(Code::proto, "more than 16 interim (1xx) responses from " + conn.peer());
    fresh_parser();
    stream.set_parser(*parser);
  }
  bool too_big = false;
  if (!ec && parser->content_length() &&
      *parser->content_length() > static_cast<std::uint64_t>(limits.max_body_bytes))
    too_big = true;
  // Only a chunked body has a trailer: then count the header's fields.
  const bool trailer = !ec && parser->chunked();
  size_t header_fields = 0;
  if (trailer) header_fields = static_cast<size_t>(std::distance(parser->get().begin(), parser->get().end()));
  if (!ec && !too_big && !parser->is_done()) bhttp::read(stream, buffer, *parser, ec);
  if (!ec && !too_big && parser->get().body().size() > static_cast<size_t>(limits.max_body_bytes)) too_big = true;
  // Trailer fields of a chunked body join the header's fields, and Beast
  // gives them a header_limit of their own (fuzz_response found 323 bytes
  // of fields through a limit of 256): header and trailer share the limit.
  if (trailer && !ec && !too_big) {
    uint64_t total = header_bytes;
    size_t i = 0;
    for (const auto& field : parser->get())
      if (i++ >= header_fields) total += field.name_string().size() + field.value().size() + 4;  // "N: v\r\n"
    if (total > static_cast<uint64_t>(limits.max_header_bytes))
      return Error(Code::proto, "response header and trailer from " + conn.peer() + " exceed " +
                                    std::to_string(limits.max_header_bytes) + " bytes");
  }
  if (too_big) ec = bhttp::error::body_limit;
  const std::string& peer = conn.peer();
  if (ec) {
    if (!io.ok()) return io;
    if (ec == boost::asio::error::eof || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
      return Error(Code::connect, *started ? "the connection to " + peer + " closed in the middle of the response"
                                           : "the connection to " + peer + " closed before a response");
    }
    if (ec == bhttp::error::header_limit)
      return Error(Code::proto, "response header from " + peer + " exceeds " +
                                    std::to_string(limits.max_header_bytes) + " bytes");
    if (ec == bhttp::error::body_limit)
      return Error(Code::proto, "response body from " + peer + " exceeds " + std::to_string(limits.max_body_bytes) +
                                    " bytes");
    return Error(Code::proto, "bad response from " + peer + ": " + ec.message());
  }
  auto& msg = parser->get();
  response->status = static_cast<int>(msg.result_int());
  response->headers.clear();
  for (const auto& field : msg) response->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  response->body = std::move(msg.body());
  // Bytes past the response (a pipelined or broken peer) make the connection unsafe to reuse.
  response->keep_alive = msg.keep_alive() && buffer.size() == 0;
  return Status::Ok();
}

}  // namespace svc::http
