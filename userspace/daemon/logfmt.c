// SPDX-License-Identifier: MIT
/*
 * katlsd's log lines: key=value (logfmt) values, and what keeps a line one
 * journal entry.  Values come from applications (executable paths, policy
 * and server names) and from peers (certificate subjects, workload paths):
 * escaped, none of them can end a line, forge a field or a "<N>" priority.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"

static bool bare(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v >= 0x7f || *v == '"' ||
		    *v == '=' || *v == '\\')
			return false;
	return true;
}

bool katlsd_logfmt(char *out, size_t out_len, size_t *len, const char *key, const char *value)
{
	size_t n = *len, need = strlen(key) + 2;	/* " key=" */

	if (bare(value)) {
		need += strlen(value);
		if (n + need >= out_len)
			return false;
		n += (size_t)snprintf(out + n, out_len - n, " %s=%s", key, value);
		*len = n;
		return true;
	}
	need += 2;	/* the quotes */
	for (const char *v = value; *v; v++) {
		unsigned char c = (unsigned char)*v;

		need += c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ? 2 :
			c < 0x20 || c >= 0x7f ? 4 : 1;
	}
	if (n + need >= out_len)
		return false;
	n += (size_t)snprintf(out + n, out_len - n, " %s=\"", key);
	for (const char *v = value; *v; v++) {
		unsigned char c = (unsigned char)*v;

		switch (c) {
		case '"': case '\\': out[n++] = '\\'; out[n++] = (char)c; break;
		case '\n': out[n++] = '\\'; out[n++] = 'n'; break;
		case '\r': out[n++] = '\\'; out[n++] = 'r'; break;
		case '\t': out[n++] = '\\'; out[n++] = 't'; break;
		default:
			if (c < 0x20 || c >= 0x7f)
				n += (size_t)snprintf(out + n, out_len - n, "\\x%02x", c);
			else
				out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	*len = n;
	return true;
}

/*
 * systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected to
 * standard output and error; it is inherited by children that may have
 * redirected stderr elsewhere, so the variable alone does not prove it.
 */
bool katlsd_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &tail) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void katlsd_log_sanitize(char *line)
{
	for (; *line; line++)
		if ((unsigned char)*line < 0x20 || *line == 0x7f)
			*line = '?';
}
