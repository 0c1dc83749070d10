/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-protect.h"

#include <errno.h>
#include <openssl/rand.h>

#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <tss2/tss2_mu.h>

#include "vtc-error.h"
#include "vtc-util.h"

#define VTC_SEALED_MAX_FILE  (64 * 1024)
#define VTC_SEALED_MAX_KEY   128
#define VTC_XML_MAX_DEPTH    64
#define VTC_PROTECT_ELEMENT  "vtc:protect"
#define VTC_HOSTD_TIMEOUT_MS (30 * 1000)

/* ---- libvirt handles -------------------------------------------------------------------- */

static void
vtc_virconnect_close(virConnect *conn)
{
        virConnectClose(conn);
}

static void
vtc_virdomain_free(virDomain *dom)
{
        virDomainFree(dom);
}

static void
vtc_virsecret_free(virSecret *secret)
{
        virSecretFree(secret);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, vtc_virconnect_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, vtc_virdomain_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virSecret, vtc_virsecret_free)

/* libvirt prints every error on stderr by default; ours go into GErrors. */
static void
vtc_virt_error_silent_cb(void *user_data, virErrorPtr err)
{
}

static void
vtc_virt_init(void)
{
        static gsize done = 0;

        if (g_once_init_enter(&done)) {
                virInitialize();
                virSetErrorFunc(NULL, vtc_virt_error_silent_cb);
                g_once_init_leave(&done, 1);
        }
}

static void vtc_virt_set_error(GError **error, gint code, const gchar *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* @fmt's text, then libvirt's last error of this thread. */
static void
vtc_virt_set_error(GError **error, gint code, const gchar *fmt, ...)
{
        const gchar *msg = virGetLastErrorMessage();
        g_autofree gchar *what = NULL;
        va_list ap;

        va_start(ap, fmt);
        what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(error, VTC_ERROR, code, "%s: %s", what, msg != NULL ? msg : "unknown error");
}

/* ---- sealed keys ------------------------------------------------------------------------ */

struct _VtcHostdSealedKey {
        gchar *domain;
        gchar *secret;
        TPM2_HANDLE parent;
        TPM2B_NAME parent_name;
        TPM2B_PUBLIC public;
        TPM2B_PRIVATE private;
};

void
vtc_hostd_sealed_key_free(VtcHostdSealedKey *self)
{
        if (self == NULL)
                return;
        g_free(self->domain);
        g_free(self->secret);
        g_free(self);
}

const gchar *
vtc_hostd_sealed_key_get_domain(const VtcHostdSealedKey *self)
{
        return self->domain;
}

const gchar *
vtc_hostd_sealed_key_get_secret(const VtcHostdSealedKey *self)
{
        return self->secret;
}

void
vtc_hostd_protect_template_parent(TPM2B_PUBLIC *out)
{
        memset(out, 0, sizeof(*out));
        out->publicArea.type = TPM2_ALG_ECC;
        out->publicArea.nameAlg = TPM2_ALG_SHA256;
        out->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                           TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                           TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
                                           TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
        out->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        out->publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
        out->publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        out->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        out->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        out->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

static void
vtc_hostd_sealed_template(TPM2B_PUBLIC *out)
{
        memset(out, 0, sizeof(*out));
        out->publicArea.type = TPM2_ALG_KEYEDHASH;
        out->publicArea.nameAlg = TPM2_ALG_SHA256;
        /* no sensitiveDataOrigin: the data is ours; no sign/decrypt: a sealed data object */
        out->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                           TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;
        out->publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}

/* A GBytes whose memory is wiped when the last reference goes. */
typedef struct {
        guint8 *data;
        gsize len;
} VtcSecretBuf;

static void
vtc_secret_buf_free(gpointer p)
{
        VtcSecretBuf *b = p;

        vtc_secret_free(b->data, b->len);
        g_free(b);
}

static GBytes *
vtc_secret_bytes_wiped_new(const guint8 *data, gsize len)
{
        VtcSecretBuf *b = g_new0(VtcSecretBuf, 1);

        b->data = g_malloc(MAX(len, 1));
        b->len = len;
        memcpy(b->data, data, len);
        return g_bytes_new_with_free_func(b->data, len, vtc_secret_buf_free, b);
}

/* The persistent parent's ESYS_TR (close it with Esys_TR_Close), without creating it. */
static gboolean
vtc_hostd_parent_open(ESYS_CONTEXT *ctx,
                      TPM2_HANDLE parent,
                      const gchar *domain,
                      ESYS_TR *out_handle,
                      GError **error)
{
        ESYS_TR handle = ESYS_TR_NONE;
        TSS2_RC rc =
            Esys_TR_FromTPMPublic(ctx, parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);

        if (rc != TSS2_RC_SUCCESS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FORBIDDEN,
                            "the vTPM key of domain %s was sealed under another TPM: this "
                            "host's TPM has no sealing key at 0x%08x",
                            domain,
                            parent);
                return FALSE;
        }
        *out_handle = handle;
        return TRUE;
}

/* A salted HMAC session with parameter encryption both ways: the key never crosses the TPM
 * bus in the clear. */
static gboolean
vtc_hostd_session_start(ESYS_CONTEXT *ctx, ESYS_TR salt_key, ESYS_TR *out_session, GError **error)
{
        TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES,
                            .keyBits = {.aes = 128},
                            .mode = {.aes = TPM2_ALG_CFB}};
        ESYS_TR session = ESYS_TR_NONE;
        TSS2_RC rc = Esys_StartAuthSession(ctx,
                                           salt_key,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           NULL,
                                           TPM2_SE_HMAC,
                                           &sym,
                                           TPM2_ALG_SHA256,
                                           &session);

        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_StartAuthSession");
                return FALSE;
        }
        rc = Esys_TRSess_SetAttributes(ctx,
                                       session,
                                       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
                                           TPMA_SESSION_CONTINUESESSION,
                                       0xff);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_FlushContext(ctx, session);
                vtc_tss_set_error(error, rc, "Esys_TRSess_SetAttributes");
                return FALSE;
        }
        *out_session = session;
        return TRUE;
}

VtcHostdSealedKey *
vtc_hostd_sealed_key_seal(VtcTpm *tpm,
                          TPM2_HANDLE parent,
                          const gchar *domain_uuid,
                          const gchar *secret_uuid,
                          const guint8 *key,
                          gsize len,
                          GError **error)
{
        ESYS_CONTEXT *ctx = vtc_tpm_get_esys(tpm);
        g_autoptr(VtcHostdSealedKey) self = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_SENSITIVE_CREATE sensitive = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION pcrs = {0};
        TPM2B_PRIVATE *out_private = NULL;
        TPM2B_PUBLIC *out_public = NULL;
        TPM2B_NAME *name = NULL;
        ESYS_TR handle = ESYS_TR_NONE;
        ESYS_TR session = ESYS_TR_NONE;
        TSS2_RC rc;

        if (len == 0 || len > VTC_SEALED_MAX_KEY || len > sizeof(sensitive.sensitive.data.buffer)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a sealed key is 1 to %d bytes",
                            VTC_SEALED_MAX_KEY);
                return NULL;
        }
        if (!g_uuid_string_is_valid(domain_uuid) || !g_uuid_string_is_valid(secret_uuid)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "sealing a key needs the domain and secret UUIDs");
                return NULL;
        }
        vtc_hostd_protect_template_parent(&tmpl);
        if (!vtc_tpm_key_ensure(tpm, parent, &tmpl, &handle, NULL, error)) {
                g_prefix_error(error, "the sealing key at 0x%08x: ", parent);
                return NULL;
        }
        rc = Esys_TR_GetName(ctx, handle, &name);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_TR_Close(ctx, &handle);
                vtc_tss_set_error(error, rc, "Esys_TR_GetName");
                return NULL;
        }
        self = g_new0(VtcHostdSealedKey, 1);
        self->domain = g_ascii_strdown(domain_uuid, -1);
        self->secret = g_ascii_strdown(secret_uuid, -1);
        self->parent = parent;
        self->parent_name = *name;
        Esys_Free(name);
        if (!vtc_hostd_session_start(ctx, handle, &session, error)) {
                Esys_TR_Close(ctx, &handle);
                return NULL;
        }
        vtc_hostd_sealed_template(&tmpl);
        sensitive.sensitive.data.size = (UINT16)len;
        memcpy(sensitive.sensitive.data.buffer, key, len);
        rc = Esys_Create(ctx,
                         handle,
                         session,
                         ESYS_TR_NONE,
                         ESYS_TR_NONE,
                         &sensitive,
                         &tmpl,
                         &outside,
                         &pcrs,
                         &out_private,
                         &out_public,
                         NULL,
                         NULL,
                         NULL);
        explicit_bzero(&sensitive, sizeof(sensitive));
        Esys_FlushContext(ctx, session);
        Esys_TR_Close(ctx, &handle);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_Create");
                g_prefix_error(error, "sealing the vTPM key of domain %s: ", domain_uuid);
                return NULL;
        }
        self->public = *out_public;
        self->private = *out_private;
        Esys_Free(out_public);
        Esys_Free(out_private);
        return g_steal_pointer(&self);
}

GBytes *
vtc_hostd_sealed_key_unseal(const VtcHostdSealedKey *self, VtcTpm *tpm, GError **error)
{
        ESYS_CONTEXT *ctx = vtc_tpm_get_esys(tpm);
        ESYS_TR parent = ESYS_TR_NONE;
        ESYS_TR item = ESYS_TR_NONE;
        ESYS_TR session = ESYS_TR_NONE;
        TPM2B_NAME *name = NULL;
        TPM2B_SENSITIVE_DATA *data = NULL;
        GBytes *key;
        gboolean same;
        TSS2_RC rc;

        if (!vtc_hostd_parent_open(ctx, self->parent, self->domain, &parent, error))
                return NULL;
        rc = Esys_TR_GetName(ctx, parent, &name);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_TR_Close(ctx, &parent);
                vtc_tss_set_error(error, rc, "Esys_TR_GetName");
                return NULL;
        }
        same = name->size == self->parent_name.size &&
               memcmp(name->name, self->parent_name.name, name->size) == 0;
        Esys_Free(name);
        if (!same) {
                Esys_TR_Close(ctx, &parent);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FORBIDDEN,
                            "the vTPM key of domain %s was sealed under another TPM: this host's "
                            "TPM cannot unseal it (its sealing key at 0x%08x is a different key)",
                            self->domain,
                            self->parent);
                return NULL;
        }
        if (!vtc_hostd_session_start(ctx, parent, &session, error)) {
                Esys_TR_Close(ctx, &parent);
                return NULL;
        }
        rc = Esys_Load(ctx,
                       parent,
                       session,
                       ESYS_TR_NONE,
                       ESYS_TR_NONE,
                       &self->private,
                       &self->public,
                       &item);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_FlushContext(ctx, session);
                Esys_TR_Close(ctx, &parent);
                vtc_tss_set_error(error, rc, "Esys_Load");
                g_prefix_error(error,
                               "the vTPM key of domain %s cannot be loaded on this TPM: ",
                               self->domain);
                if (error != NULL && *error != NULL)
                        (*error)->code = VTC_ERROR_FORBIDDEN;
                return NULL;
        }
        rc = Esys_Unseal(ctx, item, session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
        Esys_FlushContext(ctx, item);
        Esys_FlushContext(ctx, session);
        Esys_TR_Close(ctx, &parent);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_Unseal");
                g_prefix_error(error, "unsealing the vTPM key of domain %s: ", self->domain);
                return NULL;
        }
        key = vtc_secret_bytes_wiped_new(data->buffer, data->size);
        explicit_bzero(data, sizeof(*data));
        Esys_Free(data);
        return key;
}

/* ---- the record file ---- */

#define VTC_SEALED_GROUP "vtc sealed key"

gchar *
vtc_hostd_sealed_key_to_data(const VtcHostdSealedKey *self, gsize *out_len)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        guint8 pub[sizeof(TPM2B_PUBLIC)];
        guint8 priv[sizeof(TPM2B_PRIVATE)];
        size_t pub_len = 0;
        size_t priv_len = 0;
        g_autofree gchar *pub_hex = NULL;
        g_autofree gchar *priv_hex = NULL;
        g_autofree gchar *name_hex = vtc_hex_encode(self->parent_name.name, self->parent_name.size);
        g_autofree gchar *parent = g_strdup_printf("0x%08x", self->parent);

        /* both marshal into buffers their own size: cannot fail */
        g_assert(Tss2_MU_TPM2B_PUBLIC_Marshal(&self->public, pub, sizeof(pub), &pub_len) ==
                 TSS2_RC_SUCCESS);
        g_assert(Tss2_MU_TPM2B_PRIVATE_Marshal(&self->private, priv, sizeof(priv), &priv_len) ==
                 TSS2_RC_SUCCESS);
        pub_hex = vtc_hex_encode(pub, pub_len);
        priv_hex = vtc_hex_encode(priv, priv_len);
        g_key_file_set_integer(kf, VTC_SEALED_GROUP, "version", 1);
        g_key_file_set_string(kf, VTC_SEALED_GROUP, "domain", self->domain);
        g_key_file_set_string(kf, VTC_SEALED_GROUP, "secret", self->secret);
        g_key_file_set_string(kf, VTC_SEALED_GROUP, "parent", parent);
        g_key_file_set_string(kf, VTC_SEALED_GROUP, "parent_name", name_hex);
        g_key_file_set_string(kf, VTC_SEALED_GROUP, "public", pub_hex);
        g_key_file_set_string(kf, VTC_SEALED_GROUP, "private", priv_hex);
        return g_key_file_to_data(kf, out_len, NULL);
}

static gchar *
vtc_sealed_get(GKeyFile *kf, const gchar *key, GError **error)
{
        g_autoptr(GError) error_local = NULL;
        gchar *value = g_key_file_get_string(kf, VTC_SEALED_GROUP, key, &error_local);

        if (value == NULL)
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the sealed key record has no '%s'",
                            key);
        return value;
}

static GBytes *
vtc_sealed_get_hex(GKeyFile *kf, const gchar *key, GError **error)
{
        g_autofree gchar *hex = vtc_sealed_get(kf, key, error);
        GBytes *out;

        if (hex == NULL)
                return NULL;
        out = vtc_hex_decode(hex, error);
        if (out == NULL)
                g_prefix_error(error, "the sealed key record's '%s': ", key);
        return out;
}

VtcHostdSealedKey *
vtc_hostd_sealed_key_from_data(const gchar *data, gsize len, GError **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(VtcHostdSealedKey) self = g_new0(VtcHostdSealedKey, 1);
        g_autoptr(GError) error_local = NULL;
        g_autoptr(GBytes) pub = NULL;
        g_autoptr(GBytes) priv = NULL;
        g_autoptr(GBytes) name = NULL;
        g_autofree gchar *parent = NULL;
        g_auto(GStrv) keys = NULL;
        static const gchar *const known[] =
            {"version", "domain", "secret", "parent", "parent_name", "public", "private", NULL};
        guint64 handle = 0;
        size_t off = 0;
        gint version;

        if (len > VTC_SEALED_MAX_FILE) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "the sealed key record is too large");
                return NULL;
        }
        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the sealed key record does not parse: %s",
                            error_local->message);
                return NULL;
        }
        keys = g_key_file_get_keys(kf, VTC_SEALED_GROUP, NULL, NULL);
        for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
                if (!g_strv_contains(known, keys[i])) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the sealed key record has an unknown key '%.64s'",
                                    keys[i]);
                        return NULL;
                }
        }
        version = g_key_file_get_integer(kf, VTC_SEALED_GROUP, "version", NULL);
        if (version != 1) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_NOT_SUPPORTED,
                                    "the sealed key record is not version 1");
                return NULL;
        }
        self->domain = vtc_sealed_get(kf, "domain", error);
        if (self->domain == NULL)
                return NULL;
        self->secret = vtc_sealed_get(kf, "secret", error);
        if (self->secret == NULL)
                return NULL;
        if (!g_uuid_string_is_valid(self->domain) || !g_uuid_string_is_valid(self->secret)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the sealed key record's domain or secret is not a UUID");
                return NULL;
        }
        parent = vtc_sealed_get(kf, "parent", error);
        if (parent == NULL)
                return NULL;
        if (!g_str_has_prefix(parent, "0x") ||
            !g_ascii_string_to_unsigned(parent + 2, 16, 0x81000000, 0x817fffff, &handle, NULL)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the sealed key record's parent is not a persistent handle");
                return NULL;
        }
        self->parent = (TPM2_HANDLE)handle;
        name = vtc_sealed_get_hex(kf, "parent_name", error);
        if (name == NULL)
                return NULL;
        if (g_bytes_get_size(name) == 0 ||
            g_bytes_get_size(name) > sizeof(self->parent_name.name)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the sealed key record's parent name has a bad size");
                return NULL;
        }
        self->parent_name.size = (UINT16)g_bytes_get_size(name);
        memcpy(self->parent_name.name, g_bytes_get_data(name, NULL), g_bytes_get_size(name));
        pub = vtc_sealed_get_hex(kf, "public", error);
        if (pub == NULL)
                return NULL;
        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(g_bytes_get_data(pub, NULL),
                                           g_bytes_get_size(pub),
                                           &off,
                                           &self->public) != TSS2_RC_SUCCESS ||
            off != g_bytes_get_size(pub) || self->public.publicArea.type != TPM2_ALG_KEYEDHASH) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the sealed key record's public area is not a sealed object");
                return NULL;
        }
        priv = vtc_sealed_get_hex(kf, "private", error);
        if (priv == NULL)
                return NULL;
        off = 0;
        if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(g_bytes_get_data(priv, NULL),
                                            g_bytes_get_size(priv),
                                            &off,
                                            &self->private) != TSS2_RC_SUCCESS ||
            off != g_bytes_get_size(priv) || self->private.size == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the sealed key record's private area does not parse");
                return NULL;
        }
        return g_steal_pointer(&self);
}

gboolean
vtc_hostd_sealed_key_save(const VtcHostdSealedKey *self, const gchar *path, GError **error)
{
        gsize len = 0;
        g_autofree gchar *data = vtc_hostd_sealed_key_to_data(self, &len);
        g_autofree gchar *dir = g_path_get_dirname(path);

        if (g_mkdir_with_parents(dir, 0700) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "creating %s: %s",
                            dir,
                            g_strerror(errno));
                return FALSE;
        }
        return vtc_file_write_atomic(path, (const guint8 *)data, len, 0600, error);
}

VtcHostdSealedKey *
vtc_hostd_sealed_key_load(const gchar *path, GError **error)
{
        g_autoptr(GBytes) data = vtc_file_read(path, VTC_SEALED_MAX_FILE, error);
        VtcHostdSealedKey *self;

        if (data == NULL)
                return NULL;
        self = vtc_hostd_sealed_key_from_data(g_bytes_get_data(data, NULL),
                                              g_bytes_get_size(data),
                                              error);
        if (self == NULL)
                g_prefix_error(error, "%s: ", path);
        return self;
}

/* ---- a small XML tree: parse with GMarkup, edit, write back ------------------------------ */

typedef struct _VtcXNode VtcXNode;
struct _VtcXNode {
        gchar *name;         /* element; NULL for text and raw markup */
        gchar *text;         /* text (unescaped), or raw markup (comments, PIs, CDATA) */
        gboolean raw;        /* @text is markup, written as is */
        GPtrArray *attrs;    /* name, value, name, value, ... */
        GPtrArray *children; /* VtcXNode */
        VtcXNode *parent;
};

static void
vtc_xnode_free(VtcXNode *n)
{
        if (n == NULL)
                return;
        g_free(n->name);
        g_free(n->text);
        g_clear_pointer(&n->attrs, g_ptr_array_unref);
        g_clear_pointer(&n->children, g_ptr_array_unref);
        g_free(n);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcXNode, vtc_xnode_free)

static VtcXNode *
vtc_xnode_new(const gchar *name)
{
        VtcXNode *n = g_new0(VtcXNode, 1);

        n->name = g_strdup(name);
        n->attrs = g_ptr_array_new_with_free_func(g_free);
        n->children = g_ptr_array_new_with_free_func((GDestroyNotify)vtc_xnode_free);
        return n;
}

static void
vtc_xnode_append(VtcXNode *parent, VtcXNode *child)
{
        child->parent = parent;
        g_ptr_array_add(parent->children, child);
}

static const gchar *
vtc_xnode_get_attr(VtcXNode *n, const gchar *name)
{
        for (guint i = 0; i + 1 < n->attrs->len; i += 2) {
                if (g_strcmp0(g_ptr_array_index(n->attrs, i), name) == 0)
                        return g_ptr_array_index(n->attrs, i + 1);
        }
        return NULL;
}

static void
vtc_xnode_set_attr(VtcXNode *n, const gchar *name, const gchar *value)
{
        for (guint i = 0; i + 1 < n->attrs->len; i += 2) {
                if (g_strcmp0(g_ptr_array_index(n->attrs, i), name) == 0) {
                        g_free(n->attrs->pdata[i + 1]);
                        n->attrs->pdata[i + 1] = g_strdup(value);
                        return;
                }
        }
        g_ptr_array_add(n->attrs, g_strdup(name));
        g_ptr_array_add(n->attrs, g_strdup(value));
}

static VtcXNode *
vtc_xnode_child(VtcXNode *n, const gchar *name)
{
        for (guint i = 0; i < n->children->len; i++) {
                VtcXNode *c = g_ptr_array_index(n->children, i);
                if (g_strcmp0(c->name, name) == 0)
                        return c;
        }
        return NULL;
}

static void
vtc_xnode_remove(VtcXNode *n)
{
        g_ptr_array_remove(n->parent->children, n);
}

static gboolean
vtc_xnode_has_elements(VtcXNode *n)
{
        for (guint i = 0; i < n->children->len; i++) {
                if (((VtcXNode *)g_ptr_array_index(n->children, i))->name != NULL)
                        return TRUE;
        }
        return FALSE;
}

typedef struct {
        VtcXNode *doc;
        VtcXNode *cur;
        guint depth;
} VtcXParse;

static void
vtc_xparse_start(GMarkupParseContext *ctx,
                 const gchar *element,
                 const gchar **names,
                 const gchar **values,
                 gpointer user_data,
                 GError **error)
{
        VtcXParse *p = user_data;
        VtcXNode *n;

        if (++p->depth > VTC_XML_MAX_DEPTH) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "the domain XML nests deeper than %d elements",
                            VTC_XML_MAX_DEPTH);
                return;
        }
        n = vtc_xnode_new(element);
        for (guint i = 0; names[i] != NULL; i++) {
                g_ptr_array_add(n->attrs, g_strdup(names[i]));
                g_ptr_array_add(n->attrs, g_strdup(values[i]));
        }
        vtc_xnode_append(p->cur, n);
        p->cur = n;
}

static void
vtc_xparse_end(GMarkupParseContext *ctx, const gchar *element, gpointer user_data, GError **error)
{
        VtcXParse *p = user_data;

        p->depth--;
        p->cur = p->cur->parent;
}

static void
vtc_xparse_text(GMarkupParseContext *ctx,
                const gchar *text,
                gsize len,
                gpointer user_data,
                GError **error)
{
        VtcXParse *p = user_data;
        VtcXNode *n;

        if (len == 0)
                return;
        n = vtc_xnode_new(NULL);
        n->text = g_strndup(text, len);
        vtc_xnode_append(p->cur, n);
}

static void
vtc_xparse_passthrough(GMarkupParseContext *ctx,
                       const gchar *text,
                       gsize len,
                       gpointer user_data,
                       GError **error)
{
        VtcXParse *p = user_data;
        VtcXNode *n = vtc_xnode_new(NULL);

        n->text = g_strndup(text, len);
        n->raw = TRUE;
        vtc_xnode_append(p->cur, n);
}

/* The document node, and its root element in *@out_root (which must be @root_name). */
static VtcXNode *
vtc_xml_parse(const gchar *xml,
              gsize len,
              const gchar *root_name,
              VtcXNode **out_root,
              GError **error)
{
        static const GMarkupParser parser = {vtc_xparse_start,
                                             vtc_xparse_end,
                                             vtc_xparse_text,
                                             vtc_xparse_passthrough,
                                             NULL};
        g_autoptr(VtcXNode) doc = vtc_xnode_new(NULL);
        VtcXParse p = {.doc = doc, .cur = doc};
        g_autoptr(GMarkupParseContext) ctx = NULL;
        g_autoptr(GError) error_local = NULL;
        VtcXNode *root = NULL;

        if (len > VTC_HOSTD_DOMAIN_XML_MAX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "the domain XML is over %d bytes",
                            VTC_HOSTD_DOMAIN_XML_MAX);
                return NULL;
        }
        ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);
        if (!g_markup_parse_context_parse(ctx, xml, (gssize)len, &error_local) ||
            !g_markup_parse_context_end_parse(ctx, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            error_local->domain == VTC_ERROR ? error_local->code
                                                             : VTC_ERROR_INVALID_DATA,
                            "the domain XML does not parse: %s",
                            error_local->message);
                return NULL;
        }
        for (guint i = 0; i < doc->children->len; i++) {
                VtcXNode *c = g_ptr_array_index(doc->children, i);
                if (c->name != NULL)
                        root = c;
        }
        if (root == NULL || g_strcmp0(root->name, root_name) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the XML is not a <%s>",
                            root_name);
                return NULL;
        }
        *out_root = root;
        return g_steal_pointer(&doc);
}

static void
vtc_xml_write(GString *out, VtcXNode *n)
{
        if (n->name == NULL) {
                if (n->raw) {
                        g_string_append(out, n->text);
                } else if (n->text != NULL) {
                        g_autofree gchar *esc = g_markup_escape_text(n->text, -1);
                        g_string_append(out, esc);
                }
                for (guint i = 0; i < n->children->len; i++)
                        vtc_xml_write(out, g_ptr_array_index(n->children, i));
                return;
        }
        g_string_append_printf(out, "<%s", n->name);
        for (guint i = 0; i + 1 < n->attrs->len; i += 2) {
                g_autofree gchar *esc =
                    g_markup_escape_text(g_ptr_array_index(n->attrs, i + 1), -1);
                g_string_append_printf(out,
                                       " %s=\"%s\"",
                                       (const gchar *)g_ptr_array_index(n->attrs, i),
                                       esc);
        }
        if (n->children->len == 0) {
                g_string_append(out, "/>");
                return;
        }
        g_string_append_c(out, '>');
        for (guint i = 0; i < n->children->len; i++)
                vtc_xml_write(out, g_ptr_array_index(n->children, i));
        g_string_append_printf(out, "</%s>", n->name);
}

static gchar *
vtc_xml_to_string(VtcXNode *doc)
{
        GString *out = g_string_new(NULL);

        vtc_xml_write(out, doc);
        /* GMarkup drops what follows the root element */
        if (out->len == 0 || out->str[out->len - 1] != '\n')
                g_string_append_c(out, '\n');
        return g_string_free(out, FALSE);
}

/* vtc's record: an element in <metadata> whose namespace is VTC_HOSTD_PROTECT_NS. */
static VtcXNode *
vtc_xml_find_record(VtcXNode *root)
{
        VtcXNode *meta = vtc_xnode_child(root, "metadata");

        if (meta == NULL)
                return NULL;
        for (guint i = 0; i < meta->children->len; i++) {
                VtcXNode *c = g_ptr_array_index(meta->children, i);
                const gchar *colon;
                g_autofree gchar *xmlns = NULL;
                if (c->name == NULL)
                        continue;
                colon = strchr(c->name, ':');
                xmlns = colon != NULL
                            ? g_strdup_printf("xmlns:%.*s", (int)(colon - c->name), c->name)
                            : g_strdup("xmlns");
                if (g_strcmp0(vtc_xnode_get_attr(c, xmlns), VTC_HOSTD_PROTECT_NS) == 0 &&
                    g_strcmp0(colon != NULL ? colon + 1 : c->name, "protect") == 0)
                        return c;
        }
        return NULL;
}

/* The first <tpm> in <devices>, and its <backend> (either may be NULL). */
static VtcXNode *
vtc_xml_find_tpm(VtcXNode *devices, VtcXNode **out_backend)
{
        *out_backend = NULL;
        if (devices == NULL)
                return NULL;
        for (guint i = 0; i < devices->children->len; i++) {
                VtcXNode *c = g_ptr_array_index(devices->children, i);
                if (g_strcmp0(c->name, "tpm") == 0) {
                        *out_backend = vtc_xnode_child(c, "backend");
                        return c;
                }
        }
        return NULL;
}

static VtcXNode *
vtc_xml_find_channel(VtcXNode *devices)
{
        if (devices == NULL)
                return NULL;
        for (guint i = 0; i < devices->children->len; i++) {
                VtcXNode *c = g_ptr_array_index(devices->children, i);
                VtcXNode *target;
                if (g_strcmp0(c->name, "channel") != 0)
                        continue;
                target = vtc_xnode_child(c, "target");
                if (target != NULL &&
                    g_strcmp0(vtc_xnode_get_attr(target, "name"), VTC_HOSTD_AGENT_CHANNEL) == 0)
                        return c;
        }
        return NULL;
}

static VtcXNode *
vtc_xnode_add_element(VtcXNode *parent, const gchar *name, ...) G_GNUC_NULL_TERMINATED;

/* Appends <name a1="v1" ...> (attribute name/value pairs, NULL-terminated). */
static VtcXNode *
vtc_xnode_add_element(VtcXNode *parent, const gchar *name, ...)
{
        VtcXNode *n = vtc_xnode_new(name);
        const gchar *attr;
        va_list ap;

        va_start(ap, name);
        while ((attr = va_arg(ap, const gchar *)) != NULL)
                vtc_xnode_set_attr(n, attr, va_arg(ap, const gchar *));
        va_end(ap);
        vtc_xnode_append(parent, n);
        return n;
}

gchar *
vtc_hostd_protect_xml_add(const gchar *xml,
                          gsize len,
                          const gchar *secret_uuid,
                          guint *out_changes,
                          GError **error)
{
        VtcXNode *root = NULL;
        g_autoptr(VtcXNode) doc = NULL;
        VtcXNode *devices;
        VtcXNode *backend = NULL;
        VtcXNode *tpm;
        VtcXNode *meta;
        VtcXNode *record;
        guint changes = 0;
        const gchar *type;
        const gchar *version;

        if (secret_uuid == NULL || !g_uuid_string_is_valid(secret_uuid)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "the secret is not a UUID");
                return NULL;
        }
        doc = vtc_xml_parse(xml, len, "domain", &root, error);
        if (doc == NULL)
                return NULL;
        record = vtc_xml_find_record(root);
        if (record != NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "the domain is protected by vtc already (secret %.64s); `vtc-hostd vm "
                            "unprotect` undoes it",
                            vtc_xnode_get_attr(record, "secret"));
                return NULL;
        }
        devices = vtc_xnode_child(root, "devices");
        if (devices == NULL)
                devices = vtc_xnode_add_element(root, "devices", NULL);
        tpm = vtc_xml_find_tpm(devices, &backend);
        if (tpm == NULL) {
                tpm = vtc_xnode_add_element(devices, "tpm", "model", "tpm-crb", NULL);
                backend = vtc_xnode_add_element(tpm,
                                                "backend",
                                                "type",
                                                "emulator",
                                                "version",
                                                "2.0",
                                                NULL);
                changes |= VTC_HOSTD_PROTECT_TPM;
        }
        type = backend != NULL ? vtc_xnode_get_attr(backend, "type") : NULL;
        if (g_strcmp0(type, "emulator") != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the domain's <tpm> has backend type '%.32s': vtc protects emulated "
                            "vTPMs (backend type 'emulator') only",
                            type != NULL ? type : "(none)");
                return NULL;
        }
        version = vtc_xnode_get_attr(backend, "version");
        if (version != NULL && g_strcmp0(version, "2.0") != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the domain's vTPM is version %.16s: vtc protects TPM 2.0 only",
                            version);
                return NULL;
        }
        if (version == NULL)
                vtc_xnode_set_attr(backend, "version", "2.0");
        if (vtc_xnode_child(backend, "encryption") != NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "the domain's vTPM already has an encryption secret (%.64s) that vtc "
                            "did not set: remove it first or leave the domain as it is",
                            vtc_xnode_get_attr(vtc_xnode_child(backend, "encryption"), "secret"));
                return NULL;
        }
        vtc_xnode_add_element(backend, "encryption", "secret", secret_uuid, NULL);
        changes |= VTC_HOSTD_PROTECT_ENCRYPTION;
        if (vtc_xml_find_channel(devices) == NULL) {
                VtcXNode *channel = vtc_xnode_add_element(devices, "channel", "type", "unix", NULL);
                vtc_xnode_add_element(channel, "source", "mode", "bind", NULL);
                vtc_xnode_add_element(channel,
                                      "target",
                                      "type",
                                      "virtio",
                                      "name",
                                      VTC_HOSTD_AGENT_CHANNEL,
                                      NULL);
                changes |= VTC_HOSTD_PROTECT_CHANNEL;
        }
        meta = vtc_xnode_child(root, "metadata");
        if (meta == NULL)
                meta = vtc_xnode_add_element(root, "metadata", NULL);
        vtc_xnode_add_element(meta,
                              VTC_PROTECT_ELEMENT,
                              "xmlns:vtc",
                              VTC_HOSTD_PROTECT_NS,
                              "secret",
                              secret_uuid,
                              "tpm",
                              (changes & VTC_HOSTD_PROTECT_TPM) ? "added" : "kept",
                              "channel",
                              (changes & VTC_HOSTD_PROTECT_CHANNEL) ? "added" : "kept",
                              NULL);
        *out_changes = changes;
        return vtc_xml_to_string(doc);
}

gchar *
vtc_hostd_protect_xml_get_secret(const gchar *xml, gsize len, GError **error)
{
        VtcXNode *root = NULL;
        g_autoptr(VtcXNode) doc = vtc_xml_parse(xml, len, "domain", &root, error);
        VtcXNode *record;
        const gchar *secret;

        if (doc == NULL)
                return NULL;
        record = vtc_xml_find_record(root);
        if (record == NULL)
                return NULL;
        secret = vtc_xnode_get_attr(record, "secret");
        if (secret == NULL || !g_uuid_string_is_valid(secret)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "vtc's record in the domain's metadata has no valid secret");
                return NULL;
        }
        return g_ascii_strdown(secret, -1);
}

gchar *
vtc_hostd_protect_xml_remove(const gchar *xml,
                             gsize len,
                             guint *out_changes,
                             gchar **out_secret,
                             GError **error)
{
        VtcXNode *root = NULL;
        g_autoptr(VtcXNode) doc = vtc_xml_parse(xml, len, "domain", &root, error);
        VtcXNode *record;
        VtcXNode *devices;
        VtcXNode *tpm;
        VtcXNode *backend = NULL;
        VtcXNode *meta;
        g_autofree gchar *secret = NULL;
        guint changes = 0;

        if (doc == NULL)
                return NULL;
        record = vtc_xml_find_record(root);
        if (record == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_NOT_FOUND,
                                    "the domain is not protected by vtc (no vtc record in its "
                                    "<metadata>)");
                return NULL;
        }
        if (vtc_xnode_get_attr(record, "secret") == NULL ||
            !g_uuid_string_is_valid(vtc_xnode_get_attr(record, "secret"))) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "vtc's record in the domain's metadata has no valid secret");
                return NULL;
        }
        secret = g_ascii_strdown(vtc_xnode_get_attr(record, "secret"), -1);
        devices = vtc_xnode_child(root, "devices");
        tpm = vtc_xml_find_tpm(devices, &backend);
        if (tpm != NULL && g_strcmp0(vtc_xnode_get_attr(record, "tpm"), "added") == 0) {
                vtc_xnode_remove(tpm);
                changes |= VTC_HOSTD_PROTECT_TPM | VTC_HOSTD_PROTECT_ENCRYPTION;
        } else if (backend != NULL) {
                VtcXNode *enc = vtc_xnode_child(backend, "encryption");
                if (enc != NULL && vtc_xnode_get_attr(enc, "secret") != NULL &&
                    g_ascii_strcasecmp(vtc_xnode_get_attr(enc, "secret"), secret) == 0) {
                        vtc_xnode_remove(enc);
                        changes |= VTC_HOSTD_PROTECT_ENCRYPTION;
                }
        }
        if (g_strcmp0(vtc_xnode_get_attr(record, "channel"), "added") == 0) {
                VtcXNode *channel = vtc_xml_find_channel(devices);
                if (channel != NULL) {
                        vtc_xnode_remove(channel);
                        changes |= VTC_HOSTD_PROTECT_CHANNEL;
                }
        }
        meta = record->parent;
        vtc_xnode_remove(record);
        if (!vtc_xnode_has_elements(meta))
                vtc_xnode_remove(meta);
        *out_changes = changes;
        if (out_secret != NULL)
                *out_secret = g_steal_pointer(&secret);
        return vtc_xml_to_string(doc);
}

gchar *
vtc_hostd_protect_secret_xml(const gchar *secret_uuid, const gchar *domain_uuid)
{
        return g_markup_printf_escaped("<secret ephemeral='yes' private='yes'>"
                                       "<uuid>%s</uuid>"
                                       "<description>vTPM state key of domain %s, sealed by "
                                       "vtc-hostd</description>"
                                       "<usage type='vtpm'><name>vtc-%s</name></usage>"
                                       "</secret>",
                                       secret_uuid,
                                       domain_uuid,
                                       domain_uuid);
}

/* ---- hostd's side ----------------------------------------------------------------------- */

struct _VtcHostdProtect {
        VtcHostdTpm *tpm;
        gchar *dir;
        TPM2_HANDLE seal_handle;
        gchar *uri;
        /* domain uuid -> secret uuid handed to libvirt at prepare and not withdrawn yet; only
         * touched on the main loop */
        GHashTable *handed;
};

VtcHostdProtect *
vtc_hostd_protect_new(VtcHostdTpm *tpm,
                      const gchar *state_dir,
                      TPM2_HANDLE seal_handle,
                      const gchar *libvirt_uri)
{
        VtcHostdProtect *self = g_new0(VtcHostdProtect, 1);

        vtc_virt_init();
        self->tpm = tpm;
        self->dir = g_build_filename(state_dir, "vm", NULL);
        self->seal_handle = seal_handle != 0 ? seal_handle : VTC_HOSTD_SEAL_HANDLE_DEFAULT;
        self->uri = g_strdup(libvirt_uri != NULL ? libvirt_uri : VTC_HOSTD_LIBVIRT_URI_DEFAULT);
        self->handed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        return self;
}

void
vtc_hostd_protect_free(VtcHostdProtect *self)
{
        if (self == NULL)
                return;
        g_free(self->dir);
        g_free(self->uri);
        g_hash_table_unref(self->handed);
        g_free(self);
}

gchar *
vtc_hostd_protect_get_path(VtcHostdProtect *self, const gchar *domain_uuid)
{
        g_autofree gchar *lower = g_ascii_strdown(domain_uuid, -1);
        g_autofree gchar *name = g_strdup_printf("%s.sealed", lower);

        return g_build_filename(self->dir, name, NULL);
}

/* TPM jobs: everything they need is in their data (they may run after hostd let go). */
typedef struct {
        TPM2_HANDLE parent;
        gchar *path;
        gchar *domain;
        gchar *secret;
        VtcHostdSealedKey *sealed; /* unseal */
} VtcProtectJob;

static void
vtc_protect_job_free(VtcProtectJob *job)
{
        g_free(job->path);
        g_free(job->domain);
        g_free(job->secret);
        vtc_hostd_sealed_key_free(job->sealed);
        g_free(job);
}

static gboolean
vtc_protect_seal_job(VtcHostdTpm *tpm_worker,
                     VtcTpm *tpm,
                     gpointer job_data,
                     gpointer *out_result,
                     GError **error)
{
        VtcProtectJob *job = job_data;
        guint8 key[VTC_HOSTD_PROTECT_KEY_SIZE];
        g_autoptr(VtcHostdSealedKey) sealed = NULL;

        if (RAND_priv_bytes(key, sizeof(key)) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "making a vTPM key");
                return FALSE;
        }
        sealed = vtc_hostd_sealed_key_seal(tpm,
                                           job->parent,
                                           job->domain,
                                           job->secret,
                                           key,
                                           sizeof(key),
                                           error);
        explicit_bzero(key, sizeof(key));
        if (sealed == NULL)
                return FALSE;
        /* a file write, on the TPM thread rather than the loop */
        return vtc_hostd_sealed_key_save(sealed, job->path, error);
}

static gboolean
vtc_protect_unseal_job(VtcHostdTpm *tpm_worker,
                       VtcTpm *tpm,
                       gpointer job_data,
                       gpointer *out_result,
                       GError **error)
{
        VtcProtectJob *job = job_data;
        GBytes *key = vtc_hostd_sealed_key_unseal(job->sealed, tpm, error);

        if (key == NULL)
                return FALSE;
        *out_result = key;
        return TRUE;
}

static void
vtc_protect_job_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        VtcHostdProtect *self = g_task_get_task_data(task);
        GError *error = NULL;

        if (!vtc_hostd_tpm_run_finish(self->tpm, res, NULL, &error)) {
                g_task_return_error(task, error);
                return;
        }
        g_task_return_boolean(task, TRUE);
}

void
vtc_hostd_protect_handle_async(VtcHostdProtect *self,
                               const VtcHostdProtectRequest *req,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
        g_autofree gchar *path = vtc_hostd_protect_get_path(self, req->uuid);
        VtcProtectJob *job;

        g_task_set_task_data(task, self, NULL);
        if (req->action == VTC_HOSTD_PROTECT_REMOVE) {
                if (g_unlink(path) != 0 && errno != ENOENT) {
                        g_task_return_new_error(task,
                                                VTC_ERROR,
                                                VTC_ERROR_IO,
                                                "removing %s: %s",
                                                path,
                                                g_strerror(errno));
                        return;
                }
                g_task_return_boolean(task, TRUE);
                return;
        }
        job = g_new0(VtcProtectJob, 1);
        job->parent = self->seal_handle;
        job->path = g_steal_pointer(&path);
        job->domain = g_strdup(req->uuid);
        job->secret = g_strdup(req->secret);
        vtc_hostd_tpm_run_async(self->tpm,
                                vtc_protect_seal_job,
                                job,
                                (GDestroyNotify)vtc_protect_job_free,
                                NULL,
                                NULL,
                                vtc_protect_job_done,
                                g_steal_pointer(&task));
}

gboolean
vtc_hostd_protect_handle_finish(VtcHostdProtect *self, GAsyncResult *res, GError **error)
{
        return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- prepare: unseal, then the secret into libvirt --------------------------------------- */

typedef struct {
        VtcHostdProtect *self;
        gchar *uri;
        gchar *domain;
        gchar *secret;
        GBytes *key;
        gboolean handed;
} VtcPrepare;

static void
vtc_prepare_free(VtcPrepare *p)
{
        g_free(p->uri);
        g_free(p->domain);
        g_free(p->secret);
        g_clear_pointer(&p->key, g_bytes_unref);
        g_free(p);
}

static gboolean
vtc_secret_define(const gchar *uri,
                  const gchar *secret,
                  const gchar *domain,
                  GBytes *key,
                  GError **error)
{
        g_autoptr(virConnect) conn = virConnectOpen(uri);
        g_autoptr(virSecret) s = NULL;
        g_autofree gchar *xml = vtc_hostd_protect_secret_xml(secret, domain);

        if (conn == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_UNAVAILABLE, "connecting to %s", uri);
                return FALSE;
        }
        s = virSecretDefineXML(conn, xml, 0);
        if (s == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_FAILED, "defining libvirt secret %s", secret);
                return FALSE;
        }
        if (virSecretSetValue(s, g_bytes_get_data(key, NULL), g_bytes_get_size(key), 0) != 0) {
                vtc_virt_set_error(error,
                                   VTC_ERROR_FAILED,
                                   "setting the value of libvirt secret %s",
                                   secret);
                virSecretUndefine(s);
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_secret_undefine(const gchar *uri, const gchar *secret, GError **error)
{
        g_autoptr(virConnect) conn = virConnectOpen(uri);
        g_autoptr(virSecret) s = NULL;
        virErrorPtr err;

        if (conn == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_UNAVAILABLE, "connecting to %s", uri);
                return FALSE;
        }
        s = virSecretLookupByUUIDString(conn, secret);
        if (s == NULL) {
                err = virGetLastError();
                /* gone already (a libvirtd restart drops ephemeral secrets) */
                if (err != NULL && err->code == VIR_ERR_NO_SECRET)
                        return TRUE;
                vtc_virt_set_error(error, VTC_ERROR_FAILED, "looking up libvirt secret %s", secret);
                return FALSE;
        }
        if (virSecretUndefine(s) != 0) {
                vtc_virt_set_error(error, VTC_ERROR_FAILED, "undefining libvirt secret %s", secret);
                return FALSE;
        }
        return TRUE;
}

static void
vtc_prepare_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        VtcPrepare *p = task_data;
        GError *error = NULL;

        if (!vtc_secret_define(p->uri, p->secret, p->domain, p->key, &error)) {
                g_task_return_error(task, error);
                return;
        }
        g_task_return_boolean(task, TRUE);
}

static void
vtc_prepare_thread_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        VtcPrepare *p = g_task_get_task_data(task);
        GError *error = NULL;

        if (!g_task_propagate_boolean(G_TASK(res), &error)) {
                g_prefix_error(&error, "handing the vTPM key of domain %s to libvirt: ", p->domain);
                g_task_return_error(task, error);
                return;
        }
        g_hash_table_replace(p->self->handed, g_strdup(p->domain), g_strdup(p->secret));
        p->handed = TRUE;
        g_task_return_boolean(task, TRUE);
}

static void
vtc_prepare_unsealed(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        VtcPrepare *p = g_task_get_task_data(task);
        g_autoptr(GTask) thread = NULL;
        GError *error = NULL;

        if (!vtc_hostd_tpm_run_finish(p->self->tpm, res, (gpointer *)&p->key, &error)) {
                g_task_return_error(task, error);
                return;
        }
        thread = g_task_new(NULL, NULL, vtc_prepare_thread_done, g_object_ref(task));
        g_task_set_task_data(thread, p, NULL);
        g_task_run_in_thread(thread, vtc_prepare_thread);
}

void
vtc_hostd_protect_prepare_async(VtcHostdProtect *self,
                                const VtcHostdDomain *domain,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
        g_autofree gchar *path = vtc_hostd_protect_get_path(self, domain->uuid);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdSealedKey) sealed = NULL;
        VtcPrepare *p = g_new0(VtcPrepare, 1);
        VtcProtectJob *job;

        p->self = self;
        p->uri = g_strdup(self->uri);
        p->domain = g_strdup(domain->uuid);
        p->secret = g_strdup(domain->tpm_secret);
        g_task_set_task_data(task, p, (GDestroyNotify)vtc_prepare_free);
        if (domain->tpm_secret == NULL || !g_file_test(path, G_FILE_TEST_EXISTS)) {
                /* not a vtc-protected vTPM: whoever set its secret provides it */
                g_task_return_boolean(task, TRUE);
                return;
        }
        sealed = vtc_hostd_sealed_key_load(path, &error);
        if (sealed == NULL) {
                g_task_return_new_error(task,
                                        VTC_ERROR,
                                        error->code,
                                        "the vTPM key of domain %s: %s",
                                        domain->uuid,
                                        error->message);
                return;
        }
        if (g_ascii_strcasecmp(vtc_hostd_sealed_key_get_domain(sealed), domain->uuid) != 0 ||
            g_ascii_strcasecmp(vtc_hostd_sealed_key_get_secret(sealed), domain->tpm_secret) != 0) {
                g_task_return_new_error(task,
                                        VTC_ERROR,
                                        VTC_ERROR_FORBIDDEN,
                                        "domain %s names vTPM secret %s but vtc protected it "
                                        "with secret %s: not handing its key over",
                                        domain->uuid,
                                        domain->tpm_secret,
                                        vtc_hostd_sealed_key_get_secret(sealed));
                return;
        }
        job = g_new0(VtcProtectJob, 1);
        job->sealed = g_steal_pointer(&sealed);
        vtc_hostd_tpm_run_async(self->tpm,
                                vtc_protect_unseal_job,
                                job,
                                (GDestroyNotify)vtc_protect_job_free,
                                (GDestroyNotify)g_bytes_unref,
                                NULL,
                                vtc_prepare_unsealed,
                                g_steal_pointer(&task));
}

gboolean
vtc_hostd_protect_prepare_finish(VtcHostdProtect *self,
                                 GAsyncResult *res,
                                 gboolean *out_handed,
                                 GError **error)
{
        VtcPrepare *p = g_task_get_task_data(G_TASK(res));

        if (!g_task_propagate_boolean(G_TASK(res), error))
                return FALSE;
        if (out_handed != NULL)
                *out_handed = p->handed;
        return TRUE;
}

static void
vtc_withdraw_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        gchar **args = task_data; /* uri, secret */
        GError *error = NULL;

        if (!vtc_secret_undefine(args[0], args[1], &error)) {
                g_task_return_error(task, error);
                return;
        }
        g_task_return_boolean(task, TRUE);
}

void
vtc_hostd_protect_withdraw_async(VtcHostdProtect *self,
                                 const VtcHostdDomain *domain,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
        gpointer key = NULL;
        gpointer secret = NULL;
        gchar **args;

        if (!g_hash_table_steal_extended(self->handed, domain->uuid, &key, &secret)) {
                g_task_return_boolean(task, TRUE);
                return;
        }
        g_free(key);
        args = g_new0(gchar *, 3);
        args[0] = g_strdup(self->uri);
        args[1] = secret;
        g_task_set_task_data(task, args, (GDestroyNotify)g_strfreev);
        g_task_run_in_thread(task, vtc_withdraw_thread);
}

gboolean
vtc_hostd_protect_withdraw_finish(GAsyncResult *res, GError **error)
{
        return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- `vtc-hostd vm protect|unprotect` ---------------------------------------------------- */

static gboolean
vtc_vm_ask_hostd(const VtcHostdVmOptions *opts, const gchar *request, GError **error)
{
        g_autoptr(GBytes) reply = vtc_hostd_proto_call(
            opts->socket_path != NULL ? opts->socket_path : VTC_HOSTD_SOCKET_DEFAULT,
            request,
            strlen(request),
            opts->timeout_ms != 0 ? opts->timeout_ms : VTC_HOSTD_TIMEOUT_MS,
            error);
        g_autoptr(VtcHostdAnswer) answer = NULL;

        if (reply == NULL)
                return FALSE;
        answer =
            vtc_hostd_answer_parse(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply), error);
        if (answer == NULL)
                return FALSE;
        return vtc_hostd_answer_check(answer, error);
}

/* The domain by name or UUID, stopped and persistent, and its inactive XML. */
static virDomain *
vtc_vm_open(virConnect *conn, const gchar *name, gchar **out_xml, GError **error)
{
        g_autoptr(virDomain) dom = virDomainLookupByName(conn, name);
        int active;
        gchar *xml;

        if (dom == NULL && g_uuid_string_is_valid(name))
                dom = virDomainLookupByUUIDString(conn, name);
        if (dom == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_NOT_FOUND, "domain '%s'", name);
                return NULL;
        }
        active = virDomainIsActive(dom);
        if (active != 0) {
                if (active < 0)
                        vtc_virt_set_error(error, VTC_ERROR_FAILED, "domain '%s'", name);
                else
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_CONFLICT,
                                    "domain '%s' is running: shut it down first (its vTPM "
                                    "definition can change only while it is off)",
                                    name);
                return NULL;
        }
        if (virDomainIsPersistent(dom) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "domain '%s' is transient: vtc protects defined domains only",
                            name);
                return NULL;
        }
        xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
        if (xml == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_FAILED, "the definition of domain '%s'", name);
                return NULL;
        }
        /* libvirt's allocation: copy into GLib's */
        *out_xml = g_strdup(xml);
        free(xml);
        return g_steal_pointer(&dom);
}

/* libvirt keeps a vTPM's state in <swtpm_dir>/<uuid>/tpm2/ (tpm2-00.permall once made). */
static gchar *
vtc_vm_state_dir(const VtcHostdVmOptions *opts, const gchar *uuid)
{
        return g_build_filename(opts->swtpm_dir != NULL ? opts->swtpm_dir
                                                        : VTC_HOSTD_SWTPM_DIR_DEFAULT,
                                uuid,
                                "tpm2",
                                NULL);
}

static gboolean
vtc_vm_state_exists(const gchar *dir)
{
        g_autofree gchar *permall = g_build_filename(dir, "tpm2-00.permall", NULL);

        return g_file_test(permall, G_FILE_TEST_EXISTS);
}

static void
vtc_vm_report_changes(GString *report, const gchar *name, guint changes, gboolean added)
{
        const gchar *verb = added ? "added" : "removed";

        if (changes & VTC_HOSTD_PROTECT_TPM)
                g_string_append_printf(report,
                                       "%s: %s the vTPM (<tpm model='tpm-crb'> with an emulated "
                                       "TPM 2.0)\n",
                                       name,
                                       verb);
        if (changes & VTC_HOSTD_PROTECT_CHANNEL)
                g_string_append_printf(report,
                                       "%s: %s the private channel (virtio-serial '%s')\n",
                                       name,
                                       verb,
                                       VTC_HOSTD_AGENT_CHANNEL);
}

gboolean
vtc_hostd_vm_protect(const VtcHostdVmOptions *opts,
                     const gchar *domain,
                     GString *report,
                     GError **error)
{
        const gchar *uri = opts->uri != NULL ? opts->uri : VTC_HOSTD_LIBVIRT_URI_DEFAULT;
        g_autoptr(virConnect) conn = NULL;
        g_autoptr(virDomain) dom = NULL;
        g_autoptr(virDomain) defined = NULL;
        g_autoptr(VtcHostdDomain) parsed = NULL;
        g_autofree gchar *xml = NULL;
        g_autofree gchar *new_xml = NULL;
        g_autofree gchar *secret = g_uuid_string_random();
        g_autofree gchar *request = NULL;
        g_autofree gchar *state = NULL;
        guint changes = 0;

        vtc_virt_init();
        conn = virConnectOpen(uri);
        if (conn == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_UNAVAILABLE, "connecting to %s", uri);
                return FALSE;
        }
        dom = vtc_vm_open(conn, domain, &xml, error);
        if (dom == NULL)
                return FALSE;
        parsed = vtc_hostd_domain_parse(xml, strlen(xml), error);
        if (parsed == NULL)
                return FALSE;
        new_xml = vtc_hostd_protect_xml_add(xml, strlen(xml), secret, &changes, error);
        if (new_xml == NULL) {
                g_prefix_error(error, "domain '%s': ", parsed->name);
                return FALSE;
        }
        state = vtc_vm_state_dir(opts, parsed->uuid);
        if (vtc_vm_state_exists(state)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "domain '%s': its vTPM state exists unencrypted in %s, and libvirt "
                            "cannot encrypt existing vTPM state. Either leave the domain "
                            "unprotected, or remove that directory (the domain then gets a new "
                            "vTPM, with a new EK, at its next start) and run this again",
                            parsed->name,
                            state);
                return FALSE;
        }
        request = vtc_hostd_request_protect_to_json(VTC_HOSTD_PROTECT_ADD,
                                                    parsed->uuid,
                                                    parsed->name,
                                                    secret,
                                                    error);
        if (request == NULL || !vtc_vm_ask_hostd(opts, request, error)) {
                g_prefix_error(error, "asking vtc-hostd to seal a key for '%s': ", parsed->name);
                return FALSE;
        }
        defined = virDomainDefineXML(conn, new_xml);
        if (defined == NULL) {
                g_autofree gchar *undo = NULL;
                vtc_virt_set_error(error,
                                   VTC_ERROR_FAILED,
                                   "defining the protected domain '%s'",
                                   parsed->name);
                undo = vtc_hostd_request_protect_to_json(VTC_HOSTD_PROTECT_REMOVE,
                                                         parsed->uuid,
                                                         NULL,
                                                         NULL,
                                                         NULL);
                if (undo != NULL)
                        vtc_vm_ask_hostd(opts, undo, NULL);
                return FALSE;
        }
        vtc_vm_report_changes(report, parsed->name, changes, TRUE);
        g_string_append_printf(report,
                               "%s: added <encryption secret='%s'/> to the vTPM: its state is "
                               "encrypted with a key vtc-hostd keeps sealed under the hardware "
                               "TPM and hands to libvirt at each start\n",
                               parsed->name,
                               secret);
        return TRUE;
}

/* rm -rf without a shell. */
static gboolean
vtc_vm_remove_tree(const gchar *path, GError **error)
{
        const gchar *argv[] = {"rm", "-rf", "--one-file-system", "--", path, NULL};
        gint status = -1;

        if (!g_spawn_sync(NULL,
                          (gchar **)argv,
                          NULL,
                          G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          &status,
                          error) ||
            !g_spawn_check_wait_status(status, error)) {
                g_prefix_error(error, "removing %s: ", path);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_hostd_vm_unprotect(const VtcHostdVmOptions *opts,
                       const gchar *domain,
                       GString *report,
                       GError **error)
{
        const gchar *uri = opts->uri != NULL ? opts->uri : VTC_HOSTD_LIBVIRT_URI_DEFAULT;
        g_autoptr(virConnect) conn = NULL;
        g_autoptr(virDomain) dom = NULL;
        g_autoptr(virDomain) defined = NULL;
        g_autoptr(VtcHostdDomain) parsed = NULL;
        g_autofree gchar *xml = NULL;
        g_autofree gchar *new_xml = NULL;
        g_autofree gchar *secret = NULL;
        g_autofree gchar *request = NULL;
        g_autofree gchar *state = NULL;
        g_autofree gchar *state_top = NULL;
        guint changes = 0;

        vtc_virt_init();
        conn = virConnectOpen(uri);
        if (conn == NULL) {
                vtc_virt_set_error(error, VTC_ERROR_UNAVAILABLE, "connecting to %s", uri);
                return FALSE;
        }
        dom = vtc_vm_open(conn, domain, &xml, error);
        if (dom == NULL)
                return FALSE;
        parsed = vtc_hostd_domain_parse(xml, strlen(xml), error);
        if (parsed == NULL)
                return FALSE;
        new_xml = vtc_hostd_protect_xml_remove(xml, strlen(xml), &changes, &secret, error);
        if (new_xml == NULL) {
                g_prefix_error(error, "domain '%s': ", parsed->name);
                return FALSE;
        }
        state = vtc_vm_state_dir(opts, parsed->uuid);
        state_top = g_path_get_dirname(state);
        if (vtc_vm_state_exists(state) && !opts->discard_state) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "domain '%s': its vTPM state in %s is encrypted with the key vtc-hostd "
                            "keeps sealed, and libvirt cannot decrypt existing state: without "
                            "that key the vTPM could never be read again. Pass "
                            "--discard-vtpm-state to delete it (the domain gets a new vTPM, with "
                            "a new EK, at its next start), or leave the domain protected",
                            parsed->name,
                            state);
                return FALSE;
        }
        defined = virDomainDefineXML(conn, new_xml);
        if (defined == NULL) {
                vtc_virt_set_error(error,
                                   VTC_ERROR_FAILED,
                                   "defining domain '%s' without vtc's changes",
                                   parsed->name);
                return FALSE;
        }
        vtc_vm_report_changes(report, parsed->name, changes, FALSE);
        if (changes & VTC_HOSTD_PROTECT_ENCRYPTION)
                g_string_append_printf(report,
                                       "%s: removed <encryption secret='%s'/> from the vTPM\n",
                                       parsed->name,
                                       secret);
        if (g_file_test(state_top, G_FILE_TEST_IS_DIR) && opts->discard_state) {
                if (!vtc_vm_remove_tree(state_top, error))
                        return FALSE;
                g_string_append_printf(report,
                                       "%s: deleted the encrypted vTPM state %s\n",
                                       parsed->name,
                                       state_top);
        }
        request = vtc_hostd_request_protect_to_json(VTC_HOSTD_PROTECT_REMOVE,
                                                    parsed->uuid,
                                                    NULL,
                                                    NULL,
                                                    error);
        if (request == NULL || !vtc_vm_ask_hostd(opts, request, error)) {
                g_prefix_error(error,
                               "the domain is unprotected, but asking vtc-hostd to delete its "
                               "sealed key failed: ");
                return FALSE;
        }
        g_string_append_printf(report, "%s: vtc-hostd deleted the sealed key\n", parsed->name);
        return TRUE;
}
