/* cmd-directory.c - smimekit directory: look up, publish, unpublish and
 * list certificates in the LDAP directory */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "smk-cert.h"
#include "smk-config.h"
#include "smk-ldap.h"
#include "smk-policy.h"
#include "tool.h"

/* Exit statuses of every directory subcommand. */
#define DIR_OK 0
#define DIR_NONE 1		/* nothing usable / refused / nothing to do */
#define DIR_UNAVAILABLE 2	/* directory unavailable, usage or configuration error */

static void
directory_usage(FILE *f)
{
	fputs("Usage: smimekit directory COMMAND [OPTIONS]\n"
	      "\n"
	      "  lookup ADDRESS [--pem] [--trust CAFILE]\n"
	      "      the certificates of ADDRESS's entry with the policy verdict for each;\n"
	      "      --pem writes the usable ones to standard output as PEM\n"
	      "  publish ADDRESS CERT [--force] [--trust CAFILE]\n"
	      "      checks CERT for ADDRESS, then adds it to userCertificate;binary and\n"
	      "      userSMIMECertificate of ADDRESS's entry (again: no change)\n"
	      "  unpublish ADDRESS (--serial HEX | --all)\n"
	      "      removes that certificate (or every certificate value) from the entry\n"
	      "  list [--expiring DAYS]\n"
	      "      every entry with a certificate; with --expiring only certificates\n"
	      "      that expire within DAYS days (or have expired)\n"
	      "\n"
	      "Directory options (default: the [directory] section of smimekit.conf):\n"
	      "  -c, --config FILE            configuration file (default: $SMIMEKIT_CONF,\n"
	      "                               ~/.config/smimekit/smimekit.conf, " SMK_SYSCONFDIR
	      "/smimekit/smimekit.conf)\n"
	      "  -H, --uri URI                server(s), space-separated, tried in order\n"
	      "  -b, --base DN                search base\n"
	      "  -D, --bind-dn DN             bind as DN (simple bind)\n"
	      "  -y, --bind-password-file F   password for --bind-dn, first line of F\n"
	      "  -v, --verbose                also say which server answered\n"
	      "\n"
	      "Exit status: 0 done (lookup: a usable certificate found); 1 nothing usable,\n"
	      "refused, or nothing to do; 2 directory unavailable, usage or configuration\n"
	      "error.  See smimekit(1) and smimekit.conf(5).\n", f);
}

enum {
	OPT_PEM = 256, OPT_TRUST, OPT_FORCE, OPT_SERIAL, OPT_ALL, OPT_EXPIRING,
};

static const struct option directory_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "uri", required_argument, NULL, 'H' },
	{ "base", required_argument, NULL, 'b' },
	{ "bind-dn", required_argument, NULL, 'D' },
	{ "bind-password-file", required_argument, NULL, 'y' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "pem", no_argument, NULL, OPT_PEM },
	{ "trust", required_argument, NULL, OPT_TRUST },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "expiring", required_argument, NULL, OPT_EXPIRING },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct dir_opts {
	const char *config;
	char *uris;			/* --uri, repeatable: joined with blanks */
	const char *flags[4][2];	/* setting name, value: from the command line */
	size_t nflags;
	bool verbose, pem, force, all;
	const char *trust, *serial;
	unsigned expiring_days;
	bool expiring;
};

struct dir_ctx {
	struct dir_opts o;
	struct smk_ldap *l;
	struct smk_policy pol;
};

static void
log_stderr(void *ctx, enum smk_log_level level, const char *msg)
{
	const struct dir_ctx *d = ctx;

	if (level >= SMK_LOG_WARNING || d->o.verbose)
		tool_err("%s%s", level >= SMK_LOG_WARNING ? "warning: " : "", msg);
}

/* Settings: defaults, then the configuration file, then the flags. */
static int
open_directory(struct dir_ctx *d)
{
	struct smk_ldap_settings s;
	struct smk_config *cfg;
	struct smk_error err;
	int ret = -1;

	smk_ldap_settings_init(&s);
	cfg = d->o.config ? smk_config_load(d->o.config, &err) : smk_config_load_default(&err);
	if (cfg == NULL) {
		tool_err("%s", err.msg);
		goto out;
	}
	if (smk_ldap_settings_from_config(&s, cfg, &err) < 0) {
		tool_err("%s", err.msg);
		goto out;
	}
	for (size_t i = 0; i < d->o.nflags; i++) {
		if (smk_ldap_settings_set(&s, d->o.flags[i][0], d->o.flags[i][1], &err) < 0) {
			tool_err("%s", err.msg);
			goto out;
		}
	}
	if (smk_ldap_settings_check(&s, &err) < 0) {
		tool_err("%s (set it in [directory] of %s or with --uri/--base)", err.msg,
			 cfg->path ? cfg->path : smk_config_default_path());
		goto out;
	}
	d->l = smk_ldap_new(&s, &err);
	if (d->l == NULL) {
		tool_err("%s", err.msg);
		goto out;
	}
	smk_ldap_set_log(d->l, log_stderr, d);
	ret = 0;
out:
	smk_config_free(cfg);
	smk_ldap_settings_free(&s);
	return ret;
}

static int
status_exit(enum smk_ldap_status st)
{
	switch (st) {
	case SMK_LDAP_OK: return DIR_OK;
	case SMK_LDAP_NO_ENTRY:
	case SMK_LDAP_NO_CERT: return DIR_NONE;
	default: return DIR_UNAVAILABLE;
	}
}

static void
describe_cert(X509 *c, const char *indent)
{
	char serial[80], subject[512], from[64], until[64];

	smk_cert_serial_hex(c, serial, sizeof(serial));
	smk_cert_subject(c, subject, sizeof(subject));
	smk_asn1_time_str(X509_get0_notBefore(c), from, sizeof(from));
	smk_asn1_time_str(X509_get0_notAfter(c), until, sizeof(until));
	fprintf(stderr, "%sserial %s, %s\n%s  valid %s to %s\n", indent, serial, subject, indent,
		from, until);
}

/* Finds the entry of address; its certificates go to *found. */
static enum smk_ldap_status
find_entry(struct dir_ctx *d, const char *address, struct smk_ldap_certs **found)
{
	struct smk_error err;
	enum smk_ldap_status st = smk_ldap_lookup(d->l, address, found, &err);

	if (st != SMK_LDAP_OK && st != SMK_LDAP_NO_CERT)
		tool_err("%s", err.msg);
	else if (d->o.verbose)
		tool_err("%s: %s, from %s", address, (*found)->dn, smk_ldap_server(d->l));
	return st;
}

static int
cmd_lookup(struct dir_ctx *d, const char *address)
{
	struct smk_ldap_certs *found = NULL;
	STACK_OF(X509) *certs = NULL, *chain = NULL;
	enum smk_ldap_status st;
	int usable = 0;

	st = find_entry(d, address, &found);
	if (st == SMK_LDAP_NO_CERT)
		tool_err("%s: entry %s has no certificate", address, found->dn);
	if (st != SMK_LDAP_OK)
		goto out;
	certs = smk_ldap_certs_x509(found->certs, found->ncerts);
	chain = smk_ldap_certs_x509(found->chain, found->nchain);
	if (certs == NULL || chain == NULL) {
		tool_err("out of memory");
		st = SMK_LDAP_ERROR;
		goto out;
	}
	fprintf(stderr, "%s: %s: %d certificate%s\n", address, found->dn, sk_X509_num(certs),
		sk_X509_num(certs) == 1 ? "" : "s");
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);
		char reason[512];
		enum smk_cert_verdict v = smk_policy_check(&d->pol, c, chain, address, reason,
							   sizeof(reason));

		describe_cert(c, "  ");
		if (v == SMK_CERT_USABLE) {
			fprintf(stderr, "    usable: %s\n", reason);
			usable++;
			if (d->o.pem)
				PEM_write_X509(stdout, c);
		} else {
			fprintf(stderr, "    not usable: %s [%s]\n", reason, smk_cert_verdict_name(v));
		}
	}
	if (found->skipped > 0)
		fprintf(stderr, "  %zu unusable value%s skipped\n", found->skipped,
			found->skipped == 1 ? "" : "s");
out:
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(chain, X509_free);
	smk_ldap_certs_unref(found);
	if (st == SMK_LDAP_OK)
		return usable > 0 ? DIR_OK : DIR_NONE;
	return status_exit(st);
}

static int
cmd_publish(struct dir_ctx *d, const char *address, const char *path)
{
	struct smk_ldap_certs *found = NULL;
	STACK_OF(X509) *certs;
	enum smk_ldap_status st;
	enum smk_cert_verdict v;
	struct smk_error err;
	char reason[512], serial[80];
	bool added = false;
	int ret = DIR_NONE;
	X509 *cert;

	certs = smk_cert_load_file(path, &err);
	if (certs == NULL) {
		tool_err("%s", err.msg);
		return DIR_UNAVAILABLE;
	}
	cert = sk_X509_value(certs, 0);
	smk_cert_serial_hex(cert, serial, sizeof(serial));
	v = smk_policy_check(&d->pol, cert, certs, address, reason, sizeof(reason));
	if (v != SMK_CERT_USABLE) {
		if (!d->o.force) {
			tool_err("%s: not publishing for %s: %s [%s] (--force to publish anyway)", path,
				 address, reason, smk_cert_verdict_name(v));
			goto out;
		}
		tool_err("warning: %s: publishing although %s [%s]", path, reason,
			 smk_cert_verdict_name(v));
	}
	st = find_entry(d, address, &found);
	if (st != SMK_LDAP_OK && st != SMK_LDAP_NO_CERT) {
		ret = status_exit(st);
		goto out;
	}
	st = smk_ldap_publish(d->l, found->dn, cert, certs, &added, &err);
	if (st != SMK_LDAP_OK) {
		tool_err("%s", err.msg);
		ret = DIR_UNAVAILABLE;
		goto out;
	}
	if (added)
		printf("published serial %s for %s to %s\n", serial, address, found->dn);
	else
		printf("serial %s is already published for %s on %s\n", serial, address, found->dn);
	ret = DIR_OK;
out:
	smk_ldap_certs_unref(found);
	smk_cert_stack_free(certs);
	return ret;
}

static int
cmd_unpublish(struct dir_ctx *d, const char *address)
{
	struct smk_ldap_certs *found = NULL;
	enum smk_ldap_status st;
	struct smk_error err;
	size_t removed = 0;
	int ret;

	if ((d->o.serial == NULL) == !d->o.all) {
		tool_err("unpublish: give exactly one of --serial HEX and --all");
		return DIR_UNAVAILABLE;
	}
	st = find_entry(d, address, &found);
	if (st != SMK_LDAP_OK && st != SMK_LDAP_NO_CERT) {
		smk_ldap_certs_unref(found);
		return status_exit(st);
	}
	st = smk_ldap_unpublish(d->l, found->dn, d->o.serial, &removed, &err);
	if (st != SMK_LDAP_OK) {
		tool_err("%s", err.msg);
		ret = DIR_UNAVAILABLE;
	} else if (removed == 0) {
		printf("nothing to remove for %s on %s%s%s\n", address, found->dn,
		       d->o.serial ? ": no certificate with serial " : "",
		       d->o.serial ? d->o.serial : "");
		ret = DIR_NONE;
	} else {
		printf("removed %zu certificate value%s for %s from %s\n", removed,
		       removed == 1 ? "" : "s", address, found->dn);
		ret = DIR_OK;
	}
	smk_ldap_certs_unref(found);
	return ret;
}

struct list_ctx {
	time_t limit;	/* 0: everything */
	size_t shown;
};

static int
list_entry(void *ctx, const char *dn, const char *mail, const struct smk_ldap_certs *c)
{
	struct list_ctx *lc = ctx;
	STACK_OF(X509) *certs = smk_ldap_certs_x509(c->certs, c->ncerts);

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		char serial[80], until[64], subject[512];

		if (lc->limit != 0 && X509_cmp_time(X509_get0_notAfter(x), &lc->limit) > 0)
			continue;
		smk_cert_serial_hex(x, serial, sizeof(serial));
		smk_asn1_time_str(X509_get0_notAfter(x), until, sizeof(until));
		smk_cert_subject(x, subject, sizeof(subject));
		printf("%s\t%s\t%s\t%s\t%s\n", mail ? mail : "-", serial, until, subject, dn);
		lc->shown++;
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

static int
cmd_list(struct dir_ctx *d)
{
	struct list_ctx lc = { 0, 0 };
	enum smk_ldap_status st;
	struct smk_error err;

	if (d->o.expiring)
		lc.limit = time(NULL) + (time_t)d->o.expiring_days * 86400;
	st = smk_ldap_list(d->l, list_entry, &lc, &err);
	if (st != SMK_LDAP_OK) {
		tool_err("%s", err.msg);
		if (strstr(err.msg, "Size limit exceeded") != NULL)
			tool_err("hint: list every entry as an account without a size limit "
				 "(--bind-dn an admin), or raise the server's limit for paged "
				 "searches (OpenLDAP: olcLimits ... size.prtotal=unlimited)");
		return status_exit(st);
	}
	fprintf(stderr, "%zu certificate%s%s\n", lc.shown, lc.shown == 1 ? "" : "s",
		d->o.expiring ? " expiring" : "");
	return DIR_OK;
}

static int
add_flag(struct dir_opts *o, const char *name, const char *value)
{
	for (size_t i = 0; i < o->nflags; i++) {
		if (strcmp(o->flags[i][0], name) == 0) {
			o->flags[i][1] = value;	/* the last one wins */
			return 0;
		}
	}
	if (o->nflags == sizeof(o->flags) / sizeof(o->flags[0]))
		return -1;
	o->flags[o->nflags][0] = name;
	o->flags[o->nflags][1] = value;
	o->nflags++;
	return 0;
}

int
cmd_directory(int argc, char **argv)
{
	struct dir_ctx d;
	const char *sub;
	int c, ret = DIR_UNAVAILABLE;

	memset(&d, 0, sizeof(d));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		directory_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? DIR_UNAVAILABLE : DIR_OK;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:H:b:D:y:vh", directory_options, NULL)) != -1) {
		switch (c) {
		case 'c': d.o.config = optarg; break;
		case 'H': {
			char *joined = NULL;

			if (asprintf(&joined, "%s%s%s", d.o.uris ? d.o.uris : "",
				     d.o.uris ? " " : "", optarg) < 0) {
				tool_err("out of memory");
				return DIR_UNAVAILABLE;
			}
			free(d.o.uris);
			d.o.uris = joined;
			break;
		}
		case 'b': add_flag(&d.o, "base", optarg); break;
		case 'D': add_flag(&d.o, "bind_dn", optarg); break;
		case 'y': add_flag(&d.o, "bind_password_file", optarg); break;
		case 'v': d.o.verbose = true; break;
		case OPT_PEM: d.o.pem = true; break;
		case OPT_TRUST: d.o.trust = optarg; break;
		case OPT_FORCE: d.o.force = true; break;
		case OPT_SERIAL: d.o.serial = optarg; break;
		case OPT_ALL: d.o.all = true; break;
		case OPT_EXPIRING:
			if (!smk_parse_uint(optarg, 100000, &d.o.expiring_days)) {
				tool_err("--expiring takes a number of days, not '%s'", optarg);
				goto out;
			}
			d.o.expiring = true;
			break;
		case 'h':
			directory_usage(stdout);
			ret = DIR_OK;
			goto out;
		default:
			directory_usage(stderr);
			goto out;
		}
	}
	if (d.o.uris != NULL)
		add_flag(&d.o, "uri", d.o.uris);

	struct { const char *name; int args; } subs[] = {
		{ "lookup", 1 }, { "publish", 2 }, { "unpublish", 1 }, { "list", 0 },
	};
	int want = -1;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) == 0)
			want = subs[i].args;
	}
	if (want < 0) {
		tool_err("directory: unknown command '%s' (try 'smimekit directory --help')", sub);
		goto out;
	}
	if (argc - optind != want) {
		tool_err("directory %s: expected %d argument%s (try 'smimekit directory --help')", sub,
			 want, want == 1 ? "" : "s");
		goto out;
	}
	if (want > 0 && !smk_address_valid(argv[optind])) {
		tool_err("directory %s: \"%s\" is not a mail address", sub, argv[optind]);
		goto out;
	}
	if (d.o.trust != NULL) {
		struct smk_error err;

		d.pol.anchors = smk_policy_load_anchors(d.o.trust, &err);
		if (d.pol.anchors == NULL) {
			tool_err("%s", err.msg);
			goto out;
		}
		d.pol.require_trust = true;
	}
	if (open_directory(&d) < 0)
		goto out;

	if (strcmp(sub, "lookup") == 0)
		ret = cmd_lookup(&d, argv[optind]);
	else if (strcmp(sub, "publish") == 0)
		ret = cmd_publish(&d, argv[optind], argv[optind + 1]);
	else if (strcmp(sub, "unpublish") == 0)
		ret = cmd_unpublish(&d, argv[optind]);
	else
		ret = cmd_list(&d);
out:
	smk_ldap_free(d.l);
	X509_STORE_free(d.pol.anchors);
	free(d.o.uris);
	return ret;
}
