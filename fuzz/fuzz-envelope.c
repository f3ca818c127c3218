/* fuzz-envelope.c - libFuzzer target for the whole envelope
 *
 * Input: five control bytes, chunk sizes, then the message.
 *   byte 0: options
 *	bits 0-1 cipher, bit 2 RSA padding, bit 3 protect_headers,
 *	bits 4-5 eol (mod 3), bit 6 small max_header_size (from byte 1),
 *	bit 7 the output fails after a number of bytes (from byte 2)
 *   byte 1: max_header_size - 1, when bit 6 is set
 *   byte 2: output bytes accepted / 128, when bit 7 is set
 *   byte 3: above 200, (byte 3 - 200) * 16 more copies of the body are
 *	appended, for long streams (up to LONG_MAX_SIZE bytes in all, fed
 *	in pieces LONG_CHUNK_SCALE times the chunk sizes)
 *   byte 4: count (mod 4) of the chunk-size bytes that follow
 *
 * The message is fed in chunks of those sizes, over and over, and the
 * output is checked against the input: a passthrough must be the input
 * byte for byte; an encrypted message must have a well-formed outer
 * header, a base64 body of 76-character lines, and decrypt (with the
 * recipient key made at start-up) to an entity whose body is the input's
 * body with bare LFs made CRLF.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "smk-detect.h"
#include "smk-envelope.h"
#include "smk-header.h"

#define OPT_SMALL_HEADER 0x40
#define OPT_OUTPUT_FAILS 0x80
#define B64_LINE 76
#define LONG_MIN_BYTE 200
#define LONG_MAX_SIZE (160 * 1024)
#define LONG_CHUNK_SCALE 64	/* long streams go in pieces this much larger */

/* The one recipient, made once. */
static EVP_PKEY *recipient_key;
static X509 *recipient_cert;
static STACK_OF(X509) *recipients;

/* The output, collected by the write callback. */
struct output {
	char *data;
	size_t len, alloc;
	bool can_fail;
	size_t fail_after;	/* with can_fail: refuse to grow past this */
	bool failed;		/* the callback has returned -1 */
};

/* What the input is, found with the parsers in one go. */
struct expected {
	struct smk_header_scanner sc;
	struct smk_header_list fields;
	const char *eol;
	bool header_too_large;
	enum smk_envelope_outcome outcome;
};

/* ---- set-up ----------------------------------------------------------- */

static X509 *
make_self_signed(EVP_PKEY *key)
{
	X509 *cert = X509_new();
	X509_NAME *name;

	if (cert == NULL)
		return NULL;
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"smimekit fuzz recipient", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) ||
	    !X509_set_pubkey(cert, key) ||
	    X509_sign(cert, key, EVP_sha256()) <= 0) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	recipient_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	recipient_cert = recipient_key ? make_self_signed(recipient_key) : NULL;
	recipients = sk_X509_new_null();
	if (recipient_cert == NULL || recipients == NULL ||
	    !sk_X509_push(recipients, recipient_cert)) {
		fprintf(stderr, "fuzz-envelope: cannot make the recipient certificate\n");
		abort();
	}
	return 0;
}

/* ---- running the envelope --------------------------------------------- */

static int
output_write(void *ctx, const void *data, size_t len)
{
	struct output *out = ctx;

	FUZZ_CHECK(!out->failed);	/* nothing is written after a failure */
	if (out->can_fail && out->len + len > out->fail_after) {
		out->failed = true;
		return -1;
	}
	if (out->len + len > out->alloc) {
		size_t alloc = out->alloc ? out->alloc : 4096;
		char *p;

		while (alloc < out->len + len)
			alloc *= 2;
		p = realloc(out->data, alloc);
		FUZZ_CHECK(p != NULL);
		out->data = p;
		out->alloc = alloc;
	}
	memcpy(out->data + out->len, data, len);
	out->len += len;
	return 0;
}

/* Feeds msg[0..len) in pieces (the chunk sizes times `scale`), each in a
 * buffer of its own size.  Returns 0, or -1 with err set. */
static int
run_envelope(const struct smk_envelope_opts *opts, const char *msg, size_t len,
	     struct fuzz_split *split, size_t scale, struct output *out,
	     enum smk_envelope_outcome *outcome, struct smk_error *err)
{
	struct smk_envelope *env = smk_envelope_new(opts, output_write, out, err);
	size_t pos = 0;
	int r = 0;

	FUZZ_CHECK(env != NULL);
	FUZZ_CHECK(smk_envelope_outcome(env) == SMK_ENVELOPE_UNDECIDED);
	while (pos < len && r == 0) {
		size_t n = fuzz_split_next(split, (len - pos + scale - 1) / scale) * scale;
		char *piece;

		if (n > len - pos)
			n = len - pos;
		piece = fuzz_dup(msg + pos, n);

		r = smk_envelope_write(env, piece, n);
		fuzz_free(piece, n);
		pos += n;
	}
	if (r == 0)
		r = smk_envelope_finish(env);

	*outcome = smk_envelope_outcome(env);
	*err = *smk_envelope_error(env);
	if (r == 0) {
		FUZZ_CHECK(err->code == SMK_OK);
		FUZZ_CHECK(smk_envelope_bytes_in(env) == len);
		FUZZ_CHECK(smk_envelope_bytes_out(env) == out->len);
		/* Input after the end is refused. */
		FUZZ_CHECK(smk_envelope_write(env, "x", 1) < 0);
	} else {
		FUZZ_CHECK(err->code != SMK_OK && err->msg[0] != '\0');
		/* Once failed, every call fails. */
		FUZZ_CHECK(smk_envelope_write(env, "x", 1) < 0);
		FUZZ_CHECK(smk_envelope_finish(env) < 0);
	}
	smk_envelope_free(env);
	return r;
}

/* ---- what to expect --------------------------------------------------- */

static const char *
expected_eol(enum smk_eol eol, const char *msg, size_t len)
{
	const char *nl;

	switch (eol) {
	case SMK_EOL_LF: return "\n";
	case SMK_EOL_CRLF: return "\r\n";
	case SMK_EOL_AUTO: break;
	}
	nl = memchr(msg, '\n', len);
	return (nl != NULL && nl > msg && nl[-1] == '\r') ? "\r\n" : "\n";
}

static void
expect(struct expected *ex, const struct smk_envelope_opts *opts, const char *msg, size_t len)
{
	size_t max_header = opts->max_header_size ? opts->max_header_size
						  : SMK_ENVELOPE_DEFAULT_MAX_HEADER;
	struct smk_header_scanner limited;
	struct smk_detect d;
	struct smk_error err;
	size_t body_len;

	smk_header_scanner_init(&ex->sc);
	FUZZ_CHECK(smk_header_scan(&ex->sc, msg, len, true));

	/* The header block, with the empty line after it, must fit in
	 * max_header bytes; the envelope holds at most max_header + 1 while
	 * it looks for its end. */
	smk_header_scanner_init(&limited);
	ex->header_too_large = ex->sc.body_start > max_header ||
			       (len > max_header &&
				!smk_header_scan(&limited, msg, max_header + 1, false));
	memset(&ex->fields, 0, sizeof(ex->fields));
	FUZZ_CHECK(smk_header_parse(&ex->fields, msg + ex->sc.prefix_len,
				    ex->sc.fields_end - ex->sc.prefix_len, &err) == 0);
	ex->eol = expected_eol(opts->eol, msg, len);

	switch (smk_detect_headers(&d, &ex->fields)) {
	case SMK_DETECT_PLAIN:
		ex->outcome = SMK_ENVELOPE_ENCRYPTED;
		break;
	case SMK_DETECT_ENCRYPTED:
		ex->outcome = SMK_ENVELOPE_PASSTHROUGH;
		break;
	case SMK_DETECT_NEED_BODY:
		/* The envelope looks at no more than SMK_DETECT_BODY_MAX bytes. */
		body_len = len - ex->sc.body_start;
		if (body_len > SMK_DETECT_BODY_MAX)
			body_len = SMK_DETECT_BODY_MAX;
		ex->outcome = smk_detect_body(&d, msg + ex->sc.body_start, body_len, true) ==
			      SMK_DETECT_ENCRYPTED ? SMK_ENVELOPE_PASSTHROUGH
						   : SMK_ENVELOPE_ENCRYPTED;
		break;
	}
}

static bool
is_aead(enum smk_cipher cipher)
{
	return cipher == SMK_CIPHER_AES256_GCM || cipher == SMK_CIPHER_AES128_GCM;
}

static bool
is_outer_dropped(const struct smk_header_field *f, bool protect_headers)
{
	return protect_headers &&
	       (smk_header_name_is(f, "comments") || smk_header_name_is(f, "keywords"));
}

/* ---- checking an encrypted message ------------------------------------ */

/* Every line break in buf[0..len) is eol, and there are no NULs. */
static void
check_line_breaks(const char *buf, size_t len, const char *eol)
{
	bool crlf = strcmp(eol, "\r\n") == 0;

	for (size_t i = 0; i < len; i++) {
		FUZZ_CHECK(buf[i] != '\0');
		if (buf[i] == '\r')
			FUZZ_CHECK(crlf && i + 1 < len && buf[i + 1] == '\n');
		else if (buf[i] == '\n')
			FUZZ_CHECK(!crlf || (i > 0 && buf[i - 1] == '\r'));
	}
}

static void
check_outer_header(const struct expected *ex, const struct smk_envelope_opts *opts,
		   const char *out, const struct smk_header_scanner *sc)
{
	struct smk_header_list outer = { 0 };
	struct smk_error err;
	size_t structural = 0, others = 0, expected_others = 0;
	const struct smk_header_field *ct;
	char smime_type[64];
	bool aead = is_aead(opts->cipher);

	check_line_breaks(out, sc->body_start, ex->eol);
	FUZZ_CHECK((sc->prefix_len > 0) == (ex->sc.prefix_len > 0));
	FUZZ_CHECK(smk_header_parse(&outer, out + sc->prefix_len, sc->fields_end - sc->prefix_len,
				    &err) == 0);

	/* Our five MIME fields, and the input's others (but those dropped). */
	for (size_t i = 0; i < outer.count; i++) {
		if (smk_header_is_structural(&outer.fields[i]))
			structural++;
		else
			others++;
	}
	for (size_t i = 0; i < ex->fields.count; i++) {
		const struct smk_header_field *f = &ex->fields.fields[i];

		if (!smk_header_is_structural(f) && !is_outer_dropped(f, opts->protect_headers))
			expected_others++;
	}
	FUZZ_CHECK(structural == 5);
	FUZZ_CHECK(others == expected_others);

	ct = smk_header_find(&outer, "content-type");
	FUZZ_CHECK(ct != NULL);
	FUZZ_CHECK(smk_content_type_param(ct->value, ct->value_len, "smime-type",
					  smime_type, sizeof(smime_type)));
	FUZZ_CHECK(strcmp(smime_type, aead ? "authEnveloped-data" : "enveloped-data") == 0);
	smk_header_list_free(&outer);
}

/* Checks the base64 lines of body[0..len) and decodes them. */
static unsigned char *
decode_body(const char *body, size_t len, const char *eol, size_t *der_len)
{
	size_t eol_len = strlen(eol);
	unsigned char *der = malloc(len / 4 * 3 + 3);
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	size_t pos = 0, n = 0;
	int outl;

	FUZZ_CHECK(der != NULL && ctx != NULL);
	FUZZ_CHECK(len > 0);
	EVP_DecodeInit(ctx);
	while (pos < len) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t line_len;

		FUZZ_CHECK(nl != NULL);	/* the last line ends too */
		line_len = (size_t)(nl - (body + pos)) + 1;
		FUZZ_CHECK(line_len > eol_len);
		line_len -= eol_len;
		FUZZ_CHECK(memcmp(body + pos + line_len, eol, eol_len) == 0);
		FUZZ_CHECK(line_len > 0 && line_len % 4 == 0 && line_len <= B64_LINE);
		/* Only the last line may be short. */
		FUZZ_CHECK(line_len == B64_LINE || pos + line_len + eol_len == len);
		FUZZ_CHECK(EVP_DecodeUpdate(ctx, der + n, &outl,
					    (const unsigned char *)body + pos, (int)line_len) >= 0);
		n += (size_t)outl;
		pos += line_len + eol_len;
	}
	FUZZ_CHECK(EVP_DecodeFinal(ctx, der + n, &outl) == 1);
	n += (size_t)outl;
	EVP_ENCODE_CTX_free(ctx);
	*der_len = n;
	return der;
}

static char *
decrypt(const unsigned char *der, size_t der_len, bool aead, size_t *inner_len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *inner;
	long n;

	FUZZ_CHECK(cms != NULL && p == der + der_len);
	FUZZ_CHECK(mem != NULL);
	FUZZ_CHECK(OBJ_obj2nid(CMS_get0_type(cms)) ==
		   (aead ? NID_id_smime_ct_authEnvelopedData : NID_pkcs7_enveloped));
	if (CMS_decrypt(cms, recipient_key, recipient_cert, NULL, mem, 0) != 1) {
		ERR_print_errors_fp(stderr);
		FUZZ_CHECK(!"CMS_decrypt failed");
	}
	n = BIO_get_mem_data(mem, &data);
	FUZZ_CHECK(n >= 0);
	inner = fuzz_dup(data, (size_t)n);
	*inner_len = (size_t)n;
	BIO_free(mem);
	CMS_ContentInfo_free(cms);
	return inner;
}

/* s[0..len) with every LF not preceded by CR made CRLF. */
static char *
canonical(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(2 * len + 1);
	size_t n = 0;

	FUZZ_CHECK(out != NULL);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = s[i];
	}
	*out_len = n;
	return out;
}

/* The decrypted entity: the input's MIME fields (and with header
 * protection, its other fields too), an empty line, the input's body. */
static void
check_inner(const struct expected *ex, const struct smk_envelope_opts *opts,
	    const char *msg, size_t len, const char *inner, size_t inner_len)
{
	struct smk_header_scanner sc;
	struct smk_header_list fields = { 0 };
	struct smk_error err;
	size_t expected_count = 0, body_len;
	char *body;
	bool have_ct = false;

	/* Canonical: no bare LF anywhere. */
	for (size_t i = 0; i < inner_len; i++) {
		if (inner[i] == '\n')
			FUZZ_CHECK(i > 0 && inner[i - 1] == '\r');
	}

	smk_header_scanner_init(&sc);
	FUZZ_CHECK(smk_header_scan(&sc, inner, inner_len, true));
	FUZZ_CHECK(sc.separator);
	FUZZ_CHECK(sc.body_start - sc.fields_end == 2);

	body = canonical(msg + ex->sc.body_start, len - ex->sc.body_start, &body_len);
	FUZZ_CHECK(inner_len - sc.body_start == body_len);
	FUZZ_CHECK(memcmp(inner + sc.body_start, body, body_len) == 0);
	free(body);

	/* The fields (an inner "From :" field looks like an mbox line to the
	 * scanner, so parse from the very start). */
	FUZZ_CHECK(smk_header_parse(&fields, inner, sc.fields_end, &err) == 0);
	for (size_t i = 0; i < ex->fields.count; i++) {
		const struct smk_header_field *f = &ex->fields.fields[i];

		if (smk_header_is_structural(f)) {
			have_ct = have_ct || smk_header_name_is(f, "content-type");
			if (!smk_header_name_is(f, "mime-version"))
				expected_count++;
		} else if (opts->protect_headers) {
			expected_count++;	/* the field */
			if (!is_outer_dropped(f, true))
				expected_count++;	/* its HP-Outer */
		}
	}
	if (opts->protect_headers && !have_ct)
		expected_count++;	/* Content-Type: text/plain; hp="cipher" */
	FUZZ_CHECK(fields.count == expected_count);
	if (opts->protect_headers)
		FUZZ_CHECK(memmem(inner, sc.fields_end, "hp=\"cipher\"", 11) != NULL);
	smk_header_list_free(&fields);
}

static void
check_encrypted(const struct expected *ex, const struct smk_envelope_opts *opts,
		const char *msg, size_t len, const struct output *out)
{
	bool aead = is_aead(opts->cipher);
	struct smk_header_scanner sc;
	unsigned char *der;
	char *inner;
	size_t der_len, inner_len;

	/* A header block that ends with an empty line, then base64. */
	smk_header_scanner_init(&sc);
	FUZZ_CHECK(smk_header_scan(&sc, out->data, out->len, true));
	FUZZ_CHECK(sc.separator);
	FUZZ_CHECK(sc.body_start - sc.fields_end == strlen(ex->eol));
	check_outer_header(ex, opts, out->data, &sc);

	der = decode_body(out->data + sc.body_start, out->len - sc.body_start, ex->eol, &der_len);
	inner = decrypt(der, der_len, aead, &inner_len);
	check_inner(ex, opts, msg, len, inner, inner_len);
	fuzz_free(inner, inner_len);
	free(der);
}

/* ---- the target ------------------------------------------------------- */

/* The message, with `copies` more copies of its body appended (fewer if
 * they would not fit in LONG_MAX_SIZE).  malloc'd. */
static char *
make_message(const uint8_t *data, size_t size, size_t copies, size_t *len)
{
	struct smk_header_scanner sc;
	size_t body_len;
	char *msg;

	smk_header_scanner_init(&sc);
	smk_header_scan(&sc, (const char *)data, size, true);
	body_len = size - sc.body_start;
	if (body_len == 0 || size >= LONG_MAX_SIZE)
		copies = 0;
	else if (copies > (LONG_MAX_SIZE - size) / body_len)
		copies = (LONG_MAX_SIZE - size) / body_len;
	*len = size + copies * body_len;
	msg = malloc(*len ? *len : 1);
	FUZZ_CHECK(msg != NULL);
	if (size > 0)
		memcpy(msg, data, size);
	for (size_t i = 0; i < copies; i++)
		memcpy(msg + size + i * body_len, data + sc.body_start, body_len);
	return msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct smk_envelope_opts opts = { .recipients = recipients };
	struct output out = { 0 };
	struct expected ex;
	struct fuzz_split split;
	enum smk_envelope_outcome outcome;
	struct smk_error err;
	uint8_t flags, max_header, fail_after, long_body;
	size_t copies = 0, len;
	char *msg;
	int r;

	flags = fuzz_take_byte(&in);
	max_header = fuzz_take_byte(&in);
	fail_after = fuzz_take_byte(&in);
	long_body = fuzz_take_byte(&in);
	fuzz_split_init(&split, &in, 3);

	opts.cipher = (enum smk_cipher)(flags & 3);
	opts.rsa_padding = (flags & 4) ? SMK_RSA_OAEP : SMK_RSA_PKCS1;
	opts.protect_headers = (flags & 8) != 0;
	opts.eol = (enum smk_eol)(((flags >> 4) & 3) % 3);
	if (flags & OPT_SMALL_HEADER)
		opts.max_header_size = (size_t)max_header + 1;
	out.can_fail = (flags & OPT_OUTPUT_FAILS) != 0;
	out.fail_after = (size_t)fail_after * 128;
	if (long_body > LONG_MIN_BYTE)
		copies = (size_t)(long_body - LONG_MIN_BYTE) * 16;
	msg = make_message(in.data, in.size, copies, &len);

	r = run_envelope(&opts, msg, len, &split, copies ? LONG_CHUNK_SCALE : 1, &out,
			 &outcome, &err);

	expect(&ex, &opts, msg, len);
	if (out.failed) {
		FUZZ_CHECK(r < 0 && err.code == SMK_ERR_IO);
	} else if (ex.header_too_large) {
		FUZZ_CHECK(r < 0 && err.code == SMK_ERR_MESSAGE);
	} else {
		if (r < 0)
			fprintf(stderr, "envelope failed: %s\n", err.msg);
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(outcome == ex.outcome);
		if (outcome == SMK_ENVELOPE_PASSTHROUGH)
			FUZZ_CHECK(out.len == len &&
				   (len == 0 || memcmp(out.data, msg, len) == 0));
		else
			check_encrypted(&ex, &opts, msg, len, &out);
	}

	smk_header_list_free(&ex.fields);
	free(msg);
	free(out.data);
	ERR_clear_error();
	return 0;
}
