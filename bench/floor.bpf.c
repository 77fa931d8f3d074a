// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/*
 * The kernel's floor for a traced hook: a uprobe whose program does nothing.
 * Everything a hit costs with this attached is the kernel's own uprobe path
 * (the nop5 trampoline call, the uprobe syscall, the handler chain, running
 * a BPF program); no tracer can be cheaper than this.
 */
/* clang-format off */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
/* clang-format on */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int floor_probe(struct pt_regs *ctx) { return 0; }
