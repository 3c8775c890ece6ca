package svc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dnsServer is a dnsmasq process answering for svc.test on a loopback port
// (tests/support/dnsmasq.h is the C++ twin). Records are dnsmasq lines:
// "host-record=web.svc.test,127.0.0.11,1", "srv-host=api.svc.test,a.svc.test,9001,10,10".
type dnsServer struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
}

func startDNS(t *testing.T, records ...string) *dnsServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	d := &dnsServer{t: t, dir: t.TempDir(), port: port}
	d.start(records)
	t.Cleanup(d.stop)
	return d
}

func (d *dnsServer) server() string { return fmt.Sprintf("127.0.0.1:%d", d.port) }

func (d *dnsServer) start(records []string) {
	d.t.Helper()
	bin := "/usr/sbin/dnsmasq"
	if _, err := os.Stat(bin); err != nil {
		d.t.Fatal("dnsmasq not found: install dnsmasq-base (scripts/install-deps.sh does)")
	}
	conf := filepath.Join(d.dir, "dnsmasq.conf")
	must(d.t, os.WriteFile(conf, []byte(strings.Join(records, "\n")+"\n"), 0o600))
	d.cmd = exec.Command(bin, "--keep-in-foreground", "--conf-file="+conf, fmt.Sprintf("--port=%d", d.port),
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
		"--local=/svc.test/", "--local-ttl=30", "--user=", "--pid-file="+filepath.Join(d.dir, "pid"),
		"--log-facility="+filepath.Join(d.dir, "log"))
	must(d.t, d.cmd.Start())
	// Ready once it answers a query on UDP.
	query := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x03svc\x04test\x00\x00\x01\x00\x01")
	conn, err := net.Dial("udp", d.server())
	must(d.t, err)
	defer conn.Close()
	buf := make([]byte, 512)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		conn.Write(query)
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := conn.Read(buf); err == nil {
			return
		}
	}
	d.t.Fatal("dnsmasq did not answer in time")
}

func (d *dnsServer) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		d.cmd = nil
	}
}

func (d *dnsServer) setRecords(records ...string) {
	d.stop()
	d.start(records)
}

func picksOf(t *testing.T, e *Engine, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := 0; i < n; i++ {
		out[pickOnce(t, e, "u")]++
	}
	return out
}

func TestDNSARecordsAndChanges(t *testing.T) {
	d := startDNS(t, "host-record=web.svc.test,127.0.0.11,1", "host-record=web.svc.test,127.0.0.12,1")
	e := newEngine(t, fmt.Sprintf(`{"dns": {"servers": [%q]}}`, d.server()))
	must(t, e.UpsertUpstream(`{"name": "u"}`))
	must(t, e.AddTarget("u", "web.svc.test:8080", 100))
	if got := picksOf(t, e, 4); fmt.Sprint(got) != "map[127.0.0.11:8080:2 127.0.0.12:8080:2]" {
		t.Fatalf("picks %v", got)
	}
	d.setRecords("host-record=web.svc.test,127.0.0.13,1")
	if !waitFor(func() bool { return fmt.Sprint(picksOf(t, e, 2)) == "map[127.0.0.13:8080:2]" }) {
		t.Fatalf("picks did not follow the new record: %v", picksOf(t, e, 2))
	}
}

func TestDNSSRVPortsWeightsAndSRVName(t *testing.T) {
	d := startDNS(t, "host-record=a.svc.test,127.0.0.21,30", "host-record=b.svc.test,127.0.0.22,30",
		"host-record=c.svc.test,127.0.0.23,30",
		"srv-host=api.svc.test,a.svc.test,9001,10,10", "srv-host=api.svc.test,b.svc.test,9002,10,30",
		"srv-host=api.svc.test,c.svc.test,9003,20,100")
	e := newEngine(t, fmt.Sprintf(`{"dns": {"servers": [%q]}}`, d.server()))
	must(t, e.UpsertUpstream(`{"name": "u", "use_srv_name": true}`))
	must(t, e.AddTarget("u", "api.svc.test", 100))
	if got := picksOf(t, e, 400); fmt.Sprint(got) != "map[127.0.0.21:9001:100 127.0.0.22:9002:300]" {
		t.Fatalf("picks %v", got)
	}
	r := newRequest(t, e)
	must(t, r.SetUpstream("u"))
	p, err := r.Pick()
	must(t, err)
	if want := map[int]string{9001: "a.svc.test", 9002: "b.svc.test"}[p.Port]; p.Host != want {
		t.Errorf("peer host %q for port %d, want %q", p.Host, p.Port, want)
	}
}

func TestDNSNameThatNeverResolved(t *testing.T) {
	d := startDNS(t, "host-record=other.svc.test,127.0.0.31,30")
	e := newEngine(t, fmt.Sprintf(`{"dns": {"servers": [%q]}}`, d.server()))
	must(t, e.UpsertUpstream(`{"name": "u"}`))
	must(t, e.AddTarget("u", "late.svc.test:8000", 100))
	r := newRequest(t, e)
	must(t, r.SetUpstream("u"))
	_, err := r.Pick()
	wantErr(t, err, ErrDNS, "name resolution failed")
	_, err = NewEngine(`{"dns": {"servers": ["resolver"]}}`)
	wantErr(t, err, ErrInvalid, "options.dns.servers: 'resolver' is not an IP address with an optional port")
}
