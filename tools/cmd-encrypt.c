/* cmd-encrypt.c - smimekit encrypt: a message in, an S/MIME message out */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "smk-cert.h"
#include "smk-envelope.h"
#include "tool.h"

#define READ_CHUNK (64 * 1024)

static void
encrypt_usage(FILE *f)
{
	fputs("Usage: smimekit encrypt --to CERT [--to CERT ...] [OPTIONS]\n"
	      "\n"
	      "Reads an RFC 5322 message and writes it as an S/MIME message\n"
	      "(application/pkcs7-mime) encrypted to every CERT.  Messages that are\n"
	      "already encrypted are copied unchanged.\n"
	      "\n"
	      "  -t, --to CERT            recipient certificate (PEM or DER; the first\n"
	      "                           certificate of the file)\n"
	      "  -c, --cipher NAME        aes-256-cbc (default), aes-128-cbc,\n"
	      "                           aes-256-gcm, aes-128-gcm\n"
	      "  -p, --rsa-padding NAME   pkcs1 (default) or oaep (SHA-256)\n"
	      "  -H, --protect-headers    RFC 9788 header protection: all header fields\n"
	      "                           go inside, the outer Subject becomes [...]\n"
	      "  -i, --in FILE            input (default: standard input)\n"
	      "  -o, --out FILE           output, replaced atomically (default: standard output)\n"
	      "      --eol auto|lf|crlf   line breaks of the output (default: as the input)\n"
	      "      --max-header-size N  refuse header blocks larger than N bytes\n"
	      "                           (K, M, G suffixes; default 1M)\n"
	      "  -q, --quiet              do not report pass-through on standard error\n"
	      "  -h, --help               this text\n"
	      "\n"
	      "Exit status: 0 done; 64 usage; 65 message refused; 66 input unreadable;\n"
	      "73 output not creatable; 75 temporary failure; 78 certificate problem.\n", f);
}

enum { OPT_EOL = 256, OPT_MAX_HEADER };

static const struct option encrypt_options[] = {
	{ "to", required_argument, NULL, 't' },
	{ "cipher", required_argument, NULL, 'c' },
	{ "rsa-padding", required_argument, NULL, 'p' },
	{ "protect-headers", no_argument, NULL, 'H' },
	{ "in", required_argument, NULL, 'i' },
	{ "out", required_argument, NULL, 'o' },
	{ "eol", required_argument, NULL, OPT_EOL },
	{ "max-header-size", required_argument, NULL, OPT_MAX_HEADER },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Adds the first certificate of each file to recipients. */
static int
load_recipient(STACK_OF(X509) *recipients, const char *path)
{
	struct smk_error err;
	STACK_OF(X509) *certs = smk_cert_load_file(path, &err);
	EVP_PKEY *pkey;
	X509 *c;

	if (certs == NULL) {
		tool_err("%s", err.msg);
		return -1;
	}
	c = sk_X509_shift(certs);
	smk_cert_stack_free(certs);
	pkey = X509_get0_pubkey(c);
	if (pkey == NULL || (!EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "EC"))) {
		tool_err("%s: key type %s cannot receive encrypted mail (need RSA or EC)", path,
			 pkey ? EVP_PKEY_get0_type_name(pkey) : "(unreadable)");
		X509_free(c);
		return -1;
	}
	if (!sk_X509_push(recipients, c)) {
		X509_free(c);
		tool_err("out of memory");
		return -1;
	}
	return 0;
}

static int
status_for(enum smk_status code)
{
	switch (code) {
	case SMK_ERR_MESSAGE: return EX_DATAERR;
	case SMK_ERR_CERT: return EX_CONFIG;
	case SMK_ERR_INVALID: return EX_USAGE;
	default: return EX_TEMPFAIL;
	}
}

static int
run_envelope(struct smk_envelope *env, int in_fd, const char *in_name, struct tool_out *out,
	     bool quiet)
{
	unsigned char *buf = malloc(READ_CHUNK);
	int status = TOOL_EXIT_OK;

	if (buf == NULL) {
		tool_err("out of memory");
		return EX_TEMPFAIL;
	}
	for (;;) {
		ssize_t r = read(in_fd, buf, READ_CHUNK);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			tool_err("%s: read failed: %s", in_name, strerror(errno));
			status = EX_IOERR;
			goto out;
		}
		if (r == 0)
			break;
		if (smk_envelope_write(env, buf, (size_t)r) < 0)
			goto fail;
	}
	if (smk_envelope_finish(env) < 0)
		goto fail;
	if (!quiet && smk_envelope_outcome(env) == SMK_ENVELOPE_PASSTHROUGH)
		tool_err("%s: already encrypted, copied unchanged", in_name);
	goto out;
fail:
	if (out->failed)
		tool_err("%s: %s: %s", in_name, smk_envelope_error(env)->msg,
			 strerror(out->saved_errno));
	else
		tool_err("%s: %s", in_name, smk_envelope_error(env)->msg);
	status = status_for(smk_envelope_error(env)->code);
out:
	OPENSSL_cleanse(buf, READ_CHUNK);	/* plaintext */
	free(buf);
	return status;
}

int
cmd_encrypt(int argc, char **argv)
{
	struct smk_envelope_opts opts = { 0 };
	const char *in_path = NULL, *out_path = NULL;
	STACK_OF(X509) *recipients = sk_X509_new_null();
	struct smk_envelope *env = NULL;
	static struct tool_out out;
	struct smk_error err;
	bool quiet = false;
	int status = EX_USAGE, in_fd = STDIN_FILENO, c;

	if (recipients == NULL) {
		tool_err("out of memory");
		return EX_TEMPFAIL;
	}
	while ((c = getopt_long(argc, argv, "t:c:p:Hi:o:qh", encrypt_options, NULL)) != -1) {
		switch (c) {
		case 't':
			if (load_recipient(recipients, optarg) < 0) {
				status = EX_CONFIG;
				goto out;
			}
			break;
		case 'c':
			if (!smk_cipher_from_name(optarg, &opts.cipher)) {
				tool_err("unknown cipher '%s' (aes-256-cbc, aes-128-cbc, aes-256-gcm, aes-128-gcm)",
					 optarg);
				goto out;
			}
			break;
		case 'p':
			if (!smk_rsa_padding_from_name(optarg, &opts.rsa_padding)) {
				tool_err("unknown RSA padding '%s' (pkcs1, oaep)", optarg);
				goto out;
			}
			break;
		case 'H':
			opts.protect_headers = true;
			break;
		case 'i':
			in_path = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case OPT_EOL:
			if (strcmp(optarg, "auto") == 0) {
				opts.eol = SMK_EOL_AUTO;
			} else if (strcmp(optarg, "lf") == 0) {
				opts.eol = SMK_EOL_LF;
			} else if (strcmp(optarg, "crlf") == 0) {
				opts.eol = SMK_EOL_CRLF;
			} else {
				tool_err("--eol takes auto, lf or crlf, not '%s'", optarg);
				goto out;
			}
			break;
		case OPT_MAX_HEADER:
			if (!tool_parse_size(optarg, &opts.max_header_size) || opts.max_header_size == 0) {
				tool_err("--max-header-size: '%s' is not a size", optarg);
				goto out;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			encrypt_usage(stdout);
			status = TOOL_EXIT_OK;
			goto out;
		default:
			encrypt_usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		tool_err("encrypt: unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (sk_X509_num(recipients) == 0) {
		tool_err("encrypt: at least one --to CERT is needed");
		encrypt_usage(stderr);
		goto out;
	}

	opts.recipients = recipients;
	if (in_path != NULL && strcmp(in_path, "-") != 0) {
		in_fd = open(in_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (in_fd < 0) {
			tool_err("%s: cannot open: %s", in_path, strerror(errno));
			status = EX_NOINPUT;
			goto out;
		}
	} else {
		in_path = "standard input";
	}
	if (tool_out_open(&out, out_path) < 0) {
		status = EX_CANTCREAT;
		goto out;
	}
	env = smk_envelope_new(&opts, tool_out_write, &out, &err);
	if (env == NULL) {
		tool_err("%s", err.msg);
		tool_out_abort(&out);
		status = status_for(err.code);
		goto out;
	}
	status = run_envelope(env, in_fd, in_path, &out, quiet);
	if (status == TOOL_EXIT_OK) {
		if (tool_out_commit(&out) < 0)
			status = EX_TEMPFAIL;
	} else {
		tool_out_abort(&out);
	}
out:
	if (in_fd != STDIN_FILENO)
		close(in_fd);
	smk_envelope_free(env);
	smk_cert_stack_free(recipients);
	return status;
}
