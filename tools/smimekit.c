/* smimekit.c - the smimekit command: dispatch, --help, --version */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tool.h"

static const struct tool_command commands[] = {
	{ "encrypt", "encrypt a mail message to recipient certificates (S/MIME)", cmd_encrypt },
	{ "cert", "check certificates against the recipient policy", cmd_cert },
	{ "directory", "look up, publish and remove certificates in LDAP", cmd_directory },
	{ "token", "key tokens: create, list, import, change PINs, escrow keys", cmd_token },
};

static void
usage(FILE *f)
{
	fputs("Usage: smimekit [--help] [--version] COMMAND [ARGS...]\n"
	      "\n"
	      "Automatic S/MIME for mail hosters.  Commands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Run 'smimekit COMMAND --help' for the options of a command,\n"
	      "and see smimekit(1).\n", f);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return TOOL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("smimekit %s (%s)\n", PACKAGE_VERSION, OpenSSL_version(OPENSSL_VERSION));
		return TOOL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	tool_err("unknown command '%s' (try 'smimekit --help')", argv[1]);
	return EX_USAGE;
}
