package svc

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
)

// healthRecorder records health events; events of the upstream "barrier"
// only mark a point in the ordered event stream.
type healthRecorder struct {
	mu       sync.Mutex
	events   []HealthEvent
	barriers atomic.Int32
	flip     bool
}

func (h *healthRecorder) on(ev HealthEvent) {
	if ev.Upstream == "barrier" {
		h.barriers.Add(1)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *healthRecorder) snapshot() []HealthEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HealthEvent(nil), h.events...)
}

// barrier waits (bounded) until every event posted so far was delivered.
func (h *healthRecorder) barrier(t *testing.T, e *Engine) {
	t.Helper()
	want := h.barriers.Load() + 1
	h.flip = !h.flip
	must(t, e.SetTargetHealth("barrier", "10.0.0.250", "", !h.flip))
	if !waitFor(func() bool { return h.barriers.Load() >= want }) {
		t.Fatal("barrier event not delivered within 5s")
	}
}

// expect checks that exactly the events `want` arrived since `from`.
func (h *healthRecorder) expect(t *testing.T, from int, want ...HealthEvent) int {
	t.Helper()
	got := h.snapshot()[from:]
	if len(got) != len(want) {
		t.Errorf("events since #%d: got %v, want %v", from, got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("event #%d: got %+v, want %+v", from+i, got[i], want[i])
			}
		}
	}
	return from + len(got)
}

type healthDoc struct {
	Name   string `json:"name"`
	Health string `json:"health"`
	Weight struct {
		Total       int `json:"total"`
		Available   int `json:"available"`
		Unavailable int `json:"unavailable"`
	} `json:"weight"`
	Data []struct {
		Target string `json:"target"`
		Weight int    `json:"weight"`
		Health string `json:"health"`
		Data   struct {
			Addresses []struct {
				IP     string `json:"ip"`
				Port   int    `json:"port"`
				Health string `json:"health"`
				Weight int    `json:"weight"`
			} `json:"addresses"`
		} `json:"data"`
	} `json:"data"`
}

func health(t *testing.T, e *Engine, name string) healthDoc {
	t.Helper()
	j, err := e.Health(name)
	must(t, err)
	var d healthDoc
	if err := json.Unmarshal(j, &d); err != nil {
		t.Fatalf("health JSON %s: %v", j, err)
	}
	return d
}

// checkHealth checks the upstream's state and weights and each target's
// state (targets of weight 100 with one address on port 8000).
func checkHealth(t *testing.T, e *Engine, name, state string, total, available int, targets map[string]string) {
	t.Helper()
	d := health(t, e, name)
	if d.Name != name || d.Health != state || d.Weight.Total != total || d.Weight.Available != available ||
		d.Weight.Unavailable != total-available {
		t.Errorf("%s: %+v", name, d)
	}
	seen := 0
	for _, tg := range d.Data {
		want, ok := targets[tg.Target]
		if !ok {
			continue
		}
		seen++
		a := tg.Data.Addresses
		if tg.Health != want || tg.Weight != 100 || len(a) != 1 || a[0].Health != want || a[0].Port != 8000 ||
			a[0].Weight != 100 || a[0].IP+":8000" != tg.Target {
			t.Errorf("%s target %s: %+v, want %s", name, tg.Target, tg, want)
		}
	}
	if seen != len(targets) {
		t.Errorf("%s: found %d of targets %v in %+v", name, seen, targets, d.Data)
	}
}

// pickUntil returns a fresh request whose first pick is ip.
func pickUntil(t *testing.T, e *Engine, name, ip string) *Request {
	t.Helper()
	for n := 0; n < 100; n++ {
		r, err := e.NewRequest()
		must(t, err)
		must(t, r.SetUpstream(name))
		p, err := r.Pick()
		must(t, err)
		if p.IP == ip {
			return r
		}
		must(t, r.Report(OutcomeOK, 0, 0))
		must(t, r.Close())
	}
	t.Fatalf("never picked %s", ip)
	return nil
}

func reportFor(t *testing.T, e *Engine, name, ip string, o Outcome, status int) {
	t.Helper()
	r := pickUntil(t, e, name, ip)
	must(t, r.Report(o, status, 0))
	must(t, r.Close())
}

func countPicks(t *testing.T, e *Engine, name string, n int) map[string]int {
	c := map[string]int{}
	for k := 0; k < n; k++ {
		c[pickOnce(t, e, name)]++
	}
	return c
}

const passiveEntity = `{"name": "hc", "healthchecks": {"passive": {
  "healthy": {"successes": 1},
  "unhealthy": {"tcp_failures": 2, "timeouts": 2, "http_failures": 2}}}}`

func TestPassiveHealthAndEvents(t *testing.T) {
	e := newEngine(t, "")
	upstream(t, e, `{"name": "barrier", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}}`,
		"barrier", "10.0.0.250")
	h := &healthRecorder{}
	e.OnHealth(h.on)
	upstream(t, e, passiveEntity, "hc", "10.0.0.1", "10.0.0.2", "10.0.0.3")
	ev := func(ip string, healthy bool) HealthEvent {
		return HealthEvent{Upstream: "hc", Target: ip + ":8000", Address: ip + ":8000", Healthy: healthy}
	}
	all := func(state string) map[string]string {
		return map[string]string{"10.0.0.1:8000": state, "10.0.0.2:8000": state, "10.0.0.3:8000": state}
	}
	checkHealth(t, e, "hc", "HEALTHY", 300, 300, all("HEALTHY"))
	n := 0

	// one TCP failure is not enough
	reportFor(t, e, "hc", "10.0.0.1", OutcomeTCPFailure, 0)
	h.barrier(t, e)
	n = h.expect(t, n)

	// two make it unhealthy, with exactly one event
	held := pickUntil(t, e, "hc", "10.0.0.1") // a try in flight
	reportFor(t, e, "hc", "10.0.0.1", OutcomeTCPFailure, 0)
	h.barrier(t, e)
	n = h.expect(t, n, ev("10.0.0.1", false))
	checkHealth(t, e, "hc", "HEALTHY", 300, 200,
		map[string]string{"10.0.0.1:8000": "UNHEALTHY", "10.0.0.2:8000": "HEALTHY", "10.0.0.3:8000": "HEALTHY"})
	if c := countPicks(t, e, "hc", 100); c["10.0.0.1:8000"] != 0 || c["10.0.0.2:8000"] != 50 || c["10.0.0.3:8000"] != 50 {
		t.Errorf("picks avoiding the unhealthy address: %v", c)
	}

	// no second event while unhealthy: the try in flight fails too, an
	// explicit target feeds no upstream, forcing the same state is silent
	must(t, held.Report(OutcomeTCPFailure, 0, 0))
	must(t, held.Close())
	r := newRequest(t, e)
	must(t, r.SetTarget("10.0.0.1", 8000))
	_, err := r.Pick()
	must(t, err)
	must(t, r.Report(OutcomeTCPFailure, 0, 0))
	must(t, e.SetTargetHealth("hc", "10.0.0.1", "", false))
	h.barrier(t, e)
	n = h.expect(t, n)

	// SetTargetHealth brings it back
	must(t, e.SetTargetHealth("hc", "10.0.0.1:8000", "", true))
	h.barrier(t, e)
	n = h.expect(t, n, ev("10.0.0.1", true))
	checkHealth(t, e, "hc", "HEALTHY", 300, 300, all("HEALTHY"))
	if c := countPicks(t, e, "hc", 300); c["10.0.0.1:8000"] != 100 || c["10.0.0.2:8000"] != 100 || c["10.0.0.3:8000"] != 100 {
		t.Errorf("picks after recovery: %v", c)
	}

	// a success resets the failure count
	reportFor(t, e, "hc", "10.0.0.2", OutcomeTCPFailure, 0)
	reportFor(t, e, "hc", "10.0.0.2", OutcomeOK, 0)
	reportFor(t, e, "hc", "10.0.0.2", OutcomeTCPFailure, 0)
	h.barrier(t, e)
	n = h.expect(t, n)

	// timeouts count separately
	reportFor(t, e, "hc", "10.0.0.2", OutcomeTimeout, 0)
	h.barrier(t, e)
	n = h.expect(t, n)
	reportFor(t, e, "hc", "10.0.0.2", OutcomeTimeout, 0)
	h.barrier(t, e)
	n = h.expect(t, n, ev("10.0.0.2", false))

	// HTTP statuses by Kong's lists: 404 is in neither
	reportFor(t, e, "hc", "10.0.0.3", OutcomeHTTP, 500)
	reportFor(t, e, "hc", "10.0.0.3", OutcomeHTTP, 404)
	h.barrier(t, e)
	n = h.expect(t, n)
	reportFor(t, e, "hc", "10.0.0.3", OutcomeHTTP, 503)
	h.barrier(t, e)
	n = h.expect(t, n, ev("10.0.0.3", false))
	if c := countPicks(t, e, "hc", 20); c["10.0.0.1:8000"] != 20 {
		t.Errorf("only 10.0.0.1 is healthy: %v", c)
	}

	// one address at a time; a missing port means 8000
	must(t, e.SetTargetHealth("hc", "10.0.0.2", "10.0.0.2:8000", true))
	must(t, e.SetTargetHealth("hc", "10.0.0.3", "10.0.0.3", true))
	h.barrier(t, e)
	n = h.expect(t, n, ev("10.0.0.2", true), ev("10.0.0.3", true))
	checkHealth(t, e, "hc", "HEALTHY", 300, 300, all("HEALTHY"))

	// health is kept across an upsert and a target that comes back
	must(t, e.SetTargetHealth("hc", "10.0.0.1", "", false))
	must(t, e.UpsertUpstream(passiveEntity))
	checkHealth(t, e, "hc", "HEALTHY", 300, 200, map[string]string{"10.0.0.1:8000": "UNHEALTHY"})
	must(t, e.DeleteTarget("hc", "10.0.0.1"))
	must(t, e.AddTarget("hc", "10.0.0.1", 100))
	checkHealth(t, e, "hc", "HEALTHY", 300, 200, map[string]string{"10.0.0.1:8000": "UNHEALTHY"})
	h.barrier(t, e)
	n = h.expect(t, n, ev("10.0.0.1", false))

	// nil unsubscribes
	e.OnHealth(nil)
	must(t, e.SetTargetHealth("hc", "10.0.0.1", "", true))
	var after atomic.Int32
	e.OnHealth(func(ev HealthEvent) {
		if ev.Upstream == "barrier" {
			after.Add(1)
		}
	})
	must(t, e.SetTargetHealth("barrier", "10.0.0.250", "", false))
	must(t, e.SetTargetHealth("barrier", "10.0.0.250", "", true))
	if !waitFor(func() bool { return after.Load() >= 1 }) {
		t.Fatal("no event after resubscribing")
	}
	h.expect(t, n)
}

func TestSetTargetHealthErrors(t *testing.T) {
	e := newEngine(t, "")
	upstream(t, e, passiveEntity, "hc", "10.0.0.1")
	upstream(t, e, `{"name": "plain"}`, "plain", "10.0.0.1")
	wantErr(t, e.SetTargetHealth("plain", "10.0.0.1", "", false), ErrInvalid, "no healthchecker found for plain")
	wantErr(t, e.SetTargetHealth("nope", "10.0.0.1", "", false), ErrNotFound, "could not find an Upstream named 'nope'")
	wantErr(t, e.SetTargetHealth("hc", "10.0.0.9", "", false), ErrNotFound,
		"could not find a Target '10.0.0.9:8000' in Upstream 'hc'")
	wantErr(t, e.SetTargetHealth("hc", "10.0.0.1", "10.0.0.9:8000", false), ErrNotFound,
		"could not find the address '10.0.0.9:8000' of Target '10.0.0.1:8000' in Upstream 'hc'")
	wantErr(t, e.SetTargetHealth("hc", "10.0.0.1", "localhost", false), ErrInvalid,
		"address must be an IP with an optional port: given 'localhost'")
	wantErr(t, e.SetTargetHealth("hc", "10.0.0.1:99999", "", false), ErrConfig,
		"target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address")
	wantErr(t, e.SetTargetHealth("hc", "10.0.0.1", "10.0.0.1\x00", false), ErrInvalid,
		"address must not contain a NUL byte")
	checkHealth(t, e, "hc", "HEALTHY", 100, 100, map[string]string{"10.0.0.1:8000": "HEALTHY"})

	// health checks off: every level says so
	d := health(t, e, "plain")
	if d.Health != "HEALTHCHECKS_OFF" || len(d.Data) != 1 || d.Data[0].Health != "HEALTHCHECKS_OFF" ||
		d.Data[0].Data.Addresses[0].Health != "HEALTHCHECKS_OFF" || d.Weight.Total != 100 || d.Weight.Available != 100 {
		t.Errorf("plain: %+v", d)
	}
}

func TestThresholdMakesNoPeer(t *testing.T) {
	e := newEngine(t, "")
	upstream(t, e, `{"name": "th", "healthchecks": {"threshold": 50,
	  "passive": {"unhealthy": {"tcp_failures": 1}}}}`, "th", "10.0.0.1", "10.0.0.2")
	pickOnce(t, e, "th")

	must(t, e.SetTargetHealth("th", "10.0.0.1", "", false)) // 50% available, not > 50
	r := newRequest(t, e)
	must(t, r.SetUpstream("th"))
	_, err := r.Pick()
	wantErr(t, err, ErrNoPeer, "failure to get a peer from the ring-balancer")
	if r.Tries() != 0 {
		t.Errorf("tries %d", r.Tries())
	}
	checkHealth(t, e, "th", "UNHEALTHY", 200, 100,
		map[string]string{"10.0.0.1:8000": "UNHEALTHY", "10.0.0.2:8000": "HEALTHY"})

	must(t, e.SetTargetHealth("th", "10.0.0.1", "", true))
	pickOnce(t, e, "th")

	// a passive failure trips it again
	reportFor(t, e, "th", "10.0.0.2", OutcomeTCPFailure, 0)
	r = newRequest(t, e)
	must(t, r.SetUpstream("th"))
	_, err = r.Pick()
	wantErr(t, err, ErrNoPeer, "failure to get a peer from the ring-balancer")
}
