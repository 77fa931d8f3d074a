// --listen parsing and the socket's life: loopback or Unix socket by default;
// a non-loopback TCP address only with TLS or an explicit --insecure-listen.
#ifndef RESDB_TRACE_LIB_NET_LISTEN_ADDRESS_H_
#define RESDB_TRACE_LIB_NET_LISTEN_ADDRESS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace resdb_trace::collector {

struct ListenAddress {
  std::string grpc_target;  // what grpc::ServerBuilder gets
  std::string unix_path;    // non-empty for a Unix socket
  bool loopback = false;    // TCP on 127.0.0.0/8, ::1 or localhost
  // Unix socket only: group that may connect (--socket-group); empty = the
  // collector's own group.
  std::string socket_group;
};

// INVALID_ARGUMENT with the accepted forms when `spec` is malformed;
// PERMISSION_DENIED for a non-loopback TCP address without `insecure` (the
// caller passes true when the listen is TLS or --insecure-listen was given).
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& spec,
                                                 bool insecure);
// Creates the socket's directory (0750, given `socket_group` when set) and
// removes a stale socket file. INVALID_ARGUMENT for an unknown group.
absl::Status PrepareListenAddress(const ListenAddress& address);
// Restricts the socket to its owner and group (0660; `socket_group` when
// set).
absl::Status FinishListenAddress(const ListenAddress& address);
void CleanupListenAddress(const ListenAddress& address);

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_LIB_NET_LISTEN_ADDRESS_H_
