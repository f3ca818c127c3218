/* check-cert.c - reading certificate files and describing certificates */
#include "config.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "smk-cert.h"
#include "test-util.h"

#define assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "\"%s\" does not contain \"%s\"", \
		      (hay), (needle))

/* Loading `path` fails with `status` and a message naming the file and
 * containing `what`. */
#define assert_load_fails(path, status, what) do { \
	struct smk_error err_ = { 0 }; \
	STACK_OF(X509) *certs_ = smk_cert_load_file((path), &err_); \
	ck_assert_msg(certs_ == NULL, "%s: loaded %d certificates", (path), \
		      sk_X509_num(certs_)); \
	ck_assert_msg(err_.code == (status), "%s: status %s, expected %s (%s)", (path), \
		      smk_status_str(err_.code), smk_status_str(status), err_.msg); \
	assert_has(err_.msg, (path)); \
	assert_has(err_.msg, (what)); \
} while (0)

/* Per-tcase scratch directory, made before and removed after its tests
 * (outside the forked test processes, so also after a failure). */
static char tmpdir[4096];

static void
make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/smk-check-cert-XXXXXX",
		 base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp %s failed", tmpdir);
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
remove_tmpdir(void)
{
	ck_assert_int_eq(nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Writes data to a new file in the scratch directory; free() the path. */
static char *
write_tmp(const char *name, const void *data, size_t len)
{
	char *path;
	FILE *f;

	ck_assert_int_gt(asprintf(&path, "%s/%s", tmpdir, name), 0);
	f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* A certificate read by OpenSSL alone, to compare smimekit's results with. */
static X509 *
ref_cert(const char *name)
{
	char *path = tu_path(name, ".pem");
	BIO *bio = BIO_new_file(path, "r");
	X509 *cert;

	ck_assert_msg(bio != NULL, "cannot open %s", path);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	ck_assert_msg(cert != NULL, "cannot read %s", path);
	BIO_free(bio);
	free(path);
	return cert;
}

/* The contents of a memory BIO (malloc'd), which is freed. */
static unsigned char *
bio_take(BIO *bio, size_t *len)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	unsigned char *copy;

	ck_assert_int_gt(n, 0);
	copy = malloc((size_t)n);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	return copy;
}

static unsigned char *
der_of(X509 *cert, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);

	ck_assert_int_gt(n, 0);
	*len = (size_t)n;
	return der;	/* OPENSSL_free() it */
}

/* A PKCS#7 SignedData certs-only holding certs[0..n), as DER or PEM. */
static unsigned char *
make_pkcs7(X509 *const *certs, size_t n, bool pem, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	BIO *bio = BIO_new(BIO_s_mem());

	ck_assert(p7 != NULL && bio != NULL);
	ck_assert(PKCS7_set_type(p7, NID_pkcs7_signed));
	ck_assert(PKCS7_content_new(p7, NID_pkcs7_data));
	for (size_t i = 0; i < n; i++)
		ck_assert(PKCS7_add_certificate(p7, certs[i]));
	ck_assert(pem ? PEM_write_bio_PKCS7(bio, p7) : i2d_PKCS7_bio(bio, p7));
	PKCS7_free(p7);
	return bio_take(bio, len);
}

/* data[0..len) in PEM armour labelled `label`. */
static unsigned char *
armour(const char *label, const unsigned char *data, size_t len, size_t *outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());

	ck_assert_ptr_nonnull(bio);
	ck_assert_int_gt(PEM_write_bio(bio, label, "", data, (long)len), 0);
	return bio_take(bio, outlen);
}

/* The DER bytes of alice-rsa.key (its PEM body, decoded). */
static unsigned char *
key_der(size_t *len)
{
	char *path = tu_path("alice-rsa", ".key");
	BIO *bio = BIO_new_file(path, "r");
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;

	ck_assert_msg(bio != NULL, "cannot open %s", path);
	ck_assert(PEM_read_bio(bio, &name, &header, &data, &n) == 1);
	assert_has(name, "PRIVATE KEY");
	OPENSSL_free(name);
	OPENSSL_free(header);
	BIO_free(bio);
	free(path);
	*len = (size_t)n;
	return data;	/* OPENSSL_free() it */
}

/* Does msg contain a piece of alice-rsa's private key: 12 characters of its
 * base64 or 16 of its hex, in either case? */
static bool
leaks_key(const char *msg)
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	size_t len, b64len;
	unsigned char *der = key_der(&len);
	char *b64 = malloc(4 * (len / 3 + 1) + 1), *hex = malloc(2 * len + 1);
	char window[17];
	bool leak = false;

	ck_assert(b64 != NULL && hex != NULL);
	b64len = (size_t)EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
	for (size_t i = 0; !leak && i + 12 <= b64len; i++) {
		memcpy(window, b64 + i, 12);
		window[12] = '\0';
		leak = strstr(msg, window) != NULL;
	}
	for (int upper = 0; upper < 2; upper++) {
		for (size_t i = 0; i < len; i++) {
			hex[2 * i] = digits[16 * upper + (der[i] >> 4)];
			hex[2 * i + 1] = digits[16 * upper + (der[i] & 0xf)];
		}
		for (size_t i = 0; !leak && i + 16 <= 2 * len; i++) {
			memcpy(window, hex + i, 16);
			window[16] = '\0';
			leak = strstr(msg, window) != NULL;
		}
	}
	free(b64);
	free(hex);
	OPENSSL_clear_free(der, len);
	return leak;
}

/* Upper-case hex of the serial's magnitude bytes, two digits per byte and
 * no leading zero byte: what BN_bn2hex() prints, computed by hand. */
static void
serial_by_hand(X509 *cert, char *buf, size_t bufsz)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
	const unsigned char *p = ASN1_STRING_get0_data(serial);
	int n = ASN1_STRING_length(serial);
	size_t off = 0;

	ck_assert_int_eq(ASN1_STRING_type(serial), V_ASN1_INTEGER);	/* positive */
	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, bufsz - off, "%02X", p[i]);
}

/* A self-signed certificate for alice-ec's key with subject CN=cn and the
 * given serial (hex). */
static X509 *
make_cert(const char *cn, const char *serial_hex)
{
	EVP_PKEY *key = tu_key("alice-ec");
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = NULL;

	ck_assert(cert != NULL && name != NULL);
	ck_assert(BN_hex2bn(&bn, serial_hex) > 0);
	ck_assert_ptr_nonnull(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)));
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					     (const unsigned char *)cn, -1, -1, 0));
	ck_assert(X509_set_version(cert, X509_VERSION_3));
	ck_assert(X509_set_subject_name(cert, name));
	ck_assert(X509_set_issuer_name(cert, name));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(cert), 86400));
	ck_assert(X509_set_pubkey(cert, key));
	ck_assert(X509_sign(cert, key, EVP_sha256()) > 0);
	BN_free(bn);
	X509_NAME_free(name);
	EVP_PKEY_free(key);
	return cert;
}

START_TEST(pem_one)
{
	char *path = tu_path("alice-rsa", ".pem");
	X509 *ref = ref_cert("alice-rsa");
	struct smk_error err = { 0 };
	STACK_OF(X509) *certs = smk_cert_load_file(path, &err);
	size_t len;
	char *pem = tu_read_file(path, &len);

	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ref), 0);
	smk_cert_stack_free(certs);

	certs = smk_cert_load_mem(pem, len, "memory", &err);
	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ref), 0);
	smk_cert_stack_free(certs);

	free(pem);
	X509_free(ref);
	free(path);
}
END_TEST

START_TEST(pem_several)
{
	char *p1 = tu_path("alice-rsa", ".pem"), *p2 = tu_path("ca", ".pem"), *path;
	size_t len1, len2;
	char *pem1 = tu_read_file(p1, &len1), *pem2 = tu_read_file(p2, &len2);
	char *both = malloc(len1 + len2);
	X509 *alice = ref_cert("alice-rsa"), *ca = ref_cert("ca");
	struct smk_error err = { 0 };
	STACK_OF(X509) *certs;

	ck_assert_ptr_nonnull(both);
	memcpy(both, pem1, len1);
	memcpy(both + len1, pem2, len2);
	path = write_tmp("chain.pem", both, len1 + len2);
	certs = smk_cert_load_file(path, &err);
	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 2);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), alice), 0);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 1), ca), 0);
	smk_cert_stack_free(certs);

	X509_free(alice);
	X509_free(ca);
	free(path);
	free(both);
	free(pem1);
	free(pem2);
	free(p1);
	free(p2);
}
END_TEST

/* A certificate together with its private key (a common "combined" file). */
START_TEST(pem_key_and_cert)
{
	char *kpath = tu_path("alice-rsa", ".key"), *cpath = tu_path("alice-rsa", ".pem"), *path;
	size_t klen, clen;
	char *key = tu_read_file(kpath, &klen), *pem = tu_read_file(cpath, &clen);
	char *both = malloc(klen + clen);
	X509 *ref = ref_cert("alice-rsa");
	struct smk_error err = { 0 };
	STACK_OF(X509) *certs;

	ck_assert_ptr_nonnull(both);
	memcpy(both, key, klen);
	memcpy(both + klen, pem, clen);
	path = write_tmp("combined.pem", both, klen + clen);
	certs = smk_cert_load_file(path, &err);
	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ref), 0);
	smk_cert_stack_free(certs);

	X509_free(ref);
	OPENSSL_cleanse(key, klen);
	OPENSSL_cleanse(both, klen + clen);
	free(key);
	free(both);
	free(pem);
	free(path);
	free(kpath);
	free(cpath);
}
END_TEST

START_TEST(der_file)
{
	X509 *ref = ref_cert("alice-rsa");
	size_t len;
	unsigned char *der = der_of(ref, &len);
	unsigned char *longer = malloc(len + 1);
	char *path = write_tmp("alice.der", der, len);
	struct smk_error err = { 0 };
	STACK_OF(X509) *certs = smk_cert_load_file(path, &err);

	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ref), 0);
	smk_cert_stack_free(certs);

	certs = smk_cert_load_mem(der, len, "memory", &err);
	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ref), 0);
	smk_cert_stack_free(certs);

	/* Trailing bytes after the certificate are refused, not ignored. */
	ck_assert_ptr_nonnull(longer);
	memcpy(longer, der, len);
	longer[len] = 0;
	ck_assert_ptr_null(smk_cert_load_mem(longer, len + 1, "trailing", &err));
	ck_assert_int_eq(err.code, SMK_ERR_CERT);
	assert_has(err.msg, "trailing: not a certificate");

	/* A truncated one too. */
	ck_assert_ptr_null(smk_cert_load_mem(der, len - 1, "truncated", &err));
	assert_has(err.msg, "truncated: not a certificate");

	free(longer);
	free(path);
	OPENSSL_free(der);
	X509_free(ref);
}
END_TEST

static void
check_pkcs7(bool pem)
{
	X509 *refs[2] = { ref_cert("alice-rsa"), ref_cert("ca") };
	size_t len;
	unsigned char *p7 = make_pkcs7(refs, 2, pem, &len);
	char *path = write_tmp(pem ? "certs.p7c.pem" : "certs.p7c", p7, len);
	struct smk_error err = { 0 };
	STACK_OF(X509) *certs = smk_cert_load_file(path, &err);

	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 2);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), refs[0]), 0);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 1), refs[1]), 0);
	smk_cert_stack_free(certs);

	free(p7);
	free(path);
	X509_free(refs[0]);
	X509_free(refs[1]);
}

START_TEST(pkcs7_der)
{
	check_pkcs7(false);
}
END_TEST

START_TEST(pkcs7_pem)
{
	check_pkcs7(true);
}
END_TEST

START_TEST(pkcs7_without_certs)
{
	size_t len;
	unsigned char *p7 = make_pkcs7(NULL, 0, false, &len);
	char *path = write_tmp("empty.p7c", p7, len);

	assert_load_fails(path, SMK_ERR_CERT, "PKCS#7 without certificates");
	free(path);
	free(p7);

	p7 = make_pkcs7(NULL, 0, true, &len);
	path = write_tmp("empty.p7c.pem", p7, len);
	assert_load_fails(path, SMK_ERR_CERT, "no certificate in this PEM file");
	free(path);
	free(p7);
}
END_TEST

START_TEST(trusted_certificate)
{
	X509 *ref = ref_cert("alice-rsa");
	BIO *bio = BIO_new(BIO_s_mem());
	size_t len;
	unsigned char *pem;
	char *path;
	struct smk_error err = { 0 };
	STACK_OF(X509) *certs;

	ck_assert_ptr_nonnull(bio);
	ck_assert(X509_add1_trust_object(ref, OBJ_nid2obj(NID_email_protect)));
	ck_assert(PEM_write_bio_X509_AUX(bio, ref));
	pem = bio_take(bio, &len);
	ck_assert_ptr_nonnull(memmem(pem, len, "-----BEGIN TRUSTED CERTIFICATE-----", 35));
	path = write_tmp("trusted.pem", pem, len);

	certs = smk_cert_load_file(path, &err);
	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ref), 0);
	smk_cert_stack_free(certs);

	free(path);
	free(pem);
	X509_free(ref);
}
END_TEST

START_TEST(key_only)
{
	char *path = tu_path("alice-rsa", ".key");
	struct smk_error err = { 0 };

	ck_assert_ptr_null(smk_cert_load_file(path, &err));
	ck_assert_int_eq(err.code, SMK_ERR_CERT);
	assert_has(err.msg, path);
	assert_has(err.msg, "holds a private key but no certificate");
	ck_assert_msg(!leaks_key(err.msg), "key bytes in \"%s\"", err.msg);
	free(path);
}
END_TEST

/* Whatever shape a private key arrives in, no piece of it is echoed. */
START_TEST(errors_never_show_key_bytes)
{
	static const char *const labels[] = { "CERTIFICATE", "TRUSTED CERTIFICATE", "PKCS7" };
	struct smk_error err;
	size_t len, plen;
	unsigned char *key = key_der(&len);

	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(smk_cert_load_mem(key, len, "der-key", &err));
	assert_has(err.msg, "der-key: not a certificate");
	ck_assert_msg(!leaks_key(err.msg), "key bytes in \"%s\"", err.msg);

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		unsigned char *pem = armour(labels[i], key, len, &plen);

		memset(&err, 0, sizeof(err));
		ck_assert_ptr_null(smk_cert_load_mem(pem, plen, "mislabelled", &err));
		ck_assert_int_eq(err.code, SMK_ERR_CERT);
		assert_has(err.msg, "mislabelled: ");
		ck_assert_msg(!leaks_key(err.msg), "key bytes in \"%s\"", err.msg);
		OPENSSL_cleanse(pem, plen);
		free(pem);
	}
	OPENSSL_clear_free(key, len);
}
END_TEST

START_TEST(garbage)
{
	static const char junk[] = "\x01\x02This is not a certificate at all.\xff\xfe";
	static const char pubkey[] =
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	char *path = write_tmp("garbage.bin", junk, sizeof(junk) - 1);

	assert_load_fails(path, SMK_ERR_CERT, "not a certificate");
	free(path);

	path = write_tmp("pubkey.pem", pubkey, strlen(pubkey));
	assert_load_fails(path, SMK_ERR_CERT, "no certificate in this PEM file");
	free(path);
}
END_TEST

START_TEST(empty)
{
	char *path = write_tmp("empty.pem", "", 0);
	struct smk_error err = { 0 };

	assert_load_fails(path, SMK_ERR_CERT, "empty");
	ck_assert_ptr_null(smk_cert_load_mem("", 0, "nothing", &err));
	ck_assert_str_eq(err.msg, "nothing: empty");
	free(path);
}
END_TEST

START_TEST(nonexistent)
{
	char *path;

	ck_assert_int_gt(asprintf(&path, "%s/no-such-file.pem", tmpdir), 0);
	assert_load_fails(path, SMK_ERR_IO, "cannot open");
	assert_load_fails(path, SMK_ERR_IO, "No such file or directory");
	free(path);
}
END_TEST

START_TEST(directory)
{
	char *path;

	ck_assert_int_gt(asprintf(&path, "%s/dir.pem", tmpdir), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	assert_load_fails(path, SMK_ERR_IO, "not a regular file");
	free(path);
}
END_TEST

/* Opening a FIFO must neither block waiting for a writer nor read it. */
START_TEST(fifo)
{
	char *path;

	ck_assert_int_gt(asprintf(&path, "%s/fifo.pem", tmpdir), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	assert_load_fails(path, SMK_ERR_IO, "not a regular file");
	free(path);
}
END_TEST

START_TEST(too_large)
{
	char *path = write_tmp("huge.pem", "", 0);
	unsigned char *big = calloc(1, SMK_CERT_FILE_MAX + 1);
	struct smk_error err = { 0 };

	ck_assert_int_eq(truncate(path, SMK_CERT_FILE_MAX + 1), 0);
	assert_load_fails(path, SMK_ERR_CERT, "too large");

	/* Exactly the limit is still read (and found to be no certificate). */
	ck_assert_int_eq(truncate(path, SMK_CERT_FILE_MAX), 0);
	assert_load_fails(path, SMK_ERR_CERT, "not a certificate");

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_null(smk_cert_load_mem(big, SMK_CERT_FILE_MAX + 1, "big", &err));
	ck_assert_int_eq(err.code, SMK_ERR_CERT);
	assert_has(err.msg, "big: too large");
	free(big);
	free(path);
}
END_TEST

START_TEST(damaged_pem)
{
	X509 *ref = ref_cert("alice-rsa");
	size_t len, plen, glen;
	unsigned char *der = der_of(ref, &len);
	unsigned char *pem = armour("CERTIFICATE", der, len / 2, &plen);
	unsigned char *good = armour("CERTIFICATE", der, len, &glen);
	unsigned char *both = malloc(glen + plen);
	unsigned char *extra = malloc(len + 1);
	char *path = write_tmp("damaged.pem", pem, plen);

	assert_load_fails(path, SMK_ERR_CERT, "certificate 1 is damaged");
	free(path);

	/* A damaged second certificate spoils the whole file. */
	ck_assert_ptr_nonnull(both);
	memcpy(both, good, glen);
	memcpy(both + glen, pem, plen);
	path = write_tmp("damaged2.pem", both, glen + plen);
	assert_load_fails(path, SMK_ERR_CERT, "certificate 2 is damaged");
	free(path);
	free(pem);

	/* So do bytes after the certificate inside the armour. */
	ck_assert_ptr_nonnull(extra);
	memcpy(extra, der, len);
	extra[len] = 0x00;
	pem = armour("CERTIFICATE", extra, len + 1, &plen);
	path = write_tmp("trailing.pem", pem, plen);
	assert_load_fails(path, SMK_ERR_CERT, "certificate 1 is damaged");
	free(path);
	free(pem);

	pem = armour("TRUSTED CERTIFICATE", der, len / 2, &plen);
	path = write_tmp("damaged-trusted.pem", pem, plen);
	assert_load_fails(path, SMK_ERR_CERT, "trusted certificate 1 is damaged");
	free(path);
	free(pem);

	free(extra);
	free(both);
	free(good);
	OPENSSL_free(der);
	X509_free(ref);
}
END_TEST

START_TEST(der_with_pem_marker)
{
	/* DER whose subject contains the PEM armour text is still DER. */
	X509 *cert = make_cert("-----BEGIN CERTIFICATE-----", "7A");
	struct smk_error err;
	STACK_OF(X509) *certs;
	size_t len;
	unsigned char *der = der_of(cert, &len);

	certs = smk_cert_load_mem(der, len, "marker.der", &err);
	ck_assert_msg(certs != NULL, "%s", err.msg);
	ck_assert_int_eq(sk_X509_num(certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), cert), 0);
	smk_cert_stack_free(certs);
	OPENSSL_free(der);
	X509_free(cert);
}
END_TEST

START_TEST(truncated_pem_block)
{
	/* A good certificate followed by a cut-off PEM block: the file is
	 * refused rather than silently read as one certificate. */
	size_t alen, clen;
	char *apath = tu_path("alice-rsa", ".pem"), *cpath = tu_path("ca", ".pem");
	char *a = tu_read_file(apath, &alen), *c = tu_read_file(cpath, &clen);
	char *both = malloc(alen + clen);
	char *path;

	memcpy(both, a, alen);
	memcpy(both + alen, c, clen / 2);	/* no END line */
	path = write_tmp("truncated.pem", both, alen + clen / 2);
	assert_load_fails(path, SMK_ERR_CERT, "PEM block 2 is damaged");
	free(path);
	free(both);
	free(a);
	free(c);
	free(apath);
	free(cpath);
}
END_TEST

START_TEST(serial_hex)
{
	X509 *cert = ref_cert("alice-rsa");
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *want = BN_bn2hex(bn);
	char got[80], by_hand[80], small[5];

	smk_cert_serial_hex(cert, got, sizeof(got));
	ck_assert_str_eq(got, want);
	serial_by_hand(cert, by_hand, sizeof(by_hand));
	ck_assert_str_eq(got, by_hand);
	OPENSSL_free(want);
	BN_free(bn);
	X509_free(cert);

	/* Long serials keep their leading zero digit; short buffers cut. */
	cert = make_cert("Serial Test", "0A1B2C3D4E5F60718293A4B5C6D7E8F9");
	smk_cert_serial_hex(cert, got, sizeof(got));
	ck_assert_str_eq(got, "0A1B2C3D4E5F60718293A4B5C6D7E8F9");
	smk_cert_serial_hex(cert, small, sizeof(small));
	ck_assert_str_eq(small, "0A1B");
	X509_free(cert);
}
END_TEST

START_TEST(subject)
{
	X509 *cert = ref_cert("alice-rsa");
	char buf[256];

	smk_cert_subject(cert, buf, sizeof(buf));
	ck_assert_str_eq(buf, "CN=Alice Example");
	X509_free(cert);

	/* RFC 2253 order: most significant last. */
	cert = ref_cert("alice-nosan");
	smk_cert_subject(cert, buf, sizeof(buf));
	ck_assert_str_eq(buf, "emailAddress=alice@example.org,CN=Alice Example");
	X509_free(cert);

	/* UTF-8 stays readable, specials are escaped. */
	cert = make_cert("J\xc3\xb6rg M\xc3\xbcller, Jr.", "01");
	smk_cert_subject(cert, buf, sizeof(buf));
	ck_assert_str_eq(buf, "CN=J\xc3\xb6rg M\xc3\xbcller\\, Jr.");
	X509_free(cert);
}
END_TEST

/* A subject goes into one log line: no line breaks get through. */
START_TEST(subject_one_line)
{
	X509 *cert = make_cert("Evil\r\nX-Injected: yes", "02");
	char buf[256];

	smk_cert_subject(cert, buf, sizeof(buf));
	assert_has(buf, "CN=Evil");
	assert_has(buf, "X-Injected: yes");
	ck_assert_ptr_null(strpbrk(buf, "\r\n"));
	X509_free(cert);

	cert = ref_cert("alice-rsa");
	smk_cert_subject(cert, buf, 6);
	ck_assert_str_eq(buf, "CN=Al");
	X509_free(cert);
}
END_TEST

/* t as OpenSSL prints it in ISO 8601 ("2026-11-29 07:51:33Z"), turned
 * into smimekit's "... UTC" form. */
static void
iso_time(const ASN1_TIME *t, char *buf, size_t bufsz)
{
	BIO *bio = BIO_new(BIO_s_mem());
	size_t len;
	unsigned char *text;

	ck_assert_ptr_nonnull(bio);
	ck_assert(ASN1_TIME_print_ex(bio, t, ASN1_DTFLGS_ISO8601));
	text = bio_take(bio, &len);
	ck_assert_int_eq(text[len - 1], 'Z');
	snprintf(buf, bufsz, "%.*s UTC", (int)(len - 1), (const char *)text);
	free(text);
}

START_TEST(time_str)
{
	X509 *cert = ref_cert("alice-rsa");
	ASN1_TIME *bad = ASN1_UTCTIME_new();
	char got[64], want[64];

	smk_asn1_time_str(X509_get0_notBefore(cert), got, sizeof(got));
	iso_time(X509_get0_notBefore(cert), want, sizeof(want));
	ck_assert_str_eq(got, want);
	smk_asn1_time_str(X509_get0_notAfter(cert), got, sizeof(got));
	iso_time(X509_get0_notAfter(cert), want, sizeof(want));
	ck_assert_str_eq(got, want);
	ck_assert_uint_eq(strlen(got), strlen("2026-11-29 07:51:33 UTC"));
	X509_free(cert);

	cert = ref_cert("alice-expired");	/* UTCTime */
	smk_asn1_time_str(X509_get0_notAfter(cert), got, sizeof(got));
	ck_assert_str_eq(got, "2021-01-01 00:00:00 UTC");
	X509_free(cert);

	cert = ref_cert("alice-future");	/* notAfter in 2100: GeneralizedTime */
	ck_assert_int_eq(ASN1_STRING_type(X509_get0_notAfter(cert)), V_ASN1_GENERALIZEDTIME);
	smk_asn1_time_str(X509_get0_notAfter(cert), got, sizeof(got));
	ck_assert_str_eq(got, "2100-01-01 00:00:00 UTC");
	X509_free(cert);

	ck_assert_ptr_nonnull(bad);
	ck_assert(ASN1_STRING_set(bad, "20XX0101000000Z", -1));
	smk_asn1_time_str(bad, got, sizeof(got));
	ck_assert_str_eq(got, "(invalid time)");
	smk_asn1_time_str(NULL, got, sizeof(got));
	ck_assert_str_eq(got, "(invalid time)");
	ASN1_UTCTIME_free(bad);
}
END_TEST

static Suite *
cert_suite(void)
{
	Suite *s = suite_create("cert");
	TCase *load = tcase_create("load");
	TCase *refuse = tcase_create("refuse");
	TCase *describe = tcase_create("describe");

	tcase_add_unchecked_fixture(load, make_tmpdir, remove_tmpdir);
	tcase_add_test(load, pem_one);
	tcase_add_test(load, pem_several);
	tcase_add_test(load, pem_key_and_cert);
	tcase_add_test(load, der_file);
	tcase_add_test(load, pkcs7_der);
	tcase_add_test(load, pkcs7_pem);
	tcase_add_test(load, trusted_certificate);
	tcase_add_test(load, der_with_pem_marker);
	suite_add_tcase(s, load);

	tcase_add_unchecked_fixture(refuse, make_tmpdir, remove_tmpdir);
	tcase_add_test(refuse, pkcs7_without_certs);
	tcase_add_test(refuse, key_only);
	tcase_add_test(refuse, errors_never_show_key_bytes);
	tcase_add_test(refuse, garbage);
	tcase_add_test(refuse, empty);
	tcase_add_test(refuse, nonexistent);
	tcase_add_test(refuse, directory);
	tcase_add_test(refuse, fifo);
	tcase_add_test(refuse, too_large);
	tcase_add_test(refuse, damaged_pem);
	tcase_add_test(refuse, truncated_pem_block);
	suite_add_tcase(s, refuse);

	tcase_add_test(describe, serial_hex);
	tcase_add_test(describe, subject);
	tcase_add_test(describe, subject_one_line);
	tcase_add_test(describe, time_str);
	suite_add_tcase(s, describe);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cert_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
