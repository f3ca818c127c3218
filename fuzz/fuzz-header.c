/* fuzz-header.c - libFuzzer target for smk-header.c
 *
 * Input: a count byte n (mod 8), n chunk-size bytes, then the message.
 *
 * The message is scanned for the end of its header block in pieces (the
 * chunk sizes, over and over) as a stream would deliver it, and the
 * result must equal a one-shot scan of the whole message with `final`.
 * The fields region is then split into fields, and every field value
 * goes through the Content-Type parsers.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "smk-header.h"

/* Parameter names asked of every value. */
static const char *const param_names[] = { "smime-type", "boundary" };

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static bool
scan_equal(const struct smk_header_scanner *a, const struct smk_header_scanner *b)
{
	return a->done == b->done && a->prefix_len == b->prefix_len &&
	       a->fields_end == b->fields_end && a->body_start == b->body_start &&
	       a->separator == b->separator;
}

/* What the scanner reports must describe buf[0..len) consistently. */
static void
check_scan_result(const struct smk_header_scanner *sc, const char *buf, size_t len)
{
	FUZZ_CHECK(sc->done);
	FUZZ_CHECK(sc->prefix_len <= sc->fields_end);
	FUZZ_CHECK(sc->fields_end <= sc->body_start);
	FUZZ_CHECK(sc->body_start <= len);

	FUZZ_CHECK((sc->prefix_len > 0) == (len >= 5 && memcmp(buf, "From ", 5) == 0));
	if (sc->prefix_len > 0) {
		const char *nl = memchr(buf, '\n', len);

		FUZZ_CHECK(sc->prefix_len >= 5 && memcmp(buf, "From ", 5) == 0);
		FUZZ_CHECK(sc->prefix_len == (nl ? (size_t)(nl - buf) + 1 : len));
	}
	if (sc->separator) {
		size_t n = sc->body_start - sc->fields_end;

		/* An empty line; a lone CR counts as one at the very end. */
		FUZZ_CHECK((n == 1 && buf[sc->fields_end] == '\n') ||
			   (n == 2 && memcmp(buf + sc->fields_end, "\r\n", 2) == 0) ||
			   (n == 1 && buf[sc->fields_end] == '\r' && sc->body_start == len));
	} else {
		FUZZ_CHECK(sc->fields_end == sc->body_start);
	}
	/* The fields region ends at a line boundary. */
	FUZZ_CHECK(sc->fields_end == sc->prefix_len || sc->fields_end == len ||
		   buf[sc->fields_end - 1] == '\n');
}

/* The same scan done in pieces must reach the same result, and must not
 * look past the bytes it has been given. */
static void
check_incremental_scan(const struct smk_header_scanner *ref, const char *buf, size_t len,
		       struct fuzz_split *split)
{
	struct smk_header_scanner sc;
	size_t avail = 0;
	bool done = false;

	smk_header_scanner_init(&sc);
	while (avail < len && !done) {
		avail += fuzz_split_next(split, len - avail);
		fuzz_hide_tail(buf, avail, len);
		done = smk_header_scan(&sc, buf, avail, false);
		fuzz_reveal(buf, len);
		if (done) {
			/* Decided early: more input must not have changed it. */
			FUZZ_CHECK(scan_equal(&sc, ref));
			/* And it stays decided. */
			FUZZ_CHECK(smk_header_scan(&sc, buf, len, true));
			FUZZ_CHECK(scan_equal(&sc, ref));
		}
	}
	if (!done) {
		/* A call without input must be harmless. */
		FUZZ_CHECK(!smk_header_scan(&sc, buf, len, false) || scan_equal(&sc, ref));
		FUZZ_CHECK(smk_header_scan(&sc, buf, len, true));
		FUZZ_CHECK(scan_equal(&sc, ref));
	}
}

static void
check_field(const struct smk_header_field *f)
{
	const char *raw_end = f->raw + f->raw_len;
	const char *value_end = f->value + f->value_len;
	size_t tail = (size_t)(raw_end - value_end);

	FUZZ_CHECK(f->raw_len > 0);
	/* The scanner only lets lines of the form "name [blanks] :" start a
	 * field, so every field has a proper name and a colon. */
	FUZZ_CHECK(f->name == f->raw);
	FUZZ_CHECK(f->name_len > 0);
	for (size_t i = 0; i < f->name_len; i++)
		FUZZ_CHECK(is_ftext((unsigned char)f->name[i]));
	FUZZ_CHECK(f->value > f->name + f->name_len && f->value[-1] == ':');
	for (const char *p = f->name + f->name_len; p < f->value - 1; p++)
		FUZZ_CHECK(is_wsp(*p));
	FUZZ_CHECK(value_end <= raw_end);
	FUZZ_CHECK((tail == 0) ||
		   (tail == 1 && (value_end[0] == '\n' || value_end[0] == '\r')) ||
		   (tail == 2 && memcmp(value_end, "\r\n", 2) == 0));
	/* Every line after the first is a continuation. */
	for (const char *p = f->raw; p < raw_end; p++) {
		if (*p == '\n' && p + 1 < raw_end)
			FUZZ_CHECK(is_wsp(p[1]));
	}
}

static void
check_fields(const struct smk_header_list *list, const char *block, size_t len)
{
	const char *next = block;

	for (size_t i = 0; i < list->count; i++) {
		const struct smk_header_field *f = &list->fields[i];
		const struct smk_header_field *found;
		char *name;

		/* Contiguous, in order, inside the block. */
		FUZZ_CHECK(f->raw == next);
		FUZZ_CHECK(f->raw_len <= (size_t)(block + len - f->raw));
		next = f->raw + f->raw_len;
		/* Only the last field may lack a final line break. */
		FUZZ_CHECK(i + 1 == list->count || f->raw[f->raw_len - 1] == '\n');
		check_field(f);

		name = strndup(f->name, f->name_len);
		FUZZ_CHECK(name != NULL);
		found = smk_header_find(list, name);
		FUZZ_CHECK(found != NULL && found <= f);
		FUZZ_CHECK(smk_header_name_is(f, name));
		free(name);
		(void)smk_header_is_structural(f);
	}
	FUZZ_CHECK(next == block + len);
}

static bool
is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool
is_lower_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!is_token_char((unsigned char)*s) || (*s >= 'A' && *s <= 'Z'))
			return false;
	}
	return true;
}

/* A parameter that is found fits a buffer of exactly its size (with the
 * NUL) and no smaller one; one that is not found is not found whatever
 * the buffer. */
static void
check_param(const char *value, size_t len, const char *name)
{
	char big[256], *exact;
	size_t n;

	if (!smk_content_type_param(value, len, name, big, sizeof(big))) {
		exact = malloc(1);
		FUZZ_CHECK(exact != NULL);
		FUZZ_CHECK(!smk_content_type_param(value, len, name, exact, 1));
		free(exact);
		return;
	}
	FUZZ_CHECK(memchr(big, '\0', sizeof(big)) != NULL);
	if (memchr(value, '\0', len) != NULL)
		return;	/* a NUL copied into the value: its size is unknown */
	n = strlen(big) + 1;
	exact = malloc(n);
	FUZZ_CHECK(exact != NULL);
	FUZZ_CHECK(smk_content_type_param(value, len, name, exact, n));
	FUZZ_CHECK(strcmp(exact, big) == 0);
	if (n > 1)
		FUZZ_CHECK(!smk_content_type_param(value, len, name, exact, n - 1));
	free(exact);
}

static void
check_content_type(const char *value, size_t len)
{
	char *v = fuzz_dup(value, len);
	struct smk_content_type ct;

	if (smk_content_type_parse(v, len, &ct)) {
		FUZZ_CHECK(memchr(ct.type, '\0', sizeof(ct.type)) != NULL);
		FUZZ_CHECK(memchr(ct.subtype, '\0', sizeof(ct.subtype)) != NULL);
		FUZZ_CHECK(is_lower_token(ct.type));
		FUZZ_CHECK(is_lower_token(ct.subtype));
	} else {
		FUZZ_CHECK(ct.type[0] == '\0' && ct.subtype[0] == '\0');
	}

	for (size_t i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++)
		check_param(v, len, param_names[i]);
	fuzz_free(v, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct smk_header_scanner ref;
	struct smk_header_list list = { 0 };
	struct smk_error err;
	struct fuzz_split split;
	size_t block_len;
	char *msg;

	fuzz_split_init(&split, &in, 7);
	msg = fuzz_dup(in.data, in.size);

	/* One shot, the whole message, no more to come. */
	smk_header_scanner_init(&ref);
	FUZZ_CHECK(smk_header_scan(&ref, msg, in.size, true));
	check_scan_result(&ref, msg, in.size);

	check_incremental_scan(&ref, msg, in.size, &split);

	/* The fields region, as the envelope parses it. */
	block_len = ref.fields_end - ref.prefix_len;
	FUZZ_CHECK(smk_header_parse(&list, msg + ref.prefix_len, block_len, &err) == 0);
	check_fields(&list, msg + ref.prefix_len, block_len);
	for (size_t i = 0; i < list.count; i++)
		check_content_type(list.fields[i].value, list.fields[i].value_len);

	/* Parsing reuses the list. */
	FUZZ_CHECK(smk_header_parse(&list, msg + ref.prefix_len, block_len, &err) == 0);
	check_fields(&list, msg + ref.prefix_len, block_len);
	smk_header_list_free(&list);

	/* The Content-Type parsers also take anything at all. */
	check_content_type((const char *)in.data, in.size);

	fuzz_free(msg, in.size);
	return 0;
}
