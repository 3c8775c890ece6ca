package svc

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"svc/internal/capi"
)

func TestCodesMatchTheCLibrary(t *testing.T) {
	want := map[Code]capi.Enum_SS_svc_code{
		CodeOK: capi.SVC_OK, CodeInvalid: capi.SVC_EINVAL, CodePhase: capi.SVC_EPHASE,
		CodeNotFound: capi.SVC_ENOTFOUND, CodeExists: capi.SVC_EEXIST, CodeConfig: capi.SVC_ECONFIG,
		CodeNoPeer: capi.SVC_ENOPEER, CodeDNS: capi.SVC_EDNS, CodeConnect: capi.SVC_ECONNECT,
		CodeTimeout: capi.SVC_ETIMEOUT, CodeTLS: capi.SVC_ETLS, CodeProtocol: capi.SVC_EPROTO,
		CodeClosed: capi.SVC_ECLOSED, CodeNoMemory: capi.SVC_ENOMEM, CodeInternal: capi.SVC_EINTERNAL,
		CodeCanceled: capi.SVC_ECANCELED,
	}
	for code, c := range want {
		if int(code) != int(c) {
			t.Errorf("%v = %d, C has %d", code, int(code), int(c))
		}
	}
	for c := Code(-1); c <= 16; c++ {
		if got, want := c.String(), capi.SvcCodeName(capi.Enum_SS_svc_code(c)); got != want {
			t.Errorf("Code(%d).String() = %q, svc_code_name says %q", int(c), got, want)
		}
	}
	if CodeInvalid.String() != "SVC_EINVAL" || Code(99).String() != "SVC_UNKNOWN" {
		t.Errorf("names: %v %v", CodeInvalid, Code(99))
	}
}

func TestEnumsMatchTheCLibrary(t *testing.T) {
	pairs := []struct {
		name string
		got  int
		want int
	}{
		{"PhaseRewrite", int(PhaseRewrite), int(capi.SVC_PHASE_REWRITE)},
		{"PhaseAccess", int(PhaseAccess), int(capi.SVC_PHASE_ACCESS)},
		{"PhaseBalancer", int(PhaseBalancer), int(capi.SVC_PHASE_BALANCER)},
		{"PhaseLog", int(PhaseLog), int(capi.SVC_PHASE_LOG)},
		{"OutcomeOK", int(OutcomeOK), int(capi.SVC_OUTCOME_OK)},
		{"OutcomeHTTP", int(OutcomeHTTP), int(capi.SVC_OUTCOME_HTTP)},
		{"OutcomeTCPFailure", int(OutcomeTCPFailure), int(capi.SVC_OUTCOME_TCP_FAILURE)},
		{"OutcomeTimeout", int(OutcomeTimeout), int(capi.SVC_OUTCOME_TIMEOUT)},
		{"HashConsumer", int(HashConsumer), int(capi.SVC_HASH_CONSUMER)},
		{"HashIP", int(HashIP), int(capi.SVC_HASH_IP)},
		{"HashHeader", int(HashHeader), int(capi.SVC_HASH_HEADER)},
		{"HashCookie", int(HashCookie), int(capi.SVC_HASH_COOKIE)},
		{"HashPath", int(HashPath), int(capi.SVC_HASH_PATH)},
		{"HashQueryArg", int(HashQueryArg), int(capi.SVC_HASH_QUERY_ARG)},
		{"HashURICapture", int(HashURICapture), int(capi.SVC_HASH_URI_CAPTURE)},
	}
	for _, p := range pairs {
		if p.got != p.want {
			t.Errorf("%s = %d, C has %d", p.name, p.got, p.want)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{PhaseRewrite.String(), "rewrite"}, {PhaseAccess.String(), "access"},
		{PhaseBalancer.String(), "balancer"}, {PhaseLog.String(), "log"}, {Phase(9).String(), "Phase(9)"},
		{OutcomeOK.String(), "ok"}, {OutcomeHTTP.String(), "http"}, {OutcomeTCPFailure.String(), "tcp_failure"},
		{OutcomeTimeout.String(), "timeout"}, {Outcome(-1).String(), "Outcome(-1)"},
		{HashConsumer.String(), "consumer"}, {HashIP.String(), "ip"}, {HashHeader.String(), "header"},
		{HashCookie.String(), "cookie"}, {HashPath.String(), "path"}, {HashQueryArg.String(), "query_arg"},
		{HashURICapture.String(), "uri_capture"}, {HashOn(0).String(), "HashOn(0)"},
	} {
		if c.got != c.want {
			t.Errorf("String() = %q, want %q", c.got, c.want)
		}
	}
}

func TestErrorsIsMatchesByCode(t *testing.T) {
	e := newEngine(t, "")
	err := e.DeleteUpstream("nope")
	wantErr(t, err, ErrNotFound, "could not find an Upstream named 'nope'")
	if err.Error() != "could not find an Upstream named 'nope'" {
		t.Errorf("Error() = %q", err.Error())
	}
	wrapped := fmt.Errorf("deleting: %w", err)
	if !errors.Is(wrapped, ErrNotFound) {
		t.Error("errors.Is through a wrap failed")
	}
	for _, s := range []*Error{ErrInvalid, ErrPhase, ErrExists, ErrConfig, ErrNoPeer, ErrDNS, ErrConnect,
		ErrTimeout, ErrTLS, ErrProtocol, ErrClosed, ErrNoMemory, ErrInternal, ErrCanceled} {
		if errors.Is(err, s) {
			t.Errorf("a not-found error matches %v", s.Code)
		}
		if !errors.Is(&Error{Code: s.Code, Message: "x"}, s) {
			t.Errorf("%v does not match itself", s.Code)
		}
	}
	var se *Error
	if !errors.As(wrapped, &se) || se.Code != CodeNotFound {
		t.Errorf("errors.As: %v", se)
	}
}

func TestVersion(t *testing.T) {
	v := Version()
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("Version() = %q", v)
	}
}
