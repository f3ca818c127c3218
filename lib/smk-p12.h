/* smk-p12.h - strong PKCS#12 for escrowed and imported keys
 *
 * The blobs smimekit writes (escrow values in the directory's userPKCS12,
 * keys of a directory token) are PKCS#12 that stock tools open
 * (`openssl pkcs12`, NSS's pk12util), protected by the user's PIN:
 *
 *   - the private key in a pkcs8ShroudedKeyBag, PBES2 with AES-256-CBC and
 *     PBKDF2-HMAC-SHA256 at SMK_P12_ITER iterations;
 *   - the certificates in the clear (they are public, and leaving them
 *     unencrypted saves a key derivation at every login);
 *   - a SHA-256 MAC over the whole, also at SMK_P12_ITER iterations.
 *
 * Decoding reads any PKCS#12 OpenSSL 3's default provider opens (the
 * legacy PBE-SHA1-3DES ones too) and tells a wrong password apart from a
 * damaged blob.  PINs and passwords are byte strings with a length (no
 * NUL inside); nothing here logs or keeps them.
 */
#ifndef SMK_P12_H
#define SMK_P12_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "smk-error.h"

/* PBKDF2 iterations of the key bag and of the MAC: OWASP's 2023 figure
 * for PBKDF2-HMAC-SHA256.  About 0.3 s per derivation here. */
#define SMK_P12_ITER 600000

/* The largest PKCS#12 accepted (a key, a few certificates). */
#define SMK_P12_MAX (256 * 1024)

enum smk_p12_status {
	SMK_P12_OK = 0,
	SMK_P12_BAD_PASSWORD,	/* the MAC (or the key's decryption) refused the password */
	SMK_P12_ERROR,		/* not a PKCS#12, damaged, no key, out of memory */
};

/* Encodes key (required), cert and extra (may be NULL) under pin, with
 * label as the friendlyName (NULL: none).  *out is OPENSSL_malloc'd DER
 * (free with OPENSSL_free). */
enum smk_p12_status smk_p12_encode(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *extra,
				   const char *label, const char *pin, size_t pin_len,
				   unsigned char **out, size_t *out_len, struct smk_error *err);

/* What a PKCS#12 holds. */
struct smk_p12_content {
	EVP_PKEY *key;		/* the first private key */
	X509 *cert;		/* its certificate (same public key), or NULL */
	STACK_OF(X509) *extra;	/* every other certificate (never NULL on success) */
	char *label;		/* friendlyName of the key (or its certificate), or NULL */
};

/* Decodes der with password pass.  A wrong password gives
 * SMK_P12_BAD_PASSWORD and nothing else; a blob without a private key is
 * SMK_P12_ERROR.  On success fills c (release with smk_p12_content_free). */
enum smk_p12_status smk_p12_decode(const unsigned char *der, size_t len, const char *pass,
				   size_t pass_len, struct smk_p12_content *c,
				   struct smk_error *err);

void smk_p12_content_free(struct smk_p12_content *c);

/* Decodes der with old and encodes its content under new_pin (the label
 * and every certificate kept). */
enum smk_p12_status smk_p12_reencrypt(const unsigned char *der, size_t len, const char *old_pin,
				      size_t old_len, const char *new_pin, size_t new_len,
				      unsigned char **out, size_t *out_len, struct smk_error *err);

#endif
