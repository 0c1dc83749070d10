/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <tss2/tss2_tpm2_types.h>

G_BEGIN_DECLS

/*
 * TPM2_Certify evidence: "the TPM that holds @signer_public also holds the object whose public
 * area is @object_public". @attest is the marshalled TPMS_ATTEST (type TPM2_ST_ATTEST_CERTIFY)
 * and @signature the marshalled TPMT_SIGNATURE over it by the signer (an AK). Checks the magic
 * and type, the signature, that the certified name is the object's name, and, when
 * @qualifying_data is not NULL, the extraData. Fails with VTC_ERROR_VERIFY_FAILED saying which
 * check failed, or VTC_ERROR_INVALID_DATA for structures that do not unmarshal.
 */
gboolean vtc_certify_check(GBytes *signer_public,
                           GBytes *object_public,
                           GBytes *attest,
                           GBytes *signature,
                           GBytes *qualifying_data,
                           GError **error);

/* A key fit to be a CA inside the TPM: fixedTPM, fixedParent, sensitiveDataOrigin, sign,
 * neither decrypt nor restricted (a restricted key cannot sign certificates). */
gboolean vtc_certify_check_ca_key_attributes(const TPM2B_PUBLIC *pub, GError **error);

G_END_DECLS
