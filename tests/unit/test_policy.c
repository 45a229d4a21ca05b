// SPDX-License-Identifier: MIT
/*
 * Policy JSON: the full example and the policy set of tests/vectors/policy/,
 * Keylime's published runtime policy, and one rejection per rule (unknown
 * keys at every level, wrong types, bad hex, bad PCR indexes and banks, bad
 * names, malformed JSON), each checked for the JSON path in its message.
 */
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

#include <openssl/x509_vfy.h>

#include "appraisal/ima.h"
#include "appraisal/policy.h"
#include "testutil.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static char *dir_of(const char *path)
{
	char *d = strdup(path);

	assert_non_null(d);
	*strrchr(d, '/') = '\0';
	return d;
}

static int check_path(const struct katls_runtime_policy *rp, const char *path,
		      const uint8_t *d, size_t len)
{
	struct katls_ima_record rec = { .tpl = KATLS_IMA_TPL_NG, .path = path,
					.path_len = strlen(path), .path_terminated = true,
					.file_digest = d, .file_digest_len = len };

	return katls_runtime_policy_check(rp, &rec, NULL);
}

static void test_full_policy(void **state)
{
	static const uint8_t pcr7[32] = {
		0xcf, 0x2b, 0x0d, 0xb7, 0x51, 0x4f, 0x32, 0x0c, 0x31, 0x51, 0x30, 0x27,
		0x5a, 0x96, 0x0f, 0x6e, 0x6e, 0xd8, 0x07, 0x44, 0xc7, 0x54, 0xc6, 0x87,
		0x06, 0x9d, 0x7a, 0x9f, 0x55, 0xd7, 0x04, 0xf0,
	};
	static const uint8_t base[32] = {
		0x35, 0xf6, 0x03, 0x6d, 0xcb, 0xb4, 0xd8, 0x19, 0xa9, 0x0c, 0xc3, 0x28,
		0x26, 0x59, 0x75, 0x4a, 0xb1, 0xa2, 0x25, 0xe6, 0x0f, 0x59, 0x3a, 0x20,
		0x9c, 0x27, 0xb8, 0x01, 0x74, 0xba, 0x31, 0x80,
	};
	const char *file = vector_path("policy/full.json");
	char *dir = dir_of(file), want[2 * PATH_MAX], err[512] = "";
	const struct katls_policy *p;
	struct katls_policy_set *set;
	uint8_t ff[32];

	if (katls_policy_load(file, &set, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(set->num_policies, 1);
	p = katls_policy_set_find(set, "prod");
	assert_non_null(p);
	assert_int_equal(p->num_trust_anchors, 2);
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(p->trust_anchors[0], want);
	snprintf(want, sizeof(want), "%s/extra-ca.pem", dir);
	assert_string_equal(p->trust_anchors[1], want);
	/* compiled: both anchors in the store, both pins as DER public keys */
	assert_non_null(p->trust_store);
	assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(p->trust_store)), 2);
	assert_non_null(p->ak_pin_spki);
	assert_int_equal(p->ak_pin_spki[0].len, 91);	/* P-256 SubjectPublicKeyInfo */
	assert_int_equal(p->ak_pin_spki[1].len, 91);
	assert_int_equal(p->num_peer_names, 2);
	assert_string_equal(p->peer_names[1], "*.svc.example");
	assert_int_equal(p->num_ak_pins, 2);
	snprintf(want, sizeof(want), "%s/ak.pub.pem", dir);
	assert_string_equal(p->ak_pins[0].path, want);
	assert_null(p->ak_pins[0].pem);
	assert_null(p->ak_pins[1].path);
	assert_true(!strncmp(p->ak_pins[1].pem, "-----BEGIN PUBLIC KEY-----\nMFkw", 31));
	assert_int_equal(p->num_ak_names, 2);
	assert_int_equal(p->ak_names[0].len, 34);
	assert_int_equal(p->ak_names[0].name[1], 0x0b);
	assert_int_equal(p->ak_names[0].name[33], 0x1c);
	assert_int_equal(p->ak_names[1].len, 50);	/* sha384, upper-case hex */
	assert_int_equal(p->ak_names[1].name[1], 0x0c);
	assert_int_equal(p->ak_names[1].name[49], 0xff);
	assert_int_equal(p->pcr_mask[KATLS_IMA_SHA256], 1u << 0 | 1u << 7 | 1u << 23);
	assert_int_equal(p->pcr_mask[KATLS_IMA_SHA1], 1u << 10);
	assert_int_equal(p->pcr_mask[KATLS_IMA_SHA384], 0);
	assert_memory_equal(p->pcrs[KATLS_IMA_SHA256][7], pcr7, 32);
	memset(ff, 0xff, sizeof(ff));
	assert_memory_equal(p->pcrs[KATLS_IMA_SHA256][23], ff, 32);
	assert_int_equal(p->pcrs[KATLS_IMA_SHA1][10][0], 0x63);
	assert_true(p->ima.present);
	assert_true(p->ima.required);
	assert_true(p->ima.allow_violations);
	assert_true(ends_with(p->ima.runtime_policy_path, "/keylime-policy-sha256.json"));
	assert_non_null(p->ima.runtime_policy);
	assert_int_equal(katls_runtime_policy_num_paths(p->ima.runtime_policy, KATLS_RP_DIGESTS), 1);
	assert_int_equal(check_path(p->ima.runtime_policy, "/base_policy_data", base, 32),
			 KATLS_RP_MATCH);
	assert_true(p->kernel.present);
	assert_int_equal(p->kernel.allow_taint_mask, 4096);
	assert_int_equal(p->kernel.min_lockdown, KATLS_LOCKDOWN_INTEGRITY);
	assert_false(p->kernel.require_tpm);
	assert_int_equal(p->workload.num_exe_paths, 1);
	assert_string_equal(p->workload.exe_paths[0], "/usr/sbin/key-release");
	assert_int_equal(p->workload.num_exe_digests, 1);
	assert_int_equal(p->workload.exe_digests[0].alg, KATLS_IMA_SHA256);
	assert_int_equal(p->workload.exe_digests[0].len, 32);
	assert_int_equal(p->workload.exe_digests[0].digest[31], 0x54);
	assert_int_equal(p->max_age_s, 600);
	katls_policy_set_free(set);
	free(dir);
}

static void test_policy_set(void **state)
{
	const char *file = vector_path("policy/set.json");
	char *dir = dir_of(file), want[2 * PATH_MAX], err[512] = "";
	const struct katls_policy *prod, *dev;
	struct katls_policy_set *set;
	uint8_t d[32] = { 0 };

	if (katls_policy_load(file, &set, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(set->num_policies, 2);
	prod = katls_policy_set_find(set, "prod");
	dev = katls_policy_set_find(set, "dev");
	assert_non_null(prod);
	assert_non_null(dev);
	assert_null(katls_policy_set_find(set, "staging"));
	assert_string_equal(prod->name, "prod");
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(prod->trust_anchors[0], want);
	assert_null(prod->ima.runtime_policy_path);	/* inline */
	assert_non_null(prod->ima.runtime_policy);
	assert_true(prod->ima.required);		/* defaults */
	assert_false(prod->ima.allow_violations);
	assert_int_equal(check_path(prod->ima.runtime_policy, "/tmp/anything", d, 32),
			 KATLS_RP_EXCLUDED);
	assert_int_equal(check_path(prod->ima.runtime_policy, "/usr/bin/true", d, 32),
			 KATLS_RP_MISMATCH);
	assert_int_equal(prod->kernel.min_lockdown, KATLS_LOCKDOWN_CONFIDENTIALITY);
	assert_true(prod->kernel.require_tpm);
	assert_int_equal(prod->kernel.allow_taint_mask, 0);
	assert_int_equal(prod->max_age_s, 3600);
	assert_false(dev->ima.present);
	assert_false(dev->kernel.present);
	assert_int_equal(dev->max_age_s, 86400);
	assert_int_equal(dev->num_peer_names, 0);
	katls_policy_set_free(set);
	free(dir);
}

static void test_single_policy_defaults_and_paths(void **state)
{
	char *rel = dir_of(vector_path("policy/ca.pem")), *dir = realpath(rel, NULL);
	char json[2 * PATH_MAX], want[PATH_MAX + 16], cwd[PATH_MAX], err[256];
	struct katls_policy_set *set;

	assert_non_null(dir);
	free(rel);
	/* a relative and an absolute anchor */
	snprintf(json, sizeof(json), "{\"trust_anchors\": [\"ca.pem\", \"%s/extra-ca.pem\"]}",
		 dir);
	assert_int_equal(katls_policy_parse(json, strlen(json), dir, &set, err, sizeof(err)), 0);
	assert_int_equal(set->num_policies, 1);
	assert_string_equal(set->policies[0].name, "default");
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(set->policies[0].trust_anchors[0], want);
	snprintf(want, sizeof(want), "%s/extra-ca.pem", dir);
	assert_string_equal(set->policies[0].trust_anchors[1], want);
	assert_int_equal(set->policies[0].max_age_s, 3600);
	assert_false(set->policies[0].ima.present);
	assert_false(set->policies[0].kernel.present);
	assert_int_equal(set->policies[0].num_ak_pins, 0);
	assert_non_null(katls_policy_set_find(set, "default"));
	katls_policy_set_free(set);

	/* No base directory: relative paths stay relative (to the working directory). */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(katls_policy_parse(json, strlen(json), NULL, &set, err,
					    sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(set->policies[0].trust_anchors[0], "ca.pem");
	katls_policy_set_free(set);
	katls_policy_set_free(NULL);
	free(dir);
}

static void test_keylime_runtime_policy(void **state)
{
	static const char all_keys[] =
		"{\"meta\": {\"version\": 1, \"generator\": 1, \"timestamp\": \"now\"},"
		" \"release\": 0, \"digests\": {\"/a\": [\"00112233445566778899aabbccddeeff00112233\","
		" \"0011223344556677889900112233445566778899aabbccddeeff001122334455\"]},"
		" \"excludes\": [\"/var/.*\", \"boot_aggregate\"], \"keyrings\": {\".ima\": []},"
		" \"ima\": {\"ignored_keyrings\": [\"*\"], \"log_hash_alg\": \"sha256\","
		" \"dm_policy\": null}, \"ima-buf\": {\"kexec-cmdline\": [\"aa\"]},"
		" \"verification-keys\": \"\", \"rules\": \"\"}\n";
	struct katls_runtime_policy *rp;
	uint8_t d20[20] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
			    0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33 };
	char err[512] = "";

	if (katls_runtime_policy_load(vector_path("policy/keylime-policy-sha256.json"), &rp,
				      err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_DIGESTS), 1);
	katls_runtime_policy_free(rp);

	assert_int_equal(katls_runtime_policy_parse(all_keys, strlen(all_keys), &rp, err,
						    sizeof(err)), 0);
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_DIGESTS), 1);
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_KEYRINGS), 0);
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_IMA_BUF), 1);
	assert_int_equal(check_path(rp, "/a", d20, 20), KATLS_RP_MATCH);
	assert_int_equal(check_path(rp, "/var/log/x", d20, 20), KATLS_RP_EXCLUDED);
	assert_int_equal(check_path(rp, "/usr/var/x", d20, 20), KATLS_RP_NO_ENTRY);
	katls_runtime_policy_free(rp);
	katls_runtime_policy_free(NULL);
}

/*
 * The streaming reader decodes every JSON string form: escapes, \\u with
 * surrogate pairs, raw UTF-8, DEL; and takes any whitespace.
 */
static void test_runtime_policy_string_forms(void **state)
{
	static const char json[] =
		" {\r\n\t\"meta\" : { \"version\" : 1 } ,\"digests\":{"
		"\"\\/usr\\/bin\\/a\\u00e9\\ud83d\\ude00\\\"\\\\\\b\\f\\n\\r\\t\": [\"aa\"],"
		"\"/d\xc3\xa9\xf0\x9f\x98\x80\x7f\": [\"bb\", \"BB\"]}} \n";
	static const uint8_t aa = 0xaa, bb = 0xbb;
	struct katls_runtime_policy *rp;
	char err[512] = "";

	if (katls_runtime_policy_parse(json, strlen(json), &rp, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_DIGESTS), 2);
	assert_int_equal(check_path(rp, "/usr/bin/a\xc3\xa9\xf0\x9f\x98\x80\"\\\b\f\n\r\t",
				    &aa, 1), KATLS_RP_MATCH);
	assert_int_equal(check_path(rp, "/d\xc3\xa9\xf0\x9f\x98\x80\x7f", &bb, 1),
			 KATLS_RP_MATCH);
	katls_runtime_policy_free(rp);
	/* repetition characters that repeat nothing twice */
	assert_int_equal(katls_runtime_policy_new(&rp), 0);
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "/[+*]+x", err, sizeof(err)), 0);
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "/[]+]*y", err, sizeof(err)), 0);
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "/a{2}b+\\++", err, sizeof(err)), 0);
	assert_int_equal(check_path(rp, "/+*+x", &aa, 1), KATLS_RP_EXCLUDED);
	assert_int_equal(check_path(rp, "/]+y", &aa, 1), KATLS_RP_EXCLUDED);
	assert_int_equal(check_path(rp, "/aabb++", &aa, 1), KATLS_RP_EXCLUDED);
	katls_runtime_policy_free(rp);
}

struct reject {
	const char *json;
	const char *msg;		/* expected substring of the error */
};

#define TA "\"trust_anchors\": [\"/ca.pem\"]"
#define RP(x) "{" TA ", \"ima\": {\"runtime_policy\": {\"meta\": {\"version\": 1}, " x "}}}"
#define H64 "0000000000000000000000000000000000000000000000000000000000000000"
#define H62 "00000000000000000000000000000000000000000000000000000000000000"

static const struct reject policy_rejects[] = {
	/* unknown keys, at every level */
	{ "{" TA ", \"bogus\": 1}", "$: unknown key \"bogus\"" },
	{ "{" TA ", \"kernel\": {\"foo\": 1}}", "$.kernel: unknown key \"foo\"" },
	{ "{" TA ", \"ima\": {\"require\": true}}", "$.ima: unknown key \"require\"" },
	{ "{" TA ", \"workload\": {\"exe\": []}}", "$.workload: unknown key \"exe\"" },
	{ "{\"policies\": {\"a\": {" TA "}}, \"x\": 1}", "unknown key \"x\" beside \"policies\"" },
	{ "{\"policies\": {\"a\": {" TA ", \"zz\": 1}}}", "$.policies.a: unknown key \"zz\"" },
	{ RP("\"digests\": {}, \"hashes\": {}"), "$.ima.runtime_policy: unknown key \"hashes\"" },
	{ RP("\"digests\": {}, \"ima\": {\"x\": 1}"), "$.ima.runtime_policy.ima: unknown key \"x\"" },
	{ RP("\"digests\": {}, \"meta\": {\"version\": 1, \"v\": 2}"), "unknown key \"v\"" },
	/* types */
	{ "{\"trust_anchors\": \"/ca.pem\"}", "$.trust_anchors: expected array, got string" },
	{ "{\"trust_anchors\": [1]}", "$.trust_anchors[0]: expected string, got int" },
	{ "{" TA ", \"peer_names\": {}}", "$.peer_names: expected array, got object" },
	{ "{" TA ", \"max_age_s\": \"60\"}", "$.max_age_s: expected int, got string" },
	{ "{" TA ", \"max_age_s\": 1.5}", "$.max_age_s: expected int, got double" },
	{ "{" TA ", \"max_age_s\": 0}", "$.max_age_s: integer out of range" },
	{ "{" TA ", \"max_age_s\": 2147483648}", "$.max_age_s: integer out of range" },
	{ "{" TA ", \"max_age_s\": 18446744073709551615}", "$.max_age_s: integer out of range" },
	{ "{" TA ", \"kernel\": {\"require_tpm\": \"yes\"}}",
	  "$.kernel.require_tpm: expected boolean, got string" },
	{ "{" TA ", \"kernel\": {\"min_lockdown\": 1}}", "$.kernel.min_lockdown: expected string" },
	{ "{" TA ", \"kernel\": {\"min_lockdown\": \"strict\"}}",
	  "expected none, integrity or confidentiality" },
	{ "{" TA ", \"kernel\": {\"allow_taint_mask\": -1}}", "$.kernel.allow_taint_mask: integer out of range" },
	{ "{" TA ", \"ima\": true}", "$.ima: expected object, got boolean" },
	{ "{" TA ", \"ima\": {\"required\": null}}", "$.ima.required: expected boolean, got null" },
	{ "{" TA ", \"pcrs\": []}", "$.pcrs: expected object, got array" },
	{ "{" TA ", \"ima\": {\"runtime_policy\": 5}}", "$.ima.runtime_policy: expected string, got int" },
	/* hex and PCRs */
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"0\": \"zz" H64 "\"}}}", "expected 64 hex digits, got 66" },
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"0\": \"x" "000000000000000000000000000000000000000000000000000000000000000\"}}}",
	  "$.pcrs.sha256.0: invalid hex digit at position 0" },
	{ "{" TA ", \"pcrs\": {\"sha1\": {\"0\": \"" H64 "\"}}}", "expected 40 hex digits, got 64" },
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"24\": \"" H64 "\"}}}",
	  "$.pcrs.sha256.24: PCR index must be a decimal number 0..23" },
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"07\": \"" H64 "\"}}}", "PCR index must be" },
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"-1\": \"" H64 "\"}}}", "PCR index must be" },
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"\": \"" H64 "\"}}}", "PCR index must be" },
	{ "{" TA ", \"pcrs\": {\"sha3\": {}}}", "$.pcrs.sha3: unknown PCR bank" },
	{ "{" TA ", \"pcrs\": {\"sha256\": {\"1\": 5}}}", "$.pcrs.sha256.1: expected string" },
	/* AK Names: nameAlg sha256/384/512 and exactly its digest */
	{ "{" TA ", \"ak_names\": [\"0004" "0000000000000000000000000000000000000000\"]}",
	  "$.ak_names[0]: expected the hex of a TPM Name: 000b (sha256)" },
	{ "{" TA ", \"ak_names\": [\"000b" H64 "00\"]}", "$.ak_names[0]: expected 64 hex digits, got 66" },
	{ "{" TA ", \"ak_names\": [\"000c" H64 "\"]}", "$.ak_names[0]: expected 96 hex digits, got 64" },
	{ "{" TA ", \"ak_names\": [\"sha256:" H64 "\"]}", "$.ak_names[0]: invalid hex digit" },
	{ "{" TA ", \"ak_names\": [\"000b\"]}", "$.ak_names[0]: expected the hex of a TPM Name" },
	{ "{" TA ", \"ak_names\": \"000b" H64 "\"}", "$.ak_names: expected array, got string" },
	/* workload: needs "ima"; an all-zero digest is the unknown marker */
	{ "{" TA ", \"workload\": {\"exe_paths\": [\"/bin/x\"]}}",
	  "$: workload rules need an \"ima\" section" },
	{ "{\"policies\": {\"p\": {" TA ", \"workload\": {\"exe_digests\": [\"sha256:" H62 "11\"]}}}}",
	  "$.policies.p: workload rules need an \"ima\" section" },
	{ "{" TA ", \"ima\": {}, \"workload\": {\"exe_digests\": [\"sha256:" H64 "\"]}}",
	  "$.workload.exe_digests[0]: an all-zero digest is the \"unknown\" marker" },
	{ "{" TA ", \"workload\": {\"exe_digests\": [\"md5:00\"]}}", "expected \"<sha1|sha256|sha384|sha512>:<hex>\"" },
	{ "{" TA ", \"workload\": {\"exe_digests\": [\"sha256:abc\"]}}",
	  "$.workload.exe_digests[0]: expected 64 hex digits, got 3" },
	{ "{" TA ", \"workload\": {\"exe_paths\": [\"bin/x\"]}}", "$.workload.exe_paths[0]: executable paths must be absolute" },
	{ "{" TA ", \"workload\": {\"exe_paths\": []}}", "$.workload.exe_paths: must not be empty" },
	/* required keys, names, sets */
	{ "{\"name\": \"x\"}", "$: missing required key \"trust_anchors\"" },
	{ "{\"trust_anchors\": []}", "$.trust_anchors: must not be empty" },
	{ "{\"trust_anchors\": [\"\"]}", "$.trust_anchors[0]: empty path" },
	{ "{\"name\": \"bad name\", " TA "}", "$.name: policy names are 1..63 characters" },
	{ "{\"name\": \"\", " TA "}", "$.name: policy names" },
	{ "{\"policies\": {\"a\": {\"name\": \"b\", " TA "}}}", "$.policies.a: name \"b\" differs" },
	{ "{\"policies\": {\"a b\": {" TA "}}}", "$.policies[\"a b\"]: policy names" },
	{ "{\"policies\": {}}", "$.policies: no policies" },
	{ "{\"policies\": []}", "$.policies: expected object" },
	{ "{" TA ", \"peer_names\": [\"a b\"]}", "$.peer_names[0]: peer name contains a space" },
	{ "{" TA ", \"peer_names\": [\"a\\u0000b\"]}", "$.peer_names[0]: string contains a NUL" },
	/* the runtime policy inside */
	{ RP("\"digests\": {\"/x\": \"ab\"}"), "$.ima.runtime_policy.digests[\"/x\"]: expected array, got string" },
	{ RP("\"digests\": {\"/x\": [\"abc\"]}"), "$.ima.runtime_policy.digests[\"/x\"][0]: expected an even number" },
	{ RP("\"digests\": {}, \"excludes\": [\"(\"]"), "$.ima.runtime_policy.excludes[0]: exclude regex \"(\" does not compile" },
	{ RP("\"digests\": {}, \"ima\": {\"dm_policy\": {}}"), "device-mapper policies are not supported" },
	{ RP("\"digests\": {}, \"ima\": {\"log_hash_alg\": \"md5\"}"), "expected sha1, sha256, sha384 or sha512" },
	{ "{" TA ", \"ima\": {\"runtime_policy\": {\"digests\": {}}}}", "$.ima.runtime_policy: missing required key \"meta\"" },
	{ "{" TA ", \"ima\": {\"runtime_policy\": {\"meta\": {\"version\": 2}, \"digests\": {}}}}",
	  "$.ima.runtime_policy.meta.version: unsupported runtime policy version 2" },
	/* JSON syntax */
	{ "{" TA "} x", "trailing data" },
	{ "{" TA "}{}", "trailing data" },
	{ "{" TA ", /* c */ \"max_age_s\": 5}", "invalid JSON" },
	{ "{" TA ",}", "invalid JSON" },
	{ "{\"trust_anchors\": [", "truncated" },
	{ "[]", "$: expected object, got array" },
	{ "{" TA ", \"description\": \"\xff\xfe\"}", "invalid JSON" },
	{ "", "truncated" },
};

static void test_policy_rejections(void **state)
{
	for (size_t i = 0; i < sizeof(policy_rejects) / sizeof(policy_rejects[0]); i++) {
		const struct reject *r = &policy_rejects[i];
		struct katls_policy_set *set = (void *)1;
		char err[512] = "";
		int ret = katls_policy_parse(r->json, strlen(r->json), "/etc/katls", &set, err,
					     sizeof(err));

		if (ret != -EINVAL || set || !strstr(err, r->msg))
			fail_msg("case %zu %s: ret %d, err \"%s\", want \"%s\"", i, r->json, ret,
				 err, r->msg);
	}
}

static void test_runtime_policy_rejections(void **state)
{
	static const struct reject rejects[] = {
		{ "{\"digests\": {}}", "$: missing required key \"meta\"" },
		{ "{\"meta\": {\"version\": 1}}", "$: missing required key \"digests\"" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"allowlist\": 1}",
		  "$: unknown key \"allowlist\"" },
		{ "{\"meta\": {\"version\": \"1\"}, \"digests\": {}}", "$.meta.version: expected int" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": \"/tmp\"}",
		  "$.excludes: expected array, got string" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"release\": -1}",
		  "$.release: integer out of range" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"keyrings\": {\".ima\": [\"0g\"]}}",
		  "$.keyrings[\".ima\"][0]: invalid hex digit at position 1" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/x\": [\"" H64 H64 "00\"]}}",
		  "expected an even number (2..128) of hex digits, got 130" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": []}",
		  "$.verification-keys: expected string" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": {\"ignored_keyrings\": [1]}}",
		  "$.ima.ignored_keyrings[0]: expected string" },
		/* the streaming reader: JSON syntax, strictly */
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"digests\": {}}",
		  "$: key \"digests\" appears twice" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/x\": [\"aa\"], \"/x\": [\"bb\"]}}",
		  "$.digests[\"/x\"]: listed twice" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/x\": [\"aa\",]}}",
		  "$.digests[\"/x\"][1]: invalid JSON at byte 49: unexpected character" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {},}", "invalid JSON at byte 39: expected a key" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"release\": 01}",
		  "$: invalid JSON at byte 52: expected ',' or '}'" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"release\": 1.0}",
		  "$.release: expected int, got double" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"release\": 99999999999999999999}",
		  "$.release: integer out of range" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/\\ud800\": []}}",
		  "invalid JSON at byte 45: lone high surrogate" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/\\udc00\": []}}", "lone low surrogate" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/\x01\": []}}", "control character" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/\xc3\x28\": []}}", "invalid UTF-8" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/\xed\xa0\x80\": []}}", "invalid UTF-8" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/\\u0000x\": []}}",
		  "$.digests: key contains a NUL character" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"rules\": \"a\\u0000\"}",
		  "$.rules: string contains a NUL character" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {\"/x\": [\"a", "truncated" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}} {}", "$: trailing data at byte 40" },
		{ "", "truncated" },
		/* regexes glibc would blow up on, which Python's re refuses too */
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": [\"/a++\"]}",
		  "$.excludes[0]: exclude regex \"/a++\" is refused: a repetition of a repetition" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": [\"x*{3}\"]}",
		  "is refused: a repetition of a repetition" },
		{ "{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": [\"a{2}?\"]}",
		  "is refused: a repetition of a repetition" },
	};

	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		struct katls_runtime_policy *rp = (void *)1;
		char err[512] = "";
		int ret = katls_runtime_policy_parse(rejects[i].json, strlen(rejects[i].json),
						     &rp, err, sizeof(err));

		if (ret != -EINVAL || rp || !strstr(err, rejects[i].msg))
			fail_msg("case %zu: ret %d, err \"%s\", want \"%s\"", i, ret, err,
				 rejects[i].msg);
	}
}

static void test_load_errors_name_the_file(void **state)
{
	char tmpl[] = "/tmp/katls-policy-XXXXXX", path[64], err[512];
	struct katls_policy_set *set;
	const char *bad = "{\"trust_anchors\": [\"ca.pem\"], \"ima\": "
			  "{\"runtime_policy\": \"missing-rp.json\"}}";
	int fd = mkstemp(tmpl);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{\"trust_anchors\": 3}", f);
	fclose(f);
	assert_int_equal(katls_policy_load(tmpl, &set, err, sizeof(err)), -EINVAL);
	snprintf(path, sizeof(path), "%s: $.trust_anchors: expected array", tmpl);
	assert_string_equal(strstr(err, path) ? path : err, path);
	unlink(tmpl);
	assert_int_equal(katls_policy_load(tmpl, &set, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, tmpl));
	assert_null(set);

	/* A runtime policy file that cannot be read. */
	assert_int_equal(katls_policy_parse(bad, strlen(bad), "/nonexistent", &set, err,
					    sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "$.ima.runtime_policy: cannot read runtime policy "
				    "/nonexistent/missing-rp.json"));
}

/*
 * Loading compiles: the trust anchors and AK pins are read then (and
 * verification reads nothing).  A file that cannot be read, or holds the
 * wrong kind of PEM, fails the load with its JSON path and file name.
 */
static void test_compile_errors(void **state)
{
	char *rel = dir_of(vector_path("policy/ca.pem")), *dir = realpath(rel, NULL);
	static const struct {
		const char *json, *msg, *file;	/* want: msg, then dir/file if any */
	} cases[] = {
		{ "{\"trust_anchors\": [\"ca.pem\", \"missing.pem\"]}",
		  "$.trust_anchors[1]: cannot load trust anchor ", "missing.pem" },
		{ "{\"trust_anchors\": [\"ak.pub.pem\"]}",
		  "$.trust_anchors[0]: cannot load trust anchor ", "ak.pub.pem" },
		{ "{\"trust_anchors\": [\"ca.pem\"], \"ak_pins\": [\"ak.pub.pem\", \"ca.pem\"]}",
		  "$.ak_pins[1]: cannot read a PEM public key from ", "ca.pem" },
		{ "{\"trust_anchors\": [\"ca.pem\"], \"ak_pins\": [\"-----BEGIN PUBLIC KEY-----\\nAA\"]}",
		  "$.ak_pins[0]: cannot read a PEM public key from the inline PEM", NULL },
	};

	assert_non_null(dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct katls_policy_set *set = (void *)1;
		char err[512] = "", want[PATH_MAX + 128];

		snprintf(want, sizeof(want), "%s%s%s%s", cases[i].msg, cases[i].file ? dir : "",
			 cases[i].file ? "/" : "", cases[i].file ? cases[i].file : "");
		assert_int_equal(katls_policy_parse(cases[i].json, strlen(cases[i].json), dir, &set,
						    err, sizeof(err)), -EINVAL);
		assert_null(set);
		if (!strstr(err, want))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, want);
	}
	free(rel);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_policy),
		cmocka_unit_test(test_policy_set),
		cmocka_unit_test(test_single_policy_defaults_and_paths),
		cmocka_unit_test(test_keylime_runtime_policy),
		cmocka_unit_test(test_runtime_policy_string_forms),
		cmocka_unit_test(test_policy_rejections),
		cmocka_unit_test(test_runtime_policy_rejections),
		cmocka_unit_test(test_load_errors_name_the_file),
		cmocka_unit_test(test_compile_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
