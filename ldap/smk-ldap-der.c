/* smk-ldap-der.c - telling certificates from garbage without decoding keys
 *
 * A lookup must know whether each directory value is a certificate and
 * whether it is a CA certificate, but not its public key: the caller's
 * policy check parses the certificates it actually uses.  OpenSSL 3.0's
 * d2i_X509 decodes the public key through the provider machinery, about
 * 200 us per certificate on this kind of machine, several times the cost
 * of the LDAP round trip itself.  These ASN.1 templates (OpenSSL's own
 * decoder, asn1t.h) read the structure of a Certificate (RFC 5280) and of
 * a PKCS#7 certs-only SignedData (RFC 5652), leaving the public key as
 * bits: about 20 times cheaper.
 */
#include "config.h"

#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "smk-ldap-private.h"

/* ---- Certificate --------------------------------------------------------- */

/* SubjectPublicKeyInfo, as a structure only: the key stays bits. */
typedef struct {
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *key;
} SMK_SPKI;

ASN1_SEQUENCE(SMK_SPKI) = {
	ASN1_SIMPLE(SMK_SPKI, algorithm, X509_ALGOR),
	ASN1_SIMPLE(SMK_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SMK_SPKI)

/* TBSCertificate with OpenSSL's own types for everything but the key, so
 * that it accepts exactly what d2i_X509 accepts. */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *signature;
	X509_NAME *issuer;
	X509_VAL *validity;
	X509_NAME *subject;
	SMK_SPKI *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) *extensions;
} SMK_TBS;

ASN1_SEQUENCE(SMK_TBS) = {
	ASN1_EXP_OPT(SMK_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(SMK_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(SMK_TBS, signature, X509_ALGOR),
	ASN1_SIMPLE(SMK_TBS, issuer, X509_NAME),
	ASN1_SIMPLE(SMK_TBS, validity, X509_VAL),
	ASN1_SIMPLE(SMK_TBS, subject, X509_NAME),
	ASN1_SIMPLE(SMK_TBS, spki, SMK_SPKI),
	ASN1_IMP_OPT(SMK_TBS, issuer_uid, ASN1_BIT_STRING, 1),
	ASN1_IMP_OPT(SMK_TBS, subject_uid, ASN1_BIT_STRING, 2),
	ASN1_EXP_SEQUENCE_OF_OPT(SMK_TBS, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(SMK_TBS)

typedef struct {
	SMK_TBS *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *sig;
} SMK_CERT;

ASN1_SEQUENCE(SMK_CERT) = {
	ASN1_SIMPLE(SMK_CERT, tbs, SMK_TBS),
	ASN1_SIMPLE(SMK_CERT, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(SMK_CERT, sig, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SMK_CERT)

static bool
is_sequence(const ASN1_TYPE *t)
{
	return t != NULL && t->type == V_ASN1_SEQUENCE;
}

/* What X509_check_ca counts as a CA: a keyUsage, if present, must allow
 * keyCertSign; then basicConstraints decides if present; else a keyUsage
 * (with keyCertSign) or a v1 self-issued certificate make a CA.  (The
 * Netscape certificate type extension, pre-RFC 5280, is not looked at.) */
static bool
tbs_is_ca(const SMK_TBS *tbs)
{
	bool have_bc = false, ca = false, have_ku = false, cert_sign = false;

	for (int i = 0; i < sk_X509_EXTENSION_num(tbs->extensions); i++) {
		X509_EXTENSION *ext = sk_X509_EXTENSION_value(tbs->extensions, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (nid == NID_basic_constraints) {
			BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(ext);

			have_bc = true;
			ca = bc == NULL || bc->ca;	/* unreadable: not trusted as a leaf */
			BASIC_CONSTRAINTS_free(bc);
		} else if (nid == NID_key_usage) {
			ASN1_BIT_STRING *ku = X509V3_EXT_d2i(ext);

			have_ku = true;
			cert_sign = ku != NULL && ASN1_BIT_STRING_get_bit(ku, 5);
			ASN1_BIT_STRING_free(ku);
		}
	}
	if (have_ku && !cert_sign)
		return false;
	if (have_bc)
		return ca;
	if (have_ku)
		return true;
	/* v1 (no version field) and issuer == subject: a v1 root */
	return tbs->version == NULL && X509_NAME_cmp(tbs->issuer, tbs->subject) == 0;
}

enum smk_ldap_der_kind
smk_ldap_der_kind(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	SMK_CERT *c;
	enum smk_ldap_der_kind kind = SMK_LDAP_DER_BAD;

	if (len == 0 || len > 1024 * 1024)
		return SMK_LDAP_DER_BAD;
	c = (SMK_CERT *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(SMK_CERT));
	if (c != NULL && p == der + len)
		kind = tbs_is_ca(c->tbs) ? SMK_LDAP_DER_CA : SMK_LDAP_DER_CERT;
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(SMK_CERT));
	ERR_clear_error();
	return kind;
}

/* ---- PKCS#7 certs-only ---------------------------------------------------- */

typedef struct {
	ASN1_INTEGER *version;
	STACK_OF(ASN1_TYPE) *digest_algs;
	ASN1_TYPE *content;
	STACK_OF(ASN1_TYPE) *certs;
	STACK_OF(ASN1_TYPE) *crls;
	STACK_OF(ASN1_TYPE) *signers;
} SMK_SIGNED;

ASN1_SEQUENCE(SMK_SIGNED) = {
	ASN1_SIMPLE(SMK_SIGNED, version, ASN1_INTEGER),
	ASN1_SET_OF(SMK_SIGNED, digest_algs, ASN1_ANY),
	ASN1_SIMPLE(SMK_SIGNED, content, ASN1_ANY),
	ASN1_IMP_SET_OF_OPT(SMK_SIGNED, certs, ASN1_ANY, 0),
	ASN1_IMP_SET_OF_OPT(SMK_SIGNED, crls, ASN1_ANY, 1),
	ASN1_SET_OF(SMK_SIGNED, signers, ASN1_ANY),
} static_ASN1_SEQUENCE_END(SMK_SIGNED)

typedef struct {
	ASN1_OBJECT *type;
	SMK_SIGNED *signed_data;
} SMK_CONTENT_INFO;

ASN1_SEQUENCE(SMK_CONTENT_INFO) = {
	ASN1_SIMPLE(SMK_CONTENT_INFO, type, ASN1_OBJECT),
	ASN1_EXP(SMK_CONTENT_INFO, signed_data, SMK_SIGNED, 0),
} static_ASN1_SEQUENCE_END(SMK_CONTENT_INFO)

int
smk_ldap_pkcs7_certs(const unsigned char *der, size_t len, smk_ldap_der_fn *fn, void *ctx)
{
	const unsigned char *p = der;
	SMK_CONTENT_INFO *ci;
	int n = -1;

	if (len == 0 || len > 1024 * 1024)
		return -1;
	ci = (SMK_CONTENT_INFO *)ASN1_item_d2i(NULL, &p, (long)len,
					       ASN1_ITEM_rptr(SMK_CONTENT_INFO));
	if (ci != NULL && p == der + len && OBJ_obj2nid(ci->type) == NID_pkcs7_signed) {
		STACK_OF(ASN1_TYPE) *certs = ci->signed_data->certs;

		n = 0;
		for (int i = 0; i < sk_ASN1_TYPE_num(certs); i++) {
			const ASN1_TYPE *t = sk_ASN1_TYPE_value(certs, i);

			/* Only plain Certificates (SEQUENCE); the [0]..[3]
			 * alternatives of CertificateChoices are not X.509. */
			if (!is_sequence(t))
				continue;
			fn(ctx, ASN1_STRING_get0_data(t->value.sequence),
			   (size_t)ASN1_STRING_length(t->value.sequence));
			n++;
		}
	}
	ASN1_item_free((ASN1_VALUE *)ci, ASN1_ITEM_rptr(SMK_CONTENT_INFO));
	ERR_clear_error();
	return n;
}
