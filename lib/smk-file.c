/* smk-file.c - reading small files that admins name */
#include "config.h"

#include "smk-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
smk_file_read(const char *path, size_t max, const char *noun, enum smk_status too_big,
	      size_t *len, struct smk_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is
	 * refused below); it changes nothing for regular files. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		smk_error_set(err, SMK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		smk_error_set(err, SMK_ERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		smk_error_set(err, too_big, "%s: too large for a %s (%lld bytes)", path, noun,
			      (long long)st.st_size);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		smk_error_set(err, SMK_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			smk_error_set(err, SMK_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
			free(buf);
			buf = NULL;
			goto out;
		}
		if (r == 0)
			break;	/* shrank meanwhile */
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
out:
	close(fd);
	return buf;
}
