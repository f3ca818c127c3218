/* ldap-probe.c - a long-lived ldap/ client for the shell tests
 *
 * Usage: ldap-probe SETTING=VALUE...   (the [directory] settings)
 *
 * Reads one command per line on standard input and answers with one line
 * on standard output, keeping one handle (and one cache) the whole time,
 * so a test can stop, restart and swap servers between two lookups:
 *
 *   lookup ADDRESS          status=ok dn=DN certs=N chain=N skipped=N serials=A,B
 *   cached ADDRESS          the same through the cache, plus hits=N misses=N
 *   escrow-read DN PWFILE   status=ok values=N sizes=A,B   (bound as DN)
 *   escrow-add DN PWFILE FILE
 *   server                  server=URI | server=none
 *
 * Errors go in the answer as error=...; log lines of the library go to
 * standard error prefixed "log: ".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "smk-cert.h"
#include "smk-ldap-cache.h"
#include "smk-ldap.h"

static void
log_stderr(void *ctx, enum smk_log_level level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "log: %s: %s\n", level >= SMK_LOG_WARNING ? "warning" : "info", msg);
}

static void
print_certs(enum smk_ldap_status st, const struct smk_ldap_certs *c, const struct smk_error *err)
{
	static const char *names[] = { "ok", "no-entry", "no-cert", "unavailable", "auth-failed",
				       "error" };

	printf("status=%s", names[st]);
	if (c != NULL) {
		STACK_OF(X509) *x = smk_ldap_certs_x509(c->certs, c->ncerts);

		printf(" dn=%s certs=%zu chain=%zu skipped=%zu serials=", c->dn, c->ncerts, c->nchain,
		       c->skipped);
		for (int i = 0; i < sk_X509_num(x); i++) {
			char hex[80];

			smk_cert_serial_hex(sk_X509_value(x, i), hex, sizeof(hex));
			printf("%s%s", i ? "," : "", hex);
		}
		sk_X509_pop_free(x, X509_free);
	}
	if (st != SMK_LDAP_OK)
		printf(" error=%s", err->msg);
}

static char *
read_secret(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	char *s = NULL;

	if (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		s = strdup(buf);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (f != NULL)
		fclose(f);
	return s;
}

static void
escrow(const struct smk_ldap_settings *s, char *dn, char *pwfile, char *file)
{
	char *pw = read_secret(pwfile);
	struct smk_error err = { 0, "" };
	struct smk_ldap *l = pw ? smk_ldap_new_as(s, dn, pw, &err) : NULL;
	enum smk_ldap_status st = SMK_LDAP_ERROR;

	if (pw == NULL)
		snprintf(err.msg, sizeof(err.msg), "cannot read %s", pwfile);
	if (l != NULL && file == NULL) {
		struct smk_der *v = NULL;
		size_t n = 0;

		st = smk_ldap_escrow_read(l, dn, &v, &n, &err);
		printf("status=%s values=%zu sizes=", smk_ldap_status_str(st), n);
		for (size_t i = 0; i < n; i++)
			printf("%s%zu", i ? "," : "", v[i].len);
		smk_der_free_all(v, n);
	} else if (l != NULL) {
		FILE *f = fopen(file, "rb");
		unsigned char buf[65536];
		size_t len = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f != NULL)
			fclose(f);
		st = smk_ldap_escrow_add(l, dn, buf, len, &err);
		printf("status=%s", smk_ldap_status_str(st));
	} else {
		printf("status=error");
	}
	if (st != SMK_LDAP_OK)
		printf(" error=%s", err.msg);
	printf("\n");
	smk_ldap_free(l);
	if (pw != NULL) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
}

int
main(int argc, char **argv)
{
	struct smk_ldap_settings s;
	struct smk_ldap_cache *cache;
	struct smk_ldap *l;
	struct smk_error err;
	char line[4096];

	smk_ldap_settings_init(&s);
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL) {
			fprintf(stderr, "usage: ldap-probe SETTING=VALUE...\n");
			return 2;
		}
		*eq = '\0';
		if (smk_ldap_settings_set(&s, argv[i], eq + 1, &err) < 0) {
			fprintf(stderr, "ldap-probe: %s\n", err.msg);
			return 2;
		}
	}
	l = smk_ldap_new(&s, &err);
	if (l == NULL) {
		fprintf(stderr, "ldap-probe: %s\n", err.msg);
		return 2;
	}
	smk_ldap_set_log(l, log_stderr, NULL);
	cache = smk_ldap_cache_new(s.cache_size, s.cache_ttl, s.negative_cache_ttl);
	setvbuf(stdout, NULL, _IOLBF, 0);

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *save = NULL, *cmd, *a, *b, *c;

		line[strcspn(line, "\n")] = '\0';
		cmd = strtok_r(line, " ", &save);
		a = strtok_r(NULL, " ", &save);
		b = strtok_r(NULL, " ", &save);
		c = strtok_r(NULL, " ", &save);
		if (cmd == NULL)
			continue;
		if (strcmp(cmd, "lookup") == 0 && a != NULL) {
			struct smk_ldap_certs *found = NULL;
			enum smk_ldap_status st = smk_ldap_lookup(l, a, &found, &err);

			print_certs(st, found, &err);
			printf("\n");
			smk_ldap_certs_unref(found);
		} else if (strcmp(cmd, "cached") == 0 && a != NULL) {
			struct smk_ldap_certs *found = NULL;
			struct smk_ldap_cache_stats cs;
			enum smk_ldap_status st = smk_ldap_cache_lookup(cache, l, a, &found, &err);

			smk_ldap_cache_stats(cache, &cs);
			print_certs(st, found, &err);
			printf(" hits=%llu misses=%llu\n", (unsigned long long)cs.hits,
			       (unsigned long long)cs.misses);
			smk_ldap_certs_unref(found);
		} else if (strcmp(cmd, "escrow-read") == 0 && b != NULL) {
			escrow(&s, a, b, NULL);
		} else if (strcmp(cmd, "escrow-add") == 0 && c != NULL) {
			escrow(&s, a, b, c);
		} else if (strcmp(cmd, "server") == 0) {
			printf("server=%s\n", smk_ldap_server(l) ? smk_ldap_server(l) : "none");
		} else {
			printf("error=unknown command\n");
		}
	}
	smk_ldap_cache_free(cache);
	smk_ldap_free(l);
	smk_ldap_settings_free(&s);
	return 0;
}
