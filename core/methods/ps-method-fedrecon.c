/* ps-method-fedrecon.c: federated reconnaissance with prototypes (Hendryx
 * et al. 2021).
 *
 * A prototypical network is trained on the base classes and frozen (no
 * gradient step ever happens on a client).  n_clients simulated clients
 * each see a stream of samples of their own subset of the novel classes
 * and keep, per class, a running mean p <- (n p + f(x)) / (n + 1) and a
 * count n.  The server merges clients by the count-weighted average
 * p_c = sum_k n_kc p_kc / sum_k n_kc and classifies by the nearest merged
 * prototype over the superset of base classes and every class a client has
 * seen.  Because the merge is exact, the merged prototypes equal those a
 * central server would compute from all the clients' samples; evaluate
 * reports the largest difference as merge_error.
 */
#define G_LOG_DOMAIN "ps-fedrecon"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-novel.h"

#include <math.h>
#include <string.h>

static const PsParamSpec fedrecon_params[] = {
  PS_EMBED_NET_PARAMS (32),
  { "n_clients", PS_PARAM_INT, 3, 1, 100, NULL, "Simulated clients" },
  { "classes_per_client", PS_PARAM_INT, 0, 0, 1000, NULL,
    "Novel classes each client sees, a seeded random subset (0: about 2/3 of them, so clients overlap)" },
  { "samples_per_class", PS_PARAM_INT, 20, 1, 100000, NULL,
    "Training samples of each of its classes a client streams" },
};

typedef struct
{
  PsNovelNet m;
  int n_clients, per_client, per_class;
  guint64 seed;
  int K;              /* base + novel prototype slots */
  float *merged;      /* [K, E] */
  double *count;      /* [K] merged counts (0: class unseen) */
  int *proto_cls;     /* [K] */
} FedRecon;

static void
fedrecon_free (gpointer p)
{
  FedRecon *f = p;
  if (f == NULL)
    return;
  ps_novel_net_clear (&f->m);
  g_free (f->merged);
  g_free (f->count);
  g_free (f->proto_cls);
  g_free (f);
}

static gpointer
fedrecon_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
                 GError **error)
{
  FedRecon *f = g_new0 (FedRecon, 1);
  if (!ps_novel_net_init (&f->m, params, data, seed, error))
    {
      g_free (f);
      return NULL;
    }
  const int NN = f->m.n_novel, C = (int) f->m.b.oc.n_id;
  f->n_clients = (int) ps_params_get_int (params, "n_clients");
  int pc = (int) ps_params_get_int (params, "classes_per_client");
  f->per_client = pc <= 0 ? MAX (1, (2 * NN + 2) / 3) : MIN (pc, NN);
  f->per_class = (int) ps_params_get_int (params, "samples_per_class");
  f->seed = seed;
  f->K = C + NN;
  f->merged = g_new0 (float, (gsize) f->K * f->m.b.E);
  f->count = g_new0 (double, f->K);
  f->proto_cls = g_new (int, f->K);
  for (int c = 0; c < C; c++)
    f->proto_cls[c] = f->m.b.oc.cls[c];
  for (int s = 0; s < NN; s++)
    f->proto_cls[C + s] = f->m.novel_cls[s];
  return f;
}

static guint64
fedrecon_total_steps (gpointer p)
{
  return ((FedRecon *) p)->m.b.total;
}

static gboolean
fedrecon_step (gpointer p, PsStepInfo *info, GError **error)
{
  ps_novel_net_step (&((FedRecon *) p)->m, info);
  (void) error;
  return TRUE;
}

void
ps_fed_merge (float *merged, double *count, const float *client, const double *client_n,
              int n_clients, int K, int E)
{
  memset (merged, 0, (gsize) K * E * sizeof (float));
  for (int k = 0; k < K; k++)
    {
      double n = 0;
      for (int c = 0; c < n_clients; c++)
        n += client_n[(gsize) c * K + k];
      count[k] = n;
      if (n <= 0)
        continue;
      for (int e = 0; e < E; e++)
        {
          double s = 0;
          for (int c = 0; c < n_clients; c++)
            s += client_n[(gsize) c * K + k] * client[((gsize) c * K + k) * E + e];
          merged[(gsize) k * E + e] = (float) (s / n);
        }
    }
}

/* Accuracy of the nearest prototype among those with count > 0 on rows
 * whose class has a prototype with count > 0; *n_out receives how many. */
static double
fed_accuracy (FedRecon *f, const float *protos, const double *count, const float *z,
              const gint32 *y, guint n, gboolean novel_only, gboolean base_only, guint *n_out)
{
  PsNovelNet *m = &f->m;
  const int K = f->K, E = m->b.E, C = (int) m->b.oc.n_id;
  g_autofree float *d = g_new (float, (gsize) MAX (n, 1) * K);
  ps_proto_similarity (d, z, protos, (int) n, K, E, PS_SIM_NEG_SQEUCLID);
  guint ok = 0, cnt = 0;
  for (guint i = 0; i < n; i++)
    {
      int ns = m->novel_slot[y[i]];
      int k_true = ns >= 0 ? C + ns : m->b.oc.slot[y[i]];
      if (count[k_true] <= 0 || (novel_only && ns < 0) || (base_only && ns >= 0))
        continue;
      int best = -1;
      for (int k = 0; k < K; k++)
        if (count[k] > 0 && (best < 0 || d[(gsize) i * K + k] > d[(gsize) i * K + best]))
          best = k;
      cnt++;
      ok += best == k_true;
    }
  *n_out = cnt;
  return cnt ? (double) ok / cnt : NAN;
}

/* Simulates the clients, merges, and fills f->merged / f->count; reports
 * into `out` when non-NULL. */
static void
fedrecon_run (FedRecon *f, PsMetrics *out)
{
  PsNovelNet *m = &f->m;
  PsDataset *ds = m->b.data;
  const int K = f->K, E = m->b.E, C = (int) m->b.oc.n_id, NN = m->n_novel, NC = f->n_clients;
  ps_novel_net_base_protos (m, FALSE);
  int *slot = NULL;
  guint n_tr;
  g_autofree guint *tr = ps_novel_net_rows (m, PS_SPLIT_TRAIN, &slot, &n_tr);
  g_autofree int *slot_owned = slot;
  g_autofree float *z_tr = ps_novel_net_embed (m, tr, n_tr);
  g_autofree guint *by_n = g_new0 (guint, NN);
  g_autofree guint *by = g_new (guint, MAX (n_tr, 1));
  g_autofree guint *start = g_new0 (guint, NN + 1);
  for (guint i = 0; i < n_tr; i++)
    by_n[slot[i]]++;
  for (int s = 0; s < NN; s++)
    start[s + 1] = start[s] + by_n[s];
  g_autofree guint *fill = g_memdup2 (start, (gsize) NN * sizeof (guint));
  for (guint i = 0; i < n_tr; i++)
    by[fill[slot[i]]++] = i;

  /* Client prototypes; slot k < C is a base class, which the server
   * already holds (every client starts from the base prototypes with their
   * bank counts, the frozen model's shared knowledge, as client 0's). */
  g_autofree float *cp = g_new0 (float, (gsize) (NC + 1) * K * E);
  g_autofree double *cn = g_new0 (double, (gsize) (NC + 1) * K);
  memcpy (cp, m->base_protos, (gsize) C * E * sizeof (float));
  for (int c = 0; c < C; c++)
    cn[c] = m->base_counts[c];
  /* The central reference: plain sums over every streamed sample. */
  g_autofree double *central = g_new0 (double, (gsize) K * E);
  g_autofree double *central_n = g_new0 (double, K);
  PsRng rng;
  ps_rng_init (&rng, f->seed, 7);
  g_autofree guint *order = g_new (guint, NN);
  g_autofree guint *pool = g_new (guint, MAX (n_tr, 1));
  double bytes = 0;
  for (int cl = 1; cl <= NC; cl++)
    {
      ps_rng_permutation (&rng, order, NN);
      for (int j = 0; j < f->per_client; j++)
        {
          int s = (int) order[j], k = C + s;
          guint ns = by_n[s];
          memcpy (pool, by + start[s], ns * sizeof (guint));
          int take = (int) MIN ((guint) f->per_class, ns);
          float *p = cp + ((gsize) cl * K + k) * E;
          double *pn = cn + (gsize) cl * K + k;
          for (int t = 0; t < take; t++)
            {
              guint r = t + ps_rng_below (&rng, ns - t);
              guint tmp = pool[t];
              pool[t] = pool[r];
              pool[r] = tmp;
              const float *zi = z_tr + (gsize) pool[t] * E;
              /* The online update a device with no memory of past samples
               * can run. */
              for (int e = 0; e < E; e++)
                p[e] = (float) ((*pn * p[e] + zi[e]) / (*pn + 1));
              *pn += 1;
              for (int e = 0; e < E; e++)
                central[(gsize) k * E + e] += zi[e];
              central_n[k] += 1;
            }
          bytes += (double) (E + 1) * 4;
        }
    }
  ps_fed_merge (f->merged, f->count, cp, cn, NC + 1, K, E);
  if (out == NULL)
    return;

  double err = 0;
  for (int k = C; k < K; k++)
    if (central_n[k] > 0)
      for (int e = 0; e < E; e++)
        err = MAX (err, fabs (central[(gsize) k * E + e] / central_n[k] - f->merged[(gsize) k * E + e]));
  guint n_ev;
  g_autofree guint *ev = ps_split_indices (ds, ps_novel_net_eval_split (m), TRUE, &n_ev);
  g_autofree float *z = ps_novel_net_embed (m, ev, n_ev);
  g_autofree gint32 *y = g_new (gint32, MAX (n_ev, 1));
  for (guint i = 0; i < n_ev; i++)
    y[i] = ds->y[ev[i]];
  guint cnt;
  int seen = 0;
  for (int k = C; k < K; k++)
    seen += f->count[k] > 0;
  ps_metrics_set (out, "test_acc", fed_accuracy (f, f->merged, f->count, z, y, n_ev, FALSE, FALSE, &cnt));
  ps_metrics_set (out, "novel_acc", fed_accuracy (f, f->merged, f->count, z, y, n_ev, TRUE, FALSE, &cnt));
  ps_metrics_set (out, "base_acc", fed_accuracy (f, f->merged, f->count, z, y, n_ev, FALSE, TRUE, &cnt));
  ps_metrics_set (out, "classes_seen", C + seen);
  ps_metrics_set (out, "merge_error", err);
  ps_metrics_set (out, "bytes_communicated", bytes);
  /* What one client knows alone, judged on the superset of classes: the
   * gap to test_acc is what merging buys. */
  double acc_sum = 0;
  g_autofree double *solo_n = g_new (double, K);
  g_autofree float *solo = g_new (float, (gsize) K * E);
  for (int cl = 1; cl <= NC; cl++)
    {
      memcpy (solo, cp, (gsize) K * E * sizeof (float));
      memcpy (solo_n, cn, (gsize) K * sizeof (double));
      for (int k = C; k < K; k++)
        {
          solo_n[k] = cn[(gsize) cl * K + k];
          memcpy (solo + (gsize) k * E, cp + ((gsize) cl * K + k) * E, E * sizeof (float));
        }
      /* Rows of classes the client never saw count as errors. */
      guint ok_n;
      double a = fed_accuracy (f, solo, solo_n, z, y, n_ev, FALSE, FALSE, &ok_n);
      guint all_n;
      fed_accuracy (f, f->merged, f->count, z, y, n_ev, FALSE, FALSE, &all_n);
      acc_sum += all_n ? a * ok_n / all_n : 0;
    }
  ps_metrics_set (out, "client_alone_acc", acc_sum / NC);
}

static PsMetrics *
fedrecon_evaluate (gpointer p)
{
  PsMetrics *out = ps_metrics_new ();
  fedrecon_run (p, out);
  return out;
}

static GPtrArray *
fedrecon_snapshot (gpointer p)
{
  FedRecon *f = p;
  fedrecon_run (f, NULL);
  /* Only the prototypes the server holds (seen classes). */
  const int E = f->m.b.E;
  g_autofree float *pr = g_new (float, (gsize) f->K * E);
  g_autofree int *cls = g_new (int, f->K);
  g_autofree float *cnt = g_new (float, f->K);
  int K = 0;
  for (int k = 0; k < f->K; k++)
    if (f->count[k] > 0)
      {
        memcpy (pr + (gsize) K * E, f->merged + (gsize) k * E, E * sizeof (float));
        cls[K] = f->proto_cls[k];
        cnt[K++] = (float) f->count[k];
      }
  GPtrArray *out = ps_novel_net_snapshot (&f->m, pr, cls, K, 0.f);
  gsize shape[1] = { (gsize) K };
  g_ptr_array_add (out, ps_array_new ("prototype_counts", PS_DTYPE_F32, 1, shape, cnt));
  return out;
}

static PsExplanation *
fedrecon_explain (gpointer p, guint sample, GError **error)
{
  FedRecon *f = p;
  fedrecon_run (f, NULL);
  const int E = f->m.b.E;
  g_autofree float *pr = g_new (float, (gsize) f->K * E);
  g_autofree int *cls = g_new (int, f->K);
  int K = 0;
  for (int k = 0; k < f->K; k++)
    if (f->count[k] > 0)
      {
        memcpy (pr + (gsize) K * E, f->merged + (gsize) k * E, E * sizeof (float));
        cls[K++] = f->proto_cls[k];
      }
  return ps_novel_net_explain (&f->m, sample, pr, cls, K, 0.f,
                               "FedRecon (count-weighted merged prototypes)", error);
}

#define FEDRECON_MAGIC 0x31444546u  /* "FED1" */

static GBytes *
fedrecon_save (gpointer p)
{
  PsBlobWriter w;
  ps_blob_writer_init (&w, FEDRECON_MAGIC);
  ps_embed_net_save (&((FedRecon *) p)->m.b, &w);
  return ps_blob_writer_finish (&w);
}

static gboolean
fedrecon_load (gpointer p, GBytes *blob, GError **error)
{
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, FEDRECON_MAGIC, "fedrecon checkpoint", error))
    return FALSE;
  return ps_embed_net_load (&((FedRecon *) p)->m.b, &r, error);
}

const PsMethod ps_method_fedrecon = {
  .id = "fedrecon",
  .title = "Federated reconnaissance (prototype merging)",
  .family = "Prototype learning",
  .paper = "Hendryx et al., Federated Reconnaissance: Efficient, Distributed, Class-Incremental "
           "Learning, 2021",
  .summary = "A prototypical network is trained on the base classes and frozen. Simulated clients "
             "each stream samples of their own subset of the novel classes (ood_classes, by "
             "default the last 40%), keeping a running mean and count per class; the server merges "
             "them by count-weighted averaging and classifies by the nearest prototype over every "
             "class seen. Reports accuracy on the seen superset, a client's accuracy alone, the "
             "merge's deviation from central prototypes and the bytes sent. The small version "
             "keeps the merge exactly, runs all clients in one process with one stream each, "
             "and uses an MLP with batch ProtoNet training instead of episodic 4-conv training.",
  .key_metric = "test_acc",
  .params = fedrecon_params,
  .n_params = G_N_ELEMENTS (fedrecon_params),
  .create = fedrecon_create,
  .free = fedrecon_free,
  .total_steps = fedrecon_total_steps,
  .step = fedrecon_step,
  .evaluate = fedrecon_evaluate,
  .snapshot = fedrecon_snapshot,
  .explain = fedrecon_explain,
  .save = fedrecon_save,
  .load = fedrecon_load,
};
