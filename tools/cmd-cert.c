/* cmd-cert.c - smimekit cert check: would this certificate be used? */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "smk-cert.h"
#include "smk-policy.h"
#include "tool.h"

/* cert check: 0 usable, 1 not usable, 2 usage or read error. */
#define CHECK_USABLE 0
#define CHECK_NOT_USABLE 1
#define CHECK_ERROR 2

static void
cert_usage(FILE *f)
{
	fputs("Usage: smimekit cert check --for ADDRESS [--trust CAFILE] CERT\n"
	      "\n"
	      "Checks whether CERT may receive encrypted mail for ADDRESS: validity\n"
	      "period, RSA >= 2048 bits or EC P-256/P-384/P-521, keyUsage\n"
	      "(keyEncipherment for RSA, keyAgreement for EC), extendedKeyUsage\n"
	      "(emailProtection or none), an rfc822Name or SmtpUTF8Mailbox equal to\n"
	      "ADDRESS, and with --trust a chain to the anchors in CAFILE.  Further\n"
	      "certificates in the CERT file are taken as intermediates.\n"
	      "\n"
	      "  -f, --for ADDRESS   the mail address the certificate is for\n"
	      "  -T, --trust CAFILE  require a chain to the certificates in CAFILE\n"
	      "  -h, --help          this text\n"
	      "\n"
	      "Exit status: 0 usable, 1 not usable, 2 usage or read error.\n", f);
}

static const struct option check_options[] = {
	{ "for", required_argument, NULL, 'f' },
	{ "trust", required_argument, NULL, 'T' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
cert_check(int argc, char **argv)
{
	const char *address = NULL, *trust = NULL, *path;
	struct smk_policy pol = { 0 };
	STACK_OF(X509) *certs = NULL;
	enum smk_cert_verdict v;
	struct smk_error err;
	char reason[512], serial[80], subject[512];
	int status = CHECK_ERROR, c;
	X509 *leaf;

	while ((c = getopt_long(argc, argv, "f:T:h", check_options, NULL)) != -1) {
		switch (c) {
		case 'f':
			address = optarg;
			break;
		case 'T':
			trust = optarg;
			break;
		case 'h':
			cert_usage(stdout);
			return CHECK_USABLE;
		default:
			cert_usage(stderr);
			return CHECK_ERROR;
		}
	}
	if (address == NULL || optind != argc - 1) {
		tool_err("cert check: needs --for ADDRESS and one CERT file");
		cert_usage(stderr);
		return CHECK_ERROR;
	}
	path = argv[optind];

	if (trust != NULL) {
		pol.anchors = smk_policy_load_anchors(trust, &err);
		if (pol.anchors == NULL) {
			tool_err("%s", err.msg);
			return CHECK_ERROR;
		}
		pol.require_trust = true;
	}
	certs = smk_cert_load_file(path, &err);
	if (certs == NULL) {
		tool_err("%s", err.msg);
		goto out;
	}
	leaf = sk_X509_value(certs, 0);
	smk_cert_subject(leaf, subject, sizeof(subject));
	smk_cert_serial_hex(leaf, serial, sizeof(serial));

	v = smk_policy_check(&pol, leaf, certs, address, reason, sizeof(reason));
	printf("%s: subject %s, serial %s\n", path, subject, serial);
	if (v == SMK_CERT_USABLE) {
		printf("%s: usable for %s: %s\n", path, address, reason);
		status = CHECK_USABLE;
	} else {
		printf("%s: not usable for %s: %s [%s]\n", path, address, reason,
		       smk_cert_verdict_name(v));
		status = CHECK_NOT_USABLE;
	}
out:
	smk_cert_stack_free(certs);
	X509_STORE_free(pol.anchors);
	return status;
}

int
cmd_cert(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cert_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CHECK_ERROR : CHECK_USABLE;
	}
	if (strcmp(argv[1], "check") == 0)
		return cert_check(argc - 1, argv + 1);
	tool_err("cert: unknown subcommand '%s' (try 'smimekit cert --help')", argv[1]);
	return CHECK_ERROR;
}
