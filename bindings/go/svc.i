/*
 * svc.i: the SWIG interface of svc's Go binding (C mode, -cgo).
 *
 * It wraps svc.h and nothing else. The output is committed in
 * go/internal/capi (capi.go, capi_wrap.c); regenerate it after changing
 * svc.h or this file with `go generate ./internal/capi` in go/ (the command
 * is in go/internal/capi/doc.go), and scripts/test-go.sh fails when a
 * regeneration would change anything.
 *
 * What is here beyond the header:
 *   - %rename: svc_engine_new -> SvcEngineNew (enum members keep their C
 *     names: SVC_EINVAL, SVC_PHASE_ACCESS, ...).
 *   - typemaps for the header's out-parameters (`T **out` -> *uintptr,
 *     `char **out_json` -> *string, freed with svc_free), for returned
 *     text (copied into Go memory, vet-clean), for (pointer, length) inputs
 *     (Go string, never NULL), and for the arguments where NULL means
 *     "absent" ("" -> NULL).
 *   - two callback trampolines: C functions that forward health and log
 *     events to Go (//export in go/internal/capi/callbacks.go). The
 *     userdata is a runtime/cgo.Handle; C never holds a Go pointer.
 * No %exception, no panics: every failure comes back as an svc_error *.
 */
%module capi

%{
#include <stdlib.h>
#include <string.h>
#include <svc/svc.h>
%}

%include <stdint.i>

/* SVC_API comes from svc_export.h, which SWIG does not read (it does not
 * follow #include). */
#define SVC_API

/* ----- names ------------------------------------------------------------ */

%rename("%(camelcase)s", %$isfunction) "";

/* ----- out-parameters of handle type: a *uintptr receives the handle ----- */

%define SVC_OUT_HANDLE(TYPE)
%typemap(gotype) TYPE **out "*uintptr"
%typemap(in) TYPE **out (TYPE *temp = NULL) %{ $1 = &temp; %}
%typemap(argout) TYPE **out %{ if ($input) *(uintptr_t *)$input = (uintptr_t)temp$argnum; %}
%enddef
SVC_OUT_HANDLE(svc_engine)
SVC_OUT_HANDLE(svc_request)
SVC_OUT_HANDLE(svc_cert_chain)
SVC_OUT_HANDLE(svc_private_key)
SVC_OUT_HANDLE(svc_trust_store)
SVC_OUT_HANDLE(svc_conn)

/* ----- strings out of C: copied into Go memory at once ------------------ */

/* go.swg's char * output mallocs a C copy and converts it with unsafe
 * pointer arithmetic that `go vet` flags; here the borrowed C text goes to
 * Go as is and is copied (string([]byte) conversion) before the wrapper
 * returns. */

%typemap(out) char * %{ $result.p = (char *)$1; $result.n = $1 ? (intgo)strlen($1) : 0; %}
%typemap(goout) char * %{ $result = string(unsafe.Slice(unsafe.StringData($1), len($1))) %}

/* char **out_json: the library's string is copied, then freed with svc_free. */
%typemap(gotype) char **out_json "*string"
%typemap(in) char **out_json (char *temp = NULL) %{ $1 = &temp; %}
%typemap(argout) char **out_json
%{
  if ($input && temp$argnum) {
    $input->p = temp$argnum;
    $input->n = (intgo)strlen(temp$argnum);
  }
%}
%typemap(goargout) char **out_json
%{
  if $input != nil && *$input != "" {
    c := *$input
    *$input = string(unsafe.Slice(unsafe.StringData(c), len(c)))
    SvcFree(uintptr(unsafe.Pointer(unsafe.StringData(c))))
  }
%}

/* ----- (pointer, length) inputs: any bytes, never NULL ------------------- */

%typemap(gotype) (const char *BYTES, size_t LENGTH) "string"
%typemap(in) (const char *BYTES, size_t LENGTH)
%{
  $1 = $input.n ? ($1_ltype)$input.p : ($1_ltype)"";
  $2 = ($2_ltype)$input.n;
%}
%apply (const char *BYTES, size_t LENGTH) {
  (const char *text, size_t len), (const char *pem, size_t len), (const char *key, size_t len)
};

/* ----- strings where NULL means absent: "" is passed as NULL ------------- */

%typemap(gotype) const char *NULLABLE "string"
%typemap(in) const char *NULLABLE
%{
  $1 = NULL;
  if ($input.n > 0) {
    $1 = ($1_ltype)malloc($input.n + 1);
    if ($1) {
      memcpy($1, $input.p, $input.n);
      $1[$input.n] = '\0';
    }
  }
%}
%typemap(freearg) const char *NULLABLE %{ free($1); %}
%apply const char *NULLABLE {
  const char *options_json, const char *address, const char *passphrase,
  const char *name, const char *value
};

/* ----- callbacks: C trampolines into Go ---------------------------------- */

%{
/* Implemented in Go: go/internal/capi/callbacks.go (//export). */
extern void svcGoHealth(uintptr_t handle, char *upstream, char *target, char *address, int healthy);
extern void svcGoLog(uintptr_t handle, int level, char *message);

static void svc_go_health_trampoline(void *userdata, const char *upstream, const char *target,
                                     const char *address, int healthy) {
  svcGoHealth((uintptr_t)userdata, (char *)upstream, (char *)target, (char *)address, healthy);
}

static void svc_go_log_trampoline(void *userdata, int level, const char *message) {
  svcGoLog((uintptr_t)userdata, level, (char *)message);
}
%}

/* The raw callback registrations take C function pointers; Go uses the
 * svc_go_* registrations below. svc_request_on_balancer gets the same
 * treatment when the Go binding grows Connect/Send. */
%ignore svc_engine_on_health;
%ignore svc_engine_on_log;
%ignore svc_request_on_balancer;

%inline %{
/* svc_engine_on_health with the Go trampoline; handle 0 unsubscribes. */
static svc_error *svc_go_engine_on_health(svc_engine *e, uintptr_t handle) {
  return svc_engine_on_health(e, handle ? svc_go_health_trampoline : NULL, (void *)handle);
}

/* svc_engine_on_log with the Go trampoline; handle 0 unsubscribes. */
static svc_error *svc_go_engine_on_log(svc_engine *e, uintptr_t handle) {
  return svc_engine_on_log(e, handle ? svc_go_log_trampoline : NULL, (void *)handle);
}
%}

%include <svc/svc.h>
