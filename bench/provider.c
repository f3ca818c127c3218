/* provider.c - private-key operations per second through the smimekit
 * OpenSSL provider against the same keys in the default provider
 *
 * Three operations, each on the same key loaded twice: once from a file
 * token through OSSL_STORE with a pkcs11: URI (an opaque key of the
 * smimekit provider: the operation goes through the provider into the key
 * store), once from its PEM file (a key of the default provider):
 *
 *   RSA-2048 EVP_PKEY_sign     PKCS#1 v1.5 of a SHA-256 digest
 *   P-256 EVP_PKEY_sign        ECDSA of a SHA-256 digest
 *   RSA-2048 EVP_PKEY_decrypt  PKCS#1 v1.5, a 32-byte key
 *
 * Each operation is what an application does: a new EVP_PKEY_CTX, init,
 * parameters, the operation, free.  Results are checked once (signatures
 * verify with the public key, decryption gives the plaintext back) before
 * timing.  Each figure is the best of 5 rounds of at least --min-time
 * seconds of CPU time; the provider and default runs alternate round by
 * round.  CPU time, not wall time: the key store runs in this process, so
 * the process's CPU time is the whole cost of an operation, and other
 * work on a shared machine does not skew one side of the ratio.  The
 * table gives operations per second and the ratio provider/default
 * (target: at least 0.9).
 *
 * Usage: bench/provider --provider-path DIR --rsa-uri URI --ec-uri URI
 *                       --rsa-key PEM --ec-key PEM [--min-time SECONDS]
 *                       [--only rsa-sign|ec-sign|rsa-decrypt]
 * The URIs carry the PIN (pin-source=file:...), so no prompt is needed.
 * bench/provider.sh makes the token and runs this.  A benchmark, not a
 * test: `make check` does not run it.
 */
#include "config.h"

#include "bench-util.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/store.h>

#define ROUNDS 5
#define DEFAULT_MIN_TIME 1.0

enum op {
	OP_SIGN,
	OP_DECRYPT,
};

struct job {
	const char *name;
	const char *tag;		/* for --only */
	enum op op;
	bool rsa;
	EVP_PKEY *token_key, *file_key;
	unsigned char in[256];		/* digest or ciphertext */
	size_t in_len;
	unsigned char out[512];
	size_t out_len;
};

static void
die(const char *what)
{
	fprintf(stderr, "bench/provider: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static EVP_PKEY *
load_uri(const char *uri)
{
	OSSL_STORE_CTX *st;
	OSSL_STORE_INFO *info;
	EVP_PKEY *key = NULL;

	st = OSSL_STORE_open_ex(uri, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	if (st == NULL)
		die("cannot open the pkcs11: URI");
	while (key == NULL && !OSSL_STORE_eof(st)) {
		info = OSSL_STORE_load(st);
		if (info == NULL)
			break;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(st);
	if (key == NULL)
		die("the pkcs11: URI gave no private key");
	return key;
}

static EVP_PKEY *
load_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key;

	if (f == NULL)
		die("cannot open a PEM key file");
	key = PEM_read_PrivateKey_ex(f, NULL, NULL, NULL, NULL, "provider=default");
	fclose(f);
	if (key == NULL)
		die("cannot read a PEM key file");
	return key;
}

/* One operation as an application makes it; false on failure. */
static bool
run_once(struct job *j, EVP_PKEY *key)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	bool ok = false;

	if (ctx == NULL)
		return false;
	j->out_len = sizeof(j->out);
	if (j->op == OP_SIGN) {
		ok = EVP_PKEY_sign_init(ctx) > 0 &&
		     (!j->rsa || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0) &&
		     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
		     EVP_PKEY_sign(ctx, j->out, &j->out_len, j->in, j->in_len) > 0;
	} else {
		ok = EVP_PKEY_decrypt_init(ctx) > 0 &&
		     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
		     EVP_PKEY_decrypt(ctx, j->out, &j->out_len, j->in, j->in_len) > 0;
	}
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* The job's result with key is right: checked in software with the file key. */
static void
check(struct job *j, EVP_PKEY *key, const unsigned char *plain, size_t plain_len)
{
	EVP_PKEY_CTX *ctx;

	if (!run_once(j, key))
		die(j->name);
	if (j->op == OP_DECRYPT) {
		if (j->out_len != plain_len || memcmp(j->out, plain, plain_len) != 0)
			die("decryption gave a wrong plaintext");
		return;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, j->file_key, NULL);
	if (ctx == NULL || EVP_PKEY_verify_init(ctx) <= 0 ||
	    (j->rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_verify(ctx, j->out, j->out_len, j->in, j->in_len) != 1)
		die("a signature does not verify");
	EVP_PKEY_CTX_free(ctx);
}

/* Operations per CPU second in one round of at least min_time seconds. */
static double
round_rate(struct job *j, EVP_PKEY *key, double min_time)
{
	double t0 = bench_cpu_now(), t;
	unsigned long n = 0;

	do {
		for (int i = 0; i < 16; i++, n++)
			if (!run_once(j, key))
				die(j->name);
		t = bench_cpu_now() - t0;
	} while (t < min_time);
	return (double)n / t;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench/provider --provider-path DIR --rsa-uri URI --ec-uri URI "
			"--rsa-key PEM --ec-key PEM [--min-time SECONDS]\n"
			"       [--only rsa-sign|ec-sign|rsa-decrypt]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "provider-path", required_argument, NULL, 'p' },
		{ "rsa-uri", required_argument, NULL, 'r' },
		{ "ec-uri", required_argument, NULL, 'e' },
		{ "rsa-key", required_argument, NULL, 'R' },
		{ "ec-key", required_argument, NULL, 'E' },
		{ "min-time", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *rsa_uri = NULL, *ec_uri = NULL, *rsa_pem = NULL, *ec_pem = NULL;
	const char *only = NULL;
	double min_time = DEFAULT_MIN_TIME;
	unsigned char plain[32];
	EVP_PKEY *rsa_tok, *ec_tok, *rsa_file, *ec_file;
	EVP_PKEY_CTX *ctx;
	struct job jobs[3];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': path = optarg; break;
		case 'r': rsa_uri = optarg; break;
		case 'e': ec_uri = optarg; break;
		case 'R': rsa_pem = optarg; break;
		case 'E': ec_pem = optarg; break;
		case 'o': only = optarg; break;
		case 't':
			min_time = strtod(optarg, NULL);
			if (!(min_time > 0 && min_time < 3600))
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || path == NULL || rsa_uri == NULL || ec_uri == NULL || rsa_pem == NULL ||
	    ec_pem == NULL)
		usage();

	if (!OSSL_PROVIDER_set_default_search_path(NULL, path) ||
	    OSSL_PROVIDER_load(NULL, "smimekit") == NULL || OSSL_PROVIDER_load(NULL, "default") == NULL)
		die("cannot load the smimekit and default providers");
	rsa_tok = load_uri(rsa_uri);
	ec_tok = load_uri(ec_uri);
	rsa_file = load_pem(rsa_pem);
	ec_file = load_pem(ec_pem);
	if (EVP_PKEY_get_bits(rsa_tok) != 2048 || EVP_PKEY_get_bits(ec_tok) != 256 ||
	    !EVP_PKEY_eq(rsa_tok, rsa_file) || !EVP_PKEY_eq(ec_tok, ec_file))
		die("the token keys are not RSA-2048 and P-256 or differ from the PEM keys");

	memset(jobs, 0, sizeof(jobs));
	jobs[0] = (struct job){ .name = "RSA-2048 sign", .tag = "rsa-sign", .op = OP_SIGN, .rsa = true,
				.token_key = rsa_tok, .file_key = rsa_file, .in_len = 32 };
	jobs[1] = (struct job){ .name = "P-256 sign", .tag = "ec-sign", .op = OP_SIGN, .rsa = false,
				.token_key = ec_tok, .file_key = ec_file, .in_len = 32 };
	jobs[2] = (struct job){ .name = "RSA-2048 decrypt", .tag = "rsa-decrypt", .op = OP_DECRYPT, .rsa = true,
				.token_key = rsa_tok, .file_key = rsa_file };
	if (RAND_bytes(jobs[0].in, 32) != 1 || RAND_bytes(plain, sizeof(plain)) != 1)
		die("RAND_bytes");
	memcpy(jobs[1].in, jobs[0].in, 32);
	/* the ciphertext, made in software with the public key */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa_file, NULL);
	jobs[2].in_len = sizeof(jobs[2].in);
	if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_encrypt(ctx, jobs[2].in, &jobs[2].in_len, plain, sizeof(plain)) <= 0)
		die("RSA encryption");
	EVP_PKEY_CTX_free(ctx);

	for (int i = 0; i < 3; i++) {
		check(&jobs[i], jobs[i].token_key, plain, sizeof(plain));
		check(&jobs[i], jobs[i].file_key, plain, sizeof(plain));
	}

	printf("%-18s %14s %14s %7s\n", "operation", "provider op/s", "default op/s", "ratio");
	for (int i = 0; i < 3; i++) {
		double best_tok = 0, best_file = 0, r;

		if (only != NULL && strcmp(only, jobs[i].tag) != 0)
			continue;
		for (int k = 0; k < ROUNDS; k++) {
			r = round_rate(&jobs[i], jobs[i].token_key, min_time);
			if (r > best_tok)
				best_tok = r;
			r = round_rate(&jobs[i], jobs[i].file_key, min_time);
			if (r > best_file)
				best_file = r;
		}
		printf("%-18s %14.0f %14.0f %6.2fx\n", jobs[i].name, best_tok, best_file,
		       best_tok / best_file);
		fflush(stdout);
	}
	EVP_PKEY_free(rsa_tok);
	EVP_PKEY_free(ec_tok);
	EVP_PKEY_free(rsa_file);
	EVP_PKEY_free(ec_file);
	return 0;
}
