/* cmd-token.c - smimekit token: make a file token, list tokens, import a
 * PKCS#12 into a token, change a PIN, and escrow a user's key in the
 * directory (admins)
 *
 * Every key operation goes through the key store (lib/smk-keystore.h),
 * the same code the PKCS#11 module runs, so what this command writes is
 * what a mail client reads.  Secrets come from the terminal (no echo,
 * asked twice when new) or from files named by --*-pin-file options
 * (their first line): never from the command line, where every user
 * could read them in the process list.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "smk-cert.h"
#include "smk-config.h"
#include "smk-file.h"
#include "smk-keystore.h"
#include "smk-ldap.h"
#include "smk-p12.h"
#include "smk-policy.h"
#include "smk-token-directory.h"
#include "tool.h"

/* Exit statuses of every token subcommand. */
#define TOK_OK 0
#define TOK_REFUSED 1		/* wrong PIN, locked, exists, not found, failed */
#define TOK_USAGE 2		/* usage or configuration error */
#define TOK_UNAVAILABLE EX_TEMPFAIL	/* 75: the directory cannot be reached: try later */

#define SECRET_FILE_MAX 4096

static void
token_usage(FILE *f)
{
	fputs("Usage: smimekit token COMMAND [OPTIONS]\n"
	      "\n"
	      "  init NAME [--label LABEL] [--so-pin-file F] [--pin-file F]\n"
	      "      creates the file token [token NAME] of smimekit.conf with an SO PIN\n"
	      "      and a user PIN\n"
	      "  list [NAME] [--login [--pin-file F]]\n"
	      "      every token (or NAME): its state and items; --login also shows\n"
	      "      which private keys open with the PIN\n"
	      "  import NAME FILE.p12 [--label LABEL] [--pin-file F] [--p12-password-file F]\n"
	      "      stores the PKCS#12's key and certificate on the token, encrypted\n"
	      "      under the token's PIN (a directory token escrows it as a new value)\n"
	      "  passwd NAME [--so] [--pin-file F] [--new-pin-file F]\n"
	      "      changes the user PIN (--so: the SO PIN); every key is re-encrypted\n"
	      "  escrow ADDRESS FILE.p12 [--pin-file F] [--p12-password-file F] [--force]\n"
	      "      (admins) adds the PKCS#12's key, re-encrypted under the user's escrow\n"
	      "      PIN (--pin-file), as a new userPKCS12 value of ADDRESS's entry; old\n"
	      "      values stay\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE            configuration file (default: $SMIMEKIT_CONF,\n"
	      "                               ~/.config/smimekit/smimekit.conf, " SMK_SYSCONFDIR
	      "/smimekit/smimekit.conf)\n"
	      "  --pin-file F                 the (current) user PIN, or escrow's PIN\n"
	      "  --so-pin-file F              the SO PIN (init)\n"
	      "  --new-pin-file F             the new PIN (passwd)\n"
	      "  --p12-password-file F        the PKCS#12 file's password\n"
	      "  -H, --uri URI, -b, --base DN, -D, --bind-dn DN, -y, --bind-password-file F\n"
	      "                               escrow: directory settings over [directory]\n"
	      "  -v, --verbose                more messages\n"
	      "Secret files: the first line is the secret.  Without them the secrets are\n"
	      "asked for on the terminal.\n"
	      "\n"
	      "Exit status: 0 done; 1 refused (wrong PIN, locked, not found, exists) or\n"
	      "failed; 2 usage or configuration error; 75 directory unavailable.\n"
	      "See smimekit(1) and smimekit.conf(5).\n", f);
}

enum {
	OPT_PIN_FILE = 256, OPT_SO_PIN_FILE, OPT_NEW_PIN_FILE, OPT_P12_PW_FILE, OPT_LABEL,
	OPT_LOGIN, OPT_SO, OPT_FORCE,
};

static const struct option token_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE },
	{ "so-pin-file", required_argument, NULL, OPT_SO_PIN_FILE },
	{ "new-pin-file", required_argument, NULL, OPT_NEW_PIN_FILE },
	{ "p12-password-file", required_argument, NULL, OPT_P12_PW_FILE },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "login", no_argument, NULL, OPT_LOGIN },
	{ "so", no_argument, NULL, OPT_SO },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "uri", required_argument, NULL, 'H' },
	{ "base", required_argument, NULL, 'b' },
	{ "bind-dn", required_argument, NULL, 'D' },
	{ "bind-password-file", required_argument, NULL, 'y' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct tok_opts {
	const char *config;
	const char *pin_file, *so_pin_file, *new_pin_file, *p12_pw_file;
	const char *label;
	const char *uri, *base, *bind_dn, *bind_pw_file;
	bool login, so, force, verbose;
};

static struct tok_opts opts;

static void
log_stderr(void *ctx, enum smk_log_level level, const char *msg)
{
	(void)ctx;
	if (level >= SMK_LOG_WARNING || opts.verbose)
		tool_err("%s%s", level >= SMK_LOG_WARNING ? "warning: " : "", msg);
}

/* ---- secrets ------------------------------------------------------------- */

struct secret {
	char *s;
	size_t len;
};

static void
secret_free(struct secret *sec)
{
	if (sec->s != NULL) {
		OPENSSL_cleanse(sec->s, sec->len);
		free(sec->s);
	}
	sec->s = NULL;
	sec->len = 0;
}

/* The first line of path (trailing CR LF stripped). */
static int
secret_from_file(const char *path, const char *what, bool allow_empty, struct secret *out)
{
	struct smk_error err;
	size_t len = 0, n;
	char *buf = smk_file_read(path, SECRET_FILE_MAX, what, SMK_ERR_INVALID, &len, &err);

	if (buf == NULL) {
		tool_err("%s", err.msg);
		return -1;
	}
	n = strcspn(buf, "\r\n");
	if (n == 0 && !allow_empty) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		tool_err("%s: the %s is empty (its first line is the secret)", path, what);
		return -1;
	}
	OPENSSL_cleanse(buf + n, len - n);
	buf[n] = '\0';
	out->s = buf;
	out->len = n;
	return 0;
}

/* The terminal's settings while echo is off, restored on a signal. */
static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off;

static void
tty_restore(int sig)
{
	if (tty_echo_off) {
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
		tty_echo_off = 0;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from the terminal without echo. */
static int
tty_read(const char *prompt, bool allow_empty, struct secret *out)
{
	struct termios t;
	struct sigaction sa, old_int, old_term, old_hup;
	char buf[SMK_PIN_MAX + 2];
	size_t n = 0;
	int ret = -1;

	if (tty_fd < 0 && (tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
		tool_err("no terminal to ask for the %s: give it in a file (see --help)", prompt);
		return -1;
	}
	if (tcgetattr(tty_fd, &tty_saved) < 0) {
		tool_err("cannot read the terminal's settings: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_restore;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	t = tty_saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	/* Echo off first, then the prompt: what is typed after the prompt
	 * appears is never echoed nor flushed away. */
	tty_echo_off = 1;
	if (tcsetattr(tty_fd, TCSAFLUSH, &t) < 0) {
		tty_echo_off = 0;
		tool_err("cannot turn off the terminal's echo: %s", strerror(errno));
		goto out;
	}
	dprintf(tty_fd, "%s: ", prompt);
	for (;;) {
		char c;
		ssize_t r = read(tty_fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n < sizeof(buf) - 1)
			buf[n++] = c;
	}
	tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	tty_echo_off = 0;
	dprintf(tty_fd, "\n");
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0 && !allow_empty) {
		tool_err("nothing entered");
		goto out;
	}
	out->s = malloc(n + 1);
	if (out->s == NULL) {
		tool_err("out of memory");
		goto out;
	}
	memcpy(out->s, buf, n);
	out->s[n] = '\0';
	out->len = n;
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	return ret;
}

/* A secret from file (if given) or the terminal; a new one is asked twice. */
static int
get_secret_ex(const char *file, const char *what, bool is_new, bool allow_empty,
	      struct secret *out)
{
	struct secret again = { NULL, 0 };
	char prompt[256];

	out->s = NULL;
	out->len = 0;
	if (file != NULL)
		return secret_from_file(file, what, allow_empty, out);
	if (tty_read(what, allow_empty, out) < 0)
		return -1;
	if (!is_new)
		return 0;
	snprintf(prompt, sizeof(prompt), "%s (again)", what);
	if (tty_read(prompt, allow_empty, &again) < 0) {
		secret_free(out);
		return -1;
	}
	if (again.len != out->len || (out->len > 0 && CRYPTO_memcmp(again.s, out->s, out->len) != 0)) {
		secret_free(&again);
		secret_free(out);
		tool_err("the two entries differ: nothing changed");
		return -1;
	}
	secret_free(&again);
	return 0;
}

static int
get_secret(const char *file, const char *what, bool is_new, struct secret *out)
{
	return get_secret_ex(file, what, is_new, false, out);
}

/* ---- the key store -------------------------------------------------------------- */

static const struct smk_token_backend *const backends[] = {
	&smk_token_file_backend, &smk_token_directory_backend, NULL,
};

static int
exit_of(enum smk_ks_status st)
{
	switch (st) {
	case SMK_KS_OK: return TOK_OK;
	case SMK_KS_UNAVAILABLE: return TOK_UNAVAILABLE;
	default: return TOK_REFUSED;
	}
}

static struct smk_config *
load_config(void)
{
	struct smk_error err;
	struct smk_config *cfg = opts.config ? smk_config_load(opts.config, &err)
					     : smk_config_load_default(&err);

	if (cfg == NULL)
		tool_err("%s", err.msg);
	return cfg;
}

static const char *
config_name(const struct smk_config *cfg)
{
	return cfg->path ? cfg->path : (opts.config ? opts.config : smk_config_default_path());
}

/* The key store, and the token NAME in it (when name is not NULL). */
static int
open_store(const struct smk_config *cfg, const char *name, struct smk_keystore **ks,
	   struct smk_token **tok)
{
	struct smk_error err;

	*ks = NULL;
	if (tok != NULL)
		*tok = NULL;
	if (name != NULL && smk_config_find(cfg, "token", name) == NULL) {
		tool_err("no [token %s] in %s: add it there, e.g.\n\n"
			 "[token %s]\ntype = file\npath = ~/.local/share/smimekit/tokens/%s\n", name,
			 config_name(cfg), name, name);
		return TOK_USAGE;
	}
	*ks = smk_keystore_new(cfg, backends, log_stderr, NULL, &err);
	if (*ks == NULL) {
		tool_err("%s", err.msg);
		return TOK_USAGE;
	}
	if (name != NULL && (*tok = smk_keystore_find(*ks, name)) == NULL) {
		tool_err("no token %s in the key store", name);
		return TOK_USAGE;
	}
	return TOK_OK;
}

static const char *
section_type(const struct smk_config *cfg, const char *name)
{
	const struct smk_config_section *sec = smk_config_find(cfg, "token", name);
	const struct smk_config_entry *e = sec ? smk_config_entry(sec, "type") : NULL;

	return e ? e->value : "";
}

static int
login_user(struct smk_token *t, const char *name)
{
	struct secret pin;
	struct smk_error err;
	enum smk_ks_status st;
	char what[128];

	snprintf(what, sizeof(what), "PIN of token %s", name);
	if (get_secret(opts.pin_file, what, false, &pin) < 0)
		return TOK_USAGE;
	st = smk_token_login(t, SMK_KS_USER, pin.s, pin.len, &err);
	secret_free(&pin);
	if (st != SMK_KS_OK) {
		tool_err("%s", err.msg);
		return exit_of(st);
	}
	return TOK_OK;
}

/* ---- init ------------------------------------------------------------------------ */

static int
cmd_init(const struct smk_config *cfg, const char *name)
{
	struct smk_keystore *ks = NULL;
	struct smk_token *t;
	struct secret so = { NULL, 0 }, pin = { NULL, 0 };
	struct smk_error err;
	enum smk_ks_status st;
	char what[128];
	int ret;

	if ((ret = open_store(cfg, name, &ks, &t)) != TOK_OK)
		goto out;
	if (strcmp(section_type(cfg, name), "file") != 0) {
		tool_err("token %s is a %s token: only file tokens are initialised here (escrow "
			 "keys for a directory token with 'smimekit token escrow' or 'token import')",
			 name, section_type(cfg, name));
		ret = TOK_REFUSED;
		goto out;
	}
	snprintf(what, sizeof(what), "new SO PIN of token %s", name);
	ret = TOK_USAGE;
	if (get_secret(opts.so_pin_file, what, true, &so) < 0)
		goto out;
	snprintf(what, sizeof(what), "new user PIN of token %s", name);
	if (get_secret(opts.pin_file, what, true, &pin) < 0)
		goto out;
	st = smk_token_init(t, so.s, so.len, opts.label ? opts.label : name, &err);
	if (st == SMK_KS_OK)
		st = smk_token_login(t, SMK_KS_SO, so.s, so.len, &err);
	if (st == SMK_KS_OK) {
		st = smk_token_init_pin(t, pin.s, pin.len, &err);
		smk_token_logout(t);
	}
	if (st != SMK_KS_OK) {
		tool_err("%s", err.msg);
		ret = exit_of(st);
		goto out;
	}
	printf("token %s initialised\n", name);
	ret = TOK_OK;
out:
	secret_free(&so);
	secret_free(&pin);
	smk_keystore_free(ks);
	return ret;
}

/* ---- list ------------------------------------------------------------------------- */

static void
hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void
key_desc(EVP_PKEY *k, char *buf, size_t len)
{
	char group[64] = "";
	size_t glen = 0;

	if (EVP_PKEY_is_a(k, "RSA")) {
		snprintf(buf, len, "RSA %d", EVP_PKEY_get_bits(k));
	} else if (EVP_PKEY_is_a(k, "EC")) {
		if (!EVP_PKEY_get_group_name(k, group, sizeof(group), &glen))
			snprintf(group, sizeof(group), "%d bits", EVP_PKEY_get_bits(k));
		snprintf(buf, len, "EC %s", group);
	} else {
		snprintf(buf, len, "%s", EVP_PKEY_get0_type_name(k));
	}
}

static int
list_token(struct smk_token *t, bool login)
{
	struct smk_token_info info;
	struct smk_item **items = NULL;
	struct smk_error err;
	enum smk_ks_status st;
	size_t n = 0;
	int ret = TOK_OK;

	st = smk_token_info(t, &info, &err);
	if (st != SMK_KS_OK) {
		tool_err("%s", err.msg);
		return exit_of(st);
	}
	printf("token %s (%s): label \"%s\", serial %s\n", info.name, info.model, info.label,
	       info.serial);
	printf("  state: %s, user PIN %s, failures %u of %u%s", info.initialized ? "initialised"
	       : "not initialised", info.user_pin_set ? "set" : "not set", info.user_failures,
	       info.max_failures, info.user_locked ? ", LOCKED" : "");
	if (strcmp(info.model, "file") == 0)
		printf(", SO failures %u%s", info.so_failures, info.so_locked ? ", SO LOCKED" : "");
	printf("\n");
	if (login && info.initialized) {
		ret = login_user(t, info.name);
		if (ret != TOK_OK)
			return ret;
	}
	st = smk_token_items(t, &items, &n, &err);
	if (st != SMK_KS_OK) {
		tool_err("%s", err.msg);
		smk_token_logout(t);
		return exit_of(st);
	}
	printf("  %zu item%s\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct smk_item *it = items[i];
		char id[2 * SMK_ITEM_ID_MAX + 1], kd[96];

		hex(it->id, it->id_len, id);
		key_desc(it->pub, kd, sizeof(kd));
		/* A directory token knows its keys only after login (the escrow);
		 * before, it shows every certificate as possibly having one. */
		printf("  - id %s, label \"%s\", %s, private key: %s\n", id, it->label, kd,
		       it->has_private ? "yes"
		       : !login && strcmp(info.model, "directory") == 0
			       ? "unknown (escrowed keys show after login)"
		       : it->private_stored ? "stored (log in to use)" : "no");
		if (it->cert != NULL) {
			char subject[512], serial[80], until[64];

			smk_cert_subject(it->cert, subject, sizeof(subject));
			smk_cert_serial_hex(it->cert, serial, sizeof(serial));
			smk_asn1_time_str(X509_get0_notAfter(it->cert), until, sizeof(until));
			printf("    certificate: %s, serial %s, expires %s\n", subject, serial, until);
		}
	}
	smk_items_free(items, n);
	smk_token_logout(t);
	return ret;
}

static int
cmd_list(const struct smk_config *cfg, const char *name)
{
	struct smk_keystore *ks = NULL;
	struct smk_token *t = NULL;
	int ret, worst = TOK_OK;

	if ((ret = open_store(cfg, name, &ks, &t)) != TOK_OK)
		goto out;
	if (t != NULL) {
		worst = list_token(t, opts.login);
	} else {
		size_t count = smk_keystore_count(ks);

		if (count == 0)
			printf("no tokens: add a [token NAME] section to %s\n", config_name(cfg));
		for (size_t i = 0; i < count; i++) {
			int r = list_token(smk_keystore_token(ks, i), opts.login);

			/* the directory being down beats a refusal */
			if (r == TOK_UNAVAILABLE || (r != TOK_OK && worst == TOK_OK))
				worst = r;
		}
	}
	ret = worst;
out:
	smk_keystore_free(ks);
	return ret;
}

/* ---- import ---------------------------------------------------------------------- */

/* Reads and opens a PKCS#12 file with its password. */
static int
open_p12(const char *path, struct smk_p12_content *c)
{
	struct secret pw = { NULL, 0 };
	struct smk_error err;
	enum smk_p12_status ps;
	size_t len = 0;
	unsigned char *der;
	char what[512];

	der = (unsigned char *)smk_file_read(path, SMK_P12_MAX, "PKCS#12", SMK_ERR_INVALID, &len,
					      &err);
	if (der == NULL) {
		tool_err("%s", err.msg);
		return TOK_USAGE;
	}
	snprintf(what, sizeof(what), "password of %s", path);
	if (get_secret_ex(opts.p12_pw_file, what, false, true, &pw) < 0) {
		free(der);
		return TOK_USAGE;
	}
	ps = smk_p12_decode(der, len, pw.s ? pw.s : "", pw.len, c, &err);
	secret_free(&pw);
	free(der);
	if (ps == SMK_P12_BAD_PASSWORD) {
		tool_err("%s: wrong password", path);
		return TOK_REFUSED;
	}
	if (ps != SMK_P12_OK) {
		tool_err("%s: %s", path, err.msg);
		return TOK_REFUSED;
	}
	return TOK_OK;
}

static int
cmd_import(const struct smk_config *cfg, const char *name, const char *path)
{
	struct smk_keystore *ks = NULL;
	struct smk_token *t;
	struct smk_p12_content c = { NULL, NULL, NULL, NULL };
	struct smk_item *it = NULL;
	struct smk_error err;
	enum smk_ks_status st;
	int ret;

	if ((ret = open_store(cfg, name, &ks, &t)) != TOK_OK)
		goto out;
	if ((ret = open_p12(path, &c)) != TOK_OK)
		goto out;
	if ((ret = login_user(t, name)) != TOK_OK)
		goto out;
	st = smk_token_store_key(t, c.key, c.cert,
				 opts.label ? opts.label : c.label ? c.label : "", &it, &err);
	smk_token_logout(t);
	if (st != SMK_KS_OK) {
		tool_err("%s", err.msg);
		ret = exit_of(st);
		goto out;
	}
	{
		char id[2 * SMK_ITEM_ID_MAX + 1], kd[96];

		hex(it->id, it->id_len, id);
		key_desc(it->pub, kd, sizeof(kd));
		printf("imported %s key id %s, label \"%s\"%s into token %s\n", kd, id, it->label,
		       c.cert ? " with its certificate" : "", name);
	}
	if (sk_X509_num(c.extra) > 0)
		tool_err("note: %d further certificate%s in %s (the chain) not stored",
			 sk_X509_num(c.extra), sk_X509_num(c.extra) == 1 ? "" : "s", path);
	ret = TOK_OK;
out:
	if (it != NULL)
		smk_item_unref(it);
	smk_p12_content_free(&c);
	smk_keystore_free(ks);
	return ret;
}

/* ---- passwd ---------------------------------------------------------------------- */

static int
cmd_passwd(const struct smk_config *cfg, const char *name)
{
	struct smk_keystore *ks = NULL;
	struct smk_token *t;
	struct secret old = { NULL, 0 }, new = { NULL, 0 };
	struct smk_error err;
	enum smk_ks_status st;
	const char *who = opts.so ? "SO PIN" : "PIN";
	char what[128];
	int ret;

	if ((ret = open_store(cfg, name, &ks, &t)) != TOK_OK)
		goto out;
	ret = TOK_USAGE;
	snprintf(what, sizeof(what), "current %s of token %s", who, name);
	if (get_secret(opts.pin_file, what, false, &old) < 0)
		goto out;
	snprintf(what, sizeof(what), "new %s of token %s", who, name);
	if (get_secret(opts.new_pin_file, what, true, &new) < 0)
		goto out;
	st = smk_token_set_pin(t, opts.so ? SMK_KS_SO : SMK_KS_USER, old.s, old.len, new.s,
			       new.len, &err);
	if (st != SMK_KS_OK) {
		tool_err("%s", err.msg);
		ret = exit_of(st);
		goto out;
	}
	printf("%s of token %s changed\n", who, name);
	ret = TOK_OK;
out:
	secret_free(&old);
	secret_free(&new);
	smk_keystore_free(ks);
	return ret;
}

/* ---- escrow ------------------------------------------------------------------------ */

static int
set_flag(struct smk_ldap_settings *s, const char *name, const char *value)
{
	struct smk_error err;

	if (value != NULL && smk_ldap_settings_set(s, name, value, &err) < 0) {
		tool_err("%s", err.msg);
		return -1;
	}
	return 0;
}

static int
ldap_status_exit(enum smk_ldap_status st)
{
	switch (st) {
	case SMK_LDAP_OK: return TOK_OK;
	case SMK_LDAP_UNAVAILABLE: return TOK_UNAVAILABLE;
	default: return TOK_REFUSED;
	}
}

static int
cmd_escrow(const struct smk_config *cfg, const char *address, const char *path)
{
	struct smk_ldap_settings s;
	struct smk_ldap *l = NULL;
	struct smk_ldap_certs *found = NULL;
	struct smk_p12_content c = { NULL, NULL, NULL, NULL };
	struct secret pin = { NULL, 0 };
	struct smk_error err;
	enum smk_ldap_status ls;
	unsigned char *der = NULL;
	size_t len = 0;
	char what[512];
	int ret = TOK_USAGE;

	smk_ldap_settings_init(&s);
	if (smk_ldap_settings_from_config(&s, cfg, &err) < 0) {
		tool_err("%s", err.msg);
		goto out;
	}
	if (set_flag(&s, "uri", opts.uri) < 0 || set_flag(&s, "base", opts.base) < 0 ||
	    set_flag(&s, "bind_dn", opts.bind_dn) < 0 ||
	    set_flag(&s, "bind_password_file", opts.bind_pw_file) < 0)
		goto out;
	if (smk_ldap_settings_check(&s, &err) < 0) {
		tool_err("%s (set it in [directory] of %s or with --uri/--base)", err.msg,
			 config_name(cfg));
		goto out;
	}
	if ((ret = open_p12(path, &c)) != TOK_OK)
		goto out;
	if (c.cert != NULL && X509_check_email(c.cert, address, 0, 0) != 1) {
		if (!opts.force) {
			tool_err("%s: its certificate is not for %s: not escrowing (--force to "
				 "escrow anyway)", path, address);
			ret = TOK_REFUSED;
			goto out;
		}
		tool_err("warning: %s: escrowing although its certificate is not for %s", path,
			 address);
	}
	snprintf(what, sizeof(what), "new escrow PIN for %s", address);
	ret = TOK_USAGE;
	if (get_secret(opts.pin_file, what, opts.pin_file == NULL, &pin) < 0)
		goto out;
	if (pin.len < SMK_PIN_MIN || pin.len > SMK_PIN_MAX) {
		tool_err("the escrow PIN must have %d to %d bytes", SMK_PIN_MIN, SMK_PIN_MAX);
		goto out;
	}
	ret = TOK_REFUSED;
	if (smk_p12_encode(c.key, c.cert, c.extra, c.label ? c.label : address, pin.s, pin.len,
			   &der, &len, &err) != SMK_P12_OK) {
		tool_err("%s", err.msg);
		goto out;
	}
	if ((l = smk_ldap_new(&s, &err)) == NULL) {
		tool_err("%s", err.msg);
		ret = TOK_USAGE;
		goto out;
	}
	smk_ldap_set_log(l, log_stderr, NULL);
	ls = smk_ldap_lookup(l, address, &found, &err);
	if (ls != SMK_LDAP_OK && ls != SMK_LDAP_NO_CERT) {
		tool_err("%s", err.msg);
		ret = ldap_status_exit(ls);
		goto out;
	}
	ls = smk_ldap_escrow_add(l, found->dn, der, len, &err);
	if (ls != SMK_LDAP_OK) {
		tool_err("%s", err.msg);
		ret = ldap_status_exit(ls);
		goto out;
	}
	if (c.cert != NULL) {
		char serial[80];

		smk_cert_serial_hex(c.cert, serial, sizeof(serial));
		printf("escrowed the key of certificate serial %s for %s in %s (a new userPKCS12 "
		       "value; the old ones stay)\n", serial, address, found->dn);
	} else {
		printf("escrowed the key for %s in %s (a new userPKCS12 value; the old ones stay)\n",
		       address, found->dn);
	}
	ret = TOK_OK;
out:
	OPENSSL_free(der);
	secret_free(&pin);
	smk_p12_content_free(&c);
	smk_ldap_certs_unref(found);
	smk_ldap_free(l);
	smk_ldap_settings_free(&s);
	return ret;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int
cmd_token(int argc, char **argv)
{
	static const struct { const char *name; int min, max; } subs[] = {
		{ "init", 1, 1 }, { "list", 0, 1 }, { "import", 2, 2 }, { "passwd", 1, 1 },
		{ "escrow", 2, 2 },
	};
	struct smk_config *cfg = NULL;
	const char *sub;
	int c, nargs, ret = TOK_USAGE, found = -1;

	memset(&opts, 0, sizeof(opts));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		token_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? TOK_USAGE : TOK_OK;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:H:b:D:y:vh", token_options, NULL)) != -1) {
		switch (c) {
		case 'c': opts.config = optarg; break;
		case OPT_PIN_FILE: opts.pin_file = optarg; break;
		case OPT_SO_PIN_FILE: opts.so_pin_file = optarg; break;
		case OPT_NEW_PIN_FILE: opts.new_pin_file = optarg; break;
		case OPT_P12_PW_FILE: opts.p12_pw_file = optarg; break;
		case OPT_LABEL: opts.label = optarg; break;
		case OPT_LOGIN: opts.login = true; break;
		case OPT_SO: opts.so = true; break;
		case OPT_FORCE: opts.force = true; break;
		case 'H': opts.uri = optarg; break;
		case 'b': opts.base = optarg; break;
		case 'D': opts.bind_dn = optarg; break;
		case 'y': opts.bind_pw_file = optarg; break;
		case 'v': opts.verbose = true; break;
		case 'h':
			token_usage(stdout);
			return TOK_OK;
		default:
			token_usage(stderr);
			return TOK_USAGE;
		}
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) == 0)
			found = (int)i;
	}
	if (found < 0) {
		tool_err("token: unknown command '%s' (try 'smimekit token --help')", sub);
		return TOK_USAGE;
	}
	nargs = argc - optind;
	if (nargs < subs[found].min || nargs > subs[found].max) {
		tool_err("token %s: expected %s%d argument%s (try 'smimekit token --help')", sub,
			 subs[found].min != subs[found].max ? "at most " : "", subs[found].max,
			 subs[found].max == 1 ? "" : "s");
		return TOK_USAGE;
	}
	if (strcmp(sub, "escrow") == 0 && !smk_address_valid(argv[optind])) {
		tool_err("token escrow: \"%s\" is not a mail address", argv[optind]);
		return TOK_USAGE;
	}
	if ((cfg = load_config()) == NULL)
		return TOK_USAGE;

	if (strcmp(sub, "init") == 0)
		ret = cmd_init(cfg, argv[optind]);
	else if (strcmp(sub, "list") == 0)
		ret = cmd_list(cfg, nargs > 0 ? argv[optind] : NULL);
	else if (strcmp(sub, "import") == 0)
		ret = cmd_import(cfg, argv[optind], argv[optind + 1]);
	else if (strcmp(sub, "passwd") == 0)
		ret = cmd_passwd(cfg, argv[optind]);
	else
		ret = cmd_escrow(cfg, argv[optind], argv[optind + 1]);
	smk_config_free(cfg);
	if (tty_fd >= 0)
		close(tty_fd);
	return ret;
}
