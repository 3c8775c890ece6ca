#include "engine/lease.h"

namespace svc {

Lease::Lease(std::shared_ptr<Engine> engine, std::unique_ptr<net::Connection> conn,
             std::shared_ptr<Upstream> upstream, std::shared_ptr<const balance::Snapshot> snapshot,
             uint32_t address, int write_timeout_ms, int read_timeout_ms, double connect_seconds)
    : engine_(std::move(engine)), conn_(std::move(conn)), upstream_(std::move(upstream)),
      snapshot_(std::move(snapshot)), address_(address), write_timeout_ms_(write_timeout_ms),
      read_timeout_ms_(read_timeout_ms), connect_seconds_(connect_seconds) {}

Lease::~Lease() { Release(false); }

Status Lease::Write(const void* buf, size_t len) {
  if (released_) return Error(Code::closed, "the connection was released");
  Status st = conn_->Write(buf, len, write_timeout_ms_);
  if (!st.ok()) broken_ = true;
  return st;
}

Status Lease::Read(void* buf, size_t cap, size_t* n) {
  if (released_) return Error(Code::closed, "the connection was released");
  Status st = conn_->Read(buf, cap, n, read_timeout_ms_);
  if (!st.ok() || (*n == 0 && cap > 0)) broken_ = true;  // errors and EOF end reuse
  return st;
}

void Lease::Release(bool reusable) {
  if (released_) return;
  released_ = true;
  const bool keep = reusable && !broken_ && !cancelled_.load() && !engine_->closed();
  if (upstream_ && snapshot_) {
    if (keep) {
      engine_->ReportTry(*upstream_, *snapshot_, address_, Engine::Outcome::ok, 0, connect_seconds_);
    } else {
      snapshot_->Release(address_);
    }
  }
  if (keep) engine_->pool().Put(std::move(conn_));
  conn_.reset();
}

}  // namespace svc
