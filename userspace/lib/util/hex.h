/* SPDX-License-Identifier: MIT */
/*
 * Hex digits, both ways: one definition for every parser and printer in
 * libkatls (JSON policies, the key log, the enrollment files and store).
 * Bounded formatting into a caller's buffer is katls_ima_format_hex().
 */
#ifndef KATLS_HEX_H
#define KATLS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The digit's value + 1 (0: not a hex digit): a table, since runtime policies are megabytes of hex. */
static const uint8_t katls_hex_val[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* 0..15 for a hex digit of either case, else -1. */
static inline int katls_hex_digit(char c)
{
	return katls_hex_val[(unsigned char)c] - 1;
}

/* The same for lower case only: canonical forms that are also compared as text. */
static inline int katls_hex_digit_lower(char c)
{
	return c >= 'A' && c <= 'F' ? -1 : katls_hex_digit(c);
}

/* Lower-case hex of @in into @out, which holds 2 * @len + 1 bytes; NUL-terminated. */
static inline void katls_hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

#endif /* KATLS_HEX_H */
