/* fuzz-config.c - libFuzzer target for smimekit.conf and the directory
 * settings built from it
 *
 * Input: NUL, then a mail address, then the configuration text; without
 * a NUL the whole input is the configuration and the address is fixed.
 * Every parsed value goes through the [directory] setters and, when the
 * settings are complete, the filter template is expanded for the address.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smk-config.h"
#include "smk-ldap.h"

static bool
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static void
check_config(const struct smk_config *cfg)
{
	for (size_t i = 0; i < cfg->count; i++) {
		const struct smk_config_section *s = &cfg->sections[i];

		FUZZ_CHECK(s->type != NULL && s->type[0] != '\0');
		for (const char *p = s->type; *p != '\0'; p++)
			FUZZ_CHECK(is_key_char(*p));
		/* sections are unique: finding one gives it back */
		FUZZ_CHECK(smk_config_find(cfg, s->type, s->name) == s);
		for (size_t j = 0; j < s->count; j++) {
			const struct smk_config_entry *e = &s->entries[j];
			size_t n = strlen(e->value);
			bool b;
			unsigned u;

			FUZZ_CHECK(e->key[0] != '\0');
			for (const char *p = e->key; *p != '\0'; p++)
				FUZZ_CHECK(is_key_char(*p));
			FUZZ_CHECK(smk_config_entry(s, e->key) == e);
			FUZZ_CHECK(e->line > s->line);
			FUZZ_CHECK(n == 0 || (e->value[0] != ' ' && e->value[n - 1] != ' ' &&
					      e->value[n - 1] != '\r'));
			(void)smk_parse_bool(e->value, &b);
			(void)smk_parse_seconds(e->value, &u);
			(void)smk_parse_uint(e->value, 1000, &u);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *address = "alice@example.org";
	const uint8_t *cfg_data = data;
	size_t cfg_len = size, addr_len = 0;
	char *addr_copy = NULL, *text;
	struct smk_ldap_settings s;
	struct smk_config *cfg;
	struct smk_error err;

	if (size > 0 && data[0] == '\0') {
		const uint8_t *end = memchr(data + 1, '\0', size - 1);

		if (end != NULL) {
			addr_len = (size_t)(end - (data + 1));
			addr_copy = malloc(addr_len + 1);	/* a C string */
			if (addr_copy == NULL)
				abort();
			memcpy(addr_copy, data + 1, addr_len);
			addr_copy[addr_len] = '\0';
			address = addr_copy;
			cfg_data = end + 1;
			cfg_len = size - (size_t)(cfg_data - data);
		}
	}
	text = fuzz_dup(cfg_data, cfg_len);

	smk_error_clear(&err);
	cfg = smk_config_parse(text, cfg_len, "fuzz.conf", &err);
	if (cfg == NULL) {
		FUZZ_CHECK(err.code != SMK_OK && err.msg[0] != '\0');
	} else {
		check_config(cfg);
		smk_ldap_settings_init(&s);
		if (smk_ldap_settings_from_config(&s, cfg, &err) == 0 &&
		    smk_ldap_settings_check(&s, &err) == 0) {
			char *f = smk_ldap_filter_expand(s.filter, address, &err);

			if (f != NULL) {
				/* The address never adds a raw '*', '(' or ')'. */
				size_t raw = 0, tmpl = 0;

				for (const char *p = f; *p != '\0'; p++)
					raw += *p == '*' || *p == '(' || *p == ')';
				for (const char *p = s.filter ? s.filter : SMK_LDAP_DEFAULT_FILTER;
				     *p != '\0'; p++)
					tmpl += *p == '*' || *p == '(' || *p == ')';
				FUZZ_CHECK(raw == tmpl);
				free(f);
			}
		}
		smk_ldap_settings_free(&s);
		smk_config_free(cfg);
	}
	fuzz_free(text, cfg_len);
	free(addr_copy);
	return 0;
}
