/* smk-ldap-write.c - publishing and removing certificates, escrowed keys,
 * and listing every entry that has a certificate
 *
 * userSMIMECertificate and userPKCS12 have no equality matching rule in
 * the standard schema, so a server cannot add or delete single values of
 * them: they are rewritten whole (old values kept, the new one added).
 * To make that safe against a concurrent writer, the modification carries
 * an assertion (RFC 4528) that the entry is as it was read (entryCSN, or
 * modifyTimestamp); if it changed meanwhile, it is read again and retried.
 * Escrowed values are also rewritten whole when a PIN changes (re-encrypted
 * under the new one), and the password-modify operation lives here too.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "smk-cert.h"
#include "smk-ldap-private.h"

#define UPDATE_TRIES 5

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

static size_t
count_values(struct berval **vals)
{
	size_t n = 0;

	while (vals != NULL && vals[n] != NULL)
		n++;
	return n;
}

/* ---- modify, guarded by an assertion ------------------------------------ */

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

/* "(entryCSN=...)" for the entry as read (malloc'd), or NULL if it has
 * neither entryCSN nor modifyTimestamp. */
static char *
entry_assertion(struct smk_ldap *l, LDAPMessage *entry)
{
	static const char *const attrs[] = { "entryCSN", "modifyTimestamp" };
	char *out = NULL;

	for (size_t i = 0; i < 2 && out == NULL; i++) {
		struct berval **v = values_of(l, entry, attrs[i]);
		struct berval esc = { 0, NULL };

		if (v != NULL && v[0] != NULL && ldap_bv2escaped_filter_value(v[0], &esc) == 0) {
			if (asprintf(&out, "(%s=%.*s)", attrs[i], (int)esc.bv_len, esc.bv_val) < 0)
				out = NULL;
			ber_memfree(esc.bv_val);
		}
		ldap_value_free_len(v);
	}
	return out;
}

struct modify {
	const char *dn;
	LDAPMod **mods;
	const char *assertion;
	bool changed;	/* the assertion failed: the entry changed */
};

static int
modify_op(struct smk_ldap *l, void *ctx)
{
	struct modify *m = ctx;
	LDAPControl *ctrl = NULL, *ctrls[2] = { NULL, NULL };
	int rc;

	m->changed = false;
	if (m->assertion != NULL) {
		rc = ldap_create_assertion_control(l->ld, (char *)m->assertion, 1, &ctrl);
		if (rc != LDAP_SUCCESS)
			return rc;
		ctrls[0] = ctrl;
	}
	rc = ldap_modify_ext_s(l->ld, m->dn, m->mods, ctrls[0] ? ctrls : NULL, NULL);
	ldap_control_free(ctrl);
	if (rc == LDAP_ASSERTION_FAILED) {
		m->changed = true;
		return LDAP_SUCCESS;
	}
	return rc;
}

/* A change to an entry: plan() looks at the entry as read and fills mods
 * (NULL-terminated, at most 3); it returns how many, 0 for nothing to do,
 * -1 on error.  release() frees what plan() made. */
struct update {
	const char *dn;
	char **attrs;	/* to read; entryCSN and modifyTimestamp are added */
	int (*plan)(struct update *u, struct smk_ldap *l, LDAPMessage *entry,
		    struct smk_error *err);
	void (*release)(struct update *u);
	LDAPMod *mods[4];
	void *ctx;
	int planned;	/* modifications in the last try (0: nothing to do) */
};

static enum smk_ldap_status
update_entry(struct smk_ldap *l, struct update *u, struct smk_error *err)
{
	char *attrs[8];
	size_t na = 0;
	enum smk_ldap_status st = SMK_LDAP_ERROR;

	for (char **a = u->attrs; *a != NULL && na < 5; a++)
		attrs[na++] = *a;
	attrs[na++] = (char *)"entryCSN";
	attrs[na++] = (char *)"modifyTimestamp";
	attrs[na] = NULL;

	for (int attempt = 0; attempt < UPDATE_TRIES; attempt++) {
		struct read_entry r = { u->dn, attrs, NULL, false };
		struct modify m = { u->dn, u->mods, NULL, false };
		LDAPMessage *entry;
		int n;

		memset(u->mods, 0, sizeof(u->mods));
		st = read_entry(l, &r, &entry, err);
		n = st == SMK_LDAP_OK ? u->plan(u, l, entry, err) : 0;
		u->planned = n;
		if (st == SMK_LDAP_OK && n < 0)
			st = SMK_LDAP_ERROR;
		if (st == SMK_LDAP_OK && n > 0) {
			char *assertion = entry_assertion(l, entry);

			m.assertion = assertion;
			st = smk_ldap_run(l, modify_op, &m, "modify", err);
			free(assertion);
		}
		for (size_t i = 0; i < 4; i++)
			free(u->mods[i]);
		u->release(u);
		ldap_msgfree(r.res);
		if (st != SMK_LDAP_OK || !m.changed)
			return st;
		smk_ldap_log(l, SMK_LOG_INFO, "directory entry %s changed while updating it: retrying",
			     u->dn);
	}
	smk_error_set(err, SMK_ERR_IO, "directory entry %s kept changing: gave up after %d tries",
		      u->dn, UPDATE_TRIES);
	return SMK_LDAP_ERROR;
}

/* The values of vals plus extra (a new NULL-terminated array pointing
 * into both; free() it). */
static struct berval **
values_plus(struct berval **vals, struct berval *extra)
{
	size_t n = count_values(vals);
	struct berval **all = calloc(n + 2, sizeof(*all));

	if (all == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		all[i] = vals[i];
	all[n] = extra;
	return all;
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

struct publish {
	X509 *cert;
	STACK_OF(X509) *chain;
	struct berval der, p7;
	struct berval *der_vals[2];
	struct berval **have_der, **have_p7, **all_p7;
};

static int
publish_plan(struct update *u, struct smk_ldap *l, LDAPMessage *entry, struct smk_error *err)
{
	struct publish *p = u->ctx;
	int n = 0;

	p->have_der = values_of(l, entry, SMK_LDAP_ATTR_CERT);
	p->have_p7 = values_of(l, entry, SMK_LDAP_ATTR_SMIME);
	if (!values_hold(p->have_der, p->cert, false)) {
		p->der_vals[0] = &p->der;
		p->der_vals[1] = NULL;
		u->mods[n++] = mod_new(LDAP_MOD_ADD, SMK_LDAP_ATTR_CERT, p->der_vals);
	}
	if (!values_hold(p->have_p7, p->cert, true)) {
		p->all_p7 = values_plus(p->have_p7, &p->p7);
		u->mods[n++] = p->all_p7 ? mod_new(LDAP_MOD_REPLACE, SMK_LDAP_ATTR_SMIME, p->all_p7)
					 : NULL;
	}
	for (int i = 0; i < n; i++) {
		if (u->mods[i] == NULL)
			return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	return n;
}

static void
publish_release(struct update *u)
{
	struct publish *p = u->ctx;

	ldap_value_free_len(p->have_der);
	ldap_value_free_len(p->have_p7);
	free(p->all_p7);
	p->have_der = p->have_p7 = p->all_p7 = NULL;
}

enum smk_ldap_status
smk_ldap_publish(struct smk_ldap *l, const char *dn, X509 *cert, STACK_OF(X509) *chain,
		 bool *added, struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_CERT, SMK_LDAP_ATTR_SMIME, NULL };
	struct publish p = { .cert = cert, .chain = chain };
	struct update u = { dn, attrs, publish_plan, publish_release, { NULL }, &p, 0 };
	enum smk_ldap_status st;
	unsigned char *der = NULL;
	int len;

	*added = false;
	len = i2d_X509(cert, &der);
	if (len <= 0 || certs_only(cert, chain, &p.p7) < 0) {
		OPENSSL_free(der);
		smk_error_set(err, SMK_ERR_CERT, "cannot encode the certificate");
		return SMK_LDAP_ERROR;
	}
	p.der.bv_val = (char *)der;
	p.der.bv_len = (ber_len_t)len;
	st = update_entry(l, &u, err);
	*added = st == SMK_LDAP_OK && u.planned > 0;
	OPENSSL_free(p.der.bv_val);
	OPENSSL_free(p.p7.bv_val);
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

/* Splits vals into those to delete and those to keep (NULL-terminated
 * arrays pointing into vals).  Without a serial every value goes,
 * garbage included.  Returns how many go. */
static size_t
split_values(struct berval **vals, bool pkcs7, const char *serial_hex, struct berval **del,
	     struct berval **keep)
{
	size_t nd = 0, nk = 0;

	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		if (serial_hex == NULL || value_matches(vals[i], pkcs7, serial_hex))
			del[nd++] = vals[i];
		else
			keep[nk++] = vals[i];
	}
	del[nd] = keep[nk] = NULL;
	return nd;
}

struct unpublish {
	const char *serial_hex;
	struct berval **have_der, **have_p7;
	struct berval **del_der, **keep_der, **del_p7, **keep_p7;
	size_t removed;
};

static int
unpublish_plan(struct update *u, struct smk_ldap *l, LDAPMessage *entry, struct smk_error *err)
{
	struct unpublish *p = u->ctx;
	size_t nder, np7, k;
	int n = 0;

	p->have_der = values_of(l, entry, SMK_LDAP_ATTR_CERT);
	p->have_p7 = values_of(l, entry, SMK_LDAP_ATTR_SMIME);
	nder = count_values(p->have_der);
	np7 = count_values(p->have_p7);
	p->del_der = calloc(nder + 1, sizeof(*p->del_der));
	p->keep_der = calloc(nder + 1, sizeof(*p->keep_der));
	p->del_p7 = calloc(np7 + 1, sizeof(*p->del_p7));
	p->keep_p7 = calloc(np7 + 1, sizeof(*p->keep_p7));
	if (!p->del_der || !p->keep_der || !p->del_p7 || !p->keep_p7)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	p->removed = 0;
	if ((k = split_values(p->have_der, false, p->serial_hex, p->del_der, p->keep_der)) > 0) {
		/* userCertificate has certificateExactMatch: single values can
		 * go; all of them (garbage too, which the server cannot match)
		 * go by deleting the attribute. */
		u->mods[n++] = mod_new(LDAP_MOD_DELETE, SMK_LDAP_ATTR_CERT,
				       p->serial_hex ? p->del_der : NULL);
		p->removed += k;
	}
	if ((k = split_values(p->have_p7, true, p->serial_hex, p->del_p7, p->keep_p7)) > 0) {
		u->mods[n++] = mod_new(LDAP_MOD_REPLACE, SMK_LDAP_ATTR_SMIME, p->keep_p7);
		p->removed += k;
	}
	for (int i = 0; i < n; i++) {
		if (u->mods[i] == NULL)
			return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	return n;
}

static void
unpublish_release(struct update *u)
{
	struct unpublish *p = u->ctx;

	ldap_value_free_len(p->have_der);
	ldap_value_free_len(p->have_p7);
	free(p->del_der);
	free(p->keep_der);
	free(p->del_p7);
	free(p->keep_p7);
	p->have_der = p->have_p7 = p->del_der = p->keep_der = p->del_p7 = p->keep_p7 = NULL;
}

enum smk_ldap_status
smk_ldap_unpublish(struct smk_ldap *l, const char *dn, const char *serial_hex, size_t *removed,
		   struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_CERT, SMK_LDAP_ATTR_SMIME, NULL };
	struct unpublish p = { .serial_hex = serial_hex };
	struct update u = { dn, attrs, unpublish_plan, unpublish_release, { NULL }, &p, 0 };
	enum smk_ldap_status st = update_entry(l, &u, err);

	*removed = st == SMK_LDAP_OK ? p.removed : 0;
	return st;
}

/* ---- escrow ---------------------------------------------------------------- */

struct escrow {
	struct berval value;
	struct berval **have, **all;
};

static int
escrow_plan(struct update *u, struct smk_ldap *l, LDAPMessage *entry, struct smk_error *err)
{
	struct escrow *e = u->ctx;

	e->have = values_of(l, entry, SMK_LDAP_ATTR_PKCS12);
	e->all = values_plus(e->have, &e->value);	/* old keys stay */
	u->mods[0] = e->all ? mod_new(LDAP_MOD_REPLACE, SMK_LDAP_ATTR_PKCS12, e->all) : NULL;
	if (u->mods[0] == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	return 1;
}

static void
escrow_release(struct update *u)
{
	struct escrow *e = u->ctx;

	ldap_value_free_len(e->have);
	free(e->all);
	e->have = e->all = NULL;
}

enum smk_ldap_status
smk_ldap_escrow_add(struct smk_ldap *l, const char *dn, const unsigned char *p12, size_t len,
		    struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_PKCS12, NULL };
	struct escrow e = { .value = { .bv_len = (ber_len_t)len, .bv_val = (char *)p12 } };
	struct update u = { dn, attrs, escrow_plan, escrow_release, { NULL }, &e, 0 };

	return update_entry(l, &u, err);
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

/* ---- escrow rewrite (PIN change) ------------------------------------------- */

struct escrow_rewrite {
	smk_ldap_escrow_map_fn *fn;
	void *ctx;
	struct berval **have;
	struct smk_der *have_der;
	struct smk_der *out;
	size_t nout;
	struct berval *out_bv;
	struct berval **out_vals;
};

static int
rewrite_plan(struct update *u, struct smk_ldap *l, LDAPMessage *entry, struct smk_error *err)
{
	struct escrow_rewrite *r = u->ctx;
	size_t n;

	r->have = values_of(l, entry, SMK_LDAP_ATTR_PKCS12);
	n = count_values(r->have);
	r->have_der = calloc(n + 1, sizeof(*r->have_der));
	if (r->have_der == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		r->have_der[i].data = (unsigned char *)r->have[i]->bv_val;
		r->have_der[i].len = r->have[i]->bv_len;
	}
	r->out = NULL;
	r->nout = 0;
	if (r->fn(r->ctx, r->have_der, n, &r->out, &r->nout, err) < 0)
		return -1;
	if (r->nout == SIZE_MAX) {	/* nothing to change */
		r->nout = 0;
		return 0;
	}
	r->out_bv = calloc(r->nout + 1, sizeof(*r->out_bv));
	r->out_vals = calloc(r->nout + 1, sizeof(*r->out_vals));
	if (r->out_bv == NULL || r->out_vals == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < r->nout; i++) {
		r->out_bv[i].bv_val = (char *)r->out[i].data;
		r->out_bv[i].bv_len = (ber_len_t)r->out[i].len;
		r->out_vals[i] = &r->out_bv[i];
	}
	/* A replace with no values removes the attribute (and is no error
	 * when it is not there). */
	u->mods[0] = mod_new(LDAP_MOD_REPLACE, SMK_LDAP_ATTR_PKCS12,
			     r->nout > 0 ? r->out_vals : NULL);
	if (u->mods[0] == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	return 1;
}

static void
rewrite_release(struct update *u)
{
	struct escrow_rewrite *r = u->ctx;

	ldap_value_free_len(r->have);
	free(r->have_der);
	if (r->out != NULL)
		smk_der_free_all(r->out, r->nout);
	free(r->out_bv);
	free(r->out_vals);
	r->have = NULL;
	r->have_der = r->out = NULL;
	r->out_bv = NULL;
	r->out_vals = NULL;
	r->nout = 0;
}

enum smk_ldap_status
smk_ldap_escrow_replace(struct smk_ldap *l, const char *dn, smk_ldap_escrow_map_fn *fn,
			void *ctx, struct smk_error *err)
{
	static char *attrs[] = { SMK_LDAP_ATTR_PKCS12, NULL };
	struct escrow_rewrite r = { .fn = fn, .ctx = ctx };
	struct update u = { dn, attrs, rewrite_plan, rewrite_release, { NULL }, &r, 0 };

	return update_entry(l, &u, err);
}

/* ---- password modify (RFC 3062) ------------------------------------------------ */

struct passwd_op {
	struct berval dn, old_pw, new_pw;
};

static int
passwd_op(struct smk_ldap *l, void *ctx)
{
	struct passwd_op *p = ctx;
	struct berval gen = { 0, NULL };
	int rc;

	rc = ldap_passwd_s(l->ld, &p->dn, &p->old_pw, &p->new_pw, &gen, NULL, NULL);
	if (gen.bv_val != NULL) {	/* a generated password: we gave one, none comes */
		OPENSSL_cleanse(gen.bv_val, gen.bv_len);
		ber_memfree(gen.bv_val);
	}
	return rc;
}

enum smk_ldap_status
smk_ldap_passwd(struct smk_ldap *l, const char *dn, const char *old_pw, const char *new_pw,
		struct smk_error *err)
{
	struct passwd_op p = {
		{ strlen(dn), (char *)dn },
		{ strlen(old_pw), (char *)old_pw },
		{ strlen(new_pw), (char *)new_pw },
	};

	return smk_ldap_run(l, passwd_op, &p, "password change", err);
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
