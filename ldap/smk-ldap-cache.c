/* smk-ldap-cache.c - an in-process cache of directory lookups
 *
 * A chained hash table over the lower-cased address, with a doubly linked
 * list in least-recently-used order for eviction.
 */
#include "config.h"

#include "smk-ldap-cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smk-util.h"

struct node {
	char *key;
	uint32_t hash;
	enum smk_ldap_status status;	/* OK, NO_ENTRY or NO_CERT */
	struct smk_ldap_certs *certs;	/* NULL for NO_ENTRY */
	time_t expires;
	struct node *chain;		/* next in the bucket */
	struct node *prev, *next;	/* LRU list, most recent first */
};

struct smk_ldap_cache {
	unsigned size, ttl, negative_ttl;
	struct node **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count;
	struct node *head, *tail;
	time_t (*now)(void);
	struct smk_ldap_cache_stats stats;
};

static time_t
monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* FNV-1a over the lower-cased key. */
static uint32_t
hash_key(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)smk_ascii_tolower(*s);
		h *= 16777619u;
	}
	return h;
}

struct smk_ldap_cache *
smk_ldap_cache_new(unsigned size, unsigned ttl, unsigned negative_ttl)
{
	struct smk_ldap_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->size = size;
	c->ttl = ttl;
	c->negative_ttl = negative_ttl;
	c->now = monotonic_now;
	c->nbuckets = 16;
	while (c->nbuckets < (size_t)size * 2 && c->nbuckets < ((size_t)1 << 24))
		c->nbuckets *= 2;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
smk_ldap_cache_set_clock(struct smk_ldap_cache *c, time_t (*now)(void))
{
	c->now = now ? now : monotonic_now;
}

static void
lru_unlink(struct smk_ldap_cache *c, struct node *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

static void
lru_push_front(struct smk_ldap_cache *c, struct node *n)
{
	n->prev = NULL;
	n->next = c->head;
	if (c->head != NULL)
		c->head->prev = n;
	c->head = n;
	if (c->tail == NULL)
		c->tail = n;
}

static void
node_remove(struct smk_ldap_cache *c, struct node *n)
{
	struct node **pp = &c->buckets[n->hash & (c->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->chain;
	*pp = n->chain;
	lru_unlink(c, n);
	smk_ldap_certs_unref(n->certs);
	free(n->key);
	free(n);
	c->count--;
}

static struct node *
node_find(struct smk_ldap_cache *c, const char *key, uint32_t h)
{
	size_t len = strlen(key);

	for (struct node *n = c->buckets[h & (c->nbuckets - 1)]; n != NULL; n = n->chain) {
		if (n->hash == h && smk_ascii_eq_n(n->key, strlen(n->key), key, len))
			return n;
	}
	return NULL;
}

static void
node_add(struct smk_ldap_cache *c, const char *key, uint32_t h, enum smk_ldap_status status,
	 struct smk_ldap_certs *certs, unsigned ttl)
{
	struct node *n;

	if (c->size == 0 || ttl == 0)
		return;
	while (c->count >= c->size && c->tail != NULL) {
		node_remove(c, c->tail);
		c->stats.evicted++;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL || (n->key = strdup(key)) == NULL) {
		free(n);
		return;	/* not caching is always correct */
	}
	n->hash = h;
	n->status = status;
	n->certs = certs;
	if (certs != NULL)
		smk_ldap_certs_ref(certs);
	n->expires = c->now() + (time_t)ttl;
	n->chain = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = n;
	lru_push_front(c, n);
	c->count++;
}

enum smk_ldap_status
smk_ldap_cache_lookup(struct smk_ldap_cache *c, struct smk_ldap *l, const char *address,
		      struct smk_ldap_certs **out, struct smk_error *err)
{
	uint32_t h = hash_key(address);
	struct node *n = node_find(c, address, h);
	enum smk_ldap_status st;

	*out = NULL;
	if (n != NULL && n->expires > c->now()) {
		c->stats.hits++;
		if (n != c->head) {
			lru_unlink(c, n);
			lru_push_front(c, n);
		}
		if (n->certs != NULL) {
			smk_ldap_certs_ref(n->certs);
			*out = n->certs;
		}
		if (n->status == SMK_LDAP_NO_ENTRY)
			smk_error_set(err, SMK_ERR_CERT, "no directory entry for %s (cached)", address);
		else if (n->status == SMK_LDAP_NO_CERT)
			smk_error_set(err, SMK_ERR_CERT, "directory entry %s has no certificate (cached)",
				      n->certs->dn);
		return n->status;
	}
	if (n != NULL) {
		c->stats.expired++;
		node_remove(c, n);
	}
	c->stats.misses++;
	st = smk_ldap_lookup(l, address, out, err);
	if (st == SMK_LDAP_OK)
		node_add(c, address, h, st, *out, c->ttl);
	else if (st == SMK_LDAP_NO_ENTRY || st == SMK_LDAP_NO_CERT)
		node_add(c, address, h, st, *out, c->negative_ttl);
	return st;
}

void
smk_ldap_cache_forget(struct smk_ldap_cache *c, const char *address)
{
	struct node *n = node_find(c, address, hash_key(address));

	if (n != NULL)
		node_remove(c, n);
}

void
smk_ldap_cache_clear(struct smk_ldap_cache *c)
{
	while (c->head != NULL)
		node_remove(c, c->head);
}

void
smk_ldap_cache_stats(const struct smk_ldap_cache *c, struct smk_ldap_cache_stats *st)
{
	*st = c->stats;
	st->entries = c->count;
}

void
smk_ldap_cache_free(struct smk_ldap_cache *c)
{
	if (c == NULL)
		return;
	smk_ldap_cache_clear(c);
	free(c->buckets);
	free(c);
}
