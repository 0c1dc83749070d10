/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-install.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-hostd-proto.h"
#include "vtc-util.h"

#define VTC_INSTALL_HOOK_DIR        "/etc/libvirt/hooks/qemu.d"
#define VTC_INSTALL_HOOK            VTC_INSTALL_HOOK_DIR "/50-vtc"
#define VTC_INSTALL_HOOK_SAVED_BASE "/etc/libvirt/hooks/50-vtc"
#define VTC_INSTALL_SWTPM_CONF      "/etc/swtpm_setup.conf"
#define VTC_INSTALL_ETC_DIR         "/etc/vtc"
#define VTC_INSTALL_HOOK_CONF       VTC_INSTALL_ETC_DIR "/hook.conf"
#define VTC_INSTALL_CERTIFY_CONF    VTC_INSTALL_ETC_DIR "/certify.conf"
#define VTC_INSTALL_RUN_DIR         "/run/vtc"
#define VTC_INSTALL_STATE_DIR       "/var/lib/vtc"
#define VTC_INSTALL_MANIFEST        VTC_INSTALL_STATE_DIR "/install.manifest"
#define VTC_INSTALL_LOCALCA_DIR     "/var/lib/swtpm-localca"
#define VTC_INSTALL_SAVED_SUFFIX    ".vtc-saved"
#define VTC_INSTALL_MARKER          "# vtc: "
#define VTC_INSTALL_MAX_FILE        (1024 * 1024)
#define VTC_INSTALL_MAX_SAVED       1000

const gchar *
vtc_hostd_install_action_to_string(VtcHostdInstallAction action)
{
        switch (action) {
        case VTC_HOSTD_INSTALL_CREATED:
                return "created";
        case VTC_HOSTD_INSTALL_UPDATED:
                return "updated";
        case VTC_HOSTD_INSTALL_UNCHANGED:
                return "unchanged";
        case VTC_HOSTD_INSTALL_SAVED:
                return "saved";
        case VTC_HOSTD_INSTALL_FIXED:
                return "fixed";
        case VTC_HOSTD_INSTALL_RESTORED:
                return "restored";
        case VTC_HOSTD_INSTALL_REMOVED:
                return "removed";
        case VTC_HOSTD_INSTALL_KEPT:
        default:
                return "kept";
        }
}

static void
vtc_install_change_free(VtcHostdInstallChange *change)
{
        g_free(change->path);
        g_free(change->detail);
        g_free(change);
}

GPtrArray *
vtc_hostd_install_changes_new(void)
{
        return g_ptr_array_new_with_free_func((GDestroyNotify)vtc_install_change_free);
}

/* ---- the manifest ------------------------------------------------------------------------ */

typedef enum {
        VTC_INSTALL_ENTRY_DIR,
        VTC_INSTALL_ENTRY_FILE,
        VTC_INSTALL_ENTRY_LINK,
} VtcInstallEntryKind;

static const gchar *const vtc_install_entry_kinds[] = {"dir", "file", "link"};

typedef struct {
        VtcInstallEntryKind kind;
        gchar *path;  /* target path */
        gchar *value; /* file: hex SHA-256 of what vtc wrote; link: its target; dir: NULL */
        gchar *saved; /* target path of the site's file moved aside, or NULL */
} VtcInstallEntry;

static void
vtc_install_entry_free(VtcInstallEntry *e)
{
        g_free(e->path);
        g_free(e->value);
        g_free(e->saved);
        g_free(e);
}

typedef struct {
        const VtcHostdInstallOptions *opts;
        const gchar *root;
        GPtrArray *changes;
        GPtrArray *manifest; /* VtcInstallEntry, in the order the steps were taken */
        gboolean manifest_ready;
        gboolean as_root;
        uid_t tss_uid;
        gid_t tss_gid;
        gchar *tss_home;
} VtcInstall;

static void
vtc_install_clear(VtcInstall *ctx)
{
        g_clear_pointer(&ctx->manifest, g_ptr_array_unref);
        g_clear_pointer(&ctx->tss_home, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcInstall, vtc_install_clear)

static gchar *
vtc_install_full(const VtcInstall *ctx, const gchar *target)
{
        return g_build_filename(ctx->root, target, NULL);
}

G_GNUC_PRINTF(4, 5)
static void
vtc_install_report(VtcInstall *ctx,
                   VtcHostdInstallAction action,
                   const gchar *target,
                   const gchar *fmt,
                   ...)
{
        VtcHostdInstallChange *change = g_new0(VtcHostdInstallChange, 1);

        change->action = action;
        change->path = g_strdup(target);
        if (fmt != NULL) {
                va_list ap;
                va_start(ap, fmt);
                change->detail = g_strdup_vprintf(fmt, ap);
                va_end(ap);
        }
        g_ptr_array_add(ctx->changes, change);
}

static VtcInstallEntry *
vtc_install_entry_find(VtcInstall *ctx, const gchar *target)
{
        for (guint i = 0; i < ctx->manifest->len; i++) {
                VtcInstallEntry *e = g_ptr_array_index(ctx->manifest, i);
                if (g_strcmp0(e->path, target) == 0)
                        return e;
        }
        return NULL;
}

static VtcInstallEntry *
vtc_install_entry_add(VtcInstall *ctx, VtcInstallEntryKind kind, const gchar *target)
{
        VtcInstallEntry *e = g_new0(VtcInstallEntry, 1);

        e->kind = kind;
        e->path = g_strdup(target);
        g_ptr_array_add(ctx->manifest, e);
        return e;
}

/* A manifest field: an absolute path or a value without tabs, newlines or control bytes. */
static gboolean
vtc_install_field_ok(const gchar *s, gboolean path)
{
        if (s == NULL || s[0] == '\0' || (path && s[0] != '/'))
                return FALSE;
        for (const gchar *p = s; *p != '\0'; p++) {
                if ((guchar)*p < 0x20 || *p == 0x7f)
                        return FALSE;
        }
        return !path || strstr(s, "/../") == NULL;
}

static gboolean
vtc_install_manifest_load(VtcInstall *ctx, gboolean *out_found, GError **error)
{
        g_autofree gchar *path = vtc_install_full(ctx, VTC_INSTALL_MANIFEST);
        g_autoptr(GBytes) data = NULL;
        g_autofree gchar *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                *out_found = FALSE;
                return TRUE;
        }
        data = vtc_file_read(path, VTC_INSTALL_MAX_FILE, error);
        if (data == NULL)
                return FALSE;
        text = g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                g_auto(GStrv) f = NULL;
                guint n;
                guint kind;
                VtcInstallEntry *e;

                if (lines[i][0] == '\0' || lines[i][0] == '#')
                        continue;
                f = g_strsplit(lines[i], "\t", -1);
                n = g_strv_length(f);
                for (kind = 0; kind < G_N_ELEMENTS(vtc_install_entry_kinds); kind++) {
                        if (g_strcmp0(f[0], vtc_install_entry_kinds[kind]) == 0)
                                break;
                }
                if (kind == G_N_ELEMENTS(vtc_install_entry_kinds) ||
                    n != (kind == VTC_INSTALL_ENTRY_DIR ? 2u : 4u) ||
                    !vtc_install_field_ok(f[1], TRUE) ||
                    (kind != VTC_INSTALL_ENTRY_DIR &&
                     ((g_strcmp0(f[2], "-") != 0 &&
                       !vtc_install_field_ok(f[2], kind == VTC_INSTALL_ENTRY_LINK)) ||
                      (g_strcmp0(f[3], "-") != 0 && !vtc_install_field_ok(f[3], TRUE))))) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s line %u is not a manifest entry",
                                    path,
                                    i + 1);
                        return FALSE;
                }
                e = vtc_install_entry_add(ctx, kind, f[1]);
                if (kind != VTC_INSTALL_ENTRY_DIR) {
                        e->value = g_strdup(f[2]);
                        e->saved = g_strcmp0(f[3], "-") == 0 ? NULL : g_strdup(f[3]);
                }
        }
        *out_found = TRUE;
        return TRUE;
}

static gboolean
vtc_install_manifest_save(VtcInstall *ctx, GError **error)
{
        g_autofree gchar *path = NULL;
        g_autoptr(GString) s = NULL;

        if (!ctx->manifest_ready)
                return TRUE;
        path = vtc_install_full(ctx, VTC_INSTALL_MANIFEST);
        s = g_string_new("# written by vtc-hostd --install; read by vtc-hostd --uninstall\n");
        for (guint i = 0; i < ctx->manifest->len; i++) {
                VtcInstallEntry *e = g_ptr_array_index(ctx->manifest, i);
                g_string_append_printf(s, "%s\t%s", vtc_install_entry_kinds[e->kind], e->path);
                if (e->kind != VTC_INSTALL_ENTRY_DIR)
                        g_string_append_printf(s,
                                               "\t%s\t%s",
                                               e->value,
                                               e->saved != NULL ? e->saved : "-");
                g_string_append_c(s, '\n');
        }
        return vtc_file_write_atomic(path, (const guint8 *)s->str, s->len, 0600, error);
}

/* ---- files ------------------------------------------------------------------------------- */

static gchar *
vtc_install_sha256_hex(const gchar *data, gsize len)
{
        guint8 digest[32];

        EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL);
        return vtc_hex_encode(digest, sizeof(digest));
}

/* What is at @full now: *out_value is the hex SHA-256 of a regular file, the target of a
 * symlink, or NULL when nothing is there. Anything else (a directory, a device) is an error. */
static gboolean
vtc_install_current(const gchar *full,
                    gboolean *out_is_link,
                    gchar **out_value,
                    GBytes **out_content,
                    GError **error)
{
        struct stat st;

        if (lstat(full, &st) != 0) {
                int e = errno;
                if (e == ENOENT) {
                        *out_is_link = FALSE;
                        *out_value = NULL;
                        if (out_content != NULL)
                                *out_content = NULL;
                        return TRUE;
                }
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s: %s", full, g_strerror(e));
                return FALSE;
        }
        if (S_ISLNK(st.st_mode)) {
                gchar *target = g_file_read_link(full, NULL);
                if (target == NULL) {
                        g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "cannot read link %s", full);
                        return FALSE;
                }
                *out_is_link = TRUE;
                *out_value = target;
                if (out_content != NULL)
                        *out_content = NULL;
                return TRUE;
        }
        if (S_ISREG(st.st_mode)) {
                g_autoptr(GBytes) data = vtc_file_read(full, VTC_INSTALL_MAX_FILE, error);
                if (data == NULL)
                        return FALSE;
                *out_is_link = FALSE;
                *out_value =
                    vtc_install_sha256_hex(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
                if (out_content != NULL)
                        *out_content = g_steal_pointer(&data);
                return TRUE;
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_CONFLICT,
                    "%s is neither a file nor a symlink: not touching it",
                    full);
        return FALSE;
}

/* Creates @target's missing parents and itself (0755 root unless said otherwise), recording
 * each directory created; *out_created says whether @target itself was. */
static gboolean
vtc_install_mkdirs(VtcInstall *ctx,
                   const gchar *target,
                   guint mode,
                   gboolean *out_created,
                   GError **error)
{
        g_auto(GStrv) parts = g_strsplit(target, "/", -1);
        g_autoptr(GString) t = g_string_new(NULL);
        gboolean created = FALSE;

        for (guint i = 0; parts[i] != NULL; i++) {
                g_autofree gchar *full = NULL;
                gboolean last = parts[i + 1] == NULL;

                if (parts[i][0] == '\0')
                        continue;
                g_string_append_printf(t, "/%s", parts[i]);
                full = vtc_install_full(ctx, t->str);
                created = FALSE;
                if (g_mkdir(full, last ? (int)mode : 0755) == 0) {
                        created = TRUE;
                        /* mkdir honours the umask: say the mode exactly */
                        if (chmod(full, last ? mode : 0755) != 0) {
                                int e = errno;
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_IO,
                                            "chmod %s: %s",
                                            full,
                                            g_strerror(e));
                                return FALSE;
                        }
                        if (vtc_install_entry_find(ctx, t->str) == NULL)
                                vtc_install_entry_add(ctx, VTC_INSTALL_ENTRY_DIR, t->str);
                        vtc_install_report(ctx, VTC_HOSTD_INSTALL_CREATED, t->str, "directory");
                        if (!vtc_install_manifest_save(ctx, error))
                                return FALSE;
                } else if (errno != EEXIST || !g_file_test(full, G_FILE_TEST_IS_DIR)) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "creating %s: %s",
                                    full,
                                    e == EEXIST ? "it exists and is not a directory"
                                                : g_strerror(e));
                        return FALSE;
                }
        }
        if (out_created != NULL)
                *out_created = created;
        return TRUE;
}

/* Gives @target (under the root) owner @uid:@gid and @mode when it has anything else; reports
 * what it changed as "fixed" unless @quiet (a file just written). Owners only as root. */
static gboolean
vtc_install_set_owner(VtcInstall *ctx,
                      const gchar *target,
                      uid_t uid,
                      gid_t gid,
                      guint mode,
                      gboolean quiet,
                      GError **error)
{
        g_autofree gchar *full = vtc_install_full(ctx, target);
        g_autoptr(GString) what = g_string_new(NULL);
        struct stat st;

        if (lstat(full, &st) != 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s: %s", full, g_strerror(e));
                return FALSE;
        }
        if (ctx->as_root && (st.st_uid != uid || st.st_gid != gid)) {
                if (lchown(full, uid, gid) != 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "chown %s: %s",
                                    full,
                                    g_strerror(e));
                        return FALSE;
                }
                g_string_append_printf(what,
                                       "owner %u:%u (was %u:%u)",
                                       (guint)uid,
                                       (guint)gid,
                                       (guint)st.st_uid,
                                       (guint)st.st_gid);
        }
        if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != mode) {
                if (chmod(full, mode) != 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "chmod %s: %s",
                                    full,
                                    g_strerror(e));
                        return FALSE;
                }
                g_string_append_printf(what,
                                       "%smode %04o (was %04o)",
                                       what->len > 0 ? ", " : "",
                                       mode,
                                       (guint)(st.st_mode & 07777));
        }
        if (what->len > 0 && !quiet)
                vtc_install_report(ctx, VTC_HOSTD_INSTALL_FIXED, target, "%s", what->str);
        return TRUE;
}

/* Writes @content (or, with @content NULL, a symlink to @link_target) at @full: a temporary
 * name in @tmp_dir (same file system), then rename, so nothing sees half a file. */
static gboolean
vtc_install_write(const gchar *full,
                  const gchar *tmp_dir,
                  GBytes *content,
                  const gchar *link_target,
                  uid_t uid,
                  gid_t gid,
                  guint mode,
                  gboolean as_root,
                  GError **error)
{
        g_autofree gchar *tmp = g_build_filename(tmp_dir, ".vtc-install.XXXXXX", NULL);

        if (content == NULL) {
                /* a unique name for the link: mkstemp, then replace the file with the link */
                vtc_autofd int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
                if (fd < 0 || g_unlink(tmp) != 0 || symlink(link_target, tmp) != 0 ||
                    (as_root && lchown(tmp, uid, gid) != 0) || rename(tmp, full) != 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "linking %s to %s: %s",
                                    full,
                                    link_target,
                                    g_strerror(e));
                        g_unlink(tmp);
                        return FALSE;
                }
                return TRUE;
        }
        {
                vtc_autofd int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
                gsize len = 0;
                const guint8 *buf = g_bytes_get_data(content, &len);
                gsize done = 0;

                if (fd < 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "creating %s: %s",
                                    tmp,
                                    g_strerror(e));
                        return FALSE;
                }
                while (done < len) {
                        ssize_t n = write(fd, buf + done, len - done);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                break;
                        done += (gsize)n;
                }
                if (done != len || (as_root && fchown(fd, uid, gid) != 0) ||
                    fchmod(fd, mode) != 0 || fsync(fd) != 0 || rename(tmp, full) != 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "writing %s: %s",
                                    full,
                                    g_strerror(e));
                        g_unlink(tmp);
                        return FALSE;
                }
        }
        return TRUE;
}

/* The first free name of FILE.vtc-saved, FILE.vtc-saved.1, ... (target paths). */
static gchar *
vtc_install_saved_name(VtcInstall *ctx, const gchar *base, GError **error)
{
        for (guint i = 0; i < VTC_INSTALL_MAX_SAVED; i++) {
                g_autofree gchar *name =
                    i == 0 ? g_strconcat(base, VTC_INSTALL_SAVED_SUFFIX, NULL)
                           : g_strdup_printf("%s" VTC_INSTALL_SAVED_SUFFIX ".%u", base, i);
                g_autofree gchar *full = vtc_install_full(ctx, name);
                struct stat st;

                if (lstat(full, &st) != 0 && errno == ENOENT)
                        return g_steal_pointer(&name);
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_CONFLICT,
                    "%s" VTC_INSTALL_SAVED_SUFFIX ".N: every name up to %u is taken",
                    base,
                    VTC_INSTALL_MAX_SAVED);
        return NULL;
}

typedef struct {
        const gchar *target; /* where */
        GBytes *content;     /* a file with this content, or */
        const gchar *link;   /* a symlink to this */
        uid_t uid;           /* owner and mode of a file */
        gid_t gid;
        guint mode;
        const gchar *saved_base; /* a site's file is saved as SAVED_BASE.vtc-saved; NULL: target */
        gboolean only_if_absent; /* a site's file is the site's choice: leave it */
} VtcInstallFile;

static gboolean
vtc_install_file(VtcInstall *ctx, const VtcInstallFile *f, GError **error)
{
        g_autofree gchar *full = vtc_install_full(ctx, f->target);
        g_autofree gchar *dir = g_path_get_dirname(full);
        g_autofree gchar *cur = NULL;
        g_autofree gchar *want = NULL;
        g_autofree gchar *saved = NULL;
        gboolean cur_is_link = FALSE;
        VtcInstallEntry *entry = vtc_install_entry_find(ctx, f->target);
        VtcHostdInstallAction action = VTC_HOSTD_INSTALL_CREATED;
        const gchar *tmp_dir = dir;
        g_autofree gchar *link_tmp_dir = NULL;

        if (!vtc_install_current(full, &cur_is_link, &cur, NULL, error))
                return FALSE;
        want = f->content != NULL ? vtc_install_sha256_hex(g_bytes_get_data(f->content, NULL),
                                                           g_bytes_get_size(f->content))
                                  : g_strdup(f->link);
        if (cur != NULL && cur_is_link == (f->content == NULL) && g_strcmp0(cur, want) == 0) {
                if (f->content != NULL &&
                    !vtc_install_set_owner(ctx, f->target, f->uid, f->gid, f->mode, FALSE, error))
                        return FALSE;
                vtc_install_report(ctx, VTC_HOSTD_INSTALL_UNCHANGED, f->target, NULL);
                return TRUE;
        }
        if (cur != NULL && f->only_if_absent) {
                vtc_install_report(ctx,
                                   VTC_HOSTD_INSTALL_UNCHANGED,
                                   f->target,
                                   "the site's own file is kept");
                return TRUE;
        }
        if (cur != NULL && entry != NULL && entry->kind != VTC_INSTALL_ENTRY_DIR &&
            (entry->kind == VTC_INSTALL_ENTRY_LINK) == cur_is_link &&
            g_strcmp0(entry->value, cur) == 0) {
                /* vtc's own file from an earlier install */
                action = VTC_HOSTD_INSTALL_UPDATED;
        } else if (cur != NULL) {
                g_autofree gchar *saved_full = NULL;
                saved = vtc_install_saved_name(ctx,
                                               f->saved_base != NULL ? f->saved_base : f->target,
                                               error);
                if (saved == NULL)
                        return FALSE;
                saved_full = vtc_install_full(ctx, saved);
                if (rename(full, saved_full) != 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "saving %s as %s: %s",
                                    full,
                                    saved_full,
                                    g_strerror(e));
                        return FALSE;
                }
                vtc_install_report(ctx, VTC_HOSTD_INSTALL_SAVED, f->target, "as %s", saved);
                if (entry == NULL) {
                        entry = vtc_install_entry_add(ctx,
                                                      f->content != NULL ? VTC_INSTALL_ENTRY_FILE
                                                                         : VTC_INSTALL_ENTRY_LINK,
                                                      f->target);
                }
                /* uninstall puts back the file from before vtc: the first one saved */
                if (entry->saved == NULL)
                        entry->saved = g_strdup(saved);
                g_free(entry->value);
                entry->value = g_strdup("-"); /* nothing of vtc's there yet */
                if (!vtc_install_manifest_save(ctx, error))
                        return FALSE;
        }
        if (f->content == NULL) {
                /* not beside the hook: libvirt runs whatever is executable in qemu.d */
                link_tmp_dir = g_path_get_dirname(dir);
                tmp_dir = link_tmp_dir;
        }
        if (!vtc_install_write(full,
                               tmp_dir,
                               f->content,
                               f->link,
                               f->uid,
                               f->gid,
                               f->mode,
                               ctx->as_root,
                               error))
                return FALSE;
        if (entry == NULL)
                entry = vtc_install_entry_add(ctx,
                                              f->content != NULL ? VTC_INSTALL_ENTRY_FILE
                                                                 : VTC_INSTALL_ENTRY_LINK,
                                              f->target);
        entry->kind = f->content != NULL ? VTC_INSTALL_ENTRY_FILE : VTC_INSTALL_ENTRY_LINK;
        g_free(entry->value);
        entry->value = g_strdup(want);
        if (f->content == NULL)
                vtc_install_report(ctx, action, f->target, "-> %s", f->link);
        else
                vtc_install_report(ctx, action, f->target, NULL);
        return vtc_install_manifest_save(ctx, error);
}

/* ---- contents ---------------------------------------------------------------------------- */

/* The key of a "key = value" line, or NULL. */
static gchar *
vtc_install_line_key(const gchar *line)
{
        const gchar *eq = strchr(line, '=');
        gchar *key;

        if (eq == NULL || line[strspn(line, " \t")] == '#')
                return NULL;
        key = g_strndup(line, (gsize)(eq - line));
        return g_strstrip(key);
}

/*
 * swtpm_setup.conf: vtc's lines first, then every line of @base (the file there now) except its
 * create_certs_tool* settings and vtc's own lines, so installing twice gives the same bytes.
 */
static GBytes *
vtc_install_swtpm_conf(const gchar *certify_program, GBytes *base)
{
        g_autoptr(GString) s = g_string_new(NULL);

        g_string_append(s,
                        VTC_INSTALL_MARKER "vTPM EK certificates come from vtc-hostd (vtc-hostd "
                                           "--install; vtc-hostd --uninstall puts back the "
                                           "previous file)\n");
        g_string_append_printf(s, "create_certs_tool = %s\n", certify_program);
        g_string_append(s, "create_certs_tool_config = " VTC_INSTALL_CERTIFY_CONF "\n");
        if (base != NULL) {
                g_autofree gchar *text =
                    g_strndup(g_bytes_get_data(base, NULL), g_bytes_get_size(base));
                g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
                guint n = g_strv_length(lines);

                /* a final newline leaves an empty last element: not a line */
                if (n > 0 && lines[n - 1][0] == '\0')
                        n--;
                for (guint i = 0; i < n; i++) {
                        g_autofree gchar *key = vtc_install_line_key(lines[i]);
                        if (g_str_has_prefix(lines[i], VTC_INSTALL_MARKER) ||
                            g_strcmp0(key, "create_certs_tool") == 0 ||
                            g_strcmp0(key, "create_certs_tool_config") == 0 ||
                            g_strcmp0(key, "create_certs_tool_options") == 0)
                                continue;
                        g_string_append_printf(s, "%s\n", lines[i]);
                }
        } else {
                g_string_append(s,
                                "# Comma-separated list (no spaces) of PCR banks to activate by "
                                "default\nactive_pcr_banks = sha256\n");
        }
        return g_string_free_to_bytes(g_steal_pointer(&s));
}

static GBytes *
vtc_install_hook_conf(const gchar *policy)
{
        gchar *text = g_strdup_printf(
            "# The vtc libvirt hook (/etc/libvirt/hooks/qemu.d/50-vtc); vtc-hook --help "
            "explains every key.\n"
            "# When vtc-hostd cannot be reached as a domain with a vTPM is prepared:\n"
            "#   fail_closed: the domain does not start, and virsh says why;\n"
            "#   fail_open:   it starts without vtc's guarantees.\n"
            "policy = %s\n"
            "#timeout = 5\n"
            "#socket = " VTC_HOSTD_SOCKET_DEFAULT "\n",
            policy);

        return g_bytes_new_take(text, strlen(text));
}

static const gchar vtc_install_certify_conf[] =
    "# vtc-vtpm-certify, swtpm_setup's create_certs_tool (named in swtpm_setup.conf);\n"
    "# vtc-vtpm-certify --help explains the keys.\n"
    "#socket = " VTC_HOSTD_SOCKET_DEFAULT "\n"
    "#timeout = 30\n";

/* ---- the steps --------------------------------------------------------------------------- */

static gboolean
vtc_install_dir(VtcInstall *ctx,
                const gchar *target,
                uid_t uid,
                gid_t gid,
                guint mode,
                gboolean fix_existing,
                GError **error)
{
        gboolean created = FALSE;

        if (!vtc_install_mkdirs(ctx, target, mode, &created, error))
                return FALSE;
        if (!created && !fix_existing)
                return TRUE;
        return vtc_install_set_owner(ctx, target, uid, gid, mode, created, error);
}

/* The swtpm-localca state directory: swtpm_localca runs as tss under libvirt, so files that a
 * root run of swtpm_setup created there first (its CA key, the serial counter) lock it out. */
static gboolean
vtc_install_fix_localca(VtcInstall *ctx, GError **error)
{
        g_autofree gchar *full = vtc_install_full(ctx, VTC_INSTALL_LOCALCA_DIR);
        g_autoptr(GDir) dir = NULL;
        const gchar *name;
        struct stat st;

        if (!ctx->as_root || lstat(full, &st) != 0 || !S_ISDIR(st.st_mode))
                return TRUE;
        if (st.st_uid != ctx->tss_uid && !vtc_install_set_owner(ctx,
                                                                VTC_INSTALL_LOCALCA_DIR,
                                                                ctx->tss_uid,
                                                                st.st_gid,
                                                                st.st_mode & 07777,
                                                                FALSE,
                                                                error))
                return FALSE;
        dir = g_dir_open(full, 0, error);
        if (dir == NULL)
                return FALSE;
        while ((name = g_dir_read_name(dir)) != NULL) {
                g_autofree gchar *target = g_build_filename(VTC_INSTALL_LOCALCA_DIR, name, NULL);
                g_autofree gchar *file = vtc_install_full(ctx, target);
                if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid == ctx->tss_uid)
                        continue;
                if (!vtc_install_set_owner(ctx,
                                           target,
                                           ctx->tss_uid,
                                           st.st_gid,
                                           st.st_mode & 07777,
                                           FALSE,
                                           error))
                        return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_install_init(VtcInstall *ctx,
                 const VtcHostdInstallOptions *opts,
                 GPtrArray *changes,
                 GError **error)
{
        const gchar *user = opts->tss_user != NULL ? opts->tss_user : "tss";
        struct passwd *pw;

        ctx->opts = opts;
        ctx->root = opts->prefix_root != NULL ? opts->prefix_root : "/";
        ctx->changes = changes;
        ctx->manifest = g_ptr_array_new_with_free_func((GDestroyNotify)vtc_install_entry_free);
        ctx->as_root = geteuid() == 0;
        if (!g_path_is_absolute(ctx->root) || !g_file_test(ctx->root, G_FILE_TEST_IS_DIR)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "the prefix root %s is not an absolute path to a directory",
                            ctx->root);
                return FALSE;
        }
        pw = getpwnam(user);
        if (pw == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no user '%s': libvirt runs swtpm_setup as tss (install swtpm-tools)",
                            user);
                return FALSE;
        }
        ctx->tss_uid = pw->pw_uid;
        ctx->tss_gid = pw->pw_gid;
        ctx->tss_home = g_strdup(pw->pw_dir);
        if (!vtc_install_field_ok(ctx->tss_home, TRUE)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the home directory of '%s' is not a plain absolute path",
                            user);
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_install_check_program(VtcInstall *ctx, const gchar *what, const gchar *path, GError **error)
{
        if (path == NULL || !vtc_install_field_ok(path, TRUE)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "the %s program must be given as an absolute path",
                            what);
                return FALSE;
        }
        /* with another prefix root, the program is where the target system will have it */
        if (g_strcmp0(ctx->root, "/") == 0 && !g_file_test(path, G_FILE_TEST_IS_EXECUTABLE)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "the %s program %s is not an executable file",
                            what,
                            path);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_hostd_install(const VtcHostdInstallOptions *opts, GPtrArray *changes, GError **error)
{
        g_auto(VtcInstall) ctx = {0};
        const gchar *policy = opts->policy != NULL ? opts->policy : "fail_closed";
        gboolean found = FALSE;
        g_autofree gchar *tss_config_dir = NULL;
        g_autofree gchar *tss_conf = NULL;
        g_autofree gchar *full = NULL;
        g_autofree gchar *cur = NULL;
        gboolean cur_is_link = FALSE;
        g_autoptr(GBytes) base = NULL;
        g_autoptr(GBytes) conf = NULL;
        g_autoptr(GBytes) hook_conf = NULL;
        g_autoptr(GBytes) certify_conf = NULL;

        if (!vtc_install_init(&ctx, opts, changes, error) ||
            !vtc_install_check_program(&ctx, "hook", opts->hook_program, error) ||
            !vtc_install_check_program(&ctx, "certify", opts->certify_program, error))
                return FALSE;
        if (g_strcmp0(policy, "fail_closed") != 0 && g_strcmp0(policy, "fail_open") != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "the policy '%s' is neither fail_closed nor fail_open",
                            policy);
                return FALSE;
        }
        if (!vtc_install_manifest_load(&ctx, &found, error))
                return FALSE;

        /* the state directory first: it holds the manifest of every later step */
        if (!vtc_install_dir(&ctx, VTC_INSTALL_STATE_DIR, 0, 0, 0700, TRUE, error))
                return FALSE;
        ctx.manifest_ready = TRUE;
        if (!vtc_install_manifest_save(&ctx, error))
                return FALSE;

        /* the hook: the directory must exist before libvirtd starts */
        if (!vtc_install_dir(&ctx, VTC_INSTALL_HOOK_DIR, 0, 0, 0755, FALSE, error))
                return FALSE;
        {
                VtcInstallFile f = {
                    .target = VTC_INSTALL_HOOK,
                    .link = opts->hook_program,
                    .saved_base = VTC_INSTALL_HOOK_SAVED_BASE,
                };
                if (!vtc_install_file(&ctx, &f, error))
                        return FALSE;
        }

        /* the hook's policy and the certify tool's configuration: the site's own are kept */
        if (!vtc_install_dir(&ctx, VTC_INSTALL_ETC_DIR, 0, 0, 0755, FALSE, error))
                return FALSE;
        hook_conf = vtc_install_hook_conf(policy);
        certify_conf =
            g_bytes_new_static(vtc_install_certify_conf, sizeof(vtc_install_certify_conf) - 1);
        {
                VtcInstallFile files[] = {
                    {.target = VTC_INSTALL_HOOK_CONF,
                     .content = hook_conf,
                     .mode = 0644,
                     .only_if_absent = TRUE},
                    {.target = VTC_INSTALL_CERTIFY_CONF,
                     .content = certify_conf,
                     .mode = 0644,
                     .only_if_absent = TRUE},
                };
                for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
                        if (!vtc_install_file(&ctx, &files[i], error))
                                return FALSE;
                }
        }

        /* swtpm_setup.conf in /etc, rebuilt from what is there */
        full = vtc_install_full(&ctx, VTC_INSTALL_SWTPM_CONF);
        if (!vtc_install_current(full, &cur_is_link, &cur, &base, error))
                return FALSE;
        conf = vtc_install_swtpm_conf(opts->certify_program, base);
        {
                VtcInstallFile f = {
                    .target = VTC_INSTALL_SWTPM_CONF,
                    .content = conf,
                    .mode = 0644,
                };
                if (!vtc_install_file(&ctx, &f, error))
                        return FALSE;
        }

        /* tss's own swtpm_setup.conf wins over /etc's when it exists: rewrite it too, tss's */
        tss_config_dir = g_build_filename(ctx.tss_home, ".config", NULL);
        tss_conf = g_build_filename(tss_config_dir, "swtpm_setup.conf", NULL);
        g_free(full);
        full = vtc_install_full(&ctx, tss_conf);
        g_clear_pointer(&cur, g_free);
        g_clear_pointer(&base, g_bytes_unref);
        if (!vtc_install_current(full, &cur_is_link, &cur, &base, error))
                return FALSE;
        if (cur != NULL) {
                VtcInstallFile f = {
                    .target = tss_conf,
                    .uid = ctx.tss_uid,
                    .gid = ctx.tss_gid,
                    .mode = 0644,
                };
                g_clear_pointer(&conf, g_bytes_unref);
                conf = vtc_install_swtpm_conf(opts->certify_program, base);
                f.content = conf;
                if (!vtc_install_set_owner(&ctx,
                                           tss_config_dir,
                                           ctx.tss_uid,
                                           ctx.tss_gid,
                                           0755,
                                           FALSE,
                                           error) ||
                    !vtc_install_file(&ctx, &f, error))
                        return FALSE;
        }

        /* hostd's socket directory: tss (swtpm_setup) must reach the socket */
        if (!vtc_install_dir(&ctx, VTC_INSTALL_RUN_DIR, 0, ctx.tss_gid, 0750, TRUE, error))
                return FALSE;
        return vtc_install_fix_localca(&ctx, error);
}

/* ---- uninstall --------------------------------------------------------------------------- */

gboolean
vtc_hostd_uninstall(const VtcHostdInstallOptions *opts, GPtrArray *changes, GError **error)
{
        g_auto(VtcInstall) ctx = {0};
        gboolean found = FALSE;
        g_autofree gchar *manifest = NULL;

        if (!vtc_install_init(&ctx, opts, changes, error) ||
            !vtc_install_manifest_load(&ctx, &found, error))
                return FALSE;
        manifest = vtc_install_full(&ctx, VTC_INSTALL_MANIFEST);
        if (!found) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no vtc installation is recorded (%s is missing): nothing to undo",
                            manifest);
                return FALSE;
        }
        for (guint i = ctx.manifest->len; i-- > 0;) {
                VtcInstallEntry *e = g_ptr_array_index(ctx.manifest, i);
                g_autofree gchar *full = NULL;
                g_autofree gchar *cur = NULL;
                gboolean cur_is_link = FALSE;
                gboolean ours;

                if (e->kind == VTC_INSTALL_ENTRY_DIR)
                        continue;
                full = vtc_install_full(&ctx, e->path);
                if (!vtc_install_current(full, &cur_is_link, &cur, NULL, error))
                        return FALSE;
                ours = cur != NULL && cur_is_link == (e->kind == VTC_INSTALL_ENTRY_LINK) &&
                       g_strcmp0(cur, e->value) == 0;
                if (cur != NULL && !ours) {
                        if (e->saved != NULL)
                                vtc_install_report(&ctx,
                                                   VTC_HOSTD_INSTALL_KEPT,
                                                   e->path,
                                                   "changed since vtc wrote it; the file from "
                                                   "before vtc stays at %s",
                                                   e->saved);
                        else
                                vtc_install_report(&ctx,
                                                   VTC_HOSTD_INSTALL_KEPT,
                                                   e->path,
                                                   "changed since vtc wrote it");
                        continue;
                }
                if (ours) {
                        if (g_unlink(full) != 0) {
                                int err = errno;
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_IO,
                                            "removing %s: %s",
                                            full,
                                            g_strerror(err));
                                return FALSE;
                        }
                        if (e->saved == NULL)
                                vtc_install_report(&ctx, VTC_HOSTD_INSTALL_REMOVED, e->path, NULL);
                }
                if (e->saved != NULL) {
                        g_autofree gchar *saved_full = vtc_install_full(&ctx, e->saved);
                        struct stat st;
                        if (lstat(saved_full, &st) != 0) {
                                vtc_install_report(&ctx,
                                                   VTC_HOSTD_INSTALL_KEPT,
                                                   e->path,
                                                   "the saved file %s is gone: nothing to put "
                                                   "back",
                                                   e->saved);
                        } else if (rename(saved_full, full) != 0) {
                                int err = errno;
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_IO,
                                            "putting back %s: %s",
                                            full,
                                            g_strerror(err));
                                return FALSE;
                        } else {
                                vtc_install_report(&ctx,
                                                   VTC_HOSTD_INSTALL_RESTORED,
                                                   e->path,
                                                   "from %s",
                                                   e->saved);
                        }
                }
        }
        if (g_unlink(manifest) != 0) {
                int err = errno;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "removing %s: %s",
                            manifest,
                            g_strerror(err));
                return FALSE;
        }
        for (guint i = ctx.manifest->len; i-- > 0;) {
                VtcInstallEntry *e = g_ptr_array_index(ctx.manifest, i);
                g_autofree gchar *full = NULL;

                if (e->kind != VTC_INSTALL_ENTRY_DIR)
                        continue;
                full = vtc_install_full(&ctx, e->path);
                if (g_rmdir(full) == 0) {
                        vtc_install_report(&ctx, VTC_HOSTD_INSTALL_REMOVED, e->path, "directory");
                } else if (errno != ENOENT) {
                        vtc_install_report(&ctx,
                                           VTC_HOSTD_INSTALL_KEPT,
                                           e->path,
                                           "directory not empty");
                }
        }
        return TRUE;
}

/* ---- reporting --------------------------------------------------------------------------- */

gboolean
vtc_hostd_install_needs_libvirtd_restart(GPtrArray *changes)
{
        for (guint i = 0; i < changes->len; i++) {
                VtcHostdInstallChange *c = g_ptr_array_index(changes, i);
                if (c->action != VTC_HOSTD_INSTALL_UNCHANGED &&
                    g_str_has_prefix(c->path, VTC_INSTALL_HOOK_DIR))
                        return TRUE;
        }
        return FALSE;
}

gchar *
vtc_hostd_install_report(const VtcHostdInstallOptions *opts, GPtrArray *changes, gboolean uninstall)
{
        const gchar *root = opts->prefix_root != NULL ? opts->prefix_root : "/";
        g_autoptr(GString) s = g_string_new(NULL);
        gboolean changed = FALSE;

        if (g_strcmp0(root, "/") != 0)
                g_string_append_printf(s, "(paths below are under %s)\n", root);
        for (guint i = 0; i < changes->len; i++) {
                VtcHostdInstallChange *c = g_ptr_array_index(changes, i);
                g_string_append_printf(s,
                                       "  %-9s %s%s%s%s\n",
                                       vtc_hostd_install_action_to_string(c->action),
                                       c->path,
                                       c->detail != NULL ? " (" : "",
                                       c->detail != NULL ? c->detail : "",
                                       c->detail != NULL ? ")" : "");
                if (c->action != VTC_HOSTD_INSTALL_UNCHANGED)
                        changed = TRUE;
        }
        if (!changed)
                g_string_append(s, "Nothing changed.\n");
        if (vtc_hostd_install_needs_libvirtd_restart(changes) && !uninstall) {
                g_string_append(s,
                                "Restart libvirtd now (e.g. systemctl restart libvirtd): it looks "
                                "for hooks only when it starts, and " VTC_INSTALL_HOOK_DIR
                                " must exist by then.\n");
        } else if (vtc_hostd_install_needs_libvirtd_restart(changes)) {
                g_string_append(s,
                                "Restart libvirtd now (e.g. systemctl restart libvirtd): it keeps "
                                "the hooks it found when it started.\n");
        }
        if (!uninstall && changed)
                g_string_append(s,
                                "Start vtc-hostd (vtc-hostd --config /etc/vtc/hostd.conf) before "
                                "any VM with a vTPM: with the policy fail_closed, VMs with a vTPM "
                                "do not start without it.\n");
        return g_string_free(g_steal_pointer(&s), FALSE);
}
