// SPDX-License-Identifier: MIT
/*
 * imarace: IMA_GET consistency and STATE_CHANGED events, in the VM.
 *   imarace dump BIN OUT   first dump: after its first part, run BIN (a binary
 *                          never run before, so IMA measures it); the dump must
 *                          report the race (-EINTR).  Then dump again until
 *                          it completes; write those records to OUT.  Prints
 *                          parts, bytes, snapshot count.
 *   imarace events BIN     join the events group, run BIN, expect
 *                          STATE_CHANGED with a newer generation within 5 s.
 * Exit 0 only if every check passes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/nl.h"

struct acc {
	const char *bin;
	FILE *out;
	int parts;
	size_t bytes;
	uint64_t count, generation;
};

static int on_records(const uint8_t *p, size_t len, uint64_t gen, uint64_t count, void *arg)
{
	struct acc *a = arg;

	if (a->parts++ == 0 && a->bin && system(a->bin) != 0)
		return -ECHILD;
	if (a->out && len && fwrite(p, 1, len, a->out) != len)
		return -EIO;
	a->bytes += len;
	a->count = count;
	a->generation = gen;
	return 0;
}

static int cmd_dump(struct katls_nl *nl, const char *bin, const char *out)
{
	struct acc a = { .bin = bin };
	int ret, tries;

	ret = katls_nl_ima_dump(nl, 0, on_records, &a);
	printf("racing dump: %d (%s), %d part(s), %zu bytes, count %llu\n", ret, strerror(-ret),
	       a.parts, a.bytes, (unsigned long long)a.count);
	if (a.parts < 2)
		return fprintf(stderr, "FAIL: the IMA list fits one message: no race possible\n"), 1;
	if (ret != -EINTR)
		return fprintf(stderr, "FAIL: a dump racing a new measurement was not flagged\n"), 1;
	for (tries = 0; tries < 5; tries++) {
		memset(&a, 0, sizeof(a));
		a.out = fopen(out, "wb");
		if (!a.out)
			return perror(out), 1;
		ret = katls_nl_ima_dump(nl, 0, on_records, &a);
		fclose(a.out);
		if (ret != -EINTR)
			break;
	}
	printf("restarted dump: %d (%s) after %d restart(s), %d part(s), %zu bytes, count %llu, "
	       "generation %llu\n", ret, strerror(-ret), tries, a.parts, a.bytes,
	       (unsigned long long)a.count, (unsigned long long)a.generation);
	if (ret)
		return fprintf(stderr, "FAIL: restarted dump: %s (%s)\n", strerror(-ret),
			       katls_nl_errmsg(nl)), 1;
	return 0;
}

static int cmd_events(struct katls_nl *ev_nl, struct katls_nl *nl, const char *bin)
{
	struct katls_state st;
	struct katls_event ev;
	int ret, i;

	ret = katls_nl_state_get(nl, 0, &st);
	if (ret)
		return fprintf(stderr, "FAIL: STATE_GET: %s\n", strerror(-ret)), 1;
	if (system(bin) != 0)
		return fprintf(stderr, "FAIL: running %s\n", bin), 1;
	for (i = 0; i < 50; i++) {
		ret = katls_nl_event_next(ev_nl, &ev, 100);
		if (ret != -ETIMEDOUT)
			printf("event: %d cmd %u generation %llu IMA count %llu\n", ret, ev.cmd,
			       (unsigned long long)ev.generation, (unsigned long long)ev.ima_count);
		if (ret == 0 && ev.cmd == KATLS_CMD_STATE_CHANGED && ev.generation > st.generation) {
			printf("STATE_CHANGED: generation %llu -> %llu, IMA count %llu -> %llu\n",
			       (unsigned long long)st.generation,
			       (unsigned long long)ev.generation,
			       (unsigned long long)st.ima_count,
			       (unsigned long long)ev.ima_count);
			if (ev.ima_count <= st.ima_count)
				return fprintf(stderr, "FAIL: IMA count did not grow\n"), 1;
			return 0;
		}
	}
	return fprintf(stderr, "FAIL: no STATE_CHANGED within 5 s of a new measurement\n"), 1;
}

int main(int argc, char **argv)
{
	struct katls_nl *nl, *ev_nl;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return fprintf(stderr, "usage: imarace dump BIN OUT | events BIN\n"), 2;
	if ((ret = katls_nl_open(&nl)))
		return fprintf(stderr, "imarace: %s\n", strerror(-ret)), 1;
	if (!strcmp(argv[1], "dump") && argc == 4)
		return cmd_dump(nl, argv[2], argv[3]);
	if (!strcmp(argv[1], "events")) {
		if ((ret = katls_nl_open(&ev_nl)) || (ret = katls_nl_events_join(ev_nl)))
			return fprintf(stderr, "imarace: events: %s\n", strerror(-ret)), 1;
		return cmd_events(ev_nl, nl, argv[2]);
	}
	return 2;
}
