#include "collector/profile/proc_maps.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace resdb_trace::collector::profile {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// Takes the next whitespace-delimited token off the front of `s`.
std::string_view NextToken(std::string_view& s) {
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  size_t j = i;
  while (j < s.size() && !IsSpace(s[j])) ++j;
  std::string_view token = s.substr(i, j - i);
  s.remove_prefix(j);
  return token;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseHex(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

std::optional<MapsEntry> ParseProcMapsLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  MapsEntry e;

  std::string_view range = NextToken(line);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos ||
      !ParseHex(range.substr(0, dash), &e.start) ||
      !ParseHex(range.substr(dash + 1), &e.end) || e.start >= e.end) {
    return std::nullopt;
  }

  std::string_view perms = NextToken(line);
  if (perms.size() != 4) return std::nullopt;
  auto flag = [](char c, char set) -> std::optional<bool> {
    if (c == set) return true;
    if (c == '-') return false;
    return std::nullopt;
  };
  std::optional<bool> r = flag(perms[0], 'r');
  std::optional<bool> w = flag(perms[1], 'w');
  std::optional<bool> x = flag(perms[2], 'x');
  if (!r || !w || !x || (perms[3] != 's' && perms[3] != 'p')) {
    return std::nullopt;
  }
  e.read = *r;
  e.write = *w;
  e.exec = *x;
  e.shared = perms[3] == 's';

  if (!ParseHex(NextToken(line), &e.offset)) return std::nullopt;

  std::string_view dev = NextToken(line);
  size_t colon = dev.find(':');
  uint64_t major = 0;
  uint64_t minor = 0;
  if (colon == std::string_view::npos ||
      !ParseHex(dev.substr(0, colon), &major) ||
      !ParseHex(dev.substr(colon + 1), &minor) || major > UINT32_MAX ||
      minor > UINT32_MAX) {
    return std::nullopt;
  }
  e.dev_major = static_cast<uint32_t>(major);
  e.dev_minor = static_cast<uint32_t>(minor);

  if (!ParseDecimal(NextToken(line), &e.inode)) return std::nullopt;

  // the pathname is the rest of the line after the padding; it may contain
  // spaces (and even end in them), so it is not tokenized
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  std::string_view path = line.substr(i);
  if (path.size() >= kDeletedSuffix.size() &&
      path.substr(path.size() - kDeletedSuffix.size()) == kDeletedSuffix) {
    e.deleted = true;
    path.remove_suffix(kDeletedSuffix.size());
  }
  e.path = std::string(path);
  return e;
}

ProcMaps ParseProcMaps(std::string_view text) {
  ProcMaps maps;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    std::optional<MapsEntry> e = ParseProcMapsLine(line);
    if (e) {
      maps.entries.push_back(std::move(*e));
    } else {
      ++maps.malformed_lines;
    }
  }
  return maps;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open ", path));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

absl::StatusOr<ProcMaps> ReadProcMaps(uint32_t pid,
                                      const std::string& proc_root) {
  std::string path = absl::StrCat(proc_root, "/", pid, "/maps");
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(
          absl::StrCat("process ", pid, " does not exist (no ", path, ")"));
    }
    return text.status();
  }
  // a process that exited while we read leaves an empty file behind
  return ParseProcMaps(*text);
}

}  // namespace resdb_trace::collector::profile
