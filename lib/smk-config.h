/* smk-config.h - smimekit.conf, the configuration shared by the command,
 * the PKCS#11 module and the OpenSSL provider
 *
 * An INI-style file:
 *
 *	# comment
 *	[directory]
 *	uri = ldap://ldap1.example.org ldap://ldap2.example.org
 *	base = ou=people,dc=example,dc=org
 *
 *	[token alice]
 *	type = file
 *
 * Sections have a type and an optional name; keys are lower-case words
 * with '_'; values run to the end of the line, blanks trimmed.  Each user
 * of a section checks its keys, so a typo is an error that names the
 * file and line, not a setting silently ignored.
 *
 * Search path: $SMIMEKIT_CONF, else $XDG_CONFIG_HOME/smimekit/smimekit.conf
 * (~/.config/...), else SYSCONFDIR/smimekit/smimekit.conf.
 */
#ifndef SMK_CONFIG_H
#define SMK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "smk-error.h"

#define SMK_CONFIG_FILE_MAX (1024 * 1024)

struct smk_config_entry {
	char *key;
	char *value;
	unsigned line;
};

struct smk_config_section {
	char *type;
	char *name;	/* NULL for [type] */
	unsigned line;
	struct smk_config_entry *entries;
	size_t count;
};

struct smk_config {
	char *path;	/* the file read, or NULL (nothing found) */
	bool private_file;	/* readable by its owner only (no group/other bits) */
	struct smk_config_section *sections;
	size_t count;
};

/* Parses text; `what` names it in errors (usually the path). */
struct smk_config *smk_config_parse(const char *text, size_t len, const char *what,
				    struct smk_error *err);

/* Reads path, which must exist. */
struct smk_config *smk_config_load(const char *path, struct smk_error *err);

/* The first file on the search path.  No file at all gives an empty
 * configuration (path NULL); $SMIMEKIT_CONF naming a missing file is an
 * error. */
struct smk_config *smk_config_load_default(struct smk_error *err);

/* Where smk_config_load_default would look first, for messages (static
 * buffer, not thread-safe). */
const char *smk_config_default_path(void);

void smk_config_free(struct smk_config *cfg);

/* The section [type] (name NULL) or [type name], or NULL. */
const struct smk_config_section *smk_config_find(const struct smk_config *cfg, const char *type,
						 const char *name);

/* The entry for key, or NULL. */
const struct smk_config_entry *smk_config_entry(const struct smk_config_section *s,
						const char *key);

/* Fails, naming file and line, on the first key not in allowed
 * (NULL-terminated). */
int smk_config_check_keys(const struct smk_config *cfg, const struct smk_config_section *s,
			  const char *const *allowed, struct smk_error *err);

/* Value parsers shared by every user of configuration, flags and Dovecot
 * settings.  They return false for a value they do not accept. */
bool smk_parse_bool(const char *value, bool *out);
/* "30", "30s", "5m", "2h", "1d" -> seconds */
bool smk_parse_seconds(const char *value, unsigned *out);
bool smk_parse_uint(const char *value, unsigned max, unsigned *out);

#endif
