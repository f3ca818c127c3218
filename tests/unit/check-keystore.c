/* check-keystore.c - the key store with the file token: login and PIN
 * rules, keys, the private-key operations checked by plain OpenSSL, the
 * files on disk, two processes at once, damaged files, API misuse
 *
 * Every login runs PBKDF2 with 600,000 iterations (~0.35 s): the tests
 * keep the number of PIN checks small.
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "smk-keystore.h"
#include "smk-keystore-backend.h"
#include "test-util.h"

#define SO_PIN "so-secret"
#define USER_PIN "1234-user"
#define PIN(s) (s), strlen(s)

static const struct smk_token_backend *const backends[] = { &smk_token_file_backend, NULL };

static char dir[PATH_MAX];
static char tokdir[PATH_MAX];
static struct smk_keystore *ks;
static struct smk_token *tok;

static struct smk_keystore *
keystore_from(const char *text, struct smk_error *err)
{
	struct smk_config *cfg = smk_config_parse(text, strlen(text), "test.conf", err);
	struct smk_keystore *k;

	ck_assert_msg(cfg != NULL, "%s", err->msg);
	cfg->path = strdup("test.conf");	/* as if loaded from the file */
	k = smk_keystore_new(cfg, backends, NULL, NULL, err);
	smk_config_free(cfg);
	return k;
}

/* A key store over the test token (max_failures = 3). */
static struct smk_keystore *
open_keystore(void)
{
	struct smk_error err;
	struct smk_keystore *k;
	char *text;

	ck_assert_int_gt(asprintf(&text, "[token t]\ntype = file\npath = %s\nmax_failures = 3\n"
				  "label = Test token\n", tokdir), 0);
	k = keystore_from(text, &err);
	free(text);
	ck_assert_msg(k != NULL, "%s", err.msg);
	return k;
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/smk-check-keystore-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_uint_lt((size_t)snprintf(tokdir, sizeof(tokdir), "%s/tok", dir), sizeof(tokdir));
	ks = open_keystore();
	ck_assert_uint_eq(smk_keystore_count(ks), 1);
	tok = smk_keystore_find(ks, "t");
	ck_assert_ptr_nonnull(tok);
	ck_assert_ptr_eq(smk_keystore_token(ks, 0), tok);
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	smk_keystore_free(ks);
	ks = NULL;
	ck_assert_uint_lt((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir), sizeof(cmd));
	ck_assert_int_eq(system(cmd), 0);
}

/* Status of a call whose last argument is &err. */
#define ck_st(expr, want) do { \
	enum smk_ks_status st_ = (expr); \
	ck_assert_msg(st_ == (want), "%s: %s, not %s (%s)", #expr, smk_ks_status_str(st_), \
		      smk_ks_status_str(want), err.msg); \
} while (0)

/* An initialised token with the user PIN set, made once (3 KDFs) and
 * copied by prepare() for each test. */
static char template_dir[PATH_MAX];

static void
make_template(void)
{
	struct smk_keystore *k;
	struct smk_error err;
	struct smk_token *t;
	char *text;

	snprintf(template_dir, sizeof(template_dir), "%s/smk-check-keystore-tmpl-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(template_dir));
	ck_assert_int_gt(asprintf(&text, "[token t]\ntype = file\npath = %s/tok\n", template_dir), 0);
	k = keystore_from(text, &err);
	free(text);
	ck_assert_msg(k != NULL, "%s", err.msg);
	t = smk_keystore_find(k, "t");
	ck_st(smk_token_init(t, PIN(SO_PIN), NULL, &err), SMK_KS_OK);
	ck_st(smk_token_login(t, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_OK);
	ck_st(smk_token_init_pin(t, PIN(USER_PIN), &err), SMK_KS_OK);
	smk_keystore_free(k);
}

static void
remove_template(void)
{
	char cmd[PATH_MAX + 16];

	ck_assert_uint_lt((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", template_dir),
			  sizeof(cmd));
	ck_assert_int_eq(system(cmd), 0);
}

/* The test token: initialised, the user PIN set, nobody logged in. */
static void
prepare(void)
{
	char cmd[3 * PATH_MAX];

	ck_assert_uint_lt((size_t)snprintf(cmd, sizeof(cmd), "cp -a '%s/tok' '%s'", template_dir,
					   tokdir), sizeof(cmd));
	ck_assert_int_eq(system(cmd), 0);
}

static struct smk_item *
generate(enum smk_key_type type, unsigned bits, const char *curve, const char *label)
{
	struct smk_keygen kg = { type, bits, curve, label };
	struct smk_error err;
	struct smk_item *it = NULL;

	ck_st(smk_token_generate(tok, &kg, &it, &err), SMK_KS_OK);
	ck_assert_ptr_nonnull(it);
	ck_assert(it->has_private && it->private_stored);
	return it;
}

static struct smk_token_info
info(void)
{
	struct smk_token_info ti;
	struct smk_error err;

	ck_st(smk_token_info(tok, &ti, &err), SMK_KS_OK);
	return ti;
}

static size_t
count_items(struct smk_token *t, size_t *with_private, size_t *with_cert)
{
	struct smk_item **items;
	struct smk_error err;
	size_t n;

	ck_st(smk_token_items(t, &items, &n, &err), SMK_KS_OK);
	if (with_private != NULL)
		*with_private = 0;
	if (with_cert != NULL)
		*with_cert = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(items[i]->pub);
		ck_assert_ptr_nonnull(items[i]->label);
		if (with_private != NULL && items[i]->has_private)
			(*with_private)++;
		if (with_cert != NULL && items[i]->cert != NULL)
			(*with_cert)++;
	}
	smk_items_free(items, n);
	return n;
}

/* ---- configuration ---------------------------------------------------------- */

static void
config_fails(const char *text, const char *want)
{
	struct smk_error err;
	struct smk_keystore *k = keystore_from(text, &err);

	ck_assert_msg(k == NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' lacks '%s'", err.msg, want);
}

START_TEST(config_errors)
{
	struct smk_error err;
	struct smk_keystore *k;

	config_fails("[token a]\ntype = floppy\n", "test.conf:2: unknown token type 'floppy'");
	config_fails("[token a]\ntype = directory\naddress = a@example.org\n",
		     "test.conf:2: token type 'directory' is not available");
	config_fails("[token a]\ntype = file\npaht = /tmp/x\n", "test.conf:3: unknown setting 'paht'");
	config_fails("[token a]\npath = /tmp/x\n", "test.conf:1: [token a] has no type");
	config_fails("[token]\ntype = file\n", "test.conf:1: [token] needs a name");
	config_fails("[token a]\ntype = file\nkdf_iterations = 1000\n", "test.conf:3: kdf_iterations");
	config_fails("[token a]\ntype = file\nmax_failures = 0\n", "test.conf:3: max_failures");
	config_fails("[token a]\ntype = file\npath = relative/dir\n",
		     "test.conf:3: path must be absolute");
	config_fails("[token a]\ntype = file\nlabel = 0123456789012345678901234567890123\n",
		     "test.conf:3: label longer than 32 bytes");

	/* other sections are not the key store's; two tokens; a default path */
	setenv("XDG_DATA_HOME", "/nonexistent-xdg", 1);
	k = keystore_from("[directory]\nuri = ldap://x\n[token a]\ntype = file\n"
			  "[token b]\ntype = file\nkdf_iterations = 700000\n", &err);
	ck_assert_msg(k != NULL, "%s", err.msg);
	ck_assert_uint_eq(smk_keystore_count(k), 2);
	ck_assert_ptr_null(smk_keystore_find(k, "c"));
	ck_assert_ptr_null(smk_keystore_token(k, 2));
	{
		struct smk_token_info ti;

		/* not initialised: the label is the name, nothing is created */
		ck_st(smk_token_info(smk_keystore_find(k, "a"), &ti, &err), SMK_KS_OK);
		ck_assert(!ti.initialized);
		ck_assert_str_eq(ti.label, "a");
		ck_assert_str_eq(ti.name, "a");
		ck_assert_str_eq(ti.model, "file");
		ck_assert_uint_eq(strlen(ti.serial), 16);
		ck_assert_uint_eq(ti.max_failures, 10);
	}
	smk_keystore_free(k);
	unsetenv("XDG_DATA_HOME");
}
END_TEST

/* ---- login ------------------------------------------------------------------- */

START_TEST(init_login_logout)
{
	struct smk_token_info ti;
	struct smk_error err;
	struct stat st;
	char path[PATH_MAX + 32];

	ti = info();
	ck_assert(!ti.initialized);
	ck_assert_str_eq(ti.label, "Test token");
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, "not initialised") != NULL, "%s", err.msg);

	ck_st(smk_token_init(tok, PIN(SO_PIN), "My label", &err), SMK_KS_OK);
	ti = info();
	ck_assert(ti.initialized && !ti.user_pin_set && !ti.user_logged_in && !ti.so_logged_in);
	ck_assert_str_eq(ti.label, "My label");
	ck_assert_uint_eq(ti.max_failures, 3);
	ck_assert_uint_eq(strspn(ti.serial, "0123456789abcdef"), 16);

	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_PIN_NOT_SET);
	ck_st(smk_token_init_pin(tok, PIN(USER_PIN), &err), SMK_KS_NOT_LOGGED_IN);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_OK);
	ck_assert(info().so_logged_in);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_ALREADY_LOGGED_IN);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OTHER_LOGGED_IN);
	ck_st(smk_token_init_pin(tok, PIN("12"), &err), SMK_KS_PIN_INVALID);
	ck_st(smk_token_init_pin(tok, PIN("\xff\xfe\xfd\xfc"), &err), SMK_KS_PIN_INVALID);
	ck_st(smk_token_init_pin(tok, "12\0" "34", 5, &err), SMK_KS_PIN_INVALID);
	ck_st(smk_token_init_pin(tok, PIN("first PIN"), &err), SMK_KS_OK);
	/* no keys yet: the SO may set it again */
	ck_st(smk_token_init_pin(tok, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_st(smk_token_init(tok, PIN(SO_PIN), NULL, &err), SMK_KS_OTHER_LOGGED_IN);
	smk_token_logout(tok);
	ck_assert(!info().so_logged_in);
	ck_assert(info().user_pin_set);

	ck_st(smk_token_login(tok, SMK_KS_USER, PIN("first PIN"), &err), SMK_KS_PIN_INCORRECT);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ti = info();
	ck_assert(ti.user_logged_in && !ti.so_logged_in);
	ck_assert_uint_eq(ti.user_failures, 0);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_ALREADY_LOGGED_IN);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_OTHER_LOGGED_IN);
	smk_token_logout(tok);
	smk_token_logout(tok);	/* twice is harmless */
	ck_assert(!info().user_logged_in);

	/* a token without keys may be initialised again: a new one */
	ck_st(smk_token_init(tok, PIN(SO_PIN), NULL, &err), SMK_KS_OK);
	ti = info();
	ck_assert(!ti.user_pin_set);
	ck_assert_str_eq(ti.label, "Test token");

	/* the directory and token.conf are private */
	ck_assert_int_eq(stat(tokdir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/token.conf", tokdir), sizeof(path));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(wrong_pin_and_lockout)
{
	struct smk_token_info ti;
	struct smk_error err;
	struct smk_item *it;

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	it = generate(SMK_KEY_EC, 0, NULL, "ec key");
	smk_item_unref(it);
	smk_token_logout(tok);

	ck_st(smk_token_login(tok, SMK_KS_USER, PIN("wrong-1"), &err), SMK_KS_PIN_INCORRECT);
	ck_assert_ptr_null(strstr(err.msg, "wrong-1"));	/* never the PIN in a message */
	ti = info();
	ck_assert_uint_eq(ti.user_failures, 1);
	ck_assert(!ti.user_locked && !ti.user_logged_in);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN("wrong-2"), &err), SMK_KS_PIN_INCORRECT);
	ck_assert_uint_eq(info().user_failures, 2);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN("wrong-3"), &err), SMK_KS_PIN_INCORRECT);
	ti = info();
	ck_assert_uint_eq(ti.user_failures, 3);
	ck_assert(ti.user_locked && !ti.so_locked);
	/* locked: even the right PIN is refused, without trying */
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_PIN_LOCKED);
	ck_assert_uint_eq(info().user_failures, 3);

	/* a second key store (another process) sees the same counter */
	{
		struct smk_keystore *k2 = open_keystore();
		struct smk_token_info t2;

		ck_st(smk_token_info(smk_keystore_find(k2, "t"), &t2, &err), SMK_KS_OK);
		ck_assert(t2.user_locked);
		smk_keystore_free(k2);
	}

	/* the SO cannot set another PIN over keys, but unlocks the user with
	 * the current one */
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_OK);
	ck_st(smk_token_init_pin(tok, PIN("a new PIN"), &err), SMK_KS_EXISTS);
	ck_assert_msg(strstr(err.msg, "current user PIN") != NULL, "%s", err.msg);
	ck_assert(info().user_locked);
	ck_st(smk_token_init_pin(tok, PIN(USER_PIN), &err), SMK_KS_OK);
	ti = info();
	ck_assert(!ti.user_locked);
	ck_assert_uint_eq(ti.user_failures, 0);
	smk_token_logout(tok);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_assert_uint_eq(count_items(tok, NULL, NULL), 1);
	smk_token_logout(tok);

	/* a token holding keys is never initialised again */
	ck_st(smk_token_init(tok, PIN(SO_PIN), NULL, &err), SMK_KS_EXISTS);
}
END_TEST

START_TEST(so_pin)
{
	struct smk_token_info ti;
	struct smk_error err;

	prepare();
	/* the SO PIN counts and locks too */
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN("bad so 1"), &err), SMK_KS_PIN_INCORRECT);
	ck_assert_uint_eq(info().so_failures, 1);
	ck_st(smk_token_set_pin(tok, SMK_KS_SO, PIN("bad so 2"), PIN("new SO PIN"), &err),
	      SMK_KS_PIN_INCORRECT);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN("bad so 3"), &err), SMK_KS_PIN_INCORRECT);
	ti = info();
	ck_assert(ti.so_locked && !ti.user_locked);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_PIN_LOCKED);
	/* the user is not affected */
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	smk_token_logout(tok);

	/* with a higher limit in the configuration, the SO PIN changes */
	smk_keystore_free(ks);
	{
		char *text;

		ck_assert_int_gt(asprintf(&text, "[token t]\ntype = file\npath = %s\n", tokdir), 0);
		ks = keystore_from(text, &err);
		free(text);
		ck_assert_msg(ks != NULL, "%s", err.msg);
		tok = smk_keystore_find(ks, "t");
	}
	ti = info();
	ck_assert_uint_eq(ti.max_failures, 10);
	ck_assert(!ti.so_locked);
	ck_st(smk_token_set_pin(tok, SMK_KS_SO, PIN(SO_PIN), PIN("new SO PIN"), &err), SMK_KS_OK);
	ck_assert_uint_eq(info().so_failures, 0);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN(SO_PIN), &err), SMK_KS_PIN_INCORRECT);
	ck_st(smk_token_login(tok, SMK_KS_SO, PIN("new SO PIN"), &err), SMK_KS_OK);
	smk_token_logout(tok);
}
END_TEST

/* ---- operations ---------------------------------------------------------------- */

static const unsigned char sha256_prefix[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
	0x05, 0x00, 0x04, 0x20
};

static void
verify(EVP_PKEY *pub, int padding, const char *md, const char *mgf1, int salt,
       const unsigned char *tbs, size_t tbs_len, const unsigned char *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_verify_init(ctx), 1);
	if (padding != 0)
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(ctx, padding), 0);
	if (md != NULL)
		ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md)), 0);
	if (mgf1 != NULL)
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(mgf1)), 0);
	if (padding == RSA_PKCS1_PSS_PADDING)
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt), 0);
	ck_assert_int_eq(EVP_PKEY_verify(ctx, sig, sig_len, tbs, tbs_len), 1);
	EVP_PKEY_CTX_free(ctx);
}

START_TEST(sign_and_verify)
{
	unsigned char digest[32], di[sizeof(sha256_prefix) + 32], sig[1024], raw[256], back[256];
	struct smk_sign_params p = { SMK_PAD_PKCS1, "SHA256", NULL, -1 };
	struct smk_item *rsa, *ec, *ec384;
	struct smk_error err;
	size_t len;
	EVP_PKEY_CTX *ctx;

	SHA256((const unsigned char *)"hello", 5, digest);
	memcpy(di, sha256_prefix, sizeof(sha256_prefix));
	memcpy(di + sizeof(sha256_prefix), digest, 32);

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	rsa = generate(SMK_KEY_RSA, 2048, NULL, "rsa");
	ec = generate(SMK_KEY_EC, 0, "P-256", "ec");
	ec384 = generate(SMK_KEY_EC, 0, "P-384", NULL);
	ck_assert_int_eq(rsa->type, SMK_KEY_RSA);
	ck_assert_int_eq(EVP_PKEY_get_bits(rsa->pub), 2048);
	ck_assert_int_eq(EVP_PKEY_get_bits(ec384->pub), 384);
	ck_assert_str_eq(rsa->label, "rsa");
	ck_assert_str_eq(ec384->label, "");

	/* size query, then a short buffer */
	len = 0;
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, NULL, &len, &err), SMK_KS_OK);
	ck_assert_uint_eq(len, 256);
	len = 255;
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, sig, &len, &err), SMK_KS_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(len, 256);

	/* PKCS#1 with a digest algorithm */
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, sig, &len, &err), SMK_KS_OK);
	ck_assert_uint_eq(len, 256);
	verify(rsa->pub, RSA_PKCS1_PADDING, "SHA256", NULL, 0, digest, 32, sig, len);
	ck_st(smk_token_sign(tok, rsa, &p, digest, 31, sig, &len, &err), SMK_KS_BAD_INPUT);

	/* PKCS#1 over a DigestInfo given by the caller: the same signature */
	{
		unsigned char sig2[256];
		size_t len2 = sizeof(sig2);
		struct smk_sign_params p2 = { SMK_PAD_PKCS1, NULL, NULL, -1 };

		ck_st(smk_token_sign(tok, rsa, &p2, di, sizeof(di), sig2, &len2, &err), SMK_KS_OK);
		ck_assert_uint_eq(len2, 256);
		ck_assert_mem_eq(sig, sig2, 256);
		len2 = sizeof(sig2);
		ck_st(smk_token_sign(tok, rsa, &p2, raw, 246, sig2, &len2, &err), SMK_KS_BAD_INPUT);
	}

	/* PSS: digest salt length, and SHA-1 MGF1 with a 20-byte salt */
	p.padding = SMK_PAD_PSS;
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, sig, &len, &err), SMK_KS_OK);
	verify(rsa->pub, RSA_PKCS1_PSS_PADDING, "SHA256", "SHA256", 32, digest, 32, sig, len);
	p.mgf1_md = "SHA1";
	p.salt_len = 20;
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, sig, &len, &err), SMK_KS_OK);
	verify(rsa->pub, RSA_PKCS1_PSS_PADDING, "SHA256", "SHA1", 20, digest, 32, sig, len);
	p.md = NULL;
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, sig, &len, &err), SMK_KS_UNSUPPORTED);

	/* raw RSA: the public operation gives the (left-padded) input back */
	p.padding = SMK_PAD_NONE;
	p.mgf1_md = NULL;
	memset(raw, 0x5a, sizeof(raw));
	raw[0] = 0x00;
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, rsa, &p, raw + 1, 255, sig, &len, &err), SMK_KS_OK);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa->pub, NULL);
	ck_assert_int_eq(EVP_PKEY_verify_recover_init(ctx), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING), 0);
	{
		size_t blen = sizeof(back);

		ck_assert_int_eq(EVP_PKEY_verify_recover(ctx, back, &blen, sig, len), 1);
		ck_assert_uint_eq(blen, 256);
		ck_assert_mem_eq(back, raw, 256);
	}
	EVP_PKEY_CTX_free(ctx);
	memset(raw, 0xff, sizeof(raw));	/* above the modulus */
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, rsa, &p, raw, 256, sig, &len, &err), SMK_KS_BAD_INPUT);

	/* ECDSA: over a digest of a named algorithm, and over any input */
	p.padding = SMK_PAD_NONE;
	p.md = "SHA256";
	len = 0;
	ck_st(smk_token_sign(tok, ec, &p, digest, 32, NULL, &len, &err), SMK_KS_OK);
	ck_assert_uint_ge(len, 70);
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, ec, &p, digest, 32, sig, &len, &err), SMK_KS_OK);
	verify(ec->pub, 0, "SHA256", NULL, 0, digest, 32, sig, len);
	p.md = NULL;
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, ec384, &p, di, 48, sig, &len, &err), SMK_KS_OK);
	verify(ec384->pub, 0, NULL, NULL, 0, di, 48, sig, len);
	ck_st(smk_token_sign(tok, ec, &p, di, 0, sig, &len, &err), SMK_KS_BAD_INPUT);

	/* a second thread of use: items after login say has_private */
	{
		size_t with_private;

		ck_assert_uint_eq(count_items(tok, &with_private, NULL), 3);
		ck_assert_uint_eq(with_private, 3);
	}
	smk_token_logout(tok);
	ck_st(smk_token_sign(tok, rsa, &p, digest, 32, sig, &len, &err), SMK_KS_NOT_LOGGED_IN);
	{
		size_t with_private;

		/* before login: the public keys, no private ones */
		ck_assert_uint_eq(count_items(tok, &with_private, NULL), 3);
		ck_assert_uint_eq(with_private, 0);
	}
	smk_item_unref(rsa);
	smk_item_unref(ec);
	smk_item_unref(ec384);
}
END_TEST

static size_t
encrypt(EVP_PKEY *pub, int padding, const char *md, const char *label, const unsigned char *in,
	size_t in_len, unsigned char *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	size_t len = 512;

	ck_assert_int_eq(EVP_PKEY_encrypt_init(ctx), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(ctx, padding), 0);
	if (md != NULL) {
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_get_digestbyname(md)), 0);
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(md)), 0);
	}
	if (label != NULL)
		ck_assert_int_gt(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_strdup(label),
								  (int)strlen(label)), 0);
	ck_assert_int_eq(EVP_PKEY_encrypt(ctx, out, &len, in, in_len), 1);
	EVP_PKEY_CTX_free(ctx);
	return len;
}

START_TEST(decrypt_and_derive)
{
	static const unsigned char secret[32] = "an AES-256 content key.........";
	unsigned char ct[512], pt[512];
	struct smk_decrypt_params dp = { SMK_PAD_PKCS1, NULL, NULL, NULL, 0 };
	struct smk_item *rsa, *ec;
	struct smk_error err;
	size_t ct_len, len;

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	rsa = generate(SMK_KEY_RSA, 2048, NULL, NULL);
	ec = generate(SMK_KEY_EC, 0, NULL, NULL);

	/* PKCS#1 v1.5 */
	ct_len = encrypt(rsa->pub, RSA_PKCS1_PADDING, NULL, NULL, secret, sizeof(secret), ct);
	len = 0;
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, NULL, &len, &err), SMK_KS_OK);
	ck_assert_uint_eq(len, 256);
	len = 16;
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, pt, &len, &err), SMK_KS_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(len, 32);
	len = sizeof(pt);
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, pt, &len, &err), SMK_KS_OK);
	ck_assert_uint_eq(len, 32);
	ck_assert_mem_eq(pt, secret, 32);
	len = sizeof(pt);
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len - 1, pt, &len, &err), SMK_KS_BAD_INPUT);

	/* OAEP with SHA-256 and a label; the wrong label fails */
	ct_len = encrypt(rsa->pub, RSA_PKCS1_OAEP_PADDING, "SHA256", "my label", secret,
			 sizeof(secret), ct);
	dp.padding = SMK_PAD_OAEP;
	dp.md = "SHA256";
	dp.label = (const unsigned char *)"my label";
	dp.label_len = 8;
	len = sizeof(pt);
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, pt, &len, &err), SMK_KS_OK);
	ck_assert_uint_eq(len, 32);
	ck_assert_mem_eq(pt, secret, 32);
	dp.label_len = 7;
	len = sizeof(pt);
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, pt, &len, &err), SMK_KS_BAD_INPUT);

	/* OAEP with the defaults (SHA-1), no label */
	ct_len = encrypt(rsa->pub, RSA_PKCS1_OAEP_PADDING, NULL, NULL, secret, sizeof(secret), ct);
	dp.md = NULL;
	dp.label = NULL;
	dp.label_len = 0;
	len = sizeof(pt);
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, pt, &len, &err), SMK_KS_OK);
	ck_assert_mem_eq(pt, secret, 32);

	/* raw: the whole block */
	dp.padding = SMK_PAD_NONE;
	ct_len = encrypt(rsa->pub, RSA_PKCS1_PADDING, NULL, NULL, secret, sizeof(secret), ct);
	len = sizeof(pt);
	ck_st(smk_token_decrypt(tok, rsa, &dp, ct, ct_len, pt, &len, &err), SMK_KS_OK);
	ck_assert_uint_eq(len, 256);
	ck_assert_mem_eq(pt + 256 - 32, secret, 32);
	ck_assert_int_eq(pt[0], 0);
	ck_assert_int_eq(pt[1], 2);

	/* decryption with an EC key is not offered */
	ck_st(smk_token_decrypt(tok, ec, &dp, ct, ct_len, pt, &len, &err), SMK_KS_UNSUPPORTED);

	/* ECDH: the same Z as a software peer computes */
	{
		EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		unsigned char point[65], z1[32], z2[32];
		size_t plen = 0, z1_len = sizeof(z1), z2_len = sizeof(z2);
		EVP_PKEY_CTX *ctx;
		unsigned char comp[33];

		ck_assert(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, point,
							  sizeof(point), &plen));
		ck_assert_uint_eq(plen, 65);
		len = 0;
		ck_st(smk_token_derive(tok, ec, point, plen, NULL, &len, &err), SMK_KS_OK);
		ck_assert_uint_eq(len, 32);
		len = 31;
		ck_st(smk_token_derive(tok, ec, point, plen, z1, &len, &err), SMK_KS_BUFFER_TOO_SMALL);
		ck_assert_uint_eq(len, 32);
		ck_st(smk_token_derive(tok, ec, point, plen, z1, &z1_len, &err), SMK_KS_OK);
		ck_assert_uint_eq(z1_len, 32);

		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
		ck_assert_int_eq(EVP_PKEY_derive_init(ctx), 1);
		ck_assert_int_eq(EVP_PKEY_derive_set_peer(ctx, ec->pub), 1);
		ck_assert_int_eq(EVP_PKEY_derive(ctx, z2, &z2_len), 1);
		EVP_PKEY_CTX_free(ctx);
		ck_assert_mem_eq(z1, z2, 32);

		/* the compressed form of the same point */
		comp[0] = (unsigned char)(2 | (point[64] & 1));
		memcpy(comp + 1, point + 1, 32);
		z1_len = sizeof(z1);
		memset(z1, 0, sizeof(z1));
		ck_st(smk_token_derive(tok, ec, comp, sizeof(comp), z1, &z1_len, &err), SMK_KS_OK);
		ck_assert_mem_eq(z1, z2, 32);

		/* a point off the curve, garbage, and an RSA key */
		point[64] ^= 1;
		z1_len = sizeof(z1);
		ck_st(smk_token_derive(tok, ec, point, plen, z1, &z1_len, &err), SMK_KS_BAD_INPUT);
		z1_len = sizeof(z1);
		ck_st(smk_token_derive(tok, ec, point, 3, z1, &z1_len, &err), SMK_KS_BAD_INPUT);
		ck_st(smk_token_derive(tok, rsa, point, plen, z1, &z1_len, &err), SMK_KS_UNSUPPORTED);
		EVP_PKEY_free(peer);
	}
	smk_token_logout(tok);
	smk_item_unref(rsa);
	smk_item_unref(ec);
}
END_TEST

/* ---- storing ------------------------------------------------------------------ */

static void
expected_id(EVP_PKEY *pub, unsigned char id[20])
{
	unsigned char n[1024];
	BIGNUM *bn = NULL;
	int len;

	ck_assert(EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &bn));
	len = BN_bn2bin(bn, n);
	BN_free(bn);
	SHA1(n, (size_t)len, id);
}

START_TEST(store_key_and_cert)
{
	EVP_PKEY *key = tu_key("alice-rsa"), *eckey = tu_key("alice-ec");
	X509 *cert = tu_cert("alice-rsa"), *bob = tu_cert("bob"), *eccert = tu_cert("alice-ec");
	struct smk_item *it, **items;
	unsigned char id[20];
	struct smk_error err;
	size_t n, with_cert;

	prepare();
	/* certificates are public: stored without login */
	ck_st(smk_token_store_cert(tok, bob, "Bob", &it, &err), SMK_KS_OK);
	ck_assert(!it->has_private && !it->private_stored);
	ck_assert_str_eq(it->label, "Bob");
	smk_item_unref(it);
	ck_st(smk_token_store_cert(tok, bob, "Bob", NULL, &err), SMK_KS_OK);	/* again: no change */
	ck_st(smk_token_store_key(tok, key, cert, "Alice", NULL, &err), SMK_KS_NOT_LOGGED_IN);

	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_st(smk_token_store_key(tok, key, bob, "Alice", NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_store_key(tok, key, cert, "Alice", &it, &err), SMK_KS_OK);
	expected_id(key, id);
	ck_assert_uint_eq(it->id_len, 20);
	ck_assert_mem_eq(it->id, id, 20);
	ck_assert_ptr_eq(it->cert, cert);
	ck_assert(it->has_private);
	smk_item_unref(it);
	/* a key first, its certificate later: they join */
	ck_st(smk_token_store_key(tok, eckey, NULL, "Alice EC", NULL, &err), SMK_KS_OK);
	ck_st(smk_token_store_cert(tok, eccert, NULL, &it, &err), SMK_KS_OK);
	ck_assert(it->has_private);
	ck_assert_str_eq(it->label, "Alice EC");
	{
		/* an EC id is the SHA-1 of the uncompressed point */
		unsigned char point[65], ecid[20];
		size_t plen = 0;

		ck_assert(EVP_PKEY_get_octet_string_param(eckey, OSSL_PKEY_PARAM_PUB_KEY, point,
							  sizeof(point), &plen));
		ck_assert_uint_eq(plen, 65);
		SHA1(point, plen, ecid);
		ck_assert_mem_eq(it->id, ecid, 20);
	}
	smk_item_unref(it);
	smk_token_logout(tok);

	/* a second key store sees it all, before login */
	{
		struct smk_keystore *k2 = open_keystore();
		struct smk_token *t2 = smk_keystore_find(k2, "t");

		ck_st(smk_token_items(t2, &items, &n, &err), SMK_KS_OK);
		ck_assert_uint_eq(n, 3);
		with_cert = 0;
		for (size_t i = 0; i < n; i++) {
			const struct smk_item *x = items[i];

			ck_assert(!x->has_private);
			ck_assert_ptr_nonnull(x->cert);
			with_cert++;
			if (memcmp(x->id, id, 20) == 0) {
				ck_assert_str_eq(x->label, "Alice");
				ck_assert(x->private_stored);
				ck_assert_int_eq(X509_cmp(x->cert, cert), 0);
				ck_assert_int_eq(EVP_PKEY_eq(x->pub, key), 1);
			} else if (x->type == SMK_KEY_EC) {
				ck_assert_str_eq(x->label, "Alice EC");
				ck_assert(x->private_stored);
			} else {
				ck_assert_str_eq(x->label, "Bob");
				ck_assert(!x->private_stored);
			}
		}
		ck_assert_uint_eq(with_cert, 3);
		/* the item of a certificate without key has no private key */
		for (size_t i = 0; i < n; i++) {
			if (!items[i]->private_stored) {
				unsigned char sig[512];
				size_t sl = sizeof(sig);
				struct smk_sign_params p = { SMK_PAD_PKCS1, NULL, NULL, -1 };

				ck_st(smk_token_login(t2, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
				ck_st(smk_token_sign(t2, items[i], &p, id, 20, sig, &sl, &err),
				      SMK_KS_NOT_FOUND);
				smk_token_logout(t2);
			}
		}
		smk_items_free(items, n);

		/* what the first key store writes next, the second one lists:
		 * a new certificate, then again without it (removed by hand) */
		{
			X509 *newer = tu_cert("alice-rsa-new");
			unsigned char nid[SMK_ITEM_ID_MAX];
			char cmd[PATH_MAX + 128];
			size_t nid_len;

			ck_st(smk_token_store_cert(tok, newer, NULL, NULL, &err), SMK_KS_OK);
			ck_assert_uint_eq(count_items(t2, NULL, NULL), 4);
			ck_assert_int_eq(smk_key_id(X509_get0_pubkey(newer), nid, &nid_len), 0);
			ck_assert_uint_eq(nid_len, 20);
			X509_free(newer);
			ck_assert_uint_lt((size_t)snprintf(cmd, sizeof(cmd), "rm '%s/certs/", tokdir),
					  sizeof(cmd) - 50);
			for (size_t i = 0; i < 20; i++)
				snprintf(cmd + strlen(cmd), 3, "%02x", nid[i]);
			strcat(cmd, ".pem'");
			ck_assert_int_eq(system(cmd), 0);
			ck_assert_uint_eq(count_items(t2, NULL, &with_cert), 3);
			ck_assert_uint_eq(with_cert, 3);
		}
		smk_keystore_free(k2);
	}
	EVP_PKEY_free(key);
	EVP_PKEY_free(eckey);
	X509_free(cert);
	X509_free(eccert);
	X509_free(bob);
}
END_TEST

/* A renewed certificate for the same key: the key's item shows the newer
 * one, the older one is an item of its own (no private key). */
START_TEST(two_certs_one_key)
{
	EVP_PKEY *key = tu_key("alice-rsa");
	X509 *cert = tu_cert("alice-rsa"), *renewed = X509_new();
	struct smk_item **items;
	struct smk_error err;
	char path[PATH_MAX + 64], idhex[41];
	struct stat st;
	size_t n;

	/* self-signed, valid from now: newer than alice-rsa.pem */
	ck_assert(X509_set_version(renewed, X509_VERSION_3));
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(renewed), 2));
	ck_assert(X509_set_subject_name(renewed, X509_get_subject_name(cert)));
	ck_assert(X509_set_issuer_name(renewed, X509_get_subject_name(cert)));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(renewed), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(renewed), 86400));
	ck_assert(X509_set_pubkey(renewed, key));
	ck_assert_int_gt(X509_sign(renewed, key, EVP_sha256()), 0);

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_st(smk_token_store_key(tok, key, cert, "Alice", NULL, &err), SMK_KS_OK);
	ck_st(smk_token_store_cert(tok, renewed, NULL, NULL, &err), SMK_KS_OK);
	ck_st(smk_token_store_cert(tok, renewed, NULL, NULL, &err), SMK_KS_OK);
	ck_st(smk_token_store_cert(tok, cert, NULL, NULL, &err), SMK_KS_OK);
	ck_st(smk_token_items(tok, &items, &n, &err), SMK_KS_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(items[0]->id, items[1]->id, 20);
	ck_assert_int_eq(X509_cmp(items[0]->cert, renewed), 0);
	ck_assert(items[0]->has_private && items[0]->private_stored);
	ck_assert_int_eq(X509_cmp(items[1]->cert, cert), 0);
	ck_assert(!items[1]->has_private && !items[1]->private_stored);
	ck_assert_str_eq(items[1]->label, "Alice");
	for (int i = 0; i < 20; i++)
		snprintf(idhex + 2 * i, 3, "%02x", items[0]->id[i]);
	smk_items_free(items, n);
	smk_token_logout(tok);

	/* one file per certificate, no duplicate */
	snprintf(path, sizeof(path), "%s/certs/%s.pem", tokdir, idhex);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/certs/%s-2.pem", tokdir, idhex);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/certs/%s-3.pem", tokdir, idhex);
	ck_assert_int_ne(stat(path, &st), 0);
	X509_free(renewed);
	X509_free(cert);
	EVP_PKEY_free(key);
}
END_TEST

/* ---- PIN change, files ------------------------------------------------------------- */

static char *
only_key_file(const char *gen)
{
	char *cmd, *path = NULL, line[PATH_MAX];
	FILE *f;

	ck_assert_int_gt(asprintf(&cmd, "ls %s/%s/*.p8", tokdir, gen), 0);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	if (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		path = strdup(line);
	}
	pclose(f);
	free(cmd);
	return path;
}

static EVP_PKEY *
openssl_pkcs8(const char *path, const char *pin)
{
	BIO *bio = BIO_new_file(path, "r");
	X509_SIG *sig;
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *key = NULL;

	ck_assert_ptr_nonnull(bio);
	sig = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_ptr_nonnull(sig);
	p8 = PKCS8_decrypt_ex(sig, pin, (int)strlen(pin), NULL, NULL);
	if (p8 != NULL)
		key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(sig);
	ERR_clear_error();
	return key;
}

START_TEST(set_pin_and_files)
{
	unsigned char digest[32] = { 1, 2, 3 }, sig[128];
	struct smk_sign_params p = { SMK_PAD_NONE, "SHA256", NULL, -1 };
	struct smk_item *ec, **items;
	struct smk_error err;
	struct stat st;
	char *p8, path[PATH_MAX + 64];
	EVP_PKEY *k;
	size_t len, n;
	mode_t old_umask = umask(0);	/* files must be private whatever the umask */

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ec = generate(SMK_KEY_EC, 0, NULL, "mine");
	{
		X509 *cert = tu_cert("bob");

		ck_st(smk_token_store_cert(tok, cert, NULL, NULL, &err), SMK_KS_OK);
		X509_free(cert);
	}
	umask(old_umask);

	/* modes */
	p8 = only_key_file("keys.1");
	ck_assert_ptr_nonnull(p8);
	ck_assert_int_eq(stat(p8, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/keys.1", tokdir), sizeof(path));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	{
		static const char *const files[] = { "token.conf", "lock", "public", "certs" };

		for (size_t i = 0; i < 4; i++) {
			ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/%s", tokdir,
							   files[i]), sizeof(path));
			ck_assert_int_eq(stat(path, &st), 0);
			ck_assert_uint_eq(st.st_mode & 07777, S_ISDIR(st.st_mode) ? 0700 : 0600);
		}
	}
	/* every file 0600, every directory 0700 */
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path),
					   "test -z \"$(find '%s' -type f ! -perm 0600)\" && "
					   "test -z \"$(find '%s' -type d ! -perm 0700)\"",
					   tokdir, tokdir), sizeof(path));
	ck_assert_int_eq(system(path), 0);

	/* the key file is plain PKCS#8: OpenSSL opens it with the PIN */
	k = openssl_pkcs8(p8, USER_PIN);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(EVP_PKEY_eq(k, ec->pub), 1);
	EVP_PKEY_free(k);
	free(p8);

	/* the leftover of a PIN change that was interrupted before token.conf
	 * was replaced: ignored, then cleaned up */
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "mkdir '%s/keys.2' && "
					   "echo junk > '%s/keys.2/%040d.p8'", tokdir, tokdir, 0),
			  sizeof(path));
	ck_assert_int_eq(system(path), 0);
	ck_assert_uint_eq(count_items(tok, NULL, NULL), 2);

	/* the user PIN changes while logged in: keys stay usable */
	ck_st(smk_token_set_pin(tok, SMK_KS_USER, PIN("wrong"), PIN("new user PIN"), &err),
	      SMK_KS_PIN_INCORRECT);
	ck_assert_uint_eq(info().user_failures, 1);
	ck_st(smk_token_set_pin(tok, SMK_KS_USER, PIN(USER_PIN), PIN("abc"), &err),
	      SMK_KS_PIN_INVALID);
	ck_st(smk_token_set_pin(tok, SMK_KS_USER, PIN(USER_PIN), PIN("new user PIN"), &err),
	      SMK_KS_OK);
	ck_assert_uint_eq(info().user_failures, 0);
	len = sizeof(sig);
	ck_st(smk_token_sign(tok, ec, &p, digest, 32, sig, &len, &err), SMK_KS_OK);
	verify(ec->pub, 0, "SHA256", NULL, 0, digest, 32, sig, len);
	/* and new keys are stored under the new PIN */
	smk_item_unref(generate(SMK_KEY_EC, 0, "P-384", "second"));
	smk_token_logout(tok);

	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/keys.1", tokdir), sizeof(path));
	ck_assert_int_ne(stat(path, &st), 0);	/* the old generation is gone */
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_PIN_INCORRECT);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN("new user PIN"), &err), SMK_KS_OK);
	ck_st(smk_token_items(tok, &items, &n, &err), SMK_KS_OK);
	ck_assert_uint_eq(n, 3);	/* two keys, bob's certificate */
	for (size_t i = 0; i < n; i++) {
		if (items[i]->private_stored) {
			ck_assert(items[i]->has_private);
			len = sizeof(sig);
			ck_st(smk_token_sign(tok, items[i], &p, digest, 32, sig, &len, &err),
			      SMK_KS_OK);
		}
	}
	smk_items_free(items, n);
	smk_token_logout(tok);
	p8 = only_key_file("keys.2");
	ck_assert_ptr_nonnull(p8);
	k = openssl_pkcs8(p8, "new user PIN");
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	free(p8);

	smk_item_unref(ec);
}
END_TEST

/* A key file encrypted by hand with other parameters (openssl pkcs8
 * -topk8 with the PIN) is opened at login with the PIN. */
START_TEST(hand_encrypted_key)
{
	EVP_PKEY *key = tu_key("bob");
	unsigned char id[20];
	char idhex[41], path[PATH_MAX + 64];
	struct smk_error err;
	BIO *bio;
	size_t with_private;

	prepare();
	expected_id(key, id);
	for (int i = 0; i < 20; i++)
		snprintf(idhex + 2 * i, 3, "%02x", id[i]);
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/keys.1/%s.p8", tokdir, idhex),
			  sizeof(path));
	bio = BIO_new_file(path, "w");
	ck_assert_ptr_nonnull(bio);
	ck_assert(PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_128_cbc(), USER_PIN,
						(int)strlen(USER_PIN), NULL, NULL));
	BIO_free(bio);

	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	/* no public copy: listed after login only */
	ck_assert_uint_eq(count_items(tok, &with_private, NULL), 1);
	ck_assert_uint_eq(with_private, 1);
	smk_token_logout(tok);
	ck_assert_uint_eq(count_items(tok, NULL, NULL), 0);

	/* a PIN change opens it with the old PIN and writes it the token's way */
	ck_st(smk_token_set_pin(tok, SMK_KS_USER, PIN(USER_PIN), PIN("changed PIN"), &err),
	      SMK_KS_OK);
	snprintf(path, sizeof(path), "%s/keys.2/%s.p8", tokdir, idhex);
	{
		EVP_PKEY *k2 = openssl_pkcs8(path, "changed PIN");

		ck_assert_ptr_nonnull(k2);
		ck_assert_int_eq(EVP_PKEY_eq(k2, key), 1);
		EVP_PKEY_free(k2);
	}
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN("changed PIN"), &err), SMK_KS_OK);
	ck_assert_uint_eq(count_items(tok, &with_private, NULL), 1);
	ck_assert_uint_eq(with_private, 1);
	smk_token_logout(tok);
	EVP_PKEY_free(key);
}
END_TEST

/* ---- two processes ------------------------------------------------------------------ */

START_TEST(two_processes)
{
	pid_t pids[2];
	size_t with_private;
	struct smk_error err;

	prepare();
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			/* a child makes its own key store */
			struct smk_keystore *k = open_keystore();
			struct smk_token *t = smk_keystore_find(k, "t");
			struct smk_keygen kg = { SMK_KEY_EC, 0, NULL, "child" };
			int rc = 0;

			if (smk_token_login(t, SMK_KS_USER, PIN(USER_PIN), &err) != SMK_KS_OK)
				rc = 1;
			for (int j = 0; rc == 0 && j < 3; j++) {
				if (smk_token_generate(t, &kg, NULL, &err) != SMK_KS_OK)
					rc = 2;
			}
			smk_keystore_free(k);
			_exit(rc);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", i,
			      status);
	}
	ck_assert_uint_eq(info().user_failures, 0);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_assert_uint_eq(count_items(tok, &with_private, NULL), 6);
	ck_assert_uint_eq(with_private, 6);
	smk_token_logout(tok);
}
END_TEST

/* A process killed while it checks a PIN has used up an attempt: the
 * counter is written before the KDF runs. */
START_TEST(killed_during_pin_check)
{
	char path[PATH_MAX + 32];
	struct smk_error err;
	int status, polls = 0;
	pid_t pid;

	prepare();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct smk_keystore *k = open_keystore();

		smk_token_login(smk_keystore_find(k, "t"), SMK_KS_USER, PIN(USER_PIN), &err);
		_exit(0);
	}
	/* The KDF takes ~0.35 s: kill the child as soon as the counter is up
	 * (read without the token's lock, which the child holds). */
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/token.conf", tokdir),
			  sizeof(path));
	for (;;) {
		size_t len;
		char *conf = tu_read_file(path, &len);
		bool up = conf != NULL && strstr(conf, "user_failures = 1\n") != NULL;

		free(conf);
		if (up || polls++ > 20000)
			break;
		usleep(1000);
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status), "the login finished before it could be killed");
	ck_assert_uint_eq(info().user_failures, 1);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_assert_uint_eq(info().user_failures, 0);
	smk_token_logout(tok);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------- */

struct signer {
	struct smk_item *it;
	int ok, not_logged_in, other;
};

static void *
sign_loop(void *arg)
{
	struct signer *sg = arg;
	unsigned char digest[32], sig[512];
	struct smk_sign_params p = { SMK_PAD_PKCS1, "SHA256", NULL, -1 };

	for (int i = 0; i < 40; i++) {
		struct smk_error err;
		size_t len = sizeof(sig);
		enum smk_ks_status st;

		memset(digest, i, sizeof(digest));
		st = smk_token_sign(tok, sg->it, &p, digest, 32, sig, &len, &err);
		if (st == SMK_KS_OK) {
			EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sg->it->pub, NULL);

			if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
			    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
			    EVP_PKEY_verify(ctx, sig, len, digest, 32) == 1)
				sg->ok++;
			else
				sg->other++;
			EVP_PKEY_CTX_free(ctx);
		} else if (st == SMK_KS_NOT_LOGGED_IN) {
			sg->not_logged_in++;
		} else {
			sg->other++;
		}
	}
	return NULL;
}

/* Four threads sign with the same keys while the main thread lists items;
 * then a logout in the middle of signing. */
START_TEST(threads)
{
	struct signer sg[4];
	pthread_t th[4];
	struct smk_item *rsa, *ec;
	struct smk_error err;

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	rsa = generate(SMK_KEY_RSA, 2048, NULL, NULL);
	ec = generate(SMK_KEY_EC, 0, NULL, NULL);
	/* round 0: while listing; 1: a logout in the middle; 2: logged in
	 * again (kept ECDSA contexts of the first login are gone) */
	for (int round = 0; round < 3; round++) {
		if (round == 2)
			ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
		memset(sg, 0, sizeof(sg));
		for (int i = 0; i < 4; i++) {
			sg[i].it = i % 2 ? ec : rsa;
			ck_assert_int_eq(pthread_create(&th[i], NULL, sign_loop, &sg[i]), 0);
		}
		if (round == 0) {
			for (int i = 0; i < 5; i++)
				ck_assert_uint_eq(count_items(tok, NULL, NULL), 2);
		} else if (round == 1) {
			smk_token_logout(tok);
		}
		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		for (int i = 0; i < 4; i++) {
			ck_assert_int_eq(sg[i].other, 0);
			ck_assert_int_eq(sg[i].ok + sg[i].not_logged_in, 40);
			if (round != 1)
				ck_assert_int_eq(sg[i].ok, 40);
		}
	}
	smk_token_logout(tok);
	ck_assert(!info().user_logged_in);
	smk_item_unref(rsa);
	smk_item_unref(ec);
}
END_TEST

/* ---- fork ------------------------------------------------------------------------------ */

/* A thread of the parent that holds the token's lock most of the time
 * (smk_token_info reads the token's metadata under it, without OpenSSL,
 * whose own locks are not fork-safe in 3.0 and would blur what is tested). */
struct holder {
	volatile bool stop;
	unsigned rounds, failed;
};

static void *
info_loop(void *arg)
{
	struct holder *h = arg;

	while (!h->stop) {
		struct smk_token_info ti;
		struct smk_error err;

		if (smk_token_info(tok, &ti, &err) == SMK_KS_OK && ti.user_logged_in)
			h->rounds++;
		else
			h->failed++;
	}
	return NULL;
}

/* After fork() the child keeps the parent's key store: logged in, the keys
 * in memory, the token's locks free even when another thread of the
 * parent held them at the fork (the key store's fork handlers). */
START_TEST(fork_child_keeps_keystore)
{
	struct smk_sign_params p = { SMK_PAD_NONE, NULL, NULL, -1 };
	struct holder h = { 0 };
	struct smk_item *ec;
	struct smk_error err;
	pthread_t th;
	unsigned before;

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ec = generate(SMK_KEY_EC, 0, NULL, NULL);
	ck_assert_int_eq(pthread_create(&th, NULL, info_loop, &h), 0);
	while (h.rounds == 0)
		usleep(1000);
	before = h.rounds;
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		int st;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			unsigned char d[32] = { 1 }, sig[128];
			size_t len = sizeof(sig), n = 0;
			struct smk_item **items;
			struct smk_token_info ti;
			int bad = 0;

			bad |= (smk_token_info(tok, &ti, &err) != SMK_KS_OK || !ti.user_logged_in) << 0;
			bad |= (smk_token_sign(tok, ec, &p, d, 32, sig, &len, &err) != SMK_KS_OK) << 1;
			if (smk_token_items(tok, &items, &n, &err) != SMK_KS_OK || n != 1)
				bad |= 1 << 2;
			else
				smk_items_free(items, n);
			/* a logout takes the key lock for writing */
			smk_token_logout(tok);
			bad |= (smk_token_sign(tok, ec, &p, d, 32, sig, &len, &err) !=
				SMK_KS_NOT_LOGGED_IN) << 3;
			_exit(bad);
		}
		st = tu_wait_child(pid, 20);
		ck_assert_msg(st != -1, "fork %d: the child hung", i + 1);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "fork %d: the child failed (status %#x: bits 1 info, 2 sign, 4 items, "
			      "8 logout)", i + 1, (unsigned)st);
	}
	h.stop = true;
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(h.failed, 0);
	ck_assert_uint_gt(h.rounds, before);
	/* the parent's own state is untouched by the children's logouts */
	ck_assert(info().user_logged_in);
	smk_item_unref(ec);
}
END_TEST

/* ---- library context ----------------------------------------------------------------- */

/* Verifies sig over the 32-byte d with pub, in libctx. */
static bool
verifies_in(OSSL_LIB_CTX *libctx, EVP_PKEY *pub, bool rsa, const unsigned char *d,
	    const unsigned char *sig, size_t len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, NULL);
	bool ok = c != NULL && EVP_PKEY_verify_init(c) == 1 &&
		  (!rsa || EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0) &&
		  EVP_PKEY_verify(c, sig, len, d, 32) == 1;

	EVP_PKEY_CTX_free(c);
	return ok;
}

/* smk_keystore_new_ex: everything runs in the library context given, even
 * when the default one can do nothing (as inside a provider loaded into an
 * application whose default context lacks the default provider). */
START_TEST(own_libctx)
{
	EVP_PKEY *key = tu_key("alice-ec");
	X509 *cert = tu_cert("alice-ec");
	OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new(), *empty = OSSL_LIB_CTX_new(), *prev;
	OSSL_PROVIDER *def, *nul;
	struct smk_keygen kg = { SMK_KEY_RSA, 2048, NULL, "rsa" };
	struct smk_sign_params pk = { SMK_PAD_PKCS1, "SHA256", NULL, -1 };
	struct smk_sign_params pe = { SMK_PAD_NONE, NULL, NULL, -1 };
	struct smk_decrypt_params pd = { SMK_PAD_OAEP, "SHA256", NULL, NULL, 0 };
	unsigned char d[32], sig[512], ct[512], out[512], z[64], *pt = NULL;
	size_t len, n, with_priv = 0, with_cert = 0;
	struct smk_item *rsa = NULL, *ec = NULL, **items;
	struct smk_keystore *ks2;
	struct smk_token *t2;
	struct smk_error err;
	EVP_PKEY *peer;
	EVP_PKEY_CTX *c;
	char *text;

	prepare();
	ck_assert_ptr_nonnull(lc);
	ck_assert_ptr_nonnull(empty);
	ck_assert_ptr_nonnull(def = OSSL_PROVIDER_load(lc, "default"));
	ck_assert_ptr_nonnull(nul = OSSL_PROVIDER_load(empty, "null"));
	/* this thread's default context now offers nothing at all */
	prev = OSSL_LIB_CTX_set0_default(empty);
	ck_assert_ptr_null(EVP_MD_fetch(NULL, "SHA256", NULL));
	ERR_clear_error();
	/* the key store without a context of its own cannot even log in */
	ck_assert_int_ne(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ERR_clear_error();

	ck_assert_int_gt(asprintf(&text, "[token t]\ntype = file\npath = %s\n", tokdir), 0);
	{
		struct smk_config *cfg = smk_config_parse(text, strlen(text), "test.conf", &err);

		ck_assert_ptr_nonnull(cfg);
		ks2 = smk_keystore_new_ex(cfg, backends, lc, NULL, NULL, &err);
		smk_config_free(cfg);
	}
	free(text);
	ck_assert_msg(ks2 != NULL, "%s", err.msg);
	t2 = smk_keystore_find(ks2, "t");
	ck_st(smk_token_login(t2, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	/* keys generated and stored (with a certificate) */
	ck_st(smk_token_generate(t2, &kg, &rsa, &err), SMK_KS_OK);
	ck_st(smk_token_store_key(t2, key, cert, "ec", &ec, &err), SMK_KS_OK);
	/* the failed login above was no wrong PIN */
	{
		struct smk_token_info ti;

		ck_st(smk_token_info(t2, &ti, &err), SMK_KS_OK);
		ck_assert_uint_eq(ti.user_failures, 0);
	}
	/* and read back from the files: a new login */
	smk_token_logout(t2);
	ck_st(smk_token_login(t2, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	ck_st(smk_token_items(t2, &items, &n, &err), SMK_KS_OK);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		with_priv += items[i]->has_private;
		with_cert += items[i]->cert != NULL;
	}
	smk_items_free(items, n);
	ck_assert_uint_eq(with_priv, 2);
	ck_assert_uint_eq(with_cert, 1);

	/* the private-key operations; checked in lc */
	memset(d, 7, sizeof(d));
	len = sizeof(sig);
	ck_st(smk_token_sign(t2, rsa, &pk, d, 32, sig, &len, &err), SMK_KS_OK);
	ck_assert(verifies_in(lc, rsa->pub, true, d, sig, len));
	len = sizeof(sig);
	ck_st(smk_token_sign(t2, ec, &pe, d, 32, sig, &len, &err), SMK_KS_OK);
	ck_assert(verifies_in(lc, ec->pub, false, d, sig, len));
	c = EVP_PKEY_CTX_new_from_pkey(lc, rsa->pub, NULL);
	len = sizeof(ct);
	ck_assert(c != NULL && EVP_PKEY_encrypt_init(c) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
		  EVP_PKEY_CTX_set_rsa_oaep_md_name(c, "SHA256", NULL) > 0 &&
		  EVP_PKEY_encrypt(c, ct, &len, d, 32) == 1);
	EVP_PKEY_CTX_free(c);
	n = sizeof(out);
	ck_st(smk_token_decrypt(t2, rsa, &pd, ct, len, out, &n, &err), SMK_KS_OK);
	ck_assert(n == 32 && memcmp(out, d, 32) == 0);
	peer = EVP_PKEY_Q_keygen(lc, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(peer);
	len = EVP_PKEY_get1_encoded_public_key(peer, &pt);
	n = sizeof(z);
	ck_st(smk_token_derive(t2, ec, pt, len, z, &n, &err), SMK_KS_OK);
	ck_assert_uint_eq(n, 32);
	OPENSSL_free(pt);
	EVP_PKEY_free(peer);

	smk_item_unref(rsa);
	smk_item_unref(ec);
	smk_keystore_free(ks2);
	ck_assert_ptr_eq(OSSL_LIB_CTX_set0_default(prev), empty);
	OSSL_PROVIDER_unload(nul);
	OSSL_PROVIDER_unload(def);
	OSSL_LIB_CTX_free(empty);
	OSSL_LIB_CTX_free(lc);
	EVP_PKEY_free(key);
	X509_free(cert);
}
END_TEST

/* ---- damaged files -------------------------------------------------------------------- */

static void
write_text(const char *name, const char *text, size_t len)
{
	char path[PATH_MAX + 64];
	FILE *f;

	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/%s", tokdir, name), sizeof(path));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

START_TEST(damaged_files)
{
	struct smk_token_info ti;
	struct smk_item **items;
	struct smk_error err;
	char *p8, *text, *conf, path[PATH_MAX + 64];
	size_t len, conf_len, n;

	prepare();
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	smk_item_unref(generate(SMK_KEY_EC, 0, NULL, NULL));
	smk_token_logout(tok);

	/* garbage token.conf */
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "%s/token.conf", tokdir), sizeof(path));
	conf = tu_read_file(path, &conf_len);
	write_text("token.conf", "\x01\x02 garbage\n", 11);
	ck_st(smk_token_info(tok, &ti, &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, "token.conf") != NULL, "%s", err.msg);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, "token.conf") != NULL, "%s", err.msg);
	ck_st(smk_token_items(tok, &items, &n, &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, "token.conf") != NULL, "%s", err.msg);
	/* and it is not re-initialised over its keys */
	ck_st(smk_token_init(tok, PIN(SO_PIN), NULL, &err), SMK_KS_EXISTS);
	write_text("token.conf", "version = 1\n", 12);
	ck_st(smk_token_info(tok, &ti, &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, "token.conf: incomplete") != NULL, "%s", err.msg);
	write_text("token.conf", "", 0);
	ck_st(smk_token_info(tok, &ti, &err), SMK_KS_ERROR);
	write_text("token.conf", conf, conf_len);
	free(conf);
	ti = info();
	ck_assert(ti.initialized);

	/* a truncated key file */
	p8 = only_key_file("keys.1");
	ck_assert_ptr_nonnull(p8);
	text = tu_read_file(p8, &len);
	{
		FILE *f = fopen(p8, "w");

		ck_assert_ptr_nonnull(f);
		fwrite(text, 1, len / 2, f);
		fclose(f);
	}
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, p8) != NULL, "%s", err.msg);
	ck_assert(!info().user_logged_in);
	ck_assert_uint_eq(info().user_failures, 0);	/* the PIN was right */
	/* the same length, one byte of the ciphertext changed */
	{
		FILE *f = fopen(p8, "w");

		text[len - 40] = text[len - 40] == 'A' ? 'B' : 'A';
		ck_assert_ptr_nonnull(f);
		fwrite(text, 1, len, f);
		fclose(f);
	}
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, p8) != NULL, "%s", err.msg);
	free(text);
	free(p8);

	/* the keys directory is missing */
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "rm -rf '%s/keys.1'", tokdir),
			  sizeof(path));
	ck_assert_int_eq(system(path), 0);
	ck_st(smk_token_items(tok, &items, &n, &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, "keys.1") != NULL, "%s", err.msg);

	/* the token directory is gone: not initialised */
	ck_assert_uint_lt((size_t)snprintf(path, sizeof(path), "rm -rf '%s'", tokdir), sizeof(path));
	ck_assert_int_eq(system(path), 0);
	ck_assert(!info().initialized);
	ck_st(smk_token_items(tok, &items, &n, &err), SMK_KS_OK);
	ck_assert_uint_eq(n, 0);
	smk_items_free(items, n);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_ERROR);
	ck_assert_msg(strstr(err.msg, tokdir) != NULL, "%s", err.msg);
}
END_TEST

/* ---- misuse ---------------------------------------------------------------------------- */

START_TEST(api_misuse)
{
	struct smk_sign_params sp = { SMK_PAD_PKCS1, NULL, NULL, -1 };
	struct smk_decrypt_params dp = { SMK_PAD_PKCS1, NULL, NULL, NULL, 0 };
	struct smk_keygen kg = { SMK_KEY_RSA, 1024, NULL, NULL };
	unsigned char buf[512];
	struct smk_item *it, **items, *kept;
	struct smk_error err;
	size_t len = sizeof(buf), n;
	X509 *cert = tu_cert("alice-ed25519");

	ck_assert_ptr_null(smk_keystore_find(NULL, "t"));
	ck_assert_uint_eq(smk_keystore_count(NULL), 0);
	ck_assert_ptr_null(smk_keystore_new(NULL, backends, NULL, NULL, &err));
	smk_keystore_free(NULL);
	smk_item_ref(NULL);
	smk_item_unref(NULL);
	smk_items_free(NULL, 0);
	smk_token_logout(NULL);
	ck_st(smk_token_info(NULL, NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_items(tok, NULL, &n, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_login(NULL, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_login(tok, SMK_KS_USER, NULL, 4, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_init(tok, NULL, 0, NULL, &err), SMK_KS_PIN_INVALID);
	ck_st(smk_token_init(tok, PIN("123"), NULL, &err), SMK_KS_PIN_INVALID);
	ck_st(smk_token_init(tok, PIN(SO_PIN), "a label that is longer than 32 bytes", &err),
	      SMK_KS_BAD_INPUT);
	ck_st(smk_token_set_pin(tok, SMK_KS_USER, NULL, 3, PIN("abcd"), &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_generate(tok, NULL, NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_store_key(tok, NULL, NULL, NULL, NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_store_cert(tok, NULL, NULL, NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_store_cert(tok, cert, NULL, NULL, &err), SMK_KS_UNSUPPORTED);
	X509_free(cert);

	prepare();
	ck_st(smk_token_generate(tok, &kg, NULL, &err), SMK_KS_UNSUPPORTED);	/* before login */
	kg.bits = 2048;
	ck_st(smk_token_generate(tok, &kg, NULL, &err), SMK_KS_NOT_LOGGED_IN);
	ck_st(smk_token_login(tok, SMK_KS_USER, PIN(USER_PIN), &err), SMK_KS_OK);
	kg.type = SMK_KEY_EC;
	kg.curve = "P-521";
	ck_st(smk_token_generate(tok, &kg, NULL, &err), SMK_KS_UNSUPPORTED);
	kg.curve = NULL;
	kg.label = "bad\nlabel";
	ck_st(smk_token_generate(tok, &kg, NULL, &err), SMK_KS_BAD_INPUT);
	kg.label = NULL;
	ck_st(smk_token_generate(tok, &kg, &it, &err), SMK_KS_OK);
	{
		/* a public key is not a private key */
		EVP_PKEY *pub = it->pub;

		ck_st(smk_token_store_key(tok, pub, NULL, NULL, NULL, &err), SMK_KS_BAD_INPUT);
	}
	ck_st(smk_token_sign(tok, it, NULL, buf, 32, buf, &len, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_sign(tok, it, &sp, NULL, 32, buf, &len, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_sign(tok, it, &sp, buf, 32, buf, NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_decrypt(tok, it, &dp, buf, 32, buf, NULL, &err), SMK_KS_BAD_INPUT);
	ck_st(smk_token_derive(tok, it, NULL, 65, buf, &len, &err), SMK_KS_BAD_INPUT);
	sp.md = "NO-SUCH-DIGEST";
	ck_st(smk_token_sign(tok, it, &sp, buf, 32, buf, &len, &err), SMK_KS_UNSUPPORTED);
	/* an item whose id is not on the token */
	{
		struct smk_item fake = *it;

		memset(fake.id, 0xab, sizeof(fake.id));
		sp.md = NULL;
		ck_st(smk_token_sign(tok, &fake, &sp, buf, 32, buf, &len, &err), SMK_KS_NOT_FOUND);
		ck_st(smk_token_derive(tok, &fake, buf, 65, buf, &len, &err), SMK_KS_NOT_FOUND);
	}
	/* references outlive the list and the token's change */
	ck_st(smk_token_items(tok, &items, &n, &err), SMK_KS_OK);
	ck_assert_uint_eq(n, 1);
	kept = items[0];
	smk_item_ref(kept);
	smk_items_free(items, n);
	smk_token_logout(tok);
	ck_assert(kept->has_private);	/* immutable: as it was */
	ck_st(smk_token_sign(tok, it, &sp, buf, 32, buf, &len, &err), SMK_KS_NOT_LOGGED_IN);
	smk_item_unref(kept);
	smk_item_unref(it);
	ck_assert_str_eq(smk_ks_status_str(SMK_KS_PIN_LOCKED), "PIN locked");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("keystore");
	TCase *tc = tcase_create("keystore");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, make_template, remove_template);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, init_login_logout);
	tcase_add_test(tc, wrong_pin_and_lockout);
	tcase_add_test(tc, so_pin);
	tcase_add_test(tc, sign_and_verify);
	tcase_add_test(tc, decrypt_and_derive);
	tcase_add_test(tc, store_key_and_cert);
	tcase_add_test(tc, two_certs_one_key);
	tcase_add_test(tc, set_pin_and_files);
	tcase_add_test(tc, hand_encrypted_key);
	tcase_add_test(tc, two_processes);
	tcase_add_test(tc, threads);
	tcase_add_test(tc, fork_child_keeps_keystore);
	tcase_add_test(tc, own_libctx);
	tcase_add_test(tc, killed_during_pin_check);
	tcase_add_test(tc, damaged_files);
	tcase_add_test(tc, api_misuse);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
