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

// GeneratePki into "<a fresh /tmp/<prefix>-XXXXXX>/pki"; *dir receives that
// path. What a test suite's SetUpTestSuite calls.
Status GenerateTempPki(const std::string& prefix, std::string* dir);

// The contents of dir/name ("" when it cannot be read): a PEM file of the PKI.
std::string ReadPkiFile(const std::string& dir, const std::string& name);

// Writes self-signed.pem and self-signed.key into `dir` (created when
// missing, one level): an EC P-256 server certificate that is its own issuer
// (CN localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth, not a
// CA), valid from now-1h to now+30d. No other PKI file chains to it, so a
// client trusting ca.pem must reject it.
Status GenerateSelfSigned(const std::string& dir);

// The base names GenerateSelfSigned writes, in the order it writes them.
const std::vector<std::string>& SelfSignedFileNames();

// The passphrase of client-encrypted.key.
inline constexpr const char kPkiPassphrase[] = "s3cret";

}  // namespace svc::testing
