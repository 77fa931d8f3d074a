#!/usr/bin/env bash
# Installs every Debian package resdb_trace needs, and nothing else.
# Idempotent: when everything is already installed it changes nothing.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-platforms bazel-rules-java
  gcc g++ clang llvm binutils python3
  # libraries (headers + shared objects)
  libbpf-dev libelf-dev libdw-dev zlib1g-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libabsl-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  # BPF tooling: skeleton generation; bpftrace only for the seed comparison
  # in bench/
  bpftool bpftrace
  # tests: the ResilientDB patch check (git apply), the metrics scrape test,
  # the web view in a real browser (tests/e2e:web_test, headless)
  git prometheus chromium
  # hardening: libFuzzer runtime (scripts/fuzz.sh), certificates (tests/faults)
  libclang-rt-dev openssl
  # real ResilientDB, built offline (integrations/resilientdb/build.sh):
  # its libraries from Debian, bazel_skylib, asio for Crow, patch(1)
  libgoogle-glog-dev libgflags-dev libleveldb-dev libsnappy-dev
  libcrypto++-dev libboost-dev prometheus-cpp-dev libasio-dev bazel-skylib
  patch
)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (apt-get install needs it; the collector needs CAP_BPF and CAP_PERFMON anyway)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js runs the MCP test's client (the official MCP TypeScript SDK); any
# node >= 18 on PATH will do, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# tests/clients/mcp's npm dependencies (pinned by its package-lock.json), installed
# outside the clone so tests run offline. Skipped when the installed lock
# matches; a failed install (no network) keeps a previous one.
mcp_src="$(cd "$(dirname "$0")/.." && pwd)/tests/clients/mcp"
# The account's home from passwd, not $HOME: the test (under Bazel, which
# does not pass $HOME on) looks there.
user_home=$(getent passwd "$(id -u)" | cut -d: -f6)
mcp_dir="${RESDB_TRACE_NPM_DIR:-${user_home:-$HOME}/.cache/resdb_trace/npm/mcp}"
if [[ -f "$mcp_src/package-lock.json" ]]; then
  if cmp -s "$mcp_src/package-lock.json" "$mcp_dir/package-lock.json" &&
     [[ -d "$mcp_dir/node_modules/@modelcontextprotocol/sdk" ]]; then
    echo "setup: MCP test client dependencies present ($mcp_dir)"
  else
    echo "setup: npm ci for tests/clients/mcp into $mcp_dir"
    mkdir -p "$mcp_dir.new"
    cp "$mcp_src/package.json" "$mcp_src/package-lock.json" "$mcp_dir.new/"
    if (cd "$mcp_dir.new" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
          --cache "$(dirname "$mcp_dir")/cache" >/dev/null); then
      rm -rf "$mcp_dir" && mv "$mcp_dir.new" "$mcp_dir"
    else
      rm -rf "$mcp_dir.new"
      if [[ -d "$mcp_dir/node_modules" ]]; then
        echo "setup: npm ci failed (offline?); keeping $mcp_dir" >&2
      else
        echo "setup: npm ci failed (offline?); //tests/clients/mcp:mcp_test will fail until it succeeds" >&2
      fi
    fi
  fi
fi
