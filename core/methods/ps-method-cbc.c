/* ps-method-cbc.c: StableCBC, a shallow robust classification-by-
 * components network (Saralajew et al.), with certified radii.
 *
 * The model and its radius are described in ps-cbc.h.  Training minimises
 * the probability margin loss relu(max_{c != y} p(c|x) - p(y|x) + margin)
 * with Adam on the components and the reasoning logits.  evaluate reports
 * clean accuracy and certified robust accuracy at each radius of `radii`
 * (a sample counts when it is classified correctly and its certified
 * radius is at least the radius).
 */
#define G_LOG_DOMAIN "ps-cbc"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-cbc.h"
#include "ps-proto-head.h"

#include <math.h>
#include <string.h>

static const PsParamSpec cbc_params[] = {
  { "components_per_class", PS_PARAM_INT, 2, 1, 100, NULL,
    "Components per class (K = this times the classes), started at random training samples" },
  { "sigma", PS_PARAM_FLOAT, 0, 0, 1e6, NULL,
    "RBF width sigma in exp(-|x - w|^2 / sigma) (0: the median squared distance of a training "
    "sample to its nearest starting component)" },
  { "margin", PS_PARAM_FLOAT, 0.3, 0, 1, NULL, "Margin of the probability margin loss" },
  { "epochs", PS_PARAM_INT, 30, 1, 10000, NULL, "Passes over the training data" },
  { "batch_size", PS_PARAM_INT, 64, 1, 8192, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 0.01, 1e-6, 1.0, NULL, "Learning rate (Adam)", TRUE },
  { "radii", PS_PARAM_STRING, 0, 0, 0, "0,0.1,0.25,0.5,1,2",
    "Radii (input units, L2) at which certified accuracy is reported" },
};

/* The PsCbc comes first, so a test may read the model through it. */
typedef struct
{
  PsCbc cbc;
  PsDataset *data;
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint *perm;
  guint64 step, total;
  guint steps_per_epoch;
  int batch;
  float margin, lr;
  int n_params;
  float *grad, *adam_m, *adam_v;   /* [n_params]: W then A */
  float *xb;
  int *yb;
  int n_radii;
  double *radii;
  PsEvalSet test;
} Cbc;

/* ---- The model -------------------------------------------------------- */

void
ps_cbc_reasoning (const PsCbc *m, float *r)
{
  ps_proto_assign_softmax (r, m->A, m->C, 2 * m->K, 1.f);
}

/* det[n, K] = exp(-|x - w_k|^2 / sigma); dist[n, K] (optional) the
 * distances. */
static void
cbc_detect (const PsCbc *m, float *det, float *dist, const float *x, int n)
{
  ps_proto_similarity (det, x, m->W, n, m->K, m->D, PS_SIM_NEG_SQEUCLID);
  for (gsize i = 0; i < (gsize) n * m->K; i++)
    {
      /* The GEMM form of the distance can go slightly negative. */
      float d2 = MAX (0.f, -det[i]);
      if (dist)
        dist[i] = sqrtf (d2);
      det[i] = expf (-d2 / m->sigma);
    }
}

void
ps_cbc_forward (const PsCbc *m, float *probs, float *det_out, const float *x, int n)
{
  const int K = m->K, C = m->C;
  g_autofree float *r = g_new (float, (gsize) C * 2 * K);
  g_autofree float *det = g_new (float, (gsize) MAX (n, 1) * K);
  ps_cbc_reasoning (m, r);
  cbc_detect (m, det, NULL, x, n);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      {
        double p = 0;
        const float *rc = r + (gsize) c * 2 * K;
        for (int k = 0; k < K; k++)
          {
            float d = det[(gsize) i * K + k];
            p += rc[k] * d + rc[K + k] * (1 - d);
          }
        probs[(gsize) i * C + c] = (float) p;
      }
  if (det_out)
    memcpy (det_out, det, (gsize) n * K * sizeof (float));
}

/* The lower bound of p(y) - p(c) over |delta| <= eps, given distances
 * dist[K] to the components. */
static double
cbc_margin_bound (const PsCbc *m, const float *r, const float *dist, int y, int c, double eps)
{
  const int K = m->K;
  const float *ry = r + (gsize) y * 2 * K, *rc = r + (gsize) c * 2 * K;
  double s = 0;
  for (int k = 0; k < K; k++)
    {
      double a = (ry[k] - ry[K + k]) - (rc[k] - rc[K + k]);
      s += ry[K + k] - rc[K + k];
      double far = dist[k] + eps, near = MAX (0.0, dist[k] - eps);
      double lo = exp (-far * far / m->sigma), hi = exp (-near * near / m->sigma);
      s += a >= 0 ? a * lo : a * hi;
    }
  return s;
}

void
ps_cbc_certified_radius (const PsCbc *m, float *radius, int *pred, const float *x, int n)
{
  const int K = m->K, C = m->C;
  g_autofree float *r = g_new (float, (gsize) C * 2 * K);
  g_autofree float *det = g_new (float, (gsize) MAX (n, 1) * K);
  g_autofree float *dist = g_new (float, (gsize) MAX (n, 1) * K);
  g_autofree float *probs = g_new (float, (gsize) MAX (n, 1) * C);
  ps_cbc_reasoning (m, r);
  ps_cbc_forward (m, probs, NULL, x, n);
  cbc_detect (m, det, dist, x, n);
  for (int i = 0; i < n; i++)
    {
      const float *pi = probs + (gsize) i * C;
      const float *di = dist + (gsize) i * K;
      int y = 0;
      for (int c = 1; c < C; c++)
        if (pi[c] > pi[y])
          y = c;
      if (pred)
        pred[i] = y;
      /* An upper end at which every detection can reach both 0 and 1. */
      double hi = 0;
      for (int k = 0; k < K; k++)
        hi = MAX (hi, di[k]);
      hi += 6 * sqrt (m->sigma);
      double lo = 0;
      gboolean ok0 = TRUE;
      for (int c = 0; c < C && ok0; c++)
        if (c != y && cbc_margin_bound (m, r, di, y, c, 0) <= 0)
          ok0 = FALSE;
      if (!ok0)
        {
          radius[i] = 0;
          continue;
        }
      for (int it = 0; it < 40; it++)
        {
          double mid = 0.5 * (lo + hi);
          gboolean ok = TRUE;
          for (int c = 0; c < C && ok; c++)
            if (c != y && cbc_margin_bound (m, r, di, y, c, mid) <= 0)
              ok = FALSE;
          if (ok)
            lo = mid;
          else
            hi = mid;
        }
      /* lo is certified (the bound held there); rounding to float goes
       * down so the reported radius stays certified. */
      float f = (float) lo;
      radius[i] = (double) f > lo ? nextafterf (f, 0.f) : f;
    }
}

void
ps_cbc_margin_grad (const PsCbc *m, float *grad, const float *x, int a, int b)
{
  const int K = m->K, D = m->D;
  g_autofree float *r = g_new (float, (gsize) m->C * 2 * K);
  g_autofree float *det = g_new (float, K);
  ps_cbc_reasoning (m, r);
  cbc_detect (m, det, NULL, x, 1);
  memset (grad, 0, D * sizeof (float));
  const float *ra = r + (gsize) a * 2 * K, *rb = r + (gsize) b * 2 * K;
  for (int k = 0; k < K; k++)
    {
      float coef = (ra[k] - ra[K + k]) - (rb[k] - rb[K + k]);
      /* d d_k / dx = -2 (x - w_k) / sigma d_k */
      float g = coef * det[k] * -2.f / m->sigma;
      for (int j = 0; j < D; j++)
        grad[j] += g * (x[j] - m->W[(gsize) k * D + j]);
    }
}

/* ---- The method --------------------------------------------------------- */

static void
cbc_free (gpointer p)
{
  Cbc *m = p;
  if (m == NULL)
    return;
  ps_dataset_unref (m->data);
  g_free (m->cbc.W);
  g_free (m->cbc.A);
  g_free (m->train_idx);
  g_free (m->perm);
  g_free (m->grad);
  g_free (m->adam_m);
  g_free (m->adam_v);
  g_free (m->xb);
  g_free (m->yb);
  g_free (m->radii);
  ps_eval_set_clear (&m->test);
  g_free (m);
}

static gpointer
cbc_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
            GError **error)
{
  if (data->n_classes < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: CBC needs labels of at least two classes",
                   data->name);
      return NULL;
    }
  g_auto (GStrv) parts = g_strsplit_set (ps_params_get_string (params, "radii"), ", ", -1);
  GArray *radii = g_array_new (FALSE, FALSE, sizeof (double));
  for (char **q = parts; *q; q++)
    {
      if (**q == '\0')
        continue;
      char *end = NULL;
      double v = g_ascii_strtod (*q, &end);
      if (end == *q || *end != '\0' || !(v >= 0))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "radii: '%s' is not a radius", *q);
          g_array_free (radii, TRUE);
          return NULL;
        }
      g_array_append_val (radii, v);
    }
  Cbc *m = g_new0 (Cbc, 1);
  m->n_radii = (int) radii->len;
  m->radii = (double *) g_array_free (radii, FALSE);
  m->data = ps_dataset_ref (data);
  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, TRUE, &m->n_train);
  const int C = (int) data->n_classes, D = (int) data->d;
  const int per = (int) ps_params_get_int (params, "components_per_class");
  const int K = C * per;
  PsCbc *cb = &m->cbc;
  cb->K = K;
  cb->C = C;
  cb->D = D;
  cb->W = g_new0 (float, (gsize) K * D);
  cb->A = g_new0 (float, (gsize) C * 2 * K);
  /* Components start at random training samples of their class, with
   * positive reasoning toward it. */
  ps_rng_init (&m->rng, seed, 1);
  PsRng init;
  ps_rng_init (&init, seed, 2);
  g_autofree guint *order = g_memdup2 (m->train_idx, (gsize) MAX (m->n_train, 1) * sizeof (guint));
  ps_rng_shuffle (&init, order, m->n_train);
  g_autofree int *got = g_new0 (int, C);
  for (guint i = 0; i < m->n_train; i++)
    {
      int c = data->y[order[i]];
      if (got[c] >= per)
        continue;
      int k = c * per + got[c]++;
      memcpy (cb->W + (gsize) k * D, data->x + (gsize) order[i] * D, D * sizeof (float));
    }
  for (int c = 0; c < C; c++)
    if (got[c] < per)
      {
        g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "CBC: class %d has %d training samples, fewer "
                     "than components_per_class = %d", c, got[c], per);
        cbc_free (m);
        return NULL;
      }
  for (int c = 0; c < C; c++)
    for (int k = 0; k < K; k++)
      cb->A[(gsize) c * 2 * K + k] = k / per == c ? 3.f : 0.f;
  cb->sigma = (float) ps_params_get_float (params, "sigma");
  if (cb->sigma <= 0)
    {
      guint ns = MIN (m->n_train, 2000u);
      g_autofree float *x = ps_gather_rows (data, order, ns);
      g_autofree float *d = g_new (float, (gsize) ns * K);
      ps_proto_similarity (d, x, cb->W, (int) ns, K, D, PS_SIM_NEG_SQEUCLID);
      g_autofree float *best = g_new (float, ns);
      for (guint i = 0; i < ns; i++)
        {
          best[i] = INFINITY;
          for (int k = 0; k < K; k++)
            best[i] = MIN (best[i], MAX (0.f, -d[(gsize) i * K + k]));
        }
      /* The median by partial selection sort is fine for 2000 values. */
      for (guint i = 0; i <= ns / 2; i++)
        for (guint j = i + 1; j < ns; j++)
          if (best[j] < best[i])
            {
              float t = best[i];
              best[i] = best[j];
              best[j] = t;
            }
      cb->sigma = MAX (best[ns / 2], 1e-6f);
    }
  m->n_params = K * D + C * 2 * K;
  m->grad = g_new0 (float, m->n_params);
  m->adam_m = g_new0 (float, m->n_params);
  m->adam_v = g_new0 (float, m->n_params);
  m->batch = (int) MIN ((gint64) m->n_train, ps_params_get_int (params, "batch_size"));
  m->steps_per_epoch = (m->n_train + m->batch - 1) / m->batch;
  m->total = (guint64) m->steps_per_epoch * ps_params_get_int (params, "epochs");
  m->perm = g_new0 (guint, m->n_train);
  m->xb = g_new (float, (gsize) m->batch * D);
  m->yb = g_new (int, m->batch);
  m->margin = (float) ps_params_get_float (params, "margin");
  m->lr = (float) ps_params_get_float (params, "lr");
  PsSplit split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  ps_eval_set_init (&m->test, data, split);
  return m;
}

static guint64
cbc_total_steps (gpointer p)
{
  return ((Cbc *) p)->total;
}

static gboolean
cbc_step (gpointer p, PsStepInfo *info, GError **error)
{
  Cbc *m = p;
  PsCbc *cb = &m->cbc;
  const int K = cb->K, C = cb->C, D = cb->D;
  guint pos = (guint) (m->step % m->steps_per_epoch);
  if (pos == 0)
    ps_rng_permutation (&m->rng, m->perm, m->n_train);
  guint start = pos * m->batch;
  int B = (int) MIN ((guint) m->batch, m->n_train - start);
  for (int i = 0; i < B; i++)
    {
      guint row = m->train_idx[m->perm[start + i]];
      memcpy (m->xb + (gsize) i * D, m->data->x + (gsize) row * D, D * sizeof (float));
      m->yb[i] = m->data->y[row];
    }
  g_autofree float *r = g_new (float, (gsize) C * 2 * K);
  g_autofree float *det = g_new (float, (gsize) B * K);
  g_autofree float *probs = g_new (float, (gsize) B * C);
  g_autofree float *dr = g_new0 (float, (gsize) C * 2 * K);
  g_autofree float *ddet = g_new (float, K);
  ps_cbc_reasoning (cb, r);
  ps_cbc_forward (cb, probs, det, m->xb, B);
  memset (m->grad, 0, m->n_params * sizeof (float));
  float *gW = m->grad, *gA = m->grad + (gsize) K * D;
  double loss = 0;
  for (int i = 0; i < B; i++)
    {
      const float *pi = probs + (gsize) i * C;
      int y = m->yb[i], o = -1;
      for (int c = 0; c < C; c++)
        if (c != y && (o < 0 || pi[c] > pi[o]))
          o = c;
      double l = pi[o] - pi[y] + m->margin;
      if (l <= 0)
        continue;
      loss += l / B;
      /* dL/dp_o = 1/B, dL/dp_y = -1/B. */
      const float *di = det + (gsize) i * K;
      const float *ro = r + (gsize) o * 2 * K, *ry = r + (gsize) y * 2 * K;
      for (int k = 0; k < K; k++)
        {
          dr[(gsize) o * 2 * K + k] += di[k] / B;
          dr[(gsize) o * 2 * K + K + k] += (1 - di[k]) / B;
          dr[(gsize) y * 2 * K + k] -= di[k] / B;
          dr[(gsize) y * 2 * K + K + k] -= (1 - di[k]) / B;
          ddet[k] = ((ro[k] - ro[K + k]) - (ry[k] - ry[K + k])) / B;
          /* d d_k / d w_k = 2 (x - w_k) / sigma d_k */
          float g = ddet[k] * di[k] * 2.f / cb->sigma;
          const float *xi = m->xb + (gsize) i * D;
          for (int j = 0; j < D; j++)
            gW[(gsize) k * D + j] += g * (xi[j] - cb->W[(gsize) k * D + j]);
        }
    }
  /* Through the softmax of each class's reasoning row. */
  for (int c = 0; c < C; c++)
    {
      const float *rc = r + (gsize) c * 2 * K;
      float *drc = dr + (gsize) c * 2 * K;
      double dot = 0;
      for (int j = 0; j < 2 * K; j++)
        dot += rc[j] * drc[j];
      for (int j = 0; j < 2 * K; j++)
        gA[(gsize) c * 2 * K + j] = rc[j] * (float) (drc[j] - dot);
    }
  if (!isfinite (loss) || !ps_all_finite (m->grad, m->n_params))
    {
      m->step++;
      info->loss = NAN;
      info->done = m->step >= m->total;
      return TRUE;
    }
  /* Adam (beta1 0.9, beta2 0.999). */
  double t = (double) (m->step + 1);
  float c1 = (float) (1 - pow (0.9, t)), c2 = (float) (1 - pow (0.999, t));
  float *params[2] = { cb->W, cb->A };
  int sizes[2] = { K * D, C * 2 * K };
  int off = 0;
  for (int s = 0; s < 2; s++)
    for (int j = 0; j < sizes[s]; j++, off++)
      {
        float g = m->grad[off];
        m->adam_m[off] = 0.9f * m->adam_m[off] + 0.1f * g;
        m->adam_v[off] = 0.999f * m->adam_v[off] + 0.001f * g * g;
        params[s][j] -= m->lr * (m->adam_m[off] / c1) / (sqrtf (m->adam_v[off] / c2) + 1e-8f);
      }
  m->step++;
  info->loss = loss;
  info->done = m->step >= m->total;
  (void) error;
  return TRUE;
}

static char *
radius_name (double r)
{
  /* acc_r0.0, acc_r0.1, acc_r0.25, acc_r1.0 */
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, "%.3g", r);
  return g_strdup_printf ("acc_r%s%s", buf, strchr (buf, '.') || strchr (buf, 'e') ? "" : ".0");
}

static PsMetrics *
cbc_evaluate (gpointer p)
{
  Cbc *m = p;
  PsMetrics *out = ps_metrics_new ();
  const int n = (int) m->test.n;
  g_autofree float *rad = g_new (float, MAX (n, 1));
  g_autofree int *pred = g_new (int, MAX (n, 1));
  ps_cbc_certified_radius (&m->cbc, rad, pred, m->test.x, n);
  guint ok = 0;
  double rsum = 0;
  for (int i = 0; i < n; i++)
    if (pred[i] == m->test.y[i])
      {
        ok++;
        rsum += rad[i];
      }
  ps_metrics_set (out, "test_acc", n ? (double) ok / n : NAN);
  ps_metrics_set (out, "mean_certified_radius", ok ? rsum / ok : 0);
  for (int j = 0; j < m->n_radii; j++)
    {
      guint c = 0;
      for (int i = 0; i < n; i++)
        c += pred[i] == m->test.y[i] && rad[i] >= m->radii[j];
      g_autofree char *name = radius_name (m->radii[j]);
      ps_metrics_set (out, name, n ? (double) c / n : NAN);
    }
  ps_metrics_set (out, "sigma", m->cbc.sigma);
  return out;
}

static GPtrArray *
cbc_snapshot (gpointer p)
{
  Cbc *m = p;
  PsCbc *cb = &m->cbc;
  PsDataset *ds = m->data;
  const int K = cb->K, C = cb->C;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  ps_snapshot_add_common (out, ds, rows, n, x);
  if (ds->d != 2)
    g_ptr_array_add (out, ps_array_new_f32 ("embedding", x, n, ds->d));
  g_autofree float *probs = g_new (float, (gsize) MAX (n, 1) * C);
  g_autofree float *det = g_new (float, (gsize) MAX (n, 1) * K);
  g_autofree float *rad = g_new (float, MAX (n, 1));
  g_autofree int *pred = g_new (int, MAX (n, 1));
  g_autofree float *conf = g_new (float, MAX (n, 1));
  ps_cbc_forward (cb, probs, det, x, (int) n);
  ps_cbc_certified_radius (cb, rad, pred, x, (int) n);
  for (guint i = 0; i < n; i++)
    conf[i] = probs[(gsize) i * C + pred[i]];
  gsize shape[1] = { n };
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape, conf));
  g_ptr_array_add (out, ps_array_new ("scores", PS_DTYPE_F32, 1, shape, rad));
  const char *sn = "certified_radius";
  gsize nshape[1] = { strlen (sn) };
  g_ptr_array_add (out, ps_array_new ("score_name", PS_DTYPE_U8, 1, nshape, sn));
  /* The radius within which the right answer is guaranteed: the
   * prediction's radius when it is correct, 0 when it is wrong (an
   * unlabelled row keeps its prediction's radius).  Certified accuracy at
   * r is the share of rows with certified_radius >= r and r > 0, or the
   * clean accuracy at r = 0. */
  g_autofree float *cert = g_new (float, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      int y = ds->y[rows[i]];
      cert[i] = y >= 0 && y != pred[i] ? 0.f : rad[i];
    }
  g_ptr_array_add (out, ps_array_new ("certified_radius", PS_DTYPE_F32, 1, shape, cert));
  /* Components as prototypes; a component's class is the one that relies
   * on its presence most. */
  g_autofree float *r = g_new (float, (gsize) C * 2 * K);
  ps_cbc_reasoning (cb, r);
  g_autofree gint32 *plab = g_new (gint32, K);
  g_autofree float *rpos = g_new (float, (gsize) C * K);
  g_autofree float *rneg = g_new (float, (gsize) C * K);
  for (int k = 0; k < K; k++)
    {
      int best = 0;
      for (int c = 0; c < C; c++)
        {
          rpos[(gsize) c * K + k] = r[(gsize) c * 2 * K + k];
          rneg[(gsize) c * K + k] = r[(gsize) c * 2 * K + K + k];
          if (rpos[(gsize) c * K + k] > rpos[(gsize) best * K + k])
            best = c;
        }
      plab[k] = best;
    }
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", cb->W, K, cb->D));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", plab, K));
  g_ptr_array_add (out, ps_array_new_f32 ("assignments", det, n, K));
  g_ptr_array_add (out, ps_array_new_f32 ("reasoning_positive", rpos, C, K));
  g_ptr_array_add (out, ps_array_new_f32 ("reasoning_negative", rneg, C, K));
  if (ds->img_h > 0 && (guint) cb->D == ds->img_h * ds->img_w)
    {
      gsize ishape[3] = { (gsize) K, ds->img_h, ds->img_w };
      g_ptr_array_add (out, ps_array_new ("images", PS_DTYPE_F32, 3, ishape, cb->W));
    }
  if (ds->d == 2)
    {
      const int G = 64;
      float ext[4];
      ps_extent_2d (ds->x, ds->n, 0.1f, ext);
      g_autofree float *grid = g_new (float, (gsize) G * G * 2);
      for (int a = 0; a < G; a++)
        for (int b = 0; b < G; b++)
          {
            grid[((gsize) a * G + b) * 2] = ext[0] + (ext[1] - ext[0]) * (b + 0.5f) / G;
            grid[((gsize) a * G + b) * 2 + 1] = ext[2] + (ext[3] - ext[2]) * (a + 0.5f) / G;
          }
      g_autofree float *field = g_new (float, (gsize) G * G * C);
      ps_cbc_forward (cb, field, NULL, grid, G * G);
      /* p(c|x) need not sum to one; the field shows them normalised. */
      for (int i = 0; i < G * G; i++)
        {
          double s = 0;
          for (int c = 0; c < C; c++)
            s += field[(gsize) i * C + c];
          for (int c = 0; c < C; c++)
            field[(gsize) i * C + c] = s > 0 ? (float) (field[(gsize) i * C + c] / s) : 1.f / C;
        }
      gsize fshape[3] = { G, G, (gsize) C };
      g_ptr_array_add (out, ps_array_new ("decision_field", PS_DTYPE_F32, 3, fshape, field));
      gsize eshape[1] = { 4 };
      g_ptr_array_add (out, ps_array_new ("field_extent", PS_DTYPE_F32, 1, eshape, ext));
    }
  return out;
}

static PsExplanation *
cbc_explain (gpointer p, guint sample, GError **error)
{
  Cbc *m = p;
  PsCbc *cb = &m->cbc;
  PsDataset *ds = m->data;
  const int K = cb->K, C = cb->C;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  const float *x = ds->x + (gsize) sample * ds->d;
  g_autofree float *probs = g_new (float, C);
  g_autofree float *det = g_new (float, K);
  g_autofree float *r = g_new (float, (gsize) C * 2 * K);
  float rad;
  int pred;
  ps_cbc_forward (cb, probs, det, x, 1);
  ps_cbc_certified_radius (cb, &rad, &pred, x, 1);
  ps_cbc_reasoning (cb, r);
  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->predicted = pred;
  ex->confidence = probs[pred];
  ex->uncertainty = NAN;
  ex->ood_score = NAN;
  ex->by_prototypes = TRUE;
  /* Evidence: each component's contribution to the predicted class,
   * r+ d + r- (1 - d), largest first. */
  const float *rp = r + (gsize) pred * 2 * K;
  g_autofree float *contrib = g_new (float, K);
  g_autofree int *order = g_new (int, K);
  for (int k = 0; k < K; k++)
    {
      contrib[k] = rp[k] * det[k] + rp[K + k] * (1 - det[k]);
      order[k] = k;
    }
  for (int i = 1; i < K; i++)
    for (int j = i; j > 0 && contrib[order[j]] > contrib[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  for (int i = 0; i < K; i++)
    {
      int k = order[i];
      int cls = 0;
      for (int c = 1; c < C; c++)
        if (r[(gsize) c * 2 * K + k] > r[(gsize) cls * 2 * K + k])
          cls = c;
      PsEvidence ev = { .index = k, .cls = cls, .similarity = det[k], .evidence = contrib[k],
                        .weight = rp[k] - rp[K + k] };
      g_array_append_val (ex->evidence, ev);
    }
  int k0 = order[0];
  ex->text = g_strdup_printf ("Class %s with probability %.2f; certified radius %.3g (no L2 "
                              "perturbation shorter than that changes the decision). Strongest "
                              "component %d: detected %.2f, %s reasoning.",
                              ps_class_name (ds, pred), probs[pred], rad, k0, det[k0],
                              rp[k0] >= rp[K + k0] ? "positive" : "negative");
  return ex;
}

#define CBC_MAGIC 0x31434243u  /* "CBC1" */

static GBytes *
cbc_save (gpointer p)
{
  Cbc *m = p;
  PsBlobWriter w;
  ps_blob_writer_init (&w, CBC_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_u32 (&w, (guint32) m->n_params);
  ps_blob_put_f64 (&w, m->cbc.sigma);
  ps_blob_put (&w, m->cbc.W, (gsize) m->cbc.K * m->cbc.D * sizeof (float));
  ps_blob_put (&w, m->cbc.A, (gsize) m->cbc.C * 2 * m->cbc.K * sizeof (float));
  ps_blob_put (&w, m->adam_m, (gsize) m->n_params * sizeof (float));
  ps_blob_put (&w, m->adam_v, (gsize) m->n_params * sizeof (float));
  ps_blob_put (&w, m->perm, (gsize) m->n_train * sizeof (guint));
  return ps_blob_writer_finish (&w);
}

static gboolean
cbc_load (gpointer p, GBytes *blob, GError **error)
{
  Cbc *m = p;
  PsBlobReader r;
  guint64 step;
  guint32 np;
  double sigma;
  PsRng rng;
  if (!ps_blob_reader_init (&r, blob, CBC_MAGIC, "cbc checkpoint", error)
      || !ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &np, error) || !ps_blob_get_f64 (&r, &sigma, error))
    return FALSE;
  if ((int) np != m->n_params)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "cbc checkpoint: %u parameters, the model has %d",
                   np, m->n_params);
      return FALSE;
    }
  if (!ps_blob_get (&r, m->cbc.W, (gsize) m->cbc.K * m->cbc.D * sizeof (float), error)
      || !ps_blob_get (&r, m->cbc.A, (gsize) m->cbc.C * 2 * m->cbc.K * sizeof (float), error)
      || !ps_blob_get (&r, m->adam_m, (gsize) np * sizeof (float), error)
      || !ps_blob_get (&r, m->adam_v, (gsize) np * sizeof (float), error)
      || !ps_blob_get (&r, m->perm, (gsize) m->n_train * sizeof (guint), error))
    return FALSE;
  m->step = step;
  m->rng = rng;
  m->cbc.sigma = (float) sigma;
  return TRUE;
}

const PsMethod ps_method_cbc = {
  .id = "cbc",
  .title = "StableCBC (robust RBF classifier)",
  .family = "Prototype learning",
  .paper = "Saralajew et al., A Robust Prototype-Based Network with Interpretable RBF Classifier "
           "Foundations, AAAI 2025",
  .summary = "Components in input space are detected by an RBF, and each class reasons with "
             "positive (present supports it) and negative (absent supports it) weights from one "
             "softmax, so class probabilities are convex combinations of detections. Trained with "
             "the probability margin loss. Every prediction gets a certified L2 robustness radius "
             "from interval bounds on the detections, and evaluate reports certified accuracy at "
             "each radius. The small version is the shallow model (no feature extractor) with one "
             "shared sigma, and drops the paper's robust training loss.",
  .key_metric = "test_acc",
  .params = cbc_params,
  .n_params = G_N_ELEMENTS (cbc_params),
  .create = cbc_create,
  .free = cbc_free,
  .total_steps = cbc_total_steps,
  .step = cbc_step,
  .evaluate = cbc_evaluate,
  .snapshot = cbc_snapshot,
  .explain = cbc_explain,
  .save = cbc_save,
  .load = cbc_load,
};
