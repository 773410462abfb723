/* ps-method-mlp.c: the neural classifier (MLP, or a CNN from a spec) with
 * softmax cross-entropy.  Every prototype method is compared against it,
 * and its snapshot shows the penultimate-layer embedding.
 */
#define G_LOG_DOMAIN "ps-mlp"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-net.h"
#include "../nn/ps-model.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

static const PsParamSpec mlp_params[] = {
  { "spec", PS_PARAM_STRING, 0, 0, 0, "auto",
    "Network spec, e.g. 784-256r-128r-10 or 1x28x28:c16k3p1r-m2-c32k3p1r-m2-f-64r-10; "
    "auto picks D-256r-128r-C for images and D-64r-64r-C otherwise" },
  { "epochs", PS_PARAM_INT, 10, 1, 1000, NULL, "Passes over the training data" },
  { "batch_size", PS_PARAM_INT, 128, 1, 8192, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate", TRUE },
  { "optimizer", PS_PARAM_CHOICE, 0, 0, 0, "adam|adamw|sgd", "Optimizer" },
  { "momentum", PS_PARAM_FLOAT, 0.9, 0, 0.999, NULL, "SGD momentum" },
  { "weight_decay", PS_PARAM_FLOAT, 0, 0, 1, NULL, "Weight decay (decoupled for AdamW)" },
  { "schedule", PS_PARAM_CHOICE, 0, 0, 0, "constant|cosine|step", "Learning-rate schedule" },
  { "warmup_steps", PS_PARAM_INT, 0, 0, 100000, NULL, "Linear warm-up steps" },
  { "label_smoothing", PS_PARAM_FLOAT, 0, 0, 0.5, NULL, "Label smoothing of the cross-entropy" },
  { "clip_norm", PS_PARAM_FLOAT, 0, 0, 1000, NULL, "Clip the gradient norm to this (0: off)" },
  { "max_train", PS_PARAM_INT, 0, 0, 10000000, NULL, "Use at most this many training samples (0: all)" },
  { "ood_classes", PS_PARAM_STRING, 0, 0, 0, "",
    "Classes held out of training and scored as OOD by MSP, energy and Mahalanobis, e.g. 6,7,8,9 "
    "(empty: none)" },
};

typedef struct
{
  PsDataset *data;
  PsModel *net;
  PsRng rng;                 /* data order */
  guint *train_idx;          /* rows of the training split */
  guint n_train;
  guint *perm;               /* this epoch's order of train_idx positions */
  guint64 step;
  guint64 total;
  guint steps_per_epoch;
  int batch;
  float smoothing;
  float *xb;                 /* [batch, d] gathered batch */
  int *yb;                   /* [batch] */
  PsEvalSet test;            /* test split (or val when there is none) */
  PsEvalSet val;
  int embed_layer;           /* layer whose output is the embedding, -1: the input */
  PsOodClasses oc;           /* held-out classes (oc.active) */
} MlpModel;

static char *
auto_spec (PsDataset *ds)
{
  if (ds->img_h > 0 && ds->d >= 256)
    return g_strdup_printf ("%u-256r-128r-%u", ds->d, ds->n_classes);
  return g_strdup_printf ("%u-64r-64r-%u", ds->d, ds->n_classes);
}

static void
mlp_free (gpointer p)
{
  MlpModel *m = p;
  if (m == NULL)
    return;
  ps_model_free (m->net);
  ps_dataset_unref (m->data);
  g_free (m->train_idx);
  g_free (m->perm);
  g_free (m->xb);
  g_free (m->yb);
  ps_eval_set_clear (&m->test);
  ps_eval_set_clear (&m->val);
  ps_ood_classes_clear (&m->oc);
  g_free (m);
}

static gpointer
mlp_create (const PsMethod *method, const PsParams *params, PsDataset *data,
            guint64 seed, GError **error)
{
  if (data->n_classes < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "%s: a classifier needs labels of at least two classes", data->name);
      return NULL;
    }
  const char *spec_param = ps_params_get_string (params, "spec");
  g_autofree char *spec = g_strcmp0 (spec_param, "auto") == 0 || spec_param[0] == '\0'
                          ? auto_spec (data) : g_strdup (spec_param);
  g_autoptr (PsModel) net = ps_model_new (spec, error);
  if (net == NULL)
    return NULL;
  if ((guint) ps_model_in_size (net) != data->d)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "spec '%s' takes %d inputs but %s has %u features",
                   spec, ps_model_in_size (net), data->name, data->d);
      return NULL;
    }
  if ((guint) ps_model_out_size (net) < data->n_classes)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "spec '%s' has %d outputs but %s has %u classes",
                   spec, ps_model_out_size (net), data->name, data->n_classes);
      return NULL;
    }

  MlpModel *m = g_new0 (MlpModel, 1);
  m->data = ps_dataset_ref (data);
  m->net = g_steal_pointer (&net);
  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (m->net, &init_rng);

  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, TRUE, &m->n_train);
  if (!ps_ood_classes_init (&m->oc, data, ps_params_get_string (params, "ood_classes"), error))
    {
      mlp_free (m);
      return NULL;
    }
  if (m->oc.active)
    {
      /* Held-out classes never reach training; their logits stay in the
       * network (and only ever get pushed down). */
      guint kept = 0;
      for (guint i = 0; i < m->n_train; i++)
        if (m->oc.slot[data->y[m->train_idx[i]]] >= 0)
          m->train_idx[kept++] = m->train_idx[i];
      m->n_train = kept;
    }
  guint max_train = (guint) ps_params_get_int (params, "max_train");
  if (max_train > 0 && max_train < m->n_train)
    {
      /* A seeded, stratification-free subset: the same for every seed of
       * the same data, so runs stay comparable. */
      PsRng sub;
      ps_rng_init (&sub, 0, 99);
      ps_rng_shuffle (&sub, m->train_idx, m->n_train);
      m->n_train = max_train;
    }
  if (m->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no labelled training samples", data->name);
      mlp_free (m);
      return NULL;
    }
  m->batch = (int) MIN ((gint64) m->n_train, ps_params_get_int (params, "batch_size"));
  m->steps_per_epoch = (m->n_train + m->batch - 1) / m->batch;
  m->total = (guint64) m->steps_per_epoch * ps_params_get_int (params, "epochs");
  m->smoothing = (float) ps_params_get_float (params, "label_smoothing");
  m->perm = g_new (guint, m->n_train);
  m->xb = g_new (float, (gsize) m->batch * data->d);
  m->yb = g_new (int, m->batch);

  PsOptimConfig cfg;
  const char *opt = ps_params_get_string (params, "optimizer");
  PsOptimKind kind = g_str_equal (opt, "sgd") ? PS_OPTIM_SGD
                   : g_str_equal (opt, "adamw") ? PS_OPTIM_ADAMW : PS_OPTIM_ADAM;
  ps_optim_config_init (&cfg, kind, (float) ps_params_get_float (params, "lr"));
  if (kind == PS_OPTIM_SGD)
    cfg.momentum = (float) ps_params_get_float (params, "momentum");
  cfg.weight_decay = (float) ps_params_get_float (params, "weight_decay");
  cfg.clip_norm = (float) ps_params_get_float (params, "clip_norm");
  cfg.sched.warmup_steps = (int) ps_params_get_int (params, "warmup_steps");
  const char *sched = ps_params_get_string (params, "schedule");
  if (g_str_equal (sched, "cosine"))
    {
      cfg.sched.kind = PS_SCHED_COSINE;
      cfg.sched.total_steps = (int) MAX (1, (gint64) m->total - cfg.sched.warmup_steps);
      cfg.sched.min_lr = cfg.sched.lr * 0.01f;
    }
  else if (g_str_equal (sched, "step"))
    {
      cfg.sched.kind = PS_SCHED_STEP;
      cfg.sched.step_every = (int) MAX (1, m->total / 3);
      cfg.sched.gamma = 0.1f;
    }
  ps_model_set_optimizer (m->net, &cfg);

  /* The embedding is the input of the last linear layer. */
  m->embed_layer = -1;
  for (int i = ps_model_n_layers (m->net) - 1; i >= 0; i--)
    if (ps_model_layer (m->net, i)->kind == PS_LAYER_LINEAR)
      {
        m->embed_layer = i - 1;
        break;
      }

  PsSplit eval_split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  ps_eval_set_init (&m->test, data, eval_split);
  ps_eval_set_init (&m->val, data, PS_SPLIT_VAL);
  return m;
}

static guint64
mlp_total_steps (gpointer p)
{
  return ((MlpModel *) p)->total;
}

static gboolean
mlp_step (gpointer p, PsStepInfo *info, GError **error)
{
  MlpModel *m = p;
  guint pos = (guint) (m->step % m->steps_per_epoch);
  if (pos == 0)
    ps_rng_permutation (&m->rng, m->perm, m->n_train);
  guint start = pos * m->batch;
  int B = (int) MIN ((guint) m->batch, m->n_train - start);
  const guint d = m->data->d;
  for (int b = 0; b < B; b++)
    {
      guint row = m->train_idx[m->perm[start + b]];
      memcpy (m->xb + (gsize) b * d, m->data->x + (gsize) row * d, d * sizeof (float));
      m->yb[b] = m->data->y[row];
    }
  float loss = NAN;
  ps_model_set_training (m->net, TRUE);
  if (!ps_model_train_xent_batch (m->net, m->xb, m->yb, B, m->smoothing, &loss, error))
    {
      /* A non-finite loss is the runner's to report with the step. */
      if (g_error_matches (*error, PS_ERROR, PS_ERROR_DIVERGED))
        {
          g_clear_error (error);
          info->loss = NAN;
          m->step++;
          info->done = m->step >= m->total;
          return TRUE;
        }
      return FALSE;
    }
  m->step++;
  info->loss = loss;
  info->done = m->step >= m->total;
  if (info->metrics)
    ps_metrics_set (info->metrics, "lr", ps_model_get_optimizer (m->net)->last_lr);
  return TRUE;
}

static int embed_width (MlpModel *m);

/* Logits over the ID slots [n, n_id] and penultimate features [n, F] of
 * x[n, d], in evaluation mode. */
static void
mlp_id_outputs (MlpModel *m, const float *x, guint n, float *logits, float *feat, int F)
{
  gboolean was_training = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  const int C = ps_model_out_size (m->net), NI = (int) m->oc.n_id;
  for (guint s = 0; s < n; s += 512)
    {
      int B = (int) MIN (512u, n - s);
      const float *xin = x + (gsize) s * m->data->d;
      const float *out = ps_model_forward (m->net, xin, B);
      for (int b = 0; b < B; b++)
        for (int j = 0; j < NI; j++)
          logits[(gsize) (s + b) * NI + j] = out[(gsize) b * C + m->oc.cls[j]];
      const float *src = m->embed_layer >= 0 ? ps_model_layer_output (m->net, m->embed_layer) : xin;
      memcpy (feat + (gsize) s * F, src, (gsize) B * F * sizeof (float));
    }
  ps_model_set_training (m->net, was_training);
}

/* The OOD set-up: ID accuracy over the ID logits, and MSP, energy and
 * Mahalanobis (penultimate features, fitted on at most 10000 training
 * rows) against the held-out classes' test rows. */
static void
mlp_ood_metrics (MlpModel *m, PsMetrics *out)
{
  const int NI = (int) m->oc.n_id, F = embed_width (m);
  const guint n = m->test.n;
  g_autofree float *logits = g_new (float, (gsize) MAX (n, 1) * NI);
  g_autofree float *feat = g_new (float, (gsize) MAX (n, 1) * F);
  mlp_id_outputs (m, m->test.x, n, logits, feat, F);
  g_autofree guint8 *is_ood = g_new (guint8, MAX (n, 1));
  guint ok = 0, nid = 0, nood = 0;
  for (guint i = 0; i < n; i++)
    {
      int s = m->oc.slot[m->test.y[i]];
      is_ood[i] = s < 0;
      nood += s < 0;
      if (s < 0)
        continue;
      nid++;
      int b = 0;
      for (int j = 1; j < NI; j++)
        if (logits[(gsize) i * NI + j] > logits[(gsize) i * NI + b])
          b = j;
      ok += b == s;
    }
  ps_metrics_set (out, m->test.split == PS_SPLIT_TEST ? "test_acc" : "val_acc",
                  nid ? (double) ok / nid : NAN);
  if (nood == 0 || nid == 0)
    return;
  g_autofree float *score = g_new (float, MAX (n, 1));
  ps_ood_msp_score (score, logits, (int) n, NI);
  ps_ood_add_metrics (out, "msp", score, is_ood, n);
  ps_ood_energy_score (score, logits, (int) n, NI, 1.f);
  ps_ood_add_metrics (out, "energy", score, is_ood, n);
  guint nb = MIN (m->n_train, 10000u);
  g_autofree float *bx = ps_gather_rows (m->data, m->train_idx, nb);
  g_autofree float *bl = g_new (float, (gsize) MAX (nb, 1) * NI);
  g_autofree float *bf = g_new (float, (gsize) MAX (nb, 1) * F);
  g_autofree int *by = g_new (int, MAX (nb, 1));
  mlp_id_outputs (m, bx, nb, bl, bf, F);
  for (guint i = 0; i < nb; i++)
    by[i] = m->oc.slot[m->data->y[m->train_idx[i]]];
  g_autoptr (GError) error = NULL;
  g_autoptr (PsMahalanobis) maha = ps_mahalanobis_fit (bf, by, (int) nb, NI, F, 1e-3, &error);
  if (maha)
    ps_mahalanobis_score (maha, score, feat, (int) n);
  else
    for (guint i = 0; i < n; i++)
      score[i] = NAN;
  ps_ood_add_metrics (out, "mahalanobis", score, is_ood, n);
}

static PsMetrics *
mlp_evaluate (gpointer p)
{
  MlpModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  if (m->oc.active && m->test.n > 0)
    mlp_ood_metrics (m, out);
  else if (m->test.n > 0)
    ps_metrics_set (out, m->test.split == PS_SPLIT_TEST ? "test_acc" : "val_acc",
                    ps_model_accuracy (m->net, m->test.x, m->test.y, m->test.n, 512));
  if (m->val.n > 0 && m->test.split == PS_SPLIT_TEST && !m->oc.active)
    ps_metrics_set (out, "val_acc", ps_model_accuracy (m->net, m->val.x, m->val.y, m->val.n, 512));
  /* Training accuracy on at most 10000 training rows (a fixed prefix). */
  guint nt = MIN (m->n_train, 10000u);
  g_autofree float *xt = g_new (float, (gsize) nt * m->data->d);
  g_autofree int *yt = g_new (int, nt);
  for (guint i = 0; i < nt; i++)
    {
      memcpy (xt + (gsize) i * m->data->d, m->data->x + (gsize) m->train_idx[i] * m->data->d,
              m->data->d * sizeof (float));
      yt[i] = m->data->y[m->train_idx[i]];
    }
  ps_metrics_set (out, "train_acc", ps_model_accuracy (m->net, xt, yt, nt, 512));
  return out;
}

/* Runs rows[0..n) through the network in evaluation mode and writes the
 * embedding (width e), predictions and confidences. */
static void
mlp_infer (MlpModel *m, const float *x, guint n, float *emb, int e, int *pred, float *conf)
{
  gboolean was_training = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  const int C = ps_model_out_size (m->net);
  g_autofree float *probs = g_new (float, (gsize) 512 * C);
  for (guint s = 0; s < n; s += 512)
    {
      int B = (int) MIN (512u, n - s);
      const float *xin = x + (gsize) s * m->data->d;
      const float *logits = ps_model_forward (m->net, xin, B);
      ps_softmax_forward (probs, logits, B, C);
      for (int b = 0; b < B; b++)
        {
          int best = 0;
          for (int c = 1; c < C; c++)
            if (probs[(gsize) b * C + c] > probs[(gsize) b * C + best])
              best = c;
          if (pred)
            pred[s + b] = best;
          if (conf)
            conf[s + b] = probs[(gsize) b * C + best];
        }
      if (emb)
        {
          const float *src = m->embed_layer >= 0 ? ps_model_layer_output (m->net, m->embed_layer) : xin;
          memcpy (emb + (gsize) s * e, src, (gsize) B * e * sizeof (float));
        }
    }
  ps_model_set_training (m->net, was_training);
}

static int
embed_width (MlpModel *m)
{
  return m->embed_layer >= 0 ? (int) ps_model_layer (m->net, m->embed_layer)->out_size
                             : (int) m->data->d;
}

static GPtrArray *
mlp_snapshot (gpointer p)
{
  MlpModel *m = p;
  PsDataset *ds = m->data;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  const int e = embed_width (m);
  g_autofree float *emb = g_new (float, (gsize) MAX (n, 1) * e);
  g_autofree int *pred = g_new (int, MAX (n, 1));
  g_autofree float *conf = g_new (float, MAX (n, 1));
  mlp_infer (m, x, n, emb, e, pred, conf);

  ps_snapshot_add_common (out, ds, rows, n, x);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", emb, n, e));
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", (gint32 *) pred, n));
  gsize shape1[1] = { n };
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape1, conf));
  if (m->oc.active)
    {
      /* The energy over the ID logits as the OOD score, and the held-out
       * rows marked. */
      const int NI = (int) m->oc.n_id;
      g_autofree float *lg = g_new (float, (gsize) MAX (n, 1) * NI);
      g_autofree float *ft = g_new (float, (gsize) MAX (n, 1) * e);
      g_autofree float *sc = g_new (float, MAX (n, 1));
      g_autofree guint8 *ood = g_new (guint8, MAX (n, 1));
      mlp_id_outputs (m, x, n, lg, ft, e);
      ps_ood_energy_score (sc, lg, (int) n, NI, 1.f);
      for (guint i = 0; i < n; i++)
        {
          int y = ds->y[rows[i]];
          ood[i] = y >= 0 && (guint) y < ds->n_classes && m->oc.slot[y] < 0;
        }
      g_ptr_array_add (out, ps_array_new ("scores", PS_DTYPE_F32, 1, shape1, sc));
      const char *sn = "ood_energy";
      gsize nshape[1] = { strlen (sn) };
      g_ptr_array_add (out, ps_array_new ("score_name", PS_DTYPE_U8, 1, nshape, sn));
      g_ptr_array_add (out, ps_array_new ("ood", PS_DTYPE_U8, 1, shape1, ood));
    }

  if (ds->d == 2)
    {
      /* Class probabilities on a grid over the data (10% margin). */
      const int G = 64, C = ps_model_out_size (m->net);
      float ext[4];
      ps_extent_2d (ds->x, ds->n, 0.1f, ext);
      g_autofree float *grid = g_new (float, (gsize) G * G * 2);
      for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++)
          {
            grid[((gsize) i * G + j) * 2 + 0] = ext[0] + (ext[1] - ext[0]) * (j + 0.5f) / G;
            grid[((gsize) i * G + j) * 2 + 1] = ext[2] + (ext[3] - ext[2]) * (i + 0.5f) / G;
          }
      g_autofree float *field = g_new (float, (gsize) G * G * C);
      gboolean was_training = ps_model_get_training (m->net);
      ps_model_set_training (m->net, FALSE);
      for (int s = 0; s < G * G; s += 512)
        {
          int B = MIN (512, G * G - s);
          const float *logits = ps_model_forward (m->net, grid + (gsize) s * 2, B);
          ps_softmax_forward (field + (gsize) s * C, logits, B, C);
        }
      ps_model_set_training (m->net, was_training);
      gsize fshape[3] = { G, G, C };
      g_ptr_array_add (out, ps_array_new ("decision_field", PS_DTYPE_F32, 3, fshape, field));
      gsize eshape[1] = { 4 };
      g_ptr_array_add (out, ps_array_new ("field_extent", PS_DTYPE_F32, 1, eshape, ext));
    }
  return out;
}

static PsExplanation *
mlp_explain (gpointer p, guint sample, GError **error)
{
  MlpModel *m = p;
  PsDataset *ds = m->data;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  const int e = embed_width (m);
  float *q = g_new (float, e);
  int pred;
  float conf;
  mlp_infer (m, ds->x + (gsize) sample * ds->d, 1, q, e, &pred, &conf);

  /* The model has no prototypes: its evidence is the nearest training
   * samples in its own embedding (cosine similarity), a k-NN reading of
   * what the network groups together. */
  g_autofree float *train_x = ps_gather_rows (ds, m->train_idx, m->n_train);
  g_autofree float *train_e = g_new (float, (gsize) m->n_train * e);
  mlp_infer (m, train_x, m->n_train, train_e, e, NULL, NULL);
  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->predicted = pred;
  ex->confidence = conf;
  ex->by_prototypes = FALSE;
  ps_nearest_evidence (ex, q, train_e, m->n_train, e, m->train_idx, ds->y, 8);
  ex->text = g_strdup_printf ("Predicted %s with probability %.2f; the nearest training samples in "
                              "the network's embedding are shown as evidence.",
                              ps_class_name (ds, pred), conf);
  g_free (q);
  return ex;
}

/* Checkpoint: the step, the data-order RNG, this epoch's permutation and
 * the network blob (weights, optimizer, EMA, dropout RNG). */
#define MLP_MAGIC 0x314d4c50u  /* "PLM1" */

static GBytes *
mlp_save (gpointer p)
{
  MlpModel *m = p;
  g_autoptr (GBytes) net = ps_model_save (m->net);
  PsBlobWriter w;
  ps_blob_writer_init (&w, MLP_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_u32 (&w, m->n_train);
  ps_blob_put (&w, m->perm, m->n_train * sizeof (guint));
  ps_blob_put_bytes (&w, net);
  return ps_blob_writer_finish (&w);
}

static gboolean
mlp_load (gpointer p, GBytes *blob, GError **error)
{
  MlpModel *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, MLP_MAGIC, "mlp checkpoint", error))
    return FALSE;
  guint64 step;
  guint32 n_train;
  PsRng rng;
  g_autoptr (GBytes) net = NULL;
  if (!ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &n_train, error))
    return FALSE;
  if (n_train != m->n_train)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "mlp checkpoint: it was made with %u training samples, this run has %u",
                   n_train, m->n_train);
      return FALSE;
    }
  if (!ps_blob_get (&r, m->perm, n_train * sizeof (guint), error)
      || !(net = ps_blob_get_bytes (&r, error)))
    return FALSE;
  if (!ps_model_load_into (m->net, net, error))
    return FALSE;
  m->step = step;
  m->rng = rng;
  return TRUE;
}

const PsMethod ps_method_mlp = {
  .id = "mlp",
  .title = "Neural classifier (MLP or CNN)",
  .family = "Classifiers",
  .paper = NULL,
  .summary = "A feed-forward network trained with softmax cross-entropy and Adam. Its "
             "penultimate layer is the embedding the views show; it has no prototypes, so its "
             "explanations are the nearest training samples in that embedding. The baseline every "
             "prototype method is compared against. With ood_classes, those classes are held out "
             "of training and scored as out-of-distribution by MSP, energy and Mahalanobis.",
  .key_metric = "test_acc",
  .params = mlp_params,
  .n_params = G_N_ELEMENTS (mlp_params),
  .create = mlp_create,
  .free = mlp_free,
  .total_steps = mlp_total_steps,
  .step = mlp_step,
  .evaluate = mlp_evaluate,
  .snapshot = mlp_snapshot,
  .explain = mlp_explain,
  .save = mlp_save,
  .load = mlp_load,
};
