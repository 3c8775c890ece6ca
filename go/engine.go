package svc

import (
	"encoding/json"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"

	"svc/internal/capi"
)

type cEngine = capi.SwigcptrStruct_SS_svc_engine

// Version returns the C library's version, "MAJOR.MINOR.PATCH".
func Version() string { return capi.SvcVersion() }

// Engine owns upstreams, their balancers and health state, and the threads
// that deliver health and log events. It is safe for concurrent use.
type Engine struct {
	// mu is held shared by every C call and exclusively by Close, so the
	// engine is never freed under a running call.
	mu  sync.RWMutex
	ptr cEngine // 0 once closed

	subMu  sync.Mutex // serializes OnHealth / OnLog
	subs   *subscribers
	handle cgo.Handle // userdata of the C callbacks; deleted after svc_engine_free

	// The engine's default write and read timeouts (from the options),
	// which a new Request starts with, and its read_spin_us, which a
	// duplex Conn's Read follows as svc's own reads do.
	writeTimeout, readTimeout time.Duration
	readSpin                  time.Duration

	tlsMu       sync.RWMutex
	tlsPolicies map[string]TLSPolicy // SetUpstreamTLS, keyed by upstream (or host) name
}

// HealthEvent says that an address of a target became healthy or unhealthy.
type HealthEvent struct {
	Upstream string
	Target   string
	Address  string // "ip:port"
	Healthy  bool
}

// subscribers is what the C callbacks reach through the engine's cgo.Handle.
// It lives until the engine is freed (the C side joins its threads first),
// so a callback never sees a deleted handle.
type subscribers struct {
	health atomic.Pointer[func(HealthEvent)]
	log    atomic.Pointer[func(int, string)]
}

func (s *subscribers) Health(upstream, target, address string, healthy bool) {
	if f := s.health.Load(); f != nil {
		(*f)(HealthEvent{Upstream: upstream, Target: target, Address: address, Healthy: healthy})
	}
}

func (s *subscribers) Log(level int, message string) {
	if f := s.log.Load(); f != nil {
		(*f)(level, message)
	}
}

// NewEngine creates an engine from its options as a JSON object ("" for the
// defaults; see svc_engine_new for the keys). An unknown key or a bad value
// is ErrInvalid naming the key.
func NewEngine(optionsJSON string) (*Engine, error) {
	if err := checkText("options", optionsJSON); err != nil {
		return nil, err
	}
	var p uintptr
	if err := takeError(capi.SvcEngineNew(&p, optionsJSON)); err != nil {
		return nil, err
	}
	e := &Engine{ptr: cEngine(p), subs: &subscribers{}}
	e.writeTimeout, e.readTimeout, e.readSpin = optionDefaults(optionsJSON)
	e.handle = cgo.NewHandle(e.subs)
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Close frees the engine: it stops and joins the engine's threads, after
// which no callback runs. Requests still open keep what they hold; their
// next Pick fails with ErrClosed. Close is idempotent and safe to call
// concurrently; it waits for calls in progress on other goroutines.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptr == 0 {
		return nil
	}
	capi.SvcEngineFree(e.ptr)
	e.ptr = 0
	e.handle.Delete()
	runtime.SetFinalizer(e, nil)
	return nil
}

// call runs f on the live engine under the shared lock.
func (e *Engine) call(f func(p cEngine) capi.Struct_SS_svc_error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == 0 {
		return closedError("engine")
	}
	err := takeError(f(e.ptr))
	runtime.KeepAlive(e)
	return err
}

// LoadConfig replaces all upstreams with a Kong declarative document (YAML
// or JSON), atomically: on error nothing changes (ErrConfig naming the
// upstream, the field and the reason).
func (e *Engine) LoadConfig(doc []byte) error {
	text := string(doc)
	return e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcEngineLoadConfig(p, text) })
}

// UpsertUpstream creates or replaces an upstream from a Kong Upstream entity
// in JSON. An existing upstream keeps its targets and their health.
func (e *Engine) UpsertUpstream(entityJSON string) error {
	if err := checkText("upstream_json", entityJSON); err != nil {
		return err
	}
	return e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcUpstreamUpsert(p, entityJSON) })
}

// DeleteUpstream deletes an upstream and its targets (ErrNotFound
// "could not find an Upstream named 'x'").
func (e *Engine) DeleteUpstream(name string) error {
	if err := checkText("name", name); err != nil {
		return err
	}
	return e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcUpstreamDelete(p, name) })
}

// Upstream returns the upstream entity as JSON (Kong's Admin API shape),
// with its targets under "targets".
func (e *Engine) Upstream(name string) ([]byte, error) {
	if err := checkText("name", name); err != nil {
		return nil, err
	}
	var out string
	err := e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcUpstreamGet(p, name, &out) })
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// AddTarget adds a target ("host", "host:port", "ip", "ip:port",
// "[v6]:port"; default port 8000) with a weight in 0..65535.
func (e *Engine) AddTarget(upstream, target string, weight int) error {
	if err := checkTexts("upstream", upstream, "target", target); err != nil {
		return err
	}
	w := clampInt32(weight) // out-of-range values keep the C message
	return e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcTargetAdd(p, upstream, target, w) })
}

// DeleteTarget deletes a target (matched after normalisation).
func (e *Engine) DeleteTarget(upstream, target string) error {
	if err := checkTexts("upstream", upstream, "target", target); err != nil {
		return err
	}
	return e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcTargetDelete(p, upstream, target) })
}

// SetTargetHealth forces the health of a target's addresses, like Kong's
// PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy. address is
// "ip:port", or "" for every address of the target.
func (e *Engine) SetTargetHealth(upstream, target, address string, healthy bool) error {
	if err := checkTexts("upstream", upstream, "target", target, "address", address); err != nil {
		return err
	}
	h := boolInt(healthy)
	return e.call(func(p cEngine) capi.Struct_SS_svc_error {
		return capi.SvcTargetSetHealth(p, upstream, target, address, h)
	})
}

// Health reports the upstream's health as JSON, like Kong's
// GET /upstreams/{u}/health with balancer details.
func (e *Engine) Health(upstream string) ([]byte, error) {
	if err := checkText("upstream", upstream); err != nil {
		return nil, err
	}
	var out string
	err := e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcUpstreamHealth(p, upstream, &out) })
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// OnHealth subscribes f to health events (one subscriber; nil unsubscribes).
// Every transition of an address fires exactly once, in order, on an engine
// thread; f must not block or call into this engine. A panic in f is
// recovered and reported on stderr. On a closed engine OnHealth does nothing.
func (e *Engine) OnHealth(f func(HealthEvent)) {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	if f == nil {
		e.subs.health.Store(nil)
	} else {
		e.subs.health.Store(&f)
	}
	h := uint(0)
	if f != nil {
		h = uint(e.handle)
	}
	_ = e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcGoEngineOnHealth(p, h) })
}

// OnLog subscribes f to log events (one subscriber; nil unsubscribes).
// level: 0 debug, 1 info, 2 warning, 3 error. Same rules as OnHealth.
func (e *Engine) OnLog(f func(level int, msg string)) {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	if f == nil {
		e.subs.log.Store(nil)
	} else {
		e.subs.log.Store(&f)
	}
	h := uint(0)
	if f != nil {
		h = uint(e.handle)
	}
	_ = e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcGoEngineOnLog(p, h) })
}

// NewRequest creates a request in PhaseAccess with the engine's defaults
// (retries, timeouts, scheme, TLS verification). Close it when done.
func (e *Engine) NewRequest() (*Request, error) {
	var rp uintptr
	err := e.call(func(p cEngine) capi.Struct_SS_svc_error { return capi.SvcRequestNew(&rp, p) })
	if err != nil {
		return nil, err
	}
	r := &Request{ptr: cRequest(rp), writeTimeout: e.writeTimeout, readTimeout: e.readTimeout, readSpin: e.readSpin}
	runtime.SetFinalizer(r, (*Request).Close)
	return r, nil
}

// optionDefaults reads, out of options the C library accepted (svc.h has
// no getter), what the Go side needs too: "timeouts": {"write": ms, "read":
// ms}, 60000 each by default, and "read_spin_us", 100 by default.
func optionDefaults(optionsJSON string) (write, read, spin time.Duration) {
	var o struct {
		Timeouts struct {
			Write, Read *float64
		}
		ReadSpinUs *float64 `json:"read_spin_us"`
	}
	write, read, spin = 60*time.Second, 60*time.Second, 100*time.Microsecond
	if json.Unmarshal([]byte(optionsJSON), &o) == nil {
		if v := o.Timeouts.Write; v != nil {
			write = time.Duration(*v) * time.Millisecond
		}
		if v := o.Timeouts.Read; v != nil {
			read = time.Duration(*v) * time.Millisecond
		}
		if v := o.ReadSpinUs; v != nil {
			spin = time.Duration(*v) * time.Microsecond
		}
	}
	return write, read, spin
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clampInt32 maps an int onto C's int range, saturating.
func clampInt32(v int) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	if v < math.MinInt32 {
		return math.MinInt32
	}
	return v
}

// fitsInt32 reports whether v is representable as a C int.
func fitsInt32(v int64) bool { return v >= math.MinInt32 && v <= math.MaxInt32 }
