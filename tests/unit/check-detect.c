/* check-detect.c - recognising mail that is already encrypted */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>

#include "smk-detect.h"
#include "test-util.h"

/* DER of a CMS structure of the given kind made by OpenSSL itself. */
static unsigned char *
make_cms(const char *kind, size_t *len)
{
	BIO *in = BIO_new_mem_buf("Content-Type: text/plain\r\n\r\nsecret\r\n", -1);
	BIO *out = BIO_new(BIO_s_mem());
	STACK_OF(X509) *certs = tu_certs("alice-rsa", NULL);
	CMS_ContentInfo *cms = NULL;
	unsigned char *der;
	char *p;
	long n;

	if (strcmp(kind, "enveloped") == 0) {
		cms = CMS_encrypt(certs, in, EVP_aes_256_cbc(), CMS_BINARY);
	} else if (strcmp(kind, "authenveloped") == 0) {
		cms = CMS_encrypt(certs, in, EVP_aes_128_gcm(), CMS_BINARY);
	} else {
		X509 *c = sk_X509_value(certs, 0);
		EVP_PKEY *k = tu_key("alice-rsa");

		cms = CMS_sign(c, k, NULL, in, CMS_BINARY);
		EVP_PKEY_free(k);
	}
	ck_assert_ptr_nonnull(cms);
	ck_assert(i2d_CMS_bio(out, cms));
	n = BIO_get_mem_data(out, &p);
	der = malloc((size_t)n);
	memcpy(der, p, (size_t)n);
	*len = (size_t)n;
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(certs, X509_free);
	BIO_free(in);
	BIO_free(out);
	return der;
}

static char *
b64_lines(const unsigned char *der, size_t len)
{
	char *out = malloc(len * 2 + 16);
	size_t o = 0;

	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;

		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, der + i, (int)n);
		out[o++] = '\n';
	}
	out[o] = '\0';
	return out;
}

static enum smk_detect_verdict
detect(const char *header, const char *body, size_t body_len, bool final)
{
	struct smk_header_list list = { 0 };
	struct smk_detect d;
	struct smk_error err;
	enum smk_detect_verdict v;

	ck_assert_int_eq(smk_header_parse(&list, header, strlen(header), &err), 0);
	v = smk_detect_headers(&d, &list);
	if (v == SMK_DETECT_NEED_BODY)
		v = smk_detect_body(&d, body, body_len, final);
	smk_header_list_free(&list);
	return v;
}

START_TEST(plain_types)
{
	ck_assert_int_eq(detect("Subject: x\n", "", 0, true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect("Content-Type: text/plain\n", "", 0, true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"\n",
				"", 0, true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect("Content-Type: garbage\n", "", 0, true), SMK_DETECT_PLAIN);
}
END_TEST

START_TEST(pgp_mime_passes)
{
	ck_assert_int_eq(detect("Content-Type: multipart/encrypted;\n"
				" protocol=\"application/pgp-encrypted\"; boundary=x\n", "", 0, true),
			 SMK_DETECT_ENCRYPTED);
	ck_assert_int_eq(detect("CONTENT-TYPE: Multipart/Encrypted; boundary=x\n", "", 0, true),
			 SMK_DETECT_ENCRYPTED);
}
END_TEST

START_TEST(smime_enveloped_base64)
{
	size_t len;
	unsigned char *der = make_cms("enveloped", &len);
	char *b64 = b64_lines(der, len);
	const char *hdrs[] = {
		"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
		"Content-Transfer-Encoding: base64\n",
		"Content-Type: application/x-pkcs7-mime; name=smime.p7m\n"
		"Content-Transfer-Encoding: BASE64\n",
		"Content-Type: application/pkcs7-mime\nContent-Transfer-Encoding: base64\n",
	};

	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(detect(hdrs[i], b64, strlen(b64), false), SMK_DETECT_ENCRYPTED);
	free(b64);
	free(der);
}
END_TEST

START_TEST(smime_auth_enveloped_binary)
{
	size_t len;
	unsigned char *der = make_cms("authenveloped", &len);

	ck_assert_int_eq(detect("Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data\n"
				"Content-Transfer-Encoding: binary\n", (char *)der, len, false),
			 SMK_DETECT_ENCRYPTED);
	free(der);
}
END_TEST

START_TEST(smime_signed_data_is_plain)
{
	size_t len;
	unsigned char *der = make_cms("signed", &len);
	char *b64 = b64_lines(der, len);

	/* Labelled signed: encrypted without looking. */
	ck_assert_int_eq(detect("Content-Type: application/pkcs7-mime; smime-type=signed-data\n"
				"Content-Transfer-Encoding: base64\n", b64, strlen(b64), true),
			 SMK_DETECT_PLAIN);
	/* Unlabelled: the body is SignedData, so it is plain. */
	ck_assert_int_eq(detect("Content-Type: application/pkcs7-mime\n"
				"Content-Transfer-Encoding: base64\n", b64, strlen(b64), true),
			 SMK_DETECT_PLAIN);
	free(b64);
	free(der);
}
END_TEST

START_TEST(label_lies)
{
	const char *hdr = "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\n"
			  "Content-Transfer-Encoding: base64\n";
	const char *text = "This is not encrypted at all, just text claiming to be.\n";
	/* "MIIB" etc. but a SEQUENCE of an INTEGER, not a ContentInfo */
	const char *not_cms = "MAMCAQA=\n";

	ck_assert_int_eq(detect(hdr, text, strlen(text), true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect(hdr, not_cms, strlen(not_cms), true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect(hdr, "", 0, true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect("Content-Type: application/pkcs7-mime\n", "plain\n", 6, true),
			 SMK_DETECT_PLAIN);
}
END_TEST

START_TEST(body_needed_until_enough)
{
	size_t len;
	unsigned char *der = make_cms("enveloped", &len);
	char *b64 = b64_lines(der, len);
	const char *hdr = "Content-Type: application/pkcs7-mime\nContent-Transfer-Encoding: base64\n";

	/* Blank lines first, then too little base64: undecided until final. */
	ck_assert_int_eq(detect(hdr, "\n\n", 2, false), SMK_DETECT_NEED_BODY);
	ck_assert_int_eq(detect(hdr, b64, 10, false), SMK_DETECT_NEED_BODY);
	ck_assert_int_eq(detect(hdr, b64, 10, true), SMK_DETECT_PLAIN);
	ck_assert_int_eq(detect(hdr, b64, 40, false), SMK_DETECT_ENCRYPTED);
	free(b64);
	free(der);
}
END_TEST

START_TEST(der_prefixes)
{
	static const unsigned char env_indef[] = {
		0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03
	};
	static const unsigned char env_long[] = {
		0x30, 0x82, 0x01, 0x00, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03
	};
	static const unsigned char auth[] = {
		0x30, 0x80, 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17
	};
	static const unsigned char data[] = {	/* id-data */
		0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
	};
	static const unsigned char huge_len[] = { 0x30, 0x85, 1, 2, 3, 4, 5, 0x06, 0x09 };

	ck_assert(smk_detect_is_enveloped_der(env_indef, sizeof(env_indef)));
	ck_assert(smk_detect_is_enveloped_der(env_long, sizeof(env_long)));
	ck_assert(smk_detect_is_enveloped_der(auth, sizeof(auth)));
	ck_assert(!smk_detect_is_enveloped_der(data, sizeof(data)));
	ck_assert(!smk_detect_is_enveloped_der(env_indef, sizeof(env_indef) - 1));
	ck_assert(!smk_detect_is_enveloped_der(huge_len, sizeof(huge_len)));
	ck_assert(!smk_detect_is_enveloped_der(env_indef, 0));
}
END_TEST

static Suite *
detect_suite(void)
{
	Suite *s = suite_create("detect");
	TCase *tc = tcase_create("detect");

	tcase_add_test(tc, plain_types);
	tcase_add_test(tc, pgp_mime_passes);
	tcase_add_test(tc, smime_enveloped_base64);
	tcase_add_test(tc, smime_auth_enveloped_binary);
	tcase_add_test(tc, smime_signed_data_is_plain);
	tcase_add_test(tc, label_lies);
	tcase_add_test(tc, body_needed_until_enough);
	tcase_add_test(tc, der_prefixes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(detect_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
