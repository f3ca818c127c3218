/* smk-p11-item.c - token objects: the key store's items as PKCS#11 objects,
 * and the CKO_PROFILE object of each slot
 *
 * Each item gives a public key (when a private key is stored for it, or
 * it has no certificate), a certificate (if it has one) and, while the
 * user is logged in, a private key, all with the item's CKA_ID and
 * CKA_LABEL.  The objects are rebuilt from the items (smk_p11_slot_sync)
 * after login, logout, key generation and creation, and at
 * C_FindObjectsInit; they keep their handles while their item stays.
 * Their attribute values are computed once, when the object is built.
 */
#include "config.h"

#include <stdio.h>
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

CK_RV
smk_p11_profile_new(struct p11_slot *slot)
{
	struct p11_object *o = smk_p11_object_new(slot, CKO_PROFILE, 0);
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
		smk_p11_object_free(o);
		return rv;
	}
	smk_p11_object_link(o);
	return CKR_OK;
}

/* The slot's token object of class cls for item id (module lock held). */
/* The object of class cls that stands for it.  Keys are one per id; a key
 * with a renewed certificate has several certificates under that id (one
 * item each), so a certificate object is also matched by its certificate. */
static struct p11_object *
find_item_object(struct p11_slot *slot, CK_OBJECT_CLASS cls, const struct smk_item *it)
{
	for (struct p11_object *o = smk_p11_mod->objects; o != NULL; o = o->next) {
		if (o->slot != slot || o->owner != 0 || o->cls != cls || o->item == NULL ||
		    o->item->id_len != it->id_len || memcmp(o->item->id, it->id, it->id_len) != 0)
			continue;
		if (cls == CKO_CERTIFICATE &&
		    (o->item->cert == NULL || it->cert == NULL || X509_cmp(o->item->cert, it->cert) != 0))
			continue;
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
	o = smk_p11_object_new(slot, cls, 0);
	if (o == NULL)
		return;
	smk_item_ref(it);
	o->item = it;
	if (build_item_object(o) != CKR_OK) {
		smk_p11_log(SMK_LOG_WARNING, "object for \"%s\" not made", it->label);
		smk_p11_object_free(o);
		return;
	}
	o->seen = true;
	smk_p11_object_link(o);
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
			smk_p11_object_free(o);
			continue;
		}
		pp = &o->next;
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_items_free(items, n);
}

