// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT
/*
 * The gate with attest rules (issue 14): the same programs and maps as
 * katls_gate.bpf.c, plus calls of katls.ko's kfunc katls_kf_attest().  It
 * loads only where katls.ko is loaded with its BTF; the loader
 * (userspace/lib/kernel/gate.c) picks it then, else the plain gate, under which an
 * attest rule refuses I/O like a require rule (fail closed).
 */
#define KATLS_GATE_ATTEST 1
#include "katls_gate.bpf.c"
