/* ps-kmeans.c: k-means with greedy k-means++ seeding and Lloyd
 * iterations (see ps-kmeans.h).
 *
 * Prediction and seeding take all point-to-centre distances from one GEMM
 * per block of rows, |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the cancellation
 * in that formula can make a tiny distance slightly negative, which is
 * clamped at zero.  The Lloyd iterations skip most distances with
 * Hamerly's bounds and measure the rest with a small fused kernel (four
 * centres per pass over a row, then the arg-min), split over threads by
 * rows; the cluster sums change only where a label changes.
 */
#define G_LOG_DOMAIN "ps-eval"

#include "ps-eval.h"
#include "ps-kmeans.h"

#include <math.h>
#include <string.h>

#define KM_BLOCK_ROWS 4096

/* For rows of x [n, d]: the nearest of centres c [k, d] and its squared
 * distance.  xx[n] and cc[k] are the squared norms; buf holds
 * [KM_BLOCK_ROWS, k].  Returns the sum of the distances. */
static double
nearest (const float *x, const float *xx, guint n, guint d, const float *c, const float *cc, guint k,
         float *buf, gint32 *assign, float *dist2)
{
  double total = 0;
  for (guint r0 = 0; r0 < n; r0 += KM_BLOCK_ROWS)
    {
      guint m = MIN (KM_BLOCK_ROWS, n - r0);
      ps_sgemm (FALSE, TRUE, (int) m, (int) k, (int) d, -2.0f, x + (gsize) r0 * d, (int) d,
                c, (int) d, 0.0f, buf, (int) k);
      for (guint i = 0; i < m; i++)
        {
          const float *row = buf + (gsize) i * k;
          float best = INFINITY;
          guint arg = 0;
          for (guint j = 0; j < k; j++)
            {
              float v = row[j] + cc[j];
              if (v < best)
                {
                  best = v;
                  arg = j;
                }
            }
          float dd = MAX (0.0f, best + xx[r0 + i]);
          if (assign)
            assign[r0 + i] = (gint32) arg;
          if (dist2)
            dist2[r0 + i] = dd;
          total += dd;
        }
    }
  return total;
}

static void
row_norms (float *out, const float *x, guint n, guint d)
{
  for (guint i = 0; i < n; i++)
    {
      const float *row = x + (gsize) i * d;
      double s = 0;
      for (guint j = 0; j < d; j++)
        s += (double) row[j] * row[j];
      out[i] = (float) s;
    }
}

void
ps_kmeans_predict (const float *x, guint n, guint d, const float *centers, guint k,
                   gint32 *assign, float *dist2)
{
  g_return_if_fail (x != NULL && centers != NULL && k > 0);
  float *xx = ps_alloc0 ((gsize) n * sizeof (float));
  float *cc = ps_alloc0 ((gsize) k * sizeof (float));
  float *buf = ps_alloc0 ((gsize) MIN (n, KM_BLOCK_ROWS) * k * sizeof (float));
  row_norms (xx, x, n, d);
  row_norms (cc, centers, k, d);
  nearest (x, xx, n, d, centers, cc, k, buf, assign, dist2);
  ps_free (xx);
  ps_free (cc);
  ps_free (buf);
}

/* dist [n, k] = squared distances from every row to every centre. */
static void
all_distances (float *dist, const float *x, const float *xx, guint n, guint d,
               const float *c, const float *cc, guint k)
{
  ps_sgemm (FALSE, TRUE, (int) n, (int) k, (int) d, -2.0f, x, (int) d, c, (int) d, 0.0f, dist, (int) k);
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < k; j++)
      dist[(gsize) i * k + j] = MAX (0.0f, dist[(gsize) i * k + j] + xx[i] + cc[j]);
}

/* Greedy k-means++ (Arthur & Vassilvitskii, with 2 + ln k candidates per
 * centre as scikit-learn does): the candidates are drawn together and
 * scored with one GEMM, and the one that lowers the potential most wins. */
static void
seed_plus_plus (const float *x, const float *xx, guint n, guint d, guint k, PsRng *rng,
                float *centers, float *d2, float *buf)
{
  guint trials = 2 + (guint) log ((double) k);
  float *cand = ps_alloc0 ((gsize) trials * d * sizeof (float));
  float *cand_cc = ps_alloc0 ((gsize) trials * sizeof (float));
  float *dist = ps_alloc0 ((gsize) n * trials * sizeof (float));
  g_autofree double *pot = g_new (double, trials);
  guint first = ps_rng_below (rng, n);
  memcpy (centers, x + (gsize) first * d, d * sizeof (float));
  float cc0;
  row_norms (&cc0, centers, 1, d);
  nearest (x, xx, n, d, centers, &cc0, 1, buf, NULL, d2);
  for (guint c = 1; c < k; c++)
    {
      for (guint t = 0; t < trials; t++)
        {
          guint pick = ps_rng_categorical (rng, d2, n);
          memcpy (cand + (gsize) t * d, x + (gsize) pick * d, d * sizeof (float));
        }
      row_norms (cand_cc, cand, trials, d);
      all_distances (dist, x, xx, n, d, cand, cand_cc, trials);
      for (guint t = 0; t < trials; t++)
        pot[t] = 0;
      for (guint i = 0; i < n; i++)
        for (guint t = 0; t < trials; t++)
          pot[t] += MIN (dist[(gsize) i * trials + t], d2[i]);
      guint best = 0;
      for (guint t = 1; t < trials; t++)
        if (pot[t] < pot[best])
          best = t;
      memcpy (centers + (gsize) c * d, cand + (gsize) best * d, d * sizeof (float));
      for (guint i = 0; i < n; i++)
        d2[i] = MIN (d2[i], dist[(gsize) i * trials + best]);
    }
  ps_free (cand);
  ps_free (cand_cc);
  ps_free (dist);
}

/* ---- Lloyd with Hamerly's bounds ------------------------------------- */

/* Hot loops get an AVX2+FMA clone picked at load time (the build targets
 * baseline x86-64).  They keep fixed 16-lane partial sums, so each clone
 * is deterministic. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KM_VEC __attribute__ ((target_clones ("arch=x86-64-v3", "default"), \
                               optimize ("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define KM_VEC
#endif

/* Eight floats as one value (GCC's vector extension: one AVX register, or
 * two SSE ones in the baseline clone); the unaligned type loads from any
 * float address. */
typedef float V8 __attribute__ ((vector_size (32)));
typedef float V8u __attribute__ ((vector_size (32), aligned (4)));

#define load8(p) (*(const V8u *) (p))
#define hsum8(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* |x - c|^2 over d floats, in float with 16 partial sums. */
static KM_VEC float
dist2_exact (const float *x, const float *c, guint d)
{
  V8 a0 = { 0 }, a1 = { 0 };
  gsize t = 0;
  for (; t + 16 <= d; t += 16)
    {
      V8 v0 = load8 (x + t) - load8 (c + t);
      V8 v1 = load8 (x + t + 8) - load8 (c + t + 8);
      a0 += v0 * v0;
      a1 += v1 * v1;
    }
  float s = 0;
  for (; t < d; t++)
    s += (x[t] - c[t]) * (x[t] - c[t]);
  return s + hsum8 (a0 + a1);
}

/* dots[j] = x . c_j for the k centres c [k, d], four centres at a time so
 * each chunk of x is loaded once for four products. */
static KM_VEC void
row_dots (float *dots, const float *x, const float *c, guint d, guint k)
{
  for (guint j0 = 0; j0 < k; j0 += 4)
    {
      guint nj = MIN (4, k - j0);
      const float *c0 = c + (gsize) j0 * d;
      const float *c1 = c + (gsize) (j0 + MIN (1, nj - 1)) * d;
      const float *c2 = c + (gsize) (j0 + MIN (2, nj - 1)) * d;
      const float *c3 = c + (gsize) (j0 + MIN (3, nj - 1)) * d;
      V8 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
      V8 b0 = { 0 }, b1 = { 0 }, b2 = { 0 }, b3 = { 0 };
      gsize t = 0;
      for (; t + 16 <= d; t += 16)
        {
          V8 v = load8 (x + t), w = load8 (x + t + 8);
          a0 += v * load8 (c0 + t);
          a1 += v * load8 (c1 + t);
          a2 += v * load8 (c2 + t);
          a3 += v * load8 (c3 + t);
          b0 += w * load8 (c0 + t + 8);
          b1 += w * load8 (c1 + t + 8);
          b2 += w * load8 (c2 + t + 8);
          b3 += w * load8 (c3 + t + 8);
        }
      float s[4] = { hsum8 (a0 + b0), hsum8 (a1 + b1), hsum8 (a2 + b2), hsum8 (a3 + b3) };
      for (; t < d; t++)
        {
          s[0] += x[t] * c0[t];
          s[1] += x[t] * c1[t];
          s[2] += x[t] * c2[t];
          s[3] += x[t] * c3[t];
        }
      for (guint jj = 0; jj < nj; jj++)
        dots[j0 + jj] = s[jj];
    }
}

/* dst[d] += sign * x[d] in double. */
static KM_VEC void
add_row (double *dst, const float *x, guint d, double sign)
{
  for (gsize t = 0; t < d; t++)
    dst[t] += sign * x[t];
}

typedef enum { PASS_ASSIGN, PASS_INERTIA } PassKind;

typedef struct
{
  const float *x, *xx;
  guint n, d, k;
  const float *c;      /* [k, d] current centres */
  const float *cc;     /* [k] their squared norms */
  float cc_max;
  const float *sep;    /* [k] half the distance to the nearest other centre */
  const float *move;   /* [k] how far each centre moved since the last pass */
  float move_max, move_second;
  guint move_arg;
  gboolean first;      /* no bounds yet: measure every point */
  gint32 *a;
  float *u, *l;        /* Hamerly's upper and lower bounds (distances) */
} Shared;

typedef struct
{
  const Shared *s;
  PassKind kind;
  guint r0, r1;
  double *dsum;        /* [k, d] change of the per-cluster sums */
  gint64 *dcount;      /* [k] */
  float *dots;         /* [k] */
  guint changed, measured;
  double inertia;
} Part;

static void
pass_range (Part *p)
{
  const Shared *s = p->s;
  const guint d = s->d, k = s->k;
  if (p->kind == PASS_INERTIA)
    {
      double tot = 0;
      for (guint i = p->r0; i < p->r1; i++)
        tot += dist2_exact (s->x + (gsize) i * d, s->c + (gsize) s->a[i] * d, d);
      p->inertia = tot;
      return;
    }
  for (guint i = p->r0; i < p->r1; i++)
    {
      const float *xi = s->x + (gsize) i * d;
      gint32 ai = s->a[i];
      if (!s->first)
        {
          /* The bounds follow the centres; a point whose assigned centre
           * is certainly nearer than half the gap to its nearest
           * neighbour, or than any other centre, keeps its label. */
          float u = s->u[i] + s->move[ai];
          float lo = s->l[i] - ((guint) ai == s->move_arg ? s->move_second : s->move_max);
          s->l[i] = lo;
          float m = MAX (s->sep[ai], lo);
          if (u <= m)
            {
              s->u[i] = u;
              continue;
            }
          u = sqrtf (dist2_exact (xi, s->c + (gsize) ai * d, d)) * (1.f + 1e-6f);
          s->u[i] = u;
          if (u <= m)
            continue;
        }
      p->measured++;
      row_dots (p->dots, xi, s->c, d, k);
      float best = INFINITY, second = INFINITY;
      gint32 arg = 0;
      for (guint j = 0; j < k; j++)
        {
          float v = s->cc[j] - 2.f * p->dots[j];
          if (v < best)
            {
              second = best;
              best = v;
              arg = (gint32) j;
            }
          else if (v < second)
            second = v;
        }
      /* The expansion |x|^2 - 2 x.c + |c|^2 is off by a few float
       * roundings of |x|^2 + |c|^2: widen the bounds by that much. */
      float err = 1e-5f * (s->xx[i] + s->cc_max);
      s->u[i] = sqrtf (MAX (0.f, s->xx[i] + best) + err);
      s->l[i] = sqrtf (MAX (0.f, s->xx[i] + second - err));
      if (arg != ai)
        {
          p->changed++;
          if (ai >= 0)
            {
              add_row (p->dsum + (gsize) ai * d, xi, d, -1.0);
              p->dcount[ai]--;
            }
          add_row (p->dsum + (gsize) arg * d, xi, d, 1.0);
          p->dcount[arg]++;
          s->a[i] = arg;
        }
    }
}

static gpointer
pass_thread (gpointer data)
{
  pass_range (data);
  return NULL;
}

/* One pass over all rows on `threads` threads; the changes of the sums
 * are added into sums/count in part order, so a run is reproducible for a
 * given thread count. */
static guint
run_pass (const Shared *s, Part *parts, guint threads, PassKind kind, double *sums, gint64 *count,
          double *inertia, guint *measured)
{
  const guint n = s->n, k = s->k, d = s->d;
  for (guint t = 0; t < threads; t++)
    {
      Part *p = &parts[t];
      p->s = s;
      p->kind = kind;
      p->r0 = (guint) ((guint64) n * t / threads);
      p->r1 = (guint) ((guint64) n * (t + 1) / threads);
      p->changed = p->measured = 0;
      p->inertia = 0;
      if (kind == PASS_ASSIGN)
        {
          memset (p->dsum, 0, (gsize) k * d * sizeof (double));
          memset (p->dcount, 0, k * sizeof (gint64));
        }
    }
  GThread *th[64];
  for (guint t = 1; t < threads; t++)
    th[t] = g_thread_new ("ps-kmeans", pass_thread, &parts[t]);
  pass_range (&parts[0]);
  for (guint t = 1; t < threads; t++)
    g_thread_join (th[t]);
  guint changed = 0;
  double tot = 0;
  for (guint t = 0; t < threads; t++)
    {
      Part *p = &parts[t];
      changed += p->changed;
      tot += p->inertia;
      if (measured)
        *measured += p->measured;
      if (kind != PASS_ASSIGN || p->changed == 0)
        continue;
      for (gsize q = 0; q < (gsize) k * d; q++)
        sums[q] += p->dsum[q];
      for (guint j = 0; j < k; j++)
        count[j] += p->dcount[j];
    }
  if (inertia)
    *inertia = tot;
  return changed;
}

/* tol times the mean per-feature variance (scikit-learn's _tolerance). */
static double
abs_tolerance (const float *x, guint n, guint d, double tol)
{
  g_autofree double *s1 = g_new0 (double, d);
  g_autofree double *s2 = g_new0 (double, d);
  for (guint i = 0; i < n; i++)
    {
      const float *row = x + (gsize) i * d;
      for (guint j = 0; j < d; j++)
        {
          s1[j] += row[j];
          s2[j] += (double) row[j] * row[j];
        }
    }
  double mean_var = 0;
  for (guint j = 0; j < d; j++)
    {
      double m = s1[j] / n;
      mean_var += MAX (0.0, s2[j] / n - m * m);
    }
  return tol * mean_var / d;
}

static gboolean
check_args (const float *x, guint n, guint d, guint k, GError **error)
{
  if (k == 0 || k > n || d == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "k-means: cannot make %u clusters of %u samples", k, n);
      return FALSE;
    }
  if (!ps_all_finite (x, (gsize) n * d))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "k-means: the data hold NaN or infinite values");
      return FALSE;
    }
  return TRUE;
}

double
ps_kmeans_from_centres (const float *x, guint n, guint d, guint k, guint max_iter, double tol,
                        float *centers, gint32 *assign, guint *n_iter, GError **error)
{
  g_return_val_if_fail (x != NULL && centers != NULL, -1);
  if (!check_args (x, n, d, k, error))
    return -1;
  if (!ps_all_finite (centers, (gsize) k * d))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "k-means: the starting centres hold NaN or infinite values");
      return -1;
    }
  max_iter = MAX (max_iter, 1);
  double tol_abs = abs_tolerance (x, n, d, tol);
  guint threads = (guint) CLAMP (ps_blas_get_threads (), 1, 64);
  if (n < 4096)
    threads = 1;

  float *xx = ps_alloc0 ((gsize) n * sizeof (float));
  float *cc = ps_alloc0 ((gsize) k * sizeof (float));
  float *sep = ps_alloc0 ((gsize) k * sizeof (float));
  float *move = ps_alloc0 ((gsize) k * sizeof (float));
  float *u = ps_alloc0 ((gsize) n * sizeof (float));
  float *l = ps_alloc0 ((gsize) n * sizeof (float));
  float *old = ps_alloc0 ((gsize) k * d * sizeof (float));
  gint32 *a = g_new (gint32, n);
  double *sums = g_new0 (double, (gsize) k * d);
  gint64 *count = g_new0 (gint64, k);
  Part *parts = g_new0 (Part, threads);
  for (guint t = 0; t < threads; t++)
    {
      parts[t].dsum = g_new (double, (gsize) k * d);
      parts[t].dcount = g_new (gint64, k);
      parts[t].dots = g_new (float, k);
    }
  row_norms (xx, x, n, d);
  for (guint i = 0; i < n; i++)
    a[i] = -1;

  Shared s = { .x = x, .xx = xx, .n = n, .d = d, .k = k, .c = centers, .cc = cc, .sep = sep,
               .move = move, .first = TRUE, .a = a, .u = u, .l = l };
  gboolean strict = FALSE;
  guint it = 0, measured = 0;
  while (it < max_iter)
    {
      row_norms (cc, centers, k, d);
      s.cc_max = 0;
      for (guint j = 0; j < k; j++)
        s.cc_max = MAX (s.cc_max, cc[j]);
      /* Half the distance from each centre to its nearest other centre,
       * shrunk a little against rounding. */
      for (guint j = 0; j < k; j++)
        {
          float mn = INFINITY;
          for (guint j2 = 0; j2 < k; j2++)
            if (j2 != j)
              mn = MIN (mn, dist2_exact (centers + (gsize) j * d, centers + (gsize) j2 * d, d));
          sep[j] = 0.5f * sqrtf (mn) * (1.f - 1e-6f);
        }
      guint changed = run_pass (&s, parts, threads, PASS_ASSIGN, sums, count, NULL, &measured);
      s.first = FALSE;
      it++;

      /* An empty cluster takes the point farthest from its centre. */
      for (guint j = 0; j < k; j++)
        if (count[j] == 0)
          {
            guint far = 0;
            float fd = -1;
            for (guint i = 0; i < n; i++)
              if (count[a[i]] > 1)
                {
                  float v = dist2_exact (x + (gsize) i * d, centers + (gsize) a[i] * d, d);
                  if (v > fd)
                    {
                      fd = v;
                      far = i;
                    }
                }
            const float *xf = x + (gsize) far * d;
            add_row (sums + (gsize) a[far] * d, xf, d, -1.0);
            count[a[far]]--;
            memset (sums + (gsize) j * d, 0, d * sizeof (double));
            add_row (sums + (gsize) j * d, xf, d, 1.0);
            count[j] = 1;
            a[far] = (gint32) j;
            u[far] = 0;
            l[far] = 0;
            changed++;
          }

      /* New centres from the sums; how far each moved. */
      memcpy (old, centers, (gsize) k * d * sizeof (float));
      double shift = 0;
      s.move_max = s.move_second = 0;
      s.move_arg = 0;
      for (guint j = 0; j < k; j++)
        {
          float *cj = centers + (gsize) j * d;
          for (guint t = 0; t < d; t++)
            cj[t] = (float) (sums[(gsize) j * d + t] / (double) count[j]);
          double m2 = 0;
          for (guint t = 0; t < d; t++)
            {
              double v = (double) cj[t] - old[(gsize) j * d + t];
              m2 += v * v;
            }
          shift += m2;
          move[j] = (float) sqrt (m2) * (1.f + 1e-6f);
          if (move[j] > s.move_max)
            {
              s.move_second = s.move_max;
              s.move_max = move[j];
              s.move_arg = j;
            }
          else if (move[j] > s.move_second)
            s.move_second = move[j];
        }
      if (changed == 0)
        {
          strict = TRUE;
          break;
        }
      if (shift <= tol_abs)
        break;
    }
  if (!strict)
    {
      /* Labels for the final centres (their move is already in `move`). */
      row_norms (cc, centers, k, d);
      s.cc_max = 0;
      for (guint j = 0; j < k; j++)
        s.cc_max = MAX (s.cc_max, cc[j]);
      for (guint j = 0; j < k; j++)
        {
          float mn = INFINITY;
          for (guint j2 = 0; j2 < k; j2++)
            if (j2 != j)
              mn = MIN (mn, dist2_exact (centers + (gsize) j * d, centers + (gsize) j2 * d, d));
          sep[j] = 0.5f * sqrtf (mn) * (1.f - 1e-6f);
        }
      run_pass (&s, parts, threads, PASS_ASSIGN, sums, count, NULL, &measured);
    }
  double inertia = 0;
  run_pass (&s, parts, threads, PASS_INERTIA, NULL, NULL, &inertia, NULL);
  g_debug ("k-means: %u iterations, %.2f full distance rows per point", it, (double) measured / n);

  if (assign)
    memcpy (assign, a, n * sizeof (gint32));
  if (n_iter)
    *n_iter = it;
  for (guint t = 0; t < threads; t++)
    {
      g_free (parts[t].dsum);
      g_free (parts[t].dcount);
      g_free (parts[t].dots);
    }
  g_free (parts);
  g_free (a);
  g_free (sums);
  g_free (count);
  ps_free (xx);
  ps_free (cc);
  ps_free (sep);
  ps_free (move);
  ps_free (u);
  ps_free (l);
  ps_free (old);
  return inertia;
}

double
ps_kmeans_from_centres_ref (const float *x, guint n, guint d, guint k, guint max_iter, double tol,
                            float *centers, gint32 *assign, guint *n_iter)
{
  double tol_abs = abs_tolerance (x, n, d, tol);
  g_autofree gint32 *a = g_new (gint32, n);
  g_autofree gint32 *prev = g_new (gint32, n);
  g_autofree double *acc = g_new (double, (gsize) k * d);
  g_autofree guint *cnt = g_new (guint, k);
  g_autofree double *dist = g_new (double, n);
  for (guint i = 0; i < n; i++)
    prev[i] = -1;
  gboolean strict = FALSE;
  guint it = 0;
  max_iter = MAX (max_iter, 1);
  while (it < max_iter)
    {
      for (guint i = 0; i < n; i++)
        {
          double best = INFINITY;
          for (guint j = 0; j < k; j++)
            {
              double s = 0;
              for (guint t = 0; t < d; t++)
                {
                  double v = (double) x[(gsize) i * d + t] - centers[(gsize) j * d + t];
                  s += v * v;
                }
              if (s < best)
                {
                  best = s;
                  a[i] = (gint32) j;
                }
            }
          dist[i] = best;
        }
      memset (acc, 0, (gsize) k * d * sizeof (double));
      memset (cnt, 0, k * sizeof (guint));
      for (guint i = 0; i < n; i++)
        {
          for (guint t = 0; t < d; t++)
            acc[(gsize) a[i] * d + t] += x[(gsize) i * d + t];
          cnt[a[i]]++;
        }
      it++;
      double shift = 0;
      for (guint j = 0; j < k; j++)
        {
          if (cnt[j] == 0)
            continue;
          for (guint t = 0; t < d; t++)
            {
              double v = acc[(gsize) j * d + t] / cnt[j];
              shift += (v - centers[(gsize) j * d + t]) * (v - centers[(gsize) j * d + t]);
              centers[(gsize) j * d + t] = (float) v;
            }
        }
      if (memcmp (a, prev, n * sizeof (gint32)) == 0)
        {
          strict = TRUE;
          break;
        }
      memcpy (prev, a, n * sizeof (gint32));
      if (shift <= tol_abs)
        break;
    }
  double inertia = 0;
  for (guint i = 0; i < n; i++)
    {
      double best = INFINITY;
      gint32 arg = a[i];
      if (!strict)
        for (guint j = 0; j < k; j++)
          {
            double s = 0;
            for (guint t = 0; t < d; t++)
              {
                double v = (double) x[(gsize) i * d + t] - centers[(gsize) j * d + t];
                s += v * v;
              }
            if (s < best)
              {
                best = s;
                arg = (gint32) j;
              }
          }
      a[i] = arg;
      double s = 0;
      for (guint t = 0; t < d; t++)
        {
          double v = (double) x[(gsize) i * d + t] - centers[(gsize) arg * d + t];
          s += v * v;
        }
      inertia += s;
    }
  if (assign)
    memcpy (assign, a, n * sizeof (gint32));
  if (n_iter)
    *n_iter = it;
  return inertia;
}

/* ---- k-means++ and restarts ------------------------------------------ */

double
ps_kmeans (const float *x, guint n, guint d, guint k,
           guint n_init, guint max_iter, double tol, guint64 seed,
           float *centers, gint32 *assign, guint *n_iter, GError **error)
{
  g_return_val_if_fail (x != NULL && centers != NULL, -1);
  if (!check_args (x, n, d, k, error))
    return -1;
  n_init = MAX (n_init, 1);

  float *xx = ps_alloc0 ((gsize) n * sizeof (float));
  float *buf = ps_alloc0 ((gsize) MIN (n, KM_BLOCK_ROWS) * MAX (k, 1) * sizeof (float));
  float *d2 = ps_alloc0 ((gsize) n * sizeof (float));
  float *c = ps_alloc0 ((gsize) k * d * sizeof (float));
  gint32 *a = g_new (gint32, n);
  row_norms (xx, x, n, d);

  PsRng rng;
  ps_rng_init (&rng, seed, 0x4b6d);
  double best = INFINITY;
  for (guint run = 0; run < n_init; run++)
    {
      seed_plus_plus (x, xx, n, d, k, &rng, c, d2, buf);
      guint it = 0;
      double inertia = ps_kmeans_from_centres (x, n, d, k, max_iter, tol, c, a, &it, error);
      if (inertia < 0)
        {
          best = -1;
          break;
        }
      if (inertia < best)
        {
          best = inertia;
          memcpy (centers, c, (gsize) k * d * sizeof (float));
          if (assign)
            memcpy (assign, a, n * sizeof (gint32));
          if (n_iter)
            *n_iter = it;
        }
    }
  ps_free (xx);
  ps_free (buf);
  ps_free (d2);
  ps_free (c);
  g_free (a);
  return best;
}
