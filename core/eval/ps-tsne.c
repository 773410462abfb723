/* ps-tsne.c: t-SNE setup (neighbours, affinities, initialisation), the
 * optimiser, and trustworthiness.
 *
 * The schedule follows scikit-learn's TSNE so the two can be compared on
 * equal terms; the Barnes-Hut repulsion lives in ps-tsne-tree.c.  The
 * gradient of KL(P || Q) for the Student-t kernel q_ij = 1 / (1 + d_ij^2) is
 *   dC/dy_i = 4 (sum_j p_ij q_ij (y_i - y_j) - sum_j q_ij^2 (y_i - y_j) / Z)
 * with Z = sum_{k != l} q_kl: an attractive part over the sparse P and a
 * repulsive part over all pairs that the quadtree approximates.
 */
#define G_LOG_DOMAIN "ps-eval"

#include "ps-tsne.h"
#include "ps-eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Vector kernels get an AVX2 clone on x86-64 (picked at load time); other
 * targets compile the generic version only. */
#if defined(__x86_64__)
#define VEC_CLONES __attribute__ ((target_clones ("avx2", "default")))
#else
#define VEC_CLONES
#endif

struct _PsTsne
{
  guint n;
  PsTsneParams params;
  double lr;
  /* Symmetric joint P in CSR form, summing to 1. */
  guint32 *row_ptr;   /* [n + 1] */
  guint32 *col;       /* [nnz] */
  float *pval;        /* [nnz] */
  double plogp;       /* sum p log p, for the KL divergence */
  /* Optimiser state, [n, 2] each. */
  float *y, *update, *gains, *attr, *rep;
  PsQuadTree *tree;
  guint iter;
  double kl;
  /* Guards y against ps_tsne_get_embedding from other threads. */
  GMutex lock;
};

static inline gboolean
cancelled (const gint *flag)
{
  return flag != NULL && g_atomic_int_get (flag) != 0;
}

void
ps_tsne_params_init (PsTsneParams *p)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->perplexity = 30;
  p->early_exaggeration = 12;
  p->exaggeration_iter = 250;
  p->n_iter = 1000;
  p->learning_rate = 0;
  p->theta = 0.5;
  p->momentum_early = 0.5;
  p->momentum_late = 0.8;
  p->init = PS_TSNE_INIT_PCA;
  p->pca_dims = 50;
  p->kl_every = 50;
  p->n_threads = 1;
  p->seed = 0;
  p->cancel = NULL;
}

/* ------------------------------------------------------------------ */
/* Exact nearest neighbours                                             */
/* ------------------------------------------------------------------ */

/* A copy of x with the column means removed: distances are unchanged and
 * the GEMM form |a|^2 + |b|^2 - 2 a.b loses less to cancellation. */
static float *
centred_copy (const float *x, guint n, guint d, float *sq)
{
  float *xc = ps_alloc0 ((gsize) n * d * sizeof (float));
  g_autofree double *mean = g_new0 (double, MAX (d, 1));
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < d; j++)
      mean[j] += x[(gsize) i * d + j];
  for (guint j = 0; j < d; j++)
    mean[j] /= n;
  for (guint i = 0; i < n; i++)
    {
      double s = 0;
      for (guint j = 0; j < d; j++)
        {
          float v = (float) (x[(gsize) i * d + j] - mean[j]);
          xc[(gsize) i * d + j] = v;
          s += (double) v * v;
        }
      sq[i] = (float) s;
    }
  return xc;
}

/* Rows of distance blocks: enough to keep GEMM efficient, small enough
 * that the block stays within a few megabytes. */
static guint
block_rows (guint n)
{
  return CLAMP ((1u << 21) / MAX (n, 1u), 8u, 256u);
}

/* Max-heap on (dist, index) of fixed capacity k. */
static inline gboolean
heap_less (float da, guint32 ia, float db, guint32 ib)
{
  return da < db || (da == db && ia < ib);
}

static void
heap_sift_down (float *hd, guint32 *hi, guint k, guint pos)
{
  for (;;)
    {
      guint l = 2 * pos + 1, r = l + 1, big = pos;
      if (l < k && heap_less (hd[big], hi[big], hd[l], hi[l]))
        big = l;
      if (r < k && heap_less (hd[big], hi[big], hd[r], hi[r]))
        big = r;
      if (big == pos)
        return;
      float td = hd[pos];
      guint32 ti = hi[pos];
      hd[pos] = hd[big];
      hi[pos] = hi[big];
      hd[big] = td;
      hi[big] = ti;
      pos = big;
    }
}

typedef struct
{
  float d;
  guint32 i;
} DistIdx;

static int
cmp_dist_idx (const void *a, const void *b)
{
  const DistIdx *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  return x->i < y->i ? -1 : (x->i > y->i);
}

gboolean
ps_knn_exact (guint32 *nbr, float *dist2, const float *x, guint n, guint d, guint k,
              const gint *cancel)
{
  g_return_val_if_fail (nbr != NULL && x != NULL && k >= 1 && k < n, FALSE);
  float *sq = ps_alloc0 ((gsize) n * sizeof (float));
  float *xc = centred_copy (x, n, d, sq);
  guint B = block_rows (n);
  float *blk = ps_alloc0 ((gsize) B * n * sizeof (float));
  g_autofree float *hd = g_new (float, k);
  g_autofree guint32 *hi = g_new (guint32, k);
  g_autofree DistIdx *tmp = g_new (DistIdx, k);
  gboolean ok = TRUE;
  for (guint r0 = 0; r0 < n && ok; r0 += B)
    {
      if (cancelled (cancel))
        {
          ok = FALSE;
          break;
        }
      guint m = MIN (B, n - r0);
      ps_sgemm (FALSE, TRUE, (int) m, (int) n, (int) d, -2.0f, xc + (gsize) r0 * d, (int) d,
                xc, (int) d, 0.0f, blk, (int) n);
      for (guint r = 0; r < m; r++)
        {
          guint i = r0 + r;
          const float *row = blk + (gsize) r * n;
          const float sqi = sq[i];
          guint h = 0;
          /* Fill the heap with the first k others, then keep the k smallest;
           * a later index never beats an equal distance, so < suffices. */
          guint j = 0;
          for (; j < n && h < k; j++)
            {
              if (j == i)
                continue;
              hd[h] = row[j] + sqi + sq[j];
              hi[h] = j;
              h++;
            }
          for (int p = (int) k / 2 - 1; p >= 0; p--)
            heap_sift_down (hd, hi, k, (guint) p);
          for (; j < n; j++)
            {
              float v = row[j] + sqi + sq[j];
              if (v < hd[0] && j != i)
                {
                  hd[0] = v;
                  hi[0] = j;
                  heap_sift_down (hd, hi, k, 0);
                }
            }
          /* Recompute the kept distances directly (no cancellation). */
          const float *xi = xc + (gsize) i * d;
          for (guint t = 0; t < k; t++)
            {
              const float *xj = xc + (gsize) hi[t] * d;
              double s = 0;
              for (guint c = 0; c < d; c++)
                {
                  double e = (double) xi[c] - xj[c];
                  s += e * e;
                }
              tmp[t].d = (float) s;
              tmp[t].i = hi[t];
            }
          qsort (tmp, k, sizeof (DistIdx), cmp_dist_idx);
          for (guint t = 0; t < k; t++)
            {
              nbr[(gsize) i * k + t] = tmp[t].i;
              if (dist2)
                dist2[(gsize) i * k + t] = tmp[t].d;
            }
        }
    }
  ps_free (blk);
  ps_free (xc);
  ps_free (sq);
  return ok;
}

/* ------------------------------------------------------------------ */
/* Affinities                                                           */
/* ------------------------------------------------------------------ */

/* Conditional p_{j|i} over the k neighbours of row i, by bisection on the
 * precision beta until the entropy (in nats) is log(perplexity), as
 * scikit-learn's _binary_search_perplexity.  Distances are shifted by the
 * smallest one first, which leaves the distribution and its entropy
 * unchanged but keeps exp() away from underflow. */
static void
conditional_row (float *p, const float *d2, guint k, double perplexity)
{
  const double desired = log (perplexity);
  double beta = 1.0, beta_min = -INFINITY, beta_max = INFINITY;
  double dmin = d2[0];
  g_autofree double *pp = g_new (double, k);
  for (int step = 0; step < 100; step++)
    {
      double sum = 0;
      for (guint t = 0; t < k; t++)
        {
          pp[t] = exp (-((double) d2[t] - dmin) * beta);
          sum += pp[t];
        }
      if (sum == 0)
        sum = 1e-8;
      double sum_dp = 0;
      for (guint t = 0; t < k; t++)
        {
          pp[t] /= sum;
          sum_dp += ((double) d2[t] - dmin) * pp[t];
        }
      double entropy = log (sum) + beta * sum_dp;
      double diff = entropy - desired;
      if (fabs (diff) <= 1e-5)
        break;
      if (diff > 0)
        {
          beta_min = beta;
          beta = isinf (beta_max) ? beta * 2 : (beta + beta_max) / 2;
        }
      else
        {
          beta_max = beta;
          beta = isinf (beta_min) ? beta / 2 : (beta + beta_min) / 2;
        }
    }
  for (guint t = 0; t < k; t++)
    p[t] = (float) pp[t];
}

typedef struct
{
  guint32 col;
  float v;
} ColVal;

static int
cmp_col (const void *a, const void *b)
{
  const ColVal *x = a, *y = b;
  return x->col < y->col ? -1 : (x->col > y->col);
}

/* P = (C + C^T) / sum, C the conditional matrix with k entries per row. */
static void
symmetrize (PsTsne *t, const guint32 *nbr, const float *cond, guint n, guint k)
{
  g_autofree guint32 *cnt = g_new0 (guint32, n + 1);
  for (guint i = 0; i < n; i++)
    for (guint s = 0; s < k; s++)
      {
        cnt[i + 1]++;
        cnt[nbr[(gsize) i * k + s] + 1]++;
      }
  for (guint i = 0; i < n; i++)
    cnt[i + 1] += cnt[i];
  gsize total = cnt[n];
  g_autofree ColVal *cv = g_new (ColVal, total);
  g_autofree guint32 *fill = g_memdup2 (cnt, (gsize) n * sizeof (guint32));
  for (guint i = 0; i < n; i++)
    for (guint s = 0; s < k; s++)
      {
        guint32 j = nbr[(gsize) i * k + s];
        float v = cond[(gsize) i * k + s];
        cv[fill[i]++] = (ColVal) { j, v };
        cv[fill[j]++] = (ColVal) { i, v };
      }
  t->row_ptr = g_new (guint32, n + 1);
  t->col = g_new (guint32, total);
  t->pval = g_new (float, total);
  guint32 nnz = 0;
  double sum = 0;
  for (guint i = 0; i < n; i++)
    {
      t->row_ptr[i] = nnz;
      ColVal *row = cv + cnt[i];
      guint m = cnt[i + 1] - cnt[i];
      qsort (row, m, sizeof (ColVal), cmp_col);
      for (guint a = 0; a < m;)
        {
          double v = 0;
          guint b = a;
          while (b < m && row[b].col == row[a].col)
            v += row[b++].v;
          t->col[nnz] = row[a].col;
          t->pval[nnz] = (float) v;
          sum += v;
          nnz++;
          a = b;
        }
    }
  t->row_ptr[n] = nnz;
  double plogp = 0;
  for (guint32 e = 0; e < nnz; e++)
    {
      t->pval[e] = (float) (t->pval[e] / MAX (sum, 1e-300));
      if (t->pval[e] > 0)
        plogp += (double) t->pval[e] * log (t->pval[e]);
    }
  t->plogp = plogp;
}

/* ------------------------------------------------------------------ */
/* Setup                                                                */
/* ------------------------------------------------------------------ */

void
ps_tsne_free (PsTsne *t)
{
  if (!t)
    return;
  g_free (t->row_ptr);
  g_free (t->col);
  g_free (t->pval);
  ps_free (t->y);
  ps_free (t->update);
  ps_free (t->gains);
  ps_free (t->attr);
  ps_free (t->rep);
  ps_quadtree_free (t->tree);
  g_mutex_clear (&t->lock);
  g_free (t);
}

static gboolean
check_params (const PsTsneParams *p, guint n, GError **error)
{
  const char *bad = NULL;
  if (n < 3)
    bad = "t-SNE needs at least 3 samples";
  else if (!(p->perplexity > 0) || p->perplexity >= n - 1)
    bad = "the perplexity must lie between 0 and the number of samples minus 1";
  else if (!(p->theta >= 0) || p->theta > 10)
    bad = "theta must lie in [0, 10]";
  else if (!(p->early_exaggeration >= 1) || p->early_exaggeration > 1000)
    bad = "the early exaggeration must lie in [1, 1000]";
  else if (p->n_iter == 0)
    bad = "t-SNE needs at least one iteration";
  else if (!(p->momentum_early >= 0 && p->momentum_early < 1 && p->momentum_late >= 0 && p->momentum_late < 1))
    bad = "momentum must lie in [0, 1)";
  else if (!isfinite (p->learning_rate))
    bad = "the learning rate must be finite";
  else if (p->n_threads > 64)
    bad = "too many threads";
  if (bad)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "t-SNE: %s", bad);
      return FALSE;
    }
  return TRUE;
}

static void
init_layout (PsTsne *t, const float *x, guint n, guint d)
{
  const PsTsneParams *p = &t->params;
  if (p->init == PS_TSNE_INIT_PCA && d >= 2)
    {
      g_autoptr (PsPca) pca = ps_pca_fit (x, n, d, 2, p->seed, NULL);
      if (pca)
        {
          ps_pca_transform (pca, x, n, t->y);
          double m = 0, v = 0;
          for (guint i = 0; i < n; i++)
            m += t->y[2 * i];
          m /= n;
          for (guint i = 0; i < n; i++)
            v += ((double) t->y[2 * i] - m) * ((double) t->y[2 * i] - m);
          double sd = sqrt (v / n);
          if (sd > 0 && isfinite (sd))
            {
              /* Like scikit-learn: the first coordinate gets std 1e-4 and
               * the second keeps its ratio to it. */
              double s = 1e-4 / sd;
              for (guint i = 0; i < 2 * n; i++)
                t->y[i] = (float) (t->y[i] * s);
              return;
            }
        }
    }
  PsRng rng;
  ps_rng_init (&rng, p->seed, 0x75e);
  ps_rng_fill_normal (&rng, t->y, (gsize) 2 * n, 0.f, 1e-4f);
}

PsTsne *
ps_tsne_new (const float *x, guint n, guint d, const PsTsneParams *params, GError **error)
{
  g_return_val_if_fail (x != NULL && params != NULL && d >= 1, NULL);
  if (!check_params (params, n, error))
    return NULL;
  if (!ps_all_finite (x, (gsize) n * d))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "t-SNE: the data hold NaN or infinite values");
      return NULL;
    }
  g_autoptr (PsTsne) t = g_new0 (PsTsne, 1);
  g_mutex_init (&t->lock);
  t->n = n;
  t->params = *params;
  t->params.n_threads = MAX (1u, params->n_threads);
  t->params.kl_every = MAX (1u, params->kl_every);
  t->kl = NAN;
  t->lr = params->learning_rate > 0 ? params->learning_rate
                                    : MAX ((double) n / params->early_exaggeration / 4, 50.0);
  const gint *cancel = params->cancel;

  /* PCA first for wide inputs: neighbours in 50 dimensions are much
   * cheaper and, for images, no worse. */
  const float *xr = x;
  guint dr = d;
  g_autofree float *reduced = NULL;
  g_autofree guint32 *nbr = NULL;
  g_autofree float *d2 = NULL, *cond = NULL;
  if (params->pca_dims > 0 && d > params->pca_dims && n > params->pca_dims)
    {
      g_autoptr (PsPca) pca = ps_pca_fit (x, n, d, params->pca_dims, params->seed, error);
      if (!pca)
        return NULL;
      reduced = g_new (float, (gsize) n * params->pca_dims);
      ps_pca_transform (pca, x, n, reduced);
      xr = reduced;
      dr = params->pca_dims;
    }
  if (cancelled (cancel))
    goto cancelled;

  guint k = MIN (n - 1, (guint) (3 * params->perplexity + 1));
  nbr = g_new (guint32, (gsize) n * k);
  d2 = g_new (float, (gsize) n * k);
  double t0 = ps_now ();
  if (!ps_knn_exact (nbr, d2, xr, n, dr, k, cancel))
    goto cancelled;
  double t1 = ps_now ();
  cond = g_new (float, (gsize) n * k);
  for (guint i = 0; i < n; i++)
    {
      if ((i & 1023) == 0 && cancelled (cancel))
        goto cancelled;
      conditional_row (cond + (gsize) i * k, d2 + (gsize) i * k, k, params->perplexity);
    }
  symmetrize (t, nbr, cond, n, k);
  g_debug ("t-SNE: %u neighbours of %u points in %.3f s, affinities in %.3f s (%u non-zeros)",
           k, n, t1 - t0, ps_now () - t1, t->row_ptr[n]);

  t->y = ps_alloc0 ((gsize) 2 * n * sizeof (float));
  t->update = ps_alloc0 ((gsize) 2 * n * sizeof (float));
  t->gains = ps_alloc0 ((gsize) 2 * n * sizeof (float));
  t->attr = ps_alloc0 ((gsize) 2 * n * sizeof (float));
  t->rep = ps_alloc0 ((gsize) 2 * n * sizeof (float));
  for (guint i = 0; i < 2 * n; i++)
    t->gains[i] = 1.0f;
  t->tree = ps_quadtree_new ();
  init_layout (t, xr, n, dr);
  return g_steal_pointer (&t);

cancelled:
  g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "t-SNE: cancelled during setup");
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Gradient                                                             */
/* ------------------------------------------------------------------ */

/* One thread's share of a gradient evaluation: the attraction of rows
 * [i0, i1) and the repulsion of sorted positions [s0, s1). */
typedef struct
{
  PsTsne *t;
  guint i0, i1, s0, s1;
  gboolean want_kl;
  double z, plogq;
} Part;

typedef float v8sf __attribute__ ((vector_size (8 * sizeof (float))));

/* Attraction of row i: out = sum_j p_ij q_ij (y_i - y_j), and when plogq
 * is non-NULL it receives sum_j p_ij log q_ij.  The neighbours are
 * gathered eight at a time so the arithmetic (mostly the division) runs
 * in vector lanes; the AVX2 clone only widens them (no FMA). */
VEC_CLONES
static void
attr_row (float *out, const float *restrict y, const guint32 *restrict col,
          const float *restrict pv, guint m, float yx, float yy, double *plogq)
{
  const v8sf one = { 1, 1, 1, 1, 1, 1, 1, 1 };
  v8sf fx = { 0 }, fy = { 0 };
  guint e = 0;
  for (; e + 8 <= m; e += 8)
    {
      v8sf dx, dy, p;
      for (guint l = 0; l < 8; l++)
        {
          dx[l] = yx - y[2 * col[e + l]];
          dy[l] = yy - y[2 * col[e + l] + 1];
        }
      memcpy (&p, pv + e, sizeof p);
      v8sf q = one / (one + dx * dx + dy * dy);
      v8sf pq = p * q;
      fx += pq * dx;
      fy += pq * dy;
      if (plogq)
        for (guint l = 0; l < 8; l++)
          *plogq += (double) p[l] * log (q[l]);
    }
  float sx = 0, sy = 0;
  for (guint l = 0; l < 8; l++)
    {
      sx += fx[l];
      sy += fy[l];
    }
  for (; e < m; e++)
    {
      float dx = yx - y[2 * col[e]], dy = yy - y[2 * col[e] + 1];
      float q = 1.0f / (1.0f + dx * dx + dy * dy);
      sx += pv[e] * q * dx;
      sy += pv[e] * q * dy;
      if (plogq)
        *plogq += (double) pv[e] * log (q);
    }
  out[0] = sx;
  out[1] = sy;
}

#if defined(__x86_64__)
/* The same sums with AVX2 gathers, which fetch eight neighbours' x (and
 * y) in one instruction; used when the CPU has AVX2.  No FMA, and the
 * lanes and their combination order match attr_row; the two may still
 * differ in the last bits, but neither varies between runs. */
__attribute__ ((target ("avx2")))
static void
attr_row_avx2 (float *out, const float *restrict y, const guint32 *restrict col,
               const float *restrict pv, guint m, float yx, float yy, double *plogq)
{
  const __m256 one = _mm256_set1_ps (1.0f);
  const __m256 vx = _mm256_set1_ps (yx), vy = _mm256_set1_ps (yy);
  const __m256i two = _mm256_set1_epi32 (2);
  __m256 fx = _mm256_setzero_ps (), fy = _mm256_setzero_ps ();
  guint e = 0;
  for (; e + 8 <= m; e += 8)
    {
      __m256i idx = _mm256_mullo_epi32 (_mm256_loadu_si256 ((const __m256i *) (col + e)), two);
      __m256 dx = _mm256_sub_ps (vx, _mm256_i32gather_ps (y, idx, 4));
      __m256 dy = _mm256_sub_ps (vy, _mm256_i32gather_ps (y + 1, idx, 4));
      __m256 d2 = _mm256_add_ps (_mm256_mul_ps (dx, dx), _mm256_mul_ps (dy, dy));
      __m256 q = _mm256_div_ps (one, _mm256_add_ps (one, d2));
      __m256 p = _mm256_loadu_ps (pv + e);
      __m256 pq = _mm256_mul_ps (p, q);
      fx = _mm256_add_ps (fx, _mm256_mul_ps (pq, dx));
      fy = _mm256_add_ps (fy, _mm256_mul_ps (pq, dy));
      if (plogq)
        {
          float qa[8];
          _mm256_storeu_ps (qa, q);
          for (guint l = 0; l < 8; l++)
            *plogq += (double) pv[e + l] * log (qa[l]);
        }
    }
  float fxa[8], fya[8];
  _mm256_storeu_ps (fxa, fx);
  _mm256_storeu_ps (fya, fy);
  float sx = 0, sy = 0;
  for (guint l = 0; l < 8; l++)
    {
      sx += fxa[l];
      sy += fya[l];
    }
  for (; e < m; e++)
    {
      float dx = yx - y[2 * col[e]], dy = yy - y[2 * col[e] + 1];
      float q = 1.0f / (1.0f + dx * dx + dy * dy);
      sx += pv[e] * q * dx;
      sy += pv[e] * q * dy;
      if (plogq)
        *plogq += (double) pv[e] * log (q);
    }
  out[0] = sx;
  out[1] = sy;
}
#endif

static gpointer
part_run (gpointer data)
{
  Part *w = data;
  PsTsne *t = w->t;
  const float *y = t->y;
  const guint32 *row_ptr = t->row_ptr, *col = t->col;
  const float *pval = t->pval;
  float *attr = t->attr;
  double plogq = 0;
#if defined(__x86_64__)
  if (__builtin_cpu_supports ("avx2"))
    {
      for (guint i = w->i0; i < w->i1; i++)
        attr_row_avx2 (attr + 2 * i, y, col + row_ptr[i], pval + row_ptr[i], row_ptr[i + 1] - row_ptr[i],
                       y[2 * i], y[2 * i + 1], w->want_kl ? &plogq : NULL);
    }
  else
#endif
  for (guint i = w->i0; i < w->i1; i++)
    attr_row (attr + 2 * i, y, col + row_ptr[i], pval + row_ptr[i], row_ptr[i + 1] - row_ptr[i],
              y[2 * i], y[2 * i + 1], w->want_kl ? &plogq : NULL);
  w->plogq = plogq;
  w->z = ps_quadtree_repulsion (t->tree, t->rep, t->params.theta, w->s0, w->s1);
  return NULL;
}

/* Fills t->attr, t->rep; returns Z; *kl receives the KL divergence when
 * kl is non-NULL. */
static double
gradient_parts (PsTsne *t, double *kl)
{
  guint n = t->n;
  ps_quadtree_build (t->tree, t->y, n);
  guint nt = MIN (t->params.n_threads, n);
  Part parts[64];
  for (guint w = 0; w < nt; w++)
    parts[w] = (Part) { t, (guint) ((guint64) n * w / nt), (guint) ((guint64) n * (w + 1) / nt),
                        (guint) ((guint64) n * w / nt), (guint) ((guint64) n * (w + 1) / nt),
                        kl != NULL, 0, 0 };
  GThread *threads[64] = { NULL };
  for (guint w = 1; w < nt; w++)
    threads[w] = g_thread_new ("ps-tsne", part_run, &parts[w]);
  part_run (&parts[0]);
  for (guint w = 1; w < nt; w++)
    g_thread_join (threads[w]);
  /* Fixed combination order keeps the result independent of timing. */
  double z = 0, plogq = 0;
  for (guint w = 0; w < nt; w++)
    {
      z += parts[w].z;
      plogq += parts[w].plogq;
    }
  if (kl)
    *kl = t->plogp - plogq + log (MAX (z, 1e-300));
  return z;
}

double
ps_tsne_kl (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, NAN);
  double kl = NAN;
  gradient_parts (t, &kl);
  return kl;
}

double
ps_tsne_step (PsTsne *t, guint k, GError **error)
{
  g_return_val_if_fail (t != NULL, NAN);
  const PsTsneParams *p = &t->params;
  guint n = t->n;
  for (guint s = 0; s < k && t->iter < p->n_iter; s++)
    {
      if (cancelled (p->cancel))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "t-SNE: cancelled at iteration %u", t->iter);
          return NAN;
        }
      gboolean early = t->iter < p->exaggeration_iter;
      if (t->iter == p->exaggeration_iter && t->iter > 0)
        {
          /* scikit-learn restarts its optimiser for the second phase. */
          memset (t->update, 0, (gsize) 2 * n * sizeof (float));
          for (guint i = 0; i < 2 * n; i++)
            t->gains[i] = 1.0f;
        }
      gboolean want_kl = (t->iter + 1) % p->kl_every == 0 || t->iter + 1 == p->n_iter;
      double kl = NAN;
      double z = gradient_parts (t, want_kl ? &kl : NULL);
      float exag = early ? (float) p->early_exaggeration : 1.0f;
      float mom = (float) (early ? p->momentum_early : p->momentum_late);
      float lr = (float) t->lr;
      float inv_z = (float) (1.0 / MAX (z, 1e-300));
      float *up = t->update, *gains = t->gains;
      for (guint i = 0; i < 2 * n; i++)
        {
          float g = 4.0f * (exag * t->attr[i] - t->rep[i] * inv_z);
          /* Delta-bar-delta: grow the gain where the gradient keeps its
           * direction against the last update, shrink it where it flips. */
          float gain = up[i] * g < 0.0f ? gains[i] + 0.2f : gains[i] * 0.8f;
          gain = MAX (gain, 0.01f);
          gains[i] = gain;
          up[i] = mom * up[i] - lr * gain * g;
        }
      g_mutex_lock (&t->lock);
      for (guint i = 0; i < 2 * n; i++)
        t->y[i] += up[i];
      t->iter++;
      g_mutex_unlock (&t->lock);
      if (want_kl)
        {
          t->kl = kl;
          if (!isfinite (kl) || !ps_all_finite (t->y, (gsize) 2 * n))
            {
              g_set_error (error, PS_ERROR, PS_ERROR_DIVERGED,
                           "t-SNE: the layout diverged at iteration %u (learning rate %g)", t->iter, t->lr);
              return NAN;
            }
        }
    }
  return t->kl;
}

guint
ps_tsne_get_n (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->n;
}

guint
ps_tsne_get_iteration (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, 0);
  g_mutex_lock (&t->lock);
  guint it = t->iter;
  g_mutex_unlock (&t->lock);
  return it;
}

guint
ps_tsne_get_n_iter (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->params.n_iter;
}

double
ps_tsne_get_progress (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return (double) ps_tsne_get_iteration (t) / t->params.n_iter;
}

gboolean
ps_tsne_is_done (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, TRUE);
  return ps_tsne_get_iteration (t) >= t->params.n_iter;
}

double
ps_tsne_get_learning_rate (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->lr;
}

float *
ps_tsne_get_embedding (PsTsne *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  g_mutex_lock (&t->lock);
  float *out = g_memdup2 (t->y, (gsize) 2 * t->n * sizeof (float));
  g_mutex_unlock (&t->lock);
  return out;
}

gboolean
ps_tsne_run (const float *x, guint n, guint d, const PsTsneParams *params, float *y, GError **error)
{
  g_return_val_if_fail (y != NULL, FALSE);
  g_autoptr (PsTsne) t = ps_tsne_new (x, n, d, params, error);
  if (!t)
    return FALSE;
  GError *local = NULL;
  ps_tsne_step (t, t->params.n_iter, &local);
  if (local)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  memcpy (y, t->y, (gsize) 2 * n * sizeof (float));
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Trustworthiness                                                      */
/* ------------------------------------------------------------------ */

double
ps_trustworthiness (const float *x, guint n, guint d, const float *y, guint dy, guint k,
                    const gint *cancel, GError **error)
{
  g_return_val_if_fail (x != NULL && y != NULL && d >= 1 && dy >= 1, NAN);
  if (k < 1 || 2 * (guint64) k >= n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "trustworthiness: k = %u needs 1 <= k < n / 2 (n = %u)", k, n);
      return NAN;
    }
  if (!ps_all_finite (x, (gsize) n * d) || !ps_all_finite (y, (gsize) n * dy))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "trustworthiness: NaN or infinite values");
      return NAN;
    }
  g_autofree guint32 *nbr = g_new (guint32, (gsize) n * k);
  if (!ps_knn_exact (nbr, NULL, y, n, dy, k, cancel))
    goto cancelled;

  /* Ranks in x: for each i, how many points are closer to x_i than each
   * of its embedded neighbours, counted over a GEMM distance row. */
  float *sq = ps_alloc0 ((gsize) n * sizeof (float));
  float *xc = centred_copy (x, n, d, sq);
  guint B = block_rows (n);
  float *blk = ps_alloc0 ((gsize) B * n * sizeof (float));
  double penalty = 0;
  gboolean ok = TRUE;
  for (guint r0 = 0; r0 < n; r0 += B)
    {
      if (cancelled (cancel))
        {
          ok = FALSE;
          break;
        }
      guint m = MIN (B, n - r0);
      ps_sgemm (FALSE, TRUE, (int) m, (int) n, (int) d, -2.0f, xc + (gsize) r0 * d, (int) d,
                xc, (int) d, 0.0f, blk, (int) n);
      for (guint r = 0; r < m; r++)
        {
          guint i = r0 + r;
          float *row = blk + (gsize) r * n;
          for (guint j = 0; j < n; j++)
            row[j] += sq[i] + sq[j];
          /* Self sorts last, as with sklearn's infinite diagonal. */
          row[i] = INFINITY;
          for (guint s = 0; s < k; s++)
            {
              guint32 j = nbr[(gsize) i * k + s];
              const float tj = row[j];
              /* Strictly closer points, then equal ones with a smaller
               * index (a stable sort's order). */
              guint less = 0;
              for (guint l = 0; l < n; l++)
                less += row[l] < tj;
              for (guint l = 0; l < j; l++)
                less += row[l] == tj;
              guint rank = less + 1;
              if (rank > k)
                penalty += rank - k;
            }
        }
    }
  ps_free (blk);
  ps_free (xc);
  ps_free (sq);
  if (!ok)
    goto cancelled;
  return 1.0 - penalty * 2.0 / ((double) n * k * (2.0 * n - 3.0 * k - 1.0));

cancelled:
  g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "trustworthiness: cancelled");
  return NAN;
}
