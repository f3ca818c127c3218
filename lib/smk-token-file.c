/* smk-token-file.c - the file token (type = file): keys in a directory
 *
 * Layout of a token directory (mode 0700; every file 0600):
 *
 *	token.conf		metadata, "key = value" lines (see below)
 *	lock			flock()ed: LOCK_EX by every writer, LOCK_SH by readers
 *	keys.<gen>/<id>.p8	private keys: PEM "ENCRYPTED PRIVATE KEY", PKCS#8
 *				PBES2 (PBKDF2-HMAC-SHA256 with the token's user
 *				salt and iteration count, AES-256-CBC, a random IV
 *				per file): `openssl pkcs8 -in keys.1/ID.p8` opens
 *				it with the PIN
 *	public/<id>.pem		the public key of each stored private key, so
 *				items are listed without login
 *	public/<id>.label	the label of the key/certificate id (if any)
 *	certs/<id>.pem		certificates (PEM); more for one key: <id>-2.pem ...
 *
 * <id> is the item id in hex (SHA-1 of the RSA modulus / EC point).
 *
 * token.conf holds: version, label, serial (16 hex digits, random), kdf
 * (pbkdf2-sha256), for the SO and the user PIN: <who>_iterations,
 * <who>_salt (hex, 16 random bytes) and <who>_check = HMAC-SHA256(K,
 * "smimekit <who> pin check") with K = PBKDF2-HMAC-SHA256(PIN, salt,
 * iterations, 32), then max_failures, user_failures, so_failures and
 * generation (the <gen> of the current keys directory).  No user_* lines:
 * the user PIN is not set yet.
 *
 * Because every key file uses the user salt and iteration count, K is
 * also the AES key of every file: login runs PBKDF2 once and decrypts all
 * keys with K (smk-pbes2.c); K stays in memory while the user is logged in
 * so new keys can be stored, and is zeroised by lock().
 *
 * Safety:
 * - every write is atomic (temporary file in the same directory, fsync,
 *   rename, fsync of the directory), files are made 0600 whatever the umask;
 * - a PIN check first writes the failure counter raised by one, then runs
 *   the KDF, then resets the counter on success: killing the process
 *   during the check does not give a free attempt;
 * - changing the user PIN writes every key re-encrypted into
 *   keys.<gen+1>/, then replaces token.conf (new salt, check, generation)
 *   in one rename, then removes keys.<gen>/: a crash at any point leaves
 *   either the old or the new state whole (a leftover directory of another
 *   generation is removed by the next PIN change);
 * - keys are never thrown away: initialising a token that holds keys fails
 *   (SMK_KS_EXISTS); the SO cannot set a new user PIN while keys are
 *   encrypted under the current one (init_pin then only accepts the
 *   current PIN and unlocks a locked user).
 */
#include "config.h"

#include "smk-keystore-backend.h"
#include "smk-pbes2.h"
#include "smk-file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define FORMAT_VERSION 1
#define KDF_ITERATIONS_MIN 600000u
#define KDF_ITERATIONS_MAX 100000000u
#define SALT_LEN 16
#define SALT_MAX 64
#define CHECK_LEN 32
#define CONF_MAX (64 * 1024)
#define KEY_FILE_MAX (256 * 1024)
#define ID_HEX_LEN (2 * SHA_DIGEST_LENGTH)
#define LABEL_FILE_MAX 4096

struct pin_rec {
	bool set;
	unsigned iterations;
	unsigned char salt[SALT_MAX];
	size_t salt_len;
	unsigned char check[CHECK_LEN];
	unsigned failures;
};

/* token.conf in memory */
struct tconf {
	char label[33];
	char serial[17];
	struct pin_rec so, user;
	unsigned max_failures;
	unsigned long gen;
};

/* A public object parsed from a file, kept while the file is unchanged:
 * OpenSSL 3.0 takes ~0.5 ms to decode one PEM key, and fronts list
 * items often (NSS on every object search).  Every write replaces a file
 * by rename, so a rewritten file always has a new inode. */
struct cached {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	EVP_PKEY *key;
	X509 *cert;
	bool seen;
};

struct ftok {
	char *name;
	char *dir;		/* the token directory */
	char *label;		/* from the configuration: NULL = name */
	unsigned max_failures;
	bool max_failures_set;	/* the configuration's value rules over token.conf's */
	unsigned iterations;	/* for new PINs */
	smk_log_fn *log;
	void *log_ctx;

	struct cached *cache;
	size_t n_cache;

	/* while the user is logged in */
	bool unlocked;
	unsigned char k[SMK_PBES2_KEY_LEN];
	struct pin_rec kpin;	/* the salt and count K was derived with */
};

static const char *const file_keys[] = { "path", "label", "max_failures", "kdf_iterations", NULL };

/* ---- small helpers ----------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void
logf_(struct ftok *ft, enum smk_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ft->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ft->log(ft->log_ctx, level, msg);
}

/* dir/name into buf (PATH_MAX); the token directory's length is checked at open */
__attribute__((format(printf, 3, 4)))
static const char *
pathf(char *buf, struct ftok *ft, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(buf, PATH_MAX, "%s/", ft->dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + n, PATH_MAX - n, fmt, ap);
	va_end(ap);
	return buf;
}

/* dir/name into buf (PATH_MAX); names are short and the token
 * directory's length is checked at open, so truncation cannot happen. */
static const char *
join(char *buf, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		buf[0] = '\0';
	return buf;
}

static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
hex_decode(const char *in, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(in);

	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_val(in[2 * i]), lo = hex_val(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return true;
}

static bool
is_id_hex(const char *s, size_t len)
{
	if (len != ID_HEX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- files: atomic writes, directories, the lock ----------------------------- */

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes dir/name atomically, mode 0600. */
static enum smk_ks_status
write_atomic(const char *dir, const char *name, const void *data, size_t len, struct smk_error *err)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	const char *p = data;
	int fd, e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp) ||
	    (size_t)snprintf(final, sizeof(final), "%s/%s", dir, name) >= sizeof(final))
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s/%s: path too long", dir, name);
	/* mkostemp: O_CREAT|O_EXCL, mode 0600; fchmod undoes a strict umask */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: cannot create a file: %s", dir,
			    strerror(errno));
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, final) < 0)
		goto fail;
	/* The new file is in place now: a failed fsync of the directory only
	 * weakens durability, and failing here would make callers undo a
	 * change that happened. */
	(void)fsync_dir(dir);
	return SMK_KS_OK;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: cannot write: %s", final, strerror(e));
}

/* mkdir with mode 0700 whatever the umask; an existing directory is fine. */
static enum smk_ks_status
make_dir(const char *path, struct smk_error *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0) {
		if (chmod(path, 0700) < 0)
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: chmod: %s", path,
				    strerror(errno));
		return SMK_KS_OK;
	}
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return SMK_KS_OK;
	return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: cannot create the directory: %s", path,
		    errno == EEXIST ? "not a directory" : strerror(errno));
}

/* mkdir -p for the token directory (and missing parents, 0700 too). */
static enum smk_ks_status
make_dirs(const char *path, struct smk_error *err)
{
	char buf[PATH_MAX];
	enum smk_ks_status st;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (!exists(buf) && (st = make_dir(buf, err)) != SMK_KS_OK)
			return st;
		*s = '/';
	}
	return make_dir(buf, err);
}

/* Opens and flock()s the lock file: -1 if the token directory is missing
 * (*missing set) or on error (err set). */
static int
lock_token(struct ftok *ft, int op, bool *missing, struct smk_error *err)
{
	char path[PATH_MAX];
	int fd;

	*missing = false;
	pathf(path, ft, "lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return -1;
		}
		smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: %s", path, strerror(errno));
		return -1;
	}
	(void)fchmod(fd, 0600);
	while (flock(fd, op) < 0) {
		if (errno != EINTR) {
			smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: flock: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void
unlock_token(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}

/* Reads a small file; *missing if it does not exist. */
static char *
read_small(const char *path, size_t max, const char *noun, size_t *len, bool *missing,
	   struct smk_error *err)
{
	*missing = false;
	if (!exists(path)) {
		*missing = true;
		return NULL;
	}
	return smk_file_read(path, max, noun, SMK_ERR_IO, len, err);
}

/* ---- token.conf ------------------------------------------------------------- */

static bool
parse_pin_field(struct pin_rec *r, const char *field, const char *v, bool *ok)
{
	size_t n;

	if (strcmp(field, "iterations") == 0) {
		*ok = smk_parse_uint(v, KDF_ITERATIONS_MAX, &r->iterations) && r->iterations > 0;
	} else if (strcmp(field, "salt") == 0) {
		*ok = hex_decode(v, r->salt, sizeof(r->salt), &r->salt_len) && r->salt_len >= 8;
	} else if (strcmp(field, "check") == 0) {
		*ok = hex_decode(v, r->check, sizeof(r->check), &n) && n == CHECK_LEN;
		r->set = *ok;
	} else if (strcmp(field, "failures") == 0) {
		*ok = smk_parse_uint(v, 1000000, &r->failures);
	} else {
		return false;
	}
	return true;
}

/* Parses token.conf; unknown keys are ignored (a later version may add some). */
static enum smk_ks_status
conf_parse(char *text, const char *path, struct tconf *tc, struct smk_error *err)
{
	bool have_version = false, have_serial = false, have_gen = false, have_kdf = false;
	unsigned line = 0;
	char *next;

	memset(tc, 0, sizeof(*tc));
	tc->max_failures = SMK_PIN_MAX_FAILURES_DEFAULT;
	for (char *l = text; l != NULL; l = next) {
		char *eq, *k, *v, *end;
		bool ok = true;

		next = strchr(l, '\n');
		if (next != NULL)
			*next++ = '\0';
		line++;
		while (*l == ' ' || *l == '\t')
			l++;
		if (*l == '\0' || *l == '#')
			continue;
		eq = strchr(l, '=');
		if (eq == NULL)
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO,
				    "%s: line %u: not 'key = value' (damaged file?)", path, line);
		k = l;
		end = eq;
		while (end > k && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		end = v + strlen(v);
		while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
		*end = '\0';

		if (strcmp(k, "version") == 0) {
			unsigned ver;

			ok = smk_parse_uint(v, 1000, &ver);
			if (ok && ver != FORMAT_VERSION)
				return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO,
					    "%s: format version %u is not known here", path, ver);
			have_version = ok;
		} else if (strcmp(k, "label") == 0) {
			ok = strlen(v) < sizeof(tc->label);
			if (ok)
				memcpy(tc->label, v, strlen(v) + 1);
		} else if (strcmp(k, "serial") == 0) {
			ok = strlen(v) == 16 && strspn(v, "0123456789abcdef") == 16;
			if (ok)
				memcpy(tc->serial, v, 17);
			have_serial = ok;
		} else if (strcmp(k, "kdf") == 0) {
			ok = strcmp(v, "pbkdf2-sha256") == 0;
			have_kdf = ok;
		} else if (strcmp(k, "max_failures") == 0) {
			ok = smk_parse_uint(v, 1000000, &tc->max_failures) && tc->max_failures > 0;
		} else if (strcmp(k, "generation") == 0) {
			char *e;

			errno = 0;
			tc->gen = strtoul(v, &e, 10);
			ok = *v >= '0' && *v <= '9' && *e == '\0' && errno == 0 && tc->gen > 0 &&
			     tc->gen < 1000000000ul;
			have_gen = ok;
		} else if (strncmp(k, "so_", 3) == 0) {
			if (!parse_pin_field(&tc->so, k + 3, v, &ok))
				continue;
		} else if (strncmp(k, "user_", 5) == 0) {
			if (!parse_pin_field(&tc->user, k + 5, v, &ok))
				continue;
		}
		if (!ok)
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: line %u: bad value for %s", path,
				    line, k);
	}
	if (!have_version || !have_serial || !have_gen || !have_kdf || !tc->so.set ||
	    tc->so.salt_len == 0 || tc->so.iterations == 0)
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO,
			    "%s: incomplete (no %s; damaged file?)", path,
			    !have_version ? "version" : !have_serial ? "serial" : !have_gen ?
			    "generation" : !have_kdf ? "kdf" : "SO PIN check");
	if (tc->user.set && (tc->user.salt_len == 0 || tc->user.iterations == 0))
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: incomplete user PIN record", path);
	return SMK_KS_OK;
}

/* Reads token.conf: SMK_KS_OK, or *missing (not initialised), or an error. */
static enum smk_ks_status
conf_read(struct ftok *ft, struct tconf *tc, bool *missing, struct smk_error *err)
{
	char path[PATH_MAX];
	enum smk_ks_status st;
	size_t len;
	char *text;

	pathf(path, ft, "token.conf");
	text = read_small(path, CONF_MAX, "token.conf", &len, missing, err);
	if (*missing)
		return SMK_KS_OK;
	if (text == NULL)
		return SMK_KS_ERROR;
	if (memchr(text, '\0', len) != NULL)
		st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: binary garbage (damaged file?)", path);
	else
		st = conf_parse(text, path, tc, err);
	free(text);
	return st;
}

/* Reads token.conf that must be there. */
static enum smk_ks_status
conf_need(struct ftok *ft, struct tconf *tc, struct smk_error *err)
{
	enum smk_ks_status st;
	bool missing;

	st = conf_read(ft, tc, &missing, err);
	if (st == SMK_KS_OK && missing)
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_STATE,
			    "token %s: not initialised (%s/token.conf missing)", ft->name, ft->dir);
	return st;
}

static void
conf_pin_lines(char *buf, size_t size, size_t *n, const char *who, const struct pin_rec *r)
{
	char salt[2 * SALT_MAX + 1], check[2 * CHECK_LEN + 1];

	hex_encode(r->salt, r->salt_len, salt);
	hex_encode(r->check, CHECK_LEN, check);
	*n += (size_t)snprintf(buf + *n, size - *n,
			       "%s_iterations = %u\n%s_salt = %s\n%s_check = %s\n", who,
			       r->iterations, who, salt, who, check);
}

static enum smk_ks_status
conf_write(struct ftok *ft, const struct tconf *tc, struct smk_error *err)
{
	char buf[4096];
	size_t n = 0;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "# smimekit file token (written by smimekit; see the README)\n"
			      "version = %d\nlabel = %s\nserial = %s\nkdf = pbkdf2-sha256\n",
			      FORMAT_VERSION, tc->label, tc->serial);
	conf_pin_lines(buf, sizeof(buf), &n, "so", &tc->so);
	if (tc->user.set)
		conf_pin_lines(buf, sizeof(buf), &n, "user", &tc->user);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "max_failures = %u\nso_failures = %u\nuser_failures = %u\n"
			      "generation = %lu\n",
			      tc->max_failures, tc->so.failures, tc->user.failures, tc->gen);
	return write_atomic(ft->dir, "token.conf", buf, n, err);
}

static unsigned
max_failures(const struct ftok *ft, const struct tconf *tc)
{
	return ft->max_failures_set ? ft->max_failures : tc->max_failures;
}

/* ---- PINs ------------------------------------------------------------------ */

static enum smk_ks_status
pin_check_value(const unsigned char k[SMK_PBES2_KEY_LEN], const char *who,
		unsigned char check[CHECK_LEN], struct smk_error *err)
{
	char msg[64];
	unsigned int len = CHECK_LEN;

	snprintf(msg, sizeof(msg), "smimekit %s pin check", who);
	if (HMAC(EVP_sha256(), k, SMK_PBES2_KEY_LEN, (const unsigned char *)msg, strlen(msg), check,
		 &len) == NULL || len != CHECK_LEN) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "PIN check value");
		return SMK_KS_ERROR;
	}
	return SMK_KS_OK;
}

/* A new record for pin: fresh salt, the configured count, its check; K out. */
static enum smk_ks_status
pin_new(struct ftok *ft, const char *who, const char *pin, size_t pin_len, struct pin_rec *r,
	unsigned char k[SMK_PBES2_KEY_LEN], struct smk_error *err)
{
	struct smk_pbes2_params pp;

	memset(r, 0, sizeof(*r));
	r->iterations = ft->iterations;
	r->salt_len = SALT_LEN;
	if (RAND_bytes(r->salt, SALT_LEN) != 1) {
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "random salt");
		return SMK_KS_ERROR;
	}
	pp.salt = r->salt;
	pp.salt_len = r->salt_len;
	pp.iterations = r->iterations;
	if (smk_pbes2_derive(pin, pin_len, &pp, k, err) < 0 ||
	    pin_check_value(k, who, r->check, err) != SMK_KS_OK) {
		OPENSSL_cleanse(k, SMK_PBES2_KEY_LEN);
		return SMK_KS_ERROR;
	}
	r->set = true;
	return SMK_KS_OK;
}

/* Does pin match r?  K out.  No counting. */
static enum smk_ks_status
pin_matches(const struct pin_rec *r, const char *who, const char *pin, size_t pin_len,
	    unsigned char k[SMK_PBES2_KEY_LEN], bool *match, struct smk_error *err)
{
	struct smk_pbes2_params pp = { r->salt, r->salt_len, r->iterations };
	unsigned char check[CHECK_LEN];

	if (smk_pbes2_derive(pin, pin_len, &pp, k, err) < 0 ||
	    pin_check_value(k, who, check, err) != SMK_KS_OK) {
		OPENSSL_cleanse(k, SMK_PBES2_KEY_LEN);
		return SMK_KS_ERROR;
	}
	*match = CRYPTO_memcmp(check, r->check, CHECK_LEN) == 0;
	OPENSSL_cleanse(check, sizeof(check));
	return SMK_KS_OK;
}

/* Checks pin for user with the failure counter (lock held, tc read):
 * the counter goes up and is written before the KDF runs, and back to 0
 * on success.  K out on success. */
static enum smk_ks_status
pin_verify(struct ftok *ft, struct tconf *tc, enum smk_ks_user user, const char *pin,
	   size_t pin_len, unsigned char k[SMK_PBES2_KEY_LEN], struct smk_error *err)
{
	struct pin_rec *r = user == SMK_KS_SO ? &tc->so : &tc->user;
	const char *who = user == SMK_KS_SO ? "so" : "user";
	enum smk_ks_status st;
	bool match = false;

	if (!r->set)
		return smk_ks_fail(err, SMK_KS_PIN_NOT_SET, SMK_ERR_STATE,
			    "token %s: the user PIN is not set yet", ft->name);
	if (r->failures >= max_failures(ft, tc))
		return smk_ks_fail(err, SMK_KS_PIN_LOCKED, SMK_ERR_STATE,
			    "token %s: the %s PIN is locked after %u failed attempts", ft->name,
			    user == SMK_KS_SO ? "SO" : "user", r->failures);
	r->failures++;
	st = conf_write(ft, tc, err);
	if (st != SMK_KS_OK)
		return st;
	st = pin_matches(r, who, pin, pin_len, k, &match, err);
	if (st != SMK_KS_OK)
		return st;
	if (!match) {
		OPENSSL_cleanse(k, SMK_PBES2_KEY_LEN);
		return smk_ks_fail(err, SMK_KS_PIN_INCORRECT, SMK_ERR_STATE,
			    "token %s: %s PIN incorrect (%u of %u attempts used)", ft->name,
			    user == SMK_KS_SO ? "SO" : "user", r->failures, max_failures(ft, tc));
	}
	r->failures = 0;
	st = conf_write(ft, tc, err);
	if (st != SMK_KS_OK)
		OPENSSL_cleanse(k, SMK_PBES2_KEY_LEN);
	return st;
}

/* ---- listing ------------------------------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

static void
names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	nm->v = NULL;
	nm->n = 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dir ending in suffix whose stem starts with an id (sorted);
 * a missing directory is empty. */
static enum smk_ks_status
list_dir(const char *dir, const char *suffix, bool exact_id, struct names *nm,
	 struct smk_error *err)
{
	size_t sl = strlen(suffix);
	struct dirent *de;
	DIR *d;

	nm->v = NULL;
	nm->n = 0;
	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return SMK_KS_OK;
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (de->d_name[0] == '.' || len < ID_HEX_LEN + sl ||
		    strcmp(de->d_name + len - sl, suffix) != 0 ||
		    !is_id_hex(de->d_name, ID_HEX_LEN) || (exact_id && len != ID_HEX_LEN + sl))
			continue;
		grown = realloc(nm->v, (nm->n + 1) * sizeof(*grown));
		if (grown == NULL || (grown[nm->n] = strdup(de->d_name)) == NULL) {
			if (grown != NULL)
				nm->v = grown;
			closedir(d);
			names_free(nm);
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "%s: out of memory", dir);
		}
		nm->v = grown;
		nm->n++;
	}
	closedir(d);
	if (nm->n > 1)
		qsort(nm->v, nm->n, sizeof(*nm->v), cmp_names);
	return SMK_KS_OK;
}

static const char *
keys_dir(char *buf, struct ftok *ft, unsigned long gen)
{
	return pathf(buf, ft, "keys.%lu", gen);
}

/* Removes the files in dir and dir itself (best effort). */
static void
remove_dir(struct ftok *ft, const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		join(path, dir, de->d_name);
		if (unlink(path) < 0)
			logf_(ft, SMK_LOG_WARNING, "%s: cannot remove: %s", path, strerror(errno));
	}
	closedir(d);
	if (rmdir(dir) < 0)
		logf_(ft, SMK_LOG_WARNING, "%s: cannot remove: %s", dir, strerror(errno));
}

/* keys.N directories other than gen (gen 0: all of them): removed, or
 * just looked at for key files (true: some hold keys). */
static bool
other_generations(struct ftok *ft, unsigned long gen, bool remove)
{
	struct dirent *de;
	DIR *d = opendir(ft->dir);
	bool found = false;
	char path[PATH_MAX];

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		char *e;
		unsigned long g;

		if (strncmp(de->d_name, "keys.", 5) != 0)
			continue;
		g = strtoul(de->d_name + 5, &e, 10);
		if (*e != '\0' || g == gen)
			continue;
		pathf(path, ft, "%s", de->d_name);
		if (remove) {
			remove_dir(ft, path);
		} else {
			struct names nm;

			if (list_dir(path, ".p8", true, &nm, NULL) == SMK_KS_OK && nm.n > 0)
				found = true;
			names_free(&nm);
		}
	}
	closedir(d);
	return found;
}

/* ---- objects ---------------------------------------------------------------- */

static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The label of id ("" if none); malloc'd, or NULL with err. */
static char *
read_label(struct ftok *ft, const char *idhex, struct smk_error *err)
{
	char path[PATH_MAX], *text;
	bool missing;
	size_t len;

	pathf(path, ft, "public/%s.label", idhex);
	text = read_small(path, LABEL_FILE_MAX, "label", &len, &missing, err);
	if (missing)
		return strdup("");
	if (text != NULL) {
		/* one line, without its newline */
		text[strcspn(text, "\r\n")] = '\0';
	}
	return text;
}

static EVP_PKEY *
read_public(const char *path, bool *missing, struct smk_error *err)
{
	EVP_PKEY *key = NULL;
	size_t len;
	char *text;
	BIO *bio;

	text = read_small(path, KEY_FILE_MAX, "public key", &len, missing, err);
	if (text == NULL)
		return NULL;
	bio = BIO_new_mem_buf(text, (int)len);
	if (bio != NULL)
		key = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
	BIO_free(bio);
	free(text);
	if (key == NULL)
		smk_error_set_ossl(err, SMK_ERR_IO, "%s: not a PEM public key (damaged file?)", path);
	return key;
}

static X509 *
read_cert(const char *path, struct smk_error *err)
{
	X509 *cert = NULL;
	bool missing;
	size_t len;
	char *text;
	BIO *bio;

	text = read_small(path, KEY_FILE_MAX, "certificate", &len, &missing, err);
	if (missing)
		smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: vanished", path);
	if (text == NULL)
		return NULL;
	bio = BIO_new_mem_buf(text, (int)len);
	if (bio != NULL)
		cert = PEM_read_bio_X509(bio, NULL, no_password, NULL);
	BIO_free(bio);
	free(text);
	if (cert == NULL)
		smk_error_set_ossl(err, SMK_ERR_IO, "%s: not a PEM certificate (damaged file?)", path);
	return cert;
}

static struct cached *
cache_find(struct ftok *ft, const char *path)
{
	for (size_t i = 0; i < ft->n_cache; i++) {
		if (strcmp(ft->cache[i].path, path) == 0)
			return &ft->cache[i];
	}
	return NULL;
}

static void
cache_clear(struct cached *c)
{
	free(c->path);
	EVP_PKEY_free(c->key);
	X509_free(c->cert);
	memset(c, 0, sizeof(*c));
}

/* Drops what the last listing did not see (files removed). */
static void
cache_prune(struct ftok *ft)
{
	size_t j = 0;

	for (size_t i = 0; i < ft->n_cache; i++) {
		if (ft->cache[i].seen)
			ft->cache[j++] = ft->cache[i];
		else
			cache_clear(&ft->cache[i]);
	}
	ft->n_cache = j;
	for (size_t i = 0; i < ft->n_cache; i++)
		ft->cache[i].seen = false;
}

/* The public key or certificate in path (a new reference), parsed again
 * only when the file changed.  *missing: no such file. */
static enum smk_ks_status
cached_read(struct ftok *ft, const char *path, bool want_cert, EVP_PKEY **key, X509 **cert,
	    bool *missing, struct smk_error *err)
{
	struct cached *c, *grown;
	struct stat st;

	*missing = false;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return SMK_KS_OK;
		}
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: %s", path, strerror(errno));
	}
	c = cache_find(ft, path);
	if (c != NULL && (want_cert ? c->cert != NULL : c->key != NULL) && c->dev == st.st_dev &&
	    c->ino == st.st_ino && c->size == st.st_size && c->mtime.tv_sec == st.st_mtim.tv_sec &&
	    c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
		c->seen = true;
		if (want_cert ? !X509_up_ref(c->cert) : !EVP_PKEY_up_ref(c->key))
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "%s: reference", path);
		if (want_cert)
			*cert = c->cert;
		else
			*key = c->key;
		return SMK_KS_OK;
	}
	if (want_cert) {
		*cert = read_cert(path, err);
		if (*cert == NULL)
			return SMK_KS_ERROR;
	} else {
		*key = read_public(path, missing, err);
		if (*key == NULL)
			return *missing ? SMK_KS_OK : SMK_KS_ERROR;
	}
	if (c == NULL) {
		grown = realloc(ft->cache, (ft->n_cache + 1) * sizeof(*grown));
		if (grown == NULL)
			return SMK_KS_OK;	/* works without the cache */
		ft->cache = grown;
		c = &ft->cache[ft->n_cache];
		memset(c, 0, sizeof(*c));
		c->path = strdup(path);
		if (c->path == NULL)
			return SMK_KS_OK;
		ft->n_cache++;
	} else {
		EVP_PKEY_free(c->key);
		X509_free(c->cert);
		c->key = NULL;
		c->cert = NULL;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->size = st.st_size;
	c->mtime = st.st_mtim;
	c->seen = true;
	if (want_cert && X509_up_ref(*cert))
		c->cert = *cert;
	else if (!want_cert && EVP_PKEY_up_ref(*key))
		c->key = *key;
	return SMK_KS_OK;
}

static enum smk_ks_status
id_hex_of(const EVP_PKEY *pub, char idhex[ID_HEX_LEN + 1], struct smk_error *err)
{
	unsigned char id[SMK_ITEM_ID_MAX];
	size_t id_len;

	if (smk_key_id(pub, id, &id_len) < 0 || id_len != SHA_DIGEST_LENGTH)
		return smk_ks_fail(err, SMK_KS_UNSUPPORTED, SMK_ERR_INVALID, "only RSA and EC keys");
	hex_encode(id, id_len, idhex);
	return SMK_KS_OK;
}

/* Every certificate under certs/ to add. */
static enum smk_ks_status
add_certs(struct ftok *ft, smk_backend_add_fn *add, void *ctx, struct smk_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	enum smk_ks_status st;
	struct names nm;

	pathf(dir, ft, "certs");
	st = list_dir(dir, ".pem", false, &nm, err);
	for (size_t i = 0; st == SMK_KS_OK && i < nm.n; i++) {
		char idhex[ID_HEX_LEN + 1], *label;
		X509 *cert = NULL;
		bool gone;

		memcpy(idhex, nm.v[i], ID_HEX_LEN);
		idhex[ID_HEX_LEN] = '\0';
		join(path, dir, nm.v[i]);
		st = cached_read(ft, path, true, NULL, &cert, &gone, err);
		if (st != SMK_KS_OK || gone)
			continue;	/* an error ends the loop; a vanished file is skipped */
		label = read_label(ft, idhex, err);
		if (label == NULL)
			st = SMK_KS_ERROR;
		else if (add(ctx, NULL, cert, label) < 0)
			st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory", ft->name);
		X509_free(cert);
		free(label);
	}
	names_free(&nm);
	return st;
}

/* Writes cert under certs/ (unless it is there already) and the label of
 * its id when there is none yet.  Lock held. */
static enum smk_ks_status
put_cert(struct ftok *ft, X509 *cert, const char *label, struct smk_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX], name[ID_HEX_LEN + 16], idhex[ID_HEX_LEN + 1];
	enum smk_ks_status st;
	BIO *bio = NULL;
	char *data;
	long len;

	st = id_hex_of(X509_get0_pubkey(cert), idhex, err);
	if (st != SMK_KS_OK)
		return st;
	pathf(dir, ft, "certs");
	st = make_dir(dir, err);
	if (st != SMK_KS_OK)
		return st;
	for (unsigned n = 1;; n++) {
		X509 *old;

		if (n > 1000)
			return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: too many certificates for one key",
				    dir);
		if (n == 1)
			snprintf(name, sizeof(name), "%s.pem", idhex);
		else
			snprintf(name, sizeof(name), "%s-%u.pem", idhex, n);
		join(path, dir, name);
		if (!exists(path))
			break;
		old = read_cert(path, NULL);
		ERR_clear_error();
		if (old != NULL && X509_cmp(old, cert) == 0) {
			X509_free(old);
			goto label;	/* stored already */
		}
		X509_free(old);
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_X509(bio, cert) || (len = BIO_get_mem_data(bio, &data)) <= 0) {
		BIO_free(bio);
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "certificate encoding");
		return SMK_KS_ERROR;
	}
	st = write_atomic(dir, name, data, (size_t)len, err);
	BIO_free(bio);
	if (st != SMK_KS_OK)
		return st;
label:
	if (label != NULL && label[0] != '\0') {
		pathf(path, ft, "public/%s.label", idhex);
		if (!exists(path)) {
			pathf(dir, ft, "public");
			snprintf(name, sizeof(name), "%s.label", idhex);
			st = make_dir(dir, err);
			if (st == SMK_KS_OK)
				st = write_atomic(dir, name, label, strlen(label), err);
		}
	}
	return st;
}

/* Writes a private key encrypted with k, its public key and label.  Lock held. */
static enum smk_ks_status
put_key(struct ftok *ft, unsigned long gen, EVP_PKEY *key, const char *label,
	const unsigned char k[SMK_PBES2_KEY_LEN], const struct pin_rec *r, struct smk_error *err)
{
	struct smk_pbes2_params pp = { r->salt, r->salt_len, r->iterations };
	char dir[PATH_MAX], name[ID_HEX_LEN + 16], idhex[ID_HEX_LEN + 1];
	enum smk_ks_status st;
	BIO *bio = NULL;
	size_t len;
	char *pem, *data;
	long n;

	st = id_hex_of(key, idhex, err);
	if (st != SMK_KS_OK)
		return st;
	pem = smk_pbes2_encrypt_pem(key, k, &pp, &len, err);
	if (pem == NULL)
		return SMK_KS_ERROR;
	keys_dir(dir, ft, gen);
	snprintf(name, sizeof(name), "%s.p8", idhex);
	st = write_atomic(dir, name, pem, len, err);
	OPENSSL_clear_free(pem, len);
	if (st != SMK_KS_OK)
		return st;

	pathf(dir, ft, "public");
	st = make_dir(dir, err);
	if (st != SMK_KS_OK)
		return st;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_PUBKEY(bio, key) || (n = BIO_get_mem_data(bio, &data)) <= 0) {
		BIO_free(bio);
		smk_error_set_ossl(err, SMK_ERR_CRYPTO, "public key encoding");
		return SMK_KS_ERROR;
	}
	snprintf(name, sizeof(name), "%s.pem", idhex);
	st = write_atomic(dir, name, data, (size_t)n, err);
	BIO_free(bio);
	if (st == SMK_KS_OK && label != NULL && label[0] != '\0') {
		snprintf(name, sizeof(name), "%s.label", idhex);
		st = write_atomic(dir, name, label, strlen(label), err);
	}
	return st;
}

/* Reads and decrypts keys.<gen>/<name> (K, or the PIN for a file encrypted
 * otherwise). */
static EVP_PKEY *
get_key(struct ftok *ft, unsigned long gen, const char *name, const unsigned char *k,
	const struct pin_rec *r, const char *pin, size_t pin_len, struct smk_error *err)
{
	struct smk_pbes2_params pp = { r->salt, r->salt_len, r->iterations };
	char path[PATH_MAX], dir[PATH_MAX];
	EVP_PKEY *key;
	bool missing;
	size_t len;
	char *text;

	keys_dir(dir, ft, gen);
	join(path, dir, name);
	text = read_small(path, KEY_FILE_MAX, "key file", &len, &missing, err);
	if (missing)
		smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: vanished", path);
	if (text == NULL)
		return NULL;
	key = smk_pbes2_decrypt_pem(text, len, k, &pp, pin, pin_len, path, err);
	OPENSSL_clear_free(text, len);
	return key;
}

static enum smk_ks_status
list_keys(struct ftok *ft, unsigned long gen, struct names *nm, struct smk_error *err)
{
	char dir[PATH_MAX];
	struct stat st;

	keys_dir(dir, ft, gen);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_IO, "%s: missing (damaged token?)", dir);
	return list_dir(dir, ".p8", true, nm, err);
}

/* ---- the backend ------------------------------------------------------------ */

static void *
file_open(const struct smk_config *cfg, const struct smk_config_section *sec, smk_log_fn *log,
	  void *log_ctx, struct smk_error *err)
{
	const char *file = cfg != NULL && cfg->path != NULL ? cfg->path : "configuration";
	const struct smk_config_entry *e;
	struct ftok *ft;
	char buf[PATH_MAX];

	ft = calloc(1, sizeof(*ft));
	if (ft == NULL || (ft->name = strdup(sec->name)) == NULL) {
		free(ft);
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ft->log = log;
	ft->log_ctx = log_ctx;
	ft->max_failures = SMK_PIN_MAX_FAILURES_DEFAULT;
	ft->iterations = KDF_ITERATIONS_MIN;

	e = smk_config_entry(sec, "path");
	if (e != NULL && e->value[0] == '~' && e->value[1] == '/' && getenv("HOME") != NULL) {
		snprintf(buf, sizeof(buf), "%s%s", getenv("HOME"), e->value + 1);
	} else if (e != NULL) {
		if (e->value[0] != '/') {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: path must be absolute (or ~/...)",
				      file, e->line);
			goto fail;
		}
		snprintf(buf, sizeof(buf), "%s", e->value);
	} else {
		const char *data = getenv("XDG_DATA_HOME");
		const char *home = getenv("HOME");
		struct passwd *pw;

		if (strchr(sec->name, '/') != NULL || strcmp(sec->name, ".") == 0 ||
		    strcmp(sec->name, "..") == 0) {
			smk_error_set(err, SMK_ERR_INVALID,
				      "%s:%u: token name '%s' cannot be a directory name; set path",
				      file, sec->line, sec->name);
			goto fail;
		}
		if (home == NULL || home[0] != '/') {
			pw = getpwuid(getuid());
			home = pw != NULL ? pw->pw_dir : NULL;
		}
		if (data != NULL && data[0] == '/')
			snprintf(buf, sizeof(buf), "%s/smimekit/tokens/%s", data, sec->name);
		else if (home != NULL)
			snprintf(buf, sizeof(buf), "%s/.local/share/smimekit/tokens/%s", home,
				 sec->name);
		else {
			smk_error_set(err, SMK_ERR_INVALID,
				      "%s:%u: token %s: no home directory; set path", file, sec->line,
				      sec->name);
			goto fail;
		}
	}
	if (strlen(buf) > PATH_MAX - 128) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: token %s: path too long", file, sec->line,
			      sec->name);
		goto fail;
	}
	/* no trailing slashes: paths are built as dir/name */
	for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
	ft->dir = strdup(buf);

	e = smk_config_entry(sec, "label");
	if (e != NULL) {
		if (strlen(e->value) > 32) {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: label longer than 32 bytes", file,
				      e->line);
			goto fail;
		}
		ft->label = strdup(e->value);
	}
	e = smk_config_entry(sec, "max_failures");
	if (e != NULL) {
		if (!smk_parse_uint(e->value, 1000000, &ft->max_failures) || ft->max_failures == 0) {
			smk_error_set(err, SMK_ERR_INVALID,
				      "%s:%u: max_failures must be a number from 1", file, e->line);
			goto fail;
		}
		ft->max_failures_set = true;
	}
	e = smk_config_entry(sec, "kdf_iterations");
	if (e != NULL) {
		if (!smk_parse_uint(e->value, KDF_ITERATIONS_MAX, &ft->iterations) ||
		    ft->iterations < KDF_ITERATIONS_MIN) {
			smk_error_set(err, SMK_ERR_INVALID,
				      "%s:%u: kdf_iterations must be a number from %u to %u", file,
				      e->line, KDF_ITERATIONS_MIN, KDF_ITERATIONS_MAX);
			goto fail;
		}
	}
	if (ft->dir == NULL || (smk_config_entry(sec, "label") != NULL && ft->label == NULL)) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		goto fail;
	}
	return ft;
fail:
	free(ft->name);
	free(ft->dir);
	free(ft->label);
	free(ft);
	return NULL;
}

static void
file_lock(void *b)
{
	struct ftok *ft = b;

	OPENSSL_cleanse(ft->k, sizeof(ft->k));
	OPENSSL_cleanse(&ft->kpin, sizeof(ft->kpin));
	ft->unlocked = false;
}

static void
file_close(void *b)
{
	struct ftok *ft = b;

	if (ft == NULL)
		return;
	file_lock(ft);
	for (size_t i = 0; i < ft->n_cache; i++)
		cache_clear(&ft->cache[i]);
	free(ft->cache);
	free(ft->name);
	free(ft->dir);
	free(ft->label);
	free(ft);
}

static enum smk_ks_status
file_info(void *b, struct smk_token_info *info, struct smk_error *err)
{
	struct ftok *ft = b;
	enum smk_ks_status st = SMK_KS_OK;
	struct tconf tc;
	bool missing = true;
	int fd;

	snprintf(info->model, sizeof(info->model), "file");
	fd = lock_token(ft, LOCK_SH, &missing, err);
	if (fd < 0 && !missing)
		return SMK_KS_ERROR;
	if (!missing)
		st = conf_read(ft, &tc, &missing, err);
	unlock_token(fd);
	if (st != SMK_KS_OK)
		return st;
	if (missing) {
		unsigned char h[SHA256_DIGEST_LENGTH];

		/* not initialised: a serial stable for the path until it is */
		SHA256((const unsigned char *)ft->dir, strlen(ft->dir), h);
		hex_encode(h, 8, info->serial);
		snprintf(info->label, sizeof(info->label), "%s",
			 ft->label != NULL ? ft->label : ft->name);
		info->max_failures = ft->max_failures;
		return SMK_KS_OK;
	}
	snprintf(info->label, sizeof(info->label), "%s", tc.label);
	memcpy(info->serial, tc.serial, sizeof(info->serial));
	info->initialized = true;
	info->user_pin_set = tc.user.set;
	info->write_protected = access(ft->dir, W_OK) != 0;
	info->max_failures = max_failures(ft, &tc);
	info->user_failures = tc.user.failures;
	info->so_failures = tc.so.failures;
	info->user_locked = tc.user.failures >= info->max_failures;
	info->so_locked = tc.so.failures >= info->max_failures;
	return SMK_KS_OK;
}

static enum smk_ks_status
file_load_public(void *b, smk_backend_add_fn *add, void *ctx, struct smk_error *err)
{
	struct ftok *ft = b;
	enum smk_ks_status st;
	struct names nm = { NULL, 0 };
	char path[PATH_MAX];
	struct tconf tc;
	bool missing;
	int fd;

	fd = lock_token(ft, LOCK_SH, &missing, err);
	if (fd < 0)
		return missing ? SMK_KS_OK : SMK_KS_ERROR;
	st = conf_read(ft, &tc, &missing, err);
	if (st != SMK_KS_OK || missing)
		goto done;
	st = list_keys(ft, tc.gen, &nm, err);
	for (size_t i = 0; st == SMK_KS_OK && i < nm.n; i++) {
		char idhex[ID_HEX_LEN + 1], *label = NULL;
		EVP_PKEY *pub;
		bool gone;

		memcpy(idhex, nm.v[i], ID_HEX_LEN);
		idhex[ID_HEX_LEN] = '\0';
		pub = NULL;
		st = cached_read(ft, pathf(path, ft, "public/%s.pem", idhex), false, &pub, NULL, &gone,
				 err);
		if (st != SMK_KS_OK || gone)
			continue;	/* an error ends the loop; no public copy: shown after login */
		label = read_label(ft, idhex, err);
		if (label == NULL)
			st = SMK_KS_ERROR;
		else if (add(ctx, pub, NULL, label) < 0)
			st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory", ft->name);
		EVP_PKEY_free(pub);
		free(label);
	}
	if (st == SMK_KS_OK)
		st = add_certs(ft, add, ctx, err);
	if (st == SMK_KS_OK)
		cache_prune(ft);
done:
	names_free(&nm);
	unlock_token(fd);
	return st;
}

static enum smk_ks_status
lock_need(struct ftok *ft, int *fd, struct smk_error *err)
{
	bool missing;

	*fd = lock_token(ft, LOCK_EX, &missing, err);
	if (*fd < 0 && missing)
		return smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_STATE,
			    "token %s: not initialised (%s missing)", ft->name, ft->dir);
	return *fd < 0 ? SMK_KS_ERROR : SMK_KS_OK;
}

static enum smk_ks_status
file_unlock(void *b, enum smk_ks_user user, const char *pin, size_t pin_len,
	    smk_backend_add_fn *add, void *ctx, struct smk_error *err)
{
	struct ftok *ft = b;
	unsigned char k[SMK_PBES2_KEY_LEN];
	struct names nm = { NULL, 0 };
	enum smk_ks_status st;
	struct tconf tc;
	int fd;

	st = lock_need(ft, &fd, err);
	if (st != SMK_KS_OK)
		return st;
	st = conf_need(ft, &tc, err);
	if (st == SMK_KS_OK)
		st = pin_verify(ft, &tc, user, pin, pin_len, k, err);
	if (st != SMK_KS_OK || user == SMK_KS_SO)
		goto done;

	st = list_keys(ft, tc.gen, &nm, err);
	for (size_t i = 0; st == SMK_KS_OK && i < nm.n; i++) {
		char idhex[ID_HEX_LEN + 1], *label;
		EVP_PKEY *key;

		memcpy(idhex, nm.v[i], ID_HEX_LEN);
		idhex[ID_HEX_LEN] = '\0';
		key = get_key(ft, tc.gen, nm.v[i], k, &tc.user, pin, pin_len, err);
		label = key != NULL ? read_label(ft, idhex, err) : NULL;
		if (key == NULL || label == NULL)
			st = SMK_KS_ERROR;
		else if (add(ctx, key, NULL, label) < 0)
			st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_NOMEM, "token %s: out of memory", ft->name);
		EVP_PKEY_free(key);
		free(label);
	}
	if (st == SMK_KS_OK) {
		memcpy(ft->k, k, sizeof(k));
		ft->kpin = tc.user;
		ft->unlocked = true;
	}
done:
	OPENSSL_cleanse(k, sizeof(k));
	names_free(&nm);
	unlock_token(fd);
	return st;
}

static enum smk_ks_status
file_init_token(void *b, const char *so_pin, size_t so_pin_len, const char *label,
		struct smk_error *err)
{
	struct ftok *ft = b;
	unsigned char k[SMK_PBES2_KEY_LEN], serial[8];
	char path[PATH_MAX];
	enum smk_ks_status st;
	struct smk_error e2;
	struct tconf tc;
	bool missing;
	int fd = -1;

	st = make_dirs(ft->dir, err);
	if (st == SMK_KS_OK)
		st = lock_need(ft, &fd, err);
	if (st != SMK_KS_OK)
		return st;

	/* Keys are never thrown away: with a readable token.conf look at its
	 * keys directory, without one at every keys.N. */
	st = conf_read(ft, &tc, &missing, &e2);
	if (other_generations(ft, 0, false)) {
		if (st == SMK_KS_OK && !missing)
			st = smk_ks_fail(err, SMK_KS_EXISTS, SMK_ERR_STATE,
				  "token %s: initialised already and holding keys (%s); they are "
				  "never thrown away", ft->name, ft->dir);
		else
			st = smk_ks_fail(err, SMK_KS_EXISTS, SMK_ERR_STATE,
				  "token %s: %s holds key files but %s; not re-initialised", ft->name,
				  ft->dir, st != SMK_KS_OK ? "its token.conf is unreadable" :
				  "no token.conf");
		goto done;
	}

	/* a fresh token: no keys, no certificates, no user PIN */
	other_generations(ft, 0, true);
	remove_dir(ft, pathf(path, ft, "public"));
	remove_dir(ft, pathf(path, ft, "certs"));
	memset(&tc, 0, sizeof(tc));
	snprintf(tc.label, sizeof(tc.label), "%s",
		 label != NULL ? label : ft->label != NULL ? ft->label : ft->name);
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		st = smk_ks_fail(err, SMK_KS_ERROR, SMK_ERR_CRYPTO, "random serial");
		goto done;
	}
	hex_encode(serial, sizeof(serial), tc.serial);
	tc.max_failures = ft->max_failures;
	tc.gen = 1;
	st = pin_new(ft, "so", so_pin, so_pin_len, &tc.so, k, err);
	OPENSSL_cleanse(k, sizeof(k));
	if (st == SMK_KS_OK)
		st = make_dir(keys_dir(path, ft, tc.gen), err);
	if (st == SMK_KS_OK)
		st = make_dir(pathf(path, ft, "public"), err);
	if (st == SMK_KS_OK)
		st = make_dir(pathf(path, ft, "certs"), err);
	if (st == SMK_KS_OK)
		st = conf_write(ft, &tc, err);
	if (st == SMK_KS_OK)
		logf_(ft, SMK_LOG_INFO, "token %s: initialised in %s", ft->name, ft->dir);
done:
	unlock_token(fd);
	return st;
}

static enum smk_ks_status
file_init_pin(void *b, const char *pin, size_t pin_len, struct smk_error *err)
{
	struct ftok *ft = b;
	unsigned char k[SMK_PBES2_KEY_LEN];
	struct names nm = { NULL, 0 };
	enum smk_ks_status st;
	struct tconf tc;
	bool match = false;
	int fd;

	st = lock_need(ft, &fd, err);
	if (st != SMK_KS_OK)
		return st;
	st = conf_need(ft, &tc, err);
	if (st == SMK_KS_OK)
		st = list_keys(ft, tc.gen, &nm, err);
	if (st != SMK_KS_OK)
		goto done;
	if (!tc.user.set || nm.n == 0) {
		st = pin_new(ft, "user", pin, pin_len, &tc.user, k, err);
		if (st == SMK_KS_OK)
			st = conf_write(ft, &tc, err);
		goto done;
	}
	/* The keys are encrypted under the current user PIN, which the SO
	 * does not know: only that PIN can stay; the SO may reset its
	 * failure counter (unlock a user who still knows the PIN). */
	st = pin_matches(&tc.user, "user", pin, pin_len, k, &match, err);
	if (st != SMK_KS_OK)
		goto done;
	if (!match) {
		st = smk_ks_fail(err, SMK_KS_EXISTS, SMK_ERR_STATE,
			  "token %s: holds keys encrypted under the current user PIN; the SO cannot "
			  "set another one (give the current PIN to unlock the user, or the user "
			  "changes it)", ft->name);
		goto done;
	}
	tc.user.failures = 0;
	st = conf_write(ft, &tc, err);
done:
	OPENSSL_cleanse(k, sizeof(k));
	names_free(&nm);
	unlock_token(fd);
	return st;
}

/* The user PIN change: every key re-encrypted into keys.<gen+1>, then
 * token.conf replaced, then keys.<gen> removed. */
static enum smk_ks_status
change_user_pin(struct ftok *ft, struct tconf *tc, const unsigned char k_old[SMK_PBES2_KEY_LEN],
		const char *old_pin, size_t old_len, const char *new_pin, size_t new_len,
		struct smk_error *err)
{
	unsigned char k_new[SMK_PBES2_KEY_LEN];
	char old_dir[PATH_MAX], new_dir[PATH_MAX];
	unsigned long new_gen = tc->gen + 1;
	struct names nm = { NULL, 0 };
	enum smk_ks_status st;
	struct pin_rec rec;

	/* leftovers of an interrupted change (never the current generation) */
	other_generations(ft, tc->gen, true);
	st = list_keys(ft, tc->gen, &nm, err);
	if (st != SMK_KS_OK)
		return st;
	st = pin_new(ft, "user", new_pin, new_len, &rec, k_new, err);
	if (st == SMK_KS_OK)
		st = make_dir(keys_dir(new_dir, ft, new_gen), err);
	for (size_t i = 0; st == SMK_KS_OK && i < nm.n; i++) {
		EVP_PKEY *key = get_key(ft, tc->gen, nm.v[i], k_old, &tc->user, old_pin, old_len,
					err);

		if (key == NULL)
			st = SMK_KS_ERROR;
		else
			st = put_key(ft, new_gen, key, NULL, k_new, &rec, err);
		EVP_PKEY_free(key);
	}
	if (st == SMK_KS_OK) {
		struct pin_rec old = tc->user;

		tc->user = rec;
		tc->gen = new_gen;
		st = conf_write(ft, tc, err);
		if (st != SMK_KS_OK) {
			tc->user = old;
			tc->gen = new_gen - 1;
		}
	}
	if (st == SMK_KS_OK) {
		remove_dir(ft, keys_dir(old_dir, ft, new_gen - 1));
		if (ft->unlocked) {
			memcpy(ft->k, k_new, sizeof(k_new));
			ft->kpin = rec;
		}
	} else {
		remove_dir(ft, new_dir);
	}
	OPENSSL_cleanse(k_new, sizeof(k_new));
	OPENSSL_cleanse(&rec, sizeof(rec));
	names_free(&nm);
	return st;
}

static enum smk_ks_status
file_set_pin(void *b, enum smk_ks_user user, const char *old_pin, size_t old_len,
	     const char *new_pin, size_t new_len, struct smk_error *err)
{
	struct ftok *ft = b;
	unsigned char k[SMK_PBES2_KEY_LEN];
	enum smk_ks_status st;
	struct tconf tc;
	int fd;

	st = lock_need(ft, &fd, err);
	if (st != SMK_KS_OK)
		return st;
	st = conf_need(ft, &tc, err);
	if (st == SMK_KS_OK)
		st = pin_verify(ft, &tc, user, old_pin, old_len, k, err);
	if (st == SMK_KS_OK && user == SMK_KS_SO) {
		st = pin_new(ft, "so", new_pin, new_len, &tc.so, k, err);
		if (st == SMK_KS_OK)
			st = conf_write(ft, &tc, err);
	} else if (st == SMK_KS_OK) {
		st = change_user_pin(ft, &tc, k, old_pin, old_len, new_pin, new_len, err);
	}
	OPENSSL_cleanse(k, sizeof(k));
	unlock_token(fd);
	return st;
}

static enum smk_ks_status
file_store_key(void *b, EVP_PKEY *key, X509 *cert, const char *label, struct smk_error *err)
{
	struct ftok *ft = b;
	enum smk_ks_status st;
	struct tconf tc;
	int fd;

	if (!ft->unlocked)
		return smk_ks_fail(err, SMK_KS_NOT_LOGGED_IN, SMK_ERR_STATE,
			    "token %s: the user is not logged in", ft->name);
	st = lock_need(ft, &fd, err);
	if (st != SMK_KS_OK)
		return st;
	st = conf_need(ft, &tc, err);
	if (st == SMK_KS_OK &&
	    (!tc.user.set || tc.user.salt_len != ft->kpin.salt_len ||
	     memcmp(tc.user.salt, ft->kpin.salt, tc.user.salt_len) != 0 ||
	     tc.user.iterations != ft->kpin.iterations))
		st = smk_ks_fail(err, SMK_KS_NOT_LOGGED_IN, SMK_ERR_STATE,
			  "token %s: the user PIN was changed meanwhile; log in again", ft->name);
	if (st == SMK_KS_OK)
		st = put_key(ft, tc.gen, key, label, ft->k, &ft->kpin, err);
	if (st == SMK_KS_OK && cert != NULL)
		st = put_cert(ft, cert, NULL, err);
	unlock_token(fd);
	return st;
}

static enum smk_ks_status
file_store_cert(void *b, X509 *cert, const char *label, struct smk_error *err)
{
	struct ftok *ft = b;
	enum smk_ks_status st;
	struct tconf tc;
	int fd;

	st = lock_need(ft, &fd, err);
	if (st != SMK_KS_OK)
		return st;
	st = conf_need(ft, &tc, err);
	if (st == SMK_KS_OK)
		st = put_cert(ft, cert, label, err);
	unlock_token(fd);
	return st;
}

const struct smk_token_backend smk_token_file_backend = {
	.type = "file",
	.keys = file_keys,
	.open = file_open,
	.close = file_close,
	.info = file_info,
	.load_public = file_load_public,
	.unlock = file_unlock,
	.lock = file_lock,
	.init_token = file_init_token,
	.init_pin = file_init_pin,
	.set_pin = file_set_pin,
	.store_key = file_store_key,
	.store_cert = file_store_cert,
};
