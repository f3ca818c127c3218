/* fork.c - token keys of the smimekit provider across fork()
 *
 * Pre-forking servers and scripts load a key through the provider, log in,
 * then fork(); the children use the key.  The provider keeps working in
 * the child: the key store's fork handlers (lib/smk-keystore.c) leave its
 * locks usable there, and the keys stay in memory.
 *
 * Check tests, on a file token with alice's RSA-2048 and P-256 keys (made
 * with the key store API, as tests/provider/evp.c does):
 * - a key loaded through OSSL_STORE with a pkcs11: URI and pin-value signs
 *   in the parent, then in a forked child (the signature verifies with the
 *   certificate's key, in the default provider), then in the parent again;
 * - a parent whose second thread signs in a loop and whose third thread
 *   lists the token's certificates in a loop forks many times (the threads
 *   parked between two operations at each fork, as OpenSSL 3.0 itself
 *   needs, see struct busy); each child signs with both keys and lists the
 *   certificates, and must be done within a timeout (a hung child fails
 *   the test and is killed);
 * - the provider loaded into a library context of its own, used, and
 *   unloaded (dlclose) before fork(): the key store's fork handlers went
 *   with it, fork() does not call into unmapped code.
 *
 * `fork directory` (run by tests/provider/fork-dir.sh against a real
 * slapd, not a Check test) does the same with a directory token: log in,
 * fork, the child signs and decrypts with the escrowed key and lists the
 * certificates (a directory search, on a connection of its own), the
 * parent lists them again afterwards on its own connection.  It prints
 * what it did; the script checks that and slapd's log.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "provtest.h"
#include "../unit/test-util.h"

#define USER_PIN PROVTEST_USER_PIN
#define RSA_URI "pkcs11:token=alice;object=alice-rsa;type=private?pin-value=" USER_PIN
#define EC_URI "pkcs11:token=alice;object=alice-ec;type=private?pin-value=" USER_PIN
#define CERTS_URI "pkcs11:token=alice;type=cert"

/* A child that is not done after this long is taken as hung. */
#define CHILD_TIMEOUT 20

#define die provtest_die

/* smimekit and default, loaded into libctx (NULL: the default context). */
static void
load_providers(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **smk, OSSL_PROVIDER **def)
{
	const char *pdir = getenv("SMK_PROVIDER_DIR");

	if (pdir == NULL)
		die("run through make check (SMK_PROVIDER_DIR)");
	if (!OSSL_PROVIDER_set_default_search_path(libctx, pdir) ||
	    (*def = OSSL_PROVIDER_load(libctx, "default")) == NULL ||
	    (*smk = OSSL_PROVIDER_load(libctx, "smimekit")) == NULL)
		die("loading the providers");
}

#define load_key provtest_load_key

/* How many certificates a pkcs11: URI lists (-1: the store failed). */
static int
count_certs(OSSL_LIB_CTX *libctx, const char *uri)
{
	OSSL_STORE_CTX *st = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
	OSSL_STORE_INFO *info;
	int n = 0;

	if (st == NULL)
		return -1;
	while (!OSSL_STORE_eof(st) && (info = OSSL_STORE_load(st)) != NULL) {
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_CERT)
			n++;
		OSSL_STORE_INFO_free(info);
	}
	if (OSSL_STORE_error(st))
		n = -1;
	OSSL_STORE_close(st);
	return n;
}

/* Signs msg with key (SHA-256) and verifies the signature with pub (the
 * certificate's key, in software).  1: signed and verified. */
static int
sign_verifies(OSSL_LIB_CTX *libctx, EVP_PKEY *key, EVP_PKEY *pub, const char *msg)
{
	unsigned char sig[512];
	size_t len = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok;

	ok = m != NULL &&
	     EVP_DigestSignInit_ex(m, NULL, "SHA256", libctx, NULL, key, NULL) > 0 &&
	     EVP_DigestSign(m, sig, &len, (const unsigned char *)msg, strlen(msg)) > 0;
	EVP_MD_CTX_free(m);
	if (!ok)
		return 0;
	m = EVP_MD_CTX_new();
	ok = m != NULL &&
	     EVP_DigestVerifyInit_ex(m, NULL, "SHA256", libctx, "provider=default", pub, NULL) > 0 &&
	     EVP_DigestVerify(m, sig, len, (const unsigned char *)msg, strlen(msg)) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

/* OAEP-SHA-256 to pub in software, decrypted with key.  1: the same bytes. */
static int
decrypt_works(OSSL_LIB_CTX *libctx, EVP_PKEY *key, EVP_PKEY *pub)
{
	static const unsigned char plain[] = "a session key, 32 bytes long....";
	unsigned char ct[512], out[512];
	size_t ctlen = sizeof(ct), outlen = sizeof(out);
	EVP_PKEY_CTX *c;
	int ok;

	c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, "provider=default");
	ok = c != NULL && EVP_PKEY_encrypt_init(c) > 0 &&
	     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md_name(c, "SHA256", NULL) > 0 &&
	     EVP_PKEY_encrypt(c, ct, &ctlen, plain, sizeof(plain)) > 0;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return 0;
	c = EVP_PKEY_CTX_new_from_pkey(libctx, key, NULL);
	ok = c != NULL && EVP_PKEY_decrypt_init(c) > 0 &&
	     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md_name(c, "SHA256", NULL) > 0 &&
	     EVP_PKEY_decrypt(c, out, &outlen, ct, ctlen) > 0 &&
	     outlen == sizeof(plain) && memcmp(out, plain, outlen) == 0;
	EVP_PKEY_CTX_free(c);
	return ok;
}

static void
assert_child_ok(pid_t pid, const char *what)
{
	int st;

	ck_assert_int_ge(pid, 0);
	st = tu_wait_child(pid, CHILD_TIMEOUT);
	if (st == -1)
		ck_abort_msg("%s: the child hung (killed after %d s)", what, CHILD_TIMEOUT);
	if (!WIFEXITED(st))
		ck_abort_msg("%s: the child died of signal %d", what, WTERMSIG(st));
	ck_assert_msg(WEXITSTATUS(st) == 0, "%s: the child exited %d", what, WEXITSTATUS(st));
}

/* ---- file token -------------------------------------------------------------------- */

static EVP_PKEY *
cert_key(const char *name)
{
	X509 *x = provtest_read_cert(name);
	EVP_PKEY *pub = X509_get_pubkey(x);

	X509_free(x);
	return pub;
}

START_TEST(sign_in_child)
{
	OSSL_PROVIDER *smk, *def;
	EVP_PKEY *rsa, *ec, *rsa_pub = cert_key("alice-rsa.pem"), *ec_pub = cert_key("alice-ec.pem");
	pid_t pid;

	load_providers(NULL, &smk, &def);
	rsa = load_key(NULL, RSA_URI);
	ec = load_key(NULL, EC_URI);
	ck_assert_ptr_nonnull(rsa);
	ck_assert_ptr_nonnull(ec);
	ck_assert(sign_verifies(NULL, rsa, rsa_pub, "before fork"));
	ck_assert(sign_verifies(NULL, ec, ec_pub, "before fork"));

	pid = fork();
	if (pid == 0) {
		int bad = 0;

		bad |= !sign_verifies(NULL, rsa, rsa_pub, "in the child") << 0;
		bad |= !sign_verifies(NULL, ec, ec_pub, "in the child") << 1;
		bad |= (count_certs(NULL, CERTS_URI) != 2) << 2;
		if (bad)
			ERR_print_errors_fp(stderr);
		_exit(bad);
	}
	assert_child_ok(pid, "sign in the child (exit bits: 1 RSA, 2 EC, 4 listing)");
	ck_assert(sign_verifies(NULL, rsa, rsa_pub, "after fork"));
	ck_assert(sign_verifies(NULL, ec, ec_pub, "after fork"));
	ck_assert_int_eq(count_certs(NULL, CERTS_URI), 2);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa_pub);
	EVP_PKEY_free(ec_pub);
	OSSL_PROVIDER_unload(smk);
	OSSL_PROVIDER_unload(def);
}
END_TEST

/* A thread of the parent working with a token key in a loop.  Before each
 * fork the main thread parks it between two operations: OpenSSL 3.0's own
 * locks (its method store is write-locked on every fetch) are not
 * fork-safe, and OpenSSL supports a child of a multithreaded process only
 * when no other thread is inside libcrypto at the fork (openssl/openssl
 * issue 19066); a pre-forking server has to do the same.  What the
 * provider adds must not need more: the key store's locks are fork-safe
 * by themselves (tests/unit/check-keystore holds them in a thread during
 * fork()). */
struct busy {
	EVP_PKEY *key, *pub;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool pause, parked, stop;
	unsigned done, failed;
};

static void
busy_init(struct busy *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
}

/* Between two operations: parks while the main thread forks. */
static bool
busy_checkpoint(struct busy *b, bool ok)
{
	bool stop;

	pthread_mutex_lock(&b->mu);
	if (ok)
		b->done++;
	else
		b->failed++;
	while (b->pause && !b->stop) {
		b->parked = true;
		pthread_cond_broadcast(&b->cv);
		pthread_cond_wait(&b->cv, &b->mu);
	}
	b->parked = false;
	stop = b->stop;
	pthread_mutex_unlock(&b->mu);
	return !stop;
}

static void
busy_pause(struct busy *b, bool pause)
{
	pthread_mutex_lock(&b->mu);
	b->pause = pause;
	pthread_cond_broadcast(&b->cv);
	while (pause && !b->parked)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static void
busy_stop(struct busy *b)
{
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static unsigned
busy_done(struct busy *b)
{
	unsigned n;

	pthread_mutex_lock(&b->mu);
	n = b->done;
	pthread_mutex_unlock(&b->mu);
	return n;
}

static void *
signer(void *arg)
{
	struct busy *b = arg;

	while (busy_checkpoint(b, sign_verifies(NULL, b->key, b->pub, "a thread of the parent")))
		;
	ERR_clear_error();
	return NULL;
}

static void *
lister(void *arg)
{
	struct busy *b = arg;

	while (busy_checkpoint(b, count_certs(NULL, CERTS_URI) == 2))
		;
	ERR_clear_error();
	return NULL;
}

#define FORKS 100

START_TEST(fork_while_threads_work)
{
	OSSL_PROVIDER *smk, *def;
	EVP_PKEY *rsa_pub = cert_key("alice-rsa.pem"), *ec_pub = cert_key("alice-ec.pem");
	struct busy sb, lb;
	pthread_t ts, tl;
	EVP_PKEY *rsa;

	busy_init(&sb);
	busy_init(&lb);
	load_providers(NULL, &smk, &def);
	rsa = load_key(NULL, RSA_URI);
	sb.key = load_key(NULL, EC_URI);
	sb.pub = ec_pub;
	ck_assert_ptr_nonnull(rsa);
	ck_assert_ptr_nonnull(sb.key);
	ck_assert_int_eq(pthread_create(&ts, NULL, signer, &sb), 0);
	ck_assert_int_eq(pthread_create(&tl, NULL, lister, &lb), 0);

	for (int i = 0; i < FORKS; i++) {
		unsigned s0 = busy_done(&sb), l0 = busy_done(&lb);
		char what[80];
		pid_t pid;

		/* both threads work between two forks */
		while (busy_done(&sb) == s0 || busy_done(&lb) == l0)
			usleep(200);
		busy_pause(&sb, true);
		busy_pause(&lb, true);
		pid = fork();
		if (pid == 0) {
			int bad = 0;

			bad |= !sign_verifies(NULL, sb.key, ec_pub, "in a child") << 0;
			bad |= (count_certs(NULL, CERTS_URI) != 2) << 1;
			if (i % 10 == 0)
				bad |= !sign_verifies(NULL, rsa, rsa_pub, "in a child") << 2;
			if (bad)
				ERR_print_errors_fp(stderr);
			_exit(bad);
		}
		busy_pause(&sb, false);
		busy_pause(&lb, false);
		snprintf(what, sizeof(what), "fork %d of %d (exit bits: 1 EC, 2 listing, 4 RSA)",
			 i + 1, FORKS);
		assert_child_ok(pid, what);
	}

	busy_stop(&sb);
	busy_stop(&lb);
	pthread_join(ts, NULL);
	pthread_join(tl, NULL);
	/* the threads went on working through the forks, without a failure */
	ck_assert_uint_eq(sb.failed, 0);
	ck_assert_uint_eq(lb.failed, 0);
	ck_assert_uint_gt(sb.done, FORKS);
	ck_assert_uint_gt(lb.done, FORKS);
	ck_assert(sign_verifies(NULL, rsa, rsa_pub, "after the forks"));
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(sb.key);
	EVP_PKEY_free(rsa_pub);
	EVP_PKEY_free(ec_pub);
	OSSL_PROVIDER_unload(smk);
	OSSL_PROVIDER_unload(def);
}
END_TEST

/* Is the provider module mapped into this process? */
static bool
provider_mapped(void)
{
	char line[PATH_MAX + 256];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "/smimekit.so") != NULL;
	fclose(f);
	return found;
}

START_TEST(fork_after_unload)
{
	OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
	EVP_PKEY *ec, *ec_pub = cert_key("alice-ec.pem");
	OSSL_PROVIDER *smk, *def;
	pid_t pid;

	ck_assert_ptr_nonnull(libctx);
	ck_assert(!provider_mapped());
	load_providers(libctx, &smk, &def);
	ec = load_key(libctx, EC_URI);
	ck_assert_ptr_nonnull(ec);
	/* the key store is made (and its fork handlers registered) */
	ck_assert(sign_verifies(libctx, ec, ec_pub, "before unloading"));
	EVP_PKEY_free(ec);
	OSSL_PROVIDER_unload(smk);
	OSSL_PROVIDER_unload(def);
	OSSL_LIB_CTX_free(libctx);
	/* dlclose()d: a fork handler left behind would now crash fork() */
	ck_assert_msg(!provider_mapped(), "smimekit.so still mapped after unloading");
	pid = fork();
	if (pid == 0)
		_exit(0);
	assert_child_ok(pid, "fork after unloading the provider");
	EVP_PKEY_free(ec_pub);
}
END_TEST

/* ---- directory token (fork directory) ------------------------------------------- */

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "fork directory: $%s not set\n", name);
		exit(2);
	}
	return v;
}

#define SAY(...) (printf(__VA_ARGS__), fflush(stdout))

/* $FORK_KEY_URI: the escrowed RSA key (with its PIN); $FORK_CERTS_URI: the
 * token's certificates; $FORK_CERT: the key's certificate (PEM). */
static int
directory_run(void)
{
	const char *key_uri = need_env("FORK_KEY_URI"), *certs_uri = need_env("FORK_CERTS_URI");
	X509 *x = provtest_read_cert(need_env("FORK_CERT"));
	EVP_PKEY *pub = X509_get_pubkey(x), *key;
	OSSL_PROVIDER *smk, *def;
	int n0, n, st;
	pid_t pid;

	X509_free(x);
	load_providers(NULL, &smk, &def);
	key = load_key(NULL, key_uri);
	if (key == NULL || pub == NULL)
		die("loading the directory token's key");
	n0 = count_certs(NULL, certs_uri);
	SAY("parent: %d certificates\n", n0);
	if (n0 <= 0 || !sign_verifies(NULL, key, pub, "parent") || !decrypt_works(NULL, key, pub))
		die("the directory token before fork");
	SAY("parent: signed and decrypted\n");

	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		bool s = sign_verifies(NULL, key, pub, "child"), d = decrypt_works(NULL, key, pub);

		SAY("child: signed %s, decrypted %s\n", s ? "yes" : "no", d ? "yes" : "no");
		n = count_certs(NULL, certs_uri);
		SAY("child: %d certificates\n", n);
		ERR_print_errors_fp(stderr);
		_exit(s && d && n == n0 ? 0 : 1);
	}
	st = tu_wait_child(pid, CHILD_TIMEOUT);
	if (st == -1)
		SAY("parent: the child hung\n");
	else if (WIFEXITED(st))
		SAY("parent: the child exited %d\n", WEXITSTATUS(st));
	else
		SAY("parent: the child died of signal %d\n", WTERMSIG(st));

	/* the parent's own connection, after the child closed its copy */
	n = count_certs(NULL, certs_uri);
	SAY("parent after the child: %d certificates\n", n);
	if (sign_verifies(NULL, key, pub, "parent again") && decrypt_works(NULL, key, pub))
		SAY("parent after the child: signed and decrypted\n");
	ERR_print_errors_fp(stderr);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	OSSL_PROVIDER_unload(smk);
	OSSL_PROVIDER_unload(def);
	return 0;
}

int
main(int argc, char **argv)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (argc == 2 && strcmp(argv[1], "directory") == 0)
		return directory_run();
	if (getenv("SMK_TEST_CERTS") == NULL)
		die("run through make check (SMK_TEST_CERTS)");
	provtest_make_token("fork");
	s = suite_create("provider-fork");
	tc = tcase_create("fork");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sign_in_child);
	tcase_add_test(tc, fork_while_threads_work);
	tcase_add_test(tc, fork_after_unload);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* each test in a process of its own (Check's default): each loads the
	 * provider afresh, and fork_after_unload needs it never loaded before */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	provtest_remove_token();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
