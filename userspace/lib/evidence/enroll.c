// SPDX-License-Identifier: MIT
/*
 * AK enrollment with the EK: the registrar's checks, the challenge
 * (software MakeCredential, credential.c), the verification of the answer,
 * and the files the steps exchange.  See enroll.h for the protocol and
 * docs/enroll.md for what it proves.
 *
 * Everything read from a request, challenge or response directory is
 * untrusted input: sizes are bounded, hex and index files are parsed
 * exactly, binary files must parse to their end.  Secrets (the credential,
 * the pending-challenge text) are wiped after use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_tpm2_types.h>

#include "evidence/enroll.h"
#include "util/hex.h"
#include "util/io.h"
#include "util/json.h"

/* File names in the exchanged directories (docs/enroll.md). */
#define F_EK_CERT	"ek-cert.der"
#define F_EK_PUB	"ek.pub"
#define F_AK_PUB	"ak.pub"
#define F_AK_NAME	"ak.name"
#define F_EK_INDEX	"ek-nv-index"
#define F_CRED		"credential.tpm2"
#define F_ID		"challenge-id"
#define F_SECRET	"secret"

#define CERT_MAX	4096
#define PUBLIC_MAX	1024
#define CA_FILE_MAX	(1u << 20)
#define CLOCK_SKEW	300	/* seconds a pending challenge may lie in the future */
#define LABEL_MAX	253

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* ---- files ---------------------------------------------------------------------- */

static int join(char *out, const char *dir, const char *name)
{
	return (size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int make_dir(const char *dir, mode_t mode, char *err, size_t err_len)
{
	struct stat st;

	if (mkdir(dir, mode) && errno != EEXIST)
		return fail(err, err_len, -errno, "%s: cannot create: %s", dir, strerror(errno));
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return fail(err, err_len, -ENOTDIR, "%s: not a directory", dir);
	if ((mode & 077) == 0 && (st.st_mode & 077) && chmod(dir, mode))
		return fail(err, err_len, -errno, "%s: cannot make it private: %s", dir,
			    strerror(errno));
	return 0;
}

/* DIR/NAME, 1..@max bytes, into @out; -ENOENT is quiet when @optional. */
static int read_in(const char *dir, const char *name, size_t max, bool optional,
		   struct katls_buf *out, char *err, size_t err_len)
{
	char path[PATH_MAX], *data = NULL;
	size_t len = 0;
	int ret = join(path, dir, name);

	if (!ret)
		ret = katls_read_file(path, &data, &len);
	if (ret == -ENOENT && optional)
		return ret;
	if (!ret && (!len || len > max))
		ret = len ? -EFBIG : -ENODATA;
	if (!ret) {
		out->len = 0;
		ret = katls_put_bytes(out, data, len);
	}
	if (data) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	if (ret)
		return fail(err, err_len, ret == -EFBIG || ret == -ENODATA ? -EBADMSG : ret,
			    "%s: %s", path, ret == -EFBIG ? "too large" : ret == -ENODATA ?
			    "empty" : strerror(-ret));
	return 0;
}

static int write_out(const char *dir, const char *name, const void *p, size_t len,
		     mode_t mode, char *err, size_t err_len)
{
	char path[PATH_MAX];
	int fd, ret = join(path, dir, name);

	if (ret)
		return fail(err, err_len, ret, "%s/%s: path too long", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return fail(err, err_len, -errno, "%s: %s", path, strerror(errno));
	if (fchmod(fd, mode))
		ret = -errno;
	if (!ret)
		ret = katls_write_all(fd, p, len);
	if (close(fd) && !ret)
		ret = -errno;
	return ret ? fail(err, err_len, ret, "%s: %s", path, strerror(-ret)) : 0;
}

/* A text file of hex digits and at most one final newline. */
static int read_hex(const char *dir, const char *name, size_t max, bool optional,
		    uint8_t *out, size_t *out_len, char *err, size_t err_len)
{
	struct katls_buf b = KATLS_BUF_INIT;
	int ret = read_in(dir, name, 2 * max + 1, optional, &b, err, err_len);
	size_t n;

	if (ret)
		return ret;
	n = b.len;
	if (b.data[n - 1] == '\n')
		n--;
	if (!n || n % 2 || n / 2 > max)
		ret = fail(err, err_len, -EBADMSG, "%s/%s: expected 2..%zu hex digits", dir, name,
			   2 * max);
	for (size_t i = 0; !ret && i < n; i += 2) {
		int hi = katls_hex_digit((char)b.data[i]);
		int lo = katls_hex_digit((char)b.data[i + 1]);

		if (hi < 0 || lo < 0)
			ret = fail(err, err_len, -EBADMSG, "%s/%s: not hex", dir, name);
		else
			out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	if (!ret)
		*out_len = n / 2;
	katls_buf_cleanup(&b);
	return ret;
}

static int write_hex(const char *dir, const char *name, const uint8_t *p, size_t len,
		     char *err, size_t err_len)
{
	char text[2 * KATLS_TPM_NAME_MAX + 2];

	if (len > KATLS_TPM_NAME_MAX)
		return -EINVAL;
	katls_hex_encode(text, p, len);
	text[2 * len] = '\n';
	return write_out(dir, name, text, 2 * len + 1, 0644, err, err_len);
}

/* "0x01c00002\n": the NV index the EK certificate was read from. */
static int read_index(const char *dir, uint32_t *out, char *err, size_t err_len)
{
	struct katls_buf b = KATLS_BUF_INIT;
	char text[16];
	unsigned int v = 0;
	int n = 0, ret = read_in(dir, F_EK_INDEX, sizeof(text) - 1, true, &b, err, err_len);

	*out = 0;
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	katls_buf_cleanup(&b);
	if (sscanf(text, "0x%8x%n", &v, &n) != 1 || n != 10 || (text[n] && strcmp(text + n, "\n")) ||
	    (v & 0xffff0000u) != 0x01c00000u)
		return fail(err, err_len, -EBADMSG, "%s/%s: expected an NV index 0x01c0xxxx", dir,
			    F_EK_INDEX);
	*out = v;
	return 0;
}

static int write_index(const char *dir, uint32_t index, char *err, size_t err_len)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "0x%08x\n", index);

	return index ? write_out(dir, F_EK_INDEX, text, (size_t)n, 0644, err, err_len) : 0;
}

/* "<32 hex digits>\n" */
static int read_id(const char *dir, char id[KATLS_ENROLL_ID_HEX], char *err, size_t err_len)
{
	uint8_t raw[KATLS_ENROLL_ID_LEN];
	size_t n = 0;
	int ret = read_hex(dir, F_ID, sizeof(raw), false, raw, &n, err, err_len);

	if (!ret && n != sizeof(raw))
		ret = fail(err, err_len, -EBADMSG, "%s/%s: expected %d hex digits", dir, F_ID,
			   2 * KATLS_ENROLL_ID_LEN);
	if (!ret)
		katls_hex_encode(id, raw, n);
	return ret;
}

static bool id_ok(const char *id)
{
	size_t n = strnlen(id, KATLS_ENROLL_ID_HEX);

	if (n != KATLS_ENROLL_ID_HEX - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* ---- request ------------------------------------------------------------------------ */

void katls_enroll_request_cleanup(struct katls_enroll_request *req)
{
	if (!req)
		return;
	katls_buf_cleanup(&req->ek_cert);
	katls_buf_cleanup(&req->ek_public);
	katls_buf_cleanup(&req->ak_public);
	memset(req, 0, sizeof(*req));
}

int katls_enroll_request_write(const char *dir, const struct katls_enroll_request *req,
			       char *err, size_t err_len)
{
	int ret = make_dir(dir, 0755, err, err_len);

	if (!ret)
		ret = write_out(dir, F_EK_CERT, req->ek_cert.data, req->ek_cert.len, 0644, err,
				err_len);
	if (!ret)
		ret = write_out(dir, F_EK_PUB, req->ek_public.data, req->ek_public.len, 0644, err,
				err_len);
	if (!ret)
		ret = write_out(dir, F_AK_PUB, req->ak_public.data, req->ak_public.len, 0644, err,
				err_len);
	if (!ret && req->ak_name_len)
		ret = write_hex(dir, F_AK_NAME, req->ak_name, req->ak_name_len, err, err_len);
	if (!ret)
		ret = write_index(dir, req->ek_nv_index, err, err_len);
	return ret;
}

int katls_enroll_request_read(const char *dir, struct katls_enroll_request *req,
			      char *err, size_t err_len)
{
	int ret;

	memset(req, 0, sizeof(*req));
	ret = read_in(dir, F_EK_CERT, CERT_MAX, false, &req->ek_cert, err, err_len);
	if (!ret)
		ret = read_in(dir, F_EK_PUB, PUBLIC_MAX, false, &req->ek_public, err, err_len);
	if (!ret)
		ret = read_in(dir, F_AK_PUB, PUBLIC_MAX, false, &req->ak_public, err, err_len);
	if (!ret) {
		ret = read_hex(dir, F_AK_NAME, KATLS_TPM_NAME_MAX, true, req->ak_name,
			       &req->ak_name_len, err, err_len);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (!ret)
		ret = read_index(dir, &req->ek_nv_index, err, err_len);
	return ret;
}

/* ---- manufacturer CAs ------------------------------------------------------------------- */

struct katls_enroll_ca {
	X509_STORE *store;
	size_t num;
};

void katls_enroll_ca_free(struct katls_enroll_ca *ca)
{
	if (!ca)
		return;
	X509_STORE_free(ca->store);
	free(ca);
}

static int ca_add(struct katls_enroll_ca *ca, X509 *x)
{
	int ok = X509_STORE_add_cert(ca->store, x);

	X509_free(x);
	ERR_clear_error();	/* a duplicate is not an error */
	ca->num += ok == 1;
	return 0;
}

/* One file: PEM with one or more certificates, or one DER certificate. */
static int ca_file(struct katls_enroll_ca *ca, const char *path, char *err, size_t err_len)
{
	char *data = NULL;
	size_t len = 0, before = ca->num;
	int ret = katls_read_file(path, &data, &len);
	BIO *bio;
	X509 *x;

	if (!ret && len > CA_FILE_MAX)
		ret = -EFBIG;
	if (ret) {
		free(data);
		return fail(err, err_len, ret, "%s: %s", path, strerror(-ret));
	}
	bio = BIO_new_mem_buf(data, (int)len);
	while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		ca_add(ca, x);
	BIO_free(bio);
	ERR_clear_error();
	if (ca->num == before) {
		const unsigned char *p = (const unsigned char *)data;

		x = d2i_X509(NULL, &p, (long)len);
		if (x && p == (const unsigned char *)data + len)
			ca_add(ca, x);
		else
			X509_free(x);
		ERR_clear_error();
	}
	free(data);
	if (ca->num == before)
		return fail(err, err_len, -EBADMSG, "%s: no PEM or DER certificate", path);
	return 0;
}

static bool ca_name(const char *name)
{
	static const char *const ext[] = { ".pem", ".crt", ".cer", ".der" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (n > 4 && !strcmp(name + n - 4, ext[i]))
			return true;
	return false;
}

static int ca_path(struct katls_enroll_ca *ca, const char *path, char *err, size_t err_len)
{
	struct dirent **list = NULL;
	char file[PATH_MAX];
	struct stat st;
	int n, ret = 0;

	if (stat(path, &st))
		return fail(err, err_len, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ca_file(ca, path, err, err_len);
	n = scandir(path, &list, NULL, alphasort);
	if (n < 0)
		return fail(err, err_len, -errno, "%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		if (!ret && ca_name(list[i]->d_name) && !join(file, path, list[i]->d_name) &&
		    !stat(file, &st) && S_ISREG(st.st_mode))
			ret = ca_file(ca, file, err, err_len);
		free(list[i]);
	}
	free(list);
	return ret;
}

int katls_enroll_ca_load(const char *const *paths, size_t num_paths,
			 struct katls_enroll_ca **out, char *err, size_t err_len)
{
	struct katls_enroll_ca *ca = calloc(1, sizeof(*ca));
	int ret = 0;

	*out = NULL;
	if (!ca || !(ca->store = X509_STORE_new())) {
		katls_enroll_ca_free(ca);
		return -ENOMEM;
	}
	/* Every certificate the operator gives is an anchor, roots or not. */
	X509_STORE_set_flags(ca->store, X509_V_FLAG_PARTIAL_CHAIN);
	for (size_t i = 0; !ret && i < num_paths; i++)
		ret = ca_path(ca, paths[i], err, err_len);
	if (!ret && !ca->num)
		ret = fail(err, err_len, -ENOENT, "no EK CA certificate found in the given paths");
	if (ret) {
		katls_enroll_ca_free(ca);
		return ret;
	}
	*out = ca;
	return 0;
}

/* ---- the registrar's checks ---------------------------------------------------------------- */

static char *name_line(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL, *p = NULL;
	long n;

	if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &p)) >= 0) {
		if (n > 1024)
			n = 1024;
		s = strndup(p ? p : "", (size_t)n);
	}
	BIO_free(bio);
	return s;
}

static char *serial_hex(const X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn && !BN_is_negative(bn) && BN_num_bytes(bn) <= 20 ? BN_bn2hex(bn) : NULL;
	char *s = hex ? strdup(hex) : NULL;

	for (char *c = s; c && *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	OPENSSL_free(hex);
	BN_free(bn);
	return s;
}

/* The EK certificate chains to the manufacturer CAs. */
static int check_chain(X509 *cert, const struct katls_enroll_ca *ca, char *err, size_t err_len)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char *issuer;
	int ok, code;

	if (!ctx || !X509_STORE_CTX_init(ctx, ca->store, cert, NULL)) {
		X509_STORE_CTX_free(ctx);
		return -ENOMEM;
	}
	ok = X509_verify_cert(ctx) == 1;
	code = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	if (ok)
		return 0;
	issuer = name_line(X509_get_issuer_name(cert));
	fail(err, err_len, -EACCES, "the EK certificate (issuer \"%s\") does not chain to the "
	     "given EK CA certificates: %s", issuer ? issuer : "?",
	     X509_verify_cert_error_string(code));
	free(issuer);
	return -EACCES;
}

/* ek.pub is an EK and the certificate's public key is its key. */
static int check_ek(X509 *cert, const struct katls_enroll_request *req,
		    struct katls_enroll_record *out, char *err, size_t err_len)
{
	struct katls_ek_public ek;
	EVP_PKEY *pk = NULL;
	char msg[256];
	int ret = katls_ek_public_parse(req->ek_public.data, req->ek_public.len, &ek, msg,
					sizeof(msg));

	if (ret)
		return fail(err, err_len, ret == -EINVAL ? -EACCES : ret == -EOPNOTSUPP ?
			    -EACCES : -EBADMSG, "ek.pub: %s", msg);
	ret = katls_quote_public_pkey(&ek.pub, &pk);
	if (!ret && EVP_PKEY_eq(X509_get0_pubkey(cert), pk) != 1)
		ret = fail(err, err_len, -EACCES, "the EK certificate certifies another key than "
			   "the EK in ek.pub");
	EVP_PKEY_free(pk);
	ERR_clear_error();
	if (!ret && katls_quote_public_name(&ek.pub, out->ek_name, &out->ek_name_len))
		ret = -ENOMEM;
	return ret;
}

/* ak.pub is a restricted signing key resident in a TPM; its Name, computed here. */
static int check_ak(const struct katls_enroll_request *req, struct katls_enroll_record *out,
		    char *err, size_t err_len)
{
	static const struct {
		uint32_t bit;
		bool set;
		const char *what;
	} attrs[] = {
		{ TPMA_OBJECT_RESTRICTED, true, "restricted" },
		{ TPMA_OBJECT_FIXEDTPM, true, "fixedTPM" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, true, "sensitiveDataOrigin" },
		{ TPMA_OBJECT_SIGN_ENCRYPT, true, "sign" },
		{ TPMA_OBJECT_DECRYPT, false, "decrypt" },
	};
	struct katls_tpm_public pub;
	char hex[2 * KATLS_TPM_NAME_MAX + 1];

	if (katls_quote_public_parse(req->ak_public.data, req->ak_public.len, &pub))
		return fail(err, err_len, -EBADMSG, "ak.pub is not a TPMT_PUBLIC of an RSA or "
			    "ECC key");
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (!(pub.attrs & attrs[i].bit) == attrs[i].set)
			return fail(err, err_len, -EACCES, "ak.pub: the AK %s %s (attributes "
				    "0x%08x): not an attestation key", attrs[i].set ? "lacks" :
				    "has", attrs[i].what, pub.attrs);
	if (!katls_quote_is_ak(&pub))
		return fail(err, err_len, -EACCES, "ak.pub: signing scheme 0x%04x/0x%04x is not "
			    "one katls verifies", pub.scheme, pub.scheme_hash);
	if (pub.name_alg != TPM2_ALG_SHA256 && pub.name_alg != TPM2_ALG_SHA384 &&
	    pub.name_alg != TPM2_ALG_SHA512)
		return fail(err, err_len, -EACCES, "ak.pub: nameAlg 0x%04x (SHA-256/384/512 "
			    "required)", pub.name_alg);
	if (katls_quote_public_name(&pub, out->ak_name, &out->ak_name_len))
		return -ENOMEM;
	if (req->ak_name_len && (req->ak_name_len != out->ak_name_len ||
				 memcmp(req->ak_name, out->ak_name, out->ak_name_len))) {
		katls_hex_encode(hex, out->ak_name, out->ak_name_len);
		return fail(err, err_len, -EACCES, "ak.name is not the Name of ak.pub (which is "
			    "%s)", hex);
	}
	out->ak_public = malloc(req->ak_public.len);
	if (!out->ak_public)
		return -ENOMEM;
	memcpy(out->ak_public, req->ak_public.data, req->ak_public.len);
	out->ak_public_len = req->ak_public.len;
	return 0;
}

int katls_enroll_check(const struct katls_enroll_request *req,
		       const struct katls_enroll_ca *ca, struct katls_enroll_record *out,
		       char *err, size_t err_len)
{
	const unsigned char *p = req->ek_cert.data;
	X509 *cert = NULL;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (p)
		cert = d2i_X509(NULL, &p, (long)req->ek_cert.len);
	ERR_clear_error();
	if (!cert || p != req->ek_cert.data + req->ek_cert.len)
		ret = fail(err, err_len, -EBADMSG, "ek-cert.der is not one DER X.509 certificate");
	if (!ret)
		ret = check_chain(cert, ca, err, err_len);
	if (!ret)
		ret = check_ek(cert, req, out, err, err_len);
	if (!ret)
		ret = check_ak(req, out, err, err_len);
	if (!ret) {
		unsigned int n = 0;

		out->ek_cert_issuer = name_line(X509_get_issuer_name(cert));
		out->ek_cert_subject = name_line(X509_get_subject_name(cert));
		out->ek_cert_serial = serial_hex(cert);
		if (!out->ek_cert_issuer || !out->ek_cert_subject ||
		    !EVP_Digest(req->ek_cert.data, req->ek_cert.len, out->ek_cert_sha256, &n,
				EVP_sha256(), NULL))
			ret = -ENOMEM;
	}
	X509_free(cert);
	if (ret)
		katls_enroll_record_cleanup(out);
	return ret;
}

/* ---- challenge -------------------------------------------------------------------------- */

static int pending_path(char *out, const char *state_dir, const char *id)
{
	return (size_t)snprintf(out, PATH_MAX, "%s/%s.json", state_dir, id) >= PATH_MAX ?
	       -ENAMETOOLONG : 0;
}

static int write_pending(const char *state_dir, const char *id, const char *text,
			 char *err, size_t err_len)
{
	char path[PATH_MAX];
	size_t len = strlen(text);
	int fd, ret = pending_path(path, state_dir, id);

	if (ret)
		return fail(err, err_len, ret, "%s: path too long", state_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(err, err_len, -errno, "%s: %s", path, strerror(errno));
	if (!ret)
		ret = katls_write_all(fd, text, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret) {
		unlink(path);
		return fail(err, err_len, ret, "%s: %s", path, strerror(-ret));
	}
	return 0;
}

int katls_enroll_challenge_new(const char *state_dir, const struct katls_enroll_request *req,
			       const struct katls_enroll_ca *ca,
			       struct katls_enroll_challenge *out, char *err, size_t err_len)
{
	uint8_t secret[KATLS_ENROLL_SECRET_LEN], id[KATLS_ENROLL_ID_LEN];
	struct katls_enroll_record rec;
	struct katls_ek_public ek;
	char *text = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = katls_enroll_check(req, ca, &rec, err, err_len);
	if (ret)
		return ret;
	ret = katls_ek_public_parse(req->ek_public.data, req->ek_public.len, &ek, err, err_len);
	if (!ret && (RAND_priv_bytes(secret, sizeof(secret)) != 1 ||
		     RAND_bytes(id, sizeof(id)) != 1))
		ret = fail(err, err_len, -EIO, "RAND_bytes failed");
	if (!ret) {
		ret = katls_credential_make(&ek, rec.ak_name, rec.ak_name_len, secret,
					    sizeof(secret) < ek.digest_len ? sizeof(secret) :
					    ek.digest_len, &out->cred);
		if (ret)
			fail(err, err_len, ret, "MakeCredential: %s", strerror(-ret));
	}
	if (!ret) {
		katls_hex_encode(out->id, id, sizeof(id));
		ret = make_dir(state_dir, 0700, err, err_len);
	}
	if (!ret)
		ret = katls_enroll_pending_encode(out->id, (int64_t)time(NULL), secret,
						  sizeof(secret) < ek.digest_len ? sizeof(secret) :
						  ek.digest_len, &rec, &text, err, err_len);
	if (!ret)
		ret = write_pending(state_dir, out->id, text, err, err_len);
	if (!ret) {
		memcpy(out->ak_name, rec.ak_name, rec.ak_name_len);
		out->ak_name_len = rec.ak_name_len;
		out->ek_nv_index = req->ek_nv_index;
	} else {
		OPENSSL_cleanse(out, sizeof(*out));
	}
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	katls_enroll_record_cleanup(&rec);
	return ret;
}

int katls_enroll_challenge_write(const char *dir, const struct katls_enroll_challenge *c,
				 char *err, size_t err_len)
{
	struct katls_buf file = KATLS_BUF_INIT;
	char id[KATLS_ENROLL_ID_HEX + 1];
	int ret = make_dir(dir, 0755, err, err_len);

	if (!ret && katls_credential_encode(&c->cred, &file))
		ret = -ENOMEM;
	if (!ret)
		ret = write_out(dir, F_CRED, file.data, file.len, 0644, err, err_len);
	if (!ret) {
		snprintf(id, sizeof(id), "%s\n", c->id);
		ret = write_out(dir, F_ID, id, strlen(id), 0644, err, err_len);
	}
	if (!ret)
		ret = write_hex(dir, F_AK_NAME, c->ak_name, c->ak_name_len, err, err_len);
	if (!ret)
		ret = write_index(dir, c->ek_nv_index, err, err_len);
	katls_buf_cleanup(&file);
	return ret;
}

int katls_enroll_challenge_read(const char *dir, struct katls_enroll_challenge *c,
				char *err, size_t err_len)
{
	struct katls_buf file = KATLS_BUF_INIT;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = read_in(dir, F_CRED, 4 + 4 + 2 + KATLS_CRED_BLOB_MAX + 2 + KATLS_CRED_ENC_MAX,
		      false, &file, err, err_len);
	if (!ret && katls_credential_decode(file.data, file.len, &c->cred))
		ret = fail(err, err_len, -EBADMSG, "%s/%s: not a credential file (magic "
			   "0xbadcc0de, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET)", dir,
			   F_CRED);
	if (!ret)
		ret = read_id(dir, c->id, err, err_len);
	if (!ret)
		ret = read_hex(dir, F_AK_NAME, KATLS_TPM_NAME_MAX, false, c->ak_name,
			       &c->ak_name_len, err, err_len);
	if (!ret)
		ret = read_index(dir, &c->ek_nv_index, err, err_len);
	katls_buf_cleanup(&file);
	return ret;
}

/* ---- response ----------------------------------------------------------------------------- */

int katls_enroll_response_write(const char *dir, const struct katls_enroll_response *r,
				char *err, size_t err_len)
{
	char id[KATLS_ENROLL_ID_HEX + 1];
	int ret = make_dir(dir, 0755, err, err_len);

	if (!ret)
		ret = write_out(dir, F_SECRET, r->secret, r->secret_len, 0600, err, err_len);
	if (!ret) {
		snprintf(id, sizeof(id), "%s\n", r->id);
		ret = write_out(dir, F_ID, id, strlen(id), 0644, err, err_len);
	}
	return ret;
}

int katls_enroll_response_read(const char *dir, struct katls_enroll_response *r,
			       char *err, size_t err_len)
{
	struct katls_buf b = KATLS_BUF_SECRET_INIT;	/* the activated credential */
	int ret;

	memset(r, 0, sizeof(*r));
	ret = read_in(dir, F_SECRET, KATLS_CRED_DIGEST_MAX, false, &b, err, err_len);
	if (!ret) {
		memcpy(r->secret, b.data, b.len);
		r->secret_len = b.len;
	}
	if (!ret)
		ret = read_id(dir, r->id, err, err_len);
	katls_buf_cleanup(&b);
	return ret;
}

/* ---- verify ---------------------------------------------------------------------------------- */

static bool label_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Reads and removes @state_dir/<id>.json: each challenge is answered once. */
static int take_pending(const char *state_dir, const char *id, char **text, size_t *len,
			char *err, size_t err_len)
{
	char path[PATH_MAX];
	int ret = pending_path(path, state_dir, id);

	if (!ret)
		ret = katls_read_file(path, text, len);
	if (ret == -ENOENT)
		return fail(err, err_len, -EACCES, "no pending challenge %s in %s: unknown, "
			    "already answered, or issued from another state directory", id,
			    state_dir);
	if (ret)
		return fail(err, err_len, ret, "%s: %s", path, strerror(-ret));
	if (unlink(path)) {
		ret = -errno;
		OPENSSL_cleanse(*text, *len);
		free(*text);
		*text = NULL;
		return fail(err, err_len, ret, "%s: cannot remove (a challenge must not be "
			    "answered twice): %s", path, strerror(-ret));
	}
	return 0;
}

int katls_enroll_verify(const char *state_dir, const struct katls_enroll_response *resp,
			uint32_t max_age_s, const char *store_path, const char *label,
			struct katls_enroll_record *out, char *err, size_t err_len)
{
	uint8_t secret[KATLS_CRED_DIGEST_MAX];
	char id[KATLS_ENROLL_ID_HEX], *text = NULL;
	struct katls_enroll_record rec = { 0 };
	size_t len = 0, secret_len = 0;
	int64_t created = 0, now = (int64_t)time(NULL);
	int ret = 0;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!id_ok(resp->id))
		return fail(err, err_len, -EBADMSG, "malformed challenge id");
	if (label && !label_ok(label))
		return fail(err, err_len, -EINVAL, "the label must be 1..%d printable characters "
			    "without spaces", LABEL_MAX);
	ret = take_pending(state_dir, resp->id, &text, &len, err, err_len);
	if (!ret) {
		char msg[256];

		ret = katls_enroll_pending_parse(text, len, id, &created, secret, &secret_len,
						 &rec, msg, sizeof(msg));
		if (ret)
			fail(err, err_len, -EBADMSG, "pending challenge %s: %s", resp->id, msg);
		else if (strcmp(id, resp->id))
			ret = fail(err, err_len, -EBADMSG, "pending challenge %s names itself %s",
				   resp->id, id);
	}
	if (!ret && created > now + CLOCK_SKEW)
		ret = fail(err, err_len, -EACCES, "challenge %s was issued in the future (clock?)",
			   resp->id);
	else if (!ret && now - created > (int64_t)max_age_s)
		ret = fail(err, err_len, -EACCES, "challenge %s expired: issued %lld s ago, valid "
			   "for %u s", resp->id, (long long)(now - created), max_age_s);
	if (!ret && (resp->secret_len != secret_len ||
		     CRYPTO_memcmp(resp->secret, secret, secret_len)))
		ret = fail(err, err_len, -EACCES, "the secret does not match challenge %s: the "
			   "AK was not activated in the TPM of the certified EK", resp->id);
	if (!ret) {
		rec.enrolled_at = now;
		if (label && !(rec.label = strdup(label)))
			ret = -ENOMEM;
	}
	if (!ret)
		ret = katls_enroll_store_add(store_path, &rec, err, err_len);
	if (!ret && out) {
		*out = rec;
		memset(&rec, 0, sizeof(rec));
	}
	katls_enroll_record_cleanup(&rec);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (text) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	return ret;
}
