/* ps-method-fewshot.c: transductive few-shot inference by soft k-means
 * (Boudiaf et al., "Transductive Few-Shot Learning: Clustering is All You
 * Need?", with the Laplacian weight lambda = 0).
 *
 * The embedding is trained on the base classes and frozen.  Evaluation
 * draws episodes from the novel classes' evaluation rows: n_way classes,
 * n_shot labelled support samples and n_query queries each.  Inductive
 * inference gives each query the class of the nearest support mean
 * (ProtoNet); transductive inference refines those means by soft k-means
 * over the episode's queries (supports clamped to their class) and then
 * assigns.  Both accuracies are reported with 95% intervals.
 */
#define G_LOG_DOMAIN "ps-fewshot"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-novel.h"

#include <math.h>
#include <string.h>

static const PsParamSpec fewshot_params[] = {
  PS_EMBED_NET_PARAMS (32),
  { "n_way", PS_PARAM_INT, 0, 0, 1000, NULL, "Classes per episode (0: every novel class)" },
  { "n_shot", PS_PARAM_INT, 1, 1, 1000, NULL, "Support samples per class" },
  { "n_query", PS_PARAM_INT, 15, 1, 1000, NULL, "Query samples per class" },
  { "episodes", PS_PARAM_INT, 300, 1, 100000, NULL, "Evaluation episodes" },
  { "iters", PS_PARAM_INT, 10, 0, 1000, NULL, "Soft k-means rounds" },
  { "temperature", PS_PARAM_FLOAT, 0.1, 1e-4, 100, NULL,
    "Soft-assignment temperature over squared distances of unit embeddings", TRUE },
};

typedef struct
{
  PsNovelNet m;
  int n_way, n_shot, n_query, episodes, iters;
  float temperature;
  guint64 seed;
  /* The last episode, for snapshots. */
  gboolean have_episode;
  float *ep_protos;   /* [n_way, E] transductive prototypes */
  int *ep_cls;        /* [n_way] */
} FewShot;

static void
fewshot_free (gpointer p)
{
  FewShot *f = p;
  if (f == NULL)
    return;
  ps_novel_net_clear (&f->m);
  g_free (f->ep_protos);
  g_free (f->ep_cls);
  g_free (f);
}

static gpointer
fewshot_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
                GError **error)
{
  FewShot *f = g_new0 (FewShot, 1);
  if (!ps_novel_net_init (&f->m, params, data, seed, error))
    {
      g_free (f);
      return NULL;
    }
  int way = (int) ps_params_get_int (params, "n_way");
  f->n_way = way <= 0 ? f->m.n_novel : MIN (way, f->m.n_novel);
  f->n_shot = (int) ps_params_get_int (params, "n_shot");
  f->n_query = (int) ps_params_get_int (params, "n_query");
  f->episodes = (int) ps_params_get_int (params, "episodes");
  f->iters = (int) ps_params_get_int (params, "iters");
  f->temperature = (float) ps_params_get_float (params, "temperature");
  f->seed = seed;
  if (f->n_way < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "few-shot episodes need at least two novel classes");
      fewshot_free (f);
      return NULL;
    }
  f->ep_protos = g_new0 (float, (gsize) f->n_way * f->m.b.E);
  f->ep_cls = g_new0 (int, f->n_way);
  for (int k = 0; k < f->n_way; k++)
    f->ep_cls[k] = f->m.novel_cls[k];
  return f;
}

static guint64
fewshot_total_steps (gpointer p)
{
  return ((FewShot *) p)->m.b.total;
}

static gboolean
fewshot_step (gpointer p, PsStepInfo *info, GError **error)
{
  ps_novel_net_step (&((FewShot *) p)->m, info);
  ((FewShot *) p)->have_episode = FALSE;   /* the embedding moved */
  (void) error;
  return TRUE;
}

static int
argmax_row (const float *r, int K)
{
  int b = 0;
  for (int k = 1; k < K; k++)
    if (r[k] > r[b])
      b = k;
  return b;
}

static void
mean_ci (const double *v, int n, double *mean, double *ci)
{
  double s = 0, s2 = 0;
  for (int i = 0; i < n; i++)
    s += v[i];
  *mean = s / n;
  for (int i = 0; i < n; i++)
    s2 += (v[i] - *mean) * (v[i] - *mean);
  *ci = n > 1 ? 1.96 * sqrt (s2 / (n - 1) / n) : NAN;
}

static PsMetrics *
fewshot_evaluate (gpointer p)
{
  FewShot *f = p;
  PsNovelNet *m = &f->m;
  const int E = m->b.E, W = f->n_way, NS = f->n_shot, NQ = f->n_query, NN = m->n_novel;
  PsMetrics *out = ps_metrics_new ();
  int *slot = NULL;
  guint n;
  g_autofree guint *rows = ps_novel_net_rows (m, ps_novel_net_eval_split (m), &slot, &n);
  g_autofree int *slot_owned = slot;
  g_autofree float *z = ps_novel_net_embed (m, rows, n);
  ps_proto_normalize_rows (z, (int) n, E);
  /* Rows of each novel class. */
  g_autofree guint *cnt = g_new0 (guint, NN);
  for (guint i = 0; i < n; i++)
    cnt[slot[i]]++;
  g_autofree guint **by = g_new0 (guint *, NN);
  g_autofree guint *fill = g_new0 (guint, NN);
  for (int s = 0; s < NN; s++)
    {
      by[s] = g_new (guint, MAX (cnt[s], 1));
      if (cnt[s] < (guint) (NS + NQ))
        {
          ps_metrics_set (out, "acc_transductive", NAN);
          ps_metrics_set (out, "acc_inductive", NAN);
          for (int t = 0; t <= s; t++)
            g_free (by[t]);
          return out;
        }
    }
  for (guint i = 0; i < n; i++)
    by[slot[i]][fill[slot[i]]++] = i;
  PsRng rng;
  ps_rng_init (&rng, f->seed, 6);
  g_autofree double *acc_i = g_new (double, f->episodes);
  g_autofree double *acc_t = g_new (double, f->episodes);
  g_autofree float *sup = g_new (float, (gsize) W * NS * E);
  g_autofree float *qry = g_new (float, (gsize) W * NQ * E);
  g_autofree int *sup_y = g_new (int, W * NS);
  g_autofree int *qry_y = g_new (int, W * NQ);
  g_autofree float *protos = g_new (float, (gsize) W * E);
  g_autofree float *w = g_new (float, (gsize) W * NQ * W);
  g_autofree int *counts = g_new (int, W);
  g_autofree guint *ways = g_new (guint, NN);
  for (int ep = 0; ep < f->episodes; ep++)
    {
      ps_rng_permutation (&rng, ways, NN);
      for (int k = 0; k < W; k++)
        {
          int s = (int) ways[k];
          guint *pool = by[s];
          for (int t = 0; t < NS + NQ; t++)
            {
              guint j = t + ps_rng_below (&rng, cnt[s] - t);
              guint tmp = pool[t];
              pool[t] = pool[j];
              pool[j] = tmp;
              float *dst = t < NS ? sup + ((gsize) k * NS + t) * E : qry + ((gsize) k * NQ + t - NS) * E;
              memcpy (dst, z + (gsize) pool[t] * E, E * sizeof (float));
              if (t < NS)
                sup_y[k * NS + t] = k;
              else
                qry_y[k * NQ + t - NS] = k;
            }
        }
      int Q = W * NQ, ok_i = 0, ok_t = 0;
      ps_proto_class_means (protos, counts, sup, sup_y, W * NS, W, E);
      ps_proto_similarity (w, qry, protos, Q, W, E, PS_SIM_NEG_SQEUCLID);
      for (int i = 0; i < Q; i++)
        ok_i += argmax_row (w + (gsize) i * W, W) == qry_y[i];
      ps_soft_kmeans (protos, w, sup, sup_y, W * NS, qry, Q, W, E, f->temperature, f->iters);
      for (int i = 0; i < Q; i++)
        ok_t += argmax_row (w + (gsize) i * W, W) == qry_y[i];
      acc_i[ep] = (double) ok_i / Q;
      acc_t[ep] = (double) ok_t / Q;
      if (ep == f->episodes - 1)
        {
          memcpy (f->ep_protos, protos, (gsize) W * E * sizeof (float));
          f->have_episode = TRUE;
          for (int k = 0; k < W; k++)
            f->ep_cls[k] = m->novel_cls[ways[k]];
        }
    }
  for (int s = 0; s < NN; s++)
    g_free (by[s]);
  double mi, ci_i, mt, ci_t;
  mean_ci (acc_i, f->episodes, &mi, &ci_i);
  mean_ci (acc_t, f->episodes, &mt, &ci_t);
  ps_metrics_set (out, "acc_transductive", mt);
  ps_metrics_set (out, "acc_transductive_ci95", ci_t);
  ps_metrics_set (out, "acc_inductive", mi);
  ps_metrics_set (out, "acc_inductive_ci95", ci_i);
  ps_metrics_set (out, "gain", mt - mi);
  ps_metrics_set (out, "base_acc", ps_novel_net_base_acc (m));
  return out;
}

/* The views need prototypes: run the episodes once if nothing has. */
static void
fewshot_ensure_episode (FewShot *f)
{
  if (!f->have_episode)
    ps_metrics_free (fewshot_evaluate (f));
}

static GPtrArray *
fewshot_snapshot (gpointer p)
{
  FewShot *f = p;
  fewshot_ensure_episode (f);
  /* Prototypes of the last evaluated episode, in the unit embedding.
   * Cosine scaled by 2 / temperature gives the same softmax as
   * -|z - m|^2 / temperature on unit vectors. */
  return ps_novel_net_snapshot (&f->m, f->ep_protos, f->ep_cls, f->n_way,
                                2.f / f->temperature);
}

static PsExplanation *
fewshot_explain (gpointer p, guint sample, GError **error)
{
  FewShot *f = p;
  fewshot_ensure_episode (f);
  return ps_novel_net_explain (&f->m, sample, f->ep_protos, f->ep_cls, f->n_way, 2.f / f->temperature,
                               "Transductive few-shot (last episode's prototypes)", error);
}

#define FEWSHOT_MAGIC 0x31535746u  /* "FWS1" */

static GBytes *
fewshot_save (gpointer p)
{
  PsBlobWriter w;
  ps_blob_writer_init (&w, FEWSHOT_MAGIC);
  ps_embed_net_save (&((FewShot *) p)->m.b, &w);
  return ps_blob_writer_finish (&w);
}

static gboolean
fewshot_load (gpointer p, GBytes *blob, GError **error)
{
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, FEWSHOT_MAGIC, "fewshot checkpoint", error))
    return FALSE;
  return ps_embed_net_load (&((FewShot *) p)->m.b, &r, error);
}

const PsMethod ps_method_fewshot = {
  .id = "fewshot",
  .title = "Transductive few-shot (soft k-means)",
  .family = "Prototype learning",
  .paper = "Boudiaf et al., Transductive Few-Shot Learning: Clustering is All You Need?, 2021",
  .summary = "An embedding is trained on the base classes and frozen. Episodes over the novel "
             "classes (ood_classes, by default the last 40%) compare inductive nearest-support-mean "
             "classification with transductive soft k-means over the episode's queries, started "
             "from the support means with the supports clamped to their classes. The small version "
             "keeps the bound optimiser with lambda = 0 (soft k-means) and drops the Laplacian "
             "kNN term; the backbone is an MLP trained with ProtoNet's batch loss, not plain "
             "cross-entropy on a ResNet.",
  .key_metric = "acc_transductive",
  .params = fewshot_params,
  .n_params = G_N_ELEMENTS (fewshot_params),
  .create = fewshot_create,
  .free = fewshot_free,
  .total_steps = fewshot_total_steps,
  .step = fewshot_step,
  .evaluate = fewshot_evaluate,
  .snapshot = fewshot_snapshot,
  .explain = fewshot_explain,
  .save = fewshot_save,
  .load = fewshot_load,
};
