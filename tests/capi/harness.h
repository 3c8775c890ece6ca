/*
 * harness.h: a tiny assertion harness for the C test programs of svc.h.
 *
 * Every check counts as passed or failed; a failure prints the file, the
 * line, the call and what came back. HARNESS_END() prints
 * "N passed, M failed" as the last line and returns non-zero on failure.
 *
 *   CHECK(cond)                          a plain condition
 *   CHECK_OK(call)                       call returns NULL (the error is freed)
 *   CHECK_ERR(call, SVC_EINVAL, "text")  exact code and exact message
 *   CHECK_ERR_PREFIX(call, code, "text") exact code, message starts with text
 *   CHECK_INT(a, b) / CHECK_STR(a, b)    equality, printing both sides
 *   CHECK_CONTAINS(haystack, needle)     substring
 *
 * Only <svc/svc.h> and the C standard library (plus nanosleep for the
 * bounded waits on callbacks, which run on an engine thread).
 */
#ifndef SVC_TESTS_CAPI_HARNESS_H
#define SVC_TESTS_CAPI_HARNESS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <svc/svc.h>

static int harness_passed = 0;
static int harness_failed = 0;
static const char *harness_section = "";

/* Names the group of checks that follow (printed with failures). */
#define SECTION(name) (harness_section = (name), printf("-- %s\n", harness_section))

static inline void harness_fail_head(const char *file, int line, const char *what) {
  ++harness_failed;
  printf("FAIL %s:%d [%s]: %s\n", file, line, harness_section, what);
}

#define CHECK(cond)                                           \
  do {                                                        \
    if (cond) {                                               \
      ++harness_passed;                                       \
    } else {                                                  \
      harness_fail_head(__FILE__, __LINE__, #cond);           \
    }                                                         \
  } while (0)

static inline void harness_check_ok(svc_error *e, const char *file, int line, const char *call) {
  if (e == NULL) {
    ++harness_passed;
    return;
  }
  harness_fail_head(file, line, call);
  printf("     expected success, got %s \"%s\"\n", svc_code_name(svc_error_code(e)),
         svc_error_message(e));
  svc_error_free(e);
}
#define CHECK_OK(call) harness_check_ok((call), __FILE__, __LINE__, #call)

/* prefix != 0: the message only has to start with `message`. */
static inline void harness_check_err(svc_error *e, svc_code code, const char *message, int prefix,
                                     const char *file, int line, const char *call) {
  if (e == NULL) {
    harness_fail_head(file, line, call);
    printf("     expected %s \"%s\", got success\n", svc_code_name(code), message);
    return;
  }
  const char *got = svc_error_message(e);
  const int same_text = prefix ? strncmp(got, message, strlen(message)) == 0
                               : strcmp(got, message) == 0;
  if (svc_error_code(e) == code && same_text) {
    ++harness_passed;
  } else {
    harness_fail_head(file, line, call);
    printf("     expected %s \"%s\"%s\n     got      %s \"%s\"\n", svc_code_name(code), message,
           prefix ? " (prefix)" : "", svc_code_name(svc_error_code(e)), got);
  }
  svc_error_free(e);
}
#define CHECK_ERR(call, code, message) \
  harness_check_err((call), (code), (message), 0, __FILE__, __LINE__, #call)
#define CHECK_ERR_PREFIX(call, code, message) \
  harness_check_err((call), (code), (message), 1, __FILE__, __LINE__, #call)

static inline void harness_check_int(long long a, long long b, const char *file, int line,
                                     const char *what) {
  if (a == b) {
    ++harness_passed;
    return;
  }
  harness_fail_head(file, line, what);
  printf("     got %lld, expected %lld\n", a, b);
}
#define CHECK_INT(a, b) harness_check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a " == " #b)

static inline void harness_check_str(const char *a, const char *b, const char *file, int line,
                                     const char *what) {
  if ((a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0)) {
    ++harness_passed;
    return;
  }
  harness_fail_head(file, line, what);
  printf("     got \"%s\", expected \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
}
#define CHECK_STR(a, b) harness_check_str((a), (b), __FILE__, __LINE__, #a " == " #b)

static inline void harness_check_contains(const char *hay, const char *needle, int want,
                                          const char *file, int line, const char *what) {
  const int found = hay != NULL && strstr(hay, needle) != NULL;
  if (found == want) {
    ++harness_passed;
    return;
  }
  harness_fail_head(file, line, what);
  printf("     \"%s\" %s \"%s\"\n", hay ? hay : "(null)", want ? "lacks" : "contains", needle);
}
#define CHECK_CONTAINS(hay, needle) \
  harness_check_contains((hay), (needle), 1, __FILE__, __LINE__, #hay " contains " #needle)
#define CHECK_NOT_CONTAINS(hay, needle) \
  harness_check_contains((hay), (needle), 0, __FILE__, __LINE__, #hay " lacks " #needle)

/* Prints the summary as the last line; the program's exit status. */
#define HARNESS_END()                                                  \
  do {                                                                 \
    printf("%d passed, %d failed\n", harness_passed, harness_failed);  \
    return harness_failed == 0 && harness_passed > 0 ? 0 : 1;          \
  } while (0)

/* ----- helpers shared by the programs ---------------------------------- */

/* Aborts the program (counted as a failure) when a setup step fails: the
 * checks after it would only report noise. */
static inline void harness_require(svc_error *e, const char *file, int line, const char *call) {
  if (e == NULL) return;
  harness_fail_head(file, line, call);
  printf("     setup failed: %s \"%s\"\n", svc_code_name(svc_error_code(e)), svc_error_message(e));
  svc_error_free(e);
  printf("%d passed, %d failed\n", harness_passed, harness_failed);
  exit(1);
}
#define REQUIRE_OK(call) harness_require((call), __FILE__, __LINE__, #call)

static inline svc_engine *new_engine(const char *options) {
  svc_engine *e = NULL;
  REQUIRE_OK(svc_engine_new(&e, options));
  return e;
}

static inline svc_request *new_request(svc_engine *e) {
  svc_request *r = NULL;
  REQUIRE_OK(svc_request_new(&r, e));
  return r;
}

/* Sleeps about one millisecond. */
static inline void sleep_ms(void) {
  struct timespec ts = {0, 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls an atomic counter until it reaches `want`, for at most ~5 s.
 * Returns 1 when it did. */
static inline int wait_count(atomic_int *counter, int want) {
  for (int i = 0; i < 5000; ++i) {
    if (atomic_load(counter) >= want) return 1;
    sleep_ms();
  }
  return atomic_load(counter) >= want;
}

/* One pick through a fresh request on `upstream`, reported OK. Writes the
 * picked "ip:port" into out (size cap); returns 0 on success. */
static inline int pick_once(svc_engine *e, const char *upstream, char *out, size_t cap) {
  svc_request *r = new_request(e);
  svc_error *err = svc_set_upstream(r, upstream);
  if (err == NULL) err = svc_request_pick(r);
  if (err != NULL) {
    printf("     pick_once(%s): %s \"%s\"\n", upstream, svc_code_name(svc_error_code(err)),
           svc_error_message(err));
    svc_error_free(err);
    svc_request_free(r);
    return -1;
  }
  snprintf(out, cap, "%s:%d", svc_request_peer_ip(r), svc_request_peer_port(r));
  err = svc_request_report(r, SVC_OUTCOME_OK, 0, 0);
  svc_error_free(err);
  svc_request_free(r);
  return 0;
}

/* Every lookup of the suites stays on loopback: engines without dns.servers
 * ask 127.0.0.1:1, where nothing answers (the system's resolver is never used). */
__attribute__((constructor)) static void svc_test_loopback_dns(void) { setenv("SVC_DNS_SERVERS", "127.0.0.1:1", 0); }

#endif /* SVC_TESTS_CAPI_HARNESS_H */
