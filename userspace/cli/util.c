// SPDX-License-Identifier: MIT
/* Helpers shared by the katls subcommands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/katls.h>

#include "cli.h"

void katls_hex_str(char *out, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

void katls_hex(FILE *f, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

/* "0-7,10" -> mask; "none" -> 0; "all" -> every PCR. */
int katls_parse_pcr_list(const char *s, uint32_t *mask)
{
	char *end;

	*mask = 0;
	if (!strcmp(s, "none"))
		return 0;
	if (!strcmp(s, "all")) {
		*mask = KATLS_PCR_MASK_ALL;
		return 0;
	}
	while (*s) {
		unsigned long lo, hi;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		lo = hi = strtoul(s, &end, 10);
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				return -EINVAL;
			hi = strtoul(end + 1, &end, 10);
		}
		if (lo > hi || hi >= KATLS_NUM_PCRS)
			return -EINVAL;
		for (unsigned long i = lo; i <= hi; i++)
			*mask |= 1U << i;
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -EINVAL;
		s = end;
	}
	return 0;
}

void katls_err(const char *what, int err, const char *detail)
{
	fprintf(stderr, "katls: %s: %s%s%s\n", what, strerror(err < 0 ? -err : err),
		detail && *detail ? ": " : "", detail ? detail : "");
}

int katls_usage(void (*usage)(FILE *f), int c)
{
	usage(c == 'h' ? stdout : stderr);
	return c == 'h' ? KATLS_EXIT_OK : KATLS_EXIT_USAGE;
}

int katls_dispatch(const char *cmd, const struct katls_subcmd *sub, size_t n,
		   void (*usage)(FILE *f), int argc, char **argv)
{
	if (argc < 2)
		return katls_usage(usage, '?');
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return katls_usage(usage, 'h');
	for (size_t i = 0; i < n; i++)
		if (!strcmp(argv[1], sub[i].name))
			return sub[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "katls %s: unknown command '%s' (try 'katls %s --help')\n", cmd, argv[1],
		cmd);
	return KATLS_EXIT_USAGE;
}
