// The server behind svc-test-backend, written the way Beast's async examples
// are: one strand per connection, deadlines on every operation through
// beast::tcp_stream, a session object kept alive by its pending handlers.
#include "support/backend_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Beast's string_view is std::string_view here: one translation unit uses Beast.
#ifndef BOOST_BEAST_USE_STD_STRING_VIEW
#define BOOST_BEAST_USE_STD_STRING_VIEW
#endif
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "support/backend_control.h"

namespace svc::testing {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::ordered_json;  // keys in the order written
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Request = http::request<http::string_body>;
using std::chrono::milliseconds;

constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kShutdownTimeout = std::chrono::seconds(1);
constexpr uint64_t kRequestBodyLimit = uint64_t{64} << 20;
constexpr uint32_t kRequestHeaderLimit = 64 << 10;
constexpr size_t kChunkCount = 3;

void Log(const std::string& message) {
  std::fprintf(stderr, "svc-test-backend: %s\n", message.c_str());
}

// State every connection sees: the options, the connection counter and the
// overrides set through /_admin/.
struct Shared {
  explicit Shared(const BackendOptions& o) : opts(o) {}
  void ResetAdmin() {
    admin_status = 0;
    admin_delay_ms = 0;
    admin_close = 0;
  }
  json AdminJson() const {
    std::lock_guard<std::mutex> lock(last_mu);
    return {{"status", admin_status.load()},
            {"delay_ms", admin_delay_ms.load()},
            {"close", admin_close.load()},
            {"connections", connections.load()},
            {"requests", requests.load()},
            {"last", last}};
  }

  void SetLast(json info) {
    std::lock_guard<std::mutex> lock(last_mu);
    last = std::move(info);
  }

  const BackendOptions& opts;
  std::atomic<uint64_t> connections{0};  // accepted so far, any mode
  std::atomic<uint64_t> requests{0};     // read so far, on every connection
  std::atomic<unsigned> admin_status{0};    // 0: no override
  std::atomic<unsigned> admin_delay_ms{0};  // 0: no override
  std::atomic<unsigned> admin_close{0};     // 0 serve, 1 close (FIN), 2 reset (RST)
  mutable std::mutex last_mu;
  json last = nullptr;                      // the latest non-admin request's info
};

struct TlsFacts {
  bool tls = false;
  std::string sni;
  std::string client_subject;  // X509_NAME_oneline: "/O=svc test/CN=svc test client"
  std::string version;         // "TLSv1.3"
  bool resumed = false;
};

TlsFacts ReadTlsFacts(PlainStream&) { return {}; }

TlsFacts ReadTlsFacts(TlsStream& stream) {
  TlsFacts facts;
  SSL* ssl = stream.native_handle();
  facts.tls = true;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) facts.sni = sni;
  if (X509* peer = SSL_get0_peer_certificate(ssl)) {
    char buf[512];
    if (X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf) != nullptr) {
      facts.client_subject = buf;
    }
  }
  facts.version = SSL_get_version(ssl);
  facts.resumed = SSL_session_reused(ssl) == 1;
  return facts;
}

template <class Handler>
void Handshake(PlainStream&, Handler&& next) {
  next(beast::error_code());
}

template <class Handler>
void Handshake(TlsStream& stream, Handler&& next) {
  beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
  stream.async_handshake(ssl::stream_base::server, std::forward<Handler>(next));
}

// FIN without a TLS close_notify.
void Drop(tcp::socket& socket) {
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void Drop(beast::tcp_stream& stream) { Drop(stream.socket()); }

// RST: SO_LINGER with a zero timeout makes close() abort the connection.
void Reset(tcp::socket& socket) {
  beast::error_code ec;
  socket.set_option(net::socket_base::linger(true, 0), ec);
  socket.close(ec);
}

// Plain: FIN after the last response. TLS: close_notify first, then FIN.
void CloseGracefully(PlainStream& stream, std::shared_ptr<void>) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

void CloseGracefully(TlsStream& stream, std::shared_ptr<void> keep) {
  beast::get_lowest_layer(stream).expires_after(kShutdownTimeout);
  stream.async_shutdown([keep, &stream](beast::error_code) {
    Drop(beast::get_lowest_layer(stream));
  });
}

std::string Lower(beast::string_view s) {
  std::string out(s.data(), s.size());
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Splits `body` into up to kChunkCount non-empty pieces.
std::vector<std::string> Chunks(const std::string& body) {
  std::vector<std::string> out;
  size_t step = (body.size() + kChunkCount - 1) / kChunkCount;
  for (size_t pos = 0; pos < body.size(); pos += step) out.push_back(body.substr(pos, step));
  return out;
}

// An HTTP/1.1 connection: keep-alive, one request at a time, answers as the
// request path asks (backend_control.h).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  template <class... Args>
  HttpSession(Shared& shared, uint64_t serial, Args&&... stream_args)
      : shared_(shared),
        serial_(serial),
        stream_(std::forward<Args>(stream_args)...),
        timer_(beast::get_lowest_layer(stream_).get_executor()) {}

  void Start() {
    net::dispatch(beast::get_lowest_layer(stream_).get_executor(),
                  [self = this->shared_from_this()] {
                    Handshake(self->stream_, [self](beast::error_code ec) {
                      if (ec) return Drop(beast::get_lowest_layer(self->stream_));
                      self->facts_ = ReadTlsFacts(self->stream_);
                      self->ReadHeader();
                    });
                  });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(kRequestBodyLimit);
    parser_->header_limit(kRequestHeaderLimit);
    Tcp().expires_after(milliseconds(shared_.opts.idle_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  // A request the parser rejects gets 400 (413 when too large) and a close;
  // EOF, a cut request or the idle timeout end the connection silently.
  void OnReadError(beast::error_code ec) {
    if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return Drop(Tcp());
    }
    ++request_no_;
    ++shared_.requests;
    keep_alive_ = false;
    const bool too_large = ec == http::error::body_limit || ec == http::error::header_limit;
    Respond(too_large ? http::status::payload_too_large : http::status::bad_request,
            "bad request: " + ec.message() + "\n", "text/plain");
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    Tcp().expires_after(kIoTimeout);
    const Request& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      continue_.emplace(http::status::continue_, req.version());
      http::async_write(stream_, *continue_,
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return Drop(self->Tcp());
                          self->Tcp().expires_after(kIoTimeout);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnRequest() {
    ++request_no_;
    ++shared_.requests;
    const Request& req = parser_->get();
    keep_alive_ = req.keep_alive();
    const std::string_view target = req.target();
    control_ = ParseControl(target.substr(0, target.find('?')));
    if (!control_.error.empty()) {
      return Respond(http::status::bad_request, control_.error + "\n", "text/plain");
    }
    if (control_.admin != Control::Admin::none) return OnAdmin();
    json last = Info();
    last.erase("admin");
    shared_.SetLast(std::move(last));

    unsigned delay = shared_.admin_delay_ms.load();
    if (delay == 0) delay = control_.delay_ms.value_or(shared_.opts.delay_ms);
    if (delay == 0) return Act();
    timer_.expires_after(milliseconds(delay));
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return Drop(self->Tcp());
      self->Act();
    });
  }

  void OnAdmin() {
    switch (control_.admin) {
      case Control::Admin::reset:
        shared_.ResetAdmin();
        break;
      case Control::Admin::status:
        shared_.admin_status = control_.admin_value;
        break;
      case Control::Admin::delay:
        shared_.admin_delay_ms = control_.admin_value;
        break;
      case Control::Admin::close:
        shared_.admin_close = control_.admin_value;
        break;
      case Control::Admin::info:
      case Control::Admin::none:
        break;
    }
    Respond(http::status::ok, Info().dump(-1, ' ', false, json::error_handler_t::replace),
            "application/json");
  }

  json Info() const {
    const Request& req = parser_->get();
    json headers = json::object();
    for (const auto& field : req) {
      std::string name = Lower(field.name_string());
      std::string value(field.value().data(), field.value().size());
      auto it = headers.find(name);
      if (it == headers.end()) {
        headers[name] = value;
      } else {
        *it = it->template get<std::string>() + ", " + value;
      }
    }
    return {
        {"backend", shared_.opts.name},
        {"connection", serial_},
        {"request", request_no_},
        {"sni", facts_.sni},
        {"client_subject", facts_.client_subject},
        {"resumed", facts_.resumed},
        {"tls_version", facts_.version},
        {"method", std::string(req.method_string())},
        {"target", std::string(req.target())},
        {"http_version", req.version() == 10 ? "1.0" : "1.1"},
        {"headers", headers},
        {"body_size", req.body().size()},
        {"admin", shared_.AdminJson()},
    };
  }

  // Performs what a non-admin request asked for, after its delay.
  void Act() {
    if (control_.ending == Control::Ending::close) return Reset(Tcp().socket());

    const Request& req = parser_->get();
    unsigned status = shared_.admin_status.load();
    if (status == 0) status = control_.status.value_or(shared_.opts.status);
    std::string body;
    std::string type;
    switch (control_.body) {
      case Control::Body::bytes:
        body.resize(control_.bytes);
        for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
        type = "application/octet-stream";
        break;
      case Control::Body::echo:
        body = req.body();
        type = req.count(http::field::content_type) != 0
                   ? std::string(req[http::field::content_type])
                   : "application/octet-stream";
        break;
      case Control::Body::info:
        if (shared_.opts.body) {
          body = *shared_.opts.body;
          type = "text/plain";
        } else {
          body = Info().dump(-1, ' ', false, json::error_handler_t::replace);
          type = "application/json";
        }
        break;
    }
    // 204 and 304 carry no body (RFC 9110 15.3.5, 15.4.5).
    if (status == 204 || status == 304) body.clear();

    if (control_.ending == Control::Ending::close_after_headers) {
      return HeadersThenClose(status, body, type);
    }
    if (control_.chunked) return RespondChunked(status, std::move(body), type);
    Respond(static_cast<http::status>(status), std::move(body), type);
  }

  template <class Body>
  void Stamp(http::response<Body>& res, unsigned status, const std::string& type) {
    const Request& req = parser_->get();
    res.version(req.version());
    res.result(status);
    res.set(http::field::server, "svc-test-backend");
    res.set("X-Backend", shared_.opts.name);
    res.set("X-Connection", std::to_string(serial_));
    res.set("X-Request", std::to_string(request_no_));
    res.set("X-SNI", facts_.sni);
    res.set("X-Client-Subject", facts_.client_subject);
    res.set("X-TLS-Resumed", facts_.resumed ? "1" : "0");
    res.set("X-TLS-Version", facts_.version);
    if (!type.empty()) res.set(http::field::content_type, type);
    res.keep_alive(keep_alive_);
  }

  bool IsHead() const { return parser_->get().method() == http::verb::head; }

  void Respond(http::status status, std::string body, const std::string& type) {
    res_.emplace();
    Stamp(*res_, static_cast<unsigned>(status), type);
    res_->body() = std::move(body);
    res_->prepare_payload();
    if (IsHead()) res_->body().clear();  // keeps the Content-Length of the GET answer
    Tcp().expires_after(kIoTimeout);
    http::async_write(stream_, *res_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->AfterResponse(ec);
                      });
  }

  void AfterResponse(beast::error_code ec) {
    if (ec) return Drop(Tcp());
    if (!keep_alive_) return CloseGracefully(stream_, this->shared_from_this());
    ReadHeader();
  }

  // The status line and headers (Content-Length included), then FIN: the
  // body never comes.
  void HeadersThenClose(unsigned status, const std::string& body, const std::string& type) {
    res_.emplace();
    Stamp(*res_, status, type);
    res_->body() = body;
    res_->prepare_payload();
    serializer_.emplace(*res_);
    Tcp().expires_after(kIoTimeout);
    http::async_write_header(stream_, *serializer_,
                             [self = this->shared_from_this()](beast::error_code, size_t) {
                               Drop(self->Tcp());
                             });
  }

  void RespondChunked(unsigned status, std::string body, const std::string& type) {
    chunked_head_.emplace();
    Stamp(*chunked_head_, status, type);
    const bool has_body = !IsHead() && status != 204 && status != 304;
    if (has_body) chunked_head_->chunked(true);
    chunks_ = has_body ? Chunks(body) : std::vector<std::string>();
    next_chunk_ = 0;
    head_serializer_.emplace(*chunked_head_);
    Tcp().expires_after(kIoTimeout);
    http::async_write_header(stream_, *head_serializer_,
                             [self = this->shared_from_this(), has_body](beast::error_code ec,
                                                                         size_t) {
                               if (ec) return Drop(self->Tcp());
                               if (!has_body) return self->AfterResponse(ec);
                               self->WriteChunk();
                             });
  }

  void WriteChunk() {
    auto self = this->shared_from_this();
    Tcp().expires_after(kIoTimeout);
    if (next_chunk_ == chunks_.size()) {
      net::async_write(stream_, http::make_chunk_last(),
                       [self](beast::error_code ec, size_t) { self->AfterResponse(ec); });
      return;
    }
    const std::string& chunk = chunks_[next_chunk_++];
    net::async_write(stream_, http::make_chunk(net::buffer(chunk)),
                     [self](beast::error_code ec, size_t) {
                       if (ec) return Drop(self->Tcp());
                       self->WriteChunk();
                     });
  }

  Shared& shared_;
  const uint64_t serial_;
  Stream stream_;
  net::steady_timer timer_;
  TlsFacts facts_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  uint64_t request_no_ = 0;
  bool keep_alive_ = true;
  Control control_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response_serializer<http::string_body>> serializer_;
  std::optional<http::response<http::empty_body>> chunked_head_;
  std::optional<http::response_serializer<http::empty_body>> head_serializer_;
  std::vector<std::string> chunks_;
  size_t next_chunk_ = 0;
};

// --raw: echoes every byte back until the peer closes.
template <class Stream>
class RawSession : public std::enable_shared_from_this<RawSession<Stream>> {
 public:
  template <class... Args>
  RawSession(Shared& shared, Args&&... stream_args)
      : shared_(shared), stream_(std::forward<Args>(stream_args)...) {}

  void Start() {
    net::dispatch(beast::get_lowest_layer(stream_).get_executor(),
                  [self = this->shared_from_this()] {
                    Handshake(self->stream_, [self](beast::error_code ec) {
                      if (ec) return Drop(beast::get_lowest_layer(self->stream_));
                      self->Read();
                    });
                  });
  }

 private:
  void Read() {
    beast::get_lowest_layer(stream_).expires_after(milliseconds(shared_.opts.idle_timeout_ms));
    stream_.async_read_some(net::buffer(buf_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->OnRead(ec, n);
                            });
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (ec == net::error::eof) return CloseGracefully(stream_, this->shared_from_this());
    if (ec) return Drop(beast::get_lowest_layer(stream_));
    beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
    net::async_write(stream_, net::buffer(buf_.data(), n),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return Drop(beast::get_lowest_layer(self->stream_));
                       self->Read();
                     });
  }

  Shared& shared_;
  Stream stream_;
  std::array<char, 16384> buf_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, Shared& shared, ssl::context* tls)
      : ioc_(ioc), shared_(shared), tls_(tls), acceptor_(net::make_strand(ioc)) {}

  Status Open(const tcp::endpoint& endpoint, int backlog) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(backlog, ec);
    if (ec) {
      return Error(Code::connect, "cannot listen on " + endpoint.address().to_string() + ":" +
                                      std::to_string(endpoint.port()) + ": " + ec.message());
    }
    return Status::Ok();
  }

  tcp::endpoint LocalEndpoint() const { return acceptor_.local_endpoint(); }

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             if (ec == net::error::operation_aborted) return;
                             if (ec) {
                               Log("accept: " + ec.message());
                             } else {
                               self->Serve(std::move(socket));
                             }
                             self->Accept();
                           });
  }

 private:
  void Serve(tcp::socket socket) {
    // Answers go out at once (a TLS 1.3 ticket and a response would
    // otherwise wait on Nagle's algorithm).
    beast::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    const uint64_t serial = ++shared_.connections;
    if (shared_.opts.accept == AcceptMode::hold) {
      held_.push_back(std::move(socket));  // only this strand touches held_
      return;
    }
    switch (shared_.admin_close.load()) {
      case 1:
        return Drop(socket);
      case 2:
        return Reset(socket);
      default:
        break;
    }
    const bool raw = shared_.opts.raw;
    if (tls_ != nullptr) {
      if (raw) {
        return std::make_shared<RawSession<TlsStream>>(shared_, std::move(socket), *tls_)->Start();
      }
      return std::make_shared<HttpSession<TlsStream>>(shared_, serial, std::move(socket), *tls_)
          ->Start();
    }
    if (raw) return std::make_shared<RawSession<PlainStream>>(shared_, std::move(socket))->Start();
    std::make_shared<HttpSession<PlainStream>>(shared_, serial, std::move(socket))->Start();
  }

  net::io_context& ioc_;
  Shared& shared_;
  ssl::context* tls_;
  tcp::acceptor acceptor_;
  std::vector<tcp::socket> held_;
};

// Asio reports OpenSSL failures as "asio.ssl error"; the reason is in the
// code, an OpenSSL error packed into an int (system errors carry errno).
std::string TlsMessage(const beast::error_code& ec) {
  if (ec.category() != net::error::get_ssl_category()) return ec.message();
  const unsigned long err = static_cast<unsigned int>(ec.value());
  ERR_clear_error();
  if (ERR_SYSTEM_ERROR(err)) return std::strerror(ERR_GET_REASON(err));
  const char* reason = ERR_reason_error_string(err);
  return reason != nullptr ? reason : ec.message();
}

Status MakeTlsContext(const BackendOptions& opts, std::unique_ptr<ssl::context>* out) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  beast::error_code ec;
  // An encrypted key fails at once instead of prompting on the terminal.
  ctx->set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); });
  ctx->use_certificate_chain_file(opts.tls_cert_chain, ec);
  if (ec) {
    return Error(Code::tls,
                 "--tls certificate chain '" + opts.tls_cert_chain + "': " + TlsMessage(ec));
  }
  ctx->use_private_key_file(opts.tls_key, ssl::context::pem, ec);
  if (ec) return Error(Code::tls, "--tls key '" + opts.tls_key + "': " + TlsMessage(ec));
  if (SSL_CTX_check_private_key(native) != 1) {
    return Error(Code::tls,
                 "--tls key '" + opts.tls_key + "' does not match '" + opts.tls_cert_chain + "'");
  }
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (opts.tls_max == "1.2") SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION);
  if (opts.tls_max == "1.3") SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);

  // Resumption with client verification needs a session id context.
  static const unsigned char kSessionContext[] = "svc-test-backend";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  if (!opts.session_tickets) {
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(native, 0);
  }

  if (!opts.client_ca.empty()) {
    ctx->load_verify_file(opts.client_ca, ec);
    if (ec) return Error(Code::tls, "--client-ca '" + opts.client_ca + "': " + TlsMessage(ec));
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opts.client_ca.c_str());
    if (names == nullptr) {
      return Error(Code::tls, "--client-ca '" + opts.client_ca + "': no CA names");
    }
    SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  *out = std::move(ctx);
  return Status::Ok();
}

// --accept off: the listen queue (backlog 0 holds one connection) is filled
// by our own connections, so the kernel drops every later SYN and a client's
// connect stays in SYN-SENT until its own timeout.
Status FillBacklog(const tcp::endpoint& endpoint, std::vector<int>* fds) {
  for (int i = 0; i < 16; ++i) {
    int fd = socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return Error(Code::internal, std::string("--accept off: socket: ") + std::strerror(errno));
    }
    int rc = connect(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size()));
    bool connected = rc == 0;
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      connected = poll(&p, 1, 200) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                  err == 0;
    }
    if (!connected) {
      close(fd);  // this SYN was dropped: the queue is full
      return fds->empty() ? Error(Code::internal, "--accept off: cannot connect to the listener")
                          : Status::Ok();
    }
    fds->push_back(fd);
  }
  return Error(Code::internal, "--accept off: the listen queue never filled");
}

void RunThread(net::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      Log(std::string("handler threw: ") + e.what());
    }
  }
}

}  // namespace

Status RunBackend(const BackendOptions& opts, const std::function<void(uint16_t)>& on_listening) {
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(opts.listen_host, ec);
  if (ec) {
    return Error(Code::invalid, "--listen host '" + opts.listen_host + "': not an IP address");
  }

  // Declared before the io_context: pending handlers, destroyed with it, refer to them.
  std::unique_ptr<ssl::context> tls;
  if (!opts.tls_cert_chain.empty()) SVC_TRY(MakeTlsContext(opts, &tls));
  Shared shared(opts);
  std::vector<int> backlog_fds;

  net::io_context ioc(static_cast<int>(opts.threads));
  auto listener = std::make_shared<Listener>(ioc, shared, tls.get());
  const bool accept_off = opts.accept == AcceptMode::off;
  SVC_TRY(listener->Open(tcp::endpoint(address, opts.listen_port),
                         accept_off ? 0 : net::socket_base::max_listen_connections));
  const tcp::endpoint bound = listener->LocalEndpoint();
  if (accept_off) {
    SVC_TRY(FillBacklog(bound, &backlog_fds));
  } else {
    listener->Accept();
  }

  net::signal_set stop_signals(ioc, SIGINT, SIGTERM);
  stop_signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });
  net::signal_set reset_signal(ioc, SIGUSR1);
  std::function<void()> wait_reset = [&] {
    reset_signal.async_wait([&](beast::error_code ec, int) {
      if (ec) return;
      shared.ResetAdmin();
      wait_reset();
    });
  };
  wait_reset();

  // --parent-pid: polled, because PR_SET_PDEATHSIG follows the forking
  // thread, not the process (Go runtimes fork from arbitrary threads).
  net::steady_timer parent_timer(ioc);
  const bool parent_is_ppid = opts.parent_pid != 0 && getppid() == opts.parent_pid;
  std::function<void()> watch_parent = [&] {
    parent_timer.expires_after(std::chrono::milliseconds(200));
    parent_timer.async_wait([&](beast::error_code ec) {
      if (ec) return;
      bool gone = (kill(static_cast<pid_t>(opts.parent_pid), 0) != 0 && errno == ESRCH) ||
                  (parent_is_ppid && getppid() != opts.parent_pid);
      if (gone) return ioc.stop();
      watch_parent();
    });
  };
  if (opts.parent_pid != 0) watch_parent();

  if (opts.exit_on_stdin_eof) {
    // A blocking read works on pipes, files and terminals alike; EOF becomes
    // a SIGTERM so the stop takes the one path above.
    std::thread([] {
      char buf[256];
      for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        break;
      }
      kill(getpid(), SIGTERM);
    }).detach();
  }

  on_listening(bound.port());

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < opts.threads; ++i) threads.emplace_back([&ioc] { RunThread(ioc); });
  RunThread(ioc);
  for (std::thread& t : threads) t.join();
  for (int fd : backlog_fds) close(fd);
  return Status::Ok();
}

}  // namespace svc::testing
