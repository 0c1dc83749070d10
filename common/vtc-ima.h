/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-util.h"

G_BEGIN_DECLS

/*
 * One IMA measurement list entry, from the ascii or the binary log. This struct is the contract
 * between the IMA log parser (vtc-ima.c) and the runtime-policy checker (vtc-policy.c): fields
 * may be added, none removed or renamed.
 */
typedef enum {
	VTC_IMA_TEMPLATE_IMA,	  /* "ima": sha1 digest + name (<= 255 chars, NUL-padded) */
	VTC_IMA_TEMPLATE_IMA_NG,  /* "ima-ng": d-ng + n-ng */
	VTC_IMA_TEMPLATE_IMA_SIG, /* "ima-sig": d-ng + n-ng + sig */
	VTC_IMA_TEMPLATE_IMA_BUF, /* "ima-buf": d-ng + n-ng + buf */
} VtcImaTemplate;

typedef struct {
	guint32 pcr;
	VtcImaTemplate template_kind;
	gchar *template_name;
	/* SHA-1 template hash as written in the log; all zeros marks a violation */
	guint8 template_hash[20];
	gboolean violation;
	/* algorithm and digest of the file (or buffer) contents, from d / d-ng */
	const VtcHashAlg *file_hash_alg;
	guint8 *file_hash;
	gsize file_hash_len;
	/* file path (n / n-ng); for ima-buf the buffer's name, e.g. a keyring name */
	gchar *path;
	/* ima-sig: the signature field (IMA/EVM signature header included); NULL if empty */
	guint8 *sig;
	gsize sig_len;
	/* ima-buf: the measured buffer */
	guint8 *buf;
	gsize buf_len;
	/* the template data exactly as hashed into the PCR (length-prefixed fields) */
	guint8 *template_data;
	gsize template_data_len;
} VtcImaEntry;

G_END_DECLS
