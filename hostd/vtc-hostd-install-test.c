/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-hostd --install in a temporary prefix root: fresh install, idempotent reinstall, a site's
 * files saved and reported, uninstall giving back the tree byte for byte, owners and modes.
 */
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-hostd-install.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

#define HOOK_PROGRAM    "/usr/local/bin/vtc-hook"
#define CERTIFY_PROGRAM "/usr/local/bin/vtc-vtpm-certify"

/* Debian 12's /etc/swtpm_setup.conf */
static const gchar debian_swtpm_conf[] =
    "# Program invoked for creating certificates\n"
    "create_certs_tool= /usr/bin/swtpm_localca\n"
    "create_certs_tool_config = /etc/swtpm-localca.conf\n"
    "create_certs_tool_options = /etc/swtpm-localca.options\n"
    "# Comma-separated list (no spaces) of PCR banks to activate by default\n"
    "active_pcr_banks = sha256\n";

typedef struct {
        gchar *root;
        VtcHostdInstallOptions opts;
        struct passwd tss;
        gchar *tss_home; /* under root */
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
        struct passwd *pw = getpwnam("tss");

        if (pw == NULL) {
                g_test_skip("no tss user (install swtpm-tools)");
                return;
        }
        fx->tss = *pw;
        fx->root = vtc_test_tmpdir_new();
        fx->tss_home = g_build_filename(fx->root, pw->pw_dir, NULL);
        fx->opts.prefix_root = fx->root;
        fx->opts.hook_program = HOOK_PROGRAM;
        fx->opts.certify_program = CERTIFY_PROGRAM;
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
        vtc_test_tmpdir_free(fx->root);
        g_free(fx->tss_home);
}

static gchar *
path_in(Fixture *fx, const gchar *target)
{
        return g_build_filename(fx->root, target, NULL);
}

static void
write_file(Fixture *fx, const gchar *target, const gchar *text, guint mode)
{
        g_autofree gchar *full = path_in(fx, target);
        g_autofree gchar *dir = g_path_get_dirname(full);
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(full, text, -1, &error));
        g_assert_no_error(error);
        g_assert_cmpint(chmod(full, mode), ==, 0);
}

static gchar *
read_file(Fixture *fx, const gchar *target)
{
        g_autofree gchar *full = path_in(fx, target);
        g_autoptr(GError) error = NULL;
        gchar *text = NULL;

        g_assert_true(g_file_get_contents(full, &text, NULL, &error));
        g_assert_no_error(error);
        return text;
}

static void
assert_stat(Fixture *fx, const gchar *target, guint type, guint mode, uid_t uid, gid_t gid)
{
        g_autofree gchar *full = path_in(fx, target);
        struct stat st;

        g_assert_cmpint(lstat(full, &st), ==, 0);
        g_assert_cmpuint(st.st_mode & S_IFMT, ==, type);
        if (type != S_IFLNK)
                g_assert_cmpuint(st.st_mode & 07777, ==, mode);
        /* owners can be set only as root */
        if (geteuid() == 0) {
                g_assert_cmpuint(st.st_uid, ==, uid);
                g_assert_cmpuint(st.st_gid, ==, gid);
        }
}

static void
snapshot_dir(const gchar *root, const gchar *rel, GPtrArray *out)
{
        g_autofree gchar *full = g_build_filename(root, rel, NULL);
        g_autoptr(GDir) dir = g_dir_open(full, 0, NULL);
        const gchar *name;

        g_assert_nonnull(dir);
        while ((name = g_dir_read_name(dir)) != NULL) {
                g_autofree gchar *r = g_build_filename(rel, name, NULL);
                g_autofree gchar *f = g_build_filename(root, r, NULL);
                g_autofree gchar *what = NULL;
                struct stat st;

                g_assert_cmpint(lstat(f, &st), ==, 0);
                if (S_ISLNK(st.st_mode)) {
                        g_autofree gchar *target = g_file_read_link(f, NULL);
                        what = g_strdup_printf("-> %s", target);
                } else if (S_ISREG(st.st_mode)) {
                        g_autofree gchar *text = NULL;
                        gsize len = 0;
                        g_assert_true(g_file_get_contents(f, &text, &len, NULL));
                        what = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guint8 *)text, len);
                } else {
                        what = g_strdup("dir");
                }
                g_ptr_array_add(out,
                                g_strdup_printf("%s %o %u:%u %s",
                                                r,
                                                (guint)st.st_mode,
                                                (guint)st.st_uid,
                                                (guint)st.st_gid,
                                                what));
                if (S_ISDIR(st.st_mode))
                        snapshot_dir(root, r, out);
        }
}

static gint
compare_lines(gconstpointer a, gconstpointer b)
{
        return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* Every path under the root with its type, mode, owner and content: equal snapshots, equal
 * trees. */
static gchar *
snapshot(Fixture *fx)
{
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

        snapshot_dir(fx->root, "", lines);
        g_ptr_array_sort(lines, compare_lines);
        g_ptr_array_add(lines, NULL);
        return g_strjoinv("\n", (gchar **)lines->pdata);
}

static VtcHostdInstallChange *
find_change(GPtrArray *changes, VtcHostdInstallAction action, const gchar *path)
{
        for (guint i = 0; i < changes->len; i++) {
                VtcHostdInstallChange *c = g_ptr_array_index(changes, i);
                if (c->action == action && g_strcmp0(c->path, path) == 0)
                        return c;
        }
        return NULL;
}

static GPtrArray *
install(Fixture *fx)
{
        g_autoptr(GPtrArray) changes = vtc_hostd_install_changes_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(vtc_hostd_install(&fx->opts, changes, &error));
        g_assert_no_error(error);
        return g_steal_pointer(&changes);
}

static GPtrArray *
uninstall(Fixture *fx)
{
        g_autoptr(GPtrArray) changes = vtc_hostd_install_changes_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(vtc_hostd_uninstall(&fx->opts, changes, &error));
        g_assert_no_error(error);
        return g_steal_pointer(&changes);
}

static void
install_fresh_test(Fixture *fx, gconstpointer data)
{
        g_autoptr(GPtrArray) changes = NULL;
        g_autoptr(GPtrArray) again = NULL;
        g_autoptr(GPtrArray) undone = NULL;
        g_autofree gchar *conf = NULL;
        g_autofree gchar *hook_conf = NULL;
        g_autofree gchar *link = NULL;
        g_autofree gchar *full = NULL;
        g_autofree gchar *before = NULL;
        g_autofree gchar *after = NULL;
        g_autofree gchar *report = NULL;
        g_autofree gchar *empty = NULL;

        if (fx->root == NULL)
                return;
        empty = snapshot(fx);
        changes = install(fx);

        /* the hook: a symlink to the program, in a directory made for it */
        full = path_in(fx, "/etc/libvirt/hooks/qemu.d/50-vtc");
        link = g_file_read_link(full, NULL);
        g_assert_cmpstr(link, ==, HOOK_PROGRAM);
        g_assert_nonnull(
            find_change(changes, VTC_HOSTD_INSTALL_CREATED, "/etc/libvirt/hooks/qemu.d"));
        g_assert_nonnull(
            find_change(changes, VTC_HOSTD_INSTALL_CREATED, "/etc/libvirt/hooks/qemu.d/50-vtc"));
        assert_stat(fx, "/etc/libvirt/hooks/qemu.d", S_IFDIR, 0755, 0, 0);
        g_assert_true(vtc_hostd_install_needs_libvirtd_restart(changes));

        /* swtpm_setup.conf names the certify tool; with no file before, the Debian default banks */
        conf = read_file(fx, "/etc/swtpm_setup.conf");
        g_assert_nonnull(strstr(conf, "\ncreate_certs_tool = " CERTIFY_PROGRAM "\n"));
        g_assert_nonnull(strstr(conf, "\ncreate_certs_tool_config = /etc/vtc/certify.conf\n"));
        g_assert_nonnull(strstr(conf, "\nactive_pcr_banks = sha256\n"));
        g_assert_null(strstr(conf, "swtpm_localca"));
        assert_stat(fx, "/etc/swtpm_setup.conf", S_IFREG, 0644, 0, 0);
        /* no tss swtpm_setup.conf before: none made (it would hide /etc's) */
        g_free(full);
        full = g_build_filename(fx->tss_home, ".config", "swtpm_setup.conf", NULL);
        g_assert_false(g_file_test(full, G_FILE_TEST_EXISTS));

        hook_conf = read_file(fx, "/etc/vtc/hook.conf");
        g_assert_nonnull(strstr(hook_conf, "\npolicy = fail_closed\n"));
        assert_stat(fx, "/etc/vtc/hook.conf", S_IFREG, 0644, 0, 0);
        assert_stat(fx, "/etc/vtc/certify.conf", S_IFREG, 0644, 0, 0);
        /* tss reaches hostd's socket through /run/vtc; nobody else does */
        assert_stat(fx, "/run/vtc", S_IFDIR, 0750, 0, fx->tss.pw_gid);
        assert_stat(fx, "/var/lib/vtc", S_IFDIR, 0700, 0, 0);
        assert_stat(fx, "/var/lib/vtc/install.manifest", S_IFREG, 0600, 0, 0);

        report = vtc_hostd_install_report(&fx->opts, changes, FALSE);
        g_assert_nonnull(strstr(report, "created   /etc/swtpm_setup.conf"));
        g_assert_nonnull(strstr(report, "Restart libvirtd"));

        /* again: nothing changes, nothing to restart */
        before = snapshot(fx);
        again = install(fx);
        after = snapshot(fx);
        g_assert_cmpstr(before, ==, after);
        g_assert_cmpuint(again->len, >, 0);
        for (guint i = 0; i < again->len; i++) {
                VtcHostdInstallChange *c = g_ptr_array_index(again, i);
                g_assert_cmpint(c->action, ==, VTC_HOSTD_INSTALL_UNCHANGED);
        }
        g_assert_false(vtc_hostd_install_needs_libvirtd_restart(again));
        g_free(report);
        report = vtc_hostd_install_report(&fx->opts, again, FALSE);
        g_assert_nonnull(strstr(report, "Nothing changed."));
        g_assert_null(strstr(report, "Restart libvirtd"));

        /* uninstall leaves the root as it was: empty */
        undone = uninstall(fx);
        g_assert_nonnull(find_change(undone, VTC_HOSTD_INSTALL_REMOVED, "/etc/swtpm_setup.conf"));
        g_free(after);
        after = snapshot(fx);
        g_assert_cmpstr(after, ==, empty);
}

static void
install_saves_site_files_test(Fixture *fx, gconstpointer data)
{
        g_autoptr(GPtrArray) changes = NULL;
        g_autoptr(GPtrArray) again = NULL;
        g_autoptr(GPtrArray) undone = NULL;
        g_autofree gchar *before = NULL;
        g_autofree gchar *mid = NULL;
        g_autofree gchar *after = NULL;
        g_autofree gchar *conf = NULL;
        g_autofree gchar *tss_conf_target = NULL;
        g_autofree gchar *tss_conf = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *report = NULL;
        VtcHostdInstallChange *c;

        if (fx->root == NULL)
                return;
        /* a site with swtpm's defaults, its own hook called 50-vtc, its own hook policy, a tss
         * swtpm_setup.conf (which wins over /etc's), and an old .vtc-saved of its own */
        write_file(fx, "/etc/swtpm_setup.conf", debian_swtpm_conf, 0644);
        write_file(fx, "/etc/swtpm_setup.conf.vtc-saved", "an older file of the site\n", 0600);
        write_file(fx, "/etc/libvirt/hooks/qemu.d/50-vtc", "#!/bin/sh\nexit 0\n", 0755);
        write_file(fx, "/etc/vtc/hook.conf", "policy = fail_open\n", 0640);
        tss_conf_target = g_build_filename(fx->tss.pw_dir, ".config", "swtpm_setup.conf", NULL);
        write_file(fx, tss_conf_target, "active_pcr_banks = sha256,sha384\n", 0600);
        if (geteuid() == 0) {
                /* as on a real host: tss's ~/.config is tss's (the ownership test covers root's) */
                g_autofree gchar *dir = g_path_get_dirname(tss_conf_target);
                g_autofree gchar *full = path_in(fx, dir);
                g_assert_cmpint(chown(full, fx->tss.pw_uid, fx->tss.pw_gid), ==, 0);
        }
        before = snapshot(fx);

        changes = install(fx);
        report = vtc_hostd_install_report(&fx->opts, changes, FALSE);

        /* /etc/swtpm_setup.conf: the site's moved to the next free .vtc-saved name */
        c = find_change(changes, VTC_HOSTD_INSTALL_SAVED, "/etc/swtpm_setup.conf");
        g_assert_nonnull(c);
        g_assert_cmpstr(c->detail, ==, "as /etc/swtpm_setup.conf.vtc-saved.1");
        g_assert_nonnull(
            strstr(report,
                   "saved     /etc/swtpm_setup.conf (as /etc/swtpm_setup.conf.vtc-saved.1)"));
        text = read_file(fx, "/etc/swtpm_setup.conf.vtc-saved.1");
        g_assert_cmpstr(text, ==, debian_swtpm_conf);
        g_free(text);
        text = read_file(fx, "/etc/swtpm_setup.conf.vtc-saved");
        g_assert_cmpstr(text, ==, "an older file of the site\n");
        /* the new one: vtc's tool, the site's other settings kept, none of its localca lines */
        conf = read_file(fx, "/etc/swtpm_setup.conf");
        g_assert_nonnull(strstr(conf, "\ncreate_certs_tool = " CERTIFY_PROGRAM "\n"));
        g_assert_nonnull(strstr(conf, "\nactive_pcr_banks = sha256\n"));
        g_assert_null(strstr(conf, "swtpm_localca"));
        g_assert_null(strstr(conf, "swtpm-localca"));

        /* the site's hook is kept outside qemu.d, where libvirt would still run it */
        c = find_change(changes, VTC_HOSTD_INSTALL_SAVED, "/etc/libvirt/hooks/qemu.d/50-vtc");
        g_assert_nonnull(c);
        g_assert_cmpstr(c->detail, ==, "as /etc/libvirt/hooks/50-vtc.vtc-saved");
        g_free(text);
        text = read_file(fx, "/etc/libvirt/hooks/50-vtc.vtc-saved");
        g_assert_cmpstr(text, ==, "#!/bin/sh\nexit 0\n");
        assert_stat(fx, "/etc/libvirt/hooks/qemu.d/50-vtc", S_IFLNK, 0, 0, 0);

        /* the site's policy stays */
        g_free(text);
        text = read_file(fx, "/etc/vtc/hook.conf");
        g_assert_cmpstr(text, ==, "policy = fail_open\n");
        c = find_change(changes, VTC_HOSTD_INSTALL_UNCHANGED, "/etc/vtc/hook.conf");
        g_assert_nonnull(c);
        g_assert_cmpstr(c->detail, ==, "the site's own file is kept");
        g_assert_null(find_change(changes, VTC_HOSTD_INSTALL_CREATED, "/etc/vtc/hook.conf"));

        /* tss's own file wins over /etc's: rewritten too, its settings kept, tss's, readable */
        g_assert_nonnull(find_change(changes, VTC_HOSTD_INSTALL_SAVED, tss_conf_target));
        tss_conf = read_file(fx, tss_conf_target);
        g_assert_nonnull(strstr(tss_conf, "\ncreate_certs_tool = " CERTIFY_PROGRAM "\n"));
        g_assert_nonnull(strstr(tss_conf, "\nactive_pcr_banks = sha256,sha384\n"));
        assert_stat(fx, tss_conf_target, S_IFREG, 0644, fx->tss.pw_uid, fx->tss.pw_gid);

        /* reinstalling changes nothing */
        mid = snapshot(fx);
        again = install(fx);
        g_free(after);
        after = snapshot(fx);
        g_assert_cmpstr(mid, ==, after);
        for (guint i = 0; i < again->len; i++) {
                c = g_ptr_array_index(again, i);
                g_assert_cmpint(c->action, ==, VTC_HOSTD_INSTALL_UNCHANGED);
        }

        /* uninstall puts every saved file back: the tree is what it was, byte for byte, modes
         * and owners included (the directories vtc made are gone) */
        undone = uninstall(fx);
        c = find_change(undone, VTC_HOSTD_INSTALL_RESTORED, "/etc/swtpm_setup.conf");
        g_assert_nonnull(c);
        g_assert_cmpstr(c->detail, ==, "from /etc/swtpm_setup.conf.vtc-saved.1");
        g_assert_nonnull(
            find_change(undone, VTC_HOSTD_INSTALL_RESTORED, "/etc/libvirt/hooks/qemu.d/50-vtc"));
        g_assert_nonnull(find_change(undone, VTC_HOSTD_INSTALL_RESTORED, tss_conf_target));
        g_free(after);
        after = snapshot(fx);
        if (geteuid() == 0) {
                g_assert_cmpstr(after, ==, before);
        } else {
                /* as another user the tss file could not be given to tss: compare contents */
                g_free(text);
                text = read_file(fx, tss_conf_target);
                g_assert_cmpstr(text, ==, "active_pcr_banks = sha256,sha384\n");
        }
}

static void
install_then_site_edits_test(Fixture *fx, gconstpointer data)
{
        g_autoptr(GPtrArray) changes = NULL;
        g_autoptr(GPtrArray) again = NULL;
        g_autoptr(GPtrArray) undone = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *text = NULL;
        VtcHostdInstallChange *c;

        if (fx->root == NULL)
                return;
        write_file(fx, "/etc/swtpm_setup.conf", debian_swtpm_conf, 0644);
        changes = install(fx);
        g_assert_nonnull(find_change(changes, VTC_HOSTD_INSTALL_SAVED, "/etc/swtpm_setup.conf"));

        /* a reinstall with the programs elsewhere updates vtc's own files in place: no save */
        fx->opts.certify_program = "/opt/vtc/bin/vtc-vtpm-certify";
        fx->opts.hook_program = "/opt/vtc/bin/vtc-hook";
        again = install(fx);
        g_assert_nonnull(find_change(again, VTC_HOSTD_INSTALL_UPDATED, "/etc/swtpm_setup.conf"));
        g_assert_nonnull(
            find_change(again, VTC_HOSTD_INSTALL_UPDATED, "/etc/libvirt/hooks/qemu.d/50-vtc"));
        g_assert_null(find_change(again, VTC_HOSTD_INSTALL_SAVED, "/etc/swtpm_setup.conf"));
        text = read_file(fx, "/etc/swtpm_setup.conf");
        g_assert_nonnull(strstr(text, "\ncreate_certs_tool = /opt/vtc/bin/vtc-vtpm-certify\n"));
        g_assert_nonnull(strstr(text, "\nactive_pcr_banks = sha256\n"));
        g_assert_true(vtc_hostd_install_needs_libvirtd_restart(again));

        /* the site edits vtc's file: uninstall keeps the edit, and the saved original with it */
        write_file(fx, "/etc/swtpm_setup.conf", "active_pcr_banks = sha384\n", 0644);
        undone = uninstall(fx);
        c = find_change(undone, VTC_HOSTD_INSTALL_KEPT, "/etc/swtpm_setup.conf");
        g_assert_nonnull(c);
        g_assert_nonnull(strstr(c->detail, "/etc/swtpm_setup.conf.vtc-saved"));
        g_assert_null(find_change(undone, VTC_HOSTD_INSTALL_RESTORED, "/etc/swtpm_setup.conf"));
        g_free(text);
        text = read_file(fx, "/etc/swtpm_setup.conf");
        g_assert_cmpstr(text, ==, "active_pcr_banks = sha384\n");
        g_free(text);
        text = read_file(fx, "/etc/swtpm_setup.conf.vtc-saved");
        g_assert_cmpstr(text, ==, debian_swtpm_conf);
        /* the rest is gone, the manifest too: a second uninstall has nothing to do */
        g_assert_nonnull(
            find_change(undone, VTC_HOSTD_INSTALL_REMOVED, "/etc/libvirt/hooks/qemu.d/50-vtc"));
        g_ptr_array_set_size(undone, 0);
        g_assert_false(vtc_hostd_uninstall(&fx->opts, undone, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
}

/* The ownership trap: what swtpm_setup (as tss) needs, made by root first, is given to tss. */
static void
install_ownership_test(Fixture *fx, gconstpointer data)
{
        g_autoptr(GPtrArray) changes = NULL;
        g_autofree gchar *tss_conf_target = NULL;
        g_autofree gchar *tss_config_target = NULL;
        g_autofree gchar *full = NULL;
        VtcHostdInstallChange *c;

        if (fx->root == NULL)
                return;
        if (geteuid() != 0) {
                g_test_skip("owners can be set only as root");
                return;
        }
        tss_config_target = g_build_filename(fx->tss.pw_dir, ".config", NULL);
        tss_conf_target = g_build_filename(tss_config_target, "swtpm_setup.conf", NULL);
        /* root made tss's ~/.config (0700) and the conf in it; root ran swtpm_setup first, so
         * the localca CA key is root's; /run/vtc exists world-readable */
        write_file(fx, tss_conf_target, "active_pcr_banks = sha256\n", 0600);
        full = path_in(fx, tss_config_target);
        g_assert_cmpint(chmod(full, 0700), ==, 0);
        write_file(fx, "/var/lib/swtpm-localca/signkey.pem", "key\n", 0640);
        g_free(full);
        full = path_in(fx, "/var/lib/swtpm-localca");
        g_assert_cmpint(chmod(full, 0750), ==, 0);
        g_assert_cmpint(chown(full, fx->tss.pw_uid, 0), ==, 0);
        write_file(fx, "/run/vtc/stale", "", 0644);
        g_free(full);
        full = path_in(fx, "/run/vtc");
        g_assert_cmpint(chmod(full, 0755), ==, 0);

        changes = install(fx);
        c = find_change(changes, VTC_HOSTD_INSTALL_FIXED, tss_config_target);
        g_assert_nonnull(c);
        assert_stat(fx, tss_config_target, S_IFDIR, 0755, fx->tss.pw_uid, fx->tss.pw_gid);
        assert_stat(fx, tss_conf_target, S_IFREG, 0644, fx->tss.pw_uid, fx->tss.pw_gid);
        g_assert_nonnull(
            find_change(changes, VTC_HOSTD_INSTALL_FIXED, "/var/lib/swtpm-localca/signkey.pem"));
        assert_stat(fx, "/var/lib/swtpm-localca/signkey.pem", S_IFREG, 0640, fx->tss.pw_uid, 0);
        /* the directory was already tss's: left alone */
        g_assert_null(find_change(changes, VTC_HOSTD_INSTALL_FIXED, "/var/lib/swtpm-localca"));
        c = find_change(changes, VTC_HOSTD_INSTALL_FIXED, "/run/vtc");
        g_assert_nonnull(c);
        g_assert_nonnull(strstr(c->detail, "mode 0750 (was 0755)"));
        assert_stat(fx, "/run/vtc", S_IFDIR, 0750, 0, fx->tss.pw_gid);
}

static void
install_errors_test(Fixture *fx, gconstpointer data)
{
        g_autoptr(GPtrArray) changes = NULL;
        g_autofree gchar *empty = NULL;
        g_autofree gchar *after = NULL;
        VtcHostdInstallOptions bad;
        struct {
                const gchar *prefix_root;
                const gchar *hook;
                const gchar *certify;
                const gchar *tss_user;
                const gchar *policy;
                gint code;
        } cases[] = {
            {"relative/root",
             HOOK_PROGRAM,
             CERTIFY_PROGRAM,
             NULL,
             NULL,
             VTC_ERROR_INVALID_ARGUMENT},
            {NULL, "vtc-hook", CERTIFY_PROGRAM, NULL, NULL, VTC_ERROR_INVALID_ARGUMENT},
            {NULL, HOOK_PROGRAM, NULL, NULL, NULL, VTC_ERROR_INVALID_ARGUMENT},
            {NULL, HOOK_PROGRAM, "/usr/bin/x\nmore", NULL, NULL, VTC_ERROR_INVALID_ARGUMENT},
            {NULL,
             HOOK_PROGRAM,
             CERTIFY_PROGRAM,
             NULL,
             "fail_sometimes",
             VTC_ERROR_INVALID_ARGUMENT},
            {NULL, HOOK_PROGRAM, CERTIFY_PROGRAM, "vtc-no-such-user", NULL, VTC_ERROR_NOT_FOUND},
            /* on the real root the programs must exist */
            {"/", "/nonexistent/vtc-hook", CERTIFY_PROGRAM, NULL, NULL, VTC_ERROR_NOT_FOUND},
        };

        if (fx->root == NULL)
                return;
        empty = snapshot(fx);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                bad = fx->opts;
                if (cases[i].prefix_root != NULL)
                        bad.prefix_root = cases[i].prefix_root;
                bad.hook_program = cases[i].hook;
                bad.certify_program = cases[i].certify;
                bad.tss_user = cases[i].tss_user;
                bad.policy = cases[i].policy;
                g_clear_pointer(&changes, g_ptr_array_unref);
                changes = vtc_hostd_install_changes_new();
                g_assert_false(vtc_hostd_install(&bad, changes, &error));
                g_assert_error(error, VTC_ERROR, cases[i].code);
                g_assert_cmpuint(changes->len, ==, 0);
        }
        after = snapshot(fx);
        g_assert_cmpstr(after, ==, empty);

        /* a damaged manifest is refused, naming the line, and nothing is touched */
        {
                g_autoptr(GError) error = NULL;
                g_autofree gchar *before = NULL;
                write_file(fx,
                           "/var/lib/vtc/install.manifest",
                           "dir\t/etc/vtc\nfile\t/etc/x\n",
                           0600);
                before = snapshot(fx);
                g_clear_pointer(&changes, g_ptr_array_unref);
                changes = vtc_hostd_install_changes_new();
                g_assert_false(vtc_hostd_uninstall(&fx->opts, changes, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "line 2"));
                g_free(after);
                after = snapshot(fx);
                g_assert_cmpstr(after, ==, before);
        }
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/hostd-install/fresh",
                   Fixture,
                   NULL,
                   fixture_setup,
                   install_fresh_test,
                   fixture_teardown);
        g_test_add("/hostd-install/saves-site-files",
                   Fixture,
                   NULL,
                   fixture_setup,
                   install_saves_site_files_test,
                   fixture_teardown);
        g_test_add("/hostd-install/site-edits",
                   Fixture,
                   NULL,
                   fixture_setup,
                   install_then_site_edits_test,
                   fixture_teardown);
        g_test_add("/hostd-install/ownership",
                   Fixture,
                   NULL,
                   fixture_setup,
                   install_ownership_test,
                   fixture_teardown);
        g_test_add("/hostd-install/errors",
                   Fixture,
                   NULL,
                   fixture_setup,
                   install_errors_test,
                   fixture_teardown);
        return g_test_run();
}
