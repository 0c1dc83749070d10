/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * hostd's local unix socket (doc/hostd.md): one framed JSON request per connection, one framed
 * answer. The server reads the frame without blocking the loop, learns the peer's uid/gid/pid
 * from the kernel (SO_PEERCRED), and hands both to the handler, which answers now or later.
 */
#define VTC_HOSTD_SOCKET_MAX_FRAME (1024 * 1024)

typedef struct _VtcHostdSocket VtcHostdSocket;
typedef struct _VtcHostdSocketRequest VtcHostdSocketRequest;

/* Called on the loop with one complete request; answer it with vtc_hostd_socket_reply(). */
typedef void (*VtcHostdSocketHandler)(VtcHostdSocketRequest *req, gpointer user_data);

/* Binds @path (a stale socket file is replaced), mode @mode, group @gid (-1: unchanged). */
VtcHostdSocket *vtc_hostd_socket_new(const gchar *path,
                                     guint mode,
                                     gint gid,
                                     VtcHostdSocketHandler handler,
                                     gpointer user_data,
                                     GError **error);
void vtc_hostd_socket_free(VtcHostdSocket *self);

const guint8 *vtc_hostd_socket_request_get_data(VtcHostdSocketRequest *req, gsize *out_len);
guint vtc_hostd_socket_request_get_uid(VtcHostdSocketRequest *req);
guint vtc_hostd_socket_request_get_gid(VtcHostdSocketRequest *req);
gint vtc_hostd_socket_request_get_pid(VtcHostdSocketRequest *req);
/* Sends @answer (a JSON object's text) framed, closes the connection and frees @req. */
void vtc_hostd_socket_reply(VtcHostdSocketRequest *req, const gchar *answer);

/* The client side is vtc_hostd_proto_call() (vtc-hostd-proto.h). */

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdSocket, vtc_hostd_socket_free)

G_END_DECLS
