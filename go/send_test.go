package svc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// sendUpstream makes upstream "u" over the given backends (weight 100 each).
func sendUpstream(t testing.TB, e *Engine, entity string, backends ...*backend) {
	t.Helper()
	if entity == "" {
		entity = `{"name": "u"}`
	}
	must(t, e.UpsertUpstream(entity))
	for _, b := range backends {
		must(t, e.AddTarget("u", b.addr(), 100))
	}
}

// sendVia sends one request through upstream "u" with a fresh request.
func sendVia(t testing.TB, e *Engine, method, path string, header http.Header, body []byte,
	setup ...func(r *Request)) (*Response, *Request, error) {
	t.Helper()
	r := newRequest(t, e)
	must(t, r.SetUpstream("u"))
	for _, f := range setup {
		f(r)
	}
	res, err := r.Send(context.Background(), method, path, header, body)
	return res, r, err
}

// backendInfo is the backend's JSON answer (tests/support/backend.md).
type backendInfo struct {
	Backend  string            `json:"backend"`
	Method   string            `json:"method"`
	Target   string            `json:"target"`
	Headers  map[string]string `json:"headers"`
	BodySize int               `json:"body_size"`
	Subject  string            `json:"client_subject"`
	TLS      string            `json:"tls_version"`
}

func info(t testing.TB, res *Response) backendInfo {
	t.Helper()
	var i backendInfo
	if err := json.Unmarshal(res.Body, &i); err != nil {
		t.Fatalf("backend JSON %q: %v", res.Body, err)
	}
	return i
}

func TestSendRoundRobinKeepalive(t *testing.T) {
	bs := []*backend{startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")}
	e := newEngine(t, "")
	sendUpstream(t, e, "", bs...)
	seen := map[string]int{}
	for n := 0; n < 30; n++ {
		res, r, err := sendVia(t, e, "GET", "/x?y=1", http.Header{"X-Trace": {"a", "b"}}, nil)
		must(t, err)
		name := res.Header.Get("X-Backend")
		seen[name]++
		port := map[string]int{"b1": bs[0].port, "b2": bs[1].port, "b3": bs[2].port}[name]
		i := info(t, res)
		// Keep-alive: one connection per backend, its requests numbered 1, 2, ...
		if res.Status != 200 || res.Header.Get("X-Connection") != "1" ||
			res.Header.Get("X-Request") != fmt.Sprint(seen[name]) || i.Target != "/x?y=1" || i.Method != "GET" {
			t.Errorf("send %d: %d %v %+v", n, res.Status, res.Header, i)
		}
		// The Host header is the peer's with its port; repeated headers are
		// sent as one line each (the backend joins them).
		if i.Headers["host"] != fmt.Sprintf("127.0.0.1:%d", port) || i.Headers["x-trace"] != "a, b" {
			t.Errorf("headers seen by the backend: %v", i.Headers)
		}
		if res.Peer != (Peer{IP: "127.0.0.1", Port: port}) {
			t.Errorf("Peer %+v, want port %d", res.Peer, port)
		}
		// Canonical keys, every value.
		if got := res.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
			t.Errorf("Content-Type %v", got)
		}
		if _, canonical := res.Header["X-Tls-Version"]; !canonical {
			t.Errorf("header keys not canonical: %v", res.Header)
		}
		if r.Phase() != PhaseLog || r.Tries() != 1 {
			t.Errorf("phase %v tries %d after Send", r.Phase(), r.Tries())
		}
		must(t, r.Close())
	}
	if seen["b1"] != 10 || seen["b2"] != 10 || seen["b3"] != 10 {
		t.Errorf("distribution %v, want 10 each", seen)
	}
}

func TestSendHostHeaderAndBody(t *testing.T) {
	b := startBackend(t, "b1")
	e := newEngine(t, "")
	sendUpstream(t, e, "", b)

	// A Host header given wins.
	res, _, err := sendVia(t, e, "GET", "/", http.Header{"Host": {"example.test"}}, nil)
	must(t, err)
	if h := info(t, res).Headers["host"]; h != "example.test" {
		t.Errorf("host %q", h)
	}

	// POST /echo: the body and its Content-Type come back.
	body := bytes.Repeat([]byte("0123456789\x00\xff"), 1000)
	res, _, err = sendVia(t, e, "POST", "/echo", http.Header{"Content-Type": {"application/x-test"}}, body)
	must(t, err)
	if res.Status != 200 || !bytes.Equal(res.Body, body) || res.Header.Get("Content-Type") != "application/x-test" ||
		res.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Errorf("echo: %d %v %d bytes", res.Status, res.Header, len(res.Body))
	}
	// POST without a body: Content-Length: 0.
	res, _, err = sendVia(t, e, "POST", "/", nil, nil)
	must(t, err)
	if i := info(t, res); i.Method != "POST" || i.Headers["content-length"] != "0" || i.BodySize != 0 {
		t.Errorf("empty POST: %+v", i)
	}

	// Chunked: decoded.
	res, _, err = sendVia(t, e, "GET", "/bytes/100/chunked", nil, nil)
	must(t, err)
	want := strings.Repeat("abcdefghijklmnopqrstuvwxyz", 4)[:100]
	if res.Status != 200 || string(res.Body) != want || res.Header.Get("Transfer-Encoding") != "chunked" {
		t.Errorf("chunked: %d %v %q", res.Status, res.Header, res.Body)
	}

	// HEAD: no body; 204: no body; an empty body is empty, not nil.
	res, _, err = sendVia(t, e, "HEAD", "/bytes/100", nil, nil)
	must(t, err)
	if res.Status != 200 || len(res.Body) != 0 || res.Body == nil || res.Header.Get("Content-Length") != "100" {
		t.Errorf("HEAD: %d %v %q", res.Status, res.Header, res.Body)
	}
	res, _, err = sendVia(t, e, "GET", "/status/204", nil, nil)
	must(t, err)
	if res.Status != 204 || len(res.Body) != 0 {
		t.Errorf("204: %d %q", res.Status, res.Body)
	}

	// Many headers (more than the wrapper's stack array).
	many := http.Header{}
	for n := 0; n < 100; n++ {
		many.Add(fmt.Sprintf("X-H%03d", n), fmt.Sprint(n))
	}
	res, _, err = sendVia(t, e, "GET", "/", many, nil)
	must(t, err)
	if i := info(t, res); i.Headers["x-h000"] != "0" || i.Headers["x-h099"] != "99" || len(i.Headers) != 101 {
		t.Errorf("100 headers: %d seen: %v", len(i.Headers), i.Headers)
	}
}

func TestSendStatusPassiveHealth(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	e := newEngine(t, "")
	sendUpstream(t, e, `{"name": "u", "healthchecks": {"passive": {"unhealthy": {"http_failures": 2}}}}`, b1, b2)
	// Round-robin alternates: four sends give each target two 503s (an HTTP
	// status is a response, not an error).
	for n := 0; n < 4; n++ {
		res, _, err := sendVia(t, e, "GET", "/status/503", nil, nil)
		must(t, err)
		if res.Status != 503 {
			t.Errorf("status %d", res.Status)
		}
	}
	d := health(t, e, "u")
	if d.Health != "UNHEALTHY" || d.Weight.Available != 0 || len(d.Data) != 2 {
		t.Errorf("health %+v", d)
	}
	for _, tg := range d.Data {
		if tg.Health != "UNHEALTHY" {
			t.Errorf("target %s: %s", tg.Target, tg.Health)
		}
	}
	_, _, err := sendVia(t, e, "GET", "/", nil, nil)
	wantErr(t, err, ErrNoPeer, "failure to get a peer from the ring-balancer")
}

// deadPort returns a port that refuses connections.
func deadPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestSendRetries(t *testing.T) {
	live := startBackend(t, "live")
	dead := &backend{name: "dead", port: deadPort(t)}
	e := newEngine(t, "")
	sendUpstream(t, e, "", dead, live)

	// A refused connection is retried on the next peer, for any method.
	// (Round-robin advances on every pick, retries included, so each send
	// here starts on the dead peer.)
	for n := 0; n < 4; n++ {
		var peers []int
		res, r, err := sendVia(t, e, "POST", "/", nil, []byte("x"), func(r *Request) {
			must(t, r.OnBalancer(func(try *Request) error { peers = append(peers, try.Peer().Port); return nil }))
		})
		must(t, err)
		if res.Header.Get("X-Backend") != "live" || r.Tries() != 2 ||
			fmt.Sprint(peers) != fmt.Sprint([]int{dead.port, live.port}) {
			t.Errorf("answered by %q after tries %v", res.Header.Get("X-Backend"), peers)
		}
	}

	// Every try fails: the message lists them.
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", dead.port))
	must(t, r.SetRetries(1))
	_, err := r.Send(context.Background(), "GET", "/", nil, nil)
	wantErr(t, err, ErrConnect, fmt.Sprintf("2 tries failed: try 1 (%s): connect to %s failed: Connection refused; "+
		"try 2 (%s): connect to %s failed: Connection refused", dead.addr(), dead.addr(), dead.addr(), dead.addr()))
}

func TestSendResetNotRetriedForPost(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	e := newEngine(t, "")
	sendUpstream(t, e, "", b1, b2)
	// POST is not idempotent: a reset after the request was written is final.
	_, r, err := sendVia(t, e, "POST", "/close", nil, []byte("x"))
	p := r.Peer()
	peer := fmt.Sprintf("%s:%d", p.IP, p.Port)
	wantErr(t, err, ErrConnect, fmt.Sprintf("1 try failed: try 1 (%s): read from %s failed: Connection reset by peer",
		peer, peer))
	if r.Tries() != 1 {
		t.Errorf("%d tries", r.Tries())
	}
	// GET is: both peers are tried.
	_, r, err = sendVia(t, e, "GET", "/close", nil, nil, func(r *Request) { must(t, r.SetRetries(1)) })
	if !errors.Is(err, ErrConnect) || r.Tries() != 2 || !strings.HasPrefix(err.Error(), "2 tries failed: try 1 (") {
		t.Errorf("GET /close: %d tries: %v", r.Tries(), err)
	}
}

func TestSendReadTimeoutRetried(t *testing.T) {
	slow := startBackend(t, "slow", "--delay-ms", "2000")
	fast := startBackend(t, "fast")
	e := newEngine(t, "")
	sendUpstream(t, e, "", slow, fast)
	for n := 0; n < 2; n++ {
		var peers []int
		start := time.Now()
		// POST too: a timeout before any byte of the response is retried for every method.
		res, r, err := sendVia(t, e, "POST", "/", nil, nil, func(r *Request) {
			must(t, r.SetTimeouts(time.Second, time.Second, 200*time.Millisecond))
			must(t, r.OnBalancer(func(try *Request) error {
				peers = append(peers, try.Peer().Port)
				return nil
			}))
		})
		must(t, err)
		if res.Header.Get("X-Backend") != "fast" || time.Since(start) > 1500*time.Millisecond {
			t.Errorf("answered by %q after %v", res.Header.Get("X-Backend"), time.Since(start))
		}
		if r.Tries() != len(peers) || peers[len(peers)-1] != fast.port ||
			(len(peers) == 2 && peers[0] != slow.port) || len(peers) > 2 {
			t.Errorf("tries %d, peers %v (slow %d, fast %d)", r.Tries(), peers, slow.port, fast.port)
		}
	}
	// Without a retry: the exact timeout error.
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", slow.port))
	must(t, r.SetRetries(0))
	must(t, r.SetTimeouts(time.Second, time.Second, 200*time.Millisecond))
	_, err := r.Send(context.Background(), "GET", "/", nil, nil)
	wantErr(t, err, ErrTimeout, fmt.Sprintf("1 try failed: try 1 (%s): read from %s timed out after 200 ms",
		slow.addr(), slow.addr()))
}

func TestSendBodyLimit(t *testing.T) {
	b := startBackend(t, "b1")
	e := newEngine(t, `{"limits":{"max_body_bytes":4096}}`)
	sendUpstream(t, e, "", b)
	res, _, err := sendVia(t, e, "GET", "/bytes/4096", nil, nil)
	must(t, err)
	if len(res.Body) != 4096 {
		t.Errorf("%d bytes", len(res.Body))
	}
	for _, path := range []string{"/bytes/4097", "/bytes/5000/chunked"} {
		_, r, err := sendVia(t, e, "GET", path, nil, nil)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v", path, err)
		}
		wantErr(t, err, ErrProtocol, fmt.Sprintf("1 try failed: try 1 (%s): response body from %s exceeds 4096 bytes",
			b.addr(), b.addr()))
		if r.Tries() != 1 {
			t.Errorf("%s: retried (%d tries)", path, r.Tries())
		}
	}
}

func TestSendInvalid(t *testing.T) {
	b := startBackend(t, "b1")
	e := newEngine(t, "")
	sendUpstream(t, e, "", b)
	for _, tc := range []struct {
		method, path string
		header       http.Header
		message      string
	}{
		{"GET", "/", http.Header{"X-A": {"b\r\nX-Evil: 1"}}, "header 'X-A: b\r\nX-Evil: 1' contains CR, LF or NUL"},
		{"GET", "/", http.Header{"X-A": {"b\x00X-Evil: 1"}}, "header 'X-A: b\x00X-Evil: 1' contains CR, LF or NUL"},
		{"GET", "/", http.Header{"X-A": {strings.Repeat("v", 300) + "\x00"}},
			"header 'X-A: " + strings.Repeat("v", 195) + "' contains CR, LF or NUL"},
		{"GET", "/", http.Header{"X A": {"1"}}, "header name 'X A' is not an HTTP token"},
		{"GET", "/", http.Header{"Connection": {"close"}}, "header 'Connection' is managed by svc and cannot be set"},
		{"GET", "/", http.Header{"Content-Length": {"1"}}, "header 'Content-Length' is managed by svc and cannot be set"},
		{"GET", "x", nil, "path must start with '/' and hold no spaces or line breaks: given 'x'"},
		{"GET", "/a b", nil, "path must start with '/' and hold no spaces or line breaks: given '/a b'"},
		{"", "/", nil, "method must be an HTTP token: given ''"},
		{"GET", "/\x00", nil, "path must not contain a NUL byte"},
	} {
		r := newRequest(t, e)
		must(t, r.SetUpstream("u"))
		_, err := r.Send(context.Background(), tc.method, tc.path, tc.header, nil)
		wantErr(t, err, ErrInvalid, tc.message)
		if r.Tries() != 0 {
			t.Errorf("%q: a try was made", tc.message)
		}
	}
	r := newRequest(t, e)
	must(t, r.SetUpstream("u"))
	_, err := r.Send(context.Background(), "TRACE", "/", nil, []byte("x"))
	wantErr(t, err, ErrInvalid, "a TRACE request cannot have a body")
	if r.Tries() != 0 {
		t.Error("TRACE with a body: a try was made")
	}
	r = newRequest(t, e)
	_, err = r.Send(context.Background(), "GET", "/", nil, nil)
	wantErr(t, err, ErrInvalid, "no upstream or target set: call svc_set_upstream or svc_set_target first")
	_, err = r.Send(nil, "GET", "/", nil, nil) //nolint:staticcheck // nil ctx is rejected
	wantErr(t, err, ErrInvalid, "ctx must not be nil")

	// Log phase after a Send; closed.
	must(t, r.SetTarget("127.0.0.1", b.port))
	_, err = r.Send(context.Background(), "GET", "/", nil, nil)
	must(t, err)
	_, err = r.Send(context.Background(), "GET", "/", nil, nil)
	wantErr(t, err, ErrPhase, "function cannot be called in log phase (only in: rewrite, access, balancer)")
	must(t, r.Close())
	_, err = r.Send(context.Background(), "GET", "/", nil, nil)
	wantErr(t, err, ErrClosed, "the request is closed")
}

func TestSendContext(t *testing.T) {
	b := startBackend(t, "slow")
	hole := startBackend(t, "hole", "--accept", "off")
	e := newEngine(t, "")
	for _, tc := range []struct {
		name string
		port int
		path string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel during the response", b.port, "/delay/2000", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(150*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline during the response", b.port, "/delay/2000", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 150*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel during the connect", hole.port, "/", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(150*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, e)
			must(t, r.SetTarget("127.0.0.1", tc.port))
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			res, err := r.Send(ctx, "GET", tc.path, nil, nil)
			took := time.Since(start)
			if res != nil || !errors.Is(err, tc.want) || !errors.Is(err, ErrCanceled) {
				status := 0
				if res != nil {
					status = res.Status
				}
				t.Errorf("Send = status %d, %v; want %v and ErrCanceled", status, err, tc.want)
			}
			var ce *CanceledError
			if !errors.As(err, &ce) || ce.Err.Code != CodeCanceled {
				t.Errorf("err %T %v", err, err)
			}
			if took < 100*time.Millisecond || took > time.Second {
				t.Errorf("Send returned after %v", took)
			}
		})
	}
	// Done before the call: fails at once, no try.
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", b.port))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Send(ctx, "GET", "/", nil, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCanceled) || r.Tries() != 0 {
		t.Errorf("done context: %v, %d tries", err, r.Tries())
	}
	// A context that is not done changes nothing.
	r = newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", b.port))
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.Send(ctx, "GET", "/", nil, nil)
	if err != nil || res.Status != 200 {
		t.Errorf("live context: %v", err)
	}
}

func TestSendTLS(t *testing.T) {
	dir := requirePKI(t)
	b := startBackend(t, "mtls", append(tlsArgs(t), "--client-ca", dir+"/ca.pem")...)
	e := newEngine(t, "")
	sendUpstream(t, e, "", b)
	ca := trustStore(t, "ca.pem")
	chain, err := ParseCertChainPEM(readPKI(t, "client-chain.pem"))
	must(t, err)
	defer chain.Close()
	key, err := ParsePrivateKeyPEM(readPKI(t, "client.key"), "")
	must(t, err)
	defer key.Close()
	tlsSetup := func(r *Request) {
		must(t, r.SetScheme("https"))
		must(t, r.SetTLSVerifyStore(ca))
		must(t, r.SetTLSCertKey(chain, key))
	}
	for n := 1; n <= 3; n++ {
		res, _, err := sendVia(t, e, "GET", "/", nil, nil, tlsSetup)
		must(t, err)
		i := info(t, res)
		if res.Status != 200 || i.TLS != "TLSv1.3" || i.Subject != "/O=svc test/CN=svc test client" ||
			res.Header.Get("X-Connection") != "1" || res.Header.Get("X-Request") != fmt.Sprint(n) {
			t.Errorf("send %d: %d %v", n, res.Status, res.Header)
		}
		if h := i.Headers["host"]; h != b.addr() {
			t.Errorf("host %q", h)
		}
	}
	// Without a client certificate: the server refuses it (TLS 1.3: on the
	// first read), a TLS error.
	_, _, err = sendVia(t, e, "GET", "/", nil, nil, func(r *Request) {
		must(t, r.SetScheme("https"))
		must(t, r.SetTLSVerifyStore(ca))
		must(t, r.SetRetries(0))
	})
	if err == nil || !strings.HasPrefix(err.Error(), "1 try failed: try 1 ("+b.addr()+"): ") {
		t.Errorf("no client certificate: %v", err)
	}
	// The wrong CA: the handshake fails (retried on the one target: the same message twice).
	other := trustStore(t, "other-ca.pem")
	_, _, err = sendVia(t, e, "GET", "/", nil, nil, func(r *Request) {
		must(t, r.SetScheme("https"))
		must(t, r.SetTLSVerifyStore(other))
		must(t, r.SetRetries(0))
	})
	wantErr(t, err, ErrTLS, fmt.Sprintf("1 try failed: try 1 (%s): TLS handshake with %s failed: "+
		"certificate verify failed: unable to get local issuer certificate", b.addr(), b.addr()))
}

func TestSendOnBalancer(t *testing.T) {
	b1 := startBackend(t, "t1", tlsArgs(t)...)
	b2 := startBackend(t, "t2", tlsArgs(t)...)
	e := newEngine(t, "")
	sendUpstream(t, e, "", b1, b2)
	ca := trustStore(t, "ca.pem")
	other := trustStore(t, "other-ca.pem")
	// Try 1 with the wrong CA fails, try 2 with the right one answers.
	var tries []int
	res, r, err := sendVia(t, e, "GET", "/", nil, nil, func(r *Request) {
		must(t, r.SetScheme("https"))
		must(t, r.OnBalancer(func(try *Request) error {
			tries = append(tries, try.Tries())
			if _, err := try.Send(context.Background(), "GET", "/", nil, nil); !errors.Is(err, ErrPhase) {
				t.Errorf("Send in the callback: %v", err)
			}
			if try.Tries() == 1 {
				return try.SetTLSVerifyStore(other)
			}
			return try.SetTLSVerifyStore(ca)
		}))
	})
	must(t, err)
	if fmt.Sprint(tries) != "[1 2]" || r.Tries() != 2 || res.Header.Get("X-TLS-Version") != "TLSv1.3" {
		t.Errorf("tries %v, %d; %v", tries, r.Tries(), res.Header)
	}
	// An error aborts the send.
	_, _, err = sendVia(t, e, "GET", "/", nil, nil, func(r *Request) {
		must(t, r.OnBalancer(func(*Request) error { return &Error{Code: CodeNoPeer, Message: "no thanks"} }))
	})
	wantErr(t, err, ErrNoPeer, "balancer callback failed on try 1: no thanks")
}

func TestSendConcurrent(t *testing.T) {
	const goroutines, perG = 32, 1000
	e := newEngine(t, "")
	sendUpstream(t, e, "", startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3"))
	var backends counter
	var wg sync.WaitGroup
	for n := 0; n < goroutines; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			defer func() {
				for k, v := range local {
					for i := 0; i < v; i++ {
						backends.add(k)
					}
				}
			}()
			for n := 0; n < perG; n++ {
				r, err := e.NewRequest()
				if err != nil {
					t.Error(err)
					return
				}
				ok(t, r.SetUpstream("u"))
				res, err := r.Send(context.Background(), "GET", "/", nil, nil)
				r.Close()
				if err != nil {
					t.Error(err)
					return
				}
				if res.Status != 200 {
					t.Errorf("status %d", res.Status)
				}
				local[res.Header.Get("X-Backend")]++
			}
		}()
	}
	wg.Wait()
	var counts []int
	total := 0
	for _, n := range backends.m {
		counts = append(counts, n)
		total += n
	}
	sort.Ints(counts)
	// Round-robin is exact over every cycle: 32000 = 10666 cycles + 2.
	if total != goroutines*perG || fmt.Sprint(counts) != "[10666 10667 10667]" {
		t.Errorf("distribution %s (total %d)", &backends, total)
	}
	t.Logf("backends %s", &backends)
}

// responseBlock builds a block as svc_go_response_copy writes it.
func responseBlock(status, port int, ip string, fields []string, body string) []byte {
	text := ip + "\x00"
	for _, f := range fields {
		text += f + "\x00"
	}
	block := make([]byte, 32)
	binary.NativeEndian.PutUint64(block[0:], uint64(status))
	binary.NativeEndian.PutUint64(block[8:], uint64(port))
	binary.NativeEndian.PutUint64(block[16:], uint64(len(fields)/2))
	binary.NativeEndian.PutUint64(block[24:], uint64(len(text)))
	return append(append(block, text...), body...)
}

func TestParseResponseBlock(t *testing.T) {
	names := []string{"x-tls-version", "X-SNI", "content-TYPE", "x-a", "X-A", "x_under", "1abc-2def",
		"-x", "a--b", "x y", "x-\u00e9", "", "Set-Cookie", "set-cookie"}
	var fields []string
	for i, name := range names {
		fields = append(fields, name, fmt.Sprintf("v%d", i))
	}
	res := parseResponse(responseBlock(201, 8443, "::1", fields, "body!"))
	want := http.Header{}
	for i, name := range names {
		key := textproto.CanonicalMIMEHeaderKey(name)
		want[key] = append(want[key], fmt.Sprintf("v%d", i))
	}
	if res.Status != 201 || res.Peer != (Peer{IP: "::1", Port: 8443}) || string(res.Body) != "body!" ||
		!reflect.DeepEqual(res.Header, want) {
		t.Fatalf("got %d %+v %q %v, want 201 {::1 8443} \"body!\" %v", res.Status, res.Peer, res.Body, res.Header, want)
	}
	if got := res.Header["X-A"]; fmt.Sprint(got) != "[v3 v4]" {
		t.Errorf("X-A = %v, want [v3 v4] (in the order received)", got)
	}
	// Appending to one key's values or to the body changes nothing else.
	res.Header["X-Tls-Version"] = append(res.Header["X-Tls-Version"], "more")
	res.Body = append(res.Body, "tail"...)
	if fmt.Sprint(res.Header["X-Sni"]) != "[v1]" || fmt.Sprint(res.Header["X-Tls-Version"]) != "[v0 more]" ||
		string(res.Body) != "body!tail" {
		t.Errorf("after appends: %v, %q", res.Header, res.Body)
	}

	empty := parseResponse(responseBlock(204, 80, "127.0.0.1", nil, ""))
	if empty.Status != 204 || empty.Body == nil || len(empty.Body) != 0 || empty.Header == nil || len(empty.Header) != 0 ||
		empty.Peer != (Peer{IP: "127.0.0.1", Port: 80}) {
		t.Errorf("empty response: %+v", empty)
	}
}
