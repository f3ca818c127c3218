/* smk-ldap-lookup.c - an address's certificates from its directory entry
 *
 * Values that are not certificates (not DER, truncated, trailing bytes)
 * and CA certificates in userCertificate are skipped, each with a log
 * line naming the entry: a directory can hold garbage, and one bad value
 * must not hide the good ones or crash the caller.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "smk-ldap-private.h"

void
smk_der_free_all(struct smk_der *ders, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ders[i].data);
	free(ders);
}

void
smk_ldap_certs_ref(struct smk_ldap_certs *c)
{
	c->refs++;
}

void
smk_ldap_certs_unref(struct smk_ldap_certs *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	if (c->user_data_free != NULL)
		c->user_data_free(c->user_data);
	smk_der_free_all(c->certs, c->ncerts);
	smk_der_free_all(c->chain, c->nchain);
	free(c->dn);
	free(c);
}

STACK_OF(X509) *
smk_ldap_certs_x509(const struct smk_der *ders, size_t n)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (sk == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = ders[i].data;
		X509 *x = d2i_X509(NULL, &p, (long)ders[i].len);

		if (x == NULL) {
			/* Well-formed in outline but not to OpenSSL: nothing a
			 * policy could accept, so it is left out. */
			ERR_clear_error();
			continue;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return NULL;
		}
	}
	return sk;
}

X509 *
smk_ldap_parse_cert(const struct berval *bv)
{
	const unsigned char *p = (const unsigned char *)bv->bv_val;
	X509 *x;

	if (bv->bv_len == 0 || bv->bv_len > 1024 * 1024)
		return NULL;
	x = d2i_X509(NULL, &p, (long)bv->bv_len);
	if (x != NULL && p != (const unsigned char *)bv->bv_val + bv->bv_len) {
		X509_free(x);	/* trailing bytes */
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

/* Appends a copy of der[0..len) to the list unless it is there already.
 * Returns 1 added, 0 already there, -1 out of memory. */
static int
der_add(struct smk_der **list, size_t *n, const unsigned char *der, size_t len)
{
	struct smk_der *grown;

	for (size_t i = 0; i < *n; i++) {
		if ((*list)[i].len == len && memcmp((*list)[i].data, der, len) == 0)
			return 0;
	}
	grown = reallocarray(*list, *n + 1, sizeof(**list));
	if (grown == NULL)
		return -1;
	*list = grown;
	grown[*n].data = malloc(len);
	if (grown[*n].data == NULL)
		return -1;
	memcpy(grown[*n].data, der, len);
	grown[*n].len = len;
	(*n)++;
	return 1;
}

struct entry_ctx {
	struct smk_ldap *l;
	struct smk_ldap_certs *c;
	const char *label;	/* address, for log lines */
	size_t leaves;		/* end-entity certificates in the current PKCS#7 */
	bool oom;
};

static void
skip(struct entry_ctx *e, const char *attr, size_t idx, size_t len, const char *why)
{
	e->c->skipped++;
	smk_ldap_log(e->l, SMK_LOG_WARNING,
		     "directory entry %s (%s): %s value %zu (%zu bytes) %s: skipped",
		     e->c->dn, e->label, attr, idx + 1, len, why);
}

static void
take(struct entry_ctx *e, bool chain, const unsigned char *der, size_t len)
{
	int r = chain ? der_add(&e->c->chain, &e->c->nchain, der, len)
		      : der_add(&e->c->certs, &e->c->ncerts, der, len);

	if (r < 0)
		e->oom = true;
}

/* A value that should be one end-entity certificate: taken, or skipped
 * with the reason (bad_what when it is not a certificate at all). */
static void
cert_value(struct entry_ctx *e, const char *attr, size_t idx, const struct berval *v,
	   const char *bad_what)
{
	const unsigned char *der = (const unsigned char *)v->bv_val;

	switch (smk_ldap_der_kind(der, v->bv_len)) {
	case SMK_LDAP_DER_CERT:
		take(e, false, der, v->bv_len);
		break;
	case SMK_LDAP_DER_CA:
		skip(e, attr, idx, v->bv_len, "is a CA certificate");
		break;
	case SMK_LDAP_DER_BAD:
		skip(e, attr, idx, v->bv_len, bad_what);
		break;
	}
}

static void
cert_values(struct entry_ctx *e, const char *attr, struct berval **vals)
{
	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++)
		cert_value(e, attr, i, vals[i], "is not a DER certificate");
}

/* A certificate inside a PKCS#7 value: end-entity ones are candidates,
 * CA ones the chain; anything else there is ignored. */
static void
pkcs7_cert(void *ctx, const unsigned char *der, size_t len)
{
	struct entry_ctx *e = ctx;
	enum smk_ldap_der_kind kind = smk_ldap_der_kind(der, len);

	if (kind == SMK_LDAP_DER_BAD)
		return;
	take(e, kind == SMK_LDAP_DER_CA, der, len);
	e->leaves += kind == SMK_LDAP_DER_CERT;
}

/* userSMIMECertificate: PKCS#7 certs-only (end-entity certificates and
 * their chain); a bare DER certificate is accepted too. */
static void
smime_values(struct entry_ctx *e, const char *attr, struct berval **vals)
{
	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		const unsigned char *der = (const unsigned char *)vals[i]->bv_val;
		size_t len = vals[i]->bv_len;

		e->leaves = 0;
		if (smk_ldap_pkcs7_certs(der, len, pkcs7_cert, e) < 0)
			cert_value(e, attr, i, vals[i], "is not PKCS#7 certs-only");
		else if (e->leaves == 0)
			skip(e, attr, i, len, "holds no end-entity certificate");
	}
}

struct smk_ldap_certs *
smk_ldap_certs_from_entry(struct smk_ldap *l, LDAPMessage *entry, const char *label)
{
	struct entry_ctx e = { .l = l, .label = label };
	BerElement *ber = NULL;
	char *dn = ldap_get_dn(l->ld, entry);

	e.c = calloc(1, sizeof(*e.c));
	if (e.c == NULL || dn == NULL) {
		free(e.c);
		ldap_memfree(dn);
		return NULL;
	}
	e.c->refs = 1;
	e.c->dn = strdup(dn);
	ldap_memfree(dn);
	if (e.c->dn == NULL) {
		free(e.c);
		return NULL;
	}
	for (char *a = ldap_first_attribute(l->ld, entry, &ber); a != NULL;
	     a = ldap_next_attribute(l->ld, entry, ber)) {
		struct berval **vals = ldap_get_values_len(l->ld, entry, a);

		if (strcasecmp(a, SMK_LDAP_ATTR_CERT) == 0 || strcasecmp(a, "userCertificate") == 0)
			cert_values(&e, a, vals);
		else if (strncasecmp(a, SMK_LDAP_ATTR_SMIME, strlen(SMK_LDAP_ATTR_SMIME)) == 0)
			smime_values(&e, a, vals);
		ldap_value_free_len(vals);
		ldap_memfree(a);
	}
	ber_free(ber, 0);
	if (e.oom) {
		smk_ldap_certs_unref(e.c);
		return NULL;
	}
	return e.c;
}

/* ---- the lookup -------------------------------------------------------- */

struct lookup {
	const char *filter;
	LDAPMessage *res;
};

static int
lookup_op(struct smk_ldap *l, void *ctx)
{
	static char *attrs[] = { SMK_LDAP_ATTR_CERT, SMK_LDAP_ATTR_SMIME, NULL };
	struct lookup *lk = ctx;
	struct timeval tv = { .tv_sec = (time_t)l->s.timeout };
	int rc;

	ldap_msgfree(lk->res);
	lk->res = NULL;
	rc = ldap_search_ext_s(l->ld, l->s.base, l->s.scope, lk->filter, attrs, 0, NULL, NULL, &tv,
			       (int)l->s.size_limit, &lk->res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED)
		return LDAP_SUCCESS;	/* ambiguous: the caller sees the count */
	return rc;
}

enum smk_ldap_status
smk_ldap_lookup(struct smk_ldap *l, const char *address, struct smk_ldap_certs **out,
		struct smk_error *err)
{
	struct lookup lk = { 0 };
	enum smk_ldap_status st;
	LDAPMessage *entry;
	int n;

	*out = NULL;
	lk.filter = smk_ldap_filter_expand(l->s.filter, address, err);
	if (lk.filter == NULL)
		return SMK_LDAP_ERROR;
	st = smk_ldap_run(l, lookup_op, &lk, "search", err);
	if (st != SMK_LDAP_OK)
		goto out;

	n = ldap_count_entries(l->ld, lk.res);
	if (n == 0) {
		st = SMK_LDAP_NO_ENTRY;
		smk_error_set(err, SMK_ERR_CERT, "no directory entry for %s", address);
		goto out;
	}
	if (n > 1) {
		st = SMK_LDAP_ERROR;
		smk_error_set(err, SMK_ERR_INVALID,
			      "%s matches %s%d directory entries (filter %s): refusing to guess",
			      address, n >= (int)l->s.size_limit ? "at least " : "", n, lk.filter);
		goto out;
	}
	entry = ldap_first_entry(l->ld, lk.res);
	*out = smk_ldap_certs_from_entry(l, entry, address);
	if (*out == NULL) {
		st = SMK_LDAP_ERROR;
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	} else if ((*out)->ncerts == 0) {
		st = SMK_LDAP_NO_CERT;
		smk_error_set(err, SMK_ERR_CERT, "directory entry %s has no certificate%s",
			      (*out)->dn, (*out)->skipped ? " (only unusable values)" : "");
	}
out:
	ldap_msgfree(lk.res);
	free((char *)lk.filter);
	return st;
}
