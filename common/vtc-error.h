/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VTC_ERROR (vtc_error_quark())

/*
 * One error domain for the whole project. Each code maps to one HTTP status and one stable
 * JSON error string (vtc_error_to_http_status(), vtc_error_to_string()); keep the table in
 * vtc-error.c in step with this enum.
 */
typedef enum {
        VTC_ERROR_FAILED,           /* internal error, 500 */
        VTC_ERROR_INVALID_ARGUMENT, /* the caller asked for something meaningless, 400 */
        VTC_ERROR_INVALID_DATA,     /* input does not parse, 400 */
        VTC_ERROR_TOO_LARGE,        /* input over a configured limit, 413 */
        VTC_ERROR_NOT_FOUND,        /* 404 */
        VTC_ERROR_CONFLICT,         /* 409 */
        VTC_ERROR_UNAUTHORIZED,     /* 401 */
        VTC_ERROR_FORBIDDEN,        /* 403 */
        VTC_ERROR_VERIFY_FAILED,    /* a signature, digest or proof does not verify, 422 */
        VTC_ERROR_POLICY,           /* evidence is genuine but violates a policy, 422 */
        VTC_ERROR_NOT_SUPPORTED,    /* valid but not handled (algorithm, format), 400 */
        VTC_ERROR_TPM,              /* the TPM returned an error, 502 */
        VTC_ERROR_IO,               /* files, sockets, processes, 500 */
        VTC_ERROR_TIMEOUT,          /* 504 */
        VTC_ERROR_UNAVAILABLE,      /* 503 */
        VTC_ERROR_LAST
} VtcError;

GQuark vtc_error_quark(void);
guint vtc_error_to_http_status(const GError *error);
const gchar *vtc_error_to_string(const GError *error);

G_END_DECLS
