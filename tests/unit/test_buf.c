// SPDX-License-Identifier: MIT
/* Cursor and buffer primitives that every parser stands on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "katls.h"
#include "util/buf.h"

static void test_reads_are_bounds_checked(void **state)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
	struct katls_cursor c;
	uint32_t v32;
	uint16_t v16;

	katls_cursor_init(&c, in, sizeof(in));
	assert_int_equal(katls_get_be24(&c, &v32), 0);
	assert_int_equal(v32, 0x010203);
	assert_int_equal(katls_get_be32(&c, &v32), -EBADMSG);
	assert_int_equal(c.len, 2);		/* unchanged by the failed read */
	assert_int_equal(katls_get_be16(&c, &v16), 0);
	assert_int_equal(v16, 0x0405);
	assert_int_equal(katls_get_end(&c), 0);
}

static void test_vector_length_beyond_input_is_rejected(void **state)
{
	static const uint8_t in[] = { 0x00, 0x05, 0xaa, 0xbb };
	struct katls_cursor c, sub;

	katls_cursor_init(&c, in, sizeof(in));
	assert_int_equal(katls_get_vec(&c, 2, &sub), -EBADMSG);
	assert_int_equal(c.len, sizeof(in));	/* cursor restored */
}

static void test_le32(void **state)
{
	static const uint8_t in[] = { 0x0a, 0x00, 0x00, 0x00 };
	struct katls_cursor c;
	uint32_t v;

	katls_cursor_init(&c, in, sizeof(in));
	assert_int_equal(katls_get_le32(&c, &v), 0);
	assert_int_equal(v, 10);
}

static void test_vec_roundtrip_and_overflow(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_cursor c, sub;
	uint8_t big[300] = { 0 };
	size_t mark;

	assert_int_equal(katls_vec_begin(&b, 2, &mark), 0);
	assert_int_equal(katls_put_bytes(&b, "abc", 3), 0);
	assert_int_equal(katls_vec_end(&b, 2, mark), 0);
	assert_memory_equal(b.data, "\x00\x03" "abc", 5);
	katls_cursor_init(&c, b.data, b.len);
	assert_int_equal(katls_get_vec(&c, 2, &sub), 0);
	assert_int_equal(sub.len, 3);

	assert_int_equal(katls_vec_begin(&b, 1, &mark), 0);
	assert_int_equal(katls_put_bytes(&b, big, sizeof(big)), 0);
	assert_int_equal(katls_vec_end(&b, 1, mark), -EMSGSIZE);
	katls_buf_cleanup(&b);
	assert_null(b.data);
}

/*
 * Which buffers are wiped: OPENSSL_cleanse is wrapped (Makefile: --wrap for
 * this test) to record every wipe the library makes.
 */
void __real_OPENSSL_cleanse(void *ptr, size_t len);
void __wrap_OPENSSL_cleanse(void *ptr, size_t len);

static struct {
	const void *ptr[8];
	size_t len[8];
	unsigned int n;
} wipes;

void __wrap_OPENSSL_cleanse(void *ptr, size_t len)
{
	if (wipes.n < 8) {
		wipes.ptr[wipes.n] = ptr;
		wipes.len[wipes.n] = len;
	}
	wipes.n++;
	__real_OPENSSL_cleanse(ptr, len);
}

/* A plain buffer (Evidence, messages) is never wiped: not when it grows, not when freed. */
static void test_plain_buffer_is_not_wiped(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	uint8_t big[5000] = { 1 };

	memset(&wipes, 0, sizeof(wipes));
	assert_false(b.secret);
	assert_int_equal(katls_put_bytes(&b, big, 10), 0);
	assert_int_equal(katls_put_bytes(&b, big, sizeof(big)), 0);	/* grows */
	katls_buf_cleanup(&b);
	assert_int_equal(wipes.n, 0);
}

/* A secret buffer is wiped, its used length only, when it moves and when freed. */
static void test_secret_buffer_wipes_used_length(void **state)
{
	struct katls_buf b = KATLS_BUF_SECRET_INIT, c;
	uint8_t key[100] = { 7 };
	const uint8_t *old;

	memset(&wipes, 0, sizeof(wipes));
	assert_int_equal(katls_put_bytes(&b, key, 10), 0);
	assert_int_equal(b.cap, 64);
	old = b.data;
	assert_int_equal(katls_put_bytes(&b, key, sizeof(key)), 0);	/* 110 > 64: moves */
	assert_int_equal(wipes.n, 1);
	assert_ptr_equal(wipes.ptr[0], old);
	assert_int_equal(wipes.len[0], 10);
	old = b.data;
	assert_true(b.cap > b.len);
	katls_buf_cleanup(&b);
	assert_int_equal(wipes.n, 2);
	assert_ptr_equal(wipes.ptr[1], old);
	assert_int_equal(wipes.len[1], 110);	/* the used length, not the capacity */
	assert_null(b.data);
	/* for buffers inside structs */
	memset(&c, 0, sizeof(c));
	katls_buf_init_secret(&c);
	assert_true(c.secret);
	assert_int_equal(katls_put_u8(&c, 1), 0);
	katls_buf_cleanup(&c);
	assert_int_equal(wipes.n, 3);
	assert_int_equal(wipes.len[2], 1);
}

static void test_reason_names_are_stable(void **state)
{
	assert_string_equal(katls_reason_name(KATLS_R_OK), "ok");
	assert_string_equal(katls_reason_name(KATLS_R_IMA_ALLOWLIST), "ima-allowlist");
	assert_string_equal(katls_reason_name(9999), "unknown");
	for (unsigned int r = 0; r < __KATLS_R_MAX; r++)
		assert_string_not_equal(katls_reason_name(r), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_are_bounds_checked),
		cmocka_unit_test(test_vector_length_beyond_input_is_rejected),
		cmocka_unit_test(test_le32),
		cmocka_unit_test(test_vec_roundtrip_and_overflow),
		cmocka_unit_test(test_plain_buffer_is_not_wiped),
		cmocka_unit_test(test_secret_buffer_wipes_used_length),
		cmocka_unit_test(test_reason_names_are_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
