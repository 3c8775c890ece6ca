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
 *     `char **out_json` -> *string, freed with svc_free, `int *ready` ->
 *     *int), for returned
 *     text (copied into Go memory, vet-clean), for (pointer, length) inputs
 *     (Go string, never NULL), and for the arguments where NULL means
 *     "absent" ("" -> NULL).
 *   - (buffer, length) pairs of svc_conn_write/svc_conn_read and the body
 *     of svc_request_send as Go []byte (the C call only borrows the slice's
 *     memory for its duration).
 *   - send mode: svc_request_send's `const char *const *headers` from one
 *     Go string of NUL-terminated "Name: value" lines (the C array of
 *     pointers into it is built in the wrapper), the (name, value)
 *     out-parameters of svc_response_header_at as *string (copied), and
 *     two helpers that copy the whole response (status, peer, headers,
 *     body) into a Go []byte in one block.
 *   - three callback trampolines: C functions that forward health and log
 *     events and the balancer callback of connect mode to Go (//export in
 *     go/internal/capi/callbacks.go). The userdata is a runtime/cgo.Handle;
 *     C never holds a Go pointer.
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
SVC_OUT_HANDLE(svc_response)

/* ----- int out-parameters: a *int receives the C int -------------------- */

/* svc_conn_wait_readable's `int *ready`: SWIG would hand C the Go *int as an
 * int * (8 bytes vs 4); the wrapper writes a C int and copies it. */
%typemap(gotype) int *ready "*int"
%typemap(in) int *ready (int temp = 0) %{ $1 = &temp; %}
%typemap(argout) int *ready %{ if ($input) *$input = (intgo)temp$argnum; %}

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

/* ----- byte buffers of connect mode: Go []byte, borrowed for the call ---- */

/* The slice's memory holds no Go pointers and C keeps no reference to it
 * after the call returns, as cgo's pointer rules require. */
%typemap(gotype) (const void *buf, size_t len), (void *buf, size_t cap), (const void *body, size_t body_len) "[]byte"
%typemap(in) (const void *buf, size_t len), (void *buf, size_t cap), (const void *body, size_t body_len)
%{
  $1 = ($1_ltype)$input.array;
  $2 = ($2_ltype)$input.len;
%}

/* ----- send mode ------------------------------------------------------------ */

/* svc_request_send's headers: Go passes one string holding every
 * "Name: value" line followed by a NUL byte ("A: 1\0B: 2\0"; "" = no
 * headers; package svc rejects a line holding a NUL with the C library's
 * message before the call). The wrapper builds the NULL-terminated array
 * of pointers into the Go string's bytes (on the stack for up to 32
 * lines, else malloc'd): C only borrows them for the call, and the lines
 * are copied by svc_request_send before it returns. */
%{
/* The array given to svc_request_send when malloc failed: the call is not
 * made (see %exception svc_request_send). */
static const char *const svc_go_headers_nomem[] = {NULL};
%}
%typemap(gotype) const char *const *headers "string"
%typemap(in) const char *const *headers (const char *stack[33], const char **heap = NULL)
%{
  $1 = NULL;
  if ($input.n > 0) {
    size_t count = 0;
    for (intgo i = 0; i < $input.n; i++)
      if ($input.p[i] == '\0') count++;
    const char **lines = stack;
    if (count >= sizeof stack / sizeof stack[0]) {
      heap = (const char **)malloc((count + 1) * sizeof *heap);
      lines = heap;
    }
    if (lines) {
      size_t k = 0;
      const char *start = $input.p;
      for (intgo i = 0; i < $input.n; i++) {
        if ($input.p[i] == '\0') {
          lines[k++] = start;
          start = $input.p + i + 1;
        }
      }
      lines[k] = NULL;
      $1 = ($1_ltype)lines;
    } else {
      $1 = ($1_ltype)svc_go_headers_nomem;
    }
  }
%}
%typemap(freearg) const char *const *headers %{ free(heap$argnum); %}
%exception svc_request_send
%{
  if ((const void *)arg4 == (const void *)svc_go_headers_nomem) {
    result = svc_error_new(SVC_ENOMEM, "out of memory");
  } else {
    $action
  }
%}

/* svc_response_header_at's out-parameters: the borrowed C strings are
 * copied into Go memory before the wrapper returns. */
%define SVC_OUT_BORROWED_TEXT(NAME)
%typemap(gotype) const char **NAME "*string"
%typemap(in) const char **NAME (const char *text_ ## NAME = NULL) %{ $1 = ($1_ltype)&text_ ## NAME; %}
%typemap(argout) const char **NAME
%{
  if ($input) {
    $input->p = (char *)text_ ## NAME ## $argnum;
    $input->n = text_ ## NAME ## $argnum ? (intgo)strlen(text_ ## NAME ## $argnum) : 0;
  }
%}
%typemap(goargout) const char **NAME
%{
  if $input != nil && *$input != "" {
    c := *$input
    *$input = string(unsafe.Slice(unsafe.StringData(c), len(c)))
  }
%}
%enddef
/* (one typemap per parameter name: SWIG 4.1 mixes up the locals of one
 * typemap applied to two parameters of the same function) */
SVC_OUT_BORROWED_TEXT(name)
SVC_OUT_BORROWED_TEXT(value)

/* The whole response in one block, so that package svc reads it with two
 * calls instead of one per header: svc_go_response_size, then
 * svc_go_response_copy into a Go []byte of that size (borrowed for the
 * call). The block is four native-endian uint64 (status, peer port, header
 * count, bytes of the text that follows), the text (the peer's IP, then
 * each header's name and value, each followed by a NUL byte), then the
 * body. */
%{
static size_t svc_go_response_text_len(const svc_response *res) {
  const char *ip = svc_response_peer_ip(res);
  size_t n = (ip ? strlen(ip) : 0) + 1;
  const size_t count = svc_response_header_count(res);
  for (size_t i = 0; i < count; i++) {
    const char *name = NULL, *value = NULL;
    if (!svc_response_header_at(res, i, &name, &value)) break;
    n += (name ? strlen(name) : 0) + 1 + (value ? strlen(value) : 0) + 1;
  }
  return n;
}

static void svc_go_put_text(char **out, const char *text) {
  const size_t n = text ? strlen(text) : 0;
  if (n) memcpy(*out, text, n);
  (*out)[n] = '\0';
  *out += n + 1;
}
%}
%inline %{
static size_t svc_go_response_size(const svc_response *res) {
  size_t body = 0;
  svc_response_body(res, &body);
  return 4 * sizeof(uint64_t) + svc_go_response_text_len(res) + body;
}

/* Writes the block when cap is at least svc_go_response_size; returns the
 * bytes written, or 0. */
static size_t svc_go_response_copy(const svc_response *res, void *buf, size_t cap) {
  const size_t size = svc_go_response_size(res);
  if (cap < size) return 0;
  const size_t count = svc_response_header_count(res);
  uint64_t head[4] = {(uint64_t)svc_response_status(res), (uint64_t)svc_response_peer_port(res), 0,
                      (uint64_t)svc_go_response_text_len(res)};
  char *out = (char *)buf + sizeof head;
  svc_go_put_text(&out, svc_response_peer_ip(res));
  for (size_t i = 0; i < count; i++) {
    const char *name = NULL, *value = NULL;
    if (!svc_response_header_at(res, i, &name, &value)) break;
    svc_go_put_text(&out, name);
    svc_go_put_text(&out, value);
    head[2]++;
  }
  memcpy(buf, head, sizeof head);
  size_t body = 0;
  const void *p = svc_response_body(res, &body);
  if (body) memcpy(out, p, body);
  return size;
}

/* svc_conn_wait_readable(c, 0, &ready) for the duplex Read's spin, which
 * polls it many times a reply: 1 ready, 0 not yet, -1 an error (the caller
 * asks svc_conn_wait_readable again for it). No error object and no
 * out-parameter cross into Go, so a poll allocates nothing there. */
static int svc_go_conn_readable_now(svc_conn *c) {
  int ready = 0;
  svc_error *e = svc_conn_wait_readable(c, 0, &ready);
  if (e) {
    svc_error_free(e);
    return -1;
  }
  return ready;
}
%}

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
extern uintptr_t svcGoBalancer(uintptr_t handle, uintptr_t request);

static void svc_go_health_trampoline(void *userdata, const char *upstream, const char *target,
                                     const char *address, int healthy) {
  svcGoHealth((uintptr_t)userdata, (char *)upstream, (char *)target, (char *)address, healthy);
}

static void svc_go_log_trampoline(void *userdata, int level, const char *message) {
  svcGoLog((uintptr_t)userdata, level, (char *)message);
}

/* The Go side returns the svc_error * it made with svc_error_new, or 0. */
static svc_error *svc_go_balancer_trampoline(void *userdata, svc_request *r) {
  return (svc_error *)svcGoBalancer((uintptr_t)userdata, (uintptr_t)r);
}
%}

/* The raw callback registrations take C function pointers; Go uses the
 * svc_go_* registrations below. */
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

/* svc_request_on_balancer with the Go trampoline; handle 0 clears it. The
 * callback runs on the thread (and so the goroutine) that called
 * svc_request_connect. */
static svc_error *svc_go_request_on_balancer(svc_request *r, uintptr_t handle) {
  return svc_request_on_balancer(r, handle ? svc_go_balancer_trampoline : NULL, (void *)handle);
}
%}

%include <svc/svc.h>
