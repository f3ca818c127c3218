/* smk-envelope.c - streaming S/MIME enveloping of a mail message
 *
 * The pipeline, once the header block is known and the message is to be
 * encrypted:
 *
 *   input -> CRLF canonicaliser -> staging buffer
 *         -> BIO_new_CMS chain (cipher BIO -> ASN.1 NDEF BIO)
 *         -> base64 sink -> write callback
 *
 * Before that, the header block is collected (bounded by
 * max_header_size), split into fields, and the message is classified:
 * already encrypted messages pass through untouched.
 */
#include "config.h"

#include "smk-envelope.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>

#include "smk-b64sink.h"
#include "smk-detect.h"
#include "smk-header.h"
#include "smk-util.h"

#define STAGE_SIZE (64 * 1024)	/* plaintext handed to the CMS BIO at once */
#define HEADER_CHUNK (64 * 1024)	/* header bytes appended per step */

enum state {
	ST_HEADER,	/* collecting the header block */
	ST_SNIFF,	/* collecting the start of the body to classify it */
	ST_PASS,	/* copying input to output */
	ST_ENCRYPT,	/* streaming into CMS */
	ST_DONE,
	ST_FAILED,
};

struct smk_envelope {
	enum smk_cipher cipher;
	enum smk_rsa_padding rsa_padding;
	bool protect_headers;
	enum smk_eol eol_opt;
	size_t max_header;
	STACK_OF(X509) *recipients;	/* our references */

	smk_write_fn *write;
	void *ctx;

	enum state state;
	enum smk_envelope_outcome outcome;
	struct smk_error err;
	uint64_t bytes_in, bytes_out;

	/* Header phase: the header block and, in ST_SNIFF, the start of the body. */
	char *hbuf;
	size_t hlen, halloc;
	struct smk_header_scanner sc;
	struct smk_header_list fields;
	struct smk_detect detect;
	const char *eol;

	/* Encrypt phase. */
	CMS_ContentInfo *cms;
	BIO *chain;	/* head of the BIO_new_CMS chain; owns sink while set */
	BIO *sink;
	unsigned char *stage;
	size_t nstage;
	size_t stage_used;	/* high-water mark: what holds plaintext */
	bool last_cr;	/* the last canonicalised byte was '\r' */
};

static const struct {
	enum smk_cipher id;
	const char *name;	/* our name and OpenSSL's */
	bool aead;
} ciphers[] = {
	{ SMK_CIPHER_AES256_CBC, "aes-256-cbc", false },
	{ SMK_CIPHER_AES128_CBC, "aes-128-cbc", false },
	{ SMK_CIPHER_AES256_GCM, "aes-256-gcm", true },
	{ SMK_CIPHER_AES128_GCM, "aes-128-gcm", true },
};

const char *
smk_cipher_name(enum smk_cipher cipher)
{
	for (size_t i = 0; i < SMK_N_ELEMENTS(ciphers); i++) {
		if (ciphers[i].id == cipher)
			return ciphers[i].name;
	}
	return NULL;
}

bool
smk_cipher_from_name(const char *name, enum smk_cipher *cipher)
{
	for (size_t i = 0; i < SMK_N_ELEMENTS(ciphers); i++) {
		if (smk_ascii_eq_n(name, strlen(name), ciphers[i].name, strlen(ciphers[i].name))) {
			*cipher = ciphers[i].id;
			return true;
		}
	}
	return false;
}

static bool
cipher_is_aead(enum smk_cipher cipher)
{
	for (size_t i = 0; i < SMK_N_ELEMENTS(ciphers); i++) {
		if (ciphers[i].id == cipher)
			return ciphers[i].aead;
	}
	return false;
}

const char *
smk_rsa_padding_name(enum smk_rsa_padding padding)
{
	switch (padding) {
	case SMK_RSA_PKCS1: return "pkcs1";
	case SMK_RSA_OAEP: return "oaep";
	}
	return NULL;
}

bool
smk_rsa_padding_from_name(const char *name, enum smk_rsa_padding *padding)
{
	if (smk_ascii_eq_n(name, strlen(name), "pkcs1", 5)) {
		*padding = SMK_RSA_PKCS1;
		return true;
	}
	if (smk_ascii_eq_n(name, strlen(name), "oaep", 4)) {
		*padding = SMK_RSA_OAEP;
		return true;
	}
	return false;
}

/* ---- errors and output ------------------------------------------------ */

static int
fail(struct smk_envelope *env)
{
	env->state = ST_FAILED;
	return -1;
}

static int
out_write(struct smk_envelope *env, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (env->write(env->ctx, data, len) < 0) {
		smk_error_set(&env->err, SMK_ERR_IO, "writing the S/MIME output failed");
		return fail(env);
	}
	env->bytes_out += len;
	return 0;
}

static int
out_str(struct smk_envelope *env, const char *s)
{
	return out_write(env, s, strlen(s));
}

/* The sink's callback: counts what the encrypted part adds. */
static int
sink_write(void *ctx, const void *data, size_t len)
{
	struct smk_envelope *env = ctx;

	if (env->write(env->ctx, data, len) < 0)
		return -1;
	env->bytes_out += len;
	return 0;
}

/* ---- set-up ----------------------------------------------------------- */

static int hbuf_append(struct smk_envelope *env, const char *data, size_t len);

static int
check_recipient(X509 *cert, size_t idx, struct smk_error *err)
{
	EVP_PKEY *pkey = X509_get0_pubkey(cert);
	char subject[256];

	X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	if (pkey == NULL)
		return smk_error_set_ossl(err, SMK_ERR_CERT,
			"recipient %zu (%s): unreadable public key", idx + 1, subject);
	if (!EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "EC"))
		return smk_error_set(err, SMK_ERR_CERT,
			"recipient %zu (%s): key type %s cannot receive encrypted mail (need RSA or EC)",
			idx + 1, subject, EVP_PKEY_get0_type_name(pkey));
	return 0;
}

struct smk_envelope *
smk_envelope_new(const struct smk_envelope_opts *opts, smk_write_fn *write, void *ctx,
		 struct smk_error *err)
{
	struct smk_envelope *env;
	int n;

	smk_error_clear(err);
	if (opts == NULL || write == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "envelope: missing options or output");
		return NULL;
	}
	n = opts->recipients ? sk_X509_num(opts->recipients) : 0;
	if (n <= 0) {
		smk_error_set(err, SMK_ERR_INVALID, "envelope: no recipient certificate");
		return NULL;
	}
	if (smk_cipher_name(opts->cipher) == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "envelope: unknown cipher");
		return NULL;
	}
	if (smk_rsa_padding_name(opts->rsa_padding) == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "envelope: unknown RSA padding");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		if (check_recipient(sk_X509_value(opts->recipients, i), (size_t)i, err) < 0)
			return NULL;
	}

	env = calloc(1, sizeof(*env));
	if (env == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "envelope: out of memory");
		return NULL;
	}
	env->recipients = X509_chain_up_ref(opts->recipients);
	if (env->recipients == NULL) {
		free(env);
		smk_error_set(err, SMK_ERR_NOMEM, "envelope: out of memory");
		return NULL;
	}
	env->cipher = opts->cipher;
	env->rsa_padding = opts->rsa_padding;
	env->protect_headers = opts->protect_headers;
	env->eol_opt = opts->eol;
	env->max_header = opts->max_header_size ? opts->max_header_size
						: SMK_ENVELOPE_DEFAULT_MAX_HEADER;
	env->write = write;
	env->ctx = ctx;
	env->state = ST_HEADER;
	smk_header_scanner_init(&env->sc);
	if (hbuf_append(env, "", 0) < 0) {
		*err = env->err;
		smk_envelope_free(env);
		return NULL;
	}
	return env;
}

static void
release_header(struct smk_envelope *env)
{
	smk_header_list_free(&env->fields);
	free(env->hbuf);
	env->hbuf = NULL;
	env->hlen = env->halloc = 0;
}

static void
release_cms(struct smk_envelope *env)
{
	if (env->chain != NULL) {
		BIO_free_all(env->chain);	/* includes the sink */
		env->chain = NULL;
		env->sink = NULL;
	}
	BIO_free(env->sink);
	env->sink = NULL;
	CMS_ContentInfo_free(env->cms);
	env->cms = NULL;
	if (env->stage != NULL) {
		OPENSSL_cleanse(env->stage, env->stage_used);	/* plaintext */
		free(env->stage);
		env->stage = NULL;
	}
}

void
smk_envelope_free(struct smk_envelope *env)
{
	if (env == NULL)
		return;
	release_cms(env);
	if (env->hbuf != NULL)
		OPENSSL_cleanse(env->hbuf, env->halloc);
	release_header(env);
	sk_X509_pop_free(env->recipients, X509_free);
	free(env);
}

enum smk_envelope_outcome
smk_envelope_outcome(const struct smk_envelope *env)
{
	return env->outcome;
}

const struct smk_error *
smk_envelope_error(const struct smk_envelope *env)
{
	return &env->err;
}

uint64_t
smk_envelope_bytes_in(const struct smk_envelope *env)
{
	return env->bytes_in;
}

uint64_t
smk_envelope_bytes_out(const struct smk_envelope *env)
{
	return env->bytes_out;
}

/* ---- plaintext into CMS ----------------------------------------------- */

static int
stage_flush(struct smk_envelope *env)
{
	size_t off = 0;

	while (off < env->nstage) {
		int r = BIO_write(env->chain, env->stage + off, (int)(env->nstage - off));

		if (r <= 0) {
			if (env->sink != NULL && smk_b64_sink_failed(env->sink))
				smk_error_set(&env->err, SMK_ERR_IO, "writing the S/MIME output failed");
			else
				smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO, "encrypting the message failed");
			return fail(env);
		}
		off += (size_t)r;
	}
	env->nstage = 0;
	return 0;
}

static void
stage_grew(struct smk_envelope *env, size_t n)
{
	env->nstage += n;
	if (env->nstage > env->stage_used)
		env->stage_used = env->nstage;
}

/* Writes data with every bare LF turned into CRLF (RFC 5652/8551 canonical
 * form); lone CRs and all other bytes are kept.  Copies straight into the
 * staging buffer, a line at a time. */
static int
canon_write(struct smk_envelope *env, const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		unsigned char *o = env->stage + env->nstage;
		size_t room = STAGE_SIZE - env->nstage, seg;
		const char *nl;

		if (room < 2) {	/* a line break may take two bytes */
			if (stage_flush(env) < 0)
				return -1;
			continue;
		}
		seg = (size_t)(end - p);
		if (seg > room - 1)
			seg = room - 1;
		nl = memchr(p, '\n', seg);
		if (nl == NULL) {
			memcpy(o, p, seg);
			stage_grew(env, seg);
			env->last_cr = p[seg - 1] == '\r';
			p += seg;
			continue;
		}
		seg = (size_t)(nl - p);
		memcpy(o, p, seg);
		o += seg;
		if (!(seg > 0 ? p[seg - 1] == '\r' : env->last_cr))
			*o++ = '\r';
		*o++ = '\n';
		stage_grew(env, (size_t)(o - (env->stage + env->nstage)));
		env->last_cr = false;
		p = nl + 1;
	}
	return 0;
}

static int
canon_str(struct smk_envelope *env, const char *s)
{
	return canon_write(env, s, strlen(s));
}

/* ---- the encrypted entity --------------------------------------------- */

static int
build_cms(struct smk_envelope *env)
{
	const char *cipher_name = smk_cipher_name(env->cipher);
	EVP_CIPHER *cipher;
	int n = sk_X509_num(env->recipients);

	cipher = EVP_CIPHER_fetch(NULL, cipher_name, NULL);
	if (cipher == NULL)
		return smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO,
					  "cipher %s is not available", cipher_name);

	/* CMS_encrypt_ex makes AuthEnvelopedData for AEAD ciphers. */
	env->cms = CMS_encrypt_ex(NULL, NULL, cipher, CMS_BINARY | CMS_PARTIAL | CMS_STREAM,
				  NULL, NULL);
	EVP_CIPHER_free(cipher);
	if (env->cms == NULL)
		return smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO,
					  "cannot create CMS structure for %s", cipher_name);

	for (int i = 0; i < n; i++) {
		X509 *cert = sk_X509_value(env->recipients, i);
		CMS_RecipientInfo *ri;
		EVP_PKEY_CTX *pctx;
		int ok = 1;

		ri = CMS_add1_recipient_cert(env->cms, cert, CMS_KEY_PARAM);
		if (ri == NULL)
			return smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO,
						  "cannot add recipient %d", i + 1);
		pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:	/* RSA key transport */
			if (env->rsa_padding == SMK_RSA_OAEP) {
				ok = pctx != NULL &&
				     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
				     EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
				     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
			}
			break;
		case CMS_RECIPINFO_AGREE:	/* ECDH, dhSinglePass-stdDH-sha256kdf */
			ok = pctx != NULL && EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0;
			break;
		default:
			break;
		}
		if (!ok)
			return smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO,
						  "cannot set key parameters for recipient %d", i + 1);
	}

	env->sink = smk_b64_sink_new(sink_write, env, env->eol);
	if (env->sink == NULL)
		return smk_error_set(&env->err, SMK_ERR_NOMEM, "out of memory");
	env->chain = BIO_new_CMS(env->sink, env->cms);
	if (env->chain == NULL)
		return smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO, "cannot start CMS encryption");
	env->stage = malloc(STAGE_SIZE);
	if (env->stage == NULL)
		return smk_error_set(&env->err, SMK_ERR_NOMEM, "out of memory");
	return 0;
}

/* Writes one outer header field with its line breaks made `eol`, NULs and
 * bare CRs made blanks, so the outer header is always well-formed. */
static int
out_field(struct smk_envelope *env, const char *raw, size_t len)
{
	char buf[1024];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		const char *emit = NULL;

		if (c == '\n') {
			emit = env->eol;
		} else if (c == '\r') {
			if (i + 1 < len && raw[i + 1] == '\n')
				continue;
			c = ' ';
		} else if (c == '\0') {
			c = ' ';
		}
		if (n + 2 >= sizeof(buf)) {
			if (out_write(env, buf, n) < 0)
				return -1;
			n = 0;
		}
		if (emit != NULL) {
			memcpy(buf + n, emit, strlen(emit));
			n += strlen(emit);
		} else {
			buf[n++] = c;
		}
	}
	if (len == 0 || raw[len - 1] != '\n') {	/* a last line without break */
		memcpy(buf + n, env->eol, strlen(env->eol));
		n += strlen(env->eol);
	}
	return out_write(env, buf, n);
}

/* RFC 9788 hcp_baseline: what the outer copy of a field becomes.
 * Returns NULL to drop the field, "" to copy it, else a replacement value. */
static const char *
outer_value(const struct smk_envelope *env, const struct smk_header_field *f)
{
	if (!env->protect_headers)
		return "";
	if (smk_header_name_is(f, "subject"))
		return " [...]";
	if (smk_header_name_is(f, "comments") || smk_header_name_is(f, "keywords"))
		return NULL;
	return "";
}

static int
write_outer_header(struct smk_envelope *env)
{
	const bool aead = cipher_is_aead(env->cipher);
	const char *eol = env->eol;

	if (env->sc.prefix_len > 0 && out_field(env, env->hbuf, env->sc.prefix_len) < 0)
		return -1;
	for (size_t i = 0; i < env->fields.count; i++) {
		const struct smk_header_field *f = &env->fields.fields[i];
		const char *v;

		if (smk_header_is_structural(f))
			continue;
		v = outer_value(env, f);
		if (v == NULL)
			continue;
		if (*v == '\0') {
			if (out_field(env, f->raw, f->raw_len) < 0)
				return -1;
		} else if (out_write(env, f->name, f->name_len) < 0 ||
			   out_str(env, ":") < 0 || out_str(env, v) < 0 || out_str(env, eol) < 0) {
			return -1;
		}
	}
	if (out_str(env, "MIME-Version: 1.0") < 0 || out_str(env, eol) < 0 ||
	    out_str(env, "Content-Type: application/pkcs7-mime; smime-type=") < 0 ||
	    out_str(env, aead ? "authEnveloped-data;" : "enveloped-data;") < 0 ||
	    out_str(env, eol) < 0 ||
	    out_str(env, "\tname=\"smime.p7m\"") < 0 || out_str(env, eol) < 0 ||
	    out_str(env, "Content-Transfer-Encoding: base64") < 0 || out_str(env, eol) < 0 ||
	    out_str(env, "Content-Disposition: attachment; filename=\"smime.p7m\"") < 0 ||
	    out_str(env, eol) < 0 ||
	    out_str(env, "Content-Description: S/MIME Encrypted Message") < 0 ||
	    out_str(env, eol) < 0 || out_str(env, eol) < 0)
		return -1;
	return 0;
}

/* Writes a field into the encrypted entity, making sure it ends in CRLF. */
static int
canon_field(struct smk_envelope *env, const char *raw, size_t len)
{
	if (canon_write(env, raw, len) < 0)
		return -1;
	if (len == 0 || raw[len - 1] != '\n')
		return canon_str(env, "\r\n");
	return 0;
}

static size_t
strip_eol(const char *raw, size_t len)
{
	if (len > 0 && raw[len - 1] == '\n')
		len--;
	if (len > 0 && raw[len - 1] == '\r')
		len--;
	return len;
}

static int
write_inner_header(struct smk_envelope *env)
{
	bool have_ct = false;

	if (env->protect_headers) {
		/* Every non-structural field goes inside ... */
		for (size_t i = 0; i < env->fields.count; i++) {
			const struct smk_header_field *f = &env->fields.fields[i];

			if (!smk_header_is_structural(f) && canon_field(env, f->raw, f->raw_len) < 0)
				return -1;
		}
		/* ... with HP-Outer recording what the outer header shows. */
		for (size_t i = 0; i < env->fields.count; i++) {
			const struct smk_header_field *f = &env->fields.fields[i];
			const char *v;

			if (smk_header_is_structural(f) || (v = outer_value(env, f)) == NULL)
				continue;
			if (canon_str(env, "HP-Outer: ") < 0 ||
			    canon_write(env, f->name, f->name_len) < 0 || canon_str(env, ":") < 0)
				return -1;
			if (*v != '\0' ? canon_str(env, v) < 0
				       : canon_write(env, f->value, f->value_len) < 0)
				return -1;
			if (canon_str(env, "\r\n") < 0)
				return -1;
		}
	}

	for (size_t i = 0; i < env->fields.count; i++) {
		const struct smk_header_field *f = &env->fields.fields[i];

		if (!smk_header_is_structural(f) || smk_header_name_is(f, "mime-version"))
			continue;
		if (env->protect_headers && smk_header_name_is(f, "content-type") && !have_ct) {
			have_ct = true;
			if (canon_write(env, f->raw, strip_eol(f->raw, f->raw_len)) < 0 ||
			    canon_str(env, "; hp=\"cipher\"\r\n") < 0)
				return -1;
			continue;
		}
		if (canon_field(env, f->raw, f->raw_len) < 0)
			return -1;
	}
	if (env->protect_headers && !have_ct &&
	    canon_str(env, "Content-Type: text/plain; hp=\"cipher\"\r\n") < 0)
		return -1;
	return canon_str(env, "\r\n");
}

static const char *
detect_eol(const struct smk_envelope *env)
{
	const char *nl;

	switch (env->eol_opt) {
	case SMK_EOL_LF: return "\n";
	case SMK_EOL_CRLF: return "\r\n";
	case SMK_EOL_AUTO: break;
	}
	nl = memchr(env->hbuf, '\n', env->hlen);
	return (nl != NULL && nl > env->hbuf && nl[-1] == '\r') ? "\r\n" : "\n";
}

static int
start_encrypt(struct smk_envelope *env)
{
	size_t body_start = env->sc.body_start;

	env->outcome = SMK_ENVELOPE_ENCRYPTED;
	if (build_cms(env) < 0)
		return fail(env);
	if (write_outer_header(env) < 0 || write_inner_header(env) < 0)
		return fail(env);
	/* A block that ended without an empty line has no separator to drop:
	 * the body starts at the line that ended it. */
	if (canon_write(env, env->hbuf + body_start, env->hlen - body_start) < 0)
		return fail(env);
	OPENSSL_cleanse(env->hbuf, env->halloc);
	release_header(env);
	env->state = ST_ENCRYPT;
	return 0;
}

static int
start_passthrough(struct smk_envelope *env)
{
	env->outcome = SMK_ENVELOPE_PASSTHROUGH;
	if (out_write(env, env->hbuf, env->hlen) < 0)
		return -1;
	release_header(env);
	env->state = ST_PASS;
	return 0;
}

/* The start of the body is in hbuf[body_start..hlen): decide if we can. */
static int
sniff_step(struct smk_envelope *env, bool final)
{
	size_t body_start = env->sc.body_start;

	switch (smk_detect_body(&env->detect, env->hbuf + body_start, env->hlen - body_start, final)) {
	case SMK_DETECT_ENCRYPTED:
		return start_passthrough(env);
	case SMK_DETECT_PLAIN:
		return start_encrypt(env);
	case SMK_DETECT_NEED_BODY:
		break;
	}
	return 0;
}

static int
headers_done(struct smk_envelope *env, bool final)
{
	size_t prefix = env->sc.prefix_len;

	if (env->sc.body_start > env->max_header) {
		smk_error_set(&env->err, SMK_ERR_MESSAGE,
			      "message header block is larger than %zu bytes", env->max_header);
		return fail(env);
	}
	env->eol = detect_eol(env);
	if (smk_header_parse(&env->fields, env->hbuf + prefix, env->sc.fields_end - prefix,
			     &env->err) < 0)
		return fail(env);

	switch (smk_detect_headers(&env->detect, &env->fields)) {
	case SMK_DETECT_ENCRYPTED:
		return start_passthrough(env);
	case SMK_DETECT_PLAIN:
		return start_encrypt(env);
	case SMK_DETECT_NEED_BODY:
		env->state = ST_SNIFF;
		return sniff_step(env, final);
	}
	return 0;
}

static int
hbuf_append(struct smk_envelope *env, const char *data, size_t len)
{
	if (env->hbuf == NULL || env->hlen + len > env->halloc) {
		size_t alloc = env->halloc ? env->halloc : 4096;
		char *p;

		while (alloc < env->hlen + len)
			alloc *= 2;
		p = malloc(alloc);
		if (p == NULL) {
			smk_error_set(&env->err, SMK_ERR_NOMEM, "out of memory reading the header");
			return fail(env);
		}
		/* Copy rather than realloc so no stale plaintext is left behind. */
		if (env->hbuf != NULL) {
			memcpy(p, env->hbuf, env->hlen);
			/* Parsed fields (ST_SNIFF) point into hbuf: move them too. */
			for (size_t i = 0; i < env->fields.count; i++) {
				struct smk_header_field *f = &env->fields.fields[i];

				f->name = p + (f->name - env->hbuf);
				f->value = p + (f->value - env->hbuf);
				f->raw = p + (f->raw - env->hbuf);
			}
			OPENSSL_cleanse(env->hbuf, env->halloc);
			free(env->hbuf);
		}
		env->hbuf = p;
		env->halloc = alloc;
	}
	memcpy(env->hbuf + env->hlen, data, len);
	env->hlen += len;
	return 0;
}

static int
check_state(struct smk_envelope *env)
{
	if (env->state == ST_FAILED)
		return -1;
	if (env->state == ST_DONE) {
		smk_error_set(&env->err, SMK_ERR_STATE, "envelope: input after finish");
		return fail(env);
	}
	return 0;
}

int
smk_envelope_write(struct smk_envelope *env, const void *data, size_t len)
{
	const char *p = data;

	if (check_state(env) < 0)
		return -1;
	env->bytes_in += len;

	while (len > 0 && (env->state == ST_HEADER || env->state == ST_SNIFF)) {
		size_t limit = env->state == ST_HEADER
			? env->max_header + 1
			: env->sc.body_start + SMK_DETECT_BODY_MAX;
		size_t take = limit > env->hlen ? limit - env->hlen : 0;

		if (env->state == ST_SNIFF && take == 0) {
			/* Seen all the detector may look at. */
			if (sniff_step(env, true) < 0)
				return -1;
			continue;
		}
		if (take > len)
			take = len;
		if (take > HEADER_CHUNK)
			take = HEADER_CHUNK;
		if (hbuf_append(env, p, take) < 0)
			return -1;
		p += take;
		len -= take;

		if (env->state == ST_SNIFF) {
			if (sniff_step(env, false) < 0)
				return -1;
		} else if (smk_header_scan(&env->sc, env->hbuf, env->hlen, false)) {
			if (headers_done(env, false) < 0)
				return -1;
		} else if (env->hlen > env->max_header) {
			smk_error_set(&env->err, SMK_ERR_MESSAGE,
				      "message header block is larger than %zu bytes", env->max_header);
			return fail(env);
		}
	}
	if (len == 0)
		return 0;

	switch (env->state) {
	case ST_PASS:
		return out_write(env, p, len);
	case ST_ENCRYPT:
		return canon_write(env, p, len);
	default:
		return -1;	/* ST_FAILED: error already set */
	}
}

static int
finish_encrypt(struct smk_envelope *env)
{
	BIO *b;

	if (env->nstage > 0 && stage_flush(env) < 0)
		return -1;
	if (BIO_flush(env->chain) <= 0) {
		if (smk_b64_sink_failed(env->sink))
			smk_error_set(&env->err, SMK_ERR_IO, "writing the S/MIME output failed");
		else
			smk_error_set_ossl(&env->err, SMK_ERR_CRYPTO, "finishing the CMS structure failed");
		return fail(env);
	}
	/* Free the CMS BIOs down to (not including) the sink. */
	b = env->chain;
	while (b != env->sink) {
		BIO *next = BIO_pop(b);

		BIO_free(b);
		b = next;
	}
	env->chain = NULL;
	if (smk_b64_sink_finish(env->sink) < 0) {
		smk_error_set(&env->err, SMK_ERR_IO, "writing the S/MIME output failed");
		return fail(env);
	}
	release_cms(env);
	return 0;
}

int
smk_envelope_finish(struct smk_envelope *env)
{
	if (check_state(env) < 0)
		return -1;

	if (env->state == ST_HEADER) {
		smk_header_scan(&env->sc, env->hbuf, env->hlen, true);
		if (headers_done(env, true) < 0)
			return -1;
	}
	if (env->state == ST_SNIFF && sniff_step(env, true) < 0)
		return -1;

	if (env->state == ST_ENCRYPT && finish_encrypt(env) < 0)
		return -1;
	if (env->state == ST_FAILED)
		return -1;
	env->state = ST_DONE;
	return 0;
}
