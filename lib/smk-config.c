/* smk-config.c - smimekit.conf */
#include "config.h"

#include "smk-config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "smk-file.h"

#ifndef SMK_SYSCONFDIR
#define SMK_SYSCONFDIR "/etc"
#endif

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* [a, b) without leading and trailing blanks, as a new string. */
static char *
dup_trimmed(const char *a, const char *b)
{
	while (a < b && is_blank(*a))
		a++;
	while (b > a && is_blank(b[-1]))
		b--;
	return strndup(a, (size_t)(b - a));
}

static void
section_free(struct smk_config_section *s)
{
	for (size_t i = 0; i < s->count; i++) {
		free(s->entries[i].key);
		if (s->entries[i].value != NULL) {
			/* values may be secrets (bind_password) */
			OPENSSL_cleanse(s->entries[i].value, strlen(s->entries[i].value));
			free(s->entries[i].value);
		}
	}
	free(s->entries);
	free(s->type);
	free(s->name);
}

void
smk_config_free(struct smk_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->count; i++)
		section_free(&cfg->sections[i]);
	free(cfg->sections);
	free(cfg->path);
	free(cfg);
}

static int
parse_section(struct smk_config *cfg, const char *p, const char *end, unsigned line,
	      const char *what, struct smk_error *err)
{
	const char *close = memchr(p, ']', (size_t)(end - p));
	struct smk_config_section *s, *grown;
	const char *q, *tail;
	char *type, *name = NULL;

	if (close == NULL)
		return smk_error_set(err, SMK_ERR_INVALID, "%s:%u: section header without ']'",
				     what, line);
	for (tail = close + 1; tail < end; tail++) {
		if (!is_blank(*tail))
			return smk_error_set(err, SMK_ERR_INVALID,
					     "%s:%u: text after the section header", what, line);
	}
	p++;	/* '[' */
	while (p < close && is_blank(*p))
		p++;
	for (q = p; q < close && is_key_char(*q); q++)
		;
	if (q == p)
		return smk_error_set(err, SMK_ERR_INVALID, "%s:%u: section without a type", what, line);
	type = strndup(p, (size_t)(q - p));
	while (q < close && is_blank(*q))
		q++;
	if (q < close) {
		name = dup_trimmed(q, close);
		if (name != NULL && strpbrk(name, " \t") != NULL) {
			smk_error_set(err, SMK_ERR_INVALID, "%s:%u: section name '%s' has blanks",
				      what, line, name);
			free(type);
			free(name);
			return -1;
		}
	}
	if (type == NULL || (q < close && name == NULL)) {
		free(type);
		free(name);
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	if (smk_config_find(cfg, type, name) != NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: section [%s%s%s] appears twice", what,
			      line, type, name ? " " : "", name ? name : "");
		free(type);
		free(name);
		return -1;
	}
	grown = reallocarray(cfg->sections, cfg->count + 1, sizeof(*grown));
	if (grown == NULL) {
		free(type);
		free(name);
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	cfg->sections = grown;
	s = &cfg->sections[cfg->count++];
	memset(s, 0, sizeof(*s));
	s->type = type;
	s->name = name;
	s->line = line;
	return 0;
}

static int
parse_entry(struct smk_config *cfg, const char *p, const char *end, unsigned line,
	    const char *what, struct smk_error *err)
{
	struct smk_config_section *s;
	struct smk_config_entry *e, *grown;
	const char *eq = memchr(p, '=', (size_t)(end - p)), *q;
	char *key;

	if (cfg->count == 0)
		return smk_error_set(err, SMK_ERR_INVALID,
				     "%s:%u: setting outside a section (start with [directory], ...)",
				     what, line);
	if (eq == NULL)
		return smk_error_set(err, SMK_ERR_INVALID, "%s:%u: expected 'key = value'", what, line);
	key = dup_trimmed(p, eq);
	if (key == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	for (q = key; *q != '\0' && is_key_char(*q); q++)
		;
	if (*key == '\0' || *q != '\0') {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: '%s' is not a setting name", what, line, key);
		free(key);
		return -1;
	}
	s = &cfg->sections[cfg->count - 1];
	if (smk_config_entry(s, key) != NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "%s:%u: '%s' is set twice in [%s]", what, line,
			      key, s->type);
		free(key);
		return -1;
	}
	grown = reallocarray(s->entries, s->count + 1, sizeof(*grown));
	if (grown == NULL) {
		free(key);
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	s->entries = grown;
	e = &s->entries[s->count];
	e->key = key;
	e->value = dup_trimmed(eq + 1, end);
	e->line = line;
	if (e->value == NULL) {
		free(key);
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	}
	s->count++;
	return 0;
}

struct smk_config *
smk_config_parse(const char *text, size_t len, const char *what, struct smk_error *err)
{
	struct smk_config *cfg = calloc(1, sizeof(*cfg));
	const char *p = text, *end = text + len;
	unsigned line = 0;

	if (cfg == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		smk_error_set(err, SMK_ERR_INVALID, "%s: contains a NUL byte: not a text file", what);
		goto fail;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *q = p;

		line++;
		while (q < eol && is_blank(*q))
			q++;
		if (q == eol || *q == '#' || *q == ';') {
			/* blank or comment */
		} else if (*q == '[') {
			if (parse_section(cfg, q, eol, line, what, err) < 0)
				goto fail;
		} else if (parse_entry(cfg, q, eol, line, what, err) < 0) {
			goto fail;
		}
		p = nl ? nl + 1 : end;
	}
	return cfg;
fail:
	smk_config_free(cfg);
	return NULL;
}

struct smk_config *
smk_config_load(const char *path, struct smk_error *err)
{
	struct smk_config *cfg;
	struct stat st;
	size_t len = 0;
	char *buf = smk_file_read(path, SMK_CONFIG_FILE_MAX, "configuration file", SMK_ERR_INVALID,
				  &len, err);

	if (buf == NULL)
		return NULL;
	cfg = smk_config_parse(buf, len, path, err);
	OPENSSL_cleanse(buf, len);	/* may hold bind_password */
	free(buf);
	if (cfg == NULL)
		return NULL;
	cfg->path = strdup(path);
	/* Who may read it, for settings that hold secrets. */
	cfg->private_file = stat(path, &st) == 0 && (st.st_mode & 077) == 0;
	if (cfg->path == NULL) {
		smk_config_free(cfg);
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return cfg;
}

/* Candidate i of the search path (i = 0, 1, 2) into buf; false if none. */
static bool
search_path(int i, char *buf, size_t len)
{
	const char *env, *home;
	int n = -1;

	switch (i) {
	case 0:
		env = getenv("SMIMEKIT_CONF");
		if (env == NULL || *env == '\0')
			return false;
		n = snprintf(buf, len, "%s", env);
		break;
	case 1:
		env = getenv("XDG_CONFIG_HOME");
		home = getenv("HOME");
		if (env != NULL && *env == '/')
			n = snprintf(buf, len, "%s/smimekit/smimekit.conf", env);
		else if (home != NULL && *home == '/')
			n = snprintf(buf, len, "%s/.config/smimekit/smimekit.conf", home);
		break;
	case 2:
		n = snprintf(buf, len, "%s/smimekit/smimekit.conf", SMK_SYSCONFDIR);
		break;
	}
	return n > 0 && (size_t)n < len;
}

const char *
smk_config_default_path(void)
{
	static char buf[PATH_MAX];

	for (int i = 0; i < 3; i++) {
		if (search_path(i, buf, sizeof(buf)) && (i == 0 || access(buf, F_OK) == 0))
			return buf;
	}
	search_path(2, buf, sizeof(buf));
	return buf;
}

struct smk_config *
smk_config_load_default(struct smk_error *err)
{
	char path[PATH_MAX];
	struct smk_config *cfg;

	if (search_path(0, path, sizeof(path)))
		return smk_config_load(path, err);	/* named explicitly: must exist */
	for (int i = 1; i < 3; i++) {
		if (search_path(i, path, sizeof(path)) && access(path, F_OK) == 0)
			return smk_config_load(path, err);
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
	return cfg;
}

static bool
str_eq_opt(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

const struct smk_config_section *
smk_config_find(const struct smk_config *cfg, const char *type, const char *name)
{
	for (size_t i = 0; cfg != NULL && i < cfg->count; i++) {
		if (strcmp(cfg->sections[i].type, type) == 0 && str_eq_opt(cfg->sections[i].name, name))
			return &cfg->sections[i];
	}
	return NULL;
}

const struct smk_config_entry *
smk_config_entry(const struct smk_config_section *s, const char *key)
{
	for (size_t i = 0; s != NULL && i < s->count; i++) {
		if (strcmp(s->entries[i].key, key) == 0)
			return &s->entries[i];
	}
	return NULL;
}

int
smk_config_check_keys(const struct smk_config *cfg, const struct smk_config_section *s,
		      const char *const *allowed, struct smk_error *err)
{
	for (size_t i = 0; s != NULL && i < s->count; i++) {
		bool known = false;

		for (const char *const *a = allowed; *a != NULL && !known; a++)
			known = strcmp(*a, s->entries[i].key) == 0;
		if (!known)
			return smk_error_set(err, SMK_ERR_INVALID, "%s:%u: unknown setting '%s' in [%s]",
					     cfg && cfg->path ? cfg->path : "configuration",
					     s->entries[i].line, s->entries[i].key, s->type);
	}
	return 0;
}

bool
smk_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

bool
smk_parse_uint(const char *v, unsigned max, unsigned *out)
{
	unsigned long n;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return false;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return false;
	*out = (unsigned)n;
	return true;
}

bool
smk_parse_seconds(const char *v, unsigned *out)
{
	unsigned long n, mult = 1;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return false;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0)
		return false;
	switch (*end) {
	case '\0': break;
	case 's': mult = 1; end++; break;
	case 'm': mult = 60; end++; break;
	case 'h': mult = 3600; end++; break;
	case 'd': mult = 86400; end++; break;
	default: return false;
	}
	if (*end != '\0' || n > UINT_MAX / mult)
		return false;
	*out = (unsigned)(n * mult);
	return true;
}
