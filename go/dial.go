package svc

import (
	"context"
	"errors"
	"net"
	"strconv"
)

// TLSPolicy is the upstream TLS policy that DialTLSContext applies to each
// dial's request (set with Engine.SetUpstreamTLS). Fields left unset keep
// svc's defaults (verification on, the engine's trust store, OpenSSL's
// depth, no client certificate).
type TLSPolicy struct {
	Verify *bool       // nil: svc's default (on unless the engine turns it off)
	Depth  int         // maximum verification depth; -1 (negative): OpenSSL's default. 0 is a real depth!
	Store  *TrustStore // nil: the engine's trust store. Frozen by the first dial that uses it
	Chain  *CertChain  // client certificate chain, with Key; both or neither
	Key    *PrivateKey
}

// SetUpstreamTLS sets the TLS policy that DialTLSContext applies when the
// host part of the dialled address is upstream (an upstream name, or a
// plain host dialled directly). It replaces an earlier policy for that
// name; the policy's objects must stay open while dials use it. Chain and
// Key must be given together (ErrInvalid).
func (e *Engine) SetUpstreamTLS(upstream string, policy TLSPolicy) error {
	if err := checkText("upstream", upstream); err != nil {
		return err
	}
	if upstream == "" {
		return invalidf("host must be a string")
	}
	if (policy.Chain == nil) != (policy.Key == nil) {
		return invalidf("a TLS policy needs both Chain and Key, or neither")
	}
	e.tlsMu.Lock()
	defer e.tlsMu.Unlock()
	if e.tlsPolicies == nil {
		e.tlsPolicies = make(map[string]TLSPolicy)
	}
	e.tlsPolicies[upstream] = policy
	return nil
}

// apply sets the policy on a request (before its connect).
func (p TLSPolicy) apply(r *Request) error {
	if p.Verify != nil {
		if err := r.SetTLSVerify(*p.Verify); err != nil {
			return err
		}
	}
	if p.Depth >= 0 {
		if err := r.SetTLSVerifyDepth(p.Depth); err != nil {
			return err
		}
	}
	if p.Store != nil {
		if err := r.SetTLSVerifyStore(p.Store); err != nil {
			return err
		}
	}
	if p.Chain != nil || p.Key != nil {
		if err := r.SetTLSCertKey(p.Chain, p.Key); err != nil {
			return err
		}
	}
	return nil
}

// DialContext connects to addr ("host:port") through svc, for
// http.Transport.DialContext and anything else that dials: when the host
// names an upstream of the engine, svc balances over its targets (the port
// of addr is ignored: targets carry theirs), with retries, health and
// pooling; otherwise host:port is dialled directly (svc_set_target). The
// connection is plain TCP (scheme "http"). network must be "tcp", "tcp4"
// or "tcp6" (the address family follows the target).
//
// The returned *Conn is full duplex (see Conn) and is released as
// non-reusable when closed: http.Transport keeps connections alive on its
// own. ctx bounds the connect as in Request.Connect. Errors are
// *net.OpError values wrapping the *Error (or *CanceledError).
func (e *Engine) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return e.dial(ctx, network, addr, "http")
}

// DialTLSContext is DialContext with TLS done by svc (scheme "https"), for
// http.Transport.DialTLSContext: svc performs the handshake and verifies
// the peer (SNI and verified name: the target's host; the engine's trust
// store unless the policy set with SetUpstreamTLS for the host part of addr
// says otherwise). The result is not a *tls.Conn, so http.Transport speaks
// HTTP/1.1 over it.
func (e *Engine) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return e.dial(ctx, network, addr, "https")
}

func (e *Engine) dial(ctx context.Context, network, addr, scheme string) (net.Conn, error) {
	c, err := e.dialConn(ctx, network, addr, scheme)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return c, nil
}

func (e *Engine) dialConn(ctx context.Context, network, addr, scheme string) (*Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, net.UnknownNetworkError(network)
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	r, err := e.NewRequest()
	if err != nil {
		return nil, err
	}
	defer r.Close() // the connection outlives its request
	if err := r.SetUpstream(host); errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		port, perr := strconv.Atoi(portText)
		if perr != nil {
			port, perr = net.LookupPort(network, portText)
			if perr != nil {
				return nil, perr
			}
		}
		if err := r.SetTarget(host, port); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if err := r.SetScheme(scheme); err != nil {
		return nil, err
	}
	if scheme == "https" {
		e.tlsMu.RLock()
		policy, found := e.tlsPolicies[host]
		e.tlsMu.RUnlock()
		if found {
			if err := policy.apply(r); err != nil {
				return nil, err
			}
		}
	}
	return r.connect(ctx, true)
}
