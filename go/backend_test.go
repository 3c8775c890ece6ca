package svc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// backend is one svc-test-backend process (tests/support/backend.md).
type backend struct {
	name string
	port int
}

func (b *backend) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// startBackend starts $SVC_TEST_BACKEND_BIN with args on 127.0.0.1, waits
// for its "LISTENING <port>" line and stops it (SIGTERM) when the test ends.
// --parent-pid makes it exit with the test binary in any case. Skips only
// when SVC_TEST_BACKEND_BIN is unset (scripts/test-go.sh sets it and fails
// on skips).
func startBackend(t testing.TB, name string, args ...string) *backend {
	t.Helper()
	bin := os.Getenv("SVC_TEST_BACKEND_BIN")
	if bin == "" {
		t.Skip("SKIPPED: SVC_TEST_BACKEND_BIN is not set, no test backend (scripts/test-go.sh sets it)")
	}
	args = append([]string{"--name", name, "--parent-pid", strconv.Itoa(os.Getpid())}, args...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		var port int
		if _, err := fmt.Sscanf(s, "LISTENING %d", &port); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s %v: %q: %v\n%s", bin, args, s, err, stderr.String())
		}
		return &backend{name: name, port: port}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s %v: no LISTENING line", bin, args)
	}
	return nil
}

// tlsArgs are the backend options for TLS with the test PKI's server chain.
func tlsArgs(t *testing.T) []string {
	dir := requirePKI(t)
	return []string{"--tls", filepath.Join(dir, "server-chain.pem") + "," + filepath.Join(dir, "server.key")}
}

func trustStore(t *testing.T, pemFile string) *TrustStore {
	t.Helper()
	s, err := NewTrustStore()
	must(t, err)
	t.Cleanup(func() { s.Close() })
	must(t, s.AddPEM(readPKI(t, pemFile)))
	return s
}

// rawGet sends one HTTP/1.1 GET over c and reads the whole response.
func rawGet(t testing.TB, c io.ReadWriter, path string, extra ...string) (*http.Response, string) {
	t.Helper()
	res, body, err := tryGet(c, path, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// tryGet is rawGet returning its error (for goroutines other than the test's).
func tryGet(c io.ReadWriter, path string, extra ...string) (*http.Response, string, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: test\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		return nil, "", fmt.Errorf("write: %w", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", fmt.Errorf("read response: %w", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read body: %w", err)
	}
	return res, string(body), nil
}

// counter counts strings, safe for concurrent use.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, v := range c.m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(parts, " ")
}
