/* smk-ldap-cache.h - an in-process cache of directory lookups
 *
 * Found entries are kept cache_ttl seconds, "no entry" and "no
 * certificate" answers negative_cache_ttl seconds; "unavailable" and
 * errors are never cached.  At most cache_size addresses are kept, the
 * least recently used going first.  Addresses are compared
 * case-insensitively, as the directory's mail matching does.  Not
 * thread-safe, like the connection it fronts.
 */
#ifndef SMK_LDAP_CACHE_H
#define SMK_LDAP_CACHE_H

#include <stdint.h>
#include <time.h>

#include "smk-ldap.h"

struct smk_ldap_cache;

struct smk_ldap_cache_stats {
	uint64_t hits, misses, expired, evicted;
	size_t entries;
};

struct smk_ldap_cache *smk_ldap_cache_new(unsigned size, unsigned ttl, unsigned negative_ttl);
void smk_ldap_cache_free(struct smk_ldap_cache *c);

/* As smk_ldap_lookup, through the cache: *out (when set) is a reference
 * the caller releases with smk_ldap_certs_unref.  On a cached negative
 * answer err says so too. */
enum smk_ldap_status smk_ldap_cache_lookup(struct smk_ldap_cache *c, struct smk_ldap *l,
					   const char *address, struct smk_ldap_certs **out,
					   struct smk_error *err);

/* Drops what is cached for address (after publishing, say). */
void smk_ldap_cache_forget(struct smk_ldap_cache *c, const char *address);
void smk_ldap_cache_clear(struct smk_ldap_cache *c);

void smk_ldap_cache_stats(const struct smk_ldap_cache *c, struct smk_ldap_cache_stats *st);

/* For tests: the clock the TTLs are measured on (default: monotonic). */
void smk_ldap_cache_set_clock(struct smk_ldap_cache *c, time_t (*now)(void));

#endif
