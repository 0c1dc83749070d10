/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The agent's end of the channel (doc/channel.md, doc/agent.md): frames on the VM's private
 * virtio-serial port, found by its name under /sys/class/virtio-ports, or, in tests and on a
 * host, on a unix socket the agent listens on, serving one client at a time as the port does.
 *
 * Requests are served one at a time on the thread-default main context. Garbled frames and
 * unreadable requests are answered with an id-0 error frame and the stream carries on. With no
 * host client a virtio port reads EOF and polls IN|HUP at once: the agent then waits
 * @idle_ms before it looks again, instead of spinning.
 */
#define VTC_AGENT_CHAN_PORT_NAME_DEFAULT "org.vtc.agent.0"
#define VTC_AGENT_CHAN_SYSFS_DEFAULT     "/sys/class/virtio-ports"
#define VTC_AGENT_CHAN_IDLE_MS_DEFAULT   100
/* a request is a few hundred bytes; anything bigger is refused before parsing */
#define VTC_AGENT_CHAN_MAX_REQUEST (64 * 1024)

typedef struct {
        const gchar *socket_path; /* set: listen on this unix socket (replaced if stale) */
        const gchar *port_name;   /* else the virtio port of this name (NULL: the default) */
        const gchar *sysfs_dir;   /* NULL: /sys/class/virtio-ports */
        const gchar *dev_dir;     /* NULL: /dev */
        guint idle_ms;            /* 0: VTC_AGENT_CHAN_IDLE_MS_DEFAULT */
        int port_fd;              /* >= 0: serve this open fd as the port (tests); taken */
} VtcAgentChanOptions;

typedef struct _VtcAgentChan VtcAgentChan;
typedef struct _VtcAgentChanRequest VtcAgentChanRequest;

/*
 * Called for each well-formed request ("id" 1..2^53 and a string "op"), one at a time. The
 * handler answers exactly once, now or later, with vtc_agent_chan_request_return() or
 * vtc_agent_chan_request_return_error(); no other request is read meanwhile.
 */
typedef void (*VtcAgentChanHandler)(VtcAgentChanRequest *request,
                                    gint64 id,
                                    const gchar *op,
                                    JsonObject *body,
                                    gpointer user_data);

/* Answers {"id", "ok": true} plus the members of @members (may be NULL). Frees @request. */
void vtc_agent_chan_request_return(VtcAgentChanRequest *request, JsonObject *members);
/* Answers {"id", "ok": false, "error": <vtc error code>, "message"}. Frees @request. */
void vtc_agent_chan_request_return_error(VtcAgentChanRequest *request, const GError *error);

/* VTC_ERROR_NOT_FOUND when there is no such virtio port (yet: the module may load later). */
VtcAgentChan *vtc_agent_chan_new(const VtcAgentChanOptions *options,
                                 VtcAgentChanHandler handler,
                                 gpointer user_data,
                                 GError **error);
void vtc_agent_chan_free(VtcAgentChan *self);
/* The device or socket served. */
const gchar *vtc_agent_chan_get_path(VtcAgentChan *self);

/* /dev/vportNpM of the port whose sysfs name is @name. */
gchar *vtc_agent_chan_find_port(const gchar *sysfs_dir,
                                const gchar *dev_dir,
                                const gchar *name,
                                GError **error);

typedef struct {
        guint64 wakeups;  /* times the fd woke the loop */
        guint64 eofs;     /* EOF/HUP seen: client left, or none on the port */
        guint64 requests; /* requests handed to the handler */
        guint64 garbled;  /* error frames sent for bad frames or unreadable requests */
        guint64 clients;  /* clients accepted (socket mode) */
} VtcAgentChanStats;

void vtc_agent_chan_get_stats(VtcAgentChan *self, VtcAgentChanStats *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentChan, vtc_agent_chan_free)

G_END_DECLS
