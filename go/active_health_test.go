package svc

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// probeLog records health events and active-probe log lines in delivery order.
type probeLog struct {
	mu    sync.Mutex
	lines []string
}

func watchProbes(e *Engine) *probeLog {
	p := &probeLog{}
	e.OnHealth(func(ev HealthEvent) {
		state := "UNHEALTHY"
		if ev.Healthy {
			state = "HEALTHY"
		}
		p.add(state + " " + ev.Address)
	})
	e.OnLog(func(level int, msg string) {
		if strings.HasPrefix(msg, "active probe of") {
			p.add(msg)
		}
	})
	return p
}

func (p *probeLog) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
}

// countBefore counts the lines containing part before line first appeared
// (all lines when it did not).
func (p *probeLog) countBefore(part, line string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if l == line {
			break
		}
		if strings.Contains(l, part) {
			n++
		}
	}
	return n
}

func (p *probeLog) has(line string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l == line {
			return true
		}
	}
	return false
}

func (p *probeLog) events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.HasPrefix(l, "HEALTHY ") || strings.HasPrefix(l, "UNHEALTHY ") {
			out = append(out, l)
		}
	}
	return out
}

func adminGet(t *testing.T, e *Engine, b *backend, path string) map[string]any {
	t.Helper()
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", b.port))
	res, err := r.Send(context.Background(), "GET", path, nil, nil)
	must(t, err)
	var info map[string]any
	must(t, json.Unmarshal(res.Body, &info))
	return info["admin"].(map[string]any)
}

func activeTree(kind string, unhealthy string) string {
	return fmt.Sprintf(`{"type": %q, "timeout": 0.5, "healthy": {"interval": 0.05, "successes": 2},
		"unhealthy": {"interval": 0.05, %s}}`, kind, unhealthy)
}

func TestActiveHTTPProbesEjectAndRestoreWithExactCounts(t *testing.T) {
	b := startBackend(t, "b")
	e := newEngine(t, "")
	p := watchProbes(e)
	must(t, e.UpsertUpstream(`{"name": "u", "healthchecks": {"active": `+activeTree("http", `"http_failures": 3`)+`}}`))
	must(t, e.AddTarget("u", b.addr(), 100))
	if !waitFor(func() bool { return p.countBefore("status 200 (SUCCESS)", "\x00") > 0 }) {
		t.Fatal("no successful probe")
	}
	adminGet(t, e, b, "/_admin/status/418") // in neither active list: ignored
	if !waitFor(func() bool { return p.countBefore("status 418 is in neither active list: ignored", "\x00") >= 3 }) {
		t.Fatal("no ignored probe")
	}
	if got := p.events(); len(got) != 0 {
		t.Fatalf("events %v, want none", got)
	}
	adminGet(t, e, b, "/_admin/status/502")
	down := "UNHEALTHY " + b.addr()
	if !waitFor(func() bool { return p.has(down) }) {
		t.Fatal("no unhealthy event")
	}
	if n := p.countBefore("status 502 (HTTP)", down); n != 3 {
		t.Errorf("%d HTTP failures before the transition, want 3", n)
	}
	adminGet(t, e, b, "/_admin/status/0")
	up := "HEALTHY " + b.addr()
	if !waitFor(func() bool { return p.has(up) }) {
		t.Fatal("no healthy event")
	}
	if n := p.countBefore("status 200 (SUCCESS)", up) - p.countBefore("status 200 (SUCCESS)", down); n != 2 {
		t.Errorf("%d successes before coming back, want 2", n)
	}
	if got, want := p.events(), []string{down, up}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestActiveHTTPSProbesUseTheSNIAndTheClientCertificate(t *testing.T) {
	dir := requirePKI(t)
	tls := startBackend(t, "tls", tlsArgs(t)...)
	mtls := startBackend(t, "mtls", append(tlsArgs(t), "--client-ca", filepath.Join(dir, "ca.pem"))...)
	e := newEngine(t, fmt.Sprintf(`{"tls": {"trust": "none", "ca_file": %q}}`, filepath.Join(dir, "ca.pem")))
	p := watchProbes(e)
	doc, err := json.Marshal(map[string]any{
		"_format_version": "3.0",
		"certificates": []any{map[string]any{
			"id": "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b", "cert": string(readPKI(t, "client.pem")),
			"key": string(readPKI(t, "client.key"))}},
		"upstreams": []any{map[string]any{
			"name":               "u",
			"client_certificate": map[string]any{"id": "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b"},
			"healthchecks": map[string]any{"active": map[string]any{
				"type": "https", "https_sni": "localhost", "timeout": 0.5,
				"healthy":   map[string]any{"interval": 0.05, "successes": 1},
				"unhealthy": map[string]any{"interval": 0.05, "tcp_failures": 1}}},
			"targets": []any{map[string]any{"target": tls.addr()}, map[string]any{"target": mtls.addr()}},
		}},
	})
	must(t, err)
	must(t, e.LoadConfig(doc))
	ok := waitFor(func() bool {
		return p.countBefore("'127.0.0.1("+tls.addr()+")': status 200 (SUCCESS)", "\x00") > 0 &&
			p.countBefore("'127.0.0.1("+mtls.addr()+")': status 200 (SUCCESS)", "\x00") > 0
	})
	if !ok {
		t.Fatalf("probes did not succeed on both backends: %v", p.lines)
	}
	if got := p.events(); len(got) != 0 {
		t.Errorf("events %v, want none", got)
	}
	r := newRequest(t, e)
	must(t, r.SetTarget("127.0.0.1", tls.port))
	must(t, r.SetScheme("https"))
	must(t, r.SetTLSVerify(false))
	res, err := r.Send(context.Background(), "GET", "/_admin/info", nil, nil)
	must(t, err)
	var info struct {
		Admin struct {
			Last struct {
				SNI string `json:"sni"`
			} `json:"last"`
		} `json:"admin"`
	}
	must(t, json.Unmarshal(res.Body, &info))
	if info.Admin.Last.SNI != "localhost" {
		t.Errorf("probe SNI %q, want localhost", info.Admin.Last.SNI)
	}
}

func TestActiveProbeSettingsErrors(t *testing.T) {
	e := newEngine(t, "")
	wantErr(t, e.UpsertUpstream(`{"name": "u", "client_certificate": {"id": "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b"}}`),
		ErrConfig, "client_certificate: invalid reference 'client_certificate: 4e3ad2e4-0bc4-4638-8e34-c84a417ba39b' (no such entry in 'certificates')")
	wantErr(t, e.UpsertUpstream(`{"name": "u", "healthchecks": {"active": {"type": "grpc", "unhealthy": {"interval": 5}}}}`),
		ErrConfig, "healthchecks.active.type: 'grpc' probes are not supported; use http, https or tcp")
	_, err := NewEngine(`{"tls": {"ca_file": "/nonexistent/ca.pem"}}`)
	wantErr(t, err, ErrInvalid, "options.tls.ca_file: cannot load '/nonexistent/ca.pem': No such file or directory")
}
