// SPDX-License-Identifier: MIT
/*
 * The katls policy JSON (DESIGN.md §6), parsed strictly with the json.h
 * walker: unknown keys and wrong types are errors naming the JSON path.
 * Inline or referenced Keylime runtime policies are handed to
 * runtime_policy.c.  Each policy is then compiled: the files it names are
 * read here, once, so that verification opens none.  Shape: policy.h and
 * docs/policy.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "appraisal/ima_cache.h"
#include "appraisal/policy.h"
#include "appraisal/verify_cache.h"
#include "util/json.h"
#include "util/spki.h"

#define DEFAULT_MAX_AGE	3600
#define MAX_TAINT_MASK	0xffffffffu
#define MAX_CACHE_ATTESTERS	65536

/* Appends @elem to the array @arr of @n elements: 0 or -ENOMEM. */
#define APPEND(arr, n, elem) ({						\
	typeof(arr) q_ = realloc((arr), ((n) + 1) * sizeof(*(arr)));	\
	q_ ? ((arr) = q_, (arr)[(n)++] = (elem), 0) : -ENOMEM;		\
})

/* The walker's state (j->priv). */
struct pol_state {
	struct katls_policy_set *set;	/* set being filled */
	struct katls_policy *pol;	/* policy being filled */
	unsigned int bank;		/* "pcrs" bank being filled */
};

static struct katls_policy *cur_pol(struct jctx *j)
{
	return ((struct pol_state *)j->priv)->pol;
}

static int push_str(char ***arr, size_t *n, char *s)
{
	int ret;

	if (!s)
		return -ENOMEM;
	ret = APPEND(*arr, *n, s);
	if (ret)
		free(s);
	return ret;
}

static int resolve(struct jctx *j, const char *s, size_t len, char **out)
{
	if (!len)
		return jerr(j, "empty path");
	if (s[0] == '/' || !j->base_dir)
		*out = strdup(s);
	else if (asprintf(out, "%s/%s", j->base_dir, s) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

static bool name_ok(const char *s, size_t len)
{
	if (!len || len >= KATLS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return false;
	return true;
}

static int bad_name(struct jctx *j)
{
	return jerr(j, "policy names are 1..%d characters of [A-Za-z0-9._-]",
		    KATLS_NAME_MAX - 1);
}

static int pol_name(struct jctx *j, struct json_object *v)
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	if (!name_ok(s, len))
		return bad_name(j);
	cur_pol(j)->name = strdup(s);
	return cur_pol(j)->name ? 0 : -ENOMEM;
}

static int trust_anchor(struct jctx *j, const char *s, size_t len)
{
	struct katls_policy *p = cur_pol(j);
	char *path;
	int ret = resolve(j, s, len, &path);

	return ret ?: push_str(&p->trust_anchors, &p->num_trust_anchors, path);
}

static int pol_trust_anchors(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, true, trust_anchor);
}

static int peer_name(struct jctx *j, const char *s, size_t len)
{
	struct katls_policy *p = cur_pol(j);

	if (!len || len >= KATLS_SERVER_NAME_MAX)
		return jerr(j, "peer names are 1..%d characters", KATLS_SERVER_NAME_MAX - 1);
	for (size_t k = 0; k < len; k++)
		if (s[k] <= 0x20 || s[k] >= 0x7f)
			return jerr(j, "peer name contains a space or non-ASCII character");
	return push_str(&p->peer_names, &p->num_peer_names, strdup(s));
}

static int pol_peer_names(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, false, peer_name);
}

static int ak_pin(struct jctx *j, const char *s, size_t len)
{
	struct katls_policy *p = cur_pol(j);
	struct katls_policy_ak ak = { NULL, NULL };
	int ret;

	if (!strncmp(s, "-----BEGIN ", 11))
		ret = (ak.pem = strdup(s)) ? 0 : -ENOMEM;
	else
		ret = resolve(j, s, len, &ak.path);
	if (!ret)
		ret = APPEND(p->ak_pins, p->num_ak_pins, ak);
	if (ret) {
		free(ak.pem);
		free(ak.path);
	}
	return ret;
}

static int pol_ak_pins(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, false, ak_pin);
}

/* "000b<64 hex>": nameAlg, then a digest of that algorithm's size. */
static int ak_name(struct jctx *j, const char *s, size_t len)
{
	struct katls_policy *p = cur_pol(j);
	struct katls_tpm_name n = { 0 };
	size_t alg_len, dig_len;
	int alg, ret;

	ret = len > 4 ? jparse_hex(j, s, 4, 2, n.name, &alg_len) : 0;
	if (ret)
		return ret;
	alg = len > 4 ? katls_ima_hash_from_tpm_alg((uint16_t)(n.name[0] << 8 | n.name[1])) : -1;
	if (alg < 0 || alg == KATLS_IMA_SHA1)
		return jerr(j, "expected the hex of a TPM Name: 000b (sha256), 000c (sha384) or "
			    "000d (sha512) followed by the digest");
	ret = jparse_hex(j, s + 4, len - 4, katls_ima_hash_size((unsigned int)alg), n.name + 2,
			 &dig_len);
	if (ret)
		return ret;
	n.len = 2 + dig_len;
	if (katls_quote_name_check(n.name, n.len))
		return jerr(j, "not a TPM Name katls accepts");
	return APPEND(p->ak_names, p->num_ak_names, n);
}

static int pol_ak_names(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, false, ak_name);
}

static int pol_ak_enrollment(struct jctx *j, struct json_object *v)
{
	struct katls_policy *p = cur_pol(j);
	char err[256];
	const char *s;
	int ret;

	if (!json_object_is_type(v, json_type_string))
		return jerr(j, "expected the path of an enrollment store");
	s = json_object_get_string(v);
	ret = resolve(j, s, strlen(s), &p->ak_enrollment_path);
	if (ret)
		return ret;
	ret = katls_enroll_store_load(p->ak_enrollment_path, &p->ak_enrollment, err, sizeof(err));
	if (ret)
		return jerr(j, "enrollment store %s: %s", p->ak_enrollment_path, err);
	return 0;
}

static int pcr_index(const char *k)
{
	size_t len = strlen(k);
	int n;

	if (!len || len > 2 || (len == 2 && k[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++)
		if (k[i] < '0' || k[i] > '9')
			return -1;
	n = atoi(k);
	return n < KATLS_IMA_NUM_PCRS ? n : -1;
}

static int pcr_value(struct jctx *j, const char *k, struct json_object *hex)
{
	struct pol_state *st = j->priv;
	struct katls_policy *p = st->pol;
	int idx = pcr_index(k), ret;
	size_t len;

	if (idx < 0)
		return jerr(j, "PCR index must be a decimal number 0..%d",
			    KATLS_IMA_NUM_PCRS - 1);
	ret = jget_hex(j, hex, katls_ima_hash_size(st->bank), p->pcrs[st->bank][idx], &len);
	if (!ret)
		p->pcr_mask[st->bank] |= 1u << idx;
	return ret;
}

static int pcr_bank(struct jctx *j, const char *k, struct json_object *bank)
{
	int alg = katls_ima_hash_from_name(k, strlen(k));

	if (alg < 0)
		return jerr(j, "unknown PCR bank (sha1, sha256, sha384, sha512)");
	((struct pol_state *)j->priv)->bank = (unsigned int)alg;
	return jmembers(j, bank, pcr_value);
}

static int pol_pcrs(struct jctx *j, struct json_object *v)
{
	return jmembers(j, v, pcr_bank);
}

static int ima_runtime_policy(struct jctx *j, struct json_object *v)
{
	struct katls_policy *p = cur_pol(j);
	struct jctx sub = JCTX_INIT(NULL, j->err, j->err_len);
	const char *s;
	size_t len;
	char *json;
	int ret;

	if (json_object_is_type(v, json_type_object))
		return katls_runtime_policy_from_json(j, v, &p->ima.runtime_policy);
	ret = jget_str(j, v, &s, &len) ?: resolve(j, s, len, &p->ima.runtime_policy_path);
	if (ret)
		return ret;
	ret = katls_read_file(p->ima.runtime_policy_path, &json, &len);
	if (ret) {
		jerr(j, "cannot read runtime policy %s: %s", p->ima.runtime_policy_path,
		     strerror(-ret));
		return ret;
	}
	sub.file = p->ima.runtime_policy_path;
	ret = katls_runtime_policy_from_doc(&sub, json, len, &p->ima.runtime_policy);
	free(json);
	return ret;
}

static int ima_required(struct jctx *j, struct json_object *v)
{
	return jget_bool(j, v, &cur_pol(j)->ima.required);
}

static int ima_allow_violations(struct jctx *j, struct json_object *v)
{
	return jget_bool(j, v, &cur_pol(j)->ima.allow_violations);
}

static int ima_cache_attesters(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = jget_int(j, v, 0, MAX_CACHE_ATTESTERS, &n);

	if (!ret)
		cur_pol(j)->ima.cache_attesters = (uint32_t)n;
	return ret;
}

static int pol_ima(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "runtime_policy", ima_runtime_policy, false },
		{ "required", ima_required, false },
		{ "allow_violations", ima_allow_violations, false },
		{ "cache_attesters", ima_cache_attesters, false },
	};

	cur_pol(j)->ima.present = true;
	cur_pol(j)->ima.required = true;
	cur_pol(j)->ima.cache_attesters = KATLS_IMA_CACHE_DEFAULT;
	return JWALK(j, v, keys);
}

static int kernel_taint(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = jget_int(j, v, 0, MAX_TAINT_MASK, &n);

	if (!ret)
		cur_pol(j)->kernel.allow_taint_mask = (uint64_t)n;
	return ret;
}

static int kernel_lockdown(struct jctx *j, struct json_object *v)
{
	static const char *const levels[] = {
		[KATLS_LOCKDOWN_NONE] = "none",
		[KATLS_LOCKDOWN_INTEGRITY] = "integrity",
		[KATLS_LOCKDOWN_CONFIDENTIALITY] = "confidentiality",
	};
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcmp(s, levels[i])) {
			cur_pol(j)->kernel.min_lockdown = (enum katls_lockdown)i;
			return 0;
		}
	return jerr(j, "expected none, integrity or confidentiality, got \"%.40s\"", s);
}

static int kernel_require_tpm(struct jctx *j, struct json_object *v)
{
	return jget_bool(j, v, &cur_pol(j)->kernel.require_tpm);
}

static int pol_kernel(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "allow_taint_mask", kernel_taint, false },
		{ "min_lockdown", kernel_lockdown, false },
		{ "require_tpm", kernel_require_tpm, false },
	};

	cur_pol(j)->kernel.present = true;
	cur_pol(j)->kernel.require_tpm = true;
	return JWALK(j, v, keys);
}

static int exe_path(struct jctx *j, const char *s, size_t len)
{
	struct katls_policy *p = cur_pol(j);

	if (s[0] != '/' || len >= KATLS_IMA_MAX_NNG)
		return jerr(j, "executable paths must be absolute (and < %d bytes)",
			    KATLS_IMA_MAX_NNG);
	return push_str(&p->workload.exe_paths, &p->workload.num_exe_paths, strdup(s));
}

static int exe_digest(struct jctx *j, const char *s, size_t len)
{
	struct katls_policy *p = cur_pol(j);
	struct katls_policy_digest d = { 0 };
	const char *colon = strchr(s, ':');
	int alg = colon ? katls_ima_hash_from_name(s, (size_t)(colon - s)) : -1;
	int ret;

	if (alg < 0)
		return jerr(j, "expected \"<sha1|sha256|sha384|sha512>:<hex>\"");
	d.alg = (unsigned int)alg;
	ret = jparse_hex(j, colon + 1, len - (size_t)(colon + 1 - s),
			 katls_ima_hash_size(d.alg), d.digest, &d.len);
	if (!ret && katls_ima_digest_is_zero(d.digest, d.len))
		return jerr(j, "an all-zero digest is the \"unknown\" marker, never a file's digest");
	return ret ?: APPEND(p->workload.exe_digests, p->workload.num_exe_digests, d);
}

static int workload_paths(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, true, exe_path);
}

static int workload_digests(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, true, exe_digest);
}

static int pol_workload(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "exe_paths", workload_paths, false },
		{ "exe_digests", workload_digests, false },
	};

	return JWALK(j, v, keys);
}

static int pol_max_age(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = jget_int(j, v, 1, INT32_MAX, &n);

	if (!ret)
		cur_pol(j)->max_age_s = (uint32_t)n;
	return ret;
}

static const struct jkey policy_keys[] = {
	{ "name", pol_name, false },
	{ "description", jany_str, false },
	{ "trust_anchors", pol_trust_anchors, true },
	{ "peer_names", pol_peer_names, false },
	{ "ak_pins", pol_ak_pins, false },
	{ "ak_names", pol_ak_names, false },
	{ "ak_enrollment", pol_ak_enrollment, false },
	{ "pcrs", pol_pcrs, false },
	{ "ima", pol_ima, false },
	{ "kernel", pol_kernel, false },
	{ "workload", pol_workload, false },
	{ "max_age_s", pol_max_age, false },
};

static void free_strs(char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(arr[i]);
	free(arr);
}

/* ---- compiling: the files a policy names, read once ----------------------- */

/* The OpenSSL error queue's last reason, for a message; clears the queue. */
static const char *ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : e ? "unreadable" : "no certificate in it");
	ERR_clear_error();
	return buf;
}

static int compile_trust_store(struct jctx *j, struct katls_policy *p)
{
	size_t old = jpush(j, "trust_anchors");
	char why[128];

	p->trust_store = X509_STORE_new();
	if (!p->trust_store)
		return -ENOMEM;
	for (size_t i = 0; i < p->num_trust_anchors; i++) {
		size_t at = jpush_index(j, i);

		if (X509_STORE_load_file(p->trust_store, p->trust_anchors[i]) != 1)
			return jerr(j, "cannot load trust anchor %s: %s", p->trust_anchors[i],
				    ossl_reason(why, sizeof(why)));
		jpop(j, at);
	}
	jpop(j, old);
	return 0;
}

/* The DER SubjectPublicKeyInfo of one ak_pins entry (file or inline PEM). */
static int pin_spki(const struct katls_policy_ak *ak, struct katls_spki *out)
{
	BIO *bio = ak->pem ? BIO_new_mem_buf(ak->pem, -1) : BIO_new_file(ak->path, "r");
	EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	uint8_t *der = NULL;
	int ret = key ? katls_spki_der(key, &der, &out->len) : -EINVAL;

	EVP_PKEY_free(key);
	BIO_free(bio);
	ERR_clear_error();
	out->der = der;
	return ret;
}

static int compile_ak_pins(struct jctx *j, struct katls_policy *p)
{
	size_t old = jpush(j, "ak_pins");

	if (!p->num_ak_pins)
		return 0;
	p->ak_pin_spki = calloc(p->num_ak_pins, sizeof(*p->ak_pin_spki));
	if (!p->ak_pin_spki)
		return -ENOMEM;
	for (size_t i = 0; i < p->num_ak_pins; i++) {
		size_t at = jpush_index(j, i);

		if (pin_spki(&p->ak_pins[i], &p->ak_pin_spki[i]))
			return jerr(j, "cannot read a PEM public key from %s",
				    p->ak_pins[i].path ? p->ak_pins[i].path : "the inline PEM");
		jpop(j, at);
	}
	jpop(j, old);
	return 0;
}

static int compile(struct jctx *j, struct katls_policy *p)
{
	int ret = compile_trust_store(j, p) ?: compile_ak_pins(j, p) ?:
		  katls_verify_cache_new(&p->verify_cache);

	if (!ret && p->ima.present && p->ima.cache_attesters)
		ret = katls_ima_cache_new(p->ima.cache_attesters, &p->ima_cache);
	return ret;
}

static void policy_cleanup(struct katls_policy *p)
{
	free(p->name);
	free_strs(p->trust_anchors, p->num_trust_anchors);
	X509_STORE_free(p->trust_store);
	free_strs(p->peer_names, p->num_peer_names);
	for (size_t i = 0; i < p->num_ak_pins; i++) {
		free(p->ak_pins[i].path);
		free(p->ak_pins[i].pem);
		if (p->ak_pin_spki)
			OPENSSL_free((void *)p->ak_pin_spki[i].der);
	}
	free(p->ak_pins);
	free(p->ak_pin_spki);
	free(p->ak_names);
	free(p->ak_enrollment_path);
	katls_enroll_store_free(p->ak_enrollment);
	free(p->ima.runtime_policy_path);
	katls_runtime_policy_free(p->ima.runtime_policy);
	free_strs(p->workload.exe_paths, p->workload.num_exe_paths);
	free(p->workload.exe_digests);
	katls_verify_cache_free(p->verify_cache);
	katls_ima_cache_free(p->ima_cache);
	memset(p, 0, sizeof(*p));
}

/* @key: the policy's key in a set (its name must match), or NULL. */
static int parse_policy(struct jctx *j, struct json_object *v, const char *key,
			struct katls_policy *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->max_age_s = DEFAULT_MAX_AGE;
	((struct pol_state *)j->priv)->pol = p;
	ret = JWALK(j, v, policy_keys);
	if (ret)
		return ret;
	if (key && p->name && strcmp(key, p->name))
		return jerr(j, "name \"%s\" differs from the policy's key", p->name);
	if ((p->workload.num_exe_paths || p->workload.num_exe_digests) && !p->ima.present)
		return jerr(j, "workload rules need an \"ima\" section: the workload's exe is "
			    "verified against the quoted IMA log, and an unverified workload "
			    "fails every rule");
	if (!p->name)
		p->name = strdup(key ? key : "default");
	return p->name ? compile(j, p) : -ENOMEM;
}

static int set_member(struct jctx *j, const char *k, struct json_object *v)
{
	struct katls_policy_set *set = ((struct pol_state *)j->priv)->set;
	int ret;

	if (!name_ok(k, strlen(k)))
		return bad_name(j);
	ret = parse_policy(j, v, k, &set->policies[set->num_policies]);
	set->num_policies++;	/* partially filled ones are freed too */
	return ret;
}

static int parse_set(struct jctx *j, struct json_object *v, struct katls_policy_set *set)
{
	size_t n;
	int ret = jwant(j, v, json_type_object);

	if (ret)
		return ret;
	n = (size_t)json_object_object_length(v);
	if (!n)
		return jerr(j, "no policies");
	set->policies = calloc(n, sizeof(*set->policies));
	if (!set->policies)
		return -ENOMEM;
	((struct pol_state *)j->priv)->set = set;
	return jmembers(j, v, set_member);
}

static int parse_top(struct jctx *j, struct json_object *obj, struct katls_policy_set *set)
{
	struct json_object *pols;
	int ret = jwant(j, obj, json_type_object);

	if (ret)
		return ret;
	if (json_object_object_get_ex(obj, "policies", &pols)) {
		size_t old;

		if (json_object_object_length(obj) != 1) {
			json_object_object_foreach(obj, k, unused) {
				(void)unused;
				if (strcmp(k, "policies"))
					return jerr(j, "unknown key \"%.60s\" beside "
						    "\"policies\"", k);
			}
		}
		old = jpush(j, "policies");
		ret = parse_set(j, pols, set);
		if (!ret)
			jpop(j, old);
		return ret;
	}
	set->policies = calloc(1, sizeof(*set->policies));
	if (!set->policies)
		return -ENOMEM;
	set->num_policies = 1;
	return parse_policy(j, obj, NULL, &set->policies[0]);
}

static int parse_with(struct jctx *j, const char *json, size_t len,
		      struct katls_policy_set **out)
{
	struct pol_state st = { NULL, NULL, 0 };
	struct katls_policy_set *set;
	struct json_object *obj;
	int ret;

	*out = NULL;
	j->priv = &st;
	ret = jparse_doc(j, json, len, &obj);
	if (ret)
		return ret;
	set = calloc(1, sizeof(*set));
	if (set)
		set->refs = 1;
	ret = set ? parse_top(j, obj, set) : -ENOMEM;
	json_object_put(obj);
	if (ret) {
		katls_policy_set_free(set);
		return ret;
	}
	*out = set;
	return 0;
}

int katls_policy_parse(const char *json, size_t len, const char *base_dir,
		       struct katls_policy_set **out, char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(NULL, err, err_len);

	j.base_dir = base_dir;
	return parse_with(&j, json, len, out);
}

int katls_policy_load(const char *path, struct katls_policy_set **out,
		      char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(path, err, err_len);
	const char *slash = strrchr(path, '/');
	char *dir, *json;
	size_t len;
	int ret;

	*out = NULL;
	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	ret = jload(path, &json, &len, err, err_len);
	if (ret) {
		free(dir);
		return ret;
	}
	j.base_dir = dir;
	ret = parse_with(&j, json, len, out);
	free(json);
	free(dir);
	return ret;
}

struct katls_policy_set *katls_policy_set_up_ref(struct katls_policy_set *set)
{
	__atomic_add_fetch(&set->refs, 1, __ATOMIC_RELAXED);
	return set;
}

void katls_policy_set_free(struct katls_policy_set *set)
{
	if (!set || __atomic_sub_fetch(&set->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (size_t i = 0; i < set->num_policies; i++)
		policy_cleanup(&set->policies[i]);
	free(set->policies);
	free(set);
}

const struct katls_policy *katls_policy_set_find(const struct katls_policy_set *set,
						 const char *name)
{
	for (size_t i = 0; set && i < set->num_policies; i++)
		if (!strcmp(set->policies[i].name, name))
			return &set->policies[i];
	return NULL;
}
