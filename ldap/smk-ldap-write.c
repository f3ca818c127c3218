/* smk-ldap-write.c - publishing and removing certificates, escrowed keys,
 * and listing every entry that has a certificate */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "smk-cert.h"
#include "smk-ldap-private.h"

/* ---- reading one entry's raw values ------------------------------------ */

struct read_entry {
	const char *dn;
	char **attrs;
	LDAPMessage *res;
	bool missing;
};

static int
read_entry_op(struct smk_ldap *l, void *ctx)
{
	struct read_entry *r = ctx;
	struct timeval tv = { .tv_sec = (time_t)l->s.timeout };

	int rc;

	ldap_msgfree(r->res);
	r->res = NULL;
	rc = ldap_search_ext_s(l->ld, r->dn, LDAP_SCOPE_BASE, "(objectClass=*)", r->attrs, 0,
			       NULL, NULL, &tv, 1, &r->res);
	r->missing = rc == LDAP_NO_SUCH_OBJECT;
	return r->missing ? LDAP_SUCCESS : rc;
}

/* The values of attr (matched without options and case) in the entry. */
static struct berval **
values_of(struct smk_ldap *l, LDAPMessage *entry, const char *attr)
{
	BerElement *ber = NULL;
	struct berval **vals = NULL;
	size_t alen = strcspn(attr, ";");

	for (char *a = ldap_first_attribute(l->ld, entry, &ber); a != NULL;
	     a = ldap_next_attribute(l->ld, entry, ber)) {
		if (vals == NULL && strncasecmp(a, attr, alen) == 0 &&
		    (a[alen] == '\0' || a[alen] == ';'))
			vals = ldap_get_values_len(l->ld, entry, a);
		ldap_memfree(a);
	}
	ber_free(ber, 0);
	return vals;
}

static enum smk_ldap_status
read_entry(struct smk_ldap *l, struct read_entry *r, LDAPMessage **entry,
	   struct smk_error *err)
{
	enum smk_ldap_status st = smk_ldap_run(l, read_entry_op, r, "read entry", err);

	if (st != SMK_LDAP_OK)
		return st;
	*entry = r->missing ? NULL : ldap_first_entry(l->ld, r->res);
	if (*entry == NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "no directory entry %s", r->dn);
		return SMK_LDAP_NO_ENTRY;
	}
	return SMK_LDAP_OK;
}

/* ---- modify ------------------------------------------------------------ */

struct modify {
	const char *dn;
	LDAPMod **mods;
};

static int
modify_op(struct smk_ldap *l, void *ctx)
{
	struct modify *m = ctx;

	return ldap_modify_ext_s(l->ld, m->dn, m->mods, NULL, NULL);
}

/* One modification of attr with the given values (NULL: all values). */
static LDAPMod *
mod_new(int op, const char *attr, struct berval **vals)
{
	LDAPMod *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->mod_op = op | LDAP_MOD_BVALUES;
	m->mod_type = (char *)attr;
	m->mod_bvalues = vals;
	return m;
}

static enum smk_ldap_status
modify(struct smk_ldap *l, const char *dn, LDAPMod **mods, struct smk_error *err)
{
	struct modify m = { dn, mods };

	return smk_ldap_run(l, modify_op, &m, "modify", err);
}

/* ---- publish ----------------------------------------------------------- */

/* Does any value of vals hold cert (as a DER value, or as an end-entity
 * certificate of a PKCS#7 value)? */
static bool
values_hold(struct berval **vals, X509 *cert, bool pkcs7)
{
	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		const unsigned char *p = (const unsigned char *)vals[i]->bv_val;
		bool found = false;

		if (!pkcs7) {
			X509 *x = smk_ldap_parse_cert(vals[i]);

			found = x != NULL && X509_cmp(x, cert) == 0;
			X509_free(x);
		} else {
			PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)vals[i]->bv_len);

			if (p7 != NULL && PKCS7_type_is_signed(p7) && p7->d.sign != NULL) {
				STACK_OF(X509) *certs = p7->d.sign->cert;

				for (int j = 0; j < sk_X509_num(certs) && !found; j++)
					found = X509_cmp(sk_X509_value(certs, j), cert) == 0;
			}
			PKCS7_free(p7);
		}
		ERR_clear_error();
		if (found)
			return true;
	}
	return false;
}

/* PKCS#7 SignedData certs-only with cert and its chain, DER. */
static int
certs_only(X509 *cert, STACK_OF(X509) *chain, struct berval *out)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	int len = -1;

	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data) || !PKCS7_add_certificate(p7, cert))
		goto out;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);

		if (X509_cmp(c, cert) != 0 && !PKCS7_add_certificate(p7, c))
			goto out;
	}
	len = i2d_PKCS7(p7, &der);
out:
	PKCS7_free(p7);
	if (len <= 0) {
		ERR_clear_error();
		return -1;
	}
	out->bv_val = (char *)der;
	out->bv_len = (ber_len_t)len;
	return 0;
}

enum smk_ldap_status
smk_ldap_publish(struct smk_ldap *l, const char *dn, X509 *cert, STACK_OF(X509) *chain,
		 bool *added, struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_CERT, SMK_LDAP_ATTR_SMIME, NULL };
	struct read_entry r = { dn, attrs, NULL, false };
	struct berval der = { 0, NULL }, p7 = { 0, NULL };
	struct berval *der_vals[2] = { &der, NULL }, *p7_vals[2] = { &p7, NULL };
	LDAPMod *mods[3] = { NULL, NULL, NULL };
	struct berval **have_der = NULL, **have_p7 = NULL;
	enum smk_ldap_status st;
	LDAPMessage *entry;
	size_t n = 0;
	int len;

	*added = false;
	st = read_entry(l, &r, &entry, err);
	if (st != SMK_LDAP_OK)
		goto out;
	have_der = values_of(l, entry, SMK_LDAP_ATTR_CERT);
	have_p7 = values_of(l, entry, SMK_LDAP_ATTR_SMIME);

	if (!values_hold(have_der, cert, false)) {
		unsigned char *p = NULL;

		len = i2d_X509(cert, &p);
		if (len <= 0) {
			st = SMK_LDAP_ERROR;
			smk_error_set(err, SMK_ERR_CERT, "cannot encode the certificate");
			goto out;
		}
		der.bv_val = (char *)p;
		der.bv_len = (ber_len_t)len;
		mods[n++] = mod_new(LDAP_MOD_ADD, SMK_LDAP_ATTR_CERT, der_vals);
	}
	if (!values_hold(have_p7, cert, true)) {
		if (certs_only(cert, chain, &p7) < 0) {
			st = SMK_LDAP_ERROR;
			smk_error_set(err, SMK_ERR_CERT, "cannot make the PKCS#7 certs-only value");
			goto out;
		}
		mods[n++] = mod_new(LDAP_MOD_ADD, SMK_LDAP_ATTR_SMIME, p7_vals);
	}
	for (size_t i = 0; i < n; i++) {
		if (mods[i] == NULL) {
			st = SMK_LDAP_ERROR;
			smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (n > 0) {
		st = modify(l, dn, mods, err);
		*added = st == SMK_LDAP_OK;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(mods[i]);
	OPENSSL_free(der.bv_val);
	OPENSSL_free(p7.bv_val);
	ldap_value_free_len(have_der);
	ldap_value_free_len(have_p7);
	ldap_msgfree(r.res);
	return st;
}

/* ---- unpublish ------------------------------------------------------------ */

static bool
serial_matches(X509 *x, const char *serial_hex)
{
	char hex[128];

	if (serial_hex == NULL)
		return true;
	smk_cert_serial_hex(x, hex, sizeof(hex));
	/* ignore leading zeros and case in what the admin typed */
	while (serial_hex[0] == '0' && serial_hex[1] != '\0')
		serial_hex++;
	return strcasecmp(hex, serial_hex) == 0;
}

/* Does value v hold an end-entity certificate with the serial? */
static bool
value_matches(const struct berval *v, bool pkcs7, const char *serial_hex)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	PKCS7 *p7 = NULL;
	X509 *x = NULL;
	bool hit = false;

	if (certs == NULL)
		return false;
	if (pkcs7) {
		const unsigned char *p = (const unsigned char *)v->bv_val;

		p7 = d2i_PKCS7(NULL, &p, (long)v->bv_len);
		if (p7 != NULL && PKCS7_type_is_signed(p7) && p7->d.sign != NULL) {
			for (int j = 0; j < sk_X509_num(p7->d.sign->cert); j++)
				sk_X509_push(certs, sk_X509_value(p7->d.sign->cert, j));
		}
	} else if ((x = smk_ldap_parse_cert(v)) != NULL) {
		sk_X509_push(certs, x);
	}
	for (int j = 0; j < sk_X509_num(certs); j++) {
		X509 *c = sk_X509_value(certs, j);

		if (X509_check_ca(c) == 0 && serial_matches(c, serial_hex))
			hit = true;
	}
	sk_X509_free(certs);
	X509_free(x);
	PKCS7_free(p7);
	ERR_clear_error();
	return hit;
}

/* Collects the values of vals that hold a matching certificate into del
 * (NULL-terminated, pointing into vals).  Without a serial, every value
 * goes, garbage included. */
static size_t
select_values(struct berval **vals, bool pkcs7, const char *serial_hex, struct berval **del)
{
	size_t n = 0;

	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		if (serial_hex == NULL || value_matches(vals[i], pkcs7, serial_hex))
			del[n++] = vals[i];
	}
	del[n] = NULL;
	return n;
}

static size_t
count_values(struct berval **vals)
{
	size_t n = 0;

	while (vals != NULL && vals[n] != NULL)
		n++;
	return n;
}

enum smk_ldap_status
smk_ldap_unpublish(struct smk_ldap *l, const char *dn, const char *serial_hex, size_t *removed,
		   struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_CERT, SMK_LDAP_ATTR_SMIME, NULL };
	struct read_entry r = { dn, attrs, NULL, false };
	struct berval **have_der = NULL, **have_p7 = NULL, **del_der = NULL, **del_p7 = NULL;
	LDAPMod *mods[3] = { NULL, NULL, NULL };
	size_t n = 0, nvalues = 0, k;
	enum smk_ldap_status st;
	LDAPMessage *entry;

	*removed = 0;
	st = read_entry(l, &r, &entry, err);
	if (st != SMK_LDAP_OK)
		goto out;
	have_der = values_of(l, entry, SMK_LDAP_ATTR_CERT);
	have_p7 = values_of(l, entry, SMK_LDAP_ATTR_SMIME);
	del_der = calloc(count_values(have_der) + 1, sizeof(*del_der));
	del_p7 = calloc(count_values(have_p7) + 1, sizeof(*del_p7));
	if (del_der == NULL || del_p7 == NULL) {
		st = SMK_LDAP_ERROR;
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((k = select_values(have_der, false, serial_hex, del_der)) > 0) {
		mods[n++] = mod_new(LDAP_MOD_DELETE, SMK_LDAP_ATTR_CERT, del_der);
		nvalues += k;
	}
	if ((k = select_values(have_p7, true, serial_hex, del_p7)) > 0) {
		mods[n++] = mod_new(LDAP_MOD_DELETE, SMK_LDAP_ATTR_SMIME, del_p7);
		nvalues += k;
	}
	for (size_t i = 0; i < n; i++) {
		if (mods[i] == NULL) {
			st = SMK_LDAP_ERROR;
			smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (n > 0) {
		st = modify(l, dn, mods, err);
		if (st == SMK_LDAP_OK)
			*removed = nvalues;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(mods[i]);
	free(del_der);
	free(del_p7);
	ldap_value_free_len(have_der);
	ldap_value_free_len(have_p7);
	ldap_msgfree(r.res);
	return st;
}

/* ---- escrow ---------------------------------------------------------------- */

enum smk_ldap_status
smk_ldap_escrow_add(struct smk_ldap *l, const char *dn, const unsigned char *p12, size_t len,
		    struct smk_error *err)
{
	struct berval v = { .bv_len = (ber_len_t)len, .bv_val = (char *)p12 };
	struct berval *vals[2] = { &v, NULL };
	LDAPMod *mods[2] = { mod_new(LDAP_MOD_ADD, SMK_LDAP_ATTR_PKCS12, vals), NULL };
	enum smk_ldap_status st;

	if (mods[0] == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return SMK_LDAP_ERROR;
	}
	st = modify(l, dn, mods, err);
	free(mods[0]);
	return st;
}

enum smk_ldap_status
smk_ldap_escrow_read(struct smk_ldap *l, const char *dn, struct smk_der **values, size_t *n,
		     struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_PKCS12, NULL };
	struct read_entry r = { dn, attrs, NULL, false };
	struct berval **vals = NULL;
	enum smk_ldap_status st;
	LDAPMessage *entry;
	size_t count;

	*values = NULL;
	*n = 0;
	st = read_entry(l, &r, &entry, err);
	if (st != SMK_LDAP_OK)
		goto out;
	vals = values_of(l, entry, SMK_LDAP_ATTR_PKCS12);
	count = count_values(vals);
	if (count == 0)
		goto out;
	*values = calloc(count, sizeof(**values));
	if (*values == NULL) {
		st = SMK_LDAP_ERROR;
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		(*values)[i].data = malloc(vals[i]->bv_len ? vals[i]->bv_len : 1);
		if ((*values)[i].data == NULL) {
			smk_der_free_all(*values, i);
			*values = NULL;
			st = SMK_LDAP_ERROR;
			smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy((*values)[i].data, vals[i]->bv_val, vals[i]->bv_len);
		(*values)[i].len = vals[i]->bv_len;
	}
	*n = count;
out:
	ldap_value_free_len(vals);
	ldap_msgfree(r.res);
	return st;
}

/* ---- list (paged, RFC 2696) -------------------------------------------------- */

#define PAGE_SIZE 200

struct list_page {
	struct berval cookie;
	LDAPMessage *res;
};

static int
list_page_op(struct smk_ldap *l, void *ctx)
{
	static char *attrs[] = { "mail", SMK_LDAP_ATTR_CERT, SMK_LDAP_ATTR_SMIME, NULL };
	struct list_page *pg = ctx;
	struct timeval tv = { .tv_sec = (time_t)l->s.timeout };
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	int rc;

	ldap_msgfree(pg->res);
	pg->res = NULL;
	rc = ldap_create_page_control(l->ld, PAGE_SIZE, pg->cookie.bv_val ? &pg->cookie : NULL, 0,
				      &page);
	if (rc != LDAP_SUCCESS)
		return rc;
	ctrls[0] = page;
	rc = ldap_search_ext_s(l->ld, l->s.base, l->s.scope,
			       "(|(userCertificate=*)(userSMIMECertificate=*))", attrs, 0, ctrls,
			       NULL, &tv, 0, &pg->res);
	ldap_control_free(page);
	return rc;
}

enum smk_ldap_status
smk_ldap_list(struct smk_ldap *l, smk_ldap_list_fn *fn, void *ctx, struct smk_error *err)
{
	struct list_page pg = { { 0, NULL }, NULL };
	enum smk_ldap_status st;

	do {
		LDAPControl **ctrls = NULL;
		LDAPMessage *m;
		int rc, errcode = LDAP_SUCCESS;

		st = smk_ldap_run(l, list_page_op, &pg, "list", err);
		if (st != SMK_LDAP_OK)
			break;
		for (m = ldap_first_entry(l->ld, pg.res); m != NULL; m = ldap_next_entry(l->ld, m)) {
			struct berval **mail = values_of(l, m, "mail");
			char *addr = mail && mail[0] ? strndup(mail[0]->bv_val, mail[0]->bv_len) : NULL;
			struct smk_ldap_certs *c = smk_ldap_certs_from_entry(l, m, addr ? addr : "-");
			int stop = c ? fn(ctx, c->dn, addr, c) : -1;

			smk_ldap_certs_unref(c);
			free(addr);
			ldap_value_free_len(mail);
			if (stop != 0) {
				if (c == NULL)
					smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
				st = c ? SMK_LDAP_OK : SMK_LDAP_ERROR;
				goto out;
			}
		}
		/* The next page's cookie; an empty one ends the search. */
		ber_memfree(pg.cookie.bv_val);
		pg.cookie.bv_val = NULL;
		pg.cookie.bv_len = 0;
		rc = ldap_parse_result(l->ld, pg.res, &errcode, NULL, NULL, NULL, &ctrls, 0);
		if (rc == LDAP_SUCCESS && ctrls != NULL) {
			LDAPControl *resp = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL);
			ber_int_t estimate;

			if (resp != NULL)
				ldap_parse_pageresponse_control(l->ld, resp, &estimate, &pg.cookie);
		}
		ldap_controls_free(ctrls);
	} while (pg.cookie.bv_val != NULL && pg.cookie.bv_len > 0);
out:
	ber_memfree(pg.cookie.bv_val);
	ldap_msgfree(pg.res);
	return st;
}
