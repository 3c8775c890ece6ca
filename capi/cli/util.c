/* util.c: file reading, error printing, engine set-up and the health table
 * shared by the commands. See cli.h. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

char *cli_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t used = 0, cap = 0;
  int saved;
  if (!f) return NULL;
  for (;;) {
    size_t n;
    if (cap - used < 4096) {
      char *grown;
      cap = cap ? cap * 2 : 8192;
      grown = realloc(buf, cap + 1);
      if (!grown) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = grown;
    }
    n = fread(buf + used, 1, cap - used, f);
    used += n;
    if (n == 0) break;
  }
  saved = ferror(f) ? EIO : 0;
  fclose(f);
  if (saved) {
    free(buf);
    errno = saved;
    return NULL;
  }
  buf[used] = '\0';
  if (len) *len = used;
  return buf;
}

int cli_fail(const char *cmd, svc_error *err) {
  fprintf(stderr, "svc %s: %s: %s\n", cmd, svc_code_name(svc_error_code(err)), svc_error_message(err));
  svc_error_free(err);
  return CLI_FAIL;
}

svc_engine *cli_engine_from_config(const char *cmd, const char *config, const char *options) {
  svc_engine *e = NULL;
  svc_error *err = svc_engine_new(&e, options);
  char *text;
  size_t len = 0;
  if (err) {
    cli_fail(cmd, err);
    return NULL;
  }
  if (!config || strcmp(config, "-") == 0) return e;
  text = cli_read_file(config, &len);
  if (!text) {
    fprintf(stderr, "%s: cannot read the file: %s\n", config, strerror(errno));
    svc_engine_free(e);
    return NULL;
  }
  err = svc_engine_load_config(e, text, len);
  free(text);
  if (err) {
    /* svc's message already says where: upstreams[i] (name 'x'): field: reason */
    fprintf(stderr, "%s: %s\n", config, svc_error_message(err));
    svc_error_free(err);
    svc_engine_free(e);
    return NULL;
  }
  return e;
}

int cli_parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  long v;
  if (!s || !*s) return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end != '\0' || v < lo || v > hi || v > INT_MAX || v < INT_MIN) return -1;
  *out = (int)v;
  return 0;
}

/* "ip:port", with brackets for IPv6. */
static void format_address(char *buf, size_t cap, const char *ip, int port) {
  if (strchr(ip, ':')) snprintf(buf, cap, "[%s]:%d", ip, port);
  else snprintf(buf, cap, "%s:%d", ip, port);
}

int cli_print_health(FILE *out, const char *indent, const char *json) {
  json_value *root = json_parse(json);
  const json_value *weight, *data, *t;
  if (!root || root->type != JSON_OBJECT) {
    json_free(root);
    return -1;
  }
  weight = json_get(root, "weight");
  data = json_get(root, "data");
  fprintf(out, "%supstream %s: %s (weight total %.0f, available %.0f, unavailable %.0f)\n", indent,
          json_get_string(root, "name", "?"), json_get_string(root, "health", "?"),
          json_get_number(weight, "total", 0), json_get_number(weight, "available", 0),
          json_get_number(weight, "unavailable", 0));
  fprintf(out, "%s  %-24s %6s  %-16s  %s\n", indent, "TARGET", "WEIGHT", "HEALTH", "ADDRESSES");
  for (t = data ? data->child : NULL; t; t = t->next) {
    const json_value *addrs = json_get(json_get(t, "data"), "addresses"), *a;
    int first = 1;
    fprintf(out, "%s  %-24s %6.0f  %-16s", indent, json_get_string(t, "target", "?"),
            json_get_number(t, "weight", 0), json_get_string(t, "health", "?"));
    for (a = addrs ? addrs->child : NULL; a; a = a->next) {
      char addr[80];
      format_address(addr, sizeof addr, json_get_string(a, "ip", "?"), (int)json_get_number(a, "port", 0));
      if (!first) fprintf(out, "%s  %-24s %6s  %-16s", indent, "", "", "");
      fprintf(out, "  %-22s weight %-5.0f %s\n", addr, json_get_number(a, "weight", 0),
              json_get_string(a, "health", "?"));
      first = 0;
    }
    if (first) fprintf(out, "  (no address)\n");
  }
  json_free(root);
  return 0;
}
