/* smk-p11-attr.c - attribute lists of objects, templates from the
 * application, and the DER encodings PKCS#11 asks for (EC parameters and
 * points)
 *
 * An object's attributes are a small array of owned values; values are
 * wiped before they are freed, since session secret keys keep CKA_VALUE
 * here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>

#include "smk-p11.h"

/* ---- attribute lists ------------------------------------------------------------ */

static struct p11_attr *
attr_slot(struct p11_object *o, CK_ATTRIBUTE_TYPE t)
{
	struct p11_attr *a;

	for (size_t i = 0; i < o->nattrs; i++) {
		if (o->attrs[i].type == t) {
			a = &o->attrs[i];
			if (a->value != NULL) {
				OPENSSL_cleanse(a->value, a->len);
				free(a->value);
			}
			a->value = NULL;
			a->len = 0;
			a->sensitive = false;
			return a;
		}
	}
	if (o->nattrs == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 32;
		struct p11_attr *n = realloc(o->attrs, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		o->attrs = n;
		o->cap = cap;
	}
	a = &o->attrs[o->nattrs++];
	memset(a, 0, sizeof(*a));
	a->type = t;
	return a;
}

CK_RV
smk_p11_attr_set(struct p11_object *o, CK_ATTRIBUTE_TYPE t, const void *v, CK_ULONG len)
{
	struct p11_attr *a = attr_slot(o, t);

	if (a == NULL)
		return CKR_HOST_MEMORY;
	if (len > 0) {
		a->value = malloc(len);
		if (a->value == NULL) {
			o->nattrs--;
			return CKR_HOST_MEMORY;
		}
		memcpy(a->value, v, len);
	}
	a->len = len;
	return CKR_OK;
}

CK_RV
smk_p11_attr_set_bool(struct p11_object *o, CK_ATTRIBUTE_TYPE t, bool v)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

	return smk_p11_attr_set(o, t, &b, sizeof(b));
}

CK_RV
smk_p11_attr_set_ulong(struct p11_object *o, CK_ATTRIBUTE_TYPE t, CK_ULONG v)
{
	return smk_p11_attr_set(o, t, &v, sizeof(v));
}

CK_RV
smk_p11_attr_set_sensitive(struct p11_object *o, CK_ATTRIBUTE_TYPE t)
{
	struct p11_attr *a = attr_slot(o, t);

	if (a == NULL)
		return CKR_HOST_MEMORY;
	a->sensitive = true;
	return CKR_OK;
}

void
smk_p11_attrs_free(struct p11_object *o)
{
	for (size_t i = 0; i < o->nattrs; i++) {
		if (o->attrs[i].value != NULL) {
			OPENSSL_cleanse(o->attrs[i].value, o->attrs[i].len);
			free(o->attrs[i].value);
		}
	}
	free(o->attrs);
	o->attrs = NULL;
	o->nattrs = o->cap = 0;
}

const struct p11_attr *
smk_p11_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE t)
{
	for (size_t i = 0; i < o->nattrs; i++) {
		if (o->attrs[i].type == t)
			return &o->attrs[i];
	}
	return NULL;
}

bool
smk_p11_attr_bool(const struct p11_object *o, CK_ATTRIBUTE_TYPE t)
{
	const struct p11_attr *a = smk_p11_attr(o, t);

	return a != NULL && a->len == sizeof(CK_BBOOL) && *(const CK_BBOOL *)a->value == CK_TRUE;
}

CK_ULONG
smk_p11_attr_ulong(const struct p11_object *o, CK_ATTRIBUTE_TYPE t, CK_ULONG dflt)
{
	const struct p11_attr *a = smk_p11_attr(o, t);
	CK_ULONG v;

	if (a == NULL || a->len != sizeof(CK_ULONG))
		return dflt;
	memcpy(&v, a->value, sizeof(v));
	return v;
}

/* ---- templates ------------------------------------------------------------------ */

CK_RV
smk_p11_tmpl_check(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < n; i++) {
		if (t[i].pValue == NULL && t[i].ulValueLen > 0)
			return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	return CKR_OK;
}

const CK_ATTRIBUTE *
smk_p11_tmpl_get(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; i < n; i++) {
		if (t[i].type == type)
			return &t[i];
	}
	return NULL;
}

CK_RV
smk_p11_tmpl_bool(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool *present,
		  bool *val)
{
	const CK_ATTRIBUTE *a = smk_p11_tmpl_get(t, n, type);

	*present = false;
	if (a == NULL)
		return CKR_OK;
	if (a->ulValueLen != sizeof(CK_BBOOL) || a->pValue == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*present = true;
	*val = *(const CK_BBOOL *)a->pValue != CK_FALSE;
	return CKR_OK;
}

CK_RV
smk_p11_tmpl_ulong(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool *present,
		   CK_ULONG *val)
{
	const CK_ATTRIBUTE *a = smk_p11_tmpl_get(t, n, type);

	*present = false;
	if (a == NULL)
		return CKR_OK;
	if (a->ulValueLen != sizeof(CK_ULONG) || a->pValue == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*present = true;
	memcpy(val, a->pValue, sizeof(*val));
	return CKR_OK;
}

/* ---- DER for EC keys ------------------------------------------------------------- */

unsigned char *
smk_p11_ec_params(const EVP_PKEY *pub, size_t *len)
{
	char name[80];
	unsigned char *der = NULL;
	ASN1_OBJECT *obj;
	int nid, n;

	if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
					    NULL))
		return NULL;
	nid = OBJ_txt2nid(name);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(name);
	if (nid == NID_undef)
		return NULL;
	obj = OBJ_nid2obj(nid);
	if (obj == NULL)
		return NULL;
	n = i2d_ASN1_OBJECT(obj, &der);
	if (n <= 0)
		return NULL;
	*len = (size_t)n;
	return der;
}

unsigned char *
smk_p11_ec_point(const EVP_PKEY *pub, bool der, size_t *len)
{
	unsigned char *pt, *out = NULL;
	ASN1_OCTET_STRING *os;
	size_t n = 0;
	int dn;

	if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0, &n) ||
	    n == 0)
		return NULL;
	pt = OPENSSL_malloc(n);
	if (pt == NULL)
		return NULL;
	if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, n, &n)) {
		OPENSSL_free(pt);
		return NULL;
	}
	if (!der) {
		*len = n;
		return pt;
	}
	/* CKA_EC_POINT is the DER OCTET STRING around the point (X9.62). */
	os = ASN1_OCTET_STRING_new();
	if (os != NULL && ASN1_OCTET_STRING_set(os, pt, (int)n)) {
		dn = i2d_ASN1_OCTET_STRING(os, &out);
		if (dn > 0)
			*len = (size_t)dn;
		else
			out = NULL;
	}
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(pt);
	return out;
}

size_t
smk_p11_ec_order_len(const EVP_PKEY *pub)
{
	int bits = EVP_PKEY_get_bits(pub);

	return bits > 0 ? ((size_t)bits + 7) / 8 : 0;
}
