/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-verifier-round.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>

#include "vtc-channel.h"
#include "vtc-ekcert.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"
#include "vtc-verifier-check.h"

/* rounds that end INCOMPLETE (a log said "more") run again at once, at most this many times in a
 * row before waiting for the next interval */
#define VTC_ROUND_MAX_CONTINUATIONS 64
#define VTC_ROUND_TICK_MS           20
#define VTC_ROUND_N_REASONS         64
#define VTC_ROUND_N_BUCKETS         15
/* requests to one direct-mode agent at once (it serves one round at a time anyway) */
#define VTC_ROUND_AGENT_CONNS 2
/* rounds in one POST /v1/rounds at most (hostd's own limit) */
#define VTC_ROUND_BATCH_MAX 64
/* VMs of one host start their rounds on a grid of interval / VTC_ROUND_GRID_SLOTS */
#define VTC_ROUND_GRID_SLOTS 4

static const gdouble vtc_round_buckets[VTC_ROUND_N_BUCKETS] =
    {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

typedef struct {
        guint64 counts[VTC_ROUND_N_BUCKETS + 1];
        gdouble sum;
        guint64 n;
} VtcRoundHistogram;

typedef enum {
        VTC_ROUND_STEP_AGENT,       /* registrar GET /v1/agents/{uuid} */
        VTC_ROUND_STEP_HOST,        /* registrar GET /v1/hosts/{id} */
        VTC_ROUND_STEP_ROUND,       /* hostd POST /v1/round */
        VTC_ROUND_STEP_AGENT_ROUND, /* agent POST /v1/round (direct) */
        VTC_ROUND_STEP_BIND,        /* hostd POST /v1/bind (direct) */
} VtcRoundStep;

typedef struct _VtcRoundVm VtcRoundVm;
typedef struct _VtcRoundBatch VtcRoundBatch;

/*
 * One peer (scheme://host:port): the registrar, a hostd, a direct-mode agent. libsoup 3.2
 * re-examines every queued message against every connection of its host each time it runs its
 * queue (an idle TLS connection is probed with a non-blocking read per look), so messages that
 * wait inside libsoup for a connection cost (waiting messages x connections) per completion and
 * the loop collapses past a few hundred VMs. So libsoup never holds more requests for a peer
 * than it may open connections to it: the rest wait here, FIFO per peer, and peers with work
 * take the global slots ([rounds] max_in_flight) in turn. A request that waited longer than the
 * timeout is not sent (the peer is slow or down): its VM is unreachable for this round, so a
 * dead hostd costs its own VMs one timeout and never holds the others' slots.
 */
typedef struct {
        gchar *key;
        SoupSession *session;
        guint limit;    /* requests inside libsoup at once (= its max-conns-per-host) */
        guint active;   /* requests inside libsoup now */
        GQueue waiting; /* VtcRoundVm, linked through vm->lane_link */
        gboolean ready; /* in loop->ready */
} VtcRoundLane;

struct _VtcVerifierRound {
        VtcVerifierRoundConfig config;
        gchar *registrar_url;
        gchar *hostd_url_template;
        GHashTable *hostd_hosts; /* id -> url */
        VtcVerifierStore *store;
        VtcVerifierWebhook *webhook;
        GTlsDatabase *tls_db; /* the CA of the registrar, hostds and agents */
        GTlsCertificate *client_cert;
        GHashTable *vms;      /* uuid -> VtcRoundVm */
        GSequence *queue;     /* VtcRoundVm by due time */
        GHashTable *policies; /* sha256 hex of the texts -> VtcVerifierPolicy */
        GHashTable *hosts;    /* host id -> VtcVerifierHost */
        /* clone index: "ek hex" -> GHashTable of "host\nuuid" (running), per host the next
         * vTPM log seq not yet applied */
        GHashTable *ek_index; /* "ek hex" -> GPtrArray of "host\nuuid" (borrowed from who_ek) */
        GHashTable *who_ek;   /* "host\nuuid" -> "ek hex" (borrowed key of ek_index) */
        GHashTable *host_next_seq; /* host id -> guint64* */
        guint tick_id;
        guint flush_id;
        guint in_flight;   /* rounds started, waiting for a slot or for their answer */
        guint active;      /* requests inside libsoup */
        GHashTable *lanes; /* "scheme://host:port" -> VtcRoundLane */
        GQueue ready;      /* lanes with waiting requests and a free slot of their own */
        VtcRoundLane *registrar_lane;
        guint64 stale_requests;
        gboolean starting;       /* in the tick: queue the rounds due, send them after */
        guint64 batches;         /* POST /v1/rounds sent */
        guint tasks;             /* batches in check threads */
        GThreadPool *check_pool; /* one check thread per processor */
        GMutex index_lock;       /* the clone index: written here, read by check threads */
        guint64 batched;         /* rounds in them */
        /* persistence */
        GHashTable *dirty;  /* uuid -> VtcRoundVm (ref) */
        GPtrArray *events;  /* VtcVerifierStoreEvent waiting to be written */
        GArray *deliveries; /* VtcRoundDelivery waiting to be written */
        gboolean flushing;
        gboolean flush_soon;
        /* metrics */
        guint64 rounds_pass;
        guint64 rounds_fail;
        guint64 rounds_unreachable;
        guint64 rounds_incomplete;
        guint64 verdicts[VTC_ROUND_N_REASONS];
        guint64 flush_errors;
        VtcRoundHistogram round_hist;
        VtcRoundHistogram check_hist;
        gboolean closing;
};

struct _VtcRoundVm {
        gint refs;
        VtcVerifierRound *loop;
        VtcVerifierStoreVm *rec; /* the live record, without policies */
        VtcVerifierPolicy *policy;
        VtcVerifierPolicy *host_policy;
        VtcVerifierVm *check; /* NULL until the identity is known */
        gchar *host_id;
        gchar *hostd_url;
        VtcRoundLane *hostd_lane;
        GBytes *tls_cert; /* DER, for pinning in direct mode */
        /* the request of the current step while it waits in its lane */
        VtcRoundLane *lane; /* waiting in it (not sent) or sent through it */
        GList lane_link;
        gboolean sent;
        gint64 queued_us;
        const gchar *req_method;
        gchar *req_url;
        gchar *req_body;
        VtcRoundBatch *batch; /* sent in this batch, until its answer */
        gboolean checking;    /* a check thread has its round's evidence */
        GBytes *state_text;   /* the check state as a check thread serialised it after the
                               * last round, until the flush takes it or a round starts */
        GSequenceIter *iter;
        gint64 due_us; /* monotonic */
        guint backoff_ms;
        gboolean in_flight;
        gboolean removed;
        VtcRoundStep step;
        GCancellable *cancel;
        guint deadline_id;
        guint8 nonce[VTC_CHANNEL_NONCE_SIZE];
        JsonObject *guest; /* direct mode: the agent's evidence, until bind answers */
        gint64 start_us;
        guint continuations;
};

/*
 * Rounds through one hostd, sent together as one POST /v1/rounds: one HTTPS request, one host
 * quote (hostd batches the bindings) and one host-quote signature check for up to
 * [rounds] batch_max VMs. Each answer in it is what /v1/round would have answered alone.
 */
struct _VtcRoundBatch {
        VtcVerifierRound *loop;
        VtcRoundLane *lane;
        GPtrArray *vms; /* VtcRoundVm, each a reference */
        GCancellable *cancel;
        guint deadline_id;
};

typedef struct {
        gint64 seq;
        gint64 delivered;
        gint64 undelivered;
} VtcRoundDelivery;

static void vtc_round_start(VtcRoundVm *vm);
static void vtc_round_schedule(VtcRoundVm *vm, guint delay_ms);
static void vtc_round_flush_start(VtcVerifierRound *self);
static void vtc_round_pump(VtcVerifierRound *self);
static void vtc_round_no_evidence(VtcRoundVm *vm, const gchar *reason, const gchar *message);

/* ---- small helpers ------------------------------------------------------------------------ */

static VtcRoundVm *
vtc_round_vm_ref(VtcRoundVm *vm)
{
        vm->refs++;
        return vm;
}

static void
vtc_round_vm_unref(VtcRoundVm *vm)
{
        if (--vm->refs > 0)
                return;
        vtc_verifier_store_vm_free(vm->rec);
        g_clear_pointer(&vm->policy, vtc_verifier_policy_unref);
        g_clear_pointer(&vm->host_policy, vtc_verifier_policy_unref);
        g_clear_pointer(&vm->check, vtc_verifier_vm_free);
        g_free(vm->host_id);
        g_free(vm->hostd_url);
        g_free(vm->req_url);
        g_free(vm->req_body);
        g_clear_pointer(&vm->tls_cert, g_bytes_unref);
        g_clear_object(&vm->cancel);
        g_clear_pointer(&vm->guest, json_object_unref);
        g_clear_pointer(&vm->state_text, g_bytes_unref);
        g_free(vm);
}

static void
vtc_round_set_str(gchar **field, const gchar *value)
{
        if (g_strcmp0(*field, value) == 0)
                return;
        g_free(*field);
        *field = g_strdup(value);
}

static gchar *
vtc_round_sha256_hex(const guint8 *data, gsize len)
{
        guint8 md[32];

        EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
        return vtc_hex_encode(md, sizeof(md));
}

static void
vtc_round_hist_add(VtcRoundHistogram *h, gdouble v)
{
        guint i = 0;

        while (i < VTC_ROUND_N_BUCKETS && v > vtc_round_buckets[i])
                i++;
        h->counts[i]++;
        h->sum += v;
        h->n++;
}

static void
vtc_round_hist_append(GString *out, const gchar *name, const gchar *help, VtcRoundHistogram *h)
{
        guint64 cum = 0;

        g_string_append_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
        for (guint i = 0; i < VTC_ROUND_N_BUCKETS; i++) {
                cum += h->counts[i];
                g_string_append_printf(out,
                                       "%s_bucket{le=\"%g\"} %" G_GUINT64_FORMAT "\n",
                                       name,
                                       vtc_round_buckets[i],
                                       cum);
        }
        cum += h->counts[VTC_ROUND_N_BUCKETS];
        g_string_append_printf(out, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, cum);
        g_string_append_printf(out, "%s_sum %.6f\n", name, h->sum);
        g_string_append_printf(out, "%s_count %" G_GUINT64_FORMAT "\n", name, h->n);
}

/* ---- policies ----------------------------------------------------------------------------- */

/* The boot form of a policy object; a host policy may also carry "runtime_policy". */
static VtcVerifierPolicy *
vtc_round_policy_parse(const gchar *runtime_text, const gchar *boot_text, GError **error)
{
        g_autoptr(VtcVerifierPolicy) policy = vtc_verifier_policy_new();
        VtcJsonLimits limits = {VTC_RUNTIME_POLICY_MAX_SIZE,
                                32,
                                VTC_RUNTIME_POLICY_MAX_SIZE,
                                1000000};

        if (boot_text != NULL) {
                g_autoptr(JsonObject) obj =
                    vtc_json_parse_object(boot_text, strlen(boot_text), &limits, error);
                JsonNode *rt = NULL;
                g_autofree gchar *rt_text = NULL;

                if (obj == NULL)
                        return NULL;
                rt = json_object_get_member(obj, "runtime_policy");
                if (rt != NULL && runtime_text == NULL) {
                        if (JSON_NODE_HOLDS_VALUE(rt) &&
                            json_node_get_value_type(rt) == G_TYPE_STRING)
                                rt_text = g_strdup(json_node_get_string(rt));
                        else if (JSON_NODE_HOLDS_OBJECT(rt))
                                rt_text = vtc_json_node_to_string(rt);
                        else {
                                g_set_error_literal(error,
                                                    VTC_ERROR,
                                                    VTC_ERROR_INVALID_DATA,
                                                    "runtime_policy: not an object or a string");
                                return NULL;
                        }
                        json_object_remove_member(obj, "runtime_policy");
                        {
                                VtcRuntimePolicy *rp =
                                    vtc_runtime_policy_new_from_json(rt_text,
                                                                     strlen(rt_text),
                                                                     error);
                                if (rp == NULL) {
                                        g_prefix_error(error, "runtime_policy: ");
                                        return NULL;
                                }
                                vtc_verifier_policy_set_runtime(policy, rp);
                        }
                }
                if (!vtc_verifier_policy_set_boot_from_json(policy, obj, error))
                        return NULL;
        }
        if (runtime_text != NULL) {
                VtcRuntimePolicy *rp =
                    vtc_runtime_policy_new_from_json(runtime_text, strlen(runtime_text), error);
                if (rp == NULL) {
                        g_prefix_error(error, "runtime_policy: ");
                        return NULL;
                }
                vtc_verifier_policy_set_runtime(policy, rp);
        }
        return g_steal_pointer(&policy);
}

/* One parsed policy per distinct text: 10,000 VMs with one policy share one object. @self NULL:
 * parsed only, not kept. */
static VtcVerifierPolicy *
vtc_round_policy_get(VtcVerifierRound *self,
                     const gchar *runtime_text,
                     const gchar *boot_text,
                     GError **error)
{
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        g_autofree gchar *key = NULL;
        VtcVerifierPolicy *policy;

        if (self == NULL)
                return vtc_round_policy_parse(runtime_text, boot_text, error);
        g_checksum_update(sum, (const guchar *)(runtime_text != NULL ? "R" : "-"), 1);
        if (runtime_text != NULL)
                g_checksum_update(sum,
                                  (const guchar *)runtime_text,
                                  (gssize)strlen(runtime_text) + 1);
        g_checksum_update(sum, (const guchar *)(boot_text != NULL ? "B" : "-"), 1);
        if (boot_text != NULL)
                g_checksum_update(sum, (const guchar *)boot_text, (gssize)strlen(boot_text) + 1);
        key = g_strdup(g_checksum_get_string(sum));
        policy = g_hash_table_lookup(self->policies, key);
        if (policy != NULL)
                return vtc_verifier_policy_ref(policy);
        policy = vtc_round_policy_parse(runtime_text, boot_text, error);
        if (policy == NULL)
                return NULL;
        g_hash_table_insert(self->policies, g_steal_pointer(&key), vtc_verifier_policy_ref(policy));
        return policy;
}

gboolean
vtc_verifier_round_prepare_policies(VtcVerifierRound *self,
                                    const gchar *runtime_policy,
                                    const gchar *boot_policy,
                                    const gchar *host_policy,
                                    GError **error)
{
        g_autoptr(VtcVerifierPolicy) guest =
            vtc_round_policy_get(self, runtime_policy, boot_policy, error);
        g_autoptr(VtcVerifierPolicy) host = NULL;

        if (guest == NULL) {
                if (boot_policy != NULL)
                        g_prefix_error(error, "guest policy: ");
                return FALSE;
        }
        if (host_policy == NULL)
                return TRUE;
        host = vtc_round_policy_get(self, NULL, host_policy, error);
        if (host == NULL) {
                g_prefix_error(error, "host_policy: ");
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_verifier_round_check_policies(const gchar *runtime_policy,
                                  const gchar *boot_policy,
                                  const gchar *host_policy,
                                  GError **error)
{
        return vtc_verifier_round_prepare_policies(NULL,
                                                   runtime_policy,
                                                   boot_policy,
                                                   host_policy,
                                                   error);
}

/* ---- the clone index ---------------------------------------------------------------------- */

/* Forgets where @who ran (its EK's entry goes with its last VM). */
static void
vtc_round_index_forget(VtcVerifierRound *self, const gchar *who)
{
        gpointer key = NULL;
        gpointer ek = NULL;
        GPtrArray *set;

        if (!g_hash_table_lookup_extended(self->who_ek, who, &key, &ek))
                return;
        set = g_hash_table_lookup(self->ek_index, ek);
        if (set != NULL) {
                g_ptr_array_remove_fast(set, key);
                if (set->len == 0)
                        g_hash_table_remove(self->ek_index, ek);
        }
        g_hash_table_remove(self->who_ek, who);
}

static void
vtc_round_index_events(VtcVerifierRound *self, const gchar *host_id, GPtrArray *events)
{
        guint64 *next = g_hash_table_lookup(self->host_next_seq, host_id);
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = NULL;

        if (events == NULL)
                return;
        locker = g_mutex_locker_new(&self->index_lock);
        if (next == NULL) {
                next = g_new0(guint64, 1);
                g_hash_table_insert(self->host_next_seq, g_strdup(host_id), next);
        }
        for (guint i = 0; i < events->len; i++) {
                VtcVtpmLogEntry *e = g_ptr_array_index(events, i);
                g_autofree gchar *who = NULL;

                /* VMs at different positions of the same host log see the same entries:
                 * each is applied once, in log order */
                if (e->seq < *next)
                        continue;
                *next = e->seq + 1;
                if (e->uuid == NULL)
                        continue;
                who = g_strdup_printf("%s\n%s", host_id, e->uuid);
                /* a VM (re)started, maybe with another EK, or stopped: forget where it ran */
                vtc_round_index_forget(self, who);
                if (e->type == VTC_VTPM_LOG_VTPM_START) {
                        g_autofree gchar *ek = vtc_hex_encode(e->ek_sha256, sizeof(e->ek_sha256));
                        gpointer ek_key = NULL;
                        gpointer set = NULL;

                        if (!g_hash_table_lookup_extended(self->ek_index, ek, &ek_key, &set)) {
                                ek_key = g_steal_pointer(&ek);
                                set = g_ptr_array_new();
                                g_hash_table_insert(self->ek_index, ek_key, set);
                        }
                        g_ptr_array_add(set, who);
                        g_hash_table_insert(self->who_ek, g_steal_pointer(&who), ek_key);
                }
        }
}

static gboolean
vtc_round_clone_cb(const guint8 ek_sha256[32],
                   const gchar *uuid,
                   const gchar *host_id,
                   gchar **out_where,
                   gpointer user_data)
{
        VtcVerifierRound *self = user_data;
        g_autofree gchar *ek = vtc_hex_encode(ek_sha256, 32);
        g_autofree gchar *me = g_strdup_printf("%s\n%s", host_id, uuid);
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->index_lock);
        GPtrArray *set = g_hash_table_lookup(self->ek_index, ek);

        if (set == NULL)
                return FALSE;
        for (guint i = 0; i < set->len; i++) {
                const gchar *who = g_ptr_array_index(set, i);
                const gchar *nl = strchr(who, '\n');
                if (g_strcmp0(who, me) == 0 || nl == NULL)
                        continue;
                *out_where = g_strdup_printf("VM %s on %.*s", nl + 1, (int)(nl - who), who);
                return TRUE;
        }
        return FALSE;
}

/* ---- persistence -------------------------------------------------------------------------- */

static void
vtc_round_mark_dirty(VtcRoundVm *vm)
{
        VtcVerifierRound *self = vm->loop;

        if (vm->removed)
                return;
        if (!g_hash_table_contains(self->dirty, vm->rec->uuid))
                g_hash_table_insert(self->dirty, vm->rec->uuid, vtc_round_vm_ref(vm));
}

static void
vtc_round_add_event(VtcRoundVm *vm,
                    const gchar *kind,
                    const gchar *evidence_digest,
                    const gchar *event,
                    const gchar *signature)
{
        VtcVerifierStoreEvent *ev = g_new0(VtcVerifierStoreEvent, 1);

        ev->uuid = g_strdup(vm->rec->uuid);
        ev->time = g_get_real_time() / G_USEC_PER_SEC;
        ev->kind = g_strdup(kind);
        ev->state = g_strdup(vm->rec->state);
        ev->result = g_strdup(vm->rec->last_result);
        ev->reason = g_strdup(vm->rec->reason);
        ev->message = g_strdup(vm->rec->message);
        ev->placement = g_strdup(vm->rec->placement);
        ev->evidence_digest = g_strdup(evidence_digest);
        ev->event = g_strdup(event);
        ev->signature = g_strdup(signature);
        g_ptr_array_add(vm->loop->events, ev);
}

typedef struct {
        VtcVerifierStore *store;
        GPtrArray *vms;    /* VtcVerifierStoreVm copies */
        GPtrArray *events; /* VtcVerifierStoreEvent */
        GArray *deliveries;
        GError *error;
} VtcRoundFlush;

static void
vtc_round_flush_free(VtcRoundFlush *f)
{
        g_ptr_array_unref(f->vms);
        g_ptr_array_unref(f->events);
        g_array_unref(f->deliveries);
        g_clear_error(&f->error);
        g_free(f);
}

static gboolean
vtc_round_flush_run(VtcRoundFlush *f)
{
        if (!vtc_verifier_store_update(f->store, f->vms, f->events, &f->error))
                return FALSE;
        for (guint i = 0; i < f->deliveries->len; i++) {
                VtcRoundDelivery *d = &g_array_index(f->deliveries, VtcRoundDelivery, i);
                g_autoptr(GError) error_local = NULL;
                /* an event deleted with its VM is fine */
                vtc_verifier_store_set_delivery(f->store,
                                                d->seq,
                                                d->delivered,
                                                d->undelivered,
                                                &error_local);
        }
        return TRUE;
}

static void
vtc_round_flush_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
        vtc_round_flush_run(data);
        g_task_return_boolean(task, TRUE);
}

static VtcRoundFlush *
vtc_round_flush_take(VtcVerifierRound *self)
{
        VtcRoundFlush *f = g_new0(VtcRoundFlush, 1);
        GHashTableIter it;
        gpointer v;

        f->store = self->store;
        f->vms = g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_vm_free);
        g_hash_table_iter_init(&it, self->dirty);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                VtcRoundVm *vm = v;
                VtcVerifierStoreVm *copy;
                /* a check thread is changing its state now: it waits for the next flush */
                if (vm->checking)
                        continue;
                if (!vm->removed) {
                        copy = vtc_verifier_store_vm_copy(vm->rec);
                        /* the check library's committed state, serialised only now: the loop
                         * keeps none of its text between flushes */
                        if (vm->state_text != NULL) {
                                g_clear_pointer(&copy->check_state, g_bytes_unref);
                                copy->check_state = g_steal_pointer(&vm->state_text);
                        } else if (vm->check != NULL) {
                                gchar *state = vtc_verifier_vm_save_state(vm->check);
                                g_clear_pointer(&copy->check_state, g_bytes_unref);
                                copy->check_state = g_bytes_new_take(state, strlen(state));
                        }
                        g_ptr_array_add(f->vms, copy);
                }
                /* last: the table's reference may be the VM's last */
                g_hash_table_iter_remove(&it);
        }
        f->events = g_steal_pointer(&self->events);
        self->events =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_event_free);
        f->deliveries = g_steal_pointer(&self->deliveries);
        self->deliveries = g_array_new(FALSE, FALSE, sizeof(VtcRoundDelivery));
        return f;
}

typedef struct {
        VtcVerifierRound *self;
        gint64 seq;
} VtcRoundDeliveryCtx;

static void
vtc_round_delivered_cb(guint delivered, guint undelivered, gpointer user_data)
{
        VtcRoundDeliveryCtx *ctx = user_data;
        VtcRoundDelivery d = {ctx->seq, delivered, undelivered};

        if (!ctx->self->closing) {
                g_array_append_val(ctx->self->deliveries, d);
                ctx->self->flush_soon = TRUE;
        }
        g_free(ctx);
}

/* After a successful write: the failed verdicts are durable, send their revocation events. */
static void
vtc_round_flush_finished(VtcVerifierRound *self, VtcRoundFlush *f)
{
        if (f->error != NULL) {
                /* put everything back; the next flush tries again */
                self->flush_errors++;
                g_warning("vtc-verifier: saving state: %s", f->error->message);
                for (guint i = 0; i < f->vms->len; i++) {
                        VtcVerifierStoreVm *rec = g_ptr_array_index(f->vms, i);
                        VtcRoundVm *vm = g_hash_table_lookup(self->vms, rec->uuid);
                        if (vm != NULL)
                                vtc_round_mark_dirty(vm);
                }
                g_ptr_array_extend_and_steal(self->events, g_ptr_array_ref(f->events));
                g_ptr_array_set_size(f->events, 0);
                g_array_append_vals(self->deliveries, f->deliveries->data, f->deliveries->len);
                return;
        }
        for (guint i = 0; i < f->events->len; i++) {
                VtcVerifierStoreEvent *ev = g_ptr_array_index(f->events, i);
                VtcRoundDeliveryCtx *ctx;

                if (g_strcmp0(ev->kind, "revocation") != 0 || ev->seq == 0 || self->closing)
                        continue;
                ctx = g_new0(VtcRoundDeliveryCtx, 1);
                ctx->self = self;
                ctx->seq = ev->seq;
                vtc_verifier_webhook_deliver(self->webhook,
                                             ev->event,
                                             ev->signature,
                                             vtc_round_delivered_cb,
                                             ctx);
        }
}

static void
vtc_round_flush_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcVerifierRound *self = user_data;
        VtcRoundFlush *f = g_task_get_task_data(G_TASK(res));

        self->flushing = FALSE;
        vtc_round_flush_finished(self, f);
}

static void
vtc_round_flush_start(VtcVerifierRound *self)
{
        g_autoptr(GTask) task = NULL;

        if (self->flushing || (g_hash_table_size(self->dirty) == 0 && self->events->len == 0 &&
                               self->deliveries->len == 0))
                return;
        self->flushing = TRUE;
        self->flush_soon = FALSE;
        task = g_task_new(NULL, NULL, vtc_round_flush_done_cb, self);
        g_task_set_task_data(task,
                             vtc_round_flush_take(self),
                             (GDestroyNotify)vtc_round_flush_free);
        g_task_run_in_thread(task, vtc_round_flush_thread);
}

static gboolean
vtc_round_flush_cb(gpointer user_data)
{
        vtc_round_flush_start(user_data);
        return G_SOURCE_CONTINUE;
}

gboolean
vtc_verifier_round_flush(VtcVerifierRound *self, GError **error)
{
        VtcRoundFlush *f;
        gboolean ok;

        /* a flush running in its thread finishes first */
        while (self->flushing)
                g_main_context_iteration(NULL, TRUE);
        f = vtc_round_flush_take(self);
        ok = vtc_round_flush_run(f);
        if (!ok && error != NULL)
                *error = g_error_copy(f->error);
        vtc_round_flush_finished(self, f);
        vtc_round_flush_free(f);
        return ok;
}

/* ---- scheduling --------------------------------------------------------------------------- */

static gint
vtc_round_due_cmp(gconstpointer a, gconstpointer b, gpointer user_data)
{
        const VtcRoundVm *x = a;
        const VtcRoundVm *y = b;

        if (x->due_us != y->due_us)
                return x->due_us < y->due_us ? -1 : 1;
        return x < y ? -1 : (x > y ? 1 : 0);
}

static void
vtc_round_schedule(VtcRoundVm *vm, guint delay_ms)
{
        if (vm->removed || g_strcmp0(vm->rec->state, "failed") == 0)
                return;
        if (vm->iter != NULL)
                g_sequence_remove(vm->iter);
        vm->due_us = g_get_monotonic_time() + (gint64)delay_ms * 1000;
        vm->iter = g_sequence_insert_sorted(vm->loop->queue, vm, vtc_round_due_cmp, NULL);
}

static gboolean
vtc_round_tick_cb(gpointer user_data)
{
        VtcVerifierRound *self = user_data;
        gint64 now = g_get_monotonic_time();

        /* the rounds that start together are queued first and then sent, so that the rounds
         * of one hostd go in one batch */
        self->starting = TRUE;
        while (!g_sequence_is_empty(self->queue)) {
                GSequenceIter *first = g_sequence_get_begin_iter(self->queue);
                VtcRoundVm *vm = g_sequence_get(first);

                if (vm->due_us > now)
                        break;
                g_sequence_remove(first);
                vm->iter = NULL;
                vtc_round_start(vm);
        }
        self->starting = FALSE;
        vtc_round_pump(self);
        if (self->flush_soon)
                vtc_round_flush_start(self);
        return G_SOURCE_CONTINUE;
}

/*
 * The delay to a VM's next regular round. Through a hostd (with batches), it goes on its host's
 * grid: points interval / VTC_ROUND_GRID_SLOTS apart, at a phase of the host's own, so that the
 * host's VMs start together and travel in one batch under one host quote. The nearest grid
 * point to the plain due time, never in the past: one round per interval on average.
 */
static guint
vtc_round_next_delay(VtcRoundVm *vm, guint delay_ms)
{
        VtcVerifierRound *self = vm->loop;
        gint64 slot = self->config.interval_ms / VTC_ROUND_GRID_SLOTS;
        gint64 now_ms;
        gint64 due;
        gint64 phase;
        gint64 aligned;

        if (self->config.batch_max <= 1 || slot < 2 * VTC_ROUND_TICK_MS || vm->hostd_url == NULL ||
            g_strcmp0(vm->rec->mode, "direct") == 0)
                return delay_ms;
        now_ms = g_get_monotonic_time() / 1000;
        due = now_ms + delay_ms;
        phase = (gint64)(g_str_hash(vm->hostd_url) % (guint)slot);
        aligned = ((due - phase + slot / 2) / slot) * slot + phase;
        return aligned <= now_ms ? 0 : (guint)(aligned - now_ms);
}

/* ---- outcomes ----------------------------------------------------------------------------- */

static void
vtc_round_end(VtcRoundVm *vm)
{
        VtcVerifierRound *self = vm->loop;

        if (vm->deadline_id != 0) {
                g_source_remove(vm->deadline_id);
                vm->deadline_id = 0;
        }
        g_clear_object(&vm->cancel);
        g_clear_pointer(&vm->guest, json_object_unref);
        if (vm->in_flight) {
                vm->in_flight = FALSE;
                self->in_flight--;
        }
}

/* No evidence this round: never a verdict, retried with backoff. */
static void
vtc_round_no_evidence(VtcRoundVm *vm, const gchar *reason, const gchar *message)
{
        VtcVerifierRound *self = vm->loop;
        VtcVerifierStoreVm *rec = vm->rec;
        const gchar *state = "unreachable";
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        vtc_round_end(vm);
        if (g_strcmp0(reason, "agent_not_enrolled") == 0 &&
            g_strcmp0(rec->state, "registered") == 0)
                state = "registered";
        self->rounds_unreachable++;
        rec->rounds++;
        rec->unreachable++;
        rec->last_attempt = now;
        if (g_strcmp0(rec->state, state) != 0 || g_strcmp0(rec->reason, reason) != 0) {
                gboolean changed = g_strcmp0(rec->state, state) != 0;
                vtc_round_set_str(&rec->state, state);
                vtc_round_set_str(&rec->reason, reason);
                vtc_round_set_str(&rec->message, message);
                rec->updated = now;
                if (changed)
                        vtc_round_add_event(vm, "state", NULL, NULL, NULL);
        } else {
                vtc_round_set_str(&rec->message, message);
        }
        vtc_round_mark_dirty(vm);
        vm->continuations = 0;
        vm->backoff_ms = vm->backoff_ms == 0 ? self->config.interval_ms
                                             : MIN(vm->backoff_ms * 2, self->config.backoff_max_ms);
        vtc_round_schedule(vm, vm->backoff_ms);
}

/* @through_host: the evidence came over the VM's channel through hostd's /v1/round (the check
 * library sets placement_proven only on a trusted round, but a failed round's evidence came
 * through the channel just the same). */
static void
vtc_round_verdict(VtcRoundVm *vm, VtcVerifierVerdict *v, gboolean through_host, gboolean direct)
{
        VtcVerifierRound *self = vm->loop;
        VtcVerifierStoreVm *rec = vm->rec;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        gdouble secs = (gdouble)(g_get_monotonic_time() - vm->start_us) / G_USEC_PER_SEC;
        const gchar *placement =
            !direct && (v->placement_proven || through_host) ? "channel" : "not proven";

        if (v->result == VTC_VERIFIER_RESULT_INCOMPLETE) {
                vtc_round_end(vm);
                self->rounds_incomplete++;
                if (++vm->continuations < VTC_ROUND_MAX_CONTINUATIONS) {
                        vtc_round_schedule(vm, 0);
                } else {
                        vm->continuations = 0;
                        vtc_round_schedule(vm, self->config.interval_ms);
                }
                return;
        }
        vtc_round_end(vm);
        vtc_round_hist_add(&self->round_hist, secs);
        vm->continuations = 0;
        vm->backoff_ms = 0;
        rec->rounds++;
        rec->last_attempt = now;
        rec->last_time = now;
        vtc_round_set_str(&rec->last_placement, placement);
        if (v->result == VTC_VERIFIER_RESULT_TRUSTED) {
                gboolean changed = g_strcmp0(rec->state, "trusted") != 0;

                self->rounds_pass++;
                rec->passes++;
                rec->last_success = now;
                vtc_round_set_str(&rec->last_result, "pass");
                vtc_round_set_str(&rec->last_reason, NULL);
                vtc_round_set_str(&rec->last_message, NULL);
                vtc_round_set_str(&rec->state, "trusted");
                vtc_round_set_str(&rec->reason, NULL);
                vtc_round_set_str(&rec->message, NULL);
                vtc_round_set_str(&rec->placement, placement);
                /* the incremental state goes to the store at the next flush */
                {
                        VtcVerifierRequest req;
                        vtc_verifier_vm_get_request(vm->check, &req);
                        rec->ima_offset = (gint64)req.ima_offset;
                }
                if (changed) {
                        rec->updated = now;
                        vtc_round_add_event(vm, "state", NULL, NULL, NULL);
                }
                vtc_round_mark_dirty(vm);
                /* one round per interval, start to start */
                {
                        gint64 spent_ms = (g_get_monotonic_time() - vm->start_us) / 1000;
                        vtc_round_schedule(
                            vm,
                            vtc_round_next_delay(vm,
                                                 spent_ms >= (gint64)self->config.interval_ms
                                                     ? 0
                                                     : self->config.interval_ms - (guint)spent_ms));
                }
                return;
        }
        /* failed: final; the event goes out once the verdict is on disk */
        {
                const gchar *reason = vtc_verifier_reason_to_string(v->reason);
                g_autofree gchar *digest =
                    v->has_evidence_digest ? vtc_hex_encode(v->evidence_digest, 32) : NULL;
                g_autofree gchar *event = NULL;
                g_autofree gchar *signature = NULL;
                g_autoptr(GError) error_local = NULL;

                self->rounds_fail++;
                if ((guint)v->reason < VTC_ROUND_N_REASONS)
                        self->verdicts[v->reason]++;
                rec->failures++;
                vtc_round_set_str(&rec->last_result, "fail");
                vtc_round_set_str(&rec->last_reason, reason);
                vtc_round_set_str(&rec->last_message, v->message);
                vtc_round_set_str(&rec->state, "failed");
                vtc_round_set_str(&rec->reason, reason);
                vtc_round_set_str(&rec->message, v->message);
                vtc_round_set_str(&rec->placement, placement);
                rec->updated = now;
                vtc_round_add_event(vm, "verdict", digest, NULL, NULL);
                if (vtc_verifier_webhook_sign(self->webhook,
                                              rec->uuid,
                                              reason,
                                              v->message,
                                              digest,
                                              now,
                                              &event,
                                              &signature,
                                              &error_local))
                        vtc_round_add_event(vm, "revocation", digest, event, signature);
                else
                        g_warning("vtc-verifier: signing the revocation event of %s: %s",
                                  rec->uuid,
                                  error_local->message);
                vtc_round_mark_dirty(vm);
                self->flush_soon = TRUE;
        }
}

/* ---- requests ----------------------------------------------------------------------------- */

static void vtc_round_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data);
static void vtc_round_dispatch_batch(VtcVerifierRound *self, VtcRoundLane *lane, VtcRoundVm *first);

static gboolean
vtc_round_deadline_cb(gpointer user_data)
{
        VtcRoundVm *vm = user_data;

        vm->deadline_id = 0;
        if (vm->cancel != NULL)
                g_cancellable_cancel(vm->cancel);
        return G_SOURCE_REMOVE;
}

static gboolean
vtc_round_accept_agent_cb(SoupMessage *msg,
                          GTlsCertificate *cert,
                          GTlsCertificateFlags errors,
                          gpointer user_data)
{
        VtcRoundVm *vm = user_data;
        g_autoptr(GByteArray) der = NULL;

        /* an agent's TLS certificate is trusted because the registrar holds it, not because a
         * CA signed it */
        if (vm->tls_cert == NULL)
                return FALSE;
        g_object_get(cert, "certificate", &der, NULL);
        return der != NULL && der->len == g_bytes_get_size(vm->tls_cert) &&
               memcmp(der->data, g_bytes_get_data(vm->tls_cert, NULL), der->len) == 0;
}

/* ---- lanes: at most a peer's connection limit inside libsoup ------------------------------ */

static void
vtc_round_lane_free(gpointer data)
{
        VtcRoundLane *lane = data;

        g_clear_object(&lane->session);
        g_free(lane->key);
        g_free(lane);
}

/*
 * A lane's own client session. libsoup 3.2 runs its whole queue, and probes every idle
 * connection of the session with a non-blocking TLS read, on each message event; one session
 * per peer keeps that to the peer's few connections instead of every connection to every hostd.
 * Kept-alive connections are reused round after round (a TLS handshake costs more than a
 * round's check) until the peer closes them. The lane never hands libsoup more requests
 * than the connections it may open, so none waits in libsoup's queue.
 */
static SoupSession *
vtc_round_session_new(VtcVerifierRound *self, guint max_conns)
{
        /* no I/O or idle timers of libsoup's own: every request has the loop's deadline, and
         * each timer is a main-loop source that every iteration walks (hundreds of
         * connections to hundreds of hostds) */
        SoupSession *session = soup_session_new_with_options("tls-database",
                                                             self->tls_db,
                                                             "timeout",
                                                             0,
                                                             "idle-timeout",
                                                             0,
                                                             "max-conns",
                                                             (gint)max_conns,
                                                             "max-conns-per-host",
                                                             (gint)max_conns,
                                                             NULL);

        /* our peers are reached by address, never through a proxy from the environment */
        soup_session_set_proxy_resolver(session, NULL);
        return session;
}

/* The lane of @url's peer, made on first use; NULL when @url does not parse. */
static VtcRoundLane *
vtc_round_lane_get(VtcVerifierRound *self, const gchar *url, guint limit)
{
        g_autoptr(GUri) uri = url != NULL ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;
        g_autofree gchar *key = NULL;
        VtcRoundLane *lane;

        if (uri == NULL || g_uri_get_host(uri) == NULL)
                return NULL;
        key = g_strdup_printf("%s://%s:%d",
                              g_uri_get_scheme(uri),
                              g_uri_get_host(uri),
                              g_uri_get_port(uri));
        lane = g_hash_table_lookup(self->lanes, key);
        if (lane != NULL)
                return lane;
        lane = g_new0(VtcRoundLane, 1);
        lane->key = g_steal_pointer(&key);
        lane->limit = MAX(1u, limit);
        lane->session = vtc_round_session_new(self, lane->limit);
        g_queue_init(&lane->waiting);
        g_hash_table_insert(self->lanes, lane->key, lane);
        return lane;
}

static void
vtc_round_lane_mark_ready(VtcVerifierRound *self, VtcRoundLane *lane)
{
        if (!lane->ready && lane->waiting.length > 0 && lane->active < lane->limit) {
                lane->ready = TRUE;
                g_queue_push_tail(&self->ready, lane);
        }
}

static const gchar *
vtc_round_step_reason(VtcRoundStep step)
{
        switch (step) {
        case VTC_ROUND_STEP_AGENT:
        case VTC_ROUND_STEP_HOST:
                return "registrar_unreachable";
        case VTC_ROUND_STEP_AGENT_ROUND:
                return "agent_unreachable";
        default:
                return "hostd_unreachable";
        }
}

/* Hands the VM's waiting request to libsoup. */
static void
vtc_round_dispatch(VtcRoundVm *vm)
{
        VtcVerifierRound *self = vm->loop;
        VtcRoundStep step = vm->step;
        SoupSession *session = vm->lane->session;
        g_autoptr(GError) error_local = NULL;
        g_autofree gchar *url = g_steal_pointer(&vm->req_url);
        g_autofree gchar *body = g_steal_pointer(&vm->req_body);
        g_autoptr(SoupMessage) msg =
            vtc_http_client_message_new(session, vm->req_method, url, body, &error_local);

        if (msg == NULL) {
                vm->lane = NULL;
                vtc_round_no_evidence(vm, vtc_round_step_reason(step), error_local->message);
                return;
        }
        vm->sent = TRUE;
        vm->lane->active++;
        self->active++;
        if (self->client_cert != NULL)
                soup_message_set_tls_client_certificate(msg, self->client_cert);
        if (step == VTC_ROUND_STEP_AGENT_ROUND)
                g_signal_connect(msg,
                                 "accept-certificate",
                                 G_CALLBACK(vtc_round_accept_agent_cb),
                                 vm);
        if (vm->cancel == NULL)
                vm->cancel = g_cancellable_new();
        if (vm->deadline_id != 0)
                g_source_remove(vm->deadline_id);
        vm->deadline_id = g_timeout_add(self->config.timeout_ms, vtc_round_deadline_cb, vm);
        soup_session_send_and_read_async(session,
                                         msg,
                                         G_PRIORITY_DEFAULT,
                                         vm->cancel,
                                         vtc_round_reply_cb,
                                         vtc_round_vm_ref(vm));
}

/* Sends what the free slots allow: one request per ready lane in turn (fair between peers),
 * while the global limit allows. A request that waited past the timeout is not sent. */
static void
vtc_round_pump(VtcVerifierRound *self)
{
        while (self->active < self->config.max_in_flight && !g_queue_is_empty(&self->ready)) {
                VtcRoundLane *lane = g_queue_pop_head(&self->ready);
                gint64 now = g_get_monotonic_time();

                lane->ready = FALSE;
                while (lane->waiting.length > 0 && lane->active < lane->limit) {
                        GList *link = g_queue_pop_head_link(&lane->waiting);
                        VtcRoundVm *vm = link->data;

                        if (now - vm->queued_us > (gint64)self->config.timeout_ms * 1000) {
                                g_autofree gchar *m = g_strdup_printf(
                                    "%s: no free connection within the timeout (the peer is slow "
                                    "or down)",
                                    lane->key);
                                vm->lane = NULL;
                                self->stale_requests++;
                                vtc_round_no_evidence(vm, vtc_round_step_reason(vm->step), m);
                                continue;
                        }
                        if (vm->step == VTC_ROUND_STEP_ROUND && self->config.batch_max > 1)
                                vtc_round_dispatch_batch(self, lane, vm);
                        else
                                vtc_round_dispatch(vm);
                        break;
                }
                vtc_round_lane_mark_ready(self, lane);
        }
}

/* The VM's next request: it waits in its peer's lane for a slot. */
static void
vtc_round_send(VtcRoundVm *vm,
               VtcRoundStep step,
               const gchar *method,
               const gchar *url,
               const gchar *body)
{
        VtcVerifierRound *self = vm->loop;
        VtcRoundLane *lane = NULL;

        vm->step = step;
        if (step == VTC_ROUND_STEP_AGENT || step == VTC_ROUND_STEP_HOST)
                lane = self->registrar_lane;
        else if (step == VTC_ROUND_STEP_AGENT_ROUND)
                lane = vtc_round_lane_get(self, url, VTC_ROUND_AGENT_CONNS);
        else
                lane = vm->hostd_lane;
        if (lane == NULL) {
                g_autofree gchar *m = g_strdup_printf("%s: not a usable URL", url);
                vtc_round_no_evidence(vm, vtc_round_step_reason(step), m);
                return;
        }
        vm->req_method = method;
        g_free(vm->req_url);
        vm->req_url = g_strdup(url);
        g_free(vm->req_body);
        vm->req_body = g_strdup(body);
        vm->lane = lane;
        vm->sent = FALSE;
        vm->queued_us = g_get_monotonic_time();
        vm->lane_link.data = vm;
        g_queue_push_tail_link(&lane->waiting, &vm->lane_link);
        vtc_round_lane_mark_ready(self, lane);
        if (!self->starting)
                vtc_round_pump(self);
}

static gchar *
vtc_round_hostd_url(VtcVerifierRound *self, const gchar *host_id)
{
        const gchar *url = g_hash_table_lookup(self->hostd_hosts, host_id);
        g_autoptr(GString) s = NULL;

        if (url != NULL)
                return g_strdup(url);
        if (self->hostd_url_template == NULL || self->hostd_url_template[0] == '\0')
                return NULL;
        s = g_string_new(self->hostd_url_template);
        g_string_replace(s, "{id}", host_id, 0);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
vtc_round_add_offsets(JsonBuilder *b, const VtcVerifierRequest *req)
{
        json_builder_set_member_name(b, "offsets");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "boot");
        json_builder_add_int_value(b, (gint64)req->host_boot);
        json_builder_set_member_name(b, "ima");
        json_builder_add_int_value(b, (gint64)req->host_ima);
        json_builder_set_member_name(b, "vtpm");
        json_builder_add_int_value(b, (gint64)req->host_vtpm);
        json_builder_end_object(b);
}

static void
vtc_round_send_evidence_request(VtcRoundVm *vm)
{
        VtcVerifierRequest req;
        VtcChannelRound round = {0};
        g_autoptr(GString) body = g_string_sized_new(256);
        g_autofree gchar *url = NULL;
        gboolean direct = g_strcmp0(vm->rec->mode, "direct") == 0;

        vtc_verifier_vm_get_request(vm->check, &req);
        if (RAND_bytes(vm->nonce, sizeof(vm->nonce)) != 1) {
                vtc_round_no_evidence(vm, "internal_error", "no random bytes for a nonce");
                return;
        }
        memcpy(round.nonce, vm->nonce, sizeof(vm->nonce));
        round.pcrs = req.pcrs;
        round.ima_offset = req.ima_offset;
        round.boot_log = req.boot_log;
        /* written as text: thousands a second (the uuid is the store's, checked at add) */
        g_string_append_c(body, '{');
        if (!direct)
                g_string_append_printf(body, "\"vm_uuid\":\"%s\",", vm->rec->uuid);
        vtc_channel_round_append_json(&round, body);
        if (!direct)
                g_string_append_printf(body,
                                       ",\"offsets\":{\"boot\":%" G_GUINT64_FORMAT
                                       ",\"ima\":%" G_GUINT64_FORMAT ",\"vtpm\":%" G_GUINT64_FORMAT
                                       "}",
                                       req.host_boot,
                                       req.host_ima,
                                       req.host_vtpm);
        g_string_append_c(body, '}');
        if (direct) {
                url = g_strdup_printf("%s/v1/round", vm->rec->agent_url);
                vtc_round_send(vm, VTC_ROUND_STEP_AGENT_ROUND, "POST", url, body->str);
        } else {
                url = g_strdup_printf("%s/v1/round", vm->hostd_url);
                vtc_round_send(vm, VTC_ROUND_STEP_ROUND, "POST", url, body->str);
        }
}

static void
vtc_round_start(VtcRoundVm *vm)
{
        VtcVerifierRound *self = vm->loop;
        g_autofree gchar *url = NULL;

        if (vm->removed || vm->in_flight)
                return;
        /* the round may change the check state on this thread: serialise it afresh */
        g_clear_pointer(&vm->state_text, g_bytes_unref);
        vm->in_flight = TRUE;
        self->in_flight++;
        vm->start_us = g_get_monotonic_time();
        if (vm->check == NULL) {
                url = g_strdup_printf("%s/v1/agents/%s", self->registrar_url, vm->rec->uuid);
                vtc_round_send(vm, VTC_ROUND_STEP_AGENT, "GET", url, NULL);
                return;
        }
        vtc_round_send_evidence_request(vm);
}

/* The VM's identity is known: build its check state. */
static void
vtc_round_identity_ready(VtcRoundVm *vm, VtcVerifierHost *host, JsonObject *agent)
{
        VtcVerifierRound *self = vm->loop;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) ak = vtc_json_get_base64(agent, "ak_public", 65536, TRUE, &error);
        g_autoptr(GBytes) ek =
            ak != NULL ? vtc_json_get_base64(agent, "ek_public", 65536, TRUE, &error) : NULL;
        g_autoptr(GBytes) tls = NULL;
        g_autoptr(EVP_PKEY) ek_key = NULL;
        guint8 ek_sha[32];
        guint8 tls_sha[32];
        gboolean have_tls = FALSE;
        guint8 *der = NULL;
        int der_len;
        g_autoptr(VtcVerifierVm) check = NULL;

        if (ek == NULL) {
                vtc_round_no_evidence(vm, "registrar_unreachable", error->message);
                return;
        }
        tls = vtc_json_get_base64(agent, "tls_cert", 65536, FALSE, &error);
        if (error != NULL) {
                vtc_round_no_evidence(vm, "registrar_unreachable", error->message);
                return;
        }
        ek_key = vtc_ek_public_parse(g_bytes_get_data(ek, NULL), g_bytes_get_size(ek), &error);
        if (ek_key == NULL) {
                vtc_round_no_evidence(vm, "registrar_unreachable", error->message);
                return;
        }
        der_len = i2d_PUBKEY(ek_key, &der);
        if (der_len <= 0) {
                vtc_round_no_evidence(vm, "internal_error", "encoding the EK");
                return;
        }
        EVP_Digest(der, (size_t)der_len, ek_sha, NULL, EVP_sha256(), NULL);
        OPENSSL_free(der);
        der = NULL;
        if (tls != NULL) {
                const guint8 *p = g_bytes_get_data(tls, NULL);
                g_autoptr(X509) cert = d2i_X509(NULL, &p, (long)g_bytes_get_size(tls));
                if (cert == NULL ||
                    (der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)) <= 0) {
                        vtc_round_no_evidence(vm,
                                              "registrar_unreachable",
                                              "tls_cert does not parse");
                        return;
                }
                EVP_Digest(der, (size_t)der_len, tls_sha, NULL, EVP_sha256(), NULL);
                OPENSSL_free(der);
                have_tls = TRUE;
                g_clear_pointer(&vm->tls_cert, g_bytes_unref);
                /* only direct mode pins the agent's certificate */
                if (g_strcmp0(vm->rec->mode, "direct") == 0)
                        vm->tls_cert = g_bytes_ref(tls);
        }
        check = vtc_verifier_vm_new(vm->rec->uuid,
                                    g_bytes_get_data(ak, NULL),
                                    g_bytes_get_size(ak),
                                    ek_sha,
                                    have_tls ? tls_sha : NULL,
                                    host,
                                    &error);
        if (check == NULL) {
                vtc_round_no_evidence(vm, "registrar_unreachable", error->message);
                return;
        }
        vtc_verifier_vm_set_policy(check, vm->policy);
        if (vm->host_policy != NULL)
                vtc_verifier_vm_set_host_policy(check, vm->host_policy);
        vtc_verifier_vm_set_clone_func(check, vtc_round_clone_cb, self);
        if (vm->rec->check_state != NULL) {
                g_autofree gchar *text = g_strndup(g_bytes_get_data(vm->rec->check_state, NULL),
                                                   g_bytes_get_size(vm->rec->check_state));
                g_autoptr(GError) error_state = NULL;
                /* a state that does not load (another identity after re-enrollment) means
                 * replaying from the start: slower, never a false verdict */
                if (!vtc_verifier_vm_load_state(check, text, &error_state))
                        g_clear_pointer(&vm->rec->check_state, g_bytes_unref);
        }
        if (g_strcmp0(vm->rec->mode, "direct") == 0 && vm->tls_cert == NULL) {
                vtc_round_no_evidence(
                    vm,
                    "agent_unreachable",
                    "the agent registered no TLS certificate: direct mode needs one");
                return;
        }
        vm->check = g_steal_pointer(&check);
        /* from now on the check object is the state; flushes serialise it */
        g_clear_pointer(&vm->rec->check_state, g_bytes_unref);
        vtc_round_send_evidence_request(vm);
}

static JsonObject *
vtc_round_parse(VtcRoundVm *vm, GBytes *reply, GError **error)
{
        VtcJsonLimits limits = {vm->loop->config.max_answer,
                                16,
                                vm->loop->config.max_answer,
                                100000};

        return vtc_json_parse_object(g_bytes_get_data(reply, NULL),
                                     g_bytes_get_size(reply),
                                     &limits,
                                     error);
}

static const gchar *
vtc_round_error_code(JsonObject *obj)
{
        JsonNode *n = obj != NULL ? json_object_get_member(obj, "error") : NULL;

        if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return "";
        return json_node_get_string(n);
}

static void
vtc_round_run_check(VtcRoundVm *vm,
                    JsonObject *guest,
                    JsonObject *host,
                    gboolean through_host,
                    gboolean direct)
{
        VtcVerifierRound *self = vm->loop;
        g_auto(VtcVerifierVerdict) v = {0};
        g_autoptr(GError) error = NULL;
        gint64 t0 = g_get_monotonic_time();

        if (!vtc_verifier_check_round(vm->check,
                                      vm->nonce,
                                      guest,
                                      host,
                                      through_host,
                                      &v,
                                      &error)) {
                vtc_round_no_evidence(vm, "internal_error", error->message);
                return;
        }
        vtc_round_hist_add(&self->check_hist,
                           (gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
        if (v.result != VTC_VERIFIER_RESULT_FAILED && vm->host_id != NULL)
                vtc_round_index_events(self, vm->host_id, v.vtpm_events);
        vtc_round_verdict(vm, &v, through_host, direct);
}

/* No answer at all to the VM's request (@transport_error says why, if known). */
static void
vtc_round_handle_nothing(VtcRoundVm *vm, const GError *transport_error)
{
        const gchar *why = transport_error != NULL ? transport_error->message : "no answer";
        g_autofree gchar *m = NULL;

        if (g_error_matches(transport_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                why = "no answer within the timeout";
        switch (vm->step) {
        case VTC_ROUND_STEP_AGENT:
        case VTC_ROUND_STEP_HOST:
                m = g_strdup_printf("registrar: %s", why);
                vtc_round_no_evidence(vm, "registrar_unreachable", m);
                return;
        case VTC_ROUND_STEP_AGENT_ROUND:
                m = g_strdup_printf("agent %s: %s", vm->rec->agent_url, why);
                vtc_round_no_evidence(vm, "agent_unreachable", m);
                return;
        default:
                m = g_strdup_printf("hostd %s: %s", vm->hostd_url, why);
                vtc_round_no_evidence(vm, "hostd_unreachable", m);
                return;
        }
}

/* The answer to the VM's request: HTTP @status with @obj, its JSON body (NULL when it has
 * none or it does not parse). @msg is the request's message (NULL for a batched round). */
static void
vtc_round_handle_answer(VtcRoundVm *vm, SoupMessage *msg, guint status, JsonObject *obj)
{
        VtcVerifierRound *self = vm->loop;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = NULL;

        switch (vm->step) {
        case VTC_ROUND_STEP_AGENT: {
                const gchar *host_id = NULL;
                VtcVerifierHost *host;
                if (status == 404) {
                        vtc_round_no_evidence(vm,
                                              "agent_not_enrolled",
                                              "the registrar does not know the VM's agent");
                        return;
                }
                if (status != 200 || obj == NULL) {
                        g_autofree gchar *m = g_strdup_printf("registrar answered %u %s",
                                                              status,
                                                              vtc_round_error_code(obj));
                        vtc_round_no_evidence(vm, "registrar_unreachable", m);
                        return;
                }
                if (g_strcmp0(vtc_json_get_string(obj, "state", FALSE, NULL), "active") != 0) {
                        vtc_round_no_evidence(vm,
                                              "agent_not_enrolled",
                                              "the agent's enrollment is not activated");
                        return;
                }
                host_id = vtc_json_get_string(obj, "host_id", FALSE, NULL);
                if (host_id == NULL) {
                        vtc_round_no_evidence(vm,
                                              "host_unknown",
                                              "the agent's vTPM was not made by a registered host");
                        return;
                }
                vtc_round_set_str(&vm->host_id, host_id);
                if (g_strcmp0(vm->rec->host_id, host_id) != 0) {
                        vtc_round_set_str(&vm->rec->host_id, host_id);
                        vtc_round_mark_dirty(vm);
                }
                g_free(vm->hostd_url);
                vm->hostd_url = vtc_round_hostd_url(self, host_id);
                vm->hostd_lane =
                    vm->hostd_url != NULL
                        ? vtc_round_lane_get(self, vm->hostd_url, self->config.max_conns_per_host)
                        : NULL;
                if (vm->hostd_url == NULL) {
                        g_autofree gchar *m =
                            g_strdup_printf("no hostd address for host %s", host_id);
                        vtc_round_no_evidence(vm, "host_unknown", m);
                        return;
                }
                host = g_hash_table_lookup(self->hosts, host_id);
                if (host != NULL) {
                        vtc_round_identity_ready(vm, host, obj);
                        return;
                }
                /* keep the agent record until the host's AK has come */
                g_clear_pointer(&vm->guest, json_object_unref);
                vm->guest = json_object_ref(obj);
                url = g_strdup_printf("%s/v1/hosts/%s", self->registrar_url, host_id);
                vtc_round_send(vm, VTC_ROUND_STEP_HOST, "GET", url, NULL);
                return;
        }
        case VTC_ROUND_STEP_HOST: {
                g_autoptr(GBytes) ak = NULL;
                g_autoptr(VtcVerifierHost) host = NULL;
                g_autoptr(JsonObject) agent = g_steal_pointer(&vm->guest);
                if (status != 200 || obj == NULL) {
                        g_autofree gchar *m = g_strdup_printf("registrar: host %s: %u %s",
                                                              vm->host_id,
                                                              status,
                                                              vtc_round_error_code(obj));
                        vtc_round_no_evidence(vm,
                                              status == 404 ? "host_unknown"
                                                            : "registrar_unreachable",
                                              m);
                        return;
                }
                ak = vtc_json_get_base64(obj, "ak_public", 65536, TRUE, &error);
                if (ak != NULL)
                        host = vtc_verifier_host_new(vm->host_id,
                                                     g_bytes_get_data(ak, NULL),
                                                     g_bytes_get_size(ak),
                                                     &error);
                if (host == NULL) {
                        vtc_round_no_evidence(vm, "registrar_unreachable", error->message);
                        return;
                }
                g_hash_table_insert(self->hosts,
                                    g_strdup(vm->host_id),
                                    vtc_verifier_host_ref(host));
                vtc_round_identity_ready(vm, host, agent);
                return;
        }
        case VTC_ROUND_STEP_ROUND: {
                JsonObject *guest = NULL;
                JsonObject *host = NULL;
                gboolean through = FALSE;
                const gchar *code = vtc_round_error_code(obj);
                if (status == 200 && obj != NULL) {
                        if (!vtc_verifier_round_answer_split(obj,
                                                             &guest,
                                                             &host,
                                                             &through,
                                                             &error)) {
                                /* a malformed answer is evidence too: the check names it */
                                vtc_round_run_check(vm, obj, obj, FALSE, FALSE);
                                return;
                        }
                        vtc_round_run_check(vm, guest, host, through, FALSE);
                        return;
                }
                if (status == 400 && g_strcmp0(code, "invalid_argument") == 0 &&
                    vm->continuations < 2) {
                        /* the host rebooted: its logs are shorter than our offsets */
                        vtc_verifier_vm_resync_host(vm->check);
                        vtc_round_end(vm);
                        vm->continuations++;
                        vtc_round_schedule(vm, 0);
                        return;
                }
                {
                        g_autofree gchar *m =
                            g_strdup_printf("hostd %s: %u %s", vm->hostd_url, status, code);
                        if (status == 404 || status == 504)
                                vtc_round_no_evidence(vm, "agent_unreachable", m);
                        else if (status == 502 && g_strcmp0(code, "agent_error") == 0)
                                vtc_round_no_evidence(vm, "agent_error", m);
                        else
                                vtc_round_no_evidence(vm, "hostd_error", m);
                }
                return;
        }
        case VTC_ROUND_STEP_AGENT_ROUND: {
                JsonObject *quote = NULL;
                g_autoptr(GBytes) attest = NULL;
                GTlsCertificate *peer = soup_message_get_tls_peer_certificate(msg);
                g_autoptr(GByteArray) der = NULL;
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autofree gchar *body = NULL;
                g_autofree gchar *binding = NULL;
                VtcVerifierRequest req;

                if (peer != NULL)
                        g_object_get(peer, "certificate", &der, NULL);
                if (der == NULL || vm->tls_cert == NULL ||
                    der->len != g_bytes_get_size(vm->tls_cert) ||
                    memcmp(der->data, g_bytes_get_data(vm->tls_cert, NULL), der->len) != 0) {
                        vtc_round_no_evidence(
                            vm,
                            "agent_unreachable",
                            "the agent's TLS certificate is not the registered one");
                        return;
                }
                if (status != 200 || obj == NULL) {
                        g_autofree gchar *m = g_strdup_printf("agent %s: %u %s",
                                                              vm->rec->agent_url,
                                                              status,
                                                              vtc_round_error_code(obj));
                        vtc_round_no_evidence(vm, status == 200 ? "agent_error" : "agent_error", m);
                        return;
                }
                quote = vtc_json_get_object(obj, "quote", TRUE, &error);
                if (quote != NULL)
                        attest = vtc_json_get_base64(quote, "attest", 65536, TRUE, &error);
                if (attest == NULL) {
                        /* no binding can be made: the check names what is malformed */
                        vtc_round_run_check(vm, obj, obj, FALSE, TRUE);
                        return;
                }
                {
                        g_autoptr(GByteArray) buf = g_byte_array_new();
                        g_byte_array_append(buf,
                                            g_bytes_get_data(attest, NULL),
                                            (guint)g_bytes_get_size(attest));
                        g_byte_array_append(buf, vm->nonce, sizeof(vm->nonce));
                        binding = vtc_round_sha256_hex(buf->data, buf->len);
                }
                vtc_verifier_vm_get_request(vm->check, &req);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "vm_uuid");
                json_builder_add_string_value(b, vm->rec->uuid);
                json_builder_set_member_name(b, "binding");
                json_builder_add_string_value(b, binding);
                vtc_round_add_offsets(b, &req);
                json_builder_end_object(b);
                body = vtc_json_builder_to_string(b);
                g_clear_pointer(&vm->guest, json_object_unref);
                vm->guest = json_object_ref(obj);
                url = g_strdup_printf("%s/v1/bind", vm->hostd_url);
                vtc_round_send(vm, VTC_ROUND_STEP_BIND, "POST", url, body);
                return;
        }
        case VTC_ROUND_STEP_BIND: {
                g_autoptr(JsonObject) guest = g_steal_pointer(&vm->guest);
                const gchar *code = vtc_round_error_code(obj);
                if (status == 200 && obj != NULL) {
                        vtc_round_run_check(vm, guest, obj, FALSE, TRUE);
                        return;
                }
                if (status == 400 && g_strcmp0(code, "invalid_argument") == 0 &&
                    vm->continuations < 2) {
                        vtc_verifier_vm_resync_host(vm->check);
                        vtc_round_end(vm);
                        vm->continuations++;
                        vtc_round_schedule(vm, 0);
                        return;
                }
                {
                        g_autofree gchar *m =
                            g_strdup_printf("hostd %s: %u %s", vm->hostd_url, status, code);
                        vtc_round_no_evidence(vm, "hostd_error", m);
                }
                return;
        }
        }
}

static void
vtc_round_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcRoundVm *vm = user_data;
        SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply =
            soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
        VtcVerifierRound *self = vm->loop;
        VtcRoundLane *lane = vm->lane;

        /* the slot is free again, whatever the outcome */
        vm->sent = FALSE;
        vm->lane = NULL;
        if (lane != NULL) {
                lane->active--;
                self->active--;
                vtc_round_lane_mark_ready(self, lane);
        }
        if (vm->removed || self->closing) {
                if (vm->in_flight) {
                        vm->in_flight = FALSE;
                        self->in_flight--;
                }
                vtc_round_vm_unref(vm);
                if (!self->closing)
                        vtc_round_pump(self);
                return;
        }
        if (vm->deadline_id != 0) {
                g_source_remove(vm->deadline_id);
                vm->deadline_id = 0;
        }
        if (reply == NULL) {
                vtc_round_handle_nothing(vm, error);
        } else {
                g_autoptr(JsonObject) obj = vtc_round_parse(vm, reply, NULL);

                vtc_round_handle_answer(vm, msg, soup_message_get_status(msg), obj);
        }
        vtc_round_vm_unref(vm);
        vtc_round_pump(self);
}

/* ---- batches: the rounds of one hostd in one request -------------------------------------- */

static void
vtc_round_batch_free(VtcRoundBatch *batch)
{
        if (batch->deadline_id != 0)
                g_source_remove(batch->deadline_id);
        g_clear_object(&batch->cancel);
        g_ptr_array_unref(batch->vms);
        g_free(batch);
}

static gboolean
vtc_round_batch_deadline_cb(gpointer user_data)
{
        VtcRoundBatch *batch = user_data;

        batch->deadline_id = 0;
        g_cancellable_cancel(batch->cancel);
        return G_SOURCE_REMOVE;
}

/* The batch's answer {"answers": [{"status": S, "body": {...}}, ...]}, one per round in order;
 * NULL (with @error) when it is not that. */
static JsonArray *
vtc_round_batch_answers(VtcRoundBatch *batch, JsonObject *obj, GError **error)
{
        JsonArray *answers = obj != NULL ? vtc_json_get_array(obj, "answers", TRUE, error) : NULL;

        if (obj == NULL) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "not a JSON object");
                return NULL;
        }
        if (answers == NULL)
                return NULL;
        if (json_array_get_length(answers) != batch->vms->len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%u answers to %u rounds",
                            json_array_get_length(answers),
                            batch->vms->len);
                return NULL;
        }
        return answers;
}

/* One round of a batch, as the check thread left it for the main loop. */
typedef struct {
        gboolean checked; /* the check ran (or failed internally: error) */
        gboolean through; /* the evidence came over the VM's channel */
        VtcVerifierVerdict verdict;
        GError *error;
        gdouble secs;
        GBytes *state; /* checked: the VM's check state as the store keeps it */
        guint status;  /* not checked: the answer's status (0: none) and body */
        JsonObject *body;
} VtcRoundChecked;

/* A batch's answer on its way through a check thread: parsed and checked off the main loop. */
typedef struct {
        VtcRoundBatch *batch;
        GBytes *reply; /* NULL: no answer (error) */
        GError *error;
        guint status;
        JsonObject *obj;          /* the whole answer, parsed; kept only when not 200 */
        GError *bad;              /* 200 but not a batch answer */
        VtcRoundChecked *checked; /* one per round */
} VtcRoundBatchWork;

static void
vtc_round_batch_work_free(VtcRoundBatchWork *w)
{
        for (guint i = 0; w->checked != NULL && i < w->batch->vms->len; i++) {
                vtc_verifier_verdict_clear(&w->checked[i].verdict);
                g_clear_error(&w->checked[i].error);
                g_clear_pointer(&w->checked[i].state, g_bytes_unref);
                g_clear_pointer(&w->checked[i].body, json_object_unref);
        }
        g_free(w->checked);
        g_clear_pointer(&w->reply, g_bytes_unref);
        g_clear_error(&w->error);
        g_clear_error(&w->bad);
        g_clear_pointer(&w->obj, json_object_unref);
        vtc_round_batch_free(w->batch);
        g_free(w);
}

/* A round's answer in the batch with its evidence: status 200 and a body object. */
static JsonObject *
vtc_round_batch_evidence(JsonArray *answers, guint index, gint64 *out_status)
{
        JsonNode *node = json_array_get_element(answers, index);
        JsonObject *entry = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
        JsonNode *body = entry != NULL ? json_object_get_member(entry, "body") : NULL;

        *out_status = 0;
        if (entry == NULL || !vtc_json_get_int(entry, "status", 100, 599, TRUE, out_status, NULL))
                return NULL;
        return body != NULL && JSON_NODE_HOLDS_OBJECT(body) ? json_node_get_object(body) : NULL;
}

/*
 * In a check thread: parses the answer and runs the chain check of every round that has
 * evidence. Each VM of the batch has this round in flight, so its check state is this
 * thread's alone until the main loop has the result (the flush leaves such VMs for later);
 * hosts and policies are shared read-only (a host's known-quote list has its own lock, the
 * clone index is read under the loop's index lock).
 */
static gboolean vtc_round_batch_checked_cb(gpointer data);

static void
vtc_round_batch_check_thread(gpointer data, gpointer user_data)
{
        VtcRoundBatchWork *w = data;
        VtcRoundBatch *batch = w->batch;
        VtcVerifierRound *self = batch->loop;
        gsize n = batch->vms->len;
        JsonArray *answers = NULL;
        VtcJsonLimits limits = {self->config.max_answer * n,
                                18,
                                self->config.max_answer,
                                (guint)MIN(100000 * n, G_MAXUINT)};

        w->obj = vtc_json_parse_object(g_bytes_get_data(w->reply, NULL),
                                       g_bytes_get_size(w->reply),
                                       &limits,
                                       NULL);
        if (w->status == 200)
                answers = vtc_round_batch_answers(batch, w->obj, &w->bad);
        for (guint i = 0; answers != NULL && i < n; i++) {
                VtcRoundVm *vm = g_ptr_array_index(batch->vms, i);
                VtcRoundChecked *c = &w->checked[i];
                gint64 status = 0;
                JsonObject *body = vtc_round_batch_evidence(answers, i, &status);
                JsonObject *guest = NULL;
                JsonObject *host = NULL;
                gint64 t0;

                if (status != 200 || body == NULL || vm->check == NULL) {
                        /* the main loop handles it as /v1/round's own answer */
                        c->status = (guint)status;
                        c->body = body != NULL ? json_object_ref(body) : NULL;
                        continue;
                }
                if (!vtc_verifier_round_answer_split(body, &guest, &host, &c->through, NULL)) {
                        /* a malformed answer is evidence too: the check names it */
                        guest = host = body;
                        c->through = FALSE;
                }
                t0 = g_get_monotonic_time();
                if (!vtc_verifier_check_round(vm->check,
                                              vm->nonce,
                                              guest,
                                              host,
                                              c->through,
                                              &c->verdict,
                                              &c->error))
                        vtc_verifier_verdict_clear(&c->verdict);
                c->secs = (gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
                c->checked = TRUE;
                if (c->error == NULL) {
                        gchar *state = vtc_verifier_vm_save_state(vm->check);
                        c->state = g_bytes_new_take(state, strlen(state));
                }
        }
        /* the parsed answer goes here, off the main loop, unless the main loop reads it */
        if (w->status == 200)
                g_clear_pointer(&w->obj, json_object_unref);
        /* the outcome goes back to the main loop */
        g_idle_add_full(G_PRIORITY_DEFAULT, vtc_round_batch_checked_cb, w, NULL);
}

/* Back on the main loop: every VM of the batch gets its outcome. */
static gboolean
vtc_round_batch_checked_cb(gpointer data)
{
        VtcRoundBatchWork *w = data;
        VtcRoundBatch *batch = w->batch;
        VtcVerifierRound *self = batch->loop;

        self->tasks--;
        for (guint i = 0; i < batch->vms->len; i++) {
                VtcRoundVm *vm = g_ptr_array_index(batch->vms, i);
                VtcRoundChecked *c = &w->checked[i];

                vm->sent = FALSE;
                vm->lane = NULL;
                vm->batch = NULL;
                vm->checking = FALSE;
                if (vm->removed || self->closing) {
                        if (vm->in_flight) {
                                vm->in_flight = FALSE;
                                self->in_flight--;
                        }
                        continue;
                }
                if (w->status != 200) {
                        /* the whole request's answer is every round's */
                        vtc_round_handle_answer(vm, NULL, w->status, w->obj);
                } else if (w->bad != NULL) {
                        g_autofree gchar *m =
                            g_strdup_printf("hostd %s: malformed batch answer: %s",
                                            vm->hostd_url,
                                            w->bad->message);
                        vtc_round_no_evidence(vm, "hostd_error", m);
                } else if (c->checked && c->error != NULL) {
                        vtc_round_no_evidence(vm, "internal_error", c->error->message);
                } else if (c->checked) {
                        vtc_round_hist_add(&self->check_hist, c->secs);
                        /* serialised by the check thread: the flush need not */
                        g_clear_pointer(&vm->state_text, g_bytes_unref);
                        vm->state_text = g_steal_pointer(&c->state);
                        if (c->verdict.result != VTC_VERIFIER_RESULT_FAILED && vm->host_id != NULL)
                                vtc_round_index_events(self, vm->host_id, c->verdict.vtpm_events);
                        vtc_round_verdict(vm, &c->verdict, c->through, FALSE);
                } else if (c->status == 0) {
                        g_autofree gchar *m =
                            g_strdup_printf("hostd %s: answer %u of a batch has no status",
                                            vm->hostd_url,
                                            i);
                        vtc_round_no_evidence(vm, "hostd_error", m);
                } else {
                        vtc_round_handle_answer(vm, NULL, c->status, c->body);
                }
        }
        vtc_round_batch_work_free(w);
        if (!self->closing)
                vtc_round_pump(self);
        return G_SOURCE_REMOVE;
}

static void
vtc_round_batch_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcRoundBatch *batch = user_data;
        VtcVerifierRound *self = batch->loop;
        SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
        VtcRoundBatchWork *w = g_new0(VtcRoundBatchWork, 1);

        w->batch = batch;
        w->reply = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &w->error);
        w->status = w->reply != NULL ? soup_message_get_status(msg) : 0;
        w->checked = g_new0(VtcRoundChecked, batch->vms->len);
        batch->lane->active--;
        self->active--;
        vtc_round_lane_mark_ready(self, batch->lane);
        if (w->reply == NULL || self->closing) {
                for (guint i = 0; i < batch->vms->len; i++) {
                        VtcRoundVm *vm = g_ptr_array_index(batch->vms, i);

                        vm->sent = FALSE;
                        vm->lane = NULL;
                        vm->batch = NULL;
                        if (vm->removed || self->closing) {
                                if (vm->in_flight) {
                                        vm->in_flight = FALSE;
                                        self->in_flight--;
                                }
                                continue;
                        }
                        vtc_round_handle_nothing(vm, w->error);
                }
                vtc_round_batch_work_free(w);
                if (!self->closing)
                        vtc_round_pump(self);
                return;
        }
        /* the connection is free for the next batch while this one is checked */
        for (guint i = 0; i < batch->vms->len; i++)
                ((VtcRoundVm *)g_ptr_array_index(batch->vms, i))->checking = TRUE;
        self->tasks++;
        g_thread_pool_push(self->check_pool, w, NULL);
        vtc_round_pump(self);
}

/* Sends @first and the rounds waiting behind it in @lane for the same hostd, up to batch_max,
 * as one POST /v1/rounds. Rounds that waited past the timeout are not sent. */
static void
vtc_round_dispatch_batch(VtcVerifierRound *self, VtcRoundLane *lane, VtcRoundVm *first)
{
        VtcRoundBatch *batch = g_new0(VtcRoundBatch, 1);
        g_autoptr(GString) body = g_string_sized_new(512);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) stale = g_ptr_array_new();
        g_autoptr(SoupMessage) msg = NULL;
        g_autofree gchar *url = g_strdup_printf("%s/v1/rounds", first->hostd_url);
        gint64 now = g_get_monotonic_time();
        GList *link = lane->waiting.head;

        batch->loop = self;
        batch->lane = lane;
        batch->vms = g_ptr_array_new_with_free_func((GDestroyNotify)vtc_round_vm_unref);
        g_ptr_array_add(batch->vms, vtc_round_vm_ref(first));
        while (link != NULL && batch->vms->len < self->config.batch_max) {
                GList *next = link->next;
                VtcRoundVm *vm = link->data;

                if (vm->step == VTC_ROUND_STEP_ROUND &&
                    g_strcmp0(vm->hostd_url, first->hostd_url) == 0) {
                        g_queue_unlink(&lane->waiting, link);
                        if (now - vm->queued_us > (gint64)self->config.timeout_ms * 1000)
                                g_ptr_array_add(stale, vm);
                        else
                                g_ptr_array_add(batch->vms, vtc_round_vm_ref(vm));
                }
                link = next;
        }
        g_string_append(body, "{\"rounds\":[");
        for (guint i = 0; i < batch->vms->len; i++) {
                VtcRoundVm *vm = g_ptr_array_index(batch->vms, i);

                if (i > 0)
                        g_string_append_c(body, ',');
                g_string_append(body, vm->req_body);
                g_clear_pointer(&vm->req_body, g_free);
                g_clear_pointer(&vm->req_url, g_free);
                vm->sent = TRUE;
                vm->batch = batch;
        }
        g_string_append(body, "]}");
        self->batches++;
        self->batched += batch->vms->len;
        msg = vtc_http_client_message_new(lane->session, "POST", url, body->str, &error);
        lane->active++;
        self->active++;
        batch->cancel = g_cancellable_new();
        batch->deadline_id =
            g_timeout_add(self->config.timeout_ms, vtc_round_batch_deadline_cb, batch);
        if (msg == NULL) {
                /* cannot happen with a URL that made a lane; answered as no answer */
                g_autoptr(GError) e = g_error_copy(error);
                for (guint i = 0; i < batch->vms->len; i++) {
                        VtcRoundVm *vm = g_ptr_array_index(batch->vms, i);
                        vm->sent = FALSE;
                        vm->lane = NULL;
                        vm->batch = NULL;
                        vtc_round_handle_nothing(vm, e);
                }
                lane->active--;
                self->active--;
                vtc_round_batch_free(batch);
        } else {
                if (self->client_cert != NULL)
                        soup_message_set_tls_client_certificate(msg, self->client_cert);
                soup_session_send_and_read_async(lane->session,
                                                 msg,
                                                 G_PRIORITY_DEFAULT,
                                                 batch->cancel,
                                                 vtc_round_batch_reply_cb,
                                                 batch);
        }
        for (guint i = 0; i < stale->len; i++) {
                VtcRoundVm *vm = g_ptr_array_index(stale, i);
                g_autofree gchar *m = g_strdup_printf(
                    "%s: no free connection within the timeout (the peer is slow or down)",
                    lane->key);

                vm->lane = NULL;
                self->stale_requests++;
                vtc_round_no_evidence(vm, vtc_round_step_reason(vm->step), m);
        }
}

/* ---- the object --------------------------------------------------------------------------- */

static VtcRoundVm *
vtc_round_vm_new(VtcVerifierRound *self, const VtcVerifierStoreVm *rec, GError **error)
{
        g_autoptr(VtcVerifierPolicy) policy =
            vtc_round_policy_get(self, rec->runtime_policy, rec->boot_policy, error);
        g_autoptr(VtcVerifierPolicy) host_policy = NULL;
        VtcRoundVm *vm;

        if (policy == NULL)
                return NULL;
        if (rec->host_policy != NULL) {
                host_policy = vtc_round_policy_get(self, NULL, rec->host_policy, error);
                if (host_policy == NULL)
                        return NULL;
        }
        vm = g_new0(VtcRoundVm, 1);
        vm->refs = 1;
        vm->loop = self;
        vm->rec = vtc_verifier_store_vm_copy(rec);
        /* the loop keeps parsed policies, not their texts */
        g_clear_pointer(&vm->rec->runtime_policy, g_free);
        g_clear_pointer(&vm->rec->boot_policy, g_free);
        g_clear_pointer(&vm->rec->host_policy, g_free);
        vm->policy = g_steal_pointer(&policy);
        vm->host_policy = g_steal_pointer(&host_policy);
        return vm;
}

static void
vtc_round_vm_destroy(gpointer data)
{
        VtcRoundVm *vm = data;

        vm->removed = TRUE;
        if (vm->iter != NULL) {
                g_sequence_remove(vm->iter);
                vm->iter = NULL;
        }
        if (vm->lane != NULL && !vm->sent) {
                /* waiting for a slot: no answer will come */
                g_queue_unlink(&vm->lane->waiting, &vm->lane_link);
                vm->lane = NULL;
                if (vm->in_flight) {
                        vm->in_flight = FALSE;
                        vm->loop->in_flight--;
                }
        }
        if (vm->deadline_id != 0) {
                g_source_remove(vm->deadline_id);
                vm->deadline_id = 0;
        }
        if (vm->cancel != NULL)
                g_cancellable_cancel(vm->cancel);
        /* a batch goes on for its other VMs, unless the whole loop goes */
        if (vm->batch != NULL && vm->loop->closing)
                g_cancellable_cancel(vm->batch->cancel);
        vtc_round_vm_unref(vm);
}

VtcVerifierRound *
vtc_verifier_round_new(const VtcVerifierRoundConfig *config,
                       VtcVerifierStore *store,
                       VtcVerifierWebhook *webhook,
                       GError **error)
{
        g_autoptr(VtcVerifierRound) self = g_new0(VtcVerifierRound, 1);
        g_auto(GStrv) hosts = NULL;
        g_autofree gchar *after = NULL;
        guint n = 0;

        self->config = *config;
        self->config.interval_ms = MAX(1u, config->interval_ms);
        self->config.timeout_ms = MAX(1u, config->timeout_ms);
        self->config.backoff_max_ms = MAX(self->config.interval_ms, config->backoff_max_ms);
        self->config.max_in_flight = MAX(1u, config->max_in_flight);
        self->config.max_conns_per_host = MAX(1u, config->max_conns_per_host);
        self->config.batch_max = config->batch_max == 0
                                     ? VTC_ROUND_BATCH_MAX
                                     : MIN(config->batch_max, VTC_ROUND_BATCH_MAX);
        self->registrar_url = g_strdup(config->registrar_url);
        self->hostd_url_template = g_strdup(config->hostd_url_template);
        self->config.registrar_url = NULL;
        self->config.hostd_url_template = NULL;
        self->config.hostd_hosts = NULL;
        self->store = store;
        self->webhook = webhook;
        self->hostd_hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        self->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vtc_round_vm_destroy);
        self->queue = g_sequence_new(NULL);
        self->lanes = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vtc_round_lane_free);
        g_queue_init(&self->ready);
        self->policies = g_hash_table_new_full(g_str_hash,
                                               g_str_equal,
                                               g_free,
                                               (GDestroyNotify)vtc_verifier_policy_unref);
        self->hosts = g_hash_table_new_full(g_str_hash,
                                            g_str_equal,
                                            g_free,
                                            (GDestroyNotify)vtc_verifier_host_unref);
        self->ek_index = g_hash_table_new_full(g_str_hash,
                                               g_str_equal,
                                               g_free,
                                               (GDestroyNotify)g_ptr_array_unref);
        self->who_ek = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_mutex_init(&self->index_lock);
        self->check_pool = g_thread_pool_new(vtc_round_batch_check_thread,
                                             self,
                                             (gint)MAX(1u, g_get_num_processors()),
                                             FALSE,
                                             NULL);
        self->host_next_seq = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        self->dirty = g_hash_table_new_full(g_str_hash,
                                            g_str_equal,
                                            NULL,
                                            (GDestroyNotify)vtc_round_vm_unref);
        self->events =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_event_free);
        self->deliveries = g_array_new(FALSE, FALSE, sizeof(VtcRoundDelivery));
        if (config->hostd_hosts != NULL) {
                hosts = g_strsplit_set(config->hostd_hosts, ", \t\n", -1);
                for (guint i = 0; hosts[i] != NULL; i++) {
                        gchar *eq;
                        if (hosts[i][0] == '\0')
                                continue;
                        eq = strchr(hosts[i], '=');
                        if (eq == NULL || eq == hosts[i] || eq[1] == '\0') {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "[hostd] hosts: '%s' is not ID=URL",
                                            hosts[i]);
                                return NULL;
                        }
                        *eq = '\0';
                        g_hash_table_insert(self->hostd_hosts,
                                            g_strdup(hosts[i]),
                                            g_strdup(eq + 1));
                }
        }
        {
                g_autoptr(GError) error_local = NULL;
                self->tls_db = g_tls_file_database_new(config->ca_file, &error_local);
                if (self->tls_db == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "loading the CA %s: %s",
                                    config->ca_file,
                                    error_local->message);
                        return NULL;
                }
        }
        self->registrar_lane =
            vtc_round_lane_get(self, self->registrar_url, self->config.max_conns_per_host);
        if (self->registrar_lane == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "[registrar] url: '%s' is not a URL",
                            self->registrar_url);
                return NULL;
        }
        if (config->cert_file != NULL) {
                g_autoptr(GError) error_local = NULL;
                self->client_cert = g_tls_certificate_new_from_files(config->cert_file,
                                                                     config->key_file,
                                                                     &error_local);
                if (self->client_cert == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "loading the client certificate %s: %s",
                                    config->cert_file,
                                    error_local->message);
                        return NULL;
                }
        }
        /* every stored VM, its first round spread over one interval */
        for (;;) {
                g_autoptr(GPtrArray) page =
                    vtc_verifier_store_list(store, NULL, after, 1000, FALSE, error);
                if (page == NULL)
                        return NULL;
                if (page->len == 0)
                        break;
                for (guint i = 0; i < page->len; i++) {
                        VtcVerifierStoreVm *light = g_ptr_array_index(page, i);
                        g_autoptr(VtcVerifierStoreVm) rec = NULL;
                        VtcRoundVm *vm;

                        rec = vtc_verifier_store_get(store, light->uuid, error);
                        if (rec == NULL)
                                return NULL;
                        vm = vtc_round_vm_new(self, rec, error);
                        if (vm == NULL) {
                                g_prefix_error(error, "VM %s: ", rec->uuid);
                                return NULL;
                        }
                        g_hash_table_insert(self->vms, vm->rec->uuid, vm);
                        vtc_round_schedule(vm, (guint)((n++ * 7919u) % self->config.interval_ms));
                }
                g_free(after);
                after =
                    g_strdup(((VtcVerifierStoreVm *)g_ptr_array_index(page, page->len - 1))->uuid);
        }
        self->tick_id = g_timeout_add(VTC_ROUND_TICK_MS, vtc_round_tick_cb, self);
        self->flush_id = g_timeout_add(MAX(10u, config->flush_ms), vtc_round_flush_cb, self);
        return g_steal_pointer(&self);
}

void
vtc_verifier_round_free(VtcVerifierRound *self)
{
        gint64 deadline;

        if (self == NULL)
                return;
        if (self->tick_id != 0)
                g_source_remove(self->tick_id);
        if (self->flush_id != 0)
                g_source_remove(self->flush_id);
        if (self->vms != NULL) {
                /* what the loop learnt reaches the disk before it goes */
                if (self->store != NULL && self->tls_db != NULL)
                        vtc_verifier_round_flush(self, NULL);
                self->closing = TRUE;
                g_hash_table_remove_all(self->vms);
                /* cancelled requests report on the next iterations: let them, so their
                 * references go */
                deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
                while (self->in_flight > 0 && g_get_monotonic_time() < deadline)
                        g_main_context_iteration(NULL, FALSE);
                /* a check thread uses the loop's VMs and hosts: it always ends */
                while (self->tasks > 0)
                        g_main_context_iteration(NULL, TRUE);
                while (self->flushing && g_get_monotonic_time() < deadline)
                        g_main_context_iteration(NULL, TRUE);
        }
        g_clear_pointer(&self->dirty, g_hash_table_unref);
        g_clear_pointer(&self->vms, g_hash_table_unref);
        g_clear_pointer(&self->queue, g_sequence_free);
        g_queue_clear(&self->ready);
        g_clear_pointer(&self->lanes, g_hash_table_unref);
        g_clear_pointer(&self->policies, g_hash_table_unref);
        g_clear_pointer(&self->hosts, g_hash_table_unref);
        g_clear_pointer(&self->ek_index, g_hash_table_unref);
        g_clear_pointer(&self->who_ek, g_hash_table_unref);
        if (self->check_pool != NULL)
                g_thread_pool_free(self->check_pool, TRUE, TRUE);
        g_mutex_clear(&self->index_lock);
        g_clear_pointer(&self->host_next_seq, g_hash_table_unref);
        g_clear_pointer(&self->hostd_hosts, g_hash_table_unref);
        g_clear_pointer(&self->events, g_ptr_array_unref);
        g_clear_pointer(&self->deliveries, g_array_unref);
        g_clear_object(&self->tls_db);
        g_clear_object(&self->client_cert);
        g_free(self->registrar_url);
        g_free(self->hostd_url_template);
        g_free(self);
}

gboolean
vtc_verifier_round_add_vm(VtcVerifierRound *self, const VtcVerifierStoreVm *rec, GError **error)
{
        VtcRoundVm *vm = vtc_round_vm_new(self, rec, error);

        if (vm == NULL)
                return FALSE;
        g_hash_table_replace(self->vms, vm->rec->uuid, vm);
        vtc_round_schedule(vm, 0);
        return TRUE;
}

void
vtc_verifier_round_remove_vm(VtcVerifierRound *self, const gchar *uuid)
{
        g_hash_table_remove(self->dirty, uuid);
        g_hash_table_remove(self->vms, uuid);
}

VtcVerifierStoreVm *
vtc_verifier_round_get_vm(VtcVerifierRound *self,
                          const gchar *uuid,
                          gint64 *out_next_round_ms,
                          guint *out_backoff_ms)
{
        VtcRoundVm *vm = g_hash_table_lookup(self->vms, uuid);

        if (vm == NULL)
                return NULL;
        if (out_next_round_ms != NULL) {
                *out_next_round_ms = 0;
                if (vm->iter != NULL)
                        *out_next_round_ms =
                            (g_get_real_time() + (vm->due_us - g_get_monotonic_time())) / 1000;
                else if (vm->in_flight)
                        *out_next_round_ms = g_get_real_time() / 1000;
        }
        if (out_backoff_ms != NULL)
                *out_backoff_ms =
                    g_strcmp0(vm->rec->state, "unreachable") == 0 ? vm->backoff_ms : 0;
        return vtc_verifier_store_vm_copy(vm->rec);
}

void
vtc_verifier_round_append_metrics(VtcVerifierRound *self, GString *out)
{
        const gchar *states[] = {"registered", "trusted", "failed", "unreachable"};
        guint counts[4] = {0};
        GHashTableIter it;
        gpointer v;
        guint64 delivered = 0, retried = 0, abandoned = 0;

        g_hash_table_iter_init(&it, self->vms);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                VtcRoundVm *vm = v;
                for (guint i = 0; i < G_N_ELEMENTS(states); i++)
                        if (g_strcmp0(vm->rec->state, states[i]) == 0)
                                counts[i]++;
        }
        g_string_append(out,
                        "# HELP vtc_verifier_rounds_total Attestation rounds by outcome.\n"
                        "# TYPE vtc_verifier_rounds_total counter\n");
        g_string_append_printf(out,
                               "vtc_verifier_rounds_total{result=\"pass\"} %" G_GUINT64_FORMAT "\n",
                               self->rounds_pass);
        g_string_append_printf(out,
                               "vtc_verifier_rounds_total{result=\"fail\"} %" G_GUINT64_FORMAT "\n",
                               self->rounds_fail);
        g_string_append_printf(
            out,
            "vtc_verifier_rounds_total{result=\"unreachable\"} %" G_GUINT64_FORMAT "\n",
            self->rounds_unreachable);
        g_string_append_printf(out,
                               "vtc_verifier_rounds_total{result=\"incomplete\"} %" G_GUINT64_FORMAT
                               "\n",
                               self->rounds_incomplete);
        g_string_append(out,
                        "# HELP vtc_verifier_verdicts_total Failed verdicts by reason.\n"
                        "# TYPE vtc_verifier_verdicts_total counter\n");
        for (guint i = 1; i < VTC_ROUND_N_REASONS; i++) {
                VtcVerifierReason r;
                const gchar *name = vtc_verifier_reason_to_string((VtcVerifierReason)i);
                if (name == NULL || !vtc_verifier_reason_from_string(name, &r) || (guint)r != i)
                        break;
                if (r == VTC_VERIFIER_REASON_GUEST_REBOOT || r == VTC_VERIFIER_REASON_HOST_REBOOT ||
                    r == VTC_VERIFIER_REASON_LOG_MORE)
                        continue;
                g_string_append_printf(
                    out,
                    "vtc_verifier_verdicts_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                    name,
                    self->verdicts[i]);
        }
        g_string_append_printf(out,
                               "# HELP vtc_verifier_batches_total Requests POST /v1/rounds sent "
                               "to hostds.\n# TYPE vtc_verifier_batches_total counter\n"
                               "vtc_verifier_batches_total %" G_GUINT64_FORMAT "\n"
                               "# HELP vtc_verifier_batched_rounds_total Rounds sent in them.\n"
                               "# TYPE vtc_verifier_batched_rounds_total counter\n"
                               "vtc_verifier_batched_rounds_total %" G_GUINT64_FORMAT "\n",
                               self->batches,
                               self->batched);
        vtc_round_hist_append(out,
                              "vtc_verifier_round_seconds",
                              "Nonce to verdict, evidence fetch included.",
                              &self->round_hist);
        vtc_round_hist_append(out,
                              "vtc_verifier_check_seconds",
                              "The chain check alone.",
                              &self->check_hist);
        g_string_append(out,
                        "# HELP vtc_verifier_vms VMs per state.\n# TYPE vtc_verifier_vms gauge\n");
        for (guint i = 0; i < G_N_ELEMENTS(states); i++)
                g_string_append_printf(out,
                                       "vtc_verifier_vms{state=\"%s\"} %u\n",
                                       states[i],
                                       counts[i]);
        g_string_append_printf(out,
                               "# HELP vtc_verifier_rounds_in_flight Rounds waiting for evidence.\n"
                               "# TYPE vtc_verifier_rounds_in_flight gauge\n"
                               "vtc_verifier_rounds_in_flight %u\n",
                               self->in_flight);
        g_string_append_printf(
            out,
            "# HELP vtc_verifier_requests_in_flight Requests handed to the HTTP client.\n"
            "# TYPE vtc_verifier_requests_in_flight gauge\n"
            "vtc_verifier_requests_in_flight %u\n"
            "# HELP vtc_verifier_requests_stale_total Requests not sent: no free connection to "
            "their peer within the timeout.\n"
            "# TYPE vtc_verifier_requests_stale_total counter\n"
            "vtc_verifier_requests_stale_total %" G_GUINT64_FORMAT "\n",
            self->active,
            self->stale_requests);
        vtc_verifier_webhook_get_counts(self->webhook, &delivered, &retried, &abandoned);
        g_string_append_printf(
            out,
            "# HELP vtc_verifier_webhook_deliveries_total Webhook POSTs of revocation events.\n"
            "# TYPE vtc_verifier_webhook_deliveries_total counter\n"
            "vtc_verifier_webhook_deliveries_total{result=\"delivered\"} %" G_GUINT64_FORMAT "\n"
            "vtc_verifier_webhook_deliveries_total{result=\"retried\"} %" G_GUINT64_FORMAT "\n"
            "vtc_verifier_webhook_deliveries_total{result=\"abandoned\"} %" G_GUINT64_FORMAT "\n",
            delivered,
            retried,
            abandoned);
        g_string_append_printf(
            out,
            "# HELP vtc_verifier_store_errors_total Failed writes of the loop's state (retried).\n"
            "# TYPE vtc_verifier_store_errors_total counter\n"
            "vtc_verifier_store_errors_total %" G_GUINT64_FORMAT "\n",
            self->flush_errors);
}
