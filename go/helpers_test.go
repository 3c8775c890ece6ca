package svc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pkiDir is where TestMain wrote the test PKI (svc-test-pki), or "".
var pkiDir string

func TestMain(m *testing.M) {
	// Engines created without dns.servers ask 127.0.0.1:1, where nothing
	// answers: no lookup of the suite ever leaves loopback.
	if os.Getenv("SVC_DNS_SERVERS") == "" {
		os.Setenv("SVC_DNS_SERVERS", "127.0.0.1:1")
	}
	bin := os.Getenv("SVC_TEST_PKI_BIN")
	var tmp string
	if bin == "" {
		fmt.Fprintln(os.Stderr, "NOTE: SVC_TEST_PKI_BIN is not set: the TLS material tests are SKIPPED "+
			"(build tests/svc-test-pki and set SVC_TEST_PKI_BIN; scripts/test-go.sh does)")
	} else {
		var err error
		tmp, err = os.MkdirTemp("", "svc-go-pki-")
		if err == nil {
			var out []byte
			out, err = exec.Command(bin, tmp).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%s %s: %v\n%s", bin, tmp, err, out)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cannot write the test PKI:", err)
			os.Exit(1)
		}
		pkiDir = tmp
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// requirePKI returns the PKI directory or skips (only when SVC_TEST_PKI_BIN is unset).
func requirePKI(t *testing.T) string {
	t.Helper()
	if pkiDir == "" {
		t.Skip("SKIPPED: SVC_TEST_PKI_BIN is not set, no test PKI (scripts/test-go.sh sets it)")
	}
	return pkiDir
}

func readPKI(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(requirePKI(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newEngine(t testing.TB, options string) *Engine {
	t.Helper()
	e, err := NewEngine(options)
	if err != nil {
		t.Fatalf("NewEngine(%q): %v", options, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newRequest(t testing.TB, e *Engine) *Request {
	t.Helper()
	r, err := e.NewRequest()
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
	}
}

// wantErr checks the exact code (through errors.Is with the sentinel) and
// the exact message.
func wantErr(t testing.TB, err error, sentinel *Error, message string) {
	t.Helper()
	if err == nil {
		t.Errorf("got success, want %v %q", sentinel.Code, message)
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("got %T %v, want *svc.Error", err, err)
		return
	}
	if !errors.Is(err, sentinel) || e.Code != sentinel.Code || e.Message != message {
		t.Errorf("got %v %q, want %v %q", e.Code, e.Message, sentinel.Code, message)
	}
}

// upstream creates an upstream with IP targets of weight 100 each (port 8000).
func upstream(t testing.TB, e *Engine, entity string, name string, ips ...string) {
	t.Helper()
	must(t, e.UpsertUpstream(entity))
	for _, ip := range ips {
		must(t, e.AddTarget(name, ip, 100))
	}
}

// pickOnce picks with a fresh request, reports OK, and returns "ip:port".
func pickOnce(t testing.TB, e *Engine, upstreamName string) string {
	t.Helper()
	r, err := e.NewRequest()
	must(t, err)
	defer r.Close()
	must(t, r.SetUpstream(upstreamName))
	p, err := r.Pick()
	must(t, err)
	must(t, r.Report(OutcomeOK, 0, 0))
	return fmt.Sprintf("%s:%d", p.IP, p.Port)
}

// waitFor polls cond for up to 5 seconds (callbacks run on an engine thread).
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return cond()
}
