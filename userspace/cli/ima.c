// SPDX-License-Identifier: MIT
/* katls ima dump: the binary IMA measurement list, read through katls.ko. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel/nl.h"

/* A dump that races new measurements is restarted this many times at most. */
#define DUMP_TRIES 8

struct records {
	uint8_t *p;
	size_t len, cap;
	uint64_t generation;
	uint64_t count;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls ima dump [--start N] [--output FILE]\n\n"
		"Write the kernel's binary IMA measurement list (the bytes of\n"
		"binary_runtime_measurements) from record N (default 0) up to the\n"
		"snapshot katls.ko took when the dump started.  A dump that raced new\n"
		"measurements is restarted.  Needs CAP_SYS_ADMIN.  The record count and\n"
		"generation of the snapshot go to stderr.\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 3 katls.ko not loaded.\n");
}

static int add_records(const uint8_t *p, size_t len, uint64_t gen, uint64_t count, void *arg)
{
	struct records *r = arg;

	r->generation = gen;
	r->count = count;
	if (r->len + len > r->cap) {
		size_t cap = (r->cap ? r->cap * 2 : 65536) + len;
		uint8_t *n = realloc(r->p, cap);

		if (!n)
			return -ENOMEM;
		r->p = n;
		r->cap = cap;
	}
	if (len)
		memcpy(r->p + r->len, p, len);
	r->len += len;
	return 0;
}

static int dump(struct katls_nl *nl, uint64_t start, struct records *r, int *restarts)
{
	int ret = -EINTR;

	for (*restarts = 0; *restarts < DUMP_TRIES; (*restarts)++) {
		r->len = 0;
		ret = katls_nl_ima_dump(nl, start, add_records, r);
		if (ret != -EINTR)
			break;
	}
	return ret;
}

static int dump_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "start", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct records r = { 0 };
	const char *output = NULL;
	uint64_t start = 0;
	struct katls_nl *nl;
	int c, ret, restarts;
	char *end;
	FILE *f;

	while ((c = getopt_long(argc, argv, "s:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			errno = 0;
			start = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-') {
				fprintf(stderr, "katls ima dump: bad record index '%s'\n", optarg);
				return KATLS_EXIT_USAGE;
			}
			break;
		case 'o':
			output = optarg;
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc)
		return katls_usage(usage, '?');
	ret = katls_nl_open(&nl);
	if (ret == -ENOENT) {
		fprintf(stderr, "katls: kernel module not loaded (no generic netlink family '%s')\n",
			KATLS_GENL_NAME);
		return KATLS_EXIT_NOMOD;
	}
	if (ret) {
		katls_err("netlink", ret, NULL);
		return KATLS_EXIT_FAIL;
	}
	ret = dump(nl, start, &r, &restarts);
	if (ret) {
		katls_err(ret == -EINTR ? "IMA_GET (kept racing new measurements)" : "IMA_GET",
			  ret, katls_nl_errmsg(nl));
		katls_nl_close(nl);
		free(r.p);
		return KATLS_EXIT_FAIL;
	}
	katls_nl_close(nl);
	f = output ? fopen(output, "wb") : stdout;
	if (!f || fwrite(r.p ? (void *)r.p : (void *)"", 1, r.len, f) != r.len ||
	    (output ? fclose(f) : fflush(f))) {
		katls_err(output ? output : "stdout", -errno, NULL);
		free(r.p);
		return KATLS_EXIT_FAIL;
	}
	fprintf(stderr, "katls: IMA records %" PRIu64 "..%" PRIu64 " (%zu bytes), generation %"
		PRIu64 ", %d restart(s)\n", start, r.count, r.len, r.generation, restarts);
	free(r.p);
	return KATLS_EXIT_OK;
}

int ima_main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "dump"))
		return dump_main(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return KATLS_EXIT_OK;
	}
	usage(stderr);
	return KATLS_EXIT_USAGE;
}
