/* demo.c: `svc demo`, a guided tour on a fresh machine. Starts local test
 * backends (svc-test-backend, tests/support/backend.md) with a throwaway PKI
 * (svc-test-pki), configures an engine in memory and checks, one line each,
 * what svc does: weighted round-robin, consistent hashing, set_target, TLS
 * verification, mutual TLS, a backend killed mid-run, and active health
 * checks bringing it back.
 *
 * Every backend gets --parent-pid and --exit-on-stdin-eof, so none outlives
 * this process; atexit and the signal handlers stop them and remove the
 * temporary directory. POSIX (posix_spawn, pipes, poll) and <svc/svc.h>. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* ===== Processes and clean-up ============================================ */

typedef struct backend {
  const char *name; /* X-Backend */
  pid_t pid;        /* 0 when not running */
  int port;
  int stdin_fd;     /* write end of its stdin: closing it stops it */
  int stdout_fd;
} backend;

enum { B1, B2, B3, BTLS, BMTLS, NBACKENDS };

static backend g_backends[NBACKENDS] = {
    {"b1", 0, 0, -1, -1}, {"b2", 0, 0, -1, -1}, {"b3", 0, 0, -1, -1},
    {"tls", 0, 0, -1, -1}, {"mtls", 0, 0, -1, -1}};

/* Read by the signal handler: plain arrays filled before signals are unblocked. */
static volatile pid_t g_pids[NBACKENDS + 1];
/* Short enough that every path built from it fits in PATH_MAX. */
static char g_tmpdir[1024];
#define MAX_FILES 64
static char g_files[MAX_FILES][PATH_MAX];
static volatile int g_nfiles;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Async-signal-safe: kill, unlink, rmdir only. */
static void remove_files(void) {
  int i;
  for (i = 0; i < g_nfiles; ++i) unlink(g_files[i]);
  if (g_tmpdir[0]) rmdir(g_tmpdir);
}

/* Waits for pid, SIGKILL after timeout_ms. Returns the raw status or -1. */
static int wait_bounded(pid_t pid, int timeout_ms) {
  int status = 0;
  const double until = now_ms() + timeout_ms;
  for (;;) {
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return -1;
    if (now_ms() > until) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return -1;
    }
    sleep_ms(5);
  }
}

static void backend_stop(backend *b) {
  int i;
  if (b->pid > 0) {
    kill(b->pid, SIGTERM);
    wait_bounded(b->pid, 3000);
    for (i = 0; i < NBACKENDS + 1; ++i)
      if (g_pids[i] == b->pid) g_pids[i] = 0;
  }
  if (b->stdin_fd >= 0) close(b->stdin_fd);
  if (b->stdout_fd >= 0) close(b->stdout_fd);
  b->pid = 0;
  b->stdin_fd = b->stdout_fd = -1;
}

static void cleanup_at_exit(void) {
  int i;
  for (i = 0; i < NBACKENDS; ++i)
    if (g_backends[i].pid > 0) kill(g_backends[i].pid, SIGTERM);
  for (i = 0; i < NBACKENDS; ++i) backend_stop(&g_backends[i]);
  remove_files();
  g_tmpdir[0] = '\0';
  g_nfiles = 0;
}

static void on_signal(int sig) {
  int i;
  for (i = 0; i < NBACKENDS + 1; ++i)
    if (g_pids[i] > 0) kill(g_pids[i], SIGTERM);
  remove_files();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void install_cleanup(void) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  struct sigaction sa;
  size_t i;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) sigaddset(&sa.sa_mask, sigs[i]);
  for (i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) sigaction(sigs[i], &sa, NULL);
  atexit(cleanup_at_exit);
}

static void remember_pid(pid_t pid) {
  int i;
  for (i = 0; i < NBACKENDS + 1; ++i)
    if (g_pids[i] == 0) {
      g_pids[i] = pid;
      return;
    }
}

/* posix_spawn with stdin/stdout redirected (-1 = inherit), an empty signal
 * mask and default dispositions in the child. */
static int spawn(pid_t *pid, char **argv, int in_fd, int out_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, defaults;
  int rc;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  /* dup2 clears FD_CLOEXEC on the target: the child keeps only 0, 1, 2. */
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  rc = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

static int cloexec_pipe(int fds[2]) {
  if (pipe(fds) != 0) return -1;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
}

/* Starts `bin` with args (NULL-terminated) plus --exit-on-stdin-eof and
 * --parent-pid, and reads its "LISTENING <port>" line (10 s at most). */
static int backend_start(backend *b, const char *bin, const char *const *args) {
  char *argv[32];
  char parent[32], line[128];
  int in_pipe[2], out_pipe[2], n = 0, rc;
  size_t used = 0;
  const double until = now_ms() + 10000;
  snprintf(parent, sizeof parent, "%ld", (long)getpid());
  argv[n++] = (char *)bin;
  argv[n++] = "--name";
  argv[n++] = (char *)b->name;
  while (*args && n < 26) argv[n++] = (char *)*args++;
  argv[n++] = "--exit-on-stdin-eof";
  argv[n++] = "--parent-pid";
  argv[n++] = parent;
  argv[n] = NULL;
  if (cloexec_pipe(in_pipe) != 0) return -1;
  if (cloexec_pipe(out_pipe) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return -1;
  }
  rc = spawn(&b->pid, argv, in_pipe[0], out_pipe[1]);
  close(in_pipe[0]);
  close(out_pipe[1]);
  b->stdin_fd = in_pipe[1];
  b->stdout_fd = out_pipe[0];
  if (rc != 0) {
    fprintf(stderr, "svc demo: cannot start %s: %s\n", bin, strerror(rc));
    b->pid = 0;
    backend_stop(b);
    return -1;
  }
  remember_pid(b->pid);
  for (;;) {
    struct pollfd p;
    int left = (int)(until - now_ms());
    ssize_t got;
    char *nl;
    if (left <= 0) {
      fprintf(stderr, "svc demo: backend %s printed no LISTENING line within 10 s\n", b->name);
      break;
    }
    p.fd = b->stdout_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, left) <= 0) continue;
    got = read(b->stdout_fd, line + used, sizeof line - 1 - used);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      fprintf(stderr, "svc demo: backend %s exited before listening\n", b->name);
      break;
    }
    used += (size_t)got;
    line[used] = '\0';
    if ((nl = strchr(line, '\n')) != NULL) {
      if (sscanf(line, "LISTENING %d", &b->port) == 1 && b->port > 0 && b->port < 65536) return 0;
      fprintf(stderr, "svc demo: backend %s said: %s", b->name, line);
      break;
    }
    if (used == sizeof line - 1) break;
  }
  backend_stop(b);
  return -1;
}

/* Runs svc-test-pki DIR to completion, its stdout discarded. */
static int make_pki(const char *bin, const char *dir) {
  char *argv[3];
  pid_t pid;
  int status, devnull = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;
  argv[0] = (char *)bin;
  argv[1] = (char *)dir;
  argv[2] = NULL;
  rc = spawn(&pid, argv, -1, devnull);
  if (devnull >= 0) close(devnull);
  if (rc != 0) {
    fprintf(stderr, "svc demo: cannot run %s: %s\n", bin, strerror(rc));
    return -1;
  }
  status = wait_bounded(pid, 30000);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "svc demo: %s %s failed\n", bin, dir);
    return -1;
  }
  return 0;
}

/* Records every file of the temporary directory for clean-up. */
static void list_files(void) {
  DIR *d = opendir(g_tmpdir);
  struct dirent *ent;
  if (!d) return;
  while ((ent = readdir(d)) != NULL && g_nfiles < MAX_FILES) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    snprintf(g_files[g_nfiles], PATH_MAX, "%s/%s", g_tmpdir, ent->d_name);
    ++g_nfiles;
  }
  closedir(d);
}

static int executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Finds a helper program: --bin-dir, $ENV, next to this program, the build tree. */
static int find_tool(const char *name, const char *bin_dir, const char *env, char *out, size_t cap) {
  const char *v = getenv(env);
  char self[PATH_MAX];
  ssize_t n;
  if (bin_dir) {
    snprintf(out, cap, "%s/%s", bin_dir, name);
    if (executable(out)) return 0;
    fprintf(stderr, "svc demo: no executable %s in --bin-dir %s\n", name, bin_dir);
    return -1;
  }
  if (v && *v) {
    snprintf(out, cap, "%s", v);
    if (executable(out)) return 0;
    fprintf(stderr, "svc demo: $%s=%s is not an executable file\n", env, v);
    return -1;
  }
  n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    char *slash;
    self[n] = '\0';
    if ((slash = strrchr(self, '/')) != NULL) {
      *slash = '\0';
      snprintf(out, cap, "%s/%s", self, name);
      if (executable(out)) return 0;
    }
  }
#ifdef SVC_CLI_TOOLS_DIR
  snprintf(out, cap, "%s/%s", SVC_CLI_TOOLS_DIR, name);
  if (executable(out)) return 0;
#endif
  fprintf(stderr,
          "svc demo: cannot find %s: looked next to this program%s; build it (target %s), then\n"
          "use --bin-dir DIR or set %s to its path\n",
          name,
#ifdef SVC_CLI_TOOLS_DIR
          " and in " SVC_CLI_TOOLS_DIR,
#else
          "",
#endif
          strcmp(name, "svc-test-pki") == 0 ? "svc_test_pki" : "svc_test_backend", env);
  return -1;
}

/* ===== Health events (engine thread) ===================================== */

static pthread_mutex_t g_events_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_events[32][256];
static int g_nevents;

static void on_health(void *userdata, const char *upstream, const char *target, const char *address,
                      int healthy) {
  (void)userdata;
  pthread_mutex_lock(&g_events_lock);
  if (g_nevents < 32)
    snprintf(g_events[g_nevents++], sizeof g_events[0], "health event: %s / %s / %s is now %s", upstream,
             target, address, healthy ? "HEALTHY" : "UNHEALTHY");
  pthread_mutex_unlock(&g_events_lock);
}

static int events_count(void) {
  int n;
  pthread_mutex_lock(&g_events_lock);
  n = g_nevents;
  pthread_mutex_unlock(&g_events_lock);
  return n;
}

/* ===== Requests ========================================================== */

typedef struct reply {
  int status;          /* 0 when the request failed */
  char backend[32];    /* X-Backend */
  char peer[80];       /* ip:port that answered */
  char subject[256];   /* X-Client-Subject */
  char tls_version[16];
  char sni[128];
  int tries;
  svc_code code;       /* SVC_OK or the error's code */
  char error[2048];
} reply;

static void copy_header(const svc_response *res, const char *name, char *out, size_t cap) {
  const char *v = svc_response_header(res, name);
  snprintf(out, cap, "%s", v ? v : "");
}

/* Sends GET path on r (already set up), fills out and frees r. An error while
 * setting r up may be passed as err: it is recorded the same way. */
static void get(svc_request *r, svc_error *err, const char *path, reply *out) {
  svc_response *res = NULL;
  memset(out, 0, sizeof *out);
  if (!err) err = svc_request_send(r, "GET", path, NULL, NULL, 0, &res);
  if (err) {
    out->code = svc_error_code(err);
    snprintf(out->error, sizeof out->error, "%s: %s", svc_code_name(out->code), svc_error_message(err));
    svc_error_free(err);
  } else {
    out->status = svc_response_status(res);
    snprintf(out->peer, sizeof out->peer, "%s:%d", svc_response_peer_ip(res), svc_response_peer_port(res));
    copy_header(res, "X-Backend", out->backend, sizeof out->backend);
    copy_header(res, "X-Client-Subject", out->subject, sizeof out->subject);
    copy_header(res, "X-TLS-Version", out->tls_version, sizeof out->tls_version);
    copy_header(res, "X-SNI", out->sni, sizeof out->sni);
  }
  out->tries = r ? svc_request_tries(r) : 0;
  svc_response_free(res);
  svc_request_free(r);
}

/* A new request routed through `upstream`, or (upstream NULL) to host:port. */
static svc_error *route(svc_engine *e, svc_request **r, const char *upstream, const char *host, int port) {
  svc_error *err = svc_request_new(r, e);
  if (err) return err;
  return upstream ? svc_set_upstream(*r, upstream) : svc_set_target(*r, host, port);
}

/* ===== Report ============================================================ */

static int g_passed, g_failed;

static int check(int ok, const char *id, const char *fmt, ...) {
  va_list ap;
  printf("[%s] %-3s ", ok ? "PASS" : "FAIL", id);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  if (ok) ++g_passed;
  else ++g_failed;
  return ok;
}

static void detail(const char *fmt, ...) {
  va_list ap;
  printf("          ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

static int backend_index(const char *name) {
  int i;
  for (i = 0; i < NBACKENDS; ++i)
    if (strcmp(g_backends[i].name, name) == 0) return i;
  return -1;
}

/* ===== The checks ======================================================== */

/* (1) Smooth weighted round-robin: exact 2:1:1 over every cycle of 4. */
static void check_round_robin(svc_engine *e) {
  int counts[NBACKENDS] = {0}, other = 0, i;
  char first_error[2048] = "";
  for (i = 0; i < 40; ++i) {
    svc_request *r = NULL;
    reply rep;
    get(r, route(e, &r, "web", NULL, 0), "/", &rep);
    if (rep.status == 200 && backend_index(rep.backend) >= 0) ++counts[backend_index(rep.backend)];
    else {
      ++other;
      if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", rep.error[0] ? rep.error : rep.backend);
    }
  }
  check(counts[B1] == 20 && counts[B2] == 10 && counts[B3] == 10 && other == 0, "1",
        "round-robin, weights 100/50/50, 40 GETs via svc_request_send: b1=%d b2=%d b3=%d (expected 20/10/10)",
        counts[B1], counts[B2], counts[B3]);
  if (other) detail("%d requests failed; first: %s", other, first_error);
}

/* (2) Consistent hashing: a key keeps its peer. */
static void check_hashing(svc_engine *e) {
  static const char *const keys[] = {"alice", "bob", "carol", "dave", "erin"};
  char first[5][32], line[512] = "";
  int moved = 0, failed = 0, round, k;
  size_t used = 0;
  for (round = 0; round < 10; ++round) {
    for (k = 0; k < 5; ++k) {
      svc_request *r = NULL;
      svc_error *err = route(e, &r, "sessions", NULL, 0);
      reply rep;
      if (!err) err = svc_set_hash_key(r, keys[k], strlen(keys[k]));
      get(r, err, "/", &rep);
      if (rep.status != 200) {
        ++failed;
        continue;
      }
      if (round == 0) snprintf(first[k], sizeof first[k], "%s", rep.backend);
      else if (strcmp(first[k], rep.backend) != 0) ++moved;
    }
  }
  for (k = 0; k < 5; ++k)
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%s->%s", k ? " " : "", keys[k], first[k]);
  check(moved == 0 && failed == 0, "2", "consistent hashing (svc_set_hash_key), 5 keys x 10 rounds: %d moved, %d failed: %s",
        moved, failed, line);
}

/* (3) set_target: straight to one peer, no balancer. */
static void check_set_target(svc_engine *e) {
  int hits = 0, i;
  reply rep;
  for (i = 0; i < 5; ++i) {
    svc_request *r = NULL;
    get(r, route(e, &r, NULL, "127.0.0.1", g_backends[B3].port), "/", &rep);
    if (rep.status == 200 && strcmp(rep.backend, "b3") == 0) ++hits;
  }
  check(hits == 5, "3", "svc_set_target(127.0.0.1, %d) bypasses the balancer: %d/5 answered by b3",
        g_backends[B3].port, hits);
  if (hits != 5 && rep.error[0]) detail("%s", rep.error);
}

static svc_trust_store *g_ca;
static svc_cert_chain *g_client_chain;
static svc_private_key *g_client_key;

static svc_error *load_tls_material(void) {
  char path[PATH_MAX];
  char *chain_pem, *key_pem;
  size_t clen = 0, klen = 0;
  svc_error *err;
  snprintf(path, sizeof path, "%s/ca.pem", g_tmpdir);
  if ((err = svc_trust_store_new(&g_ca)) || (err = svc_trust_store_load_file(g_ca, path))) return err;
  snprintf(path, sizeof path, "%s/client.pem", g_tmpdir);
  chain_pem = cli_read_file(path, &clen);
  snprintf(path, sizeof path, "%s/client.key", g_tmpdir);
  key_pem = cli_read_file(path, &klen);
  if (!chain_pem || !key_pem) err = svc_error_new(SVC_EINVAL, "cannot read client.pem or client.key");
  else if (!(err = svc_cert_chain_parse_pem(&g_client_chain, chain_pem, clen)))
    err = svc_private_key_parse_pem(&g_client_key, key_pem, klen, NULL);
  free(chain_pem);
  free(key_pem);
  return err;
}

/* A request to https://localhost:port with no retries, the CA when with_ca,
 * the client certificate when with_cert. */
static void tls_get(svc_engine *e, int port, int with_ca, int with_cert, reply *rep) {
  svc_request *r = NULL;
  svc_error *err = route(e, &r, NULL, "localhost", port);
  if (!err) err = svc_request_set_scheme(r, "https");
  if (!err) err = svc_set_retries(r, 0);
  if (!err && with_ca) err = svc_set_tls_verify_store(r, g_ca);
  if (!err && with_cert) err = svc_set_tls_cert_key(r, g_client_chain, g_client_key);
  get(r, err, "/", rep);
}

/* (4) TLS verification: fails without the CA, passes with it. */
static void check_tls(svc_engine *e) {
  reply rep;
  tls_get(e, g_backends[BTLS].port, 0, 0, &rep);
  check(rep.code == SVC_ETLS, "4a", "TLS to localhost:%d, system trust store only: refused as expected",
        g_backends[BTLS].port);
  detail("%s", rep.status ? "unexpected: the request succeeded" : rep.error);
  tls_get(e, g_backends[BTLS].port, 1, 0, &rep);
  if (!check(rep.status == 200 && strcmp(rep.backend, "tls") == 0, "4b",
             "TLS with svc_set_tls_verify_store(ca.pem): HTTP %d, %s, SNI '%s', verified name localhost",
             rep.status, rep.tls_version, rep.sni))
    detail("%s", rep.error);
}

/* (5) Mutual TLS: the backend reports the client certificate's subject. */
static void check_mtls(svc_engine *e) {
  reply rep;
  tls_get(e, g_backends[BMTLS].port, 1, 1, &rep);
  if (!check(rep.status == 200 && rep.subject[0] != '\0', "5a",
             "mTLS with svc_set_tls_cert_key(client.pem, client.key): backend saw subject '%s'", rep.subject))
    detail("%s", rep.error);
  tls_get(e, g_backends[BMTLS].port, 1, 0, &rep);
  check(rep.status == 0, "5b", "mTLS without a client certificate: refused as expected");
  detail("%s", rep.status ? "unexpected: the request succeeded" : rep.error);
}

/* (6) A backend dies mid-run: retries lose no request, passive health
 * (tcp_failures: 1) takes it out. */
static void check_failover(svc_engine *e) {
  const int total = 30, kill_after = 10;
  int ok = 0, retried = 0, after_kill_b1 = 0, i;
  long killed = 0;
  char b1_target[64], *json = NULL, first_error[2048] = "";
  const char *addr_health = "?";
  json_value *root = NULL;
  const json_value *t;
  svc_error *err;
  double until;

  for (i = 0; i < total; ++i) {
    svc_request *r = NULL;
    reply rep;
    if (i == kill_after) {
      /* SIGTERM and wait: from now on connects to b1 are refused */
      killed = (long)g_backends[B1].pid;
      backend_stop(&g_backends[B1]);
    }
    get(r, route(e, &r, "web", NULL, 0), "/", &rep);
    if (rep.status == 200) ++ok;
    else if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", rep.error);
    if (rep.tries > 1) ++retried;
    if (i >= kill_after && strcmp(rep.backend, "b1") == 0) ++after_kill_b1;
  }
  check(ok == total && after_kill_b1 == 0, "6a",
        "b1 killed after %d of %d GETs on upstream web: %d/%d answered 200, %d after a retry, none lost",
        kill_after, total, ok, total, retried);
  detail("b1 (pid %ld) got SIGTERM before request %d; %d request%s that tried it went on to another peer",
         killed, kill_after + 1, retried, retried == 1 ? "" : "s");
  if (ok != total) detail("first failure: %s", first_error);

  /* Health events arrive on an engine thread; the report is synchronous. */
  until = now_ms() + 2000;
  while (events_count() == 0 && now_ms() < until) sleep_ms(10);
  if ((err = svc_upstream_health(e, "web", &json))) {
    check(0, "6b", "svc_upstream_health(web): %s", svc_error_message(err));
    svc_error_free(err);
    return;
  }
  /* data[] is one entry per target; b1's target has one address. */
  snprintf(b1_target, sizeof b1_target, "127.0.0.1:%d", g_backends[B1].port);
  root = json_parse(json);
  for (t = json_get(root, "data") ? json_get(root, "data")->child : NULL; t; t = t->next) {
    const json_value *a = json_get(json_get(t, "data"), "addresses");
    if (strcmp(json_get_string(t, "target", ""), b1_target) == 0 && a && a->child)
      addr_health = json_get_string(a->child, "health", "?");
  }
  check(strcmp(addr_health, "UNHEALTHY") == 0, "6b",
        "passive health (healthchecks.passive.unhealthy.tcp_failures: 1) marks b1 %s", addr_health);
  pthread_mutex_lock(&g_events_lock);
  for (i = 0; i < g_nevents; ++i) detail("%s", g_events[i]);
  pthread_mutex_unlock(&g_events_lock);
  cli_print_health(stdout, "          ", json);
  json_free(root);
  svc_free(json);
}

/* The health of `target`'s first address in `upstream` ("?" when absent),
 * copied into out. */
static void address_health(svc_engine *e, const char *upstream, const char *target, char *out, size_t size) {
  char *json = NULL;
  json_value *root;
  const json_value *t;
  svc_error *err = svc_upstream_health(e, upstream, &json);
  snprintf(out, size, "?");
  if (err) {
    svc_error_free(err);
    return;
  }
  root = json_parse(json);
  for (t = json_get(root, "data") ? json_get(root, "data")->child : NULL; t; t = t->next) {
    const json_value *a = json_get(json_get(t, "data"), "addresses");
    if (strcmp(json_get_string(t, "target", ""), target) == 0 && a && a->child)
      snprintf(out, size, "%s", json_get_string(a->child, "health", "?"));
  }
  json_free(root);
  svc_free(json);
}

/* (7) Active health checks bring b1 back: http probes on `web`, then b1
 * restarts on its old port; the prober marks it healthy without any request
 * having to risk it. */
static void check_active(svc_engine *e, const char *backend_bin) {
  const char *entity =
      "{\"name\": \"web\", \"algorithm\": \"round-robin\", \"healthchecks\": {"
      "\"passive\": {\"unhealthy\": {\"tcp_failures\": 1}},"
      "\"active\": {\"type\": \"http\", \"http_path\": \"/\", \"timeout\": 1,"
      " \"healthy\": {\"interval\": 0.2, \"successes\": 2},"
      " \"unhealthy\": {\"interval\": 0.2, \"tcp_failures\": 1}}}}";
  char listen[64], target[64], health[32];
  const char *args[] = {"--listen", listen, NULL};
  const int old_port = g_backends[B1].port;
  const int events_before = events_count();
  int i, b1_answers = 0;
  double started, until;
  svc_error *err;

  if ((err = svc_upstream_upsert(e, entity))) {
    check(0, "7", "svc_upstream_upsert(web with active checks): %s", svc_error_message(err));
    svc_error_free(err);
    return;
  }
  snprintf(listen, sizeof listen, "127.0.0.1:%d", old_port);
  snprintf(target, sizeof target, "127.0.0.1:%d", old_port);
  address_health(e, "web", target, health, sizeof health);
  detail("web now probed: GET / every 0.2 s, healthy after 2 successes; b1 is %s", health);
  started = now_ms();
  if (backend_start(&g_backends[B1], backend_bin, args) != 0 || g_backends[B1].port != old_port) {
    check(0, "7", "cannot restart b1 on its old port %d", old_port);
    return;
  }
  until = started + 10000;
  for (;;) {
    address_health(e, "web", target, health, sizeof health);
    if (strcmp(health, "HEALTHY") == 0 || now_ms() > until) break;
    sleep_ms(20);
  }
  for (i = 0; i < 8; ++i) {
    svc_request *r = NULL;
    reply rep;
    get(r, route(e, &r, "web", NULL, 0), "/", &rep);
    if (rep.status == 200 && strcmp(rep.backend, "b1") == 0) ++b1_answers;
  }
  check(strcmp(health, "HEALTHY") == 0 && b1_answers > 0, "7",
        "active probes bring b1 back %.1f s after it restarted on :%d (%s); %d of 8 GETs reach it", 
        (now_ms() - started) / 1000.0, old_port, health, b1_answers);
  pthread_mutex_lock(&g_events_lock);
  for (i = events_before; i < g_nevents; ++i) detail("%s", g_events[i]);
  pthread_mutex_unlock(&g_events_lock);
}

/* ===== svc demo ========================================================== */

int cmd_demo(int argc, char **argv) {
  const char *bin_dir = NULL;
  char backend_bin[PATH_MAX], pki_bin[PATH_MAX], chain_tls[2 * PATH_MAX + 2], client_ca[PATH_MAX];
  char config[4096];
  sigset_t block, old;
  svc_engine *e = NULL;
  svc_error *err;
  int k, i;

  for (k = 1; k < argc; ++k) {
    if (strcmp(argv[k], "--bin-dir") == 0) {
      if (++k >= argc) return cli_usage_error("demo", "--bin-dir needs a directory");
      bin_dir = argv[k];
    } else {
      return cli_usage_error("demo", "unexpected argument '%s'", argv[k]);
    }
  }
  if (find_tool("svc-test-backend", bin_dir, "SVC_TEST_BACKEND", backend_bin, sizeof backend_bin) != 0 ||
      find_tool("svc-test-pki", bin_dir, "SVC_TEST_PKI", pki_bin, sizeof pki_bin) != 0)
    return CLI_FAIL;

  /* No signal between creating a file and recording it for clean-up. */
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGQUIT);
  sigprocmask(SIG_BLOCK, &block, &old);
  install_cleanup();
  {
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(g_tmpdir, sizeof g_tmpdir, "%s/svc-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof g_tmpdir) {
      fprintf(stderr, "svc demo: $TMPDIR is too long\n");
      g_tmpdir[0] = '\0';
      sigprocmask(SIG_SETMASK, &old, NULL);
      return CLI_FAIL;
    }
  }
  if (!mkdtemp(g_tmpdir)) {
    fprintf(stderr, "svc demo: cannot create a temporary directory %s: %s\n", g_tmpdir, strerror(errno));
    g_tmpdir[0] = '\0';
    sigprocmask(SIG_SETMASK, &old, NULL);
    return CLI_FAIL;
  }
  k = make_pki(pki_bin, g_tmpdir);
  list_files();
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (k != 0) return CLI_FAIL;

  printf("svc demo: libsvc %s; backends on 127.0.0.1; throwaway PKI in %s\n", svc_version(), g_tmpdir);
  snprintf(chain_tls, sizeof chain_tls, "%s/server-chain.pem,%s/server.key", g_tmpdir, g_tmpdir);
  snprintf(client_ca, sizeof client_ca, "%s/ca.pem", g_tmpdir);
  {
    const char *plain[] = {NULL};
    const char *tls[] = {"--tls", chain_tls, NULL};
    const char *mtls[] = {"--tls", chain_tls, "--client-ca", client_ca, NULL};
    for (i = B1; i <= B3; ++i)
      if (backend_start(&g_backends[i], backend_bin, plain) != 0) return CLI_FAIL;
    if (backend_start(&g_backends[BTLS], backend_bin, tls) != 0) return CLI_FAIL;
    if (backend_start(&g_backends[BMTLS], backend_bin, mtls) != 0) return CLI_FAIL;
  }
  printf("  b1 :%d  b2 :%d  b3 :%d  (plain HTTP)   tls :%d (server-chain.pem)   mtls :%d (client CA ca.pem)\n",
         g_backends[B1].port, g_backends[B2].port, g_backends[B3].port, g_backends[BTLS].port,
         g_backends[BMTLS].port);

  snprintf(config, sizeof config,
           "_format_version: '3.0'\n"
           "upstreams:\n"
           "  - name: web\n"
           "    algorithm: round-robin\n"
           "    healthchecks: {passive: {unhealthy: {tcp_failures: 1}}}\n"
           "    targets:\n"
           "      - {target: '127.0.0.1:%d', weight: 100}\n"
           "      - {target: '127.0.0.1:%d', weight: 50}\n"
           "      - {target: '127.0.0.1:%d', weight: 50}\n"
           "  - name: sessions\n"
           "    algorithm: consistent-hashing\n"
           "    hash_on: header\n"
           "    hash_on_header: X-User\n"
           "    targets:\n"
           "      - {target: '127.0.0.1:%d'}\n"
           "      - {target: '127.0.0.1:%d'}\n"
           "      - {target: '127.0.0.1:%d'}\n",
           g_backends[B1].port, g_backends[B2].port, g_backends[B3].port, g_backends[B1].port,
           g_backends[B2].port, g_backends[B3].port);
  printf("  upstream web: round-robin b1/b2/b3 weights 100/50/50, passive tcp_failures 1; "
         "upstream sessions: consistent-hashing\n\n");

  if ((err = svc_engine_new(&e, "{\"timeouts\": {\"connect\": 2000, \"write\": 5000, \"read\": 5000}}")) ||
      (err = svc_engine_on_health(e, on_health, NULL)) ||
      (err = svc_engine_load_config(e, config, strlen(config))) || (err = load_tls_material())) {
    svc_engine_free(e);
    return cli_fail("demo", err);
  }

  check_round_robin(e);
  check_hashing(e);
  check_set_target(e);
  check_tls(e);
  check_mtls(e);
  check_failover(e);
  check_active(e, backend_bin);

  svc_engine_free(e);
  svc_trust_store_free(g_ca);
  svc_cert_chain_free(g_client_chain);
  svc_private_key_free(g_client_key);
  printf("\n");
  if (g_failed) {
    printf("demo: %d checks passed, %d FAILED\n", g_passed, g_failed);
    return CLI_FAIL;
  }
  printf("demo: %d checks passed\n", g_passed);
  return CLI_OK;
}
