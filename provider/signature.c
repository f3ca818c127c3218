/* signature.c - the provider's signature operations: RSA and ECDSA
 *
 * Signing is the key store's (smk_token_sign): the private key never
 * leaves it.  What OpenSSL hands us is either a digest (EVP_PKEY_sign,
 * "raw" signing) or a message (EVP_DigestSign*): we hash the message in
 * software with a digest fetched from the provider's own library context,
 * then pass the digest and its name on.  Verification needs no secret, so
 * it runs in software over the item's public half (item->pub); that way
 * `openssl pkeyutl -verify` and EVP_DigestVerify work with a token key too.
 *
 * Parameters follow the default provider's (names, types and the special
 * PSS salt lengths), so callers such as the CMS and X.509 code that read
 * them back (padding mode, salt length, ALGORITHM_ID) see what they expect.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/asn1t.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "smk-prov.h"

enum sig_op {
	OP_NONE,
	OP_SIGN,
	OP_VERIFY,
};

struct sigctx {
	struct smk_prov *prov;
	enum smk_key_type want;		/* the table's algorithm */
	struct smk_prov_key *key;	/* borrowed: OpenSSL holds the EVP_PKEY */
	enum sig_op op;
	int pad;			/* RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING, RSA_NO_PADDING */
	EVP_MD *md;			/* NULL: none set (raw input) */
	EVP_MD *mgf1;			/* NULL: same as md */
	int saltlen;			/* bytes, or RSA_PSS_SALTLEN_DIGEST/AUTO/MAX */
	EVP_MD_CTX *mdctx;		/* digest sign/verify */
};

/* ---- helpers ------------------------------------------------------------- */

static int
set_md(struct sigctx *c, EVP_MD **slot, const char *name)
{
	EVP_MD *md = NULL;

	if (!smk_prov_md_fetch(c->prov, &md, name))
		return 0;
	/* XOF and digests without a DigestInfo make no sense here */
	if (EVP_MD_get_size(md) <= 0 || (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) != 0) {
		smk_prov_error(c->prov, SMK_PROV_R_PARAM, "digest %s cannot be used for signatures",
			       name);
		EVP_MD_free(md);
		return 0;
	}
	EVP_MD_free(*slot);
	*slot = md;
	return 1;
}

/* The maximum PSS salt for this key and digest (RFC 8017 9.1.1:
 * emLen = ceil((modBits - 1) / 8), salt <= emLen - hLen - 2). */
static int
pss_max_salt(const struct sigctx *c)
{
	int bits = EVP_PKEY_get_bits(smk_prov_key_pub(c->key));
	int hlen = EVP_MD_get_size(c->md);
	int emlen = (bits - 1 + 7) / 8;

	return emlen - hlen - 2;
}

/* The salt length to give the key store (and the verifier): bytes. */
static int
effective_salt(const struct sigctx *c, enum sig_op op)
{
	switch (c->saltlen) {
	case RSA_PSS_SALTLEN_DIGEST:
		return EVP_MD_get_size(c->md);
	case RSA_PSS_SALTLEN_MAX:
		return pss_max_salt(c);
	case RSA_PSS_SALTLEN_AUTO:
		/* signing: the largest; verifying: whatever the signature has */
		return op == OP_SIGN ? pss_max_salt(c) : RSA_PSS_SALTLEN_AUTO;
	default:
		return c->saltlen;
	}
}

static const struct {
	int pad;
	const char *name;
} pad_names[] = {
	{ RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
	{ RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS },
	{ RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE },
};

/* ---- context ------------------------------------------------------------- */

static void *
newctx(void *provctx, enum smk_key_type want)
{
	struct sigctx *c = OPENSSL_zalloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	c->prov = provctx;
	c->want = want;
	c->pad = RSA_PKCS1_PADDING;
	c->saltlen = RSA_PSS_SALTLEN_AUTO;
	return c;
}

static void *
rsa_newctx(void *provctx, const char *propq)
{
	(void)propq;
	return newctx(provctx, SMK_KEY_RSA);
}

static void *
ecdsa_newctx(void *provctx, const char *propq)
{
	(void)propq;
	return newctx(provctx, SMK_KEY_EC);
}

static void
freectx(void *vctx)
{
	struct sigctx *c = vctx;

	if (c == NULL)
		return;
	EVP_MD_free(c->md);
	EVP_MD_free(c->mgf1);
	EVP_MD_CTX_free(c->mdctx);
	OPENSSL_free(c);
}

static void *
dupctx(void *vctx)
{
	struct sigctx *src = vctx, *c;

	c = OPENSSL_memdup(src, sizeof(*src));
	if (c == NULL)
		return NULL;
	c->md = NULL;
	c->mgf1 = NULL;
	c->mdctx = NULL;
	if (!smk_prov_md_ref(&c->md, src->md) || !smk_prov_md_ref(&c->mgf1, src->mgf1)) {
		freectx(c);
		return NULL;
	}
	if (src->mdctx != NULL) {
		c->mdctx = EVP_MD_CTX_new();
		if (c->mdctx == NULL || !EVP_MD_CTX_copy_ex(c->mdctx, src->mdctx)) {
			freectx(c);
			return NULL;
		}
	}
	return c;
}

static int set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
init(struct sigctx *c, void *provkey, enum sig_op op, const OSSL_PARAM params[])
{
	struct smk_prov_key *key = provkey;

	if (key == NULL)
		key = c->key;	/* re-initialisation with the same key */
	if (smk_prov_key_pub(key) == NULL) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "no key given");
		return 0;
	}
	if (key->type != c->want) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "a %s key cannot make %s signatures",
			       key->type == SMK_KEY_RSA ? "RSA" : "EC",
			       c->want == SMK_KEY_RSA ? "RSA" : "ECDSA");
		return 0;
	}
	if (op == OP_SIGN && !smk_prov_key_private(key)) {
		smk_prov_error(c->prov, SMK_PROV_R_KEY, "the key has no private half");
		return 0;
	}
	c->key = key;
	c->op = op;
	return set_ctx_params(c, params);
}

static int
sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return init(vctx, provkey, OP_SIGN, params);
}

static int
verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return init(vctx, provkey, OP_VERIFY, params);
}

/* ---- signing ---------------------------------------------------------------- */

static int
check_pss(struct sigctx *c)
{
	if (c->pad != RSA_PKCS1_PSS_PADDING)
		return 1;
	if (c->md == NULL) {
		smk_prov_error(c->prov, SMK_PROV_R_PARAM, "RSA-PSS needs a digest");
		return 0;
	}
	return 1;
}

/* Signs tbs, a digest of c->md (or raw input when no digest is set). */
static int
do_sign(struct sigctx *c, unsigned char *sig, size_t *siglen, size_t sigsize,
	const unsigned char *tbs, size_t tbslen)
{
	struct smk_sign_params p = { 0 };
	struct smk_error err;
	enum smk_ks_status st;
	size_t len;

	if (c->key == NULL || c->op != OP_SIGN) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "signature context not initialised");
		return 0;
	}
	if (sig == NULL) {
		/* the largest signature: the key's size */
		*siglen = (size_t)EVP_PKEY_get_size(smk_prov_key_pub(c->key));
		return 1;
	}
	p.md = smk_prov_md_ks_name(c->md);
	if (c->want == SMK_KEY_RSA) {
		if (!check_pss(c))
			return 0;
		switch (c->pad) {
		case RSA_PKCS1_PADDING:
			p.padding = SMK_PAD_PKCS1;
			break;
		case RSA_PKCS1_PSS_PADDING:
			p.padding = SMK_PAD_PSS;
			p.mgf1_md = smk_prov_md_ks_name(c->mgf1 != NULL ? c->mgf1 : c->md);
			p.salt_len = effective_salt(c, OP_SIGN);
			if (p.salt_len < 0) {
				smk_prov_error(c->prov, SMK_PROV_R_PARAM,
					       "PSS salt length does not fit the key");
				return 0;
			}
			break;
		case RSA_NO_PADDING:
			p.padding = SMK_PAD_NONE;
			break;
		default:
			smk_prov_error(c->prov, SMK_PROV_R_PARAM, "RSA padding %d not offered for signing",
				       c->pad);
			return 0;
		}
	} else {
		p.padding = SMK_PAD_NONE;
	}
	len = sigsize;
	/* a software key (see smk-prov.h) is signed with in software */
	if (c->key->item != NULL)
		st = smk_token_sign(c->key->token, c->key->item, &p, tbs, tbslen, sig, &len, &err);
	else
		st = smk_pkey_sign(c->key->sw, c->prov->libctx, &p, tbs, tbslen, sig, &len, &err);
	if (st != SMK_KS_OK) {
		smk_prov_ks_error(c->prov, st, &err);
		return 0;
	}
	*siglen = len;
	return 1;
}

static int
sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
     size_t tbslen)
{
	return do_sign(vctx, sig, siglen, sigsize, tbs, tbslen);
}

/* ---- verification in software over the public half ---------------------- */

static int
do_verify(struct sigctx *c, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
	  size_t tbslen)
{
	EVP_PKEY_CTX *pctx;
	int ok = 0, r;

	if (c->key == NULL || c->op != OP_VERIFY) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "signature context not initialised");
		return 0;
	}
	pctx = EVP_PKEY_CTX_new_from_pkey(c->prov->libctx, smk_prov_key_pub(c->key), NULL);
	if (pctx == NULL || EVP_PKEY_verify_init(pctx) <= 0)
		goto out;
	if (c->md != NULL && EVP_PKEY_CTX_set_signature_md(pctx, c->md) <= 0)
		goto out;
	if (c->want == SMK_KEY_RSA) {
		if (!check_pss(c))
			goto out;
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, c->pad) <= 0)
			goto out;
		if (c->pad == RSA_PKCS1_PSS_PADDING &&
		    (EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, c->mgf1 != NULL ? c->mgf1 : c->md) <= 0 ||
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, effective_salt(c, OP_VERIFY)) <= 0))
			goto out;
	}
	/* a bad signature is a plain 0, not an error */
	r = EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen);
	ok = r > 0;
out:
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

static int
verify(void *vctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
       size_t tbslen)
{
	return do_verify(vctx, sig, siglen, tbs, tbslen);
}

/* ---- digest sign / verify -------------------------------------------------- */

static int
digest_init(struct sigctx *c, const char *mdname, void *provkey, enum sig_op op,
	    const OSSL_PARAM params[])
{
	if (!init(c, provkey, op, NULL))
		return 0;
	if (mdname != NULL && mdname[0] != '\0' && !set_md(c, &c->md, mdname))
		return 0;
	if (c->md == NULL && !set_md(c, &c->md, "SHA256"))
		return 0;
	if (!set_ctx_params(c, params))
		return 0;
	if (c->mdctx == NULL && (c->mdctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (!EVP_DigestInit_ex2(c->mdctx, c->md, NULL)) {
		smk_prov_error(c->prov, SMK_PROV_R_OPERATION, "digest %s cannot start",
			       EVP_MD_get0_name(c->md));
		return 0;
	}
	return 1;
}

static int
digest_sign_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return digest_init(vctx, mdname, provkey, OP_SIGN, params);
}

static int
digest_verify_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return digest_init(vctx, mdname, provkey, OP_VERIFY, params);
}

static int
digest_update(void *vctx, const unsigned char *data, size_t datalen)
{
	struct sigctx *c = vctx;

	if (c->mdctx == NULL)
		return 0;
	return EVP_DigestUpdate(c->mdctx, data, datalen);
}

static int
digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct sigctx *c = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int ok;

	if (c->mdctx == NULL)
		return 0;
	if (sig == NULL)	/* size query: the digest goes on */
		return do_sign(c, NULL, siglen, 0, NULL, 0);
	if (!EVP_DigestFinal_ex(c->mdctx, dgst, &dlen))
		return 0;
	ok = do_sign(c, sig, siglen, sigsize, dgst, dlen);
	OPENSSL_cleanse(dgst, sizeof(dgst));
	return ok;
}

static int
digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen)
{
	struct sigctx *c = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (c->mdctx == NULL || !EVP_DigestFinal_ex(c->mdctx, dgst, &dlen))
		return 0;
	return do_verify(c, sig, siglen, dgst, dlen);
}

/* ---- parameters -------------------------------------------------------------- */

/* The AlgorithmIdentifier of a digest inside PSS parameters: with NULL
 * parameters, as OpenSSL's own RSA-PSS code writes it (the fetched
 * digests carry "algid absent", which X509_ALGOR_set_md would follow). */
static int
set_md_algor(X509_ALGOR *a, const EVP_MD *md)
{
	return X509_ALGOR_set0(a, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL);
}

/* An AlgorithmIdentifier for md, packed as the parameter of another. */
static ASN1_STRING *
pack_md_algor(const EVP_MD *md)
{
	X509_ALGOR *a = X509_ALGOR_new();
	ASN1_STRING *s = NULL;

	if (a == NULL)
		return NULL;
	if (set_md_algor(a, md))
		s = ASN1_item_pack(a, ASN1_ITEM_rptr(X509_ALGOR), NULL);
	X509_ALGOR_free(a);
	return s;
}

/* RSASSA-PSS with its parameters (RFC 4055 3.1): fields equal to the
 * defaults (SHA-1, MGF1 with SHA-1, salt 20) are left out, as DER wants. */
static int
pss_algorithm_id(const struct sigctx *c, unsigned char **der)
{
	const EVP_MD *mgf1 = c->mgf1 != NULL ? c->mgf1 : c->md;
	RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
	ASN1_STRING *packed = NULL, *mgf1_param = NULL;
	X509_ALGOR *alg = NULL;
	int salt = effective_salt(c, OP_SIGN), len = 0;

	if (pss == NULL || salt < 0)
		goto out;
	if (EVP_MD_get_type(c->md) != NID_sha1) {
		if ((pss->hashAlgorithm = X509_ALGOR_new()) == NULL ||
		    !set_md_algor(pss->hashAlgorithm, c->md))
			goto out;
	}
	if (EVP_MD_get_type(mgf1) != NID_sha1) {
		if ((mgf1_param = pack_md_algor(mgf1)) == NULL ||
		    (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
		    !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE,
				     mgf1_param))
			goto out;
		mgf1_param = NULL;	/* owned by the algorithm now */
	}
	if (salt != 20) {
		if ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(pss->saltLength, salt))
			goto out;
	}
	if ((packed = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL)) == NULL ||
	    (alg = X509_ALGOR_new()) == NULL ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, packed))
		goto out;
	packed = NULL;
	len = i2d_X509_ALGOR(alg, der);
out:
	ASN1_STRING_free(mgf1_param);
	ASN1_STRING_free(packed);
	RSA_PSS_PARAMS_free(pss);
	X509_ALGOR_free(alg);
	return len > 0 ? len : 0;
}

/* The DER AlgorithmIdentifier of the signature (X.509 and CMS code of
 * OpenSSL 3.0 asks for it when the key has no legacy method): PKCS#1 v1.5,
 * PSS and ECDSA with a digest. */
static int
algorithm_id(const struct sigctx *c, unsigned char **der)
{
	X509_ALGOR *alg = NULL;
	int sig_nid, len = 0;

	*der = NULL;
	if (c->md == NULL)
		return 0;
	if (c->want == SMK_KEY_RSA && c->pad == RSA_PKCS1_PSS_PADDING)
		return pss_algorithm_id(c, der);
	if (c->want == SMK_KEY_RSA && c->pad != RSA_PKCS1_PADDING)
		return 0;
	if (!OBJ_find_sigid_by_algs(&sig_nid, EVP_MD_get_type(c->md),
				    c->want == SMK_KEY_RSA ? NID_rsaEncryption :
				    NID_X9_62_id_ecPublicKey))
		return 0;
	alg = X509_ALGOR_new();
	if (alg == NULL)
		return 0;
	/* RSA: NULL parameters (RFC 8017); ECDSA: absent (RFC 5758) */
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid),
			    c->want == SMK_KEY_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL))
		len = i2d_X509_ALGOR(alg, der);
	X509_ALGOR_free(alg);
	return len > 0 ? len : 0;
}

static int
get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL && !OSSL_PARAM_set_utf8_string(p, c->md != NULL ? EVP_MD_get0_name(c->md) : ""))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
	if (p != NULL) {
		unsigned char *der = NULL;
		int len = algorithm_id(c, &der);
		int ok = len > 0 ? OSSL_PARAM_set_octet_string(p, der, (size_t)len) : 1;

		if (len == 0)
			p->return_size = 0;	/* "not supported" to the caller */
		OPENSSL_free(der);
		if (!ok)
			return 0;
	}
	if (c->want != SMK_KEY_RSA)
		return 1;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
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
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
	if (p != NULL) {
		const EVP_MD *m = c->mgf1 != NULL ? c->mgf1 : c->md;

		if (!OSSL_PARAM_set_utf8_string(p, m != NULL ? EVP_MD_get0_name(m) : ""))
			return 0;
	}
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (p != NULL) {
		if (p->data_type == OSSL_PARAM_INTEGER) {
			if (!OSSL_PARAM_set_int(p, c->saltlen))
				return 0;
		} else {
			char buf[32];

			if (c->saltlen == RSA_PSS_SALTLEN_DIGEST)
				strcpy(buf, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST);
			else if (c->saltlen == RSA_PSS_SALTLEN_MAX)
				strcpy(buf, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX);
			else if (c->saltlen == RSA_PSS_SALTLEN_AUTO)
				strcpy(buf, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO);
			else
				snprintf(buf, sizeof(buf), "%d", c->saltlen);
			if (!OSSL_PARAM_set_utf8_string(p, buf))
				return 0;
		}
	}
	return 1;
}

static int
set_pad(struct sigctx *c, const OSSL_PARAM *p)
{
	int pad = -1;

	const char *s;

	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			s = "";
		for (size_t i = 0; i < sizeof(pad_names) / sizeof(pad_names[0]); i++)
			if (strcmp(s, pad_names[i].name) == 0)
				pad = pad_names[i].pad;
	} else if (!OSSL_PARAM_get_int(p, &pad)) {
		pad = -1;
	}
	if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING && pad != RSA_NO_PADDING) {
		smk_prov_error(c->prov, SMK_PROV_R_PARAM, "RSA padding mode not offered for signatures");
		return 0;
	}
	c->pad = pad;
	return 1;
}

static int
set_saltlen(struct sigctx *c, const OSSL_PARAM *p)
{
	int len;

	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		const char *s = "";
		char *end;
		long v;

		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			s = "";
		if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) {
			len = RSA_PSS_SALTLEN_DIGEST;
		} else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) {
			len = RSA_PSS_SALTLEN_MAX;
		} else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) {
			len = RSA_PSS_SALTLEN_AUTO;
		} else {
			v = strtol(s, &end, 10);
			if (end == s || *end != '\0' || v < 0 || v > INT_MAX) {
				smk_prov_error(c->prov, SMK_PROV_R_PARAM, "bad PSS salt length");
				return 0;
			}
			len = (int)v;
		}
	} else if (!OSSL_PARAM_get_int(p, &len)) {
		smk_prov_error(c->prov, SMK_PROV_R_PARAM, "bad PSS salt length");
		return 0;
	}
	if (len < RSA_PSS_SALTLEN_MAX) {
		smk_prov_error(c->prov, SMK_PROV_R_PARAM, "bad PSS salt length %d", len);
		return 0;
	}
	c->saltlen = len;
	return 1;
}

static int
set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	const OSSL_PARAM *p;
	const char *name;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || !set_md(c, &c->md, name))
			return 0;
	}
	if (c->want != SMK_KEY_RSA)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p != NULL && !set_pad(c, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
	if (p != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || !set_md(c, &c->mgf1, name))
			return 0;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (p != NULL && !set_saltlen(c, p))
		return 0;
	return 1;
}

static const OSSL_PARAM rsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM rsa_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return rsa_settable;
}

static const OSSL_PARAM *
ec_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return ec_settable;
}

static const OSSL_PARAM *
rsa_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return rsa_gettable;
}

static const OSSL_PARAM *
ec_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return ec_gettable;
}

/* ---- dispatch tables ---------------------------------------------------------- */

#define COMMON_FUNCTIONS \
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))freectx }, \
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))dupctx }, \
	{ OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sign_init }, \
	{ OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sign }, \
	{ OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))verify_init }, \
	{ OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))verify }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))digest_sign_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))digest_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))digest_sign_final }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))digest_verify_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))digest_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))digest_verify_final }, \
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))get_ctx_params }, \
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))set_ctx_params }

const OSSL_DISPATCH smk_prov_rsa_signature_functions[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))rsa_newctx },
	COMMON_FUNCTIONS,
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))rsa_settable_ctx_params },
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))rsa_gettable_ctx_params },
	{ 0, NULL }
};

const OSSL_DISPATCH smk_prov_ecdsa_signature_functions[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ecdsa_newctx },
	COMMON_FUNCTIONS,
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ec_settable_ctx_params },
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ec_gettable_ctx_params },
	{ 0, NULL }
};
