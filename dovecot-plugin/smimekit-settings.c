/* smimekit-settings.c - the plugin {} settings of one user */
#include "lib.h"
#include "str.h"
#include "hex-binary.h"
#include "mail-user.h"

#include <openssl/evp.h>

#include "smk-config.h"
#include "smimekit-settings.h"

/* Settings of the directory that are not under smimekit_ldap_*. */
static const char *const cache_names[] = { "cache_ttl", "negative_cache_ttl", "cache_size" };

static void
set_error(struct mail_user *user, struct smimekit_settings *set, const char *fmt, ...)
	ATTR_FORMAT(3, 4);

static void
set_error(struct mail_user *user, struct smimekit_settings *set, const char *fmt, ...)
{
	va_list args;

	if (set->error != NULL)
		return;	/* the first one tells */
	va_start(args, fmt);
	set->error = p_strdup_vprintf(user->pool, fmt, args);
	va_end(args);
}

static const char *
getenv_nonempty(struct mail_user *user, const char *name)
{
	const char *v = mail_user_plugin_getenv(user, name);

	return v == NULL || *v == '\0' ? NULL : v;
}

static bool
read_bool(struct mail_user *user, struct smimekit_settings *set, const char *name)
{
	const char *v = getenv_nonempty(user, name);
	bool b = FALSE;

	if (v != NULL && !smk_parse_bool(v, &b))
		set_error(user, set, "%s = %s: not yes or no", name, v);
	return b;
}

/* One of choices (NULL-terminated); returns its index, 0 for unset. */
static unsigned int
read_choice(struct mail_user *user, struct smimekit_settings *set, const char *name,
	    const char *const *choices)
{
	const char *v = getenv_nonempty(user, name);

	if (v == NULL)
		return 0;
	for (unsigned int i = 0; choices[i] != NULL; i++) {
		if (strcasecmp(v, choices[i]) == 0)
			return i;
	}
	set_error(user, set, "%s = %s: not one of %s", name, v,
		  t_strarray_join(choices, ", "));
	return 0;
}

static void
read_directory(struct mail_user *user, struct smimekit_settings *set)
{
	struct smk_error err;
	const char *v;

	smk_ldap_settings_init(&set->ldap);
	for (const char *const *n = smk_ldap_setting_names; *n != NULL; n++) {
		const char *name = t_strconcat("smimekit_ldap_", *n, NULL);
		v = getenv_nonempty(user, name);
		for (unsigned int i = 0; v == NULL && i < N_ELEMENTS(cache_names); i++) {
			if (strcmp(*n, cache_names[i]) == 0) {
				name = t_strconcat("smimekit_", *n, NULL);
				v = getenv_nonempty(user, name);
			}
		}
		if (v != NULL && smk_ldap_settings_set(&set->ldap, *n, v, &err) < 0)
			set_error(user, set, "%s: %s", name, err.msg);
	}
	set->have_directory = set->ldap.nuris > 0;
	/* Dovecot expands %variables in plugin settings before we see them:
	 * an unescaped %s has already become the service name. */
	v = getenv_nonempty(user, "smimekit_ldap_filter");
	if (v != NULL && strstr(v, "%s") == NULL) {
		set_error(user, set, "smimekit_ldap_filter = %s has no %%s: Dovecot expands "
			  "%%variables in plugin settings, so write %%%%s (and %%%%u, %%%%d) "
			  "for the address", v);
	}
	if (set->have_directory && set->error == NULL &&
	    smk_ldap_settings_check(&set->ldap, &err) < 0)
		set_error(user, set, "smimekit_ldap_*: %s", err.msg);
}

void
smimekit_settings_read(struct mail_user *user, struct smimekit_settings *set)
{
	static const char *const missing[] = { "store", "tempfail", "reject", NULL };
	static const char *const failure[] = { "tempfail", "store", NULL };
	static const char *const encrypt[] = { "delivery", "all", NULL };
	const char *v;

	i_zero(set);
	set->disabled = read_bool(user, set, "smimekit_disabled");
	set->encrypt_all = read_choice(user, set, "smimekit_encrypt", encrypt) == 1;
	set->missing_cert = read_choice(user, set, "smimekit_missing_cert", missing);
	set->lookup_failure = read_choice(user, set, "smimekit_lookup_failure", failure);
	set->protect_headers = read_bool(user, set, "smimekit_protect_headers");
	set->require_trust = read_bool(user, set, "smimekit_require_trust");

	set->cipher = SMK_CIPHER_AES256_CBC;
	if ((v = getenv_nonempty(user, "smimekit_cipher")) != NULL &&
	    !smk_cipher_from_name(v, &set->cipher))
		set_error(user, set, "smimekit_cipher = %s: not aes-256-cbc, aes-128-cbc, "
			  "aes-256-gcm or aes-128-gcm", v);
	set->rsa_padding = SMK_RSA_PKCS1;
	if ((v = getenv_nonempty(user, "smimekit_rsa_padding")) != NULL &&
	    !smk_rsa_padding_from_name(v, &set->rsa_padding))
		set_error(user, set, "smimekit_rsa_padding = %s: not pkcs1 or oaep", v);

	v = getenv_nonempty(user, "smimekit_address");
	set->address = p_strdup(user->pool, v != NULL ? v : user->username);
	set->cert_path = p_strdup(user->pool, getenv_nonempty(user, "smimekit_cert"));
	set->recovery_cert = p_strdup(user->pool, getenv_nonempty(user, "smimekit_recovery_cert"));
	set->trust_anchors = p_strdup(user->pool, getenv_nonempty(user, "smimekit_trust_anchors"));
	if (set->require_trust && set->trust_anchors == NULL)
		set_error(user, set, "smimekit_require_trust = yes needs smimekit_trust_anchors");

	read_directory(user, set);
	if (!set->disabled && !set->have_directory && set->cert_path == NULL)
		set_error(user, set, "neither smimekit_ldap_uri nor smimekit_cert is set: "
			  "no way to find certificates (smimekit_disabled = yes to turn off)");
}

void
smimekit_settings_free(struct smimekit_settings *set)
{
	smk_ldap_settings_free(&set->ldap);
}

const char *
smimekit_settings_directory_key(const struct smimekit_settings *set)
{
	const struct smk_ldap_settings *s = &set->ldap;
	string_t *key = t_str_new(256);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	for (size_t i = 0; i < s->nuris; i++)
		str_printfa(key, "%s ", s->uris[i]);
	str_printfa(key, "|%s|%d|%s|%d|%s|%d|%s|%d|%u|%u|%u|%u|%u|%u", s->base, s->scope,
		    s->filter != NULL ? s->filter : "", s->bind,
		    s->bind_dn != NULL ? s->bind_dn : "", s->starttls ? 1 : 0,
		    s->tls_ca_file != NULL ? s->tls_ca_file : "", s->tls_require_cert ? 1 : 0,
		    s->network_timeout, s->timeout, s->size_limit, s->cache_ttl,
		    s->negative_cache_ttl, s->cache_size);
	/* The password only as a digest: keys are kept for the process life. */
	if (s->bind_password != NULL &&
	    EVP_Digest(s->bind_password, strlen(s->bind_password), digest, &dlen, EVP_sha256(),
		       NULL) == 1)
		str_printfa(key, "|%s", binary_to_hex(digest, dlen));
	return str_c(key);
}

const char *
smimekit_missing_cert_name(enum smimekit_missing_cert m)
{
	switch (m) {
	case SMIMEKIT_MISSING_STORE: return "store";
	case SMIMEKIT_MISSING_TEMPFAIL: return "tempfail";
	case SMIMEKIT_MISSING_REJECT: return "reject";
	}
	i_unreached();
}
