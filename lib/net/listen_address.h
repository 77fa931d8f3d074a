// --listen parsing and the socket's life: loopback or Unix socket by default;
// a non-loopback TCP address only with TLS or an explicit --insecure-listen.
#ifndef RESDB_TRACE_LIB_NET_LISTEN_ADDRESS_H_
#define RESDB_TRACE_LIB_NET_LISTEN_ADDRESS_H_

#include <sys/types.h>

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
  // The socket this process bound (RecordBoundSocket); CleanupListenAddress
  // removes the path only while it is still that inode.
  dev_t bound_dev = 0;
  ino_t bound_ino = 0;
};

// INVALID_ARGUMENT with the accepted forms when `spec` is malformed;
// PERMISSION_DENIED for a non-loopback TCP address without `insecure` (the
// caller passes true when the listen is TLS or --insecure-listen was given).
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& spec,
                                                 bool insecure);
// Creates the socket's directory (0750, given `socket_group` when set) and
// removes a stale socket file. INVALID_ARGUMENT for an unknown group.
// PERMISSION_DENIED for a directory another user could swap the socket in:
// one owned by neither root nor this user, or group- or world-writable
// without the sticky bit; or for a stale socket owned by another user.
// ALREADY_EXISTS when the path is not a socket (a symlink included).
absl::Status PrepareListenAddress(const ListenAddress& address);
// Restricts the socket to its owner and group (0660; `socket_group` when
// set).
absl::Status FinishListenAddress(const ListenAddress& address);
// Records the device and inode of the socket just bound at unix_path
// (which must be a socket owned by this user).
absl::Status RecordBoundSocket(ListenAddress* address);
// gRPC unlinks its listening path on Server::Shutdown, whoever's socket is
// there by then. So the collector binds a name of its own in the same
// directory (this path, unique to the process) ...
absl::StatusOr<std::string> PrivateSocketPath(const ListenAddress& address);
// ... and, once bound, restricts it (FinishListenAddress), renames it onto
// unix_path (atomically replacing a predecessor's socket) and records it
// (RecordBoundSocket).
absl::Status PublishSocket(ListenAddress* address,
                           const std::string& private_path);
// Removes the socket path: when RecordBoundSocket ran, only if it is still
// the socket this process bound (a collector started meanwhile on the same
// path keeps its socket).
void CleanupListenAddress(const ListenAddress& address);

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_LIB_NET_LISTEN_ADDRESS_H_
