/* ps-probpsenn-view.c: Prob-PSENN's metrics, snapshots and explanations.
 *
 * The snapshot carries the same kinds as protopnet's (prototype_kind,
 * _weight, _source, _box, _images, _topk, because_global) with the means as
 * `prototypes`, plus `uncertainty` (entropy of the predictive mean / log C),
 * `uncertain` (u8, above the threshold), `explanation_std` (spread of the top
 * prototype's similarity across draws), `prototype_sigma` (mean standard
 * deviation per prototype) and `scores` named `predictive_entropy`.  An
 * explanation adds `similarity_std` and `top_share` (how often each listed
 * prototype is the strongest evidence over the draws).
 */
#define G_LOG_DOMAIN "ps-probpsenn"

#include "ps-probpsenn-private.h"
#include "ps-because.h"
#include "../eval/ps-eval.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Evaluation ---------------------------------------------------------- */

static double
mean_of (const float *v, guint n)
{
  double acc = 0.0;
  for (guint i = 0; i < n; i++)
    acc += v[i];
  return n > 0 ? acc / n : NAN;
}

PsMetrics *
pps_evaluate (gpointer p)
{
  PsPpsModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  const gsize KD = (gsize) m->K * m->D;
  double sig = 0.0;
  for (gsize i = 0; i < KD; i++)
    sig += expf (0.5f * m->lv[i]);
  ps_metrics_set (out, "sigma_mean", sig / KD);
  if (!isnan (m->acc_joint))
    ps_metrics_set (out, "test_acc_joint", m->acc_joint);
  if (!isnan (m->acc_push))
    ps_metrics_set (out, "test_acc_push", m->acc_push);
  if (!isnan (m->acc_final))
    ps_metrics_set (out, "test_acc_last", m->acc_final);
  const guint n = m->test.n;
  if (n == 0)
    return out;
  const char *sfx = m->test.split == PS_SPLIT_TEST ? "test" : "val";
  g_autofree int *pred = g_new (int, n);
  g_autofree int *ppoint = g_new (int, n);
  g_autofree float *ent = g_new (float, n + m->n_far);
  g_autofree float *mi = g_new (float, n + m->n_far);
  g_autofree float *estd = g_new (float, n);
  PpsOut o = { .pred = pred, .pred_point = ppoint, .entropy = ent, .mi = mi, .estd = estd };
  pps_predict (m, m->test.x, (int) n, &o);
  PpsOut of = { .entropy = ent + n, .mi = mi + n };
  pps_predict (m, m->far_x, (int) m->n_far, &of);
  guint ok = 0, okp = 0, n_cert = 0, ok_cert = 0, n_flag_far = 0;
  for (guint i = 0; i < n; i++)
    {
      ok += pred[i] == m->test.y[i];
      okp += ppoint[i] == m->test.y[i];
      if (ent[i] <= m->threshold)
        {
          n_cert++;
          ok_cert += pred[i] == m->test.y[i];
        }
    }
  for (guint i = 0; i < m->n_far; i++)
    n_flag_far += ent[n + i] > m->threshold;
  g_autofree char *k_acc = g_strdup_printf ("%s_acc", sfx);
  g_autofree char *k_point = g_strdup_printf ("%s_acc_point", sfx);
  g_autofree char *k_unc = g_strdup_printf ("uncertainty_%s", sfx);
  g_autofree char *k_mi = g_strdup_printf ("mi_%s", sfx);
  g_autofree char *k_estd = g_strdup_printf ("explanation_std_%s", sfx);
  g_autofree char *k_flag = g_strdup_printf ("uncertain_frac_%s", sfx);
  g_autofree char *k_cert = g_strdup_printf ("%s_acc_certain", sfx);
  ps_metrics_set (out, k_acc, (double) ok / n);
  ps_metrics_set (out, k_point, (double) okp / n);
  ps_metrics_set (out, k_unc, mean_of (ent, n));
  ps_metrics_set (out, k_mi, mean_of (mi, n));
  ps_metrics_set (out, k_estd, mean_of (estd, n));
  ps_metrics_set (out, "uncertainty_far", mean_of (ent + n, m->n_far));
  ps_metrics_set (out, "mi_far", mean_of (mi + n, m->n_far));
  ps_metrics_set (out, k_flag, (double) (n - n_cert) / n);
  ps_metrics_set (out, "uncertain_frac_far", (double) n_flag_far / m->n_far);
  if (n_cert > 0)
    ps_metrics_set (out, k_cert, (double) ok_cert / n_cert);
  /* Far-OOD detection by the uncertainty (far = positive, higher = OOD). */
  const guint nt = n + m->n_far;
  g_autofree guint8 *is_ood = g_new0 (guint8, nt);
  memset (is_ood + n, 1, m->n_far);
  ps_metrics_set (out, "auroc_far_entropy", ps_auroc (ent, is_ood, nt));
  ps_metrics_set (out, "fpr95_far_entropy", ps_fpr95 (ent, is_ood, nt, PS_POSITIVE_ID));
  ps_metrics_set (out, "auroc_far_mi", ps_auroc (mi, is_ood, nt));
  if (m->cache_mind != NULL && m->step >= m->s_cache)
    {
      g_autofree int *ytr = g_new (int, m->n_train);
      for (guint i = 0; i < m->n_train; i++)
        ytr[i] = m->data->y[m->train_idx[i]];
      ps_metrics_set (out, "purity", ps_ppn_purity (m->cache_mind, ytr, m->pclass, m->n_train,
                                                    m->K, 10));
    }
  return out;
}

/* Similarities to the prototype means, for the "because" analysis. */
static void
because_sims (gpointer user, const float *x, int n, float *sims)
{
  PsPpsModel *m = user;
  PpsOut o = { .sim_point = sims };
  pps_predict (m, x, n, &o);
}

/* ---- Snapshot -------------------------------------------------------------- */

/* Where prototype k matches in each of its T nearest training images
 * rows[k, T] (the gallery boxes them): the map position most similar to
 * the prototype's mean, as its receptive-field box. */
static void
topk_boxes (PsPpsModel *m, const int *rows, int T, gint32 *boxes)
{
  const int K = m->K, D = m->D, HW = m->fh * m->fw;
  const guint d = m->data->d;
  g_autofree float *x = g_new (float, (gsize) T * d);
  g_autofree float *feat = g_new (float, (gsize) T * D * HW);
  g_autofree float *map = g_new (float, HW);
  for (int k = 0; k < K; k++)
    {
      for (int b = 0; b < T; b++)
        memcpy (x + (gsize) b * d, m->data->x + (gsize) rows[k * T + b] * d, d * sizeof (float));
      pps_features (m, x, T, feat);
      for (int b = 0; b < T; b++)
        {
          ps_ppn_similarity_map (map, feat + (gsize) b * D * HW, m->mu + (gsize) k * D, D, HW,
                                 PS_PPN_EPS);
          int best = 0;
          for (int s = 1; s < HW; s++)
            if (map[s] > map[best])
              best = s;
          int box[4];
          pps_pos_box (m, best, box);
          for (int i = 0; i < 4; i++)
            boxes[((gsize) k * T + b) * 4 + i] = box[i];
        }
    }
}

GPtrArray *
pps_snapshot (gpointer p)
{
  PsPpsModel *m = p;
  PsDataset *ds = m->data;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  const int K = m->K, D = m->D, C = m->C;
  const guint n1 = MAX (n, 1);
  g_autofree float *emb = g_new0 (float, (gsize) n1 * D);
  g_autofree gint32 *pred = g_new0 (gint32, n1);
  g_autofree float *conf = g_new0 (float, n1);
  g_autofree float *mean = g_new0 (float, (gsize) n1 * C);
  g_autofree float *ent = g_new0 (float, n1);
  g_autofree float *estd = g_new0 (float, n1);
  g_autofree guint8 *flag = g_new0 (guint8, n1);
  PpsOut o = { .mean = mean, .pred = pred, .entropy = ent, .estd = estd, .emb = emb };
  pps_predict (m, x, (int) n, &o);
  for (guint i = 0; i < n; i++)
    {
      conf[i] = mean[(gsize) i * C + pred[i]];
      flag[i] = ent[i] > m->threshold;
    }

  ps_snapshot_add_common (out, ds, rows, n, x);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", emb, n, D));
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  gsize shape1[1] = { n };
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape1, conf));
  g_ptr_array_add (out, ps_array_new ("uncertainty", PS_DTYPE_F32, 1, shape1, ent));
  g_ptr_array_add (out, ps_array_new ("uncertain", PS_DTYPE_U8, 1, shape1, flag));
  g_ptr_array_add (out, ps_array_new ("explanation_std", PS_DTYPE_F32, 1, shape1, estd));
  g_ptr_array_add (out, ps_array_new ("scores", PS_DTYPE_F32, 1, shape1, ent));
  static const char sname[] = "predictive_entropy";
  gsize nshape[1] = { sizeof sname - 1 };
  g_ptr_array_add (out, ps_array_new ("score_name", PS_DTYPE_U8, 1, nshape, sname));
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", m->mu, K, D));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", m->pclass, K));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_kind", m->pkind, K));
  g_autofree float *wts = g_new (float, K);
  g_autofree float *sigma = g_new (float, K);
  g_autofree gint32 *src = g_new (gint32, (gsize) K * 3);
  g_autofree gint32 *boxes = g_new (gint32, (gsize) K * 4);
  const gsize H = ds->img_h, W = ds->img_w, P = ds->d;
  g_autofree float *srcimg = g_new0 (float, (gsize) K * P);
  for (int k = 0; k < K; k++)
    {
      wts[k] = m->last[(gsize) m->pclass[k] * K + k];
      double s = 0.0;
      for (int d = 0; d < D; d++)
        s += expf (0.5f * m->lv[(gsize) k * D + d]);
      sigma[k] = (float) (s / D);
      int pos = m->src_pos[k];
      src[k * 3 + 0] = m->src_row[k];
      src[k * 3 + 1] = pos >= 0 ? pos / m->fw : -1;
      src[k * 3 + 2] = pos >= 0 ? pos % m->fw : -1;
      int box[4];
      pps_pos_box (m, pos, box);
      memcpy (boxes + k * 4, box, sizeof box);
      if (m->src_row[k] >= 0)
        memcpy (srcimg + (gsize) k * P, ds->x + (gsize) m->src_row[k] * ds->d, P * sizeof (float));
    }
  gsize kshape[1] = { K };
  g_ptr_array_add (out, ps_array_new ("prototype_weight", PS_DTYPE_F32, 1, kshape, wts));
  g_ptr_array_add (out, ps_array_new ("prototype_sigma", PS_DTYPE_F32, 1, kshape, sigma));
  gsize s3[2] = { K, 3 }, s4[2] = { K, 4 };
  g_ptr_array_add (out, ps_array_new ("prototype_source", PS_DTYPE_I32, 2, s3, src));
  g_ptr_array_add (out, ps_array_new ("prototype_box", PS_DTYPE_I32, 2, s4, boxes));
  gsize ishape[3] = { K, H, W * (P / (H * W)) };
  g_ptr_array_add (out, ps_array_new ("prototype_images", PS_DTYPE_F32, 3, ishape, srcimg));
  if (m->cache_mind != NULL && m->step >= m->s_cache)
    {
      const int T = (int) MIN (m->n_train, 10u);
      g_autofree int *topi = g_new (int, (gsize) K * T);
      ps_ppn_topk_rows (topi, m->cache_mind, (int) m->n_train, K, T);
      g_autofree int *top = g_new (int, (gsize) K * T);
      for (gsize i = 0; i < (gsize) K * T; i++)
        top[i] = (int) m->train_idx[topi[i]];
      gsize tshape[2] = { K, T };
      g_ptr_array_add (out, ps_array_new ("prototype_topk", PS_DTYPE_I32, 2, tshape, top));
      g_autofree gint32 *tbox = g_new (gint32, (gsize) K * T * 4);
      topk_boxes (m, top, T, tbox);
      gsize bshape[3] = { K, T, 4 };
      g_ptr_array_add (out, ps_array_new ("prototype_topk_box", PS_DTYPE_I32, 3, bshape, tbox));
      if (ds->img_c <= 1)
        {
          g_autofree float *topw = g_new (float, (gsize) K * T);
          for (int k = 0; k < K; k++)
            for (int j = 0; j < T; j++)
              topw[k * T + j] = m->cache_sim[(gsize) topi[k * T + j] * K + k];
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
pps_explain (gpointer p, guint sample, GError **error)
{
  PsPpsModel *m = p;
  PsDataset *ds = m->data;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  const int K = m->K, C = m->C, D = m->D, HW = m->HW, S = m->S;
  const int H = (int) ds->img_h, W = (int) ds->img_w, P = (int) ds->d;
  const float *x1 = ds->x + (gsize) sample * ds->d;
  g_autofree float *feat1 = g_new (float, (gsize) D * HW);
  pps_features (m, x1, 1, feat1);
  g_autofree float *probs = g_new (float, C);
  g_autofree float *logits = g_new (float, C);
  g_autofree float *sims = g_new (float, (gsize) S * K);
  g_autofree int *argmin1 = g_new (int, K);
  float ent, mi, pstd;
  int pred;
  PpsOut o = { .mean = probs, .logits = logits, .entropy = &ent, .mi = &mi, .pstd = &pstd,
               .pred = &pred, .sims = sims, .argmin_point = argmin1 };
  pps_predict (m, x1, 1, &o);

  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->predicted = pred;
  ex->confidence = probs[pred];
  ex->uncertainty = ent;
  ex->by_prototypes = TRUE;

  /* Mean similarity and its spread over the draws; class points from the
   * mean similarities equal the mean logits (the last layer is linear). */
  g_autofree float *msim = g_new0 (float, K);
  g_autofree float *ssim = g_new0 (float, K);
  for (int k = 0; k < K; k++)
    {
      double acc = 0.0, acc2 = 0.0;
      for (int s = 0; s < S; s++)
        acc += sims[(gsize) s * K + k];
      acc /= S;
      for (int s = 0; s < S; s++)
        {
          double t = sims[(gsize) s * K + k] - acc;
          acc2 += t * t;
        }
      msim[k] = (float) acc;
      ssim[k] = (float) sqrt (acc2 / S);
    }
  g_autofree float *points = g_new0 (float, C);
  for (int c = 0; c < C; c++)
    {
      double acc = 0.0;
      for (int k = 0; k < K; k++)
        acc += (double) msim[k] * m->last[(gsize) c * K + k];
      points[c] = (float) acc;
    }
  /* How often each prototype is the strongest evidence for `pred`. */
  g_autofree int *wins = g_new0 (int, K);
  for (int s = 0; s < S; s++)
    {
      int kb = 0;
      for (int k = 1; k < K; k++)
        if (sims[(gsize) s * K + k] * m->last[(gsize) pred * K + k]
            > sims[(gsize) s * K + kb] * m->last[(gsize) pred * K + kb])
          kb = k;
      wins[kb]++;
    }
  g_autofree PsPpnRanked *order = g_new (PsPpnRanked, K);
  ps_ppn_rank_evidence (order, msim, m->last + (gsize) pred * K, K);
  const int T = MIN (K, 10);
  g_autofree float *heat = g_new (float, (gsize) T * P);
  g_autofree float *heat_rc = g_new (float, (gsize) T * P);
  g_autofree float *heat_rnd = g_new (float, (gsize) T * P);
  g_autofree gint32 *boxes = g_new (gint32, (gsize) T * 4);
  g_autofree gint32 *sboxes = g_new (gint32, (gsize) T * 4);
  g_autofree float *simg = g_new0 (float, (gsize) T * P);
  g_autofree gint32 *idx = g_new (gint32, T);
  g_autofree gint32 *kinds = g_new (gint32, T);
  g_autofree float *tstd = g_new (float, T);
  g_autofree float *tshare = g_new (float, T);
  g_autofree float *map = g_new (float, HW);
  g_autofree float *feat_rc = g_new (float, (gsize) D * HW);
  ps_ppn_random_conv_features (m->net, x1, sample, feat_rc, (gsize) D * HW);
  PsRng rng;
  ps_rng_init (&rng, sample, 13);
  g_autofree float *noise = g_new (float, HW);
  for (int t = 0; t < T; t++)
    {
      int k = order[t].k;
      PsEvidence e = { .index = k, .cls = m->pclass[k], .similarity = msim[k],
                       .weight = m->last[(gsize) pred * K + k], .evidence = order[t].evidence };
      g_array_append_val (ex->evidence, e);
      idx[t] = k;
      kinds[t] = m->pkind[k];
      tstd[t] = ssim[k];
      tshare[t] = (float) wins[k] / S;
      ps_ppn_similarity_map (map, feat1, m->mu + (gsize) k * D, D, HW, PS_PPN_EPS);
      ps_ppn_upsample (heat + (gsize) t * P, map, m->fh, m->fw, H, W);
      ps_ppn_similarity_map (map, feat_rc, m->mu + (gsize) k * D, D, HW, PS_PPN_EPS);
      ps_ppn_upsample (heat_rc + (gsize) t * P, map, m->fh, m->fw, H, W);
      ps_rng_fill_uniform (&rng, noise, HW, 0.0f, 1.0f);
      ps_ppn_upsample (heat_rnd + (gsize) t * P, noise, m->fh, m->fw, H, W);
      int box[4];
      pps_pos_box (m, argmin1[k], box);
      memcpy (boxes + t * 4, box, sizeof box);
      pps_pos_box (m, m->src_pos[k], box);
      memcpy (sboxes + t * 4, box, sizeof box);
      if (m->src_row[k] >= 0)
        memcpy (simg + (gsize) t * P, ds->x + (gsize) m->src_row[k] * ds->d, P * sizeof (float));
    }
  const int Wc = P / H;
  gsize ishape[2] = { H, Wc }, hshape[3] = { T, H, Wc }, bshape[2] = { T, 4 }, cshape[1] = { C };
  gsize tshape[1] = { T };
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
  g_ptr_array_add (ex->arrays, ps_array_new ("similarity_std", PS_DTYPE_F32, 1, tshape, tstd));
  g_ptr_array_add (ex->arrays, ps_array_new ("top_share", PS_DTYPE_F32, 1, tshape, tshare));
  if (ds->img_c <= 1)
    {
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
  ex->text = g_strdup_printf ("Predicted %s (p = %.2f over %d prototype draws, uncertainty %.2f "
                              "of the maximum%s). The strongest evidence: this part looks like "
                              "prototype %d of class %s (similarity %.2f +- %.2f x weight %.2f = "
                              "%.2f points; the strongest in %.0f%% of the draws).",
                              ps_class_name (ds, pred), probs[pred], S, ent,
                              ent > m->threshold ? ", flagged as uncertain" : "", top->index,
                              ps_class_name (ds, top->cls), top->similarity, tstd[0],
                              top->weight, top->evidence, 100.0 * tshare[0]);
  return ex;
}
