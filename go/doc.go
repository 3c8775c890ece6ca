// Package svc is the Go binding of svc, an embeddable upstream-connection
// engine with the semantics of Kong Gateway's kong.service module and
// balancer.
//
// An Engine holds upstreams (load-balanced, health-checked groups of
// targets). A Request says where one proxied request goes (SetUpstream or
// SetTarget), carries its TLS policy, and picks peers:
//
//	e, err := svc.NewEngine("")
//	...
//	defer e.Close()
//	err = e.UpsertUpstream(`{"name": "api"}`)
//	err = e.AddTarget("api", "10.0.0.1:8080", 100)
//	r, err := e.NewRequest()
//	defer r.Close()
//	err = r.SetUpstream("api")
//	peer, err := r.Pick()       // do the I/O to peer.IP:peer.Port ...
//	err = r.Report(svc.OutcomeHTTP, 200, elapsed)
//
// In connect mode svc also opens the connection: Request.Connect returns a
// *Conn (a net.Conn, plain or TLS after svc's verification) that Release(true)
// returns to svc's keepalive pool. Engine.DialContext and DialTLSContext plug
// svc into http.Transport: the host of the dialled address names an upstream
// (or is a plain host), and Engine.SetUpstreamTLS sets its TLS policy.
//
// Errors are *Error values carrying the C library's code and its exact
// message (Kong's text); match them with errors.Is against the sentinels
// (ErrNotFound, ErrPhase, ...).
//
// Threading: an Engine and TLS material (CertChain, PrivateKey, TrustStore)
// are safe for concurrent use. A Request is used by one goroutine at a time;
// its methods are nevertheless serialized internally, so misuse cannot
// corrupt memory, and Close is safe to call any number of times from any
// goroutine. Every object has an idempotent Close; an object used after Close
// returns an error matching ErrClosed. Finalizers free objects that were
// never closed, but Close them explicitly: a Request that holds a picked peer
// counts as an open connection for least-connections until it is closed.
//
// Callbacks (OnHealth, OnLog) run on an engine thread; OnBalancer's runs on
// the goroutine that called Connect. They must not block
// and must not call back into the same Engine (Close waits for them).
package svc
