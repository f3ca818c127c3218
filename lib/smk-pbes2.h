/* smk-pbes2.h - PKCS#8 EncryptedPrivateKeyInfo with PBES2 under a key
 * derived once
 *
 * The file token keeps each private key as a standard PKCS#8 PBES2 file
 * (PBKDF2-HMAC-SHA256, AES-256-CBC), the form `openssl pkcs8` opens with
 * the PIN.  All files of a token share the token's salt and iteration
 * count, so the AES key of every file is the same PBKDF2 output K: login
 * derives K once (the expensive step) and these functions encrypt and
 * decrypt with K directly, building and reading the PBES2 parameters
 * themselves.  A file whose parameters differ (re-encrypted by hand with
 * `openssl pkcs8 -topk8`) is opened the slow way, with the PIN.
 */
#ifndef SMK_PBES2_H
#define SMK_PBES2_H

#include <stddef.h>

#include <openssl/evp.h>

#include "smk-error.h"

#define SMK_PBES2_KEY_LEN 32	/* AES-256 */

/* The parameters a token's files share. */
struct smk_pbes2_params {
	const unsigned char *salt;
	size_t salt_len;
	unsigned iterations;
};

/* K = PBKDF2-HMAC-SHA256(pin, salt, iterations, 32). */
int smk_pbes2_derive(const char *pin, size_t pin_len, const struct smk_pbes2_params *pp,
		     unsigned char k[SMK_PBES2_KEY_LEN], struct smk_error *err);

/* PEM "ENCRYPTED PRIVATE KEY" of key, encrypted with k (derived with pp)
 * under a fresh random IV.  Returns malloc'd text (*len bytes, NUL after),
 * or NULL with err. */
char *smk_pbes2_encrypt_pem(EVP_PKEY *key, const unsigned char k[SMK_PBES2_KEY_LEN],
			    const struct smk_pbes2_params *pp, size_t *len, struct smk_error *err);

/* The private key in pem[0..len).  With k when the file's parameters are
 * pp's; otherwise with pin (NULL: fails, telling to log in again).  what
 * names the file in errors. */
EVP_PKEY *smk_pbes2_decrypt_pem(const char *pem, size_t len, const unsigned char k[SMK_PBES2_KEY_LEN],
				const struct smk_pbes2_params *pp, const char *pin, size_t pin_len,
				const char *what, struct smk_error *err);

#endif
