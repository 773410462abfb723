/* ps-method-gcd.c: ProtoGCD, unified and unbiased prototype learning for
 * generalized category discovery (Ma et al. 2024), small version.
 *
 * Set-up as in `gpc`: new_classes are never labelled; label_frac of the
 * old classes' training rows keep labels.  A network maps x to a unit
 * embedding; K = the dataset's number of classes learnable prototypes
 * (old and new together) give cosine logits.  Each step draws a batch of
 * labelled and unlabelled rows and two noisy views of it:
 *   teacher  softmax(cos / tau_t) on view 2 (no gradient), tau_t ramped
 *            from 0.07 to 0.04 over the first half of training;
 *   DAPL     the share r (ramped 0.2 -> 1.0) of unlabelled rows with the
 *            highest top-1 / top-2 probability ratio get one-hot
 *            pseudo-labels, the rest keep the soft teacher target;
 *            labelled rows get their label;
 *   loss     CE(target, softmax(cos / tau_s)) on view 1
 *            + entropy_weight * sum_k pbar_k log pbar_k (pbar: the batch's
 *              mean prediction; keeps new classes from collapsing)
 *            + sep_weight * mean_c log mean_{c' != c} exp(p_c . p_c' / 0.1).
 * The paper's SupCon/SimCLR projection head and its class-number
 * estimation are dropped (the number of classes is given; `gpc` estimates
 * it), and the views are Gaussian input noise instead of image
 * augmentations.
 */
#define G_LOG_DOMAIN "ps-gcd"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-head.h"
#include "../eval/ps-eval.h"
#include "../nn/ps-model.h"

#include <math.h>
#include <string.h>

static const PsParamSpec gcd_params[] = {
  { "new_classes", PS_PARAM_STRING, 0, 0, 0, "",
    "Classes never labelled, e.g. 5,6,7,8,9 (empty: the upper half)" },
  { "label_frac", PS_PARAM_FLOAT, 0.5, 0, 1, NULL, "Share of the old classes' training rows that keep labels" },
  { "embed_dim", PS_PARAM_INT, 32, 2, 1024, NULL, "Embedding width" },
  { "epochs", PS_PARAM_INT, 30, 1, 1000, NULL, "Passes over the training data" },
  { "batch_size", PS_PARAM_INT, 128, 4, 8192, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate (Adam, network and prototypes)", TRUE },
  { "tau_s", PS_PARAM_FLOAT, 0.1, 0.01, 10, NULL, "Student temperature" },
  { "entropy_weight", PS_PARAM_FLOAT, 1.0, 0, 100, NULL, "Weight of the mean-prediction entropy term" },
  { "sep_weight", PS_PARAM_FLOAT, 0.1, 0, 100, NULL, "Weight of the prototype separation term" },
  { "dapl", PS_PARAM_BOOL, 1, 0, 1, NULL, "Dual-level adaptive pseudo-labels (off: soft targets only)" },
  { "noise", PS_PARAM_FLOAT, 0.1, 0, 10, NULL, "Std of the Gaussian noise making the two views, in feature std units" },
};

typedef struct
{
  PsDataset *data;
  PsModel *net;
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint *perm;
  int *lab;              /* [n_train] class of a labelled row, -1 */
  guint8 *is_old;        /* [n_classes] */
  guint64 step, total;
  guint steps_per_epoch;
  int batch, K, E, n_epochs;
  float lr, tau_s, w_ent, w_sep, noise;
  gboolean dapl;
  float *protos, *pm, *pv, *dprotos;   /* [K, E] prototypes and their Adam state */
  float *feat_std;       /* [d] */
  guint eval_n;
  guint *eval_rows;
} Gcd;

static void
gcd_free (gpointer p)
{
  Gcd *m = p;
  if (m == NULL)
    return;
  ps_model_free (m->net);
  ps_dataset_unref (m->data);
  g_free (m->train_idx);
  g_free (m->perm);
  g_free (m->lab);
  g_free (m->is_old);
  g_free (m->protos);
  g_free (m->pm);
  g_free (m->pv);
  g_free (m->dprotos);
  g_free (m->feat_std);
  g_free (m->eval_rows);
  g_free (m);
}

static gpointer
gcd_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
            GError **error)
{
  const guint C = data->n_classes, d = data->d;
  if (C < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: GCD needs labels of at least two classes",
                   data->name);
      return NULL;
    }
  Gcd *m = g_new0 (Gcd, 1);
  m->data = ps_dataset_ref (data);
  m->is_old = g_new0 (guint8, C);
  if (!ps_parse_new_classes (ps_params_get_string (params, "new_classes"), data, C, FALSE,
                             m->is_old, error))
    {
      gcd_free (m);
      return NULL;
    }
  m->E = (int) ps_params_get_int (params, "embed_dim");
  m->K = (int) C;
  g_autofree char *net_spec = data->img_h > 0 && d >= 256
                              ? g_strdup_printf ("%u-256r-128r-%du", d, m->E)
                              : g_strdup_printf ("%u-128r-64r-%du", d, m->E);
  m->net = ps_model_new (net_spec, error);
  if (m->net == NULL)
    {
      gcd_free (m);
      return NULL;
    }
  ps_rng_init (&m->rng, seed, 1);
  PsRng init;
  ps_rng_init (&init, seed, 2);
  ps_model_init (m->net, &init);
  PsOptimConfig cfg;
  m->lr = (float) ps_params_get_float (params, "lr");
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, m->lr);
  ps_model_set_optimizer (m->net, &cfg);
  m->protos = g_new (float, (gsize) m->K * m->E);
  ps_rng_fill_normal (&init, m->protos, (gsize) m->K * m->E, 0.f, 1.f);
  ps_proto_normalize_rows (m->protos, m->K, m->E);
  m->pm = g_new0 (float, (gsize) m->K * m->E);
  m->pv = g_new0 (float, (gsize) m->K * m->E);
  m->dprotos = g_new0 (float, (gsize) m->K * m->E);

  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, FALSE, &m->n_train);
  if (m->n_train < 4)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has too few training rows", data->name);
      gcd_free (m);
      return NULL;
    }
  PsRng lr;
  ps_rng_init (&lr, seed, 12);
  double frac = ps_params_get_float (params, "label_frac");
  m->lab = g_new (int, m->n_train);
  for (guint i = 0; i < m->n_train; i++)
    {
      int y = data->y[m->train_idx[i]];
      m->lab[i] = y >= 0 && (guint) y < C && m->is_old[y] && ps_rng_uniform_d (&lr) < frac ? y : -1;
    }
  m->feat_std = g_new (float, d);
  for (guint j = 0; j < d; j++)
    {
      double s = 0, s2 = 0;
      for (guint i = 0; i < m->n_train; i++)
        {
          double v = data->x[(gsize) m->train_idx[i] * d + j];
          s += v;
          s2 += v * v;
        }
      double mu = s / m->n_train;
      m->feat_std[j] = (float) sqrt (MAX (s2 / m->n_train - mu * mu, 0));
    }
  m->batch = (int) MIN ((gint64) m->n_train, ps_params_get_int (params, "batch_size"));
  m->steps_per_epoch = (m->n_train + m->batch - 1) / m->batch;
  m->n_epochs = (int) ps_params_get_int (params, "epochs");
  m->total = (guint64) m->steps_per_epoch * m->n_epochs;
  m->perm = g_new0 (guint, m->n_train);
  m->tau_s = (float) ps_params_get_float (params, "tau_s");
  m->w_ent = (float) ps_params_get_float (params, "entropy_weight");
  m->w_sep = (float) ps_params_get_float (params, "sep_weight");
  m->dapl = ps_params_get_bool (params, "dapl");
  m->noise = (float) ps_params_get_float (params, "noise");
  PsSplit split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  m->eval_rows = ps_split_indices (data, split, TRUE, &m->eval_n);
  return m;
}

static guint64
gcd_total_steps (gpointer p)
{
  return ((Gcd *) p)->total;
}

/* A noisy view of the batch rows. */
static void
gcd_view (Gcd *m, float *xv, const guint *rows, int B)
{
  const guint d = m->data->d;
  for (int i = 0; i < B; i++)
    for (guint j = 0; j < d; j++)
      xv[(gsize) i * d + j] = m->data->x[(gsize) rows[i] * d + j]
                              + m->noise * m->feat_std[j] * ps_rng_normal (&m->rng);
}

static gboolean
gcd_step (gpointer p, PsStepInfo *info, GError **error)
{
  Gcd *m = p;
  const int K = m->K, E = m->E;
  const guint d = m->data->d;
  guint pos = (guint) (m->step % m->steps_per_epoch);
  if (pos == 0)
    ps_rng_permutation (&m->rng, m->perm, m->n_train);
  guint start = pos * m->batch;
  int B = (int) MIN ((guint) m->batch, m->n_train - start);
  g_autofree guint *rows = g_new (guint, B);
  g_autofree int *lab = g_new (int, B);
  for (int i = 0; i < B; i++)
    {
      rows[i] = m->train_idx[m->perm[start + i]];
      lab[i] = m->lab[m->perm[start + i]];
    }
  double prog = (double) m->step / MAX (m->total, 1);
  float tau_t = (float) (prog < 0.5 ? 0.07 - 0.03 * prog / 0.5 : 0.04);
  double r = 0.2 + 0.8 * prog;
  g_autofree float *xv = g_new (float, (gsize) B * d);
  g_autofree float *q = g_new (float, (gsize) B * K);
  g_autofree float *pr = g_new (float, (gsize) B * K);
  g_autofree float *sim = g_new (float, (gsize) B * K);
  ps_model_set_training (m->net, TRUE);
  /* Teacher on view 2. */
  gcd_view (m, xv, rows, B);
  const float *z = ps_model_forward (m->net, xv, B);
  ps_proto_similarity (sim, z, m->protos, B, K, E, PS_SIM_COSINE);
  ps_proto_assign_softmax (q, sim, B, K, tau_t);
  /* DAPL: rank unlabelled rows by the top-1 / top-2 ratio. */
  int n_unl = 0, n_hot = 0;
  g_autofree float *ratio = g_new (float, B);
  for (int i = 0; i < B; i++)
    {
      float a = 0, b = 0;
      for (int k = 0; k < K; k++)
        {
          float v = q[(gsize) i * K + k];
          if (v > a)
            {
              b = a;
              a = v;
            }
          else if (v > b)
            b = v;
        }
      ratio[i] = lab[i] >= 0 ? -1.f : a / MAX (b, 1e-12f);
      n_unl += lab[i] < 0;
    }
  if (m->dapl)
    {
      int want = (int) floor (r * n_unl);
      /* The threshold is the want-th largest ratio (a partial selection). */
      g_autofree float *sorted = g_memdup2 (ratio, B * sizeof (float));
      for (int t = 0; t < want; t++)
        for (int j = t + 1; j < B; j++)
          if (sorted[j] > sorted[t])
            {
              float tmp = sorted[t];
              sorted[t] = sorted[j];
              sorted[j] = tmp;
            }
      float thr = want > 0 ? sorted[want - 1] : INFINITY;
      for (int i = 0; i < B && n_hot < want; i++)
        if (lab[i] < 0 && ratio[i] >= thr)
          {
            float *qi = q + (gsize) i * K;
            int best = 0;
            for (int k = 1; k < K; k++)
              if (qi[k] > qi[best])
                best = k;
            for (int k = 0; k < K; k++)
              qi[k] = k == best;
            n_hot++;
          }
    }
  for (int i = 0; i < B; i++)
    if (lab[i] >= 0)
      for (int k = 0; k < K; k++)
        q[(gsize) i * K + k] = k == lab[i];
  /* Student on view 1. */
  gcd_view (m, xv, rows, B);
  z = ps_model_forward (m->net, xv, B);
  ps_proto_similarity (sim, z, m->protos, B, K, E, PS_SIM_COSINE);
  ps_proto_assign_softmax (pr, sim, B, K, m->tau_s);
  double loss = 0;
  g_autofree double *pbar = g_new0 (double, K);
  for (int i = 0; i < B; i++)
    for (int k = 0; k < K; k++)
      {
        float v = pr[(gsize) i * K + k];
        pbar[k] += v / B;
        if (q[(gsize) i * K + k] > 0)
          loss -= q[(gsize) i * K + k] * log (MAX (v, 1e-12f)) / B;
      }
  double ent = 0;
  for (int k = 0; k < K; k++)
    ent += pbar[k] * log (MAX (pbar[k], 1e-12));
  loss += m->w_ent * ent;
  /* dL/dlogit (logit = sim / tau_s): CE gives (p - q) / B; the entropy
   * term gives p (g - p.g) with g_k = w (log pbar_k + 1) / B. */
  g_autofree float *dsim = g_new (float, (gsize) B * K);
  for (int i = 0; i < B; i++)
    {
      const float *pi = pr + (gsize) i * K;
      double dot = 0;
      for (int k = 0; k < K; k++)
        dot += pi[k] * m->w_ent * (log (MAX (pbar[k], 1e-12)) + 1) / B;
      for (int k = 0; k < K; k++)
        {
          double g = m->w_ent * (log (MAX (pbar[k], 1e-12)) + 1) / B;
          double dl = (pi[k] - q[(gsize) i * K + k]) / B + pi[k] * (g - dot);
          dsim[(gsize) i * K + k] = (float) (dl / m->tau_s);
        }
    }
  g_autofree float *dz = g_new0 (float, (gsize) B * E);
  memset (m->dprotos, 0, (gsize) K * E * sizeof (float));
  ps_proto_similarity_backward (dz, m->dprotos, dsim, z, m->protos, B, K, E, PS_SIM_COSINE);
  if (m->w_sep > 0)
    {
      /* Separation: L = mean_c log mean_{c' != c} exp(s_cc' / 0.1). */
      g_autofree float *ss = g_new (float, (gsize) K * K);
      g_autofree float *ds = g_new0 (float, (gsize) K * K);
      ps_proto_similarity (ss, m->protos, m->protos, K, K, E, PS_SIM_COSINE);
      double sep = 0;
      for (int c = 0; c < K; c++)
        {
          double mx = -INFINITY, s = 0;
          for (int c2 = 0; c2 < K; c2++)
            if (c2 != c)
              mx = MAX (mx, ss[(gsize) c * K + c2] / 0.1);
          for (int c2 = 0; c2 < K; c2++)
            if (c2 != c)
              s += exp (ss[(gsize) c * K + c2] / 0.1 - mx);
          sep += (mx + log (s / (K - 1))) / K;
          for (int c2 = 0; c2 < K; c2++)
            if (c2 != c)
              ds[(gsize) c * K + c2] = (float) (m->w_sep * exp (ss[(gsize) c * K + c2] / 0.1 - mx) / s
                                                / 0.1 / K);
        }
      loss += m->w_sep * sep;
      ps_proto_similarity_backward (m->dprotos, m->dprotos, ds, m->protos, m->protos, K, K, E,
                                    PS_SIM_COSINE);
    }
  if (!isfinite (loss) || !ps_all_finite (dz, (gsize) B * E))
    {
      m->step++;
      info->loss = NAN;
      info->done = m->step >= m->total;
      return TRUE;
    }
  ps_model_zero_grad (m->net);
  ps_model_backward (m->net, dz, PS_BACKWARD_PARAMS);
  ps_model_step (m->net);
  double t = (double) (m->step + 1);
  float c1 = (float) (1 - pow (0.9, t)), c2 = (float) (1 - pow (0.999, t));
  for (gsize j = 0; j < (gsize) K * E; j++)
    {
      float g = m->dprotos[j];
      m->pm[j] = 0.9f * m->pm[j] + 0.1f * g;
      m->pv[j] = 0.999f * m->pv[j] + 0.001f * g * g;
      m->protos[j] -= m->lr * (m->pm[j] / c1) / (sqrtf (m->pv[j] / c2) + 1e-8f);
    }
  m->step++;
  info->loss = loss;
  info->done = m->step >= m->total;
  if (info->metrics)
    ps_metrics_set (info->metrics, "onehot_frac", n_unl ? (double) n_hot / n_unl : 0);
  (void) error;
  return TRUE;
}

/* Cosine logits of rows; z[n, E] optional. */
static void
gcd_infer (Gcd *m, const guint *rows, guint n, float *sim, float *z_out)
{
  g_autofree float *x = ps_gather_rows (m->data, rows, n);
  gboolean was = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  for (guint s = 0; s < n; s += 512)
    {
      int B = (int) MIN (512u, n - s);
      const float *z = ps_model_forward (m->net, x + (gsize) s * m->data->d, B);
      ps_proto_similarity (sim + (gsize) s * m->K, z, m->protos, B, m->K, m->E, PS_SIM_COSINE);
      if (z_out)
        memcpy (z_out + (gsize) s * m->E, z, (gsize) B * m->E * sizeof (float));
    }
  ps_model_set_training (m->net, was);
}

static PsMetrics *
gcd_evaluate (gpointer p)
{
  Gcd *m = p;
  const int K = m->K;
  PsMetrics *out = ps_metrics_new ();
  g_autofree float *sim = g_new (float, (gsize) MAX (m->eval_n, 1) * K);
  gcd_infer (m, m->eval_rows, m->eval_n, sim, NULL);
  g_autofree gint32 *pred = g_new (gint32, MAX (m->eval_n, 1));
  g_autofree gint32 *y = g_new (gint32, MAX (m->eval_n, 1));
  for (guint i = 0; i < m->eval_n; i++)
    {
      int b = 0;
      for (int k = 1; k < K; k++)
        if (sim[(gsize) i * K + k] > sim[(gsize) i * K + b])
          b = k;
      pred[i] = b;
      y[i] = m->data->y[m->eval_rows[i]];
    }
  double all, o, nw;
  ps_cluster_accuracy_old_new (pred, y, m->eval_n, m->is_old, m->data->n_classes, &all, &o, &nw);
  ps_metrics_set (out, "acc_all", all);
  ps_metrics_set (out, "acc_old", o);
  ps_metrics_set (out, "acc_new", nw);
  return out;
}

static GPtrArray *
gcd_snapshot (gpointer p)
{
  Gcd *m = p;
  PsDataset *ds = m->data;
  const int K = m->K, E = m->E;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  ps_snapshot_add_common (out, ds, rows, n, x);
  g_autofree float *sim = g_new (float, (gsize) MAX (n, 1) * K);
  g_autofree float *z = g_new (float, (gsize) MAX (n, 1) * E);
  gcd_infer (m, rows, n, sim, z);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", z, n, E));
  g_autofree float *w = g_new (float, (gsize) MAX (n, 1) * K);
  ps_proto_assign_softmax (w, sim, (int) n, K, m->tau_s);
  g_autofree gint32 *cl = g_new (gint32, MAX (n, 1));
  g_autofree gint32 *y = g_new (gint32, MAX (n, 1));
  g_autofree float *conf = g_new (float, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      int b = 0;
      for (int k = 1; k < K; k++)
        if (w[(gsize) i * K + k] > w[(gsize) i * K + b])
          b = k;
      cl[i] = b;
      conf[i] = w[(gsize) i * K + b];
      y[i] = ds->y[rows[i]];
    }
  g_autofree gint32 *map = g_new (gint32, K + 1);
  for (int k = 0; k <= K; k++)
    map[k] = -1;
  ps_cluster_accuracy (cl, y, n, map);
  g_autofree gint32 *pred = g_new (gint32, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    pred[i] = map[cl[i]];
  gsize shape[1] = { n };
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape, conf));
  g_ptr_array_add (out, ps_array_new_f32 ("assignments", w, n, K));
  g_autofree float *pu = g_memdup2 (m->protos, (gsize) K * E * sizeof (float));
  ps_proto_normalize_rows (pu, K, E);
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", pu, K, E));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", map, K));
  /* The nearest prototype of each row, and which classes are old (partly
   * labelled): what the cluster view draws. */
  g_ptr_array_add (out, ps_array_new_i32 ("clusters", cl, n));
  gsize oshape[1] = { ds->n_classes };
  g_ptr_array_add (out, ps_array_new ("old_classes", PS_DTYPE_U8, 1, oshape, m->is_old));
  return out;
}

static PsExplanation *
gcd_explain (gpointer p, guint sample, GError **error)
{
  Gcd *m = p;
  PsDataset *ds = m->data;
  const int K = m->K;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  g_autofree float *sim = g_new (float, K);
  g_autofree float *w = g_new (float, K);
  gcd_infer (m, &sample, 1, sim, NULL);
  ps_proto_assign_softmax (w, sim, 1, K, m->tau_s);
  g_autofree int *order = g_new (int, K);
  for (int k = 0; k < K; k++)
    order[k] = k;
  for (int i = 1; i < K; i++)
    for (int j = i; j > 0 && sim[order[j]] > sim[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->by_prototypes = TRUE;
  ex->uncertainty = NAN;
  ex->ood_score = 1 - sim[order[0]];
  /* Prototypes are not tied to classes until matched; the raw index is
   * the prediction here. */
  ex->predicted = order[0];
  ex->confidence = w[order[0]];
  for (int i = 0; i < K; i++)
    {
      int k = order[i];
      PsEvidence ev = { .index = k, .cls = k, .similarity = (sim[k] + 1) / 2, .evidence = sim[k],
                        .weight = w[k] };
      g_array_append_val (ex->evidence, ev);
    }
  ex->text = g_strdup_printf ("Nearest prototype %d (cosine %.2f, probability %.2f); prototype "
                              "indices are matched to classes only at evaluation.",
                              order[0], sim[order[0]], w[order[0]]);
  return ex;
}

#define GCD_MAGIC 0x31444347u  /* "GCD1" */

static GBytes *
gcd_save (gpointer p)
{
  Gcd *m = p;
  g_autoptr (GBytes) net = ps_model_save (m->net);
  gsize pe = (gsize) m->K * m->E * sizeof (float);
  PsBlobWriter w;
  ps_blob_writer_init (&w, GCD_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_u32 (&w, m->n_train);
  ps_blob_put (&w, m->perm, m->n_train * sizeof (guint));
  ps_blob_put (&w, m->protos, pe);
  ps_blob_put (&w, m->pm, pe);
  ps_blob_put (&w, m->pv, pe);
  ps_blob_put_bytes (&w, net);
  return ps_blob_writer_finish (&w);
}

static gboolean
gcd_load (gpointer p, GBytes *blob, GError **error)
{
  Gcd *m = p;
  PsBlobReader r;
  guint64 step;
  PsRng rng;
  guint32 nt;
  gsize pe = (gsize) m->K * m->E * sizeof (float);
  g_autoptr (GBytes) net = NULL;
  if (!ps_blob_reader_init (&r, blob, GCD_MAGIC, "gcd checkpoint", error)
      || !ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &nt, error))
    return FALSE;
  if (nt != m->n_train)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "gcd checkpoint: %u training rows, this run has %u",
                   nt, m->n_train);
      return FALSE;
    }
  g_autofree float *pr = g_new (float, (gsize) m->K * m->E);
  g_autofree float *pm = g_new (float, (gsize) m->K * m->E);
  g_autofree float *pv = g_new (float, (gsize) m->K * m->E);
  g_autofree guint *perm = g_new (guint, nt);
  if (!ps_blob_get (&r, perm, nt * sizeof (guint), error) || !ps_blob_get (&r, pr, pe, error)
      || !ps_blob_get (&r, pm, pe, error) || !ps_blob_get (&r, pv, pe, error)
      || !(net = ps_blob_get_bytes (&r, error)) || !ps_model_load_into (m->net, net, error))
    return FALSE;
  memcpy (m->perm, perm, nt * sizeof (guint));
  memcpy (m->protos, pr, pe);
  memcpy (m->pm, pm, pe);
  memcpy (m->pv, pv, pe);
  m->step = step;
  m->rng = rng;
  return TRUE;
}

const PsMethod ps_method_gcd = {
  .id = "gcd",
  .title = "ProtoGCD (joint old and new prototypes)",
  .family = "Prototype learning",
  .paper = "Ma et al., ProtoGCD: Unified and Unbiased Prototype Learning for Generalized Category "
           "Discovery, TPAMI 2025",
  .summary = "Generalized category discovery with one cosine prototype classifier over old and new "
             "classes together: labelled rows (part of the old classes) are trained with their "
             "labels, unlabelled rows with a sharpened teacher view whose most confident share "
             "(ramped 0.2 to 1) becomes one-hot (dual-level adaptive pseudo-labels), an entropy "
             "term on the batch's mean prediction and a prototype separation term. Reports all, "
             "old and new accuracy by Hungarian matching. The small version uses Gaussian input "
             "noise as the two views, gives the number of classes (see gpc for estimating it) and "
             "drops the contrastive projection head.",
  .key_metric = "acc_all",
  .params = gcd_params,
  .n_params = G_N_ELEMENTS (gcd_params),
  .create = gcd_create,
  .free = gcd_free,
  .total_steps = gcd_total_steps,
  .step = gcd_step,
  .evaluate = gcd_evaluate,
  .snapshot = gcd_snapshot,
  .explain = gcd_explain,
  .save = gcd_save,
  .load = gcd_load,
};
