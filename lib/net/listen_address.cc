#include "lib/net/listen_address.h"

#include <arpa/inet.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace resdb_trace::collector {
namespace {

constexpr char kForms[] =
    "expected unix:///ABSOLUTE/PATH, 127.0.0.1:PORT, [::1]:PORT or "
    "localhost:PORT";

// A host name or an address that merely starts with "127." (127.evil.com)
// can resolve anywhere: only localhost, [::1] and numeric 127.0.0.0/8.
bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  in_addr addr;
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 &&
         (ntohl(addr.s_addr) >> 24) == 127;
}

// The gid of --socket-group NAME (or a numeric gid).
absl::StatusOr<gid_t> GroupId(const std::string& name) {
  struct group grp;
  struct group* found = nullptr;
  char buf[16384];
  if (getgrnam_r(name.c_str(), &grp, buf, sizeof(buf), &found) == 0 &&
      found != nullptr) {
    return found->gr_gid;
  }
  uint32_t gid = 0;
  if (absl::SimpleAtoi(name, &gid)) return static_cast<gid_t>(gid);
  return absl::InvalidArgumentError(absl::StrFormat(
      "--socket-group %s: no such group (see /etc/group; create it with "
      "groupadd %s)",
      name, name));
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& spec,
                                                 bool insecure) {
  ListenAddress a;
  if (absl::StartsWith(spec, "unix:")) {
    std::string path = spec.substr(5);
    if (absl::StartsWith(path, "//")) path = path.substr(2);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--listen %s: a Unix socket needs an absolute path; %s", spec,
          kForms));
    }
    if (path.size() >= 108) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--listen %s: socket path longer than 107 bytes", spec));
    }
    a.unix_path = path;
    a.grpc_target = "unix://" + path;
    return a;
  }
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--listen %s: %s", spec, kForms));
  }
  std::string host = spec.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(spec.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--listen %s: bad port; %s", spec, kForms));
  }
  a.loopback = IsLoopbackHost(host);
  if (!a.loopback && !insecure) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "--listen %s: %s is not a loopback address; give --tls-cert FILE "
        "--tls-key FILE (and --tls-client-ca FILE for client certificates), "
        "or pass --insecure-listen to expose the event stream unencrypted "
        "and unauthenticated",
        spec, host));
  }
  a.grpc_target = spec;
  return a;
}

absl::Status PrepareListenAddress(const ListenAddress& a) {
  if (a.unix_path.empty()) return absl::OkStatus();
  gid_t gid = static_cast<gid_t>(-1);
  if (!a.socket_group.empty()) {
    absl::StatusOr<gid_t> g = GroupId(a.socket_group);
    if (!g.ok()) return g.status();
    gid = *g;
  }
  std::filesystem::path dir = std::filesystem::path(a.unix_path).parent_path();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrFormat("--listen unix://%s: cannot create %s: %s",
                          a.unix_path, dir.string(), ec.message()));
    }
    chmod(dir.c_str(), 0750);
    // Members of the group must be able to reach the socket inside.
    if (gid != static_cast<gid_t>(-1) && chown(dir.c_str(), -1, gid) != 0) {
      return absl::PermissionDeniedError(
          absl::StrFormat("--socket-group %s: chgrp %s: %s", a.socket_group,
                          dir.string(), std::strerror(errno)));
    }
  }
  struct stat st;
  if (lstat(a.unix_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "--listen unix://%s: exists and is not a socket", a.unix_path));
    }
    unlink(a.unix_path.c_str());  // stale socket of a previous run
  }
  return absl::OkStatus();
}

absl::Status FinishListenAddress(const ListenAddress& a) {
  if (a.unix_path.empty()) return absl::OkStatus();
  if (chmod(a.unix_path.c_str(), 0660) != 0) {
    return absl::InternalError(absl::StrFormat("chmod 0660 %s: %s", a.unix_path,
                                               std::strerror(errno)));
  }
  if (!a.socket_group.empty()) {
    absl::StatusOr<gid_t> gid = GroupId(a.socket_group);
    if (!gid.ok()) return gid.status();
    if (chown(a.unix_path.c_str(), -1, *gid) != 0) {
      return absl::PermissionDeniedError(
          absl::StrFormat("--socket-group %s: chgrp %s: %s", a.socket_group,
                          a.unix_path, std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

void CleanupListenAddress(const ListenAddress& a) {
  if (!a.unix_path.empty()) unlink(a.unix_path.c_str());
}

}  // namespace resdb_trace::collector
