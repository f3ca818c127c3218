/* smk-p11-op.c - the state of a cryptographic operation in a session, and
 * the output-length protocol every operation follows
 *
 * PKCS#11's rules, in one place: a NULL output buffer asks for the
 * length (CKR_OK, the operation stays); a buffer too small gives
 * CKR_BUFFER_TOO_SMALL with the length needed (the operation stays); any
 * other error ends the operation, and so does success.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "smk-p11.h"

struct p11_op *
smk_p11_op_new(enum p11_op_type type, const struct p11_mech *mech)
{
	struct p11_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->type = type;
	op->mech = mech;
	return op;
}

/* The start every C_*Init shares: the session (a reference the caller puts
 * back), no operation of this type active, a mechanism that can do flag,
 * and a new operation for it.  On an error the session is put back here
 * and *s is NULL. */
CK_RV
smk_p11_op_begin(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, enum p11_op_type type, CK_FLAGS flag,
		 struct p11_session **s, struct p11_op **op)
{
	const struct p11_mech *e;
	CK_RV rv;

	*op = NULL;
	rv = smk_p11_session_get(h, s);
	if (rv != CKR_OK) {
		*s = NULL;
		return rv;
	}
	if ((*s)->ops[type] != NULL)
		rv = CKR_OPERATION_ACTIVE;
	else if (m == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if ((e = smk_p11_mech_find(m->mechanism)) == NULL || !(e->flags & flag))
		rv = CKR_MECHANISM_INVALID;
	else if ((*op = smk_p11_op_new(type, e)) == NULL)
		rv = CKR_HOST_MEMORY;
	if (rv != CKR_OK) {
		smk_p11_session_put(*s);
		*s = NULL;
	}
	return rv;
}

void
smk_p11_op_free(struct p11_op *op)
{
	if (op == NULL)
		return;
	smk_p11_key_clear(&op->key);
	EVP_MD_CTX_free(op->md);
	EVP_CIPHER_CTX_free(op->cipher);
	if (op->data != NULL) {
		OPENSSL_cleanse(op->data, op->data_cap);
		free(op->data);
	}
	OPENSSL_free(op->label);
	OPENSSL_cleanse(op, sizeof(*op));
	free(op);
}

void
smk_p11_op_end(struct p11_session *s, enum p11_op_type type)
{
	smk_p11_op_free(s->ops[type]);
	s->ops[type] = NULL;
}

CK_RV
smk_p11_op_gather(struct p11_op *op, const unsigned char *in, size_t len, size_t max)
{
	if (len > max || op->data_len > max - len)
		return CKR_DATA_LEN_RANGE;
	if (op->data_len + len > op->data_cap) {
		size_t cap = op->data_cap ? op->data_cap : 256;
		unsigned char *n;

		while (cap < op->data_len + len)
			cap *= 2;
		n = malloc(cap);
		if (n == NULL)
			return CKR_HOST_MEMORY;
		if (op->data != NULL) {
			memcpy(n, op->data, op->data_len);
			OPENSSL_cleanse(op->data, op->data_cap);
			free(op->data);
		}
		op->data = n;
		op->data_cap = cap;
	}
	if (len > 0)
		memcpy(op->data + op->data_len, in, len);
	op->data_len += len;
	return CKR_OK;
}

CK_RV
smk_p11_out_len(const unsigned char *out, CK_ULONG_PTR out_len, size_t need, bool *done)
{
	*done = false;
	if (out == NULL) {
		*out_len = need;
		*done = true;
		return CKR_OK;
	}
	if (*out_len < need) {
		*out_len = need;
		*done = true;
		return CKR_BUFFER_TOO_SMALL;
	}
	return CKR_OK;
}
