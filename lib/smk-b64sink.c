/* smk-b64sink.c - a BIO sink that base64-encodes into MIME lines */
#include "config.h"

#include "smk-b64sink.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define LINE_IN 57	/* bytes per line: 57 -> 76 characters (RFC 2045 maximum) */
#define LINE_OUT 76
#define OUT_BUF 16384

struct b64_sink {
	smk_write_fn *write;
	void *ctx;
	char eol[3];
	size_t eol_len;
	unsigned char pend[LINE_IN];
	size_t npend;
	unsigned char out[OUT_BUF];
	size_t nout;
	bool failed;
};

static BIO_METHOD *sink_method;
static CRYPTO_ONCE sink_once = CRYPTO_ONCE_STATIC_INIT;

static int
sink_flush_out(struct b64_sink *s)
{
	if (s->nout > 0 && !s->failed) {
		if (s->write(s->ctx, s->out, s->nout) < 0)
			s->failed = true;
	}
	s->nout = 0;
	return s->failed ? -1 : 0;
}

/* Base64 (RFC 4648) with a table of character pairs: two lookups per
 * three bytes.  OpenSSL's EVP_EncodeBlock is a byte-at-a-time encoder and
 * was a quarter of the envelope's time. */
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static unsigned char b64_pairs[4096][2];

static void
b64_pairs_init(void)
{
	for (int i = 0; i < 4096; i++) {
		b64_pairs[i][0] = (unsigned char)b64_alphabet[i >> 6];
		b64_pairs[i][1] = (unsigned char)b64_alphabet[i & 63];
	}
}

static size_t
b64_encode(unsigned char *o, const unsigned char *in, size_t len)
{
	unsigned char *start = o;

	for (; len >= 3; len -= 3, in += 3, o += 4) {
		uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

		memcpy(o, b64_pairs[v >> 12], 2);
		memcpy(o + 2, b64_pairs[v & 0xfff], 2);
	}
	if (len > 0) {
		uint32_t v = (uint32_t)in[0] << 16 | (len > 1 ? (uint32_t)in[1] << 8 : 0);

		o[0] = (unsigned char)b64_alphabet[v >> 18];
		o[1] = (unsigned char)b64_alphabet[(v >> 12) & 63];
		o[2] = len > 1 ? (unsigned char)b64_alphabet[(v >> 6) & 63] : '=';
		o[3] = '=';
		o += 4;
	}
	return (size_t)(o - start);
}

static int
sink_emit_line(struct b64_sink *s, const unsigned char *in, size_t len)
{
	if (s->nout + LINE_OUT + s->eol_len > sizeof(s->out) && sink_flush_out(s) < 0)
		return -1;
	s->nout += b64_encode(s->out + s->nout, in, len);
	memcpy(s->out + s->nout, s->eol, s->eol_len);
	s->nout += s->eol_len;
	return 0;
}

static int
sink_write_ex(BIO *b, const char *data, size_t len, size_t *written)
{
	struct b64_sink *s = BIO_get_data(b);
	const unsigned char *p = (const unsigned char *)data;
	size_t left = len;

	*written = 0;
	if (s->failed)
		return 0;

	if (s->npend > 0) {
		size_t take = LINE_IN - s->npend;

		if (take > left)
			take = left;
		memcpy(s->pend + s->npend, p, take);
		s->npend += take;
		p += take;
		left -= take;
		if (s->npend < LINE_IN) {
			*written = len;
			return 1;
		}
		if (sink_emit_line(s, s->pend, LINE_IN) < 0)
			return 0;
		s->npend = 0;
	}
	while (left >= LINE_IN) {
		if (sink_emit_line(s, p, LINE_IN) < 0)
			return 0;
		p += LINE_IN;
		left -= LINE_IN;
	}
	memcpy(s->pend, p, left);
	s->npend = left;
	*written = len;
	return 1;
}

static long
sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct b64_sink *s = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		/* Only whole lines: the stream goes on until finish. */
		return sink_flush_out(s) < 0 ? 0 : 1;
	case BIO_CTRL_PENDING:
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int
sink_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
sink_destroy(BIO *b)
{
	struct b64_sink *s = BIO_get_data(b);

	free(s);	/* holds ciphertext only */
	BIO_set_data(b, NULL);
	return 1;
}

static void
sink_method_init(void)
{
	BIO_METHOD *m;

	b64_pairs_init();
	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "smimekit base64 sink");
	if (m == NULL)
		return;
	if (!BIO_meth_set_write_ex(m, sink_write_ex) ||
	    !BIO_meth_set_ctrl(m, sink_ctrl) ||
	    !BIO_meth_set_create(m, sink_create) ||
	    !BIO_meth_set_destroy(m, sink_destroy)) {
		BIO_meth_free(m);
		return;
	}
	sink_method = m;
}

BIO *
smk_b64_sink_new(smk_write_fn *write, void *ctx, const char *eol)
{
	struct b64_sink *s;
	BIO *b;

	if (!CRYPTO_THREAD_run_once(&sink_once, sink_method_init) || sink_method == NULL)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->write = write;
	s->ctx = ctx;
	s->eol_len = strlen(eol) < sizeof(s->eol) ? strlen(eol) : sizeof(s->eol) - 1;
	memcpy(s->eol, eol, s->eol_len);

	b = BIO_new(sink_method);
	if (b == NULL) {
		free(s);
		return NULL;
	}
	BIO_set_data(b, s);
	return b;
}

int
smk_b64_sink_finish(BIO *sink)
{
	struct b64_sink *s = BIO_get_data(sink);

	if (s->failed)
		return -1;
	if (s->npend > 0) {
		if (sink_emit_line(s, s->pend, s->npend) < 0)
			return -1;
		s->npend = 0;
	}
	return sink_flush_out(s);
}

bool
smk_b64_sink_failed(BIO *sink)
{
	struct b64_sink *s = BIO_get_data(sink);

	return s == NULL || s->failed;
}
