/* smk-p11-secret.c - session secret keys (AES, generic) made from a
 * template and a value, for C_UnwrapKey, C_DeriveKey, C_GenerateKey and
 * C_CreateObject
 *
 * They live in the session that made them (every session of the
 * application on the slot sees them, as the standard says) and go when
 * it closes, private ones also at logout.  Defaults suit NSS: usable for
 * encryption and key wrapping, not sensitive, extractable (NSS reads
 * CKA_VALUE of the keys it unwraps now and then).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smk-p11.h"

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

	o = smk_p11_object_new(s->slot, CKO_SECRET_KEY, s->handle);
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
		smk_p11_object_free(o);
		return rv;
	}

	pthread_mutex_lock(&smk_p11_lock);
	if (is_private && s->slot->login != P11_LOGIN_USER) {
		pthread_mutex_unlock(&smk_p11_lock);
		smk_p11_object_free(o);
		return CKR_USER_NOT_LOGGED_IN;
	}
	smk_p11_object_link(o);
	*out = o->handle;
	pthread_mutex_unlock(&smk_p11_lock);
	return CKR_OK;
}

