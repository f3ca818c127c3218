/* provtest.c - what the C tests of the provider share (see provtest.h) */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/store.h>

#include "provtest.h"
#include "smk-config.h"
#include "smk-keystore.h"

#define PIN(p) p, strlen(p)

static char token_dir[PATH_MAX];

void
provtest_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
	ERR_print_errors_fp(stderr);
	exit(EXIT_FAILURE);
}

static FILE *
open_test_file(const char *name)
{
	const char *certs = getenv("SMK_TEST_CERTS");
	char path[PATH_MAX];
	FILE *f;

	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		if (certs == NULL)
			provtest_die("run through make check (SMK_TEST_CERTS)");
		snprintf(path, sizeof(path), "%s/%s", certs, name);
	}
	f = fopen(path, "r");
	if (f == NULL)
		provtest_die(path);
	return f;
}

EVP_PKEY *
provtest_read_key(const char *name)
{
	FILE *f = open_test_file(name);
	EVP_PKEY *k = PEM_read_PrivateKey_ex(f, NULL, NULL, NULL, NULL, "provider=default");

	fclose(f);
	if (k == NULL)
		provtest_die(name);
	return k;
}

X509 *
provtest_read_cert(const char *name)
{
	FILE *f = open_test_file(name);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);

	fclose(f);
	if (x == NULL)
		provtest_die(name);
	return x;
}

const char *
provtest_make_token(const char *tag)
{
	static const struct smk_token_backend *const backends[] = { &smk_token_file_backend, NULL };
	static const char *const names[] = { "alice-rsa", "alice-ec" };
	const char *tmp = getenv("TMPDIR");
	char conf[PATH_MAX + 32], *text;
	struct smk_config *cfg;
	struct smk_keystore *ks;
	struct smk_token *t;
	struct smk_error err;
	FILE *f;

	snprintf(token_dir, sizeof(token_dir), "%s/smk-%s.XXXXXX", tmp != NULL ? tmp : "/tmp", tag);
	if (mkdtemp(token_dir) == NULL)
		provtest_die("mkdtemp");
	if (asprintf(&text, "[token alice]\ntype = file\npath = %s/token\n", token_dir) < 0)
		provtest_die("asprintf");
	snprintf(conf, sizeof(conf), "%s/smimekit.conf", token_dir);
	f = fopen(conf, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		provtest_die(conf);
	cfg = smk_config_parse(text, strlen(text), conf, &err);
	free(text);
	if (cfg == NULL)
		provtest_die(err.msg);
	ks = smk_keystore_new(cfg, backends, NULL, NULL, &err);
	smk_config_free(cfg);
	if (ks == NULL)
		provtest_die(err.msg);
	t = smk_keystore_find(ks, "alice");
	if (t == NULL || smk_token_init(t, PIN(PROVTEST_SO_PIN), "alice", &err) != SMK_KS_OK ||
	    smk_token_login(t, SMK_KS_SO, PIN(PROVTEST_SO_PIN), &err) != SMK_KS_OK ||
	    smk_token_init_pin(t, PIN(PROVTEST_USER_PIN), &err) != SMK_KS_OK)
		provtest_die(err.msg);
	smk_token_logout(t);
	if (smk_token_login(t, SMK_KS_USER, PIN(PROVTEST_USER_PIN), &err) != SMK_KS_OK)
		provtest_die(err.msg);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char key[64], cert[64];
		EVP_PKEY *k;
		X509 *x;

		snprintf(key, sizeof(key), "%s.key", names[i]);
		snprintf(cert, sizeof(cert), "%s.pem", names[i]);
		k = provtest_read_key(key);
		x = provtest_read_cert(cert);
		if (smk_token_store_key(t, k, x, names[i], NULL, &err) != SMK_KS_OK)
			provtest_die(err.msg);
		EVP_PKEY_free(k);
		X509_free(x);
	}
	smk_keystore_free(ks);
	setenv("SMIMEKIT_CONF", conf, 1);
	return token_dir;
}

void
provtest_remove_token(void)
{
	char cmd[PATH_MAX + 16];

	if (token_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", token_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "%s: could not remove %s\n", program_invocation_short_name, token_dir);
}

EVP_PKEY *
provtest_load_key(OSSL_LIB_CTX *libctx, const char *uri)
{
	OSSL_STORE_CTX *st = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
	OSSL_STORE_INFO *info;
	EVP_PKEY *key = NULL;

	if (st == NULL)
		return NULL;
	while (key == NULL && !OSSL_STORE_eof(st) && (info = OSSL_STORE_load(st)) != NULL) {
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(st);
	return key;
}
