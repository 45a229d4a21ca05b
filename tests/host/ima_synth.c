// SPDX-License-Identifier: MIT
/*
 * ima_synth - write a faithful synthetic binary IMA measurement list.
 *
 * Records are what the kernel writes to binary_runtime_measurements_sha256
 * (or, with --sha1, binary_runtime_measurements): ima-ng or ima-sig
 * template, SHA-256 d-ng file digests.  stdout gets one line per record: the
 * SHA-256 template digest that the kernel extends into PCR 10 (ffff... for a
 * violation), ready for `tpm2_pcrextend 10:sha256=<hex>`, so a test can make
 * a swtpm's PCR 10 agree with the log.  See --help.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <openssl/evp.h>

#include "appraisal/ima.h"
#include "util/buf.h"

#define MAX_ENTRIES_ARGS 4096

static const char usage[] =
	"usage: ima_synth --out FILE [options]\n"
	"\n"
	"Writes a binary IMA measurement list to FILE and prints, one per line, the\n"
	"SHA-256 template digest of each record (what PCR 10 is extended with;\n"
	"all ff for a violation).  Records, in this order: the boot aggregate, each\n"
	"--file and --violation in command-line order, then --count synthetic ones.\n"
	"\n"
	"  -o, --out FILE            the binary log to write (required)\n"
	"  -n, --count N             N synthetic entries /usr/bin/synth0..N-1 whose file\n"
	"                            digest is SHA-256 of the path string\n"
	"  -f, --file PATH           measure a real file: SHA-256 of its content\n"
	"                            (repeatable; ima-sig also records its security.ima)\n"
	"  -V, --violation PATH      a measurement violation (ToMToU) for PATH (repeatable)\n"
	"  -b, --boot-aggregate HEX  first record: boot_aggregate with this SHA-256\n"
	"                            (default: that of a fresh swtpm, whose PCRs 0-9\n"
	"                            are zero: SHA-256 of 320 zero bytes)\n"
	"  -t, --template NAME       ima-ng (default) or ima-sig\n"
	"  -1, --sha1                write the SHA-1 file variant (20-byte template\n"
	"                            digests, binary_runtime_measurements); stdout still\n"
	"                            lists SHA-256 template digests\n"
	"  -a, --allowlist FILE      also write a Keylime runtime policy listing every\n"
	"                            entry's digest (not boot_aggregate, not violations)\n"
	"  -h, --help                this text\n"
	"\n"
	"Exit status: 0 on success, 1 on an error, 2 on a usage error.\n";

struct item {
	const char *path;
	bool violation;
};

struct synth {
	struct katls_buf log;
	struct katls_buf allow;
	unsigned int tpl;
	size_t dsize;
	size_t num;
};

static int hex_to_bytes(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int file_sha256(const char *path, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	int ok = ctx && f && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	size_t n;

	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = EVP_DigestUpdate(ctx, buf, n);
	ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, out, NULL);
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* JSON string literal of @s into @b. */
static int put_json_str(struct katls_buf *b, const char *s)
{
	int ret = katls_put_u8(b, '"');

	for (; *s && !ret; s++) {
		char esc[8];

		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = *s;
			ret = katls_put_bytes(b, esc, 2);
		} else if ((unsigned char)*s < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*s);
			ret = katls_put_bytes(b, esc, 6);
		} else {
			ret = katls_put_u8(b, (uint8_t)*s);
		}
	}
	return ret ?: katls_put_u8(b, '"');
}

static int allow_entry(struct synth *s, const char *path, const uint8_t *digest)
{
	char hex[65];
	int ret = 0;

	if (s->allow.len)
		ret = katls_put_bytes(&s->allow, ", ", 2);
	ret = ret ?: put_json_str(&s->allow, path) ?: katls_put_bytes(&s->allow, ": [\"", 4);
	katls_ima_format_hex(hex, sizeof(hex), digest, 32);
	return ret ?: katls_put_bytes(&s->allow, hex, 64) ?:
		katls_put_bytes(&s->allow, "\"]", 2);
}

/* Appends one record and prints its SHA-256 template digest. */
static int add(struct synth *s, const char *path, const uint8_t *digest, bool violation,
	       const uint8_t *sig, size_t sig_len, bool listed)
{
	static const uint8_t zero[32];
	struct katls_ima_entry e = { .pcr = KATLS_IMA_PCR, .tpl = s->tpl,
				     .hash_name = "sha256", .path = path,
				     .file_digest = violation ? zero : digest,
				     .file_digest_len = 32, .violation = violation,
				     .extra = sig, .extra_len = sig_len };
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	size_t start = s->log.len;
	uint8_t t[32];
	char hex[65], msg[256];
	int ret = katls_ima_record_encode(&s->log, &e, s->dsize);

	if (ret)
		return ret;
	katls_ima_iter_init(&it, s->log.data + start, s->log.len - start, s->dsize, 0);
	if (katls_ima_iter_next(&it, &rec, msg, sizeof(msg)) != 1) {
		fprintf(stderr, "ima_synth: %s\n", msg);
		return -EINVAL;
	}
	if (violation)
		memset(t, 0xff, sizeof(t));
	else if ((ret = katls_ima_template_digest(&rec, KATLS_IMA_SHA256, t)))
		return ret;
	printf("%s\n", katls_ima_format_hex(hex, sizeof(hex), t, sizeof(t)));
	s->num++;
	return listed && !violation ? allow_entry(s, path, digest) : 0;
}

static int add_file(struct synth *s, const char *path)
{
	uint8_t d[32], sig[1024];
	ssize_t sig_len = 0;

	if (file_sha256(path, d)) {
		fprintf(stderr, "ima_synth: cannot read %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	if (s->tpl == KATLS_IMA_TPL_SIG) {
		sig_len = lgetxattr(path, "security.ima", sig, sizeof(sig));
		/* The kernel records only signatures (types 3, 5, 6), not hashes. */
		if (sig_len < 9 || (sig[0] != 3 && sig[0] != 5 && sig[0] != 6))
			sig_len = 0;
	}
	return add(s, path, d, false, sig, (size_t)sig_len, true);
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, n, f) == n;

	if (f && fclose(f))
		ok = 0;
	if (!ok)
		fprintf(stderr, "ima_synth: cannot write %s: %s\n", path, strerror(errno));
	return ok ? 0 : -EIO;
}

static int write_allowlist(struct synth *s, const char *path)
{
	static const char tail[] =
		"}, \"excludes\": [], \"keyrings\": {}, \"ima\": {\"ignored_keyrings\": [], "
		"\"log_hash_alg\": \"sha1\", \"dm_policy\": null}, \"ima-buf\": {}, "
		"\"verification-keys\": \"\"}\n";
	static const char head[] =
		"{\"meta\": {\"version\": 1, \"generator\": 0}, \"release\": 0, \"digests\": {";
	struct katls_buf b = KATLS_BUF_INIT;
	int ret = katls_put_bytes(&b, head, sizeof(head) - 1) ?:
		  katls_put_bytes(&b, s->allow.data, s->allow.len) ?:
		  katls_put_bytes(&b, tail, sizeof(tail) - 1);

	ret = ret ?: write_file(path, b.data, b.len);
	katls_buf_cleanup(&b);
	return ret;
}

static int run(struct synth *s, const struct item *items, size_t num_items,
	       const char *boot, unsigned long count)
{
	static const uint8_t zero_pcrs[10 * 32];
	uint8_t d[32];
	int ret = 0;

	/* A real log always starts with boot_aggregate, and verifiers require it. */
	if (boot && hex_to_bytes(boot, d, sizeof(d))) {
		fprintf(stderr, "ima_synth: --boot-aggregate needs 64 hex digits\n");
		return -EINVAL;
	}
	if (!boot && katls_ima_boot_aggregate(KATLS_IMA_SHA256, zero_pcrs, 10, d))
		return -ENOMEM;
	ret = add(s, "boot_aggregate", d, false, NULL, 0, false);
	for (size_t i = 0; i < num_items && !ret; i++)
		ret = items[i].violation ? add(s, items[i].path, NULL, true, NULL, 0, false) :
					   add_file(s, items[i].path);
	for (unsigned long i = 0; i < count && !ret; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/usr/bin/synth%lu", i);
		if (!EVP_Digest(path, strlen(path), d, NULL, EVP_sha256(), NULL))
			return -ENOMEM;
		ret = add(s, path, d, false, NULL, 0, true);
	}
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'n' },
		{ "file", required_argument, NULL, 'f' },
		{ "violation", required_argument, NULL, 'V' },
		{ "boot-aggregate", required_argument, NULL, 'b' },
		{ "template", required_argument, NULL, 't' },
		{ "sha1", no_argument, NULL, '1' },
		{ "allowlist", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct item items[MAX_ENTRIES_ARGS];
	struct synth s = { KATLS_BUF_INIT, KATLS_BUF_INIT, KATLS_IMA_TPL_NG, 32, 0 };
	const char *out = NULL, *allow = NULL, *boot = NULL;
	unsigned long count = 0;
	size_t num_items = 0;
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "o:n:f:V:b:t:1a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'a': allow = optarg; break;
		case 'b': boot = optarg; break;
		case '1': s.dsize = 20; break;
		case 'n':
			errno = 0;
			count = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || count > 100000000) {
				fprintf(stderr, "ima_synth: bad --count %s\n", optarg);
				return 2;
			}
			break;
		case 'f':
		case 'V':
			if (num_items == MAX_ENTRIES_ARGS) {
				fprintf(stderr, "ima_synth: too many --file/--violation\n");
				return 2;
			}
			items[num_items++] = (struct item){ optarg, c == 'V' };
			break;
		case 't':
			if (!strcmp(optarg, "ima-ng"))
				s.tpl = KATLS_IMA_TPL_NG;
			else if (!strcmp(optarg, "ima-sig"))
				s.tpl = KATLS_IMA_TPL_SIG;
			else {
				fprintf(stderr, "ima_synth: --template is ima-ng or ima-sig\n");
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!out || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	ret = run(&s, items, num_items, boot, count) ?: write_file(out, s.log.data, s.log.len);
	if (!ret && allow)
		ret = write_allowlist(&s, allow);
	katls_buf_cleanup(&s.log);
	katls_buf_cleanup(&s.allow);
	if (fflush(stdout))
		ret = -EIO;
	return ret ? 1 : 0;
}
