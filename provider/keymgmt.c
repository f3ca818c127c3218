/* keymgmt.c - RSA and EC key management for the provider's opaque keys
 *
 * A key here is a smk_prov_key: a reference to a key store item, handed
 * out by the store loader (store.c) as an object reference.  Nothing here
 * makes keys, and a private key that is not on a token is never taken
 * in (no gen; import takes EC public keys and parameters only, for ECDH
 * peers), so OpenSSL keeps software keys in the default provider.  What OpenSSL needs of a token key is answered from the
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
	EVP_PKEY_free(key->pub);
	free(key);
}

/* The public key: the token item's, or an imported one (ECDH peer). */
static EVP_PKEY *
kpub(const struct smk_prov_key *key)
{
	return key->item != NULL ? key->item->pub : key->pub;
}

/* new: an empty shell.  OpenSSL makes one to move another provider's key
 * here: an RSA shell stays empty (no import: RSA public-key work stays
 * in the default provider), an EC one can take a public key or the
 * domain parameters (import below), which is how OpenSSL 3.0 hands an
 * ECDH peer to the exchange.  Failing new instead would leave a false
 * "malloc failure" on the error queue. */
static void *
km_new(void *provctx, enum smk_key_type type)
{
	struct smk_prov_key *key = calloc(1, sizeof(*key));

	if (key != NULL) {
		key->prov = provctx;
		key->type = type;
	}
	return key;
}

static void *
km_rsa_new(void *provctx)
{
	return km_new(provctx, SMK_KEY_RSA);
}

static void *
km_ec_new(void *provctx)
{
	return km_new(provctx, SMK_KEY_EC);
}

/* import (EC): public keys and domain parameters only, into an empty
 * shell; a private key is refused, so software key pairs stay where they
 * are and never pass for token keys. */
static int
km_ec_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;
	int sel;

	if (key == NULL || key->item != NULL || key->pub != NULL || params == NULL)
		return 0;
	if (OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 &&
	    OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY) != NULL)
		sel = EVP_PKEY_PUBLIC_KEY;
	else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
		sel = EVP_PKEY_KEY_PARAMETERS;
	else
		return 0;
	ctx = EVP_PKEY_CTX_new_from_name(key->prov->libctx, "EC", NULL);
	if (ctx == NULL)
		return 0;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, sel, (OSSL_PARAM *)params) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return 0;
	}
	EVP_PKEY_CTX_free(ctx);
	key->pub = pk;
	return 1;
}

static const OSSL_PARAM km_ec_import_list[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_ec_import_types(int selection)
{
	return (selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0
		       ? km_ec_import_list
		       : NULL;
}

/* set_params (EC): the encoded public point of an imported key (the CMS
 * code makes an ECDH originator key by copying our parameters and then
 * setting the point).  A token key is never changed. */
static int
km_ec_set_params(void *keydata, const OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;

	if (key == NULL)
		return 0;
	if (params == NULL || params[0].key == NULL)
		return 1;
	if (key->item != NULL || key->pub == NULL)
		return 0;
	return EVP_PKEY_set_params(key->pub, (OSSL_PARAM *)params) == 1;
}

static const OSSL_PARAM km_ec_settable[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_ec_settable_params(void *provctx)
{
	(void)provctx;
	return km_ec_settable;
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
	if (src == NULL || src->item == NULL || src->type != type)
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

	if (key == NULL || kpub(key) == NULL)
		return 0;
	/* The private half is on the token (it may need a login to use). */
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
	    (key->item == NULL || !key->item->private_stored))
		return 0;
	return 1;
}

static int
km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct smk_prov_key *a = keydata1, *b = keydata2;

	if (a == NULL || b == NULL || kpub(a) == NULL || kpub(b) == NULL)
		return 0;
	if (a->item != NULL && a->item == b->item)
		return 1;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
		return EVP_PKEY_eq(kpub(a), kpub(b)) == 1;
	if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
		return EVP_PKEY_parameters_eq(kpub(a), kpub(b)) == 1;
	return 1;
}

/* get_params: answered by the public key (in the provider that decoded
 * it), plus the default digest for signing. */
static int
km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;
	OSSL_PARAM *p;

	if (key == NULL || kpub(key) == NULL)
		return 0;
	if (!EVP_PKEY_get_params(kpub(key), params))
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

	if (key == NULL || kpub(key) == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
		sel = EVP_PKEY_PUBLIC_KEY;
	else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
		sel = EVP_PKEY_KEY_PARAMETERS;
	if (sel == 0)
		return 0;
	if (EVP_PKEY_todata(kpub(key), sel, &params) != 1)
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

/* The names under which provider.c registers the operations on token
 * keys (see there why they are not the standard ones). */
static const char *
km_ec_query_operation_name(int operation_id)
{
	switch (operation_id) {
	case OSSL_OP_SIGNATURE:
		return "SMIMEKIT-ECDSA";
	case OSSL_OP_KEYEXCH:
		return "SMIMEKIT-ECDH";
	default:
		return NULL;
	}
}

static const char *
km_rsa_query_operation_name(int operation_id)
{
	switch (operation_id) {
	case OSSL_OP_SIGNATURE:
	case OSSL_OP_ASYM_CIPHER:
		return "SMIMEKIT-RSA";
	default:
		return NULL;
	}
}

/* A key of the parameters alone (EC: the group), for a dup that asks
 * for no key; NULL for RSA, which has none. */
static EVP_PKEY *
params_only(struct smk_prov *prov, EVP_PKEY *pub)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;

	if (EVP_PKEY_todata(pub, EVP_PKEY_KEY_PARAMETERS, &params) != 1)
		return NULL;
	ctx = EVP_PKEY_CTX_new_from_name(prov->libctx, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEY_PARAMETERS, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pk;
}

/* dup: with the private key selected, another reference to the same
 * token item (there is nothing to copy).  Without it, a key of its own
 * holding a copy of the public key or only the parameters: the CMS code
 * builds an ECDH originator's key with EVP_PKEY_copy_parameters (a dup of
 * the parameters) and then sets its point, which must not touch the
 * token key. */
static void *
km_dup(const void *keydata_from, int selection)
{
	const struct smk_prov_key *src = keydata_from;
	struct smk_prov_key *key;
	EVP_PKEY *pub;

	if (src == NULL)
		return NULL;
	if (src->item != NULL && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
		return smk_prov_key_new(src->prov, src->token, src->item);
	key = km_new(src->prov, src->type);
	pub = kpub(src);
	if (key == NULL || pub == NULL)
		return key;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
		key->pub = EVP_PKEY_dup(pub);
	else if (src->type == SMK_KEY_EC && (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
		key->pub = params_only(src->prov, pub);
	else
		return key;
	if (key->pub == NULL) {
		smk_prov_key_free(key);
		return NULL;
	}
	return key;
}

const OSSL_DISPATCH smk_prov_rsa_keymgmt_functions[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_rsa_new },
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
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_ec_new },
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free },
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_ec_load },
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_ec_import },
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_ec_import_types },
	{ OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))km_ec_set_params },
	{ OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))km_ec_settable_params },
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
