/* encoder.c - encoders for the provider's keys: text for `openssl
 * storeutl -text` and `pkey -text`, and a clear refusal when a token's
 * private key is asked for as PEM or DER
 *
 * OpenSSL 3.0 tries the encoders of the key's own provider first, and the
 * first one that fits the output type and structure is the only one
 * tried: without encoders here, the default provider's were used on the
 * exported public half, so a token key printed as "Private-Key: (2048
 * bit, 0 primes)" followed by an error, and `openssl pkey` without
 * -pubout failed with "malloc failure".  With these encoders:
 *
 *  - text (RSA, EC): for a token key and a selection with the private
 *    key, lines saying that the private key is held in a smimekit token
 *    (token, label, id, a pkcs11: URI naming it; never key material),
 *    then the public key exactly as `openssl pkey -text_pub` prints it.
 *    A selection without the private key gets only the latter.
 *  - PEM, DER, MSBLOB, PVK in every structure that can hold a private key
 *    (PrivateKeyInfo, EncryptedPrivateKeyInfo, type-specific, pkcs1/rsa,
 *    ec/X9.62): for a token key, a selection with the private key fails
 *    with an error saying the key cannot leave the token; one without it
 *    (RSAPublicKey, EC parameters) is written as a software key would be.
 *  - Any key of our key management that is not on a token (software keys,
 *    ECDH peers) is handed on unchanged: the key management's export
 *    (the same call OpenSSL makes to move a key to another provider) into
 *    a key in the provider's own library context, encoded there by the
 *    default provider with the same output type, structure, selection,
 *    cipher and passphrase callback.  The result is what OpenSSL gives
 *    without these encoders.
 *
 * Public-key-only structures (SubjectPublicKeyInfo, EC blob) are not
 * registered: OpenSSL exports the public half into the default provider,
 * which writes them (`openssl pkey -pubout`).  The encoders have no
 * import_object, so OpenSSL never offers them keys of another provider.
 *
 * Output goes to the core's BIO through BIO_new_from_core_bio, which
 * needs the provider's library context made with
 * OSSL_LIB_CTX_new_from_dispatch (provider.c).
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/params.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "smk-prov.h"

/* What one registered encoder is: its key type, output and structure,
 * and the selections it takes (as OpenSSL's own encoders for the same
 * output and structure take them, so a request lands here exactly when
 * it would land on those). */
struct enc_desc {
	enum smk_key_type type;
	const char *output;		/* "text", "pem", "der", "msblob", "pvk" */
	const char *structure;		/* NULL: none */
	int mask;			/* selections it does */
};

/* One encoding: the settings OpenSSL gives with set_ctx_params, passed on
 * to the default provider's encoder when the key is handed on. */
struct enc_ctx {
	struct smk_prov *prov;
	const struct enc_desc *desc;
	char *cipher, *cipher_props;
	int save_parameters, encrypt_level;
	bool save_parameters_set, encrypt_level_set;
};

#define SEL_PRIVATE OSSL_KEYMGMT_SELECT_PRIVATE_KEY
#define SEL_PUBLIC OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SEL_PARAMS OSSL_KEYMGMT_SELECT_ALL_PARAMETERS

static void *
enc_newctx(void *provctx, const struct enc_desc *desc)
{
	struct enc_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx != NULL) {
		ctx->prov = provctx;
		ctx->desc = desc;
	}
	return ctx;
}

static void
enc_freectx(void *vctx)
{
	struct enc_ctx *ctx = vctx;

	if (ctx == NULL)
		return;
	free(ctx->cipher);
	free(ctx->cipher_props);
	free(ctx);
}

static bool
set_string(char **dst, const OSSL_PARAM *p)
{
	const char *s = NULL;
	char *copy = NULL;

	if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
		return false;
	if (s != NULL && (copy = strdup(s)) == NULL)
		return false;
	free(*dst);
	*dst = copy;
	return true;
}

static int
enc_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct enc_ctx *ctx = vctx;
	const OSSL_PARAM *p;

	if (ctx == NULL)
		return 0;
	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_CIPHER);
	if (p != NULL && !set_string(&ctx->cipher, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_PROPERTIES);
	if (p != NULL && !set_string(&ctx->cipher_props, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_SAVE_PARAMETERS);
	if (p != NULL) {
		if (!OSSL_PARAM_get_int(p, &ctx->save_parameters))
			return 0;
		ctx->save_parameters_set = true;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_ENCRYPT_LEVEL);
	if (p != NULL) {
		if (!OSSL_PARAM_get_int(p, &ctx->encrypt_level))
			return 0;
		ctx->encrypt_level_set = true;
	}
	return 1;
}

static const OSSL_PARAM enc_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_CIPHER, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_int(OSSL_ENCODER_PARAM_SAVE_PARAMETERS, NULL),
	OSSL_PARAM_int(OSSL_ENCODER_PARAM_ENCRYPT_LEVEL, NULL),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
enc_settable_ctx_params(void *provctx)
{
	(void)provctx;
	return enc_settable;
}

/* As OpenSSL's encoders decide: the most significant part asked for
 * (private key, then public key, then parameters) must be one this
 * encoder writes.  Selection 0 (guessing) is taken. */
static int
does_selection(const struct enc_desc *desc, int selection)
{
	static const int order[] = { SEL_PRIVATE, SEL_PUBLIC, SEL_PARAMS };

	if (selection == 0)
		return 1;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if ((selection & order[i]) != 0)
			return (desc->mask & order[i]) != 0;
	}
	return 0;
}

/* ---- handing a key on to the default provider ------------------------------ */

/* The export function of our key management for the key's type: what
 * OpenSSL itself would call to move the key to another provider. */
static OSSL_FUNC_keymgmt_export_fn *
km_export_fn(enum smk_key_type type)
{
	const OSSL_DISPATCH *d = type == SMK_KEY_RSA ? smk_prov_rsa_keymgmt_functions
						     : smk_prov_ec_keymgmt_functions;

	for (; d->function_id != 0; d++) {
		if (d->function_id == OSSL_FUNC_KEYMGMT_EXPORT)
			return OSSL_FUNC_keymgmt_export(d);
	}
	return NULL;
}

struct import_arg {
	struct smk_prov *prov;
	enum smk_key_type type;
	int selection;
	EVP_PKEY *pk;
};

static int
import_cb(const OSSL_PARAM params[], void *varg)
{
	struct import_arg *a = varg;
	EVP_PKEY_CTX *pctx;
	int ok;

	pctx = EVP_PKEY_CTX_new_from_name(a->prov->libctx, a->type == SMK_KEY_RSA ? "RSA" : "EC",
					  NULL);
	if (pctx == NULL)
		return 0;
	ok = EVP_PKEY_fromdata_init(pctx) == 1 &&
	     EVP_PKEY_fromdata(pctx, &a->pk, a->selection, (OSSL_PARAM *)params) == 1;
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

/* A software copy of the parts `selection` names (with the private key,
 * the public key too, as OpenSSL asks), in the provider's library
 * context; NULL with an error raised if the key management will not give
 * them. */
static EVP_PKEY *
software_copy(struct smk_prov *prov, void *keydata, enum smk_key_type type, int selection)
{
	OSSL_FUNC_keymgmt_export_fn *export_fn = km_export_fn(type);
	struct import_arg a = { prov, type, selection, NULL };

	if ((selection & SEL_PRIVATE) != 0)
		a.selection |= SEL_PUBLIC;
	if (export_fn == NULL || !export_fn(keydata, a.selection, import_cb, &a)) {
		EVP_PKEY_free(a.pk);
		smk_prov_error(prov, SMK_PROV_R_KEY, "the key cannot be exported for encoding");
		return NULL;
	}
	return a.pk;
}

/* Encodes the parts `selection` names of the key as the default provider
 * does (see the header comment), to cout. */
static int
hand_on(struct enc_ctx *ctx, void *keydata, enum smk_key_type type, OSSL_CORE_BIO *cout,
	int selection, const char *output, const char *structure, OSSL_PASSPHRASE_CALLBACK *cb,
	void *cbarg)
{
	OSSL_ENCODER_CTX *ectx = NULL;
	OSSL_PARAM params[3], *p = params;
	EVP_PKEY *pk;
	BIO *out = NULL;
	int ok = 0;

	pk = software_copy(ctx->prov, keydata, type, selection);
	if (pk == NULL)
		return 0;
	ectx = OSSL_ENCODER_CTX_new_for_pkey(pk, selection, output, structure, NULL);
	if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
		smk_prov_error(ctx->prov, SMK_PROV_R_KEY, "no %s%s%s encoder for this key", output,
			       structure != NULL ? " " : "", structure != NULL ? structure : "");
		goto out;
	}
	if (ctx->cipher != NULL && !OSSL_ENCODER_CTX_set_cipher(ectx, ctx->cipher, ctx->cipher_props))
		goto out;
	if (ctx->save_parameters_set)
		*p++ = OSSL_PARAM_construct_int(OSSL_ENCODER_PARAM_SAVE_PARAMETERS,
						&ctx->save_parameters);
	if (ctx->encrypt_level_set)
		*p++ = OSSL_PARAM_construct_int(OSSL_ENCODER_PARAM_ENCRYPT_LEVEL,
						&ctx->encrypt_level);
	*p = OSSL_PARAM_construct_end();
	if (p != params && !OSSL_ENCODER_CTX_set_params(ectx, params))
		goto out;
	if (cb != NULL && !OSSL_ENCODER_CTX_set_passphrase_cb(ectx, cb, cbarg))
		goto out;
	out = BIO_new_from_core_bio(ctx->prov->libctx, cout);
	if (out == NULL) {
		smk_prov_error(ctx->prov, SMK_PROV_R_KEY, "cannot write to the output");
		goto out;
	}
	ok = OSSL_ENCODER_to_bio(ectx, out);
out:
	BIO_free(out);
	OSSL_ENCODER_CTX_free(ectx);
	EVP_PKEY_free(pk);
	return ok;
}

/* ---- token keys ---------------------------------------------------------------- */

/* The token's info; its label is what `pkcs11:token=` matches.  Returns
 * the label, or the configuration section's name if the token cannot say
 * (a directory that is down). */
static const char *
token_name(const struct smk_prov_key *key, struct smk_token_info *info)
{
	struct smk_error err;

	smk_error_clear(&err);
	memset(info, 0, sizeof(*info));
	if (smk_token_info(key->token, info, &err) != SMK_KS_OK || info->label[0] == '\0')
		return info->name;
	return info->label;
}

/* A pkcs11: URI naming the key (token label, object label, id,
 * type=private), escaped by p11-kit; NULL if it cannot be made. */
static char *
key_uri(const char *token, const struct smk_item *it)
{
	P11KitUri *uri = p11_kit_uri_new();
	CK_TOKEN_INFO *ti;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE attr;
	char *s = NULL;
	size_t n;

	if (uri == NULL)
		return NULL;
	ti = p11_kit_uri_get_token_info(uri);
	n = strlen(token);
	memset(ti->label, ' ', sizeof(ti->label));
	memcpy(ti->label, token, n < sizeof(ti->label) ? n : sizeof(ti->label));
	attr = (CK_ATTRIBUTE){ CKA_LABEL, it->label, strlen(it->label) };
	if (p11_kit_uri_set_attribute(uri, &attr) != P11_KIT_URI_OK)
		goto out;
	attr = (CK_ATTRIBUTE){ CKA_ID, (void *)it->id, it->id_len };
	if (p11_kit_uri_set_attribute(uri, &attr) != P11_KIT_URI_OK)
		goto out;
	attr = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	if (p11_kit_uri_set_attribute(uri, &attr) != P11_KIT_URI_OK)
		goto out;
	if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) != P11_KIT_URI_OK)
		s = NULL;
out:
	p11_kit_uri_free(uri);
	return s;
}

/* The lines about where the private key is, before the public key.  The
 * token's label is what `pkcs11:token=` matches; the configuration
 * section is named when it differs. */
static int
print_token_lines(struct enc_ctx *ctx, const struct smk_prov_key *key, BIO *out)
{
	const struct smk_item *it = key->item;
	struct smk_token_info info;
	const char *token = token_name(key, &info);
	char group[64] = "";
	char *uri = NULL;
	int ok;

	if (key->type == SMK_KEY_EC)
		(void)EVP_PKEY_get_utf8_string_param(it->pub, OSSL_PKEY_PARAM_GROUP_NAME, group,
						     sizeof(group), NULL);
	ok = BIO_printf(out, "Private-Key: (%d bit %s%s%s, held in smimekit token '%s'",
			EVP_PKEY_get_bits(it->pub), key->type == SMK_KEY_RSA ? "RSA" : "EC",
			group[0] != '\0' ? " " : "", group, token) > 0;
	ok = ok && BIO_printf(out, "; the key material never leaves the token)\n") > 0;
	ok = ok && BIO_printf(out, "token: %s\n", token) > 0;
	if (ok && strcmp(info.name, token) != 0)
		ok = BIO_printf(out, "token section: [token %s]\n", info.name) > 0;
	if (ok && info.model[0] != '\0')
		ok = BIO_printf(out, "token model: %s\ntoken serial: %s\n", info.model, info.serial) > 0;
	ok = ok && BIO_printf(out, "label: %s\nid: ", it->label) > 0;
	for (size_t i = 0; ok && i < it->id_len; i++)
		ok = BIO_printf(out, "%02x", it->id[i]) > 0;
	ok = ok && BIO_printf(out, "\n") > 0;
	if (ok && (uri = key_uri(token, it)) != NULL)
		ok = BIO_printf(out, "uri: %s\n", uri) > 0;
	free(uri);
	if (!ok)
		smk_prov_error(ctx->prov, SMK_PROV_R_KEY, "cannot write to the output");
	return ok;
}

static int
token_text(struct enc_ctx *ctx, const struct smk_prov_key *key, OSSL_CORE_BIO *cout, int selection)
{
	BIO *out;
	int ok;

	if ((selection & SEL_PRIVATE) == 0)
		return hand_on(ctx, (void *)key, key->type, cout, selection, "TEXT", NULL, NULL, NULL);
	out = BIO_new_from_core_bio(ctx->prov->libctx, cout);
	if (out == NULL) {
		smk_prov_error(ctx->prov, SMK_PROV_R_KEY, "cannot write to the output");
		return 0;
	}
	ok = print_token_lines(ctx, key, out);
	BIO_free(out);
	/* then the public key and parameters, as -text_pub prints them */
	return ok && hand_on(ctx, (void *)key, key->type, cout, SEL_PUBLIC | SEL_PARAMS, "TEXT",
			     NULL, NULL, NULL);
}

static int
token_refuse(struct enc_ctx *ctx, const struct smk_prov_key *key)
{
	struct smk_token_info info;
	const char *token = token_name(key, &info);

	char out[16];
	size_t i;

	/* "PEM", "DER", "MSBLOB", "PVK" */
	for (i = 0; i + 1 < sizeof(out) && ctx->desc->output[i] != '\0'; i++)
		out[i] = (char)toupper((unsigned char)ctx->desc->output[i]);
	out[i] = '\0';
	smk_prov_error(ctx->prov, SMK_PROV_R_KEY,
		       "private key '%s' of smimekit token '%s' cannot be written as %s: the key "
		       "material never leaves the token (only the public key can: openssl pkey "
		       "-pubout)",
		       key->item->label, token, out);
	return 0;
}

static int
enc_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj, const OSSL_PARAM obj_abstract[],
	   int selection, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
	struct enc_ctx *ctx = vctx;
	const struct smk_prov_key *key = obj;
	const struct enc_desc *d;

	if (ctx == NULL)
		return 0;
	d = ctx->desc;
	if (key == NULL || obj_abstract != NULL || key->type != d->type) {
		smk_prov_error(ctx->prov, SMK_PROV_R_KEY, "not a smimekit %s key",
			       d->type == SMK_KEY_RSA ? "RSA" : "EC");
		return 0;
	}
	/* Keys not on a token are not ours to describe: encoded as the
	 * default provider encodes them. */
	if (key->token == NULL || key->item == NULL)
		return hand_on(ctx, (void *)key, key->type, cout, selection, d->output, d->structure,
			       cb, cbarg);
	if (strcmp(d->output, "text") == 0)
		return token_text(ctx, key, cout, selection);
	if ((selection & SEL_PRIVATE) != 0)
		return token_refuse(ctx, key);
	return hand_on(ctx, (void *)key, key->type, cout, selection, d->output, d->structure, cb,
		       cbarg);
}

/* ---- the encoders ------------------------------------------------------------- */

#define KEYPAIR (SEL_PRIVATE | SEL_PUBLIC)
#define NO_PUB (SEL_PRIVATE | SEL_PARAMS)
#define ANY (SEL_PRIVATE | SEL_PUBLIC | SEL_PARAMS)

/* One encoder: its description, a newctx and does_selection that know it,
 * and its dispatch table.  The masks are those of OpenSSL's encoders of
 * the same output and structure. */
#define ENCODER(id, keytype, out, strct, selmask)                                                \
	static const struct enc_desc id##_desc = { keytype, out, strct, selmask };               \
	static void *id##_newctx(void *provctx)                                                  \
	{                                                                                        \
		return enc_newctx(provctx, &id##_desc);                                          \
	}                                                                                        \
	static int id##_does_selection(void *provctx, int selection)                             \
	{                                                                                        \
		(void)provctx;                                                                   \
		return does_selection(&id##_desc, selection);                                    \
	}                                                                                        \
	static const OSSL_DISPATCH id##_functions[] = {                                          \
		{ OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))id##_newctx },                        \
		{ OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx },                       \
		{ OSSL_FUNC_ENCODER_SET_CTX_PARAMS, (void (*)(void))enc_set_ctx_params },         \
		{ OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS, (void (*)(void))enc_settable_ctx_params }, \
		{ OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))id##_does_selection },        \
		{ OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode },                         \
		{ 0, NULL },                                                                     \
	}

ENCODER(rsa_text, SMK_KEY_RSA, "text", NULL, ANY);
ENCODER(rsa_pki_der, SMK_KEY_RSA, "der", "PrivateKeyInfo", SEL_PRIVATE);
ENCODER(rsa_pki_pem, SMK_KEY_RSA, "pem", "PrivateKeyInfo", SEL_PRIVATE);
ENCODER(rsa_epki_der, SMK_KEY_RSA, "der", "EncryptedPrivateKeyInfo", SEL_PRIVATE);
ENCODER(rsa_epki_pem, SMK_KEY_RSA, "pem", "EncryptedPrivateKeyInfo", SEL_PRIVATE);
ENCODER(rsa_ts_der, SMK_KEY_RSA, "der", "type-specific", KEYPAIR);
ENCODER(rsa_ts_pem, SMK_KEY_RSA, "pem", "type-specific", KEYPAIR);
ENCODER(rsa_rsa_der, SMK_KEY_RSA, "der", "rsa", KEYPAIR);
ENCODER(rsa_rsa_pem, SMK_KEY_RSA, "pem", "rsa", KEYPAIR);
ENCODER(rsa_pkcs1_der, SMK_KEY_RSA, "der", "pkcs1", KEYPAIR);
ENCODER(rsa_pkcs1_pem, SMK_KEY_RSA, "pem", "pkcs1", KEYPAIR);
ENCODER(rsa_msblob, SMK_KEY_RSA, "msblob", NULL, KEYPAIR);
ENCODER(rsa_pvk, SMK_KEY_RSA, "pvk", NULL, SEL_PRIVATE);

ENCODER(ec_text, SMK_KEY_EC, "text", NULL, ANY);
ENCODER(ec_pki_der, SMK_KEY_EC, "der", "PrivateKeyInfo", SEL_PRIVATE);
ENCODER(ec_pki_pem, SMK_KEY_EC, "pem", "PrivateKeyInfo", SEL_PRIVATE);
ENCODER(ec_epki_der, SMK_KEY_EC, "der", "EncryptedPrivateKeyInfo", SEL_PRIVATE);
ENCODER(ec_epki_pem, SMK_KEY_EC, "pem", "EncryptedPrivateKeyInfo", SEL_PRIVATE);
ENCODER(ec_ts_der, SMK_KEY_EC, "der", "type-specific", NO_PUB);
ENCODER(ec_ts_pem, SMK_KEY_EC, "pem", "type-specific", NO_PUB);
ENCODER(ec_ec_der, SMK_KEY_EC, "der", "ec", NO_PUB);
ENCODER(ec_ec_pem, SMK_KEY_EC, "pem", "ec", NO_PUB);
ENCODER(ec_x962_der, SMK_KEY_EC, "der", "X9.62", NO_PUB);
ENCODER(ec_x962_pem, SMK_KEY_EC, "pem", "X9.62", NO_PUB);

/* The names are the key management's (provider.c), so OpenSSL pairs
 * these encoders with our keys. */
#define RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define PROPS "provider=smimekit,output="

const OSSL_ALGORITHM smk_prov_encoders[] = {
	{ RSA_NAMES, PROPS "text", rsa_text_functions, "smimekit RSA key as text" },
	{ RSA_NAMES, PROPS "der,structure=PrivateKeyInfo", rsa_pki_der_functions, NULL },
	{ RSA_NAMES, PROPS "pem,structure=PrivateKeyInfo", rsa_pki_pem_functions, NULL },
	{ RSA_NAMES, PROPS "der,structure=EncryptedPrivateKeyInfo", rsa_epki_der_functions, NULL },
	{ RSA_NAMES, PROPS "pem,structure=EncryptedPrivateKeyInfo", rsa_epki_pem_functions, NULL },
	{ RSA_NAMES, PROPS "der,structure=type-specific", rsa_ts_der_functions, NULL },
	{ RSA_NAMES, PROPS "pem,structure=type-specific", rsa_ts_pem_functions, NULL },
	{ RSA_NAMES, PROPS "der,structure=rsa", rsa_rsa_der_functions, NULL },
	{ RSA_NAMES, PROPS "pem,structure=rsa", rsa_rsa_pem_functions, NULL },
	{ RSA_NAMES, PROPS "der,structure=pkcs1", rsa_pkcs1_der_functions, NULL },
	{ RSA_NAMES, PROPS "pem,structure=pkcs1", rsa_pkcs1_pem_functions, NULL },
	{ RSA_NAMES, PROPS "msblob", rsa_msblob_functions, NULL },
	{ RSA_NAMES, PROPS "pvk", rsa_pvk_functions, NULL },
	{ EC_NAMES, PROPS "text", ec_text_functions, "smimekit EC key as text" },
	{ EC_NAMES, PROPS "der,structure=PrivateKeyInfo", ec_pki_der_functions, NULL },
	{ EC_NAMES, PROPS "pem,structure=PrivateKeyInfo", ec_pki_pem_functions, NULL },
	{ EC_NAMES, PROPS "der,structure=EncryptedPrivateKeyInfo", ec_epki_der_functions, NULL },
	{ EC_NAMES, PROPS "pem,structure=EncryptedPrivateKeyInfo", ec_epki_pem_functions, NULL },
	{ EC_NAMES, PROPS "der,structure=type-specific", ec_ts_der_functions, NULL },
	{ EC_NAMES, PROPS "pem,structure=type-specific", ec_ts_pem_functions, NULL },
	{ EC_NAMES, PROPS "der,structure=ec", ec_ec_der_functions, NULL },
	{ EC_NAMES, PROPS "pem,structure=ec", ec_ec_pem_functions, NULL },
	{ EC_NAMES, PROPS "der,structure=X9.62", ec_x962_der_functions, NULL },
	{ EC_NAMES, PROPS "pem,structure=X9.62", ec_x962_pem_functions, NULL },
	{ NULL, NULL, NULL, NULL },
};
