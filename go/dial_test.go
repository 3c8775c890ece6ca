package svc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpClient is an http.Client whose connections svc makes.
func httpClient(e *Engine, keepAlive bool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:       e.DialContext,
			DialTLSContext:    e.DialTLSContext,
			DisableKeepAlives: !keepAlive,
		},
		Timeout: 10 * time.Second,
	}
}

func get(t *testing.T, client *http.Client, url string) (*http.Response, map[string]any) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	must(t, err)
	var info map[string]any
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return res, info
}

func TestHTTPClientRoundRobin(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "pool"}`))
	for _, name := range []string{"b1", "b2", "b3"} {
		must(t, e.AddTarget("pool", startBackend(t, name).addr(), 100))
	}

	// One connection per request: round-robin is exact.
	client := httpClient(e, false)
	var seen counter
	for n := 0; n < 30; n++ {
		res, info := get(t, client, "http://pool/path?q=1")
		if res.StatusCode != 200 || info["target"] != "/path?q=1" || res.Header.Get("X-Request") != "1" {
			t.Errorf("%d %v", res.StatusCode, info)
		}
		seen.add(res.Header.Get("X-Backend"))
	}
	if seen.m["b1"] != 10 || seen.m["b2"] != 10 || seen.m["b3"] != 10 {
		t.Errorf("distribution %s, want 10 each", &seen)
	}

	// Keep-alive: http.Transport reuses its connection (full duplex Conn:
	// its read loop waits in Read while its write loop writes).
	client = httpClient(e, true)
	conns := map[string]int{} // backend/connection -> requests
	for i := 0; i < 20; i++ {
		res, _ := get(t, client, "http://pool/")
		key := res.Header.Get("X-Backend") + "/" + res.Header.Get("X-Connection")
		conns[key]++
		if want := fmt.Sprint(conns[key]); res.Header.Get("X-Request") != want {
			t.Errorf("request %d: X-Request %s, want %s", i, res.Header.Get("X-Request"), want)
		}
	}
	if len(conns) != 1 {
		t.Errorf("keep-alive used %d connections: %v", len(conns), conns)
	}
	client.CloseIdleConnections()

	// Concurrent keep-alive clients over all three backends.
	var wg sync.WaitGroup
	var all counter
	for n := 0; n < 8; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 25; n++ {
				res, err := client.Get("http://pool/")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				all.add(res.Header.Get("X-Backend"))
			}
		}()
	}
	wg.Wait()
	if n := all.m["b1"] + all.m["b2"] + all.m["b3"]; n != 200 {
		t.Errorf("concurrent keep-alive: %s", &all)
	}
	client.CloseIdleConnections()
}

func TestHTTPClientPlainHost(t *testing.T) {
	b := startBackend(t, "direct")
	e := newEngine(t, "")
	res, info := get(t, httpClient(e, true), fmt.Sprintf("http://127.0.0.1:%d/x", b.port))
	if res.Header.Get("X-Backend") != "direct" || info["target"] != "/x" {
		t.Errorf("%v %v", res.Header, info)
	}
	// Errors: unknown network, bad address, refused.
	if _, err := e.DialContext(context.Background(), "udp", b.addr()); err == nil {
		t.Error("udp dialled")
	}
	if _, err := e.DialContext(context.Background(), "tcp", "no-port"); err == nil {
		t.Error("an address without port dialled")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = e.DialContext(context.Background(), "tcp", addr)
	var oe *net.OpError
	if !errors.Is(err, ErrConnect) || !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("refused: %v", err)
	}
}

func TestHTTPClientTLS(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "secure"}`))
	must(t, e.UpsertUpstream(`{"name": "wrongca"}`))
	for _, name := range []string{"s1", "s2", "s3"} {
		b := startBackend(t, name, tlsArgs(t)...)
		must(t, e.AddTarget("secure", b.addr(), 100))
		must(t, e.AddTarget("wrongca", b.addr(), 100))
	}
	must(t, e.SetUpstreamTLS("secure", TLSPolicy{Store: trustStore(t, "ca.pem"), Depth: -1}))
	must(t, e.SetUpstreamTLS("wrongca", TLSPolicy{Store: trustStore(t, "other-ca.pem"), Depth: -1}))

	client := httpClient(e, false)
	var seen counter
	for n := 0; n < 9; n++ {
		res, info := get(t, client, "https://secure/")
		if res.Header.Get("X-TLS-Version") != "TLSv1.3" || info["tls_version"] != "TLSv1.3" {
			t.Errorf("%v", info)
		}
		seen.add(res.Header.Get("X-Backend"))
	}
	if seen.m["s1"] != 3 || seen.m["s2"] != 3 || seen.m["s3"] != 3 {
		t.Errorf("distribution %s", &seen)
	}
	// https on a keep-alive client too.
	kc := httpClient(e, true)
	for n := 0; n < 3; n++ {
		get(t, kc, "https://secure/")
	}
	kc.CloseIdleConnections()

	// The wrong CA: svc's verification fails every try.
	_, err := client.Get("https://wrongca/")
	var se *Error
	if !errors.Is(err, ErrTLS) || !errors.As(err, &se) {
		t.Fatalf("wrong CA: %v", err)
	}
	// Every try (1 + 5 retries) failed verification; svc's message lists them.
	if !strings.HasPrefix(se.Message, "6 tries failed: try 1 (127.0.0.1:") || strings.Count(se.Message,
		"failed: certificate verify failed: unable to get local issuer certificate") != 6 {
		t.Errorf("wrong CA: %q", se.Message)
	}

	// Without a policy, the engine's default (system) store rejects the test CA.
	must(t, e.UpsertUpstream(`{"name": "nopolicy"}`))
	must(t, e.AddTarget("nopolicy", startBackend(t, "s4", tlsArgs(t)...).addr(), 100))
	if _, err := client.Get("https://nopolicy/"); !errors.Is(err, ErrTLS) {
		t.Errorf("no policy: %v", err)
	}
	// Verify off through the policy.
	off := false
	must(t, e.SetUpstreamTLS("nopolicy", TLSPolicy{Verify: &off, Depth: -1}))
	get(t, client, "https://nopolicy/")

	wantErr(t, e.SetUpstreamTLS("x", TLSPolicy{Chain: &CertChain{}}), ErrInvalid,
		"a TLS policy needs both Chain and Key, or neither")
}

func TestHTTPClientMutualTLS(t *testing.T) {
	dir := requirePKI(t)
	b := startBackend(t, "m1", append(tlsArgs(t), "--client-ca", dir+"/ca.pem")...)
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "mtls"}`))
	must(t, e.AddTarget("mtls", b.addr(), 100))
	chain, err := ParseCertChainPEM(readPKI(t, "client-chain.pem"))
	must(t, err)
	defer chain.Close()
	key, err := ParsePrivateKeyPEM(readPKI(t, "client.key"), "")
	must(t, err)
	defer key.Close()
	must(t, e.SetUpstreamTLS("mtls", TLSPolicy{Store: trustStore(t, "ca.pem"), Depth: -1, Chain: chain, Key: key}))
	res, _ := get(t, httpClient(e, true), "https://mtls/")
	if got := res.Header.Get("X-Client-Subject"); got != "/O=svc test/CN=svc test client" {
		t.Errorf("X-Client-Subject %q", got)
	}
}

func TestHTTPClientContext(t *testing.T) {
	hole := startBackend(t, "hole", "--accept", "off")
	slow := startBackend(t, "slow")
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "hole"}`))
	must(t, e.AddTarget("hole", hole.addr(), 100))
	client := httpClient(e, true)

	// A connect to a blackhole ends with the request's context.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://hole/", nil)
	must(t, err)
	start := time.Now()
	_, err = client.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("blackhole: %v after %v", err, time.Since(start))
	}

	// A slow response ends with the request's context (http.Transport
	// closes the connection, which interrupts the blocked Read).
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/delay/2000", slow.addr()), nil)
	must(t, err)
	start = time.Now()
	_, err = client.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("slow response: %v after %v", err, time.Since(start))
	}
}

// A dialer Conn is full duplex: a Write does not wait behind a Read waiting
// for data (in svc_conn_wait_readable, without the I/O lock), and that Read
// gets the answer; a deadline moved later lets it wait on, one moved
// earlier and Close interrupt it.
func TestDialerConnDuplex(t *testing.T) {
	plain := startBackend(t, "d1")
	secure := startBackend(t, "d2", tlsArgs(t)...)
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "secure"}`))
	must(t, e.AddTarget("secure", secure.addr(), 100))
	must(t, e.SetUpstreamTLS("secure", TLSPolicy{Store: trustStore(t, "ca.pem"), Depth: -1}))
	for _, tc := range []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"plain", func() (net.Conn, error) { return e.DialContext(context.Background(), "tcp", plain.addr()) }},
		{"tls", func() (net.Conn, error) { return e.DialTLSContext(context.Background(), "tcp", "secure:443") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			must(t, err)
			defer c.Close()

			// The reader waits in Read before each request is written.
			const requests = 10
			responses := make(chan error, requests)
			go func() {
				br := bufio.NewReader(c)
				for i := 1; i <= requests; i++ {
					res, err := http.ReadResponse(br, nil)
					if err == nil {
						_, err = io.ReadAll(res.Body)
						if got := res.Header.Get("X-Request"); err == nil && got != fmt.Sprint(i) {
							err = fmt.Errorf("X-Request %s, want %d", got, i)
						}
					}
					responses <- err
					if err != nil {
						return
					}
				}
			}()
			var writing time.Duration
			for i := 0; i < requests; i++ {
				time.Sleep(60 * time.Millisecond) // the reader is waiting in Read
				start := time.Now()
				_, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
				writing += time.Since(start)
				must(t, err)
				select {
				case err := <-responses:
					must(t, err)
				case <-time.After(5 * time.Second):
					t.Fatalf("request %d: no response", i+1)
				}
			}
			// A Write used to wait for the reader's slice (up to 50 ms).
			if writing > 200*time.Millisecond {
				t.Errorf("%d Writes beside a waiting Read took %v", requests, writing)
			}

			// A deadline moved later while Read waits: it waits on and gets
			// the answer written after the first deadline.
			read := func() chan error {
				done := make(chan error, 1)
				go func() {
					buf := make([]byte, 4096)
					n, err := c.Read(buf)
					if err == nil && !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
						err = fmt.Errorf("read %q", buf[:n])
					}
					done <- err
				}()
				return done
			}
			must(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			done := read()
			time.Sleep(50 * time.Millisecond)
			must(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
			time.Sleep(150 * time.Millisecond)
			_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			must(t, err)
			must(t, <-done)

			// A deadline moved earlier interrupts the wait (svc_conn_cancel).
			must(t, c.SetReadDeadline(time.Time{}))
			done = read()
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			must(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
			if err := <-done; !isDeadline(err) || !errors.Is(err, ErrCanceled) || time.Since(start) > time.Second {
				t.Errorf("Read interrupted by a deadline: %v after %v", err, time.Since(start))
			}

			// Close interrupts the wait.
			c2, err := tc.dial()
			must(t, err)
			c = c2
			done = read()
			time.Sleep(50 * time.Millisecond)
			start = time.Now()
			must(t, c2.Close())
			if err := <-done; !errors.Is(err, net.ErrClosed) || time.Since(start) > time.Second {
				t.Errorf("Read interrupted by Close: %v after %v", err, time.Since(start))
			}
		})
	}
}

// The duplex Read spins like svc's own reads: a peer whose replies come
// later than the spin stops it after spinCredit waits; read_spin_us 0 never
// spins.
func TestDialerConnReadSpin(t *testing.T) {
	b := startBackend(t, "s1")
	for _, tc := range []struct {
		options    string
		spin       time.Duration
		path       string
		wantCredit int
	}{
		{"", 100 * time.Microsecond, "/delay/5", 0}, // 5 ms replies: every spin misses
		{`{"read_spin_us": 0}`, 0, "/", spinCredit}, // off: the credit is never spent
	} {
		e := newEngine(t, tc.options)
		c, err := e.DialContext(context.Background(), "tcp", b.addr())
		must(t, err)
		conn := c.(*Conn)
		if conn.spin != tc.spin {
			t.Errorf("%q: spin %v, want %v", tc.options, conn.spin, tc.spin)
		}
		br := bufio.NewReader(c)
		for i := 0; i < spinCredit; i++ {
			_, err := c.Write([]byte("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n\r\n"))
			must(t, err)
			res, err := http.ReadResponse(br, nil)
			must(t, err)
			_, err = io.ReadAll(res.Body)
			must(t, err)
			res.Body.Close()
		}
		if conn.spinCredit != tc.wantCredit {
			t.Errorf("%q: spin credit %d after %d replies, want %d", tc.options, conn.spinCredit, spinCredit,
				tc.wantCredit)
		}
		must(t, c.Close())
	}
}
