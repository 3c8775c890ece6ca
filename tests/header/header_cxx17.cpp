// svc.h compiles as C++17 with -Wall -Wextra -pedantic -Werror: extern "C"
// linkage, no C-only constructs, callbacks usable from C++ lambdas.
#include <svc/svc.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace {

struct ErrorFree {
  void operator()(svc_error* e) const { svc_error_free(e); }
};
using ErrorPtr = std::unique_ptr<svc_error, ErrorFree>;

}  // namespace

int main() {
  svc_health_cb hcb = [](void*, const char*, const char*, const char*, int) {};
  svc_log_cb lcb = [](void*, int, const char*) {};
  (void)hcb;
  (void)lcb;
  static_assert(SVC_OK == 0, "SVC_OK is 0");
  static_assert(SVC_EINTERNAL == 14, "codes are append-only");
  ErrorPtr err(svc_engine_new(nullptr, nullptr));
  if (!err || svc_error_code(err.get()) != SVC_EINVAL) {
    std::printf("c++17: svc_engine_new(NULL) did not fail with SVC_EINVAL\n");
    return 1;
  }
  if (std::strcmp(svc_version(), SVC_VERSION_STRING) != 0) {
    std::printf("c++17: version mismatch\n");
    return 1;
  }
  std::printf("c++17: svc %s, %s\n", svc_version(), svc_code_name(svc_error_code(err.get())));
  return 0;
}
