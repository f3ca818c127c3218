/* smk-ldap.h - the certificate directory client
 *
 * Finds a mail address's certificates in LDAP, publishes and removes
 * them, and stores and reads escrowed keys, over one reused connection
 * per handle with failover across several servers:
 *
 *	struct smk_ldap_settings s;
 *	smk_ldap_settings_init(&s);
 *	smk_ldap_settings_set(&s, "uri", "ldap://ldap1 ldap://ldap2", &err);
 *	...
 *	struct smk_ldap *l = smk_ldap_new(&s, &err);
 *	struct smk_ldap_certs *found;
 *	switch (smk_ldap_lookup(l, "alice@example.org", &found, &err)) ...
 *
 * Data model (standard schema only): entries are found by a filter
 * template (default "(mail=%s)") with the address RFC 4515-escaped;
 * certificates live in userCertificate;binary (DER) and
 * userSMIMECertificate (PKCS#7 certs-only), escrowed keys in userPKCS12.
 *
 * A handle is not thread-safe: use one per thread or lock around it.
 * After fork() the child opens its own connection when it next needs one,
 * and drops the parent's without a byte on it (no unbind, no TLS
 * close_notify): the parent's connection goes on working.
 */
#ifndef SMK_LDAP_H
#define SMK_LDAP_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "smk-config.h"
#include "smk-error.h"
#include "smk-log.h"

enum smk_ldap_status {
	SMK_LDAP_OK = 0,	/* found (lookups), done (writes) */
	SMK_LDAP_NO_ENTRY,	/* no entry for the address */
	SMK_LDAP_NO_CERT,	/* an entry, but no usable certificate value */
	SMK_LDAP_UNAVAILABLE,	/* no server could be reached in time: try later */
	SMK_LDAP_AUTH_FAILED,	/* the bind credentials were refused */
	SMK_LDAP_ERROR,		/* anything else (see the error message) */
};

const char *smk_ldap_status_str(enum smk_ldap_status st);

enum smk_ldap_bind {
	SMK_LDAP_BIND_ANONYMOUS = 0,
	SMK_LDAP_BIND_SIMPLE,		/* bind_dn + password */
	SMK_LDAP_BIND_SASL_EXTERNAL,	/* e.g. over ldapi:// as the process's uid */
};

struct smk_ldap_settings {
	char **uris;		/* tried in order */
	size_t nuris;
	char *base;
	int scope;		/* LDAP_SCOPE_SUBTREE, _ONELEVEL, _BASE */
	char *filter;		/* %s address, %u local part, %d domain; %% */
	enum smk_ldap_bind bind;
	char *bind_dn;
	char *bind_password;	/* secret: wiped on free */
	bool starttls;
	char *tls_ca_file;
	bool tls_require_cert;
	unsigned network_timeout;	/* seconds, connecting */
	unsigned timeout;		/* seconds, each operation */
	unsigned size_limit;		/* entries per lookup (more: ambiguous) */
	unsigned cache_ttl;		/* seconds, found entries */
	unsigned negative_cache_ttl;	/* seconds, no entry / no certificate */
	unsigned cache_size;		/* addresses */
};

#define SMK_LDAP_DEFAULT_FILTER "(mail=%s)"
#define SMK_LDAP_DEFAULT_TIMEOUT 5
#define SMK_LDAP_DEFAULT_CACHE_TTL 300
#define SMK_LDAP_DEFAULT_NEGATIVE_CACHE_TTL 60
#define SMK_LDAP_DEFAULT_CACHE_SIZE 10000

/* The names smk_ldap_settings_set accepts, NULL-terminated: the keys of
 * the [directory] section of smimekit.conf. */
extern const char *const smk_ldap_setting_names[];

void smk_ldap_settings_init(struct smk_ldap_settings *s);
void smk_ldap_settings_free(struct smk_ldap_settings *s);

/* Sets one setting by name from its text form.  bind_password_file reads
 * the password from a file (its first line). */
int smk_ldap_settings_set(struct smk_ldap_settings *s, const char *name, const char *value,
			  struct smk_error *err);

/* Applies the [directory] section of cfg (which may be missing). */
int smk_ldap_settings_from_config(struct smk_ldap_settings *s, const struct smk_config *cfg,
				  struct smk_error *err);

/* Are the settings complete and consistent? */
int smk_ldap_settings_check(const struct smk_ldap_settings *s, struct smk_error *err);

/* The filter for an address, every substitution RFC 4515-escaped
 * (malloc'd), or NULL with err for an unusable template or address. */
char *smk_ldap_filter_expand(const char *tmpl, const char *address, struct smk_error *err);

/* ---- connection ------------------------------------------------------- */

struct smk_ldap;

/* Copies the settings; connects at the first operation. */
struct smk_ldap *smk_ldap_new(const struct smk_ldap_settings *s, struct smk_error *err);

/* The same, but binding as dn with password (a user reading their own
 * escrowed keys). */
struct smk_ldap *smk_ldap_new_as(const struct smk_ldap_settings *s, const char *dn,
				 const char *password, struct smk_error *err);

void smk_ldap_free(struct smk_ldap *l);

void smk_ldap_set_log(struct smk_ldap *l, smk_log_fn *fn, void *ctx);

/* The URI of the server in use, or NULL when not connected. */
const char *smk_ldap_server(const struct smk_ldap *l);

/* Connects and binds now (normally done by the first operation). */
enum smk_ldap_status smk_ldap_connect(struct smk_ldap *l, struct smk_error *err);

/* ---- lookup ----------------------------------------------------------- */

struct smk_der {
	unsigned char *data;
	size_t len;
};

/* What a lookup found: the entry and its certificates (DER as stored),
 * deduplicated, each a well-formed certificate that is not a CA
 * certificate.  CA certificates that came inside a PKCS#7 value (the
 * chain) are in chain.  Reference-counted. */
struct smk_ldap_certs {
	int refs;
	char *dn;
	struct smk_der *certs;
	size_t ncerts;
	struct smk_der *chain;
	size_t nchain;
	size_t skipped;		/* garbage values left out (each logged) */
	/* For the caller: something derived from these certificates (kept
	 * as long as they are, e.g. in a cache), freed with them. */
	void *user_data;
	void (*user_data_free)(void *user_data);
};

enum smk_ldap_status smk_ldap_lookup(struct smk_ldap *l, const char *address,
				     struct smk_ldap_certs **out, struct smk_error *err);

void smk_ldap_certs_ref(struct smk_ldap_certs *c);
void smk_ldap_certs_unref(struct smk_ldap_certs *c);

/* The certificates (or the chain) as X509 objects, for the policy; any
 * that OpenSSL cannot parse in full are left out.  NULL only when out of
 * memory. */
STACK_OF(X509) *smk_ldap_certs_x509(const struct smk_der *ders, size_t n);

/* ---- writes ------------------------------------------------------------ */

/* Adds cert (DER to userCertificate;binary, PKCS#7 certs-only of cert and
 * chain to userSMIMECertificate) to entry dn, where not there yet.
 * *added says whether anything was written. */
enum smk_ldap_status smk_ldap_publish(struct smk_ldap *l, const char *dn, X509 *cert,
				      STACK_OF(X509) *chain, bool *added,
				      struct smk_error *err);

/* Removes from entry dn every certificate value (in either attribute)
 * that holds an end-entity certificate with this serial (hex), or every
 * value, unparseable ones included, when serial_hex is NULL.  *removed
 * counts the values removed. */
enum smk_ldap_status smk_ldap_unpublish(struct smk_ldap *l, const char *dn,
					const char *serial_hex, size_t *removed,
					struct smk_error *err);

/* Adds a userPKCS12 value (an escrowed key) to entry dn. */
enum smk_ldap_status smk_ldap_escrow_add(struct smk_ldap *l, const char *dn,
					 const unsigned char *p12, size_t len,
					 struct smk_error *err);

/* Reads the userPKCS12 values of entry dn (readable by the entry itself
 * only: use a handle from smk_ldap_new_as). */
enum smk_ldap_status smk_ldap_escrow_read(struct smk_ldap *l, const char *dn,
					  struct smk_der **values, size_t *n,
					  struct smk_error *err);

void smk_der_free_all(struct smk_der *ders, size_t n);

/* Rewrites the userPKCS12 values of entry dn in one modification: fn gets
 * the values as they are now and returns the complete new set in *out
 * (malloc'd data, n_out values; 0 values removes the attribute), or -1 to
 * give up (its err is returned).  The write carries the entry's state as
 * read (RFC 4528 assertion, as escrow_add); if the entry changed meanwhile
 * it is read again and fn called again.  fn returning the values unchanged
 * (*n_out == SIZE_MAX) writes nothing. */
typedef int smk_ldap_escrow_map_fn(void *ctx, const struct smk_der *have, size_t n,
				   struct smk_der **out, size_t *n_out, struct smk_error *err);
enum smk_ldap_status smk_ldap_escrow_replace(struct smk_ldap *l, const char *dn,
					     smk_ldap_escrow_map_fn *fn, void *ctx,
					     struct smk_error *err);

/* Changes the password of entry dn (RFC 3062 password modify, as the
 * handle's bind, normally dn itself).  SMK_LDAP_AUTH_FAILED: old refused. */
enum smk_ldap_status smk_ldap_passwd(struct smk_ldap *l, const char *dn, const char *old_pw,
				     const char *new_pw, struct smk_error *err);

/* Calls fn for every entry under the base that has a certificate (paged
 * search).  fn returns 0 to go on. */
typedef int smk_ldap_list_fn(void *ctx, const char *dn, const char *mail,
			     const struct smk_ldap_certs *certs);
enum smk_ldap_status smk_ldap_list(struct smk_ldap *l, smk_ldap_list_fn *fn, void *ctx,
				   struct smk_error *err);

#endif
