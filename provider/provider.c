/* provider.c - smimekit.so's entry point: OSSL_provider_init, the
 * provider's parameters, the algorithm tables and the shared services of
 * smk-prov.h (the lazily made key store, raising errors).
 *
 * The provider is a front over the lib/ key store, as the PKCS#11 module
 * is: it reads smimekit.conf (smk_config_load_default) the first time a
 * key store is needed, not at load, so an `openssl` command that never
 * touches a pkcs11: URI pays nothing for loading it.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "smk-config.h"
#include "smk-prov.h"
#include "smk-token-directory.h"

#define SMK_PROV_NAME "smimekit"
#define SMK_PROV_PROPS "provider=smimekit"

/* Every token type this front serves: local files and the directory. */
static const struct smk_token_backend *const prov_backends[] = {
	&smk_token_file_backend,
	&smk_token_directory_backend,
	NULL,
};

/* One lock for making the key store: provider contexts are few (one per
 * library context that loads us) and this runs once per context. */
static pthread_mutex_t ks_lock = PTHREAD_MUTEX_INITIALIZER;

/* fork(): the key store's own handlers (lib/smk-keystore.c) make its locks
 * fork-safe and the child keeps using the parent's key store.  ks_lock is
 * only held around making it: a child whose parent was making the key
 * store in another thread finds prov->ks still NULL (it is set once made)
 * and makes its own, so the lock is simply made anew there. */
static void
ks_lock_child(void)
{
	pthread_mutex_init(&ks_lock, NULL);
}

static pthread_once_t ks_atfork_once = PTHREAD_ONCE_INIT;

static void
ks_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, ks_lock_child);
}

static bool
debug_on(void)
{
	const char *d = getenv("SMIMEKIT_DEBUG");

	return d != NULL && d[0] != '\0' && strcmp(d, "0") != 0;
}

/* Key store messages: warnings and errors on stderr, as the PKCS#11
 * module does (the error that matters also goes on OpenSSL's queue). */
static void
prov_log_cb(void *ctx, enum smk_log_level level, const char *msg)
{
	(void)ctx;
	if (level < SMK_LOG_WARNING && !debug_on())
		return;
	fprintf(stderr, "smimekit provider: %s%s\n",
		level >= SMK_LOG_ERROR ? "error: " : level == SMK_LOG_WARNING ? "warning: " : "",
		msg);
}

struct smk_keystore *
smk_prov_keystore(struct smk_prov *prov)
{
	struct smk_keystore *ks;

	pthread_mutex_lock(&ks_lock);
	if (prov->ks == NULL && prov->ks_error == NULL) {
		struct smk_error err;
		struct smk_config *cfg;

		smk_error_clear(&err);
		cfg = smk_config_load_default(&err);
		if (cfg != NULL) {
			prov->ks = smk_keystore_new_ex(cfg, prov_backends, prov->libctx, prov_log_cb,
						       NULL, &err);
			smk_config_free(cfg);
		}
		if (prov->ks == NULL) {
			prov->ks_error = strdup(err.msg[0] != '\0' ? err.msg
								   : "cannot make the key store");
		}
	}
	ks = prov->ks;
	pthread_mutex_unlock(&ks_lock);
	if (ks == NULL)
		smk_prov_error(prov, SMK_PROV_R_CONFIG, "%s",
			       prov->ks_error != NULL ? prov->ks_error : "out of memory");
	return ks;
}

static void
prov_verror(struct smk_prov *prov, const char *file, int line, const char *func, int reason,
	    const char *fmt, va_list ap)
{
	if (prov == NULL || prov->core_new_error == NULL || prov->core_vset_error == NULL)
		return;
	prov->core_new_error(prov->handle);
	if (prov->core_set_error_debug != NULL)
		prov->core_set_error_debug(prov->handle, file, line, func);
	prov->core_vset_error(prov->handle, reason, fmt, ap);
}

void
smk_prov_error_at(struct smk_prov *prov, const char *file, int line, const char *func, int reason,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	prov_verror(prov, file, line, func, reason, fmt, ap);
	va_end(ap);
}

void
smk_prov_ks_error_at(struct smk_prov *prov, const char *file, int line, const char *func,
		     enum smk_ks_status st, const struct smk_error *err)
{
	const char *msg = err != NULL && err->msg[0] != '\0' ? err->msg : smk_ks_status_str(st);
	int reason;

	switch (st) {
	case SMK_KS_PIN_INCORRECT:
	case SMK_KS_PIN_LOCKED:
	case SMK_KS_PIN_INVALID:
	case SMK_KS_PIN_NOT_SET:
	case SMK_KS_NOT_LOGGED_IN:
		reason = SMK_PROV_R_PIN;
		break;
	case SMK_KS_UNAVAILABLE:
		reason = SMK_PROV_R_UNAVAILABLE;
		break;
	case SMK_KS_NOT_FOUND:
		reason = SMK_PROV_R_KEY;
		break;
	case SMK_KS_UNSUPPORTED:
	case SMK_KS_BAD_INPUT:
	case SMK_KS_BUFFER_TOO_SMALL:
		reason = SMK_PROV_R_PARAM;
		break;
	default:
		reason = SMK_PROV_R_OPERATION;
		break;
	}
	/* The key store's message names the cause; the status word is added
	 * when the message does not already say it. */
	if (strcmp(msg, smk_ks_status_str(st)) == 0)
		smk_prov_error_at(prov, file, line, func, reason, "%s", msg);
	else
		smk_prov_error_at(prov, file, line, func, reason, "%s (%s)", msg,
				  smk_ks_status_str(st));
}

/* ---- algorithm tables ------------------------------------------------------ */

static const OSSL_ALGORITHM prov_store[] = {
	{ "pkcs11", SMK_PROV_PROPS, smk_prov_store_functions,
	  "RFC 7512 pkcs11: URIs naming smimekit tokens, certificates and keys" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM prov_keymgmt[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", SMK_PROV_PROPS,
	  smk_prov_rsa_keymgmt_functions, "smimekit token RSA key" },
	{ "EC:id-ecPublicKey:1.2.840.10045.2.1", SMK_PROV_PROPS, smk_prov_ec_keymgmt_functions,
	  "smimekit token EC key" },
	{ NULL, NULL, NULL, NULL },
};

/* The private-key operations (signature.c, asym-cipher.c, exchange.c),
 * under names of their own.  keymgmt.c's query_operation_name gives
 * these names for token keys, so OpenSSL fetches them for token keys
 * only: a software key asks for "RSA"/"ECDSA"/"ECDH", which only the
 * default provider offers.  Under the standard names OpenSSL 3.0 would
 * take whichever provider was activated first for every key: with
 * smimekit first, software keys were exported here; with default first,
 * a token key's public half was exported there ("missing private key"). */
static const OSSL_ALGORITHM prov_signature[] = {
	{ "SMIMEKIT-RSA", SMK_PROV_PROPS, smk_prov_rsa_signature_functions,
	  "RSA signature with a smimekit token key" },
	{ "SMIMEKIT-ECDSA", SMK_PROV_PROPS, smk_prov_ecdsa_signature_functions,
	  "ECDSA with a smimekit token key" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM prov_asym_cipher[] = {
	{ "SMIMEKIT-RSA", SMK_PROV_PROPS, smk_prov_rsa_asym_cipher_functions,
	  "RSA decryption with a smimekit token key" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM prov_keyexch[] = {
	{ "SMIMEKIT-ECDH", SMK_PROV_PROPS, smk_prov_ecdh_keyexch_functions,
	  "ECDH with a smimekit token key" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *
prov_query_operation(void *provctx, int operation_id, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_STORE:
		return prov_store;
	case OSSL_OP_KEYMGMT:
		return prov_keymgmt;
	case OSSL_OP_SIGNATURE:
		return prov_signature;
	case OSSL_OP_ASYM_CIPHER:
		return prov_asym_cipher;
	case OSSL_OP_KEYEXCH:
		return prov_keyexch;
	case OSSL_OP_ENCODER:
		return smk_prov_encoders;	/* encoder.c: rows made with their tables */
	default:
		return NULL;
	}
}

/* ---- provider parameters --------------------------------------------------- */

static const OSSL_PARAM prov_param_types[] = {
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
prov_gettable_params(void *provctx)
{
	(void)provctx;
	return prov_param_types;
}

static int
prov_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)provctx;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "smimekit S/MIME key store provider"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, PACKAGE_VERSION))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, PACKAGE_STRING " built with " OPENSSL_VERSION_TEXT))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
	if (p != NULL && !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

/* ---- reason strings ---------------------------------------------------------- */

static const OSSL_ITEM prov_reasons[] = {
	{ SMK_PROV_R_CONFIG, "smimekit configuration error" },
	{ SMK_PROV_R_URI, "bad pkcs11 URI" },
	{ SMK_PROV_R_PIN, "PIN error" },
	{ SMK_PROV_R_UNAVAILABLE, "directory unavailable" },
	{ SMK_PROV_R_KEY, "unusable key" },
	{ SMK_PROV_R_PARAM, "bad parameters" },
	{ SMK_PROV_R_OPERATION, "key store operation failed" },
	{ 0, NULL },
};

static const OSSL_ITEM *
prov_get_reason_strings(void *provctx)
{
	(void)provctx;
	return prov_reasons;
}

/* ---- init and teardown --------------------------------------------------------- */

static void
prov_teardown(void *provctx)
{
	struct smk_prov *prov = provctx;

	if (prov == NULL)
		return;
	smk_keystore_free(prov->ks);
	free(prov->ks_error);
	OSSL_LIB_CTX_free(prov->libctx);
	free(prov);
}

static const OSSL_DISPATCH prov_functions[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))prov_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query_operation },
	{ OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))prov_get_reason_strings },
	{ OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))smk_prov_get_capabilities },
	{ 0, NULL },
};

/* The one symbol the module exports (the build hides all others). */
__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		       const OSSL_DISPATCH **out, void **provctx);

int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		   const OSSL_DISPATCH **out, void **provctx)
{
	const OSSL_DISPATCH *core_in = in;	/* the loop below moves in */
	struct smk_prov *prov;

	prov = calloc(1, sizeof(*prov));
	if (prov == NULL)
		return 0;
	prov->handle = handle;
	pthread_once(&ks_atfork_once, ks_atfork);
	for (; in != NULL && in->function_id != 0; in++) {
		switch (in->function_id) {
		case OSSL_FUNC_CORE_NEW_ERROR:
			prov->core_new_error = OSSL_FUNC_core_new_error(in);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			prov->core_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			prov->core_vset_error = OSSL_FUNC_core_vset_error(in);
			break;
		default:
			break;
		}
	}
	/* Software work (hashing before a token signature, public-key
	 * checks) runs in a library context of our own, so it can never
	 * recurse into this provider.  Made from the core's dispatch table
	 * so that it has the core's BIO functions: encoder.c writes to the
	 * core's BIOs (BIO_new_from_core_bio) through it. */
	prov->libctx = OSSL_LIB_CTX_new_from_dispatch(handle, core_in);
	if (prov->libctx == NULL) {
		free(prov);
		return 0;
	}
	*out = prov_functions;
	*provctx = prov;
	return 1;
}
