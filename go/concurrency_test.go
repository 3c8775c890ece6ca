package svc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// 32 goroutines x 1000 requests on one engine: round-robin stays exact
// (100/50/50 -> 2:1:1 over every complete cycle, so 16000/8000/8000).
func TestConcurrentRequestsExactTotals(t *testing.T) {
	const goroutines, perGoroutine = 32, 1000
	e := newEngine(t, `{"io_threads": 2}`)
	must(t, e.UpsertUpstream(`{"name": "rr", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}}`))
	must(t, e.AddTarget("rr", "10.0.0.1", 100))
	must(t, e.AddTarget("rr", "10.0.0.2", 50))
	must(t, e.AddTarget("rr", "10.0.0.3", 50))
	var events atomic.Int32
	e.OnHealth(func(HealthEvent) { events.Add(1) })

	var counts [3]atomic.Int64
	var tries atomic.Int64
	index := map[string]int{"10.0.0.1": 0, "10.0.0.2": 1, "10.0.0.3": 2}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; i++ {
				r, err := e.NewRequest()
				if err != nil {
					t.Error(err)
					return
				}
				if err := r.SetUpstream("rr"); err != nil {
					t.Error(err)
				}
				p, err := r.Pick()
				if err != nil {
					t.Error(err)
				} else if k, ok := index[p.IP]; ok && p.Port == 8000 {
					counts[k].Add(1)
				} else {
					t.Errorf("unknown peer %+v", p)
				}
				tries.Add(int64(r.Tries()))
				if err := r.Report(OutcomeHTTP, 200, 0); err != nil {
					t.Error(err)
				}
				if err := r.Close(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	total := goroutines * perGoroutine
	got := fmt.Sprint(counts[0].Load(), counts[1].Load(), counts[2].Load())
	if want := fmt.Sprint(total/2, total/4, total/4); got != want {
		t.Errorf("picks %s, want %s", got, want)
	}
	if tries.Load() != int64(total) {
		t.Errorf("tries %d, want %d", tries.Load(), total)
	}
	if events.Load() != 0 {
		t.Errorf("%d health events from successes", events.Load())
	}
	checkHealth(t, e, "rr", "HEALTHY", 200, 200, nil)
	// the cycle continues exactly after the storm
	c := countPicks(t, e, "rr", 4)
	if c["10.0.0.1:8000"] != 2 || c["10.0.0.2:8000"] != 1 || c["10.0.0.3:8000"] != 1 {
		t.Errorf("next cycle %v", c)
	}
}

// Close of one request from many goroutines at once, while another
// goroutine uses it: exactly safe, later calls say closed.
func TestRequestConcurrentClose(t *testing.T) {
	e := newEngine(t, "")
	upstream(t, e, `{"name": "lc", "algorithm": "least-connections"}`, "lc", "10.0.0.1", "10.0.0.2")
	for round := 0; round < 50; round++ {
		r, err := e.NewRequest()
		must(t, err)
		must(t, r.SetUpstream("lc"))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				if g == 0 {
					for i := 0; i < 10; i++ {
						if _, err := r.Pick(); err != nil && !errIsWithPrefix(err, ErrClosed, "the request is closed") &&
							!errIsWithPrefix(err, ErrNoPeer, "") {
							t.Errorf("Pick: %v", err)
						}
						_ = r.Report(OutcomeOK, 0, 0)
						_ = r.Phase()
						_ = r.Tries()
					}
					return
				}
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}(g)
		}
		close(start)
		wg.Wait()
		_, err = r.Pick()
		wantErr(t, err, ErrClosed, "the request is closed")
	}
	// every pending try was released by Close: least-connections is idle
	// again (A, B alternate from equal weights)
	c := map[string]int{}
	var held []*Request
	for i := 0; i < 4; i++ {
		r := newRequest(t, e)
		must(t, r.SetUpstream("lc"))
		p, err := r.Pick()
		must(t, err)
		c[p.IP]++
		held = append(held, r)
	}
	if c["10.0.0.1"] != 2 || c["10.0.0.2"] != 2 {
		t.Errorf("least-connections after closes: %v", c)
	}
	for _, r := range held {
		must(t, r.Close())
	}
}
