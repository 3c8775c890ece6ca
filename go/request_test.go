package svc

import (
	"math"
	"strconv"
	"testing"
	"time"
)

func engineWithUpstream(t *testing.T) *Engine {
	e := newEngine(t, "")
	upstream(t, e, `{"name": "a"}`, "a", "10.0.0.1")
	return e
}

func TestRequestStartsInAccessWithNoPeer(t *testing.T) {
	r := newRequest(t, newEngine(t, ""))
	if r.Phase() != PhaseAccess || r.Tries() != 0 || r.Scheme() != "http" {
		t.Errorf("phase %v tries %d scheme %q", r.Phase(), r.Tries(), r.Scheme())
	}
	_, err := r.Pick()
	wantErr(t, err, ErrInvalid, "no upstream or target set: call svc_set_upstream or svc_set_target first")
	if r.Phase() != PhaseAccess || r.Tries() != 0 {
		t.Errorf("failed pick changed the request: %v %d", r.Phase(), r.Tries())
	}
}

func TestSetUpstreamAndTargetArguments(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	wantErr(t, r.SetUpstream(""), ErrInvalid, "host must be a string")
	wantErr(t, r.SetUpstream("nope"), ErrNotFound, "could not find an Upstream named 'nope'")
	wantErr(t, r.SetUpstream("a\x00b"), ErrInvalid, "host must not contain a NUL byte")
	ok(t, r.SetUpstream("a"))

	wantErr(t, r.SetTarget("", 80), ErrInvalid, "host must be a string")
	for _, port := range []int{-1, 65536, 70000, math.MaxInt32 + 1, 1 << 40, -1 << 40} {
		wantErr(t, r.SetTarget("10.0.0.1", port), ErrInvalid,
			"port must be an integer between 0 and 65535: given "+itoa(port))
	}
	ok(t, r.SetTarget("10.0.0.1", 0)) // Kong accepts port 0
	ok(t, r.SetTarget("10.0.0.1", 65535))
}

func TestSetRetriesAndTimeouts(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	for _, n := range []int{-1, 32768, 1 << 40} {
		wantErr(t, r.SetRetries(n), ErrInvalid, "retries must be an integer between 0 and 32767: given "+itoa(n))
	}
	ok(t, r.SetRetries(0))
	ok(t, r.SetRetries(32767))

	ms := time.Millisecond
	for _, c := range []struct {
		c, w, rd time.Duration
		msg      string
	}{
		{0, ms, ms, "connect_timeout must be an integer between 1 and 2147483646: given 0"},
		{2147483647 * ms, ms, ms, "connect_timeout must be an integer between 1 and 2147483646: given 2147483647"},
		{ms, 0, ms, "write_timeout must be an integer between 1 and 2147483646: given 0"},
		{ms, ms, 0, "read_timeout must be an integer between 1 and 2147483646: given 0"},
		{-5 * ms, 0, 0, "connect_timeout must be an integer between 1 and 2147483646: given -5"},
		{ms, -5 * ms, 0, "write_timeout must be an integer between 1 and 2147483646: given -5"},
		// what C cannot represent is checked in Go, same wording
		{ms, ms, 2147483648 * ms, "read_timeout must be an integer between 1 and 2147483646: given 2147483648"},
		{math.MaxInt64 / ms * ms, ms, ms, "connect_timeout must be an integer between 1 and 2147483646: given 9223372036854"},
		{500 * time.Microsecond, ms, ms, "connect_timeout must be a whole number of milliseconds: given 500µs"},
		{ms, 1500 * time.Microsecond, ms, "write_timeout must be a whole number of milliseconds: given 1.5ms"},
		{ms, ms, time.Nanosecond, "read_timeout must be a whole number of milliseconds: given 1ns"},
	} {
		wantErr(t, r.SetTimeouts(c.c, c.w, c.rd), ErrInvalid, c.msg)
	}
	ok(t, r.SetTimeouts(ms, ms, ms))
	ok(t, r.SetTimeouts(2147483646*ms, 2147483646*ms, 2147483646*ms))
	ok(t, r.SetTimeouts(time.Second, time.Minute, time.Hour))
}

func TestTLSSettersArguments(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	for _, d := range []int{-1, -100, math.MinInt32 - 1, -1 << 40} {
		wantErr(t, r.SetTLSVerifyDepth(d), ErrInvalid, "depth expects a non-negative integer but found "+itoa(d))
	}
	ok(t, r.SetTLSVerifyDepth(0))
	ok(t, r.SetTLSVerifyDepth(100))
	ok(t, r.SetTLSVerifyDepth(1<<40)) // deeper than any chain
	ok(t, r.SetTLSVerify(false))
	ok(t, r.SetTLSVerify(true))
	wantErr(t, r.SetTLSCertKey(nil, nil), ErrInvalid, "chain must not be NULL")
	wantErr(t, r.SetTLSVerifyStore(nil), ErrInvalid, "store must not be NULL")
}

func TestSetHashKeyAndScheme(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	ok(t, r.SetHashKey(""))
	ok(t, r.SetHashKey("\x00\x00\x00")) // any bytes
	ok(t, r.SetHashKey("user-1"))

	wantErr(t, r.SetScheme("ftp"), ErrInvalid, "invalid scheme: ftp")
	wantErr(t, r.SetScheme("HTTP"), ErrInvalid, "invalid scheme: HTTP")
	wantErr(t, r.SetScheme(""), ErrInvalid, "invalid scheme: ")
	if r.Scheme() != "http" {
		t.Errorf("scheme changed by failures: %q", r.Scheme())
	}
	for _, s := range []string{"https", "tcp", "tls", "http"} {
		ok(t, r.SetScheme(s))
		if r.Scheme() != s {
			t.Errorf("Scheme() = %q, want %q", r.Scheme(), s)
		}
	}
	e := newEngine(t, `{"scheme": "https", "retries": 1}`)
	if s := newRequest(t, e).Scheme(); s != "https" {
		t.Errorf("engine default scheme: %q", s)
	}
}

func TestSetHashInputArguments(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	const kindMsg = "kind must be one of SVC_HASH_CONSUMER .. SVC_HASH_URI_CAPTURE: given "
	wantErr(t, r.SetHashInput(0, "", "x"), ErrInvalid, kindMsg+"0")
	wantErr(t, r.SetHashInput(8, "", "x"), ErrInvalid, kindMsg+"8")
	for _, k := range []HashOn{HashHeader, HashCookie, HashQueryArg, HashURICapture} {
		wantErr(t, r.SetHashInput(k, "", "x"), ErrInvalid, "name must be a non-empty string for this kind")
	}
	for _, k := range []HashOn{HashConsumer, HashIP, HashPath} {
		wantErr(t, r.SetHashInput(k, "n", "x"), ErrInvalid, "name must be NULL for this kind")
	}
	ok(t, r.SetHashInput(HashConsumer, "", "c1"))
	ok(t, r.SetHashInput(HashIP, "", "10.1.1.1"))
	ok(t, r.SetHashInput(HashHeader, "X-User", "u1"))
	ok(t, r.SetHashInput(HashCookie, "sid", "s1"))
	ok(t, r.SetHashInput(HashPath, "", "/p"))
	ok(t, r.SetHashInput(HashQueryArg, "q", "v1"))
	ok(t, r.SetHashInput(HashURICapture, "id", "7"))
	ok(t, r.SetHashInput(HashHeader, "X-User", "")) // clears
}

func TestSetPhaseArguments(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	for _, p := range []Phase{PhaseBalancer, PhaseLog, 0} {
		wantErr(t, r.SetPhase(p), ErrInvalid, "phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given "+itoa(int(p)))
	}
	if r.Phase() != PhaseAccess {
		t.Errorf("phase %v", r.Phase())
	}
}

func TestRewritePhase(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	ok(t, r.SetPhase(PhaseRewrite))
	if r.Phase() != PhaseRewrite {
		t.Fatalf("phase %v", r.Phase())
	}
	const msg = "function cannot be called in rewrite phase (only in: access)"
	wantErr(t, r.SetUpstream("a"), ErrPhase, msg)
	wantErr(t, r.SetTarget("10.0.0.1", 80), ErrPhase, msg)
	wantErr(t, r.SetRetries(1), ErrPhase, msg)
	wantErr(t, r.SetTimeouts(time.Millisecond, time.Millisecond, time.Millisecond), ErrPhase, msg)
	wantErr(t, r.SetHashKey("k"), ErrPhase, msg)
	// the phase check comes first (Kong's order), also for what Go checks itself
	wantErr(t, r.SetUpstream(""), ErrPhase, msg)
	wantErr(t, r.SetUpstream("a\x00"), ErrPhase, msg)
	wantErr(t, r.SetRetries(-1), ErrPhase, msg)
	wantErr(t, r.SetRetries(1<<40), ErrPhase, msg)
	wantErr(t, r.SetTarget("10.0.0.1", 1<<40), ErrPhase, msg)
	wantErr(t, r.SetTimeouts(time.Nanosecond, 0, 0), ErrPhase, msg)
	ok(t, r.SetTLSVerify(false))
	ok(t, r.SetTLSVerifyDepth(3))
	wantErr(t, r.SetTLSVerifyDepth(-1), ErrInvalid, "depth expects a non-negative integer but found -1")
	ok(t, r.SetScheme("https"))
	ok(t, r.SetHashInput(HashIP, "", "10.9.9.9"))
	_, err := r.Pick()
	wantErr(t, err, ErrInvalid, "no upstream or target set: call svc_set_upstream or svc_set_target first")

	ok(t, r.SetPhase(PhaseAccess))
	ok(t, r.SetUpstream("a"))
	ok(t, r.SetPhase(PhaseRewrite)) // still before any try
	ok(t, r.SetPhase(PhaseAccess))
}

func TestBalancerPhase(t *testing.T) {
	r := newRequest(t, engineWithUpstream(t))
	ok(t, r.SetUpstream("a"))
	p, err := r.Pick()
	must(t, err)
	if p != (Peer{IP: "10.0.0.1", Port: 8000, Host: "10.0.0.1"}) || r.Phase() != PhaseBalancer {
		t.Errorf("peer %+v phase %v", p, r.Phase())
	}
	const msg = "function cannot be called in balancer phase (only in: access)"
	wantErr(t, r.SetUpstream("a"), ErrPhase, msg)
	wantErr(t, r.SetTarget("10.0.0.1", 80), ErrPhase, msg)
	wantErr(t, r.SetRetries(1), ErrPhase, msg)
	wantErr(t, r.SetTimeouts(time.Millisecond, time.Millisecond, time.Millisecond), ErrPhase, msg)
	wantErr(t, r.SetTimeouts(time.Nanosecond, 0, 0), ErrPhase, msg)
	wantErr(t, r.SetHashKey("k"), ErrPhase, msg)
	wantErr(t, r.SetHashInput(HashIP, "", "1.1.1.1"), ErrPhase,
		"function cannot be called in balancer phase (only in: rewrite, access)")
	wantErr(t, r.SetPhase(PhaseAccess), ErrPhase, "the phase can only be set before the first try (now in balancer phase)")
	wantErr(t, r.SetPhase(PhaseRewrite), ErrPhase, "the phase can only be set before the first try (now in balancer phase)")

	// TLS setters and the scheme are allowed in balancer
	ok(t, r.SetTLSVerify(true))
	ok(t, r.SetTLSVerifyDepth(2))
	wantErr(t, r.SetTLSCertKey(nil, nil), ErrInvalid, "chain must not be NULL")
	wantErr(t, r.SetTLSVerifyStore(nil), ErrInvalid, "store must not be NULL")
	ok(t, r.SetScheme("https"))
	ok(t, r.Report(OutcomeTCPFailure, 0, 0))
	_, err = r.Pick() // a retry stays in balancer
	must(t, err)
	if r.Phase() != PhaseBalancer || r.Tries() != 2 {
		t.Errorf("phase %v tries %d", r.Phase(), r.Tries())
	}
}

func TestExplicitTarget(t *testing.T) {
	e := newEngine(t, "")
	r := newRequest(t, e)
	ok(t, r.SetTarget("10.0.0.7", 8443))
	p, err := r.Pick()
	must(t, err)
	if p != (Peer{"10.0.0.7", 8443, "10.0.0.7"}) || r.Tries() != 1 {
		t.Errorf("peer %+v tries %d", p, r.Tries())
	}
	ok(t, r.Report(OutcomeOK, 0, 10*time.Microsecond))
	p, err = r.Pick()
	must(t, err)
	if p.IP != "10.0.0.7" || r.Tries() != 2 {
		t.Errorf("peer %+v tries %d", p, r.Tries())
	}

	r = newRequest(t, e)
	ok(t, r.SetTarget("localhost", 80))
	p, err = r.Pick()
	must(t, err)
	if p != (Peer{"127.0.0.1", 80, "localhost"}) {
		t.Errorf("localhost peer %+v", p)
	}

	r = newRequest(t, e)
	ok(t, r.SetTarget("::1", 443))
	p, err = r.Pick()
	must(t, err)
	if p.IP != "::1" || p.Port != 443 {
		t.Errorf("v6 peer %+v", p)
	}

	upstream(t, e, `{"name": "a"}`, "a", "10.0.0.1")
	r = newRequest(t, e)
	ok(t, r.SetUpstream("a"))
	ok(t, r.SetTarget("10.0.0.8", 81)) // the last call wins
	p, err = r.Pick()
	must(t, err)
	if p.IP != "10.0.0.8" {
		t.Errorf("peer %+v", p)
	}
	r = newRequest(t, e)
	ok(t, r.SetTarget("10.0.0.8", 81))
	ok(t, r.SetUpstream("a"))
	p, err = r.Pick()
	must(t, err)
	if p.IP != "10.0.0.1" || p.Port != 8000 {
		t.Errorf("peer %+v", p)
	}
}

func TestTriesAndReports(t *testing.T) {
	e := engineWithUpstream(t)
	r := newRequest(t, e)
	const noTry = "no try to report: call svc_request_pick first"
	wantErr(t, r.Report(OutcomeOK, 0, 0), ErrInvalid, noTry)
	ok(t, r.SetUpstream("a"))
	_, err := r.Pick()
	must(t, err)
	const outcomeMsg = "outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, SVC_OUTCOME_TCP_FAILURE, SVC_OUTCOME_TIMEOUT: given "
	wantErr(t, r.Report(4, 0, 0), ErrInvalid, outcomeMsg+"4")
	wantErr(t, r.Report(-1, 0, 0), ErrInvalid, outcomeMsg+"-1")
	wantErr(t, r.Report(1<<40, 0, 0), ErrInvalid, outcomeMsg+itoa(1<<40))
	const statusMsg = "http_status must be 0 (no valid response) or between 100 and 999: given "
	for _, s := range []int{99, 1000, -1, 1 << 40} {
		wantErr(t, r.Report(OutcomeHTTP, s, 0), ErrInvalid, statusMsg+itoa(s))
	}
	wantErr(t, r.Report(OutcomeOK, 0, -time.Millisecond), ErrInvalid, "latency must not be negative: given -1ms")

	// the failed reports did not consume the try
	ok(t, r.Report(OutcomeHTTP, 200, 1500*time.Microsecond))
	wantErr(t, r.Report(OutcomeOK, 0, 0), ErrInvalid, noTry)
	_, err = r.Pick()
	must(t, err)
	ok(t, r.Report(OutcomeTimeout, 0, 100*time.Hour)) // saturates at UINT32_MAX µs
	_, err = r.Pick()
	must(t, err)
	ok(t, r.Report(OutcomeHTTP, 999, 0))

	// retries used up
	r = newRequest(t, e)
	ok(t, r.SetUpstream("a"))
	ok(t, r.SetRetries(2))
	for i := 1; i <= 3; i++ {
		_, err := r.Pick()
		must(t, err)
		if r.Tries() != i {
			t.Errorf("tries %d, want %d", r.Tries(), i)
		}
	}
	_, err = r.Pick()
	wantErr(t, err, ErrNoPeer, "no more tries: 3 tries made and retries is 2")
	if r.Tries() != 3 {
		t.Errorf("tries %d", r.Tries())
	}

	// engine defaults: retries 5
	r = newRequest(t, e)
	ok(t, r.SetUpstream("a"))
	for i := 0; i < 6; i++ {
		_, err := r.Pick()
		must(t, err)
	}
	_, err = r.Pick()
	wantErr(t, err, ErrNoPeer, "no more tries: 6 tries made and retries is 5")
}

func TestRequestClose(t *testing.T) {
	e := engineWithUpstream(t)
	r, err := e.NewRequest()
	must(t, err)
	ok(t, r.SetUpstream("a"))
	_, err = r.Pick()
	must(t, err)
	ok(t, r.Close())
	ok(t, r.Close())

	const msg = "the request is closed"
	wantErr(t, r.SetUpstream("a"), ErrClosed, msg)
	wantErr(t, r.SetTarget("10.0.0.1", 80), ErrClosed, msg)
	wantErr(t, r.SetTLSVerify(true), ErrClosed, msg)
	wantErr(t, r.SetTLSVerifyDepth(1), ErrClosed, msg)
	wantErr(t, r.SetTLSCertKey(nil, nil), ErrClosed, msg)
	wantErr(t, r.SetTLSVerifyStore(nil), ErrClosed, msg)
	wantErr(t, r.SetRetries(1), ErrClosed, msg)
	wantErr(t, r.SetRetries(1<<40), ErrClosed, msg)
	wantErr(t, r.SetTimeouts(time.Second, time.Second, time.Second), ErrClosed, msg)
	wantErr(t, r.SetHashKey("k"), ErrClosed, msg)
	wantErr(t, r.SetScheme("http"), ErrClosed, msg)
	wantErr(t, r.SetHashInput(HashIP, "", "1.2.3.4"), ErrClosed, msg)
	wantErr(t, r.SetPhase(PhaseRewrite), ErrClosed, msg)
	_, err = r.Pick()
	wantErr(t, err, ErrClosed, msg)
	wantErr(t, r.Report(OutcomeOK, 0, 0), ErrClosed, msg)
	if r.Phase() != 0 || r.Tries() != 0 || r.Scheme() != "" {
		t.Errorf("accessors on a closed request: %v %d %q", r.Phase(), r.Tries(), r.Scheme())
	}
}

func itoa(v int) string { return strconv.Itoa(v) }
