// SPDX-License-Identifier: MIT
/*
 * katlsd configuration: one JSON object (json-c, the project's JSON library),
 * unknown keys are errors, relative paths are resolved against the file's
 * directory.  The shape is documented in katlsd.json(5):
 *
 *   { "certificate": "server.pem", "key": "server.key", "ca": "ca.pem",
 *     "ciphersuites": "TLS_AES_128_GCM_SHA256:...",
 *     "policies": "policies.json", "default_policy": "prod",
 *     "tpm": { "tcti": "device:/dev/tpmrm0", "ak_handle": "0x81010002" },
 *     "ima": { "log": "/path", "digest_size": 32 },
 *     "max_workers": 128,
 *     "gate": { "pin_dir": "/sys/fs/bpf/katls", "required": false } }
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "katlsd.h"
#include "tls.h"

struct key_desc {
	const char *name;
	json_type type;
};

static int check_keys(json_object *o, const char *where, const struct key_desc *keys,
		      char *err, size_t err_len)
{
	json_object_object_foreach(o, k, v) {
		const struct key_desc *d;

		for (d = keys; d->name && strcmp(d->name, k); d++)
			;
		if (!d->name) {
			snprintf(err, err_len, "%s%s: unknown key", where, k);
			return -EINVAL;
		}
		if (!json_object_is_type(v, d->type) &&
		    !(d->type == json_type_int && json_object_is_type(v, json_type_string))) {
			snprintf(err, err_len, "%s%s: must be %s", where, k,
				 json_type_to_name(d->type));
			return -EINVAL;
		}
	}
	return 0;
}

/* A path value, resolved against @dir. */
static int get_path(json_object *o, const char *key, const char *dir, char **out)
{
	json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	s = json_object_get_string(v);
	if (!*s)
		return -EINVAL;
	if (*s == '/' || !dir)
		*out = strdup(s);
	else if (asprintf(out, "%s/%s", dir, s) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

static int get_str(json_object *o, const char *key, char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -ENOMEM;
}

/* An integer, also as a string ("0x81010002"). */
static int get_u32(json_object *o, const char *key, uint32_t *out)
{
	json_object *v;
	unsigned long long n;
	char *end;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		if (i < 0 || i > UINT32_MAX)
			return -ERANGE;
		*out = (uint32_t)i;
		return 0;
	}
	errno = 0;
	n = strtoull(json_object_get_string(v), &end, 0);
	if (errno || *end || end == json_object_get_string(v) || n > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int load_identity(struct katlsd_config *c, char *err, size_t err_len)
{
	BIO *bio = BIO_new_file(c->cert_file, "r");
	X509 *x;

	c->leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!c->leaf) {
		BIO_free(bio);
		ERR_clear_error();
		snprintf(err, err_len, "certificate: cannot read %s", c->cert_file);
		return -EINVAL;
	}
	c->chain = sk_X509_new_null();
	while (c->chain && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(c->chain, x);
	BIO_free(bio);
	ERR_clear_error();
	bio = BIO_new_file(c->key_file, "r");
	c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!c->key) {
		snprintf(err, err_len, "key: cannot read %s", c->key_file);
		return -EINVAL;
	}
	if (X509_check_private_key(c->leaf, c->key) != 1) {
		ERR_clear_error();
		snprintf(err, err_len, "key: %s does not match certificate %s", c->key_file,
			 c->cert_file);
		return -EINVAL;
	}
	return 0;
}

static int prepare(struct katlsd_config *c, char *err, size_t err_len)
{
	struct katls_tls_config tc = {
		.cert_file = c->cert_file, .key_file = c->key_file,
		.ciphersuites = c->ciphersuites,
	};
	char perr[512];
	int ret;

	if (!c->cert_file || !c->key_file) {
		snprintf(err, err_len, "\"certificate\" and \"key\" are required");
		return -EINVAL;
	}
	ret = load_identity(c, err, err_len);
	if (ret)
		return ret;
	tc.role = KATLS_ROLE_SERVER;
	ret = katls_tls_ctx_new(&c->server_ctx, &tc, perr, sizeof(perr));
	if (!ret) {
		tc.role = KATLS_ROLE_CLIENT;
		tc.ca_file = c->ca_file;	/* the client checks the server's handshake cert */
		ret = katls_tls_ctx_new(&c->client_ctx, &tc, perr, sizeof(perr));
	}
	if (ret) {
		snprintf(err, err_len, "TLS: %s", perr);
		return ret;
	}
	if (c->policy_file) {
		ret = katls_policy_load(c->policy_file, &c->policies, perr, sizeof(perr));
		if (ret) {
			snprintf(err, err_len, "policies: %s", *perr ? perr : strerror(-ret));
			return ret;
		}
		if (!c->policies->num_policies) {
			snprintf(err, err_len, "policies: %s defines no policy", c->policy_file);
			return -EINVAL;
		}
	}
	if (c->default_policy && (!c->policies || !katls_policy_set_find(c->policies,
									  c->default_policy))) {
		snprintf(err, err_len, "default_policy: no policy named '%s'%s", c->default_policy,
			 c->policies ? "" : " (no \"policies\" file)");
		return -EINVAL;
	}
	return 0;
}

int katlsd_config_load(const char *path, struct katlsd_config **out, char *err, size_t err_len)
{
	static const struct key_desc top[] = {
		{ "certificate", json_type_string }, { "key", json_type_string },
		{ "ca", json_type_string }, { "ciphersuites", json_type_string },
		{ "policies", json_type_string }, { "default_policy", json_type_string },
		{ "tpm", json_type_object }, { "ima", json_type_object },
		{ "max_workers", json_type_int }, { "gate", json_type_object },
		{ "description", json_type_string }, { NULL, 0 }
	};
	static const struct key_desc tpm[] = {
		{ "tcti", json_type_string }, { "ak_handle", json_type_int }, { NULL, 0 }
	};
	static const struct key_desc ima[] = {
		{ "log", json_type_string }, { "digest_size", json_type_int }, { NULL, 0 }
	};
	static const struct key_desc gate[] = {
		{ "pin_dir", json_type_string }, { "required", json_type_boolean }, { NULL, 0 }
	};
	struct katlsd_config *c = calloc(1, sizeof(*c));
	json_object *root = NULL, *sub;
	char *dup = NULL, *dir;
	char perr[600] = "";
	int ret = -ENOMEM;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->refs = 1;
	c->max_workers = KATLSD_MAX_WORKERS_DEFAULT;
	c->path = strdup(path);
	dup = strdup(path);
	if (!c->path || !dup)
		goto fail;
	dir = dirname(dup);
	root = json_object_from_file(path);
	if (!root) {
		FILE *f = fopen(path, "r");

		ret = f ? -EINVAL : -errno;
		if (f)
			fclose(f);
		snprintf(perr, sizeof(perr), "%s", f ? json_util_get_last_err() : strerror(-ret));
		perr[strcspn(perr, "\n")] = '\0';
		goto fail;
	}
	ret = -EINVAL;
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(perr, sizeof(perr), "the top level must be a JSON object");
		goto fail;
	}
	if (check_keys(root, "", top, perr, sizeof(perr)))
		goto fail;
	ret = get_path(root, "certificate", dir, &c->cert_file);
	if (!ret)
		ret = get_path(root, "key", dir, &c->key_file);
	if (!ret)
		ret = get_path(root, "ca", dir, &c->ca_file);
	if (!ret)
		ret = get_path(root, "policies", dir, &c->policy_file);
	if (!ret)
		ret = get_str(root, "ciphersuites", &c->ciphersuites);
	if (!ret)
		ret = get_str(root, "default_policy", &c->default_policy);
	if (ret) {
		snprintf(perr, sizeof(perr), "a string value is empty or memory ran out");
		goto fail;
	}
	if (get_u32(root, "max_workers", &c->max_workers) || !c->max_workers ||
	    c->max_workers > 4096) {
		snprintf(perr, sizeof(perr), "max_workers: must be 1..4096");
		ret = -EINVAL;
		goto fail;
	}
	if (json_object_object_get_ex(root, "tpm", &sub)) {
		if (check_keys(sub, "tpm.", tpm, perr, sizeof(perr)))
			goto fail;
		if (get_u32(sub, "ak_handle", &c->ak_handle)) {
			snprintf(perr, sizeof(perr), "tpm.ak_handle: not a 32-bit number");
			goto fail;
		}
		if (get_str(sub, "tcti", &c->tcti))
			goto fail;
	}
	if (json_object_object_get_ex(root, "ima", &sub)) {
		if (check_keys(sub, "ima.", ima, perr, sizeof(perr)))
			goto fail;
		if (get_u32(sub, "digest_size", &c->ima_digest_size) ||
		    (c->ima_digest_size && c->ima_digest_size != 20 && c->ima_digest_size != 32 &&
		     c->ima_digest_size != 48 && c->ima_digest_size != 64)) {
			snprintf(perr, sizeof(perr), "ima.digest_size: must be 20, 32, 48 or 64");
			goto fail;
		}
		if (get_path(sub, "log", dir, &c->ima_log))
			goto fail;
	}
	if (json_object_object_get_ex(root, "gate", &sub)) {
		json_object *v;

		if (check_keys(sub, "gate.", gate, perr, sizeof(perr)))
			goto fail;
		if (get_path(sub, "pin_dir", NULL, &c->gate_pin_dir))
			goto fail;
		if (json_object_object_get_ex(sub, "required", &v))
			c->gate_required = json_object_get_boolean(v);
	}
	ret = prepare(c, perr, sizeof(perr));
	if (ret)
		goto fail;
	json_object_put(root);
	free(dup);
	*out = c;
	return 0;
fail:
	snprintf(err, err_len, "%s: %s", path, *perr ? perr : strerror(-ret));
	json_object_put(root);
	free(dup);
	katlsd_config_free(c);
	return ret ? ret : -EINVAL;
}

void katlsd_config_free(struct katlsd_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca_file);
	free(c->ciphersuites);
	free(c->policy_file);
	free(c->default_policy);
	free(c->tcti);
	free(c->ima_log);
	free(c->gate_pin_dir);
	katls_policy_set_free(c->policies);
	SSL_CTX_free(c->client_ctx);
	SSL_CTX_free(c->server_ctx);
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	free(c);
}

const struct katls_policy *katlsd_config_policy(const struct katlsd_config *c, const char *name)
{
	if (!c->policies)
		return NULL;
	if (name && *name)
		return katls_policy_set_find(c->policies, name);
	if (c->default_policy)
		return katls_policy_set_find(c->policies, c->default_policy);
	return &c->policies->policies[0];
}
