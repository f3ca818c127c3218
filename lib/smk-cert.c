/* smk-cert.c - reading and describing certificates */
#include "config.h"

#include "smk-cert.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "smk-file.h"

void
smk_cert_stack_free(STACK_OF(X509) *certs)
{
	sk_X509_pop_free(certs, X509_free);
}

/* Moves the certificates of a PKCS#7 SignedData (certs-only) into out. */
static int
take_pkcs7_certs(PKCS7 *p7, STACK_OF(X509) *out)
{
	STACK_OF(X509) *certs;

	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL)
		return 0;
	certs = p7->d.sign->cert;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		if (!X509_up_ref(c) || !sk_X509_push(out, c)) {
			X509_free(c);
			return -1;
		}
	}
	return 0;
}

static int
load_pem(BIO *bio, STACK_OF(X509) *out, const char *what, struct smk_error *err)
{
	bool seen_key = false;
	int blocks = 0;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;

	while (PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		const unsigned char *p = data;

		if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
			X509 *c = d2i_X509(NULL, &p, len);

			if (c == NULL || p != data + len || !sk_X509_push(out, c)) {
				X509_free(c);
				smk_error_set_ossl(err, SMK_ERR_CERT,
						   "%s: certificate %d is damaged", what,
						   sk_X509_num(out) + 1);
				goto fail;
			}
		} else if (strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
			X509 *c = d2i_X509_AUX(NULL, &p, len);

			if (c == NULL || !sk_X509_push(out, c)) {
				X509_free(c);
				smk_error_set_ossl(err, SMK_ERR_CERT,
						   "%s: trusted certificate %d is damaged", what,
						   sk_X509_num(out) + 1);
				goto fail;
			}
		} else if (strcmp(name, PEM_STRING_PKCS7) == 0) {
			PKCS7 *p7 = d2i_PKCS7(NULL, &p, len);
			int r = take_pkcs7_certs(p7, out);

			PKCS7_free(p7);
			if (r < 0) {
				smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", what);
				goto fail;
			}
		} else if (strstr(name, "PRIVATE KEY") != NULL) {
			seen_key = true;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, (size_t)len);	/* may have been a key */
		name = header = NULL;
		data = NULL;
		blocks++;
	}
	/* The loop ends with "no start line" after the last block; anything
	 * else is a damaged block, and certificates after it would be lost. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		smk_error_set_ossl(err, SMK_ERR_CERT, "%s: PEM block %d is damaged", what,
				   blocks + 1);
		return -1;
	}
	ERR_clear_error();
	if (sk_X509_num(out) == 0) {
		if (seen_key)
			return smk_error_set(err, SMK_ERR_CERT,
					     "%s: holds a private key but no certificate", what);
		return smk_error_set(err, SMK_ERR_CERT, "%s: no certificate in this PEM file", what);
	}
	return 0;
fail:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_clear_free(data, (size_t)len);
	return -1;
}

static int
load_der(const unsigned char *data, size_t len, STACK_OF(X509) *out, const char *what,
	 struct smk_error *err)
{
	const unsigned char *p = data;
	X509 *c;
	PKCS7 *p7;

	c = d2i_X509(NULL, &p, (long)len);
	if (c != NULL && p == data + len) {
		if (!sk_X509_push(out, c)) {
			X509_free(c);
			return smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", what);
		}
		return 0;
	}
	X509_free(c);

	p = data;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 != NULL) {
		int r = take_pkcs7_certs(p7, out);

		PKCS7_free(p7);
		ERR_clear_error();
		if (r < 0)
			return smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", what);
		if (sk_X509_num(out) > 0)
			return 0;
		return smk_error_set(err, SMK_ERR_CERT, "%s: PKCS#7 without certificates", what);
	}
	ERR_clear_error();
	return smk_error_set(err, SMK_ERR_CERT,
			     "%s: not a certificate (neither PEM nor DER X.509 or PKCS#7)", what);
}

STACK_OF(X509) *
smk_cert_load_mem(const void *data, size_t len, const char *what, struct smk_error *err)
{
	STACK_OF(X509) *out;
	int r;

	if (len == 0) {
		smk_error_set(err, SMK_ERR_CERT, "%s: empty", what);
		return NULL;
	}
	if (len > SMK_CERT_FILE_MAX || len > INT_MAX) {
		smk_error_set(err, SMK_ERR_CERT, "%s: too large for a certificate (%zu bytes)", what, len);
		return NULL;
	}
	out = sk_X509_new_null();
	if (out == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", what);
		return NULL;
	}
	/* DER starts with a SEQUENCE and may contain "-----BEGIN " in a name;
	 * PEM is text around armour.  Try DER first when it looks like DER. */
	if (((const unsigned char *)data)[0] == 0x30 &&
	    load_der(data, len, out, what, NULL) == 0) {
		r = 0;
	} else if (memmem(data, len, "-----BEGIN ", 11) != NULL) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		r = bio ? load_pem(bio, out, what, err)
			: smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", what);
		BIO_free(bio);
	} else {
		r = load_der(data, len, out, what, err);
	}
	if (r < 0) {
		smk_cert_stack_free(out);
		return NULL;
	}
	return out;
}

STACK_OF(X509) *
smk_cert_load_file(const char *path, struct smk_error *err)
{
	STACK_OF(X509) *certs;
	size_t len = 0;
	char *buf = smk_file_read(path, SMK_CERT_FILE_MAX, "certificate", SMK_ERR_CERT, &len, err);

	if (buf == NULL)
		return NULL;
	certs = smk_cert_load_mem(buf, len, path, err);
	free(buf);
	return certs;
}

void
smk_cert_serial_hex(X509 *cert, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	snprintf(buf, len, "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}

void
smk_cert_subject(X509 *cert, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	buf[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
			       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(bio, &p);
		snprintf(buf, len, "%.*s", (int)n, p);
	}
	BIO_free(bio);
}

void
smk_asn1_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "(invalid time)");
}
