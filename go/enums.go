package svc

import "strconv"

// Phase is a request phase, after Kong's; the values are svc_phase's.
type Phase int

// Request phases. A request starts in PhaseAccess; Pick enters PhaseBalancer.
const (
	PhaseRewrite  Phase = 1
	PhaseAccess   Phase = 2
	PhaseBalancer Phase = 3
	PhaseLog      Phase = 4
)

// String returns Kong's name of the phase ("access"), or "Phase(n)".
func (p Phase) String() string {
	switch p {
	case PhaseRewrite:
		return "rewrite"
	case PhaseAccess:
		return "access"
	case PhaseBalancer:
		return "balancer"
	case PhaseLog:
		return "log"
	}
	return "Phase(" + strconv.Itoa(int(p)) + ")"
}

// Outcome is what happened on one try, for Request.Report; the values are
// svc_outcome's.
type Outcome int

// Try outcomes.
const (
	OutcomeOK         Outcome = 0 // the try worked; no HTTP status to classify
	OutcomeHTTP       Outcome = 1 // a response came back; its status is classified by the health lists
	OutcomeTCPFailure Outcome = 2 // connect refused/reset, TLS handshake failed
	OutcomeTimeout    Outcome = 3 // the try timed out
)

// String returns "ok", "http", "tcp_failure", "timeout", or "Outcome(n)".
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeHTTP:
		return "http"
	case OutcomeTCPFailure:
		return "tcp_failure"
	case OutcomeTimeout:
		return "timeout"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// HashOn names a request attribute that an upstream's hash_on /
// hash_fallback reads; the values are svc_hash_on's.
type HashOn int

// Hash inputs, named after Kong's hash_on values.
const (
	HashConsumer   HashOn = 1
	HashIP         HashOn = 2
	HashHeader     HashOn = 3
	HashCookie     HashOn = 4
	HashPath       HashOn = 5
	HashQueryArg   HashOn = 6
	HashURICapture HashOn = 7
)

// String returns Kong's hash_on value ("header"), or "HashOn(n)".
func (h HashOn) String() string {
	switch h {
	case HashConsumer:
		return "consumer"
	case HashIP:
		return "ip"
	case HashHeader:
		return "header"
	case HashCookie:
		return "cookie"
	case HashPath:
		return "path"
	case HashQueryArg:
		return "query_arg"
	case HashURICapture:
		return "uri_capture"
	}
	return "HashOn(" + strconv.Itoa(int(h)) + ")"
}
