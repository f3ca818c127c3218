/* smk-types.h - types shared across the smimekit core */
#ifndef SMK_TYPES_H
#define SMK_TYPES_H

#include <stddef.h>

/* Where produced bytes go.  Returns 0 on success, -1 to abort: the
 * producer then fails with an output error and writes nothing more. */
typedef int smk_write_fn(void *ctx, const void *data, size_t len);

#endif
