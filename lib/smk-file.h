/* smk-file.h - reading small files that admins name (certificates,
 * configuration, password files) */
#ifndef SMK_FILE_H
#define SMK_FILE_H

#include <stddef.h>

#include "smk-error.h"

/* Reads the whole regular file at path (a FIFO, device or directory is
 * refused without blocking).  A file over max bytes fails with status
 * too_big and "PATH: too large for a NOUN (N bytes)".  The buffer is
 * malloc'd with a NUL after the contents; callers holding secrets wipe it
 * before free(). */
char *smk_file_read(const char *path, size_t max, const char *noun, enum smk_status too_big,
		    size_t *len, struct smk_error *err);

#endif
