/* check-hostile.c - malformed and hostile input never crashes, hangs, loses
 * bytes or yields a broken message */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "smk-envelope.h"
#include "test-util.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static X509 *cert;
static EVP_PKEY *key;
static STACK_OF(X509) *recips;
static struct smk_envelope_opts opts;
static struct tu_buf out;
static struct smk_error err;

static void
setup(void)
{
	cert = tu_cert("alice-ec");
	key = tu_key("alice-ec");
	recips = sk_X509_new_null();
	sk_X509_push(recips, cert);
	memset(&opts, 0, sizeof(opts));
	opts.recipients = recips;
	memset(&out, 0, sizeof(out));
}

static void
teardown(void)
{
	sk_X509_free(recips);
	X509_free(cert);
	EVP_PKEY_free(key);
	tu_buf_free(&out);
}

/* Encrypts msg, checks the output is a well-formed S/MIME message and
 * that it decrypts to want. */
static void
expect(const void *msg, size_t len, const void *want, size_t want_len)
{
	enum smk_envelope_outcome oc;
	size_t n = 0;
	char *outer, *inner;

	tu_buf_free(&out);
	ck_assert_msg(tu_envelope(&opts, msg, len, 777, &out, &oc, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(oc, SMK_ENVELOPE_ENCRYPTED);

	/* The outer header: whole lines, no NUL, no bare CR, ends as S/MIME. */
	outer = tu_outer_header(out.data, out.len);
	ck_assert_msg(memchr(out.data, '\0', tu_header_len(out.data, out.len)) == NULL,
		      "NUL in the outer header");
	for (size_t i = 0; outer[i] != '\0'; i++) {
		if (outer[i] == '\r')
			ck_assert_msg(outer[i + 1] == '\n', "bare CR in the outer header");
	}
	ck_assert(tu_has_line(outer, "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;"));
	free(outer);

	inner = tu_decrypt(out.data, out.len, key, cert, &n);
	ck_assert_msg(inner != NULL, "output does not decrypt");
	ck_assert_uint_eq(n, want_len);
	ck_assert(memcmp(inner, want, n) == 0);
	free(inner);
}

#define EXPECT(msg, want) expect(msg, sizeof(msg) - 1, want, sizeof(want) - 1)

START_TEST(no_separator)
{
	EXPECT("Subject: x\nbody without empty line\nmore\n",
	       "\r\nbody without empty line\r\nmore\r\n");
}
END_TEST

START_TEST(header_only)
{
	EXPECT("Subject: only a header\nTo: a@example.org", "\r\n");
	ck_assert(tu_has_line(out.data, "To: a@example.org\n"));
}
END_TEST

START_TEST(empty_input)
{
	EXPECT("", "\r\n");
}
END_TEST

START_TEST(only_separator)
{
	EXPECT("\n", "\r\n");
	EXPECT("\r\n", "\r\n");
}
END_TEST

START_TEST(nul_and_8bit)
{
	static const char msg[] = "Subject: caf\xc3\xa9 \0 nul\nX-8bit: \xff\xfe\n"
				  "Content-Type: text/plain; charset=\0x\n\n"
				  "bin\0ary \xff\x80 body\n";
	static const char want[] = "Content-Type: text/plain; charset=\0x\r\n\r\n"
				   "bin\0ary \xff\x80 body\r\n";

	EXPECT(msg, want);
	/* NUL became a blank outside; 8-bit bytes are kept. */
	ck_assert(tu_has_line(out.data, "Subject: caf\xc3\xa9   nul\n"));
	ck_assert(tu_has_line(out.data, "X-8bit: \xff\xfe\n"));
}
END_TEST

START_TEST(bare_cr)
{
	static const char msg[] = "Subject: a\rb\nX-Y: c\r\r\n\na\rb\r\rc\r";
	static const char want[] = "\r\na\rb\r\rc\r";

	EXPECT(msg, want);
	ck_assert(tu_has_line(out.data, "Subject: a b\n"));
}
END_TEST

START_TEST(long_lines)
{
	size_t hl = 300 * 1024, bl = 2 * 1024 * 1024;
	char *msg = malloc(hl + bl + 64), *want = malloc(bl + 16);
	size_t n = 0;

	n += (size_t)sprintf(msg, "X-Long: ");
	memset(msg + n, 'h', hl);
	n += hl;
	n += (size_t)sprintf(msg + n, "\n\n");
	memset(msg + n, 'b', bl);	/* one body line, no line break at all */
	n += bl;

	memcpy(want, "\r\n", 2);
	memset(want + 2, 'b', bl);
	expect(msg, n, want, bl + 2);
	free(msg);
	free(want);
}
END_TEST

static char *
junk_header(size_t size, size_t *len)
{
	char *h = malloc(size + 128);
	size_t n = 0;

	while (n < size)
		n += (size_t)sprintf(h + n, "X-Junk-%zu: %s\n", n,
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	n += (size_t)sprintf(h + n, "\nbody\n");
	*len = n;
	return h;
}

START_TEST(huge_header_refused)
{
	size_t len;
	char *msg = junk_header(10 * 1024 * 1024, &len);
	enum smk_envelope_outcome oc;

	ck_assert_int_eq(tu_envelope(&opts, msg, len, 65536, &out, &oc, &err), -1);
	ck_assert_int_eq(err.code, SMK_ERR_MESSAGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "larger than 1048576 bytes"));
	ck_assert_uint_eq(out.len, 0);	/* nothing was written */
	free(msg);
}
END_TEST

START_TEST(huge_header_allowed_by_limit)
{
	size_t len;
	char *msg = junk_header(10 * 1024 * 1024, &len);

	opts.max_header_size = 16 * 1024 * 1024;
	expect(msg, len, "\r\nbody\r\n", 8);
	ck_assert(tu_has_line(out.data, "X-Junk-0: aaaa"));
	free(msg);
}
END_TEST

START_TEST(single_line_over_limit)
{
	size_t len = 200 * 1024;
	char *msg = malloc(len);
	enum smk_envelope_outcome oc;

	memcpy(msg, "Subject: ", 9);
	memset(msg + 9, 's', len - 9);	/* never ends */
	opts.max_header_size = 64 * 1024;
	ck_assert_int_eq(tu_envelope(&opts, msg, len, 1000, &out, &oc, &err), -1);
	ck_assert_int_eq(err.code, SMK_ERR_MESSAGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "65536"));
	free(msg);
}
END_TEST

START_TEST(header_at_exact_limit)
{
	/* A header block of exactly max_header_size bytes (separator
	 * included) is accepted. */
	static const char msg[] = "Subject: 0123456789\n\nb\n";

	opts.max_header_size = 21;
	EXPECT(msg, "\r\nb\r\n");
	opts.max_header_size = 19;
	ck_assert_int_eq(tu_envelope(&opts, msg, sizeof(msg) - 1, 0, &out, NULL, &err), -1);
}
END_TEST

START_TEST(random_bytes)
{
	size_t len = 256 * 1024;
	unsigned char *msg = malloc(len);
	unsigned int seed = 12345;
	size_t wlen = 0;
	char *want = malloc(len * 2 + 2);

	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		msg[i] = (unsigned char)(seed >> 16);
	}
	msg[0] = '\x01';	/* not a header line: all of it is body */
	want[wlen++] = '\r';
	want[wlen++] = '\n';
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			want[wlen++] = '\r';
		want[wlen++] = (char)msg[i];
	}
	expect(msg, len, want, wlen);
	free(msg);
	free(want);
}
END_TEST

START_TEST(many_tiny_fields)
{
	size_t len;
	char *msg = malloc(200000 * 8 + 16);
	size_t n = 0;

	for (int i = 0; i < 200000; i++)
		n += (size_t)sprintf(msg + n, "X: %d\n", i % 100);
	n += (size_t)sprintf(msg + n, "\nz\n");
	len = n;
	opts.max_header_size = 4 * 1024 * 1024;
	expect(msg, len, "\r\nz\r\n", 5);
	free(msg);
}
END_TEST

#ifndef UNDER_ASAN
/* Memory must not grow with the body: the heap in use after 64 MB of body
 * is within a few hundred KB of that after 1 MB.  (Not under ASan, which
 * replaces malloc so that mallinfo2 says nothing.) */
static size_t
heap_after_body(size_t body_mb)
{
	static char chunk[65536];
	struct smk_envelope *env;
	struct tu_buf sink = { 0 };
	size_t used;

	memset(chunk, 'x', sizeof(chunk));
	for (size_t i = 80; i < sizeof(chunk); i += 80)
		chunk[i] = '\n';
	env = smk_envelope_new(&opts, tu_buf_write, &sink, &err);
	ck_assert_ptr_nonnull(env);
	ck_assert_int_eq(smk_envelope_write(env, "Subject: m\n\n", 12), 0);
	for (size_t i = 0; i < body_mb * 16; i++) {
		ck_assert_int_eq(smk_envelope_write(env, chunk, sizeof(chunk)), 0);
		sink.len = 0;	/* drop output as it comes */
	}
	used = mallinfo2().uordblks - sink.alloc;
	smk_envelope_finish(env);
	smk_envelope_free(env);
	tu_buf_free(&sink);
	return used;
}

START_TEST(memory_bounded)
{
	size_t small = heap_after_body(1), big = heap_after_body(64);

	ck_assert_msg(big < small + 512 * 1024,
		      "heap grew from %zu to %zu bytes with the body size", small, big);
}
END_TEST
#endif

static Suite *
hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("hostile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, no_separator);
	tcase_add_test(tc, header_only);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, only_separator);
	tcase_add_test(tc, nul_and_8bit);
	tcase_add_test(tc, bare_cr);
	tcase_add_test(tc, long_lines);
	tcase_add_test(tc, huge_header_refused);
	tcase_add_test(tc, huge_header_allowed_by_limit);
	tcase_add_test(tc, single_line_over_limit);
	tcase_add_test(tc, header_at_exact_limit);
	tcase_add_test(tc, random_bytes);
	tcase_add_test(tc, many_tiny_fields);
#ifndef UNDER_ASAN
	tcase_add_test(tc, memory_bounded);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hostile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
