/* digest.c - the digests the operations take as parameters (signature,
 * OAEP and MGF1, the ECDH KDF): fetched in the provider's own library
 * context, referenced by the contexts, named for the key store.
 */
#include "config.h"

#include <openssl/objects.h>

#include "smk-prov.h"

const char *
smk_prov_md_ks_name(const EVP_MD *md)
{
	const char *sn;

	if (md == NULL)
		return NULL;
	sn = OBJ_nid2sn(EVP_MD_get_type(md));
	return sn != NULL ? sn : EVP_MD_get0_name(md);
}

int
smk_prov_md_fetch(struct smk_prov *prov, EVP_MD **slot, const char *name)
{
	EVP_MD *md = EVP_MD_fetch(prov->libctx, name, NULL);

	if (md == NULL) {
		smk_prov_error(prov, SMK_PROV_R_PARAM, "digest %s is not available", name);
		return 0;
	}
	EVP_MD_free(*slot);
	*slot = md;
	return 1;
}

int
smk_prov_md_ref(EVP_MD **slot, EVP_MD *md)
{
	if (md != NULL && !EVP_MD_up_ref(md))
		return 0;
	EVP_MD_free(*slot);
	*slot = md;
	return 1;
}
