/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <tss2/tss2_common.h>
#include <tss2/tss2_tpm2_types.h>

#include "vtc-error.h"

G_BEGIN_DECLS

/* GLib 2.74 has neither g_autofd nor G_GNUC_NON_NULL. */
static inline void
vtc_fd_cleanup(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define vtc_autofd __attribute__((cleanup(vtc_fd_cleanup)))

#define VTC_NON_NULL(...) __attribute__((nonnull(__VA_ARGS__)))

/* Owned OpenSSL locals. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_MAC, EVP_MAC_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_MAC_CTX, EVP_MAC_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE_CTX, X509_STORE_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIGNUM, BN_free)

/* Wipes a secret before freeing it. */
void vtc_secret_free(gpointer data, gsize len);

/* Hex */
gchar *vtc_hex_encode(const guint8 *buf, gsize len);
/* Accepts upper or lower case, no separators; an odd length or a non-hex digit is an error. */
GBytes *vtc_hex_decode(const gchar *hex, GError **error);
/* Decodes exactly @len bytes into @out; @out is untouched on failure. */
gboolean vtc_hex_decode_fixed(const gchar *hex, guint8 *out, gsize len, GError **error);

/* Reads a whole file, refusing anything larger than @max_size bytes. */
GBytes *vtc_file_read(const gchar *path, gsize max_size, GError **error);
/* Writes atomically (temporary file, fsync, rename). */
gboolean
vtc_file_write_atomic(const gchar *path, const guint8 *buf, gsize len, guint mode, GError **error);

/* Hash algorithms as the TPM names them. */
typedef struct {
        TPM2_ALG_ID alg;
        const gchar *name; /* "sha1", "sha256", ... as tpm2-tools and the TCG logs say */
        guint size;
        const gchar *ossl_name; /* NULL when OpenSSL cannot compute it */
} VtcHashAlg;

const VtcHashAlg *vtc_hash_alg_from_id(TPM2_ALG_ID alg);
const VtcHashAlg *vtc_hash_alg_from_name(const gchar *name);
const EVP_MD *vtc_hash_alg_get_md(const VtcHashAlg *alg);

/* One-shot digest; @out must hold the algorithm's size. */
gboolean vtc_hash(const VtcHashAlg *alg, const guint8 *buf, gsize len, guint8 *out, GError **error);

/* Sets @error from a TSS2 return code: the operation, the raw code and its decoding. */
void vtc_tss_set_error(GError **error, TSS2_RC rc, const gchar *operation);
/* Sets @error with @code, the message, and the first queued OpenSSL error (then clears the queue).
 */
void vtc_ossl_set_error(GError **error, gint code, const gchar *format, ...) G_GNUC_PRINTF(3, 4);

G_END_DECLS
