/* svc: the command-line tool of svc, written in C against <svc/svc.h> only.
 *
 *   svc check CONFIG                 validate a Kong declarative file
 *   svc pick CONFIG UPSTREAM         show the peers the balancer picks
 *   svc get CONFIG URL|UPSTREAM PATH one GET through svc_request_send
 *   svc health CONFIG UPSTREAM       the health table of an upstream
 *   svc demo                         local backends, a guided tour with checks
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *synopsis;
  const char *help;
} command;

static const command commands[] = {
    {"check", cmd_check, "svc check CONFIG",
     "Validates a Kong declarative file (YAML or JSON) by loading it into a fresh engine.\n"
     "Prints \"ok: N upstreams, M targets\" and exits 0, or prints the problem as\n"
     "\"CONFIG: <message>\" (the message names upstreams[i], the field and the reason)\n"
     "and exits 1.\n"},
    {"pick", cmd_pick, "svc pick CONFIG UPSTREAM [--key K] [-n N]",
     "Shows the peer the balancer of UPSTREAM picks for N requests (default 10), one\n"
     "per line as \"ip:port (host)\". Each request is reported as a success, so the\n"
     "sequence is the balancer's schedule with every peer healthy.\n"
     "  --key K   the consistent-hashing input (svc_set_hash_key), for every request\n"
     "  -n N      the number of requests (1..1000000)\n"},
    {"get", cmd_get, "svc get CONFIG URL|UPSTREAM [PATH] [options]",
     "Performs one GET with svc_request_send (retries, pooling, TLS policy, passive\n"
     "health) and prints \"HTTP <status> from <ip>:<port> (tries <n>)\", the headers\n"
     "with -v, then the body. The target is an upstream of CONFIG, or a URL such as\n"
     "https://localhost:8443/path (svc_set_target with its host and port; its scheme).\n"
     "Use \"-\" as CONFIG for no configuration. PATH defaults to the URL's path or \"/\".\n"
     "Exits 0 when a response came back (whatever its status), 1 on an error.\n"
     "  --cert F --key F [--pass P]  client certificate chain and key (PEM files)\n"
     "  --ca F                       trust store: the CA certificates of PEM file F\n"
     "  --no-verify                  do not verify the server certificate\n"
     "  --depth N                    maximum verification depth\n"
     "  --retries N                  retries after the first try (default 5)\n"
     "  --timeout MS                 connect, write and read timeouts in milliseconds\n"
     "  --scheme http|https          scheme for an UPSTREAM (default http)\n"
     "  -H 'Name: value'             a request header; may be repeated\n"
     "  -v                           print the response headers\n"},
    {"health", cmd_health, "svc health CONFIG UPSTREAM",
     "Loads CONFIG and prints the health of UPSTREAM (svc_upstream_health) as a table:\n"
     "each target with its weight and health, and each of its addresses.\n"},
    {"demo", cmd_demo, "svc demo [--bin-dir DIR]",
     "Starts local test backends (3 plain, 1 TLS, 1 mutual-TLS) on 127.0.0.1 with a\n"
     "throwaway PKI in a temporary directory, and checks, one line each: round-robin\n"
     "by weight, consistent hashing, set_target, TLS verification, mutual TLS, and a\n"
     "backend killed mid-run (retries, passive health). Ends with \"demo: N checks\n"
     "passed\"; exits 1 when a check fails. Backends and files are removed at exit.\n"
     "svc-test-backend and svc-test-pki are looked up in --bin-dir DIR, then\n"
     "$SVC_TEST_BACKEND / $SVC_TEST_PKI, then next to this program, then in the build\n"
     "tree this program was built in.\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name) {
  size_t i;
  for (i = 0; i < NCOMMANDS; ++i)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void print_overview(FILE *out) {
  size_t i;
  fprintf(out, "svc %s: Kong's service balancer and upstream connections, from the command line\n\n",
          svc_version());
  fprintf(out, "usage:\n");
  for (i = 0; i < NCOMMANDS; ++i) fprintf(out, "  %s\n", commands[i].synopsis);
  fprintf(out, "  svc help COMMAND\n  svc --version\n\n");
  fprintf(out, "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "svc %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  if (find_command(cmd)) fprintf(stderr, "usage: %s\nTry 'svc help %s'.\n", find_command(cmd)->synopsis, cmd);
  return CLI_USAGE;
}

static int help(const char *name) {
  const command *c;
  if (!name) {
    print_overview(stdout);
    return CLI_OK;
  }
  if (!(c = find_command(name))) {
    fprintf(stderr, "svc help: no command '%s'\nTry 'svc --help'.\n", name);
    return CLI_USAGE;
  }
  printf("usage: %s\n\n%s", c->synopsis, c->help);
  return CLI_OK;
}

int main(int argc, char **argv) {
  const command *c;
  int i;
  if (argc < 2) {
    print_overview(stderr);
    return CLI_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return help(NULL);
  if (strcmp(argv[1], "--version") == 0) {
    printf("svc %s (libsvc %s)\n", SVC_VERSION_STRING, svc_version());
    return CLI_OK;
  }
  if (strcmp(argv[1], "help") == 0) {
    if (argc > 3) {
      fprintf(stderr, "svc help: one COMMAND at most\n");
      return CLI_USAGE;
    }
    return help(argc == 3 ? argv[2] : NULL);
  }
  if (!(c = find_command(argv[1]))) {
    fprintf(stderr, "svc: unknown command '%s'\nTry 'svc --help'.\n", argv[1]);
    return CLI_USAGE;
  }
  for (i = 2; i < argc; ++i)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return help(c->name);
  return c->run(argc - 1, argv + 1);
}
