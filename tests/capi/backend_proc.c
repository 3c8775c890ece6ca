/* backend_proc.c: see backend_proc.h. */
#include "backend_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what, const char *detail) {
  printf("backend_proc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  printf("0 passed, 1 failed\n");
  fflush(stdout);
  exit(1);
}

static const char *env_or_die(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') die("environment variable not set", name);
  return v;
}

const char *backend_binary(void) { return env_or_die("SVC_TEST_BACKEND"); }
const char *pki_dir(void) { return env_or_die("SVC_TEST_PKI_DIR"); }

const char *pki_path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", pki_dir(), name);
  return buf;
}

double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void sleep_for_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int cloexec_pipe(int fds[2]) {
  if (pipe(fds) != 0) return -1;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
}

/* argv = binary, args..., extra..., NULL; returns a malloc'ed array. */
static char **build_argv(const char *const *args, const char *const *extra) {
  size_t n = 0, m = 0, i, k = 0;
  char **argv;
  while (args && args[n]) ++n;
  while (extra && extra[m]) ++m;
  argv = calloc(n + m + 2, sizeof *argv);
  if (argv == NULL) die("out of memory", NULL);
  argv[k++] = (char *)backend_binary();
  for (i = 0; i < n; ++i) argv[k++] = (char *)args[i];
  for (i = 0; i < m; ++i) argv[k++] = (char *)extra[i];
  argv[k] = NULL;
  return argv;
}

/* waitpid with a bound: SIGKILL after timeout_ms. Returns the raw status or -1. */
static int wait_bounded(pid_t pid, int timeout_ms) {
  int status = 0;
  const double until = monotonic_ms() + timeout_ms;
  for (;;) {
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return -1;
    if (monotonic_ms() > until) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      printf("backend_proc: pid %d did not exit in %d ms, killed\n", (int)pid, timeout_ms);
      return -1;
    }
    sleep_for_ms(5);
  }
}

int backend_start(backend_proc *b, const char *const *args) {
  int in_pipe[2], out_pipe[2];
  char parent[32];
  const char *extra[] = {"--exit-on-stdin-eof", "--parent-pid", parent, NULL};
  posix_spawn_file_actions_t fa;
  char **argv;
  char line[128];
  size_t used = 0;
  const double until = monotonic_ms() + 10000;
  int rc;

  memset(b, 0, sizeof *b);
  b->stdin_fd = b->stdout_fd = -1;
  snprintf(parent, sizeof parent, "%d", (int)getpid());
  if (cloexec_pipe(in_pipe) != 0) return -1;
  if (cloexec_pipe(out_pipe) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return -1;
  }
  argv = build_argv(args, extra);
  posix_spawn_file_actions_init(&fa);
  /* dup2 clears FD_CLOEXEC on the target: the child keeps only 0, 1, 2. */
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  rc = posix_spawn(&b->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  free(argv);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    printf("backend_proc: cannot spawn %s: %s\n", backend_binary(), strerror(rc));
    close(in_pipe[1]);
    close(out_pipe[0]);
    b->pid = 0;
    return -1;
  }
  b->stdin_fd = in_pipe[1];
  b->stdout_fd = out_pipe[0];

  /* Read "LISTENING <port>\n", bounded. */
  for (;;) {
    struct pollfd p;
    int left = (int)(until - monotonic_ms());
    ssize_t n;
    char *nl;
    if (left <= 0) {
      printf("backend_proc: no LISTENING line within 10 s\n");
      break;
    }
    p.fd = b->stdout_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, left) <= 0) continue;
    n = read(b->stdout_fd, line + used, sizeof line - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      printf("backend_proc: the backend exited before its LISTENING line\n");
      break;
    }
    used += (size_t)n;
    line[used] = '\0';
    nl = strchr(line, '\n');
    if (nl != NULL) {
      int port = 0;
      if (sscanf(line, "LISTENING %d", &port) == 1 && port > 0 && port < 65536) {
        b->port = port;
        return 0;
      }
      printf("backend_proc: unexpected first line: %s", line);
      break;
    }
    if (used == sizeof line - 1) {
      printf("backend_proc: first line too long\n");
      break;
    }
  }
  backend_stop(b);
  return -1;
}

int backend_stop(backend_proc *b) {
  int status, result = -1;
  if (b->pid <= 0) return -1;
  kill(b->pid, SIGTERM);
  status = wait_bounded(b->pid, 5000);
  if (status != -1 && WIFEXITED(status)) result = WEXITSTATUS(status);
  if (b->stdin_fd >= 0) close(b->stdin_fd);
  if (b->stdout_fd >= 0) close(b->stdout_fd);
  b->pid = 0;
  b->port = 0;
  b->stdin_fd = b->stdout_fd = -1;
  return result;
}

int backend_run(const char *const *args) {
  char **argv = build_argv(args, NULL);
  pid_t pid;
  int status;
  int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
  free(argv);
  if (rc != 0) return -1;
  status = wait_bounded(pid, 30000);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *read_file_or_die(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *text;
  long size;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
    die("cannot read", path);
  text = malloc((size_t)size + 1);
  if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) die("cannot read", path);
  text[size] = '\0';
  fclose(f);
  if (len) *len = (size_t)size;
  return text;
}

static void require(svc_error *e, const char *what) {
  if (e == NULL) return;
  printf("backend_proc: %s: %s \"%s\"\n", what, svc_code_name(svc_error_code(e)), svc_error_message(e));
  svc_error_free(e);
  die("setup failed", what);
}

svc_cert_chain *pki_chain(const char *name) {
  size_t len;
  char *pem = read_file_or_die(pki_path(name), &len);
  svc_cert_chain *c = NULL;
  require(svc_cert_chain_parse_pem(&c, pem, len), name);
  free(pem);
  return c;
}

svc_private_key *pki_key(const char *name, const char *passphrase) {
  size_t len;
  char *pem = read_file_or_die(pki_path(name), &len);
  svc_private_key *k = NULL;
  require(svc_private_key_parse_pem(&k, pem, len, passphrase), name);
  free(pem);
  return k;
}

svc_trust_store *pki_store(const char *const *names) {
  svc_trust_store *s = NULL;
  require(svc_trust_store_new(&s), "svc_trust_store_new");
  for (; names && *names; ++names) require(svc_trust_store_load_file(s, pki_path(*names)), *names);
  return s;
}

int dead_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int port;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    die("cannot bind a loopback port", NULL);
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* ----- HTTP -------------------------------------------------------------- */

static const char *find_head_end(const char *data, size_t len) {
  size_t i;
  for (i = 0; i + 3 < len; ++i)
    if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n') return data + i;
  return NULL;
}

svc_error *http_read_response(svc_conn *c, http_response *out) {
  size_t used = 0, need = 0;
  int have_head = 0;
  long clen;
  memset(out, 0, offsetof(http_response, data));
  out->data[0] = '\0';
  for (;;) {
    size_t n = 0;
    svc_error *err;
    if (have_head && used >= need) break;
    if (used >= sizeof out->data - 1) return svc_error_new(SVC_EPROTO, "test: response too large");
    err = svc_conn_read(c, out->data + used, sizeof out->data - 1 - used, &n);
    if (err != NULL) return err;
    if (n == 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "test: EOF after %zu bytes of the response", used);
      return svc_error_new(SVC_EPROTO, msg);
    }
    used += n;
    out->data[used] = '\0';
    if (!have_head) {
      const char *end = find_head_end(out->data, used);
      if (end == NULL) continue;
      have_head = 1;
      out->head_len = (size_t)(end - out->data) + 4;
      if (sscanf(out->data, "HTTP/1.1 %d", &out->status) != 1)
        return svc_error_new(SVC_EPROTO, "test: no HTTP/1.1 status line");
      clen = http_header_long(out, "Content-Length");
      if (clen < 0) return svc_error_new(SVC_EPROTO, "test: no Content-Length");
      need = out->head_len + (size_t)clen;
      if (need >= sizeof out->data) return svc_error_new(SVC_EPROTO, "test: response too large");
    }
  }
  if (used != need) return svc_error_new(SVC_EPROTO, "test: bytes after the response");
  out->body_len = used - out->head_len;
  return NULL;
}

svc_error *http_get(svc_conn *c, const char *host, const char *path, http_response *out) {
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: svc-capi-test\r\nConnection: keep-alive\r\n\r\n",
                   path, host);
  svc_error *err;
  if (n < 0 || (size_t)n >= sizeof req) return svc_error_new(SVC_EINVAL, "test: request too long");
  err = svc_conn_write(c, req, (size_t)n);
  if (err != NULL) return err;
  return http_read_response(c, out);
}

const char *http_header(const http_response *res, const char *name, char *buf, size_t cap) {
  const size_t nlen = strlen(name);
  const char *p = strstr(res->data, "\r\n");
  const char *head_end = res->data + (res->head_len ? res->head_len : strlen(res->data));
  while (p != NULL && p + 2 < head_end) {
    const char *line = p + 2;
    const char *eol = strstr(line, "\r\n");
    if (eol == NULL || eol == line) break;
    if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1;
      size_t len;
      while (v < eol && (*v == ' ' || *v == '\t')) ++v;
      len = (size_t)(eol - v);
      if (len >= cap) len = cap - 1;
      memcpy(buf, v, len);
      buf[len] = '\0';
      return buf;
    }
    p = eol;
  }
  return NULL;
}

long http_header_long(const http_response *res, const char *name) {
  char buf[64];
  char *end;
  long v;
  if (http_header(res, name, buf, sizeof buf) == NULL || buf[0] == '\0') return -1;
  v = strtol(buf, &end, 10);
  return *end == '\0' && v >= 0 ? v : -1;
}
