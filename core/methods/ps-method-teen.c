/* ps-method-teen.c: TEEN, training-free prototype calibration for few-shot
 * class-incremental learning (Wang et al. 2023).
 *
 * The embedding is trained on the base classes only and then frozen.  Each
 * novel class arrives with n_shot labelled samples; its prototype is the
 * mean of their unit embeddings, pulled toward the base prototypes it
 * resembles:
 *
 *   w_j   = softmax_j (softmax_t * cos(p_n, b_j))
 *   delta = unit (sum_j w_j b_j)
 *   p_n'  = (1 - shift_weight) p_n + shift_weight delta
 *
 * Classification is cosine over [base; novel] prototypes.  evaluate
 * reports new-class accuracy with and without the calibration, base-class
 * accuracy, and the share of novel test samples taken for a base class
 * (the "new -> base" confusion TEEN is meant to reduce).
 */
#define G_LOG_DOMAIN "ps-teen"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-novel.h"

#include <math.h>
#include <string.h>

static const PsParamSpec teen_params[] = {
  PS_EMBED_NET_PARAMS (32),
  { "n_shot", PS_PARAM_INT, 5, 1, 1000, NULL, "Labelled samples per novel class (drawn from its training rows)" },
  { "shift_weight", PS_PARAM_FLOAT, 0.5, 0, 1, NULL, "alpha: how far a novel prototype moves toward its base mixture" },
  { "softmax_t", PS_PARAM_FLOAT, 16, 0.01, 1000, NULL, "tau: temperature (inverse) of the base-class weights" },
  { "cos_scale", PS_PARAM_FLOAT, 16, 0.01, 1000, NULL, "Scale of the cosine logits (confidence only; argmax unchanged)" },
};

typedef struct
{
  PsNovelNet m;
  int n_shot;
  float alpha, tau, scale;
  guint *shot_rows;   /* [n_novel * n_shot] the few shots, drawn once at create */
  float *protos;      /* [n_id + n_novel, E] base then calibrated novel (unit) */
  float *raw;         /* [n_novel, E] uncalibrated novel prototypes (unit) */
  int *proto_cls;     /* [n_id + n_novel] */
} Teen;

static void
teen_free (gpointer p)
{
  Teen *t = p;
  if (t == NULL)
    return;
  ps_novel_net_clear (&t->m);
  g_free (t->shot_rows);
  g_free (t->protos);
  g_free (t->raw);
  g_free (t->proto_cls);
  g_free (t);
}

static gpointer
teen_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
             GError **error)
{
  Teen *t = g_new0 (Teen, 1);
  if (!ps_novel_net_init (&t->m, params, data, seed, error))
    {
      g_free (t);
      return NULL;
    }
  t->n_shot = (int) ps_params_get_int (params, "n_shot");
  t->alpha = (float) ps_params_get_float (params, "shift_weight");
  t->tau = (float) ps_params_get_float (params, "softmax_t");
  t->scale = (float) ps_params_get_float (params, "cos_scale");
  const int N = t->m.n_novel, C = (int) t->m.b.oc.n_id, E = t->m.b.E;
  /* The shots come from the novel classes' training rows, drawn once from
   * the run's seed (stream 5) so evaluation is a fixed function of the
   * weights. */
  int *slot = NULL;
  guint n;
  g_autofree guint *rows = ps_novel_net_rows (&t->m, PS_SPLIT_TRAIN, &slot, &n);
  PsRng rng;
  ps_rng_init (&rng, seed, 5);
  ps_rng_shuffle (&rng, rows, n);
  g_free (slot);
  t->shot_rows = g_new (guint, (gsize) N * t->n_shot);
  g_autofree int *got = g_new0 (int, N);
  for (guint i = 0; i < n; i++)
    {
      int s = t->m.novel_slot[data->y[rows[i]]];
      if (got[s] < t->n_shot)
        t->shot_rows[(gsize) s * t->n_shot + got[s]++] = rows[i];
    }
  for (int s = 0; s < N; s++)
    if (got[s] < t->n_shot)
      {
        g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "TEEN: novel class %d has %d training samples, "
                     "fewer than n_shot = %d", t->m.novel_cls[s], got[s], t->n_shot);
        teen_free (t);
        return NULL;
      }
  t->protos = g_new0 (float, (gsize) (C + N) * E);
  t->raw = g_new0 (float, (gsize) N * E);
  t->proto_cls = g_new (int, C + N);
  for (int c = 0; c < C; c++)
    t->proto_cls[c] = t->m.b.oc.cls[c];
  for (int s = 0; s < N; s++)
    t->proto_cls[C + s] = t->m.novel_cls[s];
  return t;
}

static guint64
teen_total_steps (gpointer p)
{
  return ((Teen *) p)->m.b.total;
}

static gboolean
teen_step (gpointer p, PsStepInfo *info, GError **error)
{
  ps_novel_net_step (&((Teen *) p)->m, info);
  (void) error;
  return TRUE;
}

/* Base prototypes, raw novel prototypes and the calibrated ones. */
static void
teen_prototypes (Teen *t)
{
  PsNovelNet *m = &t->m;
  const int N = m->n_novel, C = (int) m->b.oc.n_id, E = m->b.E;
  ps_novel_net_base_protos (m, TRUE);
  g_autofree float *z = ps_novel_net_embed (m, t->shot_rows, (guint) N * t->n_shot);
  ps_proto_normalize_rows (z, N * t->n_shot, E);
  memset (t->raw, 0, (gsize) N * E * sizeof (float));
  for (int s = 0; s < N; s++)
    for (int i = 0; i < t->n_shot; i++)
      for (int e = 0; e < E; e++)
        t->raw[(gsize) s * E + e] += z[((gsize) s * t->n_shot + i) * E + e] / t->n_shot;
  ps_proto_normalize_rows (t->raw, N, E);
  memcpy (t->protos, m->base_protos, (gsize) C * E * sizeof (float));
  ps_teen_calibrate (t->protos + (gsize) C * E, t->raw, N, m->base_protos, C, E, t->alpha, t->tau);
}

static PsMetrics *
teen_evaluate (gpointer p)
{
  Teen *t = p;
  PsNovelNet *m = &t->m;
  PsDataset *ds = m->b.data;
  const int N = m->n_novel, C = (int) m->b.oc.n_id, E = m->b.E, K = C + N;
  teen_prototypes (t);
  guint n;
  g_autofree guint *rows = ps_split_indices (ds, ps_novel_net_eval_split (m), TRUE, &n);
  g_autofree float *z = ps_novel_net_embed (m, rows, n);
  g_autofree float *raw_all = g_memdup2 (t->protos, (gsize) K * E * sizeof (float));
  memcpy (raw_all + (gsize) C * E, t->raw, (gsize) N * E * sizeof (float));
  g_autofree float *lc = g_new (float, (gsize) MAX (n, 1) * K);
  g_autofree float *lr = g_new (float, (gsize) MAX (n, 1) * K);
  ps_novel_logits (lc, z, (int) n, t->protos, K, E, 1.f);
  ps_novel_logits (lr, z, (int) n, raw_all, K, E, 1.f);
  guint nb = 0, nn = 0, ok_b_c = 0, ok_b_r = 0, ok_n_c = 0, ok_n_r = 0, nb_c = 0, nb_r = 0;
  for (guint i = 0; i < n; i++)
    {
      int y = ds->y[rows[i]];
      int bc = 0, br = 0;
      for (int k = 1; k < K; k++)
        {
          if (lc[(gsize) i * K + k] > lc[(gsize) i * K + bc])
            bc = k;
          if (lr[(gsize) i * K + k] > lr[(gsize) i * K + br])
            br = k;
        }
      if (m->novel_slot[y] >= 0)
        {
          nn++;
          ok_n_c += t->proto_cls[bc] == y;
          ok_n_r += t->proto_cls[br] == y;
          nb_c += bc < C;
          nb_r += br < C;
        }
      else
        {
          nb++;
          ok_b_c += t->proto_cls[bc] == y;
          ok_b_r += t->proto_cls[br] == y;
        }
    }
  PsMetrics *out = ps_metrics_new ();
  ps_metrics_set (out, "test_acc", n ? (double) (ok_b_c + ok_n_c) / n : NAN);
  ps_metrics_set (out, "test_acc_uncal", n ? (double) (ok_b_r + ok_n_r) / n : NAN);
  ps_metrics_set (out, "base_acc", nb ? (double) ok_b_c / nb : NAN);
  ps_metrics_set (out, "base_acc_uncal", nb ? (double) ok_b_r / nb : NAN);
  ps_metrics_set (out, "novel_acc", nn ? (double) ok_n_c / nn : NAN);
  ps_metrics_set (out, "novel_acc_uncal", nn ? (double) ok_n_r / nn : NAN);
  ps_metrics_set (out, "novel_to_base", nn ? (double) nb_c / nn : NAN);
  ps_metrics_set (out, "novel_to_base_uncal", nn ? (double) nb_r / nn : NAN);
  /* Per novel class, with and without calibration. */
  for (int s = 0; s < N; s++)
    {
      guint cnt = 0, okc = 0, okr = 0;
      for (guint i = 0; i < n; i++)
        {
          if (ds->y[rows[i]] != m->novel_cls[s])
            continue;
          int bc = 0, br = 0;
          for (int k = 1; k < K; k++)
            {
              if (lc[(gsize) i * K + k] > lc[(gsize) i * K + bc])
                bc = k;
              if (lr[(gsize) i * K + k] > lr[(gsize) i * K + br])
                br = k;
            }
          cnt++;
          okc += bc == C + s;
          okr += br == C + s;
        }
      g_autofree char *a = g_strdup_printf ("novel_acc_c%d", m->novel_cls[s]);
      g_autofree char *b = g_strdup_printf ("novel_acc_uncal_c%d", m->novel_cls[s]);
      ps_metrics_set (out, a, cnt ? (double) okc / cnt : NAN);
      ps_metrics_set (out, b, cnt ? (double) okr / cnt : NAN);
    }
  return out;
}

static GPtrArray *
teen_snapshot (gpointer p)
{
  Teen *t = p;
  PsNovelNet *m = &t->m;
  const int N = m->n_novel, C = (int) m->b.oc.n_id, E = m->b.E;
  teen_prototypes (t);
  GPtrArray *out = ps_novel_net_snapshot (m, t->protos, t->proto_cls, C + N, t->scale);
  /* The uncalibrated novel prototypes, for drawing the calibration arrow. */
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes_uncalibrated", t->raw, N, E));
  return out;
}

static PsExplanation *
teen_explain (gpointer p, guint sample, GError **error)
{
  Teen *t = p;
  teen_prototypes (t);
  return ps_novel_net_explain (&t->m, sample, t->protos, t->proto_cls,
                               (int) t->m.b.oc.n_id + t->m.n_novel, t->scale,
                               "TEEN (calibrated novel prototypes)", error);
}

#define TEEN_MAGIC 0x314e4554u  /* "TEN1" */

static GBytes *
teen_save (gpointer p)
{
  PsBlobWriter w;
  ps_blob_writer_init (&w, TEEN_MAGIC);
  ps_embed_net_save (&((Teen *) p)->m.b, &w);
  return ps_blob_writer_finish (&w);
}

static gboolean
teen_load (gpointer p, GBytes *blob, GError **error)
{
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, TEEN_MAGIC, "teen checkpoint", error))
    return FALSE;
  return ps_embed_net_load (&((Teen *) p)->m.b, &r, error);
}

const PsMethod ps_method_teen = {
  .id = "teen",
  .title = "TEEN (few-shot class-incremental)",
  .family = "Prototype learning",
  .paper = "Wang et al., Few-Shot Class-Incremental Learning via Training-Free Prototype "
           "Calibration, NeurIPS 2023",
  .summary = "An embedding is trained on the base classes and frozen; each novel class "
             "(ood_classes, by default the last 40% of the classes) gets a prototype from n_shot "
             "samples, calibrated toward the base prototypes it resembles (softmax_t, "
             "shift_weight), and samples are classified by cosine over base and novel prototypes. "
             "Reports novel-class accuracy with and without calibration and the novel-to-base "
             "confusion. The small version keeps the calibration exactly, all novel classes "
             "arrive in one session, and the backbone is an MLP trained with ProtoNet's batch "
             "loss instead of a ResNet trained with cross-entropy.",
  .key_metric = "novel_acc",
  .params = teen_params,
  .n_params = G_N_ELEMENTS (teen_params),
  .create = teen_create,
  .free = teen_free,
  .total_steps = teen_total_steps,
  .step = teen_step,
  .evaluate = teen_evaluate,
  .snapshot = teen_snapshot,
  .explain = teen_explain,
  .save = teen_save,
  .load = teen_load,
};
