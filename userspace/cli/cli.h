/* SPDX-License-Identifier: MIT */
/* The katls command-line tool: subcommands and what they share. */
#ifndef KATLS_CLI_H
#define KATLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes: part of the interface, documented in katls(8). */
enum {
	KATLS_EXIT_OK = 0,
	KATLS_EXIT_FAIL = 1,		/* operation failed */
	KATLS_EXIT_USAGE = 2,		/* bad command line */
	KATLS_EXIT_NOMOD = 3,		/* katls.ko not loaded */
	KATLS_EXIT_REFUSED = 4,		/* attestation verdict negative */
	KATLS_EXIT_NOGATE = 5,		/* the BPF gate is not loaded */
	KATLS_EXIT_NOLSM = 6,		/* the kernel refuses BPF-LSM: the gate cannot enforce */
};

struct katls_subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

int status_main(int argc, char **argv);
int gate_main(int argc, char **argv);
int policy_main(int argc, char **argv);
int ima_main(int argc, char **argv);
int provision_main(int argc, char **argv);
int enroll_main(int argc, char **argv);
int serve_main(int argc, char **argv);
int connect_main(int argc, char **argv);
int verify_main(int argc, char **argv);

/* Shared helpers (util.c). */
void katls_hex(FILE *f, const uint8_t *p, size_t len);
void katls_hex_str(char *out, const uint8_t *p, size_t len);	/* out: 2*len+1 */
int katls_parse_pcr_list(const char *s, uint32_t *mask);
/*
 * Ends a subcommand's option loop: -h (@c == 'h') prints @usage on stdout
 * and returns KATLS_EXIT_OK, anything else prints it on stderr and returns
 * KATLS_EXIT_USAGE.
 */
int katls_usage(void (*usage)(FILE *f), int c);
/*
 * Runs the entry of @sub (@n of them) named by argv[1] of "katls @cmd ...";
 * -h, --help and help print @usage.  Return: the exit code.
 */
int katls_dispatch(const char *cmd, const struct katls_subcmd *sub, size_t n,
		   void (*usage)(FILE *f), int argc, char **argv);
/* Prints "katls: <what>: <strerror>" and the kernel's explanation if any. */
void katls_err(const char *what, int err, const char *detail);

#endif /* KATLS_CLI_H */
