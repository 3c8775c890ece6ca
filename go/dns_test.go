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
	t      *testing.T
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result once
}

func startDNS(t *testing.T, records ...string) *dnsServer {
	t.Helper()
	d := &dnsServer{t: t, dir: t.TempDir()}
	t.Cleanup(d.stop)
	// A port free now can be taken before dnsmasq binds it (by any socket,
	// UDP or TCP, as dnsmasq binds both): try a few.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		d.port = freeDNSPort(t)
		if err = d.launch(records); err == nil {
			return d
		}
	}
	t.Fatal(err)
	return nil
}

// freeDNSPort returns a loopback port free for both UDP and TCP right now.
func freeDNSPort(t *testing.T) int {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		must(t, err)
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return 0
}

func (d *dnsServer) server() string { return fmt.Sprintf("127.0.0.1:%d", d.port) }

// launch starts dnsmasq on d.port and waits until it answers; an error says
// why it did not (its exit status and its own words).
func (d *dnsServer) launch(records []string) error {
	bin := "/usr/sbin/dnsmasq"
	if _, err := os.Stat(bin); err != nil {
		d.t.Fatal("dnsmasq not found: install dnsmasq-base (scripts/install-deps.sh does)")
	}
	conf := filepath.Join(d.dir, "dnsmasq.conf")
	must(d.t, os.WriteFile(conf, []byte(strings.Join(records, "\n")+"\n"), 0o600))
	logPath := filepath.Join(d.dir, "log")
	var stderr strings.Builder
	d.cmd = exec.Command(bin, "--keep-in-foreground", "--conf-file="+conf, fmt.Sprintf("--port=%d", d.port),
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
		"--local=/svc.test/", "--local-ttl=30", "--user=", "--pid-file="+filepath.Join(d.dir, "pid"),
		"--log-facility="+logPath)
	d.cmd.Stderr = &stderr
	must(d.t, d.cmd.Start())
	exited := make(chan error, 1)
	cmd := d.cmd
	go func() { exited <- cmd.Wait() }()
	d.exited = exited
	// Ready once it answers a query on UDP.
	query := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x03svc\x04test\x00\x00\x01\x00\x01")
	conn, err := net.Dial("udp", d.server())
	must(d.t, err)
	defer conn.Close()
	buf := make([]byte, 512)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case werr := <-exited:
			d.cmd, d.exited = nil, nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("dnsmasq on port %d: %v: %s%s", d.port, werr, stderr.String(), log)
		default:
		}
		conn.Write(query)
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := conn.Read(buf); err == nil {
			return nil
		}
	}
	d.stop()
	return fmt.Errorf("dnsmasq did not answer on port %d within 10 s", d.port)
}

func (d *dnsServer) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		<-d.exited
		d.cmd, d.exited = nil, nil
	}
}

// setRecords restarts dnsmasq with new records on the same port (the engine
// under test knows that one). The port was dnsmasq's until a moment ago; a
// short retry covers another socket taking it in between.
func (d *dnsServer) setRecords(records ...string) {
	d.t.Helper()
	d.stop()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = d.launch(records); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Fatal(err)
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
