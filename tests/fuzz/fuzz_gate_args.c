// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the gate CLI's argument parsers (gate.h).  Byte 0
 * selects the parser (mod 4: CIDR, port, age, policy name); the rest,
 * NUL-terminated, is the argument.  Accepted values must be in range (a
 * CIDR must also survive katls_gate_format_prefix() and a second parse),
 * rejections must explain themselves in katls_gate_errmsg().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "kernel/gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cidr(const char *s)
{
	struct katls_gate_rule r = { 0 }, again = { 0 };
	char text[INET6_ADDRSTRLEN + 8];

	if (katls_gate_parse_cidr(s, &r.family, r.addr, &r.prefix_len)) {
		if (!*katls_gate_errmsg())
			__builtin_trap();
		return;
	}
	if (!(r.family == KATLS_FAM_V4 && r.prefix_len <= 32) &&
	    !(r.family == KATLS_FAM_V6 && r.prefix_len <= 128))
		__builtin_trap();
	katls_gate_format_prefix(&r, text, sizeof(text));
	if (katls_gate_parse_cidr(text, &again.family, again.addr, &again.prefix_len) ||
	    again.family != r.family || again.prefix_len != r.prefix_len ||
	    memcmp(again.addr, r.addr, sizeof(r.addr)))
		__builtin_trap();	/* the canonical form parses to the same prefix */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t port = 0;
	uint32_t age = 0;
	size_t n;
	char *s;

	if (!size)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	n = strlen(s);
	switch (data[0] & 3) {
	case 0:
		check_cidr(s);
		break;
	case 1:
		if (!katls_gate_parse_port(s, &port) ? !port : !*katls_gate_errmsg())
			__builtin_trap();
		break;
	case 2:
		if (katls_gate_parse_age(s, &age) && !*katls_gate_errmsg())
			__builtin_trap();
		break;
	default:
		if (katls_gate_policy_name_valid(s) && (!n || n >= KATLS_POLICY_NAME_LEN))
			__builtin_trap();
		break;
	}
	free(s);
	return 0;
}
