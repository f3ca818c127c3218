/* smk-p11-object.c - objects: the key store's items as token objects, the
 * CKO_PROFILE object, session secret keys; finding, reading and changing
 * attributes, creating and destroying
 *
 * Token objects mirror the key store's items: each item gives a public
 * key (when a private key is stored for it, or it has no certificate), a
 * certificate (if it has one) and, while the user is logged in, a private
 * key, all with the item's CKA_ID and CKA_LABEL.  They are rebuilt from
 * the items (smk_p11_slot_sync) after login, logout, key generation and
 * at every C_FindObjectsInit, and keep their handles while their item
 * stays.  Token objects are read-only here: keys are never destroyed.
 *
 * Session objects are secret keys (AES, generic) made by C_UnwrapKey,
 * C_DeriveKey, C_GenerateKey, C_CreateObject and C_CopyObject.  As the
 * standard says, every session of the application on that slot sees
 * them; they go when the session that made them closes (private ones
 * also at logout).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "smk-p11.h"

/* ---- building token objects ------------------------------------------------------ */

static CK_RV
set_der(struct p11_object *o, CK_ATTRIBUTE_TYPE t, unsigned char *der, int len)
{
	CK_RV rv;

	if (len < 0 || (len > 0 && der == NULL))
		return CKR_GENERAL_ERROR;
	rv = smk_p11_attr_set(o, t, der, (CK_ULONG)len);
	OPENSSL_free(der);
	return rv;
}

static CK_RV
set_bn(struct p11_object *o, CK_ATTRIBUTE_TYPE t, const EVP_PKEY *pub, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char *buf;
	int n;
	CK_RV rv;

	if (!EVP_PKEY_get_bn_param(pub, param, &bn))
		return CKR_GENERAL_ERROR;
	n = BN_num_bytes(bn);
	buf = OPENSSL_malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL) {
		BN_free(bn);
		return CKR_HOST_MEMORY;
	}
	BN_bn2bin(bn, buf);
	rv = smk_p11_attr_set(o, t, buf, (CK_ULONG)n);
	OPENSSL_free(buf);
	BN_free(bn);
	return rv;
}

static CK_RV
set_date(struct p11_object *o, CK_ATTRIBUTE_TYPE t, const ASN1_TIME *when)
{
	CK_DATE d;
	struct tm tm;
	char buf[32];

	if (when == NULL || !ASN1_TIME_to_tm(when, &tm))
		return smk_p11_attr_set(o, t, NULL, 0);
	snprintf(buf, sizeof(buf), "%04d%02d%02d", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
	memcpy(d.year, buf, 4);
	memcpy(d.month, buf + 4, 2);
	memcpy(d.day, buf + 6, 2);
	return smk_p11_attr_set(o, t, &d, sizeof(d));
}

static CK_RV
build_common(struct p11_object *o, bool is_private)
{
	CK_RV rv = CKR_OK;
	const char *label = o->item->label != NULL ? o->item->label : "";

	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_CLASS, o->cls);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_TOKEN, true);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_PRIVATE, is_private);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_MODIFIABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_COPYABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_DESTROYABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_LABEL, label, strlen(label));
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_ID, o->item->id, o->item->id_len);
	if (rv == CKR_OK) {
		const X509 *c = o->item->cert;

		if (c != NULL) {
			unsigned char *der = NULL;
			int n = i2d_X509_NAME(X509_get_subject_name(c), &der);

			rv = set_der(o, CKA_SUBJECT, der, n);
		} else {
			rv = smk_p11_attr_set(o, CKA_SUBJECT, NULL, 0);
		}
	}
	if (rv == CKR_OK) {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(o->item->pub, &der);

		rv = set_der(o, CKA_PUBLIC_KEY_INFO, der, n);
	}
	return rv;
}

static CK_RV
build_key_common(struct p11_object *o, bool rsa)
{
	CK_RV rv = CKR_OK;

	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_KEY_TYPE, rsa ? CKK_RSA : CKK_EC);
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_START_DATE, NULL, 0);
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_END_DATE, NULL, 0);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_LOCAL, false);
	if (rv == CKR_OK)
		rv = smk_p11_attr_set_ulong(o, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
	if (rv != CKR_OK)
		return rv;
	if (rsa) {
		rv = set_bn(o, CKA_MODULUS, o->item->pub, OSSL_PKEY_PARAM_RSA_N);
		if (rv == CKR_OK)
			rv = set_bn(o, CKA_PUBLIC_EXPONENT, o->item->pub, OSSL_PKEY_PARAM_RSA_E);
	} else {
		size_t n = 0;
		unsigned char *der = smk_p11_ec_params(o->item->pub, &n);

		if (der == NULL)
			return CKR_GENERAL_ERROR;
		rv = smk_p11_attr_set(o, CKA_EC_PARAMS, der, n);
		OPENSSL_free(der);
	}
	return rv;
}

static CK_RV
build_private(struct p11_object *o)
{
	static const CK_ATTRIBUTE_TYPE rsa_secret[] = {
		CKA_PRIVATE_EXPONENT, CKA_PRIME_1,	CKA_PRIME_2,
		CKA_EXPONENT_1,	      CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	bool rsa = o->item->type == SMK_KEY_RSA;
	CK_RV rv = build_common(o, true);

	if (rv == CKR_OK) rv = build_key_common(o, rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_SENSITIVE, true);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_DECRYPT, rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_SIGN, true);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_SIGN_RECOVER, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_UNWRAP, rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_DERIVE, !rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_EXTRACTABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_ALWAYS_SENSITIVE, true);
	/* Keys may have been imported from a PKCS#12: once extractable. */
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_NEVER_EXTRACTABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_WRAP_WITH_TRUSTED, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_ALWAYS_AUTHENTICATE, false);
	if (rsa) {
		for (size_t i = 0; rv == CKR_OK && i < sizeof(rsa_secret) / sizeof(rsa_secret[0]); i++)
			rv = smk_p11_attr_set_sensitive(o, rsa_secret[i]);
	} else if (rv == CKR_OK) {
		rv = smk_p11_attr_set_sensitive(o, CKA_VALUE);
	}
	return rv;
}

static CK_RV
build_public(struct p11_object *o)
{
	bool rsa = o->item->type == SMK_KEY_RSA;
	CK_RV rv = build_common(o, false);

	if (rv == CKR_OK) rv = build_key_common(o, rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_ENCRYPT, rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_VERIFY, true);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_VERIFY_RECOVER, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_WRAP, rsa);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_DERIVE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_TRUSTED, false);
	if (rv != CKR_OK)
		return rv;
	if (rsa) {
		CK_ULONG bits = (CK_ULONG)EVP_PKEY_get_bits(o->item->pub);

		rv = smk_p11_attr_set_ulong(o, CKA_MODULUS_BITS, bits);
	} else {
		size_t n = 0;
		unsigned char *pt = smk_p11_ec_point(o->item->pub, true, &n);

		if (pt == NULL)
			return CKR_GENERAL_ERROR;
		rv = smk_p11_attr_set(o, CKA_EC_POINT, pt, n);
		OPENSSL_free(pt);
	}
	return rv;
}

static CK_RV
build_cert(struct p11_object *o)
{
	X509 *c = o->item->cert;
	unsigned char *der = NULL, md[SHA_DIGEST_LENGTH];
	int n;
	CK_RV rv = build_common(o, false);

	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_CERTIFICATE_TYPE, CKC_X_509);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_TRUSTED, false);
	/* 1: token user (the key is here), 0: unspecified. */
	if (rv == CKR_OK)
		rv = smk_p11_attr_set_ulong(o, CKA_CERTIFICATE_CATEGORY,
					    o->item->private_stored ? 1 : 0);
	if (rv == CKR_OK) rv = set_date(o, CKA_START_DATE, X509_get0_notBefore(c));
	if (rv == CKR_OK) rv = set_date(o, CKA_END_DATE, X509_get0_notAfter(c));
	if (rv == CKR_OK) {
		der = NULL;
		n = i2d_X509_NAME(X509_get_issuer_name(c), &der);
		rv = set_der(o, CKA_ISSUER, der, n);
	}
	if (rv == CKR_OK) {
		/* The DER INTEGER, tag and length included, as NSS expects. */
		der = NULL;
		n = i2d_ASN1_INTEGER(X509_get0_serialNumber(c), &der);
		rv = set_der(o, CKA_SERIAL_NUMBER, der, n);
	}
	if (rv == CKR_OK) {
		der = NULL;
		n = i2d_X509(c, &der);
		if (n > 0) {
			SHA1(der, (size_t)n, md);
			rv = smk_p11_attr_set(o, CKA_CHECK_VALUE, md, 3);
		}
		if (rv == CKR_OK)
			rv = set_der(o, CKA_VALUE, der, n);
		else
			OPENSSL_free(der);
	}
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_URL, NULL, 0);
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, NULL, 0);
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_HASH_OF_ISSUER_PUBLIC_KEY, NULL, 0);
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_NAME_HASH_ALGORITHM, CKM_SHA_1);
	return rv;
}

static CK_RV
build_item_object(struct p11_object *o)
{
	smk_p11_attrs_free(o);
	switch (o->cls) {
	case CKO_PRIVATE_KEY:
		return build_private(o);
	case CKO_PUBLIC_KEY:
		return build_public(o);
	case CKO_CERTIFICATE:
		return build_cert(o);
	default:
		return CKR_GENERAL_ERROR;
	}
}

static void
object_free(struct p11_object *o)
{
	smk_p11_attrs_free(o);
	if (o->item != NULL)
		smk_item_unref(o->item);
	free(o);
}

/* Links a new object (module lock held). */
static struct p11_object *
object_new(struct p11_slot *slot, CK_OBJECT_CLASS cls, CK_SESSION_HANDLE owner)
{
	struct p11_object *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->slot = slot;
	o->cls = cls;
	o->owner = owner;
	return o;
}

static void
object_link(struct p11_object *o)
{
	o->handle = smk_p11_new_handle();
	o->next = smk_p11_mod->objects;
	smk_p11_mod->objects = o;
}

CK_RV
smk_p11_profile_new(struct p11_slot *slot)
{
	struct p11_object *o = object_new(slot, CKO_PROFILE, 0);
	CK_RV rv = CKR_OK;

	if (o == NULL)
		return CKR_HOST_MEMORY;
	/* NSS lists certificates without asking for the PIN when the token
	 * says it is a public-certificates token. */
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_CLASS, CKO_PROFILE);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_TOKEN, true);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_PRIVATE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_MODIFIABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_COPYABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_DESTROYABLE, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_PROFILE_ID, CKP_PUBLIC_CERTIFICATES_TOKEN);
	if (rv != CKR_OK) {
		object_free(o);
		return rv;
	}
	object_link(o);
	return CKR_OK;
}

/* The slot's token object of class cls for item id (module lock held). */
static struct p11_object *
find_item_object(struct p11_slot *slot, CK_OBJECT_CLASS cls, const struct smk_item *it)
{
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->slot == slot && o->owner == 0 && o->cls == cls && o->item != NULL &&
		    o->item->id_len == it->id_len && memcmp(o->item->id, it->id, it->id_len) == 0)
			return o;
	}
	return NULL;
}

static void
sync_one(struct p11_slot *slot, CK_OBJECT_CLASS cls, struct smk_item *it)
{
	struct p11_object *o = find_item_object(slot, cls, it);

	if (o != NULL) {
		o->seen = true;
		if (o->item == it)
			return;
		smk_item_unref(o->item);
		smk_item_ref(it);
		o->item = it;
		if (build_item_object(o) != CKR_OK) {
			smk_p11_log(SMK_LOG_WARNING, "object for \"%s\" not rebuilt", it->label);
			o->seen = false;	/* dropped below */
		}
		return;
	}
	o = object_new(slot, cls, 0);
	if (o == NULL)
		return;
	smk_item_ref(it);
	o->item = it;
	if (build_item_object(o) != CKR_OK) {
		smk_p11_log(SMK_LOG_WARNING, "object for \"%s\" not made", it->label);
		object_free(o);
		return;
	}
	o->seen = true;
	object_link(o);
}

static time_t
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1;	/* never 0 */
}

void
smk_p11_slot_refresh(struct p11_slot *slot)
{
	bool due;

	pthread_mutex_lock(&smk_p11_lock);
	due = slot->synced == 0 || now_seconds() - slot->synced >= 1;
	pthread_mutex_unlock(&smk_p11_lock);
	if (due)
		smk_p11_slot_sync(slot);
}

void
smk_p11_slot_sync(struct p11_slot *slot)
{
	struct smk_item **items = NULL;
	struct smk_error err;
	enum smk_ks_status st;
	struct p11_object **pp, *o;
	size_t n = 0;
	bool user;

	pthread_mutex_lock(&smk_p11_lock);
	slot->synced = now_seconds();
	pthread_mutex_unlock(&smk_p11_lock);
	/* Asking the key store may read files or the directory: not under
	 * the module lock. */
	smk_error_clear(&err);
	st = smk_token_items(slot->token, &items, &n, &err);
	if (st != SMK_KS_OK) {
		smk_p11_ks_rv(st, &err, "listing the token");
		return;
	}
	pthread_mutex_lock(&smk_p11_lock);
	user = slot->login == P11_LOGIN_USER;
	for (o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->slot == slot && o->owner == 0 && o->item != NULL)
			o->seen = false;
	}
	for (size_t i = 0; i < n; i++) {
		struct smk_item *it = items[i];

		if (it->private_stored || it->cert == NULL)
			sync_one(slot, CKO_PUBLIC_KEY, it);
		if (it->cert != NULL)
			sync_one(slot, CKO_CERTIFICATE, it);
		if (user && it->has_private)
			sync_one(slot, CKO_PRIVATE_KEY, it);
	}
	for (pp = &smk_p11_mod->objects; (o = *pp) != NULL;) {
		if (o->slot == slot && o->owner == 0 && o->item != NULL && !o->seen) {
			*pp = o->next;
			object_free(o);
			continue;
		}
		pp = &o->next;
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_items_free(items, n);
}

/* ---- lookup and lifetime ------------------------------------------------------------ */

static bool
visible(const struct p11_object *o, const struct p11_session *s)
{
	if (o->slot != s->slot)
		return false;
	if (smk_p11_attr_bool(o, CKA_PRIVATE) && s->slot->login != P11_LOGIN_USER)
		return false;
	return true;
}

struct p11_object *
smk_p11_object_get(const struct p11_session *s, CK_OBJECT_HANDLE h)
{
	if (h == CK_INVALID_HANDLE)
		return NULL;
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->handle == h)
			return visible(o, s) ? o : NULL;
	}
	return NULL;
}

static void
drop_if(bool (*pred)(const struct p11_object *, const void *), const void *arg)
{
	struct p11_object **pp, *o;

	for (pp = &smk_p11_mod->objects; (o = *pp) != NULL;) {
		if (pred(o, arg)) {
			*pp = o->next;
			object_free(o);
			continue;
		}
		pp = &o->next;
	}
}

static bool
owned_by(const struct p11_object *o, const void *arg)
{
	return o->owner != 0 && o->owner == *(const CK_SESSION_HANDLE *)arg;
}

void
smk_p11_objects_drop_session(CK_SESSION_HANDLE h)
{
	drop_if(owned_by, &h);
}

static bool
private_on(const struct p11_object *o, const void *arg)
{
	return o->slot == arg && smk_p11_attr_bool(o, CKA_PRIVATE);
}

void
smk_p11_objects_drop_private(struct p11_slot *slot)
{
	drop_if(private_on, slot);
}

void
smk_p11_objects_free_all(struct p11_module *m)
{
	struct p11_object *o, *next;

	for (o = m->objects; o != NULL; o = next) {
		next = o->next;
		object_free(o);
	}
	m->objects = NULL;
}

/* ---- keys for operations ----------------------------------------------------------- */

CK_RV
smk_p11_key_load(struct p11_session *s, CK_OBJECT_HANDLE h, struct p11_key *k)
{
	struct p11_object *o;
	const struct p11_attr *v;
	CK_RV rv = CKR_OK;

	memset(k, 0, sizeof(*k));
	pthread_mutex_lock(&smk_p11_lock);
	o = smk_p11_object_get(s, h);
	if (o == NULL || (o->cls != CKO_PRIVATE_KEY && o->cls != CKO_PUBLIC_KEY &&
			  o->cls != CKO_SECRET_KEY)) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	k->handle = h;
	k->cls = o->cls;
	k->type = smk_p11_attr_ulong(o, CKA_KEY_TYPE, P11_NO_KEY);
	k->encrypt = smk_p11_attr_bool(o, CKA_ENCRYPT);
	k->decrypt = smk_p11_attr_bool(o, CKA_DECRYPT);
	k->sign = smk_p11_attr_bool(o, CKA_SIGN);
	k->verify = smk_p11_attr_bool(o, CKA_VERIFY);
	k->wrap = smk_p11_attr_bool(o, CKA_WRAP);
	k->unwrap = smk_p11_attr_bool(o, CKA_UNWRAP);
	k->derive = smk_p11_attr_bool(o, CKA_DERIVE);
	k->extractable = smk_p11_attr_bool(o, CKA_EXTRACTABLE);
	k->sensitive = smk_p11_attr_bool(o, CKA_SENSITIVE);
	if (o->item != NULL) {
		smk_item_ref(o->item);
		k->item = o->item;
	}
	if (o->cls == CKO_SECRET_KEY) {
		v = smk_p11_attr(o, CKA_VALUE);
		if (v == NULL || v->len > sizeof(k->value)) {
			rv = CKR_KEY_HANDLE_INVALID;
			goto out;
		}
		memcpy(k->value, v->value, v->len);
		k->value_len = v->len;
	}
out:
	pthread_mutex_unlock(&smk_p11_lock);
	return rv;
}

void
smk_p11_key_clear(struct p11_key *k)
{
	if (k->item != NULL)
		smk_item_unref(k->item);
	OPENSSL_cleanse(k, sizeof(*k));
}

/* ---- session secret keys ----------------------------------------------------------- */

/* Attributes a secret-key template may carry. */
static bool
secret_attr_ok(CK_ATTRIBUTE_TYPE t, bool value_allowed)
{
	switch (t) {
	case CKA_CLASS: case CKA_KEY_TYPE: case CKA_VALUE_LEN: case CKA_TOKEN:
	case CKA_PRIVATE: case CKA_LABEL: case CKA_ID: case CKA_START_DATE:
	case CKA_END_DATE: case CKA_SENSITIVE: case CKA_EXTRACTABLE: case CKA_ENCRYPT:
	case CKA_DECRYPT: case CKA_WRAP: case CKA_UNWRAP: case CKA_SIGN: case CKA_VERIFY:
	case CKA_DERIVE: case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE:
	case CKA_WRAP_WITH_TRUSTED: case CKA_TRUSTED: case CKA_LOCAL:
	case CKA_ALWAYS_SENSITIVE: case CKA_NEVER_EXTRACTABLE:
		return true;
	case CKA_VALUE:
		return value_allowed;
	default:
		return false;
	}
}

static bool
secret_len_ok(CK_KEY_TYPE type, CK_ULONG len)
{
	if (type == CKK_AES)
		return len == 16 || len == 24 || len == 32;
	return len >= 1 && len <= P11_SECRET_MAX;
}

CK_RV
smk_p11_secret_len(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_KEY_TYPE default_type,
		   CK_ULONG *len)
{
	CK_ULONG type = default_type, vlen = 0;
	bool present;
	CK_RV rv;

	rv = smk_p11_tmpl_ulong(tmpl, count, CKA_KEY_TYPE, &present, &type);
	if (rv != CKR_OK)
		return rv;
	if (type != CKK_AES && type != CKK_GENERIC_SECRET)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = smk_p11_tmpl_ulong(tmpl, count, CKA_VALUE_LEN, &present, &vlen);
	if (rv != CKR_OK)
		return rv;
	if (present && !secret_len_ok(type, vlen))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*len = present ? vlen : 0;
	return CKR_OK;
}

CK_RV
smk_p11_secret_new(struct p11_session *s, const struct p11_secret_spec *spec,
		   const unsigned char *value, size_t len, CK_OBJECT_HANDLE *out)
{
	const CK_ATTRIBUTE *t = spec->tmpl;
	CK_ULONG n = spec->count, cls = CKO_SECRET_KEY, type = spec->default_type, vlen;
	bool present, v, is_private = false, sensitive = false, extractable = true;
	struct p11_object *o;
	const CK_ATTRIBUTE *a;
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		if (!secret_attr_ok(t[i].type, spec->value_in_template))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	rv = smk_p11_tmpl_ulong(t, n, CKA_CLASS, &present, &cls);
	if (rv != CKR_OK)
		return rv;
	if (cls != CKO_SECRET_KEY)
		return CKR_TEMPLATE_INCONSISTENT;
	rv = smk_p11_tmpl_ulong(t, n, CKA_KEY_TYPE, &present, &type);
	if (rv != CKR_OK)
		return rv;
	if (type != CKK_AES && type != CKK_GENERIC_SECRET)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!secret_len_ok(type, len))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = smk_p11_tmpl_ulong(t, n, CKA_VALUE_LEN, &present, &vlen);
	if (rv != CKR_OK)
		return rv;
	if (present && vlen != len)
		return CKR_TEMPLATE_INCONSISTENT;
	/* Secret keys live in the session only. */
	rv = smk_p11_tmpl_bool(t, n, CKA_TOKEN, &present, &v);
	if (rv != CKR_OK)
		return rv;
	if (present && v)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* What only the module may say. */
	static const CK_ATTRIBUTE_TYPE fixed[] = { CKA_LOCAL, CKA_ALWAYS_SENSITIVE,
						   CKA_NEVER_EXTRACTABLE, CKA_TRUSTED };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (smk_p11_tmpl_get(t, n, fixed[i]) != NULL)
			return CKR_ATTRIBUTE_READ_ONLY;
	}
	rv = smk_p11_tmpl_bool(t, n, CKA_PRIVATE, &present, &is_private);
	if (rv != CKR_OK)
		return rv;
	rv = smk_p11_tmpl_bool(t, n, CKA_SENSITIVE, &present, &sensitive);
	if (rv != CKR_OK)
		return rv;
	rv = smk_p11_tmpl_bool(t, n, CKA_EXTRACTABLE, &present, &v);
	if (rv != CKR_OK)
		return rv;
	if (present)
		extractable = v;

	o = object_new(s->slot, CKO_SECRET_KEY, s->handle);
	if (o == NULL)
		return CKR_HOST_MEMORY;
	/* Defaults, then the template's booleans over them. */
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		bool dflt;
	} flags[] = {
		{ CKA_ENCRYPT, true },	 { CKA_DECRYPT, true },	   { CKA_WRAP, true },
		{ CKA_UNWRAP, true },	 { CKA_SIGN, false },	   { CKA_VERIFY, false },
		{ CKA_DERIVE, false },	 { CKA_MODIFIABLE, true }, { CKA_COPYABLE, true },
		{ CKA_DESTROYABLE, true }, { CKA_WRAP_WITH_TRUSTED, false },
	};
	bool derived = spec->local || spec->derived;

	rv = smk_p11_attr_set_ulong(o, CKA_CLASS, CKO_SECRET_KEY);
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_KEY_TYPE, type);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_TOKEN, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_PRIVATE, is_private);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_SENSITIVE, sensitive);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_EXTRACTABLE, extractable);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_ALWAYS_SENSITIVE, derived && sensitive);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_NEVER_EXTRACTABLE, derived && !extractable);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_LOCAL, spec->local);
	if (rv == CKR_OK) rv = smk_p11_attr_set_bool(o, CKA_TRUSTED, false);
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_KEY_GEN_MECHANISM, spec->keygen_mech);
	if (rv == CKR_OK) rv = smk_p11_attr_set(o, CKA_VALUE, value, len);
	if (rv == CKR_OK) rv = smk_p11_attr_set_ulong(o, CKA_VALUE_LEN, len);
	for (size_t i = 0; rv == CKR_OK && i < sizeof(flags) / sizeof(flags[0]); i++) {
		bool val = flags[i].dflt;

		rv = smk_p11_tmpl_bool(t, n, flags[i].type, &present, &v);
		if (rv == CKR_OK && present)
			val = v;
		if (rv == CKR_OK)
			rv = smk_p11_attr_set_bool(o, flags[i].type, val);
	}
	static const CK_ATTRIBUTE_TYPE bytes[] = { CKA_LABEL, CKA_ID, CKA_START_DATE, CKA_END_DATE };
	for (size_t i = 0; rv == CKR_OK && i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		a = smk_p11_tmpl_get(t, n, bytes[i]);
		if (a != NULL)
			rv = smk_p11_attr_set(o, bytes[i], a->pValue, a->ulValueLen);
		else
			rv = smk_p11_attr_set(o, bytes[i], NULL, 0);
	}
	if (rv != CKR_OK) {
		object_free(o);
		return rv;
	}

	pthread_mutex_lock(&smk_p11_lock);
	if (is_private && s->slot->login != P11_LOGIN_USER) {
		pthread_mutex_unlock(&smk_p11_lock);
		object_free(o);
		return CKR_USER_NOT_LOGGED_IN;
	}
	object_link(o);
	*out = o->handle;
	pthread_mutex_unlock(&smk_p11_lock);
	return CKR_OK;
}

/* ---- C_CreateObject and friends ---------------------------------------------------- */

static bool
cert_attr_ok(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_CLASS: case CKA_TOKEN: case CKA_PRIVATE: case CKA_MODIFIABLE:
	case CKA_COPYABLE: case CKA_DESTROYABLE: case CKA_LABEL: case CKA_CERTIFICATE_TYPE:
	case CKA_TRUSTED: case CKA_CERTIFICATE_CATEGORY: case CKA_CHECK_VALUE:
	case CKA_START_DATE: case CKA_END_DATE: case CKA_PUBLIC_KEY_INFO: case CKA_SUBJECT:
	case CKA_ID: case CKA_ISSUER: case CKA_SERIAL_NUMBER: case CKA_VALUE: case CKA_URL:
	case CKA_HASH_OF_SUBJECT_PUBLIC_KEY: case CKA_HASH_OF_ISSUER_PUBLIC_KEY:
	case CKA_JAVA_MIDP_SECURITY_DOMAIN: case CKA_NAME_HASH_ALGORITHM:
		return true;
	default:
		return false;
	}
}

/* A certificate onto the token (NSS imports certificates this way). */
static CK_RV
create_cert(struct p11_session *s, const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
	const CK_ATTRIBUTE *val, *lab;
	CK_ULONG ctype = CKC_X_509;
	bool present, token = false, priv = false;
	struct smk_item *it = NULL;
	const unsigned char *p;
	struct smk_error err;
	enum smk_ks_status st;
	char *label = NULL;
	X509 *x;
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		if (!cert_attr_ok(t[i].type))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	rv = smk_p11_tmpl_ulong(t, n, CKA_CERTIFICATE_TYPE, &present, &ctype);
	if (rv != CKR_OK)
		return rv;
	if (!present)
		return CKR_TEMPLATE_INCOMPLETE;
	if (ctype != CKC_X_509)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = smk_p11_tmpl_bool(t, n, CKA_TOKEN, &present, &token);
	if (rv != CKR_OK)
		return rv;
	/* Certificates are kept on the token only. */
	if (!token)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = smk_p11_tmpl_bool(t, n, CKA_PRIVATE, &present, &priv);
	if (rv != CKR_OK)
		return rv;
	if (priv)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	val = smk_p11_tmpl_get(t, n, CKA_VALUE);
	if (val == NULL || val->ulValueLen == 0)
		return CKR_TEMPLATE_INCOMPLETE;
	p = val->pValue;
	x = d2i_X509(NULL, &p, (long)val->ulValueLen);
	if (x == NULL || p != (const unsigned char *)val->pValue + val->ulValueLen) {
		X509_free(x);
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	lab = smk_p11_tmpl_get(t, n, CKA_LABEL);
	if (lab != NULL && lab->ulValueLen > 0) {
		label = OPENSSL_strndup(lab->pValue, lab->ulValueLen);
		if (label == NULL || strlen(label) != lab->ulValueLen) {
			OPENSSL_free(label);
			X509_free(x);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
	}
	smk_error_clear(&err);
	st = smk_token_store_cert(s->slot->token, x, label, &it, &err);
	OPENSSL_free(label);
	if (st != SMK_KS_OK) {
		X509_free(x);
		return st == SMK_KS_BAD_INPUT ? CKR_ATTRIBUTE_VALUE_INVALID
					      : smk_p11_ks_rv(st, &err, "storing a certificate");
	}
	smk_p11_slot_sync(s->slot);
	rv = CKR_FUNCTION_FAILED;
	pthread_mutex_lock(&smk_p11_lock);
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->slot == s->slot && o->owner == 0 && o->cls == CKO_CERTIFICATE &&
		    o->item != NULL && o->item->cert != NULL && X509_cmp(o->item->cert, x) == 0) {
			*out = o->handle;
			rv = CKR_OK;
			break;
		}
	}
	pthread_mutex_unlock(&smk_p11_lock);
	if (it != NULL)
		smk_item_unref(it);
	X509_free(x);
	return rv;
}

CK_RV
smk_C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		   CK_OBJECT_HANDLE_PTR phObject)
{
	struct p11_session *s;
	CK_ULONG cls = 0;
	bool present;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (phObject == NULL || (pTemplate == NULL && ulCount > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	rv = smk_p11_tmpl_check(pTemplate, ulCount);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_ulong(pTemplate, ulCount, CKA_CLASS, &present, &cls);
	if (rv != CKR_OK)
		goto out;
	if (!present) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	switch (cls) {
	case CKO_SECRET_KEY: {
		const CK_ATTRIBUTE *v = smk_p11_tmpl_get(pTemplate, ulCount, CKA_VALUE);
		struct p11_secret_spec spec = {
			.tmpl = pTemplate,
			.count = ulCount,
			.default_type = CKK_GENERIC_SECRET,
			.keygen_mech = CK_UNAVAILABLE_INFORMATION,
			.value_in_template = true,
		};

		if (v == NULL || v->ulValueLen == 0) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			break;
		}
		if (smk_p11_tmpl_get(pTemplate, ulCount, CKA_KEY_TYPE) == NULL) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			break;
		}
		rv = smk_p11_secret_new(s, &spec, v->pValue, v->ulValueLen, phObject);
		break;
	}
	case CKO_CERTIFICATE:
		rv = create_cert(s, pTemplate, ulCount, phObject);
		break;
	case CKO_PRIVATE_KEY:
		rv = smk_p11_import_private(s, pTemplate, ulCount, phObject);
		break;
	default:
		/* Public keys alone are not kept; certificates carry them. */
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	}
out:
	smk_p11_session_put(s);
	return rv;
}

/* May attribute t of a session secret key be changed to the value given? */
static CK_RV
settable(const struct p11_object *o, const CK_ATTRIBUTE *a)
{
	bool v;

	switch (a->type) {
	case CKA_LABEL:
	case CKA_ID:
	case CKA_START_DATE:
	case CKA_END_DATE:
		return CKR_OK;
	case CKA_ENCRYPT: case CKA_DECRYPT: case CKA_WRAP: case CKA_UNWRAP:
	case CKA_SIGN: case CKA_VERIFY: case CKA_DERIVE:
		break;
	case CKA_SENSITIVE:	/* only ever to true */
	case CKA_EXTRACTABLE:	/* only ever to false */
		if (a->ulValueLen != sizeof(CK_BBOOL) || a->pValue == NULL)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		v = *(const CK_BBOOL *)a->pValue != CK_FALSE;
		if (a->type == CKA_SENSITIVE && !v && smk_p11_attr_bool(o, CKA_SENSITIVE))
			return CKR_ATTRIBUTE_READ_ONLY;
		if (a->type == CKA_EXTRACTABLE && v && !smk_p11_attr_bool(o, CKA_EXTRACTABLE))
			return CKR_ATTRIBUTE_READ_ONLY;
		return CKR_OK;
	default:
		return smk_p11_attr(o, a->type) != NULL ? CKR_ATTRIBUTE_READ_ONLY
							 : CKR_ATTRIBUTE_TYPE_INVALID;
	}
	if (a->ulValueLen != sizeof(CK_BBOOL) || a->pValue == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return CKR_OK;
}

/* A token object keeps its values; setting one to the value it has
 * already is accepted (NSS sets CKA_ID and CKA_LABEL after key
 * generation, to what they are). */
static CK_RV
same_value(const struct p11_object *o, const CK_ATTRIBUTE *a)
{
	const struct p11_attr *cur = smk_p11_attr(o, a->type);

	if (cur == NULL)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (!cur->sensitive && cur->len == a->ulValueLen &&
	    (a->ulValueLen == 0 || memcmp(cur->value, a->pValue, a->ulValueLen) == 0))
		return CKR_OK;
	return CKR_ACTION_PROHIBITED;
}

static bool
is_bool_attr(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_ENCRYPT: case CKA_DECRYPT: case CKA_WRAP: case CKA_UNWRAP: case CKA_SIGN:
	case CKA_VERIFY: case CKA_DERIVE: case CKA_SENSITIVE: case CKA_EXTRACTABLE:
	case CKA_PRIVATE: case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE:
		return true;
	default:
		return false;
	}
}

/* Applies a template checked by settable(). */
static CK_RV
apply_template(struct p11_object *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = CKR_OK;

	for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++) {
		if (is_bool_attr(t[i].type))
			rv = smk_p11_attr_set_bool(o, t[i].type,
						   *(const CK_BBOOL *)t[i].pValue != CK_FALSE);
		else
			rv = smk_p11_attr_set(o, t[i].type, t[i].pValue, t[i].ulValueLen);
	}
	return rv;
}

CK_RV
smk_C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
			CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct p11_session *s;
	struct p11_object *o;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0) {
		smk_p11_session_put(s);
		return CKR_ARGUMENTS_BAD;
	}
	rv = smk_p11_tmpl_check(pTemplate, ulCount);
	if (rv != CKR_OK) {
		smk_p11_session_put(s);
		return rv;
	}
	pthread_mutex_lock(&smk_p11_lock);
	o = smk_p11_object_get(s, hObject);
	if (o == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else if (o->owner == 0) {
		if (!(s->flags & CKF_RW_SESSION))
			rv = CKR_SESSION_READ_ONLY;
		for (CK_ULONG i = 0; i < ulCount && rv == CKR_OK; i++)
			rv = same_value(o, &pTemplate[i]);
	} else if (!smk_p11_attr_bool(o, CKA_MODIFIABLE)) {
		rv = CKR_ACTION_PROHIBITED;
	} else {
		for (CK_ULONG i = 0; i < ulCount && rv == CKR_OK; i++)
			rv = settable(o, &pTemplate[i]);
		if (rv == CKR_OK)
			rv = apply_template(o, pTemplate, ulCount);
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
		 CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
	struct p11_session *s;
	struct p11_object *o, *c = NULL;
	bool present, v;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (phNewObject == NULL || (pTemplate == NULL && ulCount > 0)) {
		smk_p11_session_put(s);
		return CKR_ARGUMENTS_BAD;
	}
	rv = smk_p11_tmpl_check(pTemplate, ulCount);
	if (rv == CKR_OK)
		rv = smk_p11_tmpl_bool(pTemplate, ulCount, CKA_TOKEN, &present, &v);
	if (rv == CKR_OK && present && v)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;	/* secret keys stay in the session */
	if (rv != CKR_OK) {
		smk_p11_session_put(s);
		return rv;
	}
	pthread_mutex_lock(&smk_p11_lock);
	o = smk_p11_object_get(s, hObject);
	if (o == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else if (o->owner == 0 || !smk_p11_attr_bool(o, CKA_COPYABLE)) {
		rv = CKR_ACTION_PROHIBITED;
	} else {
		for (CK_ULONG i = 0; i < ulCount && rv == CKR_OK; i++) {
			if (pTemplate[i].type == CKA_TOKEN)
				continue;
			rv = settable(o, &pTemplate[i]);
		}
		c = rv == CKR_OK ? object_new(o->slot, o->cls, s->handle) : NULL;
		if (rv == CKR_OK && c == NULL)
			rv = CKR_HOST_MEMORY;
		for (size_t i = 0; rv == CKR_OK && i < o->nattrs; i++)
			rv = smk_p11_attr_set(c, o->attrs[i].type, o->attrs[i].value, o->attrs[i].len);
		for (CK_ULONG i = 0; rv == CKR_OK && i < ulCount; i++) {
			if (pTemplate[i].type != CKA_TOKEN)
				rv = apply_template(c, &pTemplate[i], 1);
		}
		if (rv == CKR_OK) {
			object_link(c);
			*phNewObject = c->handle;
		} else if (c != NULL) {
			object_free(c);
		}
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	struct p11_session *s;
	struct p11_object *o, **pp;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	pthread_mutex_lock(&smk_p11_lock);
	o = smk_p11_object_get(s, hObject);
	if (o == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else if (o->owner == 0) {
		/* Keys are never thrown away; the token has no delete. */
		rv = (s->flags & CKF_RW_SESSION) ? CKR_ACTION_PROHIBITED : CKR_SESSION_READ_ONLY;
	} else if (!smk_p11_attr_bool(o, CKA_DESTROYABLE)) {
		rv = CKR_ACTION_PROHIBITED;
	} else {
		for (pp = &smk_p11_mod->objects; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == o) {
				*pp = o->next;
				break;
			}
		}
		object_free(o);
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
	struct p11_session *s;
	struct p11_object *o;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	pthread_mutex_lock(&smk_p11_lock);
	o = smk_p11_object_get(s, hObject);
	if (o == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else if (pulSize == NULL) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		CK_ULONG size = 0;

		for (size_t i = 0; i < o->nattrs; i++)
			size += o->attrs[i].len;
		*pulSize = size;
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_p11_session_put(s);
	return rv;
}

/* Is the attribute's value withheld from the application? */
static bool
withheld(const struct p11_object *o, const struct p11_attr *a)
{
	if (a->sensitive)
		return true;
	if (o->cls == CKO_SECRET_KEY && a->type == CKA_VALUE)
		return smk_p11_attr_bool(o, CKA_SENSITIVE) || !smk_p11_attr_bool(o, CKA_EXTRACTABLE);
	return false;
}

CK_RV
smk_C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
			CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct p11_session *s;
	struct p11_object *o;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0) {
		smk_p11_session_put(s);
		return CKR_ARGUMENTS_BAD;
	}
	pthread_mutex_lock(&smk_p11_lock);
	o = smk_p11_object_get(s, hObject);
	if (o == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	/* Every attribute is answered; the result is the first problem met. */
	for (CK_ULONG i = 0; i < ulCount; i++) {
		CK_ATTRIBUTE *t = &pTemplate[i];
		const struct p11_attr *a = smk_p11_attr(o, t->type);
		CK_RV r = CKR_OK;

		if (a == NULL) {
			r = CKR_ATTRIBUTE_TYPE_INVALID;
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else if (withheld(o, a)) {
			r = CKR_ATTRIBUTE_SENSITIVE;
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else if (t->pValue == NULL) {
			t->ulValueLen = a->len;
		} else if (t->ulValueLen < a->len) {
			r = CKR_BUFFER_TOO_SMALL;
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else {
			if (a->len > 0)
				memcpy(t->pValue, a->value, a->len);
			t->ulValueLen = a->len;
		}
		if (rv == CKR_OK)
			rv = r;
	}
out:
	pthread_mutex_unlock(&smk_p11_lock);
	smk_p11_session_put(s);
	return rv;
}

/* ---- finding ------------------------------------------------------------------------ */

static bool
matches(const struct p11_object *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++) {
		const struct p11_attr *a = smk_p11_attr(o, t[i].type);

		if (a == NULL || withheld(o, a) || a->len != t[i].ulValueLen)
			return false;
		if (a->len > 0 && memcmp(a->value, t[i].pValue, a->len) != 0)
			return false;
	}
	return true;
}

CK_RV
smk_C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct p11_session *s;
	CK_OBJECT_HANDLE *h = NULL;
	size_t n = 0, cap = 0;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (s->find.active) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	for (CK_ULONG i = 0; i < ulCount; i++) {
		if (pTemplate[i].pValue == NULL && pTemplate[i].ulValueLen > 0) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
	}
	/* The token may have changed (another process, a new key). */
	smk_p11_slot_refresh(s->slot);
	pthread_mutex_lock(&smk_p11_lock);
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (!visible(o, s) || !matches(o, pTemplate, ulCount))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			CK_OBJECT_HANDLE *nh = realloc(h, nc * sizeof(*nh));

			if (nh == NULL) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			h = nh;
			cap = nc;
		}
		h[n++] = o->handle;
	}
	pthread_mutex_unlock(&smk_p11_lock);
	if (rv != CKR_OK) {
		free(h);
		goto out;
	}
	/* The list is newest first; hand out oldest first. */
	for (size_t i = 0; i < n / 2; i++) {
		CK_OBJECT_HANDLE tmp = h[i];

		h[i] = h[n - 1 - i];
		h[n - 1 - i] = tmp;
	}
	s->find.active = true;
	s->find.handles = h;
	s->find.n = n;
	s->find.pos = 0;
out:
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
		  CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	struct p11_session *s;
	CK_ULONG k = 0;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if (pulObjectCount == NULL || (phObject == NULL && ulMaxObjectCount > 0)) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		while (k < ulMaxObjectCount && s->find.pos < s->find.n)
			phObject[k++] = s->find.handles[s->find.pos++];
		*pulObjectCount = k;
	}
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		free(s->find.handles);
		memset(&s->find, 0, sizeof(s->find));
	}
	smk_p11_session_put(s);
	return rv;
}
