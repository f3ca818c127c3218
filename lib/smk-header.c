/* smk-header.c - RFC 5322 header block scanning and field parsing */
#include "config.h"

#include "smk-header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smk-util.h"

enum line_kind {
	LINE_EMPTY,	/* "" or "\r": the header/body separator */
	LINE_CONT,	/* starts with a blank: continues the previous field */
	LINE_FIELD,	/* field-name ":" ... */
	LINE_OTHER,	/* anything else: not a header line */
};

static bool
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..n) is one line without its '\n'. */
static enum line_kind
classify_line(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || (n == 1 && s[0] == '\r'))
		return LINE_EMPTY;
	if (is_wsp(s[0]))
		return LINE_CONT;
	while (i < n && is_ftext((unsigned char)s[i]))
		i++;
	if (i == 0)
		return LINE_OTHER;
	while (i < n && is_wsp(s[i]))	/* obs-optional: "Subject :" */
		i++;
	return (i < n && s[i] == ':') ? LINE_FIELD : LINE_OTHER;
}

void
smk_header_scanner_init(struct smk_header_scanner *sc)
{
	memset(sc, 0, sizeof(*sc));
}

static bool
scan_finish(struct smk_header_scanner *sc, size_t fields_end, size_t body_start, bool separator)
{
	sc->done = true;
	sc->fields_end = fields_end;
	sc->body_start = body_start;
	sc->separator = separator;
	return true;
}

bool
smk_header_scan(struct smk_header_scanner *sc, const char *buf, size_t len, bool final)
{
	if (sc->done)
		return true;

	while (sc->pos < len) {
		const char *line = buf + sc->pos;
		const char *nl = memchr(line, '\n', len - sc->pos);
		size_t n, next;

		if (nl == NULL) {
			if (!final)
				return false;	/* classify whole lines only */
			n = len - sc->pos;
			next = len;
		} else {
			n = (size_t)(nl - line);
			next = sc->pos + n + 1;
		}

		/* An mbox "From " envelope line may precede the fields. */
		if (sc->pos == 0 && n >= 5 && memcmp(line, "From ", 5) == 0) {
			sc->prefix_len = next;
			sc->pos = next;
			continue;
		}

		switch (classify_line(line, n)) {
		case LINE_EMPTY:
			return scan_finish(sc, sc->pos, next, true);
		case LINE_CONT:
			if (!sc->in_field)
				return scan_finish(sc, sc->pos, sc->pos, false);
			break;
		case LINE_FIELD:
			sc->in_field = true;
			break;
		case LINE_OTHER:
			return scan_finish(sc, sc->pos, sc->pos, false);
		}
		sc->pos = next;
	}
	if (final)
		return scan_finish(sc, len, len, false);
	return false;
}

static int
list_grow(struct smk_header_list *list, struct smk_error *err)
{
	size_t alloc = list->alloc ? list->alloc * 2 : 32;
	struct smk_header_field *f;

	f = reallocarray(list->fields, alloc, sizeof(*f));
	if (f == NULL)
		return smk_error_set(err, SMK_ERR_NOMEM, "out of memory parsing the header");
	list->fields = f;
	list->alloc = alloc;
	return 0;
}

int
smk_header_parse(struct smk_header_list *list, const char *block, size_t len, struct smk_error *err)
{
	size_t pos = 0;

	list->count = 0;
	while (pos < len) {
		struct smk_header_field *f;
		const char *colon, *end;
		size_t start = pos;

		/* The field runs until a line that does not start with a blank. */
		do {
			const char *nl = memchr(block + pos, '\n', len - pos);

			pos = nl ? (size_t)(nl - block) + 1 : len;
		} while (pos < len && is_wsp(block[pos]));

		if (list->count == list->alloc && list_grow(list, err) < 0)
			return -1;
		f = &list->fields[list->count++];
		f->raw = block + start;
		f->raw_len = pos - start;

		end = f->raw + f->raw_len;
		if (end > f->raw && end[-1] == '\n')
			end--;
		if (end > f->raw && end[-1] == '\r')
			end--;

		colon = memchr(f->raw, ':', (size_t)(end - f->raw));
		if (colon == NULL) {
			f->name = f->raw;
			f->name_len = (size_t)(end - f->raw);
			f->value = end;
			f->value_len = 0;
		} else {
			f->name = f->raw;
			f->name_len = (size_t)(colon - f->raw);
			while (f->name_len > 0 && is_wsp(f->name[f->name_len - 1]))
				f->name_len--;
			f->value = colon + 1;
			f->value_len = (size_t)(end - f->value);
		}
	}
	return 0;
}

void
smk_header_list_free(struct smk_header_list *list)
{
	free(list->fields);
	memset(list, 0, sizeof(*list));
}

bool
smk_header_name_is(const struct smk_header_field *f, const char *name)
{
	return smk_ascii_eq_n(f->name, f->name_len, name, strlen(name));
}

const struct smk_header_field *
smk_header_find(const struct smk_header_list *list, const char *name)
{
	for (size_t i = 0; i < list->count; i++) {
		if (smk_header_name_is(&list->fields[i], name))
			return &list->fields[i];
	}
	return NULL;
}

bool
smk_header_is_structural(const struct smk_header_field *f)
{
	static const char content[] = "content-";

	if (f->name_len > sizeof(content) - 1 &&
	    strncasecmp(f->name, content, sizeof(content) - 1) == 0)
		return true;
	return smk_header_name_is(f, "mime-version");
}

/* ---- Content-Type ---------------------------------------------------- */

struct cursor {
	const char *p;
	const char *end;
};

static bool
is_tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool
is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && !is_tspecial(c);
}

/* Skips blanks, line breaks and (nested) comments. */
static void
skip_cfws(struct cursor *c)
{
	int depth = 0;

	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p;

		if (depth > 0) {
			if (ch == '\\' && c->p + 1 < c->end)
				c->p++;
			else if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
			c->p++;
		} else if (ch == '(') {
			depth = 1;
			c->p++;
		} else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->p++;
		} else {
			break;
		}
	}
}

/* Reads a token into out (lower-cased when `lower`), or skips it when out
 * is NULL.  Returns false if there is none or it does not fit. */
static bool
read_token(struct cursor *c, char *out, size_t outsz, bool lower)
{
	size_t n = 0;

	while (c->p < c->end && is_token_char((unsigned char)*c->p)) {
		if (out != NULL) {
			if (n + 1 >= outsz)
				return false;
			out[n] = lower ? smk_ascii_tolower(*c->p) : *c->p;
		}
		n++;
		c->p++;
	}
	if (out != NULL)
		out[n] = '\0';
	return n > 0;
}

/* Reads a quoted-string without its quotes into out, or skips it when out
 * is NULL. */
static bool
read_quoted(struct cursor *c, char *out, size_t outsz)
{
	size_t n = 0;

	c->p++;	/* opening quote */
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p;

		if (ch == '\\' && c->p + 1 < c->end) {
			c->p++;
			ch = *c->p;
		} else if (ch == '\r' || ch == '\n') {
			c->p++;	/* unfold */
			continue;
		}
		if (out != NULL) {
			if (n + 1 >= outsz)
				return false;
			out[n++] = ch;
		}
		c->p++;
	}
	if (c->p >= c->end)
		return false;	/* unterminated */
	c->p++;
	if (out != NULL)
		out[n] = '\0';
	return true;
}

bool
smk_content_type_parse(const char *value, size_t len, struct smk_content_type *ct)
{
	struct cursor c = { value, value + len };

	ct->type[0] = ct->subtype[0] = '\0';
	skip_cfws(&c);
	if (!read_token(&c, ct->type, sizeof(ct->type), true))
		goto fail;
	skip_cfws(&c);
	if (c.p >= c.end || *c.p != '/')
		goto fail;
	c.p++;
	skip_cfws(&c);
	if (!read_token(&c, ct->subtype, sizeof(ct->subtype), true))
		goto fail;
	return true;
fail:
	ct->type[0] = ct->subtype[0] = '\0';
	return false;
}

bool
smk_content_type_param(const char *value, size_t len, const char *name, char *out, size_t outsz)
{
	struct cursor c = { value, value + len };

	/* Skip the media type: everything up to the first ';' outside quotes
	 * and comments. */
	while (c.p < c.end && *c.p != ';') {
		if (*c.p == '(') {
			skip_cfws(&c);
		} else if (*c.p == '"') {
			if (!read_quoted(&c, NULL, 0))
				return false;
		} else {
			c.p++;
		}
	}

	while (c.p < c.end && *c.p == ';') {
		char attr[SMK_CT_TOKEN_MAX];
		bool match;

		c.p++;
		skip_cfws(&c);
		if (!read_token(&c, attr, sizeof(attr), true))
			return false;
		skip_cfws(&c);
		if (c.p >= c.end || *c.p != '=')
			return false;
		c.p++;
		skip_cfws(&c);
		match = strcasecmp(attr, name) == 0;
		if (c.p < c.end && *c.p == '"') {
			if (!read_quoted(&c, match ? out : NULL, outsz))
				return false;
		} else if (!read_token(&c, match ? out : NULL, outsz, false)) {
			return false;
		}
		if (match)
			return true;
		skip_cfws(&c);
	}
	return false;
}
