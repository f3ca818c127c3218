/* smimekit-recipients.c - whom a user's mail is encrypted to */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "mail-user.h"

#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>

#include "smk-cert.h"
#include "smk-ldap-cache.h"
#include "smk-policy.h"
#include "smimekit-recipients.h"

/* How long "nothing usable" is believed before the policy looks again
 * (the directory cache bounds it too). */
#define NONE_RECHECK_SECS 60

struct directory {
	char *key;
	struct smk_ldap *ldap;
	struct smk_ldap_cache *cache;
};

/* A certificate file (smimekit_cert, smimekit_recovery_cert,
 * smimekit_trust_anchors), reread when it changes. */
struct cert_file {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	STACK_OF(X509) *certs;
	X509_STORE *store;	/* made on first use as trust anchors */
};

/* What the policy made of a directory entry, kept with the entry. */
struct memo {
	char *policy_key;
	X509 *chosen;		/* NULL: none usable */
	char *why;
	time_t until;
};

static ARRAY(struct directory) directories;
static ARRAY(struct cert_file) cert_files;
static struct event *log_event;	/* the user being served, for library logs */

/* ---- helpers --------------------------------------------------------------- */

static time_t
asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static void
library_log(void *ctx ATTR_UNUSED, enum smk_log_level level, const char *msg)
{
	struct event *event = log_event;

	if (event == NULL)
		return;
	switch (level) {
	case SMK_LOG_DEBUG:
		e_debug(event, "smimekit: %s", msg);
		break;
	case SMK_LOG_INFO:
		e_info(event, "smimekit: %s", msg);
		break;
	case SMK_LOG_WARNING:
		e_warning(event, "smimekit: %s", msg);
		break;
	case SMK_LOG_ERROR:
		e_error(event, "smimekit: %s", msg);
		break;
	}
}

static const char *
serial_of(X509 *cert)
{
	char hex[128];

	smk_cert_serial_hex(cert, hex, sizeof(hex));
	return t_strdup(hex);
}

/* ---- process-wide directory connections ------------------------------------- */

static struct directory *
directory_get(const struct smimekit_settings *set, const char **error_r)
{
	const char *key = smimekit_settings_directory_key(set);
	struct directory *d;
	struct smk_error err;

	if (!array_is_created(&directories))
		i_array_init(&directories, 4);
	array_foreach_modifiable(&directories, d) {
		if (strcmp(d->key, key) == 0)
			return d;
	}
	d = array_append_space(&directories);
	d->ldap = smk_ldap_new(&set->ldap, &err);
	if (d->ldap == NULL) {
		*error_r = t_strdup(err.msg);
		array_pop_back(&directories);
		return NULL;
	}
	smk_ldap_set_log(d->ldap, library_log, NULL);
	d->cache = smk_ldap_cache_new(set->ldap.cache_size, set->ldap.cache_ttl,
				      set->ldap.negative_cache_ttl);
	if (d->cache == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "smimekit: out of memory");
	d->key = i_strdup(key);
	return d;
}

/* ---- certificate files ------------------------------------------------------ */

static void
cert_file_clear(struct cert_file *f)
{
	sk_X509_pop_free(f->certs, X509_free);
	X509_STORE_free(f->store);
	f->certs = NULL;
	f->store = NULL;
}

/* The certificates of path, read again only when the file changed.
 * Returns NULL with *error_r (and *missing_r for a file that is not
 * there). */
static struct cert_file *
cert_file_get(const char *path, bool *missing_r, const char **error_r)
{
	struct smk_error err;
	struct cert_file *f = NULL, *it;
	struct stat st;

	*missing_r = FALSE;
	if (stat(path, &st) < 0) {
		*missing_r = errno == ENOENT;
		*error_r = t_strdup_printf("%s: %m", path);
		return NULL;
	}
	if (!array_is_created(&cert_files))
		i_array_init(&cert_files, 8);
	array_foreach_modifiable(&cert_files, it) {
		if (strcmp(it->path, path) == 0)
			f = it;
	}
	if (f != NULL && f->certs != NULL && f->dev == st.st_dev && f->ino == st.st_ino &&
	    f->size == st.st_size && f->mtime.tv_sec == st.st_mtim.tv_sec &&
	    f->mtime.tv_nsec == st.st_mtim.tv_nsec)
		return f;
	if (f == NULL) {
		f = array_append_space(&cert_files);
		f->path = i_strdup(path);
	}
	cert_file_clear(f);
	f->certs = smk_cert_load_file(path, &err);
	if (f->certs == NULL) {
		*error_r = t_strdup(err.msg);
		return NULL;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	return f;
}

static X509_STORE *
anchors_get(const char *path, const char **error_r)
{
	bool missing;
	struct cert_file *f = cert_file_get(path, &missing, error_r);

	if (f == NULL)
		return NULL;
	if (f->store == NULL) {
		f->store = X509_STORE_new();
		for (int i = 0; f->store != NULL && i < sk_X509_num(f->certs); i++)
			X509_STORE_add_cert(f->store, sk_X509_value(f->certs, i));
		ERR_clear_error();
	}
	return f->store;
}

/* ---- the policy, remembered ------------------------------------------------------ */

static void
memo_free(void *p)
{
	struct memo *m = p;

	X509_free(m->chosen);
	i_free(m->policy_key);
	i_free(m->why);
	i_free(m);
}

/* Chooses among certs for address; the result and why into the memo. */
static void
memo_fill(struct memo *m, const struct smk_policy *pol, STACK_OF(X509) *certs,
	  STACK_OF(X509) *chain, const char *address)
{
	char reason[1024];
	int i = smk_policy_choose(pol, certs, chain, address, reason, sizeof(reason));

	X509_free(m->chosen);
	i_free(m->why);
	m->chosen = NULL;
	if (i >= 0) {
		m->chosen = sk_X509_value(certs, i);
		X509_up_ref(m->chosen);
		m->until = asn1_time_t(X509_get0_notAfter(m->chosen));
	} else {
		m->until = time(NULL) + NONE_RECHECK_SECS;
	}
	m->why = i_strdup(reason);
}

static const struct memo *
directory_choose(struct smk_ldap_certs *found, const struct smk_policy *pol,
		 const char *policy_key, const char *address)
{
	struct memo *m = found->user_data;

	if (m == NULL) {
		m = i_new(struct memo, 1);
		found->user_data = m;
		found->user_data_free = memo_free;
	}
	if (m->policy_key == NULL || strcmp(m->policy_key, policy_key) != 0 ||
	    time(NULL) >= m->until) {
		STACK_OF(X509) *certs = smk_ldap_certs_x509(found->certs, found->ncerts);
		STACK_OF(X509) *chain = smk_ldap_certs_x509(found->chain, found->nchain);

		if (certs == NULL || chain == NULL)
			i_fatal_status(FATAL_OUTOFMEM, "smimekit: out of memory");
		memo_fill(m, pol, certs, chain, address);
		sk_X509_pop_free(certs, X509_free);
		sk_X509_pop_free(chain, X509_free);
		i_free(m->policy_key);
		m->policy_key = i_strdup(policy_key);
	}
	return m;
}

/* ---- resolution ------------------------------------------------------------ */

static X509 *
from_directory(struct mail_user *user, const struct smimekit_settings *set,
	       const struct smk_policy *pol, const char *policy_key, string_t *why,
	       bool *failed_r)
{
	struct smk_ldap_certs *found = NULL;
	const struct memo *m;
	struct directory *d;
	struct smk_error err;
	enum smk_ldap_status st;
	const char *error;
	X509 *chosen = NULL;

	d = directory_get(set, &error);
	if (d == NULL) {
		str_printfa(why, "directory: %s", error);
		*failed_r = TRUE;
		return NULL;
	}
	log_event = user->event;
	st = smk_ldap_cache_lookup(d->cache, d->ldap, set->address, &found, &err);
	log_event = NULL;
	switch (st) {
	case SMK_LDAP_OK:
	case SMK_LDAP_NO_CERT:
		m = directory_choose(found, pol, policy_key, set->address);
		if (m->chosen != NULL) {
			chosen = m->chosen;
			X509_up_ref(chosen);
			str_printfa(why, "directory entry %s: %s", found->dn, m->why);
		} else if (found->ncerts == 0) {
			str_printfa(why, "directory entry %s has no certificate", found->dn);
		} else {
			str_printfa(why, "no usable certificate in directory entry %s (%s)",
				    found->dn, m->why);
		}
		break;
	case SMK_LDAP_NO_ENTRY:
		str_printfa(why, "no directory entry for %s", set->address);
		break;
	default:
		str_printfa(why, "%s", err.msg);
		*failed_r = TRUE;
		break;
	}
	smk_ldap_certs_unref(found);
	return chosen;
}

static X509 *
from_file(const struct smimekit_settings *set, const struct smk_policy *pol, string_t *why,
	  bool *setup_failed_r)
{
	char reason[1024];
	const char *error;
	struct cert_file *f;
	bool missing;
	int i;

	f = cert_file_get(set->cert_path, &missing, &error);
	if (f == NULL) {
		if (missing) {
			str_printfa(why, "%sno certificate file %s", str_len(why) > 0 ? "; " : "",
				    set->cert_path);
		} else {
			str_printfa(why, "%s%s", str_len(why) > 0 ? "; " : "", error);
			*setup_failed_r = TRUE;
		}
		return NULL;
	}
	i = smk_policy_choose(pol, f->certs, f->certs, set->address, reason, sizeof(reason));
	if (i < 0) {
		str_printfa(why, "%sno usable certificate in %s (%s)", str_len(why) > 0 ? "; " : "",
			    set->cert_path, reason);
		return NULL;
	}
	str_truncate(why, 0);
	str_printfa(why, "%s: %s", set->cert_path, reason);
	X509_up_ref(sk_X509_value(f->certs, i));
	return sk_X509_value(f->certs, i);
}

void
smimekit_resolve(struct mail_user *user, const struct smimekit_settings *set,
		 struct smimekit_resolution *res)
{
	struct smk_policy pol;
	string_t *why = t_str_new(256);
	const char *policy_key, *error;
	bool lookup_failed = FALSE, setup_failed = FALSE;
	X509 *chosen = NULL;

	i_zero(res);
	i_zero(&pol);
	if (set->trust_anchors != NULL) {
		pol.anchors = anchors_get(set->trust_anchors, &error);
		if (pol.anchors == NULL) {
			res->result = SMIMEKIT_SETUP_FAILED;
			res->why = t_strdup_printf("smimekit_trust_anchors: %s", error);
			return;
		}
	}
	pol.require_trust = set->require_trust;
	policy_key = t_strdup_printf("%s|%s|%d", set->address,
				     set->trust_anchors != NULL ? set->trust_anchors : "",
				     set->require_trust ? 1 : 0);

	if (set->have_directory)
		chosen = from_directory(user, set, &pol, policy_key, why, &lookup_failed);
	if (chosen == NULL && set->cert_path != NULL)
		chosen = from_file(set, &pol, why, &setup_failed);

	if (chosen == NULL) {
		res->result = setup_failed ? SMIMEKIT_SETUP_FAILED :
			      lookup_failed ? SMIMEKIT_LOOKUP_FAILED : SMIMEKIT_NO_CERT;
		res->why = str_c(why);
		return;
	}

	res->recipients = sk_X509_new_null();
	if (res->recipients == NULL || !sk_X509_push(res->recipients, chosen))
		i_fatal_status(FATAL_OUTOFMEM, "smimekit: out of memory");
	res->serials = serial_of(chosen);
	if (set->recovery_cert != NULL) {
		bool missing;
		struct cert_file *f = cert_file_get(set->recovery_cert, &missing, &error);
		X509 *rc = f != NULL ? sk_X509_value(f->certs, 0) : NULL;

		if (rc == NULL) {
			smimekit_resolution_free(res);
			res->result = SMIMEKIT_SETUP_FAILED;
			res->why = t_strdup_printf("smimekit_recovery_cert: %s", error);
			return;
		}
		X509_up_ref(rc);
		if (!sk_X509_push(res->recipients, rc))
			i_fatal_status(FATAL_OUTOFMEM, "smimekit: out of memory");
		res->serials = t_strdup_printf("%s, recovery %s", res->serials, serial_of(rc));
	}
	res->result = SMIMEKIT_RESOLVED;
	res->why = str_c(why);
}

void
smimekit_resolution_free(struct smimekit_resolution *res)
{
	sk_X509_pop_free(res->recipients, X509_free);
	res->recipients = NULL;
}

void
smimekit_recipients_deinit(void)
{
	struct directory *d;
	struct cert_file *f;

	if (array_is_created(&directories)) {
		array_foreach_modifiable(&directories, d) {
			smk_ldap_cache_free(d->cache);
			smk_ldap_free(d->ldap);
			i_free(d->key);
		}
		array_free(&directories);
	}
	if (array_is_created(&cert_files)) {
		array_foreach_modifiable(&cert_files, f) {
			cert_file_clear(f);
			i_free(f->path);
		}
		array_free(&cert_files);
	}
}
