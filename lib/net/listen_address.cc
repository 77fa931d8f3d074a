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

// The socket's directory (followed if a symlink, as /var/run is) must not
// let another user remove or replace entries: owned by root or by us, and
// not group- or world-writable unless sticky (/tmp).
absl::Status CheckSocketDirectory(const std::string& path,
                                  const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "--listen unix://%s: stat %s: %s", path, dir, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--listen unix://%s: %s is not a directory", path, dir));
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "--listen unix://%s: directory %s belongs to uid %u, who could "
        "replace the socket; use a directory owned by root or by this user",
        path, dir, st.st_uid));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "--listen unix://%s: directory %s is writable by others (mode %04o) "
        "and not sticky, so another user could replace the socket",
        path, dir, st.st_mode & 07777));
  }
  return absl::OkStatus();
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
  if (absl::Status s = CheckSocketDirectory(a.unix_path, dir.string());
      !s.ok()) {
    return s;
  }
  struct stat st;
  if (lstat(a.unix_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "--listen unix://%s: exists and is not a socket", a.unix_path));
    }
    if (st.st_uid != geteuid()) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "--listen unix://%s: a socket of uid %u is there; remove it or "
          "choose another path",
          a.unix_path, st.st_uid));
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

absl::Status RecordBoundSocket(ListenAddress* a) {
  if (a->unix_path.empty()) return absl::OkStatus();
  struct stat st;
  if (lstat(a->unix_path.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrFormat(
        "stat %s after bind: %s", a->unix_path, std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "--listen unix://%s: replaced right after bind; not our socket",
        a->unix_path));
  }
  a->bound_dev = st.st_dev;
  a->bound_ino = st.st_ino;
  return absl::OkStatus();
}

absl::StatusOr<std::string> PrivateSocketPath(const ListenAddress& a) {
  const std::string dir =
      std::filesystem::path(a.unix_path).parent_path().string();
  const std::string path = absl::StrFormat("%s/.bind-%d", dir, getpid());
  if (path.size() >= 108) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--listen unix://%s: the directory's path is too long to bind in "
        "(%s is over 107 bytes)",
        a.unix_path, path));
  }
  return path;
}

absl::Status PublishSocket(ListenAddress* a, const std::string& private_path) {
  ListenAddress bound = *a;
  bound.unix_path = private_path;
  if (absl::Status s = FinishListenAddress(bound); !s.ok()) return s;
  if (absl::Status s = RecordBoundSocket(&bound); !s.ok()) return s;
  if (rename(private_path.c_str(), a->unix_path.c_str()) != 0) {
    return absl::InternalError(absl::StrFormat("rename %s to %s: %s",
                                               private_path, a->unix_path,
                                               std::strerror(errno)));
  }
  return RecordBoundSocket(a);
}

void CleanupListenAddress(const ListenAddress& a) {
  if (a.unix_path.empty()) return;
  if (a.bound_ino != 0) {
    struct stat st;
    if (lstat(a.unix_path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) ||
        st.st_dev != a.bound_dev || st.st_ino != a.bound_ino) {
      return;  // another process's socket now, or gone
    }
  }
  unlink(a.unix_path.c_str());
}

}  // namespace resdb_trace::collector
