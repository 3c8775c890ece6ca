/*
 * backend_proc.h: runs svc-test-backend (tests/support/backend.md) from a C
 * test program, and speaks just enough HTTP/1.1 over an svc_conn to read its
 * answers.
 *
 * The backend binary comes from $SVC_TEST_BACKEND, the PKI directory from
 * $SVC_TEST_PKI_DIR (both set by add_test in tests/capi/CMakeLists.txt).
 * Every backend is started with --exit-on-stdin-eof (this process holds the
 * write end of its stdin, close-on-exec) and --parent-pid, so it never
 * outlives the test, even when the test crashes or exits early.
 *
 * POSIX (posix_spawn, pipes, poll) plus <svc/svc.h>; no other dependency.
 */
#ifndef SVC_TESTS_CAPI_BACKEND_PROC_H
#define SVC_TESTS_CAPI_BACKEND_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <svc/svc.h>

/* One running backend. */
typedef struct backend_proc {
  pid_t pid;      /* 0 when not running */
  int port;       /* from its "LISTENING <port>" line */
  int stdin_fd;   /* write end of its stdin; closing it makes it exit */
  int stdout_fd;  /* read end of its stdout */
} backend_proc;

/* Starts the backend with the given options (NULL-terminated, without the
 * program name; --exit-on-stdin-eof and --parent-pid are added) and waits
 * at most 10 s for its LISTENING line. Returns 0 on success; on failure
 * prints why and returns -1 (b->pid is then 0). */
int backend_start(backend_proc *b, const char *const *args);

/* Stops it: SIGTERM, then waitpid (SIGKILL after 5 s). Returns its exit
 * status as waitpid reports it decoded (0 for a clean exit after SIGTERM),
 * or -1. Safe on a backend that is not running. */
int backend_stop(backend_proc *b);

/* Runs the backend once to completion (e.g. --write-self-signed DIR) and
 * returns its exit status, or -1. */
int backend_run(const char *const *args);

/* The backend binary ($SVC_TEST_BACKEND) and PKI directory
 * ($SVC_TEST_PKI_DIR); exit the program when unset. */
const char *backend_binary(void);
const char *pki_dir(void);

/* "<pki_dir>/<name>" in a static buffer that the next call overwrites. */
const char *pki_path(const char *name);

/* Reads a file whole (NUL-terminated, *len without the NUL); exits the
 * program when it cannot. Free with free(). */
char *read_file_or_die(const char *path, size_t *len);

/* Parsed TLS material from PKI files; exit the program on failure. */
svc_cert_chain *pki_chain(const char *name);
svc_private_key *pki_key(const char *name, const char *passphrase);
/* A new store holding the certificates of the named PKI files (NULL-terminated). */
svc_trust_store *pki_store(const char *const *names);

/* ----- raw HTTP/1.1 over an svc_conn ------------------------------------ */

#define HTTP_MAX_RESPONSE 65536

typedef struct http_response {
  int status;
  size_t head_len;              /* bytes of the status line and headers, CRLFCRLF included */
  size_t body_len;
  char data[HTTP_MAX_RESPONSE]; /* head then body, NUL-terminated */
} http_response;

/* Writes "GET <path> HTTP/1.1" with Host and Connection: keep-alive, then
 * reads one answer (headers plus Content-Length bytes). An I/O error is
 * returned as is; a malformed or truncated answer is SVC_EPROTO. */
svc_error *http_get(svc_conn *c, const char *host, const char *path, http_response *out);

/* Reads one answer only (after the caller wrote a request). */
svc_error *http_read_response(svc_conn *c, http_response *out);

/* The value of header `name` (case-insensitive) copied into buf, or NULL
 * when absent. An empty value gives "". */
const char *http_header(const http_response *res, const char *name, char *buf, size_t cap);

/* The header as an integer, or -1 when absent or not a number. */
long http_header_long(const http_response *res, const char *name);

/* Milliseconds from a monotonic clock. */
double monotonic_ms(void);

/* Sleeps ms milliseconds. */
void sleep_for_ms(int ms);

/* A loopback port that nothing listens on (bound, then closed). */
int dead_port(void);

#endif /* SVC_TESTS_CAPI_BACKEND_PROC_H */
