/* smk-p11.c - smimekit-pkcs11.so: initialisation, the function lists and
 * the 3.0 interfaces, fork detection, logging and result mapping
 *
 * C_Initialize reads smimekit.conf (smk_config_load_default, so
 * $SMIMEKIT_CONF overrides the search path) and makes one key store; each
 * [token NAME] section becomes a slot (smk-p11-slot.c).
 *
 * Fork: the module remembers the pid of the process that initialised it.
 * In a child every call answers CKR_CRYPTOKI_NOT_INITIALIZED until the
 * child calls C_Initialize, which throws the parent's state away (the
 * parent's locks may have been held by threads that do not exist in the
 * child) and makes a new key store.
 *
 * Logging: warnings and errors go to standard error, prefixed
 * "smimekit-pkcs11:"; info and debug lines only when $SMIMEKIT_DEBUG is
 * set.  Stderr rather than syslog: a mail client started from a terminal
 * shows them, and they never contain a PIN or key material.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "smk-config.h"
#include "smk-keystore.h"
#include "smk-p11.h"
#if __has_include("smk-token-directory.h")
#include "smk-token-directory.h"
#define P11_HAVE_DIRECTORY 1
#endif

pthread_mutex_t smk_p11_lock = PTHREAD_MUTEX_INITIALIZER;
struct p11_module *smk_p11_mod;

/* The pid of the process that initialised the module, read without the
 * lock: in a fork's child the lock itself may be held by a thread of the
 * parent that does not exist there. */
static pid_t init_pid;

#define P11_MANUFACTURER "smimekit"
#define P11_DESCRIPTION "smimekit S/MIME key store"

/* ---- logging ----------------------------------------------------------------- */

static bool
debug_on(void)
{
	const char *d = getenv("SMIMEKIT_DEBUG");
	return d != NULL && *d != '\0' && strcmp(d, "0") != 0;
}

void
smk_p11_log_cb(void *ctx, enum smk_log_level level, const char *msg)
{
	(void)ctx;
	if (level < SMK_LOG_WARNING && !debug_on())
		return;
	fprintf(stderr, "smimekit-pkcs11: %s%s\n",
		level >= SMK_LOG_ERROR ? "error: " : level == SMK_LOG_WARNING ? "warning: " : "",
		msg);
}

void
smk_p11_log(enum smk_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	smk_p11_log_cb(NULL, level, buf);
}

CK_RV
smk_p11_ks_rv(enum smk_ks_status st, const struct smk_error *err, const char *what)
{
	const char *msg = err != NULL && err->msg[0] != '\0' ? err->msg : smk_ks_status_str(st);

	switch (st) {
	case SMK_KS_OK:
		return CKR_OK;
	case SMK_KS_PIN_INCORRECT:
		return CKR_PIN_INCORRECT;
	case SMK_KS_PIN_LOCKED:
		return CKR_PIN_LOCKED;
	case SMK_KS_PIN_INVALID:
		return CKR_PIN_INVALID;
	case SMK_KS_PIN_NOT_SET:
		return CKR_USER_PIN_NOT_INITIALIZED;
	case SMK_KS_NOT_LOGGED_IN:
		return CKR_USER_NOT_LOGGED_IN;
	case SMK_KS_ALREADY_LOGGED_IN:
		return CKR_USER_ALREADY_LOGGED_IN;
	case SMK_KS_OTHER_LOGGED_IN:
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	case SMK_KS_NOT_FOUND:
		return CKR_KEY_HANDLE_INVALID;
	case SMK_KS_UNSUPPORTED:
		smk_p11_log(SMK_LOG_INFO, "%s: %s", what, msg);
		return CKR_FUNCTION_NOT_SUPPORTED;
	case SMK_KS_BAD_INPUT:
		return CKR_DATA_INVALID;
	case SMK_KS_BUFFER_TOO_SMALL:
		return CKR_BUFFER_TOO_SMALL;
	case SMK_KS_EXISTS:
		smk_p11_log(SMK_LOG_WARNING, "%s: %s", what, msg);
		return CKR_ACTION_PROHIBITED;
	case SMK_KS_READ_ONLY:
		return CKR_TOKEN_WRITE_PROTECTED;
	case SMK_KS_UNAVAILABLE:
		/* The message names the directory server that failed. */
		smk_p11_log(SMK_LOG_ERROR, "%s: %s", what, msg);
		return CKR_DEVICE_ERROR;
	case SMK_KS_ERROR:
		break;
	}
	smk_p11_log(SMK_LOG_ERROR, "%s: %s", what, msg);
	return CKR_FUNCTION_FAILED;
}

void
smk_p11_pad(unsigned char *field, size_t size, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > size)
		n = size;
	memset(field, ' ', size);
	if (n > 0)
		memcpy(field, s, n);
}

/* ---- module state -------------------------------------------------------------- */

CK_RV
smk_p11_enter(void)
{
	if (__atomic_load_n(&init_pid, __ATOMIC_ACQUIRE) != getpid())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	pthread_mutex_lock(&smk_p11_lock);
	if (smk_p11_mod == NULL || smk_p11_mod->pid != getpid()) {
		pthread_mutex_unlock(&smk_p11_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

void
smk_p11_leave(void)
{
	pthread_mutex_unlock(&smk_p11_lock);
}

CK_ULONG
smk_p11_new_handle(void)
{
	CK_ULONG h = smk_p11_mod->next_handle++;

	if (smk_p11_mod->next_handle == 0)	/* 2^64 handles later */
		smk_p11_mod->next_handle = 1;
	return h;
}

struct p11_slot *
smk_p11_slot(CK_SLOT_ID id)
{
	if (id >= smk_p11_mod->nslots)
		return NULL;
	return &smk_p11_mod->slots[id];
}

static void
module_free(struct p11_module *m, bool child)
{
	if (m == NULL)
		return;
	smk_p11_sessions_free_all(m);
	smk_p11_objects_free_all(m);
	/* In a fork's child the parent's key store is left alone: its
	 * directory connections are the parent's sockets (an unbind from
	 * here would cut the parent off), and the parent holds the same keys
	 * anyway.  The child gets a key store of its own. */
	if (!child)
		smk_keystore_free(m->ks);
	free(m->slots);
	free(m);
}

static CK_RV
check_init_args(const CK_C_INITIALIZE_ARGS *a)
{
	bool any, all;

	if (a == NULL)
		return CKR_OK;
	any = a->CreateMutex != NULL || a->DestroyMutex != NULL || a->LockMutex != NULL ||
	      a->UnlockMutex != NULL;
	all = a->CreateMutex != NULL && a->DestroyMutex != NULL && a->LockMutex != NULL &&
	      a->UnlockMutex != NULL;
	if (any && !all)
		return CKR_ARGUMENTS_BAD;
	/* CKF_LIBRARY_CANT_CREATE_OS_THREADS is fine: neither the module nor
	 * the key store starts threads (and p11-kit always sets the flag, so
	 * refusing it would lock out GnuTLS and p11-kit-proxy.so). */
	/* Only the OS's locks are used: the application's mutex callbacks
	 * are accepted only together with CKF_OS_LOCKING_OK. */
	if (all && !(a->flags & CKF_OS_LOCKING_OK))
		return CKR_CANT_LOCK;
	/* pReserved should be NULL; NSS passes its module parameters there,
	 * so it is ignored rather than refused. */
	return CKR_OK;
}

static const struct smk_token_backend *const p11_backends[] = {
	&smk_token_file_backend,
#ifdef P11_HAVE_DIRECTORY
	&smk_token_directory_backend,
#endif
	NULL,
};

static CK_RV
module_new(struct p11_module **out)
{
	struct smk_error err;
	struct smk_config *cfg;
	struct p11_module *m;
	CK_RV rv = CKR_OK;

	smk_error_clear(&err);
	cfg = smk_config_load_default(&err);
	if (cfg == NULL) {
		smk_p11_log(SMK_LOG_ERROR, "%s", err.msg);
		return CKR_GENERAL_ERROR;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		smk_config_free(cfg);
		return CKR_HOST_MEMORY;
	}
	m->pid = getpid();
	m->next_handle = 1;
	m->ks = smk_keystore_new(cfg, p11_backends, smk_p11_log_cb, NULL, &err);
	smk_config_free(cfg);
	if (m->ks == NULL) {
		smk_p11_log(SMK_LOG_ERROR, "%s", err.msg);
		free(m);
		return CKR_GENERAL_ERROR;
	}
	m->nslots = smk_keystore_count(m->ks);
	if (m->nslots > 0) {
		m->slots = calloc(m->nslots, sizeof(*m->slots));
		if (m->slots == NULL) {
			module_free(m, false);
			return CKR_HOST_MEMORY;
		}
	}
	for (size_t i = 0; i < m->nslots; i++) {
		m->slots[i].id = i;
		m->slots[i].token = smk_keystore_token(m->ks, i);
	}
	*out = m;
	return rv;
}

CK_RV
smk_C_Initialize(CK_VOID_PTR pInitArgs)
{
	struct p11_module *m = NULL, *old = NULL;
	bool child = false;
	CK_RV rv;

	rv = check_init_args(pInitArgs);
	if (rv != CKR_OK)
		return rv;

	pid_t pid = __atomic_load_n(&init_pid, __ATOMIC_ACQUIRE);
	if (pid != 0 && pid != getpid()) {
		/* A fork's child: the parent's lock may be held for good. */
		pthread_mutex_init(&smk_p11_lock, NULL);
		__atomic_store_n(&init_pid, 0, __ATOMIC_RELEASE);
	}

	pthread_mutex_lock(&smk_p11_lock);
	if (smk_p11_mod != NULL && smk_p11_mod->pid == getpid()) {
		pthread_mutex_unlock(&smk_p11_lock);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	pthread_mutex_unlock(&smk_p11_lock);

	/* Reading the configuration and opening tokens happens outside the
	 * lock; a second C_Initialize racing this one is refused below. */
	rv = module_new(&m);
	if (rv != CKR_OK)
		return rv;

	pthread_mutex_lock(&smk_p11_lock);
	if (smk_p11_mod != NULL && smk_p11_mod->pid == getpid()) {
		pthread_mutex_unlock(&smk_p11_lock);
		module_free(m, false);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	if (smk_p11_mod != NULL) {
		/* The parent's state, seen in a fork's child. */
		old = smk_p11_mod;
		child = true;
	}
	smk_p11_mod = m;
	for (size_t i = 0; i < m->nslots && rv == CKR_OK; i++)
		rv = smk_p11_profile_new(&m->slots[i]);
	if (rv != CKR_OK)
		smk_p11_mod = NULL;
	else
		__atomic_store_n(&init_pid, m->pid, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&smk_p11_lock);

	module_free(old, child);
	if (rv != CKR_OK) {
		module_free(m, false);
		return rv;
	}
	for (size_t i = 0; i < m->nslots; i++)
		smk_p11_slot_sync(&m->slots[i]);
	return CKR_OK;
}

/* The PKCS#11 rule (a child gets CKR_CRYPTOKI_NOT_INITIALIZED until it
 * calls C_Initialize) is kept by the pid check in smk_p11_enter, not by a
 * fork handler of the module.  The key store has fork handlers of its own
 * (lib/smk-keystore.c: its locks stay usable in a child; glibc removes a
 * shared object's handlers when it is dlclose()d), which change nothing
 * here: the child's C_Initialize still makes a new key store. */

CK_RV
smk_C_Finalize(CK_VOID_PTR pReserved)
{
	struct p11_module *m;

	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if (smk_p11_enter() != CKR_OK)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	m = smk_p11_mod;
	smk_p11_mod = NULL;
	__atomic_store_n(&init_pid, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&smk_p11_lock);
	module_free(m, false);
	return CKR_OK;
}

static CK_RV
get_info(CK_INFO_PTR pInfo, CK_BYTE major, CK_BYTE minor)
{
	CK_RV rv;

	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	smk_p11_leave();
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = major;
	pInfo->cryptokiVersion.minor = minor;
	smk_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	pInfo->flags = 0;
	smk_p11_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription), P11_DESCRIPTION);
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	return CKR_OK;
}

/* C_GetInfo answers with the version of the function list it was reached
 * through: 2.40 clients (and p11-kit 0.24) see 2.40. */
static CK_RV
get_info_240(CK_INFO_PTR pInfo)
{
	return get_info(pInfo, 2, 40);
}

static CK_RV
get_info_30(CK_INFO_PTR pInfo)
{
	return get_info(pInfo, 3, 0);
}

/* ---- functions the module does not offer ----------------------------------------- */

static CK_RV
session_only(CK_SESSION_HANDLE hSession, CK_RV rv)
{
	struct p11_session *s;
	CK_RV r = smk_p11_session_get(hSession, &s);

	if (r != CKR_OK)
		return r;
	smk_p11_session_put(s);
	return rv;
}

static CK_RV
msg_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	(void)pMechanism;
	(void)hKey;
	return session_only(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

static CK_RV
msg_final(CK_SESSION_HANDLE hSession)
{
	return session_only(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

static CK_RV
msg_crypt(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
	  CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pIn,
	  CK_ULONG ulInLen, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)
{
	(void)pParameter, (void)ulParameterLen, (void)pAssociatedData, (void)ulAssociatedDataLen;
	(void)pIn, (void)ulInLen, (void)pOut, (void)pulOutLen;
	return session_only(hSession, CKR_OPERATION_NOT_INITIALIZED);
}

static CK_RV
msg_crypt_begin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
		CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen)
{
	(void)pParameter, (void)ulParameterLen, (void)pAssociatedData, (void)ulAssociatedDataLen;
	return session_only(hSession, CKR_OPERATION_NOT_INITIALIZED);
}

static CK_RV
msg_crypt_next(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
	       CK_BYTE_PTR pIn, CK_ULONG ulInLen, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen,
	       CK_FLAGS flags)
{
	(void)pParameter, (void)ulParameterLen, (void)pIn, (void)ulInLen, (void)pOut;
	(void)pulOutLen, (void)flags;
	return session_only(hSession, CKR_OPERATION_NOT_INITIALIZED);
}

static CK_RV
msg_sign(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
	 CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
	 CK_ULONG_PTR pulSignatureLen)
{
	(void)pParameter, (void)ulParameterLen, (void)pData, (void)ulDataLen, (void)pSignature;
	(void)pulSignatureLen;
	return session_only(hSession, CKR_OPERATION_NOT_INITIALIZED);
}

static CK_RV
msg_sign_begin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen)
{
	(void)pParameter, (void)ulParameterLen;
	return session_only(hSession, CKR_OPERATION_NOT_INITIALIZED);
}

static CK_RV
msg_verify(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
	   CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	(void)pParameter, (void)ulParameterLen, (void)pData, (void)ulDataLen, (void)pSignature;
	(void)ulSignatureLen;
	return session_only(hSession, CKR_OPERATION_NOT_INITIALIZED);
}

/* ---- function lists and interfaces ------------------------------------------------- */

static CK_RV get_function_list(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);
static CK_RV get_interface_list(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);
static CK_RV get_interface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
			   CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags);

#define P11_FUNCTIONS_240(getinfo) \
	.C_Initialize = smk_C_Initialize, \
	.C_Finalize = smk_C_Finalize, \
	.C_GetInfo = getinfo, \
	.C_GetFunctionList = get_function_list, \
	.C_GetSlotList = smk_C_GetSlotList, \
	.C_GetSlotInfo = smk_C_GetSlotInfo, \
	.C_GetTokenInfo = smk_C_GetTokenInfo, \
	.C_GetMechanismList = smk_C_GetMechanismList, \
	.C_GetMechanismInfo = smk_C_GetMechanismInfo, \
	.C_InitToken = smk_C_InitToken, \
	.C_InitPIN = smk_C_InitPIN, \
	.C_SetPIN = smk_C_SetPIN, \
	.C_OpenSession = smk_C_OpenSession, \
	.C_CloseSession = smk_C_CloseSession, \
	.C_CloseAllSessions = smk_C_CloseAllSessions, \
	.C_GetSessionInfo = smk_C_GetSessionInfo, \
	.C_GetOperationState = smk_C_GetOperationState, \
	.C_SetOperationState = smk_C_SetOperationState, \
	.C_Login = smk_C_Login, \
	.C_Logout = smk_C_Logout, \
	.C_CreateObject = smk_C_CreateObject, \
	.C_CopyObject = smk_C_CopyObject, \
	.C_DestroyObject = smk_C_DestroyObject, \
	.C_GetObjectSize = smk_C_GetObjectSize, \
	.C_GetAttributeValue = smk_C_GetAttributeValue, \
	.C_SetAttributeValue = smk_C_SetAttributeValue, \
	.C_FindObjectsInit = smk_C_FindObjectsInit, \
	.C_FindObjects = smk_C_FindObjects, \
	.C_FindObjectsFinal = smk_C_FindObjectsFinal, \
	.C_EncryptInit = smk_C_EncryptInit, \
	.C_Encrypt = smk_C_Encrypt, \
	.C_EncryptUpdate = smk_C_EncryptUpdate, \
	.C_EncryptFinal = smk_C_EncryptFinal, \
	.C_DecryptInit = smk_C_DecryptInit, \
	.C_Decrypt = smk_C_Decrypt, \
	.C_DecryptUpdate = smk_C_DecryptUpdate, \
	.C_DecryptFinal = smk_C_DecryptFinal, \
	.C_DigestInit = smk_C_DigestInit, \
	.C_Digest = smk_C_Digest, \
	.C_DigestUpdate = smk_C_DigestUpdate, \
	.C_DigestKey = smk_C_DigestKey, \
	.C_DigestFinal = smk_C_DigestFinal, \
	.C_SignInit = smk_C_SignInit, \
	.C_Sign = smk_C_Sign, \
	.C_SignUpdate = smk_C_SignUpdate, \
	.C_SignFinal = smk_C_SignFinal, \
	.C_SignRecoverInit = smk_C_SignRecoverInit, \
	.C_SignRecover = smk_C_SignRecover, \
	.C_VerifyInit = smk_C_VerifyInit, \
	.C_Verify = smk_C_Verify, \
	.C_VerifyUpdate = smk_C_VerifyUpdate, \
	.C_VerifyFinal = smk_C_VerifyFinal, \
	.C_VerifyRecoverInit = smk_C_VerifyRecoverInit, \
	.C_VerifyRecover = smk_C_VerifyRecover, \
	.C_DigestEncryptUpdate = smk_C_DigestEncryptUpdate, \
	.C_DecryptDigestUpdate = smk_C_DecryptDigestUpdate, \
	.C_SignEncryptUpdate = smk_C_SignEncryptUpdate, \
	.C_DecryptVerifyUpdate = smk_C_DecryptVerifyUpdate, \
	.C_GenerateKey = smk_C_GenerateKey, \
	.C_GenerateKeyPair = smk_C_GenerateKeyPair, \
	.C_WrapKey = smk_C_WrapKey, \
	.C_UnwrapKey = smk_C_UnwrapKey, \
	.C_DeriveKey = smk_C_DeriveKey, \
	.C_SeedRandom = smk_C_SeedRandom, \
	.C_GenerateRandom = smk_C_GenerateRandom, \
	.C_GetFunctionStatus = smk_C_GetFunctionStatus, \
	.C_CancelFunction = smk_C_CancelFunction, \
	.C_WaitForSlotEvent = smk_C_WaitForSlotEvent

static CK_FUNCTION_LIST list_240 = {
	.version = { 2, 40 },
	P11_FUNCTIONS_240(get_info_240),
};

static CK_FUNCTION_LIST_3_0 list_30 = {
	.version = { 3, 0 },
	P11_FUNCTIONS_240(get_info_30),
	.C_GetInterfaceList = get_interface_list,
	.C_GetInterface = get_interface,
	.C_LoginUser = smk_C_LoginUser,
	.C_SessionCancel = smk_C_SessionCancel,
	.C_MessageEncryptInit = msg_init,
	.C_EncryptMessage = msg_crypt,
	.C_EncryptMessageBegin = msg_crypt_begin,
	.C_EncryptMessageNext = msg_crypt_next,
	.C_MessageEncryptFinal = msg_final,
	.C_MessageDecryptInit = msg_init,
	.C_DecryptMessage = msg_crypt,
	.C_DecryptMessageBegin = msg_crypt_begin,
	.C_DecryptMessageNext = msg_crypt_next,
	.C_MessageDecryptFinal = msg_final,
	.C_MessageSignInit = msg_init,
	.C_SignMessage = msg_sign,
	.C_SignMessageBegin = msg_sign_begin,
	.C_SignMessageNext = msg_sign,
	.C_MessageSignFinal = msg_final,
	.C_MessageVerifyInit = msg_init,
	.C_VerifyMessage = msg_verify,
	.C_VerifyMessageBegin = msg_sign_begin,
	.C_VerifyMessageNext = msg_verify,
	.C_MessageVerifyFinal = msg_final,
};

static CK_UTF8CHAR interface_name[] = "PKCS 11";

/* The default (first) is 3.0.  Not CKF_INTERFACE_FORK_SAFE: a child must
 * call C_Initialize again. */
static CK_INTERFACE interfaces[] = {
	{ interface_name, &list_30, 0 },
	{ interface_name, &list_240, 0 },
};

static CK_INTERFACE scratch;

static CK_RV
get_function_list(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &list_240;
	return CKR_OK;
}

static CK_RV
get_interface_list(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	CK_ULONG n = sizeof(interfaces) / sizeof(interfaces[0]);

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList == NULL) {
		*pulCount = n;
		return CKR_OK;
	}
	if (*pulCount < n) {
		*pulCount = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(pInterfacesList, interfaces, sizeof(interfaces));
	*pulCount = n;
	return CKR_OK;
}

static CK_RV
get_interface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
	      CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < sizeof(interfaces) / sizeof(interfaces[0]); i++) {
		const CK_VERSION *v = (const CK_VERSION *)interfaces[i].pFunctionList;

		if (pInterfaceName != NULL &&
		    strcmp((const char *)pInterfaceName, (const char *)interfaces[i].pInterfaceName) != 0)
			continue;
		if (pVersion != NULL && (pVersion->major != v->major || pVersion->minor != v->minor))
			continue;
		if ((flags & interfaces[i].flags) != flags)
			continue;
		*ppInterface = &interfaces[i];
		return CKR_OK;
	}
	/* Nothing matches.  NSS asks first for CKF_INTERFACE_FORK_SAFE, and
	 * pkcs11-spy (OpenSC 0.23) reads *ppInterface even when the call
	 * fails: it gets a scratch copy of the default to look at, so
	 * spying on NSS does not crash.  The result is still an error. */
	scratch = interfaces[0];
	*ppInterface = &scratch;
	return CKR_ARGUMENTS_BAD;
}

P11_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	return get_function_list(ppFunctionList);
}

P11_EXPORT CK_RV
C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	return get_interface_list(pInterfacesList, pulCount);
}

P11_EXPORT CK_RV
C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
	       CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	return get_interface(pInterfaceName, pVersion, ppInterface, flags);
}
