/* smk-ldap-private.h - what the files of ldap/ share */
#ifndef SMK_LDAP_PRIVATE_H
#define SMK_LDAP_PRIVATE_H

#include <sys/types.h>

#include <ldap.h>

#include "smk-ldap.h"

struct smk_ldap {
	struct smk_ldap_settings s;	/* our own copy */
	LDAP *ld;			/* NULL when not connected */
	size_t cur;			/* index of the URI in use / to try first */
	pid_t pid;			/* the process that opened ld */
	smk_log_fn *log;
	void *log_ctx;
};

void smk_ldap_log(struct smk_ldap *l, enum smk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One operation on the connection; returns an LDAP result code. */
typedef int smk_ldap_op_fn(struct smk_ldap *l, void *ctx);

/* Runs op on a connection, connecting (failing over across the URIs) and
 * retrying once on a new connection if the server went away.  Maps the
 * outcome to a status; what names the operation in errors. */
enum smk_ldap_status smk_ldap_run(struct smk_ldap *l, smk_ldap_op_fn *op, void *ctx,
				  const char *what, struct smk_error *err);

/* Builds a smk_ldap_certs from an entry's attribute values. */
struct smk_ldap_certs *smk_ldap_certs_from_entry(struct smk_ldap *l, LDAPMessage *entry,
						 const char *label);

/* A whole X.509 certificate from a value (no trailing bytes), or NULL. */
X509 *smk_ldap_parse_cert(const struct berval *bv);

/* Without decoding keys (smk-ldap-der.c): is der[0..len) a certificate,
 * and a CA certificate? */
enum smk_ldap_der_kind {
	SMK_LDAP_DER_BAD,	/* not a certificate */
	SMK_LDAP_DER_CERT,	/* an end-entity certificate */
	SMK_LDAP_DER_CA,	/* a CA certificate */
};
enum smk_ldap_der_kind smk_ldap_der_kind(const unsigned char *der, size_t len);

/* Calls fn for each certificate of a PKCS#7 certs-only SignedData;
 * returns how many, or -1 if der is not one. */
typedef void smk_ldap_der_fn(void *ctx, const unsigned char *der, size_t len);
int smk_ldap_pkcs7_certs(const unsigned char *der, size_t len, smk_ldap_der_fn *fn, void *ctx);

#define SMK_LDAP_ATTR_CERT "userCertificate;binary"
#define SMK_LDAP_ATTR_SMIME "userSMIMECertificate"
#define SMK_LDAP_ATTR_PKCS12 "userPKCS12"

#endif
