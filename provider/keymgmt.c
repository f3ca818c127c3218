/* keymgmt.c - RSA and EC key management: token keys and software keys
 *
 * A key here is a smk_prov_key, one of two kinds:
 *
 * - A token key: a reference to a key store item, handed out by the
 *   store loader (store.c) as an object reference.  What OpenSSL needs of
 *   it is answered from the item's public key (item->pub): its size and
 *   parameters, comparison with a certificate's key, and export of the
 *   public half, with which verification and encryption can run in
 *   another provider.  The private half never leaves the key store.
 *
 * - A software key (key->sw): OpenSSL 3.0 makes a key it generates or
 *   imports by type name ("RSA", "EC": `openssl genpkey`, the TLS code's
 *   ephemeral ECDHE keys and peer keys, EVP_PKEY_fromdata) with the first
 *   activated provider that manages the type.  With smimekit activated
 *   first, that is us, so we take such keys in and generate them, in the
 *   provider's own library context (the default provider there), and the
 *   operations run them in software.  A software key is never taken for
 *   a token key: it has no item, and it exports whole, as any software
 *   key does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "smk-prov.h"

#define SEL_PUB OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SEL_PRIV OSSL_KEYMGMT_SELECT_PRIVATE_KEY
#define SEL_DOMAIN OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS

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
	EVP_PKEY_free(key->sw);
	free(key);
}

EVP_PKEY *
smk_prov_key_pub(const struct smk_prov_key *key)
{
	if (key == NULL)
		return NULL;
	if (key->item != NULL)
		return key->item->pub;
	return (key->sw_parts & SEL_PUB) != 0 ? key->sw : NULL;
}

bool
smk_prov_key_private(const struct smk_prov_key *key)
{
	if (key == NULL)
		return false;
	if (key->item != NULL)
		return key->token != NULL;
	return (key->sw_parts & SEL_PRIV) != 0;
}

static const char *
type_name(enum smk_key_type type)
{
	return type == SMK_KEY_RSA ? "RSA" : "EC";
}

/* What a software key holds, as selection bits (the default provider's
 * has() answers the same, but it is not reachable through the EVP API). */
static int
sw_probe(EVP_PKEY *pk, enum smk_key_type type)
{
	BIGNUM *bn = NULL;
	size_t len = 0;
	int parts = OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS;

	ERR_set_mark();
	if (type == SMK_KEY_RSA) {
		parts |= SEL_DOMAIN;	/* RSA has none: never missing */
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn))
			parts |= SEL_PUB;
		BN_free(bn);
		bn = NULL;
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_D, &bn))
			parts |= SEL_PRIV;
	} else {
		if (EVP_PKEY_get_bits(pk) > 0)
			parts |= SEL_DOMAIN;
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0, &len) &&
		    len > 0)
			parts |= SEL_PUB;
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bn))
			parts |= SEL_PRIV;
	}
	BN_clear_free(bn);
	ERR_pop_to_mark();
	return parts;
}

static void
sw_set(struct smk_prov_key *key, EVP_PKEY *pk)
{
	EVP_PKEY_free(key->sw);
	key->sw = pk;
	key->sw_parts = pk != NULL ? sw_probe(pk, key->type) : 0;
}

/* A software key of the given type made from params in our library
 * context (the default provider there), NULL on failure. */
static EVP_PKEY *
sw_fromdata(struct smk_prov *prov, enum smk_key_type type, int selection, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(prov->libctx, type_name(type), NULL);
	EVP_PKEY *pk = NULL;

	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* The selected parts of pk, copied into a software key of our own. */
static EVP_PKEY *
sw_copy(struct smk_prov *prov, enum smk_key_type type, EVP_PKEY *pk, int selection)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY *out;

	if (EVP_PKEY_todata(pk, selection, &params) != 1)
		return NULL;
	out = sw_fromdata(prov, type, selection, params);
	OSSL_PARAM_free(params);	/* clears the secret part (secure heap block) */
	return out;
}

/* One of the default provider's parameter lists for the type (get:
 * EVP_KEYMGMT_gettable_params etc.), from its key management in our
 * context: our lists for software keys.  They are static data of the
 * default provider, which stays loaded with our context. */
static const OSSL_PARAM *
sw_list(void *provctx, enum smk_key_type type, const OSSL_PARAM *(*get)(const EVP_KEYMGMT *))
{
	struct smk_prov *prov = provctx;
	EVP_KEYMGMT *km = EVP_KEYMGMT_fetch(prov->libctx, type_name(type), NULL);
	const OSSL_PARAM *list = km != NULL ? get(km) : NULL;

	EVP_KEYMGMT_free(km);
	return list;
}

/* The key to answer questions with: the token item's public key or the
 * software key. */
static EVP_PKEY *
kq(const struct smk_prov_key *key)
{
	return key == NULL ? NULL : key->item != NULL ? key->item->pub : key->sw;
}

/* ---- new, free, load ---------------------------------------------------------- */

/* new: an empty key, which import or gen fills with a software key.
 * OpenSSL also makes one to move another provider's key here (an ECDH
 * peer for the exchange); failing new would leave a false "malloc
 * failure" on the error queue. */
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

/* ---- import and export ------------------------------------------------------- */

/* import: into an empty key only (a token key is never changed); the
 * result is a software key, whatever it holds. */
static int
km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;
	EVP_PKEY *pk;

	if (key == NULL || key->item != NULL || key->sw != NULL || params == NULL)
		return 0;
	pk = sw_fromdata(key->prov, key->type, selection, (OSSL_PARAM *)params);
	if (pk == NULL)
		return 0;
	sw_set(key, pk);
	return 1;
}

/* export: a software key whole (what is selected); a token key's public
 * half and parameters only, and nothing for a request of the private key
 * alone. */
static int
km_export(void *keydata, int selection, OSSL_CALLBACK *param_cb, void *cbarg)
{
	struct smk_prov_key *key = keydata;
	OSSL_PARAM *params = NULL;
	int sel = 0, ok;

	if (key == NULL)
		return 0;
	if (key->item == NULL)
		return key->sw != NULL && EVP_PKEY_export(key->sw, selection, param_cb, cbarg) == 1;
	if ((selection & SEL_PUB) != 0)
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

static const OSSL_PARAM km_rsa_types[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_D, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR1, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR2, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT1, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT2, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_COEFFICIENT1, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM km_ec_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_P, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_A, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_B, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_GENERATOR, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_ORDER, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_COFACTOR, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_SEED, NULL, 0),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_USE_COFACTOR_ECDH, NULL),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_rsa_types_fn(int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0 ? km_rsa_types : NULL;
}

static const OSSL_PARAM *
km_ec_types_fn(int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_ALL) != 0 ? km_ec_types : NULL;
}

/* ---- generation: software keys, by the default provider in our context ------ */

struct kmgen {
	struct smk_prov *prov;
	enum smk_key_type type;
	EVP_PKEY_CTX *ctx;
};

static void
km_gen_cleanup(void *genctx)
{
	struct kmgen *g = genctx;

	if (g == NULL)
		return;
	EVP_PKEY_CTX_free(g->ctx);
	free(g);
}

static void *
km_gen_init(void *provctx, int selection, const OSSL_PARAM params[], enum smk_key_type type)
{
	struct smk_prov *prov = provctx;
	struct kmgen *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->prov = prov;
	g->type = type;
	g->ctx = EVP_PKEY_CTX_new_from_name(prov->libctx, type_name(type), NULL);
	if (g->ctx == NULL ||
	    ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0 ? EVP_PKEY_keygen_init(g->ctx)
							    : EVP_PKEY_paramgen_init(g->ctx)) <= 0 ||
	    (params != NULL && EVP_PKEY_CTX_set_params(g->ctx, params) <= 0)) {
		km_gen_cleanup(g);
		return NULL;
	}
	return g;
}

static void *
km_rsa_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
	return km_gen_init(provctx, selection, params, SMK_KEY_RSA);
}

static void *
km_ec_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
	return km_gen_init(provctx, selection, params, SMK_KEY_EC);
}

static int
km_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
	struct kmgen *g = genctx;

	return g != NULL && (params == NULL || EVP_PKEY_CTX_set_params(g->ctx, params) > 0);
}

/* OpenSSL 3.0 asks with genctx NULL (EVP_PKEY_CTX_settable_params), which
 * is why the type is in the function, not taken from genctx. */
static const OSSL_PARAM *
km_rsa_gen_settable_params(void *genctx, void *provctx)
{
	(void)genctx;
	return sw_list(provctx, SMK_KEY_RSA, EVP_KEYMGMT_gen_settable_params);
}

static const OSSL_PARAM *
km_ec_gen_settable_params(void *genctx, void *provctx)
{
	(void)genctx;
	return sw_list(provctx, SMK_KEY_EC, EVP_KEYMGMT_gen_settable_params);
}

/* A template (EC): its curve, by name, for the key to be made (the TLS
 * code makes its ECDHE key with the server key as the template). */
static int
km_ec_gen_set_template(void *genctx, void *templ)
{
	struct kmgen *g = genctx;
	struct smk_prov_key *t = templ;
	EVP_PKEY *tp = kq(t);
	char group[80];

	if (g == NULL || tp == NULL ||
	    !EVP_PKEY_get_utf8_string_param(tp, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    NULL)) {
		smk_prov_error(g != NULL ? g->prov : NULL, SMK_PROV_R_KEY,
			       "the template key has no named curve");
		return 0;
	}
	return EVP_PKEY_CTX_set_group_name(g->ctx, group) > 0;
}

static void *
km_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
	struct kmgen *g = genctx;
	struct smk_prov_key *key;
	EVP_PKEY *pk = NULL;

	(void)cb;	/* progress: the default provider's, not passed on */
	(void)cbarg;
	if (g == NULL || EVP_PKEY_generate(g->ctx, &pk) <= 0)
		return NULL;
	key = km_new(g->prov, g->type);
	if (key == NULL) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	sw_set(key, pk);
	return key;
}

/* ---- questions ---------------------------------------------------------------- */

static int
km_has(const void *keydata, int selection)
{
	const struct smk_prov_key *key = keydata;

	if (key == NULL)
		return 0;
	if (key->item == NULL)
		return key->sw != NULL && (selection & ~key->sw_parts & OSSL_KEYMGMT_SELECT_ALL) == 0;
	/* The private half is on the token (it may need a login to use). */
	if ((selection & SEL_PRIV) != 0 && !key->item->private_stored)
		return 0;
	return 1;
}

static int
km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct smk_prov_key *a = keydata1, *b = keydata2;

	if (kq(a) == NULL || kq(b) == NULL)
		return 0;
	if (a->item != NULL && a->item == b->item)
		return 1;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
		return EVP_PKEY_eq(kq(a), kq(b)) == 1;
	if ((selection & SEL_DOMAIN) != 0)
		return EVP_PKEY_parameters_eq(kq(a), kq(b)) == 1;
	return 1;
}

static int
km_validate(const void *keydata, int selection, int checktype)
{
	const struct smk_prov_key *key = keydata;
	EVP_PKEY_CTX *ctx;
	int ok = 1;

	if (kq(key) == NULL || (ctx = EVP_PKEY_CTX_new_from_pkey(key->prov->libctx, kq(key), NULL)) == NULL)
		return 0;
	if (key->type == SMK_KEY_EC && (selection & SEL_DOMAIN) != 0)
		ok = EVP_PKEY_param_check(ctx) == 1;
	if (ok && (selection & SEL_PUB) != 0)
		ok = (checktype == OSSL_KEYMGMT_VALIDATE_QUICK_CHECK ? EVP_PKEY_public_check_quick(ctx)
								     : EVP_PKEY_public_check(ctx)) == 1;
	/* A token key's private half was checked against its public half
	 * when the key store joined them (by key id); a software key's is
	 * checked here. */
	if (ok && (selection & SEL_PRIV) != 0 && key->item == NULL)
		ok = ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR
			      ? EVP_PKEY_pairwise_check(ctx)
			      : EVP_PKEY_private_check(ctx)) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* get_params: answered by the public key (token) or the software key;
 * the default digest for a token key is ours to say. */
static int
km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;
	OSSL_PARAM *p;

	if (kq(key) == NULL)
		return 0;
	if (!EVP_PKEY_get_params(kq(key), params))
		return 0;
	if (key->item == NULL)
		return 1;
	p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
	if (p != NULL && !OSSL_PARAM_set_utf8_string(p, "SHA256"))
		return 0;
	return 1;
}

static const OSSL_PARAM *
km_rsa_gettable_params(void *provctx)
{
	return sw_list(provctx, SMK_KEY_RSA, EVP_KEYMGMT_gettable_params);
}

static const OSSL_PARAM *
km_ec_gettable_params(void *provctx)
{
	return sw_list(provctx, SMK_KEY_EC, EVP_KEYMGMT_gettable_params);
}

/* Whether params only say how the key is to be written (`openssl ec`
 * sets these before encoding even the public key); a token key takes
 * them as the no-op they are for it. */
static int
encoding_only(const OSSL_PARAM params[])
{
	static const char *const names[] = {
		OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC,
		OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		OSSL_PKEY_PARAM_EC_ENCODING,
	};

	for (const OSSL_PARAM *p = params; p->key != NULL; p++) {
		size_t i = 0;

		while (i < sizeof(names) / sizeof(names[0]) && strcmp(p->key, names[i]) != 0)
			i++;
		if (i == sizeof(names) / sizeof(names[0]))
			return 0;
	}
	return 1;
}

/* set_params: software keys (the TLS code sets the encoded point of a
 * peer key made from the curve; the CMS code that of an ECDH
 * originator); a token key is never changed, it takes only the
 * parameters of how it is written. */
static int
km_set_params(void *keydata, const OSSL_PARAM params[])
{
	struct smk_prov_key *key = keydata;

	if (key == NULL)
		return 0;
	if (params == NULL || params[0].key == NULL)
		return 1;
	if (key->item != NULL)
		return encoding_only(params);
	if (key->sw == NULL)
		return 0;
	if (EVP_PKEY_set_params(key->sw, (OSSL_PARAM *)params) != 1)
		return 0;
	key->sw_parts = sw_probe(key->sw, key->type);
	return 1;
}

static const OSSL_PARAM *
km_rsa_settable_params(void *provctx)
{
	return sw_list(provctx, SMK_KEY_RSA, EVP_KEYMGMT_settable_params);
}

static const OSSL_PARAM *
km_ec_settable_params(void *provctx)
{
	return sw_list(provctx, SMK_KEY_EC, EVP_KEYMGMT_settable_params);
}

/* The names under which provider.c registers the operations (see there
 * why they are not the standard ones); they serve software keys too. */
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

/* dup: a token key with the private key selected is another reference to
 * the same item (there is nothing to copy).  Otherwise a software key of
 * its own with the selected parts: the CMS code builds an ECDH
 * originator's key with EVP_PKEY_copy_parameters (a dup of the
 * parameters) and then sets its point, which must not touch the token
 * key. */
static void *
km_dup(const void *keydata_from, int selection)
{
	const struct smk_prov_key *src = keydata_from;
	struct smk_prov_key *key;
	EVP_PKEY *from;
	int sel;

	if (src == NULL)
		return NULL;
	if (src->item != NULL && (selection & SEL_PRIV) != 0)
		return smk_prov_key_new(src->prov, src->token, src->item);
	key = km_new(src->prov, src->type);
	from = kq(src);
	if (key == NULL || from == NULL)
		return key;
	sel = selection & (src->item != NULL ? OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | SEL_PUB
					     : src->sw_parts);
	if (src->type == SMK_KEY_RSA)
		sel &= OSSL_KEYMGMT_SELECT_KEYPAIR;	/* RSA has no parameters to copy */
	if ((sel & (OSSL_KEYMGMT_SELECT_KEYPAIR | SEL_DOMAIN)) == 0)
		return key;
	sw_set(key, sw_copy(src->prov, src->type, from, sel));
	if (key->sw == NULL) {
		smk_prov_key_free(key);
		return NULL;
	}
	return key;
}

#define KEYMGMT_FUNCTIONS(t)                                                                   \
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_##t##_new },                                \
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free },                                    \
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_##t##_load },                              \
	{ OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))km_##t##_gen_init },                      \
	{ OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))km_gen_set_params },                \
	{ OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))km_##t##_gen_settable_params }, \
	{ OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))km_gen },                                      \
	{ OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))km_gen_cleanup },                      \
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import },                                \
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_##t##_types_fn },                  \
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export },                                \
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_##t##_types_fn },                  \
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has },                                      \
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match },                                  \
	{ OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))km_validate },                            \
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params },                        \
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_##t##_gettable_params },        \
	{ OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))km_set_params },                        \
	{ OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))km_##t##_settable_params },        \
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_##t##_query_operation_name }, \
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup }

const OSSL_DISPATCH smk_prov_rsa_keymgmt_functions[] = {
	KEYMGMT_FUNCTIONS(rsa),
	{ 0, NULL },
};

const OSSL_DISPATCH smk_prov_ec_keymgmt_functions[] = {
	KEYMGMT_FUNCTIONS(ec),
	{ OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))km_ec_gen_set_template },
	{ 0, NULL },
};
