#ifndef SMIMEKIT_PLUGIN_H
#define SMIMEKIT_PLUGIN_H

/* smimekit-plugin.h - what Dovecot looks up in lib90_smimekit_plugin.so */

#define SMIMEKIT_EXPORT __attribute__((visibility("default")))

struct module;
struct mail_user;

extern SMIMEKIT_EXPORT const char *smimekit_plugin_version;
SMIMEKIT_EXPORT void smimekit_plugin_init(struct module *module);
SMIMEKIT_EXPORT void smimekit_plugin_deinit(void);

/* What a message saved for a user now would become, for
 * `doveadm smimekit status` (lib10_doveadm_smimekit_plugin.so). */
enum smimekit_user_state {
	SMIMEKIT_STATE_DISABLED,	/* smimekit_disabled = yes */
	SMIMEKIT_STATE_CONFIG_ERROR,	/* a broken setting: saves fail */
	SMIMEKIT_STATE_ENCRYPT,		/* certificate found */
	SMIMEKIT_STATE_NO_CERT,		/* smimekit_missing_cert applies */
	SMIMEKIT_STATE_LOOKUP_FAILED,	/* smimekit_lookup_failure applies */
	SMIMEKIT_STATE_SETUP_FAILED,	/* a configured file is unusable: saves fail */
};

struct smimekit_user_status {
	enum smimekit_user_state state;
	const char *address;	/* the address looked up */
	const char *sources;	/* where certificates are looked for */
	const char *detail;	/* what was found, or why not */
	const char *action;	/* what a delivery does */
	const char *serials;	/* ENCRYPT: the recipients' serials */
};

/* FALSE if the plugin is not active for user (not in mail_plugins).
 * Strings are on the data stack. */
SMIMEKIT_EXPORT bool smimekit_user_status(struct mail_user *user,
					  struct smimekit_user_status *st);

#endif
