/* check-config.c - smimekit.conf parsing and the search path */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "smk-config.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/smk-check-config-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	unsetenv("SMIMEKIT_CONF");
	unsetenv("XDG_CONFIG_HOME");
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path;
	FILE *f;

	ck_assert_int_gt(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static struct smk_config *
parse(const char *text, struct smk_error *err)
{
	return smk_config_parse(text, strlen(text), "test.conf", err);
}

static void
parse_fails(const char *text, const char *msg)
{
	struct smk_error err;

	ck_assert_msg(parse(text, &err) == NULL, "parsed: %s", text);
	ck_assert_msg(strstr(err.msg, msg) != NULL, "'%s' lacks '%s'", err.msg, msg);
}

START_TEST(sections_and_entries)
{
	static const char text[] =
		"# smimekit configuration\n"
		"; another comment\n"
		"\n"
		"[directory]\n"
		"uri = ldap://a ldap://b  \n"
		"  base=dc=example,dc=org\n"
		"filter = (|(mail=%s)(mailLocalAddress=%s))\n"
		"empty =\n"
		"[token alice]\r\n"
		"type = file\r\n"
		"[ token  bob ]\n"
		"type = directory\n";
	struct smk_error err;
	struct smk_config *cfg = parse(text, &err);
	const struct smk_config_section *s;
	const struct smk_config_entry *e;

	ck_assert_msg(cfg != NULL, "%s", err.msg);
	ck_assert_uint_eq(cfg->count, 3);
	s = smk_config_find(cfg, "directory", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->line, 4);
	e = smk_config_entry(s, "uri");
	ck_assert_str_eq(e->value, "ldap://a ldap://b");
	ck_assert_uint_eq(e->line, 5);
	ck_assert_str_eq(smk_config_entry(s, "base")->value, "dc=example,dc=org");
	ck_assert_str_eq(smk_config_entry(s, "filter")->value, "(|(mail=%s)(mailLocalAddress=%s))");
	ck_assert_str_eq(smk_config_entry(s, "empty")->value, "");
	ck_assert_ptr_null(smk_config_entry(s, "missing"));

	s = smk_config_find(cfg, "token", "alice");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(smk_config_entry(s, "type")->value, "file");	/* CR trimmed */
	ck_assert_ptr_nonnull(smk_config_find(cfg, "token", "bob"));
	ck_assert_ptr_null(smk_config_find(cfg, "token", NULL));
	ck_assert_ptr_null(smk_config_find(cfg, "token", "carol"));
	smk_config_free(cfg);
}
END_TEST

START_TEST(errors_name_the_line)
{
	parse_fails("uri = x\n", "test.conf:1: setting outside a section");
	parse_fails("[directory]\nuri\n", "test.conf:2: expected 'key = value'");
	parse_fails("[directory]\nUri = x\n", "test.conf:2: 'Uri' is not a setting name");
	parse_fails("[directory]\nuri = a\nuri = b\n", "test.conf:3: 'uri' is set twice");
	parse_fails("[directory\n", "test.conf:1: section header without ']'");
	parse_fails("[directory] x\n", "test.conf:1: text after the section header");
	parse_fails("[]\n", "test.conf:1: section without a type");
	parse_fails("[directory]\n[directory]\n", "test.conf:2: section [directory] appears twice");
	parse_fails("[token a b]\n", "has blanks");
}
END_TEST

START_TEST(nul_byte_refused)
{
	static const char text[] = "[directory]\nuri = a\0b\n";
	struct smk_error err;

	ck_assert_ptr_null(smk_config_parse(text, sizeof(text) - 1, "x.conf", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "x.conf: contains a NUL byte"));
}
END_TEST

START_TEST(check_keys)
{
	static const char *const allowed[] = { "uri", "base", NULL };
	struct smk_error err;
	struct smk_config *cfg = parse("[directory]\nuri = a\nbsae = typo\n", &err);

	ck_assert_int_eq(smk_config_check_keys(cfg, smk_config_find(cfg, "directory", NULL),
					       allowed, &err), -1);
	ck_assert_str_eq(err.msg, "configuration:3: unknown setting 'bsae' in [directory]");
	smk_config_free(cfg);
}
END_TEST

START_TEST(load_file_and_mode)
{
	char *priv = write_file("priv.conf", "[directory]\nuri = ldap://x\n", 0600);
	char *pub = write_file("pub.conf", "[directory]\nuri = ldap://x\n", 0644);
	struct smk_error err;
	struct smk_config *cfg;

	cfg = smk_config_load(priv, &err);
	ck_assert_msg(cfg != NULL, "%s", err.msg);
	ck_assert_str_eq(cfg->path, priv);
	ck_assert(cfg->private_file);
	smk_config_free(cfg);

	cfg = smk_config_load(pub, &err);
	ck_assert(!cfg->private_file);
	smk_config_free(cfg);

	ck_assert_ptr_null(smk_config_load(dir, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
	free(priv);
	free(pub);
}
END_TEST

START_TEST(search_path)
{
	char *path = write_file("env.conf", "[directory]\nbase = from-env\n", 0600);
	char xdg[PATH_MAX + 32];
	struct smk_error err;
	struct smk_config *cfg;

	/* $SMIMEKIT_CONF wins and must exist. */
	setenv("SMIMEKIT_CONF", path, 1);
	cfg = smk_config_load_default(&err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(smk_config_entry(smk_config_find(cfg, "directory", NULL), "base")->value,
			 "from-env");
	smk_config_free(cfg);
	setenv("SMIMEKIT_CONF", "/nonexistent/smimekit.conf", 1);
	ck_assert_ptr_null(smk_config_load_default(&err));
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/smimekit.conf: cannot open"));
	unsetenv("SMIMEKIT_CONF");

	/* Then $XDG_CONFIG_HOME/smimekit/smimekit.conf. */
	snprintf(xdg, sizeof(xdg), "%s/smimekit", dir);
	ck_assert_int_eq(mkdir(xdg, 0700), 0);
	free(write_file("smimekit/smimekit.conf", "[directory]\nbase = from-xdg\n", 0600));
	setenv("XDG_CONFIG_HOME", dir, 1);
	cfg = smk_config_load_default(&err);
	ck_assert_str_eq(smk_config_entry(smk_config_find(cfg, "directory", NULL), "base")->value,
			 "from-xdg");
	ck_assert_str_eq(smk_config_default_path(), cfg->path);
	smk_config_free(cfg);

	/* Nothing anywhere: an empty configuration, not an error. */
	snprintf(xdg, sizeof(xdg), "%s/empty", dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	cfg = smk_config_load_default(&err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(cfg->count, 0);
	if (access(SMK_SYSCONFDIR "/smimekit/smimekit.conf", F_OK) != 0)
		ck_assert_ptr_null(cfg->path);
	smk_config_free(cfg);
	free(path);
}
END_TEST

START_TEST(value_parsers)
{
	bool b;
	unsigned u;

	ck_assert(smk_parse_bool("yes", &b) && b);
	ck_assert(smk_parse_bool("Off", &b) && !b);
	ck_assert(!smk_parse_bool("maybe", &b));
	ck_assert(smk_parse_seconds("5", &u) && u == 5);
	ck_assert(smk_parse_seconds("30s", &u) && u == 30);
	ck_assert(smk_parse_seconds("5m", &u) && u == 300);
	ck_assert(smk_parse_seconds("2h", &u) && u == 7200);
	ck_assert(smk_parse_seconds("1d", &u) && u == 86400);
	ck_assert(!smk_parse_seconds("5x", &u));
	ck_assert(!smk_parse_seconds("-5", &u));
	ck_assert(!smk_parse_seconds("", &u));
	ck_assert(!smk_parse_seconds("99999999999999999999", &u));
	ck_assert(!smk_parse_seconds("5000000000d", &u));
	ck_assert(smk_parse_uint("42", 100, &u) && u == 42);
	ck_assert(!smk_parse_uint("101", 100, &u));
	ck_assert(!smk_parse_uint("4 2", 100, &u));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sections_and_entries);
	tcase_add_test(tc, errors_name_the_line);
	tcase_add_test(tc, nul_byte_refused);
	tcase_add_test(tc, check_keys);
	tcase_add_test(tc, load_file_and_mode);
	tcase_add_test(tc, search_path);
	tcase_add_test(tc, value_parsers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
