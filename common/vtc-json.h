/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * JSON from peers, read only through checked accessors: json-glib's plain getters emit
 * CRITICALs on a missing or mistyped member, so they are never called on untrusted input.
 * Every error names the member.
 */
typedef struct {
        gsize max_size;   /* bytes of the whole document */
        guint max_depth;  /* nesting of arrays and objects */
        gsize max_string; /* bytes of any one string or member name */
        guint max_items;  /* members of any one object or elements of any one array */
} VtcJsonLimits;

#define VTC_JSON_LIMITS_DEFAULT ((VtcJsonLimits){1024 * 1024, 16, 65536, 10000})

/* Parses @data under @limits; the root must be an object. */
JsonObject *
vtc_json_parse_object(const gchar *data, gsize len, const VtcJsonLimits *limits, GError **error);

/* Each getter fails with VTC_ERROR_INVALID_DATA naming @member when it is present with the wrong
 * type, and when it is missing and @required; a missing optional member gives NULL/FALSE with no
 * error for the pointer getters, and leaves *out untouched (returning TRUE) for the others. */
const gchar *
vtc_json_get_string(JsonObject *obj, const gchar *member, gboolean required, GError **error);
gboolean vtc_json_get_int(JsonObject *obj,
                          const gchar *member,
                          gint64 min,
                          gint64 max,
                          gboolean required,
                          gint64 *out,
                          GError **error);
gboolean vtc_json_get_bool(JsonObject *obj,
                           const gchar *member,
                           gboolean required,
                           gboolean *out,
                           GError **error);
JsonObject *
vtc_json_get_object(JsonObject *obj, const gchar *member, gboolean required, GError **error);
JsonArray *
vtc_json_get_array(JsonObject *obj, const gchar *member, gboolean required, GError **error);
/* Standard base64, decoded; at most @max_len bytes after decoding. */
GBytes *vtc_json_get_base64(JsonObject *obj,
                            const gchar *member,
                            gsize max_len,
                            gboolean required,
                            GError **error);
/* Hex, decoded; at most @max_len bytes after decoding. */
GBytes *vtc_json_get_hex(JsonObject *obj,
                         const gchar *member,
                         gsize max_len,
                         gboolean required,
                         GError **error);
/* Element @index of @array as a string (error naming @what[index] otherwise). */
const gchar *
vtc_json_array_get_string(JsonArray *array, guint index, const gchar *what, GError **error);

/* Serialises a builder's or node's result compactly. */
gchar *vtc_json_node_to_string(JsonNode *node);
gchar *vtc_json_builder_to_string(JsonBuilder *builder);
/* The text of a POST /v1/rounds answer, {"answers": [{"status": S, "body": B}, ...]}, each B
 * pasted in as the JSON text it is (NULL: null), in order. */
gchar *vtc_json_rounds_answer(const guint *status, gchar *const *body, guint n);

/* Adds "member": base64(data) to the builder's current object. */
void vtc_json_builder_add_base64(JsonBuilder *builder,
                                 const gchar *member,
                                 const guint8 *data,
                                 gsize len);

G_END_DECLS
