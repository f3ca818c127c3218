/* smk-p11-import.c - private keys written with C_CreateObject (as
 * `pkcs11-tool --write-object KEY --type privkey` does): the components
 * become an EVP_PKEY handed to smk_token_store_key, which encrypts it
 * under the PIN like any other key of the token.
 *
 * RSA needs the modulus, public and private exponent (the CRT values
 * when all are given); EC needs CKA_EC_PARAMS (P-256, P-384, P-521) and
 * the private value, from which the public point is computed.
 */
#include "config.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "smk-p11.h"

static bool
import_attr_ok(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_CLASS: case CKA_KEY_TYPE: case CKA_TOKEN: case CKA_PRIVATE: case CKA_LABEL:
	case CKA_ID: case CKA_SUBJECT: case CKA_SENSITIVE: case CKA_EXTRACTABLE: case CKA_DECRYPT:
	case CKA_SIGN: case CKA_SIGN_RECOVER: case CKA_UNWRAP: case CKA_DERIVE:
	case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE: case CKA_START_DATE:
	case CKA_END_DATE: case CKA_ALWAYS_AUTHENTICATE: case CKA_WRAP_WITH_TRUSTED:
	case CKA_PUBLIC_KEY_INFO: case CKA_MODULUS: case CKA_PUBLIC_EXPONENT:
	case CKA_PRIVATE_EXPONENT: case CKA_PRIME_1: case CKA_PRIME_2: case CKA_EXPONENT_1:
	case CKA_EXPONENT_2: case CKA_COEFFICIENT: case CKA_EC_PARAMS: case CKA_VALUE:
	case CKA_EC_POINT:
		return true;
	default:
		return false;
	}
}

/* A big-endian integer attribute into bld; missing -> *missing = true. */
static bool
push_bn(OSSL_PARAM_BLD *bld, const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
	const char *name, BIGNUM **keep, bool *missing)
{
	const CK_ATTRIBUTE *a = smk_p11_tmpl_get(t, n, type);

	*keep = NULL;
	if (a == NULL || a->ulValueLen == 0) {
		*missing = true;
		return true;
	}
	*keep = BN_secure_new();
	if (*keep == NULL || BN_bin2bn(a->pValue, (int)a->ulValueLen, *keep) == NULL)
		return false;
	return OSSL_PARAM_BLD_push_BN(bld, name, *keep) == 1;
}

static CK_RV
rsa_key(const CK_ATTRIBUTE *t, CK_ULONG n, EVP_PKEY **out)
{
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		const char *name;
		bool required;
	} parts[] = {
		{ CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N, true },
		{ CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E, true },
		{ CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D, true },
		{ CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1, false },
		{ CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2, false },
		{ CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1, false },
		{ CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2, false },
		{ CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, false },
	};
	BIGNUM *bn[8] = { NULL };
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t crt = 0;
	CK_RV rv = CKR_HOST_MEMORY;

	if (bld == NULL)
		return rv;
	/* The CRT values go in all together or not at all. */
	for (size_t i = 3; i < 8; i++)
		crt += smk_p11_tmpl_get(t, n, parts[i].type) != NULL;
	for (size_t i = 0; i < (crt == 5 ? 8 : 3); i++) {
		bool missing = false;

		if (!push_bn(bld, t, n, parts[i].type, parts[i].name, &bn[i], &missing))
			goto out;
		if (missing) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) <= 0)
		goto out;
	rv = CKR_OK;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (size_t i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	return rv;
}

static CK_RV
ec_key(const CK_ATTRIBUTE *t, CK_ULONG n, EVP_PKEY **out)
{
	const CK_ATTRIBUTE *par = smk_p11_tmpl_get(t, n, CKA_EC_PARAMS);
	const CK_ATTRIBUTE *val = smk_p11_tmpl_get(t, n, CKA_VALUE);
	const unsigned char *p;
	ASN1_OBJECT *obj = NULL;
	EC_GROUP *group = NULL;
	EC_POINT *pub = NULL;
	BIGNUM *priv = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char pt[133];
	size_t ptl;
	int nid = NID_undef;
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;

	if (par == NULL || val == NULL || val->ulValueLen == 0)
		return CKR_TEMPLATE_INCOMPLETE;
	p = par->pValue;
	if (par->ulValueLen > 2 && p[0] == 0x06) {
		obj = d2i_ASN1_OBJECT(NULL, &p, (long)par->ulValueLen);
		if (obj != NULL && p == (const unsigned char *)par->pValue + par->ulValueLen)
			nid = OBJ_obj2nid(obj);
		ASN1_OBJECT_free(obj);
	}
	if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 && nid != NID_secp521r1)
		return CKR_CURVE_NOT_SUPPORTED;
	group = EC_GROUP_new_by_curve_name(nid);
	priv = BN_secure_new();
	bld = OSSL_PARAM_BLD_new();
	if (group == NULL || priv == NULL || bld == NULL ||
	    BN_bin2bn(val->pValue, (int)val->ulValueLen, priv) == NULL)
		goto out;
	if (BN_is_zero(priv) || BN_cmp(priv, EC_GROUP_get0_order(group)) >= 0)
		goto out;
	pub = EC_POINT_new(group);
	if (pub == NULL || !EC_POINT_mul(group, pub, priv, NULL, NULL, NULL))
		goto out;
	ptl = EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt), NULL);
	if (ptl == 0 ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptl))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) <= 0)
		goto out;
	rv = CKR_OK;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	BN_clear_free(priv);
	EC_GROUP_free(group);
	return rv;
}

CK_RV
smk_p11_import_private(struct p11_session *s, const CK_ATTRIBUTE *t, CK_ULONG n,
		       CK_OBJECT_HANDLE *out)
{
	CK_ULONG type = 0;
	bool present, b;
	const CK_ATTRIBUTE *lab;
	struct smk_item *it = NULL;
	struct smk_error err;
	enum smk_ks_status st;
	EVP_PKEY *key = NULL;
	char *label = NULL;
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		if (!import_attr_ok(t[i].type))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	rv = smk_p11_tmpl_ulong(t, n, CKA_KEY_TYPE, &present, &type);
	if (rv != CKR_OK)
		return rv;
	if (!present)
		return CKR_TEMPLATE_INCOMPLETE;
	if (type != CKK_RSA && type != CKK_EC)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* On the token, sensitive, not extractable: what the token can be. */
	rv = smk_p11_tmpl_bool(t, n, CKA_TOKEN, &present, &b);
	if (rv == CKR_OK && (!present || !b))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_bool(t, n, CKA_EXTRACTABLE, &present, &b);
	if (rv == CKR_OK && present && b)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_bool(t, n, CKA_SENSITIVE, &present, &b);
	if (rv == CKR_OK && present && !b)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_bool(t, n, CKA_ALWAYS_AUTHENTICATE, &present, &b);
	if (rv == CKR_OK && present && b)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv != CKR_OK)
		return rv;

	pthread_mutex_lock(&smk_p11_lock);
	if (!(s->flags & CKF_RW_SESSION))
		rv = CKR_SESSION_READ_ONLY;
	else if (s->slot->login != P11_LOGIN_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_unlock(&smk_p11_lock);
	if (rv != CKR_OK)
		return rv;

	rv = type == CKK_RSA ? rsa_key(t, n, &key) : ec_key(t, n, &key);
	if (rv != CKR_OK)
		return rv;
	lab = smk_p11_tmpl_get(t, n, CKA_LABEL);
	if (lab != NULL && lab->ulValueLen > 0) {
		label = OPENSSL_strndup(lab->pValue, lab->ulValueLen);
		if (label == NULL || strlen(label) != lab->ulValueLen) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
	}
	smk_error_clear(&err);
	st = smk_token_store_key(s->slot->token, key, NULL, label, &it, &err);
	rv = smk_p11_ks_rv(st, &err, "storing a private key");
	if (rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_DATA_INVALID)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv != CKR_OK)
		goto out;
	smk_p11_slot_sync(s->slot);
	rv = CKR_FUNCTION_FAILED;
	pthread_mutex_lock(&smk_p11_lock);
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->slot == s->slot && o->owner == 0 && o->cls == CKO_PRIVATE_KEY &&
		    o->item != NULL && o->item->id_len == it->id_len &&
		    memcmp(o->item->id, it->id, it->id_len) == 0) {
			*out = o->handle;
			rv = CKR_OK;
			break;
		}
	}
	pthread_mutex_unlock(&smk_p11_lock);
out:
	if (it != NULL)
		smk_item_unref(it);
	OPENSSL_free(label);
	EVP_PKEY_free(key);
	return rv;
}
