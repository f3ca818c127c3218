/* smk-prov.h - what the files of the OpenSSL provider share
 *
 * smimekit.so is a front over the lib/ key store (lib/smk-keystore.h),
 * like the PKCS#11 module: tokens, PINs and private-key operations are
 * the key store's.  provider.c holds init and the dispatch tables; one
 * file per operation (store, keymgmt, signature, asym cipher, exchange),
 * as in pkcs11-provider.
 *
 * Keys handed out by the store loader are opaque: a smk_prov_key holds a
 * reference to a key store item and its token, never key material.  The
 * public half (item->pub) is exportable, so OpenSSL can match a key with
 * its certificate and verification can run in the default provider.
 */
#ifndef SMK_PROV_H
#define SMK_PROV_H

#include <stdbool.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include <openssl/macros.h>

#include "smk-keystore.h"

/* The provider context (provctx). */
struct smk_prov {
	const OSSL_CORE_HANDLE *handle;
	OSSL_LIB_CTX *libctx;		/* our own child-free library context for
					 * software work (hashing, public-key ops)
					 * and the key store's (smk_keystore_new_ex) */
	struct smk_keystore *ks;	/* NULL until first use (lazy: reading
					 * smimekit.conf at provider load would
					 * make every openssl command pay for it) */
	char *ks_error;			/* why ks could not be made, once tried */
	/* core error functions, from the core dispatch table */
	OSSL_FUNC_core_new_error_fn *core_new_error;
	OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
	OSSL_FUNC_core_vset_error_fn *core_vset_error;
};

/* An opaque key: a reference to a key store item. */
struct smk_prov_key {
	struct smk_prov *prov;
	struct smk_token *token;	/* the token it lives on */
	struct smk_item *item;		/* one reference held */
	enum smk_key_type type;
	/* A key not on a token (token and item NULL): a software key in the
	 * provider's own library context, one reference held; NULL for token
	 * keys.  OpenSSL 3.0 gives a key it generates or imports by type name
	 * ("RSA", "EC") to the first activated provider that manages the
	 * type: with smimekit activated first, that is us, so keymgmt.c takes
	 * in (and generates) software keys, and the operations run them in
	 * software, never as token keys.  An ECDH peer arrives this way too. */
	EVP_PKEY *sw;
	int sw_parts;			/* what sw holds: OSSL_KEYMGMT_SELECT_* bits */
};

/* The public half of a key (token item's or software), NULL if none. */
EVP_PKEY *smk_prov_key_pub(const struct smk_prov_key *key);

/* Whether the key can sign, decrypt or derive: a token key (the private
 * half is on the token) or a software key pair. */
bool smk_prov_key_private(const struct smk_prov_key *key);

/* The key store, made on first use; NULL (with an error raised) if the
 * configuration cannot be read. */
struct smk_keystore *smk_prov_keystore(struct smk_prov *prov);

/* Raises an error on OpenSSL's error queue (ERR_raise_data style) with
 * reason code `reason` (SMK_PROV_R_*) and a message.  A macro, so the
 * error line carries the caller's file, line and function as OpenSSL's
 * own errors do (ERR_raise passes OPENSSL_FILE/LINE/FUNC the same way). */
#define smk_prov_error(prov, reason, ...) \
	smk_prov_error_at((prov), OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)
void smk_prov_error_at(struct smk_prov *prov, const char *file, int line, const char *func,
		       int reason, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Raises the key store's outcome as an error naming the cause (and,
 * through the macro, the caller's file and line). */
#define smk_prov_ks_error(prov, st, err) \
	smk_prov_ks_error_at((prov), OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (st), (err))
void smk_prov_ks_error_at(struct smk_prov *prov, const char *file, int line, const char *func,
			  enum smk_ks_status st, const struct smk_error *err);

/* Reason codes (provider's own reason strings, see provider.c). */
enum {
	SMK_PROV_R_CONFIG = 1,		/* smimekit.conf unreadable or wrong */
	SMK_PROV_R_URI,			/* a pkcs11: URI that is malformed or names nothing */
	SMK_PROV_R_PIN,			/* wrong PIN, locked, none given */
	SMK_PROV_R_UNAVAILABLE,		/* the directory cannot be reached */
	SMK_PROV_R_KEY,			/* unusable key, missing private half */
	SMK_PROV_R_PARAM,		/* bad operation parameters */
	SMK_PROV_R_OPERATION,		/* the key store refused an operation */
};

struct smk_prov_key *smk_prov_key_new(struct smk_prov *prov, struct smk_token *token,
				      struct smk_item *item);
void smk_prov_key_free(struct smk_prov_key *key);

/* Digests of the operations (digest.c). */
/* The key store's name for a digest ("SHA256"): the short name of its NID,
 * which the key store finds without a name lookup; NULL for NULL. */
const char *smk_prov_md_ks_name(const EVP_MD *md);
/* Fetches digest name in the provider's library context into *slot (the
 * one there is freed); an unknown name raises an error naming it. */
int smk_prov_md_fetch(struct smk_prov *prov, EVP_MD **slot, const char *name);
/* *slot becomes a reference of its own to md (NULL allowed), the one
 * there is freed: for a context's dup. */
int smk_prov_md_ref(EVP_MD **slot, EVP_MD *md);

/* The provider's capabilities (capabilities.c: the TLS groups). */
int smk_prov_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb, void *arg);

/* Dispatch tables of the operation files. */
extern const OSSL_DISPATCH smk_prov_store_functions[];
extern const OSSL_DISPATCH smk_prov_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH smk_prov_ec_keymgmt_functions[];
extern const OSSL_DISPATCH smk_prov_rsa_signature_functions[];
extern const OSSL_DISPATCH smk_prov_ecdsa_signature_functions[];
extern const OSSL_DISPATCH smk_prov_rsa_asym_cipher_functions[];
extern const OSSL_DISPATCH smk_prov_ecdh_keyexch_functions[];
/* The encoders (encoder.c), a whole algorithm table. */
extern const OSSL_ALGORITHM smk_prov_encoders[];

#endif
