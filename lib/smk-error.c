/* smk-error.c - error reporting for the smimekit core */
#include "config.h"

#include "smk-error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

void
smk_error_clear(struct smk_error *err)
{
	if (err == NULL)
		return;
	err->code = SMK_OK;
	err->msg[0] = '\0';
}

void
smk_error_vset(struct smk_error *err, enum smk_status code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int
smk_error_set(struct smk_error *err, enum smk_status code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	smk_error_vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
smk_error_set_ossl(struct smk_error *err, enum smk_status code, const char *fmt, ...)
{
	unsigned long e;
	va_list ap;
	size_t len;

	if (err == NULL) {
		ERR_clear_error();
		return -1;
	}
	va_start(ap, fmt);
	smk_error_vset(err, code, fmt, ap);
	va_end(ap);

	/* The earliest error is usually the cause; later ones are context. */
	e = ERR_peek_error();
	len = strlen(err->msg);
	if (e != 0 && len + 3 < sizeof(err->msg)) {
		const char *reason = ERR_reason_error_string(e);
		char buf[256];

		if (reason == NULL) {
			ERR_error_string_n(e, buf, sizeof(buf));
			reason = buf;
		}
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", reason);
	}
	ERR_clear_error();
	return -1;
}

const char *
smk_status_str(enum smk_status code)
{
	switch (code) {
	case SMK_OK: return "ok";
	case SMK_ERR_INVALID: return "invalid argument";
	case SMK_ERR_NOMEM: return "out of memory";
	case SMK_ERR_IO: return "input/output error";
	case SMK_ERR_CRYPTO: return "cryptographic error";
	case SMK_ERR_MESSAGE: return "unacceptable message";
	case SMK_ERR_CERT: return "unusable certificate";
	case SMK_ERR_STATE: return "call out of order";
	}
	return "unknown error";
}
