/* smk-p11-slot.c - slots and tokens: one slot per [token NAME] section;
 * token information, initialisation, PINs, login and logout, the
 * mechanism list
 *
 * The PIN rules (length, failure counter, lockout) are the key store's;
 * this file maps them onto the PKCS#11 flags and return values and keeps
 * the application's login state per slot, which decides the session
 * states.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "smk-p11.h"

#define P11_MANUFACTURER "smimekit"

/* Runs fn on the slot of a valid slot id, without the module lock. */
static CK_RV
slot_of(CK_SLOT_ID id, struct p11_slot **out)
{
	CK_RV rv = smk_p11_enter();

	if (rv != CKR_OK)
		return rv;
	*out = smk_p11_slot(id);
	smk_p11_leave();
	return *out != NULL ? CKR_OK : CKR_SLOT_ID_INVALID;
}

CK_RV
smk_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_ULONG n;
	CK_RV rv;

	(void)tokenPresent;	/* every slot has its token */
	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	n = smk_p11_mod->nslots;
	if (pulCount == NULL) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (pSlotList == NULL) {
		*pulCount = n;
	} else if (*pulCount < n) {
		*pulCount = n;
		rv = CKR_BUFFER_TOO_SMALL;
	} else {
		for (CK_ULONG i = 0; i < n; i++)
			pSlotList[i] = smk_p11_mod->slots[i].id;
		*pulCount = n;
	}
	smk_p11_leave();
	return rv;
}

static enum smk_ks_status
token_info(struct p11_slot *slot, struct smk_token_info *info)
{
	struct smk_error err;
	enum smk_ks_status st;

	smk_error_clear(&err);
	st = smk_token_info(slot->token, info, &err);
	if (st != SMK_KS_OK)
		smk_p11_ks_rv(st, &err, "token information");
	return st;
}

CK_RV
smk_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	struct smk_token_info info;
	struct p11_slot *slot;
	char desc[128];
	CK_RV rv;

	rv = slot_of(slotID, &slot);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(&info, 0, sizeof(info));
	if (token_info(slot, &info) != SMK_KS_OK)
		snprintf(info.name, sizeof(info.name), "%lu", (unsigned long)slotID);
	memset(pInfo, 0, sizeof(*pInfo));
	snprintf(desc, sizeof(desc), "smimekit token %s (%s)", info.name,
		 info.model[0] != '\0' ? info.model : "?");
	smk_p11_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
	smk_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	pInfo->flags = CKF_TOKEN_PRESENT;
	pInfo->hardwareVersion.major = 0;
	pInfo->hardwareVersion.minor = 1;
	pInfo->firmwareVersion.major = 0;
	pInfo->firmwareVersion.minor = 1;
	return CKR_OK;
}

CK_RV
smk_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	struct smk_token_info info;
	struct p11_slot *slot;
	CK_FLAGS flags;
	CK_RV rv;

	rv = slot_of(slotID, &slot);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(&info, 0, sizeof(info));
	if (token_info(slot, &info) != SMK_KS_OK)
		return CKR_DEVICE_ERROR;

	memset(pInfo, 0, sizeof(*pInfo));
	smk_p11_pad(pInfo->label, sizeof(pInfo->label), info.label[0] != '\0' ? info.label : info.name);
	smk_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	smk_p11_pad(pInfo->model, sizeof(pInfo->model), info.model);
	smk_p11_pad(pInfo->serialNumber, sizeof(pInfo->serialNumber), info.serial);

	flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	if (info.initialized)
		flags |= CKF_TOKEN_INITIALIZED;
	if (info.user_pin_set)
		flags |= CKF_USER_PIN_INITIALIZED;
	if (info.write_protected)
		flags |= CKF_WRITE_PROTECTED;
	if (info.user_locked) {
		flags |= CKF_USER_PIN_LOCKED;
	} else if (info.user_failures > 0) {
		flags |= CKF_USER_PIN_COUNT_LOW;
		if (info.max_failures > 0 && info.user_failures + 1 >= info.max_failures)
			flags |= CKF_USER_PIN_FINAL_TRY;
	}
	if (info.so_locked) {
		flags |= CKF_SO_PIN_LOCKED;
	} else if (info.so_failures > 0) {
		flags |= CKF_SO_PIN_COUNT_LOW;
		if (info.max_failures > 0 && info.so_failures + 1 >= info.max_failures)
			flags |= CKF_SO_PIN_FINAL_TRY;
	}
	pInfo->flags = flags;

	pthread_mutex_lock(&smk_p11_lock);
	pInfo->ulSessionCount = slot->sessions;
	pInfo->ulRwSessionCount = slot->rw_sessions;
	pthread_mutex_unlock(&smk_p11_lock);
	pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulMaxPinLen = SMK_PIN_MAX;
	pInfo->ulMinPinLen = SMK_PIN_MIN;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->hardwareVersion.major = 0;
	pInfo->hardwareVersion.minor = 1;
	pInfo->firmwareVersion.major = 0;
	pInfo->firmwareVersion.minor = 1;
	memset(pInfo->utcTime, ' ', sizeof(pInfo->utcTime));	/* no CKF_CLOCK_ON_TOKEN */
	return CKR_OK;
}

CK_RV
smk_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	CK_RV rv = smk_p11_enter();

	if (rv != CKR_OK)
		return rv;
	smk_p11_leave();
	if (pSlot == NULL || pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	/* Tokens are never inserted or removed. */
	return (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
smk_C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
		       CK_ULONG_PTR pulCount)
{
	const struct p11_mech *tab;
	struct p11_slot *slot;
	size_t n;
	CK_RV rv;

	rv = slot_of(slotID, &slot);
	if (rv != CKR_OK)
		return rv;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	tab = smk_p11_mech_table(&n);
	if (pMechanismList == NULL) {
		*pulCount = n;
		return CKR_OK;
	}
	if (*pulCount < n) {
		*pulCount = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (size_t i = 0; i < n; i++)
		pMechanismList[i] = tab[i].type;
	*pulCount = n;
	return CKR_OK;
}

CK_RV
smk_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	const struct p11_mech *m;
	struct p11_slot *slot;
	CK_RV rv;

	rv = slot_of(slotID, &slot);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	m = smk_p11_mech_find(type);
	if (m == NULL)
		return CKR_MECHANISM_INVALID;
	pInfo->ulMinKeySize = m->min;
	pInfo->ulMaxKeySize = m->max;
	pInfo->flags = m->flags;
	return CKR_OK;
}

/* A PIN argument: NULL only with length 0 would mean a protected
 * authentication path, which these tokens do not have. */
static CK_RV
check_pin_arg(const CK_UTF8CHAR *pin, CK_ULONG len)
{
	if (pin == NULL)
		return CKR_ARGUMENTS_BAD;
	(void)len;
	return CKR_OK;
}

/* A new PIN: the key store's length rules as PKCS#11 results. */
static CK_RV
pin_set_rv(enum smk_ks_status st, const struct smk_error *err, CK_ULONG len, const char *what)
{
	if (st == SMK_KS_PIN_INVALID)
		return (len < SMK_PIN_MIN || len > SMK_PIN_MAX) ? CKR_PIN_LEN_RANGE : CKR_PIN_INVALID;
	return smk_p11_ks_rv(st, err, what);
}

CK_RV
smk_C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	struct smk_error err;
	enum smk_ks_status st;
	struct p11_slot *slot;
	char label[33];
	size_t n;
	CK_RV rv;

	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	slot = smk_p11_slot(slotID);
	if (slot == NULL) {
		smk_p11_leave();
		return CKR_SLOT_ID_INVALID;
	}
	if (slot->sessions > 0) {
		smk_p11_leave();
		return CKR_SESSION_EXISTS;
	}
	smk_p11_leave();
	if (pLabel == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = check_pin_arg(pPin, ulPinLen);
	if (rv != CKR_OK)
		return rv;
	if (ulPinLen < SMK_PIN_MIN || ulPinLen > SMK_PIN_MAX)
		return CKR_PIN_LEN_RANGE;

	/* The label is 32 bytes, blank-padded (some callers pad with NULs). */
	memcpy(label, pLabel, 32);
	n = 32;
	while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == '\0'))
		n--;
	label[n] = '\0';
	if (memchr(label, '\0', n) != NULL)
		return CKR_ARGUMENTS_BAD;

	smk_error_clear(&err);
	st = smk_token_init(slot->token, (const char *)pPin, ulPinLen, label, &err);
	if (st != SMK_KS_OK)
		return pin_set_rv(st, &err, ulPinLen, "C_InitToken");
	smk_p11_slot_sync(slot);
	return CKR_OK;
}

CK_RV
smk_C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct p11_session *s;
	struct smk_error err;
	enum smk_ks_status st;
	CK_STATE state;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	pthread_mutex_lock(&smk_p11_lock);
	state = smk_p11_session_state(s);
	pthread_mutex_unlock(&smk_p11_lock);
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
	} else if (state != CKS_RW_SO_FUNCTIONS) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else if ((rv = check_pin_arg(pPin, ulPinLen)) != CKR_OK) {
		/* rv set */
	} else if (ulPinLen < SMK_PIN_MIN || ulPinLen > SMK_PIN_MAX) {
		rv = CKR_PIN_LEN_RANGE;
	} else {
		smk_error_clear(&err);
		st = smk_token_init_pin(s->slot->token, (const char *)pPin, ulPinLen, &err);
		rv = pin_set_rv(st, &err, ulPinLen, "C_InitPIN");
	}
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
	     CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	struct p11_session *s;
	struct smk_error err;
	enum smk_ks_status st;
	enum smk_ks_user user;
	CK_STATE state;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	pthread_mutex_lock(&smk_p11_lock);
	state = smk_p11_session_state(s);
	pthread_mutex_unlock(&smk_p11_lock);
	/* The SO changes the SO PIN; in the public and user states it is the
	 * user's PIN. */
	user = state == CKS_RW_SO_FUNCTIONS ? SMK_KS_SO : SMK_KS_USER;
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
	} else if (check_pin_arg(pOldPin, ulOldLen) != CKR_OK ||
		   check_pin_arg(pNewPin, ulNewLen) != CKR_OK) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (ulNewLen < SMK_PIN_MIN || ulNewLen > SMK_PIN_MAX) {
		rv = CKR_PIN_LEN_RANGE;
	} else {
		smk_error_clear(&err);
		st = smk_token_set_pin(s->slot->token, user, (const char *)pOldPin, ulOldLen,
				       (const char *)pNewPin, ulNewLen, &err);
		rv = pin_set_rv(st, &err, ulNewLen, "C_SetPIN");
	}
	smk_p11_session_put(s);
	return rv;
}

static bool
token_initialized(struct p11_slot *slot)
{
	struct smk_token_info info;
	struct smk_error err;

	memset(&info, 0, sizeof(info));
	return smk_token_info(slot->token, &info, &err) != SMK_KS_OK || info.initialized;
}

CK_RV
smk_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
	    CK_ULONG ulPinLen)
{
	struct p11_session *s;
	struct p11_slot *slot;
	struct smk_error err;
	enum smk_ks_status st;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	slot = s->slot;

	pthread_mutex_lock(&smk_p11_lock);
	switch (userType) {
	case CKU_SO:
		if (slot->login == P11_LOGIN_SO)
			rv = CKR_USER_ALREADY_LOGGED_IN;
		else if (slot->login == P11_LOGIN_USER)
			rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		else if (slot->sessions > slot->rw_sessions)
			rv = CKR_SESSION_READ_ONLY_EXISTS;
		break;
	case CKU_USER:
		if (slot->login == P11_LOGIN_USER)
			rv = CKR_USER_ALREADY_LOGGED_IN;
		else if (slot->login == P11_LOGIN_SO)
			rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		break;
	case CKU_CONTEXT_SPECIFIC:
		/* No key here has CKA_ALWAYS_AUTHENTICATE, so no operation
		 * ever waits for a context-specific login. */
		if (slot->login != P11_LOGIN_USER)
			rv = CKR_USER_NOT_LOGGED_IN;
		else
			rv = CKR_OPERATION_NOT_INITIALIZED;
		break;
	default:
		rv = CKR_USER_TYPE_INVALID;
		break;
	}
	pthread_mutex_unlock(&smk_p11_lock);
	if (rv == CKR_OK)
		rv = check_pin_arg(pPin, ulPinLen);
	if (rv != CKR_OK) {
		smk_p11_session_put(s);
		return rv;
	}

	smk_error_clear(&err);
	st = smk_token_login(slot->token, userType == CKU_SO ? SMK_KS_SO : SMK_KS_USER,
			     (const char *)pPin, ulPinLen, &err);
	if (st == SMK_KS_PIN_INVALID)
		st = SMK_KS_PIN_INCORRECT;	/* a PIN of the wrong length is just wrong */
	if (st == SMK_KS_ERROR && !token_initialized(slot)) {
		/* No PIN of either user exists before C_InitToken. */
		smk_p11_log(SMK_LOG_INFO, "C_Login: the token is not initialised (C_InitToken)");
		st = SMK_KS_PIN_NOT_SET;
	}
	rv = smk_p11_ks_rv(st, &err, "C_Login");
	if (rv == CKR_OK) {
		pthread_mutex_lock(&smk_p11_lock);
		slot->login = userType == CKU_SO ? P11_LOGIN_SO : P11_LOGIN_USER;
		pthread_mutex_unlock(&smk_p11_lock);
	}
	smk_p11_session_put(s);
	if (rv == CKR_OK && userType == CKU_USER)
		smk_p11_slot_sync(slot);
	return rv;
}

CK_RV
smk_C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
		CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
	/* Tokens here have no user names: the name is ignored. */
	(void)pUsername;
	(void)ulUsernameLen;
	return smk_C_Login(hSession, userType, pPin, ulPinLen);
}

CK_RV
smk_C_Logout(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	struct p11_slot *slot;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	slot = s->slot;
	pthread_mutex_lock(&smk_p11_lock);
	if (slot->login == P11_LOGIN_NONE) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else {
		slot->login = P11_LOGIN_NONE;
		smk_p11_objects_drop_private(slot);
	}
	pthread_mutex_unlock(&smk_p11_lock);
	smk_p11_session_put(s);
	if (rv == CKR_OK) {
		smk_token_logout(slot->token);
		smk_p11_slot_sync(slot);
	}
	return rv;
}
