/* check-b64sink.c - the base64 sink writes MIME base64 lines that decode
 * back to what went in, however the input is split */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/evp.h>

#include "smk-b64sink.h"
#include "test-util.h"

/* Reference: OpenSSL's encoder, 57 bytes per line. */
static char *
reference(const unsigned char *in, size_t len, const char *eol)
{
	char *out = malloc(len * 2 + 16);
	size_t o = 0;

	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;

		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, in + i, (int)n);
		memcpy(out + o, eol, strlen(eol));
		o += strlen(eol);
	}
	out[o] = '\0';
	return out;
}

static void
encode(const unsigned char *in, size_t len, size_t chunk, const char *eol, struct tu_buf *out)
{
	BIO *sink = smk_b64_sink_new(tu_buf_write, out, eol);

	ck_assert_ptr_nonnull(sink);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		ck_assert_int_eq(BIO_write(sink, in + off, (int)n), (int)n);
	}
	ck_assert_int_eq(smk_b64_sink_finish(sink), 0);
	ck_assert(!smk_b64_sink_failed(sink));
	BIO_free(sink);
}

START_TEST(matches_openssl)
{
	unsigned char in[600];
	static const size_t chunks[] = { 1, 2, 3, 56, 57, 58, 1000 };

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 151 + 7);
	/* every length from 0 to 300 (all tails), several splits, LF and CRLF */
	for (size_t len = 0; len <= 300; len++) {
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			const char *eol = (len + c) % 2 ? "\r\n" : "\n";
			struct tu_buf out = { 0 };
			char *want = reference(in, len, eol);

			encode(in, len, chunks[c], eol, &out);
			ck_assert_msg(out.len == strlen(want) &&
				      (out.len == 0 || memcmp(out.data, want, out.len) == 0),
				      "length %zu, chunk %zu differs", len, chunks[c]);
			free(want);
			tu_buf_free(&out);
		}
	}
}
END_TEST

START_TEST(callback_failure_sticks)
{
	unsigned char in[100000];
	struct tu_buf out = { .fail_after = 100 };
	BIO *sink = smk_b64_sink_new(tu_buf_write, &out, "\n");
	int r = 1;

	memset(in, 0xa5, sizeof(in));
	for (int i = 0; i < 10 && r > 0; i++)
		r = BIO_write(sink, in, sizeof(in));
	ck_assert_int_le(r, 0);
	ck_assert(smk_b64_sink_failed(sink));
	ck_assert_int_eq(smk_b64_sink_finish(sink), -1);
	ck_assert_int_le(BIO_write(sink, in, 10), 0);
	BIO_free(sink);
	tu_buf_free(&out);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("b64sink");
	TCase *tc = tcase_create("b64sink");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, matches_openssl);
	tcase_add_test(tc, callback_failure_sticks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
