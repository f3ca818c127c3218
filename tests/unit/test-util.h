/* test-util.h - helpers shared by the Check suites */
#ifndef SMK_TEST_UTIL_H
#define SMK_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "smk-envelope.h"

/* A growing byte buffer, usable as an smk_write_fn target. */
struct tu_buf {
	char *data;
	size_t len, alloc;
	size_t fail_after;	/* if non-zero, writes fail once len would exceed it */
};

int tu_buf_write(void *ctx, const void *data, size_t len);
void tu_buf_free(struct tu_buf *b);

/* $SMK_TEST_CERTS/<name>.pem, .key; abort the test if missing. */
X509 *tu_cert(const char *name);
EVP_PKEY *tu_key(const char *name);
STACK_OF(X509) *tu_certs(const char *name, ...);	/* NULL-terminated names */
char *tu_path(const char *name, const char *ext);	/* free() it */

/* Runs the envelope over in[0..len) in pieces of `chunk` bytes (0: all at
 * once).  Returns 0 and the output in out, or -1 with err. */
int tu_envelope(const struct smk_envelope_opts *opts, const void *in, size_t len, size_t chunk,
		struct tu_buf *out, enum smk_envelope_outcome *outcome, struct smk_error *err);

/* Splits an S/MIME message into its outer header block (up to and
 * including the empty line) and decrypts the body with key/cert.
 * Returns the inner entity (malloc'd, *inner_len set) or NULL. */
char *tu_decrypt(const char *msg, size_t len, EVP_PKEY *key, X509 *cert, size_t *inner_len);

/* Length of the header block of a message, separator included (0: none). */
size_t tu_header_len(const char *msg, size_t len);

/* The outer header block of a message, NUL-terminated (malloc'd). */
char *tu_outer_header(const char *msg, size_t len);

/* Does the header block contain a line starting with `line`? */
bool tu_has_line(const char *block, const char *line);

/* Reads a whole file (malloc'd). */
char *tu_read_file(const char *path, size_t *len);

/* The wait status of child pid, or -1 if it was not done within timeout
 * seconds (then it is killed): a hung child fails a test instead of
 * hanging it. */
int tu_wait_child(pid_t pid, unsigned timeout);

#endif
