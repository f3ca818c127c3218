/* check-policy.c - which certificates may receive mail for an address */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smk-cert.h"
#include "smk-policy.h"
#include "test-util.h"

/* 2020-06-01 12:00:00 UTC: inside alice-expired's validity (2020-2021),
 * before every certificate mkcerts.sh issues relative to today. */
#define JUNE_2020 ((time_t)1591012800)

#define assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "\"%s\" does not contain \"%s\"", \
		      (hay), (needle))

#define assert_verdict(got, want, reason) \
	ck_assert_msg((got) == (want), "verdict %s, expected %s (reason: %s)", \
		      smk_cert_verdict_name(got), smk_cert_verdict_name(want), (reason))

/* The verdict of pol on $SMK_TEST_CERTS/<name>.pem for address. */
static enum smk_cert_verdict
check(const struct smk_policy *pol, const char *name, const char *address,
      char *reason, size_t reasonsz)
{
	X509 *cert = tu_cert(name);
	enum smk_cert_verdict v;

	v = smk_policy_check(pol, cert, NULL, address, reason, reasonsz);
	X509_free(cert);
	return v;
}

/* As check() under the default policy (no trust required, now, 2048 bits). */
static enum smk_cert_verdict
check_default(const char *name, const char *address, char *reason, size_t reasonsz)
{
	const struct smk_policy pol = { 0 };

	return check(&pol, name, address, reason, reasonsz);
}

static X509_STORE *
anchors(const char *name)
{
	char *path = tu_path(name, ".pem");
	struct smk_error err = { 0 };
	X509_STORE *store = smk_policy_load_anchors(path, &err);

	ck_assert_msg(store != NULL, "%s", err.msg);
	free(path);
	return store;
}

/* Upper-case hex serial computed with OpenSSL directly. */
static char *
serial_of(const char *name)
{
	X509 *cert = tu_cert(name);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex, *copy;

	ck_assert_ptr_nonnull(bn);
	hex = BN_bn2hex(bn);
	ck_assert_ptr_nonnull(hex);
	copy = strdup(hex);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(cert);
	return copy;
}

/* A self-signed certificate for alice-rsa's key, valid from yesterday for
 * a year, with no keyUsage or extendedKeyUsage (so only the address is
 * checked), one rfc822Name per emails[i] (len bytes, may hold any byte),
 * and the subjectAltName extension twice if duplicate_san. */
static X509 *
make_cert(const char *const *emails, const size_t *lens, size_t n, bool duplicate_san)
{
	EVP_PKEY *key = tu_key("alice-rsa");
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	X509 *cert = X509_new();
	X509_NAME *subject = X509_NAME_new();

	ck_assert(cert != NULL && subject != NULL && names != NULL);
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		ck_assert(gn != NULL && s != NULL);
		ck_assert(ASN1_STRING_set(s, emails[i], (int)lens[i]));
		GENERAL_NAME_set0_value(gn, GEN_EMAIL, s);
		ck_assert(sk_GENERAL_NAME_push(names, gn) > 0);
	}
	ck_assert(X509_set_version(cert, X509_VERSION_3));
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242));
	ck_assert(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
					     (const unsigned char *)"Made In Test", -1, -1, 0));
	ck_assert(X509_set_subject_name(cert, subject));
	ck_assert(X509_set_issuer_name(cert, subject));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(cert), -86400));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 86400));
	ck_assert(X509_set_pubkey(cert, key));
	ck_assert(X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1);
	if (duplicate_san)
		ck_assert(X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0,
					    X509V3_ADD_APPEND) == 1);
	ck_assert(X509_sign(cert, key, EVP_sha256()) > 0);
	GENERAL_NAMES_free(names);
	X509_NAME_free(subject);
	EVP_PKEY_free(key);
	return cert;
}

START_TEST(usable_rsa)
{
	char reason[256];

	assert_verdict(check_default("alice-rsa", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_has(reason, "RSA 2048-bit key");
	assert_has(reason, "valid until ");
}
END_TEST

START_TEST(usable_ec)
{
	char reason[256];

	assert_verdict(check_default("alice-ec", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_has(reason, "EC 256-bit key");
}
END_TEST

START_TEST(expired)
{
	char reason[256];

	assert_verdict(check_default("alice-expired", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_EXPIRED, reason);
	assert_has(reason, "expired on 2021-01-01");
}
END_TEST

START_TEST(not_yet_valid)
{
	char reason[256];

	assert_verdict(check_default("alice-future", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_NOT_YET_VALID, reason);
	assert_has(reason, "not valid before 2099-01-01");
}
END_TEST

START_TEST(wrong_eku)
{
	char reason[256];

	assert_verdict(check_default("alice-wrong-eku", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_EXT_KEY_USAGE, reason);
	assert_has(reason, "emailProtection");
}
END_TEST

START_TEST(rsa_without_key_encipherment)
{
	char reason[256];

	assert_verdict(check_default("alice-no-ke", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_KEY_USAGE, reason);
	assert_has(reason, "keyEncipherment");
}
END_TEST

START_TEST(ec_without_key_agreement)
{
	char reason[256];

	assert_verdict(check_default("alice-ec-no-ka", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_KEY_USAGE, reason);
	assert_has(reason, "keyAgreement");
}
END_TEST

START_TEST(weak_rsa)
{
	struct smk_policy pol = { 0 };
	char reason[256];

	assert_verdict(check(&pol, "alice-rsa1024", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_WEAK_KEY, reason);
	assert_has(reason, "1024 bits");
	assert_has(reason, "minimum 2048");

	pol.min_rsa_bits = 1024;
	assert_verdict(check(&pol, "alice-rsa1024", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_has(reason, "RSA 1024-bit key");

	pol.min_rsa_bits = 3072;
	assert_verdict(check(&pol, "alice-rsa", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_WEAK_KEY, reason);
	assert_has(reason, "minimum 3072");
}
END_TEST

START_TEST(curve_secp256k1)
{
	char reason[256];

	assert_verdict(check_default("alice-k256", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_KEY_TYPE, reason);
	assert_has(reason, "secp256k1");
}
END_TEST

START_TEST(key_type_ed25519)
{
	char reason[256];

	assert_verdict(check_default("alice-ed25519", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_KEY_TYPE, reason);
	assert_has(reason, "ED25519");
}
END_TEST

START_TEST(address_only_in_subject)
{
	char reason[256];

	assert_verdict(check_default("alice-nosan", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
	assert_has(reason, "no rfc822Name or SmtpUTF8Mailbox");
	assert_has(reason, "alice@example.org");
}
END_TEST

START_TEST(other_address)
{
	char reason[256];

	assert_verdict(check_default("bob", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
	assert_has(reason, "bob@example.org");
	assert_has(reason, "not alice@example.org");
	assert_verdict(check_default("bob", "bob@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
}
END_TEST

START_TEST(domain_case_insensitive)
{
	char reason[256];

	assert_verdict(check_default("alice-upper", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_verdict(check_default("alice-rsa", "alice@EXAMPLE.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_verdict(check_default("alice-rsa", "alice@example.org.evil", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
}
END_TEST

START_TEST(local_part_case_sensitive)
{
	char reason[256];

	assert_verdict(check_default("alice-rsa", "Alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
	assert_has(reason, "not Alice@example.org");
	assert_verdict(check_default("alice-upper", "ALICE@EXAMPLE.ORG", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
}
END_TEST

START_TEST(smtputf8_mailbox)
{
	char reason[256];

	assert_verdict(check_default("utf8", "j\xc3\xb6" "rg@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_verdict(check_default("utf8", "jorg@example.org", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
	assert_has(reason, "j\xc3\xb6" "rg@example.org");
	assert_verdict(check_default("utf8", "J\xc3\xb6" "rg@example.org", reason, sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
}
END_TEST

START_TEST(invalid_addresses)
{
	static const char *const bad[] = {
		"", "alice", "@example.org", "alice@", "a b@example.org",
		"alice\x01@example.org", "alice@exam\x7fple.org", "alice@example.org\t",
	};
	char reason[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!smk_address_valid(bad[i]), "\"%s\" accepted", bad[i]);
		assert_verdict(check_default("alice-rsa", bad[i], reason, sizeof(reason)),
			       SMK_CERT_ADDRESS, reason);
		assert_has(reason, "is not a mail address");
	}
	ck_assert(!smk_address_valid(NULL));
	ck_assert(smk_address_valid("alice@example.org"));
	ck_assert(smk_address_valid("j\xc3\xb6" "rg@example.org"));
}
END_TEST

START_TEST(hostile_addresses)
{
	static const char *const hostile[] = {
		"*@example.org", "alice@*", "alice@example.org\n", "alice@example.org\r\n",
		"alice@example.org,bob@example.org", "%@example.org", "alice@example.org@example.org",
		"alice@.example.org", "alice@example.or",
	};
	char reason[256];

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		enum smk_cert_verdict v = check_default("alice-rsa", hostile[i], reason,
							sizeof(reason));

		ck_assert_msg(v != SMK_CERT_USABLE, "alice-rsa usable for \"%s\"", hostile[i]);
		assert_verdict(v, SMK_CERT_ADDRESS, reason);
	}
}
END_TEST

/* Addresses from a certificate go into logs: control characters are
 * replaced, names with an embedded NUL are ignored altogether. */
START_TEST(hostile_san_in_reason)
{
	static const char crlf[] = "bob@example.org\r\nX-Injected: 1";
	static const char nul[] = "alice@example.org\0.evil.org";
	const char *emails[] = { crlf, nul };
	const size_t lens[] = { sizeof(crlf) - 1, sizeof(nul) - 1 };
	const struct smk_policy pol = { 0 };
	X509 *cert = make_cert(emails, lens, 2, false);
	char reason[256];

	assert_verdict(smk_policy_check(&pol, cert, NULL, "alice@example.org", reason,
					sizeof(reason)),
		       SMK_CERT_ADDRESS, reason);
	assert_has(reason, "bob@example.org??X-Injected: 1");
	ck_assert_ptr_null(strpbrk(reason, "\r\n"));
	ck_assert_ptr_null(strstr(reason, "evil"));
	X509_free(cert);
}
END_TEST

START_TEST(malformed_extensions)
{
	static const char alice[] = "alice@example.org";
	const char *emails[] = { alice };
	const size_t lens[] = { sizeof(alice) - 1 };
	const struct smk_policy pol = { 0 };
	X509 *good = make_cert(emails, lens, 1, false);
	X509 *dup = make_cert(emails, lens, 1, true);
	char reason[256];

	assert_verdict(smk_policy_check(&pol, good, NULL, alice, reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_verdict(smk_policy_check(&pol, dup, NULL, alice, reason, sizeof(reason)),
		       SMK_CERT_MALFORMED, reason);
	assert_has(reason, "malformed or duplicated");
	X509_free(good);
	X509_free(dup);
}
END_TEST

START_TEST(trust_anchors)
{
	struct smk_policy pol = { .require_trust = true, .anchors = anchors("ca") };
	char reason[256];

	assert_verdict(check(&pol, "alice-rsa", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_has(reason, "chains to a trust anchor");
	assert_verdict(check(&pol, "alice-untrusted", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_UNTRUSTED, reason);
	assert_has(reason, "trust anchor");
	X509_STORE_free(pol.anchors);

	pol.anchors = anchors("other-ca");
	assert_verdict(check(&pol, "alice-untrusted", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	assert_verdict(check(&pol, "alice-rsa", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_UNTRUSTED, reason);
	X509_STORE_free(pol.anchors);

	/* Without require_trust the anchors do not matter. */
	pol.require_trust = false;
	pol.anchors = NULL;
	assert_verdict(check(&pol, "alice-untrusted", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
	ck_assert_ptr_null(strstr(reason, "trust anchor"));
}
END_TEST

START_TEST(trust_without_anchors)
{
	const struct smk_policy pol = { .require_trust = true, .anchors = NULL };
	char reason[256];

	assert_verdict(check(&pol, "alice-rsa", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_UNTRUSTED, reason);
	assert_has(reason, "no trust anchors");
}
END_TEST

START_TEST(load_anchors_errors)
{
	struct smk_error err = { 0 };
	char *path = tu_path("no-such-anchors", ".pem");

	ck_assert_ptr_null(smk_policy_load_anchors(path, &err));
	ck_assert_int_eq(err.code, SMK_ERR_IO);
	assert_has(err.msg, path);
	free(path);

	path = tu_path("alice-rsa", ".key");
	ck_assert_ptr_null(smk_policy_load_anchors(path, &err));
	ck_assert_int_eq(err.code, SMK_ERR_CERT);
	assert_has(err.msg, "no certificate");
	free(path);
}
END_TEST

START_TEST(now_is_honoured)
{
	struct smk_policy pol = { .now = JUNE_2020 };
	char reason[256];
	enum smk_cert_verdict v;

	v = check(&pol, "alice-expired", "alice@example.org", reason, sizeof(reason));
	ck_assert_msg(v != SMK_CERT_EXPIRED, "expired in June 2020: %s", reason);
	assert_verdict(v, SMK_CERT_USABLE, reason);
	assert_has(reason, "valid until 2021-01-01 00:00:00 UTC");

	/* Today's certificates did not exist yet in 2020. */
	assert_verdict(check(&pol, "alice-rsa", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_NOT_YET_VALID, reason);

	/* The exact bounds: notAfter itself is already too late. */
	pol.now = (time_t)1609459200;	/* 2021-01-01 00:00:00 UTC */
	assert_verdict(check(&pol, "alice-expired", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_EXPIRED, reason);
	pol.now = (time_t)1609459199;
	assert_verdict(check(&pol, "alice-expired", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_USABLE, reason);
}
END_TEST

/* The chain is checked at pol->now as well: in 2020 the leaf was valid but
 * the test CA (made today) was not. */
START_TEST(trust_uses_now)
{
	const struct smk_policy pol = {
		.require_trust = true, .anchors = anchors("ca"), .now = JUNE_2020,
	};
	char reason[256];

	assert_verdict(check(&pol, "alice-expired", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_UNTRUSTED, reason);
	assert_has(reason, "not yet valid");
	X509_STORE_free(pol.anchors);
}
END_TEST

START_TEST(reason_buffer)
{
	char reason[8];

	memset(reason, 'x', sizeof(reason));
	assert_verdict(check_default("alice-expired", "alice@example.org", reason, sizeof(reason)),
		       SMK_CERT_EXPIRED, reason);
	ck_assert_str_eq(reason, "expired");
	assert_verdict(check_default("alice-expired", "alice@example.org", NULL, 0),
		       SMK_CERT_EXPIRED, "(none)");
	assert_verdict(check_default("alice-rsa", "alice@example.org", NULL, 0),
		       SMK_CERT_USABLE, "(none)");
}
END_TEST

START_TEST(choose_newest)
{
	const struct smk_policy pol = { 0 };
	STACK_OF(X509) *certs = tu_certs("alice-expired", "alice-rsa", "alice-rsa-new", "bob", NULL);
	char reason[512];

	ck_assert_int_eq(smk_policy_choose(&pol, certs, NULL, "alice@example.org", reason,
					   sizeof(reason)), 2);
	assert_has(reason, "RSA 2048-bit key");
	smk_cert_stack_free(certs);

	/* Not just the last usable one. */
	certs = tu_certs("alice-rsa-new", "alice-rsa", NULL);
	ck_assert_int_eq(smk_policy_choose(&pol, certs, NULL, "alice@example.org", reason,
					   sizeof(reason)), 0);
	smk_cert_stack_free(certs);

	certs = tu_certs("bob", "alice-ec", NULL);
	ck_assert_int_eq(smk_policy_choose(&pol, certs, NULL, "alice@example.org", reason,
					   sizeof(reason)), 1);
	assert_has(reason, "EC 256-bit key");
	smk_cert_stack_free(certs);
}
END_TEST

START_TEST(choose_none_usable)
{
	const struct smk_policy pol = { 0 };
	STACK_OF(X509) *certs = tu_certs("alice-expired", "bob", NULL);
	char *expired_serial = serial_of("alice-expired"), *bob_serial = serial_of("bob");
	char reason[512], want[128];

	ck_assert_int_eq(smk_policy_choose(&pol, certs, NULL, "alice@example.org", reason,
					   sizeof(reason)), -1);
	snprintf(want, sizeof(want), "serial %s: expired on 2021-01-01", expired_serial);
	assert_has(reason, want);
	snprintf(want, sizeof(want), "serial %s: subjectAltName is for bob@example.org",
		 bob_serial);
	assert_has(reason, want);
	ck_assert_ptr_nonnull(strstr(reason, "; "));

	/* A short buffer is cut off, not overrun. */
	memset(reason, 'x', sizeof(reason));
	ck_assert_int_eq(smk_policy_choose(&pol, certs, NULL, "alice@example.org", reason, 20), -1);
	ck_assert_uint_eq(strlen(reason), 19);
	ck_assert_int_eq(reason[20], 'x');

	free(expired_serial);
	free(bob_serial);
	smk_cert_stack_free(certs);
}
END_TEST

START_TEST(choose_empty)
{
	const struct smk_policy pol = { 0 };
	STACK_OF(X509) *certs = sk_X509_new_null();
	char reason[128];

	ck_assert_ptr_nonnull(certs);
	ck_assert_int_eq(smk_policy_choose(&pol, certs, NULL, "alice@example.org", reason,
					   sizeof(reason)), -1);
	assert_has(reason, "no certificate");
	ck_assert_int_eq(smk_policy_choose(&pol, NULL, NULL, "alice@example.org", reason,
					   sizeof(reason)), -1);
	sk_X509_free(certs);
}
END_TEST

START_TEST(verdict_names)
{
	static const enum smk_cert_verdict all[] = {
		SMK_CERT_USABLE, SMK_CERT_MALFORMED, SMK_CERT_KEY_TYPE, SMK_CERT_WEAK_KEY,
		SMK_CERT_NOT_YET_VALID, SMK_CERT_EXPIRED, SMK_CERT_KEY_USAGE,
		SMK_CERT_EXT_KEY_USAGE, SMK_CERT_ADDRESS, SMK_CERT_UNTRUSTED,
	};
	const size_t n = sizeof(all) / sizeof(all[0]);

	for (size_t i = 0; i < n; i++) {
		const char *name = smk_cert_verdict_name(all[i]);

		ck_assert_ptr_nonnull(name);
		ck_assert_str_ne(name, "unknown");
		ck_assert_uint_gt(strlen(name), 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(name, smk_cert_verdict_name(all[j]));
	}
	ck_assert_str_eq(smk_cert_verdict_name(SMK_CERT_USABLE), "usable");
	ck_assert_str_eq(smk_cert_verdict_name(SMK_CERT_EXPIRED), "expired");
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *usable = tcase_create("usable");
	TCase *refused = tcase_create("refused");
	TCase *address = tcase_create("address");
	TCase *trust = tcase_create("trust");
	TCase *choose = tcase_create("choose");

	tcase_add_test(usable, usable_rsa);
	tcase_add_test(usable, usable_ec);
	tcase_add_test(usable, now_is_honoured);
	tcase_add_test(usable, reason_buffer);
	tcase_add_test(usable, verdict_names);
	suite_add_tcase(s, usable);

	tcase_add_test(refused, expired);
	tcase_add_test(refused, not_yet_valid);
	tcase_add_test(refused, wrong_eku);
	tcase_add_test(refused, rsa_without_key_encipherment);
	tcase_add_test(refused, ec_without_key_agreement);
	tcase_add_test(refused, weak_rsa);
	tcase_add_test(refused, curve_secp256k1);
	tcase_add_test(refused, key_type_ed25519);
	tcase_add_test(refused, malformed_extensions);
	suite_add_tcase(s, refused);

	tcase_add_test(address, address_only_in_subject);
	tcase_add_test(address, other_address);
	tcase_add_test(address, domain_case_insensitive);
	tcase_add_test(address, local_part_case_sensitive);
	tcase_add_test(address, smtputf8_mailbox);
	tcase_add_test(address, invalid_addresses);
	tcase_add_test(address, hostile_addresses);
	tcase_add_test(address, hostile_san_in_reason);
	suite_add_tcase(s, address);

	tcase_add_test(trust, trust_anchors);
	tcase_add_test(trust, trust_without_anchors);
	tcase_add_test(trust, trust_uses_now);
	tcase_add_test(trust, load_anchors_errors);
	suite_add_tcase(s, trust);

	tcase_add_test(choose, choose_newest);
	tcase_add_test(choose, choose_none_usable);
	tcase_add_test(choose, choose_empty);
	suite_add_tcase(s, choose);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
