/* smk-p11-session.c - sessions: open and close, their state, references
 *
 * A session belongs to one slot.  Its state (CKS_*) follows from its
 * R/W flag and who is logged in to the slot, which is per application
 * (per process) as in PKCS#11.  Closing the last session of a slot logs
 * the application out.
 *
 * Operation calls take a reference to the session and its lock
 * (smk_p11_session_get/put): C_CloseSession from another thread unlinks
 * the session at once and the last reference frees it, so a call in
 * progress never touches freed memory.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smk-p11.h"

CK_RV
smk_p11_session_get(CK_SESSION_HANDLE h, struct p11_session **out)
{
	struct p11_session *s;
	CK_RV rv;

	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	for (s = smk_p11_mod->sessions; s != NULL; s = s->next) {
		if (s->handle == h)
			break;
	}
	if (s == NULL || h == CK_INVALID_HANDLE) {
		smk_p11_leave();
		return CKR_SESSION_HANDLE_INVALID;
	}
	s->refs++;
	smk_p11_leave();
	pthread_mutex_lock(&s->lock);
	*out = s;
	return CKR_OK;
}

static void
session_free(struct p11_session *s)
{
	for (int i = 0; i < P11_OP_COUNT; i++)
		smk_p11_op_free(s->ops[i]);
	free(s->find.handles);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void
smk_p11_session_put(struct p11_session *s)
{
	bool last;

	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&smk_p11_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&smk_p11_lock);
	/* Only a closed session drops to zero: the list holds a reference. */
	if (last)
		session_free(s);
}

CK_STATE
smk_p11_session_state(const struct p11_session *s)
{
	bool rw = (s->flags & CKF_RW_SESSION) != 0;

	switch (s->slot->login) {
	case P11_LOGIN_SO:
		return CKS_RW_SO_FUNCTIONS;
	case P11_LOGIN_USER:
		return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	case P11_LOGIN_NONE:
		break;
	}
	return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
}

void
smk_p11_sessions_free_all(struct p11_module *m)
{
	struct p11_session *s, *next;

	for (s = m->sessions; s != NULL; s = next) {
		next = s->next;
		session_free(s);
	}
	m->sessions = NULL;
}

CK_RV
smk_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
		  CK_SESSION_HANDLE_PTR phSession)
{
	struct p11_session *s;
	struct p11_slot *slot;
	CK_RV rv;

	(void)pApplication;
	(void)Notify;	/* never called: no callbacks (CKN_SURRENDER is not used) */
	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	slot = smk_p11_slot(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	if (phSession == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (!(flags & CKF_SERIAL_SESSION)) {
		rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
		goto out;
	}
	if (!(flags & CKF_RW_SESSION) && slot->login == P11_LOGIN_SO) {
		rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->handle = smk_p11_new_handle();
	s->slot = slot;
	s->flags = flags & (CKF_RW_SESSION | CKF_SERIAL_SESSION);
	s->refs = 1;
	s->next = smk_p11_mod->sessions;
	smk_p11_mod->sessions = s;
	slot->sessions++;
	if (flags & CKF_RW_SESSION)
		slot->rw_sessions++;
	*phSession = s->handle;
out:
	smk_p11_leave();
	return rv;
}

/* Unlinks s (module lock held); true if it was the slot's last session. */
static bool
session_unlink(struct p11_session *s)
{
	struct p11_session **pp;

	for (pp = &smk_p11_mod->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->next = NULL;
	s->closed = true;
	smk_p11_objects_drop_session(s->handle);
	s->slot->sessions--;
	if (s->flags & CKF_RW_SESSION)
		s->slot->rw_sessions--;
	return s->slot->sessions == 0;
}

/* The application's last session on the slot went: it is logged out. */
static void
slot_logout_if_idle(struct p11_slot *slot)
{
	bool was_logged_in;

	pthread_mutex_lock(&smk_p11_lock);
	was_logged_in = slot->sessions == 0 && slot->login != P11_LOGIN_NONE;
	if (was_logged_in) {
		slot->login = P11_LOGIN_NONE;
		smk_p11_objects_drop_private(slot);
	}
	pthread_mutex_unlock(&smk_p11_lock);
	if (was_logged_in) {
		smk_token_logout(slot->token);
		smk_p11_slot_sync(slot);
	}
}

static void
session_release(struct p11_session *s)
{
	bool last;

	last = --s->refs == 0;
	if (last)
		session_free(s);
}

CK_RV
smk_C_CloseSession(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	struct p11_slot *slot;
	bool idle;
	CK_RV rv;

	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	for (s = smk_p11_mod->sessions; s != NULL; s = s->next) {
		if (s->handle == hSession)
			break;
	}
	if (s == NULL || hSession == CK_INVALID_HANDLE) {
		smk_p11_leave();
		return CKR_SESSION_HANDLE_INVALID;
	}
	slot = s->slot;
	idle = session_unlink(s);
	session_release(s);
	smk_p11_leave();
	if (idle)
		slot_logout_if_idle(slot);
	return CKR_OK;
}

CK_RV
smk_C_CloseAllSessions(CK_SLOT_ID slotID)
{
	struct p11_session *s, *next;
	struct p11_slot *slot;
	CK_RV rv;

	rv = smk_p11_enter();
	if (rv != CKR_OK)
		return rv;
	slot = smk_p11_slot(slotID);
	if (slot == NULL) {
		smk_p11_leave();
		return CKR_SLOT_ID_INVALID;
	}
	for (s = smk_p11_mod->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->slot != slot)
			continue;
		session_unlink(s);
		session_release(s);
	}
	smk_p11_leave();
	slot_logout_if_idle(slot);
	return CKR_OK;
}

CK_RV
smk_C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	struct p11_session *s;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		memset(pInfo, 0, sizeof(*pInfo));
		pInfo->slotID = s->slot->id;
		pthread_mutex_lock(&smk_p11_lock);
		pInfo->state = smk_p11_session_state(s);
		pthread_mutex_unlock(&smk_p11_lock);
		pInfo->flags = s->flags;
		pInfo->ulDeviceError = 0;
	}
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
			CK_ULONG_PTR pulOperationStateLen)
{
	struct p11_session *s;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	(void)pOperationState;
	rv = pulOperationStateLen == NULL ? CKR_ARGUMENTS_BAD : CKR_FUNCTION_NOT_SUPPORTED;
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
			CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
			CK_OBJECT_HANDLE hAuthenticationKey)
{
	struct p11_session *s;
	CK_RV rv;

	(void)ulOperationStateLen, (void)hEncryptionKey, (void)hAuthenticationKey;
	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	rv = pOperationState == NULL ? CKR_ARGUMENTS_BAD : CKR_FUNCTION_NOT_SUPPORTED;
	smk_p11_session_put(s);
	return rv;
}

/* Legacy parallel-function calls: always CKR_FUNCTION_NOT_PARALLEL. */
CK_RV
smk_C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv = smk_p11_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	smk_p11_session_put(s);
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV
smk_C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	return smk_C_GetFunctionStatus(hSession);
}

/* 3.0: ends the operations named by flags (CKF_ENCRYPT, CKF_SIGN, ...). */
CK_RV
smk_C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
	static const struct {
		CK_FLAGS flag;
		enum p11_op_type op;
	} map[] = {
		{ CKF_ENCRYPT, P11_OP_ENCRYPT }, { CKF_DECRYPT, P11_OP_DECRYPT },
		{ CKF_DIGEST, P11_OP_DIGEST },	 { CKF_SIGN, P11_OP_SIGN },
		{ CKF_VERIFY, P11_OP_VERIFY },
	};
	struct p11_session *s;
	CK_RV rv = smk_p11_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (flags & map[i].flag)
			smk_p11_op_end(s, map[i].op);
	}
	if (flags & CKF_FIND_OBJECTS) {
		free(s->find.handles);
		memset(&s->find, 0, sizeof(s->find));
	}
	smk_p11_session_put(s);
	return CKR_OK;
}
