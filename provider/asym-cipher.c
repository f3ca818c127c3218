/* asym-cipher.c - the provider's RSA asymmetric cipher
 *
 * Decryption is the key store's (smk_token_decrypt), with PKCS#1 v1.5 or
 * OAEP (digest, MGF1 digest, label), which is what CMS key transport
 * needs.  Encryption uses only the public half, so it runs in software
 * over item->pub in the provider's own library context.
 *
 * Parameters follow the default provider's names and types; the ones we
 * have no use for but which OpenSSL's TLS code sets (client version) are
 * accepted and ignored, since they change nothing for CMS.
 */
#include "config.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "smk-prov.h"

enum ac_op {
	OP_NONE,
	OP_ENCRYPT,
	OP_DECRYPT,
};

struct acctx {
	struct smk_prov *prov;
	struct smk_prov_key *key;	/* borrowed: OpenSSL holds the EVP_PKEY */
	enum ac_op op;
	int pad;			/* RSA_PKCS1_PADDING, RSA_PKCS1_OAEP_PADDING, RSA_NO_PADDING */
	EVP_MD *oaep_md;		/* NULL: SHA-1 (RFC 8017's default) */
	EVP_MD *mgf1_md;		/* NULL: the OAEP digest */
	unsigned char *label;
	size_t label_len;
};

static const struct {
	int pad;
	const char *name;
} pad_names[] = {
	{ RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
	{ RSA_PKCS1_OAEP_PADDING, OSSL_PKEY_RSA_PAD_MODE_OAEP },
	{ RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE },
};


static void *
newctx(void *provctx)
{
	struct acctx *c = OPENSSL_zalloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	c->prov = provctx;
	c->pad = RSA_PKCS1_PADDING;
	return c;
}

static void
freectx(void *vctx)
{
	struct acctx *c = vctx;

	if (c == NULL)
		return;
	EVP_MD_free(c->oaep_md);
	EVP_MD_free(c->mgf1_md);
	OPENSSL_free(c->label);
	OPENSSL_free(c);
}

static void *
dupctx(void *vctx)
{
	struct acctx *src = vctx, *c;

	c = OPENSSL_memdup(src, sizeof(*src));
	if (c == NULL)
		return NULL;
	c->oaep_md = NULL;
	c->mgf1_md = NULL;
	c->label = NULL;
	if (!smk_prov_md_ref(&c->oaep_md, src->oaep_md) ||
	    !smk_prov_md_ref(&c->mgf1_md, src->mgf1_md)) {
		freectx(c);
		return NULL;
	}
	if (src->label != NULL) {
		c->label = OPENSSL_memdup(src->label, src->label_len);
		if (c->label == NULL) {
			freectx(c);
			return NULL;
		}
	}
	return c;
}

static int set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
init(struct acctx *c, void *provkey, enum ac_op op, const OSSL_PARAM params[])
{
	struct smk_prov_key *key = provkey;

	if (smk_prov_key_pub(key) == NULL) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "no key given");
		return 0;
	}
	if (key->type != SMK_KEY_RSA) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "only RSA keys encrypt and decrypt");
		return 0;
	}
	if (op == OP_DECRYPT && !smk_prov_key_private(key)) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "the key has no private half");
		return 0;
	}
	c->key = key;
	c->op = op;
	return set_ctx_params(c, params);
}

static int
encrypt_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return init(vctx, provkey, OP_ENCRYPT, params);
}

static int
decrypt_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return init(vctx, provkey, OP_DECRYPT, params);
}

static int
decrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
	size_t inlen)
{
	struct acctx *c = vctx;
	struct smk_decrypt_params p = { 0 };
	struct smk_error err;
	enum smk_ks_status st;
	size_t len;

	if (c->key == NULL || c->op != OP_DECRYPT) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "cipher context not initialised");
		return 0;
	}
	if (out == NULL) {
		/* at most the modulus size */
		*outlen = (size_t)EVP_PKEY_get_size(smk_prov_key_pub(c->key));
		return 1;
	}
	switch (c->pad) {
	case RSA_PKCS1_PADDING:
		p.padding = SMK_PAD_PKCS1;
		break;
	case RSA_PKCS1_OAEP_PADDING:
		p.padding = SMK_PAD_OAEP;
		p.md = smk_prov_md_ks_name(c->oaep_md);
		p.mgf1_md = smk_prov_md_ks_name(c->mgf1_md != NULL ? c->mgf1_md : c->oaep_md);
		p.label = c->label;
		p.label_len = c->label_len;
		break;
	case RSA_NO_PADDING:
		p.padding = SMK_PAD_NONE;
		break;
	default:
		smk_prov_error(c->prov, SMK_PROV_R_PARAM, "RSA padding %d not offered for decryption",
			       c->pad);
		return 0;
	}
	len = outsize;
	if (c->key->item != NULL)
		st = smk_token_decrypt(c->key->token, c->key->item, &p, in, inlen, out, &len, &err);
	else	/* a software key (see smk-prov.h) */
		st = smk_pkey_decrypt(c->key->sw, c->prov->libctx, &p, in, inlen, out, &len, &err);
	if (st != SMK_KS_OK) {
		smk_prov_ks_error(c->prov, st, &err);
		return 0;
	}
	*outlen = len;
	return 1;
}

/* Encryption needs no secret: software over the public half. */
static int
encrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
	size_t inlen)
{
	struct acctx *c = vctx;
	EVP_PKEY_CTX *pctx;
	unsigned char *label = NULL;
	size_t len = outsize;
	int ok = 0;

	if (c->key == NULL || c->op != OP_ENCRYPT) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "cipher context not initialised");
		return 0;
	}
	if (out == NULL) {
		*outlen = (size_t)EVP_PKEY_get_size(smk_prov_key_pub(c->key));
		return 1;
	}
	pctx = EVP_PKEY_CTX_new_from_pkey(c->prov->libctx, smk_prov_key_pub(c->key), NULL);
	if (pctx == NULL || EVP_PKEY_encrypt_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, c->pad) <= 0)
		goto out;
	if (c->pad == RSA_PKCS1_OAEP_PADDING) {
		if ((c->oaep_md != NULL && EVP_PKEY_CTX_set_rsa_oaep_md(pctx, c->oaep_md) <= 0) ||
		    ((c->mgf1_md != NULL || c->oaep_md != NULL) &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, c->mgf1_md != NULL ? c->mgf1_md :
						  c->oaep_md) <= 0))
			goto out;
		if (c->label != NULL) {
			/* set0 takes ownership */
			label = OPENSSL_memdup(c->label, c->label_len);
			if (label == NULL ||
			    EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, label, (int)c->label_len) <= 0) {
				OPENSSL_free(label);
				goto out;
			}
		}
	}
	if (EVP_PKEY_encrypt(pctx, out, &len, in, inlen) > 0) {
		*outlen = len;
		ok = 1;
	}
out:
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

/* ---- parameters ------------------------------------------------------------- */

static int
set_md(struct acctx *c, EVP_MD **slot, const OSSL_PARAM *p)
{
	const char *name;

	if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
		return 0;
	return smk_prov_md_fetch(c->prov, slot, name);
}

static int
set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct acctx *c = vctx;
	const OSSL_PARAM *p;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
	if (p != NULL) {
		int pad = -1;

		if (p->data_type == OSSL_PARAM_UTF8_STRING) {
			const char *s = "";

			if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
				s = "";
			for (size_t i = 0; i < sizeof(pad_names) / sizeof(pad_names[0]); i++)
				if (strcmp(s, pad_names[i].name) == 0)
					pad = pad_names[i].pad;
		} else if (!OSSL_PARAM_get_int(p, &pad)) {
			pad = -1;
		}
		if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_OAEP_PADDING && pad != RSA_NO_PADDING) {
			smk_prov_error(c->prov, SMK_PROV_R_PARAM, "RSA padding mode not offered");
			return 0;
		}
		c->pad = pad;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
	if (p != NULL && !set_md(c, &c->oaep_md, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
	if (p != NULL && !set_md(c, &c->mgf1_md, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
	if (p != NULL) {
		void *label = NULL;
		size_t len = 0;

		if (!OSSL_PARAM_get_octet_string(p, &label, 0, &len))
			return 0;
		OPENSSL_free(c->label);
		c->label = label;
		c->label_len = len;
	}
	/* OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION / _ALT: only the TLS RSA
	 * key exchange's rollback check uses them; accepted, not acted on. */
	return 1;
}

static int
get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct acctx *c = vctx;
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
	if (p != NULL) {
		if (p->data_type == OSSL_PARAM_INTEGER) {
			if (!OSSL_PARAM_set_int(p, c->pad))
				return 0;
		} else {
			const char *name = NULL;

			for (size_t i = 0; i < sizeof(pad_names) / sizeof(pad_names[0]); i++)
				if (pad_names[i].pad == c->pad)
					name = pad_names[i].name;
			if (name == NULL || !OSSL_PARAM_set_utf8_string(p, name))
				return 0;
		}
	}
	p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
	if (p != NULL && !OSSL_PARAM_set_utf8_string(p, c->oaep_md != NULL ?
						     EVP_MD_get0_name(c->oaep_md) : "SHA1"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
	if (p != NULL) {
		const EVP_MD *m = c->mgf1_md != NULL ? c->mgf1_md : c->oaep_md;

		if (!OSSL_PARAM_set_utf8_string(p, m != NULL ? EVP_MD_get0_name(m) : "SHA1"))
			return 0;
	}
	p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
	if (p != NULL && !OSSL_PARAM_set_octet_ptr(p, c->label, c->label_len))
		return 0;
	return 1;
}

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
	OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
	OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
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

const OSSL_DISPATCH smk_prov_rsa_asym_cipher_functions[] = {
	{ OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))newctx },
	{ OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))freectx },
	{ OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))dupctx },
	{ OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, (void (*)(void))encrypt_init },
	{ OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (void (*)(void))encrypt },
	{ OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))decrypt_init },
	{ OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))decrypt },
	{ OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, (void (*)(void))get_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, (void (*)(void))gettable_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, (void (*)(void))set_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, (void (*)(void))settable_ctx_params },
	{ 0, NULL }
};
