/* ps-protopnet.c: part-prototype machinery (see ps-protopnet.h). */
#define G_LOG_DOMAIN "ps-protopnet"

#include "ps-protopnet.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float
ps_ppn_log_sim (float dist, float eps)
{
  dist = MAX (dist, 0.0f);
  return logf ((dist + 1.0f) / (dist + eps));
}

float
ps_ppn_log_sim_grad (float dist, float eps)
{
  dist = MAX (dist, 0.0f);
  return 1.0f / (dist + 1.0f) - 1.0f / (dist + eps);
}

/* Squared distance between the patch at position s of a [D, HW] map and a
 * prototype.  Summed in double so that push (which compares a prototype to
 * the patch it was copied from) sees an exact zero. */
static inline float
patch_dist (const float *f, const float *p, int D, int HW, int s)
{
  double acc = 0.0;
  for (int d = 0; d < D; d++)
    {
      double t = (double) f[(gsize) d * HW + s] - p[d];
      acc += t * t;
    }
  return (float) acc;
}

void
ps_ppn_distances (float *dist, const float *feat, const float *protos,
                  int B, int K, int D, int HW)
{
  for (int b = 0; b < B; b++)
    {
      const float *f = feat + (gsize) b * D * HW;
      for (int k = 0; k < K; k++)
        for (int s = 0; s < HW; s++)
          dist[((gsize) b * K + k) * HW + s] = patch_dist (f, protos + (gsize) k * D, D, HW, s);
    }
}

/* Squared norms of the HW patches of a [D, HW] map: out[HW]. */
static void
patch_norms (float *out, const float *f, int D, int HW)
{
  memset (out, 0, HW * sizeof (float));
  for (int d = 0; d < D; d++)
    {
      const float *row = f + (gsize) d * HW;
      for (int s = 0; s < HW; s++)
        out[s] += row[s] * row[s];
    }
}

/* The nearest patch of one [D, HW] map to each prototype.  The distances
 * are found through one matrix product (|p|^2 + |f|^2 - 2 p.f), which is
 * fast but rounds; the winner's distance is then recomputed exactly, so a
 * prototype pushed onto a patch is at distance 0 from it.  dots[K, HW] and
 * fn[HW] are scratch. */
static void
nearest_patches (float *mind, int *argmin, const float *f, const float *protos,
                 const float *pn, int K, int D, int HW, float *dots, float *fn)
{
  patch_norms (fn, f, D, HW);
  ps_sgemm (FALSE, FALSE, K, HW, D, 1.0f, protos, D, f, HW, 0.0f, dots, HW);
  for (int k = 0; k < K; k++)
    {
      const float *dk = dots + (gsize) k * HW;
      float best = INFINITY;
      int arg = 0;
      for (int s = 0; s < HW; s++)
        {
          float d = pn[k] + fn[s] - 2.0f * dk[s];
          if (d < best)
            {
              best = d;
              arg = s;
            }
        }
      mind[k] = patch_dist (f, protos + (gsize) k * D, D, HW, arg);
      argmin[k] = arg;
    }
}

void
ps_ppn_forward (float *sim, float *mind, int *argmin, const float *feat,
                const float *protos, int B, int K, int D, int HW, float eps)
{
  g_autofree float *dots = g_new (float, (gsize) K * HW);
  g_autofree float *fn = g_new (float, HW);
  g_autofree float *pn = g_new (float, K);
  for (int k = 0; k < K; k++)
    {
      double s = 0.0;
      for (int d = 0; d < D; d++)
        s += (double) protos[(gsize) k * D + d] * protos[(gsize) k * D + d];
      pn[k] = (float) s;
    }
  for (int b = 0; b < B; b++)
    {
      nearest_patches (mind + (gsize) b * K, argmin + (gsize) b * K, feat + (gsize) b * D * HW,
                       protos, pn, K, D, HW, dots, fn);
      if (sim)
        for (int k = 0; k < K; k++)
          sim[(gsize) b * K + k] = ps_ppn_log_sim (mind[(gsize) b * K + k], eps);
    }
}

void
ps_ppn_sim_backward (float *dmind, const float *dsim, const float *mind, int n, float eps)
{
  for (int i = 0; i < n; i++)
    dmind[i] += dsim[i] * ps_ppn_log_sim_grad (mind[i], eps);
}

void
ps_ppn_backward (float *dfeat, float *dprotos, const float *dmind, const float *feat,
                 const float *protos, const int *argmin, int B, int K, int D, int HW)
{
  for (int b = 0; b < B; b++)
    {
      const float *f = feat + (gsize) b * D * HW;
      for (int k = 0; k < K; k++)
        {
          float g = dmind[(gsize) b * K + k];
          if (g == 0.0f)
            continue;
          int s = argmin[(gsize) b * K + k];
          const float *p = protos + (gsize) k * D;
          for (int d = 0; d < D; d++)
            {
              float diff = f[(gsize) d * HW + s] - p[d];
              if (dfeat)
                dfeat[(gsize) b * D * HW + (gsize) d * HW + s] += 2.0f * g * diff;
              if (dprotos)
                dprotos[(gsize) k * D + d] -= 2.0f * g * diff;
            }
        }
    }
}

void
ps_ppn_last_forward (float *logits, const float *sim, const float *last, int B, int K, int C)
{
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      {
        double acc = 0.0;
        for (int k = 0; k < K; k++)
          acc += (double) sim[(gsize) b * K + k] * last[(gsize) c * K + k];
        logits[(gsize) b * C + c] = (float) acc;
      }
}

void
ps_ppn_last_backward (float *dsim, float *dlast, const float *dlogits, const float *sim,
                      const float *last, int B, int K, int C)
{
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      {
        float g = dlogits[(gsize) b * C + c];
        for (int k = 0; k < K; k++)
          {
            if (dlast)
              dlast[(gsize) c * K + k] += g * sim[(gsize) b * K + k];
            if (dsim)
              dsim[(gsize) b * K + k] += g * last[(gsize) c * K + k];
          }
      }
}

void
ps_ppn_last_init (float *last, const int *proto_class, int K, int C, float neg)
{
  for (int c = 0; c < C; c++)
    for (int k = 0; k < K; k++)
      last[(gsize) c * K + k] = proto_class[k] == c ? 1.0f : neg;
}

float
ps_ppn_last_l1 (float *dlast, const float *last, const int *proto_class, int K, int C,
                float lambda)
{
  double acc = 0.0;
  for (int c = 0; c < C; c++)
    for (int k = 0; k < K; k++)
      if (proto_class[k] != c)
        {
          float w = last[(gsize) c * K + k];
          acc += fabsf (w);
          if (dlast)
            dlast[(gsize) c * K + k] += lambda * (w > 0.0f ? 1.0f : w < 0.0f ? -1.0f : 0.0f);
        }
  return (float) (lambda * acc);
}

void
ps_ppn_cluster_sep (float *dmind, float *cluster, float *separation, const float *mind,
                    const int *y, const int *proto_class, const int *kinds, int kind,
                    int B, int K, float w_clst, float w_sep)
{
  int n = 0;
  for (int b = 0; b < B; b++)
    if (y[b] >= 0)
      n++;
  double clst = 0.0, sep = 0.0;
  for (int b = 0; b < B; b++)
    {
      if (y[b] < 0)
        continue;
      int own = -1, other = -1;
      for (int k = 0; k < K; k++)
        {
          if (kinds != NULL && kinds[k] != kind)
            continue;
          float d = mind[(gsize) b * K + k];
          if (proto_class[k] == y[b])
            {
              if (own < 0 || d < mind[(gsize) b * K + own])
                own = k;
            }
          else if (other < 0 || d < mind[(gsize) b * K + other])
            other = k;
        }
      if (own >= 0)
        {
          clst += mind[(gsize) b * K + own];
          if (dmind)
            dmind[(gsize) b * K + own] += w_clst / n;
        }
      if (other >= 0)
        {
          sep += mind[(gsize) b * K + other];
          if (dmind)
            dmind[(gsize) b * K + other] -= w_sep / n;
        }
    }
  if (cluster)
    *cluster = n > 0 ? (float) (clst / n) : 0.0f;
  if (separation)
    *separation = n > 0 ? (float) (sep / n) : 0.0f;
}

float
ps_ppn_pair_cosine_loss (float *dprotos, const float *protos, const int *proto_class,
                         const int *kinds, int kind, int K, int D, int C,
                         float sign, float weight)
{
  g_autofree float *norm = g_new (float, K);
  g_autofree gboolean *has = g_new0 (gboolean, C);
  for (int k = 0; k < K; k++)
    {
      double s = 0.0;
      for (int d = 0; d < D; d++)
        s += (double) protos[(gsize) k * D + d] * protos[(gsize) k * D + d];
      norm[k] = (float) MAX (sqrt (s), 1e-8);
      if ((!kinds || kinds[k] == kind) && proto_class[k] >= 0 && proto_class[k] < C)
        has[proto_class[k]] = TRUE;
    }
  /* Only pairs of classes that both have prototypes of this kind count. */
  int m = 0;
  for (int c = 0; c < C; c++)
    m += has[c] ? 1 : 0;
  int pairs = m * (m - 1) / 2;
  if (pairs == 0)
    return 0.0f;
  const float scale = weight * sign / pairs;
  double total = 0.0;
  for (int c = 0; c < C; c++)
    for (int c2 = c + 1; c2 < C; c2++)
      {
        int bi = -1, bj = -1;
        float best = -INFINITY;
        for (int i = 0; i < K; i++)
          {
            if (proto_class[i] != c || (kinds && kinds[i] != kind))
              continue;
            for (int j = 0; j < K; j++)
              {
                if (proto_class[j] != c2 || (kinds && kinds[j] != kind))
                  continue;
                double dot = 0.0;
                for (int d = 0; d < D; d++)
                  dot += (double) protos[(gsize) i * D + d] * protos[(gsize) j * D + d];
                float cosv = (float) (dot / ((double) norm[i] * norm[j]));
                if (cosv > best)
                  {
                    best = cosv;
                    bi = i;
                    bj = j;
                  }
              }
          }
        if (bi < 0)
          continue;
        total += best;
        if (dprotos == NULL)
          continue;
        /* d cos / d p_i = p_j / (|p_i| |p_j|) - cos p_i / |p_i|^2. */
        for (int d = 0; d < D; d++)
          {
            float pi = protos[(gsize) bi * D + d], pj = protos[(gsize) bj * D + d];
            dprotos[(gsize) bi * D + d]
              += scale * (pj / (norm[bi] * norm[bj]) - best * pi / (norm[bi] * norm[bi]));
            dprotos[(gsize) bj * D + d]
              += scale * (pi / (norm[bi] * norm[bj]) - best * pj / (norm[bj] * norm[bj]));
          }
      }
  return (float) (scale * total);
}

/* ---- Push ------------------------------------------------------------ */

void
ps_ppn_push_init (PsPpnPush *p, int K, int D)
{
  p->K = K;
  p->D = D;
  p->best_dist = g_new (float, K);
  p->best_row = g_new (int, K);
  p->best_pos = g_new (int, K);
  p->best_feat = g_new0 (float, (gsize) K * D);
  for (int k = 0; k < K; k++)
    {
      p->best_dist[k] = INFINITY;
      p->best_row[k] = -1;
      p->best_pos[k] = -1;
    }
}

void
ps_ppn_push_clear (PsPpnPush *p)
{
  g_clear_pointer (&p->best_dist, g_free);
  g_clear_pointer (&p->best_row, g_free);
  g_clear_pointer (&p->best_pos, g_free);
  g_clear_pointer (&p->best_feat, g_free);
}

void
ps_ppn_push_update (PsPpnPush *p, const float *feat, const float *protos,
                    const guint *rows, const int *y, const int *proto_class,
                    int B, int HW)
{
  const int K = p->K, D = p->D;
  g_autofree float *mind = g_new (float, (gsize) B * K);
  g_autofree int *arg = g_new (int, (gsize) B * K);
  ps_ppn_forward (NULL, mind, arg, feat, protos, B, K, D, HW, PS_PPN_EPS);
  for (int b = 0; b < B; b++)
    {
      const float *f = feat + (gsize) b * D * HW;
      for (int k = 0; k < K; k++)
        {
          /* ProtoPNet pushes a prototype only onto patches of its own class. */
          if (proto_class[k] != y[b])
            continue;
          float d = mind[(gsize) b * K + k];
          int s = arg[(gsize) b * K + k];
          if (d < p->best_dist[k])
            {
              p->best_dist[k] = d;
              p->best_row[k] = (int) rows[b];
              p->best_pos[k] = s;
              for (int j = 0; j < D; j++)
                p->best_feat[(gsize) k * D + j] = f[(gsize) j * HW + s];
            }
        }
    }
}

void
ps_ppn_push_finish (PsPpnPush *p, float *protos, int *src_row, int *src_pos)
{
  for (int k = 0; k < p->K; k++)
    if (p->best_row[k] >= 0)
      memcpy (protos + (gsize) k * p->D, p->best_feat + (gsize) k * p->D, p->D * sizeof (float));
  memcpy (src_row, p->best_row, p->K * sizeof (int));
  memcpy (src_pos, p->best_pos, p->K * sizeof (int));
  ps_ppn_push_clear (p);
}

/* ---- Heatmaps, boxes, measures ---------------------------------------- */

void
ps_ppn_similarity_map (float *simmap, const float *feat1, const float *proto, int D, int HW,
                       float eps)
{
  for (int s = 0; s < HW; s++)
    simmap[s] = ps_ppn_log_sim (patch_dist (feat1, proto, D, HW, s), eps);
}

void
ps_ppn_upsample (float *out, const float *map, int h, int w, int H, int W)
{
  for (int i = 0; i < H; i++)
    {
      float sy = ((float) i + 0.5f) * h / H - 0.5f;
      sy = CLAMP (sy, 0.0f, (float) (h - 1));
      int y0 = (int) floorf (sy), y1 = MIN (y0 + 1, h - 1);
      float ty = sy - y0;
      for (int j = 0; j < W; j++)
        {
          float sx = ((float) j + 0.5f) * w / W - 0.5f;
          sx = CLAMP (sx, 0.0f, (float) (w - 1));
          int x0 = (int) floorf (sx), x1 = MIN (x0 + 1, w - 1);
          float tx = sx - x0;
          float top = map[y0 * w + x0] * (1 - tx) + map[y0 * w + x1] * tx;
          float bot = map[y1 * w + x0] * (1 - tx) + map[y1 * w + x1] * tx;
          out[i * W + j] = top * (1 - ty) + bot * ty;
        }
    }
}

void
ps_ppn_receptive_field (PsModel *net, int last_layer, int fh, int fw, int box[4])
{
  int y0 = fh, y1 = fh, x0 = fw, x1 = fw;
  for (int i = last_layer; i >= 0; i--)
    {
      const PsLayerInfo *l = ps_model_layer (net, i);
      if (l->kind != PS_LAYER_CONV && l->kind != PS_LAYER_MAXPOOL && l->kind != PS_LAYER_AVGPOOL)
        continue;
      int pad = l->kind == PS_LAYER_CONV ? l->pad : 0;
      y0 = y0 * l->stride - pad;
      x0 = x0 * l->stride - pad;
      y1 = y1 * l->stride - pad + l->k - 1;
      x1 = x1 * l->stride - pad + l->k - 1;
    }
  const PsLayerInfo *first = ps_model_layer (net, 0);
  box[0] = MAX (y0, 0);
  box[1] = MAX (x0, 0);
  box[2] = MIN (y1, first->in_h - 1);
  box[3] = MIN (x1, first->in_w - 1);
}

typedef struct
{
  float d;
  int i;
} DistIdx;

static int
cmp_dist_idx (gconstpointer a, gconstpointer b)
{
  const DistIdx *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  return x->i - y->i;
}

void
ps_ppn_topk_rows (int *out, const float *mind, int n, int K, int topk)
{
  g_autofree DistIdx *tmp = g_new (DistIdx, MAX (n, 1));
  for (int k = 0; k < K; k++)
    {
      for (int i = 0; i < n; i++)
        {
          tmp[i].d = mind[(gsize) i * K + k];
          tmp[i].i = i;
        }
      qsort (tmp, n, sizeof (DistIdx), (int (*) (const void *, const void *)) cmp_dist_idx);
      for (int t = 0; t < topk; t++)
        out[(gsize) k * topk + t] = t < n ? tmp[t].i : -1;
    }
}

double
ps_ppn_purity (const float *mind, const int *y, const int *proto_class, int n, int K, int topk)
{
  topk = MIN (topk, n);
  if (topk <= 0 || K <= 0)
    return NAN;
  g_autofree int *top = g_new (int, (gsize) K * topk);
  ps_ppn_topk_rows (top, mind, n, K, topk);
  double acc = 0.0;
  for (int k = 0; k < K; k++)
    {
      int hit = 0;
      for (int t = 0; t < topk; t++)
        hit += y[top[(gsize) k * topk + t]] == proto_class[k];
      acc += (double) hit / topk;
    }
  return acc / K;
}

void
ps_ppn_order_desc (int *order, const float *score, int P)
{
  g_autofree DistIdx *tmp = g_new (DistIdx, MAX (P, 1));
  for (int i = 0; i < P; i++)
    {
      tmp[i].d = -score[i];
      tmp[i].i = i;
    }
  qsort (tmp, P, sizeof (DistIdx), (int (*) (const void *, const void *)) cmp_dist_idx);
  for (int i = 0; i < P; i++)
    order[i] = tmp[i].i;
}

double
ps_ppn_deletion_auc (PsPpnClassify classify, gpointer user, const float *x,
                     const int *y, const int *order, int B, int P, int steps, float fill,
                     double *curve)
{
  g_return_val_if_fail (steps > 0 && B > 0, NAN);
  g_autofree float *xm = g_memdup2 (x, (gsize) B * P * sizeof (float));
  g_autofree int *pred = g_new (int, B);
  double auc = 0.0;
  int removed = 0;
  for (int s = 0; s <= steps; s++)
    {
      int upto = (int) ((gint64) P * s / steps);
      for (int b = 0; b < B; b++)
        for (int r = removed; r < upto; r++)
          xm[(gsize) b * P + order[(gsize) b * P + r]] = fill;
      removed = upto;
      classify (user, xm, B, pred);
      int ok = 0;
      for (int b = 0; b < B; b++)
        ok += pred[b] == y[b];
      double acc = (double) ok / B;
      if (curve)
        curve[s] = acc;
      auc += acc;
    }
  return auc / (steps + 1);
}

static int
cmp_ranked (gconstpointer a, gconstpointer b)
{
  const PsPpnRanked *x = a, *y = b;
  if (x->evidence != y->evidence)
    return x->evidence > y->evidence ? -1 : 1;
  return x->k - y->k;
}

void
ps_ppn_rank_evidence (PsPpnRanked *out, const float *sim, const float *w, int K)
{
  for (int k = 0; k < K; k++)
    {
      out[k].k = k;
      out[k].evidence = sim[k] * w[k];
    }
  qsort (out, K, sizeof (PsPpnRanked), (int (*) (const void *, const void *)) cmp_ranked);
}

void
ps_ppn_random_conv_features (PsModel *net, const float *x1, guint64 seed, float *feat1,
                             gsize n_feat)
{
  g_autoptr (GBytes) blob = ps_model_save (net);
  g_autoptr (PsModel) copy = ps_model_load (blob, NULL);
  if (copy == NULL)
    {
      memset (feat1, 0, n_feat * sizeof (float));
      return;
    }
  for (int i = ps_model_n_layers (copy) - 1; i >= 0; i--)
    {
      const PsLayerInfo *l = ps_model_layer (copy, i);
      if (l->kind != PS_LAYER_CONV)
        continue;
      PsRng rng;
      ps_rng_init (&rng, seed, 11);
      float bound = sqrtf (6.0f / (float) (l->in_c * l->k * l->k));
      ps_rng_fill_uniform (&rng, ps_model_params (copy) + l->param_off, l->n_weight, -bound, bound);
      break;
    }
  ps_model_set_training (copy, FALSE);
  const float *o = ps_model_forward (copy, x1, 1);
  ps_sigmoid_forward (feat1, o, n_feat);
}
