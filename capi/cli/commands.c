/* commands.c: svc check, svc pick, svc get, svc health. See cli.h. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ===== svc check ========================================================= */

/* Candidate upstream names: every value of a `name` key in the document,
 * YAML (`name: web`, `- name: "web"`, `{name: web}`) or JSON (`"name": "web"`).
 * svc.h cannot list the upstreams of an engine, so the candidates are
 * confirmed with svc_upstream_get. Returns the count; names are malloc'ed. */
static size_t name_candidates(const char *text, char ***out) {
  char **names = NULL;
  size_t n = 0, cap = 0;
  const char *p = text;
  while ((p = strstr(p, "name")) != NULL) {
    const char *q = p + 4, *start, *end;
    char quote = 0;
    size_t i, len;
    int dup = 0;
    if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-')) {
      p = q;
      continue;
    }
    if (p > text && (p[-1] == '"' || p[-1] == '\'')) {
      if (*q != p[-1]) {
        p = q;
        continue;
      }
      ++q;
    }
    while (*q == ' ' || *q == '\t') ++q;
    if (*q != ':') {
      p = q;
      continue;
    }
    ++q;
    while (*q == ' ' || *q == '\t') ++q;
    if (*q == '"' || *q == '\'') quote = *q++;
    start = q;
    if (quote) {
      while (*q && *q != quote && *q != '\n') q += (*q == '\\' && quote == '"' && q[1]) ? 2 : 1;
      end = q;
    } else {
      while (*q && !strchr(",}]\n\r#", *q)) ++q;
      end = q;
      while (end > start && (end[-1] == ' ' || end[-1] == '\t')) --end;
    }
    p = q;
    len = (size_t)(end - start);
    if (len == 0) continue;
    for (i = 0; i < n; ++i)
      if (strlen(names[i]) == len && strncmp(names[i], start, len) == 0) dup = 1;
    if (dup) continue;
    if (n == cap) {
      char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
      if (!grown) break;
      names = grown;
    }
    if (!(names[n] = malloc(len + 1))) break;
    memcpy(names[n], start, len);
    names[n][len] = '\0';
    ++n;
  }
  *out = names;
  return n;
}

int cmd_check(int argc, char **argv) {
  const char *config = NULL;
  svc_engine *e;
  char *text, **names = NULL;
  size_t len = 0, n, i, upstreams = 0, targets = 0;
  int k;
  for (k = 1; k < argc; ++k) {
    if (argv[k][0] == '-' && argv[k][1] != '\0') return cli_usage_error("check", "unknown option '%s'", argv[k]);
    if (config) return cli_usage_error("check", "one CONFIG file only (got '%s' and '%s')", config, argv[k]);
    config = argv[k];
  }
  if (!config || strcmp(config, "-") == 0) return cli_usage_error("check", "missing CONFIG (a YAML or JSON file)");
  e = cli_engine_from_config("check", config, NULL);
  if (!e) return CLI_FAIL;
  text = cli_read_file(config, &len);
  n = text ? name_candidates(text, &names) : 0;
  for (i = 0; i < n; ++i) {
    char *json = NULL;
    svc_error *err = svc_upstream_get(e, names[i], &json);
    if (!err) {
      json_value *v = json_parse(json);
      ++upstreams;
      targets += json_length(json_get(v, "targets"));
      json_free(v);
    }
    svc_error_free(err);
    svc_free(json);
    free(names[i]);
  }
  free(names);
  free(text);
  svc_engine_free(e);
  printf("ok: %zu upstream%s, %zu target%s\n", upstreams, upstreams == 1 ? "" : "s", targets,
         targets == 1 ? "" : "s");
  return CLI_OK;
}

/* ===== svc pick ========================================================== */

int cmd_pick(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL}, *key = NULL;
  int npos = 0, count = 10, k, i, rc = CLI_OK;
  svc_engine *e;
  for (k = 1; k < argc; ++k) {
    const char *a = argv[k];
    if (strcmp(a, "--key") == 0) {
      if (++k >= argc) return cli_usage_error("pick", "--key needs a value");
      key = argv[k];
    } else if (strcmp(a, "-n") == 0) {
      if (++k >= argc || cli_parse_int(argv[k], 1, 1000000, &count) != 0)
        return cli_usage_error("pick", "-n needs a number of requests between 1 and 1000000");
    } else if (a[0] == '-' && a[1] != '\0') {
      return cli_usage_error("pick", "unknown option '%s'", a);
    } else if (npos < 2) {
      pos[npos++] = a;
    } else {
      return cli_usage_error("pick", "unexpected argument '%s'", a);
    }
  }
  if (npos < 2) return cli_usage_error("pick", "missing %s", npos == 0 ? "CONFIG and UPSTREAM" : "UPSTREAM");
  if (strcmp(pos[0], "-") == 0) return cli_usage_error("pick", "CONFIG is needed to know UPSTREAM '%s'", pos[1]);
  if (!(e = cli_engine_from_config("pick", pos[0], NULL))) return CLI_FAIL;
  for (i = 0; i < count && rc == CLI_OK; ++i) {
    svc_request *r = NULL;
    svc_error *err;
    if ((err = svc_request_new(&r, e)) || (err = svc_set_upstream(r, pos[1])) ||
        (key && (err = svc_set_hash_key(r, key, strlen(key)))) || (err = svc_request_pick(r))) {
      rc = cli_fail("pick", err);
    } else {
      const char *ip = svc_request_peer_ip(r);
      printf(strchr(ip, ':') ? "[%s]:%d (%s)\n" : "%s:%d (%s)\n", ip, svc_request_peer_port(r),
             svc_request_peer_host(r));
      /* The try "worked": releases least-connections' count, feeds no failure. */
      svc_error_free(svc_request_report(r, SVC_OUTCOME_OK, 0, 0));
    }
    svc_request_free(r);
  }
  svc_engine_free(e);
  return rc;
}

/* ===== svc get =========================================================== */

typedef struct url {
  char scheme[8];
  char host[256];
  int port;
  const char *path; /* into the URL text; "" when none */
} url;

/* scheme://host[:port][/path], host may be [v6]. Returns 0, or -1 with why. */
static int parse_url(const char *text, url *u, const char **why) {
  const char *p = strstr(text, "://"), *h, *e;
  size_t n;
  if (!p || (size_t)(p - text) >= sizeof u->scheme) return *why = "expected scheme://host[:port]", -1;
  n = (size_t)(p - text);
  memcpy(u->scheme, text, n);
  u->scheme[n] = '\0';
  for (n = 0; u->scheme[n]; ++n) u->scheme[n] = (char)tolower((unsigned char)u->scheme[n]);
  if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
    return *why = "the scheme must be http or https", -1;
  h = p + 3;
  if (*h == '[') {
    e = strchr(++h, ']');
    if (!e) return *why = "missing ']' after an IPv6 address", -1;
    n = (size_t)(e - h);
    ++e;
  } else {
    e = h + strcspn(h, ":/?#");
    n = (size_t)(e - h);
  }
  if (n == 0 || n >= sizeof u->host) return *why = "missing or too long host", -1;
  memcpy(u->host, h, n);
  u->host[n] = '\0';
  u->port = strcmp(u->scheme, "https") == 0 ? 443 : 80;
  if (*e == ':') {
    char digits[8];
    size_t d = strspn(e + 1, "0123456789");
    if (d == 0 || d >= sizeof digits) return *why = "bad port", -1;
    memcpy(digits, e + 1, d);
    digits[d] = '\0';
    if (cli_parse_int(digits, 1, 65535, &u->port) != 0) return *why = "the port must be 1..65535", -1;
    e += 1 + d;
  }
  if (*e != '\0' && *e != '/' && *e != '?') return *why = "unexpected text after the host", -1;
  u->path = e;
  return 0;
}

int cmd_get(int argc, char **argv) {
  const char *pos[3] = {NULL, NULL, NULL}, *cert = NULL, *keyf = NULL, *pass = NULL, *ca = NULL;
  const char *scheme = NULL, *path, *why = NULL;
  const char **headers;
  int npos = 0, nheaders = 0, verify = 1, depth = -1, retries = -1, timeout = -1, verbose = 0, k;
  int rc = CLI_FAIL;
  url u;
  int is_url;
  svc_engine *e = NULL;
  svc_request *r = NULL;
  svc_response *res = NULL;
  svc_cert_chain *chain = NULL;
  svc_private_key *key = NULL;
  svc_trust_store *store = NULL;
  svc_error *err = NULL;

  headers = calloc((size_t)argc + 1, sizeof *headers);
  if (!headers) return CLI_FAIL;
  for (k = 1; k < argc; ++k) {
    const char *a = argv[k];
#define NEED_VALUE(opt)                                                      \
  do {                                                                       \
    if (++k >= argc) {                                                       \
      free(headers);                                                         \
      return cli_usage_error("get", "%s needs a value", opt);                \
    }                                                                        \
  } while (0)
    if (strcmp(a, "--cert") == 0) { NEED_VALUE(a); cert = argv[k]; }
    else if (strcmp(a, "--key") == 0) { NEED_VALUE(a); keyf = argv[k]; }
    else if (strcmp(a, "--pass") == 0) { NEED_VALUE(a); pass = argv[k]; }
    else if (strcmp(a, "--ca") == 0) { NEED_VALUE(a); ca = argv[k]; }
    else if (strcmp(a, "--scheme") == 0) { NEED_VALUE(a); scheme = argv[k]; }
    else if (strcmp(a, "--no-verify") == 0) verify = 0;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) verbose = 1;
    else if (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) { NEED_VALUE(a); headers[nheaders++] = argv[k]; }
    else if (strcmp(a, "--depth") == 0 || strcmp(a, "--retries") == 0 || strcmp(a, "--timeout") == 0) {
      int *dst = a[2] == 'd' ? &depth : a[2] == 'r' ? &retries : &timeout;
      long lo = a[2] == 't' ? 1 : 0, hi = a[2] == 'r' ? 32767 : a[2] == 't' ? 2147483646L : 100;
      NEED_VALUE(a);
      if (cli_parse_int(argv[k], lo, hi, dst) != 0) {
        free(headers);
        return cli_usage_error("get", "%s needs an integer between %ld and %ld, not '%s'", a, lo, hi, argv[k]);
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      free(headers);
      return cli_usage_error("get", "unknown option '%s'", a);
    } else if (npos < 3) {
      pos[npos++] = a;
    } else {
      free(headers);
      return cli_usage_error("get", "unexpected argument '%s'", a);
    }
#undef NEED_VALUE
  }
  if (npos < 2) {
    free(headers);
    return cli_usage_error("get", "missing %s", npos == 0 ? "CONFIG and URL-or-UPSTREAM" : "URL-or-UPSTREAM");
  }
  if ((cert != NULL) != (keyf != NULL)) {
    free(headers);
    return cli_usage_error("get", "--cert and --key go together");
  }
  is_url = strstr(pos[1], "://") != NULL;
  if (is_url && parse_url(pos[1], &u, &why) != 0) {
    free(headers);
    return cli_usage_error("get", "bad URL '%s': %s", pos[1], why);
  }
  if (!is_url && strcmp(pos[0], "-") == 0) {
    free(headers);
    return cli_usage_error("get", "'%s' is not a URL, and without a CONFIG it cannot be an upstream", pos[1]);
  }
  path = pos[2];
  if (is_url && *u.path) {
    if (path) {
      free(headers);
      return cli_usage_error("get", "give the path either in the URL or as PATH, not both");
    }
    path = u.path[0] == '?' ? NULL : u.path;
  }
  if (!path) path = "/";
  if (path[0] != '/') {
    free(headers);
    return cli_usage_error("get", "PATH must start with '/', not '%s'", path);
  }
  if (is_url && scheme) {
    free(headers);
    return cli_usage_error("get", "--scheme is for an upstream; a URL has its own scheme");
  }

  if (!(e = cli_engine_from_config("get", pos[0], NULL))) goto done;
  if ((err = svc_request_new(&r, e))) goto done;
  if (is_url) {
    if ((err = svc_set_target(r, u.host, u.port)) || (err = svc_request_set_scheme(r, u.scheme))) goto done;
  } else {
    if ((err = svc_set_upstream(r, pos[1])) || (scheme && (err = svc_request_set_scheme(r, scheme)))) goto done;
  }
  if (cert) {
    size_t clen = 0, klen = 0;
    char *cpem = cli_read_file(cert, &clen), *kpem = cpem ? cli_read_file(keyf, &klen) : NULL;
    if (!cpem || !kpem) {
      fprintf(stderr, "svc get: cannot read %s\n", cpem ? keyf : cert);
      free(cpem);
      goto done;
    }
    if (!(err = svc_cert_chain_parse_pem(&chain, cpem, clen)) &&
        !(err = svc_private_key_parse_pem(&key, kpem, klen, pass)))
      err = svc_set_tls_cert_key(r, chain, key);
    free(cpem);
    free(kpem);
    if (err) goto done;
  }
  if (ca && ((err = svc_trust_store_new(&store)) || (err = svc_trust_store_load_file(store, ca)) ||
             (err = svc_set_tls_verify_store(r, store))))
    goto done;
  if (!verify && (err = svc_set_tls_verify(r, 0))) goto done;
  if (depth >= 0 && (err = svc_set_tls_verify_depth(r, depth))) goto done;
  if (retries >= 0 && (err = svc_set_retries(r, retries))) goto done;
  if (timeout > 0 && (err = svc_set_timeouts(r, timeout, timeout, timeout))) goto done;
  if ((err = svc_request_send(r, "GET", path, nheaders ? headers : NULL, NULL, 0, &res))) goto done;

  {
    const char *ip = svc_response_peer_ip(res);
    size_t blen = 0, i, n = svc_response_header_count(res);
    const char *body = svc_response_body(res, &blen);
    printf(strchr(ip, ':') ? "HTTP %d from [%s]:%d (tries %d)\n" : "HTTP %d from %s:%d (tries %d)\n",
           svc_response_status(res), ip, svc_response_peer_port(res), svc_request_tries(r));
    if (verbose) {
      for (i = 0; i < n; ++i) {
        const char *name, *value;
        if (svc_response_header_at(res, i, &name, &value)) printf("%s: %s\n", name, value);
      }
      printf("\n");
    }
    fwrite(body, 1, blen, stdout);
    if (blen && body[blen - 1] != '\n' && isatty(STDOUT_FILENO)) printf("\n");
    rc = CLI_OK;
  }
done:
  if (err) rc = cli_fail("get", err);
  svc_response_free(res);
  svc_request_free(r);
  svc_cert_chain_free(chain);
  svc_private_key_free(key);
  svc_trust_store_free(store);
  svc_engine_free(e);
  free(headers);
  return rc;
}

/* ===== svc health ======================================================== */

int cmd_health(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  int npos = 0, k, rc = CLI_OK;
  svc_engine *e;
  char *json = NULL;
  svc_error *err;
  for (k = 1; k < argc; ++k) {
    if (argv[k][0] == '-' && argv[k][1] != '\0') return cli_usage_error("health", "unknown option '%s'", argv[k]);
    if (npos == 2) return cli_usage_error("health", "unexpected argument '%s'", argv[k]);
    pos[npos++] = argv[k];
  }
  if (npos < 2) return cli_usage_error("health", "missing %s", npos == 0 ? "CONFIG and UPSTREAM" : "UPSTREAM");
  if (strcmp(pos[0], "-") == 0) return cli_usage_error("health", "CONFIG is needed to know UPSTREAM '%s'", pos[1]);
  if (!(e = cli_engine_from_config("health", pos[0], NULL))) return CLI_FAIL;
  if ((err = svc_upstream_health(e, pos[1], &json))) {
    rc = cli_fail("health", err);
  } else if (cli_print_health(stdout, "", json) != 0) {
    printf("%s\n", json); /* not the shape this tool knows: show it as it is */
  }
  svc_free(json);
  svc_engine_free(e);
  return rc;
}
