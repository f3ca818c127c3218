/* store-probe.c - OSSL_STORE searches on a pkcs11: URI, for
 * tests/provider/search.sh
 *
 * Usage: store-probe URI [CRITERION...]
 *
 * Loads the default provider and smimekit.so (from $SMK_PROVIDER_DIR),
 * opens URI and lists what it gives, one line each, then "Total found: N":
 *
 *   CERT <SHA-256 of the DER certificate>
 *   PKEY <SHA-256 of the key's DER SubjectPublicKeyInfo>
 *   PUBKEY <the same>
 *
 * so a test can tell which key a search found (`openssl storeutl -keys`
 * prints only "Pkey" for a token key).  Criteria, as storeutl sets them
 * (OSSL_STORE_SEARCH_* and OSSL_STORE_find, after OSSL_STORE_expect):
 *
 *   expect=cert|key|pubkey
 *   subject-of=CERT.pem         the subject name of that certificate
 *   issuer-serial-of=CERT.pem   its issuer name and serial number
 *   fingerprint=HEX digest=NAME (digest=none: no digest)
 *   alias=LABEL
 *
 * and raw loader parameters, given to OSSL_STORE_open_ex (that is how a
 * caller can hand the loader values storeutl never would):
 *
 *   raw-subject=HEX raw-issuer=HEX raw-serial=N raw-digest=NAME
 *   raw-fingerprint=HEX raw-alias=TEXT
 *
 * Exit status 0 when the listing ends without an error, 1 otherwise (the
 * error queue on standard error), 2 on bad usage.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#define MAX_RAW 8

static void
usage(const char *msg)
{
	fprintf(stderr, "store-probe: %s\nusage: store-probe URI [CRITERION...]\n", msg);
	exit(2);
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		usage(path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		usage(path);
	return x;
}

static unsigned char *
hex(const char *s, size_t *len)
{
	long n = 0;
	unsigned char *b = OPENSSL_hexstr2buf(s, &n);

	if (b == NULL)
		usage("not hex");
	*len = (size_t)n;
	return b;
}

static void
print_sha256(const char *what, const unsigned char *der, int len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (len <= 0 || !EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL)) {
		printf("%s ?\n", what);
		return;
	}
	printf("%s ", what);
	for (i = 0; i < n; i++)
		printf("%02X", md[i]);
	printf("\n");
}

static void
print_info(const OSSL_STORE_INFO *info)
{
	unsigned char *der = NULL;
	int len;

	switch (OSSL_STORE_INFO_get_type(info)) {
	case OSSL_STORE_INFO_CERT:
		len = i2d_X509(OSSL_STORE_INFO_get0_CERT(info), &der);
		print_sha256("CERT", der, len);
		break;
	case OSSL_STORE_INFO_PKEY:
		len = i2d_PUBKEY(OSSL_STORE_INFO_get0_PKEY(info), &der);
		print_sha256("PKEY", der, len);
		break;
	case OSSL_STORE_INFO_PUBKEY:
		len = i2d_PUBKEY(OSSL_STORE_INFO_get0_PUBKEY(info), &der);
		print_sha256("PUBKEY", der, len);
		break;
	default:
		printf("OTHER %s\n", OSSL_STORE_INFO_type_string(OSSL_STORE_INFO_get_type(info)));
		break;
	}
	OPENSSL_free(der);
}

int
main(int argc, char **argv)
{
	const char *dir = getenv("SMK_PROVIDER_DIR");
	OSSL_PARAM raw[MAX_RAW + 1];
	void *owned[MAX_RAW];
	size_t nraw = 0, nowned = 0, i;
	OSSL_STORE_SEARCH *search = NULL;
	OSSL_STORE_CTX *store;
	OSSL_PROVIDER *p_default, *p_smk;
	X509 *cert = NULL;
	BIGNUM *serial_bn = NULL;
	unsigned char *fp = NULL;
	size_t fp_len = 0;
	const char *digest = NULL;
	int expect = 0, n = 0, status = 0, a;

	if (argc < 2)
		usage("no URI");
	if (dir == NULL)
		usage("SMK_PROVIDER_DIR is not set");
	if (!OSSL_PROVIDER_set_default_search_path(NULL, dir) ||
	    (p_default = OSSL_PROVIDER_load(NULL, "default")) == NULL ||
	    (p_smk = OSSL_PROVIDER_load(NULL, "smimekit")) == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}

	for (a = 2; a < argc; a++) {
		const char *arg = argv[a], *v = strchr(arg, '=');
		size_t klen;

		if (v == NULL)
			usage(arg);
		klen = (size_t)(v - arg);
		v++;
#define KEY(k) (klen == strlen(k) && strncmp(arg, k, klen) == 0)
		if (nraw >= MAX_RAW)
			usage("too many raw parameters");
		if (KEY("expect")) {
			expect = strcmp(v, "cert") == 0	  ? OSSL_STORE_INFO_CERT
				 : strcmp(v, "key") == 0	  ? OSSL_STORE_INFO_PKEY
				 : strcmp(v, "pubkey") == 0 ? OSSL_STORE_INFO_PUBKEY
							   : -1;
			if (expect < 0)
				usage(arg);
		} else if (KEY("subject-of") && cert == NULL && search == NULL) {
			cert = read_cert(v);
			search = OSSL_STORE_SEARCH_by_name(X509_get_subject_name(cert));
		} else if (KEY("issuer-serial-of") && cert == NULL && search == NULL) {
			cert = read_cert(v);
			search = OSSL_STORE_SEARCH_by_issuer_serial(X509_get_issuer_name(cert),
								    X509_get0_serialNumber(cert));
		} else if (KEY("fingerprint")) {
			fp = hex(v, &fp_len);
		} else if (KEY("digest")) {
			digest = v;
		} else if (KEY("alias") && search == NULL) {
			search = OSSL_STORE_SEARCH_by_alias(v);
		} else if (KEY("raw-subject") || KEY("raw-issuer") || KEY("raw-fingerprint")) {
			size_t len;
			unsigned char *b = hex(v, &len);

			owned[nowned++] = b;
			raw[nraw++] = OSSL_PARAM_construct_octet_string(
				KEY("raw-subject")  ? OSSL_STORE_PARAM_SUBJECT
				: KEY("raw-issuer") ? OSSL_STORE_PARAM_ISSUER
						    : OSSL_STORE_PARAM_FINGERPRINT,
				b, len);
		} else if (KEY("raw-serial")) {
			unsigned char *b = OPENSSL_malloc(64);
			int blen;

			if (b == NULL || !BN_dec2bn(&serial_bn, v) ||
			    (blen = BN_bn2nativepad(serial_bn, b, 64)) < 0)
				usage(arg);
			owned[nowned++] = b;
			raw[nraw++] = OSSL_PARAM_construct_BN(OSSL_STORE_PARAM_SERIAL, b, 64);
		} else if (KEY("raw-digest")) {
			raw[nraw++] = OSSL_PARAM_construct_utf8_string(OSSL_STORE_PARAM_DIGEST,
								       (char *)v, 0);
		} else if (KEY("raw-alias")) {
			raw[nraw++] = OSSL_PARAM_construct_utf8_string(OSSL_STORE_PARAM_ALIAS,
								       (char *)v, 0);
		} else {
			usage(arg);
		}
#undef KEY
	}
	if (fp != NULL) {
		EVP_MD *md = NULL;

		if (digest != NULL && strcmp(digest, "none") != 0 &&
		    (md = EVP_MD_fetch(NULL, digest, NULL)) == NULL)
			usage("unknown digest");
		search = OSSL_STORE_SEARCH_by_key_fingerprint(md, fp, fp_len);
		EVP_MD_free(md);	/* a NULL digest: the loader's choice */
		if (search == NULL) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
	}
	raw[nraw] = OSSL_PARAM_construct_end();

	store = OSSL_STORE_open_ex(argv[1], NULL, NULL, NULL, NULL, nraw > 0 ? raw : NULL, NULL,
				   NULL);
	if (store == NULL) {
		fprintf(stderr, "store-probe: cannot open the URI\n");
		ERR_print_errors_fp(stderr);
		status = 1;
		goto out;
	}
	if ((expect != 0 && !OSSL_STORE_expect(store, expect)) ||
	    (search != NULL && (!OSSL_STORE_supports_search(store, OSSL_STORE_SEARCH_get_type(search)) ||
				!OSSL_STORE_find(store, search)))) {
		fprintf(stderr, "store-probe: the search is refused\n");
		ERR_print_errors_fp(stderr);
		status = 1;
		goto close;
	}
	while (!OSSL_STORE_eof(store)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(store);

		if (info == NULL) {
			/* as storeutl counts: OpenSSL 3.0 flags an error on
			 * the load that finds the end, so an error counts only
			 * while not at eof */
			if (!OSSL_STORE_error(store))
				break;	/* nothing more (or a loader bug: no eof) */
			ERR_print_errors_fp(stderr);
			if (OSSL_STORE_eof(store))
				break;
			status = 1;
			continue;
		}
		print_info(info);
		OSSL_STORE_INFO_free(info);
		n++;
	}
	printf("Total found: %d\n", n);
close:
	OSSL_STORE_close(store);
out:
	OSSL_STORE_SEARCH_free(search);
	for (i = 0; i < nowned; i++)
		OPENSSL_free(owned[i]);
	OPENSSL_free(fp);
	BN_free(serial_bn);
	X509_free(cert);
	OSSL_PROVIDER_unload(p_smk);
	OSSL_PROVIDER_unload(p_default);
	return status;
}
