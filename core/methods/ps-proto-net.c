/* ps-proto-net.c: the OOD set-up and the embedding network the prototype
 * methods share. */
#define G_LOG_DOMAIN "ps-proto-net"

#include "ps-proto-net.h"
#include "../eval/ps-eval.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Set-up -------------------------------------------------------------- */

gboolean
ps_ood_classes_init (PsOodClasses *oc, PsDataset *ds, const char *spec, GError **error)
{
  memset (oc, 0, sizeof *oc);
  oc->n_classes = ds->n_classes;
  oc->slot = g_new0 (int, MAX (ds->n_classes, 1));
  oc->cls = g_new0 (int, MAX (ds->n_classes, 1));
  g_autofree guint8 *held = g_new0 (guint8, MAX (ds->n_classes, 1));
  g_auto (GStrv) parts = g_strsplit_set (spec ? spec : "", ", ", -1);
  for (char **p = parts; *p; p++)
    {
      if (**p == '\0')
        continue;
      char *end = NULL;
      gint64 c = g_ascii_strtoll (*p, &end, 10);
      if (end == *p || *end != '\0' || c < 0 || c >= ds->n_classes)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "ood_classes: '%s' is not a class of %s (0..%u)", *p, ds->name,
                       ds->n_classes - 1);
          ps_ood_classes_clear (oc);
          return FALSE;
        }
      held[c] = 1;
      oc->active = TRUE;
    }
  for (guint c = 0; c < ds->n_classes; c++)
    {
      oc->slot[c] = held[c] ? -1 : (int) oc->n_id;
      if (!held[c])
        oc->cls[oc->n_id++] = (int) c;
    }
  if (oc->n_id < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "ood_classes: at least two classes of %s must stay in distribution", ds->name);
      ps_ood_classes_clear (oc);
      return FALSE;
    }
  return TRUE;
}

void
ps_ood_classes_clear (PsOodClasses *oc)
{
  g_clear_pointer (&oc->slot, g_free);
  g_clear_pointer (&oc->cls, g_free);
  oc->n_id = 0;
}

void
ps_ood_test_set_init (PsOodTestSet *t, PsDataset *ds, PsSplit split, const PsOodClasses *oc,
                      guint n_box, guint64 seed)
{
  memset (t, 0, sizeof *t);
  t->split = split;
  t->d = (int) ds->d;
  if (ds->d != 2)
    n_box = 0;
  guint cap = ds->n + n_box;
  t->x = g_new (float, (gsize) MAX (cap, 1) * ds->d);
  t->y = g_new (int, MAX (cap, 1));
  t->rows = g_new (gint32, MAX (cap, 1));
  t->is_ood = g_new (guint8, MAX (cap, 1));
  for (guint i = 0; i < ds->n; i++)
    {
      if (ds->split[i] != split || ds->y[i] < 0 || (guint) ds->y[i] >= oc->n_classes)
        continue;
      int s = oc->slot[ds->y[i]];
      memcpy (t->x + (gsize) t->n * ds->d, ds->x + (gsize) i * ds->d, ds->d * sizeof (float));
      t->y[t->n] = s;
      t->rows[t->n] = (gint32) i;
      t->is_ood[t->n] = s < 0;
      t->n_ood += s < 0;
      t->n++;
    }
  if (n_box > 0)
    {
      float ext[4];
      ps_extent_2d (ds->x, ds->n, 0.25f, ext);
      PsRng rng;
      ps_rng_init (&rng, seed, 77);
      for (guint b = 0; b < n_box; b++)
        {
          float *p = t->x + (gsize) t->n * 2;
          p[0] = ext[0] + (ext[1] - ext[0]) * ps_rng_uniform (&rng);
          p[1] = ext[2] + (ext[3] - ext[2]) * ps_rng_uniform (&rng);
          t->y[t->n] = -1;
          t->rows[t->n] = -1;
          t->is_ood[t->n] = 1;
          t->n_ood++;
          t->n++;
        }
    }
}

void
ps_ood_test_set_clear (PsOodTestSet *t)
{
  g_clear_pointer (&t->x, g_free);
  g_clear_pointer (&t->y, g_free);
  g_clear_pointer (&t->rows, g_free);
  g_clear_pointer (&t->is_ood, g_free);
  t->n = t->n_ood = 0;
}

/* ---- The embedding network ----------------------------------------------- */

gboolean
ps_embed_net_init (PsEmbedNet *b, const PsParams *params, PsDataset *data, guint64 seed,
                   gboolean unit, GError **error)
{
  memset (b, 0, sizeof *b);
  if (data->n_classes < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "%s: a prototype classifier needs labels of at least two classes", data->name);
      return FALSE;
    }
  if (!ps_ood_classes_init (&b->oc, data, ps_params_get_string (params, "ood_classes"), error))
    return FALSE;
  b->data = ps_dataset_ref (data);
  if (!ps_ood_score_from_name (ps_params_get_string (params, "ood_score"), &b->ood_score))
    b->ood_score = PS_OOD_PROTO;
  b->knn_k = (int) ps_params_get_int (params, "knn_k");

  const char *spec_param = ps_params_get_string (params, "spec");
  int E = (int) ps_params_get_int (params, "embed_dim");
  g_autofree char *spec = NULL;
  if (g_strcmp0 (spec_param, "auto") == 0 || spec_param[0] == '\0')
    spec = data->img_h > 0 && data->d >= 256
           ? g_strdup_printf ("%u-256r-128r-%d%s", data->d, E, unit ? "u" : "")
           : g_strdup_printf ("%u-128r-64r-%d%s", data->d, E, unit ? "u" : "");
  else
    spec = g_strdup (spec_param);
  b->net = ps_model_new (spec, error);
  if (b->net == NULL)
    {
      ps_embed_net_clear (b);
      return FALSE;
    }
  if ((guint) ps_model_in_size (b->net) != data->d)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "spec '%s' takes %d inputs but %s has %u features",
                   spec, ps_model_in_size (b->net), data->name, data->d);
      ps_embed_net_clear (b);
      return FALSE;
    }
  b->E = ps_model_out_size (b->net);
  ps_rng_init (&b->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (b->net, &init_rng);
  b->feat_layer = -1;
  for (int i = ps_model_n_layers (b->net) - 1; i >= 0; i--)
    if (ps_model_layer (b->net, i)->kind == PS_LAYER_LINEAR)
      {
        b->feat_layer = i - 1;
        break;
      }
  b->F = b->feat_layer >= 0 ? (int) ps_model_layer (b->net, b->feat_layer)->out_size : (int) data->d;

  guint n_all;
  g_autofree guint *all = ps_split_indices (data, PS_SPLIT_TRAIN, TRUE, &n_all);
  b->train_idx = g_new (guint, MAX (n_all, 1));
  for (guint i = 0; i < n_all; i++)
    if (b->oc.slot[data->y[all[i]]] >= 0)
      b->train_idx[b->n_train++] = all[i];
  guint max_train = (guint) ps_params_get_int (params, "max_train");
  if (max_train > 0 && max_train < b->n_train)
    {
      /* The same subset for every seed, so runs stay comparable. */
      PsRng sub;
      ps_rng_init (&sub, 0, 99);
      ps_rng_shuffle (&sub, b->train_idx, b->n_train);
      b->n_train = max_train;
    }
  if (b->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no labelled in-distribution training samples",
                   data->name);
      ps_embed_net_clear (b);
      return FALSE;
    }
  b->train_y = g_new (int, b->n_train);
  for (guint i = 0; i < b->n_train; i++)
    b->train_y[i] = b->oc.slot[data->y[b->train_idx[i]]];
  b->batch = (int) MIN ((gint64) b->n_train, ps_params_get_int (params, "batch_size"));
  b->steps_per_epoch = (b->n_train + b->batch - 1) / b->batch;
  b->total = (guint64) b->steps_per_epoch * ps_params_get_int (params, "epochs");
  b->perm = g_new0 (guint, b->n_train);   /* zeroed: episodic training never draws it */
  b->xb = g_new (float, (gsize) b->batch * data->d);
  b->yb = g_new (int, b->batch);

  PsOptimConfig cfg;
  double wd = ps_params_get_float (params, "weight_decay");
  ps_optim_config_init (&cfg, wd > 0 ? PS_OPTIM_ADAMW : PS_OPTIM_ADAM,
                        (float) ps_params_get_float (params, "lr"));
  cfg.weight_decay = (float) wd;
  ps_model_set_optimizer (b->net, &cfg);

  guint n_box = (guint) ps_params_get_int (params, "ood_box");
  if (n_box > 0 && data->d == 2)
    b->oc.active = TRUE;
  PsSplit eval_split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  ps_ood_test_set_init (&b->test, data, eval_split, &b->oc, n_box, 0);
  return TRUE;
}

void
ps_embed_net_clear (PsEmbedNet *b)
{
  g_clear_pointer (&b->net, ps_model_free);
  g_clear_pointer (&b->data, ps_dataset_unref);
  ps_ood_classes_clear (&b->oc);
  g_clear_pointer (&b->train_idx, g_free);
  g_clear_pointer (&b->train_y, g_free);
  g_clear_pointer (&b->perm, g_free);
  g_clear_pointer (&b->xb, g_free);
  g_clear_pointer (&b->yb, g_free);
  ps_ood_test_set_clear (&b->test);
}

int
ps_embed_net_next_batch (PsEmbedNet *b)
{
  guint pos = (guint) (b->step % b->steps_per_epoch);
  if (pos == 0)
    ps_rng_permutation (&b->rng, b->perm, b->n_train);
  guint start = pos * b->batch;
  if (start >= b->n_train)
    start = 0;
  int B = (int) MIN ((guint) b->batch, b->n_train - start);
  const guint d = b->data->d;
  for (int i = 0; i < B; i++)
    {
      guint p = b->perm[start + i];
      memcpy (b->xb + (gsize) i * d, b->data->x + (gsize) b->train_idx[p] * d, d * sizeof (float));
      b->yb[i] = b->train_y[p];
    }
  return B;
}

void
ps_embed_net_infer (PsEmbedNet *b, const float *x, guint n, float *z, float *feat)
{
  gboolean was_training = ps_model_get_training (b->net);
  ps_model_set_training (b->net, FALSE);
  const guint d = b->data->d;
  for (guint s = 0; s < n; s += 512)
    {
      int B = (int) MIN (512u, n - s);
      const float *xin = x + (gsize) s * d;
      const float *out = ps_model_forward (b->net, xin, B);
      if (z)
        memcpy (z + (gsize) s * b->E, out, (gsize) B * b->E * sizeof (float));
      if (feat)
        {
          const float *src = b->feat_layer >= 0 ? ps_model_layer_output (b->net, b->feat_layer) : xin;
          memcpy (feat + (gsize) s * b->F, src, (gsize) B * b->F * sizeof (float));
        }
    }
  ps_model_set_training (b->net, was_training);
}

void
ps_embed_net_bank (PsEmbedNet *b, PsOodInputs *bank, int **y, int C)
{
  guint n = MIN (b->n_train, 10000u);
  ps_ood_inputs_alloc (bank, n, b->E, b->F, C);
  g_autofree float *x = ps_gather_rows (b->data, b->train_idx, n);
  ps_embed_net_infer (b, x, n, bank->z, bank->feat);
  *y = g_memdup2 (b->train_y, (gsize) MAX (n, 1) * sizeof (int));
}

void
ps_embed_net_test_inputs (PsEmbedNet *b, PsOodInputs *in, int C)
{
  ps_ood_inputs_alloc (in, b->test.n, b->E, b->F, C);
  ps_embed_net_infer (b, b->test.x, b->test.n, in->z, in->feat);
}

static int
argmax_row (const float *r, int C)
{
  int best = 0;
  for (int c = 1; c < C; c++)
    if (r[c] > r[best])
      best = c;
  return best;
}

void
ps_embed_net_report (PsEmbedNet *b, PsMetrics *out, const PsOodInputs *test,
                     const PsOodInputs *bank, const int *bank_y, const float *protos, int K,
                     PsSimilarity kind)
{
  guint hit = 0, n_id = 0;
  for (guint i = 0; i < test->n; i++)
    if (!b->test.is_ood[i])
      {
        n_id++;
        hit += argmax_row (test->logits + (gsize) i * test->C, test->C) == b->test.y[i];
      }
  guint bank_hit = 0;
  for (guint i = 0; i < bank->n; i++)
    bank_hit += argmax_row (bank->logits + (gsize) i * bank->C, bank->C) == bank_y[i];
  ps_metrics_set (out, b->test.split == PS_SPLIT_TEST ? "test_acc" : "val_acc",
                  n_id ? (double) hit / n_id : NAN);
  ps_metrics_set (out, "train_acc", bank->n ? (double) bank_hit / bank->n : NAN);
  if (b->test.n_ood == 0 || b->test.n_ood == b->test.n)
    return;
  g_autofree float *scores = g_new (float, (gsize) PS_OOD_N_SCORES * test->n);
  ps_ood_all_scores (scores, test, bank, bank_y, protos, K, kind, b->knn_k);
  for (int s = 0; s < PS_OOD_N_SCORES; s++)
    ps_ood_add_metrics (out, ps_ood_score_name (s), scores + (gsize) s * test->n,
                        b->test.is_ood, test->n);

  /* Near and far OOD differ (a shirt is near a T-shirt, a bag far from
   * everything): every score's AUROC and FPR95 against each held-out
   * class alone, as auroc_<score>_c<class> and fpr95_<score>_c<class>. */
  g_autofree float *sub = g_new (float, MAX (test->n, 1));
  g_autofree guint8 *sub_ood = g_new (guint8, MAX (test->n, 1));
  for (guint c = 0; c < b->oc.n_classes; c++)
    {
      if (b->oc.slot[c] >= 0)
        continue;
      for (int s = 0; s < PS_OOD_N_SCORES; s++)
        {
          const float *sel = scores + (gsize) s * test->n;
          guint k = 0, n_c = 0;
          for (guint i = 0; i < test->n; i++)
            {
              gint32 row = b->test.rows[i];
              gboolean of_c = b->test.is_ood[i] && row >= 0 && b->data->y[row] == (gint32) c;
              if (!b->test.is_ood[i] || of_c)
                {
                  sub[k] = sel[i];
                  sub_ood[k++] = of_c;
                  n_c += of_c;
                }
            }
          if (n_c == 0 || !ps_all_finite (sub, k))
            continue;
          g_autofree char *auroc = g_strdup_printf ("auroc_%s_c%u", ps_ood_score_name (s), c);
          g_autofree char *fpr = g_strdup_printf ("fpr95_%s_c%u", ps_ood_score_name (s), c);
          ps_metrics_set (out, auroc, ps_auroc (sub, sub_ood, k));
          ps_metrics_set (out, fpr, ps_fpr95 (sub, sub_ood, k, PS_POSITIVE_ID));
        }
    }
}

void
ps_embed_net_finish_step (PsEmbedNet *b, PsStepInfo *info, float loss)
{
  b->step++;
  info->loss = loss;
  info->done = b->step >= b->total;
}

void
ps_embed_net_snapshot (PsEmbedNet *b, GPtrArray *out, const guint *rows, guint n,
                       const PsOodInputs *rows_in, const PsOodInputs *bank, const int *bank_y,
                       const float *protos, int K, PsSimilarity kind)
{
  PsDataset *ds = b->data;
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  ps_snapshot_add_common (out, ds, rows, n, x);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", rows_in->z, n, rows_in->E));
  const int C = rows_in->C;
  g_autofree gint32 *pred = g_new (gint32, MAX (n, 1));
  g_autofree float *conf = g_new (float, MAX (n, 1));
  g_autofree guint8 *ood = g_new (guint8, MAX (n, 1));
  g_autofree float *msp = g_new (float, MAX (n, 1));
  ps_ood_msp_score (msp, rows_in->logits, (int) n, C);
  for (guint i = 0; i < n; i++)
    {
      pred[i] = b->oc.cls[argmax_row (rows_in->logits + (gsize) i * C, C)];
      conf[i] = -msp[i];
      int y = ds->y[rows[i]];
      ood[i] = y >= 0 && (guint) y < b->oc.n_classes && b->oc.slot[y] < 0;
    }
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  gsize shape[1] = { n };
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape, conf));
  g_ptr_array_add (out, ps_array_new ("ood", PS_DTYPE_U8, 1, shape, ood));

  g_autofree float *scores = g_new (float, (gsize) PS_OOD_N_SCORES * MAX (n, 1));
  ps_ood_all_scores (scores, rows_in, bank, bank_y, protos, K, kind, b->knn_k);
  g_ptr_array_add (out, ps_array_new ("scores", PS_DTYPE_F32, 1, shape,
                                      scores + (gsize) b->ood_score * n));
  /* The score's name as UTF-8 bytes, e.g. "ood_knn". */
  g_autofree char *name = g_strdup_printf ("ood_%s", ps_ood_score_name (b->ood_score));
  gsize nshape[1] = { strlen (name) };
  g_ptr_array_add (out, ps_array_new ("score_name", PS_DTYPE_U8, 1, nshape, name));
}

void
ps_embed_net_grid (PsEmbedNet *b, int G, float ext[4], PsOodInputs *grid, int C)
{
  g_return_if_fail (b->data->d == 2);
  ps_extent_2d (b->data->x, b->data->n, 0.1f, ext);
  g_autofree float *pts = g_new (float, (gsize) G * G * 2);
  for (int i = 0; i < G; i++)
    for (int j = 0; j < G; j++)
      {
        pts[((gsize) i * G + j) * 2 + 0] = ext[0] + (ext[1] - ext[0]) * (j + 0.5f) / G;
        pts[((gsize) i * G + j) * 2 + 1] = ext[2] + (ext[3] - ext[2]) * (i + 0.5f) / G;
      }
  ps_ood_inputs_alloc (grid, (guint) (G * G), b->E, b->F, C);
  ps_embed_net_infer (b, pts, (guint) (G * G), grid->z, grid->feat);
}

void
ps_embed_net_add_fields (PsEmbedNet *b, GPtrArray *out, int G, const float ext[4],
                         const PsOodInputs *grid, const PsOodInputs *bank, const int *bank_y,
                         const float *protos, int K, PsSimilarity kind)
{
  const int C = grid->C, n = G * G;
  g_autofree float *field = g_new (float, (gsize) n * C);
  ps_softmax_forward (field, grid->logits, n, C);
  gsize fshape[3] = { G, G, C };
  g_ptr_array_add (out, ps_array_new ("decision_field", PS_DTYPE_F32, 3, fshape, field));
  gsize eshape[1] = { 4 };
  g_ptr_array_add (out, ps_array_new ("field_extent", PS_DTYPE_F32, 1, eshape, ext));
  g_autofree float *scores = g_new (float, (gsize) PS_OOD_N_SCORES * n);
  ps_ood_all_scores (scores, grid, bank, bank_y, protos, K, kind, b->knn_k);
  gsize sshape[2] = { G, G };
  g_ptr_array_add (out, ps_array_new ("score_field", PS_DTYPE_F32, 2, sshape,
                                      scores + (gsize) b->ood_score * n));
}

/* The common part of a checkpoint: step, data-order RNG, this epoch's
 * permutation and the network blob (weights, optimizer, dropout RNG). */
void
ps_embed_net_save (PsEmbedNet *b, PsBlobWriter *w)
{
  g_autoptr (GBytes) net = ps_model_save (b->net);
  ps_blob_put_u64 (w, b->step);
  ps_blob_put_rng (w, &b->rng);
  ps_blob_put_u32 (w, b->n_train);
  ps_blob_put (w, b->perm, b->n_train * sizeof (guint));
  ps_blob_put_bytes (w, net);
}

gboolean
ps_embed_net_load (PsEmbedNet *b, PsBlobReader *r, GError **error)
{
  guint64 step;
  guint32 n_train;
  PsRng rng;
  if (!ps_blob_get_u64 (r, &step, error) || !ps_blob_get_rng (r, &rng, error)
      || !ps_blob_get_u32 (r, &n_train, error))
    return FALSE;
  if (n_train != b->n_train)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "%s: it was made with %u training samples, this run has %u",
                   r->what, n_train, b->n_train);
      return FALSE;
    }
  g_autofree guint *perm = g_new (guint, MAX (n_train, 1));
  if (!ps_blob_get (r, perm, n_train * sizeof (guint), error))
    return FALSE;
  g_autoptr (GBytes) net = ps_blob_get_bytes (r, error);
  if (net == NULL || !ps_model_load_into (b->net, net, error))
    return FALSE;
  memcpy (b->perm, perm, n_train * sizeof (guint));
  b->step = step;
  b->rng = rng;
  return TRUE;
}
