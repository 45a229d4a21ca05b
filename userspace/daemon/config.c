// SPDX-License-Identifier: MIT
/*
 * katlsd configuration: one JSON object, read with the library's strict
 * walker (json.h: unknown keys and wrong types are errors, every message
 * names the JSON path), relative paths resolved against the file's
 * directory.  The shape is documented in katlsd.json(5):
 *
 *   { "certificate": "server.pem", "key": "server.key", "ca": "ca.pem",
 *     "ciphersuites": "TLS_AES_128_GCM_SHA256:...",
 *     "policies": "policies.json", "default_policy": "prod",
 *     "tpm": { "tcti": "device:/dev/tpmrm0", "ak_handle": "0x81010002" },
 *     "ima": { "log": "/path", "digest_size": 32 },
 *     "max_workers": 128,
 *     "gate": { "pin_dir": "/sys/fs/bpf/katls", "required": false },
 *     "quote_batch": { "enabled": true, "max": 1024, "linger_ms": 0, "queue": 4096 } }
 *
 * Two steps: config_parse() turns the text into a struct katlsd_config and
 * touches no file (unit tests and tests/fuzz/fuzz_config.c call it
 * directly); prepare() then loads the certificate, key and policies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "katlsd.h"
#include "util/json.h"
#include "wire/tls.h"

static struct katlsd_config *cfg_of(struct jctx *j)
{
	return j->priv;
}

/* A non-empty string without NULs, copied into *@out. */
static int get_str(struct jctx *j, struct json_object *v, char **out)
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	if (!len)
		return jerr(j, "must not be empty");
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* A non-empty path, resolved against j->base_dir unless absolute. */
static int get_path(struct jctx *j, struct json_object *v, char **out)
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	if (!len)
		return jerr(j, "empty path");
	if (s[0] == '/' || !j->base_dir)
		*out = strdup(s);
	else if (asprintf(out, "%s/%s", j->base_dir, s) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

static int top_certificate(struct jctx *j, struct json_object *v)
{
	return get_path(j, v, &cfg_of(j)->cert_file);
}

static int top_key(struct jctx *j, struct json_object *v)
{
	return get_path(j, v, &cfg_of(j)->key_file);
}

static int top_ca(struct jctx *j, struct json_object *v)
{
	return get_path(j, v, &cfg_of(j)->ca_file);
}

static int top_policies(struct jctx *j, struct json_object *v)
{
	return get_path(j, v, &cfg_of(j)->policy_file);
}

static int top_ciphersuites(struct jctx *j, struct json_object *v)
{
	return get_str(j, v, &cfg_of(j)->ciphersuites);
}

static int top_default_policy(struct jctx *j, struct json_object *v)
{
	return get_str(j, v, &cfg_of(j)->default_policy);
}

/* An integer in lo..hi stored in *@out. */
static int get_uint(struct jctx *j, struct json_object *v, int64_t lo, int64_t hi,
		    unsigned int *out)
{
	int64_t n = 0;
	int ret = jget_int(j, v, lo, hi, &n);

	if (!ret)
		*out = (unsigned int)n;
	return ret;
}

static int top_max_workers(struct jctx *j, struct json_object *v)
{
	return get_uint(j, v, 1, 4096, &cfg_of(j)->max_workers);
}

static int tpm_tcti(struct jctx *j, struct json_object *v)
{
	return get_str(j, v, &cfg_of(j)->tcti);
}

/*
 * A TPM handle: a JSON integer, or a string of decimal digits or of 0x and
 * 1..8 hex digits ("0x81010002").  No sign, no blanks, no octal.
 */
static int tpm_ak_handle(struct jctx *j, struct json_object *v)
{
	const char *s;
	uint64_t n = 0;
	size_t len, i = 0;
	int64_t i64;
	int ret;

	if (json_object_is_type(v, json_type_int)) {
		ret = jget_int(j, v, 0, UINT32_MAX, &i64);
		if (!ret)
			cfg_of(j)->ak_handle = (uint32_t)i64;
		return ret;
	}
	if (!json_object_is_type(v, json_type_string))
		return jerr(j, "expected a number or a string like \"0x81010002\", got %s",
			    json_type_to_name(json_object_get_type(v)));
	ret = jget_str(j, v, &s, &len);
	if (ret)
		return ret;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < len && i < 10; i++) {
			int d = (s[i] >= '0' && s[i] <= '9') ? s[i] - '0' :
				(s[i] >= 'a' && s[i] <= 'f') ? s[i] - 'a' + 10 :
				(s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 10 : -1;

			if (d < 0)
				break;
			n = n << 4 | (uint64_t)d;
		}
	} else if (len && (s[0] != '0' || len == 1)) {
		for (; i < len && i < 10 && s[i] >= '0' && s[i] <= '9'; i++)
			n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (!len || i != len || n > UINT32_MAX)
		return jerr(j, "\"%.40s\" is not a 32-bit handle (decimal, or hex like "
			    "\"0x81010002\")", s);
	cfg_of(j)->ak_handle = (uint32_t)n;
	return 0;
}

static int top_tpm(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "tcti", tpm_tcti, false },
		{ "ak_handle", tpm_ak_handle, false },
	};

	return JWALK(j, v, keys);
}

static int ima_log(struct jctx *j, struct json_object *v)
{
	return get_path(j, v, &cfg_of(j)->ima_log);
}

/* 0: the library default (32 for a log file, 20 for securityfs). */
static int ima_digest_size(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = jget_int(j, v, 0, 64, &n);

	if (ret)
		return ret;
	if (n && n != 20 && n != 32 && n != 48 && n != 64)
		return jerr(j, "must be 20, 32, 48 or 64 (or 0: the default)");
	cfg_of(j)->ima_digest_size = (uint32_t)n;
	return 0;
}

static int top_ima(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "log", ima_log, false },
		{ "digest_size", ima_digest_size, false },
	};

	return JWALK(j, v, keys);
}

/*
 * "127.0.0.1:9466" or "[::1]:9466": a numeric address (no name lookups) and
 * a port, 1..65535.
 */
static int metrics_listen(struct jctx *j, struct json_object *v)
{
	struct katlsd_config *c = cfg_of(j);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&c->metrics.addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->metrics.addr;
	const char *s, *colon, *h;
	char host[INET6_ADDRSTRLEN];
	size_t hlen, plen;
	unsigned long port = 0;
	int ret = get_str(j, v, &c->metrics.listen);

	if (ret)
		return ret;
	s = c->metrics.listen;
	colon = strrchr(s, ':');
	h = s;
	hlen = colon ? (size_t)(colon - s) : 0;
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']')
		h++, hlen -= 2;
	plen = colon ? strlen(colon + 1) : 0;
	for (size_t i = 0; i < plen && plen <= 5; i++)
		port = colon[1 + i] >= '0' && colon[1 + i] <= '9' && (i == 0 || port) ?
		       port * 10 + (unsigned long)(colon[1 + i] - '0') : 0;
	if (!colon || !hlen || hlen >= sizeof(host) || !port || port > 65535 || colon[1] == '0')
		return jerr(j, "\"%.80s\" is not ADDRESS:PORT (like \"127.0.0.1:9466\" or "
			    "\"[::1]:9466\")", s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&c->metrics.addr, 0, sizeof(c->metrics.addr));
	if (h != s && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		c->metrics.addr_len = sizeof(*s6);
	} else if (h == s && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		c->metrics.addr_len = sizeof(*s4);
	} else {
		return jerr(j, "\"%.80s\" is not a numeric IPv4 address or a bracketed IPv6 "
			    "one (like \"127.0.0.1:9466\" or \"[::1]:9466\")", s);
	}
	return 0;
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 */
static bool loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	       (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
}

static int metrics_allow_remote(struct jctx *j, struct json_object *v)
{
	return jget_bool(j, v, &cfg_of(j)->metrics.allow_remote);
}

static int metrics_unix(struct jctx *j, struct json_object *v)
{
	struct sockaddr_un un;
	int ret = get_path(j, v, &cfg_of(j)->metrics.unix_path);

	if (!ret && strlen(cfg_of(j)->metrics.unix_path) >= sizeof(un.sun_path))
		return jerr(j, "a socket path has at most %zu bytes", sizeof(un.sun_path) - 1);
	return ret;
}

/* "0660": three or four octal digits, at most 0777. */
static int metrics_unix_mode(struct jctx *j, struct json_object *v)
{
	unsigned int mode = 0;
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	for (size_t i = 0; i < len && (len == 3 || len == 4); i++)
		mode = s[i] >= '0' && s[i] <= '7' ? mode << 3 | (unsigned int)(s[i] - '0') : ~0u;
	if ((len != 3 && len != 4) || mode > 0777)
		return jerr(j, "\"%.20s\" is not a file mode like \"0660\" (octal, at most 0777)",
			    s);
	cfg_of(j)->metrics.unix_mode = mode;
	return 0;
}

static int top_metrics(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "listen", metrics_listen, false },
		{ "allow_remote", metrics_allow_remote, false },
		{ "unix", metrics_unix, false },
		{ "unix_mode", metrics_unix_mode, false },
	};
	struct katlsd_config *c = cfg_of(j);
	size_t old;
	int ret;

	c->metrics.unix_mode = 0600;	/* unless unix_mode says otherwise */
	ret = JWALK(j, v, keys);
	if (ret)
		return ret;
	if (!c->metrics.listen && !c->metrics.unix_path)
		return jerr(j, "set \"listen\" (a loopback TCP address) or \"unix\" (a socket "
			    "path), or leave \"metrics\" out");
	if (c->metrics.listen && !c->metrics.allow_remote && !loopback(&c->metrics.addr)) {
		old = jpush(j, "listen");
		jerr(j, "%s is not a loopback address: the endpoint has neither TLS nor "
		     "authentication; set \"allow_remote\": true to serve it beyond this host",
		     c->metrics.listen);
		jpop(j, old);
		return -EINVAL;
	}
	return 0;
}

static int gate_pin_dir(struct jctx *j, struct json_object *v)
{
	return get_path(j, v, &cfg_of(j)->gate_pin_dir);
}

static int gate_required(struct jctx *j, struct json_object *v)
{
	return jget_bool(j, v, &cfg_of(j)->gate_required);
}

static int top_gate(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "pin_dir", gate_pin_dir, false },
		{ "required", gate_required, false },
	};

	return JWALK(j, v, keys);
}

static int batch_enabled(struct jctx *j, struct json_object *v)
{
	return jget_bool(j, v, &cfg_of(j)->batch.enabled);
}

static int batch_max(struct jctx *j, struct json_object *v)
{
	return get_uint(j, v, 2, KATLS_BATCH_MAX, &cfg_of(j)->batch.max);
}

static int batch_linger_ms(struct jctx *j, struct json_object *v)
{
	return get_uint(j, v, 0, KATLS_QUOTE_LINGER_MAX_MS, &cfg_of(j)->batch.linger_ms);
}

static int batch_queue(struct jctx *j, struct json_object *v)
{
	return get_uint(j, v, 1, 65536, &cfg_of(j)->batch.queue);
}

static int top_quote_batch(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "enabled", batch_enabled, false },
		{ "max", batch_max, false },
		{ "linger_ms", batch_linger_ms, false },
		{ "queue", batch_queue, false },
	};

	return JWALK(j, v, keys);
}

static const struct jkey top_keys[] = {
	{ "description", jany_str, false },
	{ "certificate", top_certificate, true },
	{ "key", top_key, true },
	{ "ca", top_ca, false },
	{ "ciphersuites", top_ciphersuites, false },
	{ "policies", top_policies, false },
	{ "default_policy", top_default_policy, false },
	{ "tpm", top_tpm, false },
	{ "ima", top_ima, false },
	{ "metrics", top_metrics, false },
	{ "max_workers", top_max_workers, false },
	{ "gate", top_gate, false },
	{ "quote_batch", top_quote_batch, false },
};

/*
 * The parse step: @len bytes of JSON into a new configuration (refs = 1),
 * relative paths resolved against j->base_dir (NULL: kept relative).  Reads
 * no file.  Return: 0 and *@out, or -EINVAL (message in j->err) / -ENOMEM.
 */
static int config_parse(struct jctx *j, const char *json, size_t len,
			struct katlsd_config **out)
{
	struct katlsd_config *c = calloc(1, sizeof(*c));
	struct json_object *root = NULL;
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->refs = 1;
	c->max_workers = KATLSD_MAX_WORKERS_DEFAULT;
	c->batch.enabled = true;
	j->priv = c;
	ret = jparse_doc(j, json, len, &root);
	if (!ret)
		ret = JWALK(j, root, top_keys);
	json_object_put(root);
	j->priv = NULL;
	if (ret) {
		katlsd_config_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

/* The error of @key's value (in the root object): "<file>: $.key: ...". */
__attribute__((format(printf, 3, 4)))
static int key_err(struct jctx *j, const char *key, const char *fmt, ...)
{
	size_t old = jpush(j, key);
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jerr(j, "%s", msg);
	jpop(j, old);
	return -EINVAL;
}

static int load_identity(struct jctx *j, struct katlsd_config *c)
{
	BIO *bio = BIO_new_file(c->cert_file, "r");
	X509 *x;

	c->leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!c->leaf) {
		BIO_free(bio);
		ERR_clear_error();
		return key_err(j, "certificate", "cannot read a PEM certificate from %s",
			       c->cert_file);
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
	if (!c->key)
		return key_err(j, "key", "cannot read a PEM private key from %s", c->key_file);
	if (X509_check_private_key(c->leaf, c->key) != 1) {
		ERR_clear_error();
		return key_err(j, "key", "%s does not match certificate %s", c->key_file,
			       c->cert_file);
	}
	return 0;
}

/* The prepare step: load what the parsed paths name. */
static int prepare(struct jctx *j, struct katlsd_config *c)
{
	struct katls_tls_config tc = {
		.cert_file = c->cert_file, .key_file = c->key_file,
		.ciphersuites = c->ciphersuites,
	};
	char perr[512] = "";
	int ret = load_identity(j, c);

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
		snprintf(j->err, j->err_len, "%s: TLS: %s", j->file,
			 *perr ? perr : strerror(-ret));
		return ret;
	}
	if (c->policy_file) {
		ret = katls_policy_load(c->policy_file, &c->policies, perr, sizeof(perr));
		if (ret) {
			key_err(j, "policies", "%s", *perr ? perr : strerror(-ret));
			return ret;
		}
		if (!c->policies->num_policies)
			return key_err(j, "policies", "%s defines no policy", c->policy_file);
	}
	if (c->default_policy && (!c->policies || !katls_policy_set_find(c->policies,
									  c->default_policy)))
		return key_err(j, "default_policy", "no policy named \"%s\"%s",
			       c->default_policy, c->policies ? "" : " (no \"policies\" file)");
	return 0;
}

int katlsd_config_load(const char *path, struct katlsd_config **out, char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(path, err, err_len);
	const char *slash = strrchr(path, '/');
	struct katlsd_config *c = NULL;
	char *dir, *json = NULL;
	size_t len;
	int ret;

	*out = NULL;
	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	ret = jload(path, &json, &len, err, err_len);
	if (!ret) {
		j.base_dir = dir;
		ret = config_parse(&j, json, len, &c);
	}
	if (!ret) {
		c->path = strdup(path);
		ret = c->path ? prepare(&j, c) : -ENOMEM;
	}
	free(json);
	free(dir);
	if (ret) {
		if (ret == -ENOMEM)
			snprintf(err, err_len, "%s: %s", path, strerror(ENOMEM));
		katlsd_config_free(c);
		return ret;
	}
	*out = c;
	return 0;
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
	free(c->metrics.listen);
	free(c->metrics.unix_path);
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
