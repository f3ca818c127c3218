/* smk-p11-digest.c - message digests (SHA-1, SHA-2) and the random
 * number generator, both OpenSSL's
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "smk-p11.h"

CK_RV
smk_C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	const struct p11_mech *e;
	struct p11_session *s;
	struct p11_op *op = NULL;
	CK_RV rv;

	rv = smk_p11_op_begin(hSession, pMechanism, P11_OP_DIGEST, CKF_DIGEST, &s, &op);
	if (rv != CKR_OK)
		return rv;
	e = op->mech;
	rv = smk_p11_params_none(pMechanism);
	if (rv != CKR_OK)
		goto out;
	op->md = EVP_MD_CTX_new();
	if (op->md == NULL || !EVP_DigestInit_ex2(op->md, EVP_get_digestbyname(e->md), NULL)) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	s->ops[P11_OP_DIGEST] = op;
	op = NULL;
out:
	smk_p11_op_free(op);
	smk_p11_session_put(s);
	return rv;
}

static size_t
digest_size(const struct p11_op *op)
{
	return (size_t)EVP_MD_get_size(EVP_MD_CTX_get0_md(op->md));
}

static CK_RV
digest_final(struct p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(op->md, out, &n))
		return CKR_FUNCTION_FAILED;
	*out_len = n;
	return CKR_OK;
}

CK_RV
smk_C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
	     CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct p11_session *s;
	struct p11_op *op;
	bool done = false;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_DIGEST];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (pulDigestLen == NULL || (pData == NULL && ulDataLen > 0)) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (op->multi) {
		rv = CKR_OPERATION_ACTIVE;
	} else {
		rv = smk_p11_out_len(pDigest, pulDigestLen, digest_size(op), &done);
		if (!done) {
			if (ulDataLen > 0 && !EVP_DigestUpdate(op->md, pData, ulDataLen))
				rv = CKR_FUNCTION_FAILED;
			else
				rv = digest_final(op, pDigest, pulDigestLen);
		}
	}
	if (!done)
		smk_p11_op_end(s, P11_OP_DIGEST);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_DIGEST];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	op->multi = true;
	if (pPart == NULL && ulPartLen > 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (ulPartLen > 0 && !EVP_DigestUpdate(op->md, pPart, ulPartLen))
		rv = CKR_FUNCTION_FAILED;
	if (rv != CKR_OK)
		smk_p11_op_end(s, P11_OP_DIGEST);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
	struct p11_session *s;
	struct p11_op *op;
	struct p11_key k;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_DIGEST];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	op->multi = true;
	rv = smk_p11_key_load(s, hKey, &k);
	if (rv == CKR_OK) {
		/* Only a secret key has a value to digest. */
		if (k.cls != CKO_SECRET_KEY)
			rv = CKR_KEY_INDIGESTIBLE;
		else if (!EVP_DigestUpdate(op->md, k.value, k.value_len))
			rv = CKR_FUNCTION_FAILED;
		smk_p11_key_clear(&k);
	}
	if (rv != CKR_OK)
		smk_p11_op_end(s, P11_OP_DIGEST);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct p11_session *s;
	struct p11_op *op;
	bool done = false;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[P11_OP_DIGEST];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (pulDigestLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		rv = smk_p11_out_len(pDigest, pulDigestLen, digest_size(op), &done);
		if (!done)
			rv = digest_final(op, pDigest, pulDigestLen);
	}
	if (!done)
		smk_p11_op_end(s, P11_OP_DIGEST);
	smk_p11_session_put(s);
	return rv;
}

/* ---- random --------------------------------------------------------------------- */

CK_RV
smk_C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	struct p11_session *s;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pSeed == NULL && ulSeedLen > 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (ulSeedLen > 0 && ulSeedLen <= INT32_MAX)
		/* Mixed in as additional input; OpenSSL's DRBG seeds itself. */
		RAND_seed(pSeed, (int)ulSeedLen);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen)
{
	struct p11_session *s;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (RandomData == NULL && ulRandomLen > 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (ulRandomLen > INT32_MAX)
		rv = CKR_ARGUMENTS_BAD;
	else if (ulRandomLen > 0 && RAND_bytes(RandomData, (int)ulRandomLen) != 1)
		rv = CKR_FUNCTION_FAILED;
	smk_p11_session_put(s);
	return rv;
}
