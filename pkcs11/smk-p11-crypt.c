/* smk-p11-crypt.c - encryption and decryption: RSA (decryption through
 * the key store, encryption with the public key in the module) and AES
 * (ECB, CBC, CBC_PAD) with session secret keys
 *
 * NSS decrypts S/MIME by unwrapping the content key into a session key
 * and decrypting with CKM_AES_CBC in parts, stripping the padding itself;
 * CKM_AES_CBC_PAD strips it here.  The module buffers partial blocks
 * itself and feeds OpenSSL whole blocks only (padding off), so it knows
 * every output length before it changes any state: a length query or a
 * short buffer leaves the operation as it was.  For CBC_PAD decryption
 * the last block is held back until C_DecryptFinal.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "smk-p11.h"

/* ---- RSA ----------------------------------------------------------------------- */

static size_t
rsa_size(const struct p11_op *op)
{
	return (size_t)EVP_PKEY_get_size(op->key.item->pub);
}

CK_RV
smk_p11_rsa_pub_encrypt(const struct p11_op *op, const unsigned char *in, size_t len,
			unsigned char *out, size_t *out_len)
{
	size_t k = rsa_size(op);
	unsigned char *padded = NULL;
	EVP_PKEY_CTX *ctx;
	CK_RV rv = CKR_FUNCTION_FAILED;
	int pad;

	switch (op->mech->type) {
	case CKM_RSA_PKCS_OAEP:
		pad = RSA_PKCS1_OAEP_PADDING;
		break;
	case CKM_RSA_X_509:
		pad = RSA_NO_PADDING;
		if (len > k)
			return CKR_DATA_LEN_RANGE;
		/* A number below the modulus, left-padded to its length. */
		padded = calloc(1, k);
		if (padded == NULL)
			return CKR_HOST_MEMORY;
		memcpy(padded + (k - len), in, len);
		in = padded;
		len = k;
		break;
	default:
		pad = RSA_PKCS1_PADDING;
		if (len > k - 11)
			return CKR_DATA_LEN_RANGE;
		break;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->key.item->pub, NULL);
	if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, pad) <= 0)
		goto out;
	if (pad == RSA_PKCS1_OAEP_PADDING) {
		if (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_get_digestbyname(op->dp.md)) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(op->dp.mgf1_md)) <= 0)
			goto out;
		if (op->dp.label_len > 0) {
			unsigned char *l = OPENSSL_memdup(op->dp.label, op->dp.label_len);

			if (l == NULL || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)op->dp.label_len) <= 0) {
				OPENSSL_free(l);
				goto out;
			}
		}
	}
	if (EVP_PKEY_encrypt(ctx, out, out_len, in, len) <= 0) {
		rv = CKR_DATA_LEN_RANGE;	/* too long for the padding, or too big a number */
		goto out;
	}
	rv = CKR_OK;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	if (padded != NULL) {
		OPENSSL_cleanse(padded, k);
		free(padded);
	}
	return rv;
}

CK_RV
smk_p11_rsa_decrypt(struct p11_session *s, const struct p11_op *op, const unsigned char *in,
		    size_t len, unsigned char *out, size_t *out_len)
{
	struct smk_decrypt_params dp = op->dp;
	struct smk_error err;
	enum smk_ks_status st;
	CK_RV rv;

	if (len != rsa_size(op))
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (op->mech->type == CKM_RSA_PKCS) {
		memset(&dp, 0, sizeof(dp));
		dp.padding = SMK_PAD_PKCS1;
	} else if (op->mech->type == CKM_RSA_X_509) {
		memset(&dp, 0, sizeof(dp));
		dp.padding = SMK_PAD_NONE;
	}
	smk_error_clear(&err);
	st = smk_token_decrypt(s->slot->token, op->key.item, &dp, in, len, out, out_len, &err);
	rv = smk_p11_ks_rv(st, &err, "decrypting");
	if (rv == CKR_DATA_INVALID)
		rv = CKR_ENCRYPTED_DATA_INVALID;
	return rv;
}

/* ---- AES ----------------------------------------------------------------------- */

static const EVP_CIPHER *
aes_cipher(CK_MECHANISM_TYPE mech, size_t key_len)
{
	bool ecb = mech == CKM_AES_ECB;

	switch (key_len) {
	case 16:
		return ecb ? EVP_aes_128_ecb() : EVP_aes_128_cbc();
	case 24:
		return ecb ? EVP_aes_192_ecb() : EVP_aes_192_cbc();
	case 32:
		return ecb ? EVP_aes_256_ecb() : EVP_aes_256_cbc();
	default:
		return NULL;
	}
}

/* Output of an update with len more bytes. */
static size_t
aes_emit(const struct p11_op *op, size_t len)
{
	size_t total = op->npend + len, emit = total - total % 16;

	if (op->pad && op->type == P11_OP_DECRYPT && emit == total && emit > 0)
		emit -= 16;	/* the block that may hold the padding waits */
	return emit;
}

/* Processes what aes_emit announced; out gets exactly that many bytes. */
static CK_RV
aes_feed(EVP_CIPHER_CTX *ctx, unsigned char *pend, size_t *npend, const unsigned char *in,
	 size_t len, unsigned char *out, size_t emit)
{
	unsigned char block[16];
	size_t used = 0, done = 0;
	int n;

	if (emit > 0 && *npend > 0) {
		memcpy(block, pend, *npend);
		used = 16 - *npend;
		memcpy(block + *npend, in, used);
		if (!EVP_CipherUpdate(ctx, out, &n, block, 16) || n != 16)
			return CKR_FUNCTION_FAILED;
		done = 16;
		*npend = 0;
		OPENSSL_cleanse(block, sizeof(block));
	}
	if (emit > done) {
		size_t bulk = emit - done;

		if (bulk > INT32_MAX)
			return CKR_DATA_LEN_RANGE;
		if (!EVP_CipherUpdate(ctx, out + done, &n, in + used, (int)bulk) || (size_t)n != bulk)
			return CKR_FUNCTION_FAILED;
		used += bulk;
	}
	if (len > used) {
		memcpy(pend + *npend, in + used, len - used);
		*npend += len - used;
	}
	return CKR_OK;
}

/* The last block of a CBC_PAD decryption, decrypted on a copy of the
 * context: the state stays as it was. */
static CK_RV
aes_unpad(const struct p11_op *op, unsigned char out[16], size_t *out_len)
{
	EVP_CIPHER_CTX *tmp;
	unsigned char pad;
	int n;
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (op->npend != 16)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	tmp = EVP_CIPHER_CTX_new();
	if (tmp == NULL || !EVP_CIPHER_CTX_copy(tmp, op->cipher) ||
	    !EVP_CipherUpdate(tmp, out, &n, op->pend, 16) || n != 16)
		goto out;
	pad = out[15];
	rv = CKR_ENCRYPTED_DATA_INVALID;
	if (pad == 0 || pad > 16)
		goto out;
	for (int i = 16 - pad; i < 16; i++) {
		if (out[i] != pad)
			goto out;
	}
	*out_len = 16 - pad;
	rv = CKR_OK;
out:
	EVP_CIPHER_CTX_free(tmp);
	return rv;
}

/* The final output length (encrypt: the padding block). */
static CK_RV
aes_final_len(const struct p11_op *op, size_t *len)
{
	bool enc = op->type == P11_OP_ENCRYPT;

	if (op->pad && enc) {
		*len = 16;
		return CKR_OK;
	}
	if (op->pad) {
		unsigned char block[16];
		CK_RV rv = aes_unpad(op, block, len);

		OPENSSL_cleanse(block, sizeof(block));
		return rv;
	}
	if (op->npend != 0)
		return enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
	*len = 0;
	return CKR_OK;
}

static CK_RV
aes_final(struct p11_op *op, unsigned char *out)
{
	unsigned char block[16];
	size_t n;
	int outl;
	CK_RV rv = CKR_OK;

	if (!op->pad)
		return CKR_OK;
	if (op->type == P11_OP_ENCRYPT) {
		unsigned char p = (unsigned char)(16 - op->npend);

		memcpy(block, op->pend, op->npend);
		memset(block + op->npend, p, p);
		if (!EVP_CipherUpdate(op->cipher, out, &outl, block, 16) || outl != 16)
			rv = CKR_FUNCTION_FAILED;
	} else {
		rv = aes_unpad(op, block, &n);
		if (rv == CKR_OK)
			memcpy(out, block, n);
	}
	OPENSSL_cleanse(block, sizeof(block));
	return rv;
}

/* ---- the entry points ------------------------------------------------------------ */

static CK_RV
crypt_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey,
	   enum p11_op_type type)
{
	bool enc = type == P11_OP_ENCRYPT;
	const struct p11_mech *e;
	struct p11_session *s;
	struct p11_op *op = NULL;
	unsigned char iv[16];
	CK_RV rv;

	rv = smk_p11_op_begin(hSession, pMechanism, type, enc ? CKF_ENCRYPT : CKF_DECRYPT, &s, &op);
	if (rv != CKR_OK)
		return rv;
	e = op->mech;
	rv = smk_p11_key_load(s, hKey, &op->key);
	if (rv != CKR_OK)
		goto out;
	if (op->key.type != e->key_type) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (e->key_type == CKK_RSA) {
		CK_OBJECT_CLASS want = enc ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY;

		if (op->key.cls != want || op->key.item == NULL || !(enc ? op->key.encrypt : op->key.decrypt)) {
			rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
			goto out;
		}
		if (e->type == CKM_RSA_PKCS_OAEP)
			rv = smk_p11_params_oaep(pMechanism, &op->dp, &op->label);
		else
			rv = smk_p11_params_none(pMechanism);
		if (rv != CKR_OK)
			goto out;
	} else {
		const EVP_CIPHER *c = aes_cipher(e->type, op->key.value_len);

		if (op->key.cls != CKO_SECRET_KEY || !(enc ? op->key.encrypt : op->key.decrypt)) {
			rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
			goto out;
		}
		if (c == NULL) {
			rv = CKR_KEY_SIZE_RANGE;
			goto out;
		}
		if (e->type == CKM_AES_ECB)
			rv = smk_p11_params_none(pMechanism);
		else
			rv = smk_p11_params_iv(pMechanism, iv);
		if (rv != CKR_OK)
			goto out;
		op->pad = e->type == CKM_AES_CBC_PAD;
		op->cipher = EVP_CIPHER_CTX_new();
		if (op->cipher == NULL ||
		    !EVP_CipherInit_ex2(op->cipher, c, op->key.value,
					e->type == CKM_AES_ECB ? NULL : iv, enc ? 1 : 0, NULL) ||
		    !EVP_CIPHER_CTX_set_padding(op->cipher, 0)) {
			rv = CKR_FUNCTION_FAILED;
			goto out;
		}
	}
	s->ops[type] = op;
	op = NULL;
out:
	smk_p11_op_free(op);
	smk_p11_session_put(s);
	return rv;
}

/* RSA operations, single-part (and the end of a gathered multi-part). */
static CK_RV
rsa_crypt(struct p11_session *s, struct p11_op *op, const unsigned char *in, size_t len,
	  unsigned char *out, CK_ULONG_PTR out_len, bool *keep)
{
	size_t k = rsa_size(op), n;
	unsigned char *tmp;
	bool done;
	CK_RV rv;

	*keep = false;
	if (op->type == P11_OP_ENCRYPT) {
		rv = smk_p11_out_len(out, out_len, k, &done);
		if (done) {
			*keep = true;
			return rv;
		}
		n = *out_len;
		rv = smk_p11_rsa_pub_encrypt(op, in, len, out, &n);
		if (rv == CKR_OK)
			*out_len = n;
		return rv;
	}
	/* Decryption: the length is known only afterwards. */
	if (len != k)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (out == NULL) {
		*out_len = k;
		*keep = true;
		return CKR_OK;
	}
	tmp = malloc(k);
	if (tmp == NULL)
		return CKR_HOST_MEMORY;
	n = k;
	rv = smk_p11_rsa_decrypt(s, op, in, len, tmp, &n);
	if (rv == CKR_OK && *out_len < n) {
		*out_len = n;
		*keep = true;
		rv = CKR_BUFFER_TOO_SMALL;
	} else if (rv == CKR_OK) {
		memcpy(out, tmp, n);
		*out_len = n;
	}
	OPENSSL_cleanse(tmp, k);
	free(tmp);
	return rv;
}

/* AES, single-part: update over everything, then final. */
static CK_RV
aes_crypt(struct p11_op *op, const unsigned char *in, size_t len, unsigned char *out,
	  CK_ULONG_PTR out_len, bool *keep)
{
	bool enc = op->type == P11_OP_ENCRYPT, done;
	size_t emit, fin = 0, need;
	CK_RV rv;

	*keep = false;
	if (!op->pad && len % 16 != 0)
		return enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (op->pad && !enc && (len == 0 || len % 16 != 0))
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	emit = aes_emit(op, len);
	if (op->pad && !enc) {
		EVP_CIPHER_CTX *saved;
		unsigned char *tmp;
		unsigned char pend[16];
		size_t npend;

		/* Decrypting CBC_PAD: the length is known after the last
		 * block; a query answers the upper bound, a short buffer is
		 * found out on a copy of the state. */
		if (out == NULL) {
			*out_len = len;
			*keep = true;
			return CKR_OK;
		}
		saved = EVP_CIPHER_CTX_new();
		tmp = malloc(len);
		if (saved == NULL || tmp == NULL || !EVP_CIPHER_CTX_copy(saved, op->cipher)) {
			EVP_CIPHER_CTX_free(saved);
			free(tmp);
			return CKR_HOST_MEMORY;
		}
		memcpy(pend, op->pend, sizeof(pend));
		npend = op->npend;
		rv = aes_feed(op->cipher, op->pend, &op->npend, in, len, tmp, emit);
		if (rv == CKR_OK)
			rv = aes_final_len(op, &fin);
		if (rv == CKR_OK && *out_len < emit + fin) {
			/* Back to where it was, so the call can be repeated. */
			EVP_CIPHER_CTX_copy(op->cipher, saved);
			memcpy(op->pend, pend, sizeof(pend));
			op->npend = npend;
			*out_len = emit + fin;
			*keep = true;
			rv = CKR_BUFFER_TOO_SMALL;
		} else if (rv == CKR_OK) {
			rv = aes_final(op, tmp + emit);
			if (rv == CKR_OK) {
				memcpy(out, tmp, emit + fin);
				*out_len = emit + fin;
			}
		}
		OPENSSL_cleanse(tmp, len);
		free(tmp);
		OPENSSL_cleanse(pend, sizeof(pend));
		EVP_CIPHER_CTX_free(saved);
		return rv;
	}
	need = emit + (op->pad ? 16 : 0);
	rv = smk_p11_out_len(out, out_len, need, &done);
	if (done) {
		*keep = true;
		return rv;
	}
	rv = aes_feed(op->cipher, op->pend, &op->npend, in, len, out, emit);
	if (rv == CKR_OK)
		rv = aes_final(op, out + emit);
	if (rv == CKR_OK)
		*out_len = need;
	return rv;
}

static CK_RV
crypt_single(CK_SESSION_HANDLE hSession, CK_BYTE_PTR in, CK_ULONG len, CK_BYTE_PTR out,
	     CK_ULONG_PTR out_len, enum p11_op_type type)
{
	struct p11_session *s;
	struct p11_op *op;
	bool keep = false;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[type];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (out_len == NULL || (in == NULL && len > 0))
		rv = CKR_ARGUMENTS_BAD;
	else if (op->multi)
		rv = CKR_OPERATION_ACTIVE;
	else if (op->key.type == CKK_RSA)
		rv = rsa_crypt(s, op, in, len, out, out_len, &keep);
	else
		rv = aes_crypt(op, in, len, out, out_len, &keep);
	if (!keep)
		smk_p11_op_end(s, type);
	smk_p11_session_put(s);
	return rv;
}

static CK_RV
crypt_update(CK_SESSION_HANDLE hSession, CK_BYTE_PTR in, CK_ULONG len, CK_BYTE_PTR out,
	     CK_ULONG_PTR out_len, enum p11_op_type type)
{
	struct p11_session *s;
	struct p11_op *op;
	bool done = false;
	size_t emit;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[type];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (out_len == NULL || (in == NULL && len > 0)) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (op->key.type == CKK_RSA) {
		/* RSA is one block: parts are gathered for the final call. */
		op->multi = true;
		rv = smk_p11_op_gather(op, in, len, rsa_size(op));
		if (rv == CKR_OK)
			*out_len = 0;
	} else {
		op->multi = true;
		emit = aes_emit(op, len);
		rv = smk_p11_out_len(out, out_len, emit, &done);
		if (!done) {
			rv = aes_feed(op->cipher, op->pend, &op->npend, in, len, out, emit);
			if (rv == CKR_OK)
				*out_len = emit;
		}
	}
	if (rv != CKR_OK && !done)
		smk_p11_op_end(s, type);
	smk_p11_session_put(s);
	return rv;
}

static CK_RV
crypt_final(CK_SESSION_HANDLE hSession, CK_BYTE_PTR out, CK_ULONG_PTR out_len, enum p11_op_type type)
{
	struct p11_session *s;
	struct p11_op *op;
	bool keep = false, done;
	size_t fin;
	CK_RV rv;

	rv = smk_p11_session_get(hSession, &s);
	if (rv != CKR_OK)
		return rv;
	op = s->ops[type];
	if (op == NULL) {
		smk_p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (out_len == NULL) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (op->key.type == CKK_RSA) {
		rv = rsa_crypt(s, op, op->data, op->data_len, out, out_len, &keep);
	} else {
		rv = aes_final_len(op, &fin);
		if (rv == CKR_OK) {
			rv = smk_p11_out_len(out, out_len, fin, &done);
			keep = done;
			if (!done) {
				rv = aes_final(op, out);
				if (rv == CKR_OK)
					*out_len = fin;
			}
		}
	}
	if (!keep)
		smk_p11_op_end(s, type);
	smk_p11_session_put(s);
	return rv;
}

CK_RV
smk_C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return crypt_init(hSession, pMechanism, hKey, P11_OP_ENCRYPT);
}

CK_RV
smk_C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
	      CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
	return crypt_single(hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen,
			    P11_OP_ENCRYPT);
}

CK_RV
smk_C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
		    CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	return crypt_update(hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen,
			    P11_OP_ENCRYPT);
}

CK_RV
smk_C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
		   CK_ULONG_PTR pulLastEncryptedPartLen)
{
	return crypt_final(hSession, pLastEncryptedPart, pulLastEncryptedPartLen, P11_OP_ENCRYPT);
}

CK_RV
smk_C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return crypt_init(hSession, pMechanism, hKey, P11_OP_DECRYPT);
}

CK_RV
smk_C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
	      CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	return crypt_single(hSession, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen,
			    P11_OP_DECRYPT);
}

CK_RV
smk_C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
		    CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	return crypt_update(hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen,
			    P11_OP_DECRYPT);
}

CK_RV
smk_C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
	return crypt_final(hSession, pLastPart, pulLastPartLen, P11_OP_DECRYPT);
}

/* Dual-function operations are not offered. */
static CK_RV
dual(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv = smk_p11_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	smk_p11_session_put(s);
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
smk_C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
			  CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pPart, (void)ulPartLen, (void)pEncryptedPart, (void)pulEncryptedPartLen;
	return dual(hSession);
}

CK_RV
smk_C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
			  CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	(void)pEncryptedPart, (void)ulEncryptedPartLen, (void)pPart, (void)pulPartLen;
	return dual(hSession);
}

CK_RV
smk_C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
			CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pPart, (void)ulPartLen, (void)pEncryptedPart, (void)pulEncryptedPartLen;
	return dual(hSession);
}

CK_RV
smk_C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
			  CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	(void)pEncryptedPart, (void)ulEncryptedPartLen, (void)pPart, (void)pulPartLen;
	return dual(hSession);
}
