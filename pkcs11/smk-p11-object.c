/* smk-p11-object.c - objects: lookup and lifetime, keys for operations,
 * C_CreateObject, C_CopyObject, C_DestroyObject, attributes, finding
 *
 * Token objects (smk-p11-item.c) mirror the key store's items and are
 * read-only here: keys are never destroyed.  Session objects are secret
 * keys (smk-p11-secret.c); certificates written with C_CreateObject go
 * to the token (NSS imports certificates this way), private keys too
 * (smk-p11-import.c).
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

void
smk_p11_object_free(struct p11_object *o)
{
	smk_p11_attrs_free(o);
	if (o->item != NULL)
		smk_item_unref(o->item);
	free(o);
}

struct p11_object *
smk_p11_object_new(struct p11_slot *slot, CK_OBJECT_CLASS cls, CK_SESSION_HANDLE owner)
{
	struct p11_object *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->slot = slot;
	o->cls = cls;
	o->owner = owner;
	return o;
}

void
smk_p11_object_link(struct p11_object *o)
{
	o->handle = smk_p11_new_handle();
	o->next = smk_p11_mod->objects;
	smk_p11_mod->objects = o;
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
			smk_p11_object_free(o);
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
		smk_p11_object_free(o);
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
		c = rv == CKR_OK ? smk_p11_object_new(o->slot, o->cls, s->handle) : NULL;
		if (rv == CKR_OK && c == NULL)
			rv = CKR_HOST_MEMORY;
		for (size_t i = 0; rv == CKR_OK && i < o->nattrs; i++)
			rv = smk_p11_attr_set(c, o->attrs[i].type, o->attrs[i].value, o->attrs[i].len);
		for (CK_ULONG i = 0; rv == CKR_OK && i < ulCount; i++) {
			if (pTemplate[i].type != CKA_TOKEN)
				rv = apply_template(c, &pTemplate[i], 1);
		}
		if (rv == CKR_OK) {
			smk_p11_object_link(c);
			*phNewObject = c->handle;
		} else if (c != NULL) {
			smk_p11_object_free(c);
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
		smk_p11_object_free(o);
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
	/* Newest object first: token objects come in the reverse of the key
	 * store's order, so for a directory token the key escrowed last (the
	 * current one) is what a client that takes "the first private key"
	 * (pkcs11-tool --sign without --id) uses. */
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
