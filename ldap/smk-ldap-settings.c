/* smk-ldap-settings.c - directory settings: defaults, parsing, checks */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "smk-file.h"
#include "smk-ldap.h"

const char *const smk_ldap_setting_names[] = {
	"uri", "base", "scope", "filter", "bind", "bind_dn", "bind_password",
	"bind_password_file", "starttls", "tls_ca_file", "tls_require_cert",
	"network_timeout", "timeout", "size_limit", "cache_ttl", "negative_cache_ttl",
	"cache_size", NULL
};

#define PASSWORD_MAX 1024

void
smk_ldap_settings_init(struct smk_ldap_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->scope = LDAP_SCOPE_SUBTREE;
	s->bind = SMK_LDAP_BIND_ANONYMOUS;
	s->tls_require_cert = true;
	s->network_timeout = SMK_LDAP_DEFAULT_TIMEOUT;
	s->timeout = SMK_LDAP_DEFAULT_TIMEOUT;
	s->size_limit = 10;
	s->cache_ttl = SMK_LDAP_DEFAULT_CACHE_TTL;
	s->negative_cache_ttl = SMK_LDAP_DEFAULT_NEGATIVE_CACHE_TTL;
	s->cache_size = SMK_LDAP_DEFAULT_CACHE_SIZE;
}

static void
free_uris(struct smk_ldap_settings *s)
{
	for (size_t i = 0; i < s->nuris; i++)
		free(s->uris[i]);
	free(s->uris);
	s->uris = NULL;
	s->nuris = 0;
}

static void
free_password(struct smk_ldap_settings *s)
{
	if (s->bind_password != NULL) {
		OPENSSL_cleanse(s->bind_password, strlen(s->bind_password));
		free(s->bind_password);
		s->bind_password = NULL;
	}
}

void
smk_ldap_settings_free(struct smk_ldap_settings *s)
{
	free_uris(s);
	free(s->base);
	free(s->filter);
	free(s->bind_dn);
	free_password(s);
	free(s->tls_ca_file);
	memset(s, 0, sizeof(*s));
}

/* Replaces *dst with a copy of value. */
static int
set_str(char **dst, const char *value, struct smk_error *err)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	free(*dst);
	*dst = copy;
	return 0;
}

/* "ldap://a ldap://b" or "ldap://a, ldap://b" */
static int
set_uris(struct smk_ldap_settings *s, const char *value, struct smk_error *err)
{
	char *copy = strdup(value), *save = NULL;
	char **uris = NULL;
	size_t n = 0;

	if (copy == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	for (char *tok = strtok_r(copy, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		char **grown;

		if (!ldap_is_ldap_url(tok) && !ldap_is_ldaps_url(tok) && !ldap_is_ldapi_url(tok)) {
			smk_error_set(err, SMK_ERR_INVALID,
				      "uri: '%s' is not an ldap://, ldaps:// or ldapi:// URI", tok);
			goto fail;
		}
		grown = reallocarray(uris, n + 1, sizeof(*uris));
		if (grown == NULL || (grown[n] = strdup(tok)) == NULL) {
			if (grown != NULL)
				uris = grown;
			smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
			goto fail;
		}
		uris = grown;
		n++;
	}
	free(copy);
	if (n == 0)
		return smk_error_set(err, SMK_ERR_INVALID, "uri: no URI given");
	free_uris(s);
	s->uris = uris;
	s->nuris = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(uris[i]);
	free(uris);
	free(copy);
	return -1;
}

static int
read_password_file(struct smk_ldap_settings *s, const char *path, struct smk_error *err)
{
	struct smk_error e2;
	size_t len = 0;
	char *buf = smk_file_read(path, PASSWORD_MAX + 2, "password file", SMK_ERR_INVALID, &len, &e2);
	int ret = -1;

	if (buf == NULL)
		return smk_error_set(err, e2.code, "bind_password_file: %s", e2.msg);
	buf[strcspn(buf, "\r\n")] = '\0';	/* the first line */
	if (buf[0] == '\0') {
		smk_error_set(err, SMK_ERR_INVALID, "bind_password_file: %s: empty", path);
	} else {
		free_password(s);
		s->bind_password = strdup(buf);
		ret = s->bind_password ? 0 : smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

static int
set_seconds(unsigned *dst, const char *name, const char *value, bool zero_ok,
	    struct smk_error *err)
{
	if (!smk_parse_seconds(value, dst) || (!zero_ok && *dst == 0))
		return smk_error_set(err, SMK_ERR_INVALID,
				     "%s: '%s' is not a duration (like 5, 30s, 5m, 1h)", name, value);
	return 0;
}

int
smk_ldap_settings_set(struct smk_ldap_settings *s, const char *name, const char *value,
		      struct smk_error *err)
{
	bool b;

	if (strcmp(name, "uri") == 0)
		return set_uris(s, value, err);
	if (strcmp(name, "base") == 0)
		return set_str(&s->base, value, err);
	if (strcmp(name, "filter") == 0)
		return set_str(&s->filter, value, err);
	if (strcmp(name, "bind_dn") == 0) {
		if (s->bind == SMK_LDAP_BIND_ANONYMOUS)
			s->bind = SMK_LDAP_BIND_SIMPLE;	/* a DN means a simple bind */
		return set_str(&s->bind_dn, value, err);
	}
	if (strcmp(name, "bind_password") == 0) {
		free_password(s);
		s->bind_password = strdup(value);
		return s->bind_password ? 0 : smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	if (strcmp(name, "bind_password_file") == 0)
		return read_password_file(s, value, err);
	if (strcmp(name, "tls_ca_file") == 0)
		return set_str(&s->tls_ca_file, value, err);
	if (strcmp(name, "scope") == 0) {
		if (strcmp(value, "sub") == 0 || strcmp(value, "subtree") == 0)
			s->scope = LDAP_SCOPE_SUBTREE;
		else if (strcmp(value, "one") == 0 || strcmp(value, "onelevel") == 0)
			s->scope = LDAP_SCOPE_ONELEVEL;
		else if (strcmp(value, "base") == 0)
			s->scope = LDAP_SCOPE_BASE;
		else
			return smk_error_set(err, SMK_ERR_INVALID,
					     "scope: '%s' is not sub, one or base", value);
		return 0;
	}
	if (strcmp(name, "bind") == 0) {
		if (strcmp(value, "anonymous") == 0 || strcmp(value, "none") == 0)
			s->bind = SMK_LDAP_BIND_ANONYMOUS;
		else if (strcmp(value, "simple") == 0)
			s->bind = SMK_LDAP_BIND_SIMPLE;
		else if (strcmp(value, "sasl-external") == 0 || strcmp(value, "external") == 0)
			s->bind = SMK_LDAP_BIND_SASL_EXTERNAL;
		else
			return smk_error_set(err, SMK_ERR_INVALID,
					     "bind: '%s' is not anonymous, simple or sasl-external",
					     value);
		return 0;
	}
	if (strcmp(name, "starttls") == 0 || strcmp(name, "tls_require_cert") == 0) {
		if (!smk_parse_bool(value, &b))
			return smk_error_set(err, SMK_ERR_INVALID, "%s: '%s' is not yes or no", name,
					     value);
		*(strcmp(name, "starttls") == 0 ? &s->starttls : &s->tls_require_cert) = b;
		return 0;
	}
	if (strcmp(name, "network_timeout") == 0)
		return set_seconds(&s->network_timeout, name, value, false, err);
	if (strcmp(name, "timeout") == 0)
		return set_seconds(&s->timeout, name, value, false, err);
	if (strcmp(name, "cache_ttl") == 0)
		return set_seconds(&s->cache_ttl, name, value, true, err);
	if (strcmp(name, "negative_cache_ttl") == 0)
		return set_seconds(&s->negative_cache_ttl, name, value, true, err);
	if (strcmp(name, "size_limit") == 0 || strcmp(name, "cache_size") == 0) {
		unsigned *dst = strcmp(name, "size_limit") == 0 ? &s->size_limit : &s->cache_size;

		if (!smk_parse_uint(value, 10000000, dst) || (*dst == 0 && dst == &s->size_limit))
			return smk_error_set(err, SMK_ERR_INVALID, "%s: '%s' is not a number", name,
					     value);
		return 0;
	}
	return smk_error_set(err, SMK_ERR_INVALID, "unknown directory setting '%s'", name);
}

int
smk_ldap_settings_from_config(struct smk_ldap_settings *s, const struct smk_config *cfg,
			      struct smk_error *err)
{
	const struct smk_config_section *sec = smk_config_find(cfg, "directory", NULL);
	const char *file = cfg && cfg->path ? cfg->path : "configuration";

	if (sec == NULL)
		return 0;
	if (smk_config_check_keys(cfg, sec, smk_ldap_setting_names, err) < 0)
		return -1;
	for (size_t i = 0; i < sec->count; i++) {
		const struct smk_config_entry *e = &sec->entries[i];
		struct smk_error e2;

		if (strcmp(e->key, "bind_password") == 0 && cfg->path != NULL && !cfg->private_file)
			return smk_error_set(err, SMK_ERR_INVALID,
					     "%s:%u: bind_password in a file others can read: "
					     "use bind_password_file, or chmod go= %s",
					     file, e->line, file);
		if (smk_ldap_settings_set(s, e->key, e->value, &e2) < 0)
			return smk_error_set(err, e2.code, "%s:%u: %s", file, e->line, e2.msg);
	}
	return 0;
}

/* The filter template has at least one substitution and only known ones. */
static int
check_filter(const char *f, struct smk_error *err)
{
	int subst = 0, depth = 0;

	for (const char *p = f; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			break;
		if (*p != '%')
			continue;
		p++;
		if (*p == 's' || *p == 'u' || *p == 'd')
			subst++;
		else if (*p != '%')
			return smk_error_set(err, SMK_ERR_INVALID,
					     "filter: '%%%c' is not %%s, %%u, %%d or %%%%",
					     *p ? *p : ' ');
	}
	if (depth != 0 || f[0] != '(')
		return smk_error_set(err, SMK_ERR_INVALID,
				     "filter: '%s' is not a parenthesised LDAP filter", f);
	if (subst == 0)
		return smk_error_set(err, SMK_ERR_INVALID,
				     "filter: '%s' has no %%s (the address)", f);
	return 0;
}

int
smk_ldap_settings_check(const struct smk_ldap_settings *s, struct smk_error *err)
{
	if (s->nuris == 0)
		return smk_error_set(err, SMK_ERR_INVALID, "no directory uri is configured");
	if (s->base == NULL || s->base[0] == '\0')
		return smk_error_set(err, SMK_ERR_INVALID, "no directory base is configured");
	if (check_filter(s->filter ? s->filter : SMK_LDAP_DEFAULT_FILTER, err) < 0)
		return -1;
	if (s->bind == SMK_LDAP_BIND_SIMPLE && (s->bind_dn == NULL || s->bind_password == NULL))
		return smk_error_set(err, SMK_ERR_INVALID,
				     "a simple bind needs bind_dn and bind_password(_file)");
	if (s->starttls) {
		for (size_t i = 0; i < s->nuris; i++) {
			if (!ldap_is_ldap_url(s->uris[i]) || ldap_is_ldaps_url(s->uris[i]))
				return smk_error_set(err, SMK_ERR_INVALID,
						     "starttls is for ldap:// URIs, not %s", s->uris[i]);
		}
	}
	return 0;
}
