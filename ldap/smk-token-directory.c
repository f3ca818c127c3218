/* smk-token-directory.c - the `type = directory` key store backend
 *
 * Cloud-held keys: the token is one mail address's directory entry.
 *
 * Public objects are the certificates the directory publishes for the
 * address (found as `smimekit directory lookup` finds them), read without
 * a PIN so a client can list them before login.
 *
 * Login (unlock) reads the escrowed userPKCS12 values of the entry and
 * decrypts each with the PIN here, on the client: the server never sees a
 * plaintext key.  Two ways to reach them (`login =`):
 *   self  the PIN is the entry's LDAP password: a simple bind as the entry
 *         (its DN found by the lookup) proves it, and only the entry may
 *         read userPKCS12 (doc/ldap/acl.ldif).  A value that does not open
 *         with the PIN (escrowed under another one) is skipped with a log
 *         line.  The directory's password policy (ppolicy) is the real
 *         lockout here.
 *   bind  the [directory] section's own bind reads the values and the PIN
 *         only decrypts them: the separate escrow PIN of DESIGN's threat
 *         model, so an operator who captures live binds learns nothing
 *         that opens the keys.  The PIN is wrong only when no value opens
 *         (with no value at all nothing can check it: any PIN logs in, and
 *         the first key stored sets it).
 *
 * Client-side failure counter: $XDG_STATE_HOME/smimekit/NAME.state (or
 * ~/.local/state/...), mode 0600, "failures N", updated under flock(2).
 * It stops this user's clients after max_failures wrong PINs in a row
 * and gives PKCS#11 its COUNT_LOW/FINAL_TRY/LOCKED flags.  Its limits: it
 * is local and the user's own file, so it protects against a runaway
 * client, not against an attacker, who can delete it or bind to the
 * directory directly; with login = bind an attacker holding a copy of the
 * values guesses offline, slowed only by the PKCS#12 KDF (lib/smk-p12.c).
 * A locked directory token is unlocked by removing the state file (there
 * is no SO).
 *
 * New keys (store_key) are escrowed as a new value under the PIN kept
 * since unlock; old values are never removed (mail encrypted to old
 * certificates must stay readable).  A PIN change re-encrypts every value
 * that opens with the old PIN; see set_pin_self for the order of writes
 * that keeps the keys readable whatever fails midway.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "smk-ldap.h"
#include "smk-p12.h"
#include "smk-policy.h"
#include "smk-token-directory.h"

struct dirtok {
	char name[64];
	char *address;
	bool login_self;
	char label[33];
	char serial[17];
	unsigned max_failures;
	struct smk_ldap_settings s;
	char *state_path;		/* NULL: no home, no counter file */
	smk_log_fn *log;
	void *log_ctx;

	struct smk_ldap *pub;		/* lookups, with [directory]'s bind */
	char *dn;			/* the address's entry, once found */
	/* The certificates as last read: the key store asks for the public
	 * objects at every listing (a PKCS#11 client: at every search), so
	 * they are kept for the directory's cache_ttl, and served stale
	 * (with a warning) while the directory cannot be reached. */
	STACK_OF(X509) *pub_certs;
	time_t pub_time;
	/* After a failed read, the stale list is served without asking again
	 * for PUB_RETRY seconds: a client lists objects many times a second,
	 * and each try at a hanging server costs the full timeout. */
	time_t pub_fail_time;

	/* Kept from unlock until lock: what store_key needs. */
	bool unlocked;
	char *pin;			/* NUL-terminated copy; secret */
	size_t pin_len;
	struct smk_ldap *conn;		/* bound as the entry (self) or [directory]'s bind */
};

#define PUB_RETRY 30

static const char *const dir_keys[] = { "address", "login", "label", "max_failures", NULL };

static void
dlog(struct dirtok *b, enum smk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
dlog(struct dirtok *b, enum smk_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (b->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->log(b->log_ctx, level, msg);
}

/* Prefixes err's message with the token's name. */
static void
err_prefix(struct dirtok *b, struct smk_error *err)
{
	char msg[SMK_ERROR_MSG_MAX];

	if (err == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	smk_error_set(err, err->code, "token %s: %s", b->name, msg);
}

static char *
pin_dup(const char *pin, size_t len)
{
	char *s;

	if (memchr(pin, '\0', len) != NULL)
		return NULL;
	s = malloc(len + 1);
	if (s != NULL) {
		memcpy(s, pin, len);
		s[len] = '\0';
	}
	return s;
}

static void
pin_free(char *s, size_t len)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, len);
		free(s);
	}
}

/* ---- the state file (client-side failure counter) ------------------------ */

static char *
state_path_for(const char *name)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *p = NULL;
	int r;

	if (xdg != NULL && xdg[0] == '/')
		r = asprintf(&p, "%s/smimekit/%s.state", xdg, name);
	else if (home != NULL && home[0] == '/')
		r = asprintf(&p, "%s/.local/state/smimekit/%s.state", home, name);
	else
		return NULL;
	return r < 0 ? NULL : p;
}

/* mkdir -p of path's directory, each new level 0700. */
static int
make_parent(const char *path)
{
	char *d = strdup(path);
	int ret = 0;

	if (d == NULL)
		return -1;
	*strrchr(d, '/') = '\0';
	for (char *p = d + 1; ret == 0; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			ret = -1;
		*p = c;
		if (c == '\0')
			break;
	}
	free(d);
	return ret;
}

static unsigned
state_parse(int fd)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	unsigned v = 0;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "failures %u", &v) != 1)
		return 0;
	return v;
}

static unsigned
state_get(struct dirtok *b)
{
	int fd;
	unsigned v;

	if (b->state_path == NULL)
		return 0;
	fd = open(b->state_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	flock(fd, LOCK_SH);
	v = state_parse(fd);
	close(fd);
	return v;
}

/* Adds one failure (reset: sets 0) under an exclusive lock; returns the new
 * count.  A file that cannot be written costs a warning, not the login. */
static unsigned
state_update(struct dirtok *b, bool reset)
{
	char buf[64];
	unsigned v = 0;
	int fd, len;

	if (b->state_path == NULL)
		return reset ? 0 : 1;
	if (reset && access(b->state_path, F_OK) < 0)
		return 0;	/* nothing counted: nothing to write */
	if (make_parent(b->state_path) < 0 ||
	    (fd = open(b->state_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		dlog(b, SMK_LOG_WARNING, "token %s: cannot keep the failure counter in %s: %s",
		     b->name, b->state_path, strerror(errno));
		return reset ? 0 : 1;
	}
	flock(fd, LOCK_EX);
	if (!reset)
		v = state_parse(fd) + 1;
	len = snprintf(buf, sizeof(buf), "failures %u\n", v);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len || fsync(fd) < 0)
		dlog(b, SMK_LOG_WARNING, "token %s: cannot write %s: %s", b->name, b->state_path,
		     strerror(errno));
	fchmod(fd, 0600);
	close(fd);
	return v;
}

/* ---- open / close / info ---------------------------------------------------- */

static void lock_(void *vb);

static void
close_(void *vb)
{
	struct dirtok *b = vb;

	if (b == NULL)
		return;
	lock_(b);
	smk_ldap_free(b->pub);
	sk_X509_pop_free(b->pub_certs, X509_free);
	smk_ldap_settings_free(&b->s);
	free(b->address);
	free(b->dn);
	free(b->state_path);
	free(b);
}

static void *
open_(const struct smk_config *cfg, const struct smk_config_section *sec, smk_log_fn *log,
      void *log_ctx, struct smk_error *err)
{
	const char *file = cfg && cfg->path ? cfg->path : "configuration";
	const struct smk_config_entry *e;
	struct dirtok *b;
	unsigned char md[32];
	unsigned mdlen = 0;

	if (sec->name == NULL || sec->name[0] == '\0' || sec->name[0] == '.' ||
	    strchr(sec->name, '/') != NULL || strlen(sec->name) >= sizeof(b->name)) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: a directory token needs a plain name "
			      "([token NAME], no '/', at most 63 bytes)", file, sec->line);
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return NULL;
	}
	smk_ldap_settings_init(&b->s);
	snprintf(b->name, sizeof(b->name), "%s", sec->name);
	b->log = log;
	b->log_ctx = log_ctx;
	b->login_self = true;
	b->max_failures = SMK_PIN_MAX_FAILURES_DEFAULT;

	e = smk_config_entry(sec, "address");
	if (e == NULL || !smk_address_valid(e->value)) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: [token %s] needs address = a mail address%s",
			      file, e ? e->line : sec->line, sec->name,
			      e ? " (this is not one)" : "");
		goto fail;
	}
	if ((b->address = strdup(e->value)) == NULL)
		goto nomem;
	if ((e = smk_config_entry(sec, "login")) != NULL) {
		if (strcmp(e->value, "self") == 0) {
			b->login_self = true;
		} else if (strcmp(e->value, "bind") == 0) {
			b->login_self = false;
		} else {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: login is 'self' or 'bind', not '%s'",
				      file, e->line, e->value);
			goto fail;
		}
	}
	if ((e = smk_config_entry(sec, "max_failures")) != NULL &&
	    (!smk_parse_uint(e->value, 1000, &b->max_failures) || b->max_failures == 0)) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: max_failures is a number from 1 to 1000",
			      file, e->line);
		goto fail;
	}
	e = smk_config_entry(sec, "label");
	if (e != NULL && strlen(e->value) > 32) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: label longer than 32 bytes", file,
			      e->line);
		goto fail;
	}
	{
		const char *l = e ? e->value : b->address;
		size_t n = strlen(l);

		if (n > 32) {	/* a long address: cut at a UTF-8 character boundary */
			n = 32;
			while (n > 0 && ((unsigned char)l[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(b->label, l, n);
		b->label[n] = '\0';
	}
	/* A serial that stays the same for the address. */
	if (!EVP_Digest(b->address, strlen(b->address), md, &mdlen, EVP_sha256(), NULL))
		goto nomem;
	for (int i = 0; i < 8; i++)
		snprintf(b->serial + 2 * i, 3, "%02X", md[i]);

	if (smk_ldap_settings_from_config(&b->s, cfg, err) < 0)
		goto fail;
	if (smk_ldap_settings_check(&b->s, err) < 0) {
		char msg[SMK_ERROR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
		smk_error_set(err, SMK_ERR_INVALID, "[token %s] (type = directory): %s (set it in "
			      "[directory] of %s)", sec->name, msg, file);
		goto fail;
	}
	b->state_path = state_path_for(b->name);
	return b;
nomem:
	smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
fail:
	close_(b);
	return NULL;
}

static enum smk_ks_status
info_(void *vb, struct smk_token_info *info, struct smk_error *err)
{
	struct dirtok *b = vb;
	unsigned f = state_get(b);

	(void)err;
	snprintf(info->label, sizeof(info->label), "%s", b->label);
	snprintf(info->serial, sizeof(info->serial), "%s", b->serial);
	snprintf(info->model, sizeof(info->model), "directory");
	info->initialized = true;
	info->user_pin_set = true;
	info->write_protected = false;
	info->max_failures = b->max_failures;
	info->user_failures = f;
	info->user_locked = f >= b->max_failures;
	info->so_failures = 0;
	info->so_locked = false;
	return SMK_KS_OK;
}

/* ---- directory access --------------------------------------------------------- */

static enum smk_ks_status
ks_status(enum smk_ldap_status st)
{
	switch (st) {
	case SMK_LDAP_OK:
	case SMK_LDAP_NO_CERT: return SMK_KS_OK;
	case SMK_LDAP_NO_ENTRY: return SMK_KS_NOT_FOUND;
	case SMK_LDAP_UNAVAILABLE: return SMK_KS_UNAVAILABLE;
	default: return SMK_KS_ERROR;
	}
}

static enum smk_ks_status
open_pub(struct dirtok *b, struct smk_error *err)
{
	if (b->pub != NULL)
		return SMK_KS_OK;
	b->pub = smk_ldap_new(&b->s, err);
	if (b->pub == NULL)
		return SMK_KS_ERROR;
	smk_ldap_set_log(b->pub, b->log, b->log_ctx);
	return SMK_KS_OK;
}

/* The address's certificates (*found may be NULL for no entry). */
static enum smk_ks_status
lookup(struct dirtok *b, struct smk_ldap_certs **found, struct smk_error *err)
{
	enum smk_ks_status st = open_pub(b, err);
	enum smk_ldap_status ls;

	*found = NULL;
	if (st != SMK_KS_OK)
		return st;
	ls = smk_ldap_lookup(b->pub, b->address, found, err);
	if (ls != SMK_LDAP_OK && ls != SMK_LDAP_NO_CERT) {
		smk_ldap_certs_unref(*found);
		*found = NULL;
		return ks_status(ls);
	}
	if (b->dn == NULL && (*found)->dn != NULL && (b->dn = strdup((*found)->dn)) == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return SMK_KS_ERROR;
	}
	return SMK_KS_OK;
}

static enum smk_ks_status
find_dn(struct dirtok *b, struct smk_error *err)
{
	struct smk_ldap_certs *found;
	enum smk_ks_status st;

	if (b->dn != NULL)
		return SMK_KS_OK;
	st = lookup(b, &found, err);
	smk_ldap_certs_unref(found);
	if (st == SMK_KS_OK && b->dn == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "no directory entry for %s", b->address);
		st = SMK_KS_NOT_FOUND;
	}
	return st;
}

/* A connection bound as the entry with password pw (self), connected now
 * so a wrong password shows here as SMK_KS_PIN_INCORRECT. */
static enum smk_ks_status
bind_self(struct dirtok *b, const char *pw, struct smk_ldap **out, struct smk_error *err)
{
	struct smk_ldap *l = smk_ldap_new_as(&b->s, b->dn, pw, err);
	enum smk_ldap_status ls;

	*out = NULL;
	if (l == NULL)
		return SMK_KS_ERROR;
	smk_ldap_set_log(l, b->log, b->log_ctx);
	ls = smk_ldap_connect(l, err);
	if (ls != SMK_LDAP_OK) {
		smk_ldap_free(l);
		if (ls == SMK_LDAP_AUTH_FAILED) {
			smk_error_set(err, SMK_ERR_INVALID, "incorrect PIN (the directory refused the "
				      "bind as %s)", b->dn);
			return SMK_KS_PIN_INCORRECT;
		}
		return ks_status(ls);
	}
	*out = l;
	return SMK_KS_OK;
}

/* A connection with [directory]'s own bind, connected now. */
static enum smk_ks_status
bind_configured(struct dirtok *b, struct smk_ldap **out, struct smk_error *err)
{
	struct smk_ldap *l = smk_ldap_new(&b->s, err);
	enum smk_ldap_status ls;

	*out = NULL;
	if (l == NULL)
		return SMK_KS_ERROR;
	smk_ldap_set_log(l, b->log, b->log_ctx);
	ls = smk_ldap_connect(l, err);
	if (ls != SMK_LDAP_OK) {
		smk_ldap_free(l);
		return ks_status(ls);
	}
	*out = l;
	return SMK_KS_OK;
}

/* ---- load_public ----------------------------------------------------------------- */

static enum smk_ks_status
load_public_(void *vb, smk_backend_add_fn *add, void *ctx, struct smk_error *err)
{
	struct dirtok *b = vb;
	struct smk_ldap_certs *found = NULL;
	enum smk_ks_status st = SMK_KS_OK;
	time_t now = time(NULL);

	bool fresh = b->pub_certs != NULL && now >= b->pub_time &&
		     now - b->pub_time < (time_t)b->s.cache_ttl;
	bool backoff = b->pub_certs != NULL && now >= b->pub_fail_time &&
		       now - b->pub_fail_time < PUB_RETRY;

	if (!fresh && !backoff) {
		st = lookup(b, &found, err);
		if (st == SMK_KS_NOT_FOUND)
			smk_error_set(err, SMK_ERR_INVALID, "no directory entry for %s", b->address);
		if (st == SMK_KS_UNAVAILABLE)
			b->pub_fail_time = now;
		if (st == SMK_KS_UNAVAILABLE && b->pub_certs != NULL) {
			dlog(b, SMK_LOG_WARNING, "token %s: %s: showing the certificates read %lld s "
			     "ago", b->name, err ? err->msg : "directory unavailable",
			     (long long)(now - b->pub_time));
			st = SMK_KS_OK;
		} else if (st != SMK_KS_OK) {
			err_prefix(b, err);
			return st;
		} else {
			STACK_OF(X509) *certs = smk_ldap_certs_x509(found->certs, found->ncerts);

			smk_ldap_certs_unref(found);
			if (certs == NULL) {
				smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
				return SMK_KS_ERROR;
			}
			sk_X509_pop_free(b->pub_certs, X509_free);
			b->pub_certs = certs;
			b->pub_time = now;
		}
	}
	/* Before login the escrow is unreadable, so which certificates have a
	 * key is unknown: each is shown with its public key as if it had one.
	 * That public key object is what makes NSS log in when it looks for
	 * the private key of a recipient's certificate (without it, Thunderbird
	 * says "not a recipient" and never asks for the PIN).  After login the
	 * escrowed keys themselves tell. */
	for (int i = 0; i < sk_X509_num(b->pub_certs) && st == SMK_KS_OK; i++) {
		X509 *cert = sk_X509_value(b->pub_certs, i);
		EVP_PKEY *maybe = b->unlocked ? NULL : X509_get0_pubkey(cert);

		if (add(ctx, maybe, cert, b->address) < 0) {
			smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
			st = SMK_KS_ERROR;
		}
	}
	return st;
}

/* ---- unlock / lock ------------------------------------------------------------------ */

static void
lock_(void *vb)
{
	struct dirtok *b = vb;

	pin_free(b->pin, b->pin_len);
	b->pin = NULL;
	b->pin_len = 0;
	smk_ldap_free(b->conn);
	b->conn = NULL;
	b->unlocked = false;
}

static enum smk_ks_status
refuse_so(struct dirtok *b, struct smk_error *err)
{
	smk_error_set(err, SMK_ERR_INVALID, "token %s: a directory token has no security "
		      "officer (its keys are managed in the directory)", b->name);
	return SMK_KS_UNSUPPORTED;
}

static enum smk_ks_status
check_locked(struct dirtok *b, struct smk_error *err)
{
	if (state_get(b) < b->max_failures)
		return SMK_KS_OK;
	smk_error_set(err, SMK_ERR_INVALID, "token %s: locked after %u wrong PINs (remove %s to "
		      "try again)", b->name, b->max_failures,
		      b->state_path ? b->state_path : "the state file");
	return SMK_KS_PIN_LOCKED;
}

/* A wrong PIN: one more failure, SMK_KS_PIN_LOCKED at the limit. */
static enum smk_ks_status
wrong_pin(struct dirtok *b, struct smk_error *err)
{
	unsigned f = state_update(b, false);

	if (f >= b->max_failures) {
		smk_error_set(err, SMK_ERR_INVALID, "token %s: incorrect PIN; locked after %u "
			      "failures", b->name, f);
		return SMK_KS_PIN_LOCKED;
	}
	smk_error_set(err, SMK_ERR_INVALID, "token %s: incorrect PIN (%u of %u attempts used)",
		      b->name, f, b->max_failures);
	return SMK_KS_PIN_INCORRECT;
}

/* The connection that reads (and writes) the escrow for pin. */
static enum smk_ks_status
escrow_conn(struct dirtok *b, const char *pin, struct smk_ldap **out, struct smk_error *err)
{
	enum smk_ks_status st = find_dn(b, err);

	if (st != SMK_KS_OK)
		return st;
	return b->login_self ? bind_self(b, pin, out, err) : bind_configured(b, out, err);
}

static enum smk_ks_status
unlock_(void *vb, enum smk_ks_user user, const char *pin, size_t pin_len,
	smk_backend_add_fn *add, void *ctx, struct smk_error *err)
{
	struct dirtok *b = vb;
	struct smk_ldap *conn = NULL;
	struct smk_der *vals = NULL;
	size_t n = 0, opened = 0, wrong = 0;
	enum smk_ks_status st;
	enum smk_ldap_status ls;
	char *pw;

	if (user == SMK_KS_SO)
		return refuse_so(b, err);
	if ((st = check_locked(b, err)) != SMK_KS_OK)
		return st;
	if ((pw = pin_dup(pin, pin_len)) == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "token %s: unusable PIN", b->name);
		return SMK_KS_PIN_INCORRECT;
	}
	st = escrow_conn(b, pw, &conn, err);
	if (st == SMK_KS_PIN_INCORRECT) {
		st = wrong_pin(b, err);
		goto out;
	}
	if (st != SMK_KS_OK) {
		err_prefix(b, err);
		goto out;
	}
	ls = smk_ldap_escrow_read(conn, b->dn, &vals, &n, err);
	if (ls != SMK_LDAP_OK) {
		st = ks_status(ls);
		err_prefix(b, err);
		goto out;
	}
	/* Decrypt first, hand over after: with login = bind nothing is handed
	 * over for a wrong PIN. */
	struct smk_p12_content *c = calloc(n + 1, sizeof(*c));

	if (c == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		st = SMK_KS_ERROR;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct smk_error e2;

		switch (smk_p12_decode(vals[i].data, vals[i].len, pw, pin_len, &c[i], &e2)) {
		case SMK_P12_OK:
			opened++;
			break;
		case SMK_P12_BAD_PASSWORD:
			wrong++;
			break;
		case SMK_P12_ERROR:
			dlog(b, SMK_LOG_WARNING, "token %s: escrowed key %zu of %zu in %s: %s: skipped",
			     b->name, i + 1, n, b->dn, e2.msg);
			break;
		}
	}
	if (!b->login_self && opened == 0 && wrong > 0) {
		st = wrong_pin(b, err);
	} else {
		/* Labelled with the address, as before login: a label that
		 * changed at login would change the certificate's nickname in
		 * NSS (Thunderbird) under the user's feet. */
		for (size_t i = 0; i < n && st == SMK_KS_OK; i++) {
			if (c[i].key != NULL && add(ctx, c[i].key, c[i].cert, b->address) < 0) {
				smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
				st = SMK_KS_ERROR;
			}
		}
		if (wrong > 0)
			dlog(b, SMK_LOG_WARNING,
			     "token %s: %zu of %zu escrowed keys in %s do not open with this PIN "
			     "(escrowed under another one): not available", b->name, wrong, n, b->dn);
		if (n == 0)
			dlog(b, SMK_LOG_INFO, "token %s: no escrowed key in %s", b->name, b->dn);
	}
	for (size_t i = 0; i < n; i++)
		smk_p12_content_free(&c[i]);
	free(c);
	if (st != SMK_KS_OK)
		goto out;
	state_update(b, true);
	lock_(b);
	b->pin = pw;
	b->pin_len = pin_len;
	b->conn = conn;
	b->unlocked = true;
	pw = NULL;
	conn = NULL;
out:
	smk_der_free_all(vals, n);
	smk_ldap_free(conn);
	pin_free(pw, pin_len);
	return st;
}

/* ---- writing ---------------------------------------------------------------------- */

static enum smk_ks_status
store_key_(void *vb, EVP_PKEY *key, X509 *cert, const char *label, struct smk_error *err)
{
	struct dirtok *b = vb;
	unsigned char *der = NULL;
	size_t len = 0;
	enum smk_ldap_status ls;

	if (!b->unlocked) {
		smk_error_set(err, SMK_ERR_STATE, "token %s: not logged in", b->name);
		return SMK_KS_NOT_LOGGED_IN;
	}
	if (smk_p12_encode(key, cert, NULL, label && *label ? label : b->label, b->pin, b->pin_len,
			   &der, &len, err) != SMK_P12_OK) {
		err_prefix(b, err);
		return SMK_KS_ERROR;
	}
	ls = smk_ldap_escrow_add(b->conn, b->dn, der, len, err);
	OPENSSL_free(der);
	if (ls != SMK_LDAP_OK) {
		err_prefix(b, err);
		return ks_status(ls) == SMK_KS_OK ? SMK_KS_ERROR : ks_status(ls);
	}
	dlog(b, SMK_LOG_INFO, "token %s: key escrowed as a new userPKCS12 value of %s", b->name,
	     b->dn);
	return SMK_KS_OK;
}

static enum smk_ks_status
store_cert_(void *vb, X509 *cert, const char *label, struct smk_error *err)
{
	struct dirtok *b = vb;
	struct smk_ldap *l;
	enum smk_ldap_status ls;
	enum smk_ks_status st;
	bool added = false;

	(void)label;	/* the directory has no place for it */
	if ((st = find_dn(b, err)) != SMK_KS_OK) {
		err_prefix(b, err);
		return st;
	}
	/* As the user when logged in (if the ACL lets users publish), else
	 * with [directory]'s bind. */
	l = b->unlocked ? b->conn : b->pub;
	ls = smk_ldap_publish(l, b->dn, cert, NULL, &added, err);
	if (ls != SMK_LDAP_OK) {
		err_prefix(b, err);
		return ks_status(ls) == SMK_KS_OK ? SMK_KS_ERROR : ks_status(ls);
	}
	b->pub_time = 0;	/* read again at the next listing */
	return SMK_KS_OK;
}

/* ---- PIN change ------------------------------------------------------------------------ */

static bool
der_in(const struct smk_der *v, const struct smk_der *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (set[i].len == v->len && memcmp(set[i].data, v->data, v->len) == 0)
			return true;
	}
	return false;
}

static int
der_push(struct smk_der **arr, size_t *n, const unsigned char *data, size_t len, bool copy)
{
	struct smk_der *a = realloc(*arr, (*n + 1) * sizeof(**arr));
	unsigned char *d = (unsigned char *)data;

	if (a == NULL)
		return -1;
	*arr = a;
	if (copy) {
		d = malloc(len ? len : 1);
		if (d == NULL)
			return -1;
		memcpy(d, data, len);
	}
	a[*n].data = d;
	a[*n].len = len;
	(*n)++;
	return 0;
}

/* The re-encryption pass.  Values that open with old get a copy under
 * new; the originals stay (keep_old) or are replaced.  Values that do not
 * open are kept as they are (another PIN's keys are never dropped). */
struct reencrypt {
	struct dirtok *b;
	const char *old_pin, *new_pin;
	size_t old_len, new_len;
	bool keep_old;
	/* results of the last pass (byte copies) */
	struct smk_der *olds, *news;
	size_t nolds, nnews;
	size_t wrong;
};

static void
reencrypt_reset(struct reencrypt *r)
{
	smk_der_free_all(r->olds, r->nolds);
	smk_der_free_all(r->news, r->nnews);
	r->olds = r->news = NULL;
	r->nolds = r->nnews = r->wrong = 0;
}

static int
reencrypt_fn(void *ctx, const struct smk_der *have, size_t n, struct smk_der **out,
	     size_t *n_out, struct smk_error *err)
{
	struct reencrypt *r = ctx;

	reencrypt_reset(r);
	for (size_t i = 0; i < n; i++) {
		unsigned char *der = NULL;
		size_t len = 0;
		struct smk_error e2;
		enum smk_p12_status ps = smk_p12_reencrypt(have[i].data, have[i].len, r->old_pin,
							   r->old_len, r->new_pin, r->new_len,
							   &der, &len, &e2);

		if (ps == SMK_P12_BAD_PASSWORD) {
			r->wrong++;
		} else if (ps == SMK_P12_ERROR && strstr(e2.msg, "out of memory") == NULL) {
			dlog(r->b, SMK_LOG_WARNING, "token %s: escrowed key %zu of %zu: %s: kept as it "
			     "is", r->b->name, i + 1, n, e2.msg);
		} else if (ps != SMK_P12_OK ||
			   der_push(&r->news, &r->nnews, der, len, true) < 0 ||
			   der_push(&r->olds, &r->nolds, have[i].data, have[i].len, true) < 0) {
			OPENSSL_free(der);
			return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		}
		OPENSSL_free(der);
	}
	if (r->nnews == 0) {
		*n_out = SIZE_MAX;	/* nothing opened: no write */
		return 0;
	}
	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		if ((r->keep_old || !der_in(&have[i], r->olds, r->nolds)) &&
		    der_push(out, n_out, have[i].data, have[i].len, true) < 0)
			goto nomem;
	}
	for (size_t i = 0; i < r->nnews; i++) {
		if (der_push(out, n_out, r->news[i].data, r->news[i].len, true) < 0)
			goto nomem;
	}
	return 0;
nomem:
	smk_der_free_all(*out, *n_out);
	*out = NULL;
	return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
}

/* Removes the values byte-equal to one of set (the escrow minus them). */
struct drop {
	const struct smk_der *set;
	size_t n;
	size_t dropped;
};

static int
drop_fn(void *ctx, const struct smk_der *have, size_t n, struct smk_der **out, size_t *n_out,
	struct smk_error *err)
{
	struct drop *d = ctx;

	*out = NULL;
	*n_out = 0;
	d->dropped = 0;
	for (size_t i = 0; i < n; i++) {
		if (der_in(&have[i], d->set, d->n)) {
			d->dropped++;
		} else if (der_push(out, n_out, have[i].data, have[i].len, true) < 0) {
			smk_der_free_all(*out, *n_out);
			*out = NULL;
			return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		}
	}
	if (d->dropped == 0) {
		smk_der_free_all(*out, *n_out);
		*out = NULL;
		*n_out = SIZE_MAX;
	}
	return 0;
}

/* After a successful change, a logged-in token keeps working under the new
 * PIN (and, with login = self, the new password). */
static void
adopt_new_pin(struct dirtok *b, char *new_pw, size_t new_len, struct smk_ldap *conn)
{
	if (!b->unlocked) {
		pin_free(new_pw, new_len);
		smk_ldap_free(conn);
		return;
	}
	pin_free(b->pin, b->pin_len);
	b->pin = new_pw;
	b->pin_len = new_len;
	if (conn != NULL) {
		smk_ldap_free(b->conn);
		b->conn = conn;
	}
}

/*
 * login = self: the PIN is the LDAP password, so two things change, the
 * escrow and the password, and no LDAP operation does both at once.  The
 * order keeps every key readable with whichever password the entry has
 * after any failure:
 *
 *   1. add a copy of every value that opens with the old PIN, encrypted
 *      under the new one (the old values stay): one guarded modify;
 *   2. change the password (RFC 3062);
 *   3. remove the old-PIN originals of the values copied in 1.
 *
 * Failing in 1 changes nothing.  Failing in 2: if the entry still takes
 * the old password, the copies of 1 are removed again (best effort; left
 * over, they are only values that no PIN in use opens); if it takes the
 * new one, the change went through and only its answer was lost: go on
 * with 3; if neither can be told (directory gone), both sets stay and
 * either password finds its keys.  Failing in 3 leaves old-PIN copies next
 * to the new ones: the keys are readable, the PIN change succeeded, and a
 * warning says so (the old PIN still opens those copies).
 */
static enum smk_ks_status
set_pin_self(struct dirtok *b, const char *old_pw, size_t old_len, char *new_pw, size_t new_len,
	     struct smk_error *err)
{
	struct reencrypt r = { b, old_pw, new_pw, old_len, new_len, true, NULL, NULL, 0, 0, 0 };
	struct smk_ldap *conn = NULL, *conn_new = NULL, *probe = NULL;
	enum smk_ks_status st;
	enum smk_ldap_status ls;
	struct smk_error e2;

	st = escrow_conn(b, old_pw, &conn, err);
	if (st == SMK_KS_PIN_INCORRECT) {
		pin_free(new_pw, new_len);
		return wrong_pin(b, err);
	}
	if (st != SMK_KS_OK)
		goto fail;
	state_update(b, true);

	ls = smk_ldap_escrow_replace(conn, b->dn, reencrypt_fn, &r, err);	/* 1 */
	if (ls != SMK_LDAP_OK) {
		st = ks_status(ls) == SMK_KS_OK ? SMK_KS_ERROR : ks_status(ls);
		goto fail;
	}
	ls = smk_ldap_passwd(conn, b->dn, old_pw, new_pw, err);		/* 2 */
	if (ls != SMK_LDAP_OK) {
		st = ks_status(ls) == SMK_KS_OK ? SMK_KS_ERROR : ks_status(ls);
		if (bind_self(b, new_pw, &conn_new, &e2) == SMK_KS_OK) {
			dlog(b, SMK_LOG_WARNING, "token %s: the password change reported an error "
			     "but the new password works: going on", b->name);
		} else if (bind_self(b, old_pw, &probe, &e2) == SMK_KS_OK) {
			struct smk_error e3;
			struct drop d = { r.news, r.nnews, 0 };

			if (r.nnews > 0 &&
			    smk_ldap_escrow_replace(probe, b->dn, drop_fn, &d, &e3) != SMK_LDAP_OK)
				dlog(b, SMK_LOG_WARNING, "token %s: could not remove the copies made "
				     "for the new PIN: %s", b->name, e3.msg);
			goto fail;
		} else {
			char msg[SMK_ERROR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
			smk_error_set(err, SMK_ERR_IO, "%s; the keys are escrowed under both the old "
				      "and the new PIN, so the PIN is whichever password the "
				      "directory took", msg);
			goto fail;
		}
	}
	if (conn_new == NULL && bind_self(b, new_pw, &conn_new, &e2) != SMK_KS_OK)
		conn_new = NULL;
	if (r.nolds > 0) {						/* 3 */
		struct drop d = { r.olds, r.nolds, 0 };

		if (conn_new == NULL ||
		    smk_ldap_escrow_replace(conn_new, b->dn, drop_fn, &d, &e2) != SMK_LDAP_OK)
			dlog(b, SMK_LOG_WARNING, "token %s: PIN changed, but %zu escrowed key%s under "
			     "the old PIN could not be removed (%s): the old PIN still opens %s",
			     b->name, r.nolds, r.nolds == 1 ? "" : "s",
			     conn_new ? e2.msg : "cannot bind with the new password",
			     r.nolds == 1 ? "it" : "them");
	}
	if (r.wrong > 0)
		dlog(b, SMK_LOG_WARNING, "token %s: %zu escrowed key%s did not open with the old "
		     "PIN and stay%s under the PIN %s escrowed with", b->name, r.wrong,
		     r.wrong == 1 ? "" : "s", r.wrong == 1 ? "s" : "", r.wrong == 1 ? "it was" : "they were");
	reencrypt_reset(&r);
	smk_ldap_free(conn);
	smk_ldap_free(probe);
	adopt_new_pin(b, new_pw, new_len, conn_new);
	return SMK_KS_OK;
fail:
	if (st != SMK_KS_OK && err != NULL && strncmp(err->msg, "token ", 6) != 0)
		err_prefix(b, err);
	reencrypt_reset(&r);
	smk_ldap_free(conn);
	smk_ldap_free(conn_new);
	smk_ldap_free(probe);
	pin_free(new_pw, new_len);
	return st == SMK_KS_OK ? SMK_KS_ERROR : st;
}

/* login = bind: only the escrow changes, in one guarded modify (old
 * originals out, new copies in), so it happens whole or not at all. */
static enum smk_ks_status
set_pin_bind(struct dirtok *b, const char *old_pw, size_t old_len, char *new_pw, size_t new_len,
	     struct smk_error *err)
{
	struct reencrypt r = { b, old_pw, new_pw, old_len, new_len, false, NULL, NULL, 0, 0, 0 };
	struct smk_ldap *conn = NULL;
	enum smk_ks_status st;
	enum smk_ldap_status ls;

	st = escrow_conn(b, old_pw, &conn, err);
	if (st != SMK_KS_OK) {
		err_prefix(b, err);
		pin_free(new_pw, new_len);
		return st;
	}
	ls = smk_ldap_escrow_replace(conn, b->dn, reencrypt_fn, &r, err);
	if (ls != SMK_LDAP_OK) {
		st = ks_status(ls) == SMK_KS_OK ? SMK_KS_ERROR : ks_status(ls);
		err_prefix(b, err);
	} else if (r.nnews == 0 && r.wrong > 0) {
		st = wrong_pin(b, err);
	} else {
		state_update(b, true);
		if (r.wrong > 0)
			dlog(b, SMK_LOG_WARNING, "token %s: %zu escrowed key%s did not open with the "
			     "old PIN and stay%s as before", b->name, r.wrong, r.wrong == 1 ? "" : "s",
			     r.wrong == 1 ? "s" : "");
	}
	reencrypt_reset(&r);
	smk_ldap_free(conn);
	if (st != SMK_KS_OK) {
		pin_free(new_pw, new_len);
		return st;
	}
	adopt_new_pin(b, new_pw, new_len, NULL);
	return SMK_KS_OK;
}

static enum smk_ks_status
set_pin_(void *vb, enum smk_ks_user user, const char *old_pin, size_t old_len,
	 const char *new_pin, size_t new_len, struct smk_error *err)
{
	struct dirtok *b = vb;
	enum smk_ks_status st;
	char *old_pw, *new_pw;

	if (user == SMK_KS_SO)
		return refuse_so(b, err);
	if ((st = check_locked(b, err)) != SMK_KS_OK)
		return st;
	old_pw = pin_dup(old_pin, old_len);
	new_pw = pin_dup(new_pin, new_len);
	if (old_pw == NULL || new_pw == NULL) {
		pin_free(old_pw, old_len);
		pin_free(new_pw, new_len);
		smk_error_set(err, SMK_ERR_INVALID, "token %s: a PIN must not contain a NUL byte",
			      b->name);
		return SMK_KS_PIN_INVALID;
	}
	/* new_pw is handed on: kept by adopt_new_pin or wiped. */
	st = b->login_self ? set_pin_self(b, old_pw, old_len, new_pw, new_len, err)
			   : set_pin_bind(b, old_pw, old_len, new_pw, new_len, err);
	pin_free(old_pw, old_len);
	return st;
}

const struct smk_token_backend smk_token_directory_backend = {
	.type = "directory",
	.keys = dir_keys,
	.open = open_,
	.close = close_,
	.info = info_,
	.load_public = load_public_,
	.unlock = unlock_,
	.lock = lock_,
	.init_token = NULL,
	.init_pin = NULL,
	.set_pin = set_pin_,
	.store_key = store_key_,
	.store_cert = store_cert_,
};
