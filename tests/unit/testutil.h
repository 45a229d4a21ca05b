/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit tests (each tests/unit/test_*.c is its own
 * binary, so they are static inline).  Include after <cmocka.h>.
 */
#ifndef KATLS_TESTUTIL_H
#define KATLS_TESTUTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* tests/vectors/<rel>, found from $KATLS_TOP, the cwd or the binary's path. */
static inline char *vector_path(const char *rel)
{
	static char path[2 * PATH_MAX];
	char exe[PATH_MAX];
	const char *top = getenv("KATLS_TOP");
	ssize_t n;

	if (top) {
		snprintf(path, sizeof(path), "%s/tests/vectors/%s", top, rel);
		return path;
	}
	snprintf(path, sizeof(path), "tests/vectors/%s", rel);
	if (!access(path, R_OK))
		return path;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/tests/vectors/%s", exe, rel);
		if (!access(path, R_OK))
			return path;
	}
	fail_msg("vector %s not found (set KATLS_TOP)", rel);
	return NULL;
}

#endif /* KATLS_TESTUTIL_H */
