/* check-ldap-settings.c - directory settings and RFC 4515 filter escaping
 * (no server needed; tests/ldap/ has those against slapd) */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <ldap.h>

#include "smk-ldap.h"

static void
expect_filter(const char *tmpl, const char *address, const char *want)
{
	struct smk_error err;
	char *f = smk_ldap_filter_expand(tmpl, address, &err);

	ck_assert_msg(f != NULL, "%s: %s", address, err.msg);
	ck_assert_str_eq(f, want);
	free(f);
}

START_TEST(filter_escaping)
{
	expect_filter(NULL, "alice@example.org", "(mail=alice@example.org)");
	/* RFC 4515: * ( ) \ are escaped, so these match only themselves */
	expect_filter(NULL, "*@example.org", "(mail=\\2A@example.org)");
	expect_filter(NULL, "\"a)(uid=*\"@example.org", "(mail=\"a\\29\\28uid=\\2A\"@example.org)");
	expect_filter(NULL, "back\\slash@example.org", "(mail=back\\5Cslash@example.org)");
	expect_filter("(|(mail=%s)(mailLocalAddress=%s))", "a*b@example.org",
		      "(|(mail=a\\2Ab@example.org)(mailLocalAddress=a\\2Ab@example.org))");
	expect_filter("(&(uid=%u)(o=%d)(x=100%%))", "al*ce@Example.ORG",
		      "(&(uid=al\\2Ace)(o=Example.ORG)(x=100%))");
	/* no '@': an empty domain, the whole address as local part (found by
	 * fuzz-config: an empty value once reached strndup(NULL)) */
	expect_filter("(&(uid=%u)(o=%d))", "nodomain", "(&(uid=nodomain)(o=))");
	expect_filter("(&(uid=%u)(o=%d))", "@", "(&(uid=)(o=))");
	/* 8-bit (UTF-8) bytes are escaped too; the server matches the octets */
	expect_filter(NULL, "j\xc3\xb6rg@example.org", "(mail=j\\C3\\B6rg@example.org)");
}
END_TEST

START_TEST(filter_refusals)
{
	struct smk_error err;
	char big[600];

	ck_assert_ptr_null(smk_ldap_filter_expand(NULL, "", &err));
	ck_assert_ptr_null(smk_ldap_filter_expand(NULL, "a\nb@example.org", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "control character"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_ptr_null(smk_ldap_filter_expand(NULL, big, &err));
	ck_assert_ptr_null(smk_ldap_filter_expand("(mail=%x)", "a@b", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "'%x'"));
}
END_TEST

START_TEST(setters)
{
	struct smk_ldap_settings s;
	struct smk_error err;

	smk_ldap_settings_init(&s);
	ck_assert_uint_eq(s.timeout, 5);
	ck_assert_uint_eq(s.network_timeout, 5);
	ck_assert_uint_eq(s.cache_ttl, 300);
	ck_assert_uint_eq(s.negative_cache_ttl, 60);
	ck_assert_int_eq(s.scope, LDAP_SCOPE_SUBTREE);
	ck_assert(s.tls_require_cert);

	ck_assert_int_eq(smk_ldap_settings_set(&s, "uri", "ldap://a:389, ldapi:///  ldaps://b", &err), 0);
	ck_assert_uint_eq(s.nuris, 3);
	ck_assert_str_eq(s.uris[1], "ldapi:///");
	ck_assert_int_eq(smk_ldap_settings_set(&s, "uri", "http://x", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not an ldap://"));
	ck_assert_uint_eq(s.nuris, 3);	/* unchanged */

	ck_assert_int_eq(smk_ldap_settings_set(&s, "scope", "one", &err), 0);
	ck_assert_int_eq(s.scope, LDAP_SCOPE_ONELEVEL);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "scope", "deep", &err), -1);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "timeout", "2m", &err), 0);
	ck_assert_uint_eq(s.timeout, 120);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "timeout", "0", &err), -1);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "cache_ttl", "0", &err), 0);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "starttls", "maybe", &err), -1);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "bind", "kerberos", &err), -1);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "size_limit", "0", &err), -1);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "nonsense", "1", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown directory setting 'nonsense'"));

	/* a bind DN means a simple bind */
	ck_assert_int_eq(s.bind, SMK_LDAP_BIND_ANONYMOUS);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "bind_dn", "cn=x", &err), 0);
	ck_assert_int_eq(s.bind, SMK_LDAP_BIND_SIMPLE);
	smk_ldap_settings_free(&s);
}
END_TEST

START_TEST(check)
{
	struct smk_ldap_settings s;
	struct smk_error err;

	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no directory uri"));
	smk_ldap_settings_set(&s, "uri", "ldap://x", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no directory base"));
	smk_ldap_settings_set(&s, "base", "dc=example,dc=org", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), 0);

	smk_ldap_settings_set(&s, "filter", "(uid=alice)", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "has no %s"));
	smk_ldap_settings_set(&s, "filter", "mail=%s", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	smk_ldap_settings_set(&s, "filter", "(mail=%s", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	smk_ldap_settings_set(&s, "filter", "(mail=%s)", &err);

	smk_ldap_settings_set(&s, "bind_dn", "cn=admin", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "needs bind_dn and bind_password"));
	smk_ldap_settings_set(&s, "bind_password", "pw", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), 0);

	smk_ldap_settings_set(&s, "uri", "ldaps://x", &err);
	smk_ldap_settings_set(&s, "starttls", "yes", &err);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "starttls"));
	smk_ldap_settings_free(&s);
}
END_TEST

static char tmpdir[PATH_MAX];

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path;
	FILE *f;

	ck_assert_int_gt(asprintf(&path, "%s/%s", tmpdir, name), 0);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

START_TEST(from_config)
{
	struct smk_ldap_settings s;
	struct smk_error err;
	struct smk_config *cfg;
	char *pw, *conf, *text = NULL;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/smk-check-ldapset-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	pw = write_file("pw", "s3cret\nignored second line\n", 0600);
	ck_assert_int_gt(asprintf(&text, "[directory]\nuri = ldap://a ldap://b\nbase = dc=x\n"
				  "bind_dn = cn=reader,dc=x\nbind_password_file = %s\ntimeout = 3\n", pw), 0);
	conf = write_file("ok.conf", text, 0644);
	cfg = smk_config_load(conf, &err);
	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_from_config(&s, cfg, &err), 0);
	ck_assert_uint_eq(s.nuris, 2);
	ck_assert_str_eq(s.bind_password, "s3cret");
	ck_assert_uint_eq(s.timeout, 3);
	ck_assert_int_eq(smk_ldap_settings_check(&s, &err), 0);
	smk_ldap_settings_free(&s);
	smk_config_free(cfg);
	free(conf);
	free(text);

	/* A password in a world-readable file is refused, naming the line. */
	conf = write_file("open.conf", "[directory]\nuri = ldap://a\nbind_password = x\n", 0644);
	cfg = smk_config_load(conf, &err);
	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_from_config(&s, cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "open.conf:3: bind_password in a file others can read"));
	smk_ldap_settings_free(&s);
	smk_config_free(cfg);
	chmod(conf, 0600);
	cfg = smk_config_load(conf, &err);
	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_from_config(&s, cfg, &err), 0);
	smk_ldap_settings_free(&s);
	smk_config_free(cfg);
	free(conf);

	/* Typos and bad values name file and line. */
	conf = write_file("typo.conf", "[directory]\nuri = ldap://a\ntimeot = 3\n", 0600);
	cfg = smk_config_load(conf, &err);
	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_from_config(&s, cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "typo.conf:3: unknown setting 'timeot'"));
	smk_ldap_settings_free(&s);
	smk_config_free(cfg);
	free(conf);
	conf = write_file("bad.conf", "[directory]\ntimeout = soon\n", 0600);
	cfg = smk_config_load(conf, &err);
	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_from_config(&s, cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "bad.conf:2: timeout: 'soon' is not a duration"));
	smk_ldap_settings_free(&s);
	smk_config_free(cfg);
	free(conf);

	/* Missing or empty password files. */
	smk_ldap_settings_init(&s);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "bind_password_file", "/nonexistent", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent: cannot open"));
	free(pw);
	pw = write_file("empty", "\n", 0600);
	ck_assert_int_eq(smk_ldap_settings_set(&s, "bind_password_file", pw, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
	smk_ldap_settings_free(&s);
	free(pw);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

START_TEST(names_are_settable)
{
	/* Every advertised name is accepted by the setter. */
	struct smk_ldap_settings s;
	struct smk_error err;

	smk_ldap_settings_init(&s);
	for (const char *const *n = smk_ldap_setting_names; *n != NULL; n++) {
		int r = smk_ldap_settings_set(&s, *n, "1", &err);

		ck_assert_msg(r == 0 || strstr(err.msg, "unknown directory setting") == NULL,
			      "%s: %s", *n, err.msg);
	}
	smk_ldap_settings_free(&s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ldap-settings");
	TCase *tc = tcase_create("settings");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, filter_escaping);
	tcase_add_test(tc, filter_refusals);
	tcase_add_test(tc, setters);
	tcase_add_test(tc, check);
	tcase_add_test(tc, from_config);
	tcase_add_test(tc, names_are_settable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
