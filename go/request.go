package svc

import (
	"errors"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"

	"svc/internal/capi"
)

type cRequest = capi.SwigcptrStruct_SS_svc_request

// Request is one proxied request: where it goes, its TLS policy, its tries.
// It is meant for one goroutine at a time (its methods are serialized, so
// misuse is safe but pointless); Close may be called from any goroutine,
// any number of times.
type Request struct {
	mu  sync.Mutex // held by every C call and by Close
	ptr cRequest   // 0 once closed

	// borrowed marks the *Request given to an OnBalancer callback: it lends
	// the C request of a Connect in progress for the callback's duration
	// (ptr is zeroed when the callback returns) and never frees it.
	borrowed bool
	balancer cgo.Handle // OnBalancer's sink; 0 when none

	// The request's write and read timeouts (svc's defaults, or SetTimeouts),
	// inherited by a Conn as its per-call timeouts when it has no deadline.
	writeTimeout, readTimeout time.Duration
	readSpin                  time.Duration // the engine's read_spin_us, for a duplex Conn
}

// Peer is the peer picked for a try.
type Peer struct {
	IP   string // "10.0.0.1" or "::1"
	Port int
	Host string // Host header, SNI and verified name, without port
}

// call runs f on the live request under its lock.
func (r *Request) call(f func(p cRequest) capi.Struct_SS_svc_error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return closedError("request")
	}
	err := takeError(f(r.ptr))
	runtime.KeepAlive(r)
	return err
}

// accessOnly returns goErr, an argument error found by the Go layer, for a
// setter allowed in the access phase only, unless the request is in another
// phase: then the C library's phase error wins, as Kong checks the phase
// before the arguments. The probe call with valid arguments changes nothing
// because it fails on the phase.
func (r *Request) accessOnly(goErr error, probe func(p cRequest) capi.Struct_SS_svc_error) error {
	err := r.call(func(p cRequest) capi.Struct_SS_svc_error {
		if Phase(capi.SvcRequestPhase(p)) == PhaseAccess {
			return nil
		}
		return probe(p)
	})
	if err != nil {
		return err
	}
	return goErr
}

// Close frees the request; a peer picked and not reported is released
// (least connections). Idempotent and safe to call concurrently.
//
// The *Request given to an OnBalancer callback is only valid during the
// callback; closing it only ends the callback's use of it (the C request
// is not freed).
func (r *Request) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return nil
	}
	if r.borrowed {
		r.ptr = 0
		return nil
	}
	capi.SvcRequestFree(r.ptr)
	r.ptr = 0
	if r.balancer != 0 {
		r.balancer.Delete() // after svc_request_free: the callback can no longer run
		r.balancer = 0
	}
	runtime.SetFinalizer(r, nil)
	return nil
}

// notInCallback is the error of the calls that the *Request given to an
// OnBalancer callback does not allow (they would re-enter the Connect in
// progress), or nil.
func (r *Request) notInCallback(what string) error {
	if r.borrowed {
		return &Error{Code: CodePhase, Message: what + " cannot be called from a balancer callback"}
	}
	return nil
}

// SetPhase moves the request to PhaseRewrite or PhaseAccess, before any try.
func (r *Request) SetPhase(phase Phase) error {
	if err := r.notInCallback("SetPhase"); err != nil {
		return err
	}
	ph := capi.Enum_SS_svc_phase(clampInt32(int(phase)))
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcRequestSetPhase(p, ph) })
}

// Phase returns the request's phase (0 once closed).
func (r *Request) Phase() Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return 0
	}
	ph := Phase(capi.SvcRequestPhase(r.ptr))
	runtime.KeepAlive(r)
	return ph
}

// SetUpstream is kong.service.set_upstream: route through the named
// upstream. Phase: access.
func (r *Request) SetUpstream(host string) error {
	if err := checkText("host", host); err != nil {
		return r.accessOnly(err, func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetUpstream(p, "x") })
	}
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetUpstream(p, host) })
}

// SetTarget is kong.service.set_target: send the request to host:port,
// bypassing the balancer. Phase: access.
func (r *Request) SetTarget(host string, port int) error {
	goErr := checkText("host", host)
	if goErr == nil && !fitsInt32(int64(port)) {
		goErr = invalidf("port must be an integer between 0 and 65535: given %d", port)
	}
	if goErr != nil {
		return r.accessOnly(goErr, func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTarget(p, "x", 0) })
	}
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTarget(p, host, port) })
}

// SetTLSCertKey is kong.service.set_tls_cert_key: the client certificate
// for this request's upstream handshakes; key must belong to chain's leaf.
// nil is ErrInvalid ("chain must not be NULL"). The request keeps its own
// reference: chain and key may be closed afterwards.
// Phases: rewrite, access, balancer.
func (r *Request) SetTLSCertKey(chain *CertChain, key *PrivateKey) error {
	cp, unlockChain, err := chain.borrow()
	if err != nil {
		return err
	}
	defer unlockChain()
	kp, unlockKey, err := key.borrow()
	if err != nil {
		return err
	}
	defer unlockKey()
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTlsCertKey(p, cp, kp) })
}

// SetTLSVerify is kong.service.set_tls_verify. Phases: rewrite, access, balancer.
func (r *Request) SetTLSVerify(on bool) error {
	v := boolInt(on)
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTlsVerify(p, v) })
}

// SetTLSVerifyDepth is kong.service.set_tls_verify_depth (non-negative).
// Phases: rewrite, access, balancer.
func (r *Request) SetTLSVerifyDepth(depth int) error {
	d := depth
	if depth > math.MaxInt32 {
		d = math.MaxInt32 // deeper than any chain
	} else if depth < math.MinInt32 {
		// -1 fails the same way without changing anything; the phase check
		// stays the C library's, only the message gets the real value.
		err := r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTlsVerifyDepth(p, -1) })
		if errors.Is(err, ErrInvalid) {
			return invalidf("depth expects a non-negative integer but found %d", depth)
		}
		return err
	}
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTlsVerifyDepth(p, d) })
}

// SetTLSVerifyStore is kong.service.set_tls_verify_store: the trust store
// that verifies the upstream certificate. The store is frozen from now on.
// Phases: rewrite, access, balancer.
func (r *Request) SetTLSVerifyStore(store *TrustStore) error {
	sp, unlock, err := store.borrow()
	if err != nil {
		return err
	}
	defer unlock()
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTlsVerifyStore(p, sp) })
}

// SetRetries is kong.service.set_retries: how many more tries after the
// first, 0..32767. Phase: access.
func (r *Request) SetRetries(retries int) error {
	if !fitsInt32(int64(retries)) {
		return r.accessOnly(invalidf("retries must be an integer between 0 and 32767: given %d", retries),
			func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetRetries(p, 0) })
	}
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetRetries(p, retries) })
}

// SetTimeouts is kong.service.set_timeouts. Each duration must be a whole
// number of milliseconds in 1ms..2147483646ms (ErrInvalid naming the first
// bad one, in the order connect, write, read). Phase: access.
func (r *Request) SetTimeouts(connect, write, read time.Duration) error {
	var ms [3]int
	var goErr error
	for i, d := range [3]time.Duration{connect, write, read} {
		name := [3]string{"connect", "write", "read"}[i]
		if d%time.Millisecond != 0 {
			goErr = invalidf("%s_timeout must be a whole number of milliseconds: given %s", name, d)
			break
		}
		v := int64(d / time.Millisecond)
		if !fitsInt32(v) {
			goErr = invalidf("%s_timeout must be an integer between 1 and 2147483646: given %d", name, v)
			break
		}
		ms[i] = int(v)
	}
	if goErr != nil {
		return r.accessOnly(goErr, func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetTimeouts(p, 1, 1, 1) })
	}
	return r.call(func(p cRequest) capi.Struct_SS_svc_error {
		e := capi.SvcSetTimeouts(p, ms[0], ms[1], ms[2])
		if e == nil || e.Swigcptr() == 0 {
			r.writeTimeout, r.readTimeout = write, read
		}
		return e
	})
}

// SetHashKey sets the consistent-hashing input directly (any bytes),
// overriding the upstream's hash_on/hash_fallback. Phase: access.
func (r *Request) SetHashKey(key string) error {
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcSetHashKey(p, key) })
}

// SetScheme is kong.service.request.set_scheme: "http", "https", "tcp" or
// "tls". Phases: rewrite, access, balancer.
func (r *Request) SetScheme(scheme string) error {
	if err := checkText("scheme", scheme); err != nil {
		return err
	}
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcRequestSetScheme(p, scheme) })
}

// Scheme returns the scheme in force ("" once closed).
func (r *Request) Scheme() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return ""
	}
	s := capi.SvcRequestScheme(r.ptr)
	runtime.KeepAlive(r)
	return s
}

// SetHashInput records a request attribute that the upstream's hash_on /
// hash_fallback read, as Kong would see it. name is the header, cookie,
// query argument or URI capture name ("" for the other kinds); value ""
// clears the attribute. Phases: rewrite, access.
func (r *Request) SetHashInput(kind HashOn, name, value string) error {
	if err := checkTexts("name", name, "value", value); err != nil {
		return err
	}
	k := capi.Enum_SS_svc_hash_on(clampInt32(int(kind)))
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcRequestSetHashInput(p, k, name, value) })
}

// Pick picks the peer for the next try and enters PhaseBalancer. A retry
// never repeats a peer already tried while an untried available one exists.
// Call Report after each try.
func (r *Request) Pick() (Peer, error) {
	if err := r.notInCallback("Pick"); err != nil {
		return Peer{}, err
	}
	var peer Peer
	err := r.call(func(p cRequest) capi.Struct_SS_svc_error {
		if e := capi.SvcRequestPick(p); e != nil && e.Swigcptr() != 0 {
			return e
		}
		peer = Peer{IP: capi.SvcRequestPeerIp(p), Port: capi.SvcRequestPeerPort(p), Host: capi.SvcRequestPeerHost(p)}
		return nil
	})
	if err != nil {
		return Peer{}, err
	}
	return peer, nil
}

// Peer returns the peer of the current try: after Pick, or inside an
// OnBalancer callback (the zero Peer before any pick or once closed).
func (r *Request) Peer() Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return Peer{}
	}
	peer := Peer{IP: capi.SvcRequestPeerIp(r.ptr), Port: capi.SvcRequestPeerPort(r.ptr), Host: capi.SvcRequestPeerHost(r.ptr)}
	runtime.KeepAlive(r)
	return peer
}

// Tries returns how many tries were picked so far (0 once closed).
func (r *Request) Tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return 0
	}
	n := capi.SvcRequestTries(r.ptr)
	runtime.KeepAlive(r)
	return n
}

// Report reports the outcome of the current try: it feeds passive health,
// least-connections and the latency balancer. status is the HTTP status for
// OutcomeHTTP (100..999), else 0. latency is sent in microseconds (negative
// is ErrInvalid; beyond about 71 minutes it saturates).
func (r *Request) Report(outcome Outcome, status int, latency time.Duration) error {
	if err := r.notInCallback("Report"); err != nil {
		return err
	}
	var goErr error
	switch {
	case !fitsInt32(int64(outcome)):
		goErr = invalidf("outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, SVC_OUTCOME_TCP_FAILURE, "+
			"SVC_OUTCOME_TIMEOUT: given %d", int(outcome))
	case !fitsInt32(int64(status)):
		goErr = invalidf("http_status must be 0 (no valid response) or between 100 and 999: given %d", status)
	case latency < 0:
		goErr = invalidf("latency must not be negative: given %s", latency)
	}
	if goErr != nil {
		return goErr
	}
	us := uint(min(latency/time.Microsecond, math.MaxUint32))
	o := capi.Enum_SS_svc_outcome(outcome)
	return r.call(func(p cRequest) capi.Struct_SS_svc_error { return capi.SvcRequestReport(p, o, status, us) })
}
