#ifndef SMIMEKIT_SETTINGS_H
#define SMIMEKIT_SETTINGS_H

/* smimekit-settings.h - the plugin {} settings of one user
 *
 * Every setting is named smimekit_*; userdb extra fields with the same
 * names override them per user (Dovecot passes them as plugin settings).
 * A broken setting does not stop Dovecot: it is kept in `error`, logged,
 * and fails that user's saves with a temporary error.
 */

#include "smk-envelope.h"
#include "smk-ldap.h"

enum smimekit_missing_cert {
	SMIMEKIT_MISSING_STORE = 0,	/* store in the clear, logged */
	SMIMEKIT_MISSING_TEMPFAIL,
	SMIMEKIT_MISSING_REJECT,
};

enum smimekit_lookup_failure {
	SMIMEKIT_LOOKUP_TEMPFAIL = 0,
	SMIMEKIT_LOOKUP_STORE,
};

struct smimekit_settings {
	bool disabled;
	bool encrypt_all;		/* smimekit_encrypt = all: IMAP APPEND too */
	bool protect_headers;
	bool require_trust;
	enum smimekit_missing_cert missing_cert;
	enum smimekit_lookup_failure lookup_failure;
	enum smk_cipher cipher;
	enum smk_rsa_padding rsa_padding;
	const char *address;		/* the mailbox owner's address */
	const char *cert_path;		/* smimekit_cert, expanded */
	const char *recovery_cert;	/* smimekit_recovery_cert */
	const char *trust_anchors;	/* smimekit_trust_anchors */
	bool have_directory;		/* smimekit_ldap_uri is set */
	struct smk_ldap_settings ldap;	/* freed by smimekit_settings_free */
	const char *error;		/* the first broken setting, or NULL */
};

/* Reads user's settings into set (strings from user's pool). */
void smimekit_settings_read(struct mail_user *user, struct smimekit_settings *set);
void smimekit_settings_free(struct smimekit_settings *set);

/* A string naming the directory settings, for sharing one connection
 * between users with the same directory (t_strdup). */
const char *smimekit_settings_directory_key(const struct smimekit_settings *set);

const char *smimekit_missing_cert_name(enum smimekit_missing_cert m);

#endif
