/* keymgmt.c - RSA and EC key management for the provider's opaque keys
 *
 * A key here is a smk_prov_key: a reference to a key store item, handed
 * out by the store loader (store.c) as an object reference.  Nothing here
 * makes or imports keys: a key that is not on a token is never claimed
 * (no gen, no import), so OpenSSL keeps such keys in the default
 * provider.  What OpenSSL needs of a token key is answered from the
 * item's public key (item->pub): its size and parameters, comparison with
 * a certificate's key, and export of the public half, with which
 * verification and encryption run in another provider.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "smk-prov.h"

struct smk_prov_key *
smk_prov_key_new(struct smk_prov *prov, struct smk_token *token, struct smk_item *item)
{
	struct smk_prov_key *key = calloc(1, sizeof(*key));

	if (key == NULL)
		return NULL;
	smk_item_ref(item);
	key->prov = prov;
	key->token = token;
	key->item = item;
	key->type = item->type;
	return key;
}

void
smk_prov_key_free(struct smk_prov_key *key)
{
	if (key == NULL)
		return;
	smk_item_unref(key->item);
	free(key);
}

/* new: an empty key is of no use (there is no import), so none is made;
 * OpenSSL asks for one only to import into it. */
static void *
km_new(void *provctx)
{
	(void)provctx;
	return NULL;
}

static void
km_free(void *keydata)
{
	smk_prov_key_free(keydata);
}

/* The reference is the address of a smk_prov_key the store loader owns
 * (it lives until the loader is closed, and the core calls load from
 * inside the loader's object callback); load takes a reference of its
 * own. */
static void *
km_load(const void *reference, size_t reference_sz, enum smk_key_type type)
{
	const struct smk_prov_key *src;

	if (reference == NULL || reference_sz != sizeof(src))
		return NULL;
	memcpy(&src, reference, sizeof(src));
	if (src == NULL || src->type != type)
		return NULL;
	return smk_prov_key_new(src->prov, src->token, src->item);
}

static void *
km_rsa_load(const void *reference, size_t reference_sz)
{
	return km_load(reference, reference_sz, SMK_KEY_RSA);
}

static void *
km_ec_load(const void *reference, size_t reference_sz)
{
	return km_load(reference, reference_sz, SMK_KEY_EC);
}

static int
km_has(const void *keydata, int selection)
{
	const struct smk_prov_key *key = keydata;

	if (key == NULL)
		return 0;
	/* The private half is on the token (it may need a login to use). */
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !key->item->private_stored)
		return 0;
	return 1;
}

static int
km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct smk_prov_key *a = keydata1, *b = keydata2;

	if (a == NULL || b == NULL)
		return 0;
	if (a->item == b->item)
		return 1;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
		return EVP_PKEY_eq(a->item->pub, b->item->pub) == 1;
	if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
		return EVP_PKEY_parameters_eq(a->item->pub, b->item->pub) == 1;
	return 1;
}

/* get_params: answered by the public key (in the provider that decoded
 * it), plus the default digest for signing. */
static int
km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;
	OSSL_PARAM *p;

	if (key == NULL)
		return 0;
	if (!EVP_PKEY_get_params(key->item->pub, params))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
	if (p != NULL && !OSSL_PARAM_set_utf8_string(p, "SHA256"))
		return 0;
	return 1;
}

static const OSSL_PARAM km_rsa_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM km_ec_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_rsa_gettable_params(void *provctx)
{
	(void)provctx;
	return km_rsa_gettable;
}

static const OSSL_PARAM *
km_ec_gettable_params(void *provctx)
{
	(void)provctx;
	return km_ec_gettable;
}

/* export: the public half only, whatever the selection asks; a request
 * for the private key alone is refused. */
static int
km_export(void *keydata, int selection, OSSL_CALLBACK *param_cb, void *cbarg)
{
	struct smk_prov_key *key = keydata;
	OSSL_PARAM *params = NULL;
	int sel = 0, ok;

	if (key == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
		sel = EVP_PKEY_PUBLIC_KEY;
	else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
		sel = EVP_PKEY_KEY_PARAMETERS;
	if (sel == 0)
		return 0;
	if (EVP_PKEY_todata(key->item->pub, sel, &params) != 1)
		return 0;
	ok = param_cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

static const OSSL_PARAM km_rsa_export_list[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM km_ec_export_list[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_rsa_export_types(int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ? km_rsa_export_list : NULL;
}

static const OSSL_PARAM *
km_ec_export_types(int selection)
{
	return (selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0
		       ? km_ec_export_list
		       : NULL;
}

static const char *
km_ec_query_operation_name(int operation_id)
{
	switch (operation_id) {
	case OSSL_OP_SIGNATURE:
		return "ECDSA";
	case OSSL_OP_KEYEXCH:
		return "ECDH";
	default:
		return NULL;
	}
}

static const char *
km_rsa_query_operation_name(int operation_id)
{
	(void)operation_id;
	return "RSA";
}

/* dup: another reference to the same item (there is nothing to copy). */
static void *
km_dup(const void *keydata_from, int selection)
{
	const struct smk_prov_key *src = keydata_from;

	(void)selection;
	if (src == NULL)
		return NULL;
	return smk_prov_key_new(src->prov, src->token, src->item);
}

const OSSL_DISPATCH smk_prov_rsa_keymgmt_functions[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new },
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free },
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_rsa_load },
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has },
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match },
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_rsa_gettable_params },
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_rsa_export_types },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_rsa_query_operation_name },
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup },
	{ 0, NULL },
};

const OSSL_DISPATCH smk_prov_ec_keymgmt_functions[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new },
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free },
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_ec_load },
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has },
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match },
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_ec_gettable_params },
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_ec_export_types },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_ec_query_operation_name },
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup },
	{ 0, NULL },
};
