/* smk-token-directory.h - the `type = directory` token: cloud-held keys
 *
 * A token for one mail address whose keys are escrowed in the directory
 * as userPKCS12 values, each a PKCS#12 encrypted under the user's PIN
 * (lib/smk-p12.h).  The key store (lib/smk-keystore.h) drives it through
 * the backend table; fronts that serve directory tokens pass
 * &smk_token_directory_backend to smk_keystore_new.
 *
 *	[token alice-cloud]
 *	type = directory
 *	address = alice@example.org
 *	login = self		# or: bind
 *	label = Alice (cloud)	# optional, PKCS#11 token label
 *	max_failures = 10	# optional, the client-side counter
 *
 * The directory itself is configured in [directory] (as for `smimekit
 * directory`).
 */
#ifndef SMK_TOKEN_DIRECTORY_H
#define SMK_TOKEN_DIRECTORY_H

#include "smk-keystore-backend.h"

extern const struct smk_token_backend smk_token_directory_backend;

#endif
