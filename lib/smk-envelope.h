/* smk-envelope.h - streaming S/MIME enveloping of a mail message
 *
 * Turns an RFC 5322 message into an S/MIME message
 * (application/pkcs7-mime, CMS EnvelopedData or AuthEnvelopedData)
 * encrypted to one or more recipient certificates, in bounded memory:
 *
 *	env = smk_envelope_new(&opts, write_cb, ctx, &err);
 *	while (more input)
 *		smk_envelope_write(env, buf, len);
 *	smk_envelope_finish(env);
 *	smk_envelope_free(env);
 *
 * The outer header keeps every field but Content-* and MIME-Version; the
 * inner entity (those fields and the body, with line breaks made CRLF)
 * is encrypted, base64-encoded and handed to write_cb as it is produced.
 * A message that is already encrypted passes through byte for byte, and
 * smk_envelope_outcome() says so.
 *
 * On any error the output written so far is incomplete: the caller must
 * discard it (the Dovecot plugin fails the save; the command writes to a
 * temporary file).  Memory use is bounded by max_header_size plus a few
 * fixed buffers, whatever the size of the body.
 */
#ifndef SMK_ENVELOPE_H
#define SMK_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "smk-error.h"
#include "smk-types.h"

enum smk_cipher {
	SMK_CIPHER_AES256_CBC = 0,	/* default: opened by every stock client */
	SMK_CIPHER_AES128_CBC,
	SMK_CIPHER_AES256_GCM,		/* AuthEnvelopedData (RFC 5083/5084) */
	SMK_CIPHER_AES128_GCM,
};

enum smk_rsa_padding {
	SMK_RSA_PKCS1 = 0,	/* default: RSAES-PKCS1-v1_5 */
	SMK_RSA_OAEP,		/* RSAES-OAEP, SHA-256, MGF1-SHA-256 (RFC 3560/8017) */
};

enum smk_eol {
	SMK_EOL_AUTO = 0,	/* as the input's first line */
	SMK_EOL_LF,
	SMK_EOL_CRLF,
};

enum smk_envelope_outcome {
	SMK_ENVELOPE_UNDECIDED = 0,	/* headers not complete yet */
	SMK_ENVELOPE_ENCRYPTED,
	SMK_ENVELOPE_PASSTHROUGH,	/* already encrypted: output == input */
};

#define SMK_ENVELOPE_DEFAULT_MAX_HEADER (1024 * 1024)

struct smk_envelope_opts {
	STACK_OF(X509) *recipients;	/* RSA or EC certificates; referenced, not owned */
	enum smk_cipher cipher;
	enum smk_rsa_padding rsa_padding;
	bool protect_headers;		/* RFC 9788 header protection, hp="cipher" */
	enum smk_eol eol;
	size_t max_header_size;		/* 0: SMK_ENVELOPE_DEFAULT_MAX_HEADER */
};

struct smk_envelope;

/* Checks the options and recipients (RSA or EC keys) and takes references
 * to the certificates.  Returns NULL with err set on failure. */
struct smk_envelope *smk_envelope_new(const struct smk_envelope_opts *opts,
				      smk_write_fn *write, void *ctx,
				      struct smk_error *err);

/* Feeds input.  Returns 0, or -1 after which every call fails and
 * smk_envelope_error() tells why. */
int smk_envelope_write(struct smk_envelope *env, const void *data, size_t len);

/* Ends the input and writes the rest of the output. */
int smk_envelope_finish(struct smk_envelope *env);

void smk_envelope_free(struct smk_envelope *env);

enum smk_envelope_outcome smk_envelope_outcome(const struct smk_envelope *env);
const struct smk_error *smk_envelope_error(const struct smk_envelope *env);

/* Bytes taken in and handed out so far. */
uint64_t smk_envelope_bytes_in(const struct smk_envelope *env);
uint64_t smk_envelope_bytes_out(const struct smk_envelope *env);

/* Names used on the command line and in configuration files. */
const char *smk_cipher_name(enum smk_cipher cipher);
bool smk_cipher_from_name(const char *name, enum smk_cipher *cipher);
const char *smk_rsa_padding_name(enum smk_rsa_padding padding);
bool smk_rsa_padding_from_name(const char *name, enum smk_rsa_padding *padding);

#endif
