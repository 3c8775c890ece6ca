// Throwaway test PKI shared by the C++, C, Python and Go suites: EC P-256
// keys and certificates written as PEM files into one directory.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace svc::testing {

// Writes the files named by PkiFileNames() into `dir` (created when missing,
// one level): a root CA and an unrelated root, an intermediate, server
// leaves (valid, expired, wrong host), a client leaf and keys. Certificates
// are valid from now-1h to now+30d (expired: now-30d to now-1d), with random
// serials; keys are unencrypted PKCS#8 except client-encrypted.key
// (passphrase "s3cret", PBES2 AES-256-CBC).
Status GeneratePki(const std::string& dir);

// The base names GeneratePki writes, in the order it writes them.
const std::vector<std::string>& PkiFileNames();

// The passphrase of client-encrypted.key.
inline constexpr const char kPkiPassphrase[] = "s3cret";

}  // namespace svc::testing
