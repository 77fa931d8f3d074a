#!/usr/bin/env bash
# Builds the seed corpus of elf_binary_fuzz: tiny real ELF files (a few KB,
# segments packed with 16-byte pages so the fuzzer's mutations reach every
# header) that define resdb_trace_* hooks and the semaphore table the way
# //:resdb_trace does, plus a few broken ones. Needs gcc (with -m32 for the
# 32-bit seed) and binutils. Usage: tests/fuzz/make_elf_seeds.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-corpus/elf_binary}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

hooks() {  # $1: instruction(s) of the 5-byte nop; $2: semaphore storage
  cat <<C
unsigned short resdb_trace_semaphores[64] $2;
__asm__(".globl resdb_trace_prepare_received\n"
        ".type resdb_trace_prepare_received,@function\n"
        "resdb_trace_prepare_received: $1\n ret\n"
        ".size resdb_trace_prepare_received,.-resdb_trace_prepare_received\n"
        ".globl resdb_trace_committed\n"
        ".type resdb_trace_committed,@function\n"
        "resdb_trace_committed: $1\n ret\n"
        ".size resdb_trace_committed,.-resdb_trace_committed\n");
void _start(void) {}
C
}
hooks '.byte 0x0f,0x1f,0x44,0x00,0x00' \
  '__attribute__((section(".probes"), used)) = {1}' >"$work/hooks.c"
hooks '.byte 0x0f,0x1f,0x44,0x00,0x00' '' >"$work/bss_table.c"
hooks 'nop' '__attribute__((section(".probes"), used)) = {1}' >"$work/hooks32.c"

small=(-O1 -g0 -nostdlib -fno-asynchronous-unwind-tables
  -Wl,-z,noseparate-code -Wl,-z,max-page-size=16 -Wl,-z,common-page-size=16
  -Wl,--build-id=sha1)
gcc "${small[@]}" -fPIE -pie -rdynamic -o "$out/pie_exports" "$work/hooks.c"
strip -o "$out/pie_stripped" "$out/pie_exports"
gcc "${small[@]}" -fPIC -shared -o "$out/shared_library" "$work/hooks.c"
gcc "${small[@]}" -no-pie -static -o "$out/static_exec" "$work/hooks.c"
gcc "${small[@]}" -fPIE -pie -rdynamic -o "$out/semaphores_in_bss" \
  "$work/bss_table.c"
gcc "${small[@]}" -m32 -fPIC -shared -o "$out/elf32_shared" "$work/hooks32.c"
gcc "${small[@]}" -fPIE -pie -Wl,--build-id=none -o "$out/no_build_id" \
  "$work/hooks.c"
head -c 40 "$out/pie_exports" >"$out/invalid_truncated_header"
head -c 700 "$out/pie_exports" >"$out/invalid_truncated_tables"
printf '#!/bin/sh\necho not an ELF file\n' >"$out/invalid_script"
chmod 644 "$out"/*
ls -l "$out"
