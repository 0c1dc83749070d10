/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-test-common.h"

static JsonObject *
parse(const gchar *text, GError **error)
{
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        return vtc_json_parse_object(text, strlen(text), &limits, error);
}

static void
vtc_json_getters_test(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj =
            parse("{\"s\": \"x\", \"i\": 42, \"b\": true, \"o\": {}, \"a\": [\"p\", 1],"
                  " \"b64\": \"AAEC\", \"hex\": \"0aff\", \"bad64\": \"AA*C\"}",
                  &error);
        gint64 i = -1;
        gboolean b = FALSE;
        g_autoptr(GBytes) bytes = NULL;

        g_assert_no_error(error);
        g_assert_cmpstr(vtc_json_get_string(obj, "s", TRUE, &error), ==, "x");
        g_assert_true(vtc_json_get_int(obj, "i", 0, 100, TRUE, &i, &error));
        g_assert_cmpint(i, ==, 42);
        g_assert_true(vtc_json_get_bool(obj, "b", TRUE, &b, &error));
        g_assert_true(b);
        g_assert_nonnull(vtc_json_get_object(obj, "o", TRUE, &error));
        g_assert_nonnull(vtc_json_get_array(obj, "a", TRUE, &error));
        g_assert_cmpstr(
            vtc_json_array_get_string(vtc_json_get_array(obj, "a", TRUE, NULL), 0, "a", &error),
            ==,
            "p");
        bytes = vtc_json_get_base64(obj, "b64", 16, TRUE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_bytes_get_size(bytes), ==, 3);
        g_clear_pointer(&bytes, g_bytes_unref);
        bytes = vtc_json_get_hex(obj, "hex", 2, TRUE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_bytes_get_size(bytes), ==, 2);

        /* wrong types and missing members name the member; nothing CRITICALs */
        g_assert_null(vtc_json_get_string(obj, "i", TRUE, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "'i'"));
        g_clear_error(&error);
        g_assert_null(vtc_json_get_string(obj, "missing", TRUE, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_null(vtc_json_get_string(obj, "missing", FALSE, &error));
        g_assert_no_error(error);
        i = 7;
        g_assert_true(vtc_json_get_int(obj, "missing", 0, 1, FALSE, &i, &error));
        g_assert_cmpint(i, ==, 7);
        g_assert_false(vtc_json_get_int(obj, "i", 0, 10, TRUE, &i, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_cmpint(i, ==, 7);
        g_clear_error(&error);
        g_assert_false(vtc_json_get_int(obj, "s", 0, 10, TRUE, &i, &error));
        g_clear_error(&error);
        g_assert_false(vtc_json_get_bool(obj, "i", TRUE, &b, &error));
        g_clear_error(&error);
        g_assert_null(vtc_json_get_object(obj, "a", TRUE, &error));
        g_clear_error(&error);
        g_assert_null(vtc_json_get_array(obj, "o", TRUE, &error));
        g_clear_error(&error);
        g_assert_null(
            vtc_json_array_get_string(vtc_json_get_array(obj, "a", TRUE, NULL), 1, "a", &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_null(vtc_json_get_base64(obj, "bad64", 16, TRUE, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_null(vtc_json_get_base64(obj, "b64", 2, TRUE, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        g_assert_null(vtc_json_get_hex(obj, "s", 16, TRUE, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
}

static void
vtc_json_limits_test(void)
{
        g_autoptr(GError) error = NULL;
        VtcJsonLimits limits = {.max_size = 64, .max_depth = 3, .max_string = 4, .max_items = 3};
        const gchar *cases[] = {
            "{\"a\": [[[1]]]}",      /* too deep */
            "{\"a\": \"12345\"}",    /* string too long */
            "{\"abcde\": 1}",        /* member name too long */
            "{\"a\": [1, 2, 3, 4]}", /* too many elements */
            "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}",
        };
        const gchar *bad[] = {"", "[1]", "{", "{\"a\": }", "nul\0l", "\"s\"", "{\"a\":1}}"};
        JsonObject *obj;

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                obj = vtc_json_parse_object(cases[i], strlen(cases[i]), &limits, &error);
                g_assert_null(obj);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
                g_clear_error(&error);
        }
        obj = vtc_json_parse_object("{\"a\": \"1234\"}", 1000, &limits, &error);
        g_assert_null(obj);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        /* brackets inside strings do not count as depth */
        obj = vtc_json_parse_object("{\"a\": \"[[[[\"}", 13, &limits, &error);
        g_assert_no_error(error);
        json_object_unref(obj);
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                VtcJsonLimits def = VTC_JSON_LIMITS_DEFAULT;
                obj = vtc_json_parse_object(bad[i], i == 4 ? 5 : strlen(bad[i]), &def, &error);
                g_assert_null(obj);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
        }
        /* an empty body, as libsoup hands it over (no data at all) */
        {
                VtcJsonLimits def = VTC_JSON_LIMITS_DEFAULT;
                obj = vtc_json_parse_object(NULL, 0, &def, &error);
                g_assert_null(obj);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
        }
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/json/getters", vtc_json_getters_test);
        g_test_add_func("/json/limits", vtc_json_limits_test);
        return g_test_run();
}
