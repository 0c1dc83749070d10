/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-json.h"

#include "vtc-error.h"
#include "vtc-util.h"

/* Depth is checked on the raw text before json-glib builds anything, so a deeply nested
 * document costs nothing; strings are skipped with their escapes. */
static gboolean
vtc_json_check_depth(const gchar *data, gsize len, guint max_depth, GError **error)
{
        guint depth = 0;
        gboolean in_string = FALSE;

        for (gsize i = 0; i < len; i++) {
                gchar c = data[i];

                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = FALSE;
                        continue;
                }
                if (c == '"') {
                        in_string = TRUE;
                } else if (c == '{' || c == '[') {
                        if (++depth > max_depth) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TOO_LARGE,
                                            "JSON nests deeper than %u levels",
                                            max_depth);
                                return FALSE;
                        }
                } else if (c == '}' || c == ']') {
                        if (depth > 0)
                                depth--;
                }
        }
        return TRUE;
}

static gboolean vtc_json_check_node(JsonNode *node, const VtcJsonLimits *limits, GError **error);

static gboolean
vtc_json_check_object(JsonObject *obj, const VtcJsonLimits *limits, GError **error)
{
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *child;

        if (json_object_get_size(obj) > limits->max_items) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "JSON object has more than %u members",
                            limits->max_items);
                return FALSE;
        }
        json_object_iter_init(&iter, obj);
        while (json_object_iter_next(&iter, &name, &child)) {
                if (strlen(name) > limits->max_string) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "JSON member name longer than %" G_GSIZE_FORMAT " bytes",
                                    limits->max_string);
                        return FALSE;
                }
                if (!vtc_json_check_node(child, limits, error)) {
                        g_prefix_error(error, "%.64s: ", name);
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean
vtc_json_check_node(JsonNode *node, const VtcJsonLimits *limits, GError **error)
{
        switch (json_node_get_node_type(node)) {
        case JSON_NODE_OBJECT:
                return vtc_json_check_object(json_node_get_object(node), limits, error);
        case JSON_NODE_ARRAY: {
                JsonArray *array = json_node_get_array(node);
                guint n = json_array_get_length(array);
                if (n > limits->max_items) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "JSON array has more than %u elements",
                                    limits->max_items);
                        return FALSE;
                }
                for (guint i = 0; i < n; i++) {
                        if (!vtc_json_check_node(json_array_get_element(array, i), limits, error))
                                return FALSE;
                }
                return TRUE;
        }
        case JSON_NODE_VALUE:
                if (json_node_get_value_type(node) == G_TYPE_STRING &&
                    strlen(json_node_get_string(node)) > limits->max_string) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "JSON string longer than %" G_GSIZE_FORMAT " bytes",
                                    limits->max_string);
                        return FALSE;
                }
                return TRUE;
        case JSON_NODE_NULL:
        default:
                return TRUE;
        }
}

JsonObject *
vtc_json_parse_object(const gchar *data, gsize len, const VtcJsonLimits *limits, GError **error)
{
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) error_local = NULL;
        JsonNode *root;

        if (len > limits->max_size) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "JSON document of %" G_GSIZE_FORMAT
                            " bytes is over the limit of %" G_GSIZE_FORMAT,
                            len,
                            limits->max_size);
                return NULL;
        }
        if (data == NULL || len == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "empty JSON document");
                return NULL;
        }
        if (memchr(data, '\0', len) != NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "JSON contains a NUL byte");
                return NULL;
        }
        if (!vtc_json_check_depth(data, len, limits->max_depth, error))
                return NULL;
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, data, (gssize)len, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "malformed JSON: %s",
                            error_local->message);
                return NULL;
        }
        root = json_parser_get_root(parser);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the JSON document is not an object");
                return NULL;
        }
        if (!vtc_json_check_node(root, limits, error))
                return NULL;
        return json_object_ref(json_node_get_object(root));
}

static JsonNode *
vtc_json_member(JsonObject *obj, const gchar *member, gboolean required, GError **error)
{
        JsonNode *node = json_object_get_member(obj, member);

        if (node == NULL && required) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member '%s' is missing",
                            member);
        }
        return node;
}

static void
vtc_json_type_error(GError **error, const gchar *member, const gchar *want)
{
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "member '%s' must be %s",
                    member,
                    want);
}

const gchar *
vtc_json_get_string(JsonObject *obj, const gchar *member, gboolean required, GError **error)
{
        JsonNode *node = vtc_json_member(obj, member, required, error);

        if (node == NULL)
                return NULL;
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
                vtc_json_type_error(error, member, "a string");
                return NULL;
        }
        return json_node_get_string(node);
}

gboolean
vtc_json_get_int(JsonObject *obj,
                 const gchar *member,
                 gint64 min,
                 gint64 max,
                 gboolean required,
                 gint64 *out,
                 GError **error)
{
        JsonNode *node = vtc_json_member(obj, member, required, error);
        gint64 v;

        if (node == NULL)
                return !required;
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
                vtc_json_type_error(error, member, "an integer");
                return FALSE;
        }
        v = json_node_get_int(node);
        if (v < min || v > max) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member '%s' must be between %" G_GINT64_FORMAT
                            " and %" G_GINT64_FORMAT,
                            member,
                            min,
                            max);
                return FALSE;
        }
        *out = v;
        return TRUE;
}

gboolean
vtc_json_get_bool(JsonObject *obj,
                  const gchar *member,
                  gboolean required,
                  gboolean *out,
                  GError **error)
{
        JsonNode *node = vtc_json_member(obj, member, required, error);

        if (node == NULL)
                return !required;
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
                vtc_json_type_error(error, member, "true or false");
                return FALSE;
        }
        *out = json_node_get_boolean(node);
        return TRUE;
}

JsonObject *
vtc_json_get_object(JsonObject *obj, const gchar *member, gboolean required, GError **error)
{
        JsonNode *node = vtc_json_member(obj, member, required, error);

        if (node == NULL)
                return NULL;
        if (!JSON_NODE_HOLDS_OBJECT(node)) {
                vtc_json_type_error(error, member, "an object");
                return NULL;
        }
        return json_node_get_object(node);
}

JsonArray *
vtc_json_get_array(JsonObject *obj, const gchar *member, gboolean required, GError **error)
{
        JsonNode *node = vtc_json_member(obj, member, required, error);

        if (node == NULL)
                return NULL;
        if (!JSON_NODE_HOLDS_ARRAY(node)) {
                vtc_json_type_error(error, member, "an array");
                return NULL;
        }
        return json_node_get_array(node);
}

static gboolean
vtc_json_is_base64(const gchar *s, gsize len)
{
        gsize pad = 0;

        if (len % 4 != 0)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                gchar c = s[i];
                if (c == '=') {
                        pad++;
                        continue;
                }
                if (pad > 0)
                        return FALSE; /* data after padding */
                if (!g_ascii_isalnum(c) && c != '+' && c != '/')
                        return FALSE;
        }
        return pad <= 2;
}

GBytes *
vtc_json_get_base64(JsonObject *obj,
                    const gchar *member,
                    gsize max_len,
                    gboolean required,
                    GError **error)
{
        const gchar *s = vtc_json_get_string(obj, member, required, error);
        gsize len;
        gsize out_len = 0;
        guchar *out;

        if (s == NULL)
                return NULL;
        len = strlen(s);
        /* g_base64_decode() silently skips invalid characters: validate first */
        if (!vtc_json_is_base64(s, len)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member '%s' is not valid base64",
                            member);
                return NULL;
        }
        if (len / 4 * 3 > max_len + 2) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "member '%s' is longer than %" G_GSIZE_FORMAT " bytes",
                            member,
                            max_len);
                return NULL;
        }
        out = g_base64_decode(s, &out_len);
        if (out_len > max_len) {
                g_free(out);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "member '%s' is longer than %" G_GSIZE_FORMAT " bytes",
                            member,
                            max_len);
                return NULL;
        }
        return g_bytes_new_take(out, out_len);
}

GBytes *
vtc_json_get_hex(JsonObject *obj,
                 const gchar *member,
                 gsize max_len,
                 gboolean required,
                 GError **error)
{
        const gchar *s = vtc_json_get_string(obj, member, required, error);
        GBytes *out;

        if (s == NULL)
                return NULL;
        if (strlen(s) / 2 > max_len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "member '%s' is longer than %" G_GSIZE_FORMAT " bytes",
                            member,
                            max_len);
                return NULL;
        }
        out = vtc_hex_decode(s, error);
        if (out == NULL)
                g_prefix_error(error, "member '%s': ", member);
        return out;
}

const gchar *
vtc_json_array_get_string(JsonArray *array, guint index, const gchar *what, GError **error)
{
        JsonNode *node;

        if (index >= json_array_get_length(array)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s[%u] is missing",
                            what,
                            index);
                return NULL;
        }
        node = json_array_get_element(array, index);
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s[%u] must be a string",
                            what,
                            index);
                return NULL;
        }
        return json_node_get_string(node);
}

gchar *
vtc_json_node_to_string(JsonNode *node)
{
        g_autoptr(JsonGenerator) gen = json_generator_new();

        json_generator_set_root(gen, node);
        return json_generator_to_data(gen, NULL);
}

gchar *
vtc_json_builder_to_string(JsonBuilder *builder)
{
        g_autoptr(JsonNode) root = json_builder_get_root(builder);

        return vtc_json_node_to_string(root);
}

void
vtc_json_builder_add_base64(JsonBuilder *builder,
                            const gchar *member,
                            const guint8 *data,
                            gsize len)
{
        g_autofree gchar *b64 = g_base64_encode(data, len);

        json_builder_set_member_name(builder, member);
        json_builder_add_string_value(builder, b64);
}

gchar *
vtc_json_rounds_answer(const guint *status, gchar *const *body, guint n)
{
        GString *out = g_string_sized_new(64 + (gsize)n * 4096);

        g_string_append(out, "{\"answers\":[");
        for (guint i = 0; i < n; i++) {
                g_string_append_printf(out,
                                       "%s{\"status\":%u,\"body\":",
                                       i > 0 ? "," : "",
                                       status[i]);
                g_string_append(out, body[i] != NULL ? body[i] : "null");
                g_string_append_c(out, '}');
        }
        g_string_append(out, "]}");
        return g_string_free(out, FALSE);
}
