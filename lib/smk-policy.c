/* smk-policy.c - may this certificate receive mail for this address? */
#include "config.h"

#include "smk-policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "smk-cert.h"
#include "smk-util.h"

#define DEFAULT_MIN_RSA_BITS 2048

static const char *const allowed_curves[] = { "prime256v1", "secp384r1", "secp521r1" };

const char *
smk_cert_verdict_name(enum smk_cert_verdict v)
{
	switch (v) {
	case SMK_CERT_USABLE: return "usable";
	case SMK_CERT_MALFORMED: return "malformed";
	case SMK_CERT_KEY_TYPE: return "key-type";
	case SMK_CERT_WEAK_KEY: return "weak-key";
	case SMK_CERT_NOT_YET_VALID: return "not-yet-valid";
	case SMK_CERT_EXPIRED: return "expired";
	case SMK_CERT_KEY_USAGE: return "key-usage";
	case SMK_CERT_EXT_KEY_USAGE: return "extended-key-usage";
	case SMK_CERT_ADDRESS: return "address";
	case SMK_CERT_UNTRUSTED: return "untrusted";
	}
	return "unknown";
}

static enum smk_cert_verdict
verdict(enum smk_cert_verdict v, char *reason, size_t reasonsz, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum smk_cert_verdict
verdict(enum smk_cert_verdict v, char *reason, size_t reasonsz, const char *fmt, ...)
{
	va_list ap;

	if (reason != NULL && reasonsz > 0) {
		va_start(ap, fmt);
		vsnprintf(reason, reasonsz, fmt, ap);
		va_end(ap);
	}
	return v;
}

bool
smk_address_valid(const char *address)
{
	const char *at;

	if (address == NULL)
		return false;
	at = strrchr(address, '@');
	if (at == NULL || at == address || at[1] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)address; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return false;
	}
	return true;
}

/* local@domain equality: the local part exactly (RFC 5280 section 7.5),
 * the domain ASCII case-insensitively. */
static bool
address_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *aat = memrchr(a, '@', alen), *bat = memrchr(b, '@', blen);
	size_t alocal, blocal;

	if (aat == NULL || bat == NULL)
		return false;
	alocal = (size_t)(aat - a);
	blocal = (size_t)(bat - b);
	if (alocal != blocal || memcmp(a, b, alocal) != 0)
		return false;
	return smk_ascii_eq_n(aat + 1, alen - alocal - 1, bat + 1, blen - blocal - 1);
}

/* Appends s to the list of addresses the certificate does have. */
static void
note_address(char *have, size_t havesz, const char *s, size_t len)
{
	size_t n = strlen(have);

	if (n + len + 3 >= havesz)
		return;
	if (n > 0) {
		memcpy(have + n, ", ", 2);
		n += 2;
	}
	for (size_t i = 0; i < len; i++)	/* printable only: it goes into logs */
		have[n++] = ((unsigned char)s[i] < ' ' || s[i] == 0x7f) ? '?' : s[i];
	have[n] = '\0';
}

static bool
cert_has_address(X509 *cert, const char *address, char *have, size_t havesz)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t alen = strlen(address);
	bool found = false;

	have[0] = '\0';
	for (int i = 0; !found && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *s = NULL;

		if (gn->type == GEN_EMAIL) {
			s = gn->d.rfc822Name;
		} else if (gn->type == GEN_OTHERNAME &&
			   OBJ_obj2nid(gn->d.otherName->type_id) == NID_id_on_SmtpUTF8Mailbox &&
			   gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
			s = gn->d.otherName->value->value.utf8string;
		}
		if (s == NULL)
			continue;
		const char *data = (const char *)ASN1_STRING_get0_data(s);
		size_t len = (size_t)ASN1_STRING_length(s);

		if (memchr(data, '\0', len) != NULL)
			continue;	/* an embedded NUL is an attack, not an address */
		note_address(have, havesz, data, len);
		found = address_equal(data, len, address, alen);
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return found;
}

static enum smk_cert_verdict
check_key(const struct smk_policy *pol, EVP_PKEY *pkey, int *is_rsa, char *reason, size_t reasonsz)
{
	int min_bits = pol->min_rsa_bits > 0 ? pol->min_rsa_bits : DEFAULT_MIN_RSA_BITS;

	if (pkey == NULL) {
		ERR_clear_error();
		return verdict(SMK_CERT_MALFORMED, reason, reasonsz, "public key cannot be decoded");
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);

		*is_rsa = 1;
		if (bits < min_bits)
			return verdict(SMK_CERT_WEAK_KEY, reason, reasonsz,
				       "RSA key of %d bits is too weak (minimum %d)", bits, min_bits);
		return SMK_CERT_USABLE;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		char curve[64] = "";

		*is_rsa = 0;
		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
						    curve, sizeof(curve), NULL)) {
			ERR_clear_error();
			return verdict(SMK_CERT_KEY_TYPE, reason, reasonsz,
				       "EC key on an unnamed curve");
		}
		for (size_t i = 0; i < SMK_N_ELEMENTS(allowed_curves); i++) {
			if (strcmp(curve, allowed_curves[i]) == 0)
				return SMK_CERT_USABLE;
		}
		return verdict(SMK_CERT_KEY_TYPE, reason, reasonsz,
			       "EC curve %s is not allowed (P-256, P-384 or P-521)", curve);
	}
	return verdict(SMK_CERT_KEY_TYPE, reason, reasonsz,
		       "key type %s cannot receive encrypted mail (need RSA or EC)",
		       EVP_PKEY_get0_type_name(pkey));
}

static enum smk_cert_verdict
check_trust(const struct smk_policy *pol, X509 *cert, STACK_OF(X509) *chain, time_t now,
	    char *reason, size_t reasonsz)
{
	X509_STORE_CTX *ctx;
	enum smk_cert_verdict v = SMK_CERT_USABLE;
	int ok;

	if (pol->anchors == NULL)
		return verdict(SMK_CERT_UNTRUSTED, reason, reasonsz,
			       "trust is required but no trust anchors are configured");
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, pol->anchors, cert, chain)) {
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return verdict(SMK_CERT_UNTRUSTED, reason, reasonsz,
			       "chain cannot be checked (out of memory)");
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		v = verdict(SMK_CERT_UNTRUSTED, reason, reasonsz,
			    "does not chain to a trust anchor: %s",
			    X509_verify_cert_error_string(e));
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return v;
}

enum smk_cert_verdict
smk_policy_check(const struct smk_policy *pol, X509 *cert, STACK_OF(X509) *chain,
		 const char *address, char *reason, size_t reasonsz)
{
	time_t now = pol->now ? pol->now : time(NULL);
	char when[64], have[256];
	enum smk_cert_verdict v;
	uint32_t flags;
	int is_rsa = 0;

	if (reason != NULL && reasonsz > 0)
		reason[0] = '\0';
	if (!smk_address_valid(address))
		return verdict(SMK_CERT_ADDRESS, reason, reasonsz, "\"%s\" is not a mail address",
			       address ? address : "(null)");

	flags = X509_get_extension_flags(cert);	/* computes the extension cache */
	if (flags & EXFLAG_INVALID) {
		ERR_clear_error();
		return verdict(SMK_CERT_MALFORMED, reason, reasonsz,
			       "extensions are malformed or duplicated");
	}

	v = check_key(pol, X509_get0_pubkey(cert), &is_rsa, reason, reasonsz);
	if (v != SMK_CERT_USABLE)
		return v;

	if (X509_cmp_time(X509_get0_notBefore(cert), &now) >= 0) {
		smk_asn1_time_str(X509_get0_notBefore(cert), when, sizeof(when));
		return verdict(SMK_CERT_NOT_YET_VALID, reason, reasonsz, "not valid before %s", when);
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0) {
		smk_asn1_time_str(X509_get0_notAfter(cert), when, sizeof(when));
		return verdict(SMK_CERT_EXPIRED, reason, reasonsz, "expired on %s", when);
	}

	if (flags & EXFLAG_KUSAGE) {
		uint32_t ku = X509_get_key_usage(cert);

		if (is_rsa && !(ku & KU_KEY_ENCIPHERMENT))
			return verdict(SMK_CERT_KEY_USAGE, reason, reasonsz,
				       "keyUsage lacks keyEncipherment (needed for RSA key transport)");
		if (!is_rsa && !(ku & KU_KEY_AGREEMENT))
			return verdict(SMK_CERT_KEY_USAGE, reason, reasonsz,
				       "keyUsage lacks keyAgreement (needed for ECDH)");
	}
	if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(cert) & XKU_SMIME))
		return verdict(SMK_CERT_EXT_KEY_USAGE, reason, reasonsz,
			       "extendedKeyUsage lacks emailProtection");

	if (!cert_has_address(cert, address, have, sizeof(have))) {
		if (have[0] == '\0')
			return verdict(SMK_CERT_ADDRESS, reason, reasonsz,
				       "no rfc822Name or SmtpUTF8Mailbox in subjectAltName (wanted %s)",
				       address);
		return verdict(SMK_CERT_ADDRESS, reason, reasonsz,
			       "subjectAltName is for %s, not %s", have, address);
	}

	if (pol->require_trust) {
		v = check_trust(pol, cert, chain, now, reason, reasonsz);
		if (v != SMK_CERT_USABLE)
			return v;
	}

	smk_asn1_time_str(X509_get0_notAfter(cert), when, sizeof(when));
	return verdict(SMK_CERT_USABLE, reason, reasonsz, "%s %d-bit key, valid until %s%s",
		       is_rsa ? "RSA" : "EC", EVP_PKEY_get_bits(X509_get0_pubkey(cert)), when,
		       pol->require_trust ? ", chains to a trust anchor" : "");
}

/* Is a newer than b?  By notBefore, then notAfter. */
static bool
cert_newer(X509 *a, X509 *b)
{
	int d = ASN1_TIME_compare(X509_get0_notBefore(a), X509_get0_notBefore(b));

	if (d == 0)
		d = ASN1_TIME_compare(X509_get0_notAfter(a), X509_get0_notAfter(b));
	return d > 0;
}

int
smk_policy_choose(const struct smk_policy *pol, STACK_OF(X509) *certs, STACK_OF(X509) *chain,
		  const char *address, char *reason, size_t reasonsz)
{
	int best = -1, n = sk_X509_num(certs);
	size_t used = 0;

	if (reason != NULL && reasonsz > 0)
		reason[0] = '\0';
	if (n <= 0) {
		verdict(SMK_CERT_ADDRESS, reason, reasonsz, "no certificate");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		X509 *c = sk_X509_value(certs, i);
		char why[256], serial[80];

		if (smk_policy_check(pol, c, chain, address, why, sizeof(why)) == SMK_CERT_USABLE) {
			if (best < 0 || cert_newer(c, sk_X509_value(certs, best)))
				best = i;
			continue;
		}
		if (reason != NULL && used + 1 < reasonsz) {
			int w;

			smk_cert_serial_hex(c, serial, sizeof(serial));
			w = snprintf(reason + used, reasonsz - used, "%sserial %s: %s",
				     used ? "; " : "", serial, why);
			if (w > 0)
				used += (size_t)w < reasonsz - used ? (size_t)w : reasonsz - used - 1;
		}
	}
	if (best >= 0 && reason != NULL && reasonsz > 0)
		smk_policy_check(pol, sk_X509_value(certs, best), chain, address, reason, reasonsz);
	return best;
}

X509_STORE *
smk_policy_load_anchors(const char *path, struct smk_error *err)
{
	STACK_OF(X509) *certs = smk_cert_load_file(path, err);
	X509_STORE *store;

	if (certs == NULL)
		return NULL;
	store = X509_STORE_new();
	if (store == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(certs, i))) {
			smk_error_set_ossl(err, SMK_ERR_CERT, "%s: cannot use certificate %d as trust anchor",
					   path, i + 1);
			X509_STORE_free(store);
			store = NULL;
			goto out;
		}
	}
out:
	smk_cert_stack_free(certs);
	return store;
}
