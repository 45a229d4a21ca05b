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

/* 0..15 for a hex digit of either case, else -1. */
static inline int katls_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
