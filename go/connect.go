package svc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/cgo"
	"strings"

	"svc/internal/capi"
)

// Connect picks a peer, connects within the connect timeout and, when the
// scheme is "https" or "tls", performs the TLS handshake under the
// request's policy, retrying failed tries on other peers up to the
// request's retries; an idle pooled connection to the same peer under the
// same whole TLS policy is reused. The request enters PhaseLog. The result
// is a *Conn.
//
// Connect blocks the calling goroutine (svc_request_connect runs on it, and
// so does the OnBalancer callback). When ctx is done first the connect is
// cancelled (svc_request_cancel) and the error matches both ctx.Err()
// (context.Canceled or context.DeadlineExceeded) and ErrCanceled; a ctx
// deadline sooner than the connect timeout thus ends the connect at the
// deadline. Other errors are the last try's *Error (ErrConnect, ErrTimeout,
// ErrTLS, ErrNoPeer, ...) whose message lists every try, e.g.
// "1 try failed: try 1 (127.0.0.1:9001): connect to 127.0.0.1:9001 failed:
// Connection refused".
//
// Without deadlines, the Conn's Reads and Writes are bounded by the
// request's read and write timeouts.
func (r *Request) Connect(ctx context.Context) (net.Conn, error) {
	c, err := r.connect(ctx, false)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (r *Request) connect(ctx context.Context, duplex bool) (*Conn, error) {
	if ctx == nil {
		return nil, invalidf("ctx must not be nil")
	}
	if err := r.notInCallback("Connect"); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return nil, closedError("request")
	}
	p := r.ptr
	var cp uintptr
	stop := cancelOnDone(ctx, p)
	err := takeError(capi.SvcRequestConnect(p, &cp))
	stop()
	runtime.KeepAlive(r)
	if err != nil {
		return nil, contextError(ctx, err)
	}
	c := newConn(cConn(cp), r.writeTimeout, r.readTimeout, duplex)
	c.spin = r.readSpin
	return c, nil
}

// cancelOnDone bridges ctx to svc_request_cancel for the duration of one
// blocking C call on p (svc_request_connect or svc_request_send), made by
// the caller while it holds r.mu: a context already done cancels at once;
// otherwise context.AfterFunc cancels when ctx is done (svc_request_cancel
// is the one call allowed concurrently, so it takes no lock). The returned
// stop must be called when the C call returned, before r.mu is released:
// it unregisters the callback or waits until a started one has finished,
// so svc_request_cancel never runs once the request can be freed.
func cancelOnDone(ctx context.Context, p cRequest) (stop func()) {
	if ctx.Err() != nil {
		capi.SvcRequestCancel(p) // the call fails at once, the request enters log
		return func() {}
	}
	if ctx.Done() == nil { // never done (context.Background): nothing to watch
		return func() {}
	}
	done := make(chan struct{})
	unregister := context.AfterFunc(ctx, func() {
		defer close(done)
		capi.SvcRequestCancel(p)
	})
	return func() {
		if !unregister() { // it ran or is running: wait until it returned
			<-done
		}
	}
}

// contextError turns svc's SVC_ECANCELED error of a call cancelled by ctx
// into a *CanceledError; other errors are returned as they are.
func contextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, ErrCanceled) {
		if se, isSvc := err.(*Error); isSvc {
			return &CanceledError{Context: cerr, Err: se}
		}
	}
	return err
}

// CanceledError is the error of a Connect (or dial) ended by its context:
// errors.Is matches both the context's error (context.Canceled or
// context.DeadlineExceeded) and ErrCanceled, and errors.As reaches the
// *Error from svc.
type CanceledError struct {
	Context error  // ctx.Err()
	Err     *Error // svc's SVC_ECANCELED error, listing the tries made
}

// Error returns the context's error and svc's message.
func (e *CanceledError) Error() string {
	return fmt.Sprintf("%v: %s", e.Context, e.Err.Message)
}

// Unwrap returns the context's error and svc's error.
func (e *CanceledError) Unwrap() []error { return []error{e.Context, e.Err} }

// Timeout reports whether the context's deadline expired.
func (e *CanceledError) Timeout() bool { return errors.Is(e.Context, context.DeadlineExceeded) }

// Temporary is false (net.Error).
func (e *CanceledError) Temporary() bool { return false }

// OnBalancer sets (or with nil clears) the request's balancer callback. It
// runs during Connect or Send on each try, on that call's goroutine, after the try's
// peer was picked and before svc connects to it. f receives a *Request
// valid for the duration of the call (use it, not the request Connect or
// Send was called on, whose methods wait until that call returns): it may read the
// try's peer (Peer) and number (Tries) and call the TLS setters
// (SetTLSVerify, SetTLSVerifyDepth, SetTLSVerifyStore, SetTLSCertKey) and
// SetScheme to change that try's policy; Connect, Send, Pick, Report,
// SetPhase and OnBalancer fail there with ErrPhase.
//
// An error from f aborts the connect with "balancer callback failed on try
// <n>: <err.Error()>"; its code is the *Error's in err (errors.As), or
// CodeInternal for other errors. A panic in f is recovered and aborts the
// connect the same way (CodeInternal).
func (r *Request) OnBalancer(f func(*Request) error) error {
	if err := r.notInCallback("OnBalancer"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return closedError("request")
	}
	var h cgo.Handle
	if f != nil {
		h = cgo.NewHandle(&balancerSink{f: f})
	}
	err := takeError(capi.SvcGoRequestOnBalancer(r.ptr, uint(h)))
	runtime.KeepAlive(r)
	if err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	// The old callback cannot be running: it runs only inside Connect,
	// which holds r.mu.
	if r.balancer != 0 {
		r.balancer.Delete()
	}
	r.balancer = h
	return nil
}

// balancerSink is what the C trampoline reaches through the request's
// cgo.Handle.
type balancerSink struct {
	f func(*Request) error
}

// Balancer runs f with a *Request lending the C request for the call.
func (s *balancerSink) Balancer(request uintptr) uintptr {
	view := &Request{ptr: cRequest(request), borrowed: true}
	err := s.run(view)
	view.Close() // later use of the view is ErrClosed
	if err == nil {
		return 0
	}
	code := CodeInternal
	var se *Error
	if errors.As(err, &se) && se.Code != CodeOK {
		code = se.Code
	}
	msg := strings.ReplaceAll(err.Error(), "\x00", `\0`) // C would cut it at a NUL
	e := capi.SvcErrorNew(capi.Enum_SS_svc_code(code), msg)
	if e == nil {
		return 0
	}
	return e.Swigcptr()
}

func (s *balancerSink) run(view *Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Code: CodeInternal, Message: fmt.Sprintf("panic in balancer callback: %v", p)}
		}
	}()
	return s.f(view)
}
