/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-agent-api.h"
#include "vtc-agent-chan.h"
#include "vtc-agent-enroll.h"
#include "vtc-agent-round.h"
#include "vtc-agent-tpm.h"
#include "vtc-config.h"

G_BEGIN_DECLS

#define VTC_AGENT_VERSION "0.1.0"
#define VTC_AGENT_NAME    "vtc-agent " VTC_AGENT_VERSION

/*
 * vtc-agent, the guest agent (doc/agent.md): opens the vTPM, enrolls with the registrar in the
 * background (retrying with backoff), answers rounds on the channel and, in direct mode, over
 * HTTPS. Everything runs on the thread-default main context; TPM work and enrollment run in
 * worker threads.
 */
extern const VtcConfigKey vtc_agent_config_schema[];

typedef struct _VtcAgent VtcAgent;

VtcAgent *vtc_agent_new(VtcConfig *config, GError **error);
void vtc_agent_free(VtcAgent *self);

const gchar *vtc_agent_get_uuid(VtcAgent *self);
/* 0 when direct mode is off */
guint vtc_agent_get_api_port(VtcAgent *self);
/* NULL while the channel's virtio port is missing (it is looked for again every few seconds) */
VtcAgentChan *vtc_agent_get_chan(VtcAgent *self);
gboolean vtc_agent_is_enrolled(VtcAgent *self);

/* The VM UUID: @configured when set, else the first line of @uuid_file; lower case, checked. */
gchar *vtc_agent_read_uuid(const gchar *configured, const gchar *uuid_file, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgent, vtc_agent_free)

G_END_DECLS
