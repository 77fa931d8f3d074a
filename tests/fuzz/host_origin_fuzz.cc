// Fuzzes the Host/Origin checks every browser-facing endpoint runs. The
// input is "HOST\nORIGIN". Whatever is accepted must be what the policy
// documents: a Host that parses and is a loopback name, and an Origin that
// is absent or has Host's host (the default policy: no allowed names, no IP
// literals, no cross-origin loopback pages).
#include <string>
#include <string_view>

#include "lib/net/host_origin.h"
#include "tests/fuzz/fuzz_check.h"

namespace http = resdb_trace::collector::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string host(in.substr(0, nl));
  http::Request r;
  r.headers.emplace_back("host", host);
  const bool has_origin = nl != std::string_view::npos;
  const std::string origin = has_origin ? std::string(in.substr(nl + 1)) : "";
  if (has_origin) r.headers.emplace_back("origin", origin);
  const http::BrowserPolicy policy;
  const bool ok = !http::CheckBrowserRequest(r, policy).has_value();
  if (!ok) return 0;
  auto h = http::ParseHostHeader(host);
  FUZZ_CHECK(h.has_value());
  FUZZ_CHECK(http::IsLoopbackHost(h->host));
  if (has_origin) {
    auto o = http::ParseOrigin(origin);
    FUZZ_CHECK(o.has_value());
    FUZZ_CHECK(o->authority.host == h->host);
  }
  return 0;
}
