/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The deployment's own TLS CA, so that one command gives every component its certificate (as
 * Keylime does): DIR/ca.crt + DIR/ca.key, then DIR/NAME.crt + DIR/NAME.key per component.
 * Keys are ECDSA P-256, written 0600; certificates carry serverAuth and clientAuth.
 */
gboolean vtc_ca_init(const gchar *dir, const gchar *common_name, guint days, GError **error);

/* @sans: "DNS:name" or "IP:addr" entries; NAME itself is always added as DNS. Refuses to
 * overwrite an existing NAME.crt/NAME.key. */
gboolean vtc_ca_issue(const gchar *dir,
                      const gchar *name,
                      const gchar *const *sans,
                      guint days,
                      GError **error);

G_END_DECLS
