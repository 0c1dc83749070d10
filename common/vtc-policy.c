/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-policy.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <json-glib/json-glib.h>

/* The DSSE payload type keylime-policy sign writes. */
#define VTC_DSSE_PAYLOAD_TYPE "application/vnd.keylime+json"

/* IMA signature header (struct signature_v2_hdr): type, version, hash algo, keyid, size. */
#define VTC_IMA_SIG_HDR_SIZE 9

/* Policy digests are 40 to 128 lowercase hex digits, as Keylime's schema says. */
#define VTC_POLICY_DIGEST_MIN 20
#define VTC_POLICY_DIGEST_MAX 64
/* the digest index hashes a digest's first 8 bytes */
G_STATIC_ASSERT(VTC_POLICY_DIGEST_MIN >= sizeof(guint64));

typedef struct {
        const VtcHashAlg *alg; /* from an "alg:hex" spelling; NULL matches any algorithm */
        guint8 len;
        guint8 bytes[VTC_POLICY_DIGEST_MAX];
} VtcPolicyDigest;

typedef struct {
        guint n;
        VtcPolicyDigest items[];
} VtcPolicyDigestList;

/* A path of "digests" and its list (both owned by the path table). */
typedef struct {
        const gchar *path;
        const VtcPolicyDigestList *list;
} VtcPolicyDigestUse;

/* Every path whose list holds one digest (whatever algorithm the policy names it with). */
typedef struct {
        const guint8 *bytes; /* the digest, in one of the lists */
        gsize len;
        guint n_uses;
        VtcPolicyDigestUse *uses;
        GHashTable *by_path; /* path -> list, when n_uses is over VTC_POLICY_GROUP_SCAN_MAX */
} VtcPolicyDigestGroup;

/* Up to this many paths with one digest are compared one by one; more are hashed. */
#define VTC_POLICY_GROUP_SCAN_MAX 8

typedef struct {
        guint64 head;                /* the digest's first 8 bytes */
        VtcPolicyDigestGroup *group; /* NULL: an empty slot */
} VtcPolicyDigestSlot;

/* An open-addressing hash set of the digests of "digests" (linear probing, never over half
 * full): a lookup is a load, a compare and a memcmp, with no function called through a
 * pointer. */
typedef struct {
        gsize mask;
        VtcPolicyDigestSlot *slots;
} VtcPolicyDigestIndex;

struct _VtcRuntimePolicy {
        const VtcHashAlg *log_hash_alg;
        GHashTable *digests;             /* path -> VtcPolicyDigestList */
        VtcPolicyDigestIndex *by_digest; /* the index of "digests" */
        GHashTable *keyrings;            /* keyring name -> VtcPolicyDigestList */
        GHashTable *buffers;             /* ima-buf name -> VtcPolicyDigestList */
        GHashTable *ignored_keyrings;    /* set of names */
        gboolean ignore_all_keyrings;    /* "*" */
        GRegex *exclude;                 /* all excludes in one regex, or NULL */
        GPtrArray *exclude_each;         /* GRegex, used when a backreference forbids combining */
        guint n_excludes;
        /* literal prefixes one of which every excluded path starts with, sorted, none the
         * prefix of another; NULL when some exclude has none */
        GPtrArray *exclude_prefixes;
        GHashTable *keys; /* keyidv2 -> EVP_PKEY */
};

struct _VtcRuntimePolicyCheck {
        const VtcRuntimePolicy *policy;
        VtcRuntimePolicyCheckFlags flags;
        GHashTable *learnt_keys; /* keyidv2 -> EVP_PKEY */
        GPtrArray *failures;
        VtcRuntimePolicyCheckStats stats;
};

static void
vtc_policy_pkey_free(gpointer pkey)
{
        EVP_PKEY_free(pkey);
}

/* ---- JSON helpers: every accessor checks the node type first ---- */

/*
 * json-glib's parser recurses without a limit, and keeps "\u0000" inside strings that C then
 * truncates: refuse both, and anything that is not UTF-8, before it sees the text.
 */
static gboolean
vtc_policy_json_prescan(const gchar *data, gsize len, const gchar *what, GError **error)
{
        guint depth = 0;
        gboolean in_string = FALSE;

        if (!g_utf8_validate_len(data, len, NULL)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s: not UTF-8 text (or holds a NUL byte)",
                            what);
                return FALSE;
        }
        for (gsize i = 0; i < len; i++) {
                gchar c = data[i];
                if (in_string) {
                        if (c == '\\') {
                                if (i + 5 < len && data[i + 1] == 'u' &&
                                    memcmp(data + i + 2, "0000", 4) == 0) {
                                        g_set_error(
                                            error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "%s: a string holds \\u0000 at offset %" G_GSIZE_FORMAT,
                                            what,
                                            i);
                                        return FALSE;
                                }
                                i++;
                        } else if (c == '"') {
                                in_string = FALSE;
                        }
                        continue;
                }
                if (c == '"') {
                        in_string = TRUE;
                } else if (c == '[' || c == '{') {
                        if (++depth > VTC_RUNTIME_POLICY_MAX_DEPTH) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TOO_LARGE,
                                            "%s: JSON nested deeper than %u levels",
                                            what,
                                            (guint)VTC_RUNTIME_POLICY_MAX_DEPTH);
                                return FALSE;
                        }
                } else if ((c == ']' || c == '}') && depth > 0) {
                        depth--;
                }
        }
        return TRUE;
}

static JsonParser *
vtc_policy_json_parse(const gchar *data, gsize len, const gchar *what, GError **error)
{
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) error_local = NULL;

        if (len > VTC_RUNTIME_POLICY_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "%s: %" G_GSIZE_FORMAT " bytes, more than the %u allowed",
                            what,
                            len,
                            (guint)VTC_RUNTIME_POLICY_MAX_SIZE);
                return NULL;
        }
        if (!vtc_policy_json_prescan(data, len, what, error))
                return NULL;
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, data, (gssize)len, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s: not valid JSON: %s",
                            what,
                            error_local->message);
                return NULL;
        }
        if (json_parser_get_root(parser) == NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "%s: empty document", what);
                return NULL;
        }
        return g_steal_pointer(&parser);
}

static const gchar *
vtc_policy_json_type_name(JsonNode *node)
{
        if (node == NULL)
                return "missing";
        switch (json_node_get_node_type(node)) {
        case JSON_NODE_OBJECT:
                return "an object";
        case JSON_NODE_ARRAY:
                return "an array";
        case JSON_NODE_NULL:
                return "null";
        case JSON_NODE_VALUE:
                break;
        }
        switch (json_node_get_value_type(node)) {
        case G_TYPE_STRING:
                return "a string";
        case G_TYPE_INT64:
                return "an integer";
        case G_TYPE_DOUBLE:
                return "a number";
        case G_TYPE_BOOLEAN:
                return "a boolean";
        default:
                return "a value";
        }
}

static gboolean
vtc_policy_node_is_string(JsonNode *node)
{
        return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_STRING;
}

static gboolean
vtc_policy_node_is_int(JsonNode *node)
{
        return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_INT64;
}

static gboolean
vtc_policy_type_error(GError **error, const gchar *where, const gchar *want, JsonNode *node)
{
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "%s: expected %s, got %s",
                    where,
                    want,
                    vtc_policy_json_type_name(node));
        return FALSE;
}

/* A string member that must be under the string limit; returns NULL with @error set. */
static const gchar *
vtc_policy_node_get_string(JsonNode *node, const gchar *where, gsize max, GError **error)
{
        const gchar *s;

        if (!vtc_policy_node_is_string(node)) {
                vtc_policy_type_error(error, where, "a string", node);
                return NULL;
        }
        s = json_node_get_string(node);
        if (s == NULL || strlen(s) > max) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "%s: string longer than %" G_GSIZE_FORMAT " bytes",
                            where,
                            max);
                return NULL;
        }
        return s;
}

/* ---- digests ---- */

static gint
vtc_policy_hex_lower(gchar c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* "hex" or "alg:hex": 40 to 128 lowercase hex digits, an even number of them. */
static gboolean
vtc_policy_digest_parse(const gchar *text, const gchar *where, VtcPolicyDigest *out, GError **error)
{
        const gchar *colon = strchr(text, ':');
        const gchar *hex = text;
        const VtcHashAlg *alg = NULL;
        gsize hexlen;

        if (colon != NULL) {
                g_autofree gchar *name = g_strndup(text, colon - text);
                alg = vtc_hash_alg_from_name(name);
                if (alg == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: unknown digest algorithm '%s'",
                                    where,
                                    name);
                        return FALSE;
                }
                hex = colon + 1;
        }
        hexlen = strlen(hex);
        if (hexlen < VTC_POLICY_DIGEST_MIN * 2 || hexlen > VTC_POLICY_DIGEST_MAX * 2 ||
            hexlen % 2 != 0) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "%s: a digest must be an even number of 40 to 128 hex digits, got %" G_GSIZE_FORMAT,
                    where,
                    hexlen);
                return FALSE;
        }
        if (alg != NULL && hexlen != alg->size * 2) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s: a %s digest has %u hex digits, got %" G_GSIZE_FORMAT,
                            where,
                            alg->name,
                            alg->size * 2,
                            hexlen);
                return FALSE;
        }
        for (gsize i = 0; i < hexlen; i += 2) {
                gint hi = vtc_policy_hex_lower(hex[i]);
                gint lo = vtc_policy_hex_lower(hex[i + 1]);
                if (hi < 0 || lo < 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: not a lowercase hex digit at offset %" G_GSIZE_FORMAT,
                                    where,
                                    (gsize)(hex - text) + (hi < 0 ? i : i + 1));
                        return FALSE;
                }
                out->bytes[i / 2] = (guint8)((hi << 4) | lo);
        }
        out->alg = alg;
        out->len = (guint8)(hexlen / 2);
        return TRUE;
}

static gboolean
vtc_policy_digest_list_contains(const VtcPolicyDigestList *list,
                                const VtcHashAlg *alg,
                                const guint8 *digest,
                                gsize len)
{
        for (guint i = 0; i < list->n; i++) {
                const VtcPolicyDigest *d = &list->items[i];
                if (d->len == len && memcmp(d->bytes, digest, len) == 0 &&
                    (d->alg == NULL || d->alg == alg))
                        return TRUE;
        }
        return FALSE;
}

/*
 * The digest index: "digests" is path -> digests, but an entry is looked up by its digest
 * first. Hashing a digest costs one load (its leading bytes are uniformly distributed, and
 * every policy digest has at least VTC_POLICY_DIGEST_MIN bytes), where hashing a path walks all
 * of it and comparing it walks it again; the path is compared only when the digest is in the
 * policy. The verdict is always the path's own list's, so the index decides nothing: digests
 * made to share their leading bytes only make the checks of that policy slower.
 */
static void
vtc_policy_digest_group_free(VtcPolicyDigestGroup *group)
{
        if (group->by_path != NULL)
                g_hash_table_unref(group->by_path);
        g_free(group->uses);
        g_free(group);
}

static void
vtc_policy_digest_index_free(VtcPolicyDigestIndex *index)
{
        if (index == NULL)
                return;
        for (gsize i = 0; i <= index->mask; i++) {
                if (index->slots[i].group != NULL)
                        vtc_policy_digest_group_free(index->slots[i].group);
        }
        g_free(index->slots);
        g_free(index);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcPolicyDigestIndex, vtc_policy_digest_index_free)

/* The slot of @digest (@len >= 8), or the empty slot where it would go. */
static VtcPolicyDigestSlot *
vtc_policy_digest_index_find(const VtcPolicyDigestIndex *index, const guint8 *digest, gsize len)
{
        guint64 head;
        gsize i;

        memcpy(&head, digest, sizeof(head));
        for (i = (gsize)head & index->mask;; i = (i + 1) & index->mask) {
                VtcPolicyDigestSlot *slot = &index->slots[i];
                if (slot->group == NULL)
                        return slot;
                if (slot->head == head && slot->group->len == len &&
                    memcmp(slot->group->bytes, digest, len) == 0)
                        return slot;
        }
}

/* Indexes @digests (path -> VtcPolicyDigestList), which must outlive the index. */
static VtcPolicyDigestIndex *
vtc_policy_digest_index_new(GHashTable *digests)
{
        g_autoptr(VtcPolicyDigestIndex) index = g_new0(VtcPolicyDigestIndex, 1);
        GHashTableIter iter;
        gpointer path;
        gpointer value;
        gsize n_digests = 0;
        gsize size = 8;

        /* at least twice as many slots as digests, so that a probe ends soon */
        g_hash_table_iter_init(&iter, digests);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                n_digests += ((const VtcPolicyDigestList *)value)->n;
        while (size < 2 * n_digests)
                size *= 2;
        index->mask = size - 1;
        index->slots = g_new0(VtcPolicyDigestSlot, size);

        g_hash_table_iter_init(&iter, digests);
        while (g_hash_table_iter_next(&iter, &path, &value)) {
                const VtcPolicyDigestList *list = value;
                for (guint i = 0; i < list->n; i++) {
                        const VtcPolicyDigest *d = &list->items[i];
                        VtcPolicyDigestSlot *slot =
                            vtc_policy_digest_index_find(index, d->bytes, d->len);
                        VtcPolicyDigestGroup *group = slot->group;
                        if (group == NULL) {
                                group = g_new0(VtcPolicyDigestGroup, 1);
                                group->bytes = d->bytes;
                                group->len = d->len;
                                memcpy(&slot->head, d->bytes, sizeof(slot->head));
                                slot->group = group;
                        }
                        /* a path's digests come one after the other: the same bytes twice
                         * (under two algorithms) would be its last use */
                        if (group->n_uses > 0 && group->uses[group->n_uses - 1].path == path)
                                continue;
                        /* grow by doubling: most digests have one path */
                        if ((group->n_uses & (group->n_uses - 1)) == 0)
                                group->uses = g_renew(VtcPolicyDigestUse,
                                                      group->uses,
                                                      MAX(group->n_uses * 2, 1));
                        group->uses[group->n_uses].path = path;
                        group->uses[group->n_uses].list = list;
                        group->n_uses++;
                }
        }

        /* a digest shared by many paths (the empty file's) gets a path table of its own */
        for (gsize i = 0; i < size; i++) {
                VtcPolicyDigestGroup *group = index->slots[i].group;
                if (group == NULL || group->n_uses <= VTC_POLICY_GROUP_SCAN_MAX)
                        continue;
                group->by_path = g_hash_table_new(g_str_hash, g_str_equal);
                for (guint j = 0; j < group->n_uses; j++)
                        g_hash_table_insert(group->by_path,
                                            (gpointer)group->uses[j].path,
                                            (gpointer)group->uses[j].list);
        }
        return g_steal_pointer(&index);
}

/*
 * Whether @digest is one of "digests"[@path]: the same answer as looking the path up and
 * calling vtc_policy_digest_list_contains() on its list, since the index holds every (digest,
 * path) of that table and the list found is the path's own.
 */
static gboolean
vtc_policy_digest_index_contains(const VtcRuntimePolicy *self,
                                 const gchar *path,
                                 const VtcHashAlg *alg,
                                 const guint8 *digest,
                                 gsize len)
{
        const VtcPolicyDigestGroup *group;

        /* no policy digest has another length (and the hash reads the first 8 bytes) */
        if (digest == NULL || len < VTC_POLICY_DIGEST_MIN || len > VTC_POLICY_DIGEST_MAX)
                return FALSE;
        group = vtc_policy_digest_index_find(self->by_digest, digest, len)->group;
        if (group == NULL)
                return FALSE;
        if (group->by_path != NULL) {
                const VtcPolicyDigestList *list = g_hash_table_lookup(group->by_path, path);
                return list != NULL && vtc_policy_digest_list_contains(list, alg, digest, len);
        }
        for (guint i = 0; i < group->n_uses; i++) {
                /* a path is in a group once */
                if (strcmp(group->uses[i].path, path) == 0)
                        return vtc_policy_digest_list_contains(group->uses[i].list,
                                                               alg,
                                                               digest,
                                                               len);
        }
        return FALSE;
}

/* An object of name -> [digest, ...], e.g. "digests", "keyrings", "ima-buf". */
static GHashTable *
vtc_policy_parse_digest_map(JsonNode *node, const gchar *member, GError **error)
{
        g_autoptr(GHashTable) table =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *value;

        if (node == NULL || JSON_NODE_HOLDS_NULL(node))
                return g_steal_pointer(&table);
        if (!JSON_NODE_HOLDS_OBJECT(node)) {
                vtc_policy_type_error(error, member, "an object", node);
                return NULL;
        }
        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, &name, &value)) {
                g_autofree gchar *where = NULL;
                VtcPolicyDigestList *list;
                JsonArray *array;
                guint n;

                if (strlen(name) > VTC_RUNTIME_POLICY_MAX_STRING) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "%s: a name longer than %u bytes",
                                    member,
                                    (guint)VTC_RUNTIME_POLICY_MAX_STRING);
                        return NULL;
                }
                where = g_strdup_printf("%s[\"%s\"]", member, name);
                if (!JSON_NODE_HOLDS_ARRAY(value)) {
                        vtc_policy_type_error(error, where, "an array of digests", value);
                        return NULL;
                }
                array = json_node_get_array(value);
                n = json_array_get_length(array);
                if (n == 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: empty list (Keylime's schema wants at least one digest)",
                                    where);
                        return NULL;
                }
                if (n > VTC_RUNTIME_POLICY_MAX_DIGESTS) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "%s: %u digests, more than the %u allowed",
                                    where,
                                    n,
                                    (guint)VTC_RUNTIME_POLICY_MAX_DIGESTS);
                        return NULL;
                }
                list = g_malloc0(sizeof(VtcPolicyDigestList) + n * sizeof(VtcPolicyDigest));
                /* the table owns it from here on, so that a later error frees it */
                g_hash_table_replace(table, g_strdup(name), list);
                for (guint i = 0; i < n; i++) {
                        g_autofree gchar *where_i = g_strdup_printf("%s[%u]", where, i);
                        const gchar *text =
                            vtc_policy_node_get_string(json_array_get_element(array, i),
                                                       where_i,
                                                       VTC_RUNTIME_POLICY_MAX_STRING,
                                                       error);
                        if (text == NULL)
                                return NULL;
                        if (!vtc_policy_digest_parse(text, where_i, &list->items[i], error))
                                return NULL;
                        list->n++;
                }
        }
        return g_steal_pointer(&table);
}

/* ---- excludes ---- */

/*
 * Characters that match only themselves in a pattern compiled as the excludes are (no
 * G_REGEX_EXTENDED, no G_REGEX_CASELESS): an option that changes that, like (?i) or (?x), can
 * only start with '(', where the literal run stops.
 */
static gboolean
vtc_policy_regex_char_is_literal(gchar c)
{
        return g_ascii_isalnum(c) || (c != '\0' && strchr("/_-,:;@%=~!<>&'\"", c) != NULL);
}

/*
 * A literal prefix every string the (start-anchored) @pattern matches begins with, or NULL
 * when none is known: the run of literal characters at its start, less the last one when a
 * quantifier follows it. An alternation ('|' anywhere, even escaped or in a class: this only
 * has to be safe, not complete) may start with anything.
 */
static gchar *
vtc_policy_regex_literal_prefix(const gchar *pattern)
{
        gsize n = 0;

        if (strchr(pattern, '|') != NULL)
                return NULL;
        while (vtc_policy_regex_char_is_literal(pattern[n]))
                n++;
        if (n > 0 && pattern[n] != '\0' && strchr("?*+{", pattern[n]) != NULL)
                n--;
        if (n == 0)
                return NULL;
        return g_strndup(pattern, n);
}

static gint
vtc_policy_strcmp_ptr(gconstpointer a, gconstpointer b)
{
        return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

/*
 * @prefixes sorted, without those that start with another one: a path starts with one of
 * @prefixes if and only if it starts with one of these, and the only one of these that can be
 * a prefix of a path is the greatest one not after it.
 */
static GPtrArray *
vtc_policy_prefixes_reduce(GPtrArray *prefixes)
{
        GPtrArray *kept = g_ptr_array_new_with_free_func(g_free);

        g_ptr_array_sort(prefixes, vtc_policy_strcmp_ptr);
        for (guint i = 0; i < prefixes->len; i++) {
                const gchar *prefix = g_ptr_array_index(prefixes, i);
                /* sorted: one this starts with sorts before it, and then it is the last kept
                 * one (a kept one between them would start with it too, and was dropped) */
                if (kept->len > 0 &&
                    g_str_has_prefix(prefix, g_ptr_array_index(kept, kept->len - 1)))
                        continue;
                g_ptr_array_add(kept, g_strdup(prefix));
        }
        return kept;
}

/* Whether @path starts with one of the (reduced) prefixes. */
static gboolean
vtc_policy_prefixes_match(GPtrArray *prefixes, const gchar *path)
{
        guint lo = 0;
        guint hi = prefixes->len;

        /* the greatest prefix <= path */
        while (lo < hi) {
                guint mid = lo + (hi - lo) / 2;
                if (strcmp(g_ptr_array_index(prefixes, mid), path) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo > 0 && g_str_has_prefix(path, g_ptr_array_index(prefixes, lo - 1));
}

static gboolean
vtc_policy_parse_excludes(VtcRuntimePolicy *self, JsonNode *node, GError **error)
{
        g_autoptr(GString) combined = g_string_new(NULL);
        g_autoptr(GPtrArray) each = g_ptr_array_new_with_free_func((GDestroyNotify)g_regex_unref);
        g_autoptr(GPtrArray) prefixes = g_ptr_array_new_with_free_func(g_free);
        gboolean backref = FALSE;
        JsonArray *array;
        guint n;

        if (node == NULL || JSON_NODE_HOLDS_NULL(node))
                return TRUE;
        if (!JSON_NODE_HOLDS_ARRAY(node))
                return vtc_policy_type_error(error, "excludes", "an array of regexes", node);
        array = json_node_get_array(node);
        n = json_array_get_length(array);
        if (n > VTC_RUNTIME_POLICY_MAX_EXCLUDES) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "excludes: %u regexes, more than the %u allowed",
                            n,
                            (guint)VTC_RUNTIME_POLICY_MAX_EXCLUDES);
                return FALSE;
        }
        if (n == 0)
                return TRUE;
        for (guint i = 0; i < n; i++) {
                g_autofree gchar *where = g_strdup_printf("excludes[%u]", i);
                g_autoptr(GError) error_local = NULL;
                g_autoptr(GRegex) re = NULL;
                const gchar *pattern = vtc_policy_node_get_string(json_array_get_element(array, i),
                                                                  where,
                                                                  VTC_RUNTIME_POLICY_MAX_STRING,
                                                                  error);
                if (pattern == NULL)
                        return FALSE;
                /* RAW: paths are bytes, not necessarily UTF-8. ANCHORED: Python's re.match. */
                re = g_regex_new(pattern, G_REGEX_RAW | G_REGEX_ANCHORED, 0, &error_local);
                if (re == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: invalid regex '%s': %s",
                                    where,
                                    pattern,
                                    error_local->message);
                        return FALSE;
                }
                if (g_regex_get_max_backref(re) > 0)
                        backref = TRUE;
                if (prefixes != NULL) {
                        gchar *prefix = vtc_policy_regex_literal_prefix(pattern);
                        if (prefix != NULL)
                                g_ptr_array_add(prefixes, prefix);
                        else
                                g_clear_pointer(&prefixes, g_ptr_array_unref);
                }
                g_string_append_printf(combined, "%s(?:%s)", i > 0 ? "|" : "", pattern);
                g_ptr_array_add(each, g_steal_pointer(&re));
        }
        self->n_excludes = n;
        if (prefixes != NULL)
                self->exclude_prefixes = vtc_policy_prefixes_reduce(prefixes);
        if (backref) {
                /* group numbers would shift in one combined regex: match them one by one */
                self->exclude_each = g_steal_pointer(&each);
                return TRUE;
        }
        {
                g_autoptr(GError) error_local = NULL;
                self->exclude = g_regex_new(combined->str,
                                            G_REGEX_RAW | G_REGEX_ANCHORED | G_REGEX_OPTIMIZE,
                                            0,
                                            &error_local);
                if (self->exclude == NULL) {
                        /* each one compiled alone, so this is a limit of PCRE: fall back */
                        self->exclude_each = g_steal_pointer(&each);
                }
        }
        return TRUE;
}

gboolean
vtc_runtime_policy_is_excluded(const VtcRuntimePolicy *self, const gchar *path)
{
        g_return_val_if_fail(self != NULL, FALSE);
        g_return_val_if_fail(path != NULL, FALSE);

        /* a path that starts with none of the literal prefixes cannot match (measured: 15 ns
         * against 70 ns for g_regex_match with 10 excludes) */
        if (self->exclude_prefixes != NULL &&
            !vtc_policy_prefixes_match(self->exclude_prefixes, path))
                return FALSE;
        if (self->exclude != NULL)
                return g_regex_match(self->exclude, path, 0, NULL);
        if (self->exclude_each != NULL) {
                for (guint i = 0; i < self->exclude_each->len; i++) {
                        if (g_regex_match(g_ptr_array_index(self->exclude_each, i), path, 0, NULL))
                                return TRUE;
                }
        }
        return FALSE;
}

/* ---- keys ---- */

/* Strict base64 (standard or URL-safe alphabet, padding optional); NULL if not base64. */
static guint8 *
vtc_policy_base64_decode(const gchar *text, gsize *out_len)
{
        gsize len = strlen(text);
        g_autofree guint8 *out = NULL;
        gsize n = 0;
        guint32 acc = 0;
        guint bits = 0;
        gsize pad = 0;

        while (len > 0 && text[len - 1] == '=' && pad < 2) {
                len--;
                pad++;
        }
        if (pad > 0 && (len + pad) % 4 != 0)
                return NULL;
        if (len % 4 == 1)
                return NULL;
        out = g_malloc(len / 4 * 3 + 3);
        for (gsize i = 0; i < len; i++) {
                gchar c = text[i];
                guint v;
                if (c >= 'A' && c <= 'Z')
                        v = c - 'A';
                else if (c >= 'a' && c <= 'z')
                        v = c - 'a' + 26;
                else if (c >= '0' && c <= '9')
                        v = c - '0' + 52;
                else if (c == '+' || c == '-')
                        v = 62;
                else if (c == '/' || c == '_')
                        v = 63;
                else
                        return NULL;
                acc = (acc << 6) | v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (guint8)(acc >> bits);
                }
        }
        *out_len = n;
        return g_steal_pointer(&out);
}

static gboolean
vtc_policy_key_type_supported(EVP_PKEY *pkey)
{
        gint id = EVP_PKEY_get_base_id(pkey);
        return id == EVP_PKEY_RSA || id == EVP_PKEY_EC;
}

/*
 * The IMA key id (keyidv2): the last 4 bytes of the SHA-1 of the PKCS#1 RSAPublicKey DER, or
 * of the uncompressed EC point.
 */
static gboolean
vtc_policy_key_compute_keyid(EVP_PKEY *pkey, guint32 *out_keyid)
{
        g_autofree guint8 *der = NULL;
        gsize derlen = 0;
        guint8 md[20];

        if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
                guint8 *p = NULL;
                int n = i2d_PublicKey(pkey, &p);
                if (n <= 0)
                        return FALSE;
                der = g_memdup2(p, (gsize)n);
                derlen = (gsize)n;
                OPENSSL_free(p);
        } else {
                guint8 point[1 + 2 * 66];
                gsize pointlen = 0;
                if (EVP_PKEY_get_octet_string_param(pkey,
                                                    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                    point,
                                                    sizeof(point),
                                                    &pointlen) != 1 ||
                    pointlen < 1)
                        return FALSE;
                if (point[0] != 0x04) {
                        /* a compressed point: rebuild the uncompressed form from X and Y */
                        g_autoptr(BIGNUM) x = NULL;
                        g_autoptr(BIGNUM) y = NULL;
                        gsize field = pointlen - 1;
                        if (2 * field + 1 > sizeof(point) ||
                            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
                            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
                            BN_bn2binpad(x, point + 1, (int)field) < 0 ||
                            BN_bn2binpad(y, point + 1 + field, (int)field) < 0)
                                return FALSE;
                        point[0] = 0x04;
                        pointlen = 2 * field + 1;
                }
                der = g_memdup2(point, pointlen);
                derlen = pointlen;
        }
        if (EVP_Digest(der, derlen, md, NULL, EVP_sha1(), NULL) != 1)
                return FALSE;
        *out_keyid =
            ((guint32)md[16] << 24) | ((guint32)md[17] << 16) | ((guint32)md[18] << 8) | md[19];
        return TRUE;
}

static int
vtc_policy_no_password_cb(char *buf, int size, int rwflag, void *u)
{
        return -1;
}

/*
 * Keylime's get_pubkey(): a keyring measurement holds a DER (or PEM) certificate, or a public or
 * private key. Returns NULL when the buffer is none of these; sets *@out_unsupported when it is
 * a key of a type IMA signatures cannot use here (neither RSA nor EC).
 */
static EVP_PKEY *
vtc_policy_key_from_buffer(const guint8 *buf,
                           gsize len,
                           guint32 *out_keyid,
                           gboolean *out_unsupported)
{
        g_autoptr(EVP_PKEY) pkey = NULL;
        guint32 keyid = 0;
        gboolean pem = len >= 11 && memmem(buf, len, "-----BEGIN ", 11) != NULL;

        *out_unsupported = FALSE;
        if (len == 0 || len > G_MAXINT)
                return NULL;
        {
                const guint8 *p = buf;
                g_autoptr(X509) cert = d2i_X509(NULL, &p, (long)len);
                if (cert != NULL && p != buf + len)
                        g_clear_pointer(&cert, X509_free);
                if (cert == NULL && pem) {
                        g_autoptr(BIO) bio = BIO_new_mem_buf(buf, (int)len);
                        if (bio != NULL)
                                cert =
                                    PEM_read_bio_X509(bio, NULL, vtc_policy_no_password_cb, NULL);
                }
                if (cert != NULL) {
                        const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cert);
                        pkey = X509_get_pubkey(cert);
                        if (skid != NULL && ASN1_STRING_length(skid) >= 4) {
                                const guint8 *d =
                                    ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid) - 4;
                                keyid = ((guint32)d[0] << 24) | ((guint32)d[1] << 16) |
                                        ((guint32)d[2] << 8) | d[3];
                        }
                }
        }
        if (pkey == NULL) {
                const guint8 *p = buf;
                pkey = d2i_PUBKEY(NULL, &p, (long)len);
                if (pkey != NULL && p != buf + len)
                        g_clear_pointer(&pkey, EVP_PKEY_free);
        }
        if (pkey == NULL && pem) {
                g_autoptr(BIO) bio = BIO_new_mem_buf(buf, (int)len);
                if (bio != NULL)
                        pkey = PEM_read_bio_PUBKEY(bio, NULL, vtc_policy_no_password_cb, NULL);
        }
        if (pkey == NULL) {
                const guint8 *p = buf;
                pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
                if (pkey != NULL && p != buf + len)
                        g_clear_pointer(&pkey, EVP_PKEY_free);
        }
        if (pkey == NULL && pem) {
                g_autoptr(BIO) bio = BIO_new_mem_buf(buf, (int)len);
                if (bio != NULL)
                        pkey = PEM_read_bio_PrivateKey(bio, NULL, vtc_policy_no_password_cb, NULL);
        }
        ERR_clear_error();
        if (pkey == NULL)
                return NULL;
        if (!vtc_policy_key_type_supported(pkey)) {
                *out_unsupported = TRUE;
                return NULL;
        }
        if (keyid == 0 && !vtc_policy_key_compute_keyid(pkey, &keyid)) {
                ERR_clear_error();
                *out_unsupported = TRUE;
                return NULL;
        }
        *out_keyid = keyid;
        return g_steal_pointer(&pkey);
}

/*
 * "verification-keys": a string holding Keylime's ImaKeyring JSON,
 * {"pubkeys": [base64 DER SubjectPublicKeyInfo, ...], "keyids": [keyidv2, ...]}, possibly
 * encoded as a JSON string once more.
 */
static gboolean
vtc_policy_parse_keys(VtcRuntimePolicy *self, JsonNode *node, GError **error)
{
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(JsonParser) parser2 = NULL;
        const gchar *text;
        JsonNode *root;
        JsonObject *obj;
        JsonNode *pubkeys;
        JsonNode *keyids;
        JsonArray *keys_array;
        JsonArray *ids_array;
        guint n;

        if (node == NULL || JSON_NODE_HOLDS_NULL(node))
                return TRUE;
        text = vtc_policy_node_get_string(node,
                                          "verification-keys",
                                          VTC_RUNTIME_POLICY_MAX_KEYS_SIZE,
                                          error);
        if (text == NULL)
                return FALSE;
        if (text[0] == '\0')
                return TRUE;
        parser = vtc_policy_json_parse(text, strlen(text), "verification-keys", error);
        if (parser == NULL)
                return FALSE;
        root = json_parser_get_root(parser);
        if (vtc_policy_node_is_string(root)) {
                const gchar *inner = json_node_get_string(root);
                parser2 = vtc_policy_json_parse(inner, strlen(inner), "verification-keys", error);
                if (parser2 == NULL)
                        return FALSE;
                root = json_parser_get_root(parser2);
        }
        if (!JSON_NODE_HOLDS_OBJECT(root))
                return vtc_policy_type_error(error, "verification-keys", "an object", root);
        obj = json_node_get_object(root);
        pubkeys = json_object_get_member(obj, "pubkeys");
        keyids = json_object_get_member(obj, "keyids");
        if (pubkeys == NULL || !JSON_NODE_HOLDS_ARRAY(pubkeys))
                return vtc_policy_type_error(error,
                                             "verification-keys.pubkeys",
                                             "an array of base64 keys",
                                             pubkeys);
        /* Keylime's IMA_KEYRING_JSON_SCHEMA requires keyids too */
        if (keyids == NULL || !JSON_NODE_HOLDS_ARRAY(keyids))
                return vtc_policy_type_error(error,
                                             "verification-keys.keyids",
                                             "an array of key ids",
                                             keyids);
        keys_array = json_node_get_array(pubkeys);
        ids_array = json_node_get_array(keyids);
        n = json_array_get_length(keys_array);
        if (n > VTC_RUNTIME_POLICY_MAX_KEYS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "verification-keys.pubkeys: %u keys, more than the %u allowed",
                            n,
                            (guint)VTC_RUNTIME_POLICY_MAX_KEYS);
                return FALSE;
        }
        if (json_array_get_length(ids_array) > n) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "verification-keys.keyids: %u key ids for %u keys",
                            json_array_get_length(ids_array),
                            n);
                return FALSE;
        }
        for (guint i = 0; i < n; i++) {
                g_autofree gchar *where = g_strdup_printf("verification-keys.pubkeys[%u]", i);
                g_autofree guint8 *der = NULL;
                g_autoptr(EVP_PKEY) pkey = NULL;
                const guint8 *p;
                gsize derlen = 0;
                guint32 keyid = 0;
                const gchar *b64 = vtc_policy_node_get_string(json_array_get_element(keys_array, i),
                                                              where,
                                                              VTC_RUNTIME_POLICY_MAX_KEYS_SIZE,
                                                              error);
                if (b64 == NULL)
                        return FALSE;
                der = vtc_policy_base64_decode(b64, &derlen);
                if (der == NULL || derlen == 0 || derlen > G_MAXINT) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: not base64",
                                    where);
                        return FALSE;
                }
                p = der;
                pkey = d2i_PUBKEY(NULL, &p, (long)derlen);
                if (pkey == NULL || p != der + derlen) {
                        vtc_ossl_set_error(error,
                                           VTC_ERROR_INVALID_DATA,
                                           "%s: not a DER SubjectPublicKeyInfo",
                                           where);
                        return FALSE;
                }
                if (!vtc_policy_key_type_supported(pkey)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_NOT_SUPPORTED,
                                    "%s: a %s key; IMA signatures are checked with RSA or EC keys",
                                    where,
                                    OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
                        return FALSE;
                }
                if (i < json_array_get_length(ids_array)) {
                        g_autofree gchar *where_id =
                            g_strdup_printf("verification-keys.keyids[%u]", i);
                        JsonNode *id = json_array_get_element(ids_array, i);
                        gint64 v;
                        if (!vtc_policy_node_is_int(id))
                                return vtc_policy_type_error(error, where_id, "an integer", id);
                        v = json_node_get_int(id);
                        if (v < 0 || v > G_MAXUINT32) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "%s: %" G_GINT64_FORMAT " is not a 32-bit key id",
                                            where_id,
                                            v);
                                return FALSE;
                        }
                        keyid = (guint32)v;
                }
                /* Keylime computes the id when none (or 0) is given */
                if (keyid == 0 && !vtc_policy_key_compute_keyid(pkey, &keyid)) {
                        vtc_ossl_set_error(error,
                                           VTC_ERROR_INVALID_DATA,
                                           "%s: cannot compute the key id",
                                           where);
                        return FALSE;
                }
                /* the last key with an id wins, as in Keylime's dict */
                g_hash_table_replace(self->keys, GUINT_TO_POINTER(keyid), g_steal_pointer(&pkey));
        }
        return TRUE;
}

/* ---- the policy ---- */

void
vtc_runtime_policy_free(VtcRuntimePolicy *self)
{
        if (self == NULL)
                return;
        /* the index borrows the paths and lists of the path table */
        g_clear_pointer(&self->by_digest, vtc_policy_digest_index_free);
        g_clear_pointer(&self->digests, g_hash_table_unref);
        g_clear_pointer(&self->keyrings, g_hash_table_unref);
        g_clear_pointer(&self->buffers, g_hash_table_unref);
        g_clear_pointer(&self->ignored_keyrings, g_hash_table_unref);
        g_clear_pointer(&self->exclude, g_regex_unref);
        g_clear_pointer(&self->exclude_each, g_ptr_array_unref);
        g_clear_pointer(&self->exclude_prefixes, g_ptr_array_unref);
        g_clear_pointer(&self->keys, g_hash_table_unref);
        g_free(self);
}

static gboolean
vtc_policy_parse_meta(JsonObject *root, GError **error)
{
        JsonNode *meta = json_object_get_member(root, "meta");
        JsonNode *version;
        JsonNode *node;

        if (meta == NULL || !JSON_NODE_HOLDS_OBJECT(meta))
                return vtc_policy_type_error(error, "meta", "an object", meta);
        version = json_object_get_member(json_node_get_object(meta), "version");
        if (!vtc_policy_node_is_int(version))
                return vtc_policy_type_error(error, "meta.version", "an integer", version);
        if (json_node_get_int(version) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "meta.version: format version %" G_GINT64_FORMAT
                            " is not supported (only 1)",
                            json_node_get_int(version));
                return FALSE;
        }
        node = json_object_get_member(json_node_get_object(meta), "generator");
        if (node != NULL && !vtc_policy_node_is_int(node))
                return vtc_policy_type_error(error, "meta.generator", "an integer", node);
        node = json_object_get_member(json_node_get_object(meta), "timestamp");
        if (node != NULL && !vtc_policy_node_is_string(node))
                return vtc_policy_type_error(error, "meta.timestamp", "a string", node);
        node = json_object_get_member(root, "release");
        if (node != NULL && !vtc_policy_node_is_int(node))
                return vtc_policy_type_error(error, "release", "an integer", node);
        if (node != NULL && json_node_get_int(node) < 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "release: %" G_GINT64_FORMAT " is negative",
                            json_node_get_int(node));
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_policy_parse_ima(VtcRuntimePolicy *self, JsonNode *node, GError **error)
{
        JsonObject *ima;
        JsonNode *member;

        self->log_hash_alg = vtc_hash_alg_from_id(TPM2_ALG_SHA1);
        if (node == NULL || JSON_NODE_HOLDS_NULL(node))
                return TRUE;
        if (!JSON_NODE_HOLDS_OBJECT(node))
                return vtc_policy_type_error(error, "ima", "an object", node);
        ima = json_node_get_object(node);

        member = json_object_get_member(ima, "ignored_keyrings");
        if (member != NULL && !JSON_NODE_HOLDS_NULL(member)) {
                JsonArray *array;
                guint n;
                if (!JSON_NODE_HOLDS_ARRAY(member))
                        return vtc_policy_type_error(error,
                                                     "ima.ignored_keyrings",
                                                     "an array of keyring names",
                                                     member);
                array = json_node_get_array(member);
                n = json_array_get_length(array);
                if (n > VTC_RUNTIME_POLICY_MAX_EXCLUDES) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "ima.ignored_keyrings: %u names, too many",
                                    n);
                        return FALSE;
                }
                for (guint i = 0; i < n; i++) {
                        g_autofree gchar *where = g_strdup_printf("ima.ignored_keyrings[%u]", i);
                        const gchar *name =
                            vtc_policy_node_get_string(json_array_get_element(array, i),
                                                       where,
                                                       VTC_RUNTIME_POLICY_MAX_STRING,
                                                       error);
                        if (name == NULL)
                                return FALSE;
                        if (g_strcmp0(name, "*") == 0)
                                self->ignore_all_keyrings = TRUE;
                        g_hash_table_add(self->ignored_keyrings, g_strdup(name));
                }
        }

        member = json_object_get_member(ima, "log_hash_alg");
        if (member != NULL) {
                const gchar *name =
                    vtc_policy_node_get_string(member, "ima.log_hash_alg", 64, error);
                if (name == NULL)
                        return FALSE;
                /* the schema's enum */
                if (g_strcmp0(name, "sha1") != 0 && g_strcmp0(name, "sha256") != 0 &&
                    g_strcmp0(name, "sha384") != 0 && g_strcmp0(name, "sha512") != 0) {
                        g_set_error(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "ima.log_hash_alg: '%s' is not one of sha1, sha256, sha384, sha512",
                            name);
                        return FALSE;
                }
                self->log_hash_alg = vtc_hash_alg_from_name(name);
        }

        member = json_object_get_member(ima, "dm_policy");
        if (member != NULL && !JSON_NODE_HOLDS_NULL(member)) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_NOT_SUPPORTED,
                    "ima.dm_policy: device-mapper policies are not supported (must be null)");
                return FALSE;
        }
        return TRUE;
}

static VtcRuntimePolicy *
vtc_policy_new_from_root(JsonNode *root_node, GError **error)
{
        g_autoptr(VtcRuntimePolicy) self = g_new0(VtcRuntimePolicy, 1);
        JsonObject *root;
        JsonNode *digests;

        self->ignored_keyrings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        self->keys =
            g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, vtc_policy_pkey_free);
        if (!JSON_NODE_HOLDS_OBJECT(root_node)) {
                vtc_policy_type_error(error, "runtime policy", "an object", root_node);
                return NULL;
        }
        root = json_node_get_object(root_node);
        if (json_object_get_member(root, "payload") != NULL) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_ARGUMENT,
                    "runtime policy: a DSSE envelope (signed policy): give the signer's key");
                return NULL;
        }
        if (!vtc_policy_parse_meta(root, error))
                return NULL;
        digests = json_object_get_member(root, "digests");
        if (digests == NULL) {
                /* Keylime's older allowlists said "hashes": not this format */
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "digests: missing (not a Keylime runtime policy)");
                return NULL;
        }
        self->digests = vtc_policy_parse_digest_map(digests, "digests", error);
        if (self->digests == NULL)
                return NULL;
        self->by_digest = vtc_policy_digest_index_new(self->digests);
        self->keyrings = vtc_policy_parse_digest_map(json_object_get_member(root, "keyrings"),
                                                     "keyrings",
                                                     error);
        if (self->keyrings == NULL)
                return NULL;
        self->buffers =
            vtc_policy_parse_digest_map(json_object_get_member(root, "ima-buf"), "ima-buf", error);
        if (self->buffers == NULL)
                return NULL;
        if (!vtc_policy_parse_excludes(self, json_object_get_member(root, "excludes"), error))
                return NULL;
        if (!vtc_policy_parse_ima(self, json_object_get_member(root, "ima"), error))
                return NULL;
        if (!vtc_policy_parse_keys(self, json_object_get_member(root, "verification-keys"), error))
                return NULL;
        return g_steal_pointer(&self);
}

VtcRuntimePolicy *
vtc_runtime_policy_new_from_json(const gchar *data, gsize len, GError **error)
{
        g_autoptr(JsonParser) parser = NULL;

        g_return_val_if_fail(data != NULL || len == 0, NULL);

        parser = vtc_policy_json_parse(data != NULL ? data : "", len, "runtime policy", error);
        if (parser == NULL)
                return NULL;
        return vtc_policy_new_from_root(json_parser_get_root(parser), error);
}

static gboolean
vtc_policy_dsse_verify(EVP_PKEY *key,
                       const gchar *payload_type,
                       const guint8 *payload,
                       gsize payload_len,
                       const guint8 *sig,
                       gsize sig_len)
{
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
        g_autoptr(GByteArray) pae = g_byte_array_new();
        g_autofree gchar *head =
            g_strdup_printf("DSSEv1 %" G_GSIZE_FORMAT " %s %" G_GSIZE_FORMAT " ",
                            strlen(payload_type),
                            payload_type,
                            payload_len);
        gboolean ok;

        g_byte_array_append(pae, (const guint8 *)head, strlen(head));
        g_byte_array_append(pae, payload, payload_len);
        ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, pae->data, pae->len) == 1;
        ERR_clear_error();
        return ok;
}

VtcRuntimePolicy *
vtc_runtime_policy_new_from_dsse(const gchar *data, gsize len, EVP_PKEY *key, GError **error)
{
        g_autoptr(JsonParser) parser = NULL;
        g_autofree guint8 *payload = NULL;
        gsize payload_len = 0;
        JsonNode *root;
        JsonObject *obj;
        JsonNode *node;
        JsonArray *sigs;
        const gchar *text;
        const gchar *payload_type;
        gboolean verified = FALSE;

        g_return_val_if_fail(data != NULL || len == 0, NULL);
        g_return_val_if_fail(key != NULL, NULL);

        parser = vtc_policy_json_parse(data != NULL ? data : "", len, "DSSE envelope", error);
        if (parser == NULL)
                return NULL;
        root = json_parser_get_root(parser);
        if (!JSON_NODE_HOLDS_OBJECT(root)) {
                vtc_policy_type_error(error, "DSSE envelope", "an object", root);
                return NULL;
        }
        obj = json_node_get_object(root);
        payload_type = vtc_policy_node_get_string(json_object_get_member(obj, "payloadType"),
                                                  "payloadType",
                                                  VTC_RUNTIME_POLICY_MAX_STRING,
                                                  error);
        if (payload_type == NULL)
                return NULL;
        if (g_strcmp0(payload_type, VTC_DSSE_PAYLOAD_TYPE) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "payloadType: '%s', expected '%s'",
                            payload_type,
                            VTC_DSSE_PAYLOAD_TYPE);
                return NULL;
        }
        text = vtc_policy_node_get_string(json_object_get_member(obj, "payload"),
                                          "payload",
                                          VTC_RUNTIME_POLICY_MAX_SIZE,
                                          error);
        if (text == NULL)
                return NULL;
        payload = vtc_policy_base64_decode(text, &payload_len);
        if (payload == NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "payload: not base64");
                return NULL;
        }
        node = json_object_get_member(obj, "signatures");
        if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
                vtc_policy_type_error(error, "signatures", "an array", node);
                return NULL;
        }
        sigs = json_node_get_array(node);
        if (json_array_get_length(sigs) > VTC_RUNTIME_POLICY_MAX_KEYS) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE, "signatures: too many");
                return NULL;
        }
        for (guint i = 0; i < json_array_get_length(sigs) && !verified; i++) {
                g_autofree gchar *where = g_strdup_printf("signatures[%u].sig", i);
                g_autofree guint8 *sig = NULL;
                gsize sig_len = 0;
                JsonNode *entry = json_array_get_element(sigs, i);
                const gchar *sig_text;
                if (!JSON_NODE_HOLDS_OBJECT(entry)) {
                        vtc_policy_type_error(error, where, "an object", entry);
                        return NULL;
                }
                sig_text = vtc_policy_node_get_string(
                    json_object_get_member(json_node_get_object(entry), "sig"),
                    where,
                    VTC_RUNTIME_POLICY_MAX_STRING,
                    error);
                if (sig_text == NULL)
                        return NULL;
                sig = vtc_policy_base64_decode(sig_text, &sig_len);
                if (sig == NULL)
                        continue; /* not base64: cannot verify, like a wrong signature */
                verified =
                    vtc_policy_dsse_verify(key, payload_type, payload, payload_len, sig, sig_len);
        }
        if (!verified) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "DSSE envelope: no signature verifies with the given key");
                return NULL;
        }
        return vtc_runtime_policy_new_from_json((const gchar *)payload, payload_len, error);
}

const VtcHashAlg *
vtc_runtime_policy_get_log_hash_alg(const VtcRuntimePolicy *self)
{
        g_return_val_if_fail(self != NULL, NULL);
        return self->log_hash_alg;
}

guint
vtc_runtime_policy_get_n_paths(const VtcRuntimePolicy *self)
{
        g_return_val_if_fail(self != NULL, 0);
        return g_hash_table_size(self->digests);
}

guint
vtc_runtime_policy_get_n_excludes(const VtcRuntimePolicy *self)
{
        g_return_val_if_fail(self != NULL, 0);
        return self->n_excludes;
}

guint
vtc_runtime_policy_get_n_keys(const VtcRuntimePolicy *self)
{
        g_return_val_if_fail(self != NULL, 0);
        return g_hash_table_size(self->keys);
}

gboolean
vtc_runtime_policy_lookup_digest(const VtcRuntimePolicy *self,
                                 const gchar *path,
                                 const VtcHashAlg *alg,
                                 const guint8 *digest,
                                 gsize digest_len)
{
        const VtcPolicyDigestList *list;

        g_return_val_if_fail(self != NULL, FALSE);
        g_return_val_if_fail(path != NULL, FALSE);
        list = g_hash_table_lookup(self->digests, path);
        return list != NULL && digest != NULL &&
               vtc_policy_digest_list_contains(list, alg, digest, digest_len);
}

/* ---- failures ---- */

const gchar *
vtc_runtime_policy_reason_to_string(VtcRuntimePolicyReason reason)
{
        switch (reason) {
        case VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY:
                return "path not in policy";
        case VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY:
                return "digest not in policy";
        case VTC_RUNTIME_POLICY_REASON_SIGNATURE_MALFORMED:
                return "malformed signature";
        case VTC_RUNTIME_POLICY_REASON_KEYRING_NOT_IN_POLICY:
                return "keyring not in policy";
        case VTC_RUNTIME_POLICY_REASON_KEYRING_DIGEST_NOT_ALLOWED:
                return "keyring digest not allowed";
        case VTC_RUNTIME_POLICY_REASON_BUFFER_NOT_IN_POLICY:
                return "buffer not in policy";
        case VTC_RUNTIME_POLICY_REASON_BUFFER_DIGEST_NOT_ALLOWED:
                return "buffer digest not allowed";
        case VTC_RUNTIME_POLICY_REASON_UNSUPPORTED_KEY:
                return "unsupported key in keyring entry";
        case VTC_RUNTIME_POLICY_REASON_NO_DIGEST:
                return "entry has no digest";
        }
        return "unknown";
}

void
vtc_runtime_policy_failure_free(VtcRuntimePolicyFailure *failure)
{
        if (failure == NULL)
                return;
        g_free(failure->path);
        g_free(failure->digest);
        g_free(failure->signature_detail);
        g_free(failure);
}

gchar *
vtc_runtime_policy_failure_to_string(const VtcRuntimePolicyFailure *failure)
{
        GString *s = g_string_new(NULL);

        g_return_val_if_fail(failure != NULL, NULL);
        g_string_append_printf(s,
                               "#%u %s %s: %s",
                               failure->index,
                               failure->path,
                               failure->digest,
                               vtc_runtime_policy_reason_to_string(failure->reason));
        if (failure->signature_detail != NULL)
                g_string_append_printf(s, " (%s)", failure->signature_detail);
        if (failure->violation)
                g_string_append(s, " [IMA violation entry]");
        return g_string_free(s, FALSE);
}

static gchar *
vtc_policy_entry_digest_string(const VtcImaEntry *entry)
{
        g_autofree gchar *hex = NULL;

        if (entry->file_hash == NULL || entry->file_hash_len == 0)
                return g_strdup("(none)");
        hex = vtc_hex_encode(entry->file_hash, entry->file_hash_len);
        if (entry->file_hash_alg == NULL)
                return g_steal_pointer(&hex);
        return g_strdup_printf("%s:%s", entry->file_hash_alg->name, hex);
}

static VtcRuntimePolicyFailure *
vtc_policy_failure_new(const VtcImaEntry *entry,
                       guint index,
                       VtcRuntimePolicyReason reason,
                       gchar *signature_detail)
{
        VtcRuntimePolicyFailure *failure = g_new0(VtcRuntimePolicyFailure, 1);

        failure->index = index;
        failure->template_kind = entry->template_kind;
        failure->reason = reason;
        failure->path = g_strdup(entry->path != NULL ? entry->path : "");
        failure->digest = vtc_policy_entry_digest_string(entry);
        failure->signature_detail = signature_detail;
        failure->violation = entry->violation;
        return failure;
}

/* ---- the check ---- */

VtcRuntimePolicyCheck *
vtc_runtime_policy_check_new(const VtcRuntimePolicy *policy, VtcRuntimePolicyCheckFlags flags)
{
        VtcRuntimePolicyCheck *self;

        g_return_val_if_fail(policy != NULL, NULL);
        self = g_new0(VtcRuntimePolicyCheck, 1);
        self->policy = policy;
        self->flags = flags;
        self->learnt_keys =
            g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, vtc_policy_pkey_free);
        self->failures =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_runtime_policy_failure_free);
        return self;
}

void
vtc_runtime_policy_check_free(VtcRuntimePolicyCheck *self)
{
        if (self == NULL)
                return;
        g_hash_table_unref(self->learnt_keys);
        g_ptr_array_unref(self->failures);
        g_free(self);
}

/* Linux's enum hash_algo, for the algorithms Keylime checks IMA signatures with. */
static const gchar *
vtc_policy_linux_hash_name(guint8 id)
{
        switch (id) {
        case 2:
                return "sha1";
        case 4:
                return "sha256";
        case 5:
                return "sha384";
        case 6:
                return "sha512";
        default:
                return NULL;
        }
}

/* Keylime's ast.Signature check: the header's size field must account for every byte. */
static gboolean
vtc_policy_signature_well_formed(const guint8 *sig, gsize len)
{
        if (len < VTC_IMA_SIG_HDR_SIZE)
                return FALSE;
        return VTC_IMA_SIG_HDR_SIZE + (((gsize)sig[7] << 8) | sig[8]) == len;
}

static gboolean
vtc_policy_pkey_verify(EVP_PKEY *pkey,
                       const EVP_MD *md,
                       const guint8 *sig,
                       gsize sig_len,
                       const guint8 *digest,
                       gsize digest_len,
                       GError **error)
{
        g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(pkey, NULL);
        gint rc;

        if (ctx == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "EVP_PKEY_CTX_new");
                return FALSE;
        }
        if (EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
                ERR_clear_error();
                return FALSE;
        }
        if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) {
                ERR_clear_error();
                return FALSE;
        }
        rc = EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len);
        ERR_clear_error();
        return rc == 1;
}

/*
 * Keylime's integrity_digsig_verify(). Returns TRUE when the signature verifies; otherwise
 * FALSE with *@out_detail saying why (or @error set when OpenSSL could not even start).
 */
static gboolean
vtc_policy_check_signature(VtcRuntimePolicyCheck *self,
                           const VtcImaEntry *entry,
                           gchar **out_detail,
                           GError **error)
{
        const guint8 *sig = entry->sig;
        const gchar *hash_name;
        const EVP_MD *md;
        guint32 keyid;
        EVP_PKEY *keys[2];

        /* type EVM_IMA_XATTR_DIGSIG or EVM_XATTR_PORTABLE_DIGSIG, version 2 */
        if (sig[0] != 3 && sig[0] != 5) {
                *out_detail =
                    g_strdup_printf("signature type %u is not a digital signature", sig[0]);
                return FALSE;
        }
        if (sig[1] != 2) {
                *out_detail = g_strdup_printf("signature version %u is not supported", sig[1]);
                return FALSE;
        }
        hash_name = vtc_policy_linux_hash_name(sig[2]);
        if (hash_name == NULL) {
                *out_detail =
                    g_strdup_printf("signature hash algorithm %u is not supported", sig[2]);
                return FALSE;
        }
        if (entry->file_hash_alg == NULL || g_strcmp0(entry->file_hash_alg->name, hash_name) != 0) {
                *out_detail = g_strdup_printf(
                    "signature over %s, the entry's digest is %s",
                    hash_name,
                    entry->file_hash_alg != NULL ? entry->file_hash_alg->name : "unknown");
                return FALSE;
        }
        md = EVP_get_digestbyname(hash_name);
        if (md == NULL || (gsize)EVP_MD_get_size(md) != entry->file_hash_len) {
                *out_detail = g_strdup_printf("digest length does not fit %s", hash_name);
                return FALSE;
        }
        keyid = ((guint32)sig[3] << 24) | ((guint32)sig[4] << 16) | ((guint32)sig[5] << 8) | sig[6];
        keys[0] = g_hash_table_lookup(self->learnt_keys, GUINT_TO_POINTER(keyid));
        keys[1] = g_hash_table_lookup(self->policy->keys, GUINT_TO_POINTER(keyid));
        if (keys[0] == NULL && keys[1] == NULL) {
                *out_detail =
                    g_strdup_printf("signature does not verify: no key with id 0x%08x", keyid);
                return FALSE;
        }
        for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
                g_autoptr(GError) error_local = NULL;
                if (keys[i] == NULL)
                        continue;
                if (vtc_policy_pkey_verify(keys[i],
                                           md,
                                           sig + VTC_IMA_SIG_HDR_SIZE,
                                           entry->sig_len - VTC_IMA_SIG_HDR_SIZE,
                                           entry->file_hash,
                                           entry->file_hash_len,
                                           &error_local))
                        return TRUE;
                if (error_local != NULL) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return FALSE;
                }
        }
        *out_detail = g_strdup_printf("signature does not verify with key 0x%08x", keyid);
        return FALSE;
}

static gboolean
vtc_policy_check_buffer(VtcRuntimePolicyCheck *self,
                        const VtcImaEntry *entry,
                        guint index,
                        VtcRuntimePolicyFailure **out_failure,
                        GError **error)
{
        const VtcRuntimePolicy *policy = self->policy;
        const gchar *name = entry->path != NULL ? entry->path : "";
        const VtcPolicyDigestList *list;
        g_autoptr(EVP_PKEY) pkey = NULL;
        gboolean unsupported = FALSE;
        guint32 keyid = 0;

        if (entry->buf != NULL && entry->buf_len > 0)
                pkey = vtc_policy_key_from_buffer(entry->buf, entry->buf_len, &keyid, &unsupported);
        if (unsupported) {
                self->stats.failed++;
                *out_failure = vtc_policy_failure_new(entry,
                                                      index,
                                                      VTC_RUNTIME_POLICY_REASON_UNSUPPORTED_KEY,
                                                      NULL);
                return TRUE;
        }
        if (pkey != NULL) {
                if (policy->ignore_all_keyrings ||
                    g_hash_table_contains(policy->ignored_keyrings, name)) {
                        self->stats.skipped++;
                        *out_failure = NULL;
                        return TRUE;
                }
                list = g_hash_table_lookup(policy->keyrings, name);
                if (list != NULL && entry->file_hash != NULL &&
                    vtc_policy_digest_list_contains(list,
                                                    entry->file_hash_alg,
                                                    entry->file_hash,
                                                    entry->file_hash_len)) {
                        self->stats.by_digest++;
                } else if (vtc_runtime_policy_is_excluded(policy, name)) {
                        self->stats.by_exclude++;
                } else {
                        self->stats.failed++;
                        *out_failure = vtc_policy_failure_new(
                            entry,
                            index,
                            list != NULL ? VTC_RUNTIME_POLICY_REASON_KEYRING_DIGEST_NOT_ALLOWED
                                         : VTC_RUNTIME_POLICY_REASON_KEYRING_NOT_IN_POLICY,
                            NULL);
                        return TRUE;
                }
                /* an accepted key may sign the files measured after it */
                if (g_hash_table_size(self->learnt_keys) < VTC_RUNTIME_POLICY_MAX_LEARNED_KEYS ||
                    g_hash_table_contains(self->learnt_keys, GUINT_TO_POINTER(keyid))) {
                        g_hash_table_replace(self->learnt_keys,
                                             GUINT_TO_POINTER(keyid),
                                             g_steal_pointer(&pkey));
                        self->stats.keys_learnt++;
                }
                *out_failure = NULL;
                return TRUE;
        }
        list = g_hash_table_lookup(policy->buffers, name);
        if (list != NULL && entry->file_hash != NULL &&
            vtc_policy_digest_list_contains(list,
                                            entry->file_hash_alg,
                                            entry->file_hash,
                                            entry->file_hash_len)) {
                self->stats.by_digest++;
        } else if (vtc_runtime_policy_is_excluded(policy, name)) {
                self->stats.by_exclude++;
        } else {
                self->stats.failed++;
                *out_failure = vtc_policy_failure_new(
                    entry,
                    index,
                    list != NULL ? VTC_RUNTIME_POLICY_REASON_BUFFER_DIGEST_NOT_ALLOWED
                                 : VTC_RUNTIME_POLICY_REASON_BUFFER_NOT_IN_POLICY,
                    NULL);
                return TRUE;
        }
        *out_failure = NULL;
        return TRUE;
}

gboolean
vtc_runtime_policy_check_entry(VtcRuntimePolicyCheck *self,
                               const VtcImaEntry *entry,
                               guint index,
                               VtcRuntimePolicyFailure **out_failure,
                               GError **error)
{
        const VtcRuntimePolicy *policy;
        const VtcPolicyDigestList *list;
        const gchar *path;
        gboolean has_sig;
        g_autofree gchar *sig_detail = NULL;
        VtcRuntimePolicyFailure *failure = NULL;

        g_return_val_if_fail(self != NULL, FALSE);
        g_return_val_if_fail(entry != NULL, FALSE);
        g_return_val_if_fail(out_failure != NULL, FALSE);

        policy = self->policy;
        path = entry->path != NULL ? entry->path : "";
        self->stats.checked++;

        if (entry->template_kind == VTC_IMA_TEMPLATE_IMA_BUF) {
                if (!vtc_policy_check_buffer(self, entry, index, &failure, error))
                        return FALSE;
                *out_failure = failure;
                return TRUE;
        }
        if ((self->flags & VTC_RUNTIME_POLICY_CHECK_BOOT_AGGREGATE) == 0 &&
            strcmp(path, "boot_aggregate") == 0) {
                self->stats.skipped++;
                *out_failure = NULL;
                return TRUE;
        }

        has_sig = entry->template_kind == VTC_IMA_TEMPLATE_IMA_SIG && entry->sig != NULL &&
                  entry->sig_len > 0;
        if (has_sig && !vtc_policy_signature_well_formed(entry->sig, entry->sig_len)) {
                self->stats.failed++;
                *out_failure = vtc_policy_failure_new(
                    entry,
                    index,
                    VTC_RUNTIME_POLICY_REASON_SIGNATURE_MALFORMED,
                    g_strdup_printf("signature of %" G_GSIZE_FORMAT " bytes, header says %u",
                                    entry->sig_len,
                                    entry->sig_len >= VTC_IMA_SIG_HDR_SIZE
                                        ? VTC_IMA_SIG_HDR_SIZE +
                                              ((entry->sig[7] << 8) | entry->sig[8])
                                        : 0));
                return TRUE;
        }

        /*
         * Keylime accepts an entry that is excluded, or signed, or in the digest list; the order
         * of the tests does not change the verdict, so the cheapest goes first. The digest list
         * is searched by digest (the index), the path table only read to say why an entry
         * failed.
         */
        if (vtc_policy_digest_index_contains(policy,
                                             path,
                                             entry->file_hash_alg,
                                             entry->file_hash,
                                             entry->file_hash_len)) {
                self->stats.by_digest++;
                *out_failure = NULL;
                return TRUE;
        }
        if (vtc_runtime_policy_is_excluded(policy, path)) {
                self->stats.by_exclude++;
                *out_failure = NULL;
                return TRUE;
        }
        if (has_sig && entry->file_hash != NULL) {
                g_autoptr(GError) error_local = NULL;
                if (vtc_policy_check_signature(self, entry, &sig_detail, &error_local)) {
                        self->stats.by_signature++;
                        *out_failure = NULL;
                        return TRUE;
                }
                if (error_local != NULL) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return FALSE;
                }
        }
        self->stats.failed++;
        if (entry->file_hash == NULL || entry->file_hash_len == 0) {
                *out_failure = vtc_policy_failure_new(entry,
                                                      index,
                                                      VTC_RUNTIME_POLICY_REASON_NO_DIGEST,
                                                      g_steal_pointer(&sig_detail));
                return TRUE;
        }
        list = g_hash_table_lookup(policy->digests, path);
        *out_failure =
            vtc_policy_failure_new(entry,
                                   index,
                                   list != NULL ? VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY
                                                : VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY,
                                   g_steal_pointer(&sig_detail));
        return TRUE;
}

gboolean
vtc_runtime_policy_check_add(VtcRuntimePolicyCheck *self,
                             const VtcImaEntry *entry,
                             guint index,
                             GError **error)
{
        VtcRuntimePolicyFailure *failure = NULL;

        if (!vtc_runtime_policy_check_entry(self, entry, index, &failure, error))
                return FALSE;
        if (failure == NULL)
                return TRUE;
        /* a hostile log can fail every one of millions of entries: keep the first ones (the
         * stats still count them all) so memory stays bounded */
        if (self->failures->len < VTC_RUNTIME_POLICY_MAX_KEPT_FAILURES)
                g_ptr_array_add(self->failures, failure);
        else
                vtc_runtime_policy_failure_free(failure);
        return TRUE;
}

GPtrArray *
vtc_runtime_policy_check_get_failures(VtcRuntimePolicyCheck *self)
{
        g_return_val_if_fail(self != NULL, NULL);
        return self->failures;
}

void
vtc_runtime_policy_check_get_stats(VtcRuntimePolicyCheck *self, VtcRuntimePolicyCheckStats *out)
{
        g_return_if_fail(self != NULL);
        g_return_if_fail(out != NULL);
        *out = self->stats;
}
