/* evp.c - the smimekit provider's operations through the EVP API
 *
 * A file token with alice's RSA-2048 and P-256 keys (made here with the
 * key store API, as `smimekit token import` would), the provider loaded
 * from $SMK_PROVIDER_DIR beside the default provider, and the token keys
 * taken through OSSL_STORE with pkcs11: URIs.  Every result is checked
 * against the same keys read from their PEM files by the default
 * provider: RSA PKCS#1 v1.5 signatures are deterministic, so they must be
 * byte-equal; PSS and ECDSA signatures must verify in software (and with
 * the token key); decryption must give back what software encrypted (and
 * the other way round); the parameters read back are the ones set; the
 * AlgorithmIdentifier equals the default provider's.
 *
 * ECDH (EVP_PKEY_derive) with a public-only software peer, plain Z and
 * the X9.63 KDF with a UKM as CMS asks, equals the default provider's.
 *
 * Software keys in a library context with smimekit activated first
 * (generated or imported by type name, so made by smimekit's key
 * management): they sign, decrypt and derive in software with the same
 * results as the default provider, pass EVP_PKEY_check and export whole.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "provtest.h"

#define USER_PIN PROVTEST_USER_PIN

static EVP_PKEY *tok_rsa, *tok_ec;	/* the token keys (smimekit provider) */
static EVP_PKEY *sw_rsa, *sw_ec;	/* the same keys from PEM (default provider) */
static OSSL_PROVIDER *p_smk, *p_default;

static EVP_PKEY *
load_uri(const char *uri)
{
	EVP_PKEY *key = provtest_load_key(NULL, uri);

	if (key == NULL)
		provtest_die(uri);
	return key;
}

static void
setup_once(void)
{
	const char *pdir = getenv("SMK_PROVIDER_DIR");

	if (pdir == NULL || getenv("SMK_TEST_CERTS") == NULL)
		provtest_die("run through make check (SMK_PROVIDER_DIR, SMK_TEST_CERTS)");
	/* The token is made before the provider is loaded, so OpenSSL has
	 * fetched the default provider's signatures already: the token keys
	 * must still go to the provider (its own operation names). */
	provtest_make_token("evp");
	if (!OSSL_PROVIDER_set_default_search_path(NULL, pdir) ||
	    (p_smk = OSSL_PROVIDER_load(NULL, "smimekit")) == NULL ||
	    (p_default = OSSL_PROVIDER_load(NULL, "default")) == NULL)
		provtest_die("loading the providers");
	tok_rsa = load_uri("pkcs11:token=alice;object=alice-rsa;type=private?pin-value=" USER_PIN);
	tok_ec = load_uri("pkcs11:token=alice;object=alice-ec;type=private?pin-value=" USER_PIN);
	sw_rsa = provtest_read_key("alice-rsa.key");
	sw_ec = provtest_read_key("alice-ec.key");
}

/* ---- helpers ------------------------------------------------------------------ */

/* A sign/verify/encrypt/decrypt context on key with padding and digests. */
enum op { SIGN, VERIFY, ENCRYPT, DECRYPT };

static EVP_PKEY_CTX *
pctx(EVP_PKEY *key, enum op op, int pad, const EVP_MD *md, const char *saltlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	int ok;

	ck_assert_ptr_nonnull(ctx);
	switch (op) {
	case SIGN: ok = EVP_PKEY_sign_init(ctx); break;
	case VERIFY: ok = EVP_PKEY_verify_init(ctx); break;
	case ENCRYPT: ok = EVP_PKEY_encrypt_init(ctx); break;
	default: ok = EVP_PKEY_decrypt_init(ctx); break;
	}
	ck_assert_int_gt(ok, 0);
	if (pad != 0)
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(ctx, pad), 0);
	if (md != NULL && (op == SIGN || op == VERIFY))
		ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(ctx, md), 0);
	if (saltlen != NULL)
		ck_assert_int_gt(EVP_PKEY_CTX_ctrl_str(ctx, "rsa_pss_saltlen", saltlen), 0);
	return ctx;
}

static size_t
sign(EVP_PKEY *key, int pad, const EVP_MD *md, const char *saltlen, const unsigned char *in,
     size_t in_len, unsigned char *sig, size_t size)
{
	EVP_PKEY_CTX *ctx = pctx(key, SIGN, pad, md, saltlen);
	size_t len = 0;

	ck_assert_int_gt(EVP_PKEY_sign(ctx, NULL, &len, in, in_len), 0);
	ck_assert_uint_le(len, size);
	ck_assert_int_gt(EVP_PKEY_sign(ctx, sig, &len, in, in_len), 0);
	EVP_PKEY_CTX_free(ctx);
	return len;
}

static int
verify(EVP_PKEY *key, int pad, const EVP_MD *md, const char *saltlen, const unsigned char *in,
       size_t in_len, const unsigned char *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = pctx(key, VERIFY, pad, md, saltlen);
	int r = EVP_PKEY_verify(ctx, sig, sig_len, in, in_len);

	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

static void
digest(const char *data, unsigned char out[32])
{
	unsigned int len = 32;

	ck_assert(EVP_Digest(data, strlen(data), out, &len, EVP_sha256(), NULL));
}

/* ---- tests ------------------------------------------------------------------------- */

START_TEST(rsa_pkcs1_sign)
{
	unsigned char d[32], a[512], b[512];
	size_t la, lb;
	EVP_MD_CTX *m;

	BIGNUM *priv = NULL;
	EVP_PKEY_CTX *ctx;

	/* an opaque key: no private exponent comes out of the provider */
	ck_assert(!EVP_PKEY_get_bn_param(tok_rsa, OSSL_PKEY_PARAM_RSA_D, &priv));
	ERR_clear_error();
	digest("hello", d);
	la = sign(tok_rsa, RSA_PKCS1_PADDING, EVP_sha256(), NULL, d, 32, a, sizeof(a));
	lb = sign(sw_rsa, RSA_PKCS1_PADDING, EVP_sha256(), NULL, d, 32, b, sizeof(b));
	ck_assert_uint_eq(la, 256);
	ck_assert(la == lb && memcmp(a, b, la) == 0);

	/* EVP_DigestSign: hashed by the provider, the same signature */
	m = EVP_MD_CTX_new();
	la = sizeof(a);
	ck_assert_int_gt(EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, tok_rsa, NULL), 0);
	ck_assert_int_gt(EVP_DigestSignUpdate(m, "hel", 3), 0);
	ck_assert_int_gt(EVP_DigestSignUpdate(m, "lo", 2), 0);
	ck_assert_int_gt(EVP_DigestSignFinal(m, a, &la), 0);
	EVP_MD_CTX_free(m);
	ck_assert(la == lb && memcmp(a, b, la) == 0);

	/* a digest of the wrong length is refused */
	ctx = pctx(tok_rsa, SIGN, RSA_PKCS1_PADDING, EVP_sha256(), NULL);
	la = sizeof(a);
	ck_assert_int_le(EVP_PKEY_sign(ctx, a, &la, d, 20), 0);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
}
END_TEST

START_TEST(rsa_pss_sign)
{
	unsigned char d[48], sig[512];
	unsigned int dl = 48;
	size_t len;
	EVP_PKEY_CTX *ctx;
	int pad = 0, salt = 0;
	char mgf1[32];
	OSSL_PARAM params[2];

	ck_assert(EVP_Digest("pss", 3, d, &dl, EVP_sha384(), NULL));
	len = sign(tok_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "digest", d, 48, sig, sizeof(sig));
	ck_assert_int_eq(verify(sw_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "48", d, 48, sig, len), 1);
	/* the salt length is the one asked for: not 20 */
	ck_assert_int_ne(verify(sw_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "20", d, 48, sig, len), 1);
	/* "max": 256 - 48 - 2 = 206 bytes */
	len = sign(tok_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "max", d, 48, sig, sizeof(sig));
	ck_assert_int_eq(verify(sw_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "206", d, 48, sig, len), 1);
	/* a number, and the token key verifies too (in software, over the public half) */
	len = sign(tok_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "17", d, 48, sig, sizeof(sig));
	ck_assert_int_eq(verify(tok_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "17", d, 48, sig, len), 1);
	ck_assert_int_eq(verify(sw_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "17", d, 48, sig, len), 1);

	/* MGF1 with another digest; the parameters read back */
	ctx = pctx(tok_rsa, SIGN, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "32");
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_get_rsa_padding(ctx, &pad), 0);
	ck_assert_int_eq(pad, RSA_PKCS1_PSS_PADDING);
	ck_assert_int_gt(EVP_PKEY_CTX_get_rsa_pss_saltlen(ctx, &salt), 0);
	ck_assert_int_eq(salt, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1,
						     sizeof(mgf1));
	params[1] = OSSL_PARAM_construct_end();
	ck_assert_int_gt(EVP_PKEY_CTX_get_params(ctx, params), 0);
	ck_assert(EVP_MD_is_a(EVP_sha256(), mgf1));
	len = sizeof(sig);
	ck_assert_int_gt(EVP_PKEY_sign(ctx, sig, &len, d, 48), 0);
	EVP_PKEY_CTX_free(ctx);
	ctx = pctx(sw_rsa, VERIFY, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "32");
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 0);
	ck_assert_int_eq(EVP_PKEY_verify(ctx, sig, len, d, 48), 1);
	EVP_PKEY_CTX_free(ctx);
	/* and not with MGF1-SHA-384 */
	ck_assert_int_ne(verify(sw_rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), "32", d, 48, sig, len), 1);
}
END_TEST

START_TEST(ecdsa_sign)
{
	unsigned char d[32], sig[128];
	size_t len;
	EVP_MD_CTX *m;

	digest("ecdsa", d);
	len = sign(tok_ec, 0, EVP_sha256(), NULL, d, 32, sig, sizeof(sig));
	ck_assert_int_eq(verify(sw_ec, 0, EVP_sha256(), NULL, d, 32, sig, len), 1);
	/* raw: no digest named */
	len = sign(tok_ec, 0, NULL, NULL, d, 32, sig, sizeof(sig));
	ck_assert_int_eq(verify(sw_ec, 0, NULL, NULL, d, 32, sig, len), 1);
	d[0] ^= 1;
	ck_assert_int_ne(verify(sw_ec, 0, NULL, NULL, d, 32, sig, len), 1);
	ck_assert_int_ne(verify(tok_ec, 0, NULL, NULL, d, 32, sig, len), 1);

	/* EVP_DigestSign with the token key, EVP_DigestVerify in software */
	m = EVP_MD_CTX_new();
	len = sizeof(sig);
	ck_assert_int_gt(EVP_DigestSignInit_ex(m, NULL, "SHA384", NULL, NULL, tok_ec, NULL), 0);
	ck_assert_int_gt(EVP_DigestSign(m, sig, &len, (const unsigned char *)"data", 4), 0);
	EVP_MD_CTX_free(m);
	m = EVP_MD_CTX_new();
	ck_assert_int_gt(EVP_DigestVerifyInit_ex(m, NULL, "SHA384", NULL, NULL, sw_ec, NULL), 0);
	ck_assert_int_eq(EVP_DigestVerify(m, sig, len, (const unsigned char *)"data", 4), 1);
	EVP_MD_CTX_free(m);
	/* and with the token key's public half */
	m = EVP_MD_CTX_new();
	ck_assert_int_gt(EVP_DigestVerifyInit_ex(m, NULL, "SHA384", NULL, NULL, tok_ec, NULL), 0);
	ck_assert_int_eq(EVP_DigestVerify(m, sig, len, (const unsigned char *)"data", 4), 1);
	ck_assert_int_gt(EVP_DigestVerifyInit_ex(m, NULL, "SHA384", NULL, NULL, tok_ec, NULL), 0);
	ck_assert_int_ne(EVP_DigestVerify(m, sig, len, (const unsigned char *)"date", 4), 1);
	EVP_MD_CTX_free(m);
	ERR_clear_error();
}
END_TEST

/* The AlgorithmIdentifier (X.509 and CMS signing ask for it) equals the
 * default provider's for PKCS#1, PSS and ECDSA. */
static void
same_algid(EVP_PKEY *tok, EVP_PKEY *sw, const char *md, const char *pad, const char *salt)
{
	unsigned char a[256], b[256];
	size_t la = 0, lb = 0;

	for (int i = 0; i < 2; i++) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		EVP_PKEY_CTX *ctx = NULL;
		OSSL_PARAM params[2];

		ck_assert_int_gt(EVP_DigestSignInit_ex(m, &ctx, md, NULL, NULL, i ? sw : tok, NULL), 0);
		if (pad != NULL)
			ck_assert_int_gt(EVP_PKEY_CTX_ctrl_str(ctx, "rsa_padding_mode", pad), 0);
		if (salt != NULL)
			ck_assert_int_gt(EVP_PKEY_CTX_ctrl_str(ctx, "rsa_pss_saltlen", salt), 0);
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID,
							      i ? b : a, sizeof(a));
		params[1] = OSSL_PARAM_construct_end();
		ck_assert_int_gt(EVP_PKEY_CTX_get_params(ctx, params), 0);
		ck_assert_uint_gt(params[0].return_size, 0);
		*(i ? &lb : &la) = params[0].return_size;
		EVP_MD_CTX_free(m);
	}
	ck_assert_uint_eq(la, lb);
	ck_assert(memcmp(a, b, la) == 0);
}

START_TEST(algorithm_id)
{
	same_algid(tok_rsa, sw_rsa, "SHA256", NULL, NULL);
	same_algid(tok_rsa, sw_rsa, "SHA384", "pss", "digest");
	same_algid(tok_ec, sw_ec, "SHA256", NULL, NULL);
}
END_TEST

START_TEST(rsa_decrypt)
{
	static const unsigned char label[] = "a label";
	unsigned char plain[32], ct[512], out[512];
	size_t ctlen, outlen;
	EVP_PKEY_CTX *ctx;

	ck_assert_int_eq(RAND_bytes(plain, sizeof(plain)), 1);
	for (int oaep = 0; oaep < 2; oaep++) {
		for (int enc_tok = 0; enc_tok < 2; enc_tok++) {
			int pad = oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING;
			EVP_PKEY *enc = enc_tok ? tok_rsa : sw_rsa, *dec = enc_tok ? sw_rsa : tok_rsa;

			/* one side in software, the other through the provider */
			ctx = pctx(enc, ENCRYPT, pad, NULL, NULL);
			if (oaep) {
				ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 0);
				ck_assert_int_gt(EVP_PKEY_CTX_set0_rsa_oaep_label(
						ctx, OPENSSL_memdup(label, sizeof(label)), sizeof(label)), 0);
			}
			ctlen = sizeof(ct);
			ck_assert_int_gt(EVP_PKEY_encrypt(ctx, ct, &ctlen, plain, sizeof(plain)), 0);
			EVP_PKEY_CTX_free(ctx);

			ctx = pctx(dec, DECRYPT, pad, NULL, NULL);
			if (oaep) {
				ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 0);
				ck_assert_int_gt(EVP_PKEY_CTX_set0_rsa_oaep_label(
						ctx, OPENSSL_memdup(label, sizeof(label)), sizeof(label)), 0);
			}
			outlen = 0;
			ck_assert_int_gt(EVP_PKEY_decrypt(ctx, NULL, &outlen, ct, ctlen), 0);
			ck_assert_uint_ge(outlen, sizeof(plain));
			outlen = sizeof(out);
			ck_assert_int_gt(EVP_PKEY_decrypt(ctx, out, &outlen, ct, ctlen), 0);
			ck_assert_uint_eq(outlen, sizeof(plain));
			ck_assert(memcmp(out, plain, outlen) == 0);
			EVP_PKEY_CTX_free(ctx);
		}
	}
	/* OAEP with the wrong digest fails (on the token side) */
	ctx = pctx(sw_rsa, ENCRYPT, RSA_PKCS1_OAEP_PADDING, NULL, NULL);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 0);
	ctlen = sizeof(ct);
	ck_assert_int_gt(EVP_PKEY_encrypt(ctx, ct, &ctlen, plain, sizeof(plain)), 0);
	EVP_PKEY_CTX_free(ctx);
	ctx = pctx(tok_rsa, DECRYPT, RSA_PKCS1_OAEP_PADDING, NULL, NULL);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()), 0);
	outlen = sizeof(out);
	ck_assert_int_le(EVP_PKEY_decrypt(ctx, out, &outlen, ct, ctlen), 0);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
}
END_TEST

/* ECDH with a software peer; plain Z and the X9.63 KDF (as CMS asks). */
START_TEST(ecdh_derive)
{
	unsigned char za[80], zb[80];
	size_t la = 0, lb = 0;
	EVP_PKEY *pair = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256"), *peer;
	unsigned char *der = NULL;
	const unsigned char *p;
	int der_len;

	/* the peer as a recipient sees it: a public key only */
	ck_assert_ptr_nonnull(pair);
	der_len = i2d_PUBKEY(pair, &der);
	ck_assert_int_gt(der_len, 0);
	p = der;
	peer = d2i_PUBKEY_ex(NULL, &p, der_len, NULL, "provider=default");
	ck_assert_ptr_nonnull(peer);
	OPENSSL_free(der);
	EVP_PKEY_free(pair);
	for (int kdf = 0; kdf < 2; kdf++) {
		for (int i = 0; i < 2; i++) {
			EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, i ? sw_ec : tok_ec, NULL);

			ck_assert_int_gt(EVP_PKEY_derive_init(ctx), 0);
			ck_assert_int_gt(EVP_PKEY_derive_set_peer(ctx, peer), 0);
			if (kdf) {
				ck_assert_int_gt(EVP_PKEY_CTX_set_ecdh_kdf_type(ctx,
						 EVP_PKEY_ECDH_KDF_X9_63), 0);
				ck_assert_int_gt(EVP_PKEY_CTX_set_ecdh_kdf_md(ctx, EVP_sha256()), 0);
				ck_assert_int_gt(EVP_PKEY_CTX_set_ecdh_kdf_outlen(ctx, 40), 0);
				ck_assert_int_gt(EVP_PKEY_CTX_set0_ecdh_kdf_ukm(ctx,
						 OPENSSL_memdup("ukm", 3), 3), 0);
			}
			*(i ? &lb : &la) = 80;
			ck_assert_int_gt(EVP_PKEY_derive(ctx, i ? zb : za, i ? &lb : &la), 0);
			EVP_PKEY_CTX_free(ctx);
		}
		ck_assert_uint_eq(la, kdf ? 40 : 32);
		ck_assert(la == lb && memcmp(za, zb, la) == 0);
	}
	EVP_PKEY_free(peer);
}
END_TEST

/* ---- software keys, with smimekit activated first ------------------------------- */

/* A library context with smimekit activated before default, as
 * `-provider smimekit -provider default` does: OpenSSL 3.0 then makes
 * keys it generates or imports by type name with smimekit's key
 * management, which must serve them in software. */
static OSSL_PROVIDER *first_provs[2];

static OSSL_LIB_CTX *
smimekit_first(void)
{
	OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();

	ck_assert_ptr_nonnull(lc);
	ck_assert(OSSL_PROVIDER_set_default_search_path(lc, getenv("SMK_PROVIDER_DIR")));
	first_provs[0] = OSSL_PROVIDER_load(lc, "smimekit");
	first_provs[1] = OSSL_PROVIDER_load(lc, "default");
	ck_assert_ptr_nonnull(first_provs[0]);
	ck_assert_ptr_nonnull(first_provs[1]);
	return lc;
}

static void
smimekit_first_free(OSSL_LIB_CTX *lc)
{
	OSSL_PROVIDER_unload(first_provs[0]);
	OSSL_PROVIDER_unload(first_provs[1]);
	OSSL_LIB_CTX_free(lc);
}

static const char *
provider_of(const EVP_PKEY *k)
{
	return OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k));
}

/* k, written as PEM and read back by the default provider alone. */
static EVP_PKEY *
software_copy(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	EVP_PKEY *c;

	ck_assert_ptr_nonnull(b);
	ck_assert(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	c = PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, NULL, "provider=default");
	BIO_free(b);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(provider_of(c), "default");
	ck_assert_int_eq(EVP_PKEY_eq(k, c), 1);
	return c;
}

static void
check_key(OSSL_LIB_CTX *lc, EVP_PKEY *k)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(lc, k, NULL);

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_check(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_public_check(ctx), 1);
	EVP_PKEY_CTX_free(ctx);
}

START_TEST(software_rsa_first)
{
	OSSL_LIB_CTX *lc = smimekit_first();
	unsigned char d[32], a[512], b[512], plain[32], ct[512], out[512];
	EVP_PKEY *gen, *copy, *imp = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx;
	size_t la, lb, ctlen, outlen;

	/* generated: by smimekit's key management, exportable, checkable */
	gen = EVP_PKEY_Q_keygen(lc, NULL, "RSA", (size_t)2048);
	ck_assert_ptr_nonnull(gen);
	ck_assert_str_eq(provider_of(gen), "smimekit");
	ck_assert_int_eq(EVP_PKEY_get_bits(gen), 2048);
	check_key(lc, gen);
	copy = software_copy(gen);

	/* signed in software: byte-equal to the default provider's */
	digest("software", d);
	la = sign(gen, RSA_PKCS1_PADDING, EVP_sha256(), NULL, d, 32, a, sizeof(a));
	lb = sign(copy, RSA_PKCS1_PADDING, EVP_sha256(), NULL, d, 32, b, sizeof(b));
	ck_assert(la == lb && memcmp(a, b, la) == 0);
	la = sign(gen, RSA_PKCS1_PSS_PADDING, EVP_sha256(), "digest", d, 32, a, sizeof(a));
	ck_assert_int_eq(verify(copy, RSA_PKCS1_PSS_PADDING, EVP_sha256(), "digest", d, 32, a, la), 1);

	/* decrypted in software (OAEP) */
	ck_assert_int_eq(RAND_bytes(plain, sizeof(plain)), 1);
	ctx = pctx(copy, ENCRYPT, RSA_PKCS1_OAEP_PADDING, NULL, NULL);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 0);
	ctlen = sizeof(ct);
	ck_assert_int_gt(EVP_PKEY_encrypt(ctx, ct, &ctlen, plain, sizeof(plain)), 0);
	EVP_PKEY_CTX_free(ctx);
	ctx = pctx(gen, DECRYPT, RSA_PKCS1_OAEP_PADDING, NULL, NULL);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 0);
	outlen = sizeof(out);
	ck_assert_int_gt(EVP_PKEY_decrypt(ctx, out, &outlen, ct, ctlen), 0);
	ck_assert(outlen == sizeof(plain) && memcmp(out, plain, outlen) == 0);
	EVP_PKEY_CTX_free(ctx);

	/* imported (EVP_PKEY_fromdata): alice's key, the same signature as
	 * her key file gives */
	ck_assert_int_eq(EVP_PKEY_todata(sw_rsa, EVP_PKEY_KEYPAIR, &params), 1);
	ctx = EVP_PKEY_CTX_new_from_name(lc, "RSA", NULL);
	ck_assert_int_gt(EVP_PKEY_fromdata_init(ctx), 0);
	ck_assert_int_gt(EVP_PKEY_fromdata(ctx, &imp, EVP_PKEY_KEYPAIR, params), 0);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	ck_assert_str_eq(provider_of(imp), "smimekit");
	la = sign(imp, RSA_PKCS1_PADDING, EVP_sha256(), NULL, d, 32, a, sizeof(a));
	lb = sign(sw_rsa, RSA_PKCS1_PADDING, EVP_sha256(), NULL, d, 32, b, sizeof(b));
	ck_assert(la == lb && memcmp(a, b, la) == 0);
	/* a software key is never a token key: the private half comes out */
	ck_assert_int_eq(EVP_PKEY_eq(imp, sw_rsa), 1);
	EVP_PKEY_free(imp);
	EVP_PKEY_free(copy);
	EVP_PKEY_free(gen);
	smimekit_first_free(lc);
}
END_TEST

START_TEST(software_ec_first)
{
	OSSL_LIB_CTX *lc = smimekit_first();
	unsigned char sig[128], za[80], zb[80];
	EVP_PKEY *gen, *copy, *other;
	EVP_MD_CTX *m;
	size_t len, la = sizeof(za), lb = sizeof(zb);
	EVP_PKEY_CTX *ctx;

	gen = EVP_PKEY_Q_keygen(lc, NULL, "EC", "P-384");
	ck_assert_ptr_nonnull(gen);
	ck_assert_str_eq(provider_of(gen), "smimekit");
	ck_assert_int_eq(EVP_PKEY_get_bits(gen), 384);
	check_key(lc, gen);
	copy = software_copy(gen);

	/* ECDSA in software, verified by the default provider */
	m = EVP_MD_CTX_new();
	len = sizeof(sig);
	ck_assert_int_gt(EVP_DigestSignInit_ex(m, NULL, "SHA384", lc, NULL, gen, NULL), 0);
	ck_assert_int_gt(EVP_DigestSign(m, sig, &len, (const unsigned char *)"ec", 2), 0);
	EVP_MD_CTX_free(m);
	m = EVP_MD_CTX_new();
	ck_assert_int_gt(EVP_DigestVerifyInit_ex(m, NULL, "SHA384", NULL, NULL, copy, NULL), 0);
	ck_assert_int_eq(EVP_DigestVerify(m, sig, len, (const unsigned char *)"ec", 2), 1);
	EVP_MD_CTX_free(m);

	/* ECDH in software: the same Z as the default provider's */
	other = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-384");
	ck_assert_ptr_nonnull(other);
	ctx = EVP_PKEY_CTX_new_from_pkey(lc, gen, NULL);
	ck_assert_int_gt(EVP_PKEY_derive_init(ctx), 0);
	ck_assert_int_gt(EVP_PKEY_derive_set_peer(ctx, other), 0);
	ck_assert_int_gt(EVP_PKEY_derive(ctx, za, &la), 0);
	EVP_PKEY_CTX_free(ctx);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, other, "provider=default");
	ck_assert_int_gt(EVP_PKEY_derive_init(ctx), 0);
	ck_assert_int_gt(EVP_PKEY_derive_set_peer(ctx, copy), 0);
	ck_assert_int_gt(EVP_PKEY_derive(ctx, zb, &lb), 0);
	EVP_PKEY_CTX_free(ctx);
	ck_assert_uint_eq(la, 48);
	ck_assert(la == lb && memcmp(za, zb, la) == 0);
	EVP_PKEY_free(other);
	EVP_PKEY_free(copy);
	EVP_PKEY_free(gen);
	smimekit_first_free(lc);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("provider-evp");
	TCase *tc = tcase_create("evp");
	SRunner *sr;
	int failed;

	setup_once();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rsa_pkcs1_sign);
	tcase_add_test(tc, rsa_pss_sign);
	tcase_add_test(tc, ecdsa_sign);
	tcase_add_test(tc, algorithm_id);
	tcase_add_test(tc, rsa_decrypt);
	tcase_add_test(tc, ecdh_derive);
	tcase_add_test(tc, software_rsa_first);
	tcase_add_test(tc, software_ec_first);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* one process: the provider and its key store are set up once */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	EVP_PKEY_free(tok_rsa);
	EVP_PKEY_free(tok_ec);
	EVP_PKEY_free(sw_rsa);
	EVP_PKEY_free(sw_ec);
	OSSL_PROVIDER_unload(p_smk);
	OSSL_PROVIDER_unload(p_default);
	provtest_remove_token();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
