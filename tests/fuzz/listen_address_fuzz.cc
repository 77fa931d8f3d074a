// Fuzzes --listen parsing. The input is the flag's value (up to its first
// NUL: argv cannot carry one). Whatever ParseListenAddress accepts must be
// what the flag documents: an absolute Unix socket path that fits sun_path,
// or HOST:PORT with a port in 0..65535, and without --insecure-listen only a
// host that really is loopback (localhost, [::1] or an IPv4 address in
// 127.0.0.0/8), since the event stream is unauthenticated.
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "lib/net/listen_address.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using resdb_trace::collector::ListenAddress;
using resdb_trace::collector::ParseListenAddress;

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  in_addr a;
  return inet_pton(AF_INET, host.c_str(), &a) == 1 &&
         (ntohl(a.s_addr) >> 24) == 127;
}

bool SameAddress(const ListenAddress& a, const ListenAddress& b) {
  return a.grpc_target == b.grpc_target && a.unix_path == b.unix_path &&
         a.loopback == b.loopback;
}

void CheckAccepted(const std::string& spec, const ListenAddress& a,
                   bool insecure) {
  if (!a.unix_path.empty()) {
    FUZZ_CHECK(spec.rfind("unix:", 0) == 0);
    FUZZ_CHECK(a.unix_path[0] == '/');
    FUZZ_CHECK(a.unix_path.size() < 108);  // sizeof(sockaddr_un::sun_path)
    FUZZ_CHECK(a.grpc_target == "unix://" + a.unix_path);
    FUZZ_CHECK(!a.loopback);
    return;
  }
  FUZZ_CHECK(a.grpc_target == spec);
  const size_t colon = spec.rfind(':');
  FUZZ_CHECK(colon != std::string::npos && colon > 0);
  const std::string host = spec.substr(0, colon);
  uint32_t port = 0;
  FUZZ_CHECK(absl::SimpleAtoi(spec.substr(colon + 1), &port));
  FUZZ_CHECK(port <= 65535);
  FUZZ_CHECK(a.loopback == IsLoopbackHost(host));
  if (!insecure) FUZZ_CHECK(a.loopback);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* chars = reinterpret_cast<const char*>(data);
  const std::string spec(chars, strnlen(chars, size));

  const auto safe = ParseListenAddress(spec, /*insecure=*/false);
  const auto insecure = ParseListenAddress(spec, /*insecure=*/true);
  if (safe.ok()) {
    CheckAccepted(spec, *safe, false);
    FUZZ_CHECK(insecure.ok() && SameAddress(*safe, *insecure));
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(safe.status()) ||
               absl::IsPermissionDenied(safe.status()));
  }
  if (insecure.ok()) {
    CheckAccepted(spec, *insecure, true);
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(insecure.status()));
  }
  return 0;
}
