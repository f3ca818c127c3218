/* check-header.c - header block scanning, field parsing, Content-Type */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "smk-header.h"

/* Scans msg in one go with final=true. */
static struct smk_header_scanner
scan_all(const char *msg, size_t len)
{
	struct smk_header_scanner sc;

	smk_header_scanner_init(&sc);
	ck_assert(smk_header_scan(&sc, msg, len, true));
	return sc;
}

START_TEST(scan_lf_separator)
{
	const char msg[] = "From: a@example.org\nSubject: hi\n\nbody\n";
	struct smk_header_scanner sc = scan_all(msg, strlen(msg));

	ck_assert(sc.separator);
	ck_assert_uint_eq(sc.prefix_len, 0);
	ck_assert_uint_eq(sc.fields_end, strlen("From: a@example.org\nSubject: hi\n"));
	ck_assert_str_eq(msg + sc.body_start, "body\n");
}
END_TEST

START_TEST(scan_crlf_separator)
{
	const char msg[] = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";
	struct smk_header_scanner sc = scan_all(msg, strlen(msg));

	ck_assert(sc.separator);
	ck_assert_uint_eq(sc.fields_end, strlen("From: a@example.org\r\nSubject: hi\r\n"));
	ck_assert_str_eq(msg + sc.body_start, "body\r\n");
}
END_TEST

START_TEST(scan_needs_whole_lines)
{
	const char msg[] = "Subject: hi\n\nbody";
	struct smk_header_scanner sc;

	smk_header_scanner_init(&sc);
	/* "Subject: hi\n" then an incomplete line: not decided yet. */
	ck_assert(!smk_header_scan(&sc, msg, 12, false));
	ck_assert(!smk_header_scan(&sc, msg, 12, false));
	ck_assert(smk_header_scan(&sc, msg, 13, false));
	ck_assert_uint_eq(sc.body_start, 13);
}
END_TEST

/* Every split of the input into two arrivals gives the same answer. */
START_TEST(scan_split_invariance)
{
	const char msg[] = "From xx@example.org Sat Jan  1 00:00:00 2000\n"
			   "Received: from a\n\tby b\r\n"
			   "Subject: folded\n  subject\n"
			   "\n"
			   "body line\n";
	size_t len = strlen(msg);
	struct smk_header_scanner ref = scan_all(msg, len);

	ck_assert_uint_gt(ref.prefix_len, 0);
	for (size_t cut = 0; cut <= len; cut++) {
		struct smk_header_scanner sc;
		bool done;

		smk_header_scanner_init(&sc);
		done = smk_header_scan(&sc, msg, cut, false);
		if (!done)
			done = smk_header_scan(&sc, msg, len, true);
		ck_assert(done);
		ck_assert_uint_eq(sc.prefix_len, ref.prefix_len);
		ck_assert_uint_eq(sc.fields_end, ref.fields_end);
		ck_assert_uint_eq(sc.body_start, ref.body_start);
		ck_assert_int_eq(sc.separator, ref.separator);
	}
}
END_TEST

START_TEST(scan_no_separator_header_only)
{
	const char msg[] = "Subject: only headers\nTo: b@example.org";
	struct smk_header_scanner sc = scan_all(msg, strlen(msg));

	ck_assert(!sc.separator);
	ck_assert_uint_eq(sc.fields_end, strlen(msg));
	ck_assert_uint_eq(sc.body_start, strlen(msg));
}
END_TEST

START_TEST(scan_invalid_line_starts_body)
{
	/* No empty line: the first line that is not a field begins the body. */
	const char msg[] = "Subject: x\nthis is not a header\nmore\n";
	struct smk_header_scanner sc = scan_all(msg, strlen(msg));

	ck_assert(!sc.separator);
	ck_assert_uint_eq(sc.fields_end, strlen("Subject: x\n"));
	ck_assert_uint_eq(sc.body_start, sc.fields_end);
	ck_assert_str_eq(msg + sc.body_start, "this is not a header\nmore\n");
}
END_TEST

START_TEST(scan_leading_continuation_is_body)
{
	const char msg[] = " leading blank\nSubject: x\n\n";
	struct smk_header_scanner sc = scan_all(msg, strlen(msg));

	ck_assert_uint_eq(sc.fields_end, 0);
	ck_assert_uint_eq(sc.body_start, 0);
}
END_TEST

START_TEST(scan_nul_in_name_ends_header)
{
	const char msg[] = "Subject: x\nBad\0Name: y\n\nbody";
	struct smk_header_scanner sc = scan_all(msg, sizeof(msg) - 1);

	ck_assert_uint_eq(sc.fields_end, strlen("Subject: x\n"));
	ck_assert(!sc.separator);
}
END_TEST

START_TEST(scan_obs_space_before_colon)
{
	const char msg[] = "Subject : old style\n\nbody";
	struct smk_header_scanner sc = scan_all(msg, strlen(msg));

	ck_assert(sc.separator);
	ck_assert_uint_eq(sc.fields_end, strlen("Subject : old style\n"));
}
END_TEST

START_TEST(scan_empty_input)
{
	struct smk_header_scanner sc = scan_all("", 0);

	ck_assert_uint_eq(sc.fields_end, 0);
	ck_assert_uint_eq(sc.body_start, 0);
	ck_assert(!sc.separator);
}
END_TEST

START_TEST(parse_fields_and_folding)
{
	const char block[] = "Received: from a\n\tby b\nSubject:  hello\r\nX-Empty:\nTo : b@example.org\n";
	struct smk_header_list list = { 0 };
	struct smk_error err;

	ck_assert_int_eq(smk_header_parse(&list, block, strlen(block), &err), 0);
	ck_assert_uint_eq(list.count, 4);

	ck_assert_int_eq((int)list.fields[0].name_len, 8);
	ck_assert(strncmp(list.fields[0].name, "Received", 8) == 0);
	ck_assert_uint_eq(list.fields[0].raw_len, strlen("Received: from a\n\tby b\n"));
	ck_assert_uint_eq(list.fields[0].value_len, strlen(" from a\n\tby b"));

	ck_assert(smk_header_name_is(&list.fields[1], "SUBJECT"));
	ck_assert_uint_eq(list.fields[1].value_len, strlen("  hello"));	/* CRLF stripped */

	ck_assert_uint_eq(list.fields[2].value_len, 0);

	/* "To " before the colon is trimmed from the name. */
	ck_assert(smk_header_name_is(&list.fields[3], "to"));
	ck_assert_ptr_eq(smk_header_find(&list, "TO"), &list.fields[3]);
	ck_assert_ptr_null(smk_header_find(&list, "cc"));

	/* Fields are contiguous and cover the whole block. */
	ck_assert_ptr_eq(list.fields[0].raw, block);
	for (size_t i = 1; i < list.count; i++)
		ck_assert_ptr_eq(list.fields[i].raw,
				 list.fields[i - 1].raw + list.fields[i - 1].raw_len);
	ck_assert_ptr_eq(list.fields[3].raw + list.fields[3].raw_len, block + strlen(block));
	smk_header_list_free(&list);
}
END_TEST

START_TEST(parse_many_fields)
{
	struct smk_header_list list = { 0 };
	struct smk_error err;
	char *block = malloc(1000 * 16 + 1);
	size_t n = 0;

	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(block + n, "X-F%05d: %04d\n", i, i);
	ck_assert_int_eq(smk_header_parse(&list, block, n, &err), 0);
	ck_assert_uint_eq(list.count, 1000);
	ck_assert(strncmp(list.fields[999].name, "X-F00999", 8) == 0);
	smk_header_list_free(&list);
	free(block);
}
END_TEST

START_TEST(structural_fields)
{
	const char block[] = "Content-Type: text/plain\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n"
			     "Content-: odd\nSubject: x\nX-Content-Type: y\n";
	struct smk_header_list list = { 0 };
	struct smk_error err;

	ck_assert_int_eq(smk_header_parse(&list, block, strlen(block), &err), 0);
	ck_assert_uint_eq(list.count, 6);
	ck_assert(smk_header_is_structural(&list.fields[0]));
	ck_assert(smk_header_is_structural(&list.fields[1]));
	ck_assert(smk_header_is_structural(&list.fields[2]));
	ck_assert(!smk_header_is_structural(&list.fields[3]));	/* bare "Content-" */
	ck_assert(!smk_header_is_structural(&list.fields[4]));
	ck_assert(!smk_header_is_structural(&list.fields[5]));
	smk_header_list_free(&list);
}
END_TEST

static void
check_ct(const char *value, const char *type, const char *subtype)
{
	struct smk_content_type ct;
	bool ok = smk_content_type_parse(value, strlen(value), &ct);

	if (type == NULL) {
		ck_assert_msg(!ok, "'%s' parsed", value);
		ck_assert_str_eq(ct.type, "");
		return;
	}
	ck_assert_msg(ok, "'%s' did not parse", value);
	ck_assert_str_eq(ct.type, type);
	ck_assert_str_eq(ct.subtype, subtype);
}

START_TEST(content_type_media_type)
{
	check_ct(" text/plain", "text", "plain");
	check_ct(" Application/PKCS7-MIME; smime-type=enveloped-data", "application", "pkcs7-mime");
	check_ct(" (comment (nested)) multipart / mixed ; boundary=x", "multipart", "mixed");
	check_ct("\r\n\tmultipart/encrypted;\r\n protocol=\"application/pgp-encrypted\"",
		 "multipart", "encrypted");
	check_ct(" text", NULL, NULL);
	check_ct(" /plain", NULL, NULL);
	check_ct(" text/", NULL, NULL);
	check_ct("", NULL, NULL);
	check_ct(" (unterminated comment text/plain", NULL, NULL);
}
END_TEST

static void
check_param(const char *value, const char *name, const char *want)
{
	char out[64];
	bool ok = smk_content_type_param(value, strlen(value), name, out, sizeof(out));

	if (want == NULL) {
		ck_assert_msg(!ok, "%s found in '%s'", name, value);
		return;
	}
	ck_assert_msg(ok, "%s not found in '%s'", name, value);
	ck_assert_str_eq(out, want);
}

START_TEST(content_type_params)
{
	const char *v = " application/pkcs7-mime; name=\"smime.p7m\"; SMIME-Type=enveloped-data";

	check_param(v, "smime-type", "enveloped-data");
	check_param(v, "name", "smime.p7m");
	check_param(v, "boundary", NULL);
	/* quoted-pair, folding inside quotes, comments around the '=' */
	check_param(" multipart/mixed; boundary=\"a\\\"b\r\n c\"", "boundary", "a\"b c");
	check_param(" multipart/encrypted; (c) protocol (c) = (c) \"application/pgp-encrypted\"",
		    "protocol", "application/pgp-encrypted");
	/* a ';' inside a quoted type-level string is not a separator */
	check_param(" text/plain; a=\"x;smime-type=fake\"; smime-type=real", "smime-type", "real");
	/* a long earlier value does not hide later parameters */
	check_param(" application/pkcs7-mime; name=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.p7m\"; smime-type=signed-data",
		    "smime-type", "signed-data");
	/* malformed: unterminated quote, missing '=' */
	check_param(" text/plain; a=\"open", "a", NULL);
	check_param(" text/plain; a; b=c", "b", NULL);
}
END_TEST

START_TEST(content_type_param_too_long)
{
	char out[8];
	const char *v = " text/plain; charset=much-longer-than-eight";

	ck_assert(!smk_content_type_param(v, strlen(v), "charset", out, sizeof(out)));
}
END_TEST

static Suite *
header_suite(void)
{
	Suite *s = suite_create("header");
	TCase *scan = tcase_create("scan");
	TCase *parse = tcase_create("parse");
	TCase *ct = tcase_create("content-type");

	tcase_add_test(scan, scan_lf_separator);
	tcase_add_test(scan, scan_crlf_separator);
	tcase_add_test(scan, scan_needs_whole_lines);
	tcase_add_test(scan, scan_split_invariance);
	tcase_add_test(scan, scan_no_separator_header_only);
	tcase_add_test(scan, scan_invalid_line_starts_body);
	tcase_add_test(scan, scan_leading_continuation_is_body);
	tcase_add_test(scan, scan_nul_in_name_ends_header);
	tcase_add_test(scan, scan_obs_space_before_colon);
	tcase_add_test(scan, scan_empty_input);
	suite_add_tcase(s, scan);

	tcase_add_test(parse, parse_fields_and_folding);
	tcase_add_test(parse, parse_many_fields);
	tcase_add_test(parse, structural_fields);
	suite_add_tcase(s, parse);

	tcase_add_test(ct, content_type_media_type);
	tcase_add_test(ct, content_type_params);
	tcase_add_test(ct, content_type_param_too_long);
	suite_add_tcase(s, ct);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(header_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
