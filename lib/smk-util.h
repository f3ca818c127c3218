/* smk-util.h - small locale-independent string helpers */
#ifndef SMK_UTIL_H
#define SMK_UTIL_H

#include <stdbool.h>
#include <stddef.h>

static inline char
smk_ascii_tolower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality of a[0..alen) and b[0..blen). */
static inline bool
smk_ascii_eq_n(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		if (smk_ascii_tolower(a[i]) != smk_ascii_tolower(b[i]))
			return false;
	}
	return true;
}

#define SMK_N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#endif
