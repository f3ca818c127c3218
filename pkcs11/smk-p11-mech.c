/* smk-p11-mech.c - the mechanisms the module offers and their parameters
 *
 * One table says which mechanisms exist, for which key type and
 * functions (C_GetMechanismList/Info read it, every *Init checks against
 * it); the parsers turn CK_*_PARAMS into the key store's parameter
 * structures, refusing anything malformed with
 * CKR_MECHANISM_PARAM_INVALID.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "smk-p11.h"

#define EC_FLAGS (CKF_EC_F_P | CKF_EC_OID | CKF_EC_UNCOMPRESS)
#define RSA_MIN 1024
#define RSA_MAX 8192
#define EC_MIN 256
#define EC_MAX 521

static const struct p11_mech mechs[] = {
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, RSA_MAX, CKF_GENERATE_KEY_PAIR, CKK_RSA, NULL },
	{ CKM_RSA_PKCS, RSA_MIN, RSA_MAX,
	  CKF_ENCRYPT | CKF_DECRYPT | CKF_SIGN | CKF_VERIFY | CKF_WRAP | CKF_UNWRAP, CKK_RSA, NULL },
	{ CKM_RSA_X_509, RSA_MIN, RSA_MAX, CKF_ENCRYPT | CKF_DECRYPT | CKF_SIGN | CKF_VERIFY,
	  CKK_RSA, NULL },
	{ CKM_RSA_PKCS_OAEP, RSA_MIN, RSA_MAX, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP,
	  CKK_RSA, NULL },
	{ CKM_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, NULL },
	{ CKM_SHA1_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA1" },
	{ CKM_SHA224_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA224" },
	{ CKM_SHA256_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA256" },
	{ CKM_SHA384_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA384" },
	{ CKM_SHA512_RSA_PKCS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA512" },
	{ CKM_SHA1_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA1" },
	{ CKM_SHA224_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA224" },
	{ CKM_SHA256_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA256" },
	{ CKM_SHA384_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA384" },
	{ CKM_SHA512_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, CKF_SIGN | CKF_VERIFY, CKK_RSA, "SHA512" },

	{ CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_GENERATE_KEY_PAIR | EC_FLAGS, CKK_EC, NULL },
	{ CKM_ECDSA, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC, NULL },
	{ CKM_ECDSA_SHA1, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC, "SHA1" },
	{ CKM_ECDSA_SHA224, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC, "SHA224" },
	{ CKM_ECDSA_SHA256, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC, "SHA256" },
	{ CKM_ECDSA_SHA384, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC, "SHA384" },
	{ CKM_ECDSA_SHA512, EC_MIN, EC_MAX, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC, "SHA512" },
	{ CKM_ECDH1_DERIVE, EC_MIN, EC_MAX, CKF_DERIVE | EC_FLAGS, CKK_EC, NULL },

	{ CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE, CKK_AES, NULL },
	{ CKM_AES_ECB, 16, 32, CKF_ENCRYPT | CKF_DECRYPT, CKK_AES, NULL },
	{ CKM_AES_CBC, 16, 32, CKF_ENCRYPT | CKF_DECRYPT, CKK_AES, NULL },
	{ CKM_AES_CBC_PAD, 16, 32, CKF_ENCRYPT | CKF_DECRYPT, CKK_AES, NULL },
	{ CKM_AES_KEY_WRAP, 16, 32, CKF_WRAP | CKF_UNWRAP, CKK_AES, NULL },
	{ CKM_AES_KEY_WRAP_PAD, 16, 32, CKF_WRAP | CKF_UNWRAP, CKK_AES, NULL },
	{ CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_WRAP | CKF_UNWRAP, CKK_AES, NULL },
	{ CKM_GENERIC_SECRET_KEY_GEN, 1, P11_SECRET_MAX, CKF_GENERATE, CKK_GENERIC_SECRET, NULL },

	{ CKM_SHA_1, 0, 0, CKF_DIGEST, P11_NO_KEY, "SHA1" },
	{ CKM_SHA224, 0, 0, CKF_DIGEST, P11_NO_KEY, "SHA224" },
	{ CKM_SHA256, 0, 0, CKF_DIGEST, P11_NO_KEY, "SHA256" },
	{ CKM_SHA384, 0, 0, CKF_DIGEST, P11_NO_KEY, "SHA384" },
	{ CKM_SHA512, 0, 0, CKF_DIGEST, P11_NO_KEY, "SHA512" },
};

const struct p11_mech *
smk_p11_mech_table(size_t *n)
{
	*n = sizeof(mechs) / sizeof(mechs[0]);
	return mechs;
}

const struct p11_mech *
smk_p11_mech_find(CK_MECHANISM_TYPE t)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		if (mechs[i].type == t)
			return &mechs[i];
	}
	return NULL;
}

const char *
smk_p11_hash_name(CK_MECHANISM_TYPE hash)
{
	switch (hash) {
	case CKM_SHA_1:
		return "SHA1";
	case CKM_SHA224:
		return "SHA224";
	case CKM_SHA256:
		return "SHA256";
	case CKM_SHA384:
		return "SHA384";
	case CKM_SHA512:
		return "SHA512";
	default:
		return NULL;
	}
}

const char *
smk_p11_mgf_name(CK_RSA_PKCS_MGF_TYPE mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1:
		return "SHA1";
	case CKG_MGF1_SHA224:
		return "SHA224";
	case CKG_MGF1_SHA256:
		return "SHA256";
	case CKG_MGF1_SHA384:
		return "SHA384";
	case CKG_MGF1_SHA512:
		return "SHA512";
	default:
		return NULL;
	}
}

CK_RV
smk_p11_params_none(const CK_MECHANISM *m)
{
	/* A mechanism without parameters: some callers pass an empty
	 * buffer, which is accepted. */
	return m->ulParameterLen == 0 ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
}

CK_RV
smk_p11_params_pss(const CK_MECHANISM *m, const struct p11_mech *e, struct smk_sign_params *sp)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;
	const char *md, *mgf;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	md = smk_p11_hash_name(p->hashAlg);
	mgf = smk_p11_mgf_name(p->mgf);
	if (md == NULL || mgf == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	/* The hash-and-sign forms name their hash twice: both must agree. */
	if (e->md != NULL && strcmp(e->md, md) != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->sLen > 1024)
		return CKR_MECHANISM_PARAM_INVALID;
	memset(sp, 0, sizeof(*sp));
	sp->padding = SMK_PAD_PSS;
	sp->md = md;
	sp->mgf1_md = mgf;
	sp->salt_len = (int)p->sLen;
	return CKR_OK;
}

CK_RV
smk_p11_params_oaep(const CK_MECHANISM *m, struct smk_decrypt_params *dp, unsigned char **label)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;
	const char *md, *mgf;

	*label = NULL;
	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	md = smk_p11_hash_name(p->hashAlg);
	mgf = smk_p11_mgf_name(p->mgf);
	if (md == NULL || mgf == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	/* The only source is CKZ_DATA_SPECIFIED; some callers pass 0 with
	 * no label, which means the same. */
	if (p->source != CKZ_DATA_SPECIFIED && !(p->source == 0 && p->ulSourceDataLen == 0))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen > 0 && p->pSourceData == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen > 65536)
		return CKR_MECHANISM_PARAM_INVALID;
	memset(dp, 0, sizeof(*dp));
	dp->padding = SMK_PAD_OAEP;
	dp->md = md;
	dp->mgf1_md = mgf;
	if (p->ulSourceDataLen > 0) {
		*label = OPENSSL_memdup(p->pSourceData, p->ulSourceDataLen);
		if (*label == NULL)
			return CKR_HOST_MEMORY;
		dp->label = *label;
		dp->label_len = p->ulSourceDataLen;
	}
	return CKR_OK;
}

CK_RV
smk_p11_params_iv(const CK_MECHANISM *m, unsigned char iv[16])
{
	if (m->pParameter == NULL || m->ulParameterLen != 16)
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(iv, m->pParameter, 16);
	return CKR_OK;
}

CK_RV
smk_p11_params_wrap(const CK_MECHANISM *m, unsigned char iv[8], size_t *iv_len)
{
	/* An optional IV: 8 bytes for RFC 3394, 4 for RFC 5649's
	 * alternative initial value.  None: the RFC's default. */
	size_t want = m->mechanism == CKM_AES_KEY_WRAP_KWP ? 4 : 8;

	*iv_len = 0;
	if (m->ulParameterLen == 0)
		return CKR_OK;
	if (m->pParameter == NULL || m->ulParameterLen != want)
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(iv, m->pParameter, want);
	*iv_len = want;
	return CKR_OK;
}
