// svc-test-pki OUTDIR: writes the throwaway test PKI into OUTDIR and prints
// the path of each file written, one per line.
#include <cstdio>
#include <string>

#include "support/pki.h"

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '\0') {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argc > 0 ? argv[0] : "svc-test-pki");
    return 2;
  }
  const std::string dir = argv[1];
  svc::Status status = svc::testing::GeneratePki(dir);
  if (!status.ok()) {
    std::fprintf(stderr, "svc-test-pki: %s\n", status.message().c_str());
    return 1;
  }
  for (const std::string& name : svc::testing::PkiFileNames()) {
    std::printf("%s/%s\n", dir.c_str(), name.c_str());
  }
  return 0;
}
