/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "vtc-channel.h"

G_BEGIN_DECLS

/*
 * The per-VM private channels (doc/channel.md): hostd is the one client of each VM's
 * virtio-serial port 'org.vtc.agent.0' (a unix socket QEMU listens on). A channel is registered
 * when the hook reports `started` (the socket path from the live domain XML) and dropped at
 * `stopped`/`release`. A round connects when needed (asynchronously, on the main loop), keeps the
 * connection for later rounds and multiplexes them with request ids: several rounds for one VM
 * may be in flight, each answer is matched by id, an answer nobody waits for (a late reply to a
 * round that timed out) is dropped and counted. Each round has its own timeout; a VM that does
 * not answer holds up no other VM. After EOF or an error the next round reconnects.
 *
 * A VtcHostdChannel lives on the GMainContext that was the thread default when it was made: call
 * it from that context's thread only.
 */
typedef struct _VtcHostdChannel VtcHostdChannel;

#define VTC_HOSTD_CHANNEL_TIMEOUT_MS_DEFAULT 10000
#define VTC_HOSTD_CHANNEL_TIMEOUT_MS_MAX     600000
/* Rounds in flight for one VM at most; more are refused (VTC_ERROR_UNAVAILABLE). */
#define VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT 64

/* @timeout_ms: per round, from the call to the answer (0: the default). */
VtcHostdChannel *vtc_hostd_channel_new(guint timeout_ms);
/* Fails the rounds in flight with VTC_ERROR_UNAVAILABLE (their callbacks run from the context
 * later) and closes every connection. */
void vtc_hostd_channel_free(VtcHostdChannel *self);

/*
 * Registers the channel socket of VM @uuid (any case). Registering the same path again keeps the
 * connection; another path replaces the old one (its rounds fail with VTC_ERROR_UNAVAILABLE).
 */
void vtc_hostd_channel_add(VtcHostdChannel *self, const gchar *uuid, const gchar *path);
/* Drops the channel of @uuid (the VM stopped): its rounds fail with VTC_ERROR_NOT_FOUND. */
void vtc_hostd_channel_remove(VtcHostdChannel *self, const gchar *uuid);
/* The registered socket path of @uuid, or NULL. */
const gchar *vtc_hostd_channel_lookup(VtcHostdChannel *self, const gchar *uuid);

/*
 * Sends @round (its id and vm_uuid are ignored: hostd numbers its requests itself) to the agent
 * of VM @uuid and waits for the answer. Fails with VTC_ERROR_NOT_FOUND (no channel registered for
 * @uuid, or removed meanwhile), VTC_ERROR_TIMEOUT (no answer within the timeout),
 * VTC_ERROR_UNAVAILABLE (cannot connect, the channel closed, too many rounds in flight),
 * VTC_ERROR_FAILED with a message "agent_error: <agent's code>: <agent's message>" (the agent
 * answered with an error), or G_IO_ERROR_CANCELLED.
 */
void vtc_hostd_channel_round_async(VtcHostdChannel *self,
                                   const gchar *uuid,
                                   const VtcChannelRound *round,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
/* The guest evidence object, without "id" and "ok". */
JsonObject *
vtc_hostd_channel_round_finish(VtcHostdChannel *self, GAsyncResult *res, GError **error);

/* The prefix of an agent error's message (VTC_ERROR_FAILED). */
#define VTC_HOSTD_CHANNEL_AGENT_ERROR "agent_error: "

/* Counters for /metrics. */
typedef struct {
        guint64 rounds;       /* rounds started */
        guint64 answered;     /* rounds the guest answered (evidence or agent error): round trips */
        guint64 agent_errors; /* of those, agent error answers */
        guint64 timeouts;     /* rounds that timed out */
        guint64 failures;     /* rounds failed otherwise (connect, channel closed, VM stopped) */
        guint64 garbled;      /* garbled frames and unreadable answers from guests */
        guint64 dropped;      /* answers with an id nobody waits for (late replies) */
        guint64 connects;     /* connections made */
        gdouble latency_sum;  /* seconds, over the answered rounds */
        guint in_flight;      /* rounds waiting now */
        guint channels;       /* channels registered now */
} VtcHostdChannelMetrics;

void vtc_hostd_channel_get_metrics(VtcHostdChannel *self, VtcHostdChannelMetrics *out_metrics);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdChannel, vtc_hostd_channel_free)

G_END_DECLS
