#ifndef SMIMEKIT_RECIPIENTS_H
#define SMIMEKIT_RECIPIENTS_H

/* smimekit-recipients.h - whom a user's mail is encrypted to
 *
 * The mailbox owner's certificate, found in the directory (through a
 * process-wide connection and cache shared by every user with the same
 * directory settings) or in the file smimekit_cert names, chosen by the
 * recipient policy; plus smimekit_recovery_cert if set.  Parsed
 * certificates and policy verdicts are remembered as long as the
 * directory cache keeps the entry, so a delivery does not parse again.
 */

#include <openssl/x509.h>

#include "smimekit-settings.h"

enum smimekit_resolution_result {
	SMIMEKIT_RESOLVED = 0,		/* recipients found: encrypt */
	SMIMEKIT_NO_CERT,		/* no usable certificate: smimekit_missing_cert */
	SMIMEKIT_LOOKUP_FAILED,		/* the directory could not answer: smimekit_lookup_failure */
	SMIMEKIT_SETUP_FAILED,		/* a configured file cannot be used: temporary failure */
};

struct smimekit_resolution {
	enum smimekit_resolution_result result;
	STACK_OF(X509) *recipients;	/* owned: free with smimekit_resolution_free */
	const char *why;		/* data stack: what was found, or why not */
	const char *serials;		/* data stack: the owner's certificate serial(s) */
};

void smimekit_resolve(struct mail_user *user, const struct smimekit_settings *set,
		      struct smimekit_resolution *res);
void smimekit_resolution_free(struct smimekit_resolution *res);

/* At plugin deinit: closes directory connections, drops caches. */
void smimekit_recipients_deinit(void);

#endif
