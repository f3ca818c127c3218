/* smk-ldap-filter.c - the search filter for an address
 *
 * Every value put into a filter is escaped as RFC 4515 says (by libldap's
 * ldap_bv2escaped_filter_value): "*@example.org" and
 * "\"a)(uid=*\"@example.org" are addresses, and match only themselves.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "smk-ldap.h"

#define ADDRESS_MAX 512

/* RFC 4515-escaped copy of s[0..len) (malloc'd). */
static char *
escape(const char *s, size_t len)
{
	struct berval in = { .bv_len = len, .bv_val = (char *)s }, out = { 0, NULL };
	char *copy;

	if (len == 0)
		return strdup("");	/* libldap gives no buffer for nothing */
	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		return NULL;
	copy = strndup(out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return copy;
}

char *
smk_ldap_filter_expand(const char *tmpl, const char *address, struct smk_error *err)
{
	const char *at = strrchr(address, '@');
	char *parts[3] = { NULL, NULL, NULL };	/* %s, %u, %d */
	char *out = NULL;
	size_t len = 0, n = 0;

	if (tmpl == NULL)
		tmpl = SMK_LDAP_DEFAULT_FILTER;
	if (address[0] == '\0' || strlen(address) > ADDRESS_MAX) {
		smk_error_set(err, SMK_ERR_INVALID, "\"%.64s\" is not a mail address", address);
		return NULL;
	}
	for (const unsigned char *p = (const unsigned char *)address; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			smk_error_set(err, SMK_ERR_INVALID,
				      "mail address with a control character (0x%02x)", *p);
			return NULL;
		}
	}
	/* Escape only what the template uses (this is on every lookup). */
	for (const char *p = tmpl; (p = strchr(p, '%')) != NULL; p += 2) {
		int i = p[1] == 's' ? 0 : p[1] == 'u' ? 1 : p[1] == 'd' ? 2 : -1;

		if (p[1] == '\0')
			break;
		if (i < 0 || parts[i] != NULL)
			continue;
		if (i == 0)
			parts[0] = escape(address, strlen(address));
		else if (i == 1)
			parts[1] = escape(address, at ? (size_t)(at - address) : strlen(address));
		else
			parts[2] = escape(at ? at + 1 : "", at ? strlen(at + 1) : 0);
		if (parts[i] == NULL) {
			smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
			goto out;
		}
	}

	/* Two passes: measure, then write. */
	for (int pass = 0; pass < 2; pass++) {
		n = 0;
		for (const char *p = tmpl; *p != '\0'; p++) {
			const char *piece = NULL;
			char one = *p;

			if (*p == '%') {
				switch (p[1]) {
				case 's': piece = parts[0]; break;
				case 'u': piece = parts[1]; break;
				case 'd': piece = parts[2]; break;
				case '%': break;
				default:
					smk_error_set(err, SMK_ERR_INVALID,
						      "filter: '%%%c' is not %%s, %%u, %%d or %%%%",
						      p[1] ? p[1] : ' ');
					free(out);
					out = NULL;
					goto out;
				}
				p++;
			}
			if (piece != NULL) {
				if (pass == 1)
					memcpy(out + n, piece, strlen(piece));
				n += strlen(piece);
			} else {
				if (pass == 1)
					out[n] = one;
				n++;
			}
		}
		if (pass == 0) {
			len = n;
			out = malloc(len + 1);
			if (out == NULL) {
				smk_error_set(err, SMK_ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	out[len] = '\0';
out:
	for (int i = 0; i < 3; i++)
		free(parts[i]);
	return out;
}
