/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "vtc-agent-tpm.h"
#include "vtc-channel.h"

G_BEGIN_DECLS

/*
 * One attestation round in the guest (doc/channel.md): a parsed round request in, the guest
 * evidence object out (quote, PCR values, IMA log bytes from the requested offset, the firmware
 * event log when asked).
 */
#define VTC_AGENT_ROUND_IMA_PATH_DEFAULT  "/sys/kernel/security/ima/binary_runtime_measurements"
#define VTC_AGENT_ROUND_BOOT_PATH_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"
/* A firmware log is a few KiB; this keeps a whole answer (8 MiB of IMA as base64, this as
 * base64, the quote) under the 16 MiB frame limit. */
#define VTC_AGENT_ROUND_MAX_BOOT_LOG (2u * 1024 * 1024)

typedef struct {
        const gchar *uuid;            /* the VM UUID the agent enrolled as */
        const gchar *ima_path;        /* NULL or "": no IMA log */
        const gchar *boot_log_path;   /* NULL or "": no firmware log */
        gsize ima_max_chunk;          /* 0: VTC_CHANNEL_MAX_IMA; never more */
        const guint8 *tls_key_sha256; /* 32 bytes, or NULL (no TLS key registered) */
} VtcAgentRoundOptions;

typedef struct _VtcAgentRound VtcAgentRound;

/* Copies @options; keeps a reference on @tpm. */
VtcAgentRound *vtc_agent_round_new(VtcAgentTpm *tpm, const VtcAgentRoundOptions *options);
VtcAgentRound *vtc_agent_round_ref(VtcAgentRound *self);
void vtc_agent_round_unref(VtcAgentRound *self);

/*
 * Runs @round: the guest evidence object without "id" and "ok". Fails only when the quote
 * fails (VTC_ERROR_TPM, ...); an IMA offset beyond the log's end or an unreadable log is an
 * "error" member of "ima_log", not a failure.
 */
JsonObject *vtc_agent_round_run(VtcAgentRound *self, const VtcChannelRound *round, GError **error);
/* The same in a worker thread; the callback runs in the caller's thread-default context. */
void vtc_agent_round_run_async(VtcAgentRound *self,
                               const VtcChannelRound *round,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
JsonObject *vtc_agent_round_run_finish(VtcAgentRound *self, GAsyncResult *result, GError **error);

/*
 * Up to @max bytes of the file at @path from byte @offset: *@out_more says whether the file
 * goes on. Works on securityfs files, whose size stat() does not tell. VTC_ERROR_NOT_FOUND when
 * the file does not exist, VTC_ERROR_INVALID_ARGUMENT when @offset is beyond its end.
 */
GBytes *vtc_agent_round_read_from(const gchar *path,
                                  guint64 offset,
                                  gsize max,
                                  gboolean *out_more,
                                  GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentRound, vtc_agent_round_unref)

G_END_DECLS
