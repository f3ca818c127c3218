/* smk-header.h - RFC 5322 header block scanning and field parsing
 *
 * The scanner finds where a message's header block ends while bytes
 * arrive in pieces; the parser then splits the block into fields that
 * point into the caller's buffer (nothing is copied).  Both are lenient
 * the way mail servers have to be: a line that is neither a field nor a
 * continuation ends the header block and starts the body, so no byte of
 * a malformed message is ever dropped.
 */
#ifndef SMK_HEADER_H
#define SMK_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "smk-error.h"

/* Incremental search for the end of the header block. */
struct smk_header_scanner {
	size_t pos;		/* start of the first line not yet classified */
	size_t prefix_len;	/* length of a leading mbox "From " line, or 0 */
	bool in_field;		/* a field has started (continuations allowed) */
	bool done;
	size_t fields_end;	/* end of the last header field line */
	size_t body_start;	/* first byte of the body */
	bool separator;		/* the block ended with an empty line */
};

void smk_header_scanner_init(struct smk_header_scanner *sc);

/* Looks at buf[0..len) (the whole header so far: the buffer may have
 * grown since the last call, but its start must not have changed).
 * `final` says no more input will come.  Returns true once the end of the
 * header block is known; then sc->prefix_len, fields_end, body_start and
 * separator describe the block.  With `final`, it always returns true. */
bool smk_header_scan(struct smk_header_scanner *sc, const char *buf, size_t len, bool final);

struct smk_header_field {
	const char *name;	/* field name, without trailing blanks */
	size_t name_len;
	const char *value;	/* after the colon, up to the final line break */
	size_t value_len;
	const char *raw;	/* the whole field, including folds and final line break */
	size_t raw_len;
};

struct smk_header_list {
	struct smk_header_field *fields;
	size_t count;
	size_t alloc;
};

/* Splits block[0..len) (the fields region reported by the scanner) into
 * fields.  Returns 0, or -1 with err set (only on allocation failure). */
int smk_header_parse(struct smk_header_list *list, const char *block, size_t len, struct smk_error *err);
void smk_header_list_free(struct smk_header_list *list);

/* The first field with this name (ASCII case-insensitive), or NULL. */
const struct smk_header_field *smk_header_find(const struct smk_header_list *list, const char *name);

bool smk_header_name_is(const struct smk_header_field *f, const char *name);

/* Content-*, MIME-Version: the fields that describe the MIME entity and
 * travel with the body into the encrypted part. */
bool smk_header_is_structural(const struct smk_header_field *f);

/* Content-Type parsing (RFC 2045, with comments and quoted strings). */
#define SMK_CT_TOKEN_MAX 128

struct smk_content_type {
	char type[SMK_CT_TOKEN_MAX];	/* lower-cased; "" if unparseable */
	char subtype[SMK_CT_TOKEN_MAX];
};

/* Parses the media type of a Content-Type value.  Returns false if the
 * value has no syntactically valid type/subtype. */
bool smk_content_type_parse(const char *value, size_t len, struct smk_content_type *ct);

/* Finds parameter `name` (case-insensitive) in a Content-Type value and
 * copies its value (unquoted) into out.  Returns false if absent or if it
 * does not fit. */
bool smk_content_type_param(const char *value, size_t len, const char *name, char *out, size_t outsz);

#endif
