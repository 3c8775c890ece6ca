// svc-test-backend: the one test backend the C++, C, Python and Go suites
// start. Prints "LISTENING <port>" on stdout, then serves; protocol in
// backend.md, options in --help.
#include <csignal>
#include <cstdio>
#include <string>

#include "support/backend_options.h"
#include "support/backend_server.h"
#include "support/pki.h"

int main(int argc, char** argv) {
  svc::testing::BackendOptions options;
  svc::Status status = svc::testing::ParseBackendOptions(argc, argv, &options);
  if (!status.ok()) {
    std::fprintf(stderr, "svc-test-backend: %s\n", status.message().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(svc::testing::BackendUsage(), stdout);
    return 0;
  }
  if (!options.write_self_signed.empty()) {
    status = svc::testing::GenerateSelfSigned(options.write_self_signed);
    if (!status.ok()) {
      std::fprintf(stderr, "svc-test-backend: %s\n", status.message().c_str());
      return 1;
    }
    for (const std::string& name : svc::testing::SelfSignedFileNames()) {
      std::printf("%s/%s\n", options.write_self_signed.c_str(), name.c_str());
    }
    return 0;
  }

  std::signal(SIGPIPE, SIG_IGN);
  status = svc::testing::RunBackend(options, [](uint16_t port) {
    std::printf("LISTENING %u\n", static_cast<unsigned>(port));
    std::fflush(stdout);
  });
  if (!status.ok()) {
    std::fprintf(stderr, "svc-test-backend: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
