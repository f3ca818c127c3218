/* check-p12.c - lib/smk-p12: the strong PKCS#12 of escrow and import:
 * round trips, the parameters written, wrong passwords told apart from
 * damage, re-encryption, and hostile input */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/pkcs12.h>

#include "smk-p12.h"
#include "test-util.h"

static void
encode(const char *name, const char *label, const char *pin, unsigned char **der, size_t *len)
{
	EVP_PKEY *k = tu_key(name);
	X509 *c = tu_cert(name);
	struct smk_error err;

	ck_assert_int_eq(smk_p12_encode(k, c, NULL, label, pin, strlen(pin), der, len, &err),
			 SMK_P12_OK);
	EVP_PKEY_free(k);
	X509_free(c);
}

START_TEST(round_trip)
{
	static const char *const names[] = { "alice-rsa", "alice-ec" };
	const char *name = names[_i];
	struct smk_p12_content c;
	struct smk_error err;
	unsigned char *der;
	size_t len;
	EVP_PKEY *k = tu_key(name);
	X509 *x = tu_cert(name);

	encode(name, "Alice's key", "1234", &der, &len);
	ck_assert_int_eq(smk_p12_decode(der, len, "1234", 4, &c, &err), SMK_P12_OK);
	ck_assert_int_eq(EVP_PKEY_eq(c.key, k), 1);
	ck_assert_ptr_nonnull(c.cert);
	ck_assert_int_eq(X509_cmp(c.cert, x), 0);
	ck_assert_str_eq(c.label, "Alice's key");
	ck_assert_int_eq(sk_X509_num(c.extra), 0);
	smk_p12_content_free(&c);

	/* wrong PIN: its own status, nothing handed out */
	ck_assert_int_eq(smk_p12_decode(der, len, "1235", 4, &c, &err), SMK_P12_BAD_PASSWORD);
	ck_assert_ptr_null(c.key);
	ck_assert_ptr_nonnull(strstr(err.msg, "wrong PIN or password"));
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(x);
}
END_TEST

/* What a reader of the blob meets: SHA-256 MAC at 600000 iterations, the
 * key under PBES2 (PBKDF2-HMAC-SHA256, 600000, AES-256-CBC), certificates
 * in a plain (unencrypted) safe. */
START_TEST(parameters)
{
	const ASN1_OCTET_STRING *mac, *salt;
	const X509_ALGOR *macalg;
	const ASN1_INTEGER *iter;
	const ASN1_OBJECT *oid;
	STACK_OF(PKCS7) *safes;
	unsigned char *der;
	const unsigned char *p;
	size_t len;
	PKCS12 *p12;
	bool plain_certs = false, pbes2_key = false;

	encode("alice-rsa", NULL, "1234", &der, &len);
	p = der;
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	ck_assert_ptr_nonnull(p12);
	PKCS12_get0_mac(&mac, &macalg, &salt, &iter, p12);
	X509_ALGOR_get0(&oid, NULL, NULL, macalg);
	ck_assert_int_eq(OBJ_obj2nid(oid), NID_sha256);
	ck_assert_int_eq(ASN1_INTEGER_get(iter), SMK_P12_ITER);
	ck_assert_int_ge(SMK_P12_ITER, 600000);

	safes = PKCS12_unpack_authsafes(p12);
	ck_assert_ptr_nonnull(safes);
	for (int i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags;

		/* no encrypted safe at all: certificates are public */
		ck_assert_int_eq(OBJ_obj2nid(p7->type), NID_pkcs7_data);
		bags = PKCS12_unpack_p7data(p7);
		for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);

			if (PKCS12_SAFEBAG_get_nid(bag) == NID_certBag)
				plain_certs = true;
			if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
				const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
				const X509_ALGOR *alg;
				const ASN1_OBJECT *aoid;
				PBE2PARAM *pbe2;
				PBKDF2PARAM *kdf;
				const void *pval;
				int ptype;

				X509_SIG_get0(sig, &alg, NULL);
				X509_ALGOR_get0(&aoid, &ptype, &pval, alg);
				ck_assert_int_eq(OBJ_obj2nid(aoid), NID_pbes2);
				pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
								 (const ASN1_TYPE *)alg->parameter);
				ck_assert_ptr_nonnull(pbe2);
				ck_assert_int_eq(OBJ_obj2nid(pbe2->encryption->algorithm),
						 NID_aes_256_cbc);
				ck_assert_int_eq(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
				kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
								pbe2->keyfunc->parameter);
				ck_assert_ptr_nonnull(kdf);
				ck_assert_int_eq(ASN1_INTEGER_get(kdf->iter), SMK_P12_ITER);
				ck_assert_ptr_nonnull(kdf->prf);
				ck_assert_int_eq(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
				PBKDF2PARAM_free(kdf);
				PBE2PARAM_free(pbe2);
				pbes2_key = true;
			}
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	ck_assert(plain_certs);
	ck_assert(pbes2_key);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	OPENSSL_free(der);
}
END_TEST

START_TEST(reencrypt)
{
	struct smk_p12_content c;
	struct smk_error err;
	unsigned char *der, *der2;
	size_t len, len2;

	encode("alice-ec", "label kept", "old PIN", &der, &len);
	ck_assert_int_eq(smk_p12_reencrypt(der, len, "wrong", 5, "new PIN", 7, &der2, &len2, &err),
			 SMK_P12_BAD_PASSWORD);
	ck_assert_ptr_null(der2);
	ck_assert_int_eq(smk_p12_reencrypt(der, len, "old PIN", 7, "new PIN", 7, &der2, &len2, &err),
			 SMK_P12_OK);
	ck_assert_int_eq(smk_p12_decode(der2, len2, "old PIN", 7, &c, &err), SMK_P12_BAD_PASSWORD);
	ck_assert_int_eq(smk_p12_decode(der2, len2, "new PIN", 7, &c, &err), SMK_P12_OK);
	ck_assert_str_eq(c.label, "label kept");
	ck_assert_ptr_nonnull(c.cert);
	smk_p12_content_free(&c);
	OPENSSL_free(der);
	OPENSSL_free(der2);
}
END_TEST

/* The test PKI's legacy PKCS#12 (PBE-SHA1-3DES, SHA-1 MAC, password "test"),
 * as older clients export them. */
START_TEST(legacy_import)
{
	struct smk_p12_content c;
	struct smk_error err;
	char *path = tu_path("alice-rsa", ".p12");
	size_t len;
	char *der = tu_read_file(path, &len);
	X509 *x = tu_cert("alice-rsa");

	ck_assert_int_eq(smk_p12_decode((unsigned char *)der, len, "test", 4, &c, &err), SMK_P12_OK);
	ck_assert_int_eq(X509_cmp(c.cert, x), 0);
	ck_assert_str_eq(c.label, "alice-rsa");
	smk_p12_content_free(&c);
	ck_assert_int_eq(smk_p12_decode((unsigned char *)der, len, "Test", 4, &c, &err),
			 SMK_P12_BAD_PASSWORD);
	free(der);
	free(path);
	X509_free(x);
}
END_TEST

/* A PKCS#12 without a MAC: a wrong password shows at the key's
 * decryption, as a wrong password (never as damage, whatever the padding). */
START_TEST(no_mac)
{
	EVP_PKEY *k = tu_key("alice-ec");
	struct smk_p12_content c;
	struct smk_error err;
	unsigned char *der = NULL;
	int len;

	for (int round = 0; round < 20; round++) {
		char wrong[16];
		PKCS12 *p12 = PKCS12_create_ex("right", NULL, k, NULL, NULL, NID_aes_256_cbc, -1,
					       1, -1, 0, NULL, NULL);

		ck_assert_ptr_nonnull(p12);
		ck_assert_int_eq(PKCS12_mac_present(p12), 0);
		len = i2d_PKCS12(p12, &der);
		ck_assert_int_gt(len, 0);
		snprintf(wrong, sizeof(wrong), "wrong%d", round);
		ck_assert_int_eq(smk_p12_decode(der, (size_t)len, wrong, strlen(wrong), &c, &err),
				 SMK_P12_BAD_PASSWORD);
		ck_assert_int_eq(smk_p12_decode(der, (size_t)len, "right", 5, &c, &err), SMK_P12_OK);
		ck_assert_ptr_null(c.cert);
		smk_p12_content_free(&c);
		OPENSSL_free(der);
		der = NULL;
		PKCS12_free(p12);
	}
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(hostile)
{
	struct smk_p12_content c;
	struct smk_error err;
	unsigned char *der, junk[256];
	size_t len;

	/* empty, junk, too large */
	memset(junk, 0x30, sizeof(junk));
	ck_assert_int_eq(smk_p12_decode(junk, 0, "x", 1, &c, &err), SMK_P12_ERROR);
	ck_assert_int_eq(smk_p12_decode(junk, sizeof(junk), "x", 1, &c, &err), SMK_P12_ERROR);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a PKCS#12"));
	{
		unsigned char *big = calloc(1, SMK_P12_MAX + 1);

		ck_assert_int_eq(smk_p12_decode(big, SMK_P12_MAX + 1, "x", 1, &c, &err),
				 SMK_P12_ERROR);
		ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
		free(big);
	}

	/* every truncation of a real one: an error, never a crash or a key */
	encode("alice-ec", NULL, "1234", &der, &len);
	for (size_t cut = 1; cut < len; cut += 97) {
		ck_assert_int_ne(smk_p12_decode(der, cut, "1234", 4, &c, &err), SMK_P12_OK);
		ck_assert_ptr_null(c.key);
	}
	/* trailing garbage after the DER */
	{
		unsigned char *more = malloc(len + 1);

		memcpy(more, der, len);
		more[len] = 0;
		ck_assert_int_eq(smk_p12_decode(more, len + 1, "1234", 4, &c, &err), SMK_P12_ERROR);
		free(more);
	}
	/* a NUL inside the password cannot be a PKCS#12 password */
	ck_assert_int_eq(smk_p12_decode(der, len, "12\0" "34", 5, &c, &err), SMK_P12_ERROR);
	ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
	OPENSSL_free(der);

	/* no key to encode, no key inside */
	ck_assert_int_eq(smk_p12_encode(NULL, NULL, NULL, NULL, "1234", 4, &der, &len, &err),
			 SMK_P12_ERROR);
	{
		X509 *x = tu_cert("alice-ec");
		PKCS12 *p12 = PKCS12_create_ex("1234", NULL, NULL, x, NULL, 0, -1, 1, 1, 0, NULL,
					       NULL);
		unsigned char *d = NULL;
		int l = i2d_PKCS12(p12, &d);

		ck_assert_int_gt(l, 0);
		ck_assert_int_eq(smk_p12_decode(d, (size_t)l, "1234", 4, &c, &err), SMK_P12_ERROR);
		ck_assert_ptr_nonnull(strstr(err.msg, "no private key"));
		OPENSSL_free(d);
		PKCS12_free(p12);
		X509_free(x);
	}
}
END_TEST

static Suite *
p12_suite(void)
{
	Suite *s = suite_create("p12");
	TCase *tc = tcase_create("p12");

	/* each encode or decode runs 600000-round KDFs (~0.3 s) */
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, round_trip, 0, 2);
	tcase_add_test(tc, parameters);
	tcase_add_test(tc, reencrypt);
	tcase_add_test(tc, legacy_import);
	tcase_add_test(tc, no_mac);
	tcase_add_test(tc, hostile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(p12_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
