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
  # BPF tooling: skeleton generation; bpftrace only for the seed comparison
  # in bench/
  bpftool bpftrace
  # tests: the ResilientDB patch check (git apply), the metrics scrape test
  git prometheus
  # hardening: libFuzzer runtime (scripts/fuzz.sh), certificates (tests/faults)
  libclang-rt-dev openssl
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

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
