/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-error.h"

G_DEFINE_QUARK(vtc_error_quark, vtc_error)

static const struct {
        guint http_status;
        const gchar *name;
} vtc_error_table[VTC_ERROR_LAST] = {
    [VTC_ERROR_FAILED] = {500, "internal_error"},
    [VTC_ERROR_INVALID_ARGUMENT] = {400, "invalid_argument"},
    [VTC_ERROR_INVALID_DATA] = {400, "invalid_data"},
    [VTC_ERROR_TOO_LARGE] = {413, "too_large"},
    [VTC_ERROR_NOT_FOUND] = {404, "not_found"},
    [VTC_ERROR_CONFLICT] = {409, "conflict"},
    [VTC_ERROR_UNAUTHORIZED] = {401, "unauthorized"},
    [VTC_ERROR_FORBIDDEN] = {403, "forbidden"},
    [VTC_ERROR_VERIFY_FAILED] = {422, "verification_failed"},
    [VTC_ERROR_POLICY] = {422, "policy_violation"},
    [VTC_ERROR_NOT_SUPPORTED] = {400, "not_supported"},
    [VTC_ERROR_TPM] = {502, "tpm_error"},
    [VTC_ERROR_IO] = {500, "io_error"},
    [VTC_ERROR_TIMEOUT] = {504, "timeout"},
    [VTC_ERROR_UNAVAILABLE] = {503, "unavailable"},
};

guint
vtc_error_to_http_status(const GError *error)
{
        if (error == NULL || error->domain != VTC_ERROR || error->code < 0 ||
            error->code >= VTC_ERROR_LAST)
                return 500;
        return vtc_error_table[error->code].http_status;
}

const gchar *
vtc_error_to_string(const GError *error)
{
        if (error == NULL || error->domain != VTC_ERROR || error->code < 0 ||
            error->code >= VTC_ERROR_LAST)
                return "internal_error";
        return vtc_error_table[error->code].name;
}
