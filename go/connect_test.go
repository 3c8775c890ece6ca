package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// connectTo connects a fresh request to one backend (set_target).
func connectTo(t *testing.T, e *Engine, b *backend, scheme string, setup ...func(r *Request)) (*Conn, error) {
	t.Helper()
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", b.port))
	must(t, r.SetRetries(0))
	must(t, r.SetScheme(scheme))
	for _, f := range setup {
		f(r)
	}
	nc, err := r.Connect(context.Background())
	if err != nil {
		return nil, err
	}
	c := nc.(*Conn)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func TestConnectPlain(t *testing.T) {
	b := startBackend(t, "b1")
	e := newEngine(t, "")
	c, err := connectTo(t, e, b, "http")
	must(t, err)
	if got := c.Peer(); got != (Peer{IP: "127.0.0.1", Port: b.port, Host: "127.0.0.1"}) {
		t.Errorf("Peer() = %+v", got)
	}
	if got := c.RemoteAddr().String(); got != b.addr() {
		t.Errorf("RemoteAddr() = %q, want %q", got, b.addr())
	}
	if got := c.LocalAddr().String(); got != "0.0.0.0:0" {
		t.Errorf("LocalAddr() = %q (placeholder)", got)
	}
	if c.Reused() || c.TLSResumed() || c.TLSVersion() != "" {
		t.Errorf("reused %v resumed %v version %q", c.Reused(), c.TLSResumed(), c.TLSVersion())
	}
	res, body := rawGet(t, c, "/x")
	if res.StatusCode != 200 || res.Header.Get("X-Backend") != "b1" || res.Header.Get("X-TLS-Version") != "" ||
		!strings.Contains(body, `"target":"/x"`) {
		t.Errorf("response %d %v %s", res.StatusCode, res.Header, body)
	}
	// Connection: close: the response, then EOF as (0, io.EOF).
	rawGet(t, c, "/", "Connection: close")
	buf := make([]byte, 16)
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read at EOF = %d, %v", n, err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
	// Close: idempotent, concurrent; I/O afterwards is net.ErrClosed.
	var wg sync.WaitGroup
	for n := 0; n < 8; n++ {
		wg.Add(1)
		go func() { defer wg.Done(); ok(t, c.Close()) }()
	}
	wg.Wait()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := c.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close: %v", err)
	}
	wantErr(t, c.Release(true), ErrClosed, "the connection is closed")
}

func TestConnectPhaseAndClosed(t *testing.T) {
	b := startBackend(t, "b1")
	e := newEngine(t, "")
	r := newRequest(t, e)
	_, err := r.Connect(context.Background())
	wantErr(t, err, ErrInvalid, "no upstream or target set: call svc_set_upstream or svc_set_target first")
	must(t, r.SetTarget("127.0.0.1", b.port))
	c, err := r.Connect(context.Background())
	must(t, err)
	defer c.Close()
	if r.Phase() != PhaseLog {
		t.Errorf("phase %v after Connect", r.Phase())
	}
	_, err = r.Connect(context.Background())
	wantErr(t, err, ErrPhase, "function cannot be called in log phase (only in: rewrite, access, balancer)")
	must(t, r.Close())
	_, err = r.Connect(context.Background())
	wantErr(t, err, ErrClosed, "the request is closed")
	// The connection outlives its request.
	if res, _ := rawGet(t, c, "/"); res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
}

func TestConnectRefused(t *testing.T) {
	e := newEngine(t, "")
	// A port that refuses: a free one, listened on and closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, err = connectTo(t, e, &backend{port: port}, "http")
	wantErr(t, err, ErrConnect, fmt.Sprintf("1 try failed: try 1 (127.0.0.1:%d): connect to 127.0.0.1:%d failed: "+
		"Connection refused", port, port))
}

func TestConnectTLS(t *testing.T) {
	b := startBackend(t, "tls1", tlsArgs(t)...)
	e := newEngine(t, "")
	ca := trustStore(t, "ca.pem")
	c, err := connectTo(t, e, b, "https", func(r *Request) { must(t, r.SetTLSVerifyStore(ca)) })
	must(t, err)
	if c.TLSVersion() != "TLSv1.3" || c.TLSResumed() || c.Reused() {
		t.Errorf("version %q resumed %v reused %v", c.TLSVersion(), c.TLSResumed(), c.Reused())
	}
	res, _ := rawGet(t, c, "/")
	if res.Header.Get("X-TLS-Version") != "TLSv1.3" || res.Header.Get("X-Backend") != "tls1" ||
		res.Header.Get("X-SNI") != "" { // no SNI for an IP literal
		t.Errorf("headers %v", res.Header)
	}
	c.Close()

	// A new connection under the same policy resumes the session.
	c, err = connectTo(t, e, b, "https", func(r *Request) { must(t, r.SetTLSVerifyStore(ca)) })
	must(t, err)
	if !c.TLSResumed() {
		t.Error("second TLS connection not resumed")
	}

	// Wrong CA: ErrTLS with svc's exact message.
	other := trustStore(t, "other-ca.pem")
	_, err = connectTo(t, e, b, "https", func(r *Request) { must(t, r.SetTLSVerifyStore(other)) })
	wantErr(t, err, ErrTLS, fmt.Sprintf("1 try failed: try 1 (%s): TLS handshake with %s failed: "+
		"certificate verify failed: unable to get local issuer certificate", b.addr(), b.addr()))
}

func TestConnectMutualTLS(t *testing.T) {
	dir := requirePKI(t)
	b := startBackend(t, "mtls", append(tlsArgs(t), "--client-ca", dir+"/ca.pem")...)
	e := newEngine(t, "")
	ca := trustStore(t, "ca.pem")
	chain, err := ParseCertChainPEM(readPKI(t, "client-chain.pem"))
	must(t, err)
	defer chain.Close()
	key, err := ParsePrivateKeyPEM(readPKI(t, "client.key"), "")
	must(t, err)
	defer key.Close()
	c, err := connectTo(t, e, b, "https", func(r *Request) {
		must(t, r.SetTLSVerifyStore(ca))
		must(t, r.SetTLSCertKey(chain, key))
	})
	must(t, err)
	res, _ := rawGet(t, c, "/")
	if got := res.Header.Get("X-Client-Subject"); got != "/O=svc test/CN=svc test client" {
		t.Errorf("X-Client-Subject %q", got)
	}

	// Without a client certificate, TLS 1.3 fails on the first read.
	c, err = connectTo(t, e, b, "https", func(r *Request) { must(t, r.SetTLSVerifyStore(ca)) })
	must(t, err)
	_, werr := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_, rerr := c.Read(make([]byte, 100))
	var se *Error
	if werr == nil && !errors.As(rerr, &se) {
		t.Errorf("no client certificate: write %v, read %v", werr, rerr)
	}
}

func TestConnectPooling(t *testing.T) {
	b := startBackend(t, "b1")
	e := newEngine(t, "")
	c, err := connectTo(t, e, b, "http")
	must(t, err)
	res, _ := rawGet(t, c, "/")
	conn1 := res.Header.Get("X-Connection")
	must(t, c.Release(true))
	ok(t, c.Close()) // harmless after Release
	wantErr(t, c.Release(false), ErrClosed, "the connection is closed")

	c, err = connectTo(t, e, b, "http")
	must(t, err)
	if !c.Reused() {
		t.Error("second Connect did not reuse the released connection")
	}
	res, _ = rawGet(t, c, "/")
	if got := res.Header.Get("X-Connection"); got != conn1 || res.Header.Get("X-Request") != "2" {
		t.Errorf("X-Connection %s (want %s), X-Request %s (want 2)", got, conn1, res.Header.Get("X-Request"))
	}
	// Released as non-reusable (Close): the next connect is a new connection.
	must(t, c.Close())
	c, err = connectTo(t, e, b, "http")
	must(t, err)
	res, _ = rawGet(t, c, "/")
	if c.Reused() || res.Header.Get("X-Connection") == conn1 {
		t.Errorf("a closed connection was reused (X-Connection %s)", res.Header.Get("X-Connection"))
	}
}

func TestConnectContextCancel(t *testing.T) {
	b := startBackend(t, "hole", "--accept", "off")
	e := newEngine(t, "")
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(150*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 150*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, e)
			must(t, r.SetTarget("127.0.0.1", b.port))
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			c, err := r.Connect(ctx) // the connect timeout is 60 s
			took := time.Since(start)
			if c != nil {
				t.Fatalf("connected to a blackhole: %v", c.RemoteAddr())
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrCanceled) {
				t.Errorf("err = %v, want %v and ErrCanceled", err, tc.want)
			}
			var ce *CanceledError
			if !errors.As(err, &ce) || ce.Err.Code != CodeCanceled {
				t.Errorf("err %T %v", err, err)
			}
			if ne, isNet := err.(net.Error); !isNet || ne.Timeout() != (tc.want == context.DeadlineExceeded) {
				t.Errorf("Timeout() wrong for %v", err)
			}
			if took < 100*time.Millisecond || took > 2*time.Second {
				t.Errorf("Connect returned after %v", took)
			}
			if r.Phase() != PhaseLog {
				t.Errorf("phase %v", r.Phase())
			}
		})
	}
	// A context done before Connect: fails at once.
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", b.port))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Connect(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCanceled) {
		t.Errorf("done context: %v", err)
	}
	_, err = r.Connect(nil) //nolint:staticcheck // nil ctx is rejected
	wantErr(t, err, ErrInvalid, "ctx must not be nil")
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.Is(err, ErrTimeout) && errors.As(err, &ne) && ne.Timeout()
}

func TestConnDeadlines(t *testing.T) {
	b := startBackend(t, "slow")
	e := newEngine(t, "")

	// A read deadline during a slow response.
	c, err := connectTo(t, e, b, "http")
	must(t, err)
	_, err = c.Write([]byte("GET /delay/2000 HTTP/1.1\r\nHost: x\r\n\r\n"))
	must(t, err)
	must(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	start := time.Now()
	_, err = c.Read(make([]byte, 100))
	if took := time.Since(start); !isDeadline(err) || took < 150*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("Read = %v after %v, want a deadline error after 200ms", err, took)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Errorf("not a read *net.OpError: %#v", err)
	}
	// Past deadline: at once; cleared: the response comes.
	must(t, c.SetDeadline(time.Now().Add(-time.Second)))
	if _, err := c.Read(make([]byte, 1)); !isDeadline(err) {
		t.Errorf("past read deadline: %v", err)
	}
	if _, err := c.Write([]byte("x")); !isDeadline(err) {
		t.Errorf("past write deadline: %v", err)
	}
	must(t, c.SetDeadline(time.Time{}))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Errorf("after clearing the deadline: %q %v", buf[:n], err)
	}

	// A deadline set while Read is blocked interrupts it (svc_conn_cancel);
	// the connection is unusable afterwards.
	c, err = connectTo(t, e, b, "http")
	must(t, err)
	_, err = c.Write([]byte("GET /delay/2000 HTTP/1.1\r\nHost: x\r\n\r\n"))
	must(t, err)
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		_, err := c.Read(make([]byte, 100))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	must(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	err = <-done
	if took := time.Since(start); !isDeadline(err) || !errors.Is(err, ErrCanceled) || took > 1500*time.Millisecond {
		t.Errorf("interrupted Read = %v after %v", err, took)
	}
	must(t, c.SetReadDeadline(time.Time{}))
	if _, err := c.Read(make([]byte, 100)); err == nil {
		t.Error("Read after an interrupting deadline worked")
	}

	// svc's own read timeout (the request's) without a deadline.
	c, err = connectTo(t, e, b, "http", func(r *Request) {
		must(t, r.SetTimeouts(time.Second, time.Second, 300*time.Millisecond))
	})
	must(t, err)
	_, err = c.Write([]byte("GET /delay/2000 HTTP/1.1\r\nHost: x\r\n\r\n"))
	must(t, err)
	_, err = c.Read(make([]byte, 100))
	wantErrIn(t, err, ErrTimeout, fmt.Sprintf("read from %s timed out after 300 ms", b.addr()))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("svc's timeout reported as a deadline")
	}
	if ne, isNet := err.(net.Error); !isNet || !ne.Timeout() {
		t.Errorf("svc timeout not a net.Error timeout: %v", err)
	}

	// Close interrupts a blocked Read with net.ErrClosed.
	c, err = connectTo(t, e, b, "http")
	must(t, err)
	_, err = c.Write([]byte("GET /delay/2000 HTTP/1.1\r\nHost: x\r\n\r\n"))
	must(t, err)
	go func() {
		_, err := c.Read(make([]byte, 100))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	must(t, c.Close())
	if err := <-done; !errors.Is(err, net.ErrClosed) || time.Since(start) > time.Second {
		t.Errorf("Read interrupted by Close: %v", err)
	}
}

// wantErrIn is wantErr for an *Error wrapped in another error.
func wantErrIn(t testing.TB, err error, sentinel *Error, message string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("got %T %v, want a wrapped *svc.Error", err, err)
		return
	}
	wantErr(t, e, sentinel, message)
}

func TestConnectConcurrent(t *testing.T) {
	const goroutines, perG = 32, 100
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "u"}`))
	for _, name := range []string{"b1", "b2", "b3"} {
		must(t, e.AddTarget("u", startBackend(t, name).addr(), 100))
	}
	var backends, reused counter
	var wg sync.WaitGroup
	for n := 0; n < goroutines; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < perG; n++ {
				r, err := e.NewRequest()
				if err != nil {
					t.Error(err)
					return
				}
				ok(t, r.SetUpstream("u"))
				nc, err := r.Connect(context.Background())
				r.Close()
				if err != nil {
					t.Error(err)
					return
				}
				c := nc.(*Conn)
				res, _, err := tryGet(c, "/")
				if err != nil {
					t.Error(err)
					c.Close()
					return
				}
				backends.add(res.Header.Get("X-Backend"))
				reused.add(fmt.Sprint(c.Reused()))
				if res.Header.Get("X-Backend") == "" || (c.Reused() != (res.Header.Get("X-Request") != "1")) {
					t.Errorf("reused %v, X-Request %s", c.Reused(), res.Header.Get("X-Request"))
				}
				ok(t, c.Release(true))
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
	// Round-robin is exact over every cycle: 3200 picks = 1066 cycles + 2.
	if total != goroutines*perG || fmt.Sprint(counts) != "[1066 1067 1067]" {
		t.Errorf("distribution %s (total %d)", &backends, total)
	}
	if reused.m["true"] == 0 {
		t.Errorf("no connection was reused: %s", &reused)
	}
	t.Logf("backends %s; reused %s", &backends, &reused)
}

func TestOnBalancer(t *testing.T) {
	b1 := startBackend(t, "t1", tlsArgs(t)...)
	b2 := startBackend(t, "t2", tlsArgs(t)...)
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "tls"}`))
	must(t, e.AddTarget("tls", b1.addr(), 100))
	must(t, e.AddTarget("tls", b2.addr(), 100))
	ca := trustStore(t, "ca.pem")
	other := trustStore(t, "other-ca.pem")

	// Try 1 verifies with the wrong CA and fails, try 2 with the right one.
	r := newRequest(t, e)
	must(t, r.SetUpstream("tls"))
	must(t, r.SetScheme("https"))
	must(t, r.SetRetries(1))
	var tries []int
	var peers []Peer
	var view *Request
	must(t, r.OnBalancer(func(rr *Request) error {
		view = rr
		tries = append(tries, rr.Tries())
		peers = append(peers, rr.Peer())
		if _, err := rr.Pick(); !errors.Is(err, ErrPhase) {
			t.Errorf("Pick in the callback: %v", err)
		}
		wantErr(t, rr.OnBalancer(nil), ErrPhase, "OnBalancer cannot be called from a balancer callback")
		if rr.Phase() != PhaseBalancer {
			t.Errorf("phase %v in the callback", rr.Phase())
		}
		if rr.Tries() == 1 {
			return rr.SetTLSVerifyStore(other)
		}
		return rr.SetTLSVerifyStore(ca)
	}))
	nc, err := r.Connect(context.Background())
	must(t, err)
	c := nc.(*Conn)
	defer c.Close()
	if fmt.Sprint(tries) != "[1 2]" || len(peers) != 2 || peers[0].Port == peers[1].Port || c.Peer() != peers[1] {
		t.Errorf("tries %v peers %v conn peer %v", tries, peers, c.Peer())
	}
	if c.TLSVersion() != "TLSv1.3" {
		t.Errorf("TLS version %q", c.TLSVersion())
	}
	if err := view.SetTLSVerify(false); !errors.Is(err, ErrClosed) {
		t.Errorf("the callback's request after the callback: %v", err)
	}

	// Errors abort the connect: an *Error keeps its code, others are internal.
	for _, tc := range []struct {
		ret     func() error
		code    *Error
		message string
	}{
		{func() error { return &Error{Code: CodeNoPeer, Message: "no thanks"} }, ErrNoPeer,
			"balancer callback failed on try 1: no thanks"},
		{func() error { return fmt.Errorf("wrapped: %w", ErrTLS) }, ErrTLS,
			"balancer callback failed on try 1: wrapped: TLS failure"},
		{func() error { return errors.New("plain") }, ErrInternal, "balancer callback failed on try 1: plain"},
		{func() error { panic("boom") }, ErrInternal,
			"balancer callback failed on try 1: panic in balancer callback: boom"},
	} {
		r := newRequest(t, e)
		must(t, r.SetUpstream("tls"))
		must(t, r.OnBalancer(func(*Request) error { return tc.ret() }))
		_, err := r.Connect(context.Background())
		wantErr(t, err, tc.code, tc.message)
	}

	// Cleared: no callback runs.
	r = newRequest(t, e)
	must(t, r.SetUpstream("tls"))
	must(t, r.SetScheme("https"))
	must(t, r.SetTLSVerifyStore(ca))
	must(t, r.OnBalancer(func(*Request) error { return errors.New("must not run") }))
	must(t, r.OnBalancer(nil))
	nc, err = r.Connect(context.Background())
	must(t, err)
	nc.Close()
	must(t, r.Close())
	wantErr(t, r.OnBalancer(nil), ErrClosed, "the request is closed")
}
