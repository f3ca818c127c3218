/* check-pkcs11.c - smimekit-pkcs11.so through its function table, as a
 * client sees it: loaded with dlopen from $SMK_PKCS11_MODULE, driven
 * through C_GetFunctionList and C_GetInterface, over a file token made
 * with C_InitToken/C_InitPIN in a temporary directory ($SMIMEKIT_CONF).
 *
 * Every result is checked against plain OpenSSL (signatures verified with
 * the public key read from the module, ciphertext made by OpenSSL), and
 * every misuse a client can make must give the right CKR_*, never a
 * crash.  Each login costs ~0.35 s of KDF: the tests keep them few.
 */
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "../../pkcs11/smk-p11-v3.h"
#include "test-util.h"

#define SO_PIN "so-secret-1"
#define USER_PIN "1234-user"
#define PIN(s) (CK_UTF8CHAR_PTR)(s), strlen(s)

static char dir[PATH_MAX];
static char conf[PATH_MAX + 32];
static void *lib;
static CK_FUNCTION_LIST *F;
static CK_FUNCTION_LIST_3_0 *F3;

#define RV(expect, call)                                                                   \
	do {                                                                               \
		CK_RV rv_ = (call);                                                        \
		ck_assert_msg(rv_ == (CK_RV)(expect), "%s: 0x%lx, expected 0x%lx", #call,  \
			      (unsigned long)rv_, (unsigned long)(expect));                \
	} while (0)
#define OK(call) RV(CKR_OK, call)

/* ---- helpers ---------------------------------------------------------------------- */

static const unsigned char msg[] = "The quick brown fox jumps over the lazy dog, twice over.";

static void
load_module(void)
{
	const char *path = getenv("SMK_PKCS11_MODULE");
	CK_C_GetFunctionList gfl;
	CK_C_GetInterface gi;
	CK_INTERFACE *itf = NULL;
	CK_VERSION v30 = { 3, 0 };

	ck_assert_msg(path != NULL, "SMK_PKCS11_MODULE not set");
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(lib != NULL, "%s", dlerror());
	gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	gi = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
	ck_assert_ptr_nonnull(gfl);
	ck_assert_ptr_nonnull(gi);
	OK(gfl(&F));
	OK(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &itf, 0));
	F3 = itf->pFunctionList;
}

static void
init(void)
{
	OK(F->C_Initialize(NULL));
}

static CK_SESSION_HANDLE
open_session(CK_SLOT_ID slot, bool rw)
{
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;

	OK(F->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &h));
	ck_assert_uint_ne(h, CK_INVALID_HANDLE);
	return h;
}

/* A session on slot 0, user logged in. */
static CK_SESSION_HANDLE
user_session(void)
{
	CK_SESSION_HANDLE h = open_session(0, true);

	OK(F->C_Login(h, CKU_USER, PIN(USER_PIN)));
	return h;
}

static CK_OBJECT_HANDLE
find_one(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, label ? strlen(label) : 0 },
	};
	CK_OBJECT_HANDLE o[4];
	CK_ULONG n = 0;

	OK(F->C_FindObjectsInit(h, t, label ? 2 : 1));
	OK(F->C_FindObjects(h, o, 4, &n));
	OK(F->C_FindObjectsFinal(h));
	ck_assert_msg(n == 1, "%lu objects of class %lu labelled %s", n, cls, label);
	return o[0];
}

static unsigned char *
get_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	unsigned char *buf;

	OK(F->C_GetAttributeValue(h, o, &a, 1));
	buf = malloc(a.ulValueLen + 1);
	ck_assert_ptr_nonnull(buf);
	a.pValue = buf;
	OK(F->C_GetAttributeValue(h, o, &a, 1));
	*len = a.ulValueLen;
	return buf;
}

static CK_ULONG
get_ulong(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	OK(F->C_GetAttributeValue(h, o, &a, 1));
	return v;
}

static bool
get_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	OK(F->C_GetAttributeValue(h, o, &a, 1));
	return v == CK_TRUE;
}

/* The public key of an object, from CKA_PUBLIC_KEY_INFO. */
static EVP_PKEY *
pubkey_of(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	CK_ULONG len;
	unsigned char *der = get_attr(h, o, CKA_PUBLIC_KEY_INFO, &len);
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);

	ck_assert_ptr_nonnull(k);
	free(der);
	return k;
}

static void
sign(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE key, const unsigned char *data,
     size_t len, unsigned char *sig, CK_ULONG *sig_len)
{
	OK(F->C_SignInit(h, m, key));
	OK(F->C_Sign(h, (CK_BYTE_PTR)data, len, sig, sig_len));
}

/* r || s -> DER */
static unsigned char *
ecdsa_der(const unsigned char *sig, size_t len, int *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL;

	ck_assert(ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)len / 2, NULL),
				 BN_bin2bn(sig + len / 2, (int)len / 2, NULL)));
	*der_len = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	ck_assert_int_gt(*der_len, 0);
	return der;
}

/* Verifies with OpenSSL: md NULL = the data is what was signed. */
static bool
ossl_verify(EVP_PKEY *pub, const char *md, int pad, const char *mgf1, int salt,
	    const unsigned char *tbs, size_t tbs_len, const unsigned char *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	unsigned char *der = NULL;
	int der_len, r;

	ck_assert(EVP_PKEY_verify_init(ctx) > 0);
	if (md != NULL)
		ck_assert(EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md)) > 0);
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		ck_assert(EVP_PKEY_CTX_set_rsa_padding(ctx, pad) > 0);
		if (pad == RSA_PKCS1_PSS_PADDING) {
			ck_assert(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(mgf1)) > 0);
			ck_assert(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) > 0);
		}
	} else {
		der = ecdsa_der(sig, sig_len, &der_len);
		sig = der;
		sig_len = (size_t)der_len;
	}
	r = EVP_PKEY_verify(ctx, sig, sig_len, tbs, tbs_len);
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	ERR_clear_error();
	return r == 1;
}

static void
digest(const char *md, const void *data, size_t len, unsigned char *out, unsigned int *out_len)
{
	ck_assert(EVP_Digest(data, len, out, out_len, EVP_get_digestbyname(md), NULL));
}

/* ---- the token, made once for the whole suite ------------------------------------- */

static X509 *
make_cert(EVP_PKEY *pub, const char *cn)
{
	X509 *ca = tu_cert("ca");
	EVP_PKEY *cakey = tu_key("ca");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char serial[12];
	BIGNUM *bn;

	ck_assert(RAND_bytes(serial, sizeof(serial)) == 1);
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ck_assert(X509_set_version(x, 2));
	ck_assert_ptr_nonnull(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					     -1, -1, 0));
	ck_assert(X509_set_subject_name(x, name));
	ck_assert(X509_set_issuer_name(x, X509_get_subject_name(ca)));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365));
	ck_assert(X509_set_pubkey(x, pub));
	ck_assert(X509_sign(x, cakey, EVP_sha256()) > 0);
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return x;
}

static void
store_cert(CK_SESSION_HANDLE h, X509 *x, const char *label)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE o;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE, der, (CK_ULONG)n },
	};

	OK(F->C_CreateObject(h, t, 5, &o));
	OPENSSL_free(der);
}

static void
gen_pair(CK_SESSION_HANDLE h, bool rsa, const char *label)
{
	CK_MECHANISM m = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 2048;
	CK_BBOOL yes = CK_TRUE;
	/* prime256v1 */
	static unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_ATTRIBUTE pub_rsa[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ATTRIBUTE pub_ec[] = {
		{ CKA_EC_PARAMS, p256, sizeof(p256) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE pub_h = 0, priv_h = 0;
	EVP_PKEY *pub;
	X509 *x;

	OK(F->C_GenerateKeyPair(h, &m, rsa ? pub_rsa : pub_ec, 3, priv, 3, &pub_h, &priv_h));
	ck_assert_uint_ne(pub_h, 0);
	ck_assert_uint_ne(priv_h, 0);
	pub = pubkey_of(h, pub_h);
	x = make_cert(pub, label);
	store_cert(h, x, label);
	X509_free(x);
	EVP_PKEY_free(pub);
}

static void
suite_setup(void)
{
	CK_SESSION_HANDLE h;
	unsigned char label[32];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/smk-check-pkcs11-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/smimekit.conf", dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[token main]\ntype = file\npath = %s/main\nmax_failures = 3\n\n"
		   "[token spare]\ntype = file\npath = %s/spare\nmax_failures = 3\n", dir, dir);
	fclose(f);
	setenv("SMIMEKIT_CONF", conf, 1);

	load_module();
	init();
	memset(label, ' ', sizeof(label));
	memcpy(label, "Check token", 11);
	OK(F->C_InitToken(0, PIN(SO_PIN), label));
	h = open_session(0, true);
	OK(F->C_Login(h, CKU_SO, PIN(SO_PIN)));
	OK(F->C_InitPIN(h, PIN(USER_PIN)));
	OK(F->C_Logout(h));
	OK(F->C_Login(h, CKU_USER, PIN(USER_PIN)));
	gen_pair(h, true, "rsa");
	gen_pair(h, false, "ec");
	OK(F->C_CloseSession(h));
	OK(F->C_Finalize(NULL));
}

static void
suite_teardown(void)
{
	char cmd[PATH_MAX + 16];

	if (getenv("SMK_KEEP") == NULL && strstr(dir, "smk-check-pkcs11-") != NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

/* Each test (its own process) starts from a fresh C_Initialize. */
static void
setup(void)
{
	init();
}

static void
teardown(void)
{
	F->C_Finalize(NULL);
}

/* ---- interfaces and initialisation -------------------------------------------------- */

START_TEST(test_interfaces)
{
	CK_C_GetInterfaceList gil = (CK_C_GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
	CK_C_GetInterface gi = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	CK_INTERFACE list[4], *itf = NULL;
	CK_VERSION v30 = { 3, 0 }, v240 = { 2, 40 }, v31 = { 3, 1 };
	CK_ULONG n = 0;
	CK_INFO info;

	/* Only the three PKCS#11 entry points are exported. */
	ck_assert_ptr_null(dlsym(lib, "C_Initialize"));
	ck_assert_ptr_null(dlsym(lib, "C_Sign"));
	ck_assert_ptr_null(dlsym(lib, "smk_p11_mod"));
	ck_assert_ptr_null(dlsym(lib, "smk_keystore_new"));

	/* The dynamic symbol table has these three functions and nothing else
	 * of the module's own (nm, when binutils is there). */
	{
		char cmd[PATH_MAX + 64], line[512];
		FILE *p;
		int funcs = 0, others = 0;

		snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>/dev/null",
			 getenv("SMK_PKCS11_MODULE"));
		p = popen(cmd, "r");
		while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
			char addr[64], type[8], name[256];

			if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
				continue;
			if (strcmp(name, "C_GetFunctionList") == 0 || strcmp(name, "C_GetInterfaceList") == 0 ||
			    strcmp(name, "C_GetInterface") == 0)
				funcs++;
			else if (strncmp(name, "_", 1) != 0)	/* _init, _fini, __bss_start ... */
				others++, fprintf(stderr, "exported: %s", line);
		}
		if (p != NULL && pclose(p) == 0 && funcs + others > 0) {
			ck_assert_int_eq(funcs, 3);
			ck_assert_int_eq(others, 0);
		}
	}

	RV(CKR_ARGUMENTS_BAD, gfl(NULL));
	RV(CKR_ARGUMENTS_BAD, gil(NULL, NULL));
	OK(gil(NULL, &n));
	ck_assert_uint_eq(n, 2);
	n = 1;
	RV(CKR_BUFFER_TOO_SMALL, gil(list, &n));
	ck_assert_uint_eq(n, 2);
	n = 4;
	OK(gil(list, &n));
	ck_assert_uint_eq(n, 2);
	for (CK_ULONG i = 0; i < n; i++)
		ck_assert_str_eq((char *)list[i].pInterfaceName, "PKCS 11");
	ck_assert_uint_eq(((CK_VERSION *)list[0].pFunctionList)->major, 3);
	ck_assert_uint_eq(((CK_VERSION *)list[1].pFunctionList)->major, 2);

	OK(gi(NULL, NULL, &itf, 0));	/* the default: 3.0 */
	ck_assert_uint_eq(((CK_FUNCTION_LIST_3_0 *)itf->pFunctionList)->version.major, 3);
	ck_assert_uint_eq(((CK_FUNCTION_LIST_3_0 *)itf->pFunctionList)->version.minor, 0);
	OK(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &itf, 0));
	ck_assert_ptr_eq(itf->pFunctionList, F);
	ck_assert_uint_eq(F->version.major, 2);
	ck_assert_uint_eq(F->version.minor, 40);
	OK(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &itf, 0));
	ck_assert_ptr_eq(itf->pFunctionList, F3);
	RV(CKR_ARGUMENTS_BAD, gi((CK_UTF8CHAR_PTR) "PKCS 11", &v31, &itf, 0));
	RV(CKR_ARGUMENTS_BAD, gi((CK_UTF8CHAR_PTR) "Vendor thing", NULL, &itf, 0));
	RV(CKR_ARGUMENTS_BAD, gi((CK_UTF8CHAR_PTR) "PKCS 11", NULL, NULL, 0));
	/* Not fork-safe in the 3.0 sense (a child must call C_Initialize). */
	RV(CKR_ARGUMENTS_BAD, gi(NULL, NULL, &itf, CKF_INTERFACE_FORK_SAFE));

	/* C_GetInfo answers with the version of the list it was called by. */
	OK(F->C_GetInfo(&info));
	ck_assert_uint_eq(info.cryptokiVersion.major, 2);
	ck_assert_uint_eq(info.cryptokiVersion.minor, 40);
	OK(F3->C_GetInfo(&info));
	ck_assert_uint_eq(info.cryptokiVersion.major, 3);
	ck_assert(memcmp(info.manufacturerID, "smimekit ", 9) == 0);
	RV(CKR_ARGUMENTS_BAD, F->C_GetInfo(NULL));
	/* The 3.0 list reaches the same functions. */
	ck_assert_ptr_eq(F3->C_Sign, F->C_Sign);
	ck_assert_ptr_nonnull(F3->C_SessionCancel);
	ck_assert_ptr_nonnull(F3->C_MessageVerifyFinal);
}
END_TEST

static CK_RV
mutex_create(CK_VOID_PTR_PTR m)
{
	*m = malloc(1);
	return CKR_OK;
}

static CK_RV
mutex_other(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

static CK_RV
mutex_destroy(CK_VOID_PTR m)
{
	free(m);
	return CKR_OK;
}

START_TEST(test_initialize)
{
	CK_C_INITIALIZE_ARGS a;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slots[4];
	CK_ULONG n = 4;
	CK_INFO info;

	OK(F->C_Finalize(NULL));	/* from setup() */
	/* Nothing works before C_Initialize. */
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_GetInfo(&info));
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_GetSlotList(CK_FALSE, slots, &n));
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h));
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_CloseSession(1));
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_Sign(1, NULL, 0, NULL, &n));
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_Finalize(NULL));

	/* Arguments. */
	/* No threads are ever started: p11-kit's flags are accepted. */
	memset(&a, 0, sizeof(a));
	a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
	OK(F->C_Initialize(&a));
	OK(F->C_Finalize(NULL));
	memset(&a, 0, sizeof(a));
	a.CreateMutex = mutex_create;
	RV(CKR_ARGUMENTS_BAD, F->C_Initialize(&a));	/* some callbacks, not all */
	a.DestroyMutex = mutex_destroy;
	a.LockMutex = mutex_other;
	a.UnlockMutex = mutex_other;
	RV(CKR_CANT_LOCK, F->C_Initialize(&a));	/* only the application's locks */
	a.flags = CKF_OS_LOCKING_OK;
	OK(F->C_Initialize(&a));
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, F->C_Initialize(NULL));
	RV(CKR_ARGUMENTS_BAD, F->C_Finalize(&a));
	OK(F->C_Finalize(NULL));
	memset(&a, 0, sizeof(a));
	a.flags = CKF_OS_LOCKING_OK;
	OK(F->C_Initialize(&a));
	OK(F->C_Finalize(NULL));

	/* A configuration file that is not there is an error, not an empty
	 * module. */
	setenv("SMIMEKIT_CONF", "/nonexistent/smimekit.conf", 1);
	RV(CKR_GENERAL_ERROR, F->C_Initialize(NULL));
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, F->C_GetInfo(&info));
	setenv("SMIMEKIT_CONF", conf, 1);
	OK(F->C_Initialize(NULL));	/* for teardown */
}
END_TEST

/* ---- slots, tokens, mechanisms ------------------------------------------------------- */

START_TEST(test_slots)
{
	CK_SLOT_ID slots[4];
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_TYPE mechs[128];
	CK_MECHANISM_INFO mi;
	CK_ULONG n;
	CK_SLOT_ID ev;
	static const CK_MECHANISM_TYPE wanted[] = {
		CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS,
		CKM_SHA512_RSA_PKCS_PSS, CKM_ECDSA, CKM_ECDSA_SHA384, CKM_ECDH1_DERIVE,
		CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN, CKM_AES_CBC, CKM_AES_CBC_PAD,
		CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_GEN,
		CKM_SHA_1, CKM_SHA512,
	};

	RV(CKR_ARGUMENTS_BAD, F->C_GetSlotList(CK_FALSE, slots, NULL));
	OK(F->C_GetSlotList(CK_TRUE, NULL, &n));
	ck_assert_uint_eq(n, 2);
	n = 1;
	RV(CKR_BUFFER_TOO_SMALL, F->C_GetSlotList(CK_FALSE, slots, &n));
	ck_assert_uint_eq(n, 2);
	n = 4;
	OK(F->C_GetSlotList(CK_FALSE, slots, &n));
	ck_assert_uint_eq(n, 2);

	OK(F->C_GetSlotInfo(slots[0], &si));
	ck_assert(si.flags & CKF_TOKEN_PRESENT);
	ck_assert(memcmp(si.slotDescription, "smimekit token main (file)", 26) == 0);
	RV(CKR_SLOT_ID_INVALID, F->C_GetSlotInfo(99, &si));
	RV(CKR_ARGUMENTS_BAD, F->C_GetSlotInfo(slots[0], NULL));

	OK(F->C_GetTokenInfo(slots[0], &ti));
	ck_assert(memcmp(ti.label, "Check token                     ", 32) == 0);
	ck_assert(memcmp(ti.model, "file            ", 16) == 0);
	ck_assert(ti.flags & CKF_TOKEN_INITIALIZED);
	ck_assert(ti.flags & CKF_USER_PIN_INITIALIZED);
	ck_assert(ti.flags & CKF_LOGIN_REQUIRED);
	ck_assert(ti.flags & CKF_RNG);
	ck_assert(!(ti.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED | CKF_WRITE_PROTECTED)));
	ck_assert_uint_eq(ti.ulMinPinLen, 4);
	ck_assert_uint_eq(ti.ulSessionCount, 0);
	/* The spare token is configured but never initialised. */
	OK(F->C_GetTokenInfo(slots[1], &ti));
	ck_assert(!(ti.flags & CKF_TOKEN_INITIALIZED));
	ck_assert(!(ti.flags & CKF_USER_PIN_INITIALIZED));
	RV(CKR_SLOT_ID_INVALID, F->C_GetTokenInfo(7, &ti));
	RV(CKR_ARGUMENTS_BAD, F->C_GetTokenInfo(slots[0], NULL));

	RV(CKR_ARGUMENTS_BAD, F->C_GetMechanismList(0, mechs, NULL));
	OK(F->C_GetMechanismList(0, NULL, &n));
	ck_assert_uint_gt(n, 20);
	ck_assert_uint_le(n, 128);
	{
		CK_ULONG small = 3;

		RV(CKR_BUFFER_TOO_SMALL, F->C_GetMechanismList(0, mechs, &small));
		ck_assert_uint_eq(small, n);
	}
	n = 128;
	OK(F->C_GetMechanismList(0, mechs, &n));
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		bool found = false;

		for (CK_ULONG j = 0; j < n; j++)
			found |= mechs[j] == wanted[i];
		ck_assert_msg(found, "mechanism 0x%lx missing", wanted[i]);
	}
	OK(F->C_GetMechanismInfo(0, CKM_RSA_PKCS, &mi));
	ck_assert(mi.flags & CKF_SIGN);
	ck_assert(mi.flags & CKF_DECRYPT);
	ck_assert(mi.flags & CKF_UNWRAP);
	OK(F->C_GetMechanismInfo(0, CKM_ECDH1_DERIVE, &mi));
	ck_assert(mi.flags & CKF_DERIVE);
	OK(F->C_GetMechanismInfo(0, CKM_EC_KEY_PAIR_GEN, &mi));
	ck_assert_uint_eq(mi.ulMinKeySize, 256);
	ck_assert_uint_eq(mi.ulMaxKeySize, 384);
	RV(CKR_MECHANISM_INVALID, F->C_GetMechanismInfo(0, CKM_MD5, &mi));
	RV(CKR_SLOT_ID_INVALID, F->C_GetMechanismInfo(5, CKM_RSA_PKCS, &mi));
	RV(CKR_ARGUMENTS_BAD, F->C_GetMechanismInfo(0, CKM_RSA_PKCS, NULL));

	RV(CKR_NO_EVENT, F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL));
	RV(CKR_ARGUMENTS_BAD, F->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL));
}
END_TEST

/* ---- sessions and login -------------------------------------------------------------- */

START_TEST(test_sessions)
{
	CK_SESSION_HANDLE ro, rw, h;
	CK_SESSION_INFO info;
	CK_TOKEN_INFO ti;

	RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED, F->C_OpenSession(0, 0, NULL, NULL, &h));
	RV(CKR_SLOT_ID_INVALID, F->C_OpenSession(9, CKF_SERIAL_SESSION, NULL, NULL, &h));
	RV(CKR_ARGUMENTS_BAD, F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, NULL));

	ro = open_session(0, false);
	rw = open_session(0, true);
	ck_assert_uint_ne(ro, rw);
	OK(F->C_GetSessionInfo(ro, &info));
	ck_assert_uint_eq(info.state, CKS_RO_PUBLIC_SESSION);
	ck_assert_uint_eq(info.slotID, 0);
	ck_assert(info.flags & CKF_SERIAL_SESSION);
	ck_assert(!(info.flags & CKF_RW_SESSION));
	OK(F->C_GetSessionInfo(rw, &info));
	ck_assert_uint_eq(info.state, CKS_RW_PUBLIC_SESSION);
	ck_assert(info.flags & CKF_RW_SESSION);
	RV(CKR_ARGUMENTS_BAD, F->C_GetSessionInfo(rw, NULL));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_GetSessionInfo(rw + 1000, &info));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_GetSessionInfo(CK_INVALID_HANDLE, &info));
	OK(F->C_GetTokenInfo(0, &ti));
	ck_assert_uint_eq(ti.ulSessionCount, 2);
	ck_assert_uint_eq(ti.ulRwSessionCount, 1);

	/* The SO logs in only where no read-only session exists. */
	RV(CKR_SESSION_READ_ONLY_EXISTS, F->C_Login(rw, CKU_SO, PIN(SO_PIN)));
	RV(CKR_USER_TYPE_INVALID, F->C_Login(rw, 7, PIN(USER_PIN)));
	RV(CKR_ARGUMENTS_BAD, F->C_Login(rw, CKU_USER, NULL, 4));
	RV(CKR_USER_NOT_LOGGED_IN, F->C_Logout(rw));
	RV(CKR_USER_NOT_LOGGED_IN, F->C_Login(rw, CKU_CONTEXT_SPECIFIC, PIN(USER_PIN)));

	/* Login is per application: every session sees it. */
	OK(F->C_Login(ro, CKU_USER, PIN(USER_PIN)));
	OK(F->C_GetSessionInfo(ro, &info));
	ck_assert_uint_eq(info.state, CKS_RO_USER_FUNCTIONS);
	OK(F->C_GetSessionInfo(rw, &info));
	ck_assert_uint_eq(info.state, CKS_RW_USER_FUNCTIONS);
	RV(CKR_USER_ALREADY_LOGGED_IN, F->C_Login(rw, CKU_USER, PIN(USER_PIN)));
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, F->C_Login(rw, CKU_SO, PIN(SO_PIN)));
	/* No key needs a context-specific login (no CKA_ALWAYS_AUTHENTICATE). */
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Login(rw, CKU_CONTEXT_SPECIFIC, PIN(USER_PIN)));
	/* The user PIN is set by the SO only. */
	RV(CKR_USER_NOT_LOGGED_IN, F->C_InitPIN(rw, PIN("5678")));
	RV(CKR_SESSION_READ_ONLY, F->C_InitPIN(ro, PIN("5678")));
	OK(F->C_Logout(ro));
	OK(F->C_GetSessionInfo(rw, &info));
	ck_assert_uint_eq(info.state, CKS_RW_PUBLIC_SESSION);

	/* Closing: the handle is gone, others stay. */
	OK(F->C_CloseSession(ro));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_CloseSession(ro));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_GetSessionInfo(ro, &info));
	OK(F->C_GetSessionInfo(rw, &info));

	/* Closing the last session logs the application out. */
	OK(F->C_Login(rw, CKU_USER, PIN(USER_PIN)));
	h = open_session(0, false);
	OK(F->C_GetSessionInfo(h, &info));
	ck_assert_uint_eq(info.state, CKS_RO_USER_FUNCTIONS);
	RV(CKR_SLOT_ID_INVALID, F->C_CloseAllSessions(3));
	OK(F->C_CloseAllSessions(0));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_GetSessionInfo(rw, &info));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_GetSessionInfo(h, &info));
	h = open_session(0, false);
	OK(F->C_GetSessionInfo(h, &info));
	ck_assert_uint_eq(info.state, CKS_RO_PUBLIC_SESSION);

	/* C_InitToken with sessions open is refused. */
	{
		unsigned char label[32];

		memset(label, ' ', 32);
		RV(CKR_SESSION_EXISTS, F->C_InitToken(0, PIN(SO_PIN), label));
	}
	/* Operation state is not saveable. */
	{
		CK_ULONG n = 0;

		RV(CKR_FUNCTION_NOT_SUPPORTED, F->C_GetOperationState(h, NULL, &n));
		RV(CKR_FUNCTION_NOT_PARALLEL, F->C_GetFunctionStatus(h));
		RV(CKR_FUNCTION_NOT_PARALLEL, F->C_CancelFunction(h));
	}
}
END_TEST

/* The SO's session: R/W only; InitPIN; the states. */
START_TEST(test_so)
{
	CK_SESSION_HANDLE rw = open_session(0, true), ro;
	CK_SESSION_INFO info;

	OK(F->C_Login(rw, CKU_SO, PIN(SO_PIN)));
	OK(F->C_GetSessionInfo(rw, &info));
	ck_assert_uint_eq(info.state, CKS_RW_SO_FUNCTIONS);
	RV(CKR_SESSION_READ_WRITE_SO_EXISTS,
	   F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &ro));
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, F->C_Login(rw, CKU_USER, PIN(USER_PIN)));
	RV(CKR_PIN_LEN_RANGE, F->C_InitPIN(rw, PIN("12")));
	RV(CKR_ARGUMENTS_BAD, F->C_InitPIN(rw, NULL, 0));
	OK(F->C_Logout(rw));
	ro = open_session(0, false);
	OK(F->C_CloseSession(ro));
}
END_TEST

/* Wrong PINs, the counter flags and the lockout, on the spare token. */
START_TEST(test_lockout)
{
	unsigned char label[32];
	CK_SESSION_HANDLE h;
	CK_TOKEN_INFO ti;

	/* Before C_InitToken there is no PIN to log in with. */
	h = open_session(1, true);
	RV(CKR_USER_PIN_NOT_INITIALIZED, F->C_Login(h, CKU_SO, PIN(SO_PIN)));
	RV(CKR_USER_PIN_NOT_INITIALIZED, F->C_Login(h, CKU_USER, PIN(USER_PIN)));
	OK(F->C_CloseSession(h));

	memset(label, 0, 32);	/* NUL-padded, as some callers do */
	memcpy(label, "spare", 5);
	RV(CKR_PIN_LEN_RANGE, F->C_InitToken(1, PIN("so"), label));
	RV(CKR_ARGUMENTS_BAD, F->C_InitToken(1, PIN(SO_PIN), NULL));
	OK(F->C_InitToken(1, PIN(SO_PIN), label));
	OK(F->C_GetTokenInfo(1, &ti));
	ck_assert(ti.flags & CKF_TOKEN_INITIALIZED);
	ck_assert(!(ti.flags & CKF_USER_PIN_INITIALIZED));
	ck_assert(memcmp(ti.label, "spare ", 6) == 0);

	h = open_session(1, true);
	RV(CKR_USER_PIN_NOT_INITIALIZED, F->C_Login(h, CKU_USER, PIN(USER_PIN)));
	OK(F->C_Login(h, CKU_SO, PIN(SO_PIN)));
	OK(F->C_InitPIN(h, PIN(USER_PIN)));
	OK(F->C_Logout(h));
	OK(F->C_GetTokenInfo(1, &ti));
	ck_assert(ti.flags & CKF_USER_PIN_INITIALIZED);

	/* One failure, then the right PIN clears the count. */
	RV(CKR_PIN_INCORRECT, F->C_Login(h, CKU_USER, PIN("wrong-pin")));
	OK(F->C_GetTokenInfo(1, &ti));
	ck_assert(ti.flags & CKF_USER_PIN_COUNT_LOW);
	ck_assert(!(ti.flags & CKF_USER_PIN_FINAL_TRY));
	OK(F->C_Login(h, CKU_USER, PIN(USER_PIN)));
	OK(F->C_GetTokenInfo(1, &ti));
	ck_assert(!(ti.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY)));
	OK(F->C_Logout(h));

	/* Three failures lock the PIN for good (max_failures = 3). */
	RV(CKR_PIN_INCORRECT, F->C_Login(h, CKU_USER, PIN("wrong-pin")));
	RV(CKR_PIN_INCORRECT, F->C_Login(h, CKU_USER, PIN("wrong-pin")));
	OK(F->C_GetTokenInfo(1, &ti));
	ck_assert(ti.flags & CKF_USER_PIN_FINAL_TRY);
	{
		CK_RV rv = F->C_Login(h, CKU_USER, PIN("wrong-pin"));

		ck_assert_msg(rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED, "0x%lx", rv);
	}
	OK(F->C_GetTokenInfo(1, &ti));
	ck_assert(ti.flags & CKF_USER_PIN_LOCKED);
	RV(CKR_PIN_LOCKED, F->C_Login(h, CKU_USER, PIN(USER_PIN)));

	/* The SO PIN still works, and a re-initialisation of a token without
	 * keys is allowed only without sessions. */
	OK(F->C_CloseSession(h));
}
END_TEST

/* C_SetPIN changes the user PIN: the old one stops working. */
START_TEST(test_set_pin)
{
	CK_SESSION_HANDLE h = open_session(0, true), ro = open_session(0, false);

	RV(CKR_SESSION_READ_ONLY, F->C_SetPIN(ro, PIN(USER_PIN), PIN("new-pin-1")));
	RV(CKR_ARGUMENTS_BAD, F->C_SetPIN(h, NULL, 0, PIN("new-pin-1")));
	RV(CKR_PIN_LEN_RANGE, F->C_SetPIN(h, PIN(USER_PIN), PIN("1")));
	OK(F->C_SetPIN(h, PIN(USER_PIN), PIN("new-pin-1")));
	RV(CKR_PIN_INCORRECT, F->C_Login(h, CKU_USER, PIN(USER_PIN)));
	OK(F->C_Login(h, CKU_USER, PIN("new-pin-1")));
	/* The keys are still there and usable (re-encrypted under the new PIN). */
	find_one(h, CKO_PRIVATE_KEY, "rsa");
	OK(F->C_SetPIN(h, PIN("new-pin-1"), PIN(USER_PIN)));
}
END_TEST

/* ---- objects ------------------------------------------------------------------------- */

static CK_ULONG
count_objects(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_OBJECT_HANDLE o[64];
	CK_ULONG got = 0, total = 0;

	OK(F->C_FindObjectsInit(h, t, n));
	do {
		OK(F->C_FindObjects(h, o, 2, &got));	/* in small steps */
		total += got;
	} while (got > 0);
	OK(F->C_FindObjectsFinal(h));
	return total;
}

START_TEST(test_objects_public)
{
	CK_SESSION_HANDLE h = open_session(0, false);
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY, prof = CKO_PROFILE;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_ATTRIBUTE tp = { CKA_CLASS, &prof, sizeof(prof) };
	CK_OBJECT_HANDLE o, cert, pub;
	CK_ULONG n;

	/* Before login: the profile, two public keys, two certificates. */
	ck_assert_uint_eq(count_objects(h, NULL, 0), 5);
	ck_assert_uint_eq(count_objects(h, &t, 1), 0);
	ck_assert_uint_eq(count_objects(h, &tp, 1), 1);
	o = find_one(h, CKO_PROFILE, NULL);
	ck_assert_uint_eq(get_ulong(h, o, CKA_PROFILE_ID), CKP_PUBLIC_CERTIFICATES_TOKEN);
	ck_assert(!get_bool(h, o, CKA_PRIVATE));

	cert = find_one(h, CKO_CERTIFICATE, "rsa");
	pub = find_one(h, CKO_PUBLIC_KEY, "rsa");
	ck_assert_uint_eq(get_ulong(h, cert, CKA_CERTIFICATE_TYPE), CKC_X_509);
	ck_assert(!get_bool(h, cert, CKA_TRUSTED));
	ck_assert(get_bool(h, cert, CKA_TOKEN));
	ck_assert(!get_bool(h, pub, CKA_PRIVATE));
	ck_assert_uint_eq(get_ulong(h, pub, CKA_MODULUS_BITS), 2048);

	/* Find-operation states. */
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_FindObjects(h, &o, 1, &n));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_FindObjectsFinal(h));
	OK(F->C_FindObjectsInit(h, NULL, 0));
	RV(CKR_OPERATION_ACTIVE, F->C_FindObjectsInit(h, NULL, 0));
	RV(CKR_ARGUMENTS_BAD, F->C_FindObjects(h, &o, 1, NULL));
	RV(CKR_ARGUMENTS_BAD, F->C_FindObjects(h, NULL, 1, &n));
	OK(F->C_FindObjectsFinal(h));
	RV(CKR_ARGUMENTS_BAD, F->C_FindObjectsInit(h, NULL, 2));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_FindObjectsInit(h + 500, NULL, 0));
	/* Handles do not cross slots, nor serve as the other kind. */
	{
		CK_SESSION_HANDLE other = open_session(1, false);
		CK_ATTRIBUTE a = { CKA_CLASS, NULL, 0 };

		RV(CKR_OBJECT_HANDLE_INVALID, F->C_GetAttributeValue(other, cert, &a, 1));
		RV(CKR_SESSION_HANDLE_INVALID, F->C_GetAttributeValue(cert, cert, &a, 1));
		RV(CKR_OBJECT_HANDLE_INVALID, F->C_GetAttributeValue(h, h, &a, 1));
		ck_assert_uint_eq(count_objects(other, NULL, 0), 1);	/* its profile only */
		OK(F->C_CloseSession(other));
	}
	/* A template nothing matches. */
	{
		CK_ULONG bogus = 0x12345;
		CK_ATTRIBUTE tb = { CKA_CLASS, &bogus, sizeof(bogus) };

		ck_assert_uint_eq(count_objects(h, &tb, 1), 0);
	}
}
END_TEST

START_TEST(test_objects_keys)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE priv, pub, cert, ecpriv, ecpub;
	unsigned char *id1, *id2, *id3, *v, small[4];
	CK_ULONG l1, l2, l3, n;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	X509 *x;

	ck_assert_uint_eq(count_objects(h, &t, 1), 2);
	priv = find_one(h, CKO_PRIVATE_KEY, "rsa");
	pub = find_one(h, CKO_PUBLIC_KEY, "rsa");
	cert = find_one(h, CKO_CERTIFICATE, "rsa");

	/* One CKA_ID for the three, derived from the key (SHA-1 of n). */
	id1 = get_attr(h, priv, CKA_ID, &l1);
	id2 = get_attr(h, pub, CKA_ID, &l2);
	id3 = get_attr(h, cert, CKA_ID, &l3);
	ck_assert_uint_eq(l1, 20);
	ck_assert(l1 == l2 && l2 == l3 && memcmp(id1, id2, l1) == 0 && memcmp(id2, id3, l1) == 0);
	{
		unsigned char *mod = get_attr(h, pub, CKA_MODULUS, &n), md[20];

		SHA1(mod, n, md);
		ck_assert(memcmp(md, id1, 20) == 0);
		free(mod);
	}
	free(id1), free(id2), free(id3);

	/* The private key: sensitive, never extractable. */
	ck_assert(get_bool(h, priv, CKA_PRIVATE));
	ck_assert(get_bool(h, priv, CKA_SENSITIVE));
	ck_assert(get_bool(h, priv, CKA_ALWAYS_SENSITIVE));
	ck_assert(!get_bool(h, priv, CKA_EXTRACTABLE));
	ck_assert(get_bool(h, priv, CKA_SIGN));
	ck_assert(get_bool(h, priv, CKA_DECRYPT));
	ck_assert(get_bool(h, priv, CKA_UNWRAP));
	ck_assert_uint_eq(get_ulong(h, priv, CKA_KEY_TYPE), CKK_RSA);
	{
		unsigned char buf[512];
		CK_BBOOL sens = CK_FALSE;
		CK_ATTRIBUTE a[] = {
			{ CKA_PRIVATE_EXPONENT, buf, sizeof(buf) },
			{ CKA_SENSITIVE, &sens, sizeof(sens) },
			{ CKA_PRIME_1, NULL, 0 },
			{ 0x7ffffff0UL, buf, sizeof(buf) },
		};

		RV(CKR_ATTRIBUTE_SENSITIVE, F->C_GetAttributeValue(h, priv, a, 4));
		ck_assert_uint_eq(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
		ck_assert_uint_eq(a[1].ulValueLen, 1);	/* the others are still answered */
		ck_assert_uint_eq(sens, CK_TRUE);
		ck_assert_uint_eq(a[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
		ck_assert_uint_eq(a[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	}
	/* The length protocol: NULL asks, short fails for that one only. */
	{
		CK_ATTRIBUTE a[] = {
			{ CKA_MODULUS, NULL, 0 },
			{ CKA_LABEL, small, sizeof(small) },
			{ CKA_KEY_TYPE, NULL, 0 },
		};

		OK(F->C_GetAttributeValue(h, pub, a, 3));
		ck_assert_uint_eq(a[0].ulValueLen, 256);
		ck_assert_uint_eq(a[1].ulValueLen, 3);
		ck_assert(memcmp(small, "rsa", 3) == 0);
		ck_assert_uint_eq(a[2].ulValueLen, sizeof(CK_KEY_TYPE));
		a[0].pValue = small;
		a[0].ulValueLen = sizeof(small);
		a[1].ulValueLen = sizeof(small);
		RV(CKR_BUFFER_TOO_SMALL, F->C_GetAttributeValue(h, pub, a, 2));
		ck_assert_uint_eq(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
		ck_assert_uint_eq(a[1].ulValueLen, 3);
	}
	RV(CKR_ATTRIBUTE_TYPE_INVALID, F->C_GetAttributeValue(h, pub, &(CK_ATTRIBUTE){ CKA_PROFILE_ID, NULL, 0 }, 1));
	RV(CKR_OBJECT_HANDLE_INVALID, F->C_GetAttributeValue(h, 999999, &(CK_ATTRIBUTE){ CKA_CLASS, NULL, 0 }, 1));
	RV(CKR_ARGUMENTS_BAD, F->C_GetAttributeValue(h, pub, NULL, 1));
	OK(F->C_GetObjectSize(h, cert, &n));
	ck_assert_uint_gt(n, 300);
	RV(CKR_ARGUMENTS_BAD, F->C_GetObjectSize(h, cert, NULL));
	RV(CKR_OBJECT_HANDLE_INVALID, F->C_GetObjectSize(h, 0, &n));

	/* The certificate: issuer and serial number as NSS looks them up. */
	v = get_attr(h, cert, CKA_VALUE, &n);
	{
		const unsigned char *p = v;
		unsigned char *der = NULL, *got;
		CK_ULONG gl;
		int dl;

		x = d2i_X509(NULL, &p, (long)n);
		ck_assert_ptr_nonnull(x);
		dl = i2d_X509_NAME(X509_get_issuer_name(x), &der);
		got = get_attr(h, cert, CKA_ISSUER, &gl);
		ck_assert(gl == (CK_ULONG)dl && memcmp(got, der, gl) == 0);
		OPENSSL_free(der), free(got);
		der = NULL;
		dl = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
		got = get_attr(h, cert, CKA_SERIAL_NUMBER, &gl);
		ck_assert(gl == (CK_ULONG)dl && memcmp(got, der, gl) == 0 && got[0] == 0x02);
		OPENSSL_free(der), free(got);
		der = NULL;
		dl = i2d_X509_NAME(X509_get_subject_name(x), &der);
		got = get_attr(h, cert, CKA_SUBJECT, &gl);
		ck_assert(gl == (CK_ULONG)dl && memcmp(got, der, gl) == 0);
		free(got);
		/* The key objects carry the certificate's subject too. */
		got = get_attr(h, priv, CKA_SUBJECT, &gl);
		ck_assert(gl == (CK_ULONG)dl && memcmp(got, der, gl) == 0);
		OPENSSL_free(der), free(got);
		X509_free(x);
	}
	free(v);

	/* EC: parameters as the curve's OID, the point as DER OCTET STRING. */
	ecpriv = find_one(h, CKO_PRIVATE_KEY, "ec");
	ecpub = find_one(h, CKO_PUBLIC_KEY, "ec");
	ck_assert_uint_eq(get_ulong(h, ecpriv, CKA_KEY_TYPE), CKK_EC);
	ck_assert(get_bool(h, ecpriv, CKA_DERIVE));
	RV(CKR_ATTRIBUTE_SENSITIVE, F->C_GetAttributeValue(h, ecpriv, &(CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 }, 1));
	v = get_attr(h, ecpub, CKA_EC_PARAMS, &n);
	ck_assert_uint_eq(n, 10);
	ck_assert(memcmp(v, "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10) == 0);
	free(v);
	v = get_attr(h, ecpub, CKA_EC_POINT, &n);
	ck_assert_uint_eq(n, 67);
	ck_assert(v[0] == 0x04 && v[1] == 65 && v[2] == 0x04);
	{
		EVP_PKEY *k = pubkey_of(h, ecpub);
		unsigned char pt[65];
		size_t ptl = 0;

		ck_assert(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl));
		ck_assert(ptl == 65 && memcmp(pt, v + 2, 65) == 0);
		EVP_PKEY_free(k);
	}
	free(v);

	/* Token objects stay: no destroy, no changes (the same value is fine). */
	RV(CKR_ACTION_PROHIBITED, F->C_DestroyObject(h, priv));
	RV(CKR_ACTION_PROHIBITED, F->C_DestroyObject(h, cert));
	RV(CKR_OBJECT_HANDLE_INVALID, F->C_DestroyObject(h, 123456));
	RV(CKR_ACTION_PROHIBITED, F->C_SetAttributeValue(h, cert, &(CK_ATTRIBUTE){ CKA_LABEL, "x", 1 }, 1));
	OK(F->C_SetAttributeValue(h, cert, &(CK_ATTRIBUTE){ CKA_LABEL, "rsa", 3 }, 1));
	RV(CKR_ACTION_PROHIBITED, F->C_CopyObject(h, priv, NULL, 0, &n));

	/* After logout the private keys are gone and their handles invalid. */
	OK(F->C_Logout(h));
	RV(CKR_OBJECT_HANDLE_INVALID, F->C_GetAttributeValue(h, priv, &(CK_ATTRIBUTE){ CKA_CLASS, NULL, 0 }, 1));
	ck_assert_uint_eq(count_objects(h, &t, 1), 0);
}
END_TEST

/* C_CreateObject of bob's RSA key and alice's EC key, in components;
 * the RSA key joins bob's certificate stored before. */
static unsigned char *
bn_param(EVP_PKEY *k, const char *name, CK_ULONG *len)
{
	BIGNUM *bn = NULL;
	unsigned char *b;

	ck_assert(EVP_PKEY_get_bn_param(k, name, &bn));
	*len = (CK_ULONG)BN_num_bytes(bn);
	b = malloc(*len);
	BN_bn2bin(bn, b);
	BN_clear_free(bn);
	return b;
}

static void
import_keys(CK_SESSION_HANDLE ro, CK_SESSION_HANDLE rw, X509 *bob)
{
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		const char *name;
	} parts[] = {
		{ CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N },		{ CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E },
		{ CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D },	{ CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1 },
		{ CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2 },		{ CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1 },
		{ CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2 },	{ CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
	};
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE rsa = CKK_RSA, ec = CKK_EC;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[12];
	EVP_PKEY *k = tu_key("bob");
	CK_OBJECT_HANDLE o, cert;
	unsigned char *id1, *id2, sig[256], md[32];
	unsigned int ml;
	CK_ULONG l1, l2, sl = sizeof(sig), n = 0;

	t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	t[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &rsa, sizeof(rsa) };
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, "bob-key", 7 };
	for (size_t i = 0; i < 8; i++) {
		t[n].type = parts[i].type;
		t[n].pValue = bn_param(k, parts[i].name, &t[n].ulValueLen);
		n++;
	}
	RV(CKR_SESSION_READ_ONLY, F->C_CreateObject(ro, t, n, &o));
	RV(CKR_USER_NOT_LOGGED_IN, F->C_CreateObject(rw, t, n, &o));
	OK(F->C_Login(rw, CKU_USER, PIN(USER_PIN)));
	RV(CKR_TEMPLATE_INCOMPLETE, F->C_CreateObject(rw, t, 5, &o));	/* only the modulus */
	OK(F->C_CreateObject(rw, t, n, &o));
	ck_assert_uint_eq(get_ulong(rw, o, CKA_CLASS), CKO_PRIVATE_KEY);
	ck_assert(get_bool(rw, o, CKA_SENSITIVE));
	/* It joins bob's certificate: one CKA_ID (the item's label is the
	 * key store's choice). */
	id1 = get_attr(rw, o, CKA_ID, &l1);
	{
		CK_OBJECT_CLASS cc = CKO_CERTIFICATE;
		CK_ATTRIBUTE tc[] = { { CKA_CLASS, &cc, sizeof(cc) }, { CKA_ID, id1, l1 } };
		CK_ULONG got = 0;

		OK(F->C_FindObjectsInit(rw, tc, 2));
		OK(F->C_FindObjects(rw, &cert, 1, &got));
		OK(F->C_FindObjectsFinal(rw));
		ck_assert_uint_eq(got, 1);
	}
	id2 = get_attr(rw, cert, CKA_VALUE, &l2);
	{
		const unsigned char *p = id2;
		X509 *x = d2i_X509(NULL, &p, (long)l2);

		ck_assert(x != NULL && X509_cmp(x, bob) == 0);
		X509_free(x);
	}
	free(id1), free(id2);
	digest("SHA256", msg, sizeof(msg), md, &ml);
	sign(rw, &(CK_MECHANISM){ CKM_SHA256_RSA_PKCS, NULL, 0 }, o, msg, sizeof(msg), sig, &sl);
	ck_assert(ossl_verify(X509_get0_pubkey(bob), "SHA256", RSA_PKCS1_PADDING, NULL, 0, md, ml, sig, sl));
	for (size_t i = 4; i < n; i++)
		free(t[i].pValue);
	EVP_PKEY_free(k);

	/* EC: the curve and the private value; the point is computed. */
	{
		EVP_PKEY *e = tu_key("alice-ec");
		static unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
		CK_ULONG dl;
		unsigned char *d = bn_param(e, OSSL_PKEY_PARAM_PRIV_KEY, &dl), *pt;
		unsigned char want[65];
		size_t wl = 0;
		CK_ATTRIBUTE te[] = {
			{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &ec, sizeof(ec) },
			{ CKA_TOKEN, &yes, sizeof(yes) }, { CKA_LABEL, "alice-ec-key", 12 },
			{ CKA_EC_PARAMS, p256, sizeof(p256) }, { CKA_VALUE, d, dl },
		};
		CK_OBJECT_HANDLE eo, pub;
		CK_ULONG pl;
		static unsigned char k256[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };

		te[4].pValue = k256;
		te[4].ulValueLen = sizeof(k256);
		RV(CKR_CURVE_NOT_SUPPORTED, F->C_CreateObject(rw, te, 6, &eo));
		te[4].pValue = p256;
		te[4].ulValueLen = sizeof(p256);
		OK(F->C_CreateObject(rw, te, 6, &eo));
		pub = find_one(rw, CKO_PUBLIC_KEY, "alice-ec-key");
		pt = get_attr(rw, pub, CKA_EC_POINT, &pl);
		ck_assert(EVP_PKEY_get_octet_string_param(e, OSSL_PKEY_PARAM_PUB_KEY, want, sizeof(want), &wl));
		ck_assert(pl == 67 && wl == 65 && memcmp(pt + 2, want, 65) == 0);
		free(pt);
		free(d);
		EVP_PKEY_free(e);
	}
}

/* C_CreateObject: certificates onto the token (as NSS imports them),
 * secret keys into the session; what is refused. */
START_TEST(test_create)
{
	CK_SESSION_HANDLE ro = open_session(0, false), rw = open_session(0, true);
	CK_OBJECT_CLASS cert = CKO_CERTIFICATE, sec = CKO_SECRET_KEY, priv = CKO_PRIVATE_KEY;
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	X509 *bob = tu_cert("bob");
	unsigned char *der = NULL, key[16] = "0123456789abcdef";
	int dl = i2d_X509(bob, &der);
	CK_OBJECT_HANDLE o, o2;
	CK_ATTRIBUTE tc[] = {
		{ CKA_CLASS, &cert, sizeof(cert) },
		{ CKA_CERTIFICATE_TYPE, &x509, sizeof(x509) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, "bob", 3 },
		{ CKA_VALUE, der, (CK_ULONG)dl },
	};
	CK_ATTRIBUTE tk[] = {
		{ CKA_CLASS, &sec, sizeof(sec) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_VALUE, key, sizeof(key) },
		{ CKA_LABEL, "k", 1 },
	};
	CK_ULONG n;
	unsigned char *v;

	RV(CKR_ARGUMENTS_BAD, F->C_CreateObject(rw, tc, 5, NULL));
	RV(CKR_ARGUMENTS_BAD, F->C_CreateObject(rw, NULL, 5, &o));
	RV(CKR_TEMPLATE_INCOMPLETE, F->C_CreateObject(rw, tc + 1, 4, &o));	/* no class */
	RV(CKR_TEMPLATE_INCOMPLETE, F->C_CreateObject(rw, tc, 4, &o));	/* no value */
	RV(CKR_SESSION_READ_ONLY, F->C_CreateObject(ro, tc, 5, &o));
	{
		unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
		CK_ATTRIBUTE bad[5];

		memcpy(bad, tc, sizeof(bad));
		bad[4].pValue = junk;
		bad[4].ulValueLen = sizeof(junk);
		RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_CreateObject(rw, bad, 5, &o));
		bad[4] = tc[4];
		bad[2].pValue = &no;	/* session certificates are not kept */
		RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_CreateObject(rw, bad, 5, &o));
		bad[2] = tc[2];
		bad[3].type = 0x7ffff000UL;
		RV(CKR_ATTRIBUTE_TYPE_INVALID, F->C_CreateObject(rw, bad, 5, &o));
	}
	OK(F->C_CreateObject(rw, tc, 5, &o));
	v = get_attr(rw, o, CKA_VALUE, &n);
	ck_assert(n == (CK_ULONG)dl && memcmp(v, der, n) == 0);
	free(v);
	ck_assert_uint_eq(o, find_one(ro, CKO_CERTIFICATE, "bob"));
	/* A lone certificate is just that: no key objects. */
	{
		CK_OBJECT_CLASS pc = CKO_PUBLIC_KEY;
		CK_ATTRIBUTE tp[] = { { CKA_CLASS, &pc, sizeof(pc) }, { CKA_LABEL, "bob", 3 } };

		ck_assert_uint_eq(count_objects(ro, tp, 2), 0);
	}
	/* Storing it again changes nothing. */
	OK(F->C_CreateObject(rw, tc, 5, &o2));
	ck_assert_uint_eq(o, o2);

	/* Secret keys live in the session, also a read-only one. */
	OK(F->C_CreateObject(ro, tk, 4, &o));
	ck_assert(!get_bool(ro, o, CKA_TOKEN));
	ck_assert(get_bool(ro, o, CKA_EXTRACTABLE));
	v = get_attr(ro, o, CKA_VALUE, &n);
	ck_assert(n == 16 && memcmp(v, key, 16) == 0);
	free(v);
	ck_assert_uint_eq(get_ulong(rw, o, CKA_VALUE_LEN), 16);	/* other sessions see it */
	tk[2].ulValueLen = 5;	/* not an AES key length */
	RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_CreateObject(ro, tk, 4, &o2));
	tk[2].ulValueLen = 16;
	{
		CK_ATTRIBUTE tt[5];

		memcpy(tt, tk, sizeof(tk));
		tt[4] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
		RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_CreateObject(rw, tt, 5, &o2));
		tt[4] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
		RV(CKR_USER_NOT_LOGGED_IN, F->C_CreateObject(rw, tt, 5, &o2));
		tt[4] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, 4 };	/* wrong size */
		RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_CreateObject(rw, tt, 5, &o2));
	}
	/* Private keys written as components (pkcs11-tool --write-object). */
	{
		CK_ATTRIBUTE tp = { CKA_CLASS, &priv, sizeof(priv) };

		RV(CKR_TEMPLATE_INCOMPLETE, F->C_CreateObject(rw, &tp, 1, &o2));
		import_keys(ro, rw, bob);
	}

	/* Changing, copying, destroying session keys. */
	OK(F->C_SetAttributeValue(ro, o, &(CK_ATTRIBUTE){ CKA_LABEL, "renamed", 7 }, 1));
	v = get_attr(ro, o, CKA_LABEL, &n);
	ck_assert(n == 7 && memcmp(v, "renamed", 7) == 0);
	free(v);
	RV(CKR_ATTRIBUTE_READ_ONLY, F->C_SetAttributeValue(ro, o, &(CK_ATTRIBUTE){ CKA_KEY_TYPE, &aes, sizeof(aes) }, 1));
	OK(F->C_CopyObject(ro, o, &(CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, 1 }, 1, &o2));
	ck_assert_uint_ne(o, o2);
	RV(CKR_ATTRIBUTE_SENSITIVE, F->C_GetAttributeValue(ro, o2, &(CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 }, 1));
	/* Sensitive is a one-way street. */
	RV(CKR_ATTRIBUTE_READ_ONLY, F->C_SetAttributeValue(ro, o2, &(CK_ATTRIBUTE){ CKA_SENSITIVE, &no, 1 }, 1));
	OK(F->C_SetAttributeValue(ro, o, &(CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, 1 }, 1));
	RV(CKR_ATTRIBUTE_SENSITIVE, F->C_GetAttributeValue(ro, o, &(CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 }, 1));
	OK(F->C_DestroyObject(ro, o2));
	RV(CKR_OBJECT_HANDLE_INVALID, F->C_DestroyObject(ro, o2));
	/* Session objects go with their session. */
	OK(F->C_CloseSession(ro));
	RV(CKR_OBJECT_HANDLE_INVALID, F->C_GetAttributeValue(rw, o, &(CK_ATTRIBUTE){ CKA_CLASS, NULL, 0 }, 1));

	OPENSSL_free(der);
	X509_free(bob);
}
END_TEST

/* ---- signatures ------------------------------------------------------------------------ */


START_TEST(test_sign_rsa)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE priv = find_one(h, CKO_PRIVATE_KEY, "rsa");
	CK_OBJECT_HANDLE pub = find_one(h, CKO_PUBLIC_KEY, "rsa");
	EVP_PKEY *k = pubkey_of(h, pub);
	unsigned char sig[256], md[64];
	unsigned int mdlen;
	CK_ULONG sl;
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} hs[] = {
		{ CKM_SHA1_RSA_PKCS, "SHA1" },	   { CKM_SHA224_RSA_PKCS, "SHA224" },
		{ CKM_SHA256_RSA_PKCS, "SHA256" }, { CKM_SHA384_RSA_PKCS, "SHA384" },
		{ CKM_SHA512_RSA_PKCS, "SHA512" },
	};
	static const struct {
		CK_MECHANISM_TYPE m, hash, mgf;
		const char *md, *mgfmd;
	} pss[] = {
		{ CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, "SHA1", "SHA1" },
		{ CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA224, "SHA224", "SHA224" },
		{ CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, "SHA256", "SHA256" },
		{ CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA1, "SHA384", "SHA1" },
		{ CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, "SHA512", "SHA512" },
	};

	/* CKM_RSA_PKCS signs a DigestInfo as given. */
	{
		unsigned char di[19 + 32] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					      0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
		CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };

		digest("SHA256", msg, sizeof(msg), di + 19, &mdlen);
		sl = sizeof(sig);
		sign(h, &m, priv, di, sizeof(di), sig, &sl);
		ck_assert_uint_eq(sl, 256);
		ck_assert(ossl_verify(k, "SHA256", RSA_PKCS1_PADDING, NULL, 0, di + 19, 32, sig, sl));
		/* and the module's own verification agrees */
		OK(F->C_VerifyInit(h, &m, pub));
		OK(F->C_Verify(h, di, sizeof(di), sig, sl));
		sig[5] ^= 1;
		OK(F->C_VerifyInit(h, &m, pub));
		RV(CKR_SIGNATURE_INVALID, F->C_Verify(h, di, sizeof(di), sig, sl));
		OK(F->C_VerifyInit(h, &m, pub));
		RV(CKR_SIGNATURE_LEN_RANGE, F->C_Verify(h, di, sizeof(di), sig, sl - 1));
	}
	/* CKM_RSA_X_509: raw RSA of a number below the modulus. */
	{
		CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
		unsigned char in[256] = { 0 }, out[256];
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
		size_t ol = sizeof(out);

		memcpy(in + 216, msg, 40);
		sl = sizeof(sig);
		sign(h, &m, priv, in + 216, 40, sig, &sl);	/* left-padded by the module */
		ck_assert(EVP_PKEY_verify_recover_init(ctx) > 0);
		ck_assert(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) > 0);
		ck_assert(EVP_PKEY_verify_recover(ctx, out, &ol, sig, sl) > 0);
		ck_assert(ol == 256 && memcmp(out, in, 256) == 0);
		EVP_PKEY_CTX_free(ctx);
	}
	/* Hash-and-sign, single- and multi-part. */
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		CK_MECHANISM m = { hs[i].m, NULL, 0 };

		digest(hs[i].md, msg, sizeof(msg), md, &mdlen);
		sl = sizeof(sig);
		sign(h, &m, priv, msg, sizeof(msg), sig, &sl);
		ck_assert_msg(ossl_verify(k, hs[i].md, RSA_PKCS1_PADDING, NULL, 0, md, mdlen, sig, sl),
			      "%s single", hs[i].md);
		OK(F->C_SignInit(h, &m, priv));
		OK(F->C_SignUpdate(h, (CK_BYTE_PTR)msg, 10));
		OK(F->C_SignUpdate(h, NULL, 0));
		OK(F->C_SignUpdate(h, (CK_BYTE_PTR)msg + 10, sizeof(msg) - 10));
		sl = 0;
		OK(F->C_SignFinal(h, NULL, &sl));	/* the length; the operation stays */
		ck_assert_uint_eq(sl, 256);
		sl = sizeof(sig);
		OK(F->C_SignFinal(h, sig, &sl));
		ck_assert_msg(ossl_verify(k, hs[i].md, RSA_PKCS1_PADDING, NULL, 0, md, mdlen, sig, sl),
			      "%s multi", hs[i].md);
		/* verification by the module, in parts */
		OK(F->C_VerifyInit(h, &m, pub));
		OK(F->C_VerifyUpdate(h, (CK_BYTE_PTR)msg, 3));
		OK(F->C_VerifyUpdate(h, (CK_BYTE_PTR)msg + 3, sizeof(msg) - 3));
		OK(F->C_VerifyFinal(h, sig, sl));
	}
	/* PSS on a hash, and the hash-and-sign PSS family. */
	for (size_t i = 0; i < sizeof(pss) / sizeof(pss[0]); i++) {
		CK_RSA_PKCS_PSS_PARAMS p = { pss[i].hash, pss[i].mgf, 20 };
		CK_MECHANISM m = { pss[i].m, &p, sizeof(p) };
		CK_MECHANISM raw = { CKM_RSA_PKCS_PSS, &p, sizeof(p) };

		digest(pss[i].md, msg, sizeof(msg), md, &mdlen);
		sl = sizeof(sig);
		sign(h, &m, priv, msg, sizeof(msg), sig, &sl);
		ck_assert_msg(ossl_verify(k, pss[i].md, RSA_PKCS1_PSS_PADDING, pss[i].mgfmd, 20, md,
					  mdlen, sig, sl), "PSS %s", pss[i].md);
		sl = sizeof(sig);
		sign(h, &raw, priv, md, mdlen, sig, &sl);
		ck_assert_msg(ossl_verify(k, pss[i].md, RSA_PKCS1_PSS_PADDING, pss[i].mgfmd, 20, md,
					  mdlen, sig, sl), "raw PSS %s", pss[i].md);
		OK(F->C_VerifyInit(h, &raw, pub));
		OK(F->C_Verify(h, md, mdlen, sig, sl));
	}
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_sign_ec)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE priv = find_one(h, CKO_PRIVATE_KEY, "ec");
	CK_OBJECT_HANDLE pub = find_one(h, CKO_PUBLIC_KEY, "ec");
	EVP_PKEY *k = pubkey_of(h, pub);
	unsigned char sig[64], md[64];
	unsigned int mdlen;
	CK_ULONG sl;
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} hs[] = {
		{ CKM_ECDSA_SHA1, "SHA1" },	{ CKM_ECDSA_SHA224, "SHA224" },
		{ CKM_ECDSA_SHA256, "SHA256" }, { CKM_ECDSA_SHA384, "SHA384" },
		{ CKM_ECDSA_SHA512, "SHA512" },
	};
	CK_MECHANISM raw = { CKM_ECDSA, NULL, 0 };

	digest("SHA256", msg, sizeof(msg), md, &mdlen);
	sl = sizeof(sig);
	sign(h, &raw, priv, md, mdlen, sig, &sl);
	ck_assert_uint_eq(sl, 64);	/* r || s, 32 bytes each */
	ck_assert(ossl_verify(k, NULL, 0, NULL, 0, md, mdlen, sig, sl));
	OK(F->C_VerifyInit(h, &raw, pub));
	OK(F->C_Verify(h, md, mdlen, sig, sl));
	sig[40] ^= 0x20;
	OK(F->C_VerifyInit(h, &raw, pub));
	RV(CKR_SIGNATURE_INVALID, F->C_Verify(h, md, mdlen, sig, sl));

	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		CK_MECHANISM m = { hs[i].m, NULL, 0 };

		digest(hs[i].md, msg, sizeof(msg), md, &mdlen);
		sl = sizeof(sig);
		sign(h, &m, priv, msg, sizeof(msg), sig, &sl);
		ck_assert_msg(ossl_verify(k, NULL, 0, NULL, 0, md, mdlen, sig, sl), "%s", hs[i].md);
		OK(F->C_SignInit(h, &m, priv));
		OK(F->C_SignUpdate(h, (CK_BYTE_PTR)msg, 7));
		OK(F->C_SignUpdate(h, (CK_BYTE_PTR)msg + 7, sizeof(msg) - 7));
		sl = sizeof(sig);
		OK(F->C_SignFinal(h, sig, &sl));
		ck_assert_msg(ossl_verify(k, NULL, 0, NULL, 0, md, mdlen, sig, sl), "%s multi", hs[i].md);
		OK(F->C_VerifyInit(h, &m, pub));
		OK(F->C_Verify(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, sl));
	}
	EVP_PKEY_free(k);
}
END_TEST

/* The operation state machine and the argument checks of signing. */
START_TEST(test_sign_misuse)
{
	CK_SESSION_HANDLE h = user_session(), ro;
	CK_OBJECT_HANDLE priv = find_one(h, CKO_PRIVATE_KEY, "rsa");
	CK_OBJECT_HANDLE pub = find_one(h, CKO_PUBLIC_KEY, "rsa");
	CK_OBJECT_HANDLE ecpriv = find_one(h, CKO_PRIVATE_KEY, "ec");
	CK_OBJECT_HANDLE cert = find_one(h, CKO_CERTIFICATE, "rsa");
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_MECHANISM ecm = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[256], big[300];
	CK_ULONG sl;

	RV(CKR_ARGUMENTS_BAD, F->C_SignInit(h, NULL, priv));
	RV(CKR_MECHANISM_INVALID, F->C_SignInit(h, &(CK_MECHANISM){ CKM_MD5_RSA_PKCS, NULL, 0 }, priv));
	RV(CKR_MECHANISM_INVALID, F->C_SignInit(h, &(CK_MECHANISM){ CKM_AES_CBC, NULL, 0 }, priv));
	RV(CKR_KEY_HANDLE_INVALID, F->C_SignInit(h, &m, 424242));
	RV(CKR_KEY_HANDLE_INVALID, F->C_SignInit(h, &m, cert));
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED, F->C_SignInit(h, &m, pub));
	RV(CKR_KEY_TYPE_INCONSISTENT, F->C_SignInit(h, &m, ecpriv));
	RV(CKR_KEY_TYPE_INCONSISTENT, F->C_SignInit(h, &ecm, priv));
	RV(CKR_MECHANISM_PARAM_INVALID, F->C_SignInit(h, &(CK_MECHANISM){ CKM_SHA256_RSA_PKCS, sig, 4 }, priv));
	{
		CK_RSA_PKCS_PSS_PARAMS p = { CKM_SHA384, CKG_MGF1_SHA256, 32 };

		/* the hash named twice, differently */
		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_SignInit(h, &(CK_MECHANISM){ CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p) }, priv));
		p.hashAlg = CKM_MD5;
		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_SignInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS_PSS, &p, sizeof(p) }, priv));
		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_SignInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS_PSS, NULL, 0 }, priv));
	}
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Sign(h, (CK_BYTE_PTR)msg, 4, sig, &sl));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_SignUpdate(h, (CK_BYTE_PTR)msg, 4));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_SignFinal(h, sig, &sl));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Verify(h, (CK_BYTE_PTR)msg, 4, sig, 256));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_SignInit(h + 77, &m, priv));

	/* Length query and short buffer keep the operation; an error ends it. */
	OK(F->C_SignInit(h, &m, priv));
	RV(CKR_OPERATION_ACTIVE, F->C_SignInit(h, &m, priv));
	sl = 0;
	OK(F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &sl));
	ck_assert_uint_eq(sl, 256);
	sl = 100;
	RV(CKR_BUFFER_TOO_SMALL, F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &sl));
	ck_assert_uint_eq(sl, 256);
	sl = sizeof(sig);
	OK(F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &sl));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &sl));

	OK(F->C_SignInit(h, &m, priv));
	RV(CKR_ARGUMENTS_BAD, F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, NULL));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &sl));
	OK(F->C_SignInit(h, &m, priv));
	RV(CKR_ARGUMENTS_BAD, F->C_SignUpdate(h, NULL, 5));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_SignFinal(h, sig, &sl));
	/* C_Sign cannot end a multi-part operation. */
	OK(F->C_SignInit(h, &m, priv));
	OK(F->C_SignUpdate(h, (CK_BYTE_PTR)msg, 5));
	RV(CKR_OPERATION_ACTIVE, F->C_Sign(h, (CK_BYTE_PTR)msg, 5, sig, &sl));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_SignFinal(h, sig, &sl));
	/* Too much data for PKCS#1 v1.5 ends the operation. */
	OK(F->C_SignInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 }, priv));
	memset(big, 1, sizeof(big));
	sl = sizeof(sig);
	RV(CKR_DATA_LEN_RANGE, F->C_Sign(h, big, 250, sig, &sl));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Sign(h, big, 20, sig, &sl));
	/* A PSS input that is not a hash of the named size. */
	{
		CK_RSA_PKCS_PSS_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, 32 };

		OK(F->C_SignInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS_PSS, &p, sizeof(p) }, priv));
		sl = sizeof(sig);
		RV(CKR_DATA_LEN_RANGE, F->C_Sign(h, big, 31, sig, &sl));
	}
	/* C_SessionCancel (3.0) ends an operation. */
	OK(F->C_SignInit(h, &m, priv));
	OK(F3->C_SessionCancel(h, CKF_SIGN));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_SignFinal(h, sig, &sl));
	/* Message-based functions are not offered. */
	RV(CKR_FUNCTION_NOT_SUPPORTED, F3->C_MessageSignInit(h, &m, priv));
	RV(CKR_MECHANISM_INVALID, F->C_SignRecoverInit(h, &m, priv));

	/* Without login the private key is not there. */
	OK(F->C_Logout(h));
	RV(CKR_KEY_HANDLE_INVALID, F->C_SignInit(h, &m, priv));
	ro = open_session(0, false);
	RV(CKR_KEY_HANDLE_INVALID, F->C_SignInit(ro, &m, priv));
}
END_TEST

/* ---- decryption and the NSS S/MIME paths -------------------------------------------------- */

static size_t
ossl_encrypt(EVP_PKEY *k, int pad, const char *md, const char *mgf, const char *label,
	     const unsigned char *in, size_t len, unsigned char *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	size_t ol = 512;

	ck_assert(EVP_PKEY_encrypt_init(ctx) > 0);
	ck_assert(EVP_PKEY_CTX_set_rsa_padding(ctx, pad) > 0);
	if (pad == RSA_PKCS1_OAEP_PADDING) {
		ck_assert(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_get_digestbyname(md)) > 0);
		ck_assert(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(mgf)) > 0);
		if (label != NULL)
			ck_assert(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_strdup(label),
								   (int)strlen(label)) > 0);
	}
	ck_assert(EVP_PKEY_encrypt(ctx, out, &ol, in, len) > 0);
	EVP_PKEY_CTX_free(ctx);
	return ol;
}

START_TEST(test_decrypt_rsa)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE priv = find_one(h, CKO_PRIVATE_KEY, "rsa");
	CK_OBJECT_HANDLE pub = find_one(h, CKO_PUBLIC_KEY, "rsa");
	EVP_PKEY *k = pubkey_of(h, pub);
	unsigned char ct[512], pt[256];
	CK_ULONG pl;
	size_t cl;
	static const struct {
		CK_MECHANISM_TYPE hash, mgf;
		const char *md, *mgfmd, *label;
	} oaep[] = {
		{ CKM_SHA_1, CKG_MGF1_SHA1, "SHA1", "SHA1", NULL },
		{ CKM_SHA256, CKG_MGF1_SHA256, "SHA256", "SHA256", NULL },
		{ CKM_SHA256, CKG_MGF1_SHA1, "SHA256", "SHA1", "a label" },
		{ CKM_SHA384, CKG_MGF1_SHA384, "SHA384", "SHA384", "x" },
		{ CKM_SHA512, CKG_MGF1_SHA256, "SHA512", "SHA256", NULL },
		{ CKM_SHA224, CKG_MGF1_SHA224, "SHA224", "SHA224", NULL },
	};
	CK_MECHANISM pkcs = { CKM_RSA_PKCS, NULL, 0 };

	/* PKCS#1 v1.5, with the length protocol. */
	cl = ossl_encrypt(k, RSA_PKCS1_PADDING, NULL, NULL, NULL, msg, 32, ct);
	OK(F->C_DecryptInit(h, &pkcs, priv));
	pl = 0;
	OK(F->C_Decrypt(h, ct, cl, NULL, &pl));
	ck_assert_uint_ge(pl, 32);
	pl = 8;
	RV(CKR_BUFFER_TOO_SMALL, F->C_Decrypt(h, ct, cl, pt, &pl));
	ck_assert_uint_eq(pl, 32);	/* the exact length, once known */
	OK(F->C_Decrypt(h, ct, cl, pt, &pl));
	ck_assert(pl == 32 && memcmp(pt, msg, 32) == 0);
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Decrypt(h, ct, cl, pt, &pl));
	/* the ciphertext in parts */
	OK(F->C_DecryptInit(h, &pkcs, priv));
	pl = sizeof(pt);
	OK(F->C_DecryptUpdate(h, ct, 100, pt, &pl));
	ck_assert_uint_eq(pl, 0);
	pl = sizeof(pt);
	OK(F->C_DecryptUpdate(h, ct + 100, cl - 100, pt, &pl));
	pl = sizeof(pt);
	OK(F->C_DecryptFinal(h, pt, &pl));
	ck_assert(pl == 32 && memcmp(pt, msg, 32) == 0);

	/* Damaged or wrong-sized ciphertext ends the operation. */
	OK(F->C_DecryptInit(h, &pkcs, priv));
	pl = sizeof(pt);
	RV(CKR_ENCRYPTED_DATA_LEN_RANGE, F->C_Decrypt(h, ct, cl - 1, pt, &pl));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Decrypt(h, ct, cl, pt, &pl));
	ct[100] ^= 0x55;
	OK(F->C_DecryptInit(h, &pkcs, priv));
	pl = sizeof(pt);
	{
		CK_RV rv = F->C_Decrypt(h, ct, cl, pt, &pl);

		/* PKCS#1 v1.5 padding that does not check, or (rarely) junk
		 * that does: never the original */
		ck_assert(rv == CKR_ENCRYPTED_DATA_INVALID || (rv == CKR_OK && memcmp(pt, msg, pl) != 0));
	}

	/* OAEP with SHA-1 and SHA-2, MGF1 variants and labels. */
	for (size_t i = 0; i < sizeof(oaep) / sizeof(oaep[0]); i++) {
		CK_RSA_PKCS_OAEP_PARAMS p = { oaep[i].hash, oaep[i].mgf, CKZ_DATA_SPECIFIED,
					      (void *)oaep[i].label,
					      oaep[i].label ? strlen(oaep[i].label) : 0 };
		CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };

		cl = ossl_encrypt(k, RSA_PKCS1_OAEP_PADDING, oaep[i].md, oaep[i].mgfmd, oaep[i].label,
				  msg, 40, ct);
		OK(F->C_DecryptInit(h, &m, priv));
		pl = sizeof(pt);
		OK(F->C_Decrypt(h, ct, cl, pt, &pl));
		ck_assert_msg(pl == 40 && memcmp(pt, msg, 40) == 0, "OAEP %s/%s", oaep[i].md,
			      oaep[i].mgfmd);
		/* the wrong label fails */
		p.pSourceData = "other";
		p.ulSourceDataLen = 5;
		OK(F->C_DecryptInit(h, &m, priv));
		pl = sizeof(pt);
		RV(CKR_ENCRYPTED_DATA_INVALID, F->C_Decrypt(h, ct, cl, pt, &pl));
	}
	/* OAEP parameters checked. */
	{
		CK_RSA_PKCS_OAEP_PARAMS p = { CKM_MD5, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };

		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &p, sizeof(p) }, priv));
		p.hashAlg = CKM_SHA256;
		p.source = 7;
		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &p, sizeof(p) }, priv));
		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &p, 3 }, priv));
	}
	/* Encryption with the public key, decrypted by the token. */
	{
		CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
		CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
		CK_ULONG ctl = sizeof(ct);

		RV(CKR_KEY_FUNCTION_NOT_PERMITTED, F->C_EncryptInit(h, &m, priv));
		RV(CKR_KEY_FUNCTION_NOT_PERMITTED, F->C_DecryptInit(h, &m, pub));
		OK(F->C_EncryptInit(h, &m, pub));
		OK(F->C_Encrypt(h, (CK_BYTE_PTR)msg, 20, ct, &ctl));
		ck_assert_uint_eq(ctl, 256);
		OK(F->C_DecryptInit(h, &m, priv));
		pl = sizeof(pt);
		OK(F->C_Decrypt(h, ct, ctl, pt, &pl));
		ck_assert(pl == 20 && memcmp(pt, msg, 20) == 0);
	}
	EVP_PKEY_free(k);
}
END_TEST

static CK_RV
unwrap_rsa_rv(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, const unsigned char *wrapped, size_t len,
	      CK_ULONG vlen, CK_OBJECT_HANDLE *o)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {	/* what NSS sends */
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
	};
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };

	return F->C_UnwrapKey(h, &m, priv, (CK_BYTE_PTR)wrapped, len, t, vlen ? 5 : 4, o);
}

static CK_OBJECT_HANDLE
unwrap_rsa(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, const unsigned char *wrapped, size_t len,
	   CK_ULONG vlen)
{
	CK_OBJECT_HANDLE o = 0;

	OK(unwrap_rsa_rv(h, priv, wrapped, len, vlen, &o));
	return o;
}

/* NSS decrypts S/MIME: C_UnwrapKey(CKM_RSA_PKCS) gives the content key,
 * C_Decrypt(CKM_AES_CBC) in parts (NSS strips the padding itself). */
START_TEST(test_nss_rsa_path)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE priv = find_one(h, CKO_PRIVATE_KEY, "rsa");
	EVP_PKEY *k = pubkey_of(h, find_one(h, CKO_PUBLIC_KEY, "rsa"));
	unsigned char cek[32], iv[16], wrapped[256], plain[1000], ct[1100], out[1100], *v;
	int n1, n2;
	size_t wl, cl, done = 0;
	CK_ULONG ol, vl;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	CK_OBJECT_HANDLE key;
	static const size_t chunks[] = { 1, 15, 17, 16, 100, 3, 500 };

	ck_assert(RAND_bytes(cek, 32) == 1 && RAND_bytes(iv, 16) == 1 && RAND_bytes(plain, sizeof(plain)) == 1);
	ck_assert(EVP_EncryptInit_ex2(c, EVP_aes_256_cbc(), cek, iv, NULL));
	ck_assert(EVP_EncryptUpdate(c, ct, &n1, plain, sizeof(plain)));
	ck_assert(EVP_EncryptFinal_ex(c, ct + n1, &n2));
	cl = (size_t)(n1 + n2);	/* 1008: PKCS#7 padded */
	EVP_CIPHER_CTX_free(c);
	wl = ossl_encrypt(k, RSA_PKCS1_PADDING, NULL, NULL, NULL, cek, 32, wrapped);

	key = unwrap_rsa(h, priv, wrapped, wl, 32);
	ck_assert_uint_eq(get_ulong(h, key, CKA_KEY_TYPE), CKK_AES);
	ck_assert(!get_bool(h, key, CKA_TOKEN));
	/* extractable and not sensitive: NSS may read the value */
	v = get_attr(h, key, CKA_VALUE, &vl);
	ck_assert(vl == 32 && memcmp(v, cek, 32) == 0);
	free(v);

	/* Unpadded CBC in uneven parts, as NSS feeds it. */
	OK(F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 16 }, key));
	for (size_t i = 0, pos = 0; pos < cl; i++) {
		size_t step = chunks[i % 7];

		if (step > cl - pos)
			step = cl - pos;
		ol = 0;
		OK(F->C_DecryptUpdate(h, ct + pos, step, NULL, &ol));	/* length query */
		ck_assert_uint_le(ol, step + 16);
		if (ol > 0) {
			CK_ULONG small = ol - 1;

			RV(CKR_BUFFER_TOO_SMALL, F->C_DecryptUpdate(h, ct + pos, step, out + done, &small));
			ck_assert_uint_eq(small, ol);
		}
		OK(F->C_DecryptUpdate(h, ct + pos, step, out + done, &ol));
		done += ol;
		pos += step;
	}
	ol = sizeof(out) - done;
	OK(F->C_DecryptFinal(h, out + done, &ol));
	done += ol;
	ck_assert_uint_eq(done, cl);
	ck_assert(memcmp(out, plain, sizeof(plain)) == 0);
	ck_assert(out[cl - 1] == 8);	/* the padding left for NSS */

	/* CBC_PAD strips it, single- and multi-part. */
	OK(F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC_PAD, iv, 16 }, key));
	ol = 0;
	OK(F->C_Decrypt(h, ct, cl, NULL, &ol));
	ck_assert_uint_ge(ol, sizeof(plain));
	ol = 999;
	RV(CKR_BUFFER_TOO_SMALL, F->C_Decrypt(h, ct, cl, out, &ol));
	ck_assert_uint_eq(ol, sizeof(plain));
	OK(F->C_Decrypt(h, ct, cl, out, &ol));
	ck_assert(ol == sizeof(plain) && memcmp(out, plain, ol) == 0);

	OK(F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC_PAD, iv, 16 }, key));
	done = 0;
	for (size_t pos = 0; pos < cl; pos += 48) {
		size_t step = cl - pos < 48 ? cl - pos : 48;

		ol = sizeof(out) - done;
		OK(F->C_DecryptUpdate(h, ct + pos, step, out + done, &ol));
		done += ol;
	}
	ol = 0;
	OK(F->C_DecryptFinal(h, NULL, &ol));
	ck_assert_uint_eq(ol, sizeof(plain) - done);
	OK(F->C_DecryptFinal(h, out + done, &ol));
	done += ol;
	ck_assert(done == sizeof(plain) && memcmp(out, plain, done) == 0);

	/* Encrypting with the session key gives what OpenSSL gives. */
	OK(F->C_EncryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC_PAD, iv, 16 }, key));
	ol = sizeof(out);
	OK(F->C_Encrypt(h, plain, sizeof(plain), out, &ol));
	ck_assert(ol == cl && memcmp(out, ct, cl) == 0);
	OK(F->C_EncryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 16 }, key));
	ol = sizeof(out);
	RV(CKR_DATA_LEN_RANGE, F->C_Encrypt(h, plain, 1000, out, &ol));	/* not whole blocks */
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_Encrypt(h, plain, 992, out, &ol));

	/* The session key wrapped with the RSA public key (OAEP) and back. */
	{
		CK_OBJECT_HANDLE pub = find_one(h, CKO_PUBLIC_KEY, "rsa"), back;
		CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
		CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_AES;
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) } };
		unsigned char w[256];
		CK_ULONG wlen = 0;

		OK(F->C_WrapKey(h, &m, pub, key, NULL, &wlen));
		ck_assert_uint_eq(wlen, 256);
		wlen = 10;
		RV(CKR_BUFFER_TOO_SMALL, F->C_WrapKey(h, &m, pub, key, w, &wlen));
		wlen = sizeof(w);
		OK(F->C_WrapKey(h, &m, pub, key, w, &wlen));
		RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, F->C_WrapKey(h, &m, priv, key, w, &wlen));
		OK(F->C_UnwrapKey(h, &m, priv, w, wlen, t, 2, &back));
		v = get_attr(h, back, CKA_VALUE, &vl);
		ck_assert(vl == 32 && memcmp(v, cek, 32) == 0);
		free(v);
	}

	/* Misuse. */
	RV(CKR_MECHANISM_PARAM_INVALID, F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 8 }, key));
	RV(CKR_MECHANISM_PARAM_INVALID, F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, NULL, 0 }, key));
	RV(CKR_KEY_TYPE_INCONSISTENT, F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 16 }, priv));
	RV(CKR_KEY_TYPE_INCONSISTENT, F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 }, key));
	OK(F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 16 }, key));
	RV(CKR_OPERATION_ACTIVE, F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 16 }, key));
	ol = sizeof(out);
	OK(F->C_DecryptUpdate(h, ct, 20, out, &ol));
	ol = sizeof(out);
	RV(CKR_ENCRYPTED_DATA_LEN_RANGE, F->C_DecryptFinal(h, out, &ol));	/* 4 bytes left over */
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_DecryptFinal(h, out, &ol));
	OK(F->C_DecryptInit(h, &(CK_MECHANISM){ CKM_AES_CBC, iv, 16 }, key));
	RV(CKR_ARGUMENTS_BAD, F->C_DecryptUpdate(h, ct, 16, out, NULL));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_DecryptUpdate(h, ct, 16, out, &ol));

	/* Unwrap misuse. */
	{
		CK_OBJECT_HANDLE o;
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
		CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };

		RV(CKR_ARGUMENTS_BAD, F->C_UnwrapKey(h, &m, priv, wrapped, wl, &t, 1, NULL));
		RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID, F->C_UnwrapKey(h, &m, 31337, wrapped, wl, &t, 1, &o));
		RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, F->C_UnwrapKey(h, &m, key, wrapped, wl, &t, 1, &o));
		RV(CKR_WRAPPED_KEY_LEN_RANGE, F->C_UnwrapKey(h, &m, priv, wrapped, wl - 3, &t, 1, &o));
		RV(CKR_TEMPLATE_INCONSISTENT, unwrap_rsa_rv(h, priv, wrapped, wl, 16, &o));
	}
	EVP_PKEY_free(k);
}
END_TEST

/* NSS 3.100+ ECDH S/MIME: C_DeriveKey(ECDH1, CKD_SHA256_KDF) gives the
 * key-encryption key, C_UnwrapKey(CKM_AES_KEY_WRAP) the content key.
 * Compared with the same computed by OpenSSL. */
START_TEST(test_ecdh_path)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE priv = find_one(h, CKO_PRIVATE_KEY, "ec");
	EVP_PKEY *tok = pubkey_of(h, find_one(h, CKO_PUBLIC_KEY, "ec"));
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	unsigned char pt[65], z[32], kek[32], cek[32], wrapped[40], shared[] = "shared info";
	size_t ptl = 0, zl = sizeof(z);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES, gen = CKK_GENERIC_SECRET;
	CK_ULONG len32 = 32;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_VALUE_LEN, &len32, sizeof(len32) },
		{ CKA_UNWRAP, &yes, sizeof(yes) },
	};
	CK_ECDH1_DERIVE_PARAMS p = { CKD_SHA256_KDF, sizeof(shared) - 1, shared, 65, pt };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_OBJECT_HANDLE kh, ch;
	unsigned char *v;
	CK_ULONG vl;

	/* What OpenSSL computes. */
	ck_assert(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl));
	ck_assert_uint_eq(ptl, 65);
	{
		EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(peer, NULL);
		EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
		EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
		OSSL_PARAM kp[] = {
			OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
			OSSL_PARAM_construct_octet_string("key", z, 32),
			OSSL_PARAM_construct_octet_string("info", shared, sizeof(shared) - 1),
			OSSL_PARAM_construct_end(),
		};

		ck_assert(EVP_PKEY_derive_init(dc) > 0);
		ck_assert(EVP_PKEY_derive_set_peer(dc, tok) > 0);
		ck_assert(EVP_PKEY_derive(dc, z, &zl) > 0);
		ck_assert(EVP_KDF_derive(kc, kek, 32, kp) > 0);
		EVP_KDF_CTX_free(kc);
		EVP_KDF_free(kdf);
		EVP_PKEY_CTX_free(dc);
	}

	OK(F->C_DeriveKey(h, &m, priv, t, 4, &kh));
	v = get_attr(h, kh, CKA_VALUE, &vl);
	ck_assert(vl == 32 && memcmp(v, kek, 32) == 0);
	free(v);
	/* the peer point as a DER OCTET STRING works the same */
	{
		unsigned char der[67] = { 0x04, 65 };
		CK_ECDH1_DERIVE_PARAMS p2 = p;
		CK_OBJECT_HANDLE k2;

		memcpy(der + 2, pt, 65);
		p2.pPublicData = der;
		p2.ulPublicDataLen = 67;
		OK(F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &p2, sizeof(p2) }, priv, t, 4, &k2));
		v = get_attr(h, k2, CKA_VALUE, &vl);
		ck_assert(vl == 32 && memcmp(v, kek, 32) == 0);
		free(v);
	}
	/* CKD_NULL: the shared secret itself. */
	{
		CK_ECDH1_DERIVE_PARAMS p0 = { CKD_NULL, 0, NULL, 65, pt };
		CK_ATTRIBUTE tg[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &gen, sizeof(gen) } };
		CK_OBJECT_HANDLE k0;

		OK(F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &p0, sizeof(p0) }, priv, tg, 2, &k0));
		v = get_attr(h, k0, CKA_VALUE, &vl);
		ck_assert(vl == 32 && memcmp(v, z, 32) == 0);
		free(v);
		p0.ulSharedDataLen = 3;
		p0.pSharedData = shared;
		RV(CKR_MECHANISM_PARAM_INVALID,
		   F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &p0, sizeof(p0) }, priv, tg, 2, &k0));
	}
	/* Every KDF hash. */
	{
		static const struct {
			CK_ULONG kdf;
			const char *md;
		} kdfs[] = { { CKD_SHA1_KDF, "SHA1" }, { CKD_SHA224_KDF, "SHA224" },
			     { CKD_SHA384_KDF, "SHA384" }, { CKD_SHA512_KDF, "SHA512" } };

		for (size_t i = 0; i < 4; i++) {
			CK_ECDH1_DERIVE_PARAMS pk = { kdfs[i].kdf, 0, NULL, 65, pt };
			CK_ULONG l24 = 24;
			CK_ATTRIBUTE tk[] = { { CKA_KEY_TYPE, &aes, sizeof(aes) },
					      { CKA_VALUE_LEN, &l24, sizeof(l24) } };
			CK_OBJECT_HANDLE kk;
			unsigned char want[24];
			EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
			EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
			OSSL_PARAM kp[] = {
				OSSL_PARAM_construct_utf8_string("digest", (char *)kdfs[i].md, 0),
				OSSL_PARAM_construct_octet_string("key", z, 32),
				OSSL_PARAM_construct_end(),
			};

			ck_assert(EVP_KDF_derive(kc, want, 24, kp) > 0);
			EVP_KDF_CTX_free(kc);
			EVP_KDF_free(kdf);
			OK(F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &pk, sizeof(pk) }, priv, tk, 2, &kk));
			v = get_attr(h, kk, CKA_VALUE, &vl);
			ck_assert_msg(vl == 24 && memcmp(v, want, 24) == 0, "%s", kdfs[i].md);
			free(v);
		}
	}

	/* The content key, wrapped by OpenSSL (RFC 3394), unwrapped here. */
	{
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int n1, n2;
		CK_ATTRIBUTE tc[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &aes, sizeof(aes) } };

		ck_assert(RAND_bytes(cek, 32) == 1);
		EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		ck_assert(EVP_EncryptInit_ex2(c, EVP_aes_256_wrap(), kek, NULL, NULL));
		ck_assert(EVP_EncryptUpdate(c, wrapped, &n1, cek, 32));
		ck_assert(EVP_EncryptFinal_ex(c, wrapped + n1, &n2));
		ck_assert_int_eq(n1 + n2, 40);
		EVP_CIPHER_CTX_free(c);
		OK(F->C_UnwrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, kh, wrapped, 40, tc, 2, &ch));
		v = get_attr(h, ch, CKA_VALUE, &vl);
		ck_assert(vl == 32 && memcmp(v, cek, 32) == 0);
		free(v);
		wrapped[9] ^= 1;
		RV(CKR_WRAPPED_KEY_INVALID,
		   F->C_UnwrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, kh, wrapped, 40, tc, 2, &ch));
		RV(CKR_WRAPPED_KEY_LEN_RANGE,
		   F->C_UnwrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, kh, wrapped, 39, tc, 2, &ch));
	}
	/* Wrap and unwrap by the module: KW, KWP (RFC 5649), PAD (PKCS#7 + KW). */
	{
		static const CK_MECHANISM_TYPE ms[] = { CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP,
							CKM_AES_KEY_WRAP_PAD };
		unsigned char gk[20], buf[64];
		CK_ATTRIBUTE tg[] = { { CKA_CLASS, &cls, sizeof(cls) },
				      { CKA_KEY_TYPE, &gen, sizeof(gen) },
				      { CKA_VALUE, gk, sizeof(gk) } };
		CK_OBJECT_HANDLE g, back;

		ck_assert(RAND_bytes(gk, sizeof(gk)) == 1);
		OK(F->C_CreateObject(h, tg, 3, &g));
		for (size_t i = 0; i < 3; i++) {
			CK_MECHANISM wm = { ms[i], NULL, 0 };
			CK_OBJECT_HANDLE what = i == 0 ? ch : g;	/* KW needs multiples of 8 */
			size_t want = i == 0 ? 32 : sizeof(gk);
			CK_ULONG bl = 0;

			OK(F->C_WrapKey(h, &wm, kh, what, NULL, &bl));
			ck_assert_uint_eq(bl, i == 0 ? 40 : i == 1 ? 32 : 32);
			bl = sizeof(buf);
			OK(F->C_WrapKey(h, &wm, kh, what, buf, &bl));
			OK(F->C_UnwrapKey(h, &wm, kh, buf, bl, tg, 2, &back));
			v = get_attr(h, back, CKA_VALUE, &vl);
			ck_assert_msg(vl == want && memcmp(v, i == 0 ? cek : gk, want) == 0, "mech 0x%lx", ms[i]);
			free(v);
		}
		/* RFC 5649 agrees with OpenSSL's */
		{
			EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
			unsigned char ow[64];
			int n1, n2;
			CK_ULONG bl = sizeof(buf);

			EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
			ck_assert(EVP_EncryptInit_ex2(c, EVP_aes_256_wrap_pad(), kek, NULL, NULL));
			ck_assert(EVP_EncryptUpdate(c, ow, &n1, gk, sizeof(gk)));
			ck_assert(EVP_EncryptFinal_ex(c, ow + n1, &n2));
			EVP_CIPHER_CTX_free(c);
			OK(F->C_WrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP_KWP, NULL, 0 }, kh, g, buf, &bl));
			ck_assert(bl == (CK_ULONG)(n1 + n2) && memcmp(buf, ow, bl) == 0);
		}
		/* KW refuses what is not whole 8-byte blocks; private keys never leave. */
		{
			CK_ULONG bl = sizeof(buf);

			RV(CKR_KEY_SIZE_RANGE, F->C_WrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, kh, g, buf, &bl));
			RV(CKR_KEY_NOT_WRAPPABLE, F->C_WrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, kh, priv, buf, &bl));
			RV(CKR_WRAPPING_KEY_HANDLE_INVALID, F->C_WrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, 5555, g, buf, &bl));
			RV(CKR_ARGUMENTS_BAD, F->C_WrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP, NULL, 0 }, kh, g, buf, NULL));
			OK(F->C_SetAttributeValue(h, g, &(CK_ATTRIBUTE){ CKA_EXTRACTABLE, &(CK_BBOOL){ CK_FALSE }, 1 }, 1));
			RV(CKR_KEY_UNEXTRACTABLE, F->C_WrapKey(h, &(CK_MECHANISM){ CKM_AES_KEY_WRAP_KWP, NULL, 0 }, kh, g, buf, &bl));
		}
	}
	/* Derive misuse. */
	{
		CK_OBJECT_HANDLE o;
		CK_OBJECT_HANDLE rsa = find_one(h, CKO_PRIVATE_KEY, "rsa");
		CK_ECDH1_DERIVE_PARAMS bad = p;

		RV(CKR_KEY_TYPE_INCONSISTENT, F->C_DeriveKey(h, &m, rsa, t, 4, &o));
		RV(CKR_KEY_HANDLE_INVALID, F->C_DeriveKey(h, &m, 8888, t, 4, &o));
		RV(CKR_ARGUMENTS_BAD, F->C_DeriveKey(h, &m, priv, t, 4, NULL));
		RV(CKR_MECHANISM_INVALID, F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDSA, &p, sizeof(p) }, priv, t, 4, &o));
		RV(CKR_MECHANISM_PARAM_INVALID, F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &p, 4 }, priv, t, 4, &o));
		bad.kdf = 0x99;
		RV(CKR_MECHANISM_PARAM_INVALID, F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &bad, sizeof(bad) }, priv, t, 4, &o));
		bad = p;
		bad.ulPublicDataLen = 30;	/* not a point */
		RV(CKR_MECHANISM_PARAM_INVALID, F->C_DeriveKey(h, &(CK_MECHANISM){ CKM_ECDH1_DERIVE, &bad, sizeof(bad) }, priv, t, 4, &o));
		/* a KDF needs a length */
		RV(CKR_TEMPLATE_INCOMPLETE, F->C_DeriveKey(h, &m, priv, t, 2, &o));
		len32 = 7;	/* not an AES length */
		RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_DeriveKey(h, &m, priv, t, 4, &o));
	}
	EVP_PKEY_free(peer);
	EVP_PKEY_free(tok);
}
END_TEST

/* ---- key generation --------------------------------------------------------------------- */

START_TEST(test_keygen)
{
	CK_SESSION_HANDLE ro = open_session(0, false), rw = open_session(0, true);
	CK_MECHANISM rsa = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM ec = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 2048, small = 1024;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static unsigned char p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
	static unsigned char k256[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };	/* secp256k1 */
	static unsigned char name[] = { 0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1' };
	CK_ATTRIBUTE pr[] = { { CKA_MODULUS_BITS, &bits, sizeof(bits) } };
	CK_ATTRIBUTE pe[] = { { CKA_EC_PARAMS, p384, sizeof(p384) }, { CKA_LABEL, "ec384", 5 } };
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM_TYPE kg = CKM_AES_KEY_GEN;
	CK_ULONG len = 16;
	CK_ATTRIBUTE ta[] = { { CKA_VALUE_LEN, &len, sizeof(len) } };
	CK_OBJECT_HANDLE aes;
	unsigned char *v, ct[64], pt[64];
	CK_ULONG vl, cl, pl;

	RV(CKR_USER_NOT_LOGGED_IN, F->C_GenerateKeyPair(rw, &rsa, pr, 1, NULL, 0, &pub, &priv));
	OK(F->C_Login(rw, CKU_USER, PIN(USER_PIN)));
	RV(CKR_SESSION_READ_ONLY, F->C_GenerateKeyPair(ro, &rsa, pr, 1, NULL, 0, &pub, &priv));
	RV(CKR_ARGUMENTS_BAD, F->C_GenerateKeyPair(rw, &rsa, pr, 1, NULL, 0, NULL, &priv));
	RV(CKR_ARGUMENTS_BAD, F->C_GenerateKeyPair(rw, &rsa, NULL, 1, NULL, 0, &pub, &priv));
	RV(CKR_TEMPLATE_INCOMPLETE, F->C_GenerateKeyPair(rw, &rsa, NULL, 0, NULL, 0, &pub, &priv));
	RV(CKR_KEY_SIZE_RANGE, F->C_GenerateKeyPair(rw, &rsa, &(CK_ATTRIBUTE){ CKA_MODULUS_BITS, &small, sizeof(small) }, 1, NULL, 0, &pub, &priv));
	RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_GenerateKeyPair(rw, &rsa, &(CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, 2 }, 1, NULL, 0, &pub, &priv));
	RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_GenerateKeyPair(rw, &rsa, pr, 1, &(CK_ATTRIBUTE){ CKA_EXTRACTABLE, &yes, 1 }, 1, &pub, &priv));
	RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_GenerateKeyPair(rw, &rsa, pr, 1, &(CK_ATTRIBUTE){ CKA_TOKEN, &no, 1 }, 1, &pub, &priv));
	RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_GenerateKeyPair(rw, &rsa, (CK_ATTRIBUTE[]){ pr[0], { CKA_PUBLIC_EXPONENT, "\x03", 1 } }, 2, NULL, 0, &pub, &priv));
	RV(CKR_ATTRIBUTE_TYPE_INVALID, F->C_GenerateKeyPair(rw, &rsa, pr, 1, &(CK_ATTRIBUTE){ CKA_MODULUS, "x", 1 }, 1, &pub, &priv));
	RV(CKR_TEMPLATE_INCONSISTENT, F->C_GenerateKeyPair(rw, &rsa, pr, 1, &(CK_ATTRIBUTE){ CKA_KEY_TYPE, &(CK_KEY_TYPE){ CKK_EC }, sizeof(CK_KEY_TYPE) }, 1, &pub, &priv));
	RV(CKR_MECHANISM_INVALID, F->C_GenerateKeyPair(rw, &(CK_MECHANISM){ CKM_DSA_KEY_PAIR_GEN, NULL, 0 }, pr, 1, NULL, 0, &pub, &priv));
	RV(CKR_TEMPLATE_INCOMPLETE, F->C_GenerateKeyPair(rw, &ec, NULL, 0, NULL, 0, &pub, &priv));
	RV(CKR_CURVE_NOT_SUPPORTED, F->C_GenerateKeyPair(rw, &ec, &(CK_ATTRIBUTE){ CKA_EC_PARAMS, k256, sizeof(k256) }, 1, NULL, 0, &pub, &priv));

	/* P-384, and P-256 named by a PrintableString (3.0). */
	OK(F->C_GenerateKeyPair(rw, &ec, pe, 2, NULL, 0, &pub, &priv));
	v = get_attr(rw, pub, CKA_EC_POINT, &vl);
	ck_assert_uint_eq(vl, 2 + 97);
	free(v);
	ck_assert_uint_eq(get_ulong(rw, priv, CKA_CLASS), CKO_PRIVATE_KEY);
	OK(F->C_GenerateKeyPair(rw, &ec, &(CK_ATTRIBUTE){ CKA_EC_PARAMS, name, sizeof(name) }, 1, NULL, 0, &pub, &priv));
	{
		CK_OBJECT_HANDLE p2;
		EVP_PKEY *k;
		unsigned char sig[96], md[32];
		unsigned int ml;
		CK_ULONG sl = sizeof(sig);

		/* usable at once */
		digest("SHA256", msg, sizeof(msg), md, &ml);
		sign(rw, &(CK_MECHANISM){ CKM_ECDSA, NULL, 0 }, priv, md, ml, sig, &sl);
		k = pubkey_of(rw, pub);
		ck_assert(ossl_verify(k, NULL, 0, NULL, 0, md, ml, sig, sl));
		EVP_PKEY_free(k);
		(void)p2;
	}

	/* Session AES keys. */
	RV(CKR_TEMPLATE_INCOMPLETE, F->C_GenerateKey(ro, &(CK_MECHANISM){ kg, NULL, 0 }, NULL, 0, &aes));
	len = 17;
	RV(CKR_ATTRIBUTE_VALUE_INVALID, F->C_GenerateKey(ro, &(CK_MECHANISM){ kg, NULL, 0 }, ta, 1, &aes));
	len = 16;
	RV(CKR_MECHANISM_INVALID, F->C_GenerateKey(ro, &(CK_MECHANISM){ CKM_DES3_KEY_GEN, NULL, 0 }, ta, 1, &aes));
	RV(CKR_ARGUMENTS_BAD, F->C_GenerateKey(ro, &(CK_MECHANISM){ kg, NULL, 0 }, ta, 1, NULL));
	OK(F->C_GenerateKey(ro, &(CK_MECHANISM){ kg, NULL, 0 }, ta, 1, &aes));
	ck_assert(get_bool(ro, aes, CKA_LOCAL));
	ck_assert_uint_eq(get_ulong(ro, aes, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
	/* ECB round trip, checked against OpenSSL */
	v = get_attr(ro, aes, CKA_VALUE, &vl);
	OK(F->C_EncryptInit(ro, &(CK_MECHANISM){ CKM_AES_ECB, NULL, 0 }, aes));
	cl = sizeof(ct);
	OK(F->C_Encrypt(ro, (CK_BYTE_PTR)msg, 48, ct, &cl));
	ck_assert_uint_eq(cl, 48);
	{
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		unsigned char o[64];
		int n;

		ck_assert(EVP_EncryptInit_ex2(c, EVP_aes_128_ecb(), v, NULL, NULL));
		EVP_CIPHER_CTX_set_padding(c, 0);
		ck_assert(EVP_EncryptUpdate(c, o, &n, msg, 48));
		ck_assert(n == 48 && memcmp(o, ct, 48) == 0);
		EVP_CIPHER_CTX_free(c);
	}
	free(v);
	OK(F->C_DecryptInit(ro, &(CK_MECHANISM){ CKM_AES_ECB, NULL, 0 }, aes));
	pl = sizeof(pt);
	OK(F->C_Decrypt(ro, ct, cl, pt, &pl));
	ck_assert(pl == 48 && memcmp(pt, msg, 48) == 0);
	{
		CK_ULONG gl = 33;
		CK_OBJECT_HANDLE g;

		OK(F->C_GenerateKey(ro, &(CK_MECHANISM){ CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 },
				    &(CK_ATTRIBUTE){ CKA_VALUE_LEN, &gl, sizeof(gl) }, 1, &g));
		ck_assert_uint_eq(get_ulong(ro, g, CKA_VALUE_LEN), 33);
		RV(CKR_KEY_TYPE_INCONSISTENT, F->C_EncryptInit(ro, &(CK_MECHANISM){ CKM_AES_ECB, NULL, 0 }, g));
	}
}
END_TEST

/* ---- digests and random ------------------------------------------------------------------ */

START_TEST(test_digest_random)
{
	CK_SESSION_HANDLE h = open_session(0, false);
	unsigned char md[64], want[64], rnd[64] = { 0 }, zero[64] = { 0 };
	unsigned int wl;
	CK_ULONG ml;
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} ds[] = { { CKM_SHA_1, "SHA1" }, { CKM_SHA224, "SHA224" }, { CKM_SHA256, "SHA256" },
		   { CKM_SHA384, "SHA384" }, { CKM_SHA512, "SHA512" } };

	for (size_t i = 0; i < 5; i++) {
		CK_MECHANISM m = { ds[i].m, NULL, 0 };

		digest(ds[i].md, msg, sizeof(msg), want, &wl);
		OK(F->C_DigestInit(h, &m));
		ml = 0;
		OK(F->C_Digest(h, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &ml));
		ck_assert_uint_eq(ml, wl);
		ml = 3;
		RV(CKR_BUFFER_TOO_SMALL, F->C_Digest(h, (CK_BYTE_PTR)msg, sizeof(msg), md, &ml));
		ml = sizeof(md);
		OK(F->C_Digest(h, (CK_BYTE_PTR)msg, sizeof(msg), md, &ml));
		ck_assert(ml == wl && memcmp(md, want, wl) == 0);

		OK(F->C_DigestInit(h, &m));
		OK(F->C_DigestUpdate(h, (CK_BYTE_PTR)msg, 5));
		OK(F->C_DigestUpdate(h, (CK_BYTE_PTR)msg + 5, sizeof(msg) - 5));
		ml = sizeof(md);
		OK(F->C_DigestFinal(h, md, &ml));
		ck_assert(ml == wl && memcmp(md, want, wl) == 0);
	}
	RV(CKR_MECHANISM_INVALID, F->C_DigestInit(h, &(CK_MECHANISM){ CKM_MD5, NULL, 0 }));
	RV(CKR_ARGUMENTS_BAD, F->C_DigestInit(h, NULL));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_DigestFinal(h, md, &ml));
	OK(F->C_DigestInit(h, &(CK_MECHANISM){ CKM_SHA256, NULL, 0 }));
	RV(CKR_OPERATION_ACTIVE, F->C_DigestInit(h, &(CK_MECHANISM){ CKM_SHA256, NULL, 0 }));
	RV(CKR_ARGUMENTS_BAD, F->C_Digest(h, (CK_BYTE_PTR)msg, 3, md, NULL));
	RV(CKR_OPERATION_NOT_INITIALIZED, F->C_DigestUpdate(h, (CK_BYTE_PTR)msg, 3));

	/* C_DigestKey: the value of a secret key. */
	{
		unsigned char kv[16] = "key-value-16byte";
		CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
		CK_KEY_TYPE aes = CKK_AES;
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &sec, sizeof(sec) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
				     { CKA_VALUE, kv, 16 } };
		CK_OBJECT_HANDLE k, pubk = find_one(h, CKO_PUBLIC_KEY, "rsa");

		OK(F->C_CreateObject(h, t, 3, &k));
		OK(F->C_DigestInit(h, &(CK_MECHANISM){ CKM_SHA256, NULL, 0 }));
		OK(F->C_DigestUpdate(h, (CK_BYTE_PTR)"a", 1));
		OK(F->C_DigestKey(h, k));
		ml = sizeof(md);
		OK(F->C_DigestFinal(h, md, &ml));
		{
			EVP_MD_CTX *c = EVP_MD_CTX_new();

			ck_assert(EVP_DigestInit_ex2(c, EVP_sha256(), NULL));
			ck_assert(EVP_DigestUpdate(c, "a", 1) && EVP_DigestUpdate(c, kv, 16));
			ck_assert(EVP_DigestFinal_ex(c, want, &wl));
			EVP_MD_CTX_free(c);
		}
		ck_assert(memcmp(md, want, 32) == 0);
		OK(F->C_DigestInit(h, &(CK_MECHANISM){ CKM_SHA256, NULL, 0 }));
		RV(CKR_KEY_INDIGESTIBLE, F->C_DigestKey(h, pubk));
		RV(CKR_OPERATION_NOT_INITIALIZED, F->C_DigestFinal(h, md, &ml));
	}

	OK(F->C_GenerateRandom(h, rnd, sizeof(rnd)));
	ck_assert(memcmp(rnd, zero, sizeof(rnd)) != 0);
	OK(F->C_GenerateRandom(h, rnd, 0));
	RV(CKR_ARGUMENTS_BAD, F->C_GenerateRandom(h, NULL, 5));
	OK(F->C_SeedRandom(h, rnd, 16));
	RV(CKR_ARGUMENTS_BAD, F->C_SeedRandom(h, NULL, 16));
	RV(CKR_SESSION_HANDLE_INVALID, F->C_GenerateRandom(h + 99, rnd, 4));
}
END_TEST

/* ---- threads and fork ------------------------------------------------------------------- */

struct worker {
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE key;
	EVP_PKEY *pub;
	bool ec;
	int ok;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	CK_MECHANISM m = { w->ec ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS, NULL, 0 };
	unsigned char sig[256], md[32], data[64];
	unsigned int ml;
	CK_ULONG sl;

	for (int i = 0; i < 40; i++) {
		memset(data, (int)(w->h * 7 + (CK_ULONG)i), sizeof(data));
		sl = sizeof(sig);
		if (F->C_SignInit(w->h, &m, w->key) != CKR_OK ||
		    F->C_Sign(w->h, data, sizeof(data), sig, &sl) != CKR_OK)
			return NULL;
		EVP_Digest(data, sizeof(data), md, &ml, EVP_sha256(), NULL);
		if (!ossl_verify(w->pub, w->ec ? NULL : "SHA256", RSA_PKCS1_PADDING, NULL, 0, md, ml, sig, sl))
			return NULL;
		w->ok++;
	}
	return NULL;
}

/* Sessions opened, searched and closed while others sign. */
static void *
churn(void *arg)
{
	int *ok = arg;

	for (int i = 0; i < 60; i++) {
		CK_SESSION_HANDLE h;
		CK_OBJECT_HANDLE o[8];
		CK_ULONG n = 0, len;
		CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };

		if (F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
		    F->C_FindObjectsInit(h, NULL, 0) != CKR_OK ||
		    F->C_FindObjects(h, o, 8, &n) != CKR_OK || F->C_FindObjectsFinal(h) != CKR_OK ||
		    n == 0 || F->C_GetAttributeValue(h, o[n - 1], &a, 1) != CKR_OK)
			return NULL;
		len = a.ulValueLen;
		(void)len;
		if (F->C_CloseSession(h) != CKR_OK)
			return NULL;
		++*ok;
	}
	return NULL;
}

START_TEST(test_threads)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE rsa = find_one(h, CKO_PRIVATE_KEY, "rsa"), ec = find_one(h, CKO_PRIVATE_KEY, "ec");
	EVP_PKEY *rpub = pubkey_of(h, find_one(h, CKO_PUBLIC_KEY, "rsa"));
	EVP_PKEY *epub = pubkey_of(h, find_one(h, CKO_PUBLIC_KEY, "ec"));
	struct worker w[4];
	pthread_t t[4], tc;
	int churned = 0;

	for (int i = 0; i < 4; i++) {
		w[i].h = open_session(0, false);	/* login is shared by all sessions */
		w[i].ec = i % 2 == 1;
		w[i].key = w[i].ec ? ec : rsa;
		w[i].pub = w[i].ec ? epub : rpub;
		w[i].ok = 0;
	}
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	ck_assert_int_eq(pthread_create(&tc, NULL, churn, &churned), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_join(tc, NULL);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(w[i].ok == 40, "worker %d: %d signatures", i, w[i].ok);
	ck_assert_int_eq(churned, 60);
	EVP_PKEY_free(rpub);
	EVP_PKEY_free(epub);
}
END_TEST

START_TEST(test_fork)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE key = find_one(h, CKO_PRIVATE_KEY, "ec");
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	unsigned char sig[64];
	CK_ULONG sl = sizeof(sig);
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CK_INFO info;
		CK_SESSION_HANDLE c;
		int bad = 0;

		/* The parent's state is not the child's. */
		bad |= F->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED;
		bad |= F->C_SignInit(h, &m, key) != CKR_CRYPTOKI_NOT_INITIALIZED;
		bad |= F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &c) != CKR_CRYPTOKI_NOT_INITIALIZED;
		bad |= F->C_Finalize(NULL) != CKR_CRYPTOKI_NOT_INITIALIZED;
		if (bad)
			_exit(2);
		/* After C_Initialize the child works on its own. */
		if (F->C_Initialize(NULL) != CKR_OK ||
		    F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &c) != CKR_OK ||
		    F->C_Login(c, CKU_USER, PIN(USER_PIN)) != CKR_OK)
			_exit(3);
		key = find_one(c, CKO_PRIVATE_KEY, "ec");
		if (F->C_SignInit(c, &m, key) != CKR_OK ||
		    F->C_Sign(c, (CK_BYTE_PTR)msg, sizeof(msg), sig, &sl) != CKR_OK)
			_exit(4);
		_exit(F->C_Finalize(NULL) == CKR_OK ? 0 : 5);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	/* The parent goes on untouched. */
	sign(h, &m, key, msg, sizeof(msg), sig, &sl);
	ck_assert_uint_eq(sl, 64);
}
END_TEST

/* A key with a renewed certificate: both certificates are objects of their
 * own under the key's CKA_ID, each keeping its value across refreshes. */
START_TEST(test_renewed_cert)
{
	CK_SESSION_HANDLE h = user_session();
	CK_OBJECT_HANDLE key = 0, certs[4];
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ULONG n = 0, id_len;
	unsigned char *id;
	EVP_PKEY *pub;
	X509 *x;

	gen_pair(h, true, "renewed");
	key = find_one(h, CKO_PUBLIC_KEY, "renewed");
	id = get_attr(h, key, CKA_ID, &id_len);
	pub = pubkey_of(h, key);
	x = make_cert(pub, "renewed");	/* a new serial for the same key */
	store_cert(h, x, "renewed");
	X509_free(x);
	EVP_PKEY_free(pub);

	for (int round = 0; round < 2; round++) {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_ID, id, id_len },
		};
		CK_ULONG len_a, len_b;
		unsigned char *a, *b;

		if (round == 1)
			sleep(2);	/* past the module's one-second re-read */
		OK(F->C_FindObjectsInit(h, t, 2));
		OK(F->C_FindObjects(h, certs, 4, &n));
		OK(F->C_FindObjectsFinal(h));
		ck_assert_uint_eq(n, 2);
		ck_assert_uint_ne(certs[0], certs[1]);
		a = get_attr(h, certs[0], CKA_SERIAL_NUMBER, &len_a);
		b = get_attr(h, certs[1], CKA_SERIAL_NUMBER, &len_b);
		ck_assert(len_a != len_b || memcmp(a, b, len_a) != 0);
		free(a);
		free(b);
	}
	free(id);
	OK(F->C_CloseSession(h));
}
END_TEST

static Suite *
pkcs11_suite(void)
{
	Suite *s = suite_create("pkcs11");
	TCase *tc = tcase_create("module");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_interfaces);
	tcase_add_test(tc, test_initialize);
	tcase_add_test(tc, test_slots);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_so);
	tcase_add_test(tc, test_objects_public);
	tcase_add_test(tc, test_objects_keys);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_sign_rsa);
	tcase_add_test(tc, test_sign_ec);
	tcase_add_test(tc, test_sign_misuse);
	tcase_add_test(tc, test_decrypt_rsa);
	tcase_add_test(tc, test_nss_rsa_path);
	tcase_add_test(tc, test_ecdh_path);
	tcase_add_test(tc, test_keygen);
	tcase_add_test(tc, test_digest_random);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_renewed_cert);
	/* These change the tokens: last. */
	tcase_add_test(tc, test_set_pin);
	tcase_add_test(tc, test_lockout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pkcs11_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
