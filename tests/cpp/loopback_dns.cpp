// Every lookup of this suite stays on loopback: engines created without
// dns.servers ask 127.0.0.1:1, where nothing answers, instead of the
// system's resolver. Runs before any test (static initialisation).
#include <cstdlib>

namespace {
const bool kLoopbackDns = [] { return setenv("SVC_DNS_SERVERS", "127.0.0.1:1", 0) == 0; }();
}  // namespace
