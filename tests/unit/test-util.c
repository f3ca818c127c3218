/* test-util.c - helpers shared by the Check suites */
#include "config.h"

#include "test-util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "smk-cert.h"

int
tu_buf_write(void *ctx, const void *data, size_t len)
{
	struct tu_buf *b = ctx;

	if (b->fail_after > 0 && b->len + len > b->fail_after)
		return -1;
	if (b->len + len + 1 > b->alloc) {
		size_t alloc = b->alloc ? b->alloc : 4096;
		char *p;

		while (alloc < b->len + len + 1)
			alloc *= 2;
		p = realloc(b->data, alloc);
		ck_assert_ptr_nonnull(p);
		b->data = p;
		b->alloc = alloc;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

void
tu_buf_free(struct tu_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

char *
tu_path(const char *name, const char *ext)
{
	const char *dir = getenv("SMK_TEST_CERTS");
	char *p;

	ck_assert_msg(dir != NULL, "SMK_TEST_CERTS is not set (run through make check)");
	ck_assert_int_gt(asprintf(&p, "%s/%s%s", dir, name, ext), 0);
	return p;
}

X509 *
tu_cert(const char *name)
{
	char *path = tu_path(name, ".pem");
	struct smk_error err;
	STACK_OF(X509) *certs = smk_cert_load_file(path, &err);
	X509 *c;

	ck_assert_msg(certs != NULL, "%s", err.msg);
	c = sk_X509_shift(certs);
	smk_cert_stack_free(certs);
	free(path);
	return c;
}

STACK_OF(X509) *
tu_certs(const char *name, ...)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	va_list ap;

	va_start(ap, name);
	for (const char *n = name; n != NULL; n = va_arg(ap, const char *))
		ck_assert(sk_X509_push(sk, tu_cert(n)) > 0);
	va_end(ap);
	return sk;
}

EVP_PKEY *
tu_key(const char *name)
{
	char *path = tu_path(name, ".key");
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *k;

	ck_assert_msg(bio != NULL, "cannot open %s", path);
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	ck_assert_msg(k != NULL, "cannot read key %s", path);
	BIO_free(bio);
	free(path);
	return k;
}

int
tu_envelope(const struct smk_envelope_opts *opts, const void *in, size_t len, size_t chunk,
	    struct tu_buf *out, enum smk_envelope_outcome *outcome, struct smk_error *err)
{
	struct smk_envelope *env = smk_envelope_new(opts, tu_buf_write, out, err);
	const char *p = in;
	int r = 0;

	if (env == NULL)
		return -1;
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len && r == 0; off += chunk)
		r = smk_envelope_write(env, p + off, len - off < chunk ? len - off : chunk);
	if (r == 0)
		r = smk_envelope_finish(env);
	if (r < 0)
		*err = *smk_envelope_error(env);
	if (outcome != NULL)
		*outcome = smk_envelope_outcome(env);
	smk_envelope_free(env);
	return r;
}

static const char *
body_start(const char *msg, size_t len)
{
	const char *lf = memmem(msg, len, "\n\n", 2);
	const char *crlf = memmem(msg, len, "\r\n\r\n", 4);

	if (crlf != NULL && (lf == NULL || crlf < lf))
		return crlf + 4;
	return lf ? lf + 2 : NULL;
}

size_t
tu_header_len(const char *msg, size_t len)
{
	const char *b = body_start(msg, len);

	return b ? (size_t)(b - msg) : 0;
}

char *
tu_outer_header(const char *msg, size_t len)
{
	const char *b = body_start(msg, len);

	ck_assert_msg(b != NULL, "no header/body separator in output");
	return strndup(msg, (size_t)(b - msg));
}

bool
tu_has_line(const char *block, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = block; p != NULL && *p != '\0'; ) {
		if (strncmp(p, line, n) == 0)
			return true;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return false;
}

char *
tu_decrypt(const char *msg, size_t len, EVP_PKEY *key, X509 *cert, size_t *inner_len)
{
	const char *b = body_start(msg, len);
	BIO *in, *b64, *out;
	CMS_ContentInfo *cms;
	char *inner = NULL, *p;
	long n;

	if (b == NULL)
		return NULL;
	in = BIO_new_mem_buf(b, (int)(len - (size_t)(b - msg)));
	b64 = BIO_new(BIO_f_base64());
	BIO_push(b64, in);
	cms = d2i_CMS_bio(b64, NULL);
	BIO_free_all(b64);
	if (cms == NULL) {
		ERR_print_errors_fp(stderr);
		return NULL;
	}
	out = BIO_new(BIO_s_mem());
	if (CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) == 1) {
		n = BIO_get_mem_data(out, &p);
		inner = malloc((size_t)n + 1);
		memcpy(inner, p, (size_t)n);
		inner[n] = '\0';
		*inner_len = (size_t)n;
	} else {
		ERR_print_errors_fp(stderr);
	}
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return inner;
}

char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return data;
}

static void
on_alarm(int sig)
{
	(void)sig;
}

int
tu_wait_child(pid_t pid, unsigned timeout)
{
	struct sigaction sa, old;
	int status = 0;
	pid_t r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: waitpid returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	alarm(timeout);
	r = waitpid(pid, &status, 0);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	if (r == pid)
		return status;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}
