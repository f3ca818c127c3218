/* provtest.h - what the C tests of the provider share (tests/provider/evp.c,
 * fork.c): alice's test keys and certificates, a file token holding them
 * made with the key store API (as `smimekit token import` would), and keys
 * taken through OSSL_STORE by pkcs11: URI.
 */
#ifndef SMK_PROVTEST_H
#define SMK_PROVTEST_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#define PROVTEST_SO_PIN "so-pin-5678"
#define PROVTEST_USER_PIN "1234-alice"

/* Prints what failed and OpenSSL's error queue, then exits 1: for the
 * set-up, outside Check's assertions. */
void provtest_die(const char *what) __attribute__((noreturn));

/* $SMK_TEST_CERTS/name (or name itself when it is an absolute path): a
 * private key (read by the default provider), a certificate; a file that
 * cannot be read is fatal. */
EVP_PKEY *provtest_read_key(const char *name);
X509 *provtest_read_cert(const char *name);

/* Makes $TMPDIR/smk-TAG.XXXXXX holding smimekit.conf with one file token
 * [token alice] (labelled alice, PINs above) that holds alice-rsa and
 * alice-ec (key and certificate, labelled so); sets SMIMEKIT_CONF to it
 * and returns the directory.  The key store used is freed again, so a
 * provider loaded afterwards has the token to itself. */
const char *provtest_make_token(const char *tag);

/* Removes what provtest_make_token made. */
void provtest_remove_token(void);

/* The first private key a pkcs11: URI names, loaded in libctx (NULL: the
 * default context), or NULL. */
EVP_PKEY *provtest_load_key(OSSL_LIB_CTX *libctx, const char *uri);

#endif
