// SPDX-License-Identifier: MIT
/*
 * Quote batching's Merkle tree and batch proof (merkle.h, batch_proof.h):
 * the RFC 6962 test vectors of Certificate Transparency, every path of every
 * tree up to 70 leaves against an independent recursive RFC 9162 PATH(), and
 * each verification step refusing with its own reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "evidence/batch_proof.h"
#include "evidence/merkle.h"

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

/* The eight leaf inputs of the RFC 6962 test vectors (CT, trillian). */
static const struct { const char *hex; } ct_leaves[8] = {
	{ "" }, { "00" }, { "10" }, { "2021" }, { "3031" }, { "40414243" },
	{ "5051525354555657" }, { "606162636465666768696a6b6c6d6e6f" },
};

static const char *const ct_roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ct_leaf_hashes(katls_merkle_hash out[8])
{
	for (int i = 0; i < 8; i++) {
		uint8_t data[16];
		size_t len = strlen(ct_leaves[i].hex) / 2;

		unhex(ct_leaves[i].hex, data, len);
		assert_int_equal(katls_merkle_leaf_hash(data, len, out[i]), 0);
	}
}

static void test_rfc6962_roots(void **state)
{
	katls_merkle_hash leaves[8], want;

	ct_leaf_hashes(leaves);
	for (size_t n = 1; n <= 8; n++) {
		struct katls_merkle_tree *t;

		assert_int_equal(katls_merkle_tree_build(leaves, n, &t), 0);
		unhex(ct_roots[n - 1], want, sizeof(want));
		assert_memory_equal(katls_merkle_tree_root(t), want, sizeof(want));
		katls_merkle_tree_free(t);
	}
}

static void test_rfc6962_paths(void **state)
{
	static const char *const leaf0_of_8[3] = {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	};
	static const char *const leaf5_of_7[3] = {
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	};
	katls_merkle_hash leaves[8], path[KATLS_BATCH_DEPTH_MAX], want;
	struct katls_merkle_tree *t;
	size_t n;

	ct_leaf_hashes(leaves);
	assert_int_equal(katls_merkle_tree_build(leaves, 8, &t), 0);
	assert_int_equal(katls_merkle_tree_path(t, 0, path, &n), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		unhex(leaf0_of_8[i], want, sizeof(want));
		assert_memory_equal(path[i], want, sizeof(want));
	}
	katls_merkle_tree_free(t);
	assert_int_equal(katls_merkle_tree_build(leaves, 7, &t), 0);
	assert_int_equal(katls_merkle_tree_path(t, 5, path, &n), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		unhex(leaf5_of_7[i], want, sizeof(want));
		assert_memory_equal(path[i], want, sizeof(want));
	}
	assert_int_equal(katls_merkle_tree_path(t, 7, path, &n), -EINVAL);
	katls_merkle_tree_free(t);
}

/* RFC 9162 §2.1.1 MTH and §2.1.3.1 PATH, recursively, as the RFC writes them. */
static void mth(const katls_merkle_hash *d, size_t n, katls_merkle_hash out)
{
	katls_merkle_hash l, r;
	size_t k = 1;

	if (n == 1) {
		memcpy(out, d[0], sizeof(l));
		return;
	}
	while (2 * k < n)
		k *= 2;
	mth(d, k, l);
	mth(d + k, n - k, r);
	assert_int_equal(katls_merkle_node_hash(l, r, out), 0);
}

static size_t rfc_path(size_t m, const katls_merkle_hash *d, size_t n, katls_merkle_hash *out)
{
	size_t k = 1, len;

	if (n == 1)
		return 0;
	while (2 * k < n)
		k *= 2;
	if (m < k) {
		len = rfc_path(m, d, k, out);
		mth(d + k, n - k, out[len]);
	} else {
		len = rfc_path(m - k, d + k, n - k, out);
		mth(d, k, out[len]);
	}
	return len + 1;
}

static void test_every_path_matches_rfc9162(void **state)
{
	katls_merkle_hash leaves[70], want[KATLS_BATCH_DEPTH_MAX], got[KATLS_BATCH_DEPTH_MAX];
	katls_merkle_hash root, r;

	for (size_t i = 0; i < 70; i++) {
		uint8_t b = (uint8_t)i;

		assert_int_equal(katls_merkle_leaf_hash(&b, 1, leaves[i]), 0);
	}
	for (size_t n = 1; n <= 70; n++) {
		struct katls_merkle_tree *t;

		assert_int_equal(katls_merkle_tree_build(leaves, n, &t), 0);
		mth(leaves, n, root);
		assert_memory_equal(katls_merkle_tree_root(t), root, sizeof(root));
		for (size_t m = 0; m < n; m++) {
			size_t len = rfc_path(m, leaves, n, want), got_len;

			assert_int_equal(katls_merkle_tree_path(t, m, got, &got_len), 0);
			assert_int_equal(got_len, len);
			assert_int_equal(katls_merkle_path_len(m, n), len);
			assert_memory_equal(got, want, len * sizeof(want[0]));
			assert_int_equal(katls_merkle_root_from_path(leaves[m], m, n, got, len, r),
					 0);
			assert_memory_equal(r, root, sizeof(r));
			/* one hash short, one hash too many: refused, not misread */
			if (len)
				assert_int_equal(katls_merkle_root_from_path(leaves[m], m, n, got,
									     len - 1, r), -EBADMSG);
			assert_int_equal(katls_merkle_root_from_path(leaves[m], m, n, got, len + 1,
								     r), -EBADMSG);
		}
		assert_int_equal(katls_merkle_root_from_path(leaves[0], n, n, got, 0, r), -EINVAL);
		katls_merkle_tree_free(t);
	}
	assert_int_equal(katls_merkle_path_len(5, 5), 0);
	assert_int_equal(katls_merkle_tree_build(leaves, 0, &(struct katls_merkle_tree *){ 0 }),
			 -EINVAL);
}

/* The leaf is SHA-256(0x00 || label || binder), computed here without merkle.c. */
static void test_batch_leaf_is_domain_separated(void **state)
{
	static const char label[] = "katls/1 quote batch leaf";
	uint8_t binder[48], buf[1 + sizeof(label) - 1 + 48], want[32];
	katls_merkle_hash got, plain;

	for (size_t i = 0; i < sizeof(binder); i++)
		binder[i] = (uint8_t)(0xa0 + i);
	buf[0] = 0x00;
	memcpy(buf + 1, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label), binder, sizeof(binder));
	assert_int_equal(EVP_Digest(buf, sizeof(buf), want, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(katls_batch_leaf(binder, sizeof(binder), got), 0);
	assert_memory_equal(got, want, sizeof(want));
	/* not the plain RFC 6962 leaf of the binder, nor an inner node */
	assert_int_equal(katls_merkle_leaf_hash(binder, sizeof(binder), plain), 0);
	assert_memory_not_equal(got, plain, sizeof(got));
	assert_int_equal(katls_batch_leaf(binder, 0, got), -EINVAL);
	assert_int_equal(katls_batch_leaf(binder, 65, got), -EINVAL);
}

/* ---- batch proofs --------------------------------------------------------- */

struct batch {
	size_t n;
	katls_merkle_hash *leaves;
	struct katls_merkle_tree *t;
	katls_merkle_hash path[KATLS_BATCH_DEPTH_MAX + 2];
	struct katls_batch_proof p;
};

/* A batch of @n distinct session leaves and the honest proof for leaf @i. */
static void batch_new(struct batch *b, size_t n, size_t i)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->leaves = calloc(n, sizeof(*b->leaves));
	assert_non_null(b->leaves);
	for (size_t k = 0; k < n; k++) {
		uint8_t binder[32] = { (uint8_t)k, (uint8_t)(k >> 8), 0x5a };

		assert_int_equal(katls_batch_leaf(binder, sizeof(binder), b->leaves[k]), 0);
	}
	assert_int_equal(katls_merkle_tree_build(b->leaves, n, &b->t), 0);
	b->p.size = (uint16_t)n;
	b->p.index = (uint16_t)i;
	memcpy(b->p.leaf, b->leaves[i], sizeof(b->p.leaf));
	memcpy(b->p.root, katls_merkle_tree_root(b->t), sizeof(b->p.root));
	assert_int_equal(katls_merkle_tree_path(b->t, i, b->path, &b->p.path_len), 0);
	b->p.path = b->path;
}

static void batch_free(struct batch *b)
{
	katls_merkle_tree_free(b->t);
	free(b->leaves);
}

/* Verify @p for @leaf against the tree's root as extraData; returns the reason. */
static enum katls_reason check(const struct batch *b, const struct katls_batch_proof *p,
			       const uint8_t *leaf, const char *msg_has)
{
	enum katls_reason r = __KATLS_R_MAX;
	char msg[256] = "";
	int ret;

	ret = katls_batch_proof_verify(p, leaf, KATLS_BATCH_MAX, katls_merkle_tree_root(b->t),
				       KATLS_MERKLE_HASH_LEN, &r, msg, sizeof(msg));
	assert_int_equal(ret, r == KATLS_R_OK ? 0 : -EACCES);
	if (msg_has && !strstr(msg, msg_has))
		fail_msg("message '%s' lacks '%s'", msg, msg_has);
	return r;
}

/* Batches of 2, 3, 7, 64 and the maximum: every (sampled) leaf verifies. */
static void test_batches_verify(void **state)
{
	static const size_t sizes[] = { 2, 3, 7, 64, KATLS_BATCH_MAX };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], step = n > 64 ? 37 : 1;

		for (size_t i = 0; i < n; i += step) {
			struct batch b;

			batch_new(&b, n, i);
			assert_true(b.p.path_len <= KATLS_BATCH_DEPTH_MAX);
			assert_int_equal(check(&b, &b.p, b.leaves[i], "quote batch of"),
					 KATLS_R_OK);
			batch_free(&b);
		}
	}
}

static void test_proof_wire_form(void **state)
{
	struct katls_buf w = KATLS_BUF_INIT;
	struct katls_batch_proof q;
	struct batch b;

	batch_new(&b, 7, 5);
	assert_int_equal(katls_batch_proof_encode(&b.p, &w), 0);
	assert_int_equal(w.len, KATLS_BATCH_PROOF_HEAD + 3 * 32);
	assert_int_equal(w.data[0], 1);
	assert_int_equal(w.data[1] << 8 | w.data[2], 7);
	assert_int_equal(w.data[3] << 8 | w.data[4], 5);
	assert_int_equal(katls_batch_proof_parse(w.data, w.len, &q), 0);
	assert_int_equal(q.size, 7);
	assert_int_equal(q.index, 5);
	assert_int_equal(q.path_len, 3);
	assert_memory_equal(q.leaf, b.p.leaf, 32);
	assert_memory_equal(q.root, b.p.root, 32);
	assert_memory_equal(q.path, b.path, 3 * 32);
	assert_int_equal(check(&b, &q, b.leaves[5], NULL), KATLS_R_OK);
	/* strict: truncated, trailing byte, wrong version, count beyond the bytes */
	assert_int_equal(katls_batch_proof_parse(w.data, w.len - 1, &q), -EBADMSG);
	katls_put_u8(&w, 0);
	assert_int_equal(katls_batch_proof_parse(w.data, w.len, &q), -EBADMSG);
	w.len--;
	w.data[0] = 2;
	assert_int_equal(katls_batch_proof_parse(w.data, w.len, &q), -EBADMSG);
	w.data[0] = 1;
	w.data[KATLS_BATCH_PROOF_HEAD - 1] = 4;
	assert_int_equal(katls_batch_proof_parse(w.data, w.len, &q), -EBADMSG);
	katls_buf_cleanup(&w);
	batch_free(&b);
}

static void test_bounds_refused(void **state)
{
	struct katls_batch_proof p;
	struct batch b;

	batch_new(&b, 7, 3);
	p = b.p;
	p.size = KATLS_BATCH_MAX + 1;
	assert_int_equal(check(&b, &p, b.leaves[3], "outside the bounds 2..1024"),
			 KATLS_R_BATCH_SIZE);
	p.size = 1;
	p.index = 0;
	assert_int_equal(check(&b, &p, b.leaves[3], NULL), KATLS_R_BATCH_SIZE);
	p = b.p;
	p.index = 7;
	assert_int_equal(check(&b, &p, b.leaves[3], "not below the batch size 7"),
			 KATLS_R_BATCH_INDEX);
	batch_free(&b);
}

static void test_path_length_refused(void **state)
{
	struct katls_batch_proof p;
	struct batch b;

	batch_new(&b, 64, 9);
	p = b.p;
	p.path_len--;
	assert_int_equal(check(&b, &p, b.leaves[9], "truncated: 5 hashes, leaf 9 of a batch "
			       "of 64 needs 6"), KATLS_R_BATCH_PATH);
	p.path_len += 2;	/* one hash more than the tree is deep (the array has room) */
	assert_int_equal(check(&b, &p, b.leaves[9], "over-long"), KATLS_R_BATCH_PATH);
	batch_free(&b);
}

static void test_other_sessions_proof_refused(void **state)
{
	struct batch b, c;

	batch_new(&b, 7, 2);
	batch_new(&c, 7, 4);	/* same batch, another session's proof */
	assert_int_equal(check(&b, &c.p, b.leaves[2], "another leaf"), KATLS_R_BATCH_LEAF);
	batch_free(&b);
	batch_free(&c);
}

static void test_flipped_sibling_refused(void **state)
{
	struct batch b;

	for (size_t k = 0; k < 3; k++) {
		batch_new(&b, 7, 2);
		b.path[k][k * 7] ^= 0x10;
		assert_int_equal(check(&b, &b.p, b.leaves[2], "a sibling hash is wrong"),
				 KATLS_R_BATCH_INCLUSION);
		batch_free(&b);
	}
}

static void test_wrong_index_refused(void **state)
{
	struct katls_batch_proof p;
	struct batch b;

	batch_new(&b, 8, 5);
	p = b.p;
	p.index = 4;	/* same path length, the other child of the same parent */
	assert_int_equal(check(&b, &p, b.leaves[5], "at index 4 (it does at index 5: wrong "
			       "index)"), KATLS_R_BATCH_INCLUSION);
	batch_free(&b);
}

static void test_root_not_extradata_refused(void **state)
{
	enum katls_reason r;
	katls_merkle_hash other;
	char msg[256];
	struct batch b;

	batch_new(&b, 3, 1);
	memcpy(other, b.p.root, sizeof(other));
	other[31] ^= 1;
	assert_int_equal(katls_batch_proof_verify(&b.p, b.leaves[1], KATLS_BATCH_MAX, other,
						  sizeof(other), &r, msg, sizeof(msg)), -EACCES);
	assert_int_equal(r, KATLS_R_BATCH_ROOT);
	/* a quote whose extraData has another length (a SHA-384 binder) */
	assert_int_equal(katls_batch_proof_verify(&b.p, b.leaves[1], KATLS_BATCH_MAX,
						  b.p.root, 31, &r, msg, sizeof(msg)), -EACCES);
	assert_int_equal(r, KATLS_R_BATCH_ROOT);
	/* a verifier that accepts no batch at all */
	assert_int_equal(katls_batch_proof_verify(&b.p, b.leaves[1], 1, b.p.root, 32, &r, msg,
						  sizeof(msg)), -EACCES);
	assert_int_equal(r, KATLS_R_BATCH_SIZE);
	batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6962_roots),
		cmocka_unit_test(test_rfc6962_paths),
		cmocka_unit_test(test_every_path_matches_rfc9162),
		cmocka_unit_test(test_batch_leaf_is_domain_separated),
		cmocka_unit_test(test_batches_verify),
		cmocka_unit_test(test_proof_wire_form),
		cmocka_unit_test(test_bounds_refused),
		cmocka_unit_test(test_path_length_refused),
		cmocka_unit_test(test_other_sessions_proof_refused),
		cmocka_unit_test(test_flipped_sibling_refused),
		cmocka_unit_test(test_wrong_index_refused),
		cmocka_unit_test(test_root_not_extradata_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
