/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <glib.h>

#include "vtc-agent-round.h"

G_BEGIN_DECLS

/*
 * Direct mode (doc/channel.md, doc/agent.md): HTTPS with the agent's own TLS key, the one it
 * registered at enrollment and binds into every quote (qualifyingData = SHA-256(nonce ||
 * SHA-256(SPKI))). POST /v1/round needs a client certificate of the deployment's CA;
 * GET /v1/version does not.
 */

/* The agent's TLS key and self-signed certificate: made (ECDSA P-256, CN "vtc-agent
 * @uuid", SAN DNS:@uuid, key 0600) when neither file exists; kept otherwise. One without the
 * other is an error. */
gboolean vtc_agent_api_tls_ensure(const gchar *cert_path,
                                  const gchar *key_path,
                                  const gchar *uuid,
                                  GError **error);
/*
 * The TLS identity kept in the vTPM's NV, which survives a reboot of a guest whose state
 * directory is in RAM (doc/agent.md). The NV index (VtcAgentTpm's kind: owner read/write, no
 * DA) holds a versioned blob: magic "VTLS", version, lengths, SHA-256, the DER PKCS#8 key and the
 * DER certificate, zero-padded to VTC_AGENT_API_TLS_NV_SIZE.
 */
#define VTC_AGENT_API_TLS_NV_INDEX_DEFAULT 0x01500100
#define VTC_AGENT_API_TLS_NV_SIZE          1024

typedef enum {
        VTC_AGENT_API_TLS_FILES,       /* both files were there: used as they are */
        VTC_AGENT_API_TLS_MADE,        /* made now, in the files only (no NV index) */
        VTC_AGENT_API_TLS_FROM_NV,     /* read from the NV index, written to the files */
        VTC_AGENT_API_TLS_MADE_NV,     /* the index was empty: made now, kept there and in files */
        VTC_AGENT_API_TLS_REPLACED_NV, /* the index held no valid identity: made now, overwritten */
} VtcAgentApiTlsSource;

/*
 * The agent's TLS key and certificate at @cert_path/@key_path: kept when both files exist (a
 * host with a disk); else, with @nv_index 0, made as vtc_agent_api_tls_ensure() does; else read
 * from the NV index @nv_index of @tpm, or made and stored there when the index is undefined or
 * unwritten, and written to the files. An index that is not the agent's kind (size, attributes)
 * is an error and never touched; one whose content is of a newer format version is an error; one
 * whose content does not parse is overwritten with a new identity and *@out_replaced_why (may
 * be NULL) says why: the caller tells the admin, since the new key must be enrolled again.
 */
gboolean vtc_agent_api_tls_ensure_nv(VtcAgentTpm *tpm,
                                     TPM2_HANDLE nv_index,
                                     const gchar *cert_path,
                                     const gchar *key_path,
                                     const gchar *uuid,
                                     VtcAgentApiTlsSource *out_source,
                                     gchar **out_replaced_why,
                                     GError **error);
/* The blob of @key and @cert, zero-padded to @size bytes (wiped when freed). Does not check
 * that they belong together (tests make bad blobs with it). */
GBytes *vtc_agent_api_tls_blob_pack(EVP_PKEY *key, X509 *cert, gsize size, GError **error);
/* Parses a blob: the magic, the version (another one: VTC_ERROR_NOT_SUPPORTED), the lengths,
 * the checksum, both DER objects exactly, and that the certificate's public key is the key. */
gboolean vtc_agent_api_tls_blob_parse(const guint8 *data,
                                      gsize len,
                                      EVP_PKEY **out_key,
                                      X509 **out_cert,
                                      GError **error);

/* SHA-256 of the certificate's DER SubjectPublicKeyInfo, and the certificate as PEM. */
gboolean vtc_agent_api_tls_key_sha256(const gchar *cert_path,
                                      guint8 out_sha256[32],
                                      gchar **out_pem,
                                      GError **error);

typedef struct {
        const gchar *cert_path;
        const gchar *key_path;
        const gchar *client_ca_path; /* the deployment's CA: verifiers' client certificates */
        const gchar *address;
        guint port;           /* 0: any free port */
        const gchar *version; /* "vtc-agent 0.1.0" */
} VtcAgentApiOptions;

typedef struct _VtcAgentApi VtcAgentApi;

/* Listens at once; keeps a reference on @round. */
VtcAgentApi *
vtc_agent_api_new(const VtcAgentApiOptions *options, VtcAgentRound *round, GError **error);
void vtc_agent_api_free(VtcAgentApi *self);
guint vtc_agent_api_get_port(VtcAgentApi *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentApi, vtc_agent_api_free)

G_END_DECLS
