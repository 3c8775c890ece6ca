package svc

import (
	"fmt"
	"testing"
)

func TestRoundRobinWeights100_50_50AreExactly2_1_1PerCycleOf4(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "rr"}`))
	must(t, e.AddTarget("rr", "10.0.0.1", 100))
	must(t, e.AddTarget("rr", "10.0.0.2", 50))
	must(t, e.AddTarget("rr", "10.0.0.3", 50))
	total := map[string]int{}
	for cycle := 0; cycle < 100; cycle++ {
		count := map[string]int{}
		for k := 0; k < 4; k++ {
			count[pickOnce(t, e, "rr")]++
		}
		if count["10.0.0.1:8000"] != 2 || count["10.0.0.2:8000"] != 1 || count["10.0.0.3:8000"] != 1 {
			t.Fatalf("cycle %d: %v", cycle, count)
		}
		for k, v := range count {
			total[k] += v
		}
	}
	if total["10.0.0.1:8000"] != 200 || total["10.0.0.2:8000"] != 100 || total["10.0.0.3:8000"] != 100 || len(total) != 3 {
		t.Errorf("totals %v", total)
	}
}

// retryNeverRepeats makes n tries on one request with TCP failures and
// checks the first `distinct` peers are all different.
func retryNeverRepeats(t *testing.T, e *Engine, name string, distinct int, setup func(*Request)) {
	t.Helper()
	r := newRequest(t, e)
	must(t, r.SetUpstream(name))
	if setup != nil {
		setup(r)
	}
	seen := map[string]bool{}
	for k := 0; k < distinct; k++ {
		p, err := r.Pick()
		must(t, err)
		peer := fmt.Sprintf("%s:%d", p.IP, p.Port)
		if seen[peer] {
			t.Errorf("try %d repeats %s (seen %v)", k+1, peer, seen)
		}
		seen[peer] = true
		must(t, r.Report(OutcomeTCPFailure, 0, 0))
	}
	// every peer tried: a further retry may repeat one, but still succeeds
	_, err := r.Pick()
	must(t, err)
	if r.Tries() != distinct+1 {
		t.Errorf("tries %d", r.Tries())
	}
}

func TestRoundRobinRetryNeverRepeatsTriedPeer(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "rr"}`))
	must(t, e.AddTarget("rr", "10.0.0.1", 100))
	must(t, e.AddTarget("rr", "10.0.0.2", 50))
	must(t, e.AddTarget("rr", "10.0.0.3", 50))
	for n := 0; n < 8; n++ { // from several cursor positions
		retryNeverRepeats(t, e, "rr", 3, nil)
		pickOnce(t, e, "rr")
	}
}

func TestConsistentHashingSameKeySamePeer(t *testing.T) {
	e := newEngine(t, "")
	upstream(t, e, `{"name": "ch", "algorithm": "consistent-hashing"}`, "ch",
		"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
	used := map[string]bool{}
	for k := 0; k < 40; k++ {
		key := fmt.Sprintf("user-%d", k)
		first := ""
		for n := 0; n < 5; n++ {
			r := newRequest(t, e)
			must(t, r.SetUpstream("ch"))
			must(t, r.SetHashKey(key))
			p, err := r.Pick()
			must(t, err)
			peer := fmt.Sprintf("%s:%d", p.IP, p.Port)
			if n == 0 {
				first = peer
			} else if peer != first {
				t.Errorf("key %s: %s then %s", key, first, peer)
			}
			must(t, r.Report(OutcomeOK, 0, 0))
			must(t, r.Close())
		}
		used[first] = true
	}
	if len(used) < 2 {
		t.Errorf("40 keys on %d peer(s)", len(used))
	}
	for k := 0; k < 10; k++ {
		key := fmt.Sprintf("retry-%d", k)
		retryNeverRepeats(t, e, "ch", 4, func(r *Request) { must(t, r.SetHashKey(key)) })
	}
}

func TestConsistentHashingHashKeyEqualsHashOnHeader(t *testing.T) {
	e := newEngine(t, "")
	upstream(t, e, `{"name": "hdr", "hash_on": "header", "hash_on_header": "x-user"}`, "hdr",
		"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
	pick := func(setup func(r *Request)) Peer {
		r := newRequest(t, e)
		must(t, r.SetUpstream("hdr"))
		setup(r)
		p, err := r.Pick()
		must(t, err)
		return p
	}
	for k := 0; k < 20; k++ {
		key := fmt.Sprintf("alice-%d", k)
		a := pick(func(r *Request) { must(t, r.SetHashInput(HashHeader, "X-User", key)) }) // case-insensitive name
		b := pick(func(r *Request) { must(t, r.SetHashKey(key)) })
		c := pick(func(r *Request) { // the hash key overrides hash_on
			must(t, r.SetHashInput(HashHeader, "x-user", "someone else"))
			must(t, r.SetHashKey(key))
		})
		if a != b || c != b {
			t.Errorf("key %s: header %v, key %v, override %v", key, a, b, c)
		}
	}
}

func TestLeastConnectionsOrder(t *testing.T) {
	e := newEngine(t, "")
	must(t, e.UpsertUpstream(`{"name": "lc", "algorithm": "least-connections"}`))
	must(t, e.AddTarget("lc", "10.0.0.1", 100))
	must(t, e.AddTarget("lc", "10.0.0.2", 30))
	hold := func(n int) ([]*Request, []string) {
		var rs []*Request
		var ips []string
		for i := 0; i < n; i++ {
			r := newRequest(t, e)
			must(t, r.SetUpstream("lc"))
			p, err := r.Pick()
			must(t, err)
			rs = append(rs, r)
			ips = append(ips, p.IP)
		}
		return rs, ips
	}
	// Kong's key (connections + 1) / weight, lowest first:
	// A 1/100, 2/100, 3/100 < B 1/30 < A 4/100.
	held, ips := hold(5)
	if fmt.Sprint(ips) != "[10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.2 10.0.0.1]" {
		t.Fatalf("order %v", ips)
	}
	// reports release connections: A back to 1 beats B
	for _, r := range held[:3] {
		must(t, r.Report(OutcomeOK, 0, 0))
	}
	if p := pickOnce(t, e, "lc"); p != "10.0.0.1:8000" {
		t.Errorf("after releases: %s", p)
	}
	must(t, held[3].Report(OutcomeOK, 0, 0))
	must(t, held[4].Close()) // closing with a pending try releases it
	again, ips := hold(4)
	if fmt.Sprint(ips) != "[10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.2]" {
		t.Errorf("idle again: %v", ips)
	}
	for _, r := range append(held, again...) {
		must(t, r.Close())
	}

	// a retry takes the untried peer
	r := newRequest(t, e)
	must(t, r.SetUpstream("lc"))
	for _, want := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"} {
		p, err := r.Pick()
		must(t, err)
		if p.IP != want {
			t.Errorf("try %d: %s, want %s", r.Tries(), p.IP, want)
		}
		must(t, r.Report(OutcomeTCPFailure, 0, 0))
	}
}

func TestWeightZeroNeverPicked(t *testing.T) {
	e := newEngine(t, "")
	for i, alg := range []string{"round-robin", "consistent-hashing", "least-connections", "latency"} {
		name := fmt.Sprintf("w%d", i)
		must(t, e.UpsertUpstream(fmt.Sprintf(`{"name": %q, "algorithm": %q}`, name, alg)))
		r := newRequest(t, e)
		must(t, r.SetUpstream(name))
		_, err := r.Pick()
		wantErr(t, err, ErrNoPeer, "failure to get a peer from the ring-balancer")
		must(t, e.AddTarget(name, "10.0.0.9", 0))
		r = newRequest(t, e)
		must(t, r.SetUpstream(name))
		_, err = r.Pick()
		wantErr(t, err, ErrNoPeer, "failure to get a peer from the ring-balancer")
		if r.Tries() != 0 {
			t.Errorf("%s: tries %d", alg, r.Tries())
		}
		must(t, e.AddTarget(name, "10.0.0.1", 100))
		must(t, e.AddTarget(name, "10.0.0.2", 100))
		for k := 0; k < 50; k++ {
			if p := pickOnce(t, e, name); p == "10.0.0.9:8000" {
				t.Errorf("%s picked the weight-0 target", alg)
			}
		}
	}
}
