/* smk-p11-sign.c - signing (through the key store) and verification (in
 * the module, with the public key)
 *
 * The hash-and-sign mechanisms (CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA384,
 * ...) hash in the module, single- or multi-part, and hand the digest to
 * smk_token_sign with the hash named; the plain ones (CKM_RSA_PKCS,
 * CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_RSA_X_509) sign what they are given,
 * gathered if it comes in parts.  ECDSA signatures are r || s, each the
 * size of the group order, as PKCS#11 wants; the key store gives DER.
 */
#include "config.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "smk-p11.h"

/* Input gathered for the plain mechanisms is never larger than this. */
#define P11_RAW_MAX 16384

static size_t
sig_size(const struct p11_op *op)
{
	const EVP_PKEY *pub = op->key.item->pub;

	if (op->key.type == CKK_EC)
		return 2 * smk_p11_ec_order_len(pub);
	return (size_t)EVP_PKEY_get_size(pub);
}

static bool
is_pss(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_RSA_PKCS_PSS: case CKM_SHA1_RSA_PKCS_PSS: case CKM_SHA224_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS: case CKM_SHA384_RSA_PKCS_PSS: case CKM_SHA512_RSA_PKCS_PSS:
		return true;
	default:
		return false;
	}
}

static CK_RV
sv_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey,
	enum p11_op_type type)
{
	const struct p11_mech *e;
	struct p11_session *s;
	struct p11_op *op = NULL;
	bool sign = type == P11_OP_SIGN;
	CK_RV rv;

	rv = smk_p11_op_begin(hSession, pMechanism, type, sign ? CKF_SIGN : CKF_VERIFY, &s, &op);
	if (rv != CKR_OK)
		return rv;
	e = op->mech;
	rv = smk_p11_key_load(s, hKey, &op->key);
	if (rv != CKR_OK)
		goto out;
	if (op->key.type != e->key_type || op->key.item == NULL) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (sign ? (op->key.cls != CKO_PRIVATE_KEY || !op->key.sign)
		 : (op->key.cls != CKO_PUBLIC_KEY || !op->key.verify)) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	if (is_pss(e->type)) {
		rv = smk_p11_params_pss(pMechanism, e, &op->sp);
	} else {
		rv = smk_p11_params_none(pMechanism);
		op->sp.padding = e->type == CKM_RSA_X_509 ? SMK_PAD_NONE
				 : e->key_type == CKK_RSA ? SMK_PAD_PKCS1 : SMK_PAD_NONE;
		op->sp.md = e->md;
		op->sp.salt_len = -1;
	}
	if (rv != CKR_OK)
		goto out;
	if (e->md != NULL) {
		op->md = EVP_MD_CTX_new();
		if (op->md == NULL || !EVP_DigestInit_ex2(op->md, EVP_get_digestbyname(e->md), NULL)) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	s->ops[type] = op;
	op = NULL;
out:
	smk_p11_op_free(op);
	smk_p11_session_put(s);
	return rv;
}

/* What is signed or verified: the digest of the hash-and-sign mechanisms,
 * else the data itself, checked against what the mechanism takes. */
static CK_RV
to_be_signed(struct p11_op *op, const unsigned char *data, size_t len, unsigned char *buf,
	     const unsigned char **tbs, size_t *tbs_len)
{
	size_t k = (size_t)EVP_PKEY_get_size(op->key.item->pub);
	unsigned int mdlen = 0;

	if (op->md != NULL) {
		if ((len > 0 && !EVP_DigestUpdate(op->md, data, len)) ||
		    !EVP_DigestFinal_ex(op->md, buf, &mdlen))
			return CKR_FUNCTION_FAILED;
		*tbs = buf;
		*tbs_len = mdlen;
		return CKR_OK;
	}
	switch (op->mech->type) {
	case CKM_RSA_PKCS:
		if (len > k - 11)
			return CKR_DATA_LEN_RANGE;
		break;
	case CKM_RSA_X_509:
		/* A number below the modulus, left-padded to its length. */
		if (len > k)
			return CKR_DATA_LEN_RANGE;
		memset(buf, 0, k - len);
		if (len > 0)
			memcpy(buf + (k - len), data, len);
		*tbs = buf;
		*tbs_len = k;
		return CKR_OK;
	case CKM_RSA_PKCS_PSS: {
		const EVP_MD *md = EVP_get_digestbyname(op->sp.md);

		if (md == NULL || len != (size_t)EVP_MD_get_size(md))
			return CKR_DATA_LEN_RANGE;
		break;
	}
	case CKM_ECDSA:
		if (len == 0)
			return CKR_DATA_LEN_RANGE;
		break;
	default:
		break;
	}
	*tbs = data;
	*tbs_len = len;
	return CKR_OK;
}

/* DER ECDSA-Sig-Value -> r || s of n bytes each. */
static CK_RV
ecdsa_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *out, size_t n)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (sig == NULL)
		return rv;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, (int)n) == (int)n && BN_bn2binpad(s, out + n, (int)n) == (int)n)
		rv = CKR_OK;
	ECDSA_SIG_free(sig);
	return rv;
}

static CK_RV
sign_do(struct p11_session *s, struct p11_op *op, const unsigned char *data, size_t len,
	unsigned char *sig, CK_ULONG_PTR sig_len)
{
	unsigned char buf[EVP_MAX_MD_SIZE > 1024 ? EVP_MAX_MD_SIZE : 1024];
	unsigned char der[256];
	const unsigned char *tbs;
	size_t tbs_len, need = sig_size(op), out_len;
	struct smk_error err;
	enum smk_ks_status st;
	CK_RV rv;

	rv = to_be_signed(op, data, len, buf, &tbs, &tbs_len);
	if (rv != CKR_OK)
		return rv;
	smk_error_clear(&err);
	if (op->key.type == CKK_EC) {
		out_len = sizeof(der);
		st = smk_token_sign(s->slot->token, op->key.item, &op->sp, tbs, tbs_len, der,
				    &out_len, &err);
		rv = smk_p11_ks_rv(st, &err, "signing");
		if (rv == CKR_OK)
			rv = ecdsa_der_to_raw(der, out_len, sig, need / 2);
	} else {
		out_len = *sig_len;
		st = smk_token_sign(s->slot->token, op->key.item, &op->sp, tbs, tbs_len, sig,
				    &out_len, &err);
		rv = smk_p11_ks_rv(st, &err, "signing");
		if (rv == CKR_OK && out_len != need)
			rv = CKR_FUNCTION_FAILED;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rv == CKR_DATA_INVALID && op->md == NULL)
		rv = CKR_DATA_LEN_RANGE;
	if (rv == CKR_OK)
		*sig_len = need;
	return rv;
}

CK_RV
smk_C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return sv_init(hSession, pMechanism, hKey, P11_OP_SIGN);
}

CK_RV
smk_C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
	   CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	struct p11_op *op;
	bool done;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_SIGN];
	if (op == NULL) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto put;
	}
	if (pulSignatureLen == NULL || (pData == NULL && ulDataLen > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	if (op->multi) {
		/* C_Sign cannot finish a multi-part signature. */
		rv = CKR_OPERATION_ACTIVE;
		goto end;
	}
	rv = smk_p11_out_len(pSignature, pulSignatureLen, sig_size(op), &done);
	if (done)
		goto put;
	rv = sign_do(s, op, pData, ulDataLen, pSignature, pulSignatureLen);
end:
	smk_p11_op_end(s, P11_OP_SIGN);
put:
	smk_p11_session_put(s);
	return rv;
}

static CK_RV
sv_update(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, enum p11_op_type type)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[type];
	if (op == NULL) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto put;
	}
	if (pPart == NULL && ulPartLen > 0) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		op->multi = true;
		if (op->md != NULL)
			rv = EVP_DigestUpdate(op->md, pPart, ulPartLen) ? CKR_OK : CKR_FUNCTION_FAILED;
		else
			rv = smk_p11_op_gather(op, pPart, ulPartLen, P11_RAW_MAX);
	}
	if (rv != CKR_OK)
		smk_p11_op_end(s, type);
put:
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return sv_update(hSession, pPart, ulPartLen, P11_OP_SIGN);
}

CK_RV
smk_C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	struct p11_op *op;
	bool done;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_SIGN];
	if (op == NULL) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto put;
	}
	if (pulSignatureLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	rv = smk_p11_out_len(pSignature, pulSignatureLen, sig_size(op), &done);
	if (done)
		goto put;
	rv = sign_do(s, op, op->data, op->data_len, pSignature, pulSignatureLen);
end:
	smk_p11_op_end(s, P11_OP_SIGN);
put:
	smk_p11_session_put(s);
	return rv;
}

/* ---- verification -------------------------------------------------------------- */

static CK_RV
verify_do(struct p11_op *op, const unsigned char *data, size_t len, const unsigned char *sig,
	  size_t sig_len)
{
	unsigned char buf[EVP_MAX_MD_SIZE > 1024 ? EVP_MAX_MD_SIZE : 1024];
	unsigned char *der = NULL;
	const unsigned char *tbs;
	size_t tbs_len, need = sig_size(op);
	EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md = NULL;
	int der_len = 0, r;
	CK_RV rv;

	if (sig_len != need)
		return CKR_SIGNATURE_LEN_RANGE;
	rv = to_be_signed(op, data, len, buf, &tbs, &tbs_len);
	if (rv != CKR_OK)
		return rv;
	if (op->key.type == CKK_EC) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *br = BN_bin2bn(sig, (int)(need / 2), NULL);
		BIGNUM *bs = BN_bin2bn(sig + need / 2, (int)(need / 2), NULL);

		if (es == NULL || br == NULL || bs == NULL || !ECDSA_SIG_set0(es, br, bs)) {
			BN_free(br);
			BN_free(bs);
			ECDSA_SIG_free(es);
			return CKR_HOST_MEMORY;
		}
		der_len = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (der_len <= 0)
			return CKR_FUNCTION_FAILED;
		sig = der;
		sig_len = (size_t)der_len;
	}
	rv = CKR_FUNCTION_FAILED;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->key.item->pub, NULL);
	if (ctx == NULL || EVP_PKEY_verify_init(ctx) <= 0)
		goto out;
	if (op->sp.md != NULL) {
		md = EVP_get_digestbyname(op->sp.md);
		if (md == NULL || EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
			goto out;
	}
	if (op->key.type == CKK_RSA) {
		int pad = op->sp.padding == SMK_PAD_PSS	  ? RSA_PKCS1_PSS_PADDING
			  : op->sp.padding == SMK_PAD_NONE ? RSA_NO_PADDING
							   : RSA_PKCS1_PADDING;

		if (EVP_PKEY_CTX_set_rsa_padding(ctx, pad) <= 0)
			goto out;
		if (pad == RSA_PKCS1_PSS_PADDING &&
		    (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(op->sp.mgf1_md)) <= 0 ||
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, op->sp.salt_len) <= 0))
			goto out;
	}
	r = EVP_PKEY_verify(ctx, sig, sig_len, tbs, tbs_len);
	rv = r == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return rv;
}

CK_RV
smk_C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return sv_init(hSession, pMechanism, hKey, P11_OP_VERIFY);
}

CK_RV
smk_C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
	     CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_VERIFY];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (pSignature == NULL || (pData == NULL && ulDataLen > 0))
		rv = CKR_ARGUMENTS_BAD;
	else if (op->multi)
		rv = CKR_OPERATION_ACTIVE;
	else
		rv = verify_do(op, pData, ulDataLen, pSignature, ulSignatureLen);
	smk_p11_op_end(s, P11_OP_VERIFY);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return sv_update(hSession, pPart, ulPartLen, P11_OP_VERIFY);
}

CK_RV
smk_C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_VERIFY];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (pSignature == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = verify_do(op, op->data, op->data_len, pSignature, ulSignatureLen);
	smk_p11_op_end(s, P11_OP_VERIFY);
	smk_p11_session_put(s);
	return rv;
}

/* ---- not offered ------------------------------------------------------------------ */

static CK_RV
no_mechanism(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	struct p11_session *s;
	CK_RV rv = smk_p11_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	smk_p11_session_put(s);
	return pMechanism == NULL ? CKR_ARGUMENTS_BAD : CKR_MECHANISM_INVALID;
}

static CK_RV
not_initialized(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv = smk_p11_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	smk_p11_session_put(s);
	return CKR_OPERATION_NOT_INITIALIZED;
}

CK_RV
smk_C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		      CK_OBJECT_HANDLE hKey)
{
	(void)hKey;
	return no_mechanism(hSession, pMechanism);
}

CK_RV
smk_C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		  CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	(void)pData, (void)ulDataLen, (void)pSignature, (void)pulSignatureLen;
	return not_initialized(hSession);
}

CK_RV
smk_C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			CK_OBJECT_HANDLE hKey)
{
	(void)hKey;
	return no_mechanism(hSession, pMechanism);
}

CK_RV
smk_C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
		    CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	(void)pSignature, (void)ulSignatureLen, (void)pData, (void)pulDataLen;
	return not_initialized(hSession);
}
