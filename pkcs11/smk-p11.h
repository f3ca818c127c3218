/* smk-p11.h - the PKCS#11 module's own state and the helpers its files share
 *
 * The module is a front over the lib/ key store (smk-keystore.h): it maps
 * slots onto tokens, keeps sessions and object handles, parses mechanisms
 * and templates, and calls smk_token_* for everything that needs a
 * private key or a PIN.  It stores nothing itself; the only secrets it
 * holds are session secret keys (AES keys unwrapped or derived for the
 * application), zeroised when they go.
 *
 * Locking: one module mutex (smk_p11_lock) guards the module state, the
 * slot login state and the session and object lists; it is never held
 * across a key store call that may do I/O or heavy crypto.  Each session
 * has its own mutex that serialises the operations on that session, so
 * operations on different sessions run in parallel.  Order: session lock,
 * then module lock.
 *
 * Entry points are named smk_C_* after the PKCS#11 function they
 * implement; only C_GetFunctionList, C_GetInterfaceList and C_GetInterface
 * leave the shared object (smk-p11.c).
 */
#ifndef SMK_P11_H
#define SMK_P11_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "smk-p11-v3.h"
#include "smk-keystore.h"

#define P11_EXPORT __attribute__((visibility("default")))

/* Largest session secret key (generic secrets from ECDH on P-521 are 66). */
#define P11_SECRET_MAX 128

/* ---- module ---------------------------------------------------------------- */

enum p11_login {
	P11_LOGIN_NONE,
	P11_LOGIN_USER,
	P11_LOGIN_SO,
};

struct p11_slot {
	CK_SLOT_ID id;
	struct smk_token *token;
	enum p11_login login;
	CK_ULONG sessions, rw_sessions;
	time_t synced;			/* monotonic seconds of the last sync (0: never) */
};

struct p11_session;
struct p11_object;

struct p11_module {
	pid_t pid;			/* the process that called C_Initialize */
	struct smk_keystore *ks;
	struct p11_slot *slots;
	size_t nslots;
	struct p11_session *sessions;
	struct p11_object *objects;
	CK_ULONG next_handle;
};

extern pthread_mutex_t smk_p11_lock;
extern struct p11_module *smk_p11_mod;

/* Takes the module lock if the module is initialised in this process
 * (CKR_OK), else returns CKR_CRYPTOKI_NOT_INITIALIZED without the lock. */
CK_RV smk_p11_enter(void);
void smk_p11_leave(void);

/* A fresh handle for a session or object (module lock held). */
CK_ULONG smk_p11_new_handle(void);

/* The slot of an id (module lock held), or NULL. */
struct p11_slot *smk_p11_slot(CK_SLOT_ID id);

void smk_p11_log(enum smk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The key store's log callback. */
void smk_p11_log_cb(void *ctx, enum smk_log_level level, const char *msg);

/* Maps a key store result to a CKR_* value; errors that are not the
 * caller's (directory down, I/O, damaged files) are logged with err's
 * message, prefixed by what. */
CK_RV smk_p11_ks_rv(enum smk_ks_status st, const struct smk_error *err, const char *what);

/* Copies s into a blank-padded PKCS#11 string field. */
void smk_p11_pad(unsigned char *field, size_t size, const char *s);

/* ---- sessions -------------------------------------------------------------- */

enum p11_op_type {
	P11_OP_ENCRYPT,
	P11_OP_DECRYPT,
	P11_OP_DIGEST,
	P11_OP_SIGN,
	P11_OP_VERIFY,
	P11_OP_COUNT,
};

struct p11_find {
	bool active;
	CK_OBJECT_HANDLE *handles;
	size_t n, pos;
};

struct p11_op;

struct p11_session {
	CK_SESSION_HANDLE handle;
	struct p11_slot *slot;
	CK_FLAGS flags;
	unsigned refs;			/* module lock */
	bool closed;			/* module lock */
	pthread_mutex_t lock;		/* serialises the operations below */
	struct p11_find find;
	struct p11_op *ops[P11_OP_COUNT];
	struct p11_session *next;
};

/* Finds a session, takes a reference and its lock. */
CK_RV smk_p11_session_get(CK_SESSION_HANDLE h, struct p11_session **out);
/* Releases what session_get took. */
void smk_p11_session_put(struct p11_session *s);
/* CKS_* of a session (module lock held). */
CK_STATE smk_p11_session_state(const struct p11_session *s);
/* Frees every session of the module (C_Finalize, fork child). */
void smk_p11_sessions_free_all(struct p11_module *m);

/* ---- objects --------------------------------------------------------------- */

struct p11_attr {
	CK_ATTRIBUTE_TYPE type;
	void *value;
	CK_ULONG len;
	bool sensitive;		/* never readable (private key parts) */
};

struct p11_object {
	CK_OBJECT_HANDLE handle;
	struct p11_slot *slot;
	CK_SESSION_HANDLE owner;	/* 0: a token object */
	CK_OBJECT_CLASS cls;
	struct smk_item *item;		/* token keys and certificates */
	bool seen;			/* marks during a sync */
	struct p11_attr *attrs;
	size_t nattrs, cap;
	struct p11_object *next;
};

/* A new object of a slot (owner 0: a token object), not yet linked;
 * link gives it a handle and puts it in the module's list (module lock
 * held); free releases an unlinked one. */
struct p11_object *smk_p11_object_new(struct p11_slot *slot, CK_OBJECT_CLASS cls,
				      CK_SESSION_HANDLE owner);
void smk_p11_object_link(struct p11_object *o);
void smk_p11_object_free(struct p11_object *o);

/* Brings the slot's token objects up to date with the key store's items
 * (takes the module lock itself; call without it). */
void smk_p11_slot_sync(struct p11_slot *slot);
/* The same, unless the slot was synced within the last second: for
 * C_FindObjectsInit, which clients call in bursts (a directory token
 * asks the server each time). */
void smk_p11_slot_refresh(struct p11_slot *slot);
/* Makes the slot's CKO_PROFILE object (module lock held). */
CK_RV smk_p11_profile_new(struct p11_slot *slot);
/* The object of handle h visible to session s (module lock held), or NULL. */
struct p11_object *smk_p11_object_get(const struct p11_session *s, CK_OBJECT_HANDLE h);
/* Destroys the session objects of session h (module lock held). */
void smk_p11_objects_drop_session(CK_SESSION_HANDLE h);
/* Destroys the private session objects of a slot, and its token private
 * keys (logout; module lock held). */
void smk_p11_objects_drop_private(struct p11_slot *slot);
void smk_p11_objects_free_all(struct p11_module *m);

/* The object's attribute list (smk-p11-attr.c). */
CK_RV smk_p11_attr_set(struct p11_object *o, CK_ATTRIBUTE_TYPE t, const void *v, CK_ULONG len);
CK_RV smk_p11_attr_set_bool(struct p11_object *o, CK_ATTRIBUTE_TYPE t, bool v);
CK_RV smk_p11_attr_set_ulong(struct p11_object *o, CK_ATTRIBUTE_TYPE t, CK_ULONG v);
/* An attribute that exists and is never revealed (CKR_ATTRIBUTE_SENSITIVE). */
CK_RV smk_p11_attr_set_sensitive(struct p11_object *o, CK_ATTRIBUTE_TYPE t);
void smk_p11_attrs_free(struct p11_object *o);
const struct p11_attr *smk_p11_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE t);
bool smk_p11_attr_bool(const struct p11_object *o, CK_ATTRIBUTE_TYPE t);
CK_ULONG smk_p11_attr_ulong(const struct p11_object *o, CK_ATTRIBUTE_TYPE t, CK_ULONG dflt);

/* Templates from the application. */
CK_RV smk_p11_tmpl_check(const CK_ATTRIBUTE *t, CK_ULONG n);
const CK_ATTRIBUTE *smk_p11_tmpl_get(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type);
/* CKR_OK and *present and *val when given; CKR_ATTRIBUTE_VALUE_INVALID for a
 * value of the wrong size. */
CK_RV smk_p11_tmpl_bool(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
			bool *present, bool *val);
CK_RV smk_p11_tmpl_ulong(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
			 bool *present, CK_ULONG *val);

/* A new session secret key from a template, the value given (unwrap,
 * derive, generate, create).  keygen_mech is CKA_KEY_GEN_MECHANISM
 * (CK_UNAVAILABLE_INFORMATION if none), local is CKA_LOCAL.
 * Takes the module lock itself. */
struct p11_secret_spec {
	const CK_ATTRIBUTE *tmpl;
	CK_ULONG count;
	CK_KEY_TYPE default_type;	/* when the template has no CKA_KEY_TYPE */
	CK_MECHANISM_TYPE keygen_mech;
	bool local;
	bool derived;			/* from a key that never left the token */
	bool value_in_template;		/* C_CreateObject: CKA_VALUE allowed */
};
CK_RV smk_p11_secret_new(struct p11_session *s, const struct p11_secret_spec *spec,
			 const unsigned char *value, size_t len, CK_OBJECT_HANDLE *out);
/* The length a secret key made from the template would have: CKA_VALUE_LEN
 * if given (0 if not), checked against the key type. */
CK_RV smk_p11_secret_len(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_KEY_TYPE default_type,
			 CK_ULONG *len);

/* A private key from C_CreateObject onto the token (smk-p11-import.c). */
CK_RV smk_p11_import_private(struct p11_session *s, const CK_ATTRIBUTE *t, CK_ULONG n,
			     CK_OBJECT_HANDLE *out);

/* What an operation needs of a key, copied out of its object so the
 * operation does not depend on the object staying. */
struct p11_key {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
	struct smk_item *item;		/* RSA/EC keys: a reference */
	unsigned char value[P11_SECRET_MAX];	/* secret keys */
	size_t value_len;
	bool encrypt, decrypt, sign, verify, wrap, unwrap, derive;
	bool extractable, sensitive;
};

/* Loads key h for session s: CKR_KEY_HANDLE_INVALID if it is no key.
 * Takes the module lock itself. */
CK_RV smk_p11_key_load(struct p11_session *s, CK_OBJECT_HANDLE h, struct p11_key *k);
void smk_p11_key_clear(struct p11_key *k);

/* DER helpers shared by objects and mechanisms. */
unsigned char *smk_p11_ec_params(const EVP_PKEY *pub, size_t *len);
unsigned char *smk_p11_ec_point(const EVP_PKEY *pub, bool der, size_t *len);
/* Order size in bytes of an EC key (r and s each take this many). */
size_t smk_p11_ec_order_len(const EVP_PKEY *pub);

/* ---- mechanisms ------------------------------------------------------------ */

#define P11_NO_KEY ((CK_KEY_TYPE)-1)

struct p11_mech {
	CK_MECHANISM_TYPE type;
	CK_ULONG min, max;
	CK_FLAGS flags;
	CK_KEY_TYPE key_type;
	const char *md;			/* the hash of hash-and-sign and digest mechanisms */
};

const struct p11_mech *smk_p11_mech_find(CK_MECHANISM_TYPE t);
const struct p11_mech *smk_p11_mech_table(size_t *n);

/* CKM_SHA256 -> "SHA256" (NULL: not a hash offered). */
const char *smk_p11_hash_name(CK_MECHANISM_TYPE hash);
const char *smk_p11_mgf_name(CK_RSA_PKCS_MGF_TYPE mgf);

/* Mechanism parameters; CKR_MECHANISM_PARAM_INVALID for bad ones. */
CK_RV smk_p11_params_none(const CK_MECHANISM *m);
CK_RV smk_p11_params_pss(const CK_MECHANISM *m, const struct p11_mech *e,
			 struct smk_sign_params *sp);
/* label: a copy (OPENSSL_free) or NULL */
CK_RV smk_p11_params_oaep(const CK_MECHANISM *m, struct smk_decrypt_params *dp,
			  unsigned char **label);
CK_RV smk_p11_params_iv(const CK_MECHANISM *m, unsigned char iv[16]);

/* ---- operations ------------------------------------------------------------ */

struct p11_op {
	enum p11_op_type type;
	const struct p11_mech *mech;
	struct p11_key key;
	bool multi;			/* an *Update call was made */
	EVP_MD_CTX *md;			/* hash-and-sign, digest */
	unsigned char *data;		/* input gathered for one-shot mechanisms */
	size_t data_len, data_cap;
	struct smk_sign_params sp;
	struct smk_decrypt_params dp;
	unsigned char *label;		/* OAEP label (dp.label points here) */
	EVP_CIPHER_CTX *cipher;		/* AES */
	bool pad;			/* CBC_PAD */
	unsigned char pend[16];		/* input not yet processed */
	size_t npend;
};

struct p11_op *smk_p11_op_new(enum p11_op_type type, const struct p11_mech *mech);
void smk_p11_op_free(struct p11_op *op);
CK_RV smk_p11_op_begin(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, enum p11_op_type type,
		       CK_FLAGS flag, struct p11_session **s, struct p11_op **op);
/* Ends the session's operation of that type. */
void smk_p11_op_end(struct p11_session *s, enum p11_op_type type);
/* Appends to op->data (at most max bytes in all: CKR_DATA_LEN_RANGE). */
CK_RV smk_p11_op_gather(struct p11_op *op, const unsigned char *in, size_t len, size_t max);

/* Checks the output-length protocol: out NULL -> *out_len = need, CKR_OK,
 * *done = true; *out_len < need -> CKR_BUFFER_TOO_SMALL, *done = true. */
CK_RV smk_p11_out_len(const unsigned char *out, CK_ULONG_PTR out_len, size_t need, bool *done);

/* RSA with the public key, in the module (encrypt, verify). */
CK_RV smk_p11_rsa_pub_encrypt(const struct p11_op *op, const unsigned char *in, size_t len,
			      unsigned char *out, size_t *out_len);
/* RSA private-key decryption through the key store into out (at least the
 * modulus size). */
CK_RV smk_p11_rsa_decrypt(struct p11_session *s, const struct p11_op *op, const unsigned char *in,
			  size_t len, unsigned char *out, size_t *out_len);

/* AES key wrap (CKM_AES_KEY_WRAP, _PAD, _KWP) with a secret key. */
CK_RV smk_p11_aes_wrap(CK_MECHANISM_TYPE mech, const unsigned char *kek, size_t kek_len,
		       const unsigned char *iv, size_t iv_len, bool wrap,
		       const unsigned char *in, size_t in_len, unsigned char *out, size_t *out_len);
/* Parameters of the key wrap mechanisms: an optional IV. */
CK_RV smk_p11_params_wrap(const CK_MECHANISM *m, unsigned char iv[8], size_t *iv_len);

/* ---- the entry points (smk_C_*), one per PKCS#11 function ------------------- */

CK_RV smk_C_Initialize(CK_VOID_PTR pInitArgs);
CK_RV smk_C_Finalize(CK_VOID_PTR pReserved);
CK_RV smk_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount);
CK_RV smk_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo);
CK_RV smk_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo);
CK_RV smk_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved);
CK_RV smk_C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
			     CK_ULONG_PTR pulCount);
CK_RV smk_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
			     CK_MECHANISM_INFO_PTR pInfo);
CK_RV smk_C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
		      CK_UTF8CHAR_PTR pLabel);
CK_RV smk_C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen);
CK_RV smk_C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
		   CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen);
CK_RV smk_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
		  CK_ULONG ulPinLen);
CK_RV smk_C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
		      CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen);
CK_RV smk_C_Logout(CK_SESSION_HANDLE hSession);

CK_RV smk_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
			CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession);
CK_RV smk_C_CloseSession(CK_SESSION_HANDLE hSession);
CK_RV smk_C_CloseAllSessions(CK_SLOT_ID slotID);
CK_RV smk_C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo);
CK_RV smk_C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
			      CK_ULONG_PTR pulOperationStateLen);
CK_RV smk_C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
			      CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
			      CK_OBJECT_HANDLE hAuthenticationKey);
CK_RV smk_C_GetFunctionStatus(CK_SESSION_HANDLE hSession);
CK_RV smk_C_CancelFunction(CK_SESSION_HANDLE hSession);
CK_RV smk_C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags);

CK_RV smk_C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
			 CK_OBJECT_HANDLE_PTR phObject);
CK_RV smk_C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		       CK_OBJECT_HANDLE_PTR phNewObject);
CK_RV smk_C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject);
CK_RV smk_C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
			  CK_ULONG_PTR pulSize);
CK_RV smk_C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
			      CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount);
CK_RV smk_C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
			      CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount);
CK_RV smk_C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
			    CK_ULONG ulCount);
CK_RV smk_C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
			CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount);
CK_RV smk_C_FindObjectsFinal(CK_SESSION_HANDLE hSession);

CK_RV smk_C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			CK_OBJECT_HANDLE hKey);
CK_RV smk_C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		    CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen);
CK_RV smk_C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
			  CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen);
CK_RV smk_C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
			 CK_ULONG_PTR pulLastEncryptedPartLen);
CK_RV smk_C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			CK_OBJECT_HANDLE hKey);
CK_RV smk_C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData,
		    CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen);
CK_RV smk_C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
			  CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen);
CK_RV smk_C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
			 CK_ULONG_PTR pulLastPartLen);

CK_RV smk_C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism);
CK_RV smk_C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		   CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen);
CK_RV smk_C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen);
CK_RV smk_C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey);
CK_RV smk_C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
			CK_ULONG_PTR pulDigestLen);

CK_RV smk_C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey);
CK_RV smk_C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		 CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen);
CK_RV smk_C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen);
CK_RV smk_C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
		      CK_ULONG_PTR pulSignatureLen);
CK_RV smk_C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			    CK_OBJECT_HANDLE hKey);
CK_RV smk_C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
			CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen);
CK_RV smk_C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		       CK_OBJECT_HANDLE hKey);
CK_RV smk_C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		   CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen);
CK_RV smk_C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen);
CK_RV smk_C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
			CK_ULONG ulSignatureLen);
CK_RV smk_C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			      CK_OBJECT_HANDLE hKey);
CK_RV smk_C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
			  CK_ULONG ulSignatureLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen);

CK_RV smk_C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
				CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen);
CK_RV smk_C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
				CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
				CK_ULONG_PTR pulPartLen);
CK_RV smk_C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
			      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen);
CK_RV smk_C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
				CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
				CK_ULONG_PTR pulPartLen);

CK_RV smk_C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey);
CK_RV smk_C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			    CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
			    CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
			    CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey,
			    CK_OBJECT_HANDLE_PTR phPrivateKey);
CK_RV smk_C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		    CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
		    CK_ULONG_PTR pulWrappedKeyLen);
CK_RV smk_C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		      CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
		      CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
		      CK_OBJECT_HANDLE_PTR phKey);
CK_RV smk_C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		      CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
		      CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey);
CK_RV smk_C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen);
CK_RV smk_C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData,
			   CK_ULONG ulRandomLen);

#endif
