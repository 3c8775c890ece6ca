// Package svcbench compares svc's Go binding with net/http on keepalive
// GETs against svc-test-backend processes (see run.sh, which starts them and
// sets the environment below). Run with: bash bench/go/run.sh
//
//	SVC_BENCH_PLAIN  comma-separated ip:port of the plain backends (3)
//	SVC_BENCH_TLS    comma-separated ip:port of the TLS backends (3)
//	SVC_BENCH_CA     the CA (PEM) that verifies the TLS backends
package svcbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"svc"
)

func backends(b *testing.B, env string) []string {
	v := os.Getenv(env)
	if v == "" {
		b.Skipf("%s is not set (run bench/go/run.sh)", env)
	}
	return strings.Split(v, ",")
}

func caPEM(b *testing.B) []byte {
	pem, err := os.ReadFile(os.Getenv("SVC_BENCH_CA"))
	if err != nil {
		b.Skipf("SVC_BENCH_CA: %v", err)
	}
	return pem
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// engine returns an engine with upstream "u" over addrs, and the trust
// store holding the bench CA (nil for plain).
func engine(b *testing.B, addrs []string, tlsOn bool, options ...string) (*svc.Engine, *svc.TrustStore) {
	e, err := svc.NewEngine(strings.Join(options, ""))
	must(b, err)
	b.Cleanup(func() { e.Close() })
	must(b, e.UpsertUpstream(`{"name": "u"}`))
	for _, a := range addrs {
		must(b, e.AddTarget("u", a, 100))
	}
	if !tlsOn {
		return e, nil
	}
	store, err := svc.NewTrustStore()
	must(b, err)
	b.Cleanup(func() { store.Close() })
	must(b, store.AddPEM(caPEM(b)))
	return e, store
}

func benchSend(b *testing.B, env string, tlsOn bool, options string) {
	addrs := backends(b, env)
	e, store := engine(b, addrs, tlsOn, options)
	ctx := context.Background()
	send := func() {
		r, err := e.NewRequest()
		must(b, err)
		must(b, r.SetUpstream("u"))
		if tlsOn {
			must(b, r.SetScheme("https"))
			must(b, r.SetTLSVerifyStore(store))
		}
		res, err := r.Send(ctx, "GET", "/", nil, nil)
		must(b, err)
		if res.Status != 200 || len(res.Body) == 0 {
			b.Fatalf("status %d", res.Status)
		}
		r.Close()
	}
	for i := 0; i < 3*len(addrs); i++ {
		send() // warm: one pooled connection per backend
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send()
	}
}

func netHTTPClient(b *testing.B, tlsOn bool) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	if tlsOn {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM(b)) {
			b.Fatal("bad CA PEM")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(b *testing.B, c *http.Client, url string) {
	res, err := c.Get(url)
	must(b, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	must(b, err)
	if res.StatusCode != 200 || len(body) == 0 {
		b.Fatalf("status %d", res.StatusCode)
	}
}

// benchNetHTTP: net/http with a keepalive Transport, round-robin done here
// over the same backends.
func benchNetHTTP(b *testing.B, env string, tlsOn bool) {
	addrs := backends(b, env)
	c := netHTTPClient(b, tlsOn)
	scheme := "http://"
	if tlsOn {
		scheme = "https://"
	}
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = scheme + a + "/"
	}
	for i := 0; i < 3*len(urls); i++ {
		get(b, c, urls[i%len(urls)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get(b, c, urls[i%len(urls)])
	}
}

// benchClient: an http.Client, keepalive, to one URL (http://u/ over svc's
// dialer, which picks one backend per connection; the first backend for
// plain net/http).
func benchClient(b *testing.B, env string, tlsOn, viaSvc bool, options ...string) {
	addrs := backends(b, env)
	var c *http.Client
	url := "http://"
	if tlsOn {
		url = "https://"
	}
	if viaSvc {
		e, store := engine(b, addrs, tlsOn, options...)
		if tlsOn {
			must(b, e.SetUpstreamTLS("u", svc.TLSPolicy{Store: store, Depth: -1}))
		}
		tr := &http.Transport{DialContext: e.DialContext, DialTLSContext: e.DialTLSContext,
			MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
		b.Cleanup(tr.CloseIdleConnections)
		c = &http.Client{Transport: tr}
		url += "u/"
	} else {
		c = netHTTPClient(b, tlsOn)
		url += addrs[0] + "/"
	}
	for i := 0; i < 10; i++ {
		get(b, c, url)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get(b, c, url)
	}
}

// BenchmarkSend: Request.Send over upstream "u" (round-robin over the three
// backends). The default engine options close a pooled connection after 100
// requests (keepalive.max_requests, Kong's default); the "unlimited" runs set
// it to 0 (no limit), as net/http's Transport has none.
func BenchmarkSend(b *testing.B) {
	const unlimited = `{"keepalive": {"max_requests": 0}}`
	b.Run("plain", func(b *testing.B) { benchSend(b, "SVC_BENCH_PLAIN", false, "") })
	b.Run("tls", func(b *testing.B) { benchSend(b, "SVC_BENCH_TLS", true, "") })
	b.Run("plain-unlimited", func(b *testing.B) { benchSend(b, "SVC_BENCH_PLAIN", false, unlimited) })
	b.Run("tls-unlimited", func(b *testing.B) { benchSend(b, "SVC_BENCH_TLS", true, unlimited) })
	// Without the read spin: every wait for a reply sleeps, as net/http's does.
	const nospin = `{"read_spin_us": 0}`
	b.Run("plain-nospin", func(b *testing.B) { benchSend(b, "SVC_BENCH_PLAIN", false, nospin) })
	b.Run("tls-nospin", func(b *testing.B) { benchSend(b, "SVC_BENCH_TLS", true, nospin) })
}

func BenchmarkNetHTTP(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchNetHTTP(b, "SVC_BENCH_PLAIN", false) })
	b.Run("tls", func(b *testing.B) { benchNetHTTP(b, "SVC_BENCH_TLS", true) })
}

func BenchmarkClientSvcDialer(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchClient(b, "SVC_BENCH_PLAIN", false, true) })
	b.Run("tls", func(b *testing.B) { benchClient(b, "SVC_BENCH_TLS", true, true) })
	b.Run("plain-nospin", func(b *testing.B) { benchClient(b, "SVC_BENCH_PLAIN", false, true, `{"read_spin_us": 0}`) })
	b.Run("tls-nospin", func(b *testing.B) { benchClient(b, "SVC_BENCH_TLS", true, true, `{"read_spin_us": 0}`) })
}

func BenchmarkClientNetHTTP(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchClient(b, "SVC_BENCH_PLAIN", false, false) })
	b.Run("tls", func(b *testing.B) { benchClient(b, "SVC_BENCH_TLS", true, false) })
}

// BenchmarkPick: a request's whole life in pick mode (NewRequest,
// SetUpstream, Pick, Report, Close) on a 3-target round-robin upstream;
// no I/O.
func BenchmarkPick(b *testing.B) {
	e, err := svc.NewEngine("")
	must(b, err)
	defer e.Close()
	must(b, e.UpsertUpstream(`{"name": "u"}`))
	for _, a := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
		must(b, e.AddTarget("u", a, 100))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := e.NewRequest()
		if err != nil {
			b.Fatal(err)
		}
		if err := r.SetUpstream("u"); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Pick(); err != nil {
			b.Fatal(err)
		}
		if err := r.Report(svc.OutcomeOK, 0, 0); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
