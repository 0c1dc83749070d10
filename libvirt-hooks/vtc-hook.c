/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libvirt qemu hook (/etc/libvirt/hooks/qemu.d/50-vtc): tells vtc-hostd about the lifecycle
 * of every domain with an emulated TPM.
 *
 * libvirt's hook rules bind this program: it runs synchronously inside libvirtd, so it answers
 * quickly and calls no libvirt API (a domain call from a hook deadlocks); whatever it prints on
 * stdout for 'migrate' or 'restore' replaces the domain XML, so stdout is /dev/null before
 * anything else happens. The positional arguments are read by hand rather than with
 * GOptionContext because a domain name may begin with '-'.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <glib.h>

#include "vtc-error.h"
#include "vtc-hostd-proto.h"
#include "vtc-util.h"

#define VTC_HOOK_CONFIG_DEFAULT "/etc/vtc/hook.conf"
#define VTC_HOOK_TIMEOUT_MS     5000

#define VTC_HOOK_EXIT_OK     0
#define VTC_HOOK_EXIT_REFUSE 1
#define VTC_HOOK_EXIT_USAGE  2

static const gchar vtc_hook_help[] =
    "NAME\n"
    "  50-vtc (vtc-hook) - libvirt qemu hook that reports vTPM lifecycle events to vtc-hostd\n"
    "\n"
    "SYNOPSIS\n"
    "  /etc/libvirt/hooks/qemu.d/50-vtc DOMAIN EVENT PHASE EXTRA < domain.xml\n"
    "  vtc-hook --help\n"
    "\n"
    "DESCRIPTION\n"
    "  libvirtd runs this program for every QEMU domain lifecycle event, with the domain XML\n"
    "  on standard input. For the events prepare, start, started, stopped, release and\n"
    "  reconnect of a domain that has an emulated TPM (<tpm> with <backend type='emulator'>),\n"
    "  it sends {\"op\":\"hook\",\"event\":...,\"phase\":...,\"domain\":<the XML>} to vtc-hostd over\n"
    "  its local socket and waits for the answer. vtc-hostd records vTPM starts and stops in\n"
    "  the vTPM event log, hands libvirt the key of a protected vTPM at prepare, and finds the\n"
    "  guest's private channel in the live XML at started.\n"
    "\n"
    "  Domains without an emulated TPM, and every other event (migrate, restore, attach, ...),\n"
    "  are left alone: the program exits 0 at once. It never prints anything on standard\n"
    "  output (for migrate and restore libvirt would take it as a replacement domain XML), and\n"
    "  it never calls libvirt. Messages go to standard error, which libvirt shows when a hook\n"
    "  fails (virsh start prints it).\n"
    "\n"
    "ARGUMENTS\n"
    "  DOMAIN  the domain's name; must match <name> in the XML\n"
    "  EVENT   prepare | start | started | stopped | release | reconnect (others are ignored)\n"
    "  PHASE   begin | end | -\n"
    "  EXTRA   libvirt's extra argument ('-'), ignored\n"
    "  stdin   the domain XML, at most 4 MiB\n"
    "\n"
    "FAILURE POLICY\n"
    "  When vtc-hostd cannot be reached within the timeout, refuses the event, or anything\n"
    "  else goes wrong:\n"
    "  - at prepare with policy fail_closed (the default) the program prints one line on\n"
    "    standard error and exits 1: libvirt does not start the domain and shows that line;\n"
    "  - at prepare with policy fail_open it prints a warning and exits 0: the domain starts\n"
    "    without vtc's guarantees;\n"
    "  - at any other event it prints a warning and exits 0: a running or stopping domain is\n"
    "    never failed by vtc.\n"
    "\n"
    "CONFIGURATION\n"
    "  /etc/vtc/hook.conf (another file with VTC_HOOK_CONFIG), 'key = value' lines and '#'\n"
    "  comments, every key optional; an unknown key or a bad value is an error (and so fails\n"
    "  closed at prepare):\n"
    "    policy  = fail_closed | fail_open       (default fail_closed)\n"
    "    timeout = SECONDS                       (default 5; decimals allowed, 0.001 to 3600)\n"
    "    socket  = PATH                          (default " VTC_HOSTD_SOCKET_DEFAULT ")\n"
    "\n"
    "ENVIRONMENT\n"
    "  libvirtd runs hooks with a cleared environment, so these are for testing and manual runs;\n"
    "  each overrides the configuration file.\n"
    "  VTC_HOOK_CONFIG   the configuration file\n"
    "  VTC_HOOK_POLICY   fail_closed | fail_open\n"
    "  VTC_HOOK_TIMEOUT  seconds\n"
    "  VTC_HOSTD_SOCKET  the vtc-hostd socket\n"
    "\n"
    "EXIT STATUS\n"
    "  0  forwarded and accepted, nothing to do, or a failure the policy lets pass\n"
    "  1  a failure at prepare under fail_closed (libvirt does not start the domain)\n"
    "  2  called with the wrong number of arguments\n"
    "\n"
    "EXAMPLE\n"
    "  virsh dumpxml guest1 | VTC_HOOK_POLICY=fail_open \\\n"
    "      /etc/libvirt/hooks/qemu.d/50-vtc guest1 prepare begin -\n"
    "\n"
    "SEE ALSO\n"
    "  vtc-hostd(8), vtc-vtpm-certify(8), https://libvirt.org/hooks.html\n";

typedef enum {
        VTC_HOOK_FAIL_CLOSED,
        VTC_HOOK_FAIL_OPEN,
} VtcHookPolicy;

typedef struct {
        VtcHookPolicy policy;
        guint timeout_ms;
        gchar *socket_path;
} VtcHookConfig;

static void
vtc_hook_config_clear(VtcHookConfig *cfg)
{
        g_clear_pointer(&cfg->socket_path, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcHookConfig, vtc_hook_config_clear)

static gboolean
vtc_hook_policy_parse(const gchar *value, VtcHookPolicy *out, GError **error)
{
        if (g_strcmp0(value, "fail_closed") == 0) {
                *out = VTC_HOOK_FAIL_CLOSED;
                return TRUE;
        }
        if (g_strcmp0(value, "fail_open") == 0) {
                *out = VTC_HOOK_FAIL_OPEN;
                return TRUE;
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "policy '%.32s' is neither fail_closed nor fail_open",
                    value);
        return FALSE;
}

/* Applies one setting; @where names its origin in errors. */
static gboolean
vtc_hook_config_set(VtcHookConfig *cfg,
                    const gchar *key,
                    const gchar *value,
                    const gchar *where,
                    GError **error)
{
        gboolean ok;

        if (g_strcmp0(key, "policy") == 0) {
                ok = vtc_hook_policy_parse(value, &cfg->policy, error);
        } else if (g_strcmp0(key, "timeout") == 0) {
                ok = vtc_hostd_proto_timeout_parse(value, &cfg->timeout_ms, error);
        } else if (g_strcmp0(key, "socket") == 0) {
                ok = value[0] == '/';
                if (ok) {
                        g_free(cfg->socket_path);
                        cfg->socket_path = g_strdup(value);
                } else {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "the socket path must be absolute");
                }
        } else {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "unknown key '%.64s' (policy, timeout, socket)",
                            key);
                ok = FALSE;
        }
        if (!ok)
                g_prefix_error(error, "%s: ", where);
        return ok;
}

/* Defaults, then the configuration file when it exists, then the environment. The policy is
 * settled first (environment, else file), so that a later error still fails the way the
 * administrator asked; when the policy itself cannot be read it stays fail_closed. */
static gboolean
vtc_hook_config_load(VtcHookConfig *cfg, GError **error)
{
        const gchar *path = g_getenv("VTC_HOOK_CONFIG");
        const gchar *env_policy = g_getenv("VTC_HOOK_POLICY");
        g_autoptr(GHashTable) table = NULL;
        const struct {
                const gchar *env;
                const gchar *key;
        } envs[] = {
            {"VTC_HOOK_TIMEOUT", "timeout"},
            {"VTC_HOSTD_SOCKET", "socket"},
        };

        cfg->policy = VTC_HOOK_FAIL_CLOSED;
        cfg->timeout_ms = VTC_HOOK_TIMEOUT_MS;
        cfg->socket_path = g_strdup(VTC_HOSTD_SOCKET_DEFAULT);
        if (env_policy != NULL &&
            !vtc_hook_config_set(cfg, "policy", env_policy, "VTC_HOOK_POLICY", error))
                return FALSE;
        if (path == NULL)
                path = VTC_HOOK_CONFIG_DEFAULT;
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
                g_autoptr(GBytes) data = vtc_file_read(path, 64 * 1024, error);
                const gchar *policy;
                GHashTableIter iter;
                gpointer key;
                gpointer value;

                if (data == NULL)
                        return FALSE;
                table = vtc_hostd_proto_conf_parse(g_bytes_get_data(data, NULL),
                                                   g_bytes_get_size(data),
                                                   path,
                                                   error);
                if (table == NULL)
                        return FALSE;
                policy = g_hash_table_lookup(table, "policy");
                if (env_policy == NULL && policy != NULL &&
                    !vtc_hook_config_set(cfg, "policy", policy, path, error))
                        return FALSE;
                g_hash_table_iter_init(&iter, table);
                while (g_hash_table_iter_next(&iter, &key, &value)) {
                        if (g_strcmp0(key, "policy") == 0)
                                continue;
                        if (!vtc_hook_config_set(cfg, key, value, path, error))
                                return FALSE;
                }
        }
        for (guint i = 0; i < G_N_ELEMENTS(envs); i++) {
                const gchar *value = g_getenv(envs[i].env);
                if (value != NULL &&
                    !vtc_hook_config_set(cfg, envs[i].key, value, envs[i].env, error))
                        return FALSE;
        }
        return TRUE;
}

/* Reads all of stdin: at most VTC_HOSTD_DOMAIN_XML_MAX bytes, before @deadline. */
static gchar *
vtc_hook_read_stdin(gint64 deadline, gsize *out_len, GError **error)
{
        g_autoptr(GByteArray) buf = g_byte_array_new();
        guint8 chunk[65536];

        for (;;) {
                gint64 now = g_get_monotonic_time();
                struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
                ssize_t n;
                int r;

                if (now >= deadline) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TIMEOUT,
                                            "timed out reading the domain XML on stdin");
                        return NULL;
                }
                r = poll(&p, 1, (int)MIN((deadline - now + 999) / 1000, G_MAXINT));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0)
                        continue;
                if (r < 0 || (p.revents & POLLNVAL) != 0) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_IO,
                                            "cannot read the domain XML: stdin is not open");
                        return NULL;
                }
                n = read(STDIN_FILENO, chunk, sizeof(chunk));
                if (n < 0) {
                        int e = errno;
                        if (e == EINTR || e == EAGAIN)
                                continue;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "reading the domain XML on stdin: %s",
                                    g_strerror(e));
                        return NULL;
                }
                if (n == 0)
                        break;
                if (buf->len + (gsize)n > VTC_HOSTD_DOMAIN_XML_MAX) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "the domain XML on stdin is over %d bytes",
                                    VTC_HOSTD_DOMAIN_XML_MAX);
                        return NULL;
                }
                g_byte_array_append(buf, chunk, (guint)n);
        }
        *out_len = buf->len;
        g_byte_array_append(buf, (const guint8 *)"", 1);
        return (gchar *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
}

/*
 * Forwards one event. *out_forwarded says whether hostd was told (FALSE for a domain without an
 * emulated TPM, which is not an error).
 */
static gboolean
vtc_hook_forward(const gchar *name,
                 VtcHostdEvent event,
                 const gchar *phase_str,
                 const VtcHookConfig *cfg,
                 gboolean *out_forwarded,
                 GError **error)
{
        gint64 deadline = g_get_monotonic_time() + (gint64)cfg->timeout_ms * 1000;
        VtcHostdPhase phase;
        gsize len = 0;
        g_autofree gchar *xml = NULL;
        g_autoptr(VtcHostdDomain) domain = NULL;
        g_autofree gchar *request = NULL;
        g_autoptr(GBytes) payload = NULL;
        g_autoptr(VtcHostdAnswer) answer = NULL;
        gint64 remaining_ms;

        if (!vtc_hostd_phase_from_string(phase_str, &phase)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "unknown phase '%.32s' (begin, end or -)",
                            phase_str);
                return FALSE;
        }
        xml = vtc_hook_read_stdin(deadline, &len, error);
        if (xml == NULL)
                return FALSE;
        domain = vtc_hostd_domain_parse(xml, len, error);
        if (domain == NULL)
                return FALSE;
        if (!domain->has_tpm) {
                *out_forwarded = FALSE;
                return TRUE;
        }
        if (g_strcmp0(domain->name, name) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the domain XML on stdin is for '%s', not '%s'",
                            domain->name,
                            name);
                return FALSE;
        }
        request = vtc_hostd_request_hook_to_json(event, phase, xml, error);
        if (request == NULL)
                return FALSE;
        /* one deadline for the whole hook: what reading stdin took is not given again */
        remaining_ms = MAX((deadline - g_get_monotonic_time()) / 1000, 1);
        payload = vtc_hostd_proto_call(cfg->socket_path,
                                       request,
                                       strlen(request),
                                       (guint)MIN(remaining_ms, G_MAXUINT),
                                       error);
        if (payload == NULL)
                return FALSE;
        answer = vtc_hostd_answer_parse(g_bytes_get_data(payload, NULL),
                                        g_bytes_get_size(payload),
                                        error);
        if (answer == NULL) {
                g_prefix_error(error, "vtc-hostd's answer: ");
                return FALSE;
        }
        if (!vtc_hostd_answer_check(answer, error))
                return FALSE;
        *out_forwarded = TRUE;
        return TRUE;
}

/* One line, whatever the message holds: libvirt shows it as is. */
static gchar *
vtc_hook_one_line(const gchar *text)
{
        gchar *line = g_strdup(text);

        for (gchar *p = line; *p != '\0'; p++) {
                if ((guchar)*p < 0x20 || *p == 0x7f)
                        *p = ' ';
        }
        return line;
}

static int
vtc_hook_run(const gchar *name, const gchar *event_str, const gchar *phase_str)
{
        g_auto(VtcHookConfig) cfg = {0};
        g_autoptr(GError) error = NULL;
        g_autofree gchar *safe_name = vtc_hook_one_line(name);
        g_autofree gchar *message = NULL;
        VtcHostdEvent event;
        gboolean forwarded = FALSE;

        /* migrate, restore, attach and whatever libvirt adds later: not ours */
        if (!vtc_hostd_event_from_string(event_str, &event))
                return VTC_HOOK_EXIT_OK;

        if (vtc_hook_config_load(&cfg, &error) &&
            vtc_hook_forward(name, event, phase_str, &cfg, &forwarded, &error))
                return VTC_HOOK_EXIT_OK;

        message = vtc_hook_one_line(error->message);
        if (event == VTC_HOSTD_EVENT_PREPARE && cfg.policy == VTC_HOOK_FAIL_CLOSED) {
                g_printerr("vtc: refusing to start domain '%s' (vtc hook policy fail_closed): %s\n",
                           safe_name,
                           message);
                return VTC_HOOK_EXIT_REFUSE;
        }
        if (event == VTC_HOSTD_EVENT_PREPARE) {
                g_printerr("vtc: warning: domain '%s' starts without vtc (vtc hook policy "
                           "fail_open): %s\n",
                           safe_name,
                           message);
                return VTC_HOOK_EXIT_OK;
        }
        g_printerr("vtc: warning: '%s %.16s' of domain '%s' was not recorded by vtc-hostd: %s\n",
                   event_str,
                   phase_str,
                   safe_name,
                   message);
        return VTC_HOOK_EXIT_OK;
}

/* Points stdout at /dev/null so that nothing can ever reach libvirt through it. */
static void
vtc_hook_silence_stdout(void)
{
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return;
        if (fd != STDOUT_FILENO) {
                dup2(fd, STDOUT_FILENO);
                close(fd);
        }
}

int
main(int argc, char **argv)
{
        if (argc == 2 && (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0)) {
                fputs(vtc_hook_help, stdout);
                return fflush(stdout) == 0 ? VTC_HOOK_EXIT_OK : VTC_HOOK_EXIT_USAGE;
        }
        vtc_hook_silence_stdout();
        g_log_writer_default_set_use_stderr(TRUE);
        if (argc != 5) {
                g_printerr("vtc: usage: %s DOMAIN EVENT PHASE EXTRA < domain.xml (see --help)\n",
                           argc > 0 ? argv[0] : "50-vtc");
                return VTC_HOOK_EXIT_USAGE;
        }
        return vtc_hook_run(argv[1], argv[2], argv[3]);
}
