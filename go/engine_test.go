package svc

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewEngineDefaultsAndOptions(t *testing.T) {
	for _, opts := range []string{"", "{}", " \n\t ",
		`{"io_threads": 2, "scheme": "https", "retries": 3,
		  "timeouts": {"connect": 1000, "write": 2000, "read": 3000},
		  "tls": {"verify": false, "trust": "none", "min_version": "1.3"},
		  "keepalive": {"pool_size": 10, "max_requests": 5, "idle_timeout": 1.5},
		  "dns": {"servers": ["127.0.0.1:53"], "order": ["LAST", "SRV", "A", "AAAA", "CNAME"],
		          "stale_ttl": 4, "not_found_ttl": 30, "error_ttl": 1},
		  "limits": {"max_header_bytes": 65536, "max_body_bytes": 67108864}, "read_spin_us": 0, "seed": 42}`} {
		e, err := NewEngine(opts)
		if err != nil {
			t.Errorf("NewEngine(%q): %v", opts, err)
			continue
		}
		ok(t, e.Close())
	}
}

func TestOptionDefaults(t *testing.T) {
	w, r, s := optionDefaults("")
	if w != 60*time.Second || r != 60*time.Second || s != 100*time.Microsecond {
		t.Errorf("defaults: %v %v %v", w, r, s)
	}
	w, r, s = optionDefaults(`{"timeouts": {"write": 5, "read": 7}, "read_spin_us": 0}`)
	if w != 5*time.Millisecond || r != 7*time.Millisecond || s != 0 {
		t.Errorf("given: %v %v %v", w, r, s)
	}
}

func TestNewEngineBadOptions(t *testing.T) {
	for _, c := range []struct{ opts, msg string }{
		{"{", "options: not valid JSON: {"},
		{"[1]", "options: expected a JSON object, given [1]"},
		{`{"bogus": 1}`, "options: unknown key 'bogus'"},
		{`{"timeouts": {"conect": 1}}`, "options.timeouts: unknown key 'conect'"},
		{`{"io_threads": 0}`, "options.io_threads: expected an integer between 1 and 64, given 0"},
		{`{"retries": 32768}`, "options.retries: expected an integer between 0 and 32767, given 32768"},
		{`{"read_spin_us": 10001}`, "options.read_spin_us: expected an integer between 0 and 10000, given 10001"},
		{`{"scheme": "ftp"}`, `options.scheme: expected one of: http, https, tcp, tls, given "ftp"`},
		{`{"tls": {"trust": "all"}}`, `options.tls.trust: expected one of: system, none, given "all"`},
		{"{\"seed\": 1}\x00", "options must not contain a NUL byte"},
	} {
		e, err := NewEngine(c.opts)
		wantErr(t, err, ErrInvalid, c.msg)
		if e != nil {
			t.Errorf("NewEngine(%q) returned an engine with an error", c.opts)
		}
	}
}

func TestEngineUnknownUpstreamEveryFunction(t *testing.T) {
	e := newEngine(t, "")
	const msg = "could not find an Upstream named 'nope'"
	wantErr(t, e.DeleteUpstream("nope"), ErrNotFound, msg)
	_, err := e.Upstream("nope")
	wantErr(t, err, ErrNotFound, msg)
	wantErr(t, e.AddTarget("nope", "10.0.0.1", 100), ErrNotFound, msg)
	wantErr(t, e.DeleteTarget("nope", "10.0.0.1"), ErrNotFound, msg)
	wantErr(t, e.SetTargetHealth("nope", "10.0.0.1", "", false), ErrNotFound, msg)
	j, err := e.Health("nope")
	wantErr(t, err, ErrNotFound, msg)
	if j != nil {
		t.Errorf("Health returned %q with an error", j)
	}
	r := newRequest(t, e)
	wantErr(t, r.SetUpstream("nope"), ErrNotFound, msg)
}

func TestUpsertUpstreamValidation(t *testing.T) {
	e := newEngine(t, "")
	wantErr(t, e.UpsertUpstream("{"), ErrInvalid, "upstream entity is not valid JSON: {")
	wantErr(t, e.UpsertUpstream(""), ErrInvalid, "upstream entity is not valid JSON: ")
	wantErr(t, e.UpsertUpstream("[1]"), ErrConfig, "expected a record")
	wantErr(t, e.UpsertUpstream("{}"), ErrConfig, "name: required field missing")
	wantErr(t, e.UpsertUpstream(`{"name": "a", "bogus": 1}`), ErrConfig, "bogus: unknown field")
	wantErr(t, e.UpsertUpstream(`{"name": "a:80"}`), ErrConfig, "name: Invalid name ('a:80'); no port allowed")
	wantErr(t, e.UpsertUpstream("{\"name\": \"a\x00\"}"), ErrInvalid, "upstream_json must not contain a NUL byte")
	must(t, e.UpsertUpstream(`{"name": "a", "algorithm": "least-connections"}`))

	j, err := e.Upstream("a")
	must(t, err)
	var u struct {
		Name      string            `json:"name"`
		Algorithm string            `json:"algorithm"`
		Slots     int               `json:"slots"`
		Targets   []json.RawMessage `json:"targets"`
	}
	must(t, json.Unmarshal(j, &u))
	if u.Name != "a" || u.Algorithm != "least-connections" || u.Slots != 10000 || u.Targets == nil || len(u.Targets) != 0 {
		t.Errorf("Upstream(a) = %s", j)
	}
	if !strings.Contains(string(j), `"targets":[]`) {
		t.Errorf("no empty targets in %s", j)
	}
}

func TestTargets(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "a"}`))
	must(t, e.AddTarget("a", "10.0.0.1", 100))
	wantErr(t, e.AddTarget("a", "10.0.0.1", 100), ErrExists, "target '10.0.0.1:8000' already exists in upstream 'a'")
	wantErr(t, e.AddTarget("a", "10.0.0.1:8000", 5), ErrExists, "target '10.0.0.1:8000' already exists in upstream 'a'")
	for _, w := range []int{-1, 65536, 1 << 40, -1 << 40} {
		wantErr(t, e.AddTarget("a", "10.0.0.2", w), ErrConfig, "weight: value should be between 0 and 65535")
	}
	must(t, e.AddTarget("a", "10.0.0.2:9000", 0))
	must(t, e.AddTarget("a", "[::1]:8443", 65535))

	j, err := e.Upstream("a")
	must(t, err)
	var u struct {
		Targets []struct {
			Target string `json:"target"`
			Weight int    `json:"weight"`
		} `json:"targets"`
	}
	must(t, json.Unmarshal(j, &u))
	got := map[string]int{}
	for _, tg := range u.Targets {
		got[tg.Target] = tg.Weight
	}
	if len(got) != 3 || got["10.0.0.1:8000"] != 100 || got["10.0.0.2:9000"] != 0 {
		t.Errorf("targets = %v", got)
	}

	wantErr(t, e.DeleteTarget("a", "10.0.0.9"), ErrNotFound, "could not find a Target '10.0.0.9:8000' in Upstream 'a'")
	must(t, e.DeleteTarget("a", "10.0.0.2:9000"))
	wantErr(t, e.DeleteTarget("a", "10.0.0.2:9000"), ErrNotFound, "could not find a Target '10.0.0.2:9000' in Upstream 'a'")

	must(t, e.DeleteUpstream("a"))
	wantErr(t, e.DeleteUpstream("a"), ErrNotFound, "could not find an Upstream named 'a'")
}

const docJSON = `{"_format_version": "3.0", "upstreams": [
  {"name": "a", "targets": [{"target": "10.0.0.1"}, {"target": "10.0.0.2:9000", "weight": 50}]}]}`

const docYAML = `_format_version: "3.0"
upstreams:
- name: c
  slots: 100
  targets:
  - target: 10.0.0.3:81
    weight: 10
`

func TestLoadConfig(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.LoadConfig([]byte(docJSON)))
	j, err := e.Upstream("a")
	must(t, err)
	if !strings.Contains(string(j), `"name":"a"`) {
		t.Errorf("Upstream(a) = %s", j)
	}
	if p := pickOnce(t, e, "a"); p != "10.0.0.1:8000" && p != "10.0.0.2:9000" {
		t.Errorf("picked %s", p)
	}

	must(t, e.LoadConfig([]byte(docYAML))) // replaces everything
	_, err = e.Upstream("a")
	wantErr(t, err, ErrNotFound, "could not find an Upstream named 'a'")
	if p := pickOnce(t, e, "c"); p != "10.0.0.3:81" {
		t.Errorf("picked %s", p)
	}

	wantErr(t, e.LoadConfig(nil), ErrConfig, "declarative config is empty")
	wantErr(t, e.LoadConfig([]byte("- 1\n- 2\n")), ErrConfig, "declarative config must be a map of entity lists, got a list")
	wantErr(t, e.LoadConfig([]byte(`{"upstreams": []}`)), ErrConfig, "_format_version: required field missing")
	// atomic: the failed loads changed nothing
	if p := pickOnce(t, e, "c"); p != "10.0.0.3:81" {
		t.Errorf("picked %s after failed loads", p)
	}
}

func TestOnLogReceivesConfigurationLoaded(t *testing.T) {
	e := newEngine(t, "")
	var loaded atomic.Int32
	e.OnLog(func(level int, msg string) {
		if level == 1 && msg == "configuration loaded: 1 upstream(s)" {
			loaded.Add(1)
		}
	})
	must(t, e.LoadConfig([]byte(docJSON)))
	if !waitFor(func() bool { return loaded.Load() == 1 }) {
		t.Fatalf("log events: %d", loaded.Load())
	}

	// nil unsubscribes: a health event posted after the next load proves the
	// load's log event was delivered (to nobody).
	e.OnLog(nil)
	must(t, e.LoadConfig([]byte(`{"_format_version": "3.0", "upstreams": [{"name": "h",
	  "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}, "targets": [{"target": "10.0.0.1"}]}]}`)))
	var health atomic.Int32
	e.OnHealth(func(HealthEvent) { health.Add(1) })
	must(t, e.SetTargetHealth("h", "10.0.0.1", "", false))
	if !waitFor(func() bool { return health.Load() == 1 }) {
		t.Fatal("no health event")
	}
	if loaded.Load() != 1 {
		t.Errorf("log events after unsubscribing: %d", loaded.Load())
	}
}

func TestEngineClose(t *testing.T) {
	e, err := NewEngine("")
	must(t, err)
	upstream(t, e, `{"name": "a"}`, "a", "10.0.0.1")
	r, err := e.NewRequest()
	must(t, err)
	defer r.Close()
	r2, err := e.NewRequest()
	must(t, err)
	defer r2.Close()
	must(t, r.SetUpstream("a"))
	must(t, r2.SetTarget("10.0.0.9", 80))

	ok(t, e.Close())
	ok(t, e.Close()) // idempotent

	const msg = "the engine is closed"
	wantErr(t, e.LoadConfig([]byte(docJSON)), ErrClosed, msg)
	wantErr(t, e.UpsertUpstream(`{"name": "b"}`), ErrClosed, msg)
	wantErr(t, e.DeleteUpstream("a"), ErrClosed, msg)
	_, err = e.Upstream("a")
	wantErr(t, err, ErrClosed, msg)
	wantErr(t, e.AddTarget("a", "10.0.0.2", 1), ErrClosed, msg)
	wantErr(t, e.DeleteTarget("a", "10.0.0.1"), ErrClosed, msg)
	wantErr(t, e.SetTargetHealth("a", "10.0.0.1", "", true), ErrClosed, msg)
	_, err = e.Health("a")
	wantErr(t, err, ErrClosed, msg)
	_, err = e.NewRequest()
	wantErr(t, err, ErrClosed, msg)
	e.OnHealth(func(HealthEvent) {}) // no effect, no crash
	e.OnLog(func(int, string) {})
	e.OnHealth(nil)

	// requests outlive the engine: they keep what they hold, picks say closed
	if r.Phase() != PhaseAccess {
		t.Errorf("phase %v", r.Phase())
	}
	ok(t, r.SetRetries(2))
	_, err = r.Pick()
	wantErr(t, err, ErrClosed, msg)
	_, err = r2.Pick()
	wantErr(t, err, ErrClosed, msg)
	wantErr(t, r.SetUpstream("a"), ErrClosed, msg)
}

func TestEngineConcurrentClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		e, err := NewEngine("")
		must(t, err)
		upstream(t, e, `{"name": "a"}`, "a", "10.0.0.1", "10.0.0.2")
		var wg sync.WaitGroup
		var closedSeen atomic.Int32
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				if g%4 == 0 {
					if err := e.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
					return
				}
				for i := 0; i < 20; i++ {
					r, err := e.NewRequest()
					if err != nil {
						if !isClosed(err) {
							t.Errorf("NewRequest: %v", err)
						}
						closedSeen.Add(1)
						return
					}
					if err := r.SetUpstream("a"); err == nil {
						if _, err := r.Pick(); err != nil && !isClosed(err) {
							t.Errorf("Pick: %v", err)
						}
					} else if !isClosed(err) {
						t.Errorf("SetUpstream: %v", err)
					}
					if _, err := e.Health("a"); err != nil && !isClosed(err) {
						t.Errorf("Health: %v", err)
					}
					r.Close()
				}
			}(g)
		}
		wg.Wait()
		_, err = e.NewRequest()
		wantErr(t, err, ErrClosed, "the engine is closed")
	}
}

func isClosed(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == CodeClosed && e.Message == "the engine is closed"
}
