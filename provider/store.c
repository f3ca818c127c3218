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
 * goes into a message: it may hold a PIN.  Messages name the attribute
 * at fault, and give the value only of type=, token=, object= and id=.
 *
 * Search (`openssl storeutl -subject`, `-issuer -serial`, `-fingerprint`,
 * `-alias`; OSSL_STORE_find): the criteria arrive as settable parameters
 * and filter what the URI names; see search_matches.  A search finding
 * nothing is an empty listing, a URI naming nothing still an error.
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
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
/* The library the PKCS#11 module says it is (C_GetInfo in pkcs11/smk-p11.c),
 * for library-manufacturer=, library-description=, library-version=: one
 * URI names the same objects through either front. */
#define STORE_LIBRARY_DESCRIPTION "smimekit S/MIME key store"
#define STORE_LIBRARY_VERSION_MAJOR 0
#define STORE_LIBRARY_VERSION_MINOR 1

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

/* Search criteria (OSSL_STORE_find, or parameters given at open): every
 * criterion set must hold.  See search_matches for what each compares.
 * set_ctx_params only keeps the values; search_prepare checks them at the
 * first load (why: see store_set_ctx_params). */
struct store_search {
	unsigned char *subject_der;	/* OSSL_STORE_PARAM_SUBJECT, as given */
	size_t subject_len;
	unsigned char *issuer_der;	/* ISSUER, with SERIAL */
	size_t issuer_len;
	BIGNUM *serial;
	unsigned char *fp;		/* FINGERPRINT (NULL: none) */
	size_t fp_len;
	char *digest_name;		/* DIGEST; NULL or "": chosen by fp_len */
	char *alias;			/* ALIAS: the label */
	const char *bad_param;		/* a parameter of the wrong type */
	/* made by search_prepare */
	X509_NAME *subject, *issuer;
	EVP_MD *md;			/* the fingerprint's digest */
};

struct store_ctx {
	struct smk_prov *prov;
	P11KitUri *uri;
	int expect;			/* OSSL_STORE_INFO_* or 0 */
	struct store_search search;
	size_t uri_named;		/* objects the URI names, before the search */
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

/* PKCS#11 token and library info fields: a longer value can never
 * match (p11-kit only marks the URI "unrecognized", naming nothing). */
static const struct {
	const char *name;
	size_t max;
} info_limits[] = {
	{ "token", 32 },		/* CK_TOKEN_INFO.label */
	{ "manufacturer", 32 },
	{ "model", 16 },
	{ "serial", 16 },
	{ "library-manufacturer", 32 },
	{ "library-description", 32 },
};

/* The type= values of RFC 7512 that p11-kit knows.  data and secret-key
 * are valid but a smimekit token holds none: such a URI names nothing. */
static const char *const type_values[] = {
	"cert", "private", "public", "data", "secret-key", "secretkey", NULL,
};

/* The length of a value once its %XX escapes are decoded; false if an
 * escape is malformed (p11-kit would say only "badly encoded data"). */
static bool
decoded_len(const char *v, size_t len, size_t *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++, n++) {
		if (v[i] != '%')
			continue;
		if (len - i < 3 || OPENSSL_hexchar2int((unsigned char)v[i + 1]) < 0 ||
		    OPENSSL_hexchar2int((unsigned char)v[i + 2]) < 0)
			return false;
		i += 2;
	}
	*out = n;
	return true;
}

/* A user-given value for a message: printable ASCII only, at most 32
 * characters (never used for pin-value or pin-source). */
static void
printable(char *dst, size_t size, const char *v, size_t len)
{
	size_t i, n = len < size - 1 ? len : size - 1;

	for (i = 0; i < n; i++)
		dst[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
	dst[n] = '\0';
}

/* Checks one attribute NAME=VALUE of the URI; false with an error naming
 * the attribute (and, for type=, the value: never a PIN's). */
static bool
check_attr(struct smk_prov *prov, const char *a, size_t len, bool query)
{
	const char *eq = memchr(a, '=', len);
	size_t nlen = eq != NULL ? (size_t)(eq - a) : len;
	const char *v = eq != NULL ? eq + 1 : NULL;
	size_t vlen = eq != NULL ? len - nlen - 1 : 0, dlen, i;
	int shown = (int)(nlen > 64 ? 64 : nlen);
	char buf[33];

	if (!name_in(a, nlen, query ? query_attrs : path_attrs)) {
		smk_prov_error(prov, SMK_PROV_R_URI, "pkcs11: URI: unsupported %s attribute '%.*s'",
			       query ? "query" : "path", shown, a);
		return false;
	}
	if (v == NULL) {
		smk_prov_error(prov, SMK_PROV_R_URI,
			       "pkcs11: URI: attribute '%.*s' has no value (NAME=VALUE)", shown, a);
		return false;
	}
	if (!decoded_len(v, vlen, &dlen)) {
		smk_prov_error(prov, SMK_PROV_R_URI,
			       "pkcs11: URI: bad encoding in the '%.*s' value "
			       "(a %% not followed by two hex digits)", shown, a);
		return false;
	}
	if (nlen == 4 && strncmp(a, "type", 4) == 0 && !name_in(v, vlen, type_values)) {
		printable(buf, sizeof(buf), v, vlen);
		smk_prov_error(prov, SMK_PROV_R_URI,
			       "pkcs11: URI: unknown type '%s'%s (type=cert, private or public)",
			       buf, vlen >= sizeof(buf) ? "..." : "");
		return false;
	}
	for (i = 0; i < sizeof(info_limits) / sizeof(info_limits[0]); i++) {
		if (strlen(info_limits[i].name) == nlen &&
		    strncmp(info_limits[i].name, a, nlen) == 0 && dlen > info_limits[i].max) {
			smk_prov_error(prov, SMK_PROV_R_URI,
				       "pkcs11: URI: the '%s' value has %zu bytes, more than the "
				       "%zu of a PKCS#11 %s field",
				       info_limits[i].name, dlen, info_limits[i].max,
				       i >= 4 ? "library info" : "token info");
			return false;
		}
	}
	return true;
}

/* Checks every attribute of uri (after "pkcs11:") before p11-kit parses
 * it: an unknown name, a missing value, a bad %-escape, an unknown type
 * or an overlong token field is an error naming it, where p11-kit would
 * only say "badly encoded" or flag the URI as not understood. */
static bool
check_attr_names(struct smk_prov *prov, const char *uri)
{
	const char *p = uri + strlen("pkcs11:");
	bool query = false;

	while (*p != '\0') {
		size_t len = strcspn(p, query ? "&" : ";?");

		if (len > 0 && !check_attr(prov, p, len, query))
			return false;
		p += len;
		if (*p == '?')
			query = true;
		if (*p != '\0')
			p++;
	}
	return true;
}

/* A PKCS#11 info field: blank-padded, not terminated. */
static void
pad(CK_UTF8CHAR *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, n < size ? n : size);
}

static bool
module_matches(P11KitUri *uri)
{
	CK_INFO info;

	memset(&info, 0, sizeof(info));
	pad(info.manufacturerID, sizeof(info.manufacturerID), STORE_MANUFACTURER);
	pad(info.libraryDescription, sizeof(info.libraryDescription), STORE_LIBRARY_DESCRIPTION);
	info.libraryVersion.major = STORE_LIBRARY_VERSION_MAJOR;
	info.libraryVersion.minor = STORE_LIBRARY_VERSION_MINOR;
	return p11_kit_uri_match_module_info(uri, &info) == 1;
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
	rc = p11_kit_uri_parse(uri,
			       P11_KIT_URI_FOR_OBJECT_ON_TOKEN_AND_MODULE |
				       P11_KIT_URI_FOR_MODULE_WITH_VERSION,
			       ctx->uri);
	if (rc != P11_KIT_URI_OK) {
		/* what check_attr_names lets through: only a version can be bad */
		smk_prov_error(prov, SMK_PROV_R_URI, "pkcs11: URI: %s%s",
			       rc == P11_KIT_URI_BAD_VERSION ? "library-version: " : "",
			       p11_kit_uri_message(rc));
		p11_kit_uri_free(ctx->uri);
		free(ctx);
		return NULL;
	}
	if (!p11_kit_uri_any_unrecognized(ctx->uri) && !module_matches(ctx->uri)) {
		smk_prov_error(prov, SMK_PROV_R_URI,
			       "pkcs11: URI: library-manufacturer, library-description or "
			       "library-version names another PKCS#11 library (this one: "
			       "manufacturer '%s', description '%s', version %d.%d)",
			       STORE_MANUFACTURER, STORE_LIBRARY_DESCRIPTION,
			       STORE_LIBRARY_VERSION_MAJOR, STORE_LIBRARY_VERSION_MINOR);
		p11_kit_uri_free(ctx->uri);
		free(ctx);
		return NULL;
	}
	if (p11_kit_uri_any_unrecognized(ctx->uri)) {
		/* not expected after check_attr_names */
		smk_prov_error(prov, SMK_PROV_R_URI,
			       "pkcs11: URI: an attribute value p11-kit does not understand");
		p11_kit_uri_free(ctx->uri);
		free(ctx);
		return NULL;
	}
	return ctx;
}

/* ---- search ---------------------------------------------------------------- */

/* OpenSSL 3.0 decides that a loader supports a search from these names
 * (OSSL_STORE_supports_search): SUBJECT for -subject, ISSUER and SERIAL
 * for -issuer/-serial, FINGERPRINT for -fingerprint, ALIAS for -alias;
 * OSSL_STORE_find then sets them (names as DER, the serial as a number,
 * the digest by name). */
static const OSSL_PARAM store_settable[] = {
	OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
	OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_STORE_PARAM_ISSUER, NULL, 0),
	OSSL_PARAM_BN(OSSL_STORE_PARAM_SERIAL, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_STORE_PARAM_FINGERPRINT, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_ALIAS, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
store_settable_ctx_params(void *provctx)
{
	(void)provctx;
	return store_settable;
}

static void
search_clear(struct store_search *s)
{
	OPENSSL_free(s->subject_der);
	OPENSSL_free(s->issuer_der);
	BN_free(s->serial);
	OPENSSL_free(s->fp);
	OPENSSL_free(s->digest_name);
	OPENSSL_free(s->alias);
	X509_NAME_free(s->subject);
	X509_NAME_free(s->issuer);
	EVP_MD_free(s->md);
	memset(s, 0, sizeof(*s));
}

/* Keeps an octet-string parameter's value in *der (replacing one). */
static bool
keep_octets(struct store_search *s, const OSSL_PARAM *p, const char *what,
	    unsigned char **der, size_t *len)
{
	void *v = NULL;
	size_t n = 0;

	if (!OSSL_PARAM_get_octet_string(p, &v, 0, &n)) {
		if (s->bad_param == NULL)
			s->bad_param = what;
		return p->data_type == OSSL_PARAM_OCTET_STRING ? false : true;
	}
	OPENSSL_free(*der);
	*der = v;
	*len = n;
	return true;
}

static bool
keep_string(struct store_search *s, const OSSL_PARAM *p, const char *what, char **out)
{
	char *v = NULL;

	if (!OSSL_PARAM_get_utf8_string(p, &v, 0)) {
		if (s->bad_param == NULL)
			s->bad_param = what;
		return p->data_type == OSSL_PARAM_UTF8_STRING ? false : true;
	}
	OPENSSL_free(*out);
	*out = v;
	return true;
}

/* Keeps the values; returns 0 only when out of memory.  A bad value is
 * reported at the first load (search_prepare), not here: OpenSSL 3.0's
 * OSSL_STORE_open_ex, when the loader refuses the parameters given at
 * open, closes the loader context and then returns a store context still
 * holding it (the caller's next call uses freed memory). */
static int
store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
	struct store_ctx *ctx = loaderctx;
	struct store_search *s = &ctx->search;
	const OSSL_PARAM *p;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
	if (p != NULL && !OSSL_PARAM_get_int(p, &ctx->expect) && s->bad_param == NULL)
		s->bad_param = "expect";
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_SUBJECT);
	if (p != NULL && !keep_octets(s, p, "subject", &s->subject_der, &s->subject_len))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_ISSUER);
	if (p != NULL && !keep_octets(s, p, "issuer", &s->issuer_der, &s->issuer_len))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_SERIAL);
	if (p != NULL) {
		BIGNUM *bn = NULL;

		if (OSSL_PARAM_get_BN(p, &bn)) {
			BN_free(s->serial);
			s->serial = bn;
		} else if (s->bad_param == NULL) {
			s->bad_param = "serial number";
		}
	}
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_DIGEST);
	if (p != NULL && !keep_string(s, p, "fingerprint digest", &s->digest_name))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_FINGERPRINT);
	if (p != NULL && !keep_octets(s, p, "fingerprint", &s->fp, &s->fp_len))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_ALIAS);
	if (p != NULL && !keep_string(s, p, "alias", &s->alias))
		return 0;
	return 1;
}

/* A name given as DER (SUBJECT, ISSUER): the whole value must be one
 * X.509 Name. */
static bool
parse_name(struct store_ctx *ctx, const unsigned char *der, size_t len, const char *what,
	   X509_NAME **out)
{
	const unsigned char *q = der;
	X509_NAME *name;

	ERR_set_mark();		/* the decoder's own errors say less than ours */
	name = len > 0 && len <= LONG_MAX ? d2i_X509_NAME(NULL, &q, (long)len) : NULL;
	ERR_pop_to_mark();
	if (name == NULL || q != der + len) {
		X509_NAME_free(name);
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store search: the %s (%zu bytes) is not a DER-encoded X.509 name",
			       what, len);
		return false;
	}
	*out = name;
	return true;
}

/* The digest a fingerprint of len bytes is taken with when the caller
 * names none (OSSL_STORE_SEARCH_by_key_fingerprint allows a NULL digest:
 * "the loader has to decide"): the SHA-1/SHA-2 digest of that size. */
static const char *
default_digest(size_t len)
{
	switch (len) {
	case 20:
		return "SHA1";
	case 28:
		return "SHA224";
	case 32:
		return "SHA256";
	case 48:
		return "SHA384";
	case 64:
		return "SHA512";
	default:
		return NULL;
	}
}

/* Fetches the fingerprint's digest and checks the fingerprint's length
 * against it: a wrong value is an error, not a search finding nothing. */
static bool
prepare_fingerprint(struct store_ctx *ctx)
{
	struct store_search *s = &ctx->search;
	const char *name = s->digest_name != NULL && s->digest_name[0] != '\0' ? s->digest_name
									      : NULL;
	int size;

	if (s->fp_len == 0) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM, "store search: the fingerprint is empty");
		return false;
	}
	if (name == NULL && (name = default_digest(s->fp_len)) == NULL) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store search: a fingerprint of %zu bytes and no digest named "
			       "(20 bytes: SHA1, 32: SHA256, 48: SHA384, 64: SHA512; "
			       "or name one, e.g. storeutl -sha256)", s->fp_len);
		return false;
	}
	ERR_set_mark();		/* "unsupported" from the fetch: ours names it */
	s->md = EVP_MD_fetch(ctx->prov->libctx, name, NULL);
	ERR_pop_to_mark();
	if (s->md == NULL) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store search: unknown fingerprint digest '%.64s'", name);
		return false;
	}
	size = EVP_MD_get_size(s->md);
	if ((EVP_MD_get_flags(s->md) & EVP_MD_FLAG_XOF) != 0 || size <= 0) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store search: %.64s has no fixed size: not a fingerprint digest", name);
		return false;
	}
	if ((size_t)size != s->fp_len) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store search: the fingerprint has %zu bytes, a %s digest has %d",
			       s->fp_len, EVP_MD_get0_name(s->md), size);
		return false;
	}
	return true;
}

/* Checks the criteria kept by store_set_ctx_params, raising an error that
 * names the problem. */
static bool
search_prepare(struct store_ctx *ctx)
{
	struct store_search *s = &ctx->search;

	if (s->bad_param != NULL) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store loader: the %s parameter has the wrong type", s->bad_param);
		return false;
	}
	if (s->subject_der != NULL &&
	    !parse_name(ctx, s->subject_der, s->subject_len, "subject", &s->subject))
		return false;
	if ((s->issuer_der == NULL) != (s->serial == NULL)) {
		smk_prov_error(ctx->prov, SMK_PROV_R_PARAM,
			       "store search: an issuer needs a serial number and a serial "
			       "number an issuer (storeutl -issuer NAME -serial N)");
		return false;
	}
	if (s->issuer_der != NULL &&
	    !parse_name(ctx, s->issuer_der, s->issuer_len, "issuer", &s->issuer))
		return false;
	if (s->fp != NULL && !prepare_fingerprint(ctx))
		return false;
	return true;
}

static bool
search_active(const struct store_search *s)
{
	return s->subject != NULL || s->issuer != NULL || s->serial != NULL || s->fp != NULL ||
	       s->alias != NULL;
}

/* Whether a fingerprint is the digest of der; -1 on an error (raised). */
static int
fp_is_digest_of(struct store_ctx *ctx, const unsigned char *der, int len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (len <= 0 || !EVP_Digest(der, (size_t)len, md, &mdlen, ctx->search.md, NULL)) {
		smk_prov_error(ctx->prov, SMK_PROV_R_OPERATION,
			       "store search: cannot compute a fingerprint");
		return -1;
	}
	return mdlen == ctx->search.fp_len && memcmp(md, ctx->search.fp, mdlen) == 0;
}

/* Whether an item (a key pair and/or its certificate: the key store joins
 * them by key id) passes the search; -1 on an error (raised).  The same
 * test for a certificate and for its keys, so one search finds both:
 *   subject, issuer+serial: of the item's certificate (X509_NAME_cmp, as
 *     OpenSSL's own certificate lookups compare names); a key without a
 *     certificate has neither;
 *   fingerprint: the digest of the DER certificate (as `openssl x509
 *     -fingerprint`), or of the DER SubjectPublicKeyInfo (the "public key
 *     fingerprint" of storeutl's help), so a key without a certificate can
 *     be found too;
 *   alias: the label (CKA_LABEL, object= in a URI), exactly. */
static int
search_matches(struct store_ctx *ctx, const struct smk_item *it)
{
	const struct store_search *s = &ctx->search;
	X509 *cert = it->cert;

	if (s->subject != NULL &&
	    (cert == NULL || X509_NAME_cmp(s->subject, X509_get_subject_name(cert)) != 0))
		return 0;
	if (s->issuer != NULL &&
	    (cert == NULL || X509_NAME_cmp(s->issuer, X509_get_issuer_name(cert)) != 0))
		return 0;
	if (s->serial != NULL) {
		BIGNUM *bn = cert != NULL ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)
					  : NULL;
		int eq = bn != NULL && BN_cmp(bn, s->serial) == 0;

		BN_free(bn);
		if (!eq)
			return 0;
	}
	if (s->alias != NULL && strcmp(s->alias, it->label) != 0)
		return 0;
	if (s->fp != NULL) {
		unsigned char *der = NULL;
		int len, r = 0;

		if (cert != NULL) {
			len = i2d_X509(cert, &der);
			r = fp_is_digest_of(ctx, der, len);
			OPENSSL_free(der);
			der = NULL;
		}
		if (r == 0) {
			len = i2d_PUBKEY(it->pub, &der);
			r = fp_is_digest_of(ctx, der, len);
			OPENSSL_free(der);
		}
		if (r != 1)
			return r;
	}
	return 1;
}

/* ---- resolving the URI ------------------------------------------------------- */

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
		bool cert = want_cert && it->cert != NULL && object_matches(ctx, it, CKO_CERTIFICATE);
		bool priv = want_private && it->has_private &&
			    object_matches(ctx, it, CKO_PRIVATE_KEY);
		bool pub = want_public && object_matches(ctx, it, CKO_PUBLIC_KEY);
		int found = 1;

		ctx->uri_named += (size_t)cert + (size_t)priv + (size_t)pub;
		if ((cert || priv || pub) && search_active(&ctx->search))
			found = search_matches(ctx, it);
		if (found < 0)
			ok = false;
		if (found != 1)
			continue;
		if (cert)
			ok = add_obj(ctx, OBJ_CERT, t, it);
		if (ok && priv)
			ok = add_obj(ctx, OBJ_PRIVATE, t, it);
		if (ok && pub)
			ok = add_obj(ctx, OBJ_PUBLIC, t, it);
	}
	smk_items_free(items, n);
	return ok;
}

/* " 'LABEL'" for the token= of the URI (a label is not secret), or "". */
static void
uri_token_label(struct store_ctx *ctx, char *out, size_t size)
{
	CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(ctx->uri);
	size_t n = sizeof(ti->label);
	char label[sizeof(ti->label) + 1];

	out[0] = '\0';
	while (n > 0 && (ti->label[n - 1] == ' ' || ti->label[n - 1] == '\0'))
		n--;
	if (n == 0)
		return;
	printable(label, sizeof(label), (const char *)ti->label, n);
	snprintf(out, size, " '%s'", label);
}

/* " labelled 'X'", " with id HEX", " of type data": what the URI asked
 * for, for the message when it names nothing (never the PIN). */
static void
uri_object_desc(struct store_ctx *ctx, char *out, size_t size)
{
	CK_ATTRIBUTE *a;
	size_t used = 0, i;

	out[0] = '\0';
	a = p11_kit_uri_get_attribute(ctx->uri, CKA_LABEL);
	if (a != NULL && a->pValue != NULL) {
		char label[33];

		printable(label, sizeof(label), a->pValue, a->ulValueLen);
		used += (size_t)snprintf(out + used, size - used, " labelled '%s'", label);
	}
	a = p11_kit_uri_get_attribute(ctx->uri, CKA_ID);
	if (a != NULL && a->pValue != NULL && used < size) {
		used += (size_t)snprintf(out + used, size - used, " with id ");
		for (i = 0; i < a->ulValueLen && i < 20 && used + 3 < size; i++)
			used += (size_t)snprintf(out + used, size - used, "%02x",
						 ((const unsigned char *)a->pValue)[i]);
	}
	a = p11_kit_uri_get_attribute(ctx->uri, CKA_CLASS);
	if (a != NULL && a->pValue != NULL && a->ulValueLen == sizeof(CK_OBJECT_CLASS) &&
	    used < size) {
		CK_OBJECT_CLASS cls;

		memcpy(&cls, a->pValue, sizeof(cls));
		if (cls == CKO_DATA || cls == CKO_SECRET_KEY)
			snprintf(out + used, size - used, " of type %s (a smimekit token holds none)",
				 cls == CKO_DATA ? "data" : "secret-key");
	}
}

static bool
resolve(struct store_ctx *ctx, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct smk_keystore *ks;
	size_t i, count, tokens = 0;

	/* OSSL_STORE_find cannot set criteria once loading started: they
	 * are final now */
	if (!search_prepare(ctx))
		return false;
	if ((ks = smk_prov_keystore(ctx->prov)) == NULL)
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
		char what[64];

		uri_token_label(ctx, what, sizeof(what));
		smk_prov_error(ctx->prov, SMK_PROV_R_URI,
			       "pkcs11: URI names no smimekit token%s (%zu configured)", what, count);
		return false;
	}
	/* A URI naming nothing is an error; objects it names that the
	 * search leaves out are not: an empty result ("Total found: 0"), as
	 * OpenSSL's own loaders give for a search. */
	if (ctx->uri_named == 0) {
		char what[160];

		uri_object_desc(ctx, what, sizeof(what));
		smk_prov_error(ctx->prov, SMK_PROV_R_URI,
			       "pkcs11: URI names no %s%s on the matching token%s",
			       ctx->expect == OSSL_STORE_INFO_CERT	 ? "certificate"
			       : ctx->expect == OSSL_STORE_INFO_PKEY	 ? "private key"
			       : ctx->expect == OSSL_STORE_INFO_PUBKEY ? "public key"
								       : "object",
			       what, tokens > 1 ? "s" : "");
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
	search_clear(&ctx->search);
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
