// Additions to the throwaway test PKI that stand apart from GeneratePki's set.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace svc::testing {

// Writes self-signed.pem and self-signed.key into `dir` (created when
// missing, one level): an EC P-256 server certificate that is its own issuer
// (CN localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth, not a
// CA), valid from now-1h to now+30d. No other PKI file chains to it, so a
// client trusting ca.pem must reject it.
Status GenerateSelfSigned(const std::string& dir);

// The base names GenerateSelfSigned writes, in the order it writes them.
const std::vector<std::string>& SelfSignedFileNames();

}  // namespace svc::testing
