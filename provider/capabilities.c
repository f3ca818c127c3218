/* capabilities.c - the TLS groups the provider announces (TLS-GROUP)
 *
 * Why a key store provider announces TLS groups: OpenSSL 3.0's TLS code
 * keeps a group that a provider announces only if fetching the group's
 * key management by name ("EC") finds that same provider.  Activated
 * first, smimekit's EC key management is the one found, so the default
 * provider's NIST curves were dropped from every ClientHello and a TLS
 * 1.2 handshake with a P-256 server failed.  We announce the EC groups
 * the default provider does, with the same TLS code points and limits;
 * the ephemeral keys are then made by our EC key management, in software
 * (keymgmt.c), and used by our ECDH (exchange.c), in software too.  With
 * the default provider activated first, its own entries come first and
 * ours are unused.  X25519, X448 and the FFDHE groups have key
 * managements only the default provider offers, so they need nothing.
 */
#include "config.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>

#include "smk-prov.h"

struct tls_group {
	const char *name;		/* the TLS name (and an alias: P-256) */
	const char *internal;		/* OpenSSL's curve name */
	unsigned int id;		/* TLS NamedGroup code point (RFC 8422, 7027) */
	unsigned int secbits;
	int maxtls, maxdtls;		/* 0: any; the others stop at 1.2 */
};

static const struct tls_group groups[] = {
	{ "secp256r1", "prime256v1", 23, 128, 0, 0 },
	{ "P-256", "prime256v1", 23, 128, 0, 0 },
	{ "secp384r1", "secp384r1", 24, 192, 0, 0 },
	{ "P-384", "secp384r1", 24, 192, 0, 0 },
	{ "secp521r1", "secp521r1", 25, 256, 0, 0 },
	{ "P-521", "secp521r1", 25, 256, 0, 0 },
	{ "secp224r1", "secp224r1", 21, 112, TLS1_2_VERSION, DTLS1_2_VERSION },
	{ "P-224", "secp224r1", 21, 112, TLS1_2_VERSION, DTLS1_2_VERSION },
	{ "secp256k1", "secp256k1", 22, 128, TLS1_2_VERSION, DTLS1_2_VERSION },
	{ "brainpoolP256r1", "brainpoolP256r1", 26, 128, TLS1_2_VERSION, DTLS1_2_VERSION },
	{ "brainpoolP384r1", "brainpoolP384r1", 27, 192, TLS1_2_VERSION, DTLS1_2_VERSION },
	{ "brainpoolP512r1", "brainpoolP512r1", 28, 256, TLS1_2_VERSION, DTLS1_2_VERSION },
};

static int
announce(const struct tls_group *g, OSSL_CALLBACK *cb, void *arg)
{
	unsigned int id = g->id, secbits = g->secbits, is_kem = 0;
	int mintls = TLS1_VERSION, mindtls = DTLS1_VERSION;
	int maxtls = g->maxtls, maxdtls = g->maxdtls;
	OSSL_PARAM p[] = {
		OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME, (char *)g->name,
				       strlen(g->name)),
		OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL, (char *)g->internal,
				       strlen(g->internal)),
		OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, "EC", 2),
		OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &id),
		OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &secbits),
		OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &mintls),
		OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &maxtls),
		OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &mindtls),
		OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &maxdtls),
		OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_IS_KEM, &is_kem),
		OSSL_PARAM_END,
	};

	return cb(p, arg);
}

int
smk_prov_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb, void *arg)
{
	(void)provctx;
	if (capability == NULL || strcmp(capability, "TLS-GROUP") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (!announce(&groups[i], cb, arg))
			return 0;
	}
	return 1;
}
