/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <tss2/tss2_tpm2_types.h>

#include "vtc-channel.h"
#include "vtc-hostd-batch.h"
#include "vtc-hostd-channel.h"
#include "vtc-hostd-tpm.h"
#include "vtc-vtpm-log.h"

G_BEGIN_DECLS

/*
 * hostd's HTTPS endpoint for verifiers (doc/api/hostd.md): mutual TLS, every call needs a client
 * certificate issued by the deployment's CA (/metrics included).
 *
 *   POST /v1/bind      a direct-mode binding {vm_uuid, binding, offsets}: answered with the batched
 *                      host quote (vtc-hostd-batch.h), the inclusion proof, the quoted PCRs and the
 *                      increments of the vTPM log, the host boot log and the host IMA log
 *   POST /v1/round     a round through the host (doc/channel.md): forwarded over the VM's private
 *                      channel (vtc-hostd-channel.h); hostd computes the binding from the guest's
 *                      quote itself and answers {guest, host (as /v1/bind), placement}
 *   POST /v1/rounds    up to VTC_HOSTD_API_MAX_ROUNDS rounds in one request {"rounds": [...]}: each
 *                      entry runs exactly as a /v1/round of its own (their bindings share the
 *                      batcher's quotes); answered once all are done with {"answers": [{"status",
 *                      "body"}, ...]} in request order, each the status and body /v1/round gives
 *   GET  /v1/identity  the host id and its AK public area
 *   GET  /metrics      Prometheus text: batches, quotes, latencies, TPM worker, vTPM log
 *
 * The vTPM log increment always replays to the quoted PCR: the API hooks the batcher (the
 * batcher's quote hook) to read the log's entry count on the TPM worker right after the quote,
 * where no append can come between (hostd appends and extends on the worker), and checks there
 * that the log's replay equals the quoted PCR. An object lives on the GMainContext that was the
 * thread default when it was made (the batcher's).
 */
typedef struct _VtcHostdApi VtcHostdApi;

#define VTC_HOSTD_API_PORT_DEFAULT 8892
/* Largest request body: a bind request is about 200 bytes. */
#define VTC_HOSTD_API_MAX_BODY 16384
/* Rounds in one POST /v1/rounds request, and its largest body. */
#define VTC_HOSTD_API_MAX_ROUNDS      64
#define VTC_HOSTD_API_MAX_ROUNDS_BODY (VTC_HOSTD_API_MAX_ROUNDS * VTC_HOSTD_API_MAX_BODY)
/* Host log bytes per log and answer, by default; an answer saying "more" continues from there. */
#define VTC_HOSTD_API_LOG_CHUNK_DEFAULT (1024 * 1024)
#define VTC_HOSTD_API_LOG_CHUNK_MAX     (16 * 1024 * 1024)
/* vTPM log entries per answer, by default (their bytes are also capped by the log chunk). */
#define VTC_HOSTD_API_VTPM_ENTRIES_DEFAULT 1024
/* Largest guest quote (marshalled TPMS_ATTEST) a round's evidence may carry. */
#define VTC_HOSTD_API_MAX_ATTEST sizeof(TPMS_ATTEST)
/* Largest boot or IMA log offset a request may carry. */
#define VTC_HOSTD_API_MAX_OFFSET (G_GINT64_CONSTANT(1) << 40)

typedef struct {
        const gchar *host_id;
        VtcHostdTpm *tpm;     /* must outlive the API */
        VtcHostdBatch *batch; /* must outlive the API; the API sets its quote hook */
        VtcVtpmLog *log;      /* must outlive the API */
        guint vtpm_pcr;       /* the SHA-256 PCR the vTPM log is extended into */
        /* what the batcher quotes (NULL: vtc_hostd_batch_selection_default()), for /v1/identity */
        const TPML_PCR_SELECTION *selection;
        const gchar *boot_log; /* NULL or "": not served */
        const gchar *ima_log;  /* NULL or "": not served */
        const gchar *cert_file;
        const gchar *key_file;
        const gchar *client_ca_file; /* required: verifiers' certificates must chain to it */
        gsize log_chunk;             /* 0: VTC_HOSTD_API_LOG_CHUNK_DEFAULT */
        guint vtpm_entries;          /* 0: VTC_HOSTD_API_VTPM_ENTRIES_DEFAULT */
        VtcHostdChannel *channel;    /* the VMs' channels, must outlive the API; NULL: none */
} VtcHostdApiOptions;

/* Loads the TLS files and installs the batcher's quote hook; serves after _listen(). */
VtcHostdApi *vtc_hostd_api_new(const VtcHostdApiOptions *options, GError **error);
/* @port 0: any free port, reported in *@out_port. */
gboolean vtc_hostd_api_listen(VtcHostdApi *self,
                              const gchar *address,
                              guint port,
                              guint *out_port,
                              GError **error);
/*
 * Stops serving, clears the batcher's quote hook and waits until the TPM worker has run the quote
 * jobs queued with it and the log readers have finished (free the batcher after this). Requests
 * still waiting are dropped without an answer once their callbacks run.
 */
void vtc_hostd_api_free(VtcHostdApi *self);

/* The /metrics text (Prometheus text exposition format 0.0.4). */
gchar *vtc_hostd_api_get_metrics(VtcHostdApi *self);

/*
 * Parses a PCR list of the SHA-256 bank ("0-9,10,14", indices 0-23, ranges and single indices,
 * comma-separated, spaces allowed) into a selection and always adds @vtpm_pcr (the vTPM log's).
 * An empty list selects only @vtpm_pcr.
 */
gboolean vtc_hostd_api_parse_pcrs(const gchar *spec,
                                  guint vtpm_pcr,
                                  TPML_PCR_SELECTION *out_selection,
                                  GError **error);

/* A POST /v1/bind request, or the host part of a POST /v1/round request. */
typedef struct {
        gchar uuid[37]; /* lower case */
        guint8 uuid_bytes[16];
        guint8 binding[VTC_MERKLE_HASH_SIZE]; /* /v1/bind only */
        guint64 off_boot;
        guint64 off_ima;
        guint64 off_vtpm; /* not checked against the vTPM log here */
} VtcHostdApiBindRequest;

/* A POST /v1/round request: the round members (doc/channel.md) and the host part. */
typedef struct {
        VtcHostdApiBindRequest host; /* binding: zero (hostd computes it from the evidence) */
        VtcChannelRound round;       /* id 0, vm_uuid = host.uuid */
} VtcHostdApiRoundRequest;

/*
 * The request parsers of /v1/bind and /v1/round over a body of @len bytes (JSON limits of
 * doc/api/hostd.md; unknown members refused): VTC_ERROR_INVALID_DATA or VTC_ERROR_TOO_LARGE
 * naming the member. @out is untouched on failure.
 */
gboolean vtc_hostd_api_parse_bind_request(const gchar *body,
                                          gsize len,
                                          VtcHostdApiBindRequest *out,
                                          GError **error);
gboolean vtc_hostd_api_parse_round_request(const gchar *body,
                                           gsize len,
                                           VtcHostdApiRoundRequest *out,
                                           GError **error);
/*
 * The request parser of /v1/rounds: {"rounds": [1 to VTC_HOSTD_API_MAX_ROUNDS objects]} and no
 * other member. *@out_entries gets the entries in order, each re-serialised as compact JSON text
 * (gchar *) for vtc_hostd_api_parse_round_request(), which judges each one alone: an entry only
 * has to be an object here. VTC_ERROR_INVALID_DATA or VTC_ERROR_TOO_LARGE otherwise, with
 * *@out_entries untouched.
 */
gboolean vtc_hostd_api_parse_rounds_request(const gchar *body,
                                            gsize len,
                                            GPtrArray **out_entries,
                                            GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdApi, vtc_hostd_api_free)

G_END_DECLS
