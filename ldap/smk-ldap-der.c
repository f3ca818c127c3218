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

/* TBSCertificate with OpenSSL's own types for everything but the key and
 * the names, so that it accepts what d2i_X509 accepts.  Names are read as
 * SEQUENCE OF ANY: X509_NAME would also build their canonical form, the
 * next most costly step, which nothing here needs. */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *signature;
	ASN1_SEQUENCE_ANY *issuer;
	X509_VAL *validity;
	ASN1_SEQUENCE_ANY *subject;
	SMK_SPKI *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) *extensions;
} SMK_TBS;

ASN1_SEQUENCE(SMK_TBS) = {
	ASN1_EXP_OPT(SMK_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(SMK_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(SMK_TBS, signature, X509_ALGOR),
	ASN1_SIMPLE(SMK_TBS, issuer, ASN1_SEQUENCE_ANY),
	ASN1_SIMPLE(SMK_TBS, validity, X509_VAL),
	ASN1_SIMPLE(SMK_TBS, subject, ASN1_SEQUENCE_ANY),
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

static bool
same_name(const ASN1_SEQUENCE_ANY *a, const ASN1_SEQUENCE_ANY *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_ASN1_SEQUENCE_ANY(a, &da), lb = i2d_ASN1_SEQUENCE_ANY(b, &db);
	bool same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;

	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
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
	/* v1 (version absent or 0) and issuer == subject: a v1 root */
	return (tbs->version == NULL || ASN1_INTEGER_get(tbs->version) == 0) &&
	       same_name(tbs->issuer, tbs->subject);
}

/* The full template reading: anything well-formed enough for OpenSSL. */
static enum smk_ldap_der_kind
template_kind(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	SMK_CERT *c;
	enum smk_ldap_der_kind kind = SMK_LDAP_DER_BAD;

	c = (SMK_CERT *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(SMK_CERT));
	if (c != NULL && p == der + len)
		kind = tbs_is_ca(c->tbs) ? SMK_LDAP_DER_CA : SMK_LDAP_DER_CERT;
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(SMK_CERT));
	ERR_clear_error();
	return kind;
}

/* ---- the fast path: a walk over DER TLVs ----------------------------------
 *
 * Even the templates allocate an object per field: ~12 us a certificate.
 * Ordinary certificates are plain DER, so their outline is walked with
 * ASN1_get_object (OpenSSL's TLV reader, which checks every length
 * against its buffer); only basicConstraints and keyUsage are decoded,
 * with OpenSSL's own d2i.  Anything the walk does not expect (indefinite
 * lengths, a missing field, a duplicated extension, ...) goes to the
 * templates, which have the last word.  Field contents (names, times,
 * integers) are not checked here: the policy parses the certificates it
 * uses and refuses what does not parse. */

struct tlv {
	int tag, cls;
	bool cons;
	const unsigned char *val;
	long len;
};

static bool
tlv_next(const unsigned char **p, const unsigned char *end, struct tlv *t)
{
	const unsigned char *q = *p;
	int r;

	if (q >= end)
		return false;
	r = ASN1_get_object(&q, &t->len, &t->tag, &t->cls, (long)(end - q));
	if ((r & 0x80) || (r & 0x01))	/* error, or indefinite length */
		return false;
	t->cons = (r & V_ASN1_CONSTRUCTED) != 0;
	t->val = q;
	*p = q + t->len;
	return true;
}

static bool
tlv_is(const struct tlv *t, int cls, int tag, bool cons)
{
	return t->cls == cls && t->tag == tag && t->cons == cons;
}

static const unsigned char oid_bc[] = { 0x55, 0x1d, 0x13 };	/* 2.5.29.19 */
static const unsigned char oid_ku[] = { 0x55, 0x1d, 0x0f };	/* 2.5.29.15 */

struct fast {
	bool have_bc, ca, have_ku, cert_sign;
};

/* One Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE,
 * extnValue OCTET STRING }.  False: leave it to the templates. */
static bool
fast_extension(const struct tlv *ext, struct fast *f)
{
	const unsigned char *p = ext->val, *end = ext->val + ext->len, *v;
	struct tlv oid, x;
	bool is_bc, is_ku;

	if (!tlv_is(ext, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, true) || !tlv_next(&p, end, &oid) ||
	    !tlv_is(&oid, V_ASN1_UNIVERSAL, V_ASN1_OBJECT, false) || !tlv_next(&p, end, &x))
		return false;
	if (tlv_is(&x, V_ASN1_UNIVERSAL, V_ASN1_BOOLEAN, false) && !tlv_next(&p, end, &x))
		return false;
	if (!tlv_is(&x, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING, false) || p != end)
		return false;
	is_bc = oid.len == 3 && memcmp(oid.val, oid_bc, 3) == 0;
	is_ku = oid.len == 3 && memcmp(oid.val, oid_ku, 3) == 0;
	v = x.val;
	if (is_bc) {
		BASIC_CONSTRAINTS *bc = d2i_BASIC_CONSTRAINTS(NULL, &v, x.len);
		bool whole = bc != NULL && v == x.val + x.len;

		if (f->have_bc || !whole) {	/* duplicated or unreadable */
			BASIC_CONSTRAINTS_free(bc);
			return false;
		}
		f->have_bc = true;
		f->ca = bc->ca != 0;
		BASIC_CONSTRAINTS_free(bc);
	} else if (is_ku) {
		ASN1_BIT_STRING *ku = d2i_ASN1_BIT_STRING(NULL, &v, x.len);
		bool whole = ku != NULL && v == x.val + x.len;

		if (f->have_ku || !whole) {
			ASN1_BIT_STRING_free(ku);
			return false;
		}
		f->have_ku = true;
		f->cert_sign = ASN1_BIT_STRING_get_bit(ku, 5) != 0;
		ASN1_BIT_STRING_free(ku);
	}
	return true;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue BIT STRING }.  Returns BAD for "not sure". */
static enum smk_ldap_der_kind
fast_kind(const unsigned char *der, size_t len, bool *sure)
{
	const unsigned char *p = der, *end = der + len, *c, *cend, *t, *tend;
	struct tlv cert, tbs, x, issuer = { 0 }, subject = { 0 };
	struct fast f = { false, false, false, false };
	bool v1 = true;

	*sure = false;
	if (!tlv_next(&p, end, &cert) || p != end ||
	    !tlv_is(&cert, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, true))
		return SMK_LDAP_DER_BAD;
	c = cert.val;
	cend = c + cert.len;
	if (!tlv_next(&c, cend, &tbs) || !tlv_is(&tbs, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, true) ||
	    !tlv_next(&c, cend, &x) || !tlv_is(&x, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, true) ||
	    !tlv_next(&c, cend, &x) || !tlv_is(&x, V_ASN1_UNIVERSAL, V_ASN1_BIT_STRING, false) ||
	    c != cend)
		return SMK_LDAP_DER_BAD;

	t = tbs.val;
	tend = t + tbs.len;
	if (!tlv_next(&t, tend, &x))
		return SMK_LDAP_DER_BAD;
	if (tlv_is(&x, V_ASN1_CONTEXT_SPECIFIC, 0, true)) {	/* [0] version */
		const unsigned char *vp = x.val;
		struct tlv ver;

		if (!tlv_next(&vp, x.val + x.len, &ver) || vp != x.val + x.len ||
		    !tlv_is(&ver, V_ASN1_UNIVERSAL, V_ASN1_INTEGER, false) || ver.len != 1)
			return SMK_LDAP_DER_BAD;
		v1 = ver.val[0] == 0;
		if (!tlv_next(&t, tend, &x))
			return SMK_LDAP_DER_BAD;
	}
	if (!tlv_is(&x, V_ASN1_UNIVERSAL, V_ASN1_INTEGER, false))	/* serialNumber */
		return SMK_LDAP_DER_BAD;
	/* signature, issuer, validity, subject, subjectPublicKeyInfo */
	for (int i = 0; i < 5; i++) {
		if (!tlv_next(&t, tend, &x) || !tlv_is(&x, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, true))
			return SMK_LDAP_DER_BAD;
		if (i == 1)
			issuer = x;
		else if (i == 3)
			subject = x;
	}
	/* [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions */
	for (int want = 1; t < tend; want++) {
		if (!tlv_next(&t, tend, &x) || x.cls != V_ASN1_CONTEXT_SPECIFIC || x.tag < want ||
		    x.tag > 3)
			return SMK_LDAP_DER_BAD;
		want = x.tag;
		if (x.tag < 3 && x.cons)	/* unique IDs: IMPLICIT BIT STRING */
			return SMK_LDAP_DER_BAD;
		if (x.tag == 3) {
			const unsigned char *e = x.val, *eend = x.val + x.len, *q;
			struct tlv seq, ext;

			if (!x.cons || !tlv_next(&e, eend, &seq) || e != eend ||
			    !tlv_is(&seq, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, true))
				return SMK_LDAP_DER_BAD;
			for (q = seq.val; q < seq.val + seq.len;) {
				if (!tlv_next(&q, seq.val + seq.len, &ext) || !fast_extension(&ext, &f))
					return SMK_LDAP_DER_BAD;
			}
		}
	}
	*sure = true;
	if (f.have_ku && !f.cert_sign)
		return SMK_LDAP_DER_CERT;
	if (f.have_bc)
		return f.ca ? SMK_LDAP_DER_CA : SMK_LDAP_DER_CERT;
	if (f.have_ku)
		return SMK_LDAP_DER_CA;
	if (v1 && issuer.len == subject.len && memcmp(issuer.val, subject.val, (size_t)issuer.len) == 0)
		return SMK_LDAP_DER_CA;
	return SMK_LDAP_DER_CERT;
}

enum smk_ldap_der_kind
smk_ldap_der_kind(const unsigned char *der, size_t len)
{
	enum smk_ldap_der_kind kind;
	bool sure;

	if (len == 0 || len > 1024 * 1024)
		return SMK_LDAP_DER_BAD;
	kind = fast_kind(der, len, &sure);
	ERR_clear_error();
	return sure ? kind : template_kind(der, len);
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
