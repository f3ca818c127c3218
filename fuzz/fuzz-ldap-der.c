/* fuzz-ldap-der.c - libFuzzer target for the key-less certificate and
 * PKCS#7 certs-only readers of ldap/smk-ldap-der.c
 *
 * Input: a directory value.  Checked against OpenSSL's full decoder: what
 * d2i_X509 reads whole and does not flag invalid is never called garbage,
 * and CA or not agrees with X509_check_ca.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "smk-ldap-private.h"

static void
cross_check(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	enum smk_ldap_der_kind kind = smk_ldap_der_kind(der, len);

	if (x != NULL && p == der + len) {
		uint32_t flags = X509_get_extension_flags(x);
		/* nsCertType-only CAs (Netscape, pre-RFC 5280) are not modelled */
		bool ns_only = (flags & EXFLAG_NSCERT) && !(flags & EXFLAG_BCONS) &&
			       !(flags & EXFLAG_KUSAGE);

		/* What OpenSSL itself flags invalid may be read either way
		 * (the policy refuses it later as malformed). */
		if (!(flags & EXFLAG_INVALID)) {
			FUZZ_CHECK(kind != SMK_LDAP_DER_BAD);
			if (!ns_only)
				FUZZ_CHECK((kind == SMK_LDAP_DER_CA) == (X509_check_ca(x) != 0));
		}
	}
	X509_free(x);
	ERR_clear_error();
}

static void
each_cert(void *ctx, const unsigned char *der, size_t len)
{
	size_t *n = ctx;

	FUZZ_CHECK(len > 0);
	cross_check(der, len);
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = fuzz_dup(data, size);
	size_t n = 0;
	int r;

	cross_check((const unsigned char *)copy, size);
	r = smk_ldap_pkcs7_certs((const unsigned char *)copy, size, each_cert, &n);
	FUZZ_CHECK(r < 0 ? n == 0 : (size_t)r == n);
	fuzz_free(copy, size);
	return 0;
}
