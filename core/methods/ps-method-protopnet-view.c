/* ps-method-protopnet-view.c: what a trained part-prototype network shows:
 * metrics (accuracies per stage, purity, the deletion curve, the stability
 * of the "because" importances), the snapshot and the explanation of one
 * image.  Shared by protopnet and stprotopnet. */
#define G_LOG_DOMAIN "ps-protopnet"

#include "ps-method-protopnet-private.h"
#include "ps-because.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

/* ---- Evaluation ---------------------------------------------------------- */

static void
classify_cb (gpointer user, const float *x, int B, int *pred)
{
  PsPpnModel *m = user;
  g_autofree float *logits = g_new (float, (gsize) B * m->C);
  ps_ppn_model_infer (m, x, B, NULL, NULL, logits);
  for (int b = 0; b < B; b++)
    pred[b] = ps_ppn_argmax (logits + (gsize) b * m->C, m->C);
}

/* Per-image attribution used by the deletion curve: the upsampled
 * similarity map of the prototype that adds the most points to the
 * predicted class. */
static void
top_heatmap (PsPpnModel *m, const float *feat1, const float *sim1, int pred, float *heat,
             int *top_k)
{
  int best = 0;
  float bestv = -INFINITY;
  for (int k = 0; k < m->K; k++)
    {
      float ev = sim1[k] * m->last[(gsize) pred * m->K + k];
      if (ev > bestv)
        {
          bestv = ev;
          best = k;
        }
    }
  g_autofree float *map = g_new (float, m->HW);
  ps_ppn_similarity_map (map, feat1, m->protos + (gsize) best * m->D, m->D, m->HW, PS_PPN_EPS);
  ps_ppn_upsample (heat, map, m->fh, m->fw, m->data->img_h, m->data->img_w);
  if (top_k)
    *top_k = best;
}

/* Deletion AUC of the heatmaps and of a random attribution on the first
 * (at most) 200 evaluation images. */
static void
deletion_metrics (PsPpnModel *m, PsMetrics *out)
{
  int B = (int) MIN (m->test.n, 200u);
  if (B == 0)
    return;
  const int P = (int) m->data->d;
  const int hw = (int) (m->data->img_h * m->data->img_w);
  if (P != hw)
    return;   /* one channel only: the heatmap is per pixel */
  g_autofree float *feat = g_new (float, (gsize) B * m->D * m->HW);
  g_autofree float *sim = g_new (float, (gsize) B * m->K);
  g_autofree float *logits = g_new (float, (gsize) B * m->C);
  ps_ppn_model_infer (m, m->test.x, B, feat, sim, logits);
  g_autofree int *order = g_new (int, (gsize) B * P);
  g_autofree int *rorder = g_new (int, (gsize) B * P);
  g_autofree float *heat = g_new (float, P);
  PsRng rng;
  ps_rng_init (&rng, 12345, 7);   /* fixed: the baseline must not depend on the run */
  g_autofree guint *perm = g_new (guint, P);
  for (int b = 0; b < B; b++)
    {
      int pred = ps_ppn_argmax (logits + (gsize) b * m->C, m->C);
      top_heatmap (m, feat + (gsize) b * m->D * m->HW, sim + (gsize) b * m->K, pred, heat, NULL);
      ps_ppn_order_desc (order + (gsize) b * P, heat, P);
      ps_rng_permutation (&rng, perm, P);
      for (int i = 0; i < P; i++)
        rorder[(gsize) b * P + i] = (int) perm[i];
    }
  double a = ps_ppn_deletion_auc (classify_cb, m, m->test.x, m->test.y, order, B, P, 10, 0.0f,
                                  NULL);
  double r = ps_ppn_deletion_auc (classify_cb, m, m->test.x, m->test.y, rorder, B, P, 10, 0.0f,
                                  NULL);
  ps_metrics_set (out, "deletion_auc", a);
  ps_metrics_set (out, "deletion_auc_random", r);
}

static void because_sims (gpointer user, const float *x, int n, float *sims);

/* Mean over characteristics of the Spearman correlation, across the K
 * prototypes, of a[K, N] and b[K, N]: do the two agree which prototypes
 * rely most on each characteristic? */
static double
per_kind_rank_agreement (const float *a, const float *b, int K, int N)
{
  g_autofree float *ca = g_new (float, K);
  g_autofree float *cb = g_new (float, K);
  double acc = 0;
  int n = 0;
  for (int t = 0; t < N; t++)
    {
      for (int k = 0; k < K; k++)
        {
          ca[k] = a[(gsize) k * N + t];
          cb[k] = b[(gsize) k * N + t];
        }
      double r = ps_because_spearman (ca, cb, K);
      if (!isnan (r))
        {
          acc += r;
          n++;
        }
    }
  return n > 0 ? acc / n : NAN;
}

double
ps_ppn_because_stability (PsPpnModel *m, int topk, double *per_proto, double *shuffled)
{
  if (per_proto)
    *per_proto = NAN;
  if (shuffled)
    *shuffled = NAN;
  PsDataset *ds = m->data;
  const int K = m->K, N = PS_BECAUSE_N_KINDS;
  const guint half = m->n_train / 2;
  if (m->cache_mind == NULL || m->step < m->s_cache || ds->img_c > 1 || half < (guint) topk
      || topk <= 0)
    return NAN;
  g_autofree float *imp = g_new (float, (gsize) 2 * K * N);
  g_autofree float *sub = g_new (float, (gsize) half * K);
  g_autofree int *top = g_new (int, (gsize) K * topk);
  g_autofree float *topw = g_new (float, (gsize) K * topk);
  for (int h = 0; h < 2; h++)
    {
      /* Half h holds the training positions 2 i + h. */
      for (guint i = 0; i < half; i++)
        memcpy (sub + (gsize) i * K, m->cache_mind + (gsize) (2 * i + h) * K, K * sizeof (float));
      ps_ppn_topk_rows (top, sub, (int) half, K, topk);
      for (int k = 0; k < K; k++)
        for (int j = 0; j < topk; j++)
          {
            guint pos = 2 * (guint) top[k * topk + j] + h;
            topw[k * topk + j] = ps_ppn_log_sim (m->cache_mind[(gsize) pos * K + k], PS_PPN_EPS);
            top[k * topk + j] = (int) m->train_idx[pos];
          }
      ps_because_global (imp + (gsize) h * K * N, because_sims, m, ds->x, top, topw, topk,
                         (int) ds->img_h, (int) ds->img_w, K, 0);
    }
  /* Each prototype's vector is scaled to unit L1 norm first: its overall
   * size follows how close the nearest images are (one half holds the image
   * the prototype was pushed to, at similarity log (1 / eps)), while the
   * check is about which characteristics matter, relative to each other. */
  for (int r = 0; r < 2 * K; r++)
    {
      double s = 0;
      for (int q = 0; q < N; q++)
        s += fabsf (imp[(gsize) r * N + q]);
      for (int q = 0; q < N; q++)
        imp[(gsize) r * N + q] = s > 0 ? (float) (imp[(gsize) r * N + q] / s) : 0.0f;
    }
  const float *a = imp, *b = imp + (gsize) K * N;
  if (per_proto)
    {
      double acc = 0;
      int n = 0;
      for (int k = 0; k < K; k++)
        {
          double r = ps_because_spearman (a + (gsize) k * N, b + (gsize) k * N, N);
          if (!isnan (r))
            {
              acc += r;
              n++;
            }
        }
      *per_proto = n > 0 ? acc / n : NAN;
    }
  /* Pair prototype k of one half with prototype k + K / 2 (mod K) of the
   * other for the baseline: a fixed derangement, so it is reproducible. */
  g_autofree float *bs = g_new (float, (gsize) K * N);
  for (int k = 0; k < K; k++)
    memcpy (bs + (gsize) k * N, b + (gsize) ((k + MAX (K / 2, 1)) % K) * N, N * sizeof (float));
  double st = per_kind_rank_agreement (a, b, K, N);
  if (shuffled)
    *shuffled = per_kind_rank_agreement (a, bs, K, N);
  return st;
}

/* The purity of every prototype: the share of its 10 nearest training
 * images (minimum patch distance, from the cache) that have its class. */
static void
proto_purity (PsPpnModel *m, float *pur)
{
  const int K = m->K, T = (int) MIN (m->n_train, 10u);
  g_autofree int *top = g_new (int, (gsize) K * MAX (T, 1));
  ps_ppn_topk_rows (top, m->cache_mind, (int) m->n_train, K, T);
  for (int k = 0; k < K; k++)
    {
      int hit = 0;
      for (int t = 0; t < T; t++)
        hit += m->data->y[m->train_idx[top[(gsize) k * T + t]]] == m->pclass[k];
      pur[k] = T > 0 ? (float) hit / T : NAN;
    }
}

/* The mean of pur over prototypes [k0, k1), the pruned ones left out
 * when kept_only. */
static double
mean_purity (PsPpnModel *m, const float *pur, int k0, int k1, gboolean kept_only)
{
  double acc = 0.0;
  int n = 0;
  for (int k = k0; k < k1; k++)
    if (!kept_only || !m->pruned[k])
      {
        acc += pur[k];
        n++;
      }
  return n > 0 ? acc / n : NAN;
}

PsMetrics *
ps_ppn_method_evaluate (gpointer p)
{
  PsPpnModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  if (m->test.n > 0)
    ps_metrics_set (out, m->test.split == PS_SPLIT_TEST ? "test_acc" : "val_acc", ps_ppn_test_acc (m));
  if (m->test.n > 0 && m->support > 0)
    {
      /* How well each bank classifies by its own points. */
      ps_metrics_set (out, "test_acc_trivial", ps_ppn_test_acc_bank (m, PS_PPN_KIND_PLAIN));
      ps_metrics_set (out, "test_acc_support", ps_ppn_test_acc_bank (m, PS_PPN_KIND_SUPPORT));
    }
  if (!isnan (m->acc_pre))
    ps_metrics_set (out, "test_acc_pretrain", m->acc_pre);
  if (!isnan (m->acc_joint))
    ps_metrics_set (out, "test_acc_joint", m->acc_joint);
  if (!isnan (m->acc_push))
    ps_metrics_set (out, "test_acc_push", m->acc_push);
  if (!isnan (m->acc_final))
    ps_metrics_set (out, "test_acc_last", m->acc_final);
  if (m->cache_mind != NULL && m->step >= m->s_cache)
    {
      /* purity: the mean over the prototypes the model keeps (all of
       * them without pruning); purity_all: over every prototype. */
      g_autofree float *pur = g_new (float, m->K);
      proto_purity (m, pur);
      ps_metrics_set (out, "purity", mean_purity (m, pur, 0, m->K, TRUE));
      ps_metrics_set (out, "purity_all", mean_purity (m, pur, 0, m->K, FALSE));
      ps_metrics_set (out, "n_pruned", ps_ppn_n_pruned (m));
      if (m->support > 0)
        {
          /* Purity of each bank on its own prototypes. */
          const int n0 = m->C * m->per_class;
          ps_metrics_set (out, "purity_trivial", mean_purity (m, pur, 0, n0, TRUE));
          ps_metrics_set (out, "purity_support", mean_purity (m, pur, n0, m->K, TRUE));
        }
    }
  if (m->step >= m->total)
    {
      deletion_metrics (m, out);
      double per = NAN, shuf = NAN;
      double st = ps_ppn_because_stability (m, 10, &per, &shuf);
      if (!isnan (st))
        {
          ps_metrics_set (out, "because_stability", st);
          ps_metrics_set (out, "because_stability_proto", per);
          ps_metrics_set (out, "because_stability_shuffled", shuf);
        }
    }
  return out;
}

static void
because_sims (gpointer user, const float *x, int n, float *sims)
{
  ps_ppn_model_infer (user, x, n, NULL, sims, NULL);
}

/* ---- Snapshot -------------------------------------------------------------- */

void
ps_ppn_pos_box (PsPpnModel *m, int pos, int box[4])
{
  if (pos < 0)
    {
      box[0] = box[1] = box[2] = box[3] = -1;
      return;
    }
  ps_ppn_receptive_field (m->net, m->feat_layer, pos / m->fw, pos % m->fw, box);
}

/* Where prototype k matches in each of its T nearest training images
 * (dataset rows rows[k * T + j]): the receptive field of the closest
 * feature-map cell, boxes[(k * T + j) * 4 ..] = y0, x0, y1, x1.  One
 * batch of T images per prototype through the scratch buffers (the
 * snapshot runs between steps on the training thread). */
static void
topk_boxes (PsPpnModel *m, const int *rows, int T, gint32 *boxes)
{
  const int K = m->K;
  const guint d = m->data->d;
  gboolean was = ps_model_get_training (m->net);
  g_autofree float *x = g_new (float, (gsize) MIN (T, PPN_CHUNK) * d);

  ps_model_set_training (m->net, FALSE);
  for (int k = 0; k < K; k++)
    for (int s = 0; s < T; s += PPN_CHUNK)
      {
        int n = MIN (PPN_CHUNK, T - s);
        for (int b = 0; b < n; b++)
          memcpy (x + (gsize) b * d, m->data->x + (gsize) rows[k * T + s + b] * d, d * sizeof (float));
        ps_ppn_features (m, x, n);
        ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, n, K, m->D, m->HW,
                        PS_PPN_EPS);
        for (int b = 0; b < n; b++)
          {
            int box[4];
            ps_ppn_pos_box (m, m->argmin[(gsize) b * K + k], box);
            for (int i = 0; i < 4; i++)
              boxes[((gsize) k * T + s + b) * 4 + i] = box[i];
          }
      }
  ps_model_set_training (m->net, was);
}

GPtrArray *
ps_ppn_method_snapshot (gpointer p)
{
  PsPpnModel *m = p;
  PsDataset *ds = m->data;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  const int K = m->K, D = m->D, C = m->C;
  g_autofree float *emb = g_new0 (float, (gsize) MAX (n, 1) * D);
  g_autofree gint32 *pred = g_new0 (gint32, MAX (n, 1));
  g_autofree float *conf = g_new0 (float, MAX (n, 1));
  g_autofree float *logits = g_new (float, (gsize) PPN_CHUNK * C);
  g_autofree float *probs = g_new (float, (gsize) PPN_CHUNK * C);
  gboolean was = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  for (guint s = 0; s < n; s += PPN_CHUNK)
    {
      int B = (int) MIN ((guint) PPN_CHUNK, n - s);
      ps_ppn_features (m, x + (gsize) s * ds->d, B);
      ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, B, K, D, m->HW, PS_PPN_EPS);
      ps_ppn_last_forward (logits, m->sim, m->last, B, K, C);
      ps_softmax_forward (probs, logits, B, C);
      for (int b = 0; b < B; b++)
        {
          int c = ps_ppn_argmax (probs + (gsize) b * C, C);
          pred[s + b] = c;
          conf[s + b] = probs[(gsize) b * C + c];
          /* The embedding is the patch that lies nearest to any prototype:
           * a point in the prototypes' own space. */
          int kbest = 0;
          for (int k = 1; k < K; k++)
            if (m->mind[(gsize) b * K + k] < m->mind[(gsize) b * K + kbest])
              kbest = k;
          int pos = m->argmin[(gsize) b * K + kbest];
          for (int d = 0; d < D; d++)
            emb[(gsize) (s + b) * D + d] = m->feat[(gsize) b * D * m->HW + (gsize) d * m->HW + pos];
        }
    }
  ps_model_set_training (m->net, was);

  ps_snapshot_add_common (out, ds, rows, n, x);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", emb, n, D));
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  gsize shape1[1] = { n };
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape1, conf));
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", m->protos, K, D));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", m->pclass, K));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_kind", m->pkind, K));
  g_autofree float *wts = g_new (float, K);
  g_autofree gint32 *src = g_new (gint32, (gsize) K * 3);
  g_autofree gint32 *boxes = g_new (gint32, (gsize) K * 4);
  const gsize H = ds->img_h, W = ds->img_w, P = ds->d;
  g_autofree float *srcimg = g_new0 (float, (gsize) K * P);
  for (int k = 0; k < K; k++)
    {
      wts[k] = m->last[(gsize) m->pclass[k] * K + k];
      int pos = m->src_pos[k];
      src[k * 3 + 0] = m->src_row[k];
      src[k * 3 + 1] = pos >= 0 ? pos / m->fw : -1;
      src[k * 3 + 2] = pos >= 0 ? pos % m->fw : -1;
      int box[4];
      ps_ppn_pos_box (m, pos, box);
      memcpy (boxes + k * 4, box, sizeof box);
      if (m->src_row[k] >= 0)
        memcpy (srcimg + (gsize) k * P, ds->x + (gsize) m->src_row[k] * ds->d, P * sizeof (float));
    }
  gsize kshape[1] = { K };
  g_ptr_array_add (out, ps_array_new ("prototype_weight", PS_DTYPE_F32, 1, kshape, wts));
  gsize s3[2] = { K, 3 }, s4[2] = { K, 4 };
  g_ptr_array_add (out, ps_array_new ("prototype_source", PS_DTYPE_I32, 2, s3, src));
  g_ptr_array_add (out, ps_array_new ("prototype_box", PS_DTYPE_I32, 2, s4, boxes));
  gsize ishape[3] = { K, H, W * (P / (H * W)) };
  g_ptr_array_add (out, ps_array_new ("prototype_images", PS_DTYPE_F32, 3, ishape, srcimg));
  if (m->cache_mind != NULL && m->step >= m->s_cache)
    {
      const int T = (int) MIN (m->n_train, 10u);
      g_autofree int *top = g_new (int, (gsize) K * T);
      ps_ppn_topk_rows (top, m->cache_mind, (int) m->n_train, K, T);
      for (gsize i = 0; i < (gsize) K * T; i++)
        top[i] = (int) m->train_idx[top[i]];
      gsize tshape[2] = { K, T };
      g_ptr_array_add (out, ps_array_new ("prototype_topk", PS_DTYPE_I32, 2, tshape, top));
      g_autofree gint32 *tbox = g_new (gint32, (gsize) K * T * 4);
      topk_boxes (m, top, T, tbox);
      gsize bshape[3] = { K, T, 4 };
      g_ptr_array_add (out, ps_array_new ("prototype_topk_box", PS_DTYPE_I32, 3, bshape, tbox));
      /* Purity of each prototype: the share of its top training images
       * that have its class (the mean over the kept prototypes is the
       * `purity` metric); which were pruned. */
      g_autofree float *pur = g_new (float, K);
      for (int k = 0; k < K; k++)
        {
          int hit = 0;
          for (int j = 0; j < T; j++)
            hit += ds->y[top[(gsize) k * T + j]] == m->pclass[k];
          pur[k] = T > 0 ? (float) hit / T : NAN;
        }
      g_ptr_array_add (out, ps_array_new ("prototype_purity", PS_DTYPE_F32, 1, kshape, pur));
      g_ptr_array_add (out, ps_array_new_i32 ("prototype_pruned", m->pruned, K));
      if (ds->img_c <= 1)
        {
          /* Global "because" importances over each prototype's top
           * training images, weighted by their similarity. */
          g_autofree float *topw = g_new (float, (gsize) K * T);
          g_autofree int *topi = g_new (int, (gsize) K * T);
          ps_ppn_topk_rows (topi, m->cache_mind, (int) m->n_train, K, T);
          for (int k = 0; k < K; k++)
            for (int j = 0; j < T; j++)
              topw[k * T + j] = ps_ppn_log_sim (m->cache_mind[(gsize) topi[k * T + j] * K + k], PS_PPN_EPS);
          g_autofree float *imp = g_new (float, (gsize) K * PS_BECAUSE_N_KINDS);
          ps_because_global (imp, because_sims, m, ds->x, top, topw, T, (int) H, (int) W, K, 0);
          gsize gshape[2] = { K, PS_BECAUSE_N_KINDS };
          g_ptr_array_add (out, ps_array_new ("because_global", PS_DTYPE_F32, 2, gshape, imp));
        }
    }
  return out;
}

/* ---- Explanation ------------------------------------------------------------- */

PsExplanation *
ps_ppn_method_explain (gpointer p, guint sample, GError **error)
{
  PsPpnModel *m = p;
  PsDataset *ds = m->data;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  const int K = m->K, C = m->C, D = m->D, HW = m->HW;
  const int H = (int) ds->img_h, W = (int) ds->img_w, P = (int) ds->d;
  const float *x1 = ds->x + (gsize) sample * ds->d;
  g_autofree float *feat1 = g_new (float, (gsize) D * HW);
  g_autofree float *sim1 = g_new (float, K);
  g_autofree float *logits = g_new (float, C);
  ps_ppn_model_infer (m, x1, 1, feat1, sim1, logits);
  g_autofree int *argmin1 = g_new (int, K);
  g_autofree float *mind1 = g_new (float, K);
  ps_ppn_forward (NULL, mind1, argmin1, feat1, m->protos, 1, K, D, HW, PS_PPN_EPS);
  g_autofree float *probs = g_new (float, C);
  ps_softmax_forward (probs, logits, 1, C);
  int pred = ps_ppn_argmax (probs, C);

  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->predicted = pred;
  ex->confidence = probs[pred];
  ex->by_prototypes = TRUE;

  /* Points per class: the sum over all prototypes of similarity times the
   * last-layer weight, accumulated separately from the logits so a view
   * (and the tests) can check they agree. */
  g_autofree float *points = g_new0 (float, C);
  for (int c = 0; c < C; c++)
    {
      double acc = 0.0;
      for (int k = 0; k < K; k++)
        acc += (double) sim1[k] * m->last[(gsize) c * K + k];
      points[c] = (float) acc;
    }
  g_autofree PsPpnRanked *order = g_new (PsPpnRanked, K);
  ps_ppn_rank_evidence (order, sim1, m->last + (gsize) pred * K, K);
  const int T = MIN (K, 10);
  g_autofree float *heat = g_new (float, (gsize) T * P);
  g_autofree float *heat_rc = g_new (float, (gsize) T * P);
  g_autofree float *heat_rnd = g_new (float, (gsize) T * P);
  g_autofree gint32 *boxes = g_new (gint32, (gsize) T * 4);
  g_autofree gint32 *sboxes = g_new (gint32, (gsize) T * 4);
  g_autofree float *simg = g_new0 (float, (gsize) T * P);
  g_autofree gint32 *idx = g_new (gint32, T);
  g_autofree gint32 *kinds = g_new (gint32, T);
  g_autofree float *map = g_new (float, HW);
  g_autofree float *feat_rc = g_new (float, (gsize) D * HW);
  ps_ppn_random_conv_features (m->net, x1, sample, feat_rc, (gsize) D * HW);
  PsRng rng;
  ps_rng_init (&rng, sample, 13);
  g_autofree float *noise = g_new (float, HW);
  for (int t = 0; t < T; t++)
    {
      int k = order[t].k;
      PsEvidence e = { .index = k, .cls = m->pclass[k], .similarity = sim1[k],
                       .weight = m->last[(gsize) pred * K + k], .evidence = order[t].evidence };
      g_array_append_val (ex->evidence, e);
      idx[t] = k;
      kinds[t] = m->pkind[k];
      ps_ppn_similarity_map (map, feat1, m->protos + (gsize) k * D, D, HW, PS_PPN_EPS);
      ps_ppn_upsample (heat + (gsize) t * P, map, m->fh, m->fw, H, W);
      ps_ppn_similarity_map (map, feat_rc, m->protos + (gsize) k * D, D, HW, PS_PPN_EPS);
      ps_ppn_upsample (heat_rc + (gsize) t * P, map, m->fh, m->fw, H, W);
      ps_rng_fill_uniform (&rng, noise, HW, 0.0f, 1.0f);
      ps_ppn_upsample (heat_rnd + (gsize) t * P, noise, m->fh, m->fw, H, W);
      int box[4];
      ps_ppn_pos_box (m, argmin1[k], box);
      memcpy (boxes + t * 4, box, sizeof box);
      ps_ppn_pos_box (m, m->src_pos[k], box);
      memcpy (sboxes + t * 4, box, sizeof box);
      if (m->src_row[k] >= 0)
        memcpy (simg + (gsize) t * P, ds->x + (gsize) m->src_row[k] * ds->d, P * sizeof (float));
    }
  const int Wc = P / H;   /* width times channels: one channel in practice */
  gsize ishape[2] = { H, Wc }, hshape[3] = { T, H, Wc }, bshape[2] = { T, 4 }, cshape[1] = { C };
  g_ptr_array_add (ex->arrays, ps_array_new ("image", PS_DTYPE_F32, 2, ishape, x1));
  g_ptr_array_add (ex->arrays, ps_array_new_i32 ("prototype_index", idx, T));
  g_ptr_array_add (ex->arrays, ps_array_new_i32 ("prototype_kind", kinds, T));
  g_ptr_array_add (ex->arrays, ps_array_new ("heatmaps", PS_DTYPE_F32, 3, hshape, heat));
  g_ptr_array_add (ex->arrays, ps_array_new ("boxes", PS_DTYPE_I32, 2, bshape, boxes));
  g_ptr_array_add (ex->arrays, ps_array_new ("source_images", PS_DTYPE_F32, 3, hshape, simg));
  g_ptr_array_add (ex->arrays, ps_array_new ("source_boxes", PS_DTYPE_I32, 2, bshape, sboxes));
  g_ptr_array_add (ex->arrays, ps_array_new ("heatmaps_random_conv", PS_DTYPE_F32, 3, hshape, heat_rc));
  g_ptr_array_add (ex->arrays, ps_array_new ("heatmaps_random", PS_DTYPE_F32, 3, hshape, heat_rnd));
  g_ptr_array_add (ex->arrays, ps_array_new ("class_points", PS_DTYPE_F32, 1, cshape, points));
  g_ptr_array_add (ex->arrays, ps_array_new ("logits", PS_DTYPE_F32, 1, cshape, logits));
  g_ptr_array_add (ex->arrays, ps_array_new ("probabilities", PS_DTYPE_F32, 1, cshape, probs));
  if (ds->img_c <= 1)
    {
      /* Local "because" importances of the shown prototypes. */
      g_autofree float *delta = g_new (float, (gsize) K * PS_BECAUSE_N_KINDS);
      ps_because_local (delta, because_sims, m, x1, H, W, K, sample);
      g_autofree float *dtop = g_new (float, (gsize) T * PS_BECAUSE_N_KINDS);
      for (int t = 0; t < T; t++)
        memcpy (dtop + (gsize) t * PS_BECAUSE_N_KINDS, delta + (gsize) idx[t] * PS_BECAUSE_N_KINDS,
                PS_BECAUSE_N_KINDS * sizeof (float));
      gsize lshape[2] = { T, PS_BECAUSE_N_KINDS };
      g_ptr_array_add (ex->arrays, ps_array_new ("because_local", PS_DTYPE_F32, 2, lshape, dtop));
    }
  const PsEvidence *top = &g_array_index (ex->evidence, PsEvidence, 0);
  ex->text = g_strdup_printf ("Predicted %s (p = %.2f, %.2f points). The strongest evidence: "
                              "this part looks like prototype %d of class %s (similarity %.2f "
                              "x weight %.2f = %.2f points).",
                              ps_class_name (ds, pred), probs[pred], points[pred], top->index,
                              ps_class_name (ds, top->cls), top->similarity, top->weight,
                              top->evidence);
  return ex;
}

