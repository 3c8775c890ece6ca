package svc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"svc/internal/capi"
)

type cConn = capi.SwigcptrStruct_SS_svc_conn

// Conn is an upstream connection opened by svc (Request.Connect, or the
// Engine's dialers): plain TCP, or TLS after svc's handshake and
// verification. It implements net.Conn.
//
// I/O: svc's connection is used by one thread at a time, so the Conn runs
// one C read or write at a time. Read and Write may be called from
// different goroutines. On a Conn from Request.Connect a Write waits while
// a Read is blocked in svc (half duplex: bound the Read with a deadline
// when another goroutine writes). A Conn from DialContext/DialTLSContext is
// full duplex, as http.Transport needs (its read loop waits in Read while
// its write loop writes): a Read waits for data in svc_conn_wait_readable,
// the one svc call that may run beside a write, and runs svc_conn_read
// only once data (or EOF) arrived, for at most 1 ms (readSlice), so a
// Write never waits behind an idle Read. A TLS record without application
// data (a session ticket) makes that read end in svc's read timeout; the
// Read then waits again while time remains. Such a timeout makes the
// connection non-reusable for svc; those Conns are never returned to the
// pool anyway.
//
// Timeouts and deadlines: without a deadline every Read or Write is bounded
// by the request's read or write timeout (svc's defaults or
// Request.SetTimeouts), as svc_conn_read/svc_conn_write are, and fails with
// an *Error matching ErrTimeout (which also reports Timeout() true). A
// deadline (SetDeadline, SetReadDeadline, SetWriteDeadline) shortens the
// call's timeout to the time left (svc_conn_set_timeouts, rounded up to
// whole milliseconds); a call past its deadline fails at once. Such
// failures match os.ErrDeadlineExceeded and ErrTimeout, and are net.Errors
// with Timeout() true. A deadline moved earlier while a call is blocked
// interrupts it at the new deadline with svc_conn_cancel; svc then refuses
// further I/O on the connection (its errors match ErrCanceled), so such a
// Conn can only be closed.
//
// Errors of Read and Write are *net.OpError values wrapping the cause: an
// *Error from svc (errors.As reaches it), net.ErrClosed after Close, or the
// deadline error above.
//
// Close interrupts blocked calls, releases the connection as non-reusable
// and is idempotent and safe to call concurrently. Release(true) returns it
// to svc's keepalive pool instead.
type Conn struct {
	// mu is held shared by every use of ptr (the whole of a Read or Write)
	// and exclusively by the release, so ptr is never freed under a call.
	mu  sync.RWMutex
	ptr cConn // 0 once released

	io       sync.Mutex // one C read/write/set_timeouts at a time (not held by svc_conn_wait_readable)
	wms, rms int        // svc's write and read timeouts as last set (under io; 0: not set yet)
	rmu      sync.Mutex // one Read at a time
	wmu      sync.Mutex // one Write at a time

	releasing atomic.Bool  // Close or Release started
	cancelWhy atomic.Int32 // why svc_conn_cancel was called: cancelClosed, cancelDeadline

	duplex                    bool
	writeTimeout, readTimeout time.Duration // svc's per-call timeouts

	// The duplex Read's spin (svc's read_spin_us, in Go): before it sleeps
	// in svc_conn_wait_readable, a Read polls for up to spin, yielding to
	// other goroutines between polls, while that keeps catching replies
	// (spinCredit misses left; after them only every spinProbe-th wait
	// spins). Under rmu.
	spin              time.Duration
	spinCredit, waits int
	spinPtr           capi.Struct_SS_svc_conn // ptr as the wrappers' interface, made once (a conversion allocates)

	rd, wd deadline

	peer               Peer
	peerName           string // "ip:port", "[v6]:port", as svc writes it
	remote, local      *net.TCPAddr
	reused, tlsResumed bool
	tlsVersion         string
}

const (
	cancelClosed   = 1
	cancelDeadline = 2

	// readSlice bounds a duplex svc_conn_read after svc_conn_wait_readable
	// said ready (svc's timeouts are whole milliseconds: 1 ms is the
	// least), so that a TLS record still incomplete, or one without
	// application data, holds a Write up for at most that long.
	readSlice = time.Millisecond
	maxMs     = 2147483646

	// As svc's own read spin (net::Connection): misses in a row before
	// spinning stops, and how often it is tried again after that.
	spinCredit = 4
	spinProbe  = 32
)

// deadline is one direction's deadline and the call of that direction that
// is in svc, so that moving the deadline earlier can interrupt it.
type deadline struct {
	mu      sync.Mutex
	t       time.Time // zero: none
	inCall  bool
	callEnd time.Time // when the call in svc ends by its own timeout
	ptr     cConn     // the connection of the call in svc
	gen     uint64    // counts calls, so a late timer misses a later call
	timer   *time.Timer
}

func newConn(p cConn, write, read time.Duration, duplex bool) *Conn {
	c := &Conn{ptr: p, duplex: duplex, writeTimeout: write, readTimeout: read, spinCredit: spinCredit}
	c.peer = Peer{IP: capi.SvcConnPeerIp(p), Port: capi.SvcConnPeerPort(p), Host: capi.SvcConnPeerHost(p)}
	c.peerName = net.JoinHostPort(c.peer.IP, strconv.Itoa(c.peer.Port))
	ip := net.ParseIP(c.peer.IP)
	c.remote = &net.TCPAddr{IP: ip, Port: c.peer.Port}
	// svc.h has no accessor for the local address: a placeholder of the
	// peer's family, port 0.
	if ip != nil && ip.To4() == nil {
		c.local = &net.TCPAddr{IP: net.IPv6unspecified}
	} else {
		c.local = &net.TCPAddr{IP: net.IPv4zero}
	}
	c.reused = capi.SvcConnReused(p) != 0
	c.tlsResumed = capi.SvcConnTlsResumed(p) != 0
	c.tlsVersion = capi.SvcConnTlsVersion(p)
	runtime.SetFinalizer(c, (*Conn).Close)
	return c
}

// Peer returns the connection's peer: IP, port and host (the Host header,
// SNI and verified name).
func (c *Conn) Peer() Peer { return c.peer }

// Reused reports whether the connection came from svc's keepalive pool.
func (c *Conn) Reused() bool { return c.reused }

// TLSResumed reports whether the TLS session was resumed (false for plain
// connections).
func (c *Conn) TLSResumed() bool { return c.tlsResumed }

// TLSVersion returns the negotiated TLS version ("TLSv1.3", "TLSv1.2"), or
// "" for a plain connection.
func (c *Conn) TLSVersion() string { return c.tlsVersion }

// LocalAddr returns a placeholder: svc does not expose the local address,
// so it is the unspecified address of the peer's family with port 0.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address (a *net.TCPAddr).
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines; the zero time clears them.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of current and future Reads; the zero
// time clears it. A Read blocked past a deadline moved earlier is
// interrupted (see Conn).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(&c.rd, t) }

// SetWriteDeadline sets the deadline of current and future Writes; the zero
// time clears it.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.wd, t) }

func (c *Conn) setDeadline(d *deadline, t time.Time) error {
	if c.releasing.Load() {
		return c.opError("set deadline", net.ErrClosed)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if !d.inCall || t.IsZero() || !t.Before(d.callEnd) {
		return nil // no call in svc, or it ends by the deadline anyway
	}
	gen := d.gen
	fire := func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.inCall && d.gen == gen {
			c.cancelWhy.CompareAndSwap(0, cancelDeadline)
			capi.SvcConnCancel(d.ptr) // live: the call holds c.mu shared
		}
	}
	if wait := time.Until(t); wait > 0 {
		d.timer = time.AfterFunc(wait, fire)
	} else {
		c.cancelWhy.CompareAndSwap(0, cancelDeadline)
		capi.SvcConnCancel(d.ptr)
	}
	return nil
}

// enter records a call in svc that ends by itself at end; false when the
// connection is being released (the call must not start).
func (c *Conn) enter(d *deadline, p cConn, end time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.releasing.Load() {
		return false
	}
	d.inCall, d.callEnd, d.ptr = true, end, p
	d.gen++
	return true
}

func (c *Conn) leave(d *deadline) {
	d.mu.Lock()
	d.inCall = false
	d.mu.Unlock()
}

// bound returns when the call started at now must end: the deadline or
// svc's timeout (from start), whichever is first, and whether it is the
// deadline.
func (d *deadline) bound(svcEnd time.Time) (time.Time, bool) {
	d.mu.Lock()
	t := d.t
	d.mu.Unlock()
	if !t.IsZero() && t.Before(svcEnd) {
		return t, true
	}
	return svcEnd, false
}

// timeoutError is a deadline that expired: it matches os.ErrDeadlineExceeded
// and ErrTimeout and is a net.Error with Timeout() true.
type timeoutError struct{ cause error }

func (e *timeoutError) Error() string   { return os.ErrDeadlineExceeded.Error() }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Unwrap() error   { return e.cause }
func (e *timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == ErrTimeout
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// ioError maps an svc error of a call that was bounded by a deadline
// (byDeadline) to what the Conn returns.
func (c *Conn) ioError(op string, err error, byDeadline bool) error {
	switch {
	case errors.Is(err, ErrCanceled):
		switch c.cancelWhy.Load() {
		case cancelClosed:
			return c.opError(op, net.ErrClosed)
		case cancelDeadline:
			return c.opError(op, &timeoutError{cause: err})
		}
	case errors.Is(err, ErrTimeout) && byDeadline:
		return c.opError(op, &timeoutError{cause: err})
	}
	return c.opError(op, err)
}

// ms converts a wait to whole milliseconds for svc, rounding up.
func ms(d time.Duration) int {
	v := (d + time.Millisecond - 1) / time.Millisecond
	return int(max(1, min(v, maxMs)))
}

// Read reads up to len(b) bytes; at the end of the stream it returns 0 and
// io.EOF.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == 0 || c.releasing.Load() {
		return 0, c.opError("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil // svc would answer 0 bytes: EOF
	}
	p := c.ptr
	svcEnd := time.Now().Add(c.readTimeout)
	for {
		end, byDeadline := c.rd.bound(svcEnd)
		now := time.Now()
		if !now.Before(end) {
			if byDeadline {
				return 0, c.opError("read", &timeoutError{})
			}
			return 0, c.opError("read", &Error{Code: CodeTimeout,
				Message: fmt.Sprintf("read from %s timed out after %d ms", c.peerName, ms(c.readTimeout))})
		}
		wait := end.Sub(now)
		if c.duplex {
			// Wait for data without the I/O lock (Writes go on meanwhile);
			// Close and a deadline moved earlier interrupt the wait as
			// they do a read (enter/leave). A reply that comes within the
			// spin is caught without the goroutine's thread sleeping.
			ready, err := c.spinReadable(p, now, end)
			if err == nil && !ready {
				now = time.Now()
				if !now.Before(end) {
					continue
				}
				ready, err = c.waitReadable(p, now, ms(end.Sub(now)))
			}
			if err != nil {
				return 0, c.ioError("read", err, byDeadline)
			}
			if !ready {
				continue // the time is up (or the deadline moved later)
			}
			now = time.Now()
			if end, byDeadline = c.rd.bound(svcEnd); !now.Before(end) {
				continue
			}
			wait = min(end.Sub(now), readSlice)
		}
		n, err := c.read(p, b, now, ms(wait))
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case c.duplex && errors.Is(err, ErrTimeout):
			// Ready, yet no application data within the slice: a TLS
			// record without any (a session ticket) or one not complete
			// yet. Wait again.
			continue
		}
		return 0, c.ioError("read", err, byDeadline)
	}
}

// spinReadable polls svc_conn_wait_readable without waiting for up to
// c.spin (never past end), yielding between polls; false when nothing came
// (or spinning is off for now). Under rmu.
func (c *Conn) spinReadable(p cConn, now, end time.Time) (bool, error) {
	if c.spin <= 0 {
		return false, nil
	}
	if c.spinPtr == nil || c.spinPtr.Swigcptr() != uintptr(p) {
		c.spinPtr = p
	}
	// Bytes already there (the rest of a response): no wait, so neither a
	// catch nor a miss.
	switch c.readableNow(p, now) {
	case 1:
		return true, nil
	case -1:
		return c.waitReadable(p, now, 0) // its error
	}
	if c.spinCredit <= 0 {
		if c.waits++; c.waits < spinProbe {
			return false, nil
		}
		c.waits = 0
	}
	stop := now.Add(c.spin)
	if end.Before(stop) {
		stop = end
	}
	for {
		if now = time.Now(); !now.Before(stop) {
			c.spinCredit = max(c.spinCredit-1, 0)
			return false, nil
		}
		runtime.Gosched()
		switch c.readableNow(p, now) {
		case 1:
			c.spinCredit = spinCredit
			return true, nil
		case -1:
			return c.waitReadable(p, now, 0) // its error
		}
	}
}

// readableNow polls svc_conn_wait_readable(c, 0): 1 ready, 0 not yet, -1 an
// error (or c closing).
func (c *Conn) readableNow(p cConn, now time.Time) int {
	if !c.enter(&c.rd, p, now) {
		return -1
	}
	r := capi.SvcGoConnReadableNow(c.spinPtr)
	c.leave(&c.rd)
	runtime.KeepAlive(c)
	return r
}

// waitReadable runs svc_conn_wait_readable for waitMs, recorded as the
// Read's call in svc; it does not take c.io.
func (c *Conn) waitReadable(p cConn, now time.Time, waitMs int) (bool, error) {
	if !c.enter(&c.rd, p, now.Add(time.Duration(waitMs)*time.Millisecond)) {
		return false, net.ErrClosed
	}
	var ready int
	err := takeError(capi.SvcConnWaitReadable(p, waitMs, &ready))
	c.leave(&c.rd)
	runtime.KeepAlive(c)
	return err == nil && ready != 0, err
}

// read runs svc_conn_read with a read timeout of waitMs under c.io.
func (c *Conn) read(p cConn, b []byte, now time.Time, waitMs int) (int, error) {
	var n int64
	c.io.Lock()
	defer c.io.Unlock()
	if !c.enter(&c.rd, p, now.Add(time.Duration(waitMs)*time.Millisecond)) {
		return 0, net.ErrClosed
	}
	err := c.setTimeouts(p, c.wms, waitMs)
	if err == nil {
		err = takeError(capi.SvcConnRead(p, b, &n))
	}
	c.leave(&c.rd)
	runtime.KeepAlive(c)
	return int(n), err
}

// setTimeouts sets svc's timeouts of the connection (milliseconds; 0 keeps
// the other direction's at the same value) unless they already are; c.io
// is held.
func (c *Conn) setTimeouts(p cConn, writeMs, readMs int) error {
	if writeMs == 0 {
		writeMs = readMs
	}
	if readMs == 0 {
		readMs = writeMs
	}
	if writeMs == c.wms && readMs == c.rms {
		return nil
	}
	if err := takeError(capi.SvcConnSetTimeouts(p, writeMs, readMs)); err != nil {
		c.wms, c.rms = 0, 0
		return err
	}
	c.wms, c.rms = writeMs, readMs
	return nil
}

// Write writes all of b, or fails (svc_conn_write writes everything or
// reports an error; the count is then 0).
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == 0 || c.releasing.Load() {
		return 0, c.opError("write", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	p := c.ptr
	now := time.Now()
	end, byDeadline := c.wd.bound(now.Add(c.writeTimeout))
	if !now.Before(end) {
		return 0, c.opError("write", &timeoutError{})
	}
	waitMs := ms(end.Sub(now))
	c.io.Lock()
	defer c.io.Unlock()
	if !c.enter(&c.wd, p, now.Add(time.Duration(waitMs)*time.Millisecond)) {
		return 0, c.opError("write", net.ErrClosed)
	}
	err := c.setTimeouts(p, waitMs, c.rms)
	if err == nil {
		err = takeError(capi.SvcConnWrite(p, b))
	}
	c.leave(&c.wd)
	runtime.KeepAlive(c)
	if err != nil {
		return 0, c.ioError("write", err, byDeadline)
	}
	return len(b), nil
}

// Close interrupts blocked Reads and Writes and closes the connection
// (released as non-reusable). Idempotent and safe to call concurrently.
func (c *Conn) Close() error {
	c.release(false)
	return nil
}

// Release ends the use of the connection: reusable returns it to svc's
// keepalive pool (when it served fewer than the maximum requests, had no
// I/O error, timeout or EOF, and the pool has room) and reports the try as
// a success; false closes it. Only release as reusable a connection whose
// protocol state is clean (a whole HTTP response read). A Conn already
// released or closed gives an error matching ErrClosed.
func (c *Conn) Release(reusable bool) error {
	if !c.release(reusable) {
		return closedError("connection")
	}
	return nil
}

// release releases the connection once; false when it was already.
func (c *Conn) release(reusable bool) bool {
	if !c.releasing.CompareAndSwap(false, true) {
		return false
	}
	// A call in svc now is interrupted (no new call starts: enter checks
	// releasing under the same lock).
	for _, d := range []*deadline{&c.rd, &c.wd} {
		d.mu.Lock()
		if d.inCall {
			c.cancelWhy.CompareAndSwap(0, cancelClosed)
			capi.SvcConnCancel(d.ptr)
		}
		if d.timer != nil {
			d.timer.Stop()
			d.timer = nil
		}
		d.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != 0 {
		capi.SvcConnRelease(c.ptr, boolInt(reusable))
		c.ptr = 0
	}
	runtime.SetFinalizer(c, nil)
	return true
}

var _ net.Conn = (*Conn)(nil)
