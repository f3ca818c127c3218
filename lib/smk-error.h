/* smk-error.h - error reporting for the smimekit core
 *
 * Every fallible call in lib/ takes a `struct smk_error *` (may be NULL)
 * and fills it with a status code and one human-readable line naming what
 * went wrong.  No secrets ever go into an error message.
 */
#ifndef SMK_ERROR_H
#define SMK_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define SMK_ERROR_MSG_MAX 512

enum smk_status {
	SMK_OK = 0,
	SMK_ERR_INVALID,	/* bad argument or option from the caller */
	SMK_ERR_NOMEM,
	SMK_ERR_IO,		/* file or output sink failed */
	SMK_ERR_CRYPTO,		/* OpenSSL failed */
	SMK_ERR_MESSAGE,	/* the input message is unacceptable */
	SMK_ERR_CERT,		/* a certificate is unusable or unreadable */
	SMK_ERR_STATE,		/* API misuse: call out of order */
};

struct smk_error {
	enum smk_status code;
	char msg[SMK_ERROR_MSG_MAX];
};

void smk_error_clear(struct smk_error *err);

/* Sets err (if not NULL) and returns -1, so callers can `return smk_error_set(...)`. */
int smk_error_set(struct smk_error *err, enum smk_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As smk_error_set, then appends ": <first OpenSSL error>" and empties
 * OpenSSL's error queue. */
int smk_error_set_ossl(struct smk_error *err, enum smk_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As smk_error_set with a va_list; err must not be NULL. */
void smk_error_vset(struct smk_error *err, enum smk_status code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

const char *smk_status_str(enum smk_status code);

#endif
