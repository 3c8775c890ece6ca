#include "health/prober.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <sstream>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace svc::health {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

class Prober::Impl : public std::enable_shared_from_this<Prober::Impl> {
 public:
  struct Lane {
    bool healthy;
    double interval;
    asio::steady_timer timer;
    std::vector<ProbeTarget> queue;
    size_t next = 0;
    int64_t in_flight = 0;
    std::chrono::steady_clock::time_point started;
  };

  Impl(asio::io_context& io, tls::ClientContext& tls, Settings settings, TargetsFn targets, SinkFn sink)
      : strand_(asio::make_strand(io)),
        tls_(tls),
        settings_(std::move(settings)),
        targets_(std::move(targets)),
        sink_(std::move(sink)),
        lanes_{Lane{true, settings_.active.healthy.interval, asio::steady_timer(strand_), {}, 0, 0, {}},
               Lane{false, settings_.active.unhealthy.interval, asio::steady_timer(strand_), {}, 0, 0, {}}} {
    BuildRequestPrefix();
  }

  void Start() {
    asio::post(strand_, [self = shared_from_this()] {
      for (Lane& lane : self->lanes_)
        if (lane.interval > 0) self->Schedule(lane, lane.interval);  // Kong: one interval after start
    });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(sink_mu_);
      stopped_ = true;
    }
    asio::post(strand_, [self = shared_from_this()] {
      for (Lane& lane : self->lanes_) lane.timer.cancel();
    });
  }

  bool stopped() {
    std::lock_guard<std::mutex> lock(sink_mu_);
    return stopped_;
  }

  // Runs `done` unless stopped; Stop waits for a running one.
  template <class Fn>
  void Deliver(Fn&& done) {
    std::lock_guard<std::mutex> lock(sink_mu_);
    if (!stopped_) done();
  }

  void Probe(const ProbeTarget& target, std::function<void(const ProbeResult&)> done);

  const Settings& settings() const { return settings_; }
  tls::ClientContext& tls() { return tls_; }
  Strand& strand() { return strand_; }
  // "GET <path> HTTP/1.1" with Connection: close and the configured headers,
  // without the Host header (per address) and the final CRLF.
  const std::string& request_prefix() const { return request_prefix_; }

 private:
  void BuildRequestPrefix() {
    http::request<http::empty_body> req{http::verb::get, settings_.active.http_path, 11};
    req.set(http::field::connection, "close");
    req.set(http::field::user_agent, "svc-healthcheck");
    for (const auto& [name, values] : settings_.active.headers)
      for (const std::string& v : values) req.insert(name, v);
    std::ostringstream out;
    out << req.base();
    request_prefix_ = out.str();
    // Beast ends the header block with an empty line: keep it open for Host.
    if (request_prefix_.size() >= 2) request_prefix_.resize(request_prefix_.size() - 2);
  }

  void Schedule(Lane& lane, double delay_s) {
    lane.timer.expires_after(Seconds(delay_s));
    lane.timer.async_wait([self = shared_from_this(), &lane](const boost::system::error_code& ec) {
      if (ec || self->stopped()) return;
      self->RunRound(lane);
    });
  }

  void RunRound(Lane& lane) {
    lane.started = std::chrono::steady_clock::now();
    lane.queue = targets_(lane.healthy);
    lane.next = 0;
    LaunchMore(lane);
    if (lane.in_flight == 0) RoundDone(lane);
  }

  void LaunchMore(Lane& lane) {
    const int64_t limit = std::max<int64_t>(1, settings_.active.concurrency);
    while (lane.in_flight < limit && lane.next < lane.queue.size()) {
      const ProbeTarget& target = lane.queue[lane.next++];
      ++lane.in_flight;
      Probe(target, [self = shared_from_this(), &lane, target](const ProbeResult& result) {
        self->Deliver([&] { self->sink_(target, result); });
        --lane.in_flight;
        if (self->stopped()) return;
        self->LaunchMore(lane);
        if (lane.in_flight == 0 && lane.next >= lane.queue.size()) self->RoundDone(lane);
      });
    }
  }

  void RoundDone(Lane& lane) {
    lane.queue.clear();
    const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - lane.started).count();
    Schedule(lane, std::max(0.0, lane.interval - spent));
  }

  Strand strand_;
  tls::ClientContext& tls_;
  const Settings settings_;
  const TargetsFn targets_;
  const SinkFn sink_;
  Lane lanes_[2];
  std::string request_prefix_;
  std::mutex sink_mu_;
  bool stopped_ = false;
};

namespace {

// One probe of one address: connect, [handshake], request, status line.
class ProbeOp : public std::enable_shared_from_this<ProbeOp> {
 public:
  using Done = std::function<void(const ProbeResult&)>;

  ProbeOp(std::shared_ptr<Prober::Impl> prober, ProbeTarget target, Done done)
      : prober_(std::move(prober)),
        target_(std::move(target)),
        done_(std::move(done)),
        socket_(prober_->strand()),
        timer_(prober_->strand()) {
    parser_.header_limit(65536);
  }

  ~ProbeOp() {
    if (ssl_) SSL_free(ssl_);
  }

  void Start() {
    const auto& active = prober_->settings().active;
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(target_.ip, ec);
    if (ec) {
      // Never complete inside Start: the caller is still launching the round.
      asio::post(prober_->strand(), [self = shared_from_this()] {
        self->Finish(Report::tcp_failure, 0, "bad address '" + self->target_.ip + "'");
      });
      return;
    }
    const tcp::endpoint endpoint(ip, static_cast<unsigned short>(target_.port));
    Arm("connect");
    socket_.async_connect(endpoint, [self = shared_from_this(), tcp_only = active.type == "tcp"](
                                        const boost::system::error_code& ec) {
      if (self->finished_) return;
      if (self->timed_out_) return self->Finish(Report::timeout, 0, "connect timed out");
      if (ec) return self->Finish(Report::tcp_failure, 0, "connect failed: " + ec.message());
      if (tcp_only) return self->Finish(Report::success, 0, "connected");
      self->socket_.non_blocking(true);
      if (self->prober_->settings().active.type == "https") return self->StartTls();
      self->StartRequest();
    });
  }

 private:
  // Every step gets `timeout` seconds (Kong: connect, send and receive timeouts).
  void Arm(const char* step) {
    step_ = step;
    const uint64_t generation = ++generation_;
    timer_.expires_after(Seconds(prober_->settings().active.timeout));
    timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
      if (ec || self->finished_ || generation != self->generation_) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);  // the pending operation completes with the timeout
    });
  }

  // Waits until the socket is readable/writable, then runs `next`.
  template <class Next>
  void WaitFor(tcp::socket::wait_type what, Next next) {
    socket_.async_wait(what, [self = shared_from_this(), next](const boost::system::error_code& ec) {
      if (self->finished_) return;
      if (self->timed_out_) return self->Finish(Report::timeout, 0, std::string(self->step_) + " timed out");
      if (ec) return self->Finish(Report::tcp_failure, 0, std::string(self->step_) + " failed: " + ec.message());
      next();
    });
  }

  void StartTls() {
    tls::ClientPolicy policy;
    const auto& s = prober_->settings();
    policy.verify = s.active.https_verify_certificate;
    policy.chain = s.chain;
    policy.key = s.key;
    policy.store = s.store;
    policy.host = target_.sni.empty() ? target_.ip : target_.sni;
    Status st = prober_->tls().Prepare(socket_.native_handle(), policy, "probe|" + policy.host, &ssl_);
    if (!st.ok()) return Finish(Report::tcp_failure, 0, st.message());
    policy_ = std::move(policy);
    Arm("TLS handshake");
    Handshake();
  }

  void Handshake() {
    ERR_clear_error();
    const int ret = SSL_connect(ssl_);
    if (ret == 1) return StartRequest();
    const int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_WANT_READ)
      return WaitFor(tcp::socket::wait_read, [self = shared_from_this()] { self->Handshake(); });
    if (err == SSL_ERROR_WANT_WRITE)
      return WaitFor(tcp::socket::wait_write, [self = shared_from_this()] { self->Handshake(); });
    const std::string peer = target_.ip + ":" + std::to_string(target_.port);
    Status st = prober_->tls().Failure(ssl_, ret, policy_, peer);
    Finish(Report::tcp_failure, 0, st.message());
  }

  void StartRequest() {
    request_ = prober_->request_prefix();
    request_ += "Host: " + target_.host + "\r\n\r\n";
    written_ = 0;
    Arm("send");
    Write();
  }

  // Non-blocking send of the rest of the request, through TLS when there is one.
  void Write() {
    while (written_ < request_.size()) {
      const char* data = request_.data() + written_;
      const size_t left = request_.size() - written_;
      if (ssl_) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, data, static_cast<int>(left));
        if (n > 0) {
          written_ += static_cast<size_t>(n);
          continue;
        }
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_WANT_READ)
          return WaitFor(tcp::socket::wait_read, [self = shared_from_this()] { self->Write(); });
        if (err == SSL_ERROR_WANT_WRITE)
          return WaitFor(tcp::socket::wait_write, [self = shared_from_this()] { self->Write(); });
        return Finish(Report::tcp_failure, 0, "send failed: the connection broke");
      }
      const ssize_t n = ::send(socket_.native_handle(), data, left, MSG_NOSIGNAL);
      if (n > 0) {
        written_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return WaitFor(tcp::socket::wait_write, [self = shared_from_this()] { self->Write(); });
      return Finish(Report::tcp_failure, 0, std::string("send failed: ") + std::strerror(errno));
    }
    Arm("receive");
    Read();
  }

  // Reads until Beast has the status line and headers.
  void Read() {
    for (;;) {
      auto space = buffer_.prepare(4096);
      const int want = static_cast<int>(space.size());
      ssize_t n = 0;
      if (ssl_) {
        ERR_clear_error();
        const int r = SSL_read(ssl_, space.data(), want);
        if (r <= 0) {
          const int err = SSL_get_error(ssl_, r);
          if (err == SSL_ERROR_WANT_READ)
            return WaitFor(tcp::socket::wait_read, [self = shared_from_this()] { self->Read(); });
          if (err == SSL_ERROR_WANT_WRITE)
            return WaitFor(tcp::socket::wait_write, [self = shared_from_this()] { self->Read(); });
          return Closed();
        }
        n = r;
      } else {
        n = ::recv(socket_.native_handle(), space.data(), space.size(), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          return WaitFor(tcp::socket::wait_read, [self = shared_from_this()] { self->Read(); });
        if (n <= 0) return Closed();
      }
      received_ += static_cast<size_t>(n);
      buffer_.commit(static_cast<size_t>(n));
      boost::beast::error_code ec;
      const size_t used = parser_.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (parser_.is_header_done()) return Answered(parser_.get().result_int());
      if (ec && ec != http::error::need_more) return Answered(0);  // malformed: Kong's status 0
    }
  }

  // The peer closed before a whole status line and header block.
  void Closed() {
    if (received_ == 0) return Finish(Report::tcp_failure, 0, "receive failed: the connection was closed");
    Answered(0);
  }

  void Answered(int status) {
    ProbeResult result;
    result.status = status;
    const auto& active = prober_->settings().active;
    result.report = ClassifyStatus(active.healthy, active.unhealthy, status);
    result.detail = status ? "status " + std::to_string(status) : "malformed response";
    Complete(std::move(result));
  }

  void Finish(Report report, int status, std::string detail) {
    ProbeResult result;
    result.report = report;
    result.status = status;
    result.detail = std::move(detail);
    Complete(std::move(result));
  }

  void Complete(ProbeResult result) {
    if (finished_) return;
    finished_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    // An abortive close (RST): a probe is never resumed, and 10 000 probes a
    // second would otherwise leave 600 000 sockets in TIME_WAIT.
    if (socket_.is_open()) socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
    Done done = std::move(done_);
    done(result);
  }

  std::shared_ptr<Prober::Impl> prober_;
  ProbeTarget target_;
  Done done_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  SSL* ssl_ = nullptr;
  tls::ClientPolicy policy_;
  std::string request_;
  size_t written_ = 0, received_ = 0;
  boost::beast::flat_buffer buffer_;
  http::response_parser<http::empty_body> parser_;
  const char* step_ = "connect";
  uint64_t generation_ = 0;
  bool timed_out_ = false, finished_ = false;
};

}  // namespace

void Prober::Impl::Probe(const ProbeTarget& target, std::function<void(const ProbeResult&)> done) {
  auto op = std::make_shared<ProbeOp>(shared_from_this(), target, std::move(done));
  op->Start();
}

Prober::Prober(asio::io_context& io, tls::ClientContext& tls, Settings settings, TargetsFn targets, SinkFn sink)
    : impl_(std::make_shared<Impl>(io, tls, std::move(settings), std::move(targets), std::move(sink))) {}

Prober::~Prober() { Stop(); }

void Prober::Start() { impl_->Start(); }

void Prober::Stop() { impl_->Stop(); }

}  // namespace svc::health
