/* smk-policy.h - may this certificate receive mail for this address?
 *
 * The recipient checks of the CA/Browser Forum S/MIME Baseline
 * Requirements that matter for encrypting to someone: validity period,
 * key type and size, keyUsage, extendedKeyUsage, the address in the
 * subjectAltName, and (when required) a chain to configured trust
 * anchors.  Each refusal comes with a reason a person can act on.
 */
#ifndef SMK_POLICY_H
#define SMK_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "smk-error.h"

enum smk_cert_verdict {
	SMK_CERT_USABLE = 0,
	SMK_CERT_MALFORMED,	/* extensions cannot be parsed */
	SMK_CERT_KEY_TYPE,	/* not RSA or EC on P-256/P-384/P-521 */
	SMK_CERT_WEAK_KEY,	/* RSA below the minimum size */
	SMK_CERT_NOT_YET_VALID,
	SMK_CERT_EXPIRED,
	SMK_CERT_KEY_USAGE,	/* no keyEncipherment (RSA) / keyAgreement (EC) */
	SMK_CERT_EXT_KEY_USAGE,	/* EKU present without emailProtection */
	SMK_CERT_ADDRESS,	/* no rfc822Name/SmtpUTF8Mailbox for the address */
	SMK_CERT_UNTRUSTED,	/* no chain to the trust anchors */
};

struct smk_policy {
	X509_STORE *anchors;	/* trust anchors; may be NULL */
	bool require_trust;	/* refuse certificates that do not chain to anchors */
	time_t now;		/* 0: the current time */
	int min_rsa_bits;	/* 0: 2048 */
};

/* Short stable name of a verdict ("expired", "key-usage", ...). */
const char *smk_cert_verdict_name(enum smk_cert_verdict v);

/* Checks cert for address.  chain (may be NULL) holds untrusted
 * intermediates.  The reason for the verdict (also for USABLE: a short
 * summary) goes into reason. */
enum smk_cert_verdict smk_policy_check(const struct smk_policy *pol, X509 *cert,
				       STACK_OF(X509) *chain, const char *address,
				       char *reason, size_t reasonsz);

/* Picks the usable certificate of certs for address with the latest
 * notBefore (then the latest notAfter).  Returns its index, or -1 with a
 * reason listing why each one was refused. */
int smk_policy_choose(const struct smk_policy *pol, STACK_OF(X509) *certs,
		      STACK_OF(X509) *chain, const char *address,
		      char *reason, size_t reasonsz);

/* Is this a mail address we can compare (local@domain, no blanks or
 * control characters)? */
bool smk_address_valid(const char *address);

/* A trust store made of every certificate in a file. */
X509_STORE *smk_policy_load_anchors(const char *path, struct smk_error *err);

#endif
