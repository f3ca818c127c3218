/* smk-pbes2.c - PKCS#8 EncryptedPrivateKeyInfo with PBES2 under a key
 * derived once (see smk-pbes2.h)
 *
 * What is written is exactly what PKCS8_encrypt would write for the same
 * salt, iteration count and IV (RFC 8018 PBES2: PBKDF2 with
 * hmacWithSHA256, no keyLength, AES-256-CBC with its IV), only without
 * running PBKDF2 once per file.
 */
#include "config.h"

#include "smk-pbes2.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define IV_LEN 16

int
smk_pbes2_derive(const char *pin, size_t pin_len, const struct smk_pbes2_params *pp,
		 unsigned char k[SMK_PBES2_KEY_LEN], struct smk_error *err)
{
	if (pin_len > INT_MAX || pp->salt_len > INT_MAX || pp->iterations == 0 ||
	    pp->iterations > INT_MAX)
		return smk_error_set(err, SMK_ERR_INVALID, "PBKDF2: parameters out of range");
	if (!PKCS5_PBKDF2_HMAC(pin, (int)pin_len, pp->salt, (int)pp->salt_len, (int)pp->iterations,
			       EVP_sha256(), SMK_PBES2_KEY_LEN, k))
		return smk_error_set_ossl(err, SMK_ERR_CRYPTO, "PBKDF2 failed");
	return 0;
}

/* AES-256-CBC of in with k and iv into a new buffer. */
static unsigned char *
aes_cbc(int enc, const unsigned char *k, const unsigned char *iv, const unsigned char *in,
	size_t in_len, size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *out = NULL;
	int l1 = 0, l2 = 0;

	if (c == NULL || in_len > INT_MAX - 32)
		goto fail;
	out = OPENSSL_malloc(in_len + 32);
	if (out == NULL || !EVP_CipherInit_ex2(c, EVP_aes_256_cbc(), k, iv, enc, NULL) ||
	    !EVP_CipherUpdate(c, out, &l1, in, (int)in_len) || !EVP_CipherFinal_ex(c, out + l1, &l2))
		goto fail;
	EVP_CIPHER_CTX_free(c);
	*out_len = (size_t)l1 + (size_t)l2;
	return out;
fail:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_clear_free(out, in_len + 32);
	return NULL;
}

char *
smk_pbes2_encrypt_pem(EVP_PKEY *key, const unsigned char k[SMK_PBES2_KEY_LEN],
		      const struct smk_pbes2_params *pp, size_t *len, struct smk_error *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char iv[IV_LEN], *der = NULL, *ct = NULL;
	X509_ALGOR *alg = NULL, *sig_alg;
	ASN1_OCTET_STRING *digest;
	X509_SIG *sig = NULL;
	BIO *bio = NULL;
	char *out = NULL, *data;
	size_t ct_len = 0;
	int der_len = 0;
	long n;

	if (RAND_bytes(iv, sizeof(iv)) != 1) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "random IV");
		goto done;
	}
	alg = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), (int)pp->iterations,
				   (unsigned char *)pp->salt, (int)pp->salt_len, iv,
				   NID_hmacWithSHA256, NULL);
	p8 = EVP_PKEY2PKCS8(key);
	if (alg == NULL || p8 == NULL) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "PKCS#8 encoding");
		goto done;
	}
	der_len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	if (der_len <= 0) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "PKCS#8 encoding");
		goto done;
	}
	ct = aes_cbc(1, k, iv, der, (size_t)der_len, &ct_len);
	sig = X509_SIG_new();
	if (ct == NULL || sig == NULL) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "PKCS#8 encryption");
		goto done;
	}
	X509_SIG_getm(sig, &sig_alg, &digest);
	bio = BIO_new(BIO_s_mem());
	if (!X509_ALGOR_copy(sig_alg, alg) || !ASN1_OCTET_STRING_set(digest, ct, (int)ct_len) ||
	    bio == NULL || !PEM_write_bio_PKCS8(bio, sig)) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "PKCS#8 encoding");
		goto done;
	}
	n = BIO_get_mem_data(bio, &data);
	out = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (out == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "PKCS#8: out of memory");
		goto done;
	}
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
done:
	OPENSSL_cleanse(iv, sizeof(iv));
	OPENSSL_clear_free(der, der_len > 0 ? (size_t)der_len : 0);
	OPENSSL_free(ct);
	X509_ALGOR_free(alg);
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(sig);
	BIO_free(bio);
	return out;
}

/* Are the file's parameters the token's?  Then *iv gets the file's IV. */
static bool
params_match(const X509_ALGOR *alg, const struct smk_pbes2_params *pp, unsigned char iv[IV_LEN])
{
	const ASN1_OBJECT *obj;
	const void *pval;
	const ASN1_STRING *s;
	const unsigned char *p;
	PBE2PARAM *pbe2 = NULL;
	PBKDF2PARAM *kdf = NULL;
	uint64_t iter;
	bool ok = false;
	int ptype;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != NID_pbes2 || ptype != V_ASN1_SEQUENCE)
		return false;
	s = pval;
	p = ASN1_STRING_get0_data(s);
	pbe2 = d2i_PBE2PARAM(NULL, &p, ASN1_STRING_length(s));
	if (pbe2 == NULL)
		goto done;

	X509_ALGOR_get0(&obj, &ptype, &pval, pbe2->keyfunc);
	if (OBJ_obj2nid(obj) != NID_id_pbkdf2 || ptype != V_ASN1_SEQUENCE)
		goto done;
	s = pval;
	p = ASN1_STRING_get0_data(s);
	kdf = d2i_PBKDF2PARAM(NULL, &p, ASN1_STRING_length(s));
	if (kdf == NULL || kdf->salt == NULL || kdf->salt->type != V_ASN1_OCTET_STRING ||
	    (size_t)ASN1_STRING_length(kdf->salt->value.octet_string) != pp->salt_len ||
	    memcmp(ASN1_STRING_get0_data(kdf->salt->value.octet_string), pp->salt, pp->salt_len) != 0)
		goto done;
	if (!ASN1_INTEGER_get_uint64(&iter, kdf->iter) || iter != pp->iterations)
		goto done;
	if (kdf->keylength != NULL &&
	    (!ASN1_INTEGER_get_uint64(&iter, kdf->keylength) || iter != SMK_PBES2_KEY_LEN))
		goto done;
	if (kdf->prf == NULL || OBJ_obj2nid(kdf->prf->algorithm) != NID_hmacWithSHA256)
		goto done;

	X509_ALGOR_get0(&obj, &ptype, &pval, pbe2->encryption);
	if (OBJ_obj2nid(obj) != NID_aes_256_cbc || ptype != V_ASN1_OCTET_STRING)
		goto done;
	s = pval;
	if (ASN1_STRING_length(s) != IV_LEN)
		goto done;
	memcpy(iv, ASN1_STRING_get0_data(s), IV_LEN);
	ok = true;
done:
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(pbe2);
	ERR_clear_error();
	return ok;
}

/* PEM reading must never ask for a password on the terminal. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *
smk_pbes2_decrypt_pem(const char *pem, size_t len, const unsigned char k[SMK_PBES2_KEY_LEN],
		      const struct smk_pbes2_params *pp, const char *pin, size_t pin_len,
		      const char *what, struct smk_error *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const ASN1_OCTET_STRING *digest;
	const X509_ALGOR *alg;
	unsigned char iv[IV_LEN];
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	EVP_PKEY *key = NULL;
	X509_SIG *sig = NULL;
	BIO *bio;

	if (len > INT_MAX) {
		smk_error_set(err, SMK_ERR_IO, "%s: too large for a key file", what);
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio != NULL)
		sig = PEM_read_bio_PKCS8(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (sig == NULL) {
		smk_error_set_ossl(err, SMK_ERR_IO,
				   "%s: not a PEM ENCRYPTED PRIVATE KEY (damaged file?)", what);
		return NULL;
	}
	X509_SIG_get0(sig, &alg, &digest);
	if (params_match(alg, pp, iv)) {
		der = aes_cbc(0, k, iv, ASN1_STRING_get0_data(digest),
			      (size_t)ASN1_STRING_length(digest), &der_len);
		if (der == NULL) {
			smk_error_set_ossl(err, SMK_ERR_IO, "%s: cannot decrypt (damaged file?)", what);
			goto done;
		}
		p = der;
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len);
	} else if (pin != NULL && pin_len <= INT_MAX) {
		/* encrypted otherwise (by hand): the PIN opens it, slowly */
		p8 = PKCS8_decrypt_ex(sig, pin, (int)pin_len, NULL, NULL);
	} else {
		smk_error_set(err, SMK_ERR_STATE,
			      "%s: encrypted with other parameters than the token's; log in again", what);
		goto done;
	}
	if (p8 == NULL) {
		smk_error_set_ossl(err, SMK_ERR_IO, "%s: cannot decrypt (damaged file?)", what);
		goto done;
	}
	key = EVP_PKCS82PKEY(p8);
	if (key == NULL)
		smk_error_set_ossl(err, SMK_ERR_IO, "%s: not a usable private key", what);
done:
	OPENSSL_cleanse(iv, sizeof(iv));
	OPENSSL_clear_free(der, der_len);
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(sig);
	return key;
}
