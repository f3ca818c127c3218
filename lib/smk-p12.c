/* smk-p12.c - strong PKCS#12 for escrowed and imported keys (see smk-p12.h)
 *
 * Why the MAC gets as many iterations as the key bag: the MAC is computed
 * from the password alone, so checking it is a complete test of a
 * guessed PIN.  OpenSSL's default of 2048 MAC iterations would let
 * whoever reads the blob (a directory backup, a replica, an admin with
 * the database files) try PINs about 300 times faster than the key bag's
 * PBKDF2 allows, and then decrypt the key with the one that matched.  The
 * weakest check sets the cost of a guess, so both get SMK_P12_ITER.
 * (Measured here: the MAC's PKCS#12 KDF with SHA-256 at 600,000 rounds
 * takes ~0.12 s, the key bag's PBKDF2-HMAC-SHA256 ~0.35 s, as HMAC hashes
 * twice per round: a guess costs at least 0.12 s of one core, against
 * ~0.4 ms with the default MAC.)
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "smk-p12.h"

/* A NUL-terminated copy of a password for OpenSSL's PKCS#12 calls (which
 * take C strings), or NULL for a password with a NUL inside or no memory. */
static char *
pass_dup(const char *pass, size_t len, struct smk_error *err)
{
	char *s;

	if (memchr(pass, '\0', len) != NULL || len > INT_MAX) {
		smk_error_set(err, SMK_ERR_INVALID, "a PIN or password must not contain a NUL byte");
		return NULL;
	}
	s = malloc(len + 1);
	if (s == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(s, pass, len);
	s[len] = '\0';
	return s;
}

static void
pass_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

enum smk_p12_status
smk_p12_encode(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *extra, const char *label,
	       const char *pin, size_t pin_len, unsigned char **out, size_t *out_len,
	       struct smk_error *err)
{
	PKCS12 *p12 = NULL;
	char *pw;
	unsigned char *der = NULL;
	int len;

	*out = NULL;
	*out_len = 0;
	if (key == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "PKCS#12: no private key to encode");
		return SMK_P12_ERROR;
	}
	if ((pw = pass_dup(pin, pin_len, err)) == NULL)
		return SMK_P12_ERROR;
	/* Key bag: PBES2 with AES-256-CBC; OpenSSL 3's PBES2 default PRF is
	 * hmacWithSHA256.  Certificates: -1, not encrypted.  MAC: -1, none
	 * yet: PKCS12_create_ex would make it with SHA-1, so it is set below. */
	p12 = PKCS12_create_ex(pw, label, key, cert, extra, NID_aes_256_cbc, -1, SMK_P12_ITER, -1,
			       0, NULL, NULL);
	if (p12 == NULL) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "cannot make a PKCS#12");
		goto fail;
	}
	if (!PKCS12_set_mac(p12, pw, -1, NULL, 0, SMK_P12_ITER, EVP_sha256())) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "cannot add the PKCS#12 MAC");
		goto fail;
	}
	len = i2d_PKCS12(p12, &der);
	if (len <= 0) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "cannot encode the PKCS#12");
		goto fail;
	}
	PKCS12_free(p12);
	pass_free(pw);
	*out = der;
	*out_len = (size_t)len;
	return SMK_P12_OK;
fail:
	PKCS12_free(p12);
	pass_free(pw);
	return SMK_P12_ERROR;
}

/* ---- decoding ---------------------------------------------------------- */

struct walk {
	const char *pw;		/* the password form that opened the MAC (may be NULL) */
	bool mac_checked;	/* the MAC proved the password right */
	bool bad_password;	/* a decryption failed without a MAC to tell us */
	EVP_PKEY *key;
	char *key_label;
	STACK_OF(X509) *certs;
	char **cert_labels;	/* parallel to certs (OPENSSL_malloc'd or NULL) */
	size_t nlabels;
	struct smk_error *err;
};

static int
add_cert(struct walk *w, PKCS12_SAFEBAG *bag)
{
	X509 *x;
	char **labels;

	if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate)
		return 0;	/* SDSI certificates and the like: not ours */
	x = PKCS12_SAFEBAG_get1_cert(bag);
	if (x == NULL)
		return smk_error_set_ossl(w->err, SMK_ERR_CERT, "PKCS#12: unreadable certificate");
	labels = realloc(w->cert_labels, (w->nlabels + 1) * sizeof(*labels));
	if (labels == NULL || !sk_X509_push(w->certs, x)) {
		if (labels != NULL)
			w->cert_labels = labels;
		X509_free(x);
		return smk_error_set(w->err, SMK_ERR_NOMEM, "out of memory");
	}
	w->cert_labels = labels;
	w->cert_labels[w->nlabels++] = PKCS12_get_friendlyname(bag);
	return 0;
}

static int walk_bags(struct walk *w, const STACK_OF(PKCS12_SAFEBAG) *bags, int depth);

static int
walk_bag(struct walk *w, PKCS12_SAFEBAG *bag, int depth)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	EVP_PKEY *k;

	switch (PKCS12_SAFEBAG_get_nid(bag)) {
	case NID_keyBag:
	case NID_pkcs8ShroudedKeyBag:
		if (w->key != NULL)
			return 0;	/* the first key is the one */
		if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
			p8 = PKCS12_decrypt_skey_ex(bag, w->pw, -1, NULL, NULL);
			if (p8 == NULL) {
				if (!w->mac_checked) {
					w->bad_password = true;
					ERR_clear_error();
					return -1;
				}
				return smk_error_set_ossl(w->err, SMK_ERR_CRYPTO,
							  "PKCS#12: cannot decrypt the key");
			}
			k = EVP_PKCS82PKEY_ex(p8, NULL, NULL);
			PKCS8_PRIV_KEY_INFO_free(p8);
		} else {
			k = EVP_PKCS82PKEY_ex(PKCS12_SAFEBAG_get0_p8inf(bag), NULL, NULL);
		}
		if (k == NULL && !w->mac_checked && PKCS12_SAFEBAG_get_nid(bag) ==
		    NID_pkcs8ShroudedKeyBag) {
			/* Without a MAC, a wrong password can decrypt to bytes
			 * with valid padding (1 in 256) that are no key. */
			w->bad_password = true;
			ERR_clear_error();
			return -1;
		}
		if (k == NULL)
			return smk_error_set_ossl(w->err, SMK_ERR_CRYPTO,
						  "PKCS#12: unusable private key");
		w->key = k;
		w->key_label = PKCS12_get_friendlyname(bag);
		return 0;
	case NID_certBag:
		return add_cert(w, bag);
	case NID_safeContentsBag:
		if (depth > 3)
			return smk_error_set(w->err, SMK_ERR_INVALID, "PKCS#12: nested too deep");
		return walk_bags(w, PKCS12_SAFEBAG_get0_safes(bag), depth + 1);
	default:
		return 0;	/* CRL and secret bags: nothing for us */
	}
}

static int
walk_bags(struct walk *w, const STACK_OF(PKCS12_SAFEBAG) *bags, int depth)
{
	for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		if (walk_bag(w, sk_PKCS12_SAFEBAG_value(bags, i), depth) < 0)
			return -1;
	}
	return 0;
}

static int
walk_authsafes(struct walk *w, PKCS12 *p12)
{
	STACK_OF(PKCS7) *asafes = PKCS12_unpack_authsafes(p12);
	int ret = 0;

	if (asafes == NULL)
		return smk_error_set_ossl(w->err, SMK_ERR_INVALID, "PKCS#12: damaged contents");
	for (int i = 0; i < sk_PKCS7_num(asafes) && ret == 0; i++) {
		PKCS7 *p7 = sk_PKCS7_value(asafes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			bags = PKCS12_unpack_p7data(p7);
			break;
		case NID_pkcs7_encrypted:
			bags = PKCS12_unpack_p7encdata(p7, w->pw, -1);
			if (bags == NULL && !w->mac_checked) {
				w->bad_password = true;
				ERR_clear_error();
				ret = -1;
				continue;
			}
			break;
		default:
			continue;	/* enveloped (public-key) safes: not supported */
		}
		if (bags == NULL) {
			ret = smk_error_set_ossl(w->err, SMK_ERR_INVALID, "PKCS#12: damaged safe");
			break;
		}
		ret = walk_bags(w, bags, 0);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(asafes, PKCS7_free);
	return ret;
}

static void
walk_free(struct walk *w)
{
	EVP_PKEY_free(w->key);
	OPENSSL_free(w->key_label);
	sk_X509_pop_free(w->certs, X509_free);
	for (size_t i = 0; i < w->nlabels; i++)
		OPENSSL_free(w->cert_labels[i]);
	free(w->cert_labels);
}

/* Checks the MAC; sets w->pw to the form of the password that opened it. */
static enum smk_p12_status
check_mac(struct walk *w, PKCS12 *p12, const char *pw)
{
	w->pw = pw;
	if (!PKCS12_mac_present(p12))
		return SMK_P12_OK;	/* a wrong password shows at decryption */
	if (PKCS12_verify_mac(p12, pw, -1)) {
		w->mac_checked = true;
		return SMK_P12_OK;
	}
	/* An empty password is either no password or "" (two encodings). */
	if (*pw == '\0' && PKCS12_verify_mac(p12, NULL, 0)) {
		w->pw = NULL;
		w->mac_checked = true;
		return SMK_P12_OK;
	}
	ERR_clear_error();
	smk_error_set(w->err, SMK_ERR_INVALID, "wrong PIN or password for the PKCS#12");
	return SMK_P12_BAD_PASSWORD;
}

enum smk_p12_status
smk_p12_decode(const unsigned char *der, size_t len, const char *pass, size_t pass_len,
	       struct smk_p12_content *c, struct smk_error *err)
{
	struct walk w = { .err = err };
	enum smk_p12_status st = SMK_P12_ERROR;
	const unsigned char *p = der;
	PKCS12 *p12 = NULL;
	char *pw = NULL;

	memset(c, 0, sizeof(*c));
	if (len == 0 || len > SMK_P12_MAX) {
		smk_error_set(err, SMK_ERR_INVALID, "PKCS#12: %s (%zu bytes)",
			      len == 0 ? "empty" : "too large", len);
		return SMK_P12_ERROR;
	}
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	if (p12 == NULL || p != der + len) {
		ERR_clear_error();
		smk_error_set(err, SMK_ERR_INVALID, "not a PKCS#12 (DER)");
		goto out;
	}
	if ((pw = pass_dup(pass, pass_len, err)) == NULL)
		goto out;
	if ((w.certs = sk_X509_new_null()) == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		goto out;
	}
	st = check_mac(&w, p12, pw);
	if (st != SMK_P12_OK)
		goto out;
	if (walk_authsafes(&w, p12) < 0) {
		if (w.bad_password) {
			st = SMK_P12_BAD_PASSWORD;
			smk_error_set(err, SMK_ERR_INVALID, "wrong PIN or password for the PKCS#12");
		} else {
			st = SMK_P12_ERROR;
		}
		goto out;
	}
	if (w.key == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "the PKCS#12 holds no private key");
		st = SMK_P12_ERROR;
		goto out;
	}

	/* The certificate of the key: the one with its public key. */
	for (int i = 0; i < sk_X509_num(w.certs); i++) {
		X509 *x = sk_X509_value(w.certs, i);

		if (c->cert == NULL && EVP_PKEY_eq(X509_get0_pubkey(x), w.key) == 1) {
			c->cert = x;
			if (w.key_label == NULL)
				w.key_label = w.cert_labels[i];
			else
				OPENSSL_free(w.cert_labels[i]);
			(void)sk_X509_delete(w.certs, i);
			memmove(&w.cert_labels[i], &w.cert_labels[i + 1],
				(w.nlabels - (size_t)i - 1) * sizeof(*w.cert_labels));
			w.nlabels--;
			break;
		}
	}
	ERR_clear_error();
	c->label = w.key_label ? strdup(w.key_label) : NULL;
	if (w.key_label != NULL && c->label == NULL) {
		X509_free(c->cert);
		c->cert = NULL;
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		st = SMK_P12_ERROR;
		goto out;
	}
	c->key = w.key;
	c->extra = w.certs;
	w.key = NULL;
	w.certs = NULL;
	st = SMK_P12_OK;
out:
	walk_free(&w);
	PKCS12_free(p12);
	pass_free(pw);
	return st;
}

void
smk_p12_content_free(struct smk_p12_content *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->key);
	X509_free(c->cert);
	sk_X509_pop_free(c->extra, X509_free);
	free(c->label);
	memset(c, 0, sizeof(*c));
}

enum smk_p12_status
smk_p12_reencrypt(const unsigned char *der, size_t len, const char *old_pin, size_t old_len,
		  const char *new_pin, size_t new_len, unsigned char **out, size_t *out_len,
		  struct smk_error *err)
{
	struct smk_p12_content c;
	enum smk_p12_status st;

	*out = NULL;
	*out_len = 0;
	st = smk_p12_decode(der, len, old_pin, old_len, &c, err);
	if (st != SMK_P12_OK)
		return st;
	st = smk_p12_encode(c.key, c.cert, c.extra, c.label, new_pin, new_len, out, out_len, err);
	smk_p12_content_free(&c);
	return st;
}
