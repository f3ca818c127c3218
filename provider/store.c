/* store.c - the store loader for RFC 7512 pkcs11: URIs
 *
 * `openssl ... -in 'pkcs11:token=alice;object=alice-rsa;type=private'`
 * lands here (OSSL_STORE scheme "pkcs11").  The URI is parsed by
 * p11-kit's URI parser; tokens are matched on their PKCS#11 token info
 * (token=, manufacturer=, model=, serial=), objects on class, label and id
 * as the PKCS#11 module shows them, so one URI names the same object
 * through either front.
 *
 * What comes out: certificates as DER (OSSL_OBJECT_CERT), private keys as
 * references to a smk_prov_key (OSSL_OBJECT_PKEY, handled by keymgmt.c,
 * never key material), public keys as their SubjectPublicKeyInfo.
 *
 * Login: only when private keys are asked for (type=private, or the
 * caller expects keys, or the URI gives a PIN).  The PIN comes from
 * pin-value=, pin-source= (a file), or else the passphrase callback, so
 * `openssl` prompts.  Every failure (a URI that is malformed or names
 * nothing, a wrong or locked PIN, the directory down) is an error that
 * names the cause; nothing falls back silently.  The URI itself never
 * goes into a message: it may hold a PIN.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "smk-config.h"
#include "smk-file.h"
#include "smk-prov.h"

#define STORE_PIN_FILE_MAX 4096
#define STORE_MANUFACTURER "smimekit"

enum obj_kind {
	OBJ_CERT,
	OBJ_PRIVATE,
	OBJ_PUBLIC,
};

struct store_obj {
	enum obj_kind kind;
	struct smk_prov_key *key;	/* the reference handed out (OBJ_PRIVATE) */
	struct smk_item *item;		/* one reference */
};

struct store_ctx {
	struct smk_prov *prov;
	P11KitUri *uri;
	int expect;			/* OSSL_STORE_INFO_* or 0 */
	bool resolved;			/* the objects are listed */
	bool failed;			/* listing them failed */
	bool failed_seen;		/* ... and a load after that: eof */
	struct store_obj *objs;
	size_t n, next;
};

/* ---- URI checks ------------------------------------------------------------ */

/* The attributes understood here.  p11-kit accepts more (slot-*,
 * vendor queries) and would let them pass unnoticed; an attribute that
 * restricts what is meant must never be ignored silently. */
static const char *const path_attrs[] = {
	"token", "manufacturer", "model", "serial", "object", "id", "type",
	"library-manufacturer", "library-description", "library-version",
	/* query attributes in RFC 7512, accepted in the path too as by
	 * other pkcs11: consumers */
	"pin-value", "pin-source", NULL,
};
static const char *const query_attrs[] = {
	"pin-value", "pin-source", "module-name", "module-path", NULL,
};

static bool
name_in(const char *name, size_t len, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == len && strncmp(*list, name, len) == 0)
			return true;
	return false;
}

/* Checks every attribute name of uri (after "pkcs11:"); returns false
 * with an error naming the first unknown one. */
static bool
check_attr_names(struct smk_prov *prov, const char *uri)
{
	const char *p = uri + strlen("pkcs11:");
	bool query = false;

	while (*p != '\0') {
		size_t len = strcspn(p, query ? "&" : ";?");
		const char *eq = memchr(p, '=', len);
		size_t nlen = eq != NULL ? (size_t)(eq - p) : len;

		if (len > 0 && !name_in(p, nlen, query ? query_attrs : path_attrs)) {
			smk_prov_error(prov, SMK_PROV_R_URI,
				       "pkcs11: URI: unsupported %s attribute '%.*s'",
				       query ? "query" : "path", (int)(nlen > 64 ? 64 : nlen), p);
			return false;
		}
		p += len;
		if (*p == '?')
			query = true;
		if (*p != '\0')
			p++;
	}
	return true;
}

static void *
store_open(void *provctx, const char *uri)
{
	struct smk_prov *prov = provctx;
	struct store_ctx *ctx;
	int rc;

	if (uri == NULL || strncmp(uri, "pkcs11:", 7) != 0)
		return NULL;
	if (!check_attr_names(prov, uri))
		return NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->prov = prov;
	ctx->uri = p11_kit_uri_new();
	if (ctx->uri == NULL) {
		free(ctx);
		return NULL;
	}
	rc = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN_AND_MODULE, ctx->uri);
	if (rc != P11_KIT_URI_OK) {
		smk_prov_error(prov, SMK_PROV_R_URI, "pkcs11: URI: %s", p11_kit_uri_message(rc));
		p11_kit_uri_free(ctx->uri);
		free(ctx);
		return NULL;
	}
	if (p11_kit_uri_any_unrecognized(ctx->uri)) {
		smk_prov_error(prov, SMK_PROV_R_URI, "pkcs11: URI: unsupported attribute");
		p11_kit_uri_free(ctx->uri);
		free(ctx);
		return NULL;
	}
	return ctx;
}

static const OSSL_PARAM store_settable[] = {
	OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
store_settable_ctx_params(void *provctx)
{
	(void)provctx;
	return store_settable;
}

static int
store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
	struct store_ctx *ctx = loaderctx;
	const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);

	if (p != NULL && !OSSL_PARAM_get_int(p, &ctx->expect))
		return 0;
	return 1;
}

/* ---- resolving the URI ------------------------------------------------------- */

static void
pad(CK_UTF8CHAR *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, n < size ? n : size);
}

static bool
token_matches(struct store_ctx *ctx, const struct smk_token_info *info)
{
	CK_TOKEN_INFO ti;

	memset(&ti, 0, sizeof(ti));
	pad(ti.label, sizeof(ti.label), info->label);
	pad(ti.manufacturerID, sizeof(ti.manufacturerID), STORE_MANUFACTURER);
	pad(ti.model, sizeof(ti.model), info->model);
	pad(ti.serialNumber, sizeof(ti.serialNumber), info->serial);
	return p11_kit_uri_match_token_info(ctx->uri, &ti) == 1;
}

static bool
object_matches(struct store_ctx *ctx, const struct smk_item *it, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE attrs[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, it->label, strlen(it->label) },
		{ CKA_ID, (void *)it->id, it->id_len },
	};

	return p11_kit_uri_match_attributes(ctx->uri, attrs, 3) == 1;
}

/* The PIN from pin-source: a file: URI or a plain path; one trailing
 * newline is not part of it. */
static char *
pin_from_source(struct store_ctx *ctx, const char *src, size_t *len)
{
	struct smk_error err;
	char *pin;

	if (strncmp(src, "file:", 5) == 0) {
		src += 5;
		if (strncmp(src, "//", 2) == 0)
			src += 2;
	} else if (src[0] != '/') {
		smk_prov_error(ctx->prov, SMK_PROV_R_URI,
			       "pkcs11: URI: pin-source must be a file (file:PATH)");
		return NULL;
	}
	smk_error_clear(&err);
	pin = smk_file_read(src, STORE_PIN_FILE_MAX, "PIN file", SMK_ERR_INVALID, len, &err);
	if (pin == NULL) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PIN, "pkcs11: URI: pin-source: %s", err.msg);
		return NULL;
	}
	if (*len > 0 && pin[*len - 1] == '\n')
		pin[--*len] = '\0';
	if (*len > 0 && pin[*len - 1] == '\r')
		pin[--*len] = '\0';
	return pin;
}

/* Logs the user in on t with the URI's PIN or the one the callback gives. */
static bool
login(struct store_ctx *ctx, struct smk_token *t, const struct smk_token_info *info,
      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct smk_error err;
	enum smk_ks_status st;
	const char *v;
	char buf[SMK_PIN_MAX + 1];
	const char *pin = NULL;
	char *owned = NULL;	/* read from pin-source: wiped and freed */
	size_t len = 0;
	bool ok;

	if (info->user_logged_in)
		return true;
	if (info->user_locked) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PIN, "token '%s': the user PIN is locked",
			       info->label);
		return false;
	}
	if ((v = p11_kit_uri_get_pin_value(ctx->uri)) != NULL) {
		/* too long or empty: the key store says so */
		pin = v;
		len = strlen(v);
	} else if ((v = p11_kit_uri_get_pin_source(ctx->uri)) != NULL) {
		pin = owned = pin_from_source(ctx, v, &len);
		if (owned == NULL)
			return false;
	} else {
		char info_str[128];
		OSSL_PARAM pw_params[2];

		if (pw_cb == NULL) {
			smk_prov_error(ctx->prov, SMK_PROV_R_PIN,
				       "token '%s': a PIN is needed (pin-value= or pin-source=)",
				       info->label);
			return false;
		}
		/* OpenSSL prompts "Enter pass phrase for <info>:" */
		snprintf(info_str, sizeof(info_str), "smimekit token %s (PIN)", info->label);
		pw_params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO,
								info_str, 0);
		pw_params[1] = OSSL_PARAM_construct_end();
		if (!pw_cb(buf, sizeof(buf) - 1, &len, pw_params, pw_cbarg)) {
			OPENSSL_cleanse(buf, sizeof(buf));
			smk_prov_error(ctx->prov, SMK_PROV_R_PIN, "token '%s': no PIN given",
				       info->label);
			return false;
		}
		pin = buf;
	}
	smk_error_clear(&err);
	st = smk_token_login(t, SMK_KS_USER, pin, len, &err);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (owned != NULL) {
		OPENSSL_cleanse(owned, len);
		free(owned);
	}
	ok = st == SMK_KS_OK || st == SMK_KS_ALREADY_LOGGED_IN;
	if (!ok)
		smk_prov_ks_error(ctx->prov, st, &err);
	return ok;
}

static bool
add_obj(struct store_ctx *ctx, enum obj_kind kind, struct smk_token *t, struct smk_item *it)
{
	struct store_obj *o;

	o = realloc(ctx->objs, (ctx->n + 1) * sizeof(*o));
	if (o == NULL)
		return false;
	ctx->objs = o;
	o = &ctx->objs[ctx->n];
	o->kind = kind;
	o->key = NULL;
	if (kind == OBJ_PRIVATE) {
		o->key = smk_prov_key_new(ctx->prov, t, it);
		if (o->key == NULL)
			return false;
	}
	smk_item_ref(it);
	o->item = it;
	ctx->n++;
	return true;
}

/* Lists the objects of one token that the URI and the expected type name. */
static bool
resolve_token(struct store_ctx *ctx, struct smk_token *t, const struct smk_token_info *info,
	      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	CK_ATTRIBUTE *cls_attr = p11_kit_uri_get_attribute(ctx->uri, CKA_CLASS);
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
	bool want_cert, want_private, want_public;
	struct smk_item **items = NULL;
	struct smk_error err;
	enum smk_ks_status st;
	size_t n = 0, i;
	bool ok = true;

	if (cls_attr != NULL && cls_attr->pValue != NULL && cls_attr->ulValueLen == sizeof(cls))
		memcpy(&cls, cls_attr->pValue, sizeof(cls));
	want_cert = (cls_attr == NULL || cls == CKO_CERTIFICATE) &&
		    (ctx->expect == 0 || ctx->expect == OSSL_STORE_INFO_CERT);
	want_private = (cls_attr == NULL || cls == CKO_PRIVATE_KEY) &&
		       (ctx->expect == 0 || ctx->expect == OSSL_STORE_INFO_PKEY);
	/* Without type= and without a PIN, a general listing stays without
	 * login (certificates only); naming private keys or expecting keys
	 * asks for the PIN. */
	if (want_private && cls_attr == NULL && ctx->expect == 0 &&
	    p11_kit_uri_get_pin_value(ctx->uri) == NULL &&
	    p11_kit_uri_get_pin_source(ctx->uri) == NULL)
		want_private = false;
	/* Public keys only when named (type=public); a caller expecting
	 * private keys (storeutl -keys) would reject them. */
	want_public = cls_attr != NULL && cls == CKO_PUBLIC_KEY &&
		      (ctx->expect == 0 || ctx->expect == OSSL_STORE_INFO_PUBKEY);

	if (want_private && !login(ctx, t, info, pw_cb, pw_cbarg))
		return false;

	smk_error_clear(&err);
	st = smk_token_items(t, &items, &n, &err);
	if (st != SMK_KS_OK) {
		smk_prov_ks_error(ctx->prov, st, &err);
		return false;
	}
	for (i = 0; ok && i < n; i++) {
		struct smk_item *it = items[i];

		if (want_cert && it->cert != NULL && object_matches(ctx, it, CKO_CERTIFICATE))
			ok = add_obj(ctx, OBJ_CERT, t, it);
		if (ok && want_private && it->has_private &&
		    object_matches(ctx, it, CKO_PRIVATE_KEY))
			ok = add_obj(ctx, OBJ_PRIVATE, t, it);
		if (ok && want_public && object_matches(ctx, it, CKO_PUBLIC_KEY))
			ok = add_obj(ctx, OBJ_PUBLIC, t, it);
	}
	smk_items_free(items, n);
	return ok;
}

static bool
resolve(struct store_ctx *ctx, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct smk_keystore *ks = smk_prov_keystore(ctx->prov);
	size_t i, count, tokens = 0;

	if (ks == NULL)
		return false;
	count = smk_keystore_count(ks);
	for (i = 0; i < count; i++) {
		struct smk_token *t = smk_keystore_token(ks, i);
		struct smk_token_info info;
		struct smk_error err;
		enum smk_ks_status st;

		smk_error_clear(&err);
		st = smk_token_info(t, &info, &err);
		if (st != SMK_KS_OK) {
			/* A token that cannot say who it is (the directory
			 * down) may be the one meant: an error, not a skip. */
			smk_prov_ks_error(ctx->prov, st, &err);
			return false;
		}
		if (!info.initialized || !token_matches(ctx, &info))
			continue;
		tokens++;
		if (!resolve_token(ctx, t, &info, pw_cb, pw_cbarg))
			return false;
	}
	if (count == 0) {
		smk_prov_error(ctx->prov, SMK_PROV_R_CONFIG,
			       "no smimekit token is configured (no [token NAME] in %s)",
			       smk_config_default_path());
		return false;
	}
	if (tokens == 0) {
		smk_prov_error(ctx->prov, SMK_PROV_R_URI,
			       "pkcs11: URI names no smimekit token (%zu configured)", count);
		return false;
	}
	if (ctx->n == 0) {
		smk_prov_error(ctx->prov, SMK_PROV_R_URI,
			       "pkcs11: URI names no %s on the matching token%s",
			       ctx->expect == OSSL_STORE_INFO_CERT	 ? "certificate"
			       : ctx->expect == OSSL_STORE_INFO_PKEY	 ? "private key"
			       : ctx->expect == OSSL_STORE_INFO_PUBKEY ? "public key"
								       : "object",
			       tokens > 1 ? "s" : "");
		return false;
	}
	return true;
}

/* ---- handing objects out ----------------------------------------------------- */

static int
pass_cert(const struct store_obj *o, OSSL_CALLBACK *object_cb, void *object_cbarg)
{
	unsigned char *der = NULL;
	int len = i2d_X509(o->item->cert, &der);
	int type = OSSL_OBJECT_CERT, ok;
	OSSL_PARAM params[4];

	if (len <= 0)
		return 0;
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, (size_t)len);
	params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, o->item->label, 0);
	params[3] = OSSL_PARAM_construct_end();
	ok = object_cb(params, object_cbarg);
	OPENSSL_free(der);
	return ok;
}

static const char *
data_type(const struct smk_item *it)
{
	return it->type == SMK_KEY_RSA ? "RSA" : "EC";
}

static int
pass_private(const struct store_obj *o, OSSL_CALLBACK *object_cb, void *object_cbarg)
{
	int type = OSSL_OBJECT_PKEY;
	OSSL_PARAM params[5];

	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
						     (char *)data_type(o->item), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
						      (void *)&o->key, sizeof(o->key));
	params[3] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, o->item->label, 0);
	params[4] = OSSL_PARAM_construct_end();
	return object_cb(params, object_cbarg);
}

static int
pass_public(const struct store_obj *o, OSSL_CALLBACK *object_cb, void *object_cbarg)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(o->item->pub, &der);
	int type = OSSL_OBJECT_PKEY, ok;
	OSSL_PARAM params[6];

	if (len <= 0)
		return 0;
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
						     (char *)data_type(o->item), 0);
	params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
						     (char *)"SubjectPublicKeyInfo", 0);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, (size_t)len);
	params[4] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, o->item->label, 0);
	params[5] = OSSL_PARAM_construct_end();
	ok = object_cb(params, object_cbarg);
	OPENSSL_free(der);
	return ok;
}

static int
store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
	   OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct store_ctx *ctx = loaderctx;
	const struct store_obj *o;

	if (!ctx->resolved) {
		ctx->resolved = true;
		if (!resolve(ctx, pw_cb, pw_cbarg)) {
			ctx->failed = true;
			return 0;
		}
	}
	if (ctx->failed) {
		ctx->failed_seen = true;
		return 0;
	}
	if (ctx->next >= ctx->n)
		return 0;
	o = &ctx->objs[ctx->next++];
	switch (o->kind) {
	case OBJ_CERT:
		return pass_cert(o, object_cb, object_cbarg);
	case OBJ_PRIVATE:
		return pass_private(o, object_cb, object_cbarg);
	case OBJ_PUBLIC:
		return pass_public(o, object_cb, object_cbarg);
	}
	return 0;
}

static int
store_eof(void *loaderctx)
{
	struct store_ctx *ctx = loaderctx;

	/* After a failed listing, eof only once the caller has loaded
	 * again: OpenSSL 3.0's storeutl counts a failed load as an error
	 * (exit status 1) only when the loader is not at eof yet. */
	if (ctx->failed)
		return ctx->failed_seen;
	return ctx->resolved && ctx->next >= ctx->n;
}

static int
store_close(void *loaderctx)
{
	struct store_ctx *ctx = loaderctx;
	size_t i;

	if (ctx == NULL)
		return 1;
	for (i = 0; i < ctx->n; i++) {
		smk_prov_key_free(ctx->objs[i].key);
		smk_item_unref(ctx->objs[i].item);
	}
	free(ctx->objs);
	p11_kit_uri_free(ctx->uri);
	free(ctx);
	return 1;
}

/* No export_object: a key reference must be loaded by our own keymgmt.
 * With it, OpenSSL 3.0 would first try exporting the key into another
 * provider's keymgmt (which only gets the public half); without it, it
 * falls back to this provider's keymgmt load. */
const OSSL_DISPATCH smk_prov_store_functions[] = {
	{ OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open },
	{ OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))store_settable_ctx_params },
	{ OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params },
	{ OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load },
	{ OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof },
	{ OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close },
	{ 0, NULL },
};
