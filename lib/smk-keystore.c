/* smk-keystore.c - the generic part of the key store: tokens from the
 * configuration, login state, keys in memory, items, private-key operations
 *
 * A backend (smk-keystore-backend.h) only stores and fetches.  This file
 * owns what every token type shares:
 *
 * - one mutex per token, taken by every call that reads or changes the
 *   token's state (login flags, the keys in memory, the backend state);
 * - the login rules (who is logged in, PIN form for new PINs);
 * - the private keys handed over by backend->unlock, kept as EVP_PKEY
 *   while the user is logged in and freed on logout (OpenSSL clears the
 *   key material of RSA and EC keys when they are freed);
 * - items: keys and certificates joined by smk_key_id;
 * - sign / decrypt / derive with EVP_PKEY_* on the key in memory.
 *
 * A private-key operation takes a reference to the key under the token's
 * mutex and runs the operation after releasing it: OpenSSL allows one
 * EVP_PKEY to be used by several threads at once (one EVP_PKEY_CTX each),
 * so signing from several threads scales instead of queueing on the token,
 * and a logout meanwhile only drops the store's reference (the key is
 * freed when the running operation ends).
 *
 * Fork.  Every key store is on a list, and fork handlers (pthread_atfork,
 * registered once) make the locks fork-safe: before fork() the forking
 * thread takes the list's lock and every token's mutex and key lock (so
 * no other thread is half-way through changing a token, and fork waits
 * for a token operation running elsewhere, a directory round trip at
 * most); the parent releases them afterwards and the child makes them
 * anew (its only thread is the forking one; glibc's rwlock remembers the
 * writer by thread id, which the child does not share, so unlocking it
 * there is not reliable).  The child thus has the parent's key store as
 * it was: logged-in tokens with their keys in memory.  A directory
 * token's connection is the parent's socket: smk-ldap-conn.c notices the
 * new pid and opens a connection of its own when the child next needs the
 * directory.  glibc drops a shared object's fork handlers when it is
 * unloaded (pthread_atfork is bound to the object's __dso_handle), so a
 * dlclose()d provider or PKCS#11 module leaves none behind.
 */
#include "config.h"

#include "smk-keystore.h"
#include "smk-keystore-backend.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

/* Longest item label accepted from callers (the backends store it as is). */
#define LABEL_MAX 256

/* ---- items ------------------------------------------------------------------ */

struct ks_item {
	struct smk_item it;	/* first: callers hold &ks_item->it */
	atomic_uint refs;
};

void
smk_item_ref(struct smk_item *it)
{
	if (it != NULL)
		atomic_fetch_add(&((struct ks_item *)it)->refs, 1);
}

void
smk_item_unref(struct smk_item *it)
{
	struct ks_item *ki = (struct ks_item *)it;

	if (it == NULL || atomic_fetch_sub(&ki->refs, 1) != 1)
		return;
	free(it->label);
	EVP_PKEY_free(it->pub);
	X509_free(it->cert);
	free(ki);
}

void
smk_items_free(struct smk_item **items, size_t n)
{
	for (size_t i = 0; items != NULL && i < n; i++)
		smk_item_unref(items[i]);
	free(items);
}

/* ---- the key store ---------------------------------------------------------- */

/* A private key in memory while the user is logged in. */
struct ks_priv {
	unsigned char id[SMK_ITEM_ID_MAX];
	size_t id_len;
	enum smk_key_type type;
	EVP_PKEY *key;		/* the private key */
	EVP_PKEY *pub;		/* its public half only, shown in items */
	X509 *cert;		/* as handed over by the backend, or NULL */
	char *label;		/* or NULL */
	/* EC: a context ready for ECDSA, kept between signatures (taken and
	 * handed back atomically; see token_ecdsa), or NULL */
	EVP_PKEY_CTX *ecdsa_ctx;
};

struct smk_token {
	struct smk_keystore *ks;
	char *name;
	const struct smk_token_backend *be;
	void *b;
	pthread_mutex_t mu;
	/* privs and user_in change under mu and keys_lock (write); the
	 * private-key operations only take keys_lock (read), so threads
	 * signing at once neither queue nor wait for a login elsewhere */
	pthread_rwlock_t keys_lock;
	bool user_in, so_in;
	struct ks_priv *privs;
	size_t n_privs;
};

struct smk_keystore {
	struct smk_token **tokens;
	size_t count;
	smk_log_fn *log;
	void *log_ctx;
	/* on all_stores (the fork handlers' list) once made */
	struct smk_keystore *next, *prev;
	bool listed;
	/* the library context the key store's OpenSSL work runs in (NULL:
	 * the thread's default one), see ctx_enter */
	OSSL_LIB_CTX *libctx;
};

/* ---- fork ------------------------------------------------------------------- */

/* Every key store of the process, for the fork handlers.  Lock order:
 * all_lock, then each token's mu, then its keys_lock (the order every
 * other path takes mu and keys_lock in; none takes all_lock while holding
 * a token lock). */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smk_keystore *all_stores;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
fork_prepare(void)
{
	pthread_mutex_lock(&all_lock);
	for (struct smk_keystore *ks = all_stores; ks != NULL; ks = ks->next) {
		for (size_t i = 0; i < ks->count; i++) {
			pthread_mutex_lock(&ks->tokens[i]->mu);
			pthread_rwlock_wrlock(&ks->tokens[i]->keys_lock);
		}
	}
}

static void
fork_parent(void)
{
	for (struct smk_keystore *ks = all_stores; ks != NULL; ks = ks->next) {
		for (size_t i = ks->count; i-- > 0;) {
			pthread_rwlock_unlock(&ks->tokens[i]->keys_lock);
			pthread_mutex_unlock(&ks->tokens[i]->mu);
		}
	}
	pthread_mutex_unlock(&all_lock);
}

/* The child: every lock was taken by this thread in fork_prepare and no
 * other thread exists, so the state they guard is whole; the locks are
 * made anew rather than unlocked (see the header of this file). */
static void
fork_child(void)
{
	for (struct smk_keystore *ks = all_stores; ks != NULL; ks = ks->next) {
		for (size_t i = 0; i < ks->count; i++) {
			pthread_rwlock_init(&ks->tokens[i]->keys_lock, NULL);
			pthread_mutex_init(&ks->tokens[i]->mu, NULL);
		}
	}
	pthread_mutex_init(&all_lock, NULL);
}

static void
atfork_register(void)
{
	/* Without the handlers (out of memory) a fork's child may find a lock
	 * held for good; nothing else changes.  There is no error to give. */
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void
store_list(struct smk_keystore *ks)
{
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&all_lock);
	ks->prev = NULL;
	ks->next = all_stores;
	if (all_stores != NULL)
		all_stores->prev = ks;
	all_stores = ks;
	ks->listed = true;
	pthread_mutex_unlock(&all_lock);
}

static void
store_unlist(struct smk_keystore *ks)
{
	if (!ks->listed)
		return;
	pthread_mutex_lock(&all_lock);
	if (ks->prev != NULL)
		ks->prev->next = ks->next;
	else
		all_stores = ks->next;
	if (ks->next != NULL)
		ks->next->prev = ks->prev;
	ks->listed = false;
	pthread_mutex_unlock(&all_lock);
}


const char *
smk_ks_status_str(enum smk_ks_status st)
{
	switch (st) {
	case SMK_KS_OK: return "ok";
	case SMK_KS_PIN_INCORRECT: return "PIN incorrect";
	case SMK_KS_PIN_LOCKED: return "PIN locked";
	case SMK_KS_PIN_INVALID: return "PIN invalid";
	case SMK_KS_PIN_NOT_SET: return "PIN not set";
	case SMK_KS_NOT_LOGGED_IN: return "not logged in";
	case SMK_KS_ALREADY_LOGGED_IN: return "already logged in";
	case SMK_KS_OTHER_LOGGED_IN: return "another user is logged in";
	case SMK_KS_NOT_FOUND: return "not found";
	case SMK_KS_UNSUPPORTED: return "unsupported";
	case SMK_KS_BAD_INPUT: return "bad input";
	case SMK_KS_BUFFER_TOO_SMALL: return "buffer too small";
	case SMK_KS_EXISTS: return "token exists";
	case SMK_KS_READ_ONLY: return "read-only";
	case SMK_KS_UNAVAILABLE: return "unavailable";
	case SMK_KS_ERROR: return "error";
	}
	return "unknown status";
}

static void
ks_log(struct smk_token *t, enum smk_log_level level, const char *msg)
{
	if (t->ks->log != NULL)
		t->ks->log(t->ks->log_ctx, level, msg);
}

enum smk_ks_status
smk_ks_fail(struct smk_error *err, enum smk_ks_status st, enum smk_status code,
	    const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		smk_error_vset(err, code, fmt, ap);
		va_end(ap);
	}
	return st;
}

static void
token_free(struct smk_token *t);

/* ---- library context ----------------------------------------------------------- */

/* The key store's own OpenSSL work (decoding key files, certificates and
 * PKCS#12, PBKDF2, HMAC, ciphers, key generation, the private-key
 * operations), in lib/ and in the directory backend alike, asks for
 * OpenSSL's default library context (NULL).  With a library context
 * given, every entry point makes it the calling thread's default for the
 * time of the call (OSSL_LIB_CTX_set0_default is per thread) and puts the
 * caller's back before returning: so all of it runs there, the code below
 * needs no libctx argument, and other threads are not affected.  A front
 * inside an OpenSSL provider needs this: the application's default
 * context may have no default provider, or have the front itself loaded. */
static OSSL_LIB_CTX *
ctx_enter(const struct smk_keystore *ks)
{
	return ks != NULL && ks->libctx != NULL ? OSSL_LIB_CTX_set0_default(ks->libctx) : NULL;
}

static void
ctx_leave(const struct smk_keystore *ks, OSSL_LIB_CTX *prev)
{
	if (ks != NULL && ks->libctx != NULL && prev != NULL)
		OSSL_LIB_CTX_set0_default(prev);
}

static struct smk_keystore *
keystore_new(const struct smk_config *cfg, const struct smk_token_backend *const *backends,
	     OSSL_LIB_CTX *libctx, smk_log_fn *log, void *log_ctx, struct smk_error *err);

struct smk_keystore *
smk_keystore_new(const struct smk_config *cfg, const struct smk_token_backend *const *backends,
		 smk_log_fn *log, void *log_ctx, struct smk_error *err)
{
	return keystore_new(cfg, backends, NULL, log, log_ctx, err);
}

struct smk_keystore *
smk_keystore_new_ex(const struct smk_config *cfg, const struct smk_token_backend *const *backends,
		    OSSL_LIB_CTX *libctx, smk_log_fn *log, void *log_ctx, struct smk_error *err)
{
	struct smk_keystore tmp = { .libctx = libctx };
	OSSL_LIB_CTX *prev = ctx_enter(&tmp);
	struct smk_keystore *ks = keystore_new(cfg, backends, libctx, log, log_ctx, err);

	ctx_leave(&tmp, prev);
	return ks;
}

static struct smk_keystore *
keystore_new(const struct smk_config *cfg, const struct smk_token_backend *const *backends,
	     OSSL_LIB_CTX *libctx, smk_log_fn *log, void *log_ctx, struct smk_error *err)
{
	const char *file = cfg != NULL && cfg->path != NULL ? cfg->path : "configuration";
	struct smk_keystore *ks;

	smk_error_clear(err);
	if (cfg == NULL || backends == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "key store: no configuration");
		return NULL;
	}
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		goto nomem;
	ks->log = log;
	ks->log_ctx = log_ctx;
	ks->libctx = libctx;

	for (size_t i = 0; i < cfg->count; i++) {
		const struct smk_config_section *sec = &cfg->sections[i];
		const struct smk_token_backend *be = NULL;
		const struct smk_config_entry *type;
		const char **allowed;
		struct smk_token *t, **grown;
		size_t nkeys = 0;
		int rc;

		if (strcmp(sec->type, "token") != 0)
			continue;
		if (sec->name == NULL || sec->name[0] == '\0') {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: [token] needs a name ([token NAME])",
				      file, sec->line);
			goto fail;
		}
		if (strlen(sec->name) >= sizeof(((struct smk_token_info *)0)->name)) {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: token name too long (at most %zu bytes)",
				      file, sec->line, sizeof(((struct smk_token_info *)0)->name) - 1);
			goto fail;
		}
		if (smk_keystore_find(ks, sec->name) != NULL) {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: a second [token %s]", file, sec->line,
				      sec->name);
			goto fail;
		}
		type = smk_config_entry(sec, "type");
		if (type == NULL) {
			smk_error_set(err, SMK_ERR_INVALID,
				      "%s:%u: [token %s] has no type (type = file or directory)", file,
				      sec->line, sec->name);
			goto fail;
		}
		for (size_t j = 0; backends[j] != NULL && be == NULL; j++) {
			if (strcmp(backends[j]->type, type->value) == 0)
				be = backends[j];
		}
		if (be == NULL) {
			bool known = strcmp(type->value, "file") == 0 ||
				     strcmp(type->value, "directory") == 0;

			smk_error_set(err, SMK_ERR_INVALID, known ?
				      "%s:%u: token type '%s' is not available in this program" :
				      "%s:%u: unknown token type '%s' (file or directory)",
				      file, type->line, type->value);
			goto fail;
		}
		while (be->keys != NULL && be->keys[nkeys] != NULL)
			nkeys++;
		allowed = calloc(nkeys + 2, sizeof(*allowed));
		if (allowed == NULL)
			goto nomem;
		for (size_t j = 0; j < nkeys; j++)
			allowed[j] = be->keys[j];
		allowed[nkeys] = "type";
		rc = smk_config_check_keys(cfg, sec, allowed, err);
		free(allowed);
		if (rc < 0)
			goto fail;

		t = calloc(1, sizeof(*t));
		if (t == NULL)
			goto nomem;
		t->ks = ks;
		t->be = be;
		t->name = strdup(sec->name);
		if (t->name == NULL || pthread_mutex_init(&t->mu, NULL) != 0) {
			free(t->name);
			free(t);
			goto nomem;
		}
		if (pthread_rwlock_init(&t->keys_lock, NULL) != 0) {
			pthread_mutex_destroy(&t->mu);
			free(t->name);
			free(t);
			goto nomem;
		}
		grown = realloc(ks->tokens, (ks->count + 1) * sizeof(*grown));
		if (grown == NULL) {
			token_free(t);
			goto nomem;
		}
		ks->tokens = grown;
		ks->tokens[ks->count++] = t;
		t->b = be->open(cfg, sec, log, log_ctx, err);
		if (t->b == NULL)
			goto fail;
	}
	/* listed only when whole: the fork handlers lock every token */
	store_list(ks);
	return ks;

nomem:
	smk_error_set(err, SMK_ERR_NOMEM, "key store: out of memory");
fail:
	smk_keystore_free(ks);
	return NULL;
}

static void
privs_free(struct ks_priv *privs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY_free(privs[i].key);
		EVP_PKEY_free(privs[i].pub);
		X509_free(privs[i].cert);
		free(privs[i].label);
		EVP_PKEY_CTX_free(privs[i].ecdsa_ctx);
	}
	free(privs);
}

/* Drops the keys in memory and the backend's unlocked state.  Token
 * locked; keys_lock is taken unless the token is being freed (after
 * fork() a lock held by a thread of the parent would never be released). */
static void
logout_locked(struct smk_token *t, bool take_keys_lock)
{
	struct ks_priv *privs;
	size_t n;

	if ((t->user_in || t->so_in) && t->b != NULL)
		t->be->lock(t->b);
	if (take_keys_lock)
		pthread_rwlock_wrlock(&t->keys_lock);
	privs = t->privs;
	n = t->n_privs;
	t->privs = NULL;
	t->n_privs = 0;
	t->user_in = t->so_in = false;
	if (take_keys_lock)
		pthread_rwlock_unlock(&t->keys_lock);
	/* operations running still hold their own references */
	privs_free(privs, n);
}

static void
token_free(struct smk_token *t)
{
	if (t == NULL)
		return;
	logout_locked(t, false);
	if (t->b != NULL)
		t->be->close(t->b);
	pthread_rwlock_destroy(&t->keys_lock);
	pthread_mutex_destroy(&t->mu);
	free(t->name);
	free(t);
}

void
smk_keystore_free(struct smk_keystore *ks)
{
	if (ks == NULL)
		return;
	store_unlist(ks);
	for (size_t i = 0; i < ks->count; i++)
		token_free(ks->tokens[i]);
	free(ks->tokens);
	free(ks);
}

size_t
smk_keystore_count(const struct smk_keystore *ks)
{
	return ks != NULL ? ks->count : 0;
}

struct smk_token *
smk_keystore_token(struct smk_keystore *ks, size_t i)
{
	return ks != NULL && i < ks->count ? ks->tokens[i] : NULL;
}

struct smk_token *
smk_keystore_find(struct smk_keystore *ks, const char *name)
{
	for (size_t i = 0; ks != NULL && name != NULL && i < ks->count; i++) {
		if (strcmp(ks->tokens[i]->name, name) == 0)
			return ks->tokens[i];
	}
	return NULL;
}

/* ---- key ids ---------------------------------------------------------------- */

static bool
key_type(const EVP_PKEY *k, enum smk_key_type *type)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		*type = SMK_KEY_RSA;
		return true;
	case EVP_PKEY_EC:
		*type = SMK_KEY_EC;
		return true;
	default:
		return false;
	}
}

/* The uncompressed point of an EC key (*len bytes, OPENSSL_free it), made
 * from the coordinates so that a key kept in compressed form gives the
 * same id: NSS computes ids from the uncompressed point. */
static unsigned char *
ec_point_uncompressed(const EVP_PKEY *k, size_t *len)
{
	BIGNUM *x = NULL, *y = NULL;
	unsigned char *out = NULL;
	int bits = EVP_PKEY_get_bits(k);
	size_t fs;

	if (bits <= 0)
		return NULL;
	fs = ((size_t)bits + 7) / 8;
	if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) &&
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
		out = OPENSSL_malloc(2 * fs + 1);
		if (out != NULL) {
			out[0] = POINT_CONVERSION_UNCOMPRESSED;
			if (BN_bn2binpad(x, out + 1, (int)fs) < 0 ||
			    BN_bn2binpad(y, out + 1 + fs, (int)fs) < 0) {
				OPENSSL_free(out);
				out = NULL;
			}
			*len = 2 * fs + 1;
		}
	}
	BN_free(x);
	BN_free(y);
	return out;
}

int
smk_key_id(const EVP_PKEY *pub, unsigned char id[SMK_ITEM_ID_MAX], size_t *id_len)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	enum smk_key_type type;

	if (pub == NULL || id == NULL || id_len == NULL || !key_type(pub, &type))
		return -1;
	if (type == SMK_KEY_RSA) {
		BIGNUM *n = NULL;

		if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n))
			return -1;
		len = (size_t)BN_num_bytes(n);
		bytes = OPENSSL_malloc(len > 0 ? len : 1);
		if (bytes != NULL)
			BN_bn2bin(n, bytes);
		BN_free(n);
	} else {
		bytes = ec_point_uncompressed(pub, &len);
	}
	if (bytes == NULL || len == 0) {
		OPENSSL_free(bytes);
		ERR_clear_error();
		return -1;
	}
	SHA1(bytes, len, id);
	*id_len = SHA_DIGEST_LENGTH;
	OPENSSL_free(bytes);
	return 0;
}

static bool
has_private_half(const EVP_PKEY *k, enum smk_key_type type)
{
	BIGNUM *bn = NULL;
	bool ok;

	ERR_set_mark();
	ok = EVP_PKEY_get_bn_param(k, type == SMK_KEY_RSA ? OSSL_PKEY_PARAM_RSA_D :
				   OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1;
	BN_clear_free(bn);
	ERR_pop_to_mark();
	return ok;
}

/* A key with only the public half (for items: never hand out the private
 * EVP_PKEY). */
static EVP_PKEY *
public_copy(const EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len;

	len = i2d_PUBKEY(k, &der);
	if (len > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, len);
	}
	OPENSSL_free(der);
	return pub;
}

/* ---- PIN and label rules ---------------------------------------------------- */

static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static enum smk_ks_status
check_new_pin(const char *pin, size_t len, const char *what, struct smk_error *err)
{
	if (pin == NULL || len < SMK_PIN_MIN || len > SMK_PIN_MAX)
		return smk_ks_fail(err, SMK_KS_PIN_INVALID, SMK_ERR_INVALID,
			    "the new %s must have %d to %d bytes", what, SMK_PIN_MIN, SMK_PIN_MAX);
	if (!utf8_valid((const unsigned char *)pin, len))
		return smk_ks_fail(err, SMK_KS_PIN_INVALID, SMK_ERR_INVALID,
			    "the new %s is not valid UTF-8 (or contains a NUL byte)", what);
	return SMK_KS_OK;
}

static enum smk_ks_status
check_label(const char *label, size_t max, struct smk_error *err)
{
	size_t len;

	if (label == NULL)
		return SMK_KS_OK;
	len = strlen(label);
	if (len > max)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
			    "label too long (%zu bytes, at most %zu)", len, max);
	if (!utf8_valid((const unsigned char *)label, len))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "label is not valid UTF-8");
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
				    "label contains a control character");
	}
	return SMK_KS_OK;
}

/* ---- token state -------------------------------------------------------------- */

static enum smk_ks_status
token_info(struct smk_token *t, struct smk_token_info *info, struct smk_error *err)
{
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || info == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "token info: no token");
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&t->mu);
	st = t->be->info(t->b, info, err);
	snprintf(info->name, sizeof(info->name), "%s", t->name);
	info->user_logged_in = t->user_in;
	info->so_logged_in = t->so_in;
	pthread_mutex_unlock(&t->mu);
	return st;
}

/* Collects what a backend hands over. */
struct obj {
	unsigned char id[SMK_ITEM_ID_MAX];
	size_t id_len;
	enum smk_key_type type;
	EVP_PKEY *key;		/* public copy, or NULL */
	X509 *cert;
	char *label;
};

struct collect {
	struct smk_token *t;
	struct obj *v;
	size_t n, alloc;
	/* unlock: private keys go to privs instead */
	bool private;
	struct ks_priv *privs;
	size_t n_privs, alloc_privs;
};

static void
objs_free(struct obj *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY_free(v[i].key);
		X509_free(v[i].cert);
		free(v[i].label);
	}
	free(v);
}

static int
collect_private(struct collect *c, EVP_PKEY *key, X509 *cert, const char *label)
{
	struct ks_priv *p;

	if (c->n_privs == c->alloc_privs) {
		size_t na = c->alloc_privs ? c->alloc_privs * 2 : 8;
		struct ks_priv *g = realloc(c->privs, na * sizeof(*g));

		if (g == NULL)
			return -1;
		c->privs = g;
		c->alloc_privs = na;
	}
	p = &c->privs[c->n_privs];
	memset(p, 0, sizeof(*p));
	if (!key_type(key, &p->type) || smk_key_id(key, p->id, &p->id_len) < 0) {
		ks_log(c->t, SMK_LOG_WARNING, "token: a private key of a type not offered skipped");
		return 0;
	}
	p->pub = public_copy(key);
	p->label = label != NULL && label[0] != '\0' ? strdup(label) : NULL;
	if (p->pub == NULL || (label != NULL && label[0] != '\0' && p->label == NULL)) {
		EVP_PKEY_free(p->pub);
		free(p->label);
		return -1;
	}
	if (!EVP_PKEY_up_ref(key)) {
		EVP_PKEY_free(p->pub);
		free(p->label);
		return -1;
	}
	p->key = key;
	if (cert != NULL && X509_up_ref(cert))
		p->cert = cert;
	c->n_privs++;
	return 0;
}

static int
collect_add(void *ctx, EVP_PKEY *key, X509 *cert, const char *label)
{
	struct collect *c = ctx;
	EVP_PKEY *pub = NULL;
	struct obj *o;

	if (key == NULL && cert == NULL)
		return 0;
	if (c->private && key != NULL)
		return collect_private(c, key, cert, label);
	if (c->n == c->alloc) {
		size_t na = c->alloc ? c->alloc * 2 : 16;
		struct obj *g = realloc(c->v, na * sizeof(*g));

		if (g == NULL)
			return -1;
		c->v = g;
		c->alloc = na;
	}
	o = &c->v[c->n];
	memset(o, 0, sizeof(*o));
	if (key != NULL) {
		if (!key_type(key, &o->type) || smk_key_id(key, o->id, &o->id_len) < 0)
			goto skip;
		/* a public key is shared as is (copying costs a decoder run) */
		if (has_private_half(key, o->type))
			pub = public_copy(key);
		else if (EVP_PKEY_up_ref(key))
			pub = key;
		if (pub == NULL)
			return -1;
	} else {
		EVP_PKEY *ck = X509_get0_pubkey(cert);

		if (ck == NULL || !key_type(ck, &o->type) || smk_key_id(ck, o->id, &o->id_len) < 0)
			goto skip;
	}
	if (label != NULL && label[0] != '\0') {
		o->label = strdup(label);
		if (o->label == NULL) {
			EVP_PKEY_free(pub);
			return -1;
		}
	}
	o->key = pub;
	if (cert != NULL && X509_up_ref(cert))
		o->cert = cert;
	c->n++;
	return 0;
skip:
	ERR_clear_error();
	ks_log(c->t, SMK_LOG_DEBUG, "token: an object with a key type not offered skipped");
	return 0;
}

/* One item to be: a key and its certificates. */
struct group {
	unsigned char id[SMK_ITEM_ID_MAX];
	size_t id_len;
	enum smk_key_type type;
	EVP_PKEY *pub;		/* borrowed */
	const char *label;	/* borrowed */
	bool key_stored, has_private;
	X509 **certs;		/* borrowed */
	size_t n_certs;
};

struct groups {
	struct group *v;
	size_t n;
};

static struct group *
group_get(struct groups *g, const unsigned char *id, size_t id_len, enum smk_key_type type)
{
	struct group *ng;

	for (size_t i = 0; i < g->n; i++) {
		if (g->v[i].id_len == id_len && memcmp(g->v[i].id, id, id_len) == 0)
			return &g->v[i];
	}
	ng = realloc(g->v, (g->n + 1) * sizeof(*ng));
	if (ng == NULL)
		return NULL;
	g->v = ng;
	ng = &g->v[g->n++];
	memset(ng, 0, sizeof(*ng));
	memcpy(ng->id, id, id_len);
	ng->id_len = id_len;
	ng->type = type;
	return ng;
}

static int
group_add_cert(struct group *gr, X509 *cert)
{
	X509 **nc;

	if (cert == NULL)
		return 0;
	for (size_t i = 0; i < gr->n_certs; i++) {
		if (X509_cmp(gr->certs[i], cert) == 0)
			return 0;
	}
	nc = realloc(gr->certs, (gr->n_certs + 1) * sizeof(*nc));
	if (nc == NULL)
		return -1;
	gr->certs = nc;
	gr->certs[gr->n_certs++] = cert;
	return 0;
}

static struct smk_item *
item_new(const unsigned char *id, size_t id_len, enum smk_key_type type, EVP_PKEY *pub,
	 X509 *cert, const char *label, bool has_private, bool stored)
{
	struct ks_item *ki = calloc(1, sizeof(*ki));

	if (ki == NULL)
		return NULL;
	atomic_init(&ki->refs, 1);
	memcpy(ki->it.id, id, id_len);
	ki->it.id_len = id_len;
	ki->it.type = type;
	ki->it.label = strdup(label != NULL ? label : "");
	ki->it.has_private = has_private;
	ki->it.private_stored = stored;
	if (ki->it.label == NULL || !EVP_PKEY_up_ref(pub)) {
		free(ki->it.label);
		free(ki);
		return NULL;
	}
	ki->it.pub = pub;
	if (cert != NULL && X509_up_ref(cert))
		ki->it.cert = cert;
	return &ki->it;
}

/* Newest certificate first (by notBefore), so an item shows the current one. */
static int
cert_newer_first(const void *a, const void *b)
{
	const ASN1_TIME *ta = X509_get0_notBefore(*(X509 *const *)a);
	const ASN1_TIME *tb = X509_get0_notBefore(*(X509 *const *)b);
	int day, sec;

	if (ta == NULL || tb == NULL || !ASN1_TIME_diff(&day, &sec, ta, tb))
		return 0;
	return day > 0 || sec > 0 ? 1 : (day < 0 || sec < 0 ? -1 : 0);
}

static struct ks_priv *
find_priv(struct smk_token *t, const unsigned char *id, size_t id_len)
{
	for (size_t i = 0; i < t->n_privs; i++) {
		if (t->privs[i].id_len == id_len && memcmp(t->privs[i].id, id, id_len) == 0)
			return &t->privs[i];
	}
	return NULL;
}

/* Joins the public objects and the keys in memory into items.  Token
 * locked.  A key with several certificates gives one item with the newest
 * and one item (no private key) for each other certificate. */
static enum smk_ks_status
build_items(struct smk_token *t, struct obj *objs, size_t n_objs, struct smk_item ***items,
	    size_t *n, struct smk_error *err)
{
	struct groups g = { NULL, 0 };
	struct smk_item **out = NULL;
	size_t n_out = 0, alloc_out = 0;
	enum smk_ks_status st = SMK_KS_OK;

	/* stored keys first (their order is the backend's), then keys only in
	 * memory, then certificates join their keys */
	for (size_t i = 0; i < n_objs; i++) {
		struct group *gr;

		if (objs[i].key == NULL)
			continue;
		gr = group_get(&g, objs[i].id, objs[i].id_len, objs[i].type);
		if (gr == NULL || group_add_cert(gr, objs[i].cert) < 0)
			goto nomem;
		if (gr->pub == NULL)
			gr->pub = objs[i].key;
		if (gr->label == NULL)
			gr->label = objs[i].label;
		gr->key_stored = true;
	}
	for (size_t i = 0; t->user_in && i < t->n_privs; i++) {
		struct ks_priv *p = &t->privs[i];
		struct group *gr = group_get(&g, p->id, p->id_len, p->type);

		if (gr == NULL || group_add_cert(gr, p->cert) < 0)
			goto nomem;
		if (gr->pub == NULL)
			gr->pub = p->pub;
		if (gr->label == NULL)
			gr->label = p->label;
		gr->key_stored = gr->has_private = true;
	}
	for (size_t i = 0; i < n_objs; i++) {
		struct group *gr;

		if (objs[i].key != NULL)
			continue;
		gr = group_get(&g, objs[i].id, objs[i].id_len, objs[i].type);
		if (gr == NULL || group_add_cert(gr, objs[i].cert) < 0)
			goto nomem;
		if (gr->label == NULL)
			gr->label = objs[i].label;
	}

	for (size_t i = 0; i < g.n; i++) {
		struct group *gr = &g.v[i];

		if (gr->n_certs > 1)
			qsort(gr->certs, gr->n_certs, sizeof(*gr->certs), cert_newer_first);
		for (size_t c = 0; c < (gr->n_certs ? gr->n_certs : 1); c++) {
			X509 *cert = gr->n_certs ? gr->certs[c] : NULL;
			EVP_PKEY *pub = gr->pub;
			struct smk_item *it;

			if (c > 0 || pub == NULL)
				pub = X509_get0_pubkey(cert);
			if (pub == NULL)
				continue;
			if (n_out == alloc_out) {
				size_t na = alloc_out ? alloc_out * 2 : 8;
				struct smk_item **grown = realloc(out, na * sizeof(*grown));

				if (grown == NULL)
					goto nomem;
				out = grown;
				alloc_out = na;
			}
			it = item_new(gr->id, gr->id_len, gr->type, pub, cert, gr->label,
				      c == 0 && gr->has_private, c == 0 && gr->key_stored);
			if (it == NULL)
				goto nomem;
			out[n_out++] = it;
		}
	}
	*items = out;
	*n = n_out;
	out = NULL;
	goto done;
nomem:
	st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory", t->name);
	smk_items_free(out, n_out);
done:
	for (size_t i = 0; i < g.n; i++)
		free(g.v[i].certs);
	free(g.v);
	return st;
}

static enum smk_ks_status
token_items(struct smk_token *t, struct smk_item ***items, size_t *n, struct smk_error *err)
{
	struct collect c;
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || items == NULL || n == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "token items: NULL argument");
	*items = NULL;
	*n = 0;
	memset(&c, 0, sizeof(c));
	c.t = t;
	pthread_mutex_lock(&t->mu);
	st = t->be->load_public(t->b, collect_add, &c, err);
	if (st == SMK_KS_OK)
		st = build_items(t, c.v, c.n, items, n, err);
	pthread_mutex_unlock(&t->mu);
	objs_free(c.v, c.n);
	return st;
}

/* ---- login -------------------------------------------------------------------- */

static enum smk_ks_status
token_login(struct smk_token *t, enum smk_ks_user user, const char *pin, size_t pin_len,
		struct smk_error *err)
{
	struct collect c;
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || (pin == NULL && pin_len > 0) || (user != SMK_KS_USER && user != SMK_KS_SO))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "login: bad argument");
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.private = true;
	pthread_mutex_lock(&t->mu);
	if ((user == SMK_KS_USER && t->user_in) || (user == SMK_KS_SO && t->so_in)) {
		st = smk_ks_fail(err, SMK_KS_ALREADY_LOGGED_IN, SMK_ERR_STATE, "token %s: already logged in",
			  t->name);
	} else if (t->user_in || t->so_in) {
		st = smk_ks_fail(err, SMK_KS_OTHER_LOGGED_IN, SMK_ERR_STATE,
			  "token %s: the %s is logged in", t->name, t->user_in ? "user" : "SO");
	} else {
		st = t->be->unlock(t->b, user, pin != NULL ? pin : "", pin_len, collect_add, &c, err);
		if (st == SMK_KS_OK && user == SMK_KS_USER) {
			pthread_rwlock_wrlock(&t->keys_lock);
			t->privs = c.privs;
			t->n_privs = c.n_privs;
			t->user_in = true;
			pthread_rwlock_unlock(&t->keys_lock);
			c.privs = NULL;
			c.n_privs = 0;
		} else if (st == SMK_KS_OK) {
			t->so_in = true;
		}
	}
	pthread_mutex_unlock(&t->mu);
	privs_free(c.privs, c.n_privs);
	objs_free(c.v, c.n);
	return st;
}

static void
token_logout(struct smk_token *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	logout_locked(t, true);
	pthread_mutex_unlock(&t->mu);
}

static enum smk_ks_status
token_init(struct smk_token *t, const char *so_pin, size_t so_pin_len, const char *label,
	       struct smk_error *err)
{
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "token init: no token");
	if (t->be->init_token == NULL)
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
			    "token %s: a %s token cannot be initialised here", t->name, t->be->type);
	st = check_new_pin(so_pin, so_pin_len, "SO PIN", err);
	if (st == SMK_KS_OK)
		st = check_label(label, sizeof(((struct smk_token_info *)0)->label) - 1, err);
	if (st != SMK_KS_OK)
		return st;
	pthread_mutex_lock(&t->mu);
	if (t->user_in || t->so_in)
		st = smk_ks_fail(err, SMK_KS_OTHER_LOGGED_IN, SMK_ERR_STATE,
			  "token %s: log out before initialising the token", t->name);
	else
		st = t->be->init_token(t->b, so_pin, so_pin_len, label, err);
	pthread_mutex_unlock(&t->mu);
	return st;
}

static enum smk_ks_status
token_init_pin(struct smk_token *t, const char *pin, size_t pin_len, struct smk_error *err)
{
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "init PIN: no token");
	pthread_mutex_lock(&t->mu);
	if (!t->so_in)
		st = smk_ks_fail(err, SMK_KS_NOT_LOGGED_IN, SMK_ERR_STATE,
			  "token %s: setting the user PIN needs the SO logged in", t->name);
	else if (t->be->init_pin == NULL)
		st = smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
			  "token %s: a %s token has no SO-set user PIN", t->name, t->be->type);
	else if ((st = check_new_pin(pin, pin_len, "user PIN", err)) == SMK_KS_OK)
		st = t->be->init_pin(t->b, pin, pin_len, err);
	pthread_mutex_unlock(&t->mu);
	return st;
}

static enum smk_ks_status
token_set_pin(struct smk_token *t, enum smk_ks_user user, const char *old_pin, size_t old_len,
		  const char *new_pin, size_t new_len, struct smk_error *err)
{
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || (old_pin == NULL && old_len > 0) ||
	    (user != SMK_KS_USER && user != SMK_KS_SO))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "set PIN: bad argument");
	st = check_new_pin(new_pin, new_len, user == SMK_KS_SO ? "SO PIN" : "user PIN", err);
	if (st != SMK_KS_OK)
		return st;
	pthread_mutex_lock(&t->mu);
	if (t->be->set_pin == NULL)
		st = smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
			  "token %s: the PIN cannot be changed here", t->name);
	else
		st = t->be->set_pin(t->b, user, old_pin != NULL ? old_pin : "", old_len, new_pin,
				    new_len, err);
	pthread_mutex_unlock(&t->mu);
	return st;
}

/* ---- storing -------------------------------------------------------------------- */

/* Stores key (private) and keeps it in memory.  Token locked, user in. */
static enum smk_ks_status
store_locked(struct smk_token *t, EVP_PKEY *key, X509 *cert, const char *label,
	     struct smk_item **out, struct smk_error *err)
{
	struct collect c;
	struct ks_priv *p, *grown;
	enum smk_ks_status st;

	memset(&c, 0, sizeof(c));
	c.t = t;
	if (collect_private(&c, key, cert, label) < 0 || c.n_privs != 1) {
		privs_free(c.privs, c.n_privs);
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: cannot keep the key",
			    t->name);
	}
	st = t->be->store_key(t->b, key, cert, label, err);
	if (st != SMK_KS_OK) {
		privs_free(c.privs, c.n_privs);
		return st;
	}
	p = find_priv(t, c.privs[0].id, c.privs[0].id_len);
	if (p != NULL) {
		/* the same key stored again: keep the newer label/cert */
		if (c.privs[0].label != NULL) {
			free(p->label);
			p->label = c.privs[0].label;
			c.privs[0].label = NULL;
		}
		if (c.privs[0].cert != NULL) {
			X509_free(p->cert);
			p->cert = c.privs[0].cert;
			c.privs[0].cert = NULL;
		}
	} else {
		pthread_rwlock_wrlock(&t->keys_lock);
		grown = realloc(t->privs, (t->n_privs + 1) * sizeof(*grown));
		if (grown != NULL) {
			t->privs = grown;
			p = &t->privs[t->n_privs++];
			*p = c.privs[0];
			c.n_privs = 0;
		}
		pthread_rwlock_unlock(&t->keys_lock);
		if (grown == NULL) {
			privs_free(c.privs, c.n_privs);
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory",
				    t->name);
		}
	}
	if (out != NULL) {
		*out = item_new(p->id, p->id_len, p->type, p->pub, cert != NULL ? cert : p->cert,
				p->label, true, true);
		if (*out == NULL)
			st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory", t->name);
	}
	privs_free(c.privs, c.n_privs);
	return st;
}

static const char *
curve_name(const char *curve)
{
	if (curve == NULL || strcmp(curve, "P-256") == 0 || strcmp(curve, "prime256v1") == 0 ||
	    strcmp(curve, "secp256r1") == 0)
		return "P-256";
	if (strcmp(curve, "P-384") == 0 || strcmp(curve, "secp384r1") == 0)
		return "P-384";
	return NULL;
}

static enum smk_ks_status
need_user(struct smk_token *t, struct smk_error *err)
{
	if (!t->user_in)
		return smk_ks_fail(err, SMK_KS_NOT_LOGGED_IN, SMK_ERR_STATE, "token %s: the user is not logged in",
			    t->name);
	return SMK_KS_OK;
}

static enum smk_ks_status
token_generate(struct smk_token *t, const struct smk_keygen *kg, struct smk_item **out,
		   struct smk_error *err)
{
	enum smk_ks_status st;
	const char *curve = NULL;
	unsigned bits = 0;
	EVP_PKEY *key;

	smk_error_clear(err);
	if (out != NULL)
		*out = NULL;
	if (t == NULL || kg == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "generate: bad argument");
	if (kg->type == SMK_KEY_RSA) {
		bits = kg->bits ? kg->bits : 3072;
		if (bits < 2048 || bits > 8192)
			return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
				    "RSA keys of %u bits are not offered (2048 to 8192)", bits);
	} else if (kg->type == SMK_KEY_EC) {
		curve = curve_name(kg->curve);
		if (curve == NULL)
			return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
				    "curve %s is not offered (P-256 or P-384)", kg->curve);
	} else {
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "key type not offered");
	}
	st = check_label(kg->label, LABEL_MAX, err);
	if (st != SMK_KS_OK)
		return st;

	/* Generating takes long (RSA: up to seconds): check the login first,
	 * generate without holding the token, then check again to store. */
	pthread_mutex_lock(&t->mu);
	st = need_user(t, err);
	pthread_mutex_unlock(&t->mu);
	if (st != SMK_KS_OK)
		return st;
	key = curve != NULL ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve) :
			      EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (key == NULL) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "token %s: key generation failed", t->name);
		return SMK_KS_ERROR;
	}
	pthread_mutex_lock(&t->mu);
	st = need_user(t, err);
	if (st == SMK_KS_OK)
		st = store_locked(t, key, NULL, kg->label, out, err);
	pthread_mutex_unlock(&t->mu);
	EVP_PKEY_free(key);
	return st;
}

static enum smk_ks_status
token_store_key(struct smk_token *t, EVP_PKEY *key, X509 *cert, const char *label,
		    struct smk_item **out, struct smk_error *err)
{
	enum smk_key_type type;
	enum smk_ks_status st;

	smk_error_clear(err);
	if (out != NULL)
		*out = NULL;
	if (t == NULL || key == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "store key: bad argument");
	if (!key_type(key, &type))
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
			    "token %s: only RSA and EC keys can be stored", t->name);
	if (!has_private_half(key, type))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
			    "token %s: store key: not a private key", t->name);
	if (cert != NULL && EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		ERR_clear_error();
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
			    "token %s: the certificate does not belong to the key", t->name);
	}
	st = check_label(label, LABEL_MAX, err);
	if (st != SMK_KS_OK)
		return st;
	pthread_mutex_lock(&t->mu);
	st = need_user(t, err);
	if (st == SMK_KS_OK)
		st = store_locked(t, key, cert, label, out, err);
	pthread_mutex_unlock(&t->mu);
	return st;
}

static enum smk_ks_status
token_store_cert(struct smk_token *t, X509 *cert, const char *label, struct smk_item **out,
		     struct smk_error *err)
{
	unsigned char id[SMK_ITEM_ID_MAX];
	enum smk_key_type type;
	enum smk_ks_status st;
	EVP_PKEY *pub;
	size_t id_len;

	smk_error_clear(err);
	if (out != NULL)
		*out = NULL;
	if (t == NULL || cert == NULL)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "store certificate: bad argument");
	pub = X509_get0_pubkey(cert);
	if (pub == NULL || !key_type(pub, &type) || smk_key_id(pub, id, &id_len) < 0) {
		ERR_clear_error();
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_CERT,
			    "token %s: only certificates for RSA and EC keys can be stored", t->name);
	}
	st = check_label(label, LABEL_MAX, err);
	if (st != SMK_KS_OK)
		return st;
	pthread_mutex_lock(&t->mu);
	if (t->be->store_cert == NULL)
		st = smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
			  "token %s: certificates cannot be stored here", t->name);
	else
		st = t->be->store_cert(t->b, cert, label, err);
	if (st == SMK_KS_OK && out != NULL) {
		struct ks_priv *p = t->user_in ? find_priv(t, id, id_len) : NULL;

		*out = item_new(id, id_len, type, p != NULL ? p->pub : pub, cert,
				label != NULL ? label : (p != NULL ? p->label : NULL), p != NULL,
				p != NULL);
		if (*out == NULL)
			st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory", t->name);
	}
	pthread_mutex_unlock(&t->mu);
	return st;
}

/* ---- private-key operations -------------------------------------------------- */

/* A context on the private key of it, made under the keys' read lock (the
 * context holds its own reference to the key). */
static enum smk_ks_status
op_begin(struct smk_token *t, const struct smk_item *it, EVP_PKEY_CTX **ctx, struct smk_error *err)
{
	enum smk_ks_status st = SMK_KS_OK;
	struct ks_priv *p;

	*ctx = NULL;
	pthread_rwlock_rdlock(&t->keys_lock);
	if (!t->user_in) {
		st = smk_ks_fail(err, SMK_KS_NOT_LOGGED_IN, SMK_ERR_STATE, "token %s: the user is not logged in",
			  t->name);
	} else {
		p = it->id_len <= SMK_ITEM_ID_MAX ? find_priv(t, it->id, it->id_len) : NULL;
		if (p == NULL)
			st = smk_ks_fail(err, SMK_KS_NOT_FOUND, SMK_ERR_INVALID,
				  "token %s: no private key for this item", t->name);
		else if ((*ctx = EVP_PKEY_CTX_new_from_pkey(NULL, p->key, NULL)) == NULL)
			st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_CRYPTO, "token %s: out of memory", t->name);
	}
	pthread_rwlock_unlock(&t->keys_lock);
	return st;
}

static enum smk_ks_status
ossl_fail(struct smk_error *err, enum smk_ks_status st, const char *what)
{
	smk_error_set_ossl(err, st == SMK_KS_BAD_INPUT ? SMK_ERR_INVALID : SMK_ERR_CRYPTO, "%s", what);
	return st;
}

static enum smk_ks_status
get_md(const char *name, const EVP_MD **md, struct smk_error *err)
{
	/* the common ones without a name lookup (which takes a global lock) */
	static const struct {
		const char *name;
		const EVP_MD *(*fn)(void);
	} common[] = {
		{ "SHA256", EVP_sha256 }, { "SHA384", EVP_sha384 }, { "SHA512", EVP_sha512 },
		{ "SHA1", EVP_sha1 }, { "SHA224", EVP_sha224 },
	};

	*md = NULL;
	if (name == NULL)
		return SMK_KS_OK;
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
		if (strcmp(name, common[i].name) == 0) {
			*md = common[i].fn();
			return SMK_KS_OK;
		}
	}
	*md = EVP_get_digestbyname(name);
	if (*md == NULL)
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "digest %s not offered", name);
	return SMK_KS_OK;
}

/* Raw RSA input must be below the modulus: left-padded to k bytes into buf. */
static enum smk_ks_status
rsa_raw_input(EVP_PKEY *key, const unsigned char *in, size_t in_len, unsigned char *buf, size_t k,
	      struct smk_error *err)
{
	BIGNUM *n = NULL;
	unsigned char *nb;
	int cmp;

	if (in_len > k)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
			    "raw RSA input of %zu bytes for a %zu-byte modulus", in_len, k);
	memset(buf, 0, k - in_len);
	memcpy(buf + (k - in_len), in, in_len);
	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n))
		return ossl_fail(err, SMK_KS_ERROR, "RSA modulus");
	nb = OPENSSL_malloc(k);
	if (nb == NULL || BN_bn2binpad(n, nb, (int)k) < 0) {
		OPENSSL_free(nb);
		BN_free(n);
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "raw RSA: out of memory");
	}
	cmp = memcmp(buf, nb, k);
	OPENSSL_free(nb);
	BN_free(n);
	if (cmp >= 0)
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
			    "raw RSA input is not below the modulus");
	return SMK_KS_OK;
}

static enum smk_ks_status
sign_setup_rsa(EVP_PKEY_CTX *ctx, EVP_PKEY *key, const struct smk_sign_params *p, const EVP_MD *md,
	       size_t in_len, size_t k, struct smk_error *err)
{
	const EVP_MD *mgf1 = NULL;
	enum smk_ks_status st;
	size_t hlen = md != NULL ? (size_t)EVP_MD_get_size(md) : 0;

	(void)key;
	switch (p->padding) {
	case SMK_PAD_PKCS1:
		if (md != NULL && in_len != hlen)
			return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
				    "a %s digest has %zu bytes, not %zu", p->md, hlen, in_len);
		if (md == NULL && (in_len == 0 || in_len + 11 > k))
			return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
				    "PKCS#1 input of %zu bytes for a %zu-byte modulus", in_len, k);
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
		    (md != NULL && EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0))
			return ossl_fail(err, SMK_KS_ERROR, "RSA PKCS#1 parameters");
		return SMK_KS_OK;
	case SMK_PAD_PSS:
		if (md == NULL)
			return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "RSA-PSS needs a digest");
		if (in_len != hlen)
			return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
				    "a %s digest has %zu bytes, not %zu", p->md, hlen, in_len);
		st = get_md(p->mgf1_md, &mgf1, err);
		if (st != SMK_KS_OK)
			return st;
		if (p->salt_len < -1 || (p->salt_len > 0 && (size_t)p->salt_len + hlen + 2 > k))
			return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
				    "PSS salt length %d does not fit", p->salt_len);
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf1 != NULL ? mgf1 : md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, p->salt_len < 0 ? RSA_PSS_SALTLEN_DIGEST :
						     p->salt_len) <= 0)
			return ossl_fail(err, SMK_KS_BAD_INPUT, "RSA-PSS parameters");
		return SMK_KS_OK;
	case SMK_PAD_NONE:
		if (md != NULL)
			return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID,
				    "raw RSA takes no digest");
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0)
			return ossl_fail(err, SMK_KS_ERROR, "raw RSA");
		return SMK_KS_OK;
	default:
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "padding not offered for signing");
	}
}

/* The signature with the key of ctx; ready: ctx is initialised for
 * signing already (a kept ECDSA context, see token_ecdsa). */
static enum smk_ks_status
sign_with(EVP_PKEY_CTX *ctx, bool ready, const struct smk_sign_params *p, const unsigned char *in,
	  size_t in_len, unsigned char *sig, size_t *sig_len, struct smk_error *err)
{
	EVP_PKEY *key = EVP_PKEY_CTX_get0_pkey(ctx);
	enum smk_ks_status st = SMK_KS_OK;
	unsigned char *raw = NULL;
	const EVP_MD *md = NULL;
	size_t max;
	int base;

	base = EVP_PKEY_get_base_id(key);
	max = (size_t)EVP_PKEY_get_size(key);
	if (sig == NULL) {
		*sig_len = max;
		goto out;
	}
	if (*sig_len < max) {
		*sig_len = max;
		st = smk_ks_fail(err, SMK_KS_BUFFER_TOO_SMALL, SMK_ERR_INVALID,
			  "signature buffer too small (%zu bytes needed)", max);
		goto out;
	}
	st = get_md(p->md, &md, err);
	if (st != SMK_KS_OK)
		goto out;
	if (!ready && EVP_PKEY_sign_init(ctx) <= 0) {
		st = ossl_fail(err, SMK_KS_ERROR, "sign");
		goto out;
	}
	if (base == EVP_PKEY_RSA) {
		st = sign_setup_rsa(ctx, key, p, md, in_len, max, err);
		if (st == SMK_KS_OK && p->padding == SMK_PAD_NONE) {
			raw = OPENSSL_malloc(max);
			if (raw == NULL)
				st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "sign: out of memory");
			else
				st = rsa_raw_input(key, in, in_len, raw, max, err);
			in = raw;
			in_len = max;
		}
	} else {
		/* The digest is not given to OpenSSL: ECDSA signs the bytes
		 * as they are either way (the length is checked here), and
		 * setting it costs a digest fetch per signature, a tenth of
		 * a P-256 signature's time. */
		if (in_len == 0 || (md != NULL && in_len != (size_t)EVP_MD_get_size(md)))
			st = smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
				  "ECDSA input of %zu bytes", in_len);
	}
	if (st != SMK_KS_OK)
		goto out;
	if (EVP_PKEY_sign(ctx, sig, sig_len, in, in_len) <= 0)
		st = ossl_fail(err, SMK_KS_ERROR, "signing failed");
out:
	OPENSSL_clear_free(raw, max);
	return st;
}

/* The signature with the key of ctx, which this takes over (frees). */
static enum smk_ks_status
pkey_sign(EVP_PKEY_CTX *ctx, const struct smk_sign_params *p, const unsigned char *in,
	  size_t in_len, unsigned char *sig, size_t *sig_len, struct smk_error *err)
{
	enum smk_ks_status st = sign_with(ctx, false, p, in, in_len, sig, sig_len, err);

	EVP_PKEY_CTX_free(ctx);
	return st;
}

/* ECDSA with a context kept in the key's ks_priv between signatures:
 * making one costs OpenSSL 3.0 a keymgmt lookup that walks every
 * algorithm name, and a signature fetch, together about a tenth of a
 * P-256 signature.  An ECDSA context holds no per-signature state (no
 * digest is set on it, see sign_with), so any signature may reuse it.
 * The slot is taken and handed back atomically under the keys' read
 * lock: threads signing at once each get their own context (the losers
 * make one and free it), and a logout (write lock) frees a kept one. */
static enum smk_ks_status
token_ecdsa(struct smk_token *t, const struct smk_item *it, const struct smk_sign_params *p,
	    const unsigned char *in, size_t in_len, unsigned char *sig, size_t *sig_len,
	    struct smk_error *err)
{
	EVP_PKEY_CTX *ctx = NULL, *none = NULL;
	enum smk_ks_status st = SMK_KS_OK;
	struct ks_priv *k;
	bool ready = false;

	pthread_rwlock_rdlock(&t->keys_lock);
	k = t->user_in ? find_priv(t, it->id, it->id_len) : NULL;
	if (k != NULL) {
		ctx = __atomic_exchange_n(&k->ecdsa_ctx, NULL, __ATOMIC_ACQ_REL);
		ready = ctx != NULL;
		if (ctx == NULL)
			ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL);
	}
	pthread_rwlock_unlock(&t->keys_lock);
	if (k == NULL) {	/* op_begin says why */
		st = op_begin(t, it, &ctx, err);
		return st != SMK_KS_OK ? st : pkey_sign(ctx, p, in, in_len, sig, sig_len, err);
	}
	if (ctx == NULL)
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_CRYPTO, "token %s: out of memory", t->name);
	st = sign_with(ctx, ready, p, in, in_len, sig, sig_len, err);
	if (st == SMK_KS_OK) {
		pthread_rwlock_rdlock(&t->keys_lock);
		k = t->user_in ? find_priv(t, it->id, it->id_len) : NULL;
		if (k != NULL && k->key == EVP_PKEY_CTX_get0_pkey(ctx) &&
		    __atomic_compare_exchange_n(&k->ecdsa_ctx, &none, ctx, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			ctx = NULL;
		pthread_rwlock_unlock(&t->keys_lock);
	}
	EVP_PKEY_CTX_free(ctx);
	return st;
}

static enum smk_ks_status
token_sign(struct smk_token *t, const struct smk_item *it, const struct smk_sign_params *p,
	       const unsigned char *in, size_t in_len, unsigned char *sig, size_t *sig_len,
	       struct smk_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || it == NULL || p == NULL || sig_len == NULL || (in == NULL && in_len > 0))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "sign: NULL argument");
	if (it->type == SMK_KEY_EC && sig != NULL && it->id_len <= SMK_ITEM_ID_MAX)
		return token_ecdsa(t, it, p, in, in_len, sig, sig_len, err);
	st = op_begin(t, it, &ctx, err);
	if (st != SMK_KS_OK)
		return st;
	return pkey_sign(ctx, p, in, in_len, sig, sig_len, err);
}

enum smk_ks_status
smk_pkey_sign(EVP_PKEY *key, OSSL_LIB_CTX *libctx, const struct smk_sign_params *p,
	      const unsigned char *in, size_t in_len, unsigned char *sig, size_t *sig_len,
	      struct smk_error *err)
{
	EVP_PKEY_CTX *ctx;

	smk_error_clear(err);
	if (key == NULL || p == NULL || sig_len == NULL || (in == NULL && in_len > 0))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "sign: NULL argument");
	ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, NULL);
	if (ctx == NULL)
		return ossl_fail(err, SMK_KS_ERROR, "sign: no context for the key");
	return pkey_sign(ctx, p, in, in_len, sig, sig_len, err);
}

/* RSA decryption with the key of ctx, which this takes over (frees). */
static enum smk_ks_status
pkey_decrypt(EVP_PKEY_CTX *ctx, const struct smk_decrypt_params *p, const unsigned char *in,
	     size_t in_len, unsigned char *out, size_t *out_len, struct smk_error *err)
{
	EVP_PKEY *key = EVP_PKEY_CTX_get0_pkey(ctx);
	const EVP_MD *md = NULL, *mgf1 = NULL;
	enum smk_ks_status st = SMK_KS_OK;
	unsigned char *tmp = NULL;
	size_t k = 0, tl;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		st = smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "decryption needs an RSA key");
		goto out;
	}
	k = (size_t)EVP_PKEY_get_size(key);
	if (out == NULL) {
		*out_len = k;
		goto out;
	}
	if (in_len != k) {
		st = smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID,
			  "ciphertext of %zu bytes for a %zu-byte modulus", in_len, k);
		goto out;
	}
	if (p->padding == SMK_PAD_OAEP) {
		st = get_md(p->md != NULL ? p->md : "SHA1", &md, err);
		if (st == SMK_KS_OK)
			st = get_md(p->mgf1_md, &mgf1, err);
		if (st != SMK_KS_OK)
			goto out;
	} else if (p->padding != SMK_PAD_NONE && p->padding != SMK_PAD_PKCS1) {
		st = smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "padding not offered for decryption");
		goto out;
	}
	if (EVP_PKEY_decrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, p->padding == SMK_PAD_NONE ? RSA_NO_PADDING :
					 p->padding == SMK_PAD_PKCS1 ? RSA_PKCS1_PADDING :
					 RSA_PKCS1_OAEP_PADDING) <= 0) {
		st = ossl_fail(err, SMK_KS_ERROR, "decrypt");
		goto out;
	}
	if (p->padding == SMK_PAD_OAEP) {
		unsigned char *label = NULL;

		if (p->label_len > 0) {
			label = OPENSSL_memdup(p->label, p->label_len);
			if (label == NULL) {
				st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "decrypt: out of memory");
				goto out;
			}
		}
		if (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf1 != NULL ? mgf1 : md) <= 0 ||
		    (label != NULL && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)p->label_len) <= 0)) {
			OPENSSL_free(label);
			st = ossl_fail(err, SMK_KS_BAD_INPUT, "OAEP parameters");
			goto out;
		}
	}
	/* Decrypt into a buffer of our own: the exact length is only known
	 * afterwards, and a short caller buffer gets it with BUFFER_TOO_SMALL. */
	tmp = OPENSSL_malloc(k);
	tl = k;
	if (tmp == NULL) {
		st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "decrypt: out of memory");
		goto out;
	}
	if (EVP_PKEY_decrypt(ctx, tmp, &tl, in, in_len) <= 0) {
		st = ossl_fail(err, SMK_KS_BAD_INPUT, "decryption failed");
		goto out;
	}
	if (*out_len < tl) {
		*out_len = tl;
		st = smk_ks_fail(err, SMK_KS_BUFFER_TOO_SMALL, SMK_ERR_INVALID,
			  "plaintext buffer too small (%zu bytes needed)", tl);
		goto out;
	}
	memcpy(out, tmp, tl);
	*out_len = tl;
out:
	OPENSSL_clear_free(tmp, k);
	EVP_PKEY_CTX_free(ctx);
	return st;
}

static bool
decrypt_args_ok(const struct smk_decrypt_params *p, const unsigned char *in, size_t in_len,
		const size_t *out_len)
{
	return p != NULL && out_len != NULL && (in != NULL || in_len == 0) &&
	       (p->label != NULL || p->label_len == 0);
}

static enum smk_ks_status
token_decrypt(struct smk_token *t, const struct smk_item *it,
		  const struct smk_decrypt_params *p, const unsigned char *in, size_t in_len,
		  unsigned char *out, size_t *out_len, struct smk_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || it == NULL || !decrypt_args_ok(p, in, in_len, out_len))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "decrypt: NULL argument");
	st = op_begin(t, it, &ctx, err);
	if (st != SMK_KS_OK)
		return st;
	return pkey_decrypt(ctx, p, in, in_len, out, out_len, err);
}

enum smk_ks_status
smk_pkey_decrypt(EVP_PKEY *key, OSSL_LIB_CTX *libctx, const struct smk_decrypt_params *p,
		 const unsigned char *in, size_t in_len, unsigned char *out, size_t *out_len,
		 struct smk_error *err)
{
	EVP_PKEY_CTX *ctx;

	smk_error_clear(err);
	if (key == NULL || !decrypt_args_ok(p, in, in_len, out_len))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "decrypt: NULL argument");
	ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, NULL);
	if (ctx == NULL)
		return ossl_fail(err, SMK_KS_ERROR, "decrypt: no context for the key");
	return pkey_decrypt(ctx, p, in, in_len, out, out_len, err);
}

/* ECDH with the key of dctx, which this takes over (frees); the peer key
 * is made in libctx. */
static enum smk_ks_status
pkey_derive(EVP_PKEY_CTX *dctx, OSSL_LIB_CTX *libctx, const unsigned char *peer, size_t peer_len,
	    unsigned char *out, size_t *out_len, struct smk_error *err)
{
	EVP_PKEY *key = EVP_PKEY_CTX_get0_pkey(dctx), *peer_key = NULL;
	enum smk_ks_status st = SMK_KS_OK;
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM params[3];
	char group[64];
	size_t need;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		st = smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "ECDH needs an EC key");
		goto out;
	}
	need = ((size_t)EVP_PKEY_get_bits(key) + 7) / 8;
	if (out == NULL) {
		*out_len = need;
		goto out;
	}
	if (*out_len < need) {
		*out_len = need;
		st = smk_ks_fail(err, SMK_KS_BUFFER_TOO_SMALL, SMK_ERR_INVALID,
			  "secret buffer too small (%zu bytes needed)", need);
		goto out;
	}
	if (peer_len < 2 || peer_len > 2 * need + 1 || peer[0] == 0) {
		st = smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "peer point of %zu bytes", peer_len);
		goto out;
	}
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    NULL)) {
		st = ossl_fail(err, SMK_KS_ERROR, "ECDH: the key's curve");
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)peer, peer_len);
	params[2] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(libctx, "EC", NULL);
	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, &peer_key, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		st = ossl_fail(err, SMK_KS_BAD_INPUT, "ECDH: the peer point is not on the key's curve");
		goto out;
	}
	if (EVP_PKEY_derive_init(dctx) <= 0) {
		st = ossl_fail(err, SMK_KS_ERROR, "ECDH");
		goto out;
	}
	/* The import above decoded the point and checked that it is on the
	 * curve (the encoding of the point at infinity was refused before).
	 * On the NIST prime curves (cofactor 1) that makes it a point of the
	 * group's order, so the full check, one more scalar multiplication,
	 * is only made for other curves. */
	if (EVP_PKEY_derive_set_peer_ex(dctx, peer_key, strcmp(group, "prime256v1") != 0 &&
					strcmp(group, "secp384r1") != 0 &&
					strcmp(group, "secp521r1") != 0) <= 0) {
		st = ossl_fail(err, SMK_KS_BAD_INPUT, "ECDH: the peer point is not usable");
		goto out;
	}
	if (EVP_PKEY_derive(dctx, out, out_len) <= 0)
		st = ossl_fail(err, SMK_KS_ERROR, "ECDH failed");
out:
	EVP_PKEY_free(peer_key);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_CTX_free(dctx);
	return st;
}

static enum smk_ks_status
token_derive(struct smk_token *t, const struct smk_item *it, const unsigned char *peer,
		 size_t peer_len, unsigned char *out, size_t *out_len, struct smk_error *err)
{
	EVP_PKEY_CTX *dctx = NULL;
	enum smk_ks_status st;

	smk_error_clear(err);
	if (t == NULL || it == NULL || out_len == NULL || (peer == NULL && peer_len > 0))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "derive: NULL argument");
	st = op_begin(t, it, &dctx, err);
	if (st != SMK_KS_OK)
		return st;
	return pkey_derive(dctx, NULL, peer, peer_len, out, out_len, err);
}

enum smk_ks_status
smk_pkey_derive(EVP_PKEY *key, OSSL_LIB_CTX *libctx, const unsigned char *peer, size_t peer_len,
		unsigned char *out, size_t *out_len, struct smk_error *err)
{
	EVP_PKEY_CTX *dctx;

	smk_error_clear(err);
	if (key == NULL || out_len == NULL || (peer == NULL && peer_len > 0))
		return smk_ks_fail(err, SMK_KS_BAD_INPUT, SMK_ERR_INVALID, "derive: NULL argument");
	dctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, NULL);
	if (dctx == NULL)
		return ossl_fail(err, SMK_KS_ERROR, "derive: no context for the key");
	return pkey_derive(dctx, libctx, peer, peer_len, out, out_len, err);
}

/* ---- entry points: each call runs in the key store's library context ---------- */

#define IN_CTX(t, call) do { \
	const struct smk_keystore *ks_ = (t) != NULL ? (t)->ks : NULL; \
	OSSL_LIB_CTX *prev_ = ctx_enter(ks_); \
	enum smk_ks_status st_ = (call); \
	ctx_leave(ks_, prev_); \
	return st_; \
} while (0)

enum smk_ks_status
smk_token_info(struct smk_token *t, struct smk_token_info *info, struct smk_error *err)
{
	IN_CTX(t, token_info(t, info, err));
}

enum smk_ks_status
smk_token_items(struct smk_token *t, struct smk_item ***items, size_t *n, struct smk_error *err)
{
	IN_CTX(t, token_items(t, items, n, err));
}

enum smk_ks_status
smk_token_login(struct smk_token *t, enum smk_ks_user user, const char *pin, size_t pin_len,
		struct smk_error *err)
{
	IN_CTX(t, token_login(t, user, pin, pin_len, err));
}

void
smk_token_logout(struct smk_token *t)
{
	const struct smk_keystore *ks = t != NULL ? t->ks : NULL;
	OSSL_LIB_CTX *prev = ctx_enter(ks);

	token_logout(t);
	ctx_leave(ks, prev);
}

enum smk_ks_status
smk_token_init(struct smk_token *t, const char *so_pin, size_t so_pin_len, const char *label,
	       struct smk_error *err)
{
	IN_CTX(t, token_init(t, so_pin, so_pin_len, label, err));
}

enum smk_ks_status
smk_token_init_pin(struct smk_token *t, const char *pin, size_t pin_len, struct smk_error *err)
{
	IN_CTX(t, token_init_pin(t, pin, pin_len, err));
}

enum smk_ks_status
smk_token_set_pin(struct smk_token *t, enum smk_ks_user user, const char *old_pin, size_t old_len,
		  const char *new_pin, size_t new_len, struct smk_error *err)
{
	IN_CTX(t, token_set_pin(t, user, old_pin, old_len, new_pin, new_len, err));
}

enum smk_ks_status
smk_token_generate(struct smk_token *t, const struct smk_keygen *kg, struct smk_item **out,
		   struct smk_error *err)
{
	IN_CTX(t, token_generate(t, kg, out, err));
}

enum smk_ks_status
smk_token_store_key(struct smk_token *t, EVP_PKEY *key, X509 *cert, const char *label,
		    struct smk_item **out, struct smk_error *err)
{
	IN_CTX(t, token_store_key(t, key, cert, label, out, err));
}

enum smk_ks_status
smk_token_store_cert(struct smk_token *t, X509 *cert, const char *label, struct smk_item **out,
		     struct smk_error *err)
{
	IN_CTX(t, token_store_cert(t, cert, label, out, err));
}

enum smk_ks_status
smk_token_sign(struct smk_token *t, const struct smk_item *it, const struct smk_sign_params *p,
	       const unsigned char *in, size_t in_len, unsigned char *sig, size_t *sig_len,
	       struct smk_error *err)
{
	IN_CTX(t, token_sign(t, it, p, in, in_len, sig, sig_len, err));
}

enum smk_ks_status
smk_token_decrypt(struct smk_token *t, const struct smk_item *it,
		  const struct smk_decrypt_params *p, const unsigned char *in, size_t in_len,
		  unsigned char *out, size_t *out_len, struct smk_error *err)
{
	IN_CTX(t, token_decrypt(t, it, p, in, in_len, out, out_len, err));
}

enum smk_ks_status
smk_token_derive(struct smk_token *t, const struct smk_item *it, const unsigned char *peer,
		 size_t peer_len, unsigned char *out, size_t *out_len, struct smk_error *err)
{
	IN_CTX(t, token_derive(t, it, peer, peer_len, out, out_len, err));
}
