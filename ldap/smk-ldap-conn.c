/* smk-ldap-conn.c - one reused connection, failover, reconnection
 *
 * The handle connects at its first operation, to the first URI that
 * answers, and keeps that connection.  When an operation finds the server
 * gone (restarted, down, timed out) the connection is dropped and the
 * operation retried once on a new one: first the same URI (a restart),
 * then the others in order.  Only when no server answers is the result
 * SMK_LDAP_UNAVAILABLE, which callers turn into "try again later".
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "smk-ldap-private.h"

const char *
smk_ldap_status_str(enum smk_ldap_status st)
{
	switch (st) {
	case SMK_LDAP_OK: return "ok";
	case SMK_LDAP_NO_ENTRY: return "no entry";
	case SMK_LDAP_NO_CERT: return "no certificate";
	case SMK_LDAP_UNAVAILABLE: return "directory unavailable";
	case SMK_LDAP_AUTH_FAILED: return "authentication failed";
	case SMK_LDAP_ERROR: return "directory error";
	}
	return "unknown";
}

void
smk_ldap_log(struct smk_ldap *l, enum smk_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (l->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->log(l->log_ctx, level, msg);
}

void
smk_ldap_set_log(struct smk_ldap *l, smk_log_fn *fn, void *ctx)
{
	l->log = fn;
	l->log_ctx = ctx;
}

static int
copy_str(char **dst, const char *src)
{
	if (src == NULL) {
		*dst = NULL;
		return 0;
	}
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

static int
settings_copy(struct smk_ldap_settings *dst, const struct smk_ldap_settings *src)
{
	*dst = *src;
	dst->uris = NULL;
	dst->nuris = 0;
	dst->base = dst->filter = dst->bind_dn = dst->bind_password = dst->tls_ca_file = NULL;
	if (copy_str(&dst->base, src->base) < 0 || copy_str(&dst->filter, src->filter) < 0 ||
	    copy_str(&dst->bind_dn, src->bind_dn) < 0 ||
	    copy_str(&dst->bind_password, src->bind_password) < 0 ||
	    copy_str(&dst->tls_ca_file, src->tls_ca_file) < 0)
		return -1;
	dst->uris = calloc(src->nuris, sizeof(*dst->uris));
	if (dst->uris == NULL)
		return -1;
	for (size_t i = 0; i < src->nuris; i++) {
		if ((dst->uris[i] = strdup(src->uris[i])) == NULL)
			return -1;
		dst->nuris++;
	}
	return 0;
}

static struct smk_ldap *
ldap_new(const struct smk_ldap_settings *s, const char *dn, const char *password,
	 struct smk_error *err)
{
	struct smk_ldap *l;

	if (smk_ldap_settings_check(s, err) < 0)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL || settings_copy(&l->s, s) < 0)
		goto nomem;
	if (dn != NULL) {
		free(l->s.bind_dn);
		if (l->s.bind_password != NULL) {
			OPENSSL_cleanse(l->s.bind_password, strlen(l->s.bind_password));
			free(l->s.bind_password);
		}
		l->s.bind = SMK_LDAP_BIND_SIMPLE;
		l->s.bind_dn = strdup(dn);
		l->s.bind_password = strdup(password);
		if (l->s.bind_dn == NULL || l->s.bind_password == NULL)
			goto nomem;
	}
	if (l->s.filter == NULL && (l->s.filter = strdup(SMK_LDAP_DEFAULT_FILTER)) == NULL)
		goto nomem;
	return l;
nomem:
	smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	smk_ldap_free(l);
	return NULL;
}

struct smk_ldap *
smk_ldap_new(const struct smk_ldap_settings *s, struct smk_error *err)
{
	return ldap_new(s, NULL, NULL, err);
}

struct smk_ldap *
smk_ldap_new_as(const struct smk_ldap_settings *s, const char *dn, const char *password,
		struct smk_error *err)
{
	if (dn == NULL || password == NULL || *password == '\0') {
		smk_error_set(err, SMK_ERR_INVALID, "binding as an entry needs its DN and a password");
		return NULL;
	}
	return ldap_new(s, dn, password, err);
}

/* In a fork's child the connection's socket is the parent's too (one
 * socket, two descriptors): the child must say nothing on it.  But every
 * way libldap has to free a handle talks: ldap_destroy is ldap_ld_free(ld,
 * 1, ...) like ldap_unbind_ext, so it sends an Unbind request, and each
 * sockbuf layer is closed, where the TLS layer says goodbye (tls_g.c:
 * gnutls_bye(GNUTLS_SHUT_WR); tls_o.c: SSL_shutdown), a close_notify under
 * the parent's TLS session.  Either makes the server end the parent's
 * connection (the parent's next request then fails, or kills it with
 * SIGPIPE: tests/provider/fork-dir.sh).  So the child's descriptor is
 * first pointed at /dev/null (dup2 replaces it at once, no other thread
 * can get the number meanwhile): whatever the teardown writes goes there,
 * and its close closes only the child's descriptor.  shutdown() must not
 * be used: it would act on the socket the parent still holds. */
static bool
detach_parent_socket(LDAP *ld)
{
	int fd = -1, null;
	bool ok;

	if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0)
		return true;	/* no socket (never connected): nothing to say */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return false;
	ok = dup2(null, fd) >= 0;
	close(null);
	return ok;
}

static void
conn_close(struct smk_ldap *l)
{
	if (l->ld == NULL)
		return;
	if (l->pid == getpid()) {
		ldap_unbind_ext_s(l->ld, NULL, NULL);
	} else {
		/* the socket is the parent's: if it cannot be detached,
		 * the handle is left unfreed rather than risk an unbind or
		 * a TLS close on it */
		if (detach_parent_socket(l->ld))
			ldap_destroy(l->ld);
	}
	l->ld = NULL;
}

void
smk_ldap_free(struct smk_ldap *l)
{
	if (l == NULL)
		return;
	conn_close(l);
	smk_ldap_settings_free(&l->s);
	free(l);
}

const char *
smk_ldap_server(const struct smk_ldap *l)
{
	return l->ld != NULL ? l->s.uris[l->cur] : NULL;
}

/* Result codes that mean "this server is not there (any more)". */
static bool
is_unreachable(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
	       rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY;
}

/* "Can't contact LDAP server (additional info)" */
static void
describe(LDAP *ld, int rc, char *buf, size_t len)
{
	char *diag = NULL;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		snprintf(buf, len, "%s (%s)", ldap_err2string(rc), diag);
	else
		snprintf(buf, len, "%s", ldap_err2string(rc));
	ldap_memfree(diag);
}

static int
set_options(struct smk_ldap *l, LDAP *ld)
{
	struct timeval net = { .tv_sec = (time_t)l->s.network_timeout };
	struct timeval op = { .tv_sec = (time_t)l->s.timeout };
	int version = LDAP_VERSION3, require;

	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op) != LDAP_OPT_SUCCESS)
		return -1;
	require = l->s.tls_require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require) != LDAP_OPT_SUCCESS)
		return -1;
	if (l->s.tls_ca_file != NULL &&
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, l->s.tls_ca_file) != LDAP_OPT_SUCCESS)
		return -1;
	/* Debian's libldap uses GnuTLS: options take effect with a new context. */
	{
		int is_server = 0;

		if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server) != LDAP_OPT_SUCCESS)
			return -1;
	}
	return 0;
}

static int
do_bind(struct smk_ldap *l, LDAP *ld)
{
	struct berval cred = { 0, NULL };

	switch (l->s.bind) {
	case SMK_LDAP_BIND_SIMPLE:
		cred.bv_val = l->s.bind_password;
		cred.bv_len = strlen(l->s.bind_password);
		return ldap_sasl_bind_s(ld, l->s.bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	case SMK_LDAP_BIND_SASL_EXTERNAL:
		/* Empty credentials (not absent ones): no authorization
		 * identity, so the server completes the bind in one step. */
		cred.bv_val = (char *)"";
		return ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
	case SMK_LDAP_BIND_ANONYMOUS:
		break;
	}
	/* An anonymous bind: it also makes the connection now, so an
	 * unreachable server shows here and not in the first search. */
	cred.bv_val = (char *)"";
	return ldap_sasl_bind_s(ld, NULL, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* Connects to URI i and binds.  Returns an LDAP result code. */
static int
open_one(struct smk_ldap *l, size_t i, LDAP **out, char *why, size_t whylen)
{
	LDAP *ld = NULL;
	int rc;

	rc = ldap_initialize(&ld, l->s.uris[i]);
	if (rc != LDAP_SUCCESS) {
		describe(NULL, rc, why, whylen);
		return rc;
	}
	if (set_options(l, ld) < 0) {
		snprintf(why, whylen, "cannot set connection options");
		ldap_unbind_ext_s(ld, NULL, NULL);
		return LDAP_OTHER;
	}
	if (l->s.starttls) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc == LDAP_CONNECT_ERROR) {
			/* The server took the request; the handshake failed.
			 * libldap (GnuTLS) says no more than that. */
			snprintf(why, whylen, "StartTLS: TLS handshake failed: server certificate "
				 "not trusted by %s, or not for this host",
				 l->s.tls_ca_file ? l->s.tls_ca_file : "the system CAs");
			ldap_unbind_ext_s(ld, NULL, NULL);
			return LDAP_OTHER;	/* a setup problem, not an outage */
		}
		if (rc != LDAP_SUCCESS) {
			char d[256];

			describe(ld, rc, d, sizeof(d));
			snprintf(why, whylen, "StartTLS: %s", d);
			ldap_unbind_ext_s(ld, NULL, NULL);
			return rc;
		}
	}
	rc = do_bind(l, ld);
	if (rc != LDAP_SUCCESS) {
		char d[256];

		describe(ld, rc, d, sizeof(d));
		snprintf(why, whylen, "bind%s%s: %s%s", l->s.bind_dn ? " as " : "",
			 l->s.bind_dn ? l->s.bind_dn : "", d,
			 ldap_is_ldaps_url(l->s.uris[i]) && is_unreachable(rc)
				 ? " (for ldaps://, also check tls_ca_file and the server certificate)"
				 : "");
		ldap_unbind_ext_s(ld, NULL, NULL);
		return rc;
	}
	*out = ld;
	return LDAP_SUCCESS;
}

static enum smk_ldap_status
status_of(int rc)
{
	if (rc == LDAP_SUCCESS)
		return SMK_LDAP_OK;
	if (rc == LDAP_INVALID_CREDENTIALS)
		return SMK_LDAP_AUTH_FAILED;
	if (is_unreachable(rc))
		return SMK_LDAP_UNAVAILABLE;
	return SMK_LDAP_ERROR;
}

/* Tries the URIs in order from l->cur, wrapping, until one answers;
 * the URI with index skip (one that just timed out) is left out. */
static enum smk_ldap_status
conn_open(struct smk_ldap *l, size_t skip, struct smk_error *err)
{
	char tried[SMK_ERROR_MSG_MAX] = "";
	size_t used = 0;

	for (size_t k = 0; k < l->s.nuris; k++) {
		size_t i = (l->cur + k) % l->s.nuris;
		char why[512];
		int rc;

		if (i == skip) {
			snprintf(why, sizeof(why), "timed out just now");
			rc = LDAP_TIMEOUT;
		} else {
			rc = open_one(l, i, &l->ld, why, sizeof(why));
		}

		if (rc == LDAP_SUCCESS) {
			if (k > 0)
				smk_ldap_log(l, SMK_LOG_WARNING, "directory: using %s (%s)",
					     l->s.uris[i], tried);
			l->cur = i;
			l->pid = getpid();
			return SMK_LDAP_OK;
		}
		if (!is_unreachable(rc)) {
			smk_error_set(err, SMK_ERR_IO, "directory %s: %s", l->s.uris[i], why);
			return status_of(rc);
		}
		if (used + 1 < sizeof(tried)) {
			int w = snprintf(tried + used, sizeof(tried) - used, "%s%s: %s",
					 used ? "; " : "", l->s.uris[i], why);

			if (w > 0)
				used += (size_t)w < sizeof(tried) - used ? (size_t)w
									  : sizeof(tried) - used - 1;
		}
	}
	smk_error_set(err, SMK_ERR_IO, "directory unavailable: %s", tried);
	return SMK_LDAP_UNAVAILABLE;
}

#define NO_SKIP ((size_t)-1)

static enum smk_ldap_status
ensure_connected(struct smk_ldap *l, size_t skip, struct smk_error *err)
{
	if (l->ld != NULL && l->pid != getpid())
		conn_close(l);	/* after fork(): the child needs its own */
	if (l->ld != NULL)
		return SMK_LDAP_OK;
	return conn_open(l, skip, err);
}

enum smk_ldap_status
smk_ldap_connect(struct smk_ldap *l, struct smk_error *err)
{
	return ensure_connected(l, NO_SKIP, err);
}

enum smk_ldap_status
smk_ldap_run(struct smk_ldap *l, smk_ldap_op_fn *op, void *ctx, const char *what,
	     struct smk_error *err)
{
	size_t skip = NO_SKIP;

	for (int attempt = 0; attempt < 2; attempt++) {
		enum smk_ldap_status st = ensure_connected(l, skip, err);
		char why[512];
		int rc;

		if (st != SMK_LDAP_OK)
			return st;
		rc = op(l, ctx);
		if (rc == LDAP_SUCCESS)
			return SMK_LDAP_OK;
		describe(l->ld, rc, why, sizeof(why));
		if (!is_unreachable(rc)) {
			smk_error_set(err, SMK_ERR_IO, "directory %s: %s: %s", l->s.uris[l->cur],
				      what, why);
			return status_of(rc);
		}
		smk_ldap_log(l, SMK_LOG_WARNING, "directory %s: %s: %s%s", l->s.uris[l->cur], what,
			     why, attempt == 0 ? ": reconnecting" : "");
		conn_close(l);
		if (attempt > 0) {
			smk_error_set(err, SMK_ERR_IO, "directory unavailable: %s: %s: %s",
				      l->s.uris[l->cur], what, why);
			return SMK_LDAP_UNAVAILABLE;
		}
		/* A server that went away is reconnected to at once (a
		 * restart); one that hangs is not tried again this time. */
		if (rc == LDAP_TIMEOUT) {
			skip = l->cur;
			l->cur = (l->cur + 1) % l->s.nuris;
		}
	}
	return SMK_LDAP_UNAVAILABLE;	/* not reached */
}
