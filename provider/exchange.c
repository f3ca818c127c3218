/* exchange.c - the provider's ECDH key exchange
 *
 * The shared secret Z comes from the key store (smk_token_derive): our
 * private key never leaves it.  The peer's public point is taken from the
 * peer key as an encoded octet string.  OpenSSL's CMS code (key agreement
 * recipients, RFC 5753) asks the exchange itself for the X9.63 KDF over Z
 * (kdf-type "X963KDF", digest, output length, UKM as shared info): that
 * runs in software with EVP_KDF "X963KDF" from the provider's library
 * context, and Z is wiped as soon as it has been used.
 *
 * Note on the peer: OpenSSL 3.0 hands set_peer a key of the exchange's
 * own provider (EVP_PKEY_derive_set_peer exports the peer into our EC key
 * management; the CMS code builds the originator's key with
 * EVP_PKEY_copy_parameters from ours, then sets its encoded point), so the
 * peer is a smk_prov_key: a software public key (key->sw) or a token
 * item's (key->item->pub).
 */
#include "config.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "smk-prov.h"

/* an uncompressed point of P-521 is 133 bytes; room to spare */
#define POINT_MAX 160
/* Z is at most the field size: 66 bytes for P-521 */
#define Z_MAX 72

enum kdf_type {
	KDF_NONE,
	KDF_X963,
};

struct exctx {
	struct smk_prov *prov;
	struct smk_prov_key *key;	/* borrowed: OpenSSL holds the EVP_PKEY */
	unsigned char peer[POINT_MAX];	/* the peer's encoded public point */
	size_t peer_len;		/* 0: no peer yet */
	enum kdf_type kdf;
	EVP_MD *kdf_md;
	size_t kdf_outlen;
	unsigned char *ukm;
	size_t ukm_len;
	int cofactor_mode;		/* -1: the key's default */
};

static void *
newctx(void *provctx)
{
	struct exctx *c = OPENSSL_zalloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	c->prov = provctx;
	c->cofactor_mode = -1;
	return c;
}

static void
freectx(void *vctx)
{
	struct exctx *c = vctx;

	if (c == NULL)
		return;
	EVP_MD_free(c->kdf_md);
	OPENSSL_free(c->ukm);
	OPENSSL_free(c);
}

static void *
dupctx(void *vctx)
{
	struct exctx *src = vctx, *c;

	c = OPENSSL_memdup(src, sizeof(*src));
	if (c == NULL)
		return NULL;
	c->kdf_md = NULL;
	c->ukm = NULL;
	if (!smk_prov_md_ref(&c->kdf_md, src->kdf_md)) {
		freectx(c);
		return NULL;
	}
	if (src->ukm != NULL) {
		c->ukm = OPENSSL_memdup(src->ukm, src->ukm_len);
		if (c->ukm == NULL) {
			freectx(c);
			return NULL;
		}
	}
	return c;
}

static int set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct exctx *c = vctx;
	struct smk_prov_key *key = provkey;

	if (smk_prov_key_pub(key) == NULL) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "no key given");
		return 0;
	}
	if (key->type != SMK_KEY_EC) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "ECDH needs an EC key");
		return 0;
	}
	if (!smk_prov_key_private(key)) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "the key has no private half");
		return 0;
	}
	c->key = key;
	return set_ctx_params(c, params);
}

static int
set_peer(void *vctx, void *provkey)
{
	struct exctx *c = vctx;
	struct smk_prov_key *peer = provkey;
	EVP_PKEY *pub;
	size_t len = 0;

	if (c->key == NULL) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "key exchange not initialised");
		return 0;
	}
	pub = smk_prov_key_pub(peer);
	if (pub == NULL || peer->type != SMK_KEY_EC) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "the peer key is not an EC public key");
		return 0;
	}
	if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					     c->peer, sizeof(c->peer), &len) || len == 0) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "the peer key has no public point");
		return 0;
	}
	c->peer_len = len;
	return 1;
}

/* Z from the key store into z (at most zsize bytes); *zlen its length. */
static int
compute_z(struct exctx *c, unsigned char *z, size_t zsize, size_t *zlen)
{
	struct smk_error err;
	enum smk_ks_status st;
	size_t len = zsize;

	if (c->key->item != NULL)
		st = smk_token_derive(c->key->token, c->key->item, c->peer, c->peer_len, z, &len, &err);
	else	/* a software key (see smk-prov.h): the TLS code's ECDHE keys */
		st = smk_pkey_derive(c->key->sw, c->prov->libctx, c->peer, c->peer_len, z, &len, &err);
	if (st != SMK_KS_OK) {
		smk_prov_ks_error(c->prov, st, &err);
		return 0;
	}
	*zlen = len;
	return 1;
}

static int
x963(struct exctx *c, const unsigned char *z, size_t zlen, unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4], *p = params;
	int ok = 0;

	kdf = EVP_KDF_fetch(c->prov->libctx, OSSL_KDF_NAME_X963KDF, NULL);
	if (kdf == NULL || (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(c->kdf_md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
	if (c->ukm != NULL)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, c->ukm, c->ukm_len);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, outlen, params) > 0;
out:
	if (!ok)
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "X9.63 KDF failed");
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

static int
derive(void *vctx, unsigned char *secret, size_t *secretlen, size_t outlen)
{
	struct exctx *c = vctx;
	unsigned char z[Z_MAX];
	size_t zlen = 0;
	int ok = 0;

	if (c->key == NULL || c->peer_len == 0) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION,
			       c->key == NULL ? "key exchange not initialised" : "no peer key set");
		return 0;
	}
	if (c->kdf == KDF_X963) {
		if (c->kdf_md == NULL || c->kdf_outlen == 0) {
			smk_prov_error(c->prov, SMK_PROV_R_PARAM,
				       "X9.63 KDF needs a digest and an output length");
			return 0;
		}
		if (secret == NULL) {
			*secretlen = c->kdf_outlen;
			return 1;
		}
		if (outlen < c->kdf_outlen) {
			smk_prov_error(c->prov, SMK_PROV_R_PARAM, "output buffer too small");
			return 0;
		}
		if (compute_z(c, z, sizeof(z), &zlen) && x963(c, z, zlen, secret, c->kdf_outlen)) {
			*secretlen = c->kdf_outlen;
			ok = 1;
		}
	} else {
		/* plain ECDH: Z itself, the field size */
		size_t fsize = (size_t)(EVP_PKEY_get_bits(smk_prov_key_pub(c->key)) + 7) / 8;

		if (secret == NULL) {
			*secretlen = fsize;
			return 1;
		}
		if (compute_z(c, z, sizeof(z), &zlen)) {
			/* a shorter buffer gets the leading bytes, as in the
			 * default provider */
			if (outlen < zlen)
				zlen = outlen;
			memcpy(secret, z, zlen);
			*secretlen = zlen;
			ok = 1;
		}
	}
	OPENSSL_cleanse(z, sizeof(z));
	return ok;
}

/* ---- parameters ------------------------------------------------------------- */

static int
set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct exctx *c = vctx;
	const OSSL_PARAM *p;
	const char *s;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
	if (p != NULL) {
		int mode;

		/* P-256 and P-384 have cofactor 1: both modes give the same Z */
		if (!OSSL_PARAM_get_int(p, &mode) || mode < -1 || mode > 1) {
			smk_prov_error(c->prov, SMK_PROV_R_PARAM, "bad ECDH cofactor mode");
			return 0;
		}
		c->cofactor_mode = mode;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
	if (p != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		if (s[0] == '\0')
			c->kdf = KDF_NONE;
		else if (strcmp(s, OSSL_KDF_NAME_X963KDF) == 0)
			c->kdf = KDF_X963;
		else {
			smk_prov_error(c->prov, SMK_PROV_R_PARAM, "KDF %s not offered", s);
			return 0;
		}
	}
	p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
	if (p != NULL &&
	    (!OSSL_PARAM_get_utf8_string_ptr(p, &s) || !smk_prov_md_fetch(c->prov, &c->kdf_md, s)))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
	if (p != NULL && !OSSL_PARAM_get_size_t(p, &c->kdf_outlen))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
	if (p != NULL) {
		void *ukm = NULL;
		size_t len = 0;

		if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &len))
			return 0;
		OPENSSL_free(c->ukm);
		c->ukm = ukm;
		c->ukm_len = len;
	}
	/* OSSL_EXCHANGE_PARAM_PAD is DH's (pad Z to the prime's size); ECDH's
	 * Z always has the field's size, so it is accepted and ignored. */
	return 1;
}

static int
get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct exctx *c = vctx;
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
	if (p != NULL && !OSSL_PARAM_set_int(p, c->cofactor_mode < 0 ? 0 : c->cofactor_mode))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
	if (p != NULL &&
	    !OSSL_PARAM_set_utf8_string(p, c->kdf == KDF_X963 ? OSSL_KDF_NAME_X963KDF : ""))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
	if (p != NULL &&
	    !OSSL_PARAM_set_utf8_string(p, c->kdf_md != NULL ? EVP_MD_get0_name(c->kdf_md) : ""))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
	if (p != NULL && !OSSL_PARAM_set_size_t(p, c->kdf_outlen))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
	if (p != NULL && !OSSL_PARAM_set_octet_ptr(p, c->ukm, c->ukm_len))
		return 0;
	return 1;
}

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
	OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
	OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
	OSSL_PARAM_uint(OSSL_EXCHANGE_PARAM_PAD, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
	OSSL_PARAM_octet_ptr(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return settable;
}

static const OSSL_PARAM *
gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return gettable;
}

const OSSL_DISPATCH smk_prov_ecdh_keyexch_functions[] = {
	{ OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))newctx },
	{ OSSL_FUNC_KEYEXCH_FREECTX, (void (*)(void))freectx },
	{ OSSL_FUNC_KEYEXCH_DUPCTX, (void (*)(void))dupctx },
	{ OSSL_FUNC_KEYEXCH_INIT, (void (*)(void))init },
	{ OSSL_FUNC_KEYEXCH_SET_PEER, (void (*)(void))set_peer },
	{ OSSL_FUNC_KEYEXCH_DERIVE, (void (*)(void))derive },
	{ OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, (void (*)(void))set_ctx_params },
	{ OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, (void (*)(void))settable_ctx_params },
	{ OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, (void (*)(void))get_ctx_params },
	{ OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS, (void (*)(void))gettable_ctx_params },
	{ 0, NULL }
};
