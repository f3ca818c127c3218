/* smk-keystore-backend.h - what a token type implements (storage only)
 *
 * lib/smk-keystore.c owns everything generic: the lock of each token,
 * login state, the failure counters' rules, keys in memory, ids, items
 * and the private-key operations.  A backend only stores and fetches:
 * public objects, encrypted private keys, PIN checks and counters.
 *
 * Calls into one backend state are serialised by the key store (one
 * token lock), so a backend needs no locking of its own in-process; it
 * must still be safe against other processes (file locks, LDAP
 * assertions).
 */
#ifndef SMK_KEYSTORE_BACKEND_H
#define SMK_KEYSTORE_BACKEND_H

#include "smk-keystore.h"

/* Hands one object to the key store.  key is a public or private key (a
 * reference is taken; may be NULL for a lone certificate), cert may be
 * NULL, label may be NULL.  Returns 0, or -1 to stop (out of memory). */
typedef int smk_backend_add_fn(void *ctx, EVP_PKEY *key, X509 *cert, const char *label);

/* Sets err (if not NULL) to code and the message, and returns st: the
 * key store's and the backends' `return smk_ks_fail(...)`. */
enum smk_ks_status smk_ks_fail(struct smk_error *err, enum smk_ks_status st, enum smk_status code,
			       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct smk_token_backend {
	const char *type;		/* "file", "directory" */
	const char *const *keys;	/* config keys accepted besides "type" (NULL-terminated) */

	/* Reads the section (keys already checked); no I/O that can hang. */
	void *(*open)(const struct smk_config *cfg, const struct smk_config_section *sec,
		      smk_log_fn *log, void *log_ctx, struct smk_error *err);
	void (*close)(void *b);

	/* Fills label, serial, model, initialized, user_pin_set,
	 * write_protected, max_failures, *_failures, *_locked. */
	enum smk_ks_status (*info)(void *b, struct smk_token_info *info, struct smk_error *err);

	/* Everything visible without login: certificates, public keys of
	 * stored private keys (when the backend knows them). */
	enum smk_ks_status (*load_public)(void *b, smk_backend_add_fn *add, void *ctx,
					  struct smk_error *err);

	/* Checks pin for user, counting a failure (and locking at the limit)
	 * or resetting the counter.  For SMK_KS_USER on success it hands every
	 * private key (with its certificate if stored together) to add, and
	 * keeps what it needs to store new keys until lock(). */
	enum smk_ks_status (*unlock)(void *b, enum smk_ks_user user, const char *pin,
				     size_t pin_len, smk_backend_add_fn *add, void *ctx,
				     struct smk_error *err);
	/* Forgets (and zeroises) whatever unlock kept. */
	void (*lock)(void *b);

	/* NULL where the type cannot do it (the key store answers
	 * SMK_KS_UNSUPPORTED). */
	enum smk_ks_status (*init_token)(void *b, const char *so_pin, size_t so_pin_len,
					 const char *label, struct smk_error *err);
	/* SO unlocked. */
	enum smk_ks_status (*init_pin)(void *b, const char *pin, size_t pin_len,
				       struct smk_error *err);
	/* Checks old (as unlock does, counting failures) and re-encrypts. */
	enum smk_ks_status (*set_pin)(void *b, enum smk_ks_user user, const char *old_pin,
				      size_t old_len, const char *new_pin, size_t new_len,
				      struct smk_error *err);
	/* User unlocked: stores a private key encrypted under the PIN. */
	enum smk_ks_status (*store_key)(void *b, EVP_PKEY *key, X509 *cert, const char *label,
					struct smk_error *err);
	/* Stores a certificate (user unlocked or not, as the type allows). */
	enum smk_ks_status (*store_cert)(void *b, X509 *cert, const char *label,
					 struct smk_error *err);
};

#endif
