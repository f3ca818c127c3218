/* tool-util.c - shared pieces of the smimekit command */
#include "config.h"

#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
tool_err(const char *fmt, ...)
{
	va_list ap;

	fputs("smimekit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool
tool_parse_size(const char *s, size_t *out)
{
	unsigned long long v, mult = 1;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1024ULL; end++; break;
	case 'm': case 'M': mult = 1024ULL * 1024; end++; break;
	case 'g': case 'G': mult = 1024ULL * 1024 * 1024; end++; break;
	default: return false;
	}
	if (*end != '\0' || v > SIZE_MAX / mult)
		return false;
	*out = (size_t)(v * mult);
	return true;
}

int
tool_out_open(struct tool_out *out, const char *path)
{
	struct stat st;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (path == NULL || strcmp(path, "-") == 0) {
		out->fd = STDOUT_FILENO;
		return 0;
	}
	/* A device or pipe (/dev/null, a FIFO) is written to directly: there
	 * is nothing to replace atomically, and renaming over it would be
	 * wrong. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		out->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (out->fd < 0) {
			tool_err("%s: cannot open: %s", path, strerror(errno));
			return -1;
		}
		out->direct = true;
		return 0;
	}
	out->path = strdup(path);
	if (out->path == NULL || asprintf(&out->tmp, "%s.XXXXXX", path) < 0) {
		out->tmp = NULL;
		tool_err("out of memory");
		tool_out_abort(out);
		return -1;
	}
	out->fd = mkostemp(out->tmp, O_CLOEXEC);
	if (out->fd < 0) {
		tool_err("%s: cannot create: %s", path, strerror(errno));
		free(out->tmp);
		out->tmp = NULL;
		tool_out_abort(out);
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int
out_flush(struct tool_out *out)
{
	if (out->failed)
		return -1;
	if (out->n > 0 && write_all(out->fd, out->buf, out->n) < 0) {
		out->failed = true;
		out->saved_errno = errno;
		return -1;
	}
	out->n = 0;
	return 0;
}

int
tool_out_write(void *ctx, const void *data, size_t len)
{
	struct tool_out *out = ctx;

	if (out->failed)
		return -1;
	if (out->n + len > sizeof(out->buf) && out_flush(out) < 0)
		return -1;
	if (len >= sizeof(out->buf)) {
		if (write_all(out->fd, data, len) < 0) {
			out->failed = true;
			out->saved_errno = errno;
			return -1;
		}
		return 0;
	}
	memcpy(out->buf + out->n, data, len);
	out->n += len;
	return 0;
}

int
tool_out_commit(struct tool_out *out)
{
	const char *name = out->path ? out->path : "standard output";
	mode_t mask;

	if (out_flush(out) < 0) {
		tool_err("%s: write failed: %s", name, strerror(out->saved_errno));
		tool_out_abort(out);
		return -1;
	}
	if (out->direct) {
		if (close(out->fd) < 0) {
			tool_err("%s: write failed: %s", name, strerror(errno));
			out->fd = -1;
			return -1;
		}
		out->fd = -1;
		return 0;
	}
	if (out->path == NULL)
		return 0;

	mask = umask(0);
	umask(mask);
	if (fchmod(out->fd, 0666 & ~mask) < 0 || fsync(out->fd) < 0 || close(out->fd) < 0) {
		tool_err("%s: cannot write: %s", name, strerror(errno));
		out->fd = -1;
		tool_out_abort(out);
		return -1;
	}
	out->fd = -1;
	if (rename(out->tmp, out->path) < 0) {
		tool_err("%s: cannot replace: %s", name, strerror(errno));
		tool_out_abort(out);
		return -1;
	}
	free(out->tmp);
	free(out->path);
	out->tmp = out->path = NULL;
	return 0;
}

void
tool_out_abort(struct tool_out *out)
{
	if ((out->path != NULL || out->direct) && out->fd >= 0)
		close(out->fd);
	if (out->tmp != NULL)
		unlink(out->tmp);
	free(out->tmp);
	free(out->path);
	out->tmp = out->path = NULL;
	out->fd = -1;
}
