// svc._svc: the pybind11 extension over the stable C ABI (<svc/svc.h> only).
//
// Conventions of this file:
// - Every C call that touches the engine or a request runs with the GIL
//   released, and the binding's own locks are taken only after releasing it,
//   so a Python callback waiting for the GIL on an engine thread can never
//   deadlock against a thread waiting for one of our locks.
// - Arguments are converted by hand (not by pybind11's casters) so that every
//   mistake has one documented outcome:
//     wrong Python type (None where a value is required, int for str, ...)
//         -> TypeError "<param> must be <type>, not <type>"
//     a value the binding cannot pass to C (NUL inside a str, a lone
//     surrogate, an int outside the C int range)
//         -> svc.InvalidArgument (a ValueError) naming the parameter
//     a value the C library rejects
//         -> the svc.Error subclass of the C code, with the C message intact.
// - Errors become the exception classes of svc._errors (pure Python), looked
//   up by code on first use.
#include <pybind11/native_enum.h>
#include <pybind11/pybind11.h>

#include <svc/svc.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "svc_handles.hpp"

namespace py = pybind11;
using namespace py::literals;

namespace svc_py {
namespace {

// ===== Text ============================================================

// C text is UTF-8, but a message may quote bytes the caller passed in: decode
// so that decoding can never fail.
py::str decode(const char* s, size_t n) {
  PyObject* o = PyUnicode_DecodeUTF8(s, static_cast<Py_ssize_t>(n), "backslashreplace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}
py::str decode(const char* s) { return decode(s, std::strlen(s)); }
py::object decode_or_none(const char* s) { return s ? py::object(decode(s)) : py::object(py::none()); }

// The short type name, as Python's own messages give it ("int", "CertChain").
std::string type_name(py::handle o) {
  std::string name = Py_TYPE(o.ptr())->tp_name;
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

bool py_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// ===== Errors ==========================================================

// svc._errors.error_class(code) -> the exception class for a code.
py::object error_class(int code) {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> lookup;
  py::object& fn = lookup
                       .call_once_and_store_result([] {
                         return py::module_::import("svc._errors").attr("error_class");
                       })
                       .get_stored();
  return fn(code);
}

[[noreturn]] void raise_error(int code, const char* message, size_t len) {
  py::object cls = error_class(code);
  py::str text = decode(message, len);
  PyErr_SetObject(cls.ptr(), text.ptr());
  throw py::error_already_set();
}
[[noreturn]] void raise_error(int code, const std::string& message) {
  raise_error(code, message.data(), message.size());
}
[[noreturn]] void raise_invalid(const std::string& message) { raise_error(SVC_EINVAL, message); }
[[noreturn]] void raise_closed(const char* what) {
  raise_error(SVC_ECLOSED, std::string("the ") + what + " is closed");
}
[[noreturn]] void raise_type(const char* param, const char* expected, py::handle got) {
  throw py::type_error(std::string(param) + " must be " + expected + ", not " + type_name(got));
}

// Raises the error a C call returned, if any.
void check(const ErrorPtr& err) {
  if (!err) return;
  const char* message = svc_error_message(err.get());
  if (message == nullptr) message = "";
  raise_error(static_cast<int>(svc_error_code(err.get())), message, std::strlen(message));
}

// ===== Arguments =======================================================

// A name (host, upstream, scheme, ...): str only, no NUL, UTF-8 encodable.
std::string c_string(py::handle o, const char* param) {
  if (!PyUnicode_Check(o.ptr())) raise_type(param, "str", o);
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(o.ptr(), &n);
  if (p == nullptr) {
    PyErr_Clear();
    raise_invalid(std::string(param) + " must be text that can be encoded as UTF-8");
  }
  if (std::memchr(p, 0, static_cast<size_t>(n)) != nullptr)
    raise_invalid(std::string(param) + " must not contain NUL characters");
  return std::string(p, static_cast<size_t>(n));
}

std::optional<std::string> c_string_or_none(py::handle o, const char* param) {
  if (o.is_none()) return std::nullopt;
  return c_string(o, param);
}

// Content (PEM, JSON, YAML, hash keys): str (as UTF-8) or a bytes-like
// object, passed to C verbatim. With allow_nul false the bytes go to a
// NUL-terminated C parameter and must not contain NUL.
std::string content(py::handle o, const char* param, bool allow_nul = true) {
  std::string out;
  if (PyUnicode_Check(o.ptr())) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(o.ptr(), &n);
    if (p == nullptr) {
      PyErr_Clear();
      raise_invalid(std::string(param) + " must be text that can be encoded as UTF-8");
    }
    out.assign(p, static_cast<size_t>(n));
  } else if (PyObject_CheckBuffer(o.ptr()) != 0) {
    Py_buffer view;
    if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    out.assign(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));  // copy: the GIL goes
    PyBuffer_Release(&view);
  } else {
    raise_type(param, "str or bytes", o);
  }
  if (!allow_nul && out.find('\0') != std::string::npos)
    raise_invalid(std::string(param) + " must not contain NUL characters");
  return out;
}

// An integer argument in [lo, hi]: int or any object with __index__ (not float).
long long c_integer(py::handle o, const char* param, long long lo, long long hi) {
  if (PyFloat_Check(o.ptr()) || !PyIndex_Check(o.ptr())) raise_type(param, "int", o);
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(o.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  if (overflow != 0 || v < lo || v > hi)
    raise_invalid(std::string(param) + " must be an integer between " + std::to_string(lo) + " and " +
                  std::to_string(hi) + ": given " + py::str(i).cast<std::string>());
  return v;
}
int c_int(py::handle o, const char* param) { return static_cast<int>(c_integer(o, param, INT_MIN, INT_MAX)); }

// A flag: bool, or an int (non-zero is true).
int c_bool(py::handle o, const char* param) {
  if (PyBool_Check(o.ptr())) return o.ptr() == Py_True ? 1 : 0;
  if (PyFloat_Check(o.ptr()) || !PyIndex_Check(o.ptr())) raise_type(param, "bool", o);
  return PyObject_IsTrue(o.ptr()) ? 1 : 0;
}

// JSON text from a dict (or any Mapping), or given as str/bytes.
std::string json_text(py::handle o, const char* param) {
  if (PyUnicode_Check(o.ptr()) || PyObject_CheckBuffer(o.ptr()) != 0) return content(o, param, false);
  py::object mapping = py::module_::import("collections.abc").attr("Mapping");
  if (!py::isinstance(o, mapping)) raise_type(param, "a dict, str or bytes", o);
  py::object dumps = py::module_::import("json").attr("dumps");
  py::object text = dumps(py::dict(py::reinterpret_borrow<py::object>(o)));
  return content(text, param, false);
}

py::object json_value(const char* text) { return py::module_::import("json").attr("loads")(decode(text)); }

// ===== Peer ============================================================

py::handle peer_type() {
  // Created once at import (see the module body) and kept for the process.
  static py::handle type;
  if (!type) {
    py::object namedtuple = py::module_::import("collections").attr("namedtuple");
    py::object t = namedtuple("Peer", py::make_tuple("ip", "port", "host"), "module"_a = "svc");
    t.attr("__doc__") = "The peer a pick chose: ip (str), port (int), host (str: Host header, SNI "
                        "and verified name).";
    type = t.release();
  }
  return type;
}

// ===== Callbacks =======================================================

// The Python callable behind one subscription; userdata of the C callback.
// Freed only after svc_engine_free has joined the engine threads.
struct Callback {
  py::object fn;                   // guarded by the GIL
  std::atomic<bool> retired{false};  // set when replaced: ignore late events
  const void* owner = nullptr;       // the Engine, to refuse re-entrant calls
};

// The engine whose callback this thread is running, if any.
thread_local const void* t_in_callback_of = nullptr;

struct CallbackScope {
  const void* saved;
  explicit CallbackScope(const void* owner) : saved(t_in_callback_of) { t_in_callback_of = owner; }
  ~CallbackScope() { t_in_callback_of = saved; }
};

// An exception from the user's callable is reported through
// sys.unraisablehook and the engine goes on.
void report_unraisable(Callback* cb) {
  if (PyErr_Occurred()) PyErr_WriteUnraisable(cb->fn.ptr());
}

void health_trampoline(void* userdata, const char* upstream, const char* target, const char* address,
                       int healthy) noexcept {
  auto* cb = static_cast<Callback*>(userdata);
  if (cb == nullptr || cb->retired.load() || !Py_IsInitialized() || py_finalizing()) return;
  py::gil_scoped_acquire gil;
  if (cb->retired.load() || !cb->fn || cb->fn.is_none()) return;
  CallbackScope scope(cb->owner);
  try {
    cb->fn(decode_or_none(upstream), decode_or_none(target), decode_or_none(address), py::bool_(healthy != 0));
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable(cb->fn);
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    report_unraisable(cb);
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception in a health callback");
    report_unraisable(cb);
  }
}

void log_trampoline(void* userdata, int level, const char* message) noexcept {
  auto* cb = static_cast<Callback*>(userdata);
  if (cb == nullptr || cb->retired.load() || !Py_IsInitialized() || py_finalizing()) return;
  py::gil_scoped_acquire gil;
  if (cb->retired.load() || !cb->fn || cb->fn.is_none()) return;
  CallbackScope scope(cb->owner);
  try {
    cb->fn(py::int_(level), decode_or_none(message));
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable(cb->fn);
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    report_unraisable(cb);
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception in a log callback");
    report_unraisable(cb);
  }
}

// ===== TLS material ====================================================

class CertChain {
 public:
  explicit CertChain(ChainPtr p) : p_(std::move(p)) {}
  static std::unique_ptr<CertChain> from_pem(py::handle pem) {
    std::string text = content(pem, "pem");
    svc_cert_chain* out = nullptr;
    ErrorPtr err = take(svc_cert_chain_parse_pem(&out, text.data(), text.size()));
    check(err);
    return std::make_unique<CertChain>(ChainPtr(out));
  }
  const svc_cert_chain* get() const { return p_.get(); }

 private:
  ChainPtr p_;
};

class PrivateKey {
 public:
  explicit PrivateKey(KeyPtr p) : p_(std::move(p)) {}
  static std::unique_ptr<PrivateKey> from_pem(py::handle pem, py::handle passphrase) {
    std::string text = content(pem, "pem");
    std::optional<std::string> pass;
    if (!passphrase.is_none()) pass = content(passphrase, "passphrase", false);
    svc_private_key* out = nullptr;
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;  // decrypting runs a KDF
      err = take(svc_private_key_parse_pem(&out, text.data(), text.size(), pass ? pass->c_str() : nullptr));
    }
    check(err);
    return std::make_unique<PrivateKey>(KeyPtr(out));
  }
  const svc_private_key* get() const { return p_.get(); }

 private:
  KeyPtr p_;
};

class TrustStore {
 public:
  TrustStore() {
    svc_trust_store* out = nullptr;
    check(take(svc_trust_store_new(&out)));
    p_.reset(out);
  }
  // The C store is thread-safe and this object outlives every call made on it.
  void add_pem(py::handle pem) {
    std::string text = content(pem, "pem");
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      err = take(svc_trust_store_add_pem(p_.get(), text.data(), text.size()));
    }
    check(err);
  }
  void load_file(py::handle path) {
    std::string p = fs_path(path);
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      err = take(svc_trust_store_load_file(p_.get(), p.c_str()));
    }
    check(err);
  }
  void load_system() {
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      err = take(svc_trust_store_load_system(p_.get()));
    }
    check(err);
  }
  const svc_trust_store* get() const { return p_.get(); }

 private:
  static std::string fs_path(py::handle path) {
    if (!PyUnicode_Check(path.ptr()) && !PyBytes_Check(path.ptr()) &&
        !py::hasattr(path, "__fspath__"))
      raise_type("path", "str, bytes or os.PathLike", path);
    py::object encoded = py::module_::import("os").attr("fsencode")(path);
    return content(encoded, "path", false);
  }
  StorePtr p_;
};

// ===== Connection ======================================================

// One upstream connection of connect mode (svc_conn). Used by one thread at a
// time, except cancel() and close(), which may come from any thread.
//
// Locks: op_mu_ serialises the calls that use the connection (send, recv,
// set_timeouts, release) and may be held across a blocking read or write;
// handle_mu_ only guards c_ against being freed while cancel() uses it, and
// is never held across I/O. Both are taken with the GIL released.
class Connection {
 public:
  // Takes ownership of c; caches what never changes (peer, reused, TLS), so
  // that reading it never waits for a blocked send or recv.
  explicit Connection(svc_conn* c) : c_(c) {
    const char* ip = svc_conn_peer_ip(c);
    const char* host = svc_conn_peer_host(c);
    peer_ = peer_type()(decode(ip ? ip : ""), svc_conn_peer_port(c), decode(host ? host : ""));
    reused_ = svc_conn_reused(c) != 0;
    tls_resumed_ = svc_conn_tls_resumed(c) != 0;
    const char* v = svc_conn_tls_version(c);
    tls_version_ = v ? v : "";
  }
  ~Connection() {
    // Dropped without release(): closed, since the protocol state is unknown.
    if (c_ == nullptr) return;
    if (!py_finalizing() && PyGILState_Check()) {
      py::gil_scoped_release nogil;
      svc_conn_release(c_, 0);
    } else {
      svc_conn_release(c_, 0);
    }
    c_ = nullptr;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void send(py::handle data) {
    if (PyUnicode_Check(data.ptr()) || PyObject_CheckBuffer(data.ptr()) == 0)
      raise_type("data", "bytes, bytearray or memoryview", data);
    Py_buffer view;
    if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    // The exported buffer stays valid (and a bytearray unresizable) while the
    // GIL is released; released again with the GIL held.
    struct BufferGuard {
      Py_buffer* v;
      ~BufferGuard() { PyBuffer_Release(v); }
    } guard{&view};
    run([&](svc_conn* c) { return svc_conn_write(c, view.buf, static_cast<size_t>(view.len)); });
  }

  py::bytes recv(py::handle n) {
    auto want = static_cast<Py_ssize_t>(c_integer(n, "n", 1, PY_SSIZE_T_MAX));
    Py_ssize_t cap = want < kMaxRecv ? want : kMaxRecv;
    PyObject* raw = PyBytes_FromStringAndSize(nullptr, cap);
    if (raw == nullptr) throw py::error_already_set();
    py::object buf = py::reinterpret_steal<py::object>(raw);  // not shared: written without the GIL
    size_t got = 0;
    char* p = PyBytes_AS_STRING(raw);
    run([&](svc_conn* c) { return svc_conn_read(c, p, static_cast<size_t>(cap), &got); });
    if (static_cast<Py_ssize_t>(got) != cap) {
      raw = buf.release().ptr();
      if (_PyBytes_Resize(&raw, static_cast<Py_ssize_t>(got)) != 0) throw py::error_already_set();
      buf = py::reinterpret_steal<py::object>(raw);
    }
    return py::reinterpret_steal<py::bytes>(buf.release());
  }

  void set_timeouts(py::handle write, py::handle read) {
    int w = c_int(write, "write");
    int r = c_int(read, "read");
    run([&](svc_conn* c) { return svc_conn_set_timeouts(c, w, r); });
  }

  void cancel() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(handle_mu_);
    if (c_ != nullptr) svc_conn_cancel(c_);
  }

  void release(py::handle reusable) {
    int keep = c_bool(reusable, "reusable");
    if (!finish(keep)) raise_closed("connection");
  }

  void close() {
    {
      // Interrupt a send or recv blocked in another thread, so that close()
      // does not wait for its timeout.
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(handle_mu_);
      if (c_ != nullptr) svc_conn_cancel(c_);
    }
    finish(0);
  }

  void exit(py::handle exc_type) {
    if (closed_.load()) return;
    finish(exc_type.is_none() ? 1 : 0);
  }

  bool closed() const { return closed_.load(); }
  py::object peer() const {
    check_open();
    return peer_;
  }
  bool reused() const {
    check_open();
    return reused_;
  }
  bool tls_resumed() const {
    check_open();
    return tls_resumed_;
  }
  py::str tls_version() const {
    check_open();
    return py::str(tls_version_);
  }

 private:
  static constexpr Py_ssize_t kMaxRecv = 1 << 20;  // recv() returns at most 1 MiB per call

  void check_open() const {
    if (closed_.load()) raise_closed("connection");
  }

  // Releases the connection; false when it was already released.
  bool finish(int reusable) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> op(op_mu_);  // after a send/recv in flight
    svc_conn* c = nullptr;
    {
      std::lock_guard<std::mutex> lk(handle_mu_);
      c = c_;
      c_ = nullptr;
      closed_.store(true);
    }
    if (c == nullptr) return false;
    svc_conn_release(c, reusable);
    return true;
  }

  template <class F>
  void run(F&& f) {
    bool closed = false;
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(op_mu_);
      if (c_ == nullptr)
        closed = true;
      else
        err = take(f(c_));
    }
    if (closed) raise_closed("connection");
    check(err);
  }

  std::mutex op_mu_;
  std::mutex handle_mu_;
  svc_conn* c_;  // written under both locks, read under either; NULL once released
  std::atomic<bool> closed_{false};
  py::object peer_;
  bool reused_ = false;
  bool tls_resumed_ = false;
  std::string tls_version_;
};

// ===== Request =========================================================

class Request;

// The request whose balancer callback this thread is running, if any: that
// thread already holds the request's lock (inside svc_request_connect or
// svc_request_send).
thread_local Request* t_in_balancer_of = nullptr;

svc_error* balancer_trampoline(void* userdata, svc_request* r) noexcept;

class Request {
 public:
  explicit Request(svc_request* r) : r_(r) {}
  ~Request() { svc_request_free(r_); }  // the last reference is gone: no other user
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void close() {
    refuse_in_balancer("close");
    py::gil_scoped_release nogil;
    {
      // A connect blocked in another thread ends now (Cancelled) instead of
      // at its timeout.
      std::lock_guard<std::mutex> hk(handle_mu_);
      if (r_ != nullptr) svc_request_cancel(r_);
    }
    std::lock_guard<std::mutex> lk(mu_);
    std::lock_guard<std::mutex> hk(handle_mu_);
    svc_request_free(r_);  // NULL ok: close is idempotent
    r_ = nullptr;
  }
  bool closed() {
    if (t_in_balancer_of == this) return false;
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(mu_);
    return r_ == nullptr;
  }

  void set_upstream(py::handle host) {
    std::string h = c_string(host, "host");
    run([&](svc_request* r) { return svc_set_upstream(r, h.c_str()); });
  }
  void set_target(py::handle host, py::handle port) {
    std::string h = c_string(host, "host");
    int p = c_int(port, "port");
    run([&](svc_request* r) { return svc_set_target(r, h.c_str(), p); });
  }
  void set_tls_cert_key(py::handle chain, py::handle key) {
    if (!py::isinstance<CertChain>(chain)) raise_type("chain", "a CertChain", chain);
    if (!py::isinstance<PrivateKey>(key)) raise_type("key", "a PrivateKey", key);
    const svc_cert_chain* c = chain.cast<const CertChain&>().get();
    const svc_private_key* k = key.cast<const PrivateKey&>().get();
    run([&](svc_request* r) { return svc_set_tls_cert_key(r, c, k); });
  }
  void set_tls_verify(py::handle on) {
    int v = c_bool(on, "on");
    run([&](svc_request* r) { return svc_set_tls_verify(r, v); });
  }
  void set_tls_verify_depth(py::handle depth) {
    int d = c_int(depth, "depth");
    run([&](svc_request* r) { return svc_set_tls_verify_depth(r, d); });
  }
  void set_tls_verify_store(py::handle store) {
    if (!py::isinstance<TrustStore>(store)) raise_type("store", "a TrustStore", store);
    const svc_trust_store* s = store.cast<const TrustStore&>().get();
    run([&](svc_request* r) { return svc_set_tls_verify_store(r, s); });
  }
  void set_retries(py::handle retries) {
    int n = c_int(retries, "retries");
    run([&](svc_request* r) { return svc_set_retries(r, n); });
  }
  void set_timeouts(py::handle connect, py::handle write, py::handle read) {
    int c = c_int(connect, "connect");
    int w = c_int(write, "write");
    int rd = c_int(read, "read");
    run([&](svc_request* r) { return svc_set_timeouts(r, c, w, rd); });
  }
  void set_hash_key(py::handle key) {
    std::string k = content(key, "key");
    run([&](svc_request* r) { return svc_set_hash_key(r, k.data(), k.size()); });
  }
  void set_scheme(py::handle scheme) {
    std::string s = c_string(scheme, "scheme");
    run([&](svc_request* r) { return svc_request_set_scheme(r, s.c_str()); });
  }
  py::str scheme() {
    std::string s = read([](svc_request* r) {
      const char* p = svc_request_scheme(r);
      return std::string(p ? p : "");
    });
    return py::str(s);
  }
  void set_hash_input(py::handle kind, py::handle value, py::handle name) {
    int k = c_int(kind, "kind");
    std::optional<std::string> v;
    if (!value.is_none()) v = content(value, "value", false);
    std::optional<std::string> n = c_string_or_none(name, "name");
    run([&](svc_request* r) {
      return svc_request_set_hash_input(r, static_cast<svc_hash_on>(k), n ? n->c_str() : nullptr,
                                        v ? v->c_str() : nullptr);
    });
  }
  void set_phase(py::handle phase) {
    int p = c_int(phase, "phase");
    run([&](svc_request* r) { return svc_request_set_phase(r, static_cast<svc_phase>(p)); });
  }
  py::object phase() {
    int p = read([](svc_request* r) { return static_cast<int>(svc_request_phase(r)); });
    return py::cast(static_cast<svc_phase>(p));
  }
  int tries() {
    return read([](svc_request* r) { return svc_request_tries(r); });
  }

  py::object pick() {
    refuse_in_balancer("pick");
    std::string ip, host;
    int port = 0;
    run([&](svc_request* r) {
      svc_error* err = svc_request_pick(r);
      if (err == nullptr) {  // copy while the request is locked: borrowed until the next pick
        const char* i = svc_request_peer_ip(r);
        const char* h = svc_request_peer_host(r);
        ip = i ? i : "";
        host = h ? h : "";
        port = svc_request_peer_port(r);
      }
      return err;
    });
    return peer_type()(decode(ip.data(), ip.size()), port, decode(host.data(), host.size()));
  }
  void report(py::handle outcome, py::handle http_status, py::handle latency_us) {
    refuse_in_balancer("report");
    int o = c_int(outcome, "outcome");
    int status = c_int(http_status, "http_status");
    auto latency = static_cast<uint32_t>(c_integer(latency_us, "latency_us", 0, UINT32_MAX));
    run([&](svc_request* r) { return svc_request_report(r, static_cast<svc_outcome>(o), status, latency); });
  }

  py::object peer() {
    bool picked = false;
    std::string ip, host;
    int port = 0;
    read([&](svc_request* r) {
      const char* i = svc_request_peer_ip(r);
      const char* h = svc_request_peer_host(r);
      picked = i != nullptr;
      ip = i ? i : "";
      host = h ? h : "";
      port = svc_request_peer_port(r);
      return 0;
    });
    if (!picked) return py::none();
    return peer_type()(decode(ip.data(), ip.size()), port, decode(host.data(), host.size()));
  }

  // ----- Connect mode -----

  void on_balancer(py::handle fn) {
    refuse_in_balancer("on_balancer");
    if (!fn.is_none() && !PyCallable_Check(fn.ptr())) raise_type("callback", "callable or None", fn);
    const bool set = !fn.is_none();
    run([&](svc_request* r) { return svc_request_on_balancer(r, set ? balancer_trampoline : nullptr, this); });
    balancer_fn_ = py::reinterpret_borrow<py::object>(fn);
  }

  std::unique_ptr<Connection> connect() {
    refuse_in_balancer("connect");
    balancer_exc_ = py::object();
    bool closed = false;
    ErrorPtr err;
    svc_conn* out = nullptr;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(mu_);
      if (r_ == nullptr)
        closed = true;
      else
        err = take(svc_request_connect(r_, &out));
    }
    ConnPtr conn(out);
    py::object cause = std::move(balancer_exc_);
    balancer_exc_ = py::object();
    if (closed) raise_closed("request");
    if (err) raise_with_cause(err, std::move(cause));
    return std::make_unique<Connection>(conn.release());
  }

  // ----- Send mode -----

  // One HTTP/1.1 exchange through svc_request_send -> svc.Response. The
  // arguments are converted (and the body's buffer exported) with the GIL
  // held; the exchange, with its retries and balancer callbacks, runs with
  // the GIL released under the request lock, exactly like connect().
  py::object send(py::handle method, py::handle path, py::handle headers, py::handle body) {
    refuse_in_balancer("send");
    std::string m = c_string(method, "method");
    std::string p = c_string(path, "path");
    HeaderLines lines;
    header_lines(headers, &lines);
    BodyView b(body);
    balancer_exc_ = py::object();
    bool closed = false;
    ErrorPtr err;
    svc_response* out = nullptr;
    std::string host;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(mu_);
      if (r_ == nullptr) {
        closed = true;
      } else {
        err = take(svc_request_send(r_, m.c_str(), p.c_str(), lines.ptrs.empty() ? nullptr : lines.ptrs.data(),
                                    b.data, b.len, &out));
        if (!err) {  // the host of the try that answered (Host header, SNI)
          const char* h = svc_request_peer_host(r_);
          host = h ? h : "";
        }
      }
    }
    ResponsePtr res(out);
    py::object cause = std::move(balancer_exc_);
    balancer_exc_ = py::object();
    if (closed) raise_closed("request");
    if (err) raise_with_cause(err, std::move(cause));
    return make_response(res.get(), host);
  }

  void cancel() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(handle_mu_);
    if (r_ != nullptr) svc_request_cancel(r_);
  }

  // The balancer callback, on the thread in svc_request_connect, GIL held.
  svc_error* run_balancer() {
    if (!balancer_fn_ || balancer_fn_.is_none()) return nullptr;
    BalancerScope scope(this);
    py::object fn = balancer_fn_;  // a strong reference for the call
    try {
      // The existing Python object of this request (the caller of connect holds it).
      py::object self = py::cast(this, py::return_value_policy::reference);
      fn(self);
      return nullptr;
    } catch (py::error_already_set& e) {
      py::object value = e.value();
      balancer_exc_ = value;
      return error_for(value);
    } catch (const std::exception& e) {
      return svc_error_new(SVC_EINTERNAL, e.what());
    } catch (...) {
      return svc_error_new(SVC_EINTERNAL, "unknown C++ exception in a balancer callback");
    }
  }

  // For tp_traverse / tp_clear (the callable may refer to this request).
  py::object& balancer_fn() { return balancer_fn_; }

 private:
  struct BalancerScope {
    Request* saved;
    explicit BalancerScope(Request* r) : saved(t_in_balancer_of) { t_in_balancer_of = r; }
    ~BalancerScope() { t_in_balancer_of = saved; }
  };

  // Raises the error of a connect or send; `cause` is what the balancer
  // callback raised during it, if anything.
  [[noreturn]] static void raise_with_cause(const ErrorPtr& err, py::object cause) {
    if (cause && !PyObject_IsInstance(cause.ptr(), PyExc_Exception)) {
      // KeyboardInterrupt, SystemExit, ...: the callback's own exception goes on.
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(cause.ptr())), cause.ptr());
      throw py::error_already_set();
    }
    const char* message = svc_error_message(err.get());
    if (message == nullptr) message = "";
    py::object exc = error_class(static_cast<int>(svc_error_code(err.get())))(decode(message));
    if (cause) PyException_SetCause(exc.ptr(), cause.release().ptr());  // steals
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw py::error_already_set();
  }

  // The "Name: value" lines of send()'s headers, NULL-terminated for C.
  struct HeaderLines {
    std::vector<std::string> lines;
    std::vector<const char*> ptrs;  // into lines, then NULL; empty when there are none
  };

  static std::string header_part(py::handle o, const char* what) {
    if (!PyUnicode_Check(o.ptr())) raise_type(what, "str", o);
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(o.ptr(), &n);
    if (p == nullptr) {
      PyErr_Clear();
      raise_invalid(std::string(what) + " must be text that can be encoded as UTF-8");
    }
    return std::string(p, static_cast<size_t>(n));
  }

  static void add_header(HeaderLines* out, py::handle name, py::handle value) {
    std::string line = header_part(name, "header name");
    line += ": ";
    line += header_part(value, "header value");
    // C takes NUL-terminated lines: refuse a NUL here, as C refuses CR and LF.
    if (line.find('\0') != std::string::npos)
      raise_invalid("header '" + line.substr(0, 200) + "' contains CR, LF or NUL");
    out->lines.push_back(std::move(line));
  }

  // headers: None, a Mapping of str to str, or an iterable of (name, value)
  // pairs (tuples or lists of two str).
  static void header_lines(py::handle headers, HeaderLines* out) {
    constexpr const char* kExpected = "a mapping or an iterable of (name, value) pairs";
    if (headers.is_none()) return;
    if (PyDict_Check(headers.ptr())) {
      PyObject *k = nullptr, *v = nullptr;
      Py_ssize_t pos = 0;
      out->lines.reserve(static_cast<size_t>(PyDict_Size(headers.ptr())));
      while (PyDict_Next(headers.ptr(), &pos, &k, &v)) add_header(out, k, v);
    } else if (PyUnicode_Check(headers.ptr()) || PyBytes_Check(headers.ptr()) ||
               PyByteArray_Check(headers.ptr())) {
      raise_type("headers", kExpected, headers);
    } else {
      py::object items;
      if (py::isinstance(headers, py::module_::import("collections.abc").attr("Mapping")))
        items = headers.attr("items")();
      else if (PyIter_Check(headers.ptr()) || py::hasattr(headers, "__iter__"))
        items = py::reinterpret_borrow<py::object>(headers);
      else
        raise_type("headers", kExpected, headers);
      for (py::handle item : items) {
        if (!(PyTuple_Check(item.ptr()) || PyList_Check(item.ptr())) || PySequence_Size(item.ptr()) != 2)
          throw py::type_error(std::string("headers must be ") + kExpected + ": an item is " +
                               (PyTuple_Check(item.ptr()) || PyList_Check(item.ptr())
                                    ? "a " + type_name(item) + " of length " +
                                          std::to_string(PySequence_Size(item.ptr()))
                                    : type_name(item)));
        py::object pair = py::reinterpret_borrow<py::object>(item);
        add_header(out, pair[py::int_(0)], pair[py::int_(1)]);
      }
    }
    out->ptrs.reserve(out->lines.size() + 1);
    for (const std::string& line : out->lines) out->ptrs.push_back(line.c_str());
    if (!out->ptrs.empty()) out->ptrs.push_back(nullptr);
  }

  // send()'s body, without a copy: bytes and str are immutable and held by
  // the caller; any other buffer is exported (a bytearray cannot be resized
  // meanwhile) and released with the GIL held.
  struct BodyView {
    const void* data = nullptr;
    size_t len = 0;
    Py_buffer view{};
    bool exported = false;
    explicit BodyView(py::handle o) {
      if (PyBytes_Check(o.ptr())) {
        data = PyBytes_AS_STRING(o.ptr());
        len = static_cast<size_t>(PyBytes_GET_SIZE(o.ptr()));
      } else if (PyUnicode_Check(o.ptr())) {
        Py_ssize_t n = 0;
        const char* p = PyUnicode_AsUTF8AndSize(o.ptr(), &n);
        if (p == nullptr) {
          PyErr_Clear();
          raise_invalid("body must be text that can be encoded as UTF-8");
        }
        data = p;
        len = static_cast<size_t>(n);
      } else if (PyObject_CheckBuffer(o.ptr()) != 0) {
        if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
        exported = true;
        data = view.buf;
        len = static_cast<size_t>(view.len);
      } else {
        raise_type("body", "bytes, bytearray, memoryview or str", o);
      }
    }
    ~BodyView() {
      if (exported) PyBuffer_Release(&view);
    }
    BodyView(const BodyView&) = delete;
    BodyView& operator=(const BodyView&) = delete;
  };

  // A response header value: UTF-8, or Latin-1 when it is not valid UTF-8
  // (never fails).
  static PyObject* header_value(const char* s) {
    const auto n = static_cast<Py_ssize_t>(std::strlen(s));
    PyObject* o = PyUnicode_DecodeUTF8(s, n, nullptr);
    if (o == nullptr) {
      PyErr_Clear();
      o = PyUnicode_DecodeLatin1(s, n, nullptr);
    }
    return o;
  }

  // svc._response.Headers and Response (pure Python), looked up once.
  struct ResponseTypes {
    py::object headers;
    py::object response;
  };
  static const ResponseTypes& response_types() {
    PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<ResponseTypes> types;
    return types
        .call_once_and_store_result([] {
          py::module_ mod = py::module_::import("svc._response");
          return ResponseTypes{mod.attr("Headers"), mod.attr("Response")};
        })
        .get_stored();
  }

  static py::object make_response(const svc_response* res, const std::string& host) {
    const ResponseTypes& types = response_types();
    py::object headers = types.headers();
    const size_t n = svc_response_header_count(res);
    for (size_t i = 0; i < n; ++i) {
      const char* name = nullptr;
      const char* value = nullptr;
      if (svc_response_header_at(res, i, &name, &value) == 0) break;
      py::object pair = py::reinterpret_steal<py::object>(PyTuple_New(2));
      if (!pair) throw py::error_already_set();
      PyObject* k = header_value(name ? name : "");
      if (k == nullptr) throw py::error_already_set();
      PyTuple_SET_ITEM(pair.ptr(), 0, k);
      PyObject* v = header_value(value ? value : "");
      if (v == nullptr) throw py::error_already_set();
      PyTuple_SET_ITEM(pair.ptr(), 1, v);
      if (PyList_Append(headers.ptr(), pair.ptr()) != 0) throw py::error_already_set();
    }
    size_t len = 0;
    const void* data = svc_response_body(res, &len);
    py::object body = py::reinterpret_steal<py::object>(
        PyBytes_FromStringAndSize(static_cast<const char*>(data), static_cast<Py_ssize_t>(len)));
    if (!body) throw py::error_already_set();
    const char* ip = svc_response_peer_ip(res);
    py::object peer = peer_type()(decode(ip ? ip : ""), svc_response_peer_port(res), decode(host.data(), host.size()));
    return types.response(svc_response_status(res), std::move(headers), std::move(body), std::move(peer));
  }

  void refuse_in_balancer(const char* method) const {
    if (t_in_balancer_of == this)
      throw std::runtime_error(std::string("Request.") + method +
                               "() must not be called from the request's own balancer callback");
  }

  // The svc_error a Python exception from the balancer callback becomes: an
  // svc.Error keeps its code and message, anything else is SVC_EINTERNAL
  // with its repr().
  static svc_error* error_for(py::handle value) {
    int code = SVC_EINTERNAL;
    std::string message;
    try {
      py::object base = py::module_::import("svc._errors").attr("Error");
      if (py::isinstance(value, base)) {
        code = py::int_(value.attr("code")).cast<int>();
        message = py::str(value).cast<std::string>();
      } else {
        message = py::repr(value).cast<std::string>();
      }
    } catch (py::error_already_set& e) {
      code = SVC_EINTERNAL;
      message = std::string("the balancer callback's exception could not be read: ") + e.what();
    }
    return svc_error_new(static_cast<svc_code>(code), message.c_str());
  }

  // Runs f(request) -> svc_error* without the GIL, under the request lock
  // (a request is used by one thread at a time), and raises its error.
  // Inside this request's balancer callback the lock is already held by this
  // thread (svc_request_connect is running): f runs directly.
  template <class F>
  void run(F&& f) {
    if (t_in_balancer_of == this) {
      check(take(f(r_)));
      return;
    }
    bool closed = false;
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(mu_);
      if (r_ == nullptr)
        closed = true;
      else
        err = take(f(r_));
    }
    if (closed) raise_closed("request");
    check(err);
  }
  template <class F>
  auto read(F&& f) -> decltype(f(static_cast<svc_request*>(nullptr))) {
    if (t_in_balancer_of == this) return f(r_);
    bool closed = false;
    decltype(f(static_cast<svc_request*>(nullptr))) value{};
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(mu_);
      if (r_ == nullptr)
        closed = true;
      else
        value = f(r_);
    }
    if (closed) raise_closed("request");
    return value;
  }

  std::mutex mu_;          // one user at a time; held across connect
  std::mutex handle_mu_;   // guards r_ for cancel(); never held across I/O
  svc_request* r_;         // written under both locks, read under either; NULL once closed
  py::object balancer_fn_;   // guarded by the GIL
  py::object balancer_exc_;  // what the callback raised during the connect in flight (GIL)
};

svc_error* balancer_trampoline(void* userdata, svc_request*) noexcept {
  auto* self = static_cast<Request*>(userdata);
  if (self == nullptr) return nullptr;
  if (!Py_IsInitialized() || py_finalizing())
    return svc_error_new(SVC_ECANCELED, "the Python interpreter is shutting down");
  py::gil_scoped_acquire gil;
  return self->run_balancer();
}

// ===== Engine ==========================================================

class Engine;
std::mutex g_live_mu;
std::set<Engine*> g_live;  // engines not yet destroyed, closed at interpreter exit

class Engine {
 public:
  explicit Engine(py::handle options) {
    std::optional<std::string> text;
    if (!options.is_none()) text = json_text(options, "options");
    svc_engine* out = nullptr;
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      err = take(svc_engine_new(&out, text ? text->c_str() : nullptr));
    }
    check(err);
    e_ = out;
    std::lock_guard<std::mutex> lk(g_live_mu);
    g_live.insert(this);
  }

  ~Engine() {
    {
      std::lock_guard<std::mutex> lk(g_live_mu);
      g_live.erase(this);
    }
    svc_engine* e = e_;
    e_ = nullptr;
    if (e != nullptr && t_in_callback_of == this) {
      // Dropped by its own callback: svc_engine_free would join this very
      // thread. Free it from another thread once the callback returns; the
      // callables are leaked on purpose (freeing them needs the GIL then).
      for (auto& cb : callbacks_) cb->retired.store(true);
      callbacks_.release_all();
      std::thread([e] { svc_engine_free(e); }).detach();
      return;
    }
    if (e != nullptr) {
      py::gil_scoped_release nogil;  // joins threads that may wait for the GIL
      svc_engine_free(e);
    }
    callbacks_.clear();  // GIL held again
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void close() {
    refuse_reentry();
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::shared_mutex> lk(mu_);  // waits for calls in flight
      if (e_ != nullptr) svc_engine_free(e_);     // joins the engine threads
      e_ = nullptr;
      closed_.store(true);
    }
    callbacks_.clear();  // no callback can run any more
  }
  bool closed() const { return closed_.load(); }

  void load_config(py::handle source) {
    std::string text = config_text(source);
    run([&](svc_engine* e) { return svc_engine_load_config(e, text.data(), text.size()); });
  }
  void upsert_upstream(py::handle entity) {
    std::string json = json_text(entity, "entity");
    run([&](svc_engine* e) { return svc_upstream_upsert(e, json.c_str()); });
  }
  void delete_upstream(py::handle name) {
    std::string n = c_string(name, "name");
    run([&](svc_engine* e) { return svc_upstream_delete(e, n.c_str()); });
  }
  py::object upstream(py::handle name) {
    std::string n = c_string(name, "name");
    CharsPtr json;
    run([&](svc_engine* e) {
      char* out = nullptr;
      svc_error* err = svc_upstream_get(e, n.c_str(), &out);
      json.reset(out);
      return err;
    });
    return json_value(json.get());
  }
  void add_target(py::handle upstream, py::handle target, py::handle weight) {
    std::string u = c_string(upstream, "upstream");
    std::string t = c_string(target, "target");
    int w = c_int(weight, "weight");
    run([&](svc_engine* e) { return svc_target_add(e, u.c_str(), t.c_str(), w); });
  }
  void delete_target(py::handle upstream, py::handle target) {
    std::string u = c_string(upstream, "upstream");
    std::string t = c_string(target, "target");
    run([&](svc_engine* e) { return svc_target_delete(e, u.c_str(), t.c_str()); });
  }
  void set_target_health(py::handle upstream, py::handle target, py::handle healthy, py::handle address) {
    std::string u = c_string(upstream, "upstream");
    std::string t = c_string(target, "target");
    int h = c_bool(healthy, "healthy");
    std::optional<std::string> a = c_string_or_none(address, "address");
    run([&](svc_engine* e) { return svc_target_set_health(e, u.c_str(), t.c_str(), a ? a->c_str() : nullptr, h); });
  }
  py::object health(py::handle upstream) {
    std::string u = c_string(upstream, "upstream");
    CharsPtr json;
    run([&](svc_engine* e) {
      char* out = nullptr;
      svc_error* err = svc_upstream_health(e, u.c_str(), &out);
      json.reset(out);
      return err;
    });
    return json_value(json.get());
  }
  void on_health(py::handle fn) { subscribe(fn, health_current_, [](svc_engine* e, Callback* cb) {
    return svc_engine_on_health(e, cb ? health_trampoline : nullptr, cb);
  }); }
  void on_log(py::handle fn) { subscribe(fn, log_current_, [](svc_engine* e, Callback* cb) {
    return svc_engine_on_log(e, cb ? log_trampoline : nullptr, cb);
  }); }

  std::unique_ptr<Request> request() {
    svc_request* out = nullptr;
    run([&](svc_engine* e) { return svc_request_new(&out, e); });
    return std::make_unique<Request>(out);
  }

  // Closes every engine still open (atexit): no engine thread may call into
  // an interpreter that is shutting down.
  static void close_all() {
    for (;;) {
      py::object ref;
      {
        std::lock_guard<std::mutex> lk(g_live_mu);
        for (Engine* e : g_live) {
          if (!e->closed()) {
            ref = py::cast(e, py::return_value_policy::reference);  // the existing wrapper
            break;
          }
        }
      }
      if (!ref) return;
      ref.cast<Engine&>().close();
    }
  }

 private:
  // Callback structs, deleted only when no engine thread can use them.
  struct CallbackList {
    std::vector<Callback*> items;
    ~CallbackList() { clear(); }
    void clear() {
      for (Callback* cb : items) delete cb;
      items.clear();
    }
    void release_all() { items.clear(); }
    std::vector<Callback*>::iterator begin() { return items.begin(); }
    std::vector<Callback*>::iterator end() { return items.end(); }
  };

  void refuse_reentry() const {
    if (t_in_callback_of == this)
      throw std::runtime_error("an engine callback must not call into its own engine (svc.h forbids it)");
  }

  std::string config_text(py::handle source) {
    py::module_ os = py::module_::import("os");
    if (PyUnicode_Check(source.ptr())) {
      // A str naming an existing file is read; any other str is the document.
      std::string s = content(source, "source");
      if (!s.empty() && s.size() < 4096 && s.find_first_of(std::string("\n{\0", 3)) == std::string::npos &&
          os.attr("path").attr("isfile")(source).cast<bool>())
        return read_file(source);
      return s;
    }
    if (PyObject_CheckBuffer(source.ptr()) != 0) return content(source, "source");
    if (py::hasattr(source, "__fspath__")) return read_file(source);
    return json_text(source, "source");
  }
  static std::string read_file(py::handle path) {
    py::object data = py::module_::import("pathlib").attr("Path")(path).attr("read_bytes")();
    return content(data, "source");
  }

  template <class F>
  void run(F&& f) {
    refuse_reentry();
    bool closed = false;
    ErrorPtr err;
    {
      py::gil_scoped_release nogil;
      std::shared_lock<std::shared_mutex> lk(mu_);
      if (e_ == nullptr)
        closed = true;
      else
        err = take(f(e_));
    }
    if (closed) raise_closed("engine");
    check(err);
  }

  template <class F>
  void subscribe(py::handle fn, Callback*& current, F&& c_subscribe) {
    if (!fn.is_none() && !PyCallable_Check(fn.ptr())) raise_type("callback", "callable or None", fn);
    Callback* cb = nullptr;
    if (!fn.is_none()) {
      auto owned = std::make_unique<Callback>();
      owned->fn = py::reinterpret_borrow<py::object>(fn);
      owned->owner = this;
      callbacks_.items.push_back(owned.get());
      cb = owned.release();
    }
    Callback* retired = nullptr;
    run([&](svc_engine* e) {
      std::lock_guard<std::mutex> lk(sub_mu_);  // keeps C's subscriber and `current` in step
      svc_error* err = c_subscribe(e, cb);
      if (err == nullptr) {
        retired = current;
        current = cb;
        if (retired) retired->retired.store(true);
      }
      return err;
    });
    // Drop the replaced callable now; its struct stays until close.
    if (retired) retired->fn = py::none();
  }

  std::shared_mutex mu_;  // shared by calls, exclusive for close
  svc_engine* e_ = nullptr;
  std::atomic<bool> closed_{false};
  std::mutex sub_mu_;
  Callback* health_current_ = nullptr;
  Callback* log_current_ = nullptr;
  CallbackList callbacks_;  // guarded by the GIL
};

}  // namespace
}  // namespace svc_py

PYBIND11_MODULE(_svc, m) {
  using namespace svc_py;
  m.doc() = "svc._svc: the binding of svc.h. Use the public package `svc`.";

  // ----- Enums (values from svc.h) -----
  py::native_enum<svc_code>(m, "Code", "enum.IntEnum", "svc_code: error codes (append-only).")
      .value("OK", SVC_OK)
      .value("EINVAL", SVC_EINVAL)
      .value("EPHASE", SVC_EPHASE)
      .value("ENOTFOUND", SVC_ENOTFOUND)
      .value("EEXIST", SVC_EEXIST)
      .value("ECONFIG", SVC_ECONFIG)
      .value("ENOPEER", SVC_ENOPEER)
      .value("EDNS", SVC_EDNS)
      .value("ECONNECT", SVC_ECONNECT)
      .value("ETIMEOUT", SVC_ETIMEOUT)
      .value("ETLS", SVC_ETLS)
      .value("EPROTO", SVC_EPROTO)
      .value("ECLOSED", SVC_ECLOSED)
      .value("ENOMEM", SVC_ENOMEM)
      .value("EINTERNAL", SVC_EINTERNAL)
      .value("ECANCELED", SVC_ECANCELED)
      .finalize();
  py::native_enum<svc_phase>(m, "Phase", "enum.IntEnum", "svc_phase: request phases, after Kong's.")
      .value("REWRITE", SVC_PHASE_REWRITE)
      .value("ACCESS", SVC_PHASE_ACCESS)
      .value("BALANCER", SVC_PHASE_BALANCER)
      .value("LOG", SVC_PHASE_LOG)
      .finalize();
  py::native_enum<svc_outcome>(m, "Outcome", "enum.IntEnum", "svc_outcome: what happened on one try.")
      .value("OK", SVC_OUTCOME_OK)
      .value("HTTP", SVC_OUTCOME_HTTP)
      .value("TCP_FAILURE", SVC_OUTCOME_TCP_FAILURE)
      .value("TIMEOUT", SVC_OUTCOME_TIMEOUT)
      .finalize();
  py::native_enum<svc_hash_on>(m, "HashOn", "enum.IntEnum",
                               "svc_hash_on: request attributes an upstream's hash_on reads.")
      .value("CONSUMER", SVC_HASH_CONSUMER)
      .value("IP", SVC_HASH_IP)
      .value("HEADER", SVC_HASH_HEADER)
      .value("COOKIE", SVC_HASH_COOKIE)
      .value("PATH", SVC_HASH_PATH)
      .value("QUERY_ARG", SVC_HASH_QUERY_ARG)
      .value("URI_CAPTURE", SVC_HASH_URI_CAPTURE)
      .finalize();

  // ----- Version and codes -----
  m.def("version", [] { return std::string(svc_version()); },
        "The C library's version, svc_version() (\"MAJOR.MINOR.PATCH\").");
  m.def("code_name", [](py::handle code) { return std::string(svc_code_name(static_cast<svc_code>(c_int(code, "code")))); },
        py::arg("code"), "svc_code_name(): \"SVC_EINVAL\" for Code.EINVAL, \"SVC_UNKNOWN\" outside the enum.");

  m.attr("Peer") = peer_type();

  // ----- TLS material -----
  py::class_<CertChain>(m, "CertChain", "A parsed PEM certificate chain (leaf first). Immutable, thread-safe.")
      .def_static("from_pem", &CertChain::from_pem, py::arg("pem"),
                  "Parses a PEM chain (str or bytes). InvalidArgument with the reason.");
  py::class_<PrivateKey>(m, "PrivateKey", "A parsed PEM private key. Immutable, thread-safe.")
      .def_static("from_pem", &PrivateKey::from_pem, py::arg("pem"), py::arg("passphrase") = py::none(),
                  "Parses a PEM key (str or bytes), decrypting it with passphrase when given.");
  py::class_<TrustStore>(m, "TrustStore",
                         "Trusted CA certificates; frozen once a request uses it. Thread-safe.")
      .def(py::init<>())
      .def("add_pem", &TrustStore::add_pem, py::arg("pem"), "Adds every certificate of a PEM bundle.")
      .def("load_file", &TrustStore::load_file, py::arg("path"), "Adds the certificates of a PEM bundle file.")
      .def("load_system", &TrustStore::load_system, "Adds the system's trusted certificates.");

  // ----- Connection -----
  py::class_<Connection>(m, "Connection",
                         "An upstream connection from Request.connect() (svc_conn). Used by one thread at a "
                         "time, except cancel() and close(). As a context manager it is released to the pool "
                         "on a normal exit and closed when the block raised.")
      .def("send", &Connection::send, py::arg("data"),
           "Writes all of data (bytes, bytearray, memoryview) within the write timeout.")
      .def("recv", &Connection::recv, py::arg("n"),
           "Reads up to n bytes (at most 1 MiB per call) within the read timeout; b\"\" at EOF.")
      .def("set_timeouts", &Connection::set_timeouts, py::arg("write"), py::arg("read"),
           "The write and read timeouts of this connection, in milliseconds.")
      .def("cancel", &Connection::cancel,
           "Interrupts a send or recv blocked in another thread (Cancelled); the connection is then not "
           "reusable. Thread-safe; does nothing once released.")
      .def("release", &Connection::release, py::arg("reusable") = true,
           "Ends the use of the connection: back to the keepalive pool (reusable, and a success for "
           "passive health) or closed. ClosedError when already released.")
      .def("close", &Connection::close,
           "release(False), interrupting a send or recv in another thread; idempotent.")
      .def_property_readonly("closed", &Connection::closed, "Whether the connection was released or closed.")
      .def_property_readonly("peer", &Connection::peer, "The peer: Peer(ip, port, host).")
      .def_property_readonly("reused", &Connection::reused, "Whether it came from the keepalive pool.")
      .def_property_readonly("tls_resumed", &Connection::tls_resumed, "Whether the TLS session was resumed.")
      .def_property_readonly("tls_version", &Connection::tls_version,
                             "The negotiated TLS version (\"TLSv1.3\"), \"\" for plain TCP.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](Connection& self, py::handle exc_type, py::handle, py::handle) { self.exit(exc_type); });

  // ----- Request -----
  py::class_<Request>(m, "Request",
                      "One proxied request (kong.service): where it goes, its TLS policy, its tries. "
                      "Made by Engine.request(); used by one thread at a time, except cancel() and close().",
                      py::custom_type_setup([](PyHeapTypeObject* heap_type) {
                        // The balancer callable may refer back to the request: let the GC see it.
                        auto* type = &heap_type->ht_type;
                        type->tp_flags |= Py_TPFLAGS_HAVE_GC;
                        type->tp_traverse = [](PyObject* self, visitproc visit, void* arg) {
                          Py_VISIT(Py_TYPE(self));
                          if (py::detail::is_holder_constructed(self)) {
                            auto& req = py::cast<Request&>(py::handle(self));
                            Py_VISIT(req.balancer_fn().ptr());
                          }
                          return 0;
                        };
                        type->tp_clear = [](PyObject* self) {
                          if (py::detail::is_holder_constructed(self)) {
                            auto& req = py::cast<Request&>(py::handle(self));
                            req.balancer_fn() = py::object();
                          }
                          return 0;
                        };
                      }))
      .def("set_upstream", &Request::set_upstream, py::arg("host"), "kong.service.set_upstream. Phase: access.")
      .def("set_target", &Request::set_target, py::arg("host"), py::arg("port"),
           "kong.service.set_target. Phase: access.")
      .def("set_tls_cert_key", &Request::set_tls_cert_key, py::arg("chain"), py::arg("key"),
           "kong.service.set_tls_cert_key. Phases: rewrite, access, balancer.")
      .def("set_tls_verify", &Request::set_tls_verify, py::arg("on"),
           "kong.service.set_tls_verify. Phases: rewrite, access, balancer.")
      .def("set_tls_verify_depth", &Request::set_tls_verify_depth, py::arg("depth"),
           "kong.service.set_tls_verify_depth. Phases: rewrite, access, balancer.")
      .def("set_tls_verify_store", &Request::set_tls_verify_store, py::arg("store"),
           "kong.service.set_tls_verify_store. Phases: rewrite, access, balancer.")
      .def("set_retries", &Request::set_retries, py::arg("retries"), "kong.service.set_retries. Phase: access.")
      .def("set_timeouts", &Request::set_timeouts, py::arg("connect"), py::arg("write"), py::arg("read"),
           "kong.service.set_timeouts, in milliseconds. Phase: access.")
      .def("set_hash_key", &Request::set_hash_key, py::arg("key"),
           "The consistent-hashing input (str or bytes), overriding hash_on. Phase: access.")
      .def("set_scheme", &Request::set_scheme, py::arg("scheme"),
           "kong.service.request.set_scheme: http, https, tcp or tls.")
      .def_property_readonly("scheme", &Request::scheme, "The scheme in force.")
      .def("set_hash_input", &Request::set_hash_input, py::arg("kind"), py::arg("value"),
           py::arg("name") = py::none(),
           "Records a request attribute that hash_on reads (value None clears). Phases: rewrite, access.")
      .def("set_phase", &Request::set_phase, py::arg("phase"), "Phase.REWRITE or Phase.ACCESS, before any try.")
      .def_property_readonly("phase", &Request::phase, "The request's Phase.")
      .def("pick", &Request::pick, "Picks the peer of the next try (enters the balancer phase) -> Peer.")
      .def("report", &Request::report, py::arg("outcome"), py::arg("http_status") = 0, py::arg("latency_us") = 0,
           "Reports the outcome of the current try.")
      .def_property_readonly("tries", &Request::tries, "How many tries were picked so far.")
      .def_property_readonly("peer", &Request::peer,
                             "The peer of the current try, Peer(ip, port, host), or None before any pick.")
      .def("on_balancer", &Request::on_balancer, py::arg("callback"),
           "Sets callback(request) (None clears), called on each try of connect() and send() after the "
           "pick, on the calling thread: it may read peer and tries and call the TLS setters. An exception "
           "aborts the connect or send, which raises the svc.Error subclass of its code (an svc.Error keeps its code, "
           "anything else is InternalError) with the callback's exception as __cause__.")
      .def("connect", &Request::connect,
           "Picks, connects and (https/tls) performs the TLS handshake, with retries -> Connection. The "
           "request enters the log phase.")
      .def("send", &Request::send, py::arg("method"), py::arg("path"), py::arg("headers") = py::none(),
           py::arg("body") = py::bytes(""),
           "Sends one HTTP/1.1 request to the picked peer and reads the response, with the retries, "
           "pooling, TLS policy, passive health and balancer callback of connect() -> Response(status, "
           "headers, body, peer). headers: a mapping or (name, value) pairs of str (Host may be given; "
           "Connection, Content-Length and Transfer-Encoding may not); body: bytes-like or str (UTF-8). "
           "The request enters the log phase.")
      .def("cancel", &Request::cancel,
           "Interrupts a connect() or send() blocked in another thread (Cancelled); later ones fail too. "
           "Thread-safe; does nothing once closed.")
      .def_property_readonly("closed", &Request::closed, "Whether close() was called.")
      .def("close", &Request::close,
           "Frees the request, cancelling a connect() or send() in another thread; idempotent. Later calls raise "
           "ClosedError.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](Request& self, py::args) { self.close(); });

  // ----- Engine -----
  py::class_<Engine>(m, "Engine", "The engine: upstreams, balancers, health. Thread-safe.")
      .def(py::init<py::handle>(), py::arg("options") = py::none(),
           "Creates an engine; options is a dict (or JSON text) of svc_engine_new's options.")
      .def("close", &Engine::close, "Stops the engine and joins its threads; idempotent.")
      .def_property_readonly("closed", &Engine::closed, "Whether close() was called.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](Engine& self, py::args) { self.close(); })
      .def("load_config", &Engine::load_config, py::arg("source"),
           "Loads a Kong declarative document: dict, YAML/JSON text (str or bytes), or a file path.")
      .def("upsert_upstream", &Engine::upsert_upstream, py::arg("entity"),
           "Creates or replaces an upstream from a Kong Upstream entity (dict or JSON text).")
      .def("delete_upstream", &Engine::delete_upstream, py::arg("name"), "Deletes an upstream and its targets.")
      .def("upstream", &Engine::upstream, py::arg("name"), "The upstream entity with its targets, as a dict.")
      .def("add_target", &Engine::add_target, py::arg("upstream"), py::arg("target"), py::arg("weight") = 100,
           "Adds a target to an upstream.")
      .def("delete_target", &Engine::delete_target, py::arg("upstream"), py::arg("target"), "Deletes a target.")
      .def("set_target_health", &Engine::set_target_health, py::arg("upstream"), py::arg("target"),
           py::arg("healthy"), py::arg("address") = py::none(),
           "Forces the health of a target's addresses (all, or one \"ip:port\").")
      .def("health", &Engine::health, py::arg("upstream"), "The upstream's health, as a dict.")
      .def("on_health", &Engine::on_health, py::arg("callback"),
           "Subscribes callback(upstream, target, address, healthy) (None unsubscribes). It runs on an "
           "engine thread; its exceptions go to sys.unraisablehook.")
      .def("on_log", &Engine::on_log, py::arg("callback"),
           "Subscribes callback(level, message) (None unsubscribes). It runs on an engine thread.")
      .def("request", &Engine::request, py::keep_alive<0, 1>(), "A new Request in Phase.ACCESS.");

  // Public names live in `svc`: say so in reprs and for pickling.
  for (const char* name : {"Code", "Phase", "Outcome", "HashOn", "CertChain", "PrivateKey", "TrustStore",
                           "Request", "Connection", "Engine"})
    m.attr(name).attr("__module__") = "svc";

  py::module_::import("atexit").attr("register")(py::cpp_function([] { Engine::close_all(); }));
}
