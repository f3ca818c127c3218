/* tool.h - shared pieces of the smimekit command */
#ifndef SMK_TOOL_H
#define SMK_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sysexits.h>

#include "smk-error.h"

/* Exit statuses: sysexits(3), so MTAs that run `smimekit encrypt` as a
 * pipe filter defer (EX_TEMPFAIL, EX_CONFIG) or bounce (EX_DATAERR). */
#define TOOL_EXIT_OK 0

struct tool_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int cmd_encrypt(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_token(int argc, char **argv);

/* "smimekit: <message>" on stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a size with an optional K/M/G suffix. */
bool tool_parse_size(const char *s, size_t *out);

/* Output to stdout or, atomically, to a file: data goes to a temporary
 * file next to the target, which replaces it only on tool_out_commit.
 * A target that exists and is not a regular file (/dev/null, a FIFO) is
 * written in place. */
struct tool_out {
	int fd;
	char *path;	/* target, NULL for stdout */
	char *tmp;	/* temporary file */
	bool direct;	/* a device or pipe, written in place */
	unsigned char buf[65536];
	size_t n;
	bool failed;
	int saved_errno;
};

int tool_out_open(struct tool_out *out, const char *path);
int tool_out_write(void *ctx, const void *data, size_t len);	/* smk_write_fn */
int tool_out_commit(struct tool_out *out);
void tool_out_abort(struct tool_out *out);

#endif
