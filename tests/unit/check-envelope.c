/* check-envelope.c - the streaming S/MIME envelope, checked by decrypting
 * its output in-process with OpenSSL's CMS code. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "smk-envelope.h"
#include "test-util.h"

static const char plain_msg[] =
	"Return-Path: <bob@example.org>\n"
	"From: Bob <bob@example.org>\n"
	"To: Alice <alice@example.org>\n"
	"Subject: Quarterly figures\n"
	"Date: Sun, 29 Nov 2026 08:00:00 +0000\n"
	"Message-ID: <1@example.org>\n"
	"MIME-Version: 1.0\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"Dear Alice,\n"
	"the figures are attached. \xc3\xa9t\xc3\xa9\n"
	"\n"
	"-- \n"
	"Bob\n";

static const char plain_inner[] =
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Dear Alice,\r\n"
	"the figures are attached. \xc3\xa9t\xc3\xa9\r\n"
	"\r\n"
	"-- \r\n"
	"Bob\r\n";

struct fixture {
	X509 *rsa, *ec, *bob;
	EVP_PKEY *rsa_key, *ec_key, *bob_key;
	STACK_OF(X509) *recips;
	struct smk_envelope_opts opts;
	struct tu_buf out;
	struct smk_error err;
};

static struct fixture fx;

static void
setup(void)
{
	memset(&fx, 0, sizeof(fx));
	fx.rsa = tu_cert("alice-rsa");
	fx.ec = tu_cert("alice-ec");
	fx.bob = tu_cert("bob");
	fx.rsa_key = tu_key("alice-rsa");
	fx.ec_key = tu_key("alice-ec");
	fx.bob_key = tu_key("bob");
	fx.recips = sk_X509_new_null();
	fx.opts.recipients = fx.recips;
}

static void
teardown(void)
{
	sk_X509_free(fx.recips);
	X509_free(fx.rsa);
	X509_free(fx.ec);
	X509_free(fx.bob);
	EVP_PKEY_free(fx.rsa_key);
	EVP_PKEY_free(fx.ec_key);
	EVP_PKEY_free(fx.bob_key);
	tu_buf_free(&fx.out);
}

static void
add(X509 *c)
{
	ck_assert(sk_X509_push(fx.recips, c) > 0);
}

static void
run(const char *msg, size_t len, size_t chunk, enum smk_envelope_outcome want)
{
	enum smk_envelope_outcome got;

	tu_buf_free(&fx.out);
	ck_assert_msg(tu_envelope(&fx.opts, msg, len, chunk, &fx.out, &got, &fx.err) == 0,
		      "envelope failed: %s", fx.err.msg);
	ck_assert_int_eq(got, want);
}

static void
assert_inner(EVP_PKEY *key, X509 *cert, const char *want, size_t want_len)
{
	size_t n = 0;
	char *inner = tu_decrypt(fx.out.data, fx.out.len, key, cert, &n);

	ck_assert_msg(inner != NULL, "cannot decrypt the output");
	ck_assert_uint_eq(n, want_len);
	ck_assert(memcmp(inner, want, n) == 0);
	free(inner);
}

/* The CMS structure in the output, for looking at its algorithms. */
static CMS_ContentInfo *
output_cms(void)
{
	const char *b = strstr(fx.out.data, "\n\n");
	BIO *in, *b64;
	CMS_ContentInfo *cms;

	if (b == NULL)
		b = strstr(fx.out.data, "\r\n\r\n") + 2;
	ck_assert_ptr_nonnull(b);
	in = BIO_new_mem_buf(b + 2, -1);
	b64 = BIO_new(BIO_f_base64());
	BIO_push(b64, in);
	cms = d2i_CMS_bio(b64, NULL);
	BIO_free_all(b64);
	ck_assert_ptr_nonnull(cms);
	return cms;
}

/* ---- round trips over every cipher, padding and key type -------------- */

static const struct {
	enum smk_cipher cipher;
	enum smk_rsa_padding padding;
	bool ec;
} matrix[] = {
	{ SMK_CIPHER_AES256_CBC, SMK_RSA_PKCS1, false },
	{ SMK_CIPHER_AES128_CBC, SMK_RSA_PKCS1, false },
	{ SMK_CIPHER_AES256_GCM, SMK_RSA_PKCS1, false },
	{ SMK_CIPHER_AES128_GCM, SMK_RSA_PKCS1, false },
	{ SMK_CIPHER_AES256_CBC, SMK_RSA_OAEP, false },
	{ SMK_CIPHER_AES256_GCM, SMK_RSA_OAEP, false },
	{ SMK_CIPHER_AES256_CBC, SMK_RSA_PKCS1, true },
	{ SMK_CIPHER_AES128_CBC, SMK_RSA_PKCS1, true },
	{ SMK_CIPHER_AES256_GCM, SMK_RSA_PKCS1, true },
	{ SMK_CIPHER_AES128_GCM, SMK_RSA_PKCS1, true },
};

START_TEST(round_trip)
{
	bool aead = matrix[_i].cipher == SMK_CIPHER_AES256_GCM ||
		    matrix[_i].cipher == SMK_CIPHER_AES128_GCM;
	CMS_ContentInfo *cms;
	char *outer;

	fx.opts.cipher = matrix[_i].cipher;
	fx.opts.rsa_padding = matrix[_i].padding;
	add(matrix[_i].ec ? fx.ec : fx.rsa);
	run(plain_msg, strlen(plain_msg), 0, SMK_ENVELOPE_ENCRYPTED);

	if (matrix[_i].ec)
		assert_inner(fx.ec_key, fx.ec, plain_inner, strlen(plain_inner));
	else
		assert_inner(fx.rsa_key, fx.rsa, plain_inner, strlen(plain_inner));

	outer = tu_outer_header(fx.out.data, fx.out.len);
	ck_assert(tu_has_line(outer, aead
		? "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data;"
		: "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;"));
	free(outer);

	/* The CMS structure says what was asked for. */
	cms = output_cms();
	ck_assert_int_eq(OBJ_obj2nid(CMS_get0_type(cms)),
			 aead ? NID_id_smime_ct_authEnvelopedData : NID_pkcs7_enveloped);
	{
		STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, 0);

		ck_assert_int_eq(sk_CMS_RecipientInfo_num(ris), 1);
		if (matrix[_i].ec) {
			X509_ALGOR *alg;
			ASN1_OCTET_STRING *ukm;

			ck_assert_int_eq(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_AGREE);
			ck_assert(CMS_RecipientInfo_kari_get0_alg(ri, &alg, &ukm));
			ck_assert_int_eq(OBJ_obj2nid(alg->algorithm),
					 NID_dhSinglePass_stdDH_sha256kdf_scheme);
		} else {
			X509_ALGOR *alg;

			ck_assert_int_eq(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_TRANS);
			ck_assert(CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg));
			ck_assert_int_eq(OBJ_obj2nid(alg->algorithm),
					 matrix[_i].padding == SMK_RSA_OAEP ? NID_rsaesOaep
									    : NID_rsaEncryption);
		}
	}
	CMS_ContentInfo_free(cms);
}
END_TEST

START_TEST(several_recipients_each_decrypt)
{
	CMS_ContentInfo *cms;

	add(fx.rsa);
	add(fx.ec);
	add(fx.bob);
	run(plain_msg, strlen(plain_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.rsa_key, fx.rsa, plain_inner, strlen(plain_inner));
	assert_inner(fx.ec_key, fx.ec, plain_inner, strlen(plain_inner));
	assert_inner(fx.bob_key, fx.bob, plain_inner, strlen(plain_inner));
	cms = output_cms();
	ck_assert_int_eq(sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms)), 3);
	CMS_ContentInfo_free(cms);
}
END_TEST

START_TEST(wrong_key_cannot_decrypt)
{
	size_t n;

	add(fx.rsa);
	run(plain_msg, strlen(plain_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	ck_assert_ptr_null(tu_decrypt(fx.out.data, fx.out.len, fx.bob_key, fx.bob, &n));
	ERR_clear_error();
}
END_TEST

/* ---- the outer header -------------------------------------------------- */

START_TEST(outer_header_fields)
{
	char *outer;

	add(fx.rsa);
	run(plain_msg, strlen(plain_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	outer = tu_outer_header(fx.out.data, fx.out.len);

	/* Kept, in order, unchanged. */
	static const char kept[] = "Return-Path: <bob@example.org>\nFrom: Bob <bob@example.org>\n"
				   "To: Alice <alice@example.org>\nSubject: Quarterly figures\n";
	ck_assert(strncmp(outer, kept, strlen(kept)) == 0);
	ck_assert(tu_has_line(outer, "Date: Sun, 29 Nov 2026 08:00:00 +0000\n"));
	ck_assert(tu_has_line(outer, "Message-ID: <1@example.org>\n"));
	/* Replaced. */
	ck_assert(!tu_has_line(outer, "Content-Type: text/plain"));
	ck_assert(!tu_has_line(outer, "Content-Transfer-Encoding: 8bit"));
	ck_assert(tu_has_line(outer, "MIME-Version: 1.0\n"));
	ck_assert_ptr_null(strstr(strstr(outer, "MIME-Version") + 1, "MIME-Version"));
	ck_assert(tu_has_line(outer, "\tname=\"smime.p7m\"\n"));
	ck_assert(tu_has_line(outer, "Content-Transfer-Encoding: base64\n"));
	ck_assert(tu_has_line(outer, "Content-Disposition: attachment; filename=\"smime.p7m\"\n"));
	/* Nothing of the body leaks. */
	ck_assert_ptr_null(strstr(fx.out.data, "Dear Alice"));
	ck_assert_ptr_null(strstr(fx.out.data, "charset=utf-8"));
	free(outer);
}
END_TEST

START_TEST(base64_lines_are_mime)
{
	const char *body;
	size_t line = 0;

	add(fx.rsa);
	run(plain_msg, strlen(plain_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	body = strstr(fx.out.data, "\n\n") + 2;
	for (const char *p = body; *p != '\0'; p++) {
		if (*p == '\n') {
			ck_assert_uint_le(line, 76);
			ck_assert_uint_gt(line, 0);
			line = 0;
			continue;
		}
		ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
				     *p) != NULL, "bad base64 byte 0x%02x", (unsigned char)*p);
		line++;
	}
	ck_assert_uint_eq(line, 0);	/* the last line is ended too */
	ck_assert(fx.out.data[fx.out.len - 1] == '\n');
}
END_TEST

START_TEST(eol_follows_input)
{
	static const char crlf_msg[] = "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
	char *outer;

	add(fx.rsa);
	run(crlf_msg, strlen(crlf_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	outer = tu_outer_header(fx.out.data, fx.out.len);
	ck_assert(tu_has_line(outer, "From: a@example.org\r\n"));
	ck_assert(tu_has_line(outer, "MIME-Version: 1.0\r\n"));
	free(outer);
	/* no bare LF anywhere */
	for (size_t i = 0; i < fx.out.len; i++) {
		if (fx.out.data[i] == '\n')
			ck_assert(i > 0 && fx.out.data[i - 1] == '\r');
	}
	assert_inner(fx.rsa_key, fx.rsa, "\r\nbody\r\n", 8);

	/* forced LF */
	fx.opts.eol = SMK_EOL_LF;
	run(crlf_msg, strlen(crlf_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	ck_assert_ptr_null(memchr(fx.out.data, '\r', fx.out.len));
	/* forced CRLF on LF input */
	fx.opts.eol = SMK_EOL_CRLF;
	run(plain_msg, strlen(plain_msg), 0, SMK_ENVELOPE_ENCRYPTED);
	ck_assert(strncmp(fx.out.data, "Return-Path: <bob@example.org>\r\n", 32) == 0);
}
END_TEST

START_TEST(mbox_from_line_stays_first)
{
	static const char msg[] = "From bob@example.org Sun Nov 29 08:00:00 2026\n"
				  "Subject: x\n\nbody\n";

	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	ck_assert(strncmp(fx.out.data, msg, strlen("From bob@example.org Sun Nov 29 08:00:00 2026\nSubject: x\n")) == 0);
	assert_inner(fx.rsa_key, fx.rsa, "\r\nbody\r\n", 8);
}
END_TEST

/* ---- the inner entity -------------------------------------------------- */

START_TEST(chunking_does_not_matter)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 4096, 65537 };

	add(fx.rsa);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		run(plain_msg, strlen(plain_msg), chunks[i], SMK_ENVELOPE_ENCRYPTED);
		assert_inner(fx.rsa_key, fx.rsa, plain_inner, strlen(plain_inner));
	}
}
END_TEST

START_TEST(crlf_split_across_chunks)
{
	/* Every CR LF pair split between two writes must stay one CRLF. */
	static const char msg[] = "Subject: x\r\n\r\na\r\nb\r\n\r\nc\rd\n";
	static const char want[] = "\r\na\r\nb\r\n\r\nc\rd\r\n";

	add(fx.rsa);
	run(msg, strlen(msg), 1, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.rsa_key, fx.rsa, want, strlen(want));
}
END_TEST

START_TEST(large_body_streams)
{
	/* 3 MB of lines, fed 5000 bytes at a time, round-trips exactly. */
	size_t len = 3 * 1024 * 1024, n = 0;
	char *msg = malloc(len + 64), *want = malloc(len * 2);
	size_t wlen = 0;

	n = (size_t)sprintf(msg, "Subject: big\n\n");
	wlen = (size_t)sprintf(want, "\r\n");
	for (size_t i = 0; n < len; i++) {
		int w = sprintf(msg + n, "line %zu of the large message body, with some text\n", i);

		memcpy(want + wlen, msg + n, (size_t)w - 1);
		wlen += (size_t)w - 1;
		memcpy(want + wlen, "\r\n", 2);
		wlen += 2;
		n += (size_t)w;
	}
	add(fx.ec);
	run(msg, n, 5000, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.ec_key, fx.ec, want, wlen);
	free(msg);
	free(want);
}
END_TEST

START_TEST(no_content_type)
{
	static const char msg[] = "Subject: legacy\nMIME-Version: 1.0\n\nhello\n";

	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	/* Only the separator and the body: MIME-Version does not go inside. */
	assert_inner(fx.rsa_key, fx.rsa, "\r\nhello\r\n", 9);
}
END_TEST

START_TEST(folded_structural_fields_go_inside)
{
	static const char msg[] = "Subject: x\n"
				  "Content-Type: multipart/mixed;\n\tboundary=\"b1\"\n"
				  "Content-ID: <c@example.org>\n"
				  "\n"
				  "--b1\nContent-Type: text/plain\n\nhi\n--b1--\n";
	static const char want[] = "Content-Type: multipart/mixed;\r\n\tboundary=\"b1\"\r\n"
				   "Content-ID: <c@example.org>\r\n"
				   "\r\n"
				   "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
	char *outer;

	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.rsa_key, fx.rsa, want, strlen(want));
	outer = tu_outer_header(fx.out.data, fx.out.len);
	ck_assert(!tu_has_line(outer, "\tboundary"));
	ck_assert(!tu_has_line(outer, "Content-ID"));
	free(outer);
}
END_TEST

START_TEST(signed_mail_encrypted_whole)
{
	static const char msg[] =
		"From: bob@example.org\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\n"
		" micalg=sha-256; boundary=\"sig\"\n"
		"\n"
		"--sig\nContent-Type: text/plain\n\nsigned text\n"
		"--sig\nContent-Type: application/pkcs7-signature; name=smime.p7s\n"
		"Content-Transfer-Encoding: base64\n\nMIIB\n--sig--\n";
	static const char want[] =
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
		" micalg=sha-256; boundary=\"sig\"\r\n"
		"\r\n"
		"--sig\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n"
		"--sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nMIIB\r\n--sig--\r\n";

	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.rsa_key, fx.rsa, want, strlen(want));
}
END_TEST

/* ---- header protection ------------------------------------------------- */

START_TEST(protect_headers)
{
	static const char msg[] =
		"From: Bob <bob@example.org>\n"
		"To: alice@example.org\n"
		"Subject: Secret plans\n"
		"Keywords: merger\n"
		"Comments: confidential\n"
		"MIME-Version: 1.0\n"
		"Content-Type: text/plain; charset=us-ascii\n"
		"\n"
		"body\n";
	static const char want[] =
		"From: Bob <bob@example.org>\r\n"
		"To: alice@example.org\r\n"
		"Subject: Secret plans\r\n"
		"Keywords: merger\r\n"
		"Comments: confidential\r\n"
		"HP-Outer: From: Bob <bob@example.org>\r\n"
		"HP-Outer: To: alice@example.org\r\n"
		"HP-Outer: Subject: [...]\r\n"
		"Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"\r\n"
		"\r\n"
		"body\r\n";
	char *outer;

	fx.opts.protect_headers = true;
	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.rsa_key, fx.rsa, want, strlen(want));
	outer = tu_outer_header(fx.out.data, fx.out.len);
	ck_assert(tu_has_line(outer, "Subject: [...]\n"));
	ck_assert(tu_has_line(outer, "From: Bob <bob@example.org>\n"));
	ck_assert_ptr_null(strstr(outer, "Secret"));
	ck_assert_ptr_null(strstr(outer, "merger"));
	ck_assert_ptr_null(strstr(outer, "confidential"));
	free(outer);
}
END_TEST

START_TEST(protect_headers_without_content_type)
{
	static const char msg[] = "Subject: s\n\nb\n";
	static const char want[] = "Subject: s\r\nHP-Outer: Subject: [...]\r\n"
				   "Content-Type: text/plain; hp=\"cipher\"\r\n\r\nb\r\n";

	fx.opts.protect_headers = true;
	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	assert_inner(fx.rsa_key, fx.rsa, want, strlen(want));
}
END_TEST

/* ---- pass-through ------------------------------------------------------ */

START_TEST(already_encrypted_passes_unchanged)
{
	struct tu_buf first = { 0 };
	enum smk_envelope_outcome oc;

	add(fx.rsa);
	ck_assert_int_eq(tu_envelope(&fx.opts, plain_msg, strlen(plain_msg), 0, &first, &oc, &fx.err), 0);
	ck_assert_int_eq(oc, SMK_ENVELOPE_ENCRYPTED);

	/* Our own output, in whole and in tiny pieces, comes out identical. */
	run(first.data, first.len, 0, SMK_ENVELOPE_PASSTHROUGH);
	ck_assert_uint_eq(fx.out.len, first.len);
	ck_assert(memcmp(fx.out.data, first.data, first.len) == 0);
	run(first.data, first.len, 3, SMK_ENVELOPE_PASSTHROUGH);
	ck_assert(fx.out.len == first.len && memcmp(fx.out.data, first.data, first.len) == 0);
	tu_buf_free(&first);
}
END_TEST

START_TEST(pgp_mime_passes_unchanged)
{
	static const char msg[] =
		"From: x@example.org\r\n"
		"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n"
		"\tboundary=\"pgp\"\r\n"
		"\r\n"
		"--pgp\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
		"--pgp\r\nContent-Type: application/octet-stream\r\n\r\n"
		"-----BEGIN PGP MESSAGE-----\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n--pgp--\r\n";

	add(fx.rsa);
	run(msg, strlen(msg), 5, SMK_ENVELOPE_PASSTHROUGH);
	ck_assert_uint_eq(fx.out.len, strlen(msg));
	ck_assert(memcmp(fx.out.data, msg, fx.out.len) == 0);
}
END_TEST

START_TEST(sniff_with_growing_header_buffer)
{
	/* A pkcs7-mime label makes the envelope look at the body; while it
	 * does, the header buffer grows and moves.  The fields it parsed must
	 * move with it (found by fuzz-envelope, a use-after-free). */
	size_t n = 0, hdr_end;
	char *msg = malloc(16384), *want;

	n += (size_t)sprintf(msg, "From: alice@example.org\nContent-Type: application/pkcs7-mime\nX-Long: ");
	while (n < 4089)
		msg[n++] = 'a';
	msg[n++] = '\n';
	msg[n++] = '\n';
	hdr_end = n;
	while (n < 4089 + 6000)
		msg[n++] = '\n';	/* a long blank start of the body */
	n += (size_t)sprintf(msg + n, "not base64 at all\n");

	want = malloc(2 * n + 64);
	{
		size_t w = (size_t)sprintf(want, "Content-Type: application/pkcs7-mime\r\n\r\n");

		for (size_t i = hdr_end; i < n; i++) {
			if (msg[i] == '\n')
				want[w++] = '\r';
			want[w++] = msg[i];
		}
		add(fx.rsa);
		run(msg, n, 128, SMK_ENVELOPE_ENCRYPTED);
		assert_inner(fx.rsa_key, fx.rsa, want, w);
		ck_assert(tu_has_line(fx.out.data, "From: alice@example.org\n"));
	}
	free(want);
	free(msg);
}
END_TEST

START_TEST(sniff_verdict_independent_of_chunking)
{
	/* More than SMK_DETECT_BODY_MAX blank bytes before a real
	 * EnvelopedData body: the verdict is the same however it arrives. */
	struct tu_buf inner_msg = { 0 };
	enum smk_envelope_outcome oc, first = SMK_ENVELOPE_UNDECIDED;
	static const size_t chunks[] = { 0, 1, 100, 5000 };
	char *msg;
	size_t n;

	add(fx.rsa);
	ck_assert_int_eq(tu_envelope(&fx.opts, plain_msg, strlen(plain_msg), 0, &inner_msg, &oc, &fx.err), 0);
	/* Put 5000 blank lines between its header and its base64 body. */
	n = tu_header_len(inner_msg.data, inner_msg.len);
	msg = malloc(inner_msg.len + 5000);
	memcpy(msg, inner_msg.data, n);
	memset(msg + n, '\n', 5000);
	memcpy(msg + n + 5000, inner_msg.data + n, inner_msg.len - n);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		tu_buf_free(&fx.out);
		ck_assert_int_eq(tu_envelope(&fx.opts, msg, inner_msg.len + 5000, chunks[i], &fx.out,
					     &oc, &fx.err), 0);
		if (i == 0)
			first = oc;
		ck_assert_int_eq(oc, first);
	}
	free(msg);
	tu_buf_free(&inner_msg);
}
END_TEST

START_TEST(fake_enveloped_label_is_encrypted)
{
	static const char msg[] = "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\n"
				  "Content-Transfer-Encoding: base64\n\n"
				  "This is plain text pretending to be encrypted.\n";

	add(fx.rsa);
	run(msg, strlen(msg), 0, SMK_ENVELOPE_ENCRYPTED);
	ck_assert_ptr_null(strstr(fx.out.data, "pretending"));
}
END_TEST

/* ---- errors and API use ------------------------------------------------ */

START_TEST(output_failure_is_reported)
{
	struct smk_envelope *env;
	struct tu_buf out = { .fail_after = 700 };
	char big[4096];

	memset(big, 'x', sizeof(big));
	add(fx.rsa);
	env = smk_envelope_new(&fx.opts, tu_buf_write, &out, &fx.err);
	ck_assert_ptr_nonnull(env);
	ck_assert_int_eq(smk_envelope_write(env, "Subject: x\n\n", 12), 0);
	for (int i = 0; i < 100 && smk_envelope_write(env, big, sizeof(big)) == 0; i++)
		;
	/* The failure shows at the latest when finishing, and sticks. */
	ck_assert_int_eq(smk_envelope_finish(env), -1);
	ck_assert_int_eq(smk_envelope_error(env)->code, SMK_ERR_IO);
	ck_assert_ptr_nonnull(strstr(smk_envelope_error(env)->msg, "writing"));
	ck_assert_int_eq(smk_envelope_write(env, "x", 1), -1);
	smk_envelope_free(env);
	tu_buf_free(&out);
}
END_TEST

START_TEST(write_after_finish)
{
	struct smk_envelope *env;

	add(fx.rsa);
	env = smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err);
	ck_assert_int_eq(smk_envelope_write(env, plain_msg, strlen(plain_msg)), 0);
	ck_assert_int_eq(smk_envelope_finish(env), 0);
	ck_assert_int_eq(smk_envelope_write(env, "x", 1), -1);
	ck_assert_int_eq(smk_envelope_error(env)->code, SMK_ERR_STATE);
	ck_assert_int_eq(smk_envelope_finish(env), -1);
	smk_envelope_free(env);
}
END_TEST

START_TEST(bad_options)
{
	X509 *ed = tu_cert("alice-ed25519");

	/* no recipients */
	ck_assert_ptr_null(smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err));
	ck_assert_int_eq(fx.err.code, SMK_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(fx.err.msg, "no recipient"));

	/* a key that cannot receive */
	add(fx.rsa);
	add(ed);
	ck_assert_ptr_null(smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err));
	ck_assert_int_eq(fx.err.code, SMK_ERR_CERT);
	ck_assert_ptr_nonnull(strstr(fx.err.msg, "recipient 2"));
	ck_assert_ptr_nonnull(strstr(fx.err.msg, "need RSA or EC"));
	(void)sk_X509_pop(fx.recips);

	/* out-of-range enums, missing callback */
	fx.opts.cipher = (enum smk_cipher)99;
	ck_assert_ptr_null(smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err));
	ck_assert_ptr_nonnull(strstr(fx.err.msg, "cipher"));
	fx.opts.cipher = SMK_CIPHER_AES256_CBC;
	fx.opts.rsa_padding = (enum smk_rsa_padding)7;
	ck_assert_ptr_null(smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err));
	fx.opts.rsa_padding = SMK_RSA_PKCS1;
	ck_assert_ptr_null(smk_envelope_new(&fx.opts, NULL, NULL, &fx.err));
	ck_assert_ptr_null(smk_envelope_new(NULL, tu_buf_write, &fx.out, &fx.err));
	X509_free(ed);
}
END_TEST

START_TEST(recipients_stack_may_go_away)
{
	/* The envelope keeps its own references to the certificates. */
	STACK_OF(X509) *tmp = tu_certs("alice-rsa", NULL);
	struct smk_envelope *env;

	fx.opts.recipients = tmp;
	env = smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err);
	ck_assert_ptr_nonnull(env);
	sk_X509_pop_free(tmp, X509_free);
	ck_assert_int_eq(smk_envelope_write(env, plain_msg, strlen(plain_msg)), 0);
	ck_assert_int_eq(smk_envelope_finish(env), 0);
	smk_envelope_free(env);
	assert_inner(fx.rsa_key, fx.rsa, plain_inner, strlen(plain_inner));
}
END_TEST

START_TEST(byte_counters)
{
	struct smk_envelope *env;

	add(fx.rsa);
	env = smk_envelope_new(&fx.opts, tu_buf_write, &fx.out, &fx.err);
	ck_assert_int_eq(smk_envelope_outcome(env), SMK_ENVELOPE_UNDECIDED);
	ck_assert_int_eq(smk_envelope_write(env, plain_msg, strlen(plain_msg)), 0);
	ck_assert_int_eq(smk_envelope_finish(env), 0);
	ck_assert_uint_eq(smk_envelope_bytes_in(env), strlen(plain_msg));
	ck_assert_uint_eq(smk_envelope_bytes_out(env), fx.out.len);
	smk_envelope_free(env);
}
END_TEST

START_TEST(names)
{
	enum smk_cipher c;
	enum smk_rsa_padding p;

	ck_assert(smk_cipher_from_name("AES-256-GCM", &c) && c == SMK_CIPHER_AES256_GCM);
	ck_assert(smk_cipher_from_name("aes-128-cbc", &c) && c == SMK_CIPHER_AES128_CBC);
	ck_assert(!smk_cipher_from_name("des-ede3-cbc", &c));
	ck_assert(!smk_cipher_from_name("aes-256-cbcx", &c));
	ck_assert_str_eq(smk_cipher_name(SMK_CIPHER_AES256_CBC), "aes-256-cbc");
	ck_assert(smk_rsa_padding_from_name("oaep", &p) && p == SMK_RSA_OAEP);
	ck_assert(!smk_rsa_padding_from_name("pss", &p));
	ck_assert_str_eq(smk_rsa_padding_name(SMK_RSA_PKCS1), "pkcs1");
}
END_TEST

static Suite *
envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *rt = tcase_create("round-trip");
	TCase *hdr = tcase_create("outer-header");
	TCase *inner = tcase_create("inner-entity");
	TCase *hp = tcase_create("header-protection");
	TCase *pass = tcase_create("pass-through");
	TCase *api = tcase_create("api");

	tcase_add_checked_fixture(rt, setup, teardown);
	tcase_add_loop_test(rt, round_trip, 0, (int)(sizeof(matrix) / sizeof(matrix[0])));
	tcase_add_test(rt, several_recipients_each_decrypt);
	tcase_add_test(rt, wrong_key_cannot_decrypt);
	suite_add_tcase(s, rt);

	tcase_add_checked_fixture(hdr, setup, teardown);
	tcase_add_test(hdr, outer_header_fields);
	tcase_add_test(hdr, base64_lines_are_mime);
	tcase_add_test(hdr, eol_follows_input);
	tcase_add_test(hdr, mbox_from_line_stays_first);
	suite_add_tcase(s, hdr);

	tcase_add_checked_fixture(inner, setup, teardown);
	tcase_add_test(inner, chunking_does_not_matter);
	tcase_add_test(inner, crlf_split_across_chunks);
	tcase_add_test(inner, large_body_streams);
	tcase_add_test(inner, no_content_type);
	tcase_add_test(inner, folded_structural_fields_go_inside);
	tcase_add_test(inner, signed_mail_encrypted_whole);
	suite_add_tcase(s, inner);

	tcase_add_checked_fixture(hp, setup, teardown);
	tcase_add_test(hp, protect_headers);
	tcase_add_test(hp, protect_headers_without_content_type);
	suite_add_tcase(s, hp);

	tcase_add_checked_fixture(pass, setup, teardown);
	tcase_add_test(pass, already_encrypted_passes_unchanged);
	tcase_add_test(pass, pgp_mime_passes_unchanged);
	tcase_add_test(pass, fake_enveloped_label_is_encrypted);
	tcase_add_test(pass, sniff_with_growing_header_buffer);
	tcase_add_test(pass, sniff_verdict_independent_of_chunking);
	suite_add_tcase(s, pass);

	tcase_add_checked_fixture(api, setup, teardown);
	tcase_add_test(api, output_failure_is_reported);
	tcase_add_test(api, write_after_finish);
	tcase_add_test(api, bad_options);
	tcase_add_test(api, recipients_stack_may_go_away);
	tcase_add_test(api, byte_counters);
	tcase_add_test(api, names);
	suite_add_tcase(s, api);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(envelope_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
