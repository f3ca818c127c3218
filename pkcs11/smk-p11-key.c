/* smk-p11-key.c - making keys: key pairs on the token (through
 * smk_token_generate), session secret keys (C_GenerateKey), wrapping and
 * unwrapping, and ECDH derivation
 *
 * The S/MIME paths of NSS end here: C_UnwrapKey(CKM_RSA_PKCS) with the
 * user's private key gives the content-encryption key as a session key,
 * and for EC keys C_DeriveKey(CKM_ECDH1_DERIVE, CKD_SHA*_KDF) gives the
 * key-encryption key, with which C_UnwrapKey(CKM_AES_KEY_WRAP) opens the
 * content-encryption key.  The private-key steps (RSA decryption, the
 * ECDH shared secret) are the key store's; the KDF and the AES key wrap
 * run here, on session keys only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "smk-p11.h"

/* ---- AES key wrap ---------------------------------------------------------------- */

static const char *
wrap_cipher_name(CK_MECHANISM_TYPE mech, size_t kek_len)
{
	bool kwp = mech == CKM_AES_KEY_WRAP_KWP;

	switch (kek_len) {
	case 16:
		return kwp ? "AES-128-WRAP-PAD" : "AES-128-WRAP";
	case 24:
		return kwp ? "AES-192-WRAP-PAD" : "AES-192-WRAP";
	case 32:
		return kwp ? "AES-256-WRAP-PAD" : "AES-256-WRAP";
	default:
		return NULL;
	}
}

/* Length of the wrapped form of n bytes. */
static size_t
wrapped_len(CK_MECHANISM_TYPE mech, size_t n)
{
	switch (mech) {
	case CKM_AES_KEY_WRAP:
		return n + 8;
	case CKM_AES_KEY_WRAP_PAD:	/* PKCS#7 padding to 8, then RFC 3394 */
		return (n / 8 + 1) * 8 + 8;
	default:			/* RFC 5649 */
		return (n + 7) / 8 * 8 + 8;
	}
}

CK_RV
smk_p11_aes_wrap(CK_MECHANISM_TYPE mech, const unsigned char *kek, size_t kek_len,
		 const unsigned char *iv, size_t iv_len, bool wrap, const unsigned char *in,
		 size_t in_len, unsigned char *out, size_t *out_len)
{
	const char *name = wrap_cipher_name(mech, kek_len);
	unsigned char *buf = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	EVP_CIPHER *c = NULL;
	size_t blen = 0;
	int n1 = 0, n2 = 0;
	CK_RV rv = wrap ? CKR_FUNCTION_FAILED : CKR_WRAPPED_KEY_INVALID;

	if (name == NULL)
		return wrap ? CKR_WRAPPING_KEY_SIZE_RANGE : CKR_UNWRAPPING_KEY_SIZE_RANGE;
	if (wrap && mech == CKM_AES_KEY_WRAP && (in_len < 16 || in_len % 8 != 0))
		return CKR_KEY_SIZE_RANGE;
	if (!wrap && (in_len < 16 || in_len % 8 != 0))
		return CKR_WRAPPED_KEY_LEN_RANGE;
	if (wrap && mech == CKM_AES_KEY_WRAP_PAD) {
		/* PKCS#7 padding to a multiple of 8 before RFC 3394. */
		unsigned char p = (unsigned char)(8 - in_len % 8);

		blen = in_len + p;
		buf = malloc(blen);
		if (buf == NULL)
			return CKR_HOST_MEMORY;
		memcpy(buf, in, in_len);
		memset(buf + in_len, p, p);
		in = buf;
		in_len = blen;
	}
	c = EVP_CIPHER_fetch(NULL, name, NULL);
	ctx = EVP_CIPHER_CTX_new();
	if (c == NULL || ctx == NULL)
		goto out;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (!EVP_CipherInit_ex2(ctx, c, kek, iv_len > 0 ? iv : NULL, wrap ? 1 : 0, NULL))
		goto out;
	if (!EVP_CipherUpdate(ctx, out, &n1, in, (int)in_len) || n1 < 0 ||
	    !EVP_CipherFinal_ex(ctx, out + n1, &n2))
		goto out;
	*out_len = (size_t)n1 + (size_t)n2;
	if (!wrap && mech == CKM_AES_KEY_WRAP_PAD) {
		unsigned char p = *out_len > 0 ? out[*out_len - 1] : 0;

		if (p == 0 || p > 8 || p > *out_len)
			goto out;
		for (size_t i = *out_len - p; i < *out_len; i++) {
			if (out[i] != p)
				goto out;
		}
		*out_len -= p;
	}
	rv = CKR_OK;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, blen);
		free(buf);
	}
	return rv;
}

/* ---- key pairs on the token ------------------------------------------------------ */

static bool
pub_attr_ok(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_CLASS: case CKA_KEY_TYPE: case CKA_TOKEN: case CKA_PRIVATE: case CKA_LABEL:
	case CKA_ID: case CKA_MODULUS_BITS: case CKA_PUBLIC_EXPONENT: case CKA_EC_PARAMS:
	case CKA_ENCRYPT: case CKA_VERIFY: case CKA_VERIFY_RECOVER: case CKA_WRAP:
	case CKA_DERIVE: case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE:
	case CKA_START_DATE: case CKA_END_DATE: case CKA_SUBJECT: case CKA_TRUSTED:
		return true;
	default:
		return false;
	}
}

static bool
priv_attr_ok(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_CLASS: case CKA_KEY_TYPE: case CKA_TOKEN: case CKA_PRIVATE: case CKA_LABEL:
	case CKA_ID: case CKA_SENSITIVE: case CKA_EXTRACTABLE: case CKA_DECRYPT: case CKA_SIGN:
	case CKA_SIGN_RECOVER: case CKA_UNWRAP: case CKA_DERIVE: case CKA_MODIFIABLE:
	case CKA_COPYABLE: case CKA_DESTROYABLE: case CKA_START_DATE: case CKA_END_DATE:
	case CKA_SUBJECT: case CKA_ALWAYS_AUTHENTICATE: case CKA_WRAP_WITH_TRUSTED:
		return true;
	default:
		return false;
	}
}

/* Checks a key-pair template; what the token cannot do is refused. */
static CK_RV
pair_template(const CK_ATTRIBUTE *t, CK_ULONG n, bool pub, CK_KEY_TYPE type)
{
	CK_ULONG v;
	bool present, b;
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		if (!(pub ? pub_attr_ok(t[i].type) : priv_attr_ok(t[i].type)))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	rv = smk_p11_tmpl_ulong(t, n, CKA_CLASS, &present, &v);
	if (rv != CKR_OK)
		return rv;
	if (present && v != (pub ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY))
		return CKR_TEMPLATE_INCONSISTENT;
	rv = smk_p11_tmpl_ulong(t, n, CKA_KEY_TYPE, &present, &v);
	if (rv != CKR_OK)
		return rv;
	if (present && v != type)
		return CKR_TEMPLATE_INCONSISTENT;
	/* Key pairs live on the token, the private key sensitive and
	 * never extractable. */
	rv = smk_p11_tmpl_bool(t, n, CKA_TOKEN, &present, &b);
	if (rv != CKR_OK)
		return rv;
	if (present && !b)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!pub) {
		rv = smk_p11_tmpl_bool(t, n, CKA_SENSITIVE, &present, &b);
		if (rv == CKR_OK && present && !b)
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
		if (rv == CKR_OK)
			rv = smk_p11_tmpl_bool(t, n, CKA_EXTRACTABLE, &present, &b);
		if (rv == CKR_OK && present && b)
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
		if (rv == CKR_OK)
			rv = smk_p11_tmpl_bool(t, n, CKA_ALWAYS_AUTHENTICATE, &present, &b);
		if (rv == CKR_OK && present && b)
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
	}
	return rv;
}

/* CKA_EC_PARAMS: the DER OID of the curve, or (3.0) its name as a
 * PrintableString. */
static const char *
curve_of(const CK_ATTRIBUTE *a)
{
	const unsigned char *p = a->pValue;
	ASN1_OBJECT *obj;
	int nid = NID_undef;

	if (a->ulValueLen < 2 || p == NULL)
		return NULL;
	if (p[0] == 0x06) {
		obj = d2i_ASN1_OBJECT(NULL, &p, (long)a->ulValueLen);
		if (obj != NULL && p == (const unsigned char *)a->pValue + a->ulValueLen)
			nid = OBJ_obj2nid(obj);
		ASN1_OBJECT_free(obj);
	} else if (p[0] == 0x13 && p[1] == a->ulValueLen - 2 && p[1] < 32) {
		char name[32];

		memcpy(name, p + 2, p[1]);
		name[p[1]] = '\0';
		nid = OBJ_txt2nid(name);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(name);
	}
	if (nid == NID_X9_62_prime256v1)
		return "P-256";
	if (nid == NID_secp384r1)
		return "P-384";
	return NULL;
}

/* The handle of the token object of class cls for an item (lock held). */
static CK_OBJECT_HANDLE
item_handle(struct p11_slot *slot, CK_OBJECT_CLASS cls, const struct smk_item *it)
{
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->slot == slot && o->owner == 0 && o->cls == cls && o->item != NULL &&
		    o->item->id_len == it->id_len && memcmp(o->item->id, it->id, it->id_len) == 0)
			return o->handle;
	}
	return CK_INVALID_HANDLE;
}

CK_RV
smk_C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		      CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
		      CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
		      CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	const CK_ATTRIBUTE *pt = pPublicKeyTemplate, *vt = pPrivateKeyTemplate, *a;
	CK_ULONG pn = ulPublicKeyAttributeCount, vn = ulPrivateKeyAttributeCount;
	struct smk_keygen kg = { 0 };
	struct smk_item *it = NULL;
	struct p11_session *s;
	struct smk_error err;
	enum smk_ks_status st;
	CK_KEY_TYPE type;
	char *label = NULL;
	bool present;
	CK_ULONG bits = 0;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phPublicKey == NULL || phPrivateKey == NULL ||
	    (pt == NULL && pn > 0) || (vt == NULL && vn > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (pMechanism->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN) {
		type = CKK_RSA;
	} else if (pMechanism->mechanism == CKM_EC_KEY_PAIR_GEN) {
		type = CKK_EC;
	} else {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	rv = smk_p11_params_none(pMechanism);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_check(pt, pn);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_check(vt, vn);
	if (rv == CKR_OK)
		rv = pair_template(pt, pn, true, type);
	if (rv == CKR_OK)
		rv = pair_template(vt, vn, false, type);
	if (rv != CKR_OK)
		goto out;

	kg.type = type == CKK_RSA ? SMK_KEY_RSA : SMK_KEY_EC;
	if (type == CKK_RSA) {
		rv = smk_p11_tmpl_ulong(pt, pn, CKA_MODULUS_BITS, &present, &bits);
		if (rv != CKR_OK)
			goto out;
		if (!present) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		if (bits < 2048 || bits > 8192) {
			rv = CKR_KEY_SIZE_RANGE;
			goto out;
		}
		kg.bits = (unsigned)bits;
		a = smk_p11_tmpl_get(pt, pn, CKA_PUBLIC_EXPONENT);
		if (a != NULL) {
			/* Only F4, with any leading zeros. */
			const unsigned char *e = a->pValue;
			CK_ULONG i = 0;

			while (i < a->ulValueLen && e[i] == 0)
				i++;
			if (a->ulValueLen - i != 3 || e[i] != 1 || e[i + 1] != 0 || e[i + 2] != 1) {
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
				goto out;
			}
		}
	} else {
		a = smk_p11_tmpl_get(pt, pn, CKA_EC_PARAMS);
		if (a == NULL) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		kg.curve = curve_of(a);
		if (kg.curve == NULL) {
			rv = CKR_CURVE_NOT_SUPPORTED;
			goto out;
		}
	}
	a = smk_p11_tmpl_get(vt, vn, CKA_LABEL);
	if (a == NULL)
		a = smk_p11_tmpl_get(pt, pn, CKA_LABEL);
	if (a != NULL && a->ulValueLen > 0) {
		label = OPENSSL_strndup(a->pValue, a->ulValueLen);
		if (label == NULL || strlen(label) != a->ulValueLen) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
	}
	kg.label = label;
	/* CKA_ID is the key store's (derived from the public key, as NSS
	 * computes it); an id in the templates is not used. */

	pthread_mutex_lock(&smk_p11_lock);
	if (!(s->flags & CKF_RW_SESSION))
		rv = CKR_SESSION_READ_ONLY;
	else if (s->slot->login != P11_LOGIN_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_unlock(&smk_p11_lock);
	if (rv != CKR_OK)
		goto out;

	smk_error_clear(&err);
	st = smk_token_generate(s->slot->token, &kg, &it, &err);
	rv = smk_p11_ks_rv(st, &err, "generating a key pair");
	if (rv == CKR_FUNCTION_NOT_SUPPORTED)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv != CKR_OK)
		goto out;
	smk_p11_slot_sync(s->slot);
	pthread_mutex_lock(&smk_p11_lock);
	*phPublicKey = item_handle(s->slot, CKO_PUBLIC_KEY, it);
	*phPrivateKey = item_handle(s->slot, CKO_PRIVATE_KEY, it);
	pthread_mutex_unlock(&smk_p11_lock);
	if (*phPublicKey == CK_INVALID_HANDLE || *phPrivateKey == CK_INVALID_HANDLE)
		rv = CKR_FUNCTION_FAILED;
out:
	if (it != NULL)
		smk_item_unref(it);
	OPENSSL_free(label);
	smk_p11_session_put(s);
	return rv;
}

/* ---- session secret keys --------------------------------------------------------- */

CK_RV
smk_C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	unsigned char value[P11_SECRET_MAX];
	struct p11_secret_spec spec = { 0 };
	struct p11_session *s;
	CK_KEY_TYPE type;
	CK_ULONG len = 0, t;
	bool present;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL || (pTemplate == NULL && ulCount > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (pMechanism->mechanism == CKM_AES_KEY_GEN) {
		type = CKK_AES;
	} else if (pMechanism->mechanism == CKM_GENERIC_SECRET_KEY_GEN) {
		type = CKK_GENERIC_SECRET;
	} else {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	rv = smk_p11_params_none(pMechanism);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_check(pTemplate, ulCount);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_ulong(pTemplate, ulCount, CKA_KEY_TYPE, &present, &t);
	if (rv == CKR_OK && present && t != type)
		rv = CKR_TEMPLATE_INCONSISTENT;
	if (rv == CKR_OK)
		rv = smk_p11_secret_len(pTemplate, ulCount, type, &len);
	if (rv == CKR_OK && len == 0)
		rv = CKR_TEMPLATE_INCOMPLETE;
	if (rv != CKR_OK)
		goto out;
	if (RAND_bytes(value, (int)len) != 1) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	spec.tmpl = pTemplate;
	spec.count = ulCount;
	spec.default_type = type;
	spec.keygen_mech = pMechanism->mechanism;
	spec.local = true;
	rv = smk_p11_secret_new(s, &spec, value, len, phKey);
	OPENSSL_cleanse(value, sizeof(value));
out:
	smk_p11_session_put(s);
	return rv;
}

/* ---- wrapping -------------------------------------------------------------------- */

static CK_RV
wrapping_key(struct p11_session *s, const struct p11_mech *e, CK_OBJECT_HANDLE h, bool wrap,
	     struct p11_key *k)
{
	CK_RV rv = smk_p11_key_load(s, h, k);

	if (rv == CKR_KEY_HANDLE_INVALID)
		return wrap ? CKR_WRAPPING_KEY_HANDLE_INVALID : CKR_UNWRAPPING_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	if (k->type != e->key_type)
		return wrap ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	if (e->key_type == CKK_RSA &&
	    k->cls != (wrap ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY))
		return wrap ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	if (!(wrap ? k->wrap : k->unwrap))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	return CKR_OK;
}

CK_RV
smk_C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
	      CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
	      CK_ULONG_PTR pulWrappedKeyLen)
{
	const struct p11_mech *e;
	struct p11_session *s;
	struct p11_op *op = NULL;
	struct p11_key key;
	unsigned char iv[8];
	size_t iv_len = 0, need, n;
	bool done;
	CK_RV rv;

	memset(&key, 0, sizeof(key));
	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || pulWrappedKeyLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	e = smk_p11_mech_find(pMechanism->mechanism);
	if (e == NULL || !(e->flags & CKF_WRAP)) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	op = smk_p11_op_new(P11_OP_ENCRYPT, e);
	if (op == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (e->key_type == CKK_RSA) {
		if (e->type == CKM_RSA_PKCS_OAEP)
			rv = smk_p11_params_oaep(pMechanism, &op->dp, &op->label);
		else
			rv = smk_p11_params_none(pMechanism);
	} else {
		rv = smk_p11_params_wrap(pMechanism, iv, &iv_len);
	}
	if (rv == CKR_OK)
		rv = wrapping_key(s, e, hWrappingKey, true, &op->key);
	if (rv != CKR_OK)
		goto out;
	rv = smk_p11_key_load(s, hKey, &key);
	if (rv != CKR_OK)
		goto out;
	/* Only session secret keys leave the module, and only extractable
	 * ones; private keys never do. */
	if (key.cls != CKO_SECRET_KEY) {
		rv = CKR_KEY_NOT_WRAPPABLE;
		goto out;
	}
	if (!key.extractable) {
		rv = CKR_KEY_UNEXTRACTABLE;
		goto out;
	}
	need = e->key_type == CKK_RSA ? (size_t)EVP_PKEY_get_size(op->key.item->pub)
				      : wrapped_len(e->type, key.value_len);
	rv = smk_p11_out_len(pWrappedKey, pulWrappedKeyLen, need, &done);
	if (done)
		goto out;
	n = *pulWrappedKeyLen;
	if (e->key_type == CKK_RSA)
		rv = smk_p11_rsa_pub_encrypt(op, key.value, key.value_len, pWrappedKey, &n);
	else
		rv = smk_p11_aes_wrap(e->type, op->key.value, op->key.value_len, iv, iv_len, true,
				      key.value, key.value_len, pWrappedKey, &n);
	if (rv == CKR_DATA_LEN_RANGE)
		rv = CKR_KEY_SIZE_RANGE;
	if (rv == CKR_OK)
		*pulWrappedKeyLen = n;
out:
	smk_p11_key_clear(&key);
	smk_p11_op_free(op);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen,
		CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct p11_secret_spec spec = { 0 };
	const struct p11_mech *e;
	struct p11_session *s;
	struct p11_op *op = NULL;
	unsigned char *value = NULL, iv[8];
	size_t iv_len = 0, cap = 0, n = 0;
	CK_ULONG type = CKK_GENERIC_SECRET;
	bool present;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL || pWrappedKey == NULL ||
	    (pTemplate == NULL && ulAttributeCount > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	e = smk_p11_mech_find(pMechanism->mechanism);
	if (e == NULL || !(e->flags & CKF_UNWRAP)) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	rv = smk_p11_tmpl_check(pTemplate, ulAttributeCount);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_ulong(pTemplate, ulAttributeCount, CKA_KEY_TYPE, &present, &type);
	if (rv != CKR_OK)
		goto out;
	op = smk_p11_op_new(P11_OP_DECRYPT, e);
	if (op == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (e->key_type == CKK_RSA) {
		if (e->type == CKM_RSA_PKCS_OAEP)
			rv = smk_p11_params_oaep(pMechanism, &op->dp, &op->label);
		else
			rv = smk_p11_params_none(pMechanism);
	} else {
		rv = smk_p11_params_wrap(pMechanism, iv, &iv_len);
	}
	if (rv == CKR_OK)
		rv = wrapping_key(s, e, hUnwrappingKey, false, &op->key);
	if (rv != CKR_OK)
		goto out;

	cap = e->key_type == CKK_RSA ? (size_t)EVP_PKEY_get_size(op->key.item->pub)
				     : ulWrappedKeyLen;
	value = malloc(cap > 0 ? cap : 1);
	if (value == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	n = cap;
	if (e->key_type == CKK_RSA) {
		rv = smk_p11_rsa_decrypt(s, op, pWrappedKey, ulWrappedKeyLen, value, &n);
		if (rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
			rv = CKR_WRAPPED_KEY_LEN_RANGE;
		else if (rv == CKR_ENCRYPTED_DATA_INVALID)
			rv = CKR_WRAPPED_KEY_INVALID;
	} else {
		rv = smk_p11_aes_wrap(e->type, op->key.value, op->key.value_len, iv, iv_len, false,
				      pWrappedKey, ulWrappedKeyLen, value, &n);
	}
	if (rv != CKR_OK)
		goto out;
	if (type == CKK_AES && n != 16 && n != 24 && n != 32) {
		rv = CKR_WRAPPED_KEY_INVALID;
		goto out;
	}
	spec.tmpl = pTemplate;
	spec.count = ulAttributeCount;
	spec.default_type = CKK_GENERIC_SECRET;
	spec.keygen_mech = CK_UNAVAILABLE_INFORMATION;
	rv = smk_p11_secret_new(s, &spec, value, n, phKey);
out:
	if (value != NULL) {
		OPENSSL_cleanse(value, cap);
		free(value);
	}
	smk_p11_op_free(op);
	smk_p11_session_put(s);
	return rv;
}

/* ---- ECDH ------------------------------------------------------------------------ */

static const char *
kdf_md(CK_ULONG kdf)
{
	switch (kdf) {
	case CKD_SHA1_KDF:
		return "SHA1";
	case CKD_SHA224_KDF:
		return "SHA224";
	case CKD_SHA256_KDF:
		return "SHA256";
	case CKD_SHA384_KDF:
		return "SHA384";
	case CKD_SHA512_KDF:
		return "SHA512";
	default:
		return NULL;
	}
}

/* The peer's point, raw or (as some callers send it) a DER OCTET STRING. */
static bool
peer_point(const EVP_PKEY *pub, const unsigned char *in, size_t len, const unsigned char **pt,
	   size_t *pt_len)
{
	size_t fb = smk_p11_ec_order_len(pub);
	const unsigned char *p = in;
	long plen;
	int tag, cls;

	if (len == 2 * fb + 1 && in[0] == 0x04) {
		*pt = in;
		*pt_len = len;
		return true;
	}
	if (len == fb + 1 && (in[0] == 0x02 || in[0] == 0x03)) {
		*pt = in;
		*pt_len = len;
		return true;
	}
	if (ASN1_get_object(&p, &plen, &tag, &cls, (long)len) & 0x80)
		return false;
	if (tag != V_ASN1_OCTET_STRING || cls != V_ASN1_UNIVERSAL || plen <= 0 ||
	    p + plen != in + len)
		return false;
	*pt = p;
	*pt_len = (size_t)plen;
	return true;
}

static CK_RV
x963_kdf(const char *md, const unsigned char *z, size_t z_len, const unsigned char *info,
	 size_t info_len, unsigned char *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4], *p = params;
	CK_RV rv = CKR_FUNCTION_FAILED;

	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len);
	if (info_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_KDF_derive(ctx, out, out_len, params) > 0)
		rv = CKR_OK;
	ERR_clear_error();
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rv;
}

CK_RV
smk_C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
		CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct p11_secret_spec spec = { 0 };
	const CK_ECDH1_DERIVE_PARAMS *p;
	unsigned char z[256], key[P11_SECRET_MAX];
	const unsigned char *pt;
	struct p11_session *s;
	struct p11_key base;
	struct smk_error err;
	enum smk_ks_status st;
	size_t pt_len, z_len = sizeof(z);
	const char *md = NULL;
	CK_ULONG len = 0, type = CKK_GENERIC_SECRET;
	bool present;
	CK_RV rv;

	memset(&base, 0, sizeof(base));
	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL || (pTemplate == NULL && ulAttributeCount > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (pMechanism->mechanism != CKM_ECDH1_DERIVE) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	p = pMechanism->pParameter;
	if (p == NULL || pMechanism->ulParameterLen != sizeof(*p) || p->pPublicData == NULL ||
	    p->ulPublicDataLen == 0 || (p->ulSharedDataLen > 0 && p->pSharedData == NULL)) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	if (p->kdf == CKD_NULL) {
		if (p->ulSharedDataLen > 0) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			goto out;
		}
	} else {
		md = kdf_md(p->kdf);
		if (md == NULL) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			goto out;
		}
	}
	rv = smk_p11_tmpl_check(pTemplate, ulAttributeCount);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_ulong(pTemplate, ulAttributeCount, CKA_KEY_TYPE, &present, &type);
	if (rv == CKR_OK)
		rv = smk_p11_secret_len(pTemplate, ulAttributeCount, CKK_GENERIC_SECRET, &len);
	if (rv != CKR_OK)
		goto out;

	rv = smk_p11_key_load(s, hBaseKey, &base);
	if (rv != CKR_OK)
		goto out;
	if (base.type != CKK_EC || base.cls != CKO_PRIVATE_KEY || base.item == NULL) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (!base.derive) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	if (!peer_point(base.item->pub, p->pPublicData, p->ulPublicDataLen, &pt, &pt_len)) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	smk_error_clear(&err);
	st = smk_token_derive(s->slot->token, base.item, pt, pt_len, z, &z_len, &err);
	rv = smk_p11_ks_rv(st, &err, "ECDH");
	if (rv == CKR_DATA_INVALID)
		rv = CKR_MECHANISM_PARAM_INVALID;	/* a point not on the curve */
	if (rv != CKR_OK)
		goto out;

	if (md == NULL) {
		/* CKD_NULL: the shared secret itself, or its first bytes. */
		if (len == 0)
			len = z_len;
		if (len > z_len || (type == CKK_AES && len != 16 && len != 24 && len != 32)) {
			rv = CKR_TEMPLATE_INCONSISTENT;
			goto out;
		}
		memcpy(key, z, len);
	} else {
		if (len == 0) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		rv = x963_kdf(md, z, z_len, p->pSharedData, p->ulSharedDataLen, key, len);
		if (rv != CKR_OK)
			goto out;
	}
	spec.tmpl = pTemplate;
	spec.count = ulAttributeCount;
	spec.default_type = CKK_GENERIC_SECRET;
	spec.keygen_mech = CKM_ECDH1_DERIVE;
	spec.derived = true;
	rv = smk_p11_secret_new(s, &spec, key, len, phKey);
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(key, sizeof(key));
	smk_p11_key_clear(&base);
	smk_p11_session_put(s);
	return rv;
}
