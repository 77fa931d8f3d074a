// TLS for the gRPC listen and for clients: PEM files → gRPC credentials, with
// errors that name the flag and the file.
#ifndef RESDB_TRACE_LIB_NET_TLS_CREDENTIALS_H_
#define RESDB_TRACE_LIB_NET_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace resdb_trace::collector {

// The collector's --tls-cert/--tls-key/--tls-client-ca.
struct ServerTlsFiles {
  std::string cert;       // PEM certificate chain presented to clients
  std::string key;        // PEM private key of `cert`
  std::string client_ca;  // PEM CA bundle; non-empty = mTLS: clients must
                          // present a certificate that chains to it
  bool enabled() const {
    return !cert.empty() || !key.empty() || !client_ca.empty();
  }
};

// Plaintext credentials when `files` is empty; TLS (mTLS with a client CA)
// otherwise. INVALID_ARGUMENT when only one of cert/key is given, a client
// CA comes without them, or a file is missing, unreadable or not PEM.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files);

// A client's --tls-ca/--tls-cert/--tls-key.
struct ClientTlsFiles {
  std::string ca;    // PEM CA bundle that signed the collector's certificate
  std::string cert;  // PEM client certificate (for an mTLS collector)
  std::string key;   // PEM private key of `cert`
  bool enabled() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

// Insecure credentials when `files` is empty; TLS otherwise (with `ca` empty
// the system roots verify the collector).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTlsFiles& files);

// The whole of a PEM file; INVALID_ARGUMENT naming `flag` if it cannot be
// read or holds no "-----BEGIN" block.
absl::StatusOr<std::string> ReadPemFile(const std::string& flag,
                                        const std::string& path);

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_LIB_NET_TLS_CREDENTIALS_H_
