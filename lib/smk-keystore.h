/* smk-keystore.h - the key store: tokens that hold a user's S/MIME keys
 *
 * One key store per process, made from smimekit.conf's [token NAME]
 * sections.  A token is local (type = file, lib/smk-token-file.c) or
 * cloud-held (type = directory, ldap/smk-token-directory.c); both sit
 * behind the backend table of smk-keystore-backend.h, and the fronts (the
 * PKCS#11 module, the OpenSSL provider, the smimekit command) see only
 * this header.  Everything about keys lives here: login and PIN rules,
 * key material in memory, the private-key operations.  The fronts map
 * their API onto it and hold no key of their own.
 *
 * Items.  A token shows its content as items: a key pair and/or a
 * certificate, joined by an id derived from the public key (SHA-1 of the
 * RSA modulus or of the uncompressed EC point, as NSS computes CKA_ID).
 * Items are immutable and reference-counted; a list taken with
 * smk_token_items() stays valid while the token changes.  Before login a
 * token lists what it may show without a PIN (certificates, public keys);
 * after login, has_private tells which items have a usable private key.
 *
 * Login is per token and per process, as in PKCS#11: while a user is
 * logged in, private keys are held decrypted in memory (zeroised on
 * logout and on free).
 *
 * Threads: every call may be made from any thread; a token serialises its
 * own state.  After fork() the child must make a new key store (the
 * PKCS#11 module does this on C_Initialize).
 *
 * Results: enum smk_ks_status, with one line in err naming the cause
 * (never a PIN, never key material).
 */
#ifndef SMK_KEYSTORE_H
#define SMK_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "smk-config.h"
#include "smk-error.h"
#include "smk-log.h"

enum smk_ks_status {
	SMK_KS_OK = 0,
	SMK_KS_PIN_INCORRECT,	/* wrong PIN; the failure counter went up */
	SMK_KS_PIN_LOCKED,	/* too many failures: no more attempts */
	SMK_KS_PIN_INVALID,	/* a new PIN too short, too long, or not UTF-8 */
	SMK_KS_PIN_NOT_SET,	/* the user PIN was never set (C_InitPIN) */
	SMK_KS_NOT_LOGGED_IN,	/* the operation needs a login (of that user) */
	SMK_KS_ALREADY_LOGGED_IN, /* this user is logged in already */
	SMK_KS_OTHER_LOGGED_IN,	/* the other user (SO vs user) is logged in */
	SMK_KS_NOT_FOUND,	/* no such item / no private key for it */
	SMK_KS_UNSUPPORTED,	/* algorithm, parameter or function not offered */
	SMK_KS_BAD_INPUT,	/* input of the wrong length or form */
	SMK_KS_BUFFER_TOO_SMALL, /* *outlen now holds the size needed */
	SMK_KS_EXISTS,		/* token initialised already and holding keys */
	SMK_KS_READ_ONLY,	/* the token cannot be written */
	SMK_KS_UNAVAILABLE,	/* the directory cannot be reached */
	SMK_KS_ERROR,		/* anything else: I/O, damaged files, OpenSSL */
};

const char *smk_ks_status_str(enum smk_ks_status st);

enum smk_ks_user {
	SMK_KS_USER,
	SMK_KS_SO,
};

enum smk_key_type {
	SMK_KEY_RSA,
	SMK_KEY_EC,
};

#define SMK_ITEM_ID_MAX 20
#define SMK_PIN_MIN 4
#define SMK_PIN_MAX 256
#define SMK_PIN_MAX_FAILURES_DEFAULT 10

struct smk_keystore;
struct smk_token;
struct smk_token_backend;

/* One key pair and/or certificate on a token.  Read-only to callers. */
struct smk_item {
	unsigned char id[SMK_ITEM_ID_MAX];
	size_t id_len;
	char *label;		/* never NULL (may be "") */
	enum smk_key_type type;
	EVP_PKEY *pub;		/* the public key: never NULL */
	X509 *cert;		/* NULL: a key without certificate */
	bool has_private;	/* a private key for it is usable now (logged in) */
	bool private_stored;	/* a private key for it is on the token (may need login) */
};

void smk_item_ref(struct smk_item *it);
void smk_item_unref(struct smk_item *it);

/* ---- key store ------------------------------------------------------------ */

/* The file backend, always present.  ldap/ adds smk_token_directory_backend. */
extern const struct smk_token_backend smk_token_file_backend;

/* Makes the key store from every [token NAME] section of cfg.  backends is
 * the list of token types the front can serve (NULL-terminated); a section
 * of another type is an error naming file and line.  cfg may be freed after
 * the call. */
struct smk_keystore *smk_keystore_new(const struct smk_config *cfg,
				      const struct smk_token_backend *const *backends,
				      smk_log_fn *log, void *log_ctx, struct smk_error *err);
void smk_keystore_free(struct smk_keystore *ks);

size_t smk_keystore_count(const struct smk_keystore *ks);
struct smk_token *smk_keystore_token(struct smk_keystore *ks, size_t i);
struct smk_token *smk_keystore_find(struct smk_keystore *ks, const char *name);

/* ---- tokens --------------------------------------------------------------- */

struct smk_token_info {
	char name[64];		/* the section name */
	char label[33];		/* PKCS#11 token label (UTF-8, at most 32 bytes) */
	char serial[17];	/* 16 hex digits, stable for the token */
	char model[17];		/* "file" or "directory" */
	bool initialized;	/* the token exists (C_InitToken done) */
	bool user_pin_set;
	bool write_protected;
	unsigned max_failures;
	unsigned user_failures, so_failures;
	bool user_locked, so_locked;
	bool user_logged_in, so_logged_in;
};

enum smk_ks_status smk_token_info(struct smk_token *t, struct smk_token_info *info,
				  struct smk_error *err);

/* The items the token shows now: *items is a new array of references
 * (release with smk_items_free).  Before login: certificates and public
 * keys; after: the private keys' items too. */
enum smk_ks_status smk_token_items(struct smk_token *t, struct smk_item ***items, size_t *n,
				   struct smk_error *err);
void smk_items_free(struct smk_item **items, size_t n);

/* Creates the token (file: the directory and its metadata) with the SO
 * PIN and a label; SMK_KS_EXISTS if it already holds keys (keys are never
 * thrown away).  Not for directory tokens (SMK_KS_UNSUPPORTED). */
enum smk_ks_status smk_token_init(struct smk_token *t, const char *so_pin, size_t so_pin_len,
				  const char *label, struct smk_error *err);

enum smk_ks_status smk_token_login(struct smk_token *t, enum smk_ks_user user,
				   const char *pin, size_t pin_len, struct smk_error *err);
void smk_token_logout(struct smk_token *t);

/* Sets the user PIN; the SO must be logged in. */
enum smk_ks_status smk_token_init_pin(struct smk_token *t, const char *pin, size_t pin_len,
				      struct smk_error *err);

/* Changes the PIN of user (checked with old_pin, which counts as a login
 * attempt); for the user PIN every stored key is re-encrypted under the
 * new one, atomically (and, on a directory token, the escrowed values). */
enum smk_ks_status smk_token_set_pin(struct smk_token *t, enum smk_ks_user user,
				     const char *old_pin, size_t old_len,
				     const char *new_pin, size_t new_len, struct smk_error *err);

/* ---- writing keys and certificates (the user logged in) ------------------ */

struct smk_keygen {
	enum smk_key_type type;
	unsigned bits;		/* RSA: 2048..8192 (0 = 3072) */
	const char *curve;	/* EC: "P-256" or "P-384" (NULL = P-256) */
	const char *label;	/* NULL = "" */
};

/* Generates a key pair on the token and stores it (encrypted under the
 * PIN); *out (if not NULL) gets a reference to its item. */
enum smk_ks_status smk_token_generate(struct smk_token *t, const struct smk_keygen *kg,
				      struct smk_item **out, struct smk_error *err);

/* Stores a private key (and its certificate, may be NULL) given in memory,
 * as token import does with a PKCS#12's content. */
enum smk_ks_status smk_token_store_key(struct smk_token *t, EVP_PKEY *key, X509 *cert,
				       const char *label, struct smk_item **out,
				       struct smk_error *err);

/* Stores a certificate; it joins its key's item when the public keys match.
 * Storing one already there is OK and changes nothing. */
enum smk_ks_status smk_token_store_cert(struct smk_token *t, X509 *cert, const char *label,
					struct smk_item **out, struct smk_error *err);

/* ---- private-key operations (the user logged in, it->has_private) -------- */

enum smk_padding {
	SMK_PAD_NONE,		/* RSA: raw (X.509); EC: ignored */
	SMK_PAD_PKCS1,		/* RSA PKCS#1 v1.5 */
	SMK_PAD_PSS,		/* RSA-PSS (sign) */
	SMK_PAD_OAEP,		/* RSA-OAEP (decrypt) */
};

struct smk_sign_params {
	enum smk_padding padding;
	/* Input is a digest already made by the caller, of this algorithm
	 * ("SHA256", ...); NULL: input is signed as given (RSA PKCS#1: the
	 * DigestInfo; ECDSA: any length, truncated to the order's size). */
	const char *md;
	const char *mgf1_md;	/* PSS: NULL = md */
	int salt_len;		/* PSS: bytes; -1 = digest length */
};

/* Signature of in.  RSA: the signature as bytes of the modulus length;
 * EC: a DER ECDSA-Sig-Value (the PKCS#11 front turns it into r || s).
 * sig == NULL: *sig_len is set to the maximum size. */
enum smk_ks_status smk_token_sign(struct smk_token *t, const struct smk_item *it,
				  const struct smk_sign_params *p,
				  const unsigned char *in, size_t in_len,
				  unsigned char *sig, size_t *sig_len, struct smk_error *err);

struct smk_decrypt_params {
	enum smk_padding padding;	/* NONE, PKCS1 or OAEP */
	const char *md;			/* OAEP: NULL = SHA1 */
	const char *mgf1_md;		/* OAEP: NULL = md */
	const unsigned char *label;	/* OAEP label, may be NULL */
	size_t label_len;
};

/* RSA decryption. out == NULL: *out_len is set to the maximum size. */
enum smk_ks_status smk_token_decrypt(struct smk_token *t, const struct smk_item *it,
				     const struct smk_decrypt_params *p,
				     const unsigned char *in, size_t in_len,
				     unsigned char *out, size_t *out_len, struct smk_error *err);

/* ECDH: the raw shared secret Z with the peer's public point (an
 * uncompressed or compressed octet string on the item's curve).  Key
 * derivation (X9.63 KDF etc.) is the caller's. out == NULL: size query. */
enum smk_ks_status smk_token_derive(struct smk_token *t, const struct smk_item *it,
				    const unsigned char *peer, size_t peer_len,
				    unsigned char *out, size_t *out_len, struct smk_error *err);

/* ---- the same operations on a key in memory ----------------------------------
 * For a front that must also serve keys that are not on a token: the
 * OpenSSL provider is handed software keys (OpenSSL 3.0 gives keys it
 * generates or imports by type name to the first provider offering that
 * type).  Same parameters, checks and results as the token operations;
 * key is any private key, the work is done in libctx (NULL: default). */
enum smk_ks_status smk_pkey_sign(EVP_PKEY *key, OSSL_LIB_CTX *libctx,
				 const struct smk_sign_params *p,
				 const unsigned char *in, size_t in_len,
				 unsigned char *sig, size_t *sig_len, struct smk_error *err);
enum smk_ks_status smk_pkey_decrypt(EVP_PKEY *key, OSSL_LIB_CTX *libctx,
				    const struct smk_decrypt_params *p,
				    const unsigned char *in, size_t in_len,
				    unsigned char *out, size_t *out_len, struct smk_error *err);
enum smk_ks_status smk_pkey_derive(EVP_PKEY *key, OSSL_LIB_CTX *libctx,
				   const unsigned char *peer, size_t peer_len,
				   unsigned char *out, size_t *out_len, struct smk_error *err);

/* ---- helpers ---------------------------------------------------------------- */

/* The id of a public key, as used for items (SHA-1 of RSA n or EC point). */
int smk_key_id(const EVP_PKEY *pub, unsigned char id[SMK_ITEM_ID_MAX], size_t *id_len);

#endif
