/* smk-log.h - where library components send their log lines
 *
 * Components that have something to tell an operator (a skipped garbage
 * value in the directory, a failover to another server) take a log
 * callback: the Dovecot plugin routes it to the user's event log, the
 * command to standard error.  Messages never contain secrets or message
 * content.
 */
#ifndef SMK_LOG_H
#define SMK_LOG_H

enum smk_log_level {
	SMK_LOG_DEBUG,
	SMK_LOG_INFO,
	SMK_LOG_WARNING,
	SMK_LOG_ERROR,
};

typedef void smk_log_fn(void *ctx, enum smk_log_level level, const char *msg);

#endif
