package capi

// #include <stdint.h>
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
)

// HealthSink receives health events; LogSink receives log events. The
// userdata registered with SvcGoEngineOnHealth / SvcGoEngineOnLog is a
// cgo.Handle whose value implements the matching interface.
type HealthSink interface {
	Health(upstream, target, address string, healthy bool)
}

// LogSink receives log events; see HealthSink.
type LogSink interface {
	Log(level int, message string)
}

// BalancerSink runs a request's balancer callback: request is the
// svc_request * the callback was called for; the result is an svc_error *
// made with SvcErrorNew (the C library frees it), or 0 to go on. The
// userdata registered with SvcGoRequestOnBalancer is a cgo.Handle whose
// value implements it. Balancer must not panic (a panic is recovered here
// and turned into an SVC_EINTERNAL error, but the sink should do so itself).
type BalancerSink interface {
	Balancer(request uintptr) uintptr
}

// svcGoBalancer is called by the C trampoline on the goroutine that called
// svc_request_connect.
//
//export svcGoBalancer
func svcGoBalancer(handle C.uintptr_t, request C.uintptr_t) (result C.uintptr_t) {
	defer func() {
		if r := recover(); r != nil {
			e := SvcErrorNew(SVC_EINTERNAL, fmt.Sprintf("panic in balancer callback: %v", r))
			result = C.uintptr_t(e.Swigcptr())
		}
	}()
	if s, ok := cgo.Handle(handle).Value().(BalancerSink); ok {
		return C.uintptr_t(s.Balancer(uintptr(request)))
	}
	return 0
}

// svcGoHealth is called by the C trampoline on an engine thread.
//
//export svcGoHealth
func svcGoHealth(handle C.uintptr_t, upstream, target, address *C.char, healthy C.int) {
	defer recoverCallback("health")
	if s, ok := cgo.Handle(handle).Value().(HealthSink); ok {
		s.Health(C.GoString(upstream), C.GoString(target), C.GoString(address), healthy != 0)
	}
}

// svcGoLog is called by the C trampoline on an engine thread.
//
//export svcGoLog
func svcGoLog(handle C.uintptr_t, level C.int, message *C.char) {
	defer recoverCallback("log")
	if s, ok := cgo.Handle(handle).Value().(LogSink); ok {
		s.Log(int(level), C.GoString(message))
	}
}

// recoverCallback keeps a panic in a user callback from unwinding into
// the engine's C++ thread: it is reported on stderr and dropped.
func recoverCallback(kind string) {
	if r := recover(); r != nil {
		fmt.Fprintf(os.Stderr, "svc: panic in %s callback: %v\n", kind, r)
	}
}
