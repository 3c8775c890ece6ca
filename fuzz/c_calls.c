/* fuzz_setters passes any int for an enum parameter, as a C caller may: in C
 * an enum argument is just an int, while in C++ loading an out-of-range
 * value of the enum type is undefined before the call is even made. */
#include "svc/svc.h"

svc_error *fuzz_request_set_phase(svc_request *r, int phase) {
  return svc_request_set_phase(r, (svc_phase)phase);
}

svc_error *fuzz_request_set_hash_input(svc_request *r, int kind, const char *name, const char *value) {
  return svc_request_set_hash_input(r, (svc_hash_on)kind, name, value);
}

svc_error *fuzz_request_report(svc_request *r, int outcome, int http_status, uint32_t latency_us) {
  return svc_request_report(r, (svc_outcome)outcome, http_status, latency_us);
}

svc_error *fuzz_error_new(int code, const char *message) { return svc_error_new((svc_code)code, message); }

const char *fuzz_code_name(int code) { return svc_code_name((svc_code)code); }

int fuzz_error_code(const svc_error *e) { return (int)svc_error_code(e); }

int fuzz_request_phase(const svc_request *r) { return (int)svc_request_phase(r); }
