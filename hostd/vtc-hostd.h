/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-config.h"

G_BEGIN_DECLS

extern const VtcConfigKey vtc_hostd_config_schema[];

typedef struct _VtcHostd VtcHostd;

/*
 * Starts hostd: opens the hardware TPM (worker thread), makes sure of the AK and the vTPM CA key
 * (persisted, the same after every restart), opens the vTPM event log and checks it against its
 * PCR (repairing a single lost extend, refusing anything else), appends HOSTD_START, enrolls with
 * the registrar when one is configured, and serves the local socket.
 */
VtcHostd *vtc_hostd_new(VtcConfig *config, GError **error);
void vtc_hostd_free(VtcHostd *self);

/* Enrolls with the registrar ([registrar] url): EK + EK certificate + AK, ActivateCredential,
 * then TPM2_Certify of the vTPM CA key by the AK. */
gboolean vtc_hostd_enroll(VtcHostd *self, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostd, vtc_hostd_free)

G_END_DECLS
