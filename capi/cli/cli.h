/*
 * cli.h: the svc command-line tool's internal interface. Everything here is
 * written against <svc/svc.h> only: the tool proves that the C ABI is enough.
 */
#ifndef SVC_CLI_H
#define SVC_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <svc/svc.h>

/* Exit codes: 0 success, 1 the operation failed, 2 a usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ----- svc.c: help and usage -------------------------------------------- */

/* Prints "svc CMD: <message>" and "Try 'svc help CMD'." on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);

/* ----- util.c ------------------------------------------------------------ */

/* Reads a whole file (NUL-terminated; *len without the NUL). NULL with errno set on failure.
 * Free with free(). */
char *cli_read_file(const char *path, size_t *len);

/* Prints "svc CMD: SVC_CODE: message" on stderr, frees err, returns CLI_FAIL. */
int cli_fail(const char *cmd, svc_error *err);

/* Creates an engine (options JSON or NULL) and loads the file CONFIG into it
 * unless config is NULL or "-". On failure prints why ("CONFIG: message") and
 * returns NULL. */
svc_engine *cli_engine_from_config(const char *cmd, const char *config, const char *options);

/* Parses a non-negative decimal int in [lo, hi]; returns 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, int *out);

/* Prints svc_upstream_health's JSON as a table. Returns 0, or -1 when the
 * JSON is not the expected shape. */
int cli_print_health(FILE *out, const char *indent, const char *json);

/* ----- json.c: a small JSON reader for svc's own outputs ----------------- */

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
  json_type type;
  char *key;                 /* member name inside an object, else NULL */
  char *string;              /* JSON_STRING */
  double number;             /* JSON_NUMBER, JSON_BOOL (0/1) */
  struct json_value *child;  /* first element or member */
  struct json_value *next;   /* next sibling */
} json_value;

/* Parses text; NULL on a syntax error or out of memory. Free with json_free. */
json_value *json_parse(const char *text);
void json_free(json_value *v);
/* The member `key` of an object, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
/* The member's string, or fallback when absent or not a string. */
const char *json_get_string(const json_value *obj, const char *key, const char *fallback);
/* The member's number, or fallback. */
double json_get_number(const json_value *obj, const char *key, double fallback);
/* Number of elements of an array or members of an object (0 otherwise). */
size_t json_length(const json_value *v);

/* ----- commands ---------------------------------------------------------- */

int cmd_check(int argc, char **argv);
int cmd_pick(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_demo(int argc, char **argv);

#endif /* SVC_CLI_H */
