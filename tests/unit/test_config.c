// SPDX-License-Identifier: MIT
/*
 * katlsd.json (katlsd.json(5)): the parse step on every documented key,
 * unknown keys at every level, each wrong type, ak_handle spellings, empty
 * strings and path resolution, each rejection checked for the JSON path in
 * its message; then katlsd_config_load() on a generated certificate, key and
 * policy file; the metrics endpoint (addresses, loopback only unless
 * allowed, socket path and mode).  config.c is part of katlsd, not of libkatls, so it is
 * included here (it needs only libkatls).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../userspace/daemon/config.c"

static int parse(const char *json, const char *base_dir, struct katlsd_config **c,
		 char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT("katlsd.json", err, err_len);

	j.base_dir = base_dir;
	err[0] = '\0';
	return config_parse(&j, json, strlen(json), c);
}

static struct katlsd_config *parse_ok(const char *json, const char *base_dir)
{
	struct katlsd_config *c;
	char err[700];

	if (parse(json, base_dir, &c, err, sizeof(err)))
		fail_msg("%s: %s", json, err);
	assert_non_null(c);
	assert_int_equal(c->refs, 1);
	return c;
}

/* @json is rejected with exactly "katlsd.json: " @want. */
static void parse_bad(const char *json, const char *want)
{
	struct katlsd_config *c = (void *)1;
	char err[700], full[700];

	if (!parse(json, "/etc/katls", &c, err, sizeof(err)))
		fail_msg("accepted: %s", json);
	assert_null(c);
	snprintf(full, sizeof(full), "katlsd.json: %s", want);
	if (strcmp(err, full))
		fail_msg("%s\n  got:  %s\n  want: %s", json, err, full);
}

#define CERT_KEY "\"certificate\": \"h.pem\", \"key\": \"h.key\""

static void test_full_config(void **state)
{
	struct katlsd_config *c = parse_ok(
		"{ \"description\": \"every key\",\n"
		"  \"certificate\": \"host.pem\", \"key\": \"keys/host.key\",\n"
		"  \"ca\": \"/etc/pki/ca.pem\",\n"
		"  \"ciphersuites\": \"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256\",\n"
		"  \"policies\": \"policies.json\", \"default_policy\": \"prod\",\n"
		"  \"tpm\": { \"tcti\": \"device:/dev/tpmrm0\", \"ak_handle\": \"0x81010002\" },\n"
		"  \"ima\": { \"log\": \"ima.log\", \"digest_size\": 32 },\n"
		"  \"max_workers\": 7,\n"
		"  \"gate\": { \"pin_dir\": \"/sys/fs/bpf/katls\", \"required\": true } }\n",
		"/etc/katls");

	assert_string_equal(c->cert_file, "/etc/katls/host.pem");
	assert_string_equal(c->key_file, "/etc/katls/keys/host.key");
	assert_string_equal(c->ca_file, "/etc/pki/ca.pem");
	assert_string_equal(c->ciphersuites, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256");
	assert_string_equal(c->policy_file, "/etc/katls/policies.json");
	assert_string_equal(c->default_policy, "prod");
	assert_string_equal(c->tcti, "device:/dev/tpmrm0");
	assert_int_equal(c->ak_handle, 0x81010002);
	assert_string_equal(c->ima_log, "/etc/katls/ima.log");
	assert_int_equal(c->ima_digest_size, 32);
	assert_int_equal(c->max_workers, 7);
	assert_string_equal(c->gate_pin_dir, "/sys/fs/bpf/katls");
	assert_true(c->gate_required);
	assert_null(c->path);
	assert_null(c->policies);
	assert_null(c->server_ctx);
	katlsd_config_free(c);
}

static void test_defaults(void **state)
{
	struct katlsd_config *c = parse_ok("{" CERT_KEY "}", NULL);

	assert_string_equal(c->cert_file, "h.pem");	/* no base_dir: kept relative */
	assert_string_equal(c->key_file, "h.key");
	assert_null(c->ca_file);
	assert_null(c->ciphersuites);
	assert_null(c->policy_file);
	assert_null(c->default_policy);
	assert_null(c->tcti);
	assert_int_equal(c->ak_handle, 0);		/* the library's default */
	assert_null(c->ima_log);
	assert_int_equal(c->ima_digest_size, 0);
	assert_int_equal(c->max_workers, KATLSD_MAX_WORKERS_DEFAULT);
	assert_null(c->gate_pin_dir);
	assert_false(c->gate_required);
	katlsd_config_free(c);
	/* empty sub-objects are fine */
	c = parse_ok("{" CERT_KEY ", \"tpm\": {}, \"ima\": {}, \"gate\": {}}", NULL);
	katlsd_config_free(c);
}

static void test_paths(void **state)
{
	struct katlsd_config *c = parse_ok(
		"{ \"certificate\": \"a/b.pem\", \"key\": \"/abs/k.pem\", \"ca\": \"./ca.pem\","
		"  \"policies\": \"../p.json\", \"ima\": { \"log\": \"log\" },"
		"  \"gate\": { \"pin_dir\": \"pins\" } }", "/srv/conf");

	assert_string_equal(c->cert_file, "/srv/conf/a/b.pem");
	assert_string_equal(c->key_file, "/abs/k.pem");
	assert_string_equal(c->ca_file, "/srv/conf/./ca.pem");
	assert_string_equal(c->policy_file, "/srv/conf/../p.json");
	assert_string_equal(c->ima_log, "/srv/conf/log");
	assert_string_equal(c->gate_pin_dir, "/srv/conf/pins");
	katlsd_config_free(c);
}

static void test_unknown_keys(void **state)
{
	parse_bad("{" CERT_KEY ", \"certifcate\": \"x\"}", "$: unknown key \"certifcate\"");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak\": 1 }}", "$.tpm: unknown key \"ak\"");
	parse_bad("{" CERT_KEY ", \"ima\": { \"digest\": 32 }}", "$.ima: unknown key \"digest\"");
	parse_bad("{" CERT_KEY ", \"gate\": { \"pin\": \"/x\" }}", "$.gate: unknown key \"pin\"");
	parse_bad("{" CERT_KEY ", \"gate\": { \"required\": true, \"\\u0001\": 1 }}",
		  "$.gate: unknown key \"?\"");
}

static void test_wrong_types(void **state)
{
	static const struct { const char *key, *value, *want; } cases[] = {
		{ "description", "1", "$.description: expected string, got int" },
		{ "certificate", "[]", "$.certificate: expected string, got array" },
		{ "key", "null", "$.key: expected string, got null" },
		{ "ca", "true", "$.ca: expected string, got boolean" },
		{ "ciphersuites", "{}", "$.ciphersuites: expected string, got object" },
		{ "policies", "1.5", "$.policies: expected string, got double" },
		{ "default_policy", "[\"prod\"]", "$.default_policy: expected string, got array" },
		{ "tpm", "\"device\"", "$.tpm: expected object, got string" },
		{ "ima", "[]", "$.ima: expected object, got array" },
		{ "max_workers", "\"64\"", "$.max_workers: expected int, got string" },
		{ "max_workers", "1.0", "$.max_workers: expected int, got double" },
		{ "gate", "true", "$.gate: expected object, got boolean" },
		{ "tpm\": { \"tcti", "5", "$.tpm.tcti: expected string, got int" },
		{ "ima\": { \"log", "false", "$.ima.log: expected string, got boolean" },
		{ "ima\": { \"digest_size", "\"32\"", "$.ima.digest_size: expected int, got string" },
		{ "gate\": { \"pin_dir", "{}", "$.gate.pin_dir: expected string, got object" },
		{ "gate\": { \"required", "\"yes\"", "$.gate.required: expected boolean, got string" },
		{ "gate\": { \"required", "1", "$.gate.required: expected boolean, got int" },
	};
	char json[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool nested = strchr(cases[i].key, '{') != NULL;

		/* certificate/key given after the bad one would replace it: put them first */
		snprintf(json, sizeof(json), "{ %s\"%s\": %s%s }",
			 strcmp(cases[i].key, "certificate") && strcmp(cases[i].key, "key") ?
			 CERT_KEY ", " : "", cases[i].key, cases[i].value, nested ? " }" : "");
		parse_bad(json, cases[i].want);
	}
	parse_bad("[]", "$: expected object, got array");
	parse_bad("\"katlsd\"", "$: expected object, got string");
}

static uint32_t handle_of(const char *value)
{
	char json[256];
	struct katlsd_config *c;
	uint32_t h;

	snprintf(json, sizeof(json), "{" CERT_KEY ", \"tpm\": { \"ak_handle\": %s }}", value);
	c = parse_ok(json, NULL);
	h = c->ak_handle;
	katlsd_config_free(c);
	return h;
}

static void test_ak_handle(void **state)
{
	static const char *const garbage[] = {
		"\"\"", "\"0x\"", "\"0xg1\"", "\"x81010002\"", "\" 1\"", "\"1 \"", "\"-1\"",
		"\"+1\"", "\"010\"", "\"1.5\"", "\"0x-1\"", "\"0x 1\"", "\"abc\"", "\"1e3\"",
		"\"0x100000000\"", "\"0x000000001\"", "\"4294967296\"",
		"\"99999999999999999999999\"",
	};
	char json[256], want[256];

	assert_int_equal(handle_of("2164326402"), 0x81010002);
	assert_int_equal(handle_of("\"0x81010002\""), 0x81010002);
	assert_int_equal(handle_of("\"0X8101000a\""), 0x8101000a);
	assert_int_equal(handle_of("\"0x8101000A\""), 0x8101000a);
	assert_int_equal(handle_of("\"2164326402\""), 0x81010002);
	assert_int_equal(handle_of("\"0x1\""), 1);
	assert_int_equal(handle_of("\"0\""), 0);
	assert_int_equal(handle_of("0"), 0);
	assert_int_equal(handle_of("4294967295"), UINT32_MAX);
	assert_int_equal(handle_of("\"4294967295\""), UINT32_MAX);
	assert_int_equal(handle_of("\"0xffffffff\""), UINT32_MAX);

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		snprintf(json, sizeof(json), "{" CERT_KEY ", \"tpm\": { \"ak_handle\": %s }}",
			 garbage[i]);
		snprintf(want, sizeof(want), "$.tpm.ak_handle: %s is not a 32-bit handle "
			 "(decimal, or hex like \"0x81010002\")", garbage[i]);
		parse_bad(json, want);
	}
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": 4294967296 }}",
		  "$.tpm.ak_handle: integer out of range 0..4294967295");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": -1 }}",
		  "$.tpm.ak_handle: integer out of range 0..4294967295");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": 18446744073709551615 }}",
		  "$.tpm.ak_handle: integer out of range 0..4294967295");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": 2164326402.0 }}",
		  "$.tpm.ak_handle: expected a number or a string like \"0x81010002\", "
		  "got double");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": true }}",
		  "$.tpm.ak_handle: expected a number or a string like \"0x81010002\", "
		  "got boolean");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": null }}",
		  "$.tpm.ak_handle: expected a number or a string like \"0x81010002\", "
		  "got null");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"ak_handle\": \"1\\u00002\" }}",
		  "$.tpm.ak_handle: string contains a NUL character");
}

static void test_ranges(void **state)
{
	static const int sizes[] = { 0, 20, 32, 48, 64 };
	struct katlsd_config *c;
	char json[256];

	c = parse_ok("{" CERT_KEY ", \"max_workers\": 1 }", NULL);
	assert_int_equal(c->max_workers, 1);
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"max_workers\": 4096 }", NULL);
	assert_int_equal(c->max_workers, 4096);
	katlsd_config_free(c);
	parse_bad("{" CERT_KEY ", \"max_workers\": 0 }",
		  "$.max_workers: integer out of range 1..4096");
	parse_bad("{" CERT_KEY ", \"max_workers\": 4097 }",
		  "$.max_workers: integer out of range 1..4096");
	parse_bad("{" CERT_KEY ", \"max_workers\": -5 }",
		  "$.max_workers: integer out of range 1..4096");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(json, sizeof(json), "{" CERT_KEY ", \"ima\": { \"digest_size\": %d }}",
			 sizes[i]);
		c = parse_ok(json, NULL);
		assert_int_equal(c->ima_digest_size, sizes[i]);
		katlsd_config_free(c);
	}
	parse_bad("{" CERT_KEY ", \"ima\": { \"digest_size\": 21 }}",
		  "$.ima.digest_size: must be 20, 32, 48 or 64 (or 0: the default)");
	parse_bad("{" CERT_KEY ", \"ima\": { \"digest_size\": 65 }}",
		  "$.ima.digest_size: integer out of range 0..64");
	parse_bad("{" CERT_KEY ", \"ima\": { \"digest_size\": -32 }}",
		  "$.ima.digest_size: integer out of range 0..64");
}

/* quote_batch: enabled by default, every bound checked, unknown keys refused. */
static void test_quote_batch(void **state)
{
	struct katlsd_config *c = parse_ok("{" CERT_KEY "}", NULL);

	assert_true(c->batch.enabled);
	assert_int_equal(c->batch.max, 0);		/* the library's default */
	assert_int_equal(c->batch.linger_ms, 0);
	assert_int_equal(c->batch.queue, 0);
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"quote_batch\": { \"enabled\": false, \"max\": 64, "
		     "\"linger_ms\": 20, \"queue\": 256 }}", NULL);
	assert_false(c->batch.enabled);
	assert_int_equal(c->batch.max, 64);
	assert_int_equal(c->batch.linger_ms, 20);
	assert_int_equal(c->batch.queue, 256);
	katlsd_config_free(c);
	parse_bad("{" CERT_KEY ", \"quote_batch\": { \"max\": 1025 }}",
		  "$.quote_batch.max: integer out of range 2..1024");
	parse_bad("{" CERT_KEY ", \"quote_batch\": { \"max\": 1 }}",
		  "$.quote_batch.max: integer out of range 2..1024");
	parse_bad("{" CERT_KEY ", \"quote_batch\": { \"linger_ms\": 1001 }}",
		  "$.quote_batch.linger_ms: integer out of range 0..1000");
	parse_bad("{" CERT_KEY ", \"quote_batch\": { \"queue\": 0 }}",
		  "$.quote_batch.queue: integer out of range 1..65536");
	parse_bad("{" CERT_KEY ", \"quote_batch\": { \"size\": 8 }}",
		  "$.quote_batch: unknown key \"size\"");
}

static void test_empty_strings(void **state)
{
	parse_bad("{ \"certificate\": \"\", \"key\": \"k\" }", "$.certificate: empty path");
	parse_bad("{ \"certificate\": \"c\", \"key\": \"\" }", "$.key: empty path");
	parse_bad("{" CERT_KEY ", \"ca\": \"\" }", "$.ca: empty path");
	parse_bad("{" CERT_KEY ", \"policies\": \"\" }", "$.policies: empty path");
	parse_bad("{" CERT_KEY ", \"ciphersuites\": \"\" }", "$.ciphersuites: must not be empty");
	parse_bad("{" CERT_KEY ", \"default_policy\": \"\" }",
		  "$.default_policy: must not be empty");
	parse_bad("{" CERT_KEY ", \"tpm\": { \"tcti\": \"\" }}", "$.tpm.tcti: must not be empty");
	parse_bad("{" CERT_KEY ", \"ima\": { \"log\": \"\" }}", "$.ima.log: empty path");
	parse_bad("{" CERT_KEY ", \"gate\": { \"pin_dir\": \"\" }}", "$.gate.pin_dir: empty path");
	parse_bad("{" CERT_KEY ", \"ca\": \"a\\u0000b\" }", "$.ca: string contains a NUL character");
	/* the free text may be empty */
	katlsd_config_free(parse_ok("{" CERT_KEY ", \"description\": \"\" }", NULL));
}

/* "metrics": where the endpoint listens (katlsd.json(5)). */
static void test_metrics(void **state)
{
	struct katlsd_config *c = parse_ok("{" CERT_KEY "}", NULL);
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;

	(void)state;
	assert_null(c->metrics.listen);			/* off by default */
	assert_null(c->metrics.unix_path);
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"unix\": \"/m\" }}", NULL);
	assert_int_equal(c->metrics.unix_mode, 0600);	/* the default */
	katlsd_config_free(c);

	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"listen\": \"127.0.0.1:9466\", "
		     "\"unix\": \"run/m.sock\", \"unix_mode\": \"0660\" }}", "/etc/katls");
	s4 = (const struct sockaddr_in *)&c->metrics.addr;
	assert_int_equal(s4->sin_family, AF_INET);
	assert_int_equal(ntohs(s4->sin_port), 9466);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(c->metrics.addr_len, sizeof(*s4));
	assert_string_equal(c->metrics.unix_path, "/etc/katls/run/m.sock");
	assert_int_equal(c->metrics.unix_mode, 0660);
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"listen\": \"[::1]:1\" }}", NULL);
	s6 = (const struct sockaddr_in6 *)&c->metrics.addr;
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(s6->sin6_port), 1);
	assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"listen\": \"127.9.8.7:65535\" }}", NULL);
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"listen\": \"[::ffff:127.0.0.1]:80\" }}",
		     NULL);
	katlsd_config_free(c);
	/* beyond loopback only when allowed, whatever the key order */
	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"listen\": \"0.0.0.0:9466\", "
		     "\"allow_remote\": true }}", NULL);
	assert_true(c->metrics.allow_remote);
	katlsd_config_free(c);
	c = parse_ok("{" CERT_KEY ", \"metrics\": { \"allow_remote\": true, "
		     "\"listen\": \"[2001:db8::1]:9466\" }}", NULL);
	katlsd_config_free(c);
	parse_bad("{" CERT_KEY ", \"metrics\": { \"listen\": \"0.0.0.0:9466\" }}",
		  "$.metrics.listen: 0.0.0.0:9466 is not a loopback address: the endpoint has "
		  "neither TLS nor authentication; set \"allow_remote\": true to serve it beyond "
		  "this host");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"listen\": \"10.0.0.1:9466\", "
		  "\"allow_remote\": false }}",
		  "$.metrics.listen: 10.0.0.1:9466 is not a loopback address: the endpoint has "
		  "neither TLS nor authentication; set \"allow_remote\": true to serve it beyond "
		  "this host");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"listen\": \"[::]:9466\" }}",
		  "$.metrics.listen: [::]:9466 is not a loopback address: the endpoint has "
		  "neither TLS nor authentication; set \"allow_remote\": true to serve it beyond "
		  "this host");
	parse_bad("{" CERT_KEY ", \"metrics\": {}}",
		  "$.metrics: set \"listen\" (a loopback TCP address) or \"unix\" (a socket "
		  "path), or leave \"metrics\" out");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"allow_remote\": true }}",
		  "$.metrics: set \"listen\" (a loopback TCP address) or \"unix\" (a socket "
		  "path), or leave \"metrics\" out");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"port\": 9466 }}",
		  "$.metrics: unknown key \"port\"");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"listen\": 9466 }}",
		  "$.metrics.listen: expected string, got int");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"listen\": \"\" }}",
		  "$.metrics.listen: must not be empty");
	for (size_t i = 0; i < 9; i++) {
		static const char *const bad[] = {
			"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
			"127.0.0.1:09466", "127.0.0.1:94x6", ":9466", "[127.0.0.1]:9466",
			"::1:9466",
		};
		char json[256], want[256];

		snprintf(json, sizeof(json), "{" CERT_KEY ", \"metrics\": { \"listen\": \"%s\" }}",
			 bad[i]);
		snprintf(want, sizeof(want), i < 7 ?
			 "$.metrics.listen: \"%s\" is not ADDRESS:PORT (like \"127.0.0.1:9466\" or "
			 "\"[::1]:9466\")" :
			 "$.metrics.listen: \"%s\" is not a numeric IPv4 address or a bracketed "
			 "IPv6 one (like \"127.0.0.1:9466\" or \"[::1]:9466\")", bad[i]);
		parse_bad(json, want);
	}
	parse_bad("{" CERT_KEY ", \"metrics\": { \"listen\": \"localhost:9466\" }}",
		  "$.metrics.listen: \"localhost:9466\" is not a numeric IPv4 address or a "
		  "bracketed IPv6 one (like \"127.0.0.1:9466\" or \"[::1]:9466\")");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"unix\": \"/a\", \"unix_mode\": \"660\", "
		  "\"allow_remote\": 1 }}", "$.metrics.allow_remote: expected boolean, got int");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"unix\": \"/a\", \"unix_mode\": \"0800\" }}",
		  "$.metrics.unix_mode: \"0800\" is not a file mode like \"0660\" (octal, at most "
		  "0777)");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"unix\": \"/a\", \"unix_mode\": \"1777\" }}",
		  "$.metrics.unix_mode: \"1777\" is not a file mode like \"0660\" (octal, at most "
		  "0777)");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"unix\": \"/a\", \"unix_mode\": 432 }}",
		  "$.metrics.unix_mode: expected string, got int");
	parse_bad("{" CERT_KEY ", \"metrics\": { \"unix\": \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaa\" }}", "$.metrics.unix: a socket path has at most 107 bytes");
}

static void test_required_and_syntax(void **state)
{
	parse_bad("{ \"key\": \"k\" }", "$: missing required key \"certificate\"");
	parse_bad("{ \"certificate\": \"c\" }", "$: missing required key \"key\"");
	parse_bad("{}", "$: missing required key \"certificate\"");
	parse_bad("", "$: JSON document is truncated");
	parse_bad("{" CERT_KEY, "$: JSON document is truncated");
	parse_bad("{" CERT_KEY ", }", "$: invalid JSON at byte 41: unexpected character");
	parse_bad("{" CERT_KEY "} {}", "$: trailing data at byte 41");
	parse_bad("// comment\n{" CERT_KEY "}", "$: invalid JSON at byte 0: unexpected character");
}

/* ---- katlsd_config_load(): a generated identity in a scratch directory ---- */

static char dir[] = "/tmp/katls-test-config-XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void write_identity(const char *cert_name, const char *key_name)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	char path[PATH_MAX];
	FILE *f;

	assert_non_null(pkey);
	assert_non_null(x);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"host.test",
				   -1, -1, 0);
	X509_set_issuer_name(x, n);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/%s", dir, cert_name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s", dir, key_name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
}

static int setup_dir(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	write_identity("host.pem", "host.key");
	write_identity("other.pem", "other.key");
	write_file("policies.json", "{ \"policies\": { \"prod\": { \"trust_anchors\": "
		   "[\"host.pem\"] }, \"dev\": { \"trust_anchors\": [\"host.pem\"] } } }");
	return 0;
}

static int teardown_dir(void **state)
{
	static const char *const names[] = {
		"host.pem", "host.key", "other.pem", "other.key", "policies.json", "k.json",
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

/* Writes k.json and loads it; returns the error text ("" on success). */
static int load(const char *json, struct katlsd_config **c, char *err, size_t err_len)
{
	char path[PATH_MAX];

	write_file("k.json", json);
	snprintf(path, sizeof(path), "%s/k.json", dir);
	err[0] = '\0';
	return katlsd_config_load(path, c, err, err_len);
}

/* @want_fmt: the message; a trailing "**" matches anything. */
static void load_bad(const char *json, const char *want_fmt)
{
	struct katlsd_config *c = (void *)1;
	char err[700], want[700];
	size_t n;

	if (!load(json, &c, err, sizeof(err)))
		fail_msg("loaded: %s", json);
	assert_null(c);
	/* '@' in @want_fmt stands for the directory */
	want[0] = '\0';
	for (const char *p = want_fmt; *p; p++) {
		size_t end = strlen(want);

		if (*p == '@')
			snprintf(want + end, sizeof(want) - end, "%s", dir);
		else if (end + 1 < sizeof(want))
			want[end] = *p, want[end + 1] = '\0';
	}
	n = strlen(want);
	if (n >= 2 && !strcmp(want + n - 2, "**") ? strncmp(err, want, n - 2) : strcmp(err, want))
		fail_msg("%s\n  got:  %s\n  want: %s", json, err, want);
}

static void test_load_full(void **state)
{
	struct katlsd_config *c;
	char err[700], want[PATH_MAX];
	int ret;

	/* relative names: resolved against the file's directory, not the cwd */
	ret = load("{ \"description\": \"test\", \"certificate\": \"host.pem\","
		   "  \"key\": \"host.key\", \"ca\": \"host.pem\","
		   "  \"ciphersuites\": \"TLS_AES_128_GCM_SHA256\","
		   "  \"policies\": \"policies.json\", \"default_policy\": \"dev\","
		   "  \"tpm\": { \"tcti\": \"swtpm:port=2321\", \"ak_handle\": 2164326403 },"
		   "  \"ima\": { \"log\": \"ima\", \"digest_size\": 48 }, \"max_workers\": 3,"
		   "  \"gate\": { \"pin_dir\": \"/sys/fs/bpf/x\", \"required\": false } }",
		   &c, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	snprintf(want, sizeof(want), "%s/k.json", dir);
	assert_string_equal(c->path, want);
	snprintf(want, sizeof(want), "%s/host.key", dir);
	assert_string_equal(c->key_file, want);
	snprintf(want, sizeof(want), "%s/ima", dir);
	assert_string_equal(c->ima_log, want);
	assert_int_equal(c->ak_handle, 0x81010003);
	assert_non_null(c->leaf);
	assert_non_null(c->key);
	assert_non_null(c->server_ctx);
	assert_non_null(c->client_ctx);
	assert_int_equal(c->policies->num_policies, 2);
	assert_string_equal(katlsd_config_policy(c, "")->name, "dev");
	assert_string_equal(katlsd_config_policy(c, "prod")->name, "prod");
	assert_null(katlsd_config_policy(c, "nope"));
	katlsd_config_free(c);

	/* no default_policy: the first; no policies: none */
	assert_int_equal(load("{ \"certificate\": \"host.pem\", \"key\": \"host.key\","
			      "  \"policies\": \"policies.json\" }", &c, err, sizeof(err)), 0);
	assert_string_equal(katlsd_config_policy(c, NULL)->name, "prod");
	katlsd_config_free(c);
	assert_int_equal(load("{ \"certificate\": \"host.pem\", \"key\": \"host.key\" }",
			      &c, err, sizeof(err)), 0);
	assert_null(katlsd_config_policy(c, ""));
	katlsd_config_free(c);
}

static void test_load_errors(void **state)
{
	struct katlsd_config *c = (void *)1;
	char err[700];

	assert_int_equal(katlsd_config_load("/nonexistent/katlsd.json", &c, err, sizeof(err)),
			 -ENOENT);
	assert_null(c);
	assert_string_equal(err, "/nonexistent/katlsd.json: No such file or directory");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"host.key\", \"tpm\": "
		 "{ \"ak_handle\": \"0x1g\" } }",
		 "@/k.json: $.tpm.ak_handle: \"0x1g\" is not a 32-bit handle (decimal, or "
		 "hex like \"0x81010002\")");
	load_bad("{ \"certificate\": \"missing.pem\", \"key\": \"host.key\" }",
		 "@/k.json: $.certificate: cannot read a PEM certificate from "
		 "@/missing.pem");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"policies.json\" }",
		 "@/k.json: $.key: cannot read a PEM private key from @/policies.json");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"other.key\" }",
		 "@/k.json: $.key: @/other.key does not match certificate @/host.pem");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"host.key\", "
		 "\"default_policy\": \"qa\", \"policies\": \"policies.json\" }",
		 "@/k.json: $.default_policy: no policy named \"qa\"");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"host.key\", "
		 "\"default_policy\": \"qa\" }",
		 "@/k.json: $.default_policy: no policy named \"qa\" (no \"policies\" file)");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"host.key\", "
		 "\"policies\": \"nope.json\" }",
		 "@/k.json: $.policies: @/nope.json: No such file or directory");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"host.key\", "
		 "\"policies\": \"host.key\" }",
		 "@/k.json: $.policies: @/host.key: $: invalid JSON at byte 1: "
		 "number expected");
	load_bad("{ \"certificate\": \"host.pem\", \"key\": \"host.key\", "
		 "\"ciphersuites\": \"TLS_NOPE\" }", "@/k.json: TLS: **");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_quote_batch),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ak_handle),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_empty_strings),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_required_and_syntax),
		cmocka_unit_test(test_load_full),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
