// Package capi is the SWIG-generated wrapper of svc.h; the interface is
// bindings/go/svc.i. capi.go and capi_wrap.c are generated: do not edit
// them, run `go generate ./internal/capi` in go/ (needs SWIG >= 4.0) and
// commit the result. scripts/test-go.sh fails when they are stale.
//
// The package is internal: use package svc.
package capi

//go:generate swig -go -cgo -intgosize 64 -module capi -I../../../capi/include -o capi_wrap.c -outdir . ../../../bindings/go/svc.i
//go:generate gofmt -w capi.go

// Compiler and linker flags for svc come from pkg-config (svc.pc, installed
// with the library); see go/README.md.

// #cgo pkg-config: svc
import "C"
