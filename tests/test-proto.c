/* test-proto.c: the prototype head (finite-difference checks of every
 * gradient, Sinkhorn marginals, top-k, EMA on the sphere), the OOD scores
 * on hand-computed cases, and the methods protonet and palm: they learn,
 * PALM's K = 6 against K = 1 on a digits hold-out, exact resume, snapshot
 * kinds and explanations. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-proto-head.h"
#include "ps-proto-net.h"
#include "method-test-util.h"

/* ---- Finite differences ------------------------------------------------ */

typedef double (*LossFn) (gpointer ctx, float *x, float *grad);

/* Compares the analytic gradient of fn at x[n] (fn adds it into grad) with
 * central differences on a sample of coordinates. */
static void
check_grad (const char *what, LossFn fn, gpointer ctx, float *x, int n)
{
  g_autofree float *g = g_new0 (float, n);
  fn (ctx, x, g);
  double gmax = 0;
  for (int i = 0; i < n; i++)
    gmax = MAX (gmax, fabs (g[i]));
  g_assert_cmpfloat (gmax, >, 1e-6);   /* a zero gradient would pass trivially */
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      float keep = x[i];
      const float h = 1e-3f;
      x[i] = keep + h;
      double lp = fn (ctx, x, NULL);
      x[i] = keep - h;
      double lm = fn (ctx, x, NULL);
      x[i] = keep;
      double num = (lp - lm) / (2.0 * h);
      double err = fabs (num - g[i]) / (fabs (num) + fabs (g[i]) + 1e-2 * gmax + 1e-8);
      worst = MAX (worst, err);
    }
  g_test_message ("%s: worst relative gradient error %.2e (max |g| %.3g)", what, worst, gmax);
  g_assert_cmpfloat (worst, <, 2e-2);
}

static void
fill (float *x, gsize n, guint64 seed, float scale)
{
  PsRng r;
  ps_rng_init (&r, seed, 5);
  ps_rng_fill_normal (&r, x, n, 0.f, scale);
}

enum { N = 7, K = 5, E = 4 };

typedef struct
{
  float z[N * E], protos[K * E], w[N * K];
  int y[N], labels[K];
  PsSimilarity kind;
  float temp;
  gboolean wrt_protos;
} Ctx;

static double
sim_loss (gpointer p, float *x, float *grad)
{
  /* L = sum sim * c with fixed random coefficients c. */
  Ctx *c = p;
  float *z = c->wrt_protos ? c->z : x, *pr = c->wrt_protos ? x : c->protos;
  float sim[N * K];
  ps_proto_similarity (sim, z, pr, N, K, E, c->kind);
  double l = 0;
  for (int t = 0; t < N * K; t++)
    l += sim[t] * c->w[t];
  if (grad)
    ps_proto_similarity_backward (c->wrt_protos ? NULL : grad, c->wrt_protos ? grad : NULL,
                                  c->w, z, pr, N, K, E, c->kind);
  return l;
}

static double
ce_loss (gpointer p, float *x, float *grad)
{
  Ctx *c = p;
  float *z = c->wrt_protos ? c->z : x, *pr = c->wrt_protos ? x : c->protos;
  guint8 valid[K] = { 1, 1, 0, 1, 1 };
  return ps_proto_ce_loss (c->wrt_protos ? NULL : grad, c->wrt_protos ? grad : NULL, z, c->y, pr,
                           valid, N, K, E, c->kind, c->temp);
}

static double
mle_loss (gpointer p, float *x, float *grad)
{
  Ctx *c = p;
  return ps_palm_mle_loss (grad, NULL, x, c->protos, c->w, N, K, E, c->temp);
}

static double
contrast_loss (gpointer p, float *x, float *grad)
{
  Ctx *c = p;
  return ps_palm_proto_contrast_loss (grad, x, c->labels, K, E, c->temp);
}

/* L_pc of the prototypes after an EMA step with embeddings x: the path by
 * which PALM's contrastive loss reaches the network. */
static double
ema_contrast_loss (gpointer p, float *x, float *grad)
{
  Ctx *c = p;
  float pr[K * E], norms[K], w_hat[N * K], dp[K * E];
  memcpy (pr, c->protos, sizeof pr);
  ps_proto_ema_update (pr, norms, w_hat, c->w, x, N, K, E, 0.7f);
  memset (dp, 0, sizeof dp);
  double l = ps_palm_proto_contrast_loss (dp, pr, c->labels, K, E, c->temp);
  if (grad)
    ps_proto_ema_backward (grad, dp, pr, norms, w_hat, N, K, E, 0.7f);
  return l;
}

/* x -> class means -> sum means * c. */
static double
means_loss (gpointer p, float *x, float *grad)
{
  Ctx *c = p;
  float pr[K * E];
  int counts[K];
  ps_proto_class_means (pr, counts, x, c->y, N, K, E);
  double l = 0;
  for (int t = 0; t < K * E; t++)
    l += pr[t] * c->w[t];
  if (grad)
    ps_proto_class_means_backward (grad, c->w, c->y, counts, N, K, E);
  return l;
}

static void
ctx_init (Ctx *c, guint64 seed)
{
  memset (c, 0, sizeof *c);
  fill (c->z, N * E, seed, 1.f);
  fill (c->protos, K * E, seed + 1, 1.f);
  fill (c->w, N * K, seed + 2, 1.f);
  for (int i = 0; i < N; i++)
    c->y[i] = i % K == 2 ? (i % 3) : i % K;   /* never the invalid prototype 2 */
  c->y[N - 1] = -1;                           /* unlabelled: skipped */
  for (int k = 0; k < K; k++)
    c->labels[k] = k / 2;                     /* pairs of same-class prototypes, one single */
  c->temp = 0.5f;
}

static void
test_grad_similarity (void)
{
  Ctx c;
  for (int kind = 0; kind < 2; kind++)
    for (int wp = 0; wp < 2; wp++)
      {
        ctx_init (&c, 10 + kind);
        c.kind = kind;
        c.wrt_protos = wp;
        check_grad (wp ? "similarity d/dprotos" : "similarity d/dz", sim_loss, &c,
                    wp ? c.protos : c.z, wp ? K * E : N * E);
      }
}

static void
test_grad_ce (void)
{
  Ctx c;
  for (int kind = 0; kind < 2; kind++)
    for (int wp = 0; wp < 2; wp++)
      {
        ctx_init (&c, 20 + kind);
        c.kind = kind;
        c.wrt_protos = wp;
        c.temp = kind == PS_SIM_COSINE ? 0.3f : 1.f;
        check_grad (wp ? "ProtoNet CE d/dprotos" : "ProtoNet CE d/dz", ce_loss, &c,
                    wp ? c.protos : c.z, wp ? K * E : N * E);
      }
}

static void
test_grad_palm (void)
{
  Ctx c;
  ctx_init (&c, 30);
  ps_proto_normalize_rows (c.z, N, E);
  ps_proto_normalize_rows (c.protos, K, E);
  /* Weights: a soft assignment (rows sum to 1). */
  ps_proto_assign_softmax (c.w, c.w, N, K, 1.f);
  c.temp = 0.2f;
  check_grad ("PALM MLE d/dz", mle_loss, &c, c.z, N * E);
  c.temp = 0.5f;
  check_grad ("PALM prototype contrast d/dprotos", contrast_loss, &c, c.protos, K * E);
  check_grad ("PALM contrast through EMA d/dz", ema_contrast_loss, &c, c.z, N * E);
  ctx_init (&c, 31);
  check_grad ("class means d/dz", means_loss, &c, c.z, N * E);
}

/* ---- Assignment and update rules --------------------------------------- */

static void
test_sinkhorn_marginals (void)
{
  enum { SN = 40, SK = 8, SE = 6 };
  float z[SN * SE], pr[SK * SE], sim[SN * SK], q[SN * SK];
  fill (z, SN * SE, 1, 1.f);
  fill (pr, SK * SE, 2, 1.f);
  ps_proto_similarity (sim, z, pr, SN, SK, SE, PS_SIM_COSINE);
  for (int iters = 3; iters <= 200; iters += 197)
    {
      ps_proto_sinkhorn (q, sim, SN, SK, 0.05f, iters);
      /* Rows are exact after the last row scaling; columns approach N/K. */
      double col_err = 0;
      for (int i = 0; i < SN; i++)
        {
          double r = 0;
          for (int k = 0; k < SK; k++)
            {
              g_assert_cmpfloat (q[i * SK + k], >=, 0.f);
              r += q[i * SK + k];
            }
          g_assert_cmpfloat (fabs (r - 1.0), <, 1e-5);
        }
      for (int k = 0; k < SK; k++)
        {
          double s = 0;
          for (int i = 0; i < SN; i++)
            s += q[i * SK + k];
          col_err = MAX (col_err, fabs (s - (double) SN / SK));
        }
      g_test_message ("sinkhorn %d iterations: worst column error %.3g (target %g)", iters, col_err,
                      (double) SN / SK);
      if (iters > 100)
        g_assert_cmpfloat (col_err, <, 1e-3);
    }
  /* Equipartition actually changes the plain softmax: with all samples near
   * one prototype, softmax piles mass on it, Sinkhorn spreads it. */
  float pile[SN * SK];
  for (int i = 0; i < SN; i++)
    for (int k = 0; k < SK; k++)
      pile[i * SK + k] = k == 0 ? 0.9f : 0.1f * (float) ((i + k) % 3);
  ps_proto_sinkhorn (q, pile, SN, SK, 0.05f, 200);
  double col0 = 0;
  for (int i = 0; i < SN; i++)
    col0 += q[i * SK];
  g_assert_cmpfloat (fabs (col0 - (double) SN / SK), <, 1e-2);

  /* Class mask and top-k: only allowed entries, at most k, rows sum 1. */
  int y[SN], plab[SK];
  for (int i = 0; i < SN; i++)
    y[i] = i % 2;
  for (int k = 0; k < SK; k++)
    plab[k] = k / 4;
  guint8 mask[SN * SK];
  ps_proto_class_mask (mask, y, plab, SN, SK);
  ps_proto_sinkhorn (q, sim, SN, SK, 0.05f, 3);
  float before[SN * SK];
  memcpy (before, q, sizeof q);
  ps_proto_mask_topk (q, mask, SN, SK, 2);
  for (int i = 0; i < SN; i++)
    {
      int nz = 0;
      double r = 0;
      float kept_min = INFINITY, dropped_max = 0;
      for (int k = 0; k < SK; k++)
        {
          float v = q[i * SK + k];
          if (v > 0)
            {
              nz++;
              g_assert_cmpint (plab[k], ==, y[i]);
              kept_min = MIN (kept_min, before[i * SK + k]);
            }
          else if (mask[i * SK + k])
            dropped_max = MAX (dropped_max, before[i * SK + k]);
          r += v;
        }
      g_assert_cmpint (nz, <=, 2);
      g_assert_cmpint (nz, >=, 1);
      g_assert_cmpfloat (kept_min, >=, dropped_max);
      g_assert_cmpfloat (fabs (r - 1.0), <, 1e-5);
    }
}

static void
test_ema_unit (void)
{
  enum { EN = 30, EK = 6, EE = 5 };
  float z[EN * EE], pr[EK * EE], sim[EN * EK], w[EN * EK], norms[EK];
  fill (pr, EK * EE, 3, 1.f);
  ps_proto_normalize_rows (pr, EK, EE);
  float unused_before[EE];
  memcpy (unused_before, pr + 5 * EE, sizeof unused_before);
  for (int round = 0; round < 20; round++)
    {
      fill (z, EN * EE, 100 + round, 1.f);
      ps_proto_normalize_rows (z, EN, EE);
      ps_proto_similarity (sim, z, pr, EN, EK, EE, PS_SIM_COSINE);
      ps_proto_assign_softmax (w, sim, EN, EK, 0.1f);
      /* Prototype 5 receives no mass at all. */
      for (int i = 0; i < EN; i++)
        w[i * EK + 5] = 0.f;
      ps_proto_ema_update (pr, norms, NULL, w, z, EN, EK, EE, 0.9f);
      for (int k = 0; k < EK; k++)
        {
          double n2 = 0;
          for (int j = 0; j < EE; j++)
            n2 += (double) pr[k * EE + j] * pr[k * EE + j];
          g_assert_cmpfloat (fabs (sqrt (n2) - 1.0), <, 1e-5);
        }
    }
  for (int j = 0; j < EE; j++)
    g_assert_cmpfloat (fabsf (pr[5 * EE + j] - unused_before[j]), <, 1e-6f);
  /* The EMA pulls a prototype toward the mean of its samples. */
  float one[EE] = { 1, 0, 0, 0, 0 }, p0[EE] = { 0, 1, 0, 0, 0 }, wone[1] = { 1.f };
  for (int t = 0; t < 50; t++)
    ps_proto_ema_update (p0, NULL, NULL, wone, one, 1, 1, EE, 0.9f);
  g_assert_cmpfloat (p0[0], >, 0.99f);
}

/* ---- OOD scores on hand-computed cases ----------------------------------- */

static void
test_ood_scores (void)
{
  /* KNN: bank on the axes; the 2nd nearest of (1, 0) is at 90 degrees. */
  float bank[4 * 2] = { 1, 0, 0, 1, -1, 0, 0, -1 };
  float q[2 * 2] = { 2, 0, 1, 1 };
  float s[2];
  ps_ood_knn_score (s, q, 2, bank, 4, 2, 1);
  g_assert_cmpfloat (fabsf (s[0]), <, 1e-6f);
  g_assert_cmpfloat (fabsf (s[1] - sqrtf (2.f - sqrtf (2.f))), <, 1e-5f);
  ps_ood_knn_score (s, q, 2, bank, 4, 2, 2);
  g_assert_cmpfloat (fabsf (s[0] - sqrtf (2.f)), <, 1e-5f);

  /* Prototype distance. */
  float pr[2 * 2] = { 1, 0, 0, 3 };
  ps_ood_proto_score (s, q, 2, pr, 2, 2, PS_SIM_NEG_SQEUCLID);
  g_assert_cmpfloat (fabsf (s[0] - 1.f), <, 1e-5f);      /* |(2,0)-(1,0)|^2 */
  g_assert_cmpfloat (fabsf (s[1] - 1.f), <, 1e-5f);      /* |(1,1)-(1,0)|^2 */
  ps_ood_proto_score (s, q, 2, pr, 2, 2, PS_SIM_COSINE);
  g_assert_cmpfloat (fabsf (s[0]), <, 1e-6f);
  g_assert_cmpfloat (fabsf (s[1] - (1.f - sqrtf (0.5f))), <, 1e-5f);

  /* MSP and energy. */
  float logits[2 * 3] = { 0, 0, 0, 10, 0, 0 };
  ps_ood_msp_score (s, logits, 2, 3);
  g_assert_cmpfloat (fabsf (s[0] + 1.f / 3.f), <, 1e-6f);
  g_assert_cmpfloat (s[1], <, s[0]);
  ps_ood_energy_score (s, logits, 2, 3, 1.f);
  g_assert_cmpfloat (fabsf (s[0] + logf (3.f)), <, 1e-5f);
  g_assert_cmpfloat (fabsf (s[1] + (10.f + logf (1.f + 2.f * expf (-10.f)))), <, 1e-4f);

  /* Mahalanobis: two classes at (+-2, 0) with variance 4 along x and 1
   * along y (shared); a point at (2, 1) has distance 1 to class 0 and a
   * point at (0, 0) distance 1 ((2^2) / 4) to both. */
  float feat[8 * 2];
  int y[8];
  float dx[4] = { -2, 2, -2, 2 }, dy[4] = { 1, 1, -1, -1 };
  for (int i = 0; i < 8; i++)
    {
      y[i] = i / 4;
      feat[i * 2 + 0] = (y[i] == 0 ? 2.f : -2.f) + dx[i % 4];
      feat[i * 2 + 1] = dy[i % 4];
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (PsMahalanobis) mh = ps_mahalanobis_fit (feat, y, 8, 2, 2, 0.0, &error);
  g_assert_no_error (error);
  float t[3 * 2] = { 2, 1, 0, 0, 8, 0 };
  float ms[3];
  ps_mahalanobis_score (mh, ms, t, 3);
  g_assert_cmpfloat (fabsf (ms[0] - 1.f), <, 1e-4f);
  g_assert_cmpfloat (fabsf (ms[1] - 1.f), <, 1e-4f);
  g_assert_cmpfloat (fabsf (ms[2] - 9.f), <, 1e-3f);   /* (8 - 2)^2 / 4 */
  /* A class without samples is refused. */
  int y_bad[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
  g_assert_null (ps_mahalanobis_fit (feat, y_bad, 8, 2, 2, 0.0, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
}

/* ---- Methods ---------------------------------------------------------------- */

static void
learns (const char *id, const char * const *sets)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find (id);
  gpointer model = create (id, ds, 1, sets);
  double before = metric (m, model, "test_acc");
  double t0 = ps_now ();
  train (m, model, m->total_steps (model));
  double after = metric (m, model, "test_acc");
  g_test_message ("%s on digits: test acc %.3f untrained, %.3f trained (%.2f s)", id, before, after,
                  ps_now () - t0);
  g_assert_cmpfloat (before, <, 0.9);
  g_assert_cmpfloat (after, >, 0.93);
  m->free (model);
}

static void
test_protonet_learns (void)
{
  const char *sets[] = { "epochs=10", NULL };
  learns ("protonet", sets);
  const char *episodic[] = { "epochs=10", "mode=episodic", "n_way=5", "n_shot=5", "n_query=10", NULL };
  learns ("protonet", episodic);
}

static void
test_palm_learns (void)
{
  const char *sets[] = { "epochs=10", NULL };
  learns ("palm", sets);
}

/* PALM with K = 6 against K = 1 on digits with 7, 8, 9 held out, as the
 * mean over five seeds.  The digits test split has ~107 OOD and ~250 ID
 * rows, so single runs swing by a few AUROC points.  Measured while
 * writing this test (30 epochs, proto_momentum 0.9): seeds 0-4 gave K = 6
 * the higher mean AUROC on every score but KNN (proto 0.966 vs 0.954),
 * seeds 10-14 gave K = 1 the higher one on proto and KNN (0.953 vs 0.949).
 * "K = 6 at least K = 1" is therefore NOT reliably true at this scale, and
 * this test does not claim it: it asserts that both learn informative
 * scores and that K = 6 is not clearly worse (within 0.02), and prints the
 * numbers. */
static void
test_palm_ood_k (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("palm");
  const char *scores[] = { "auroc_proto", "auroc_knn", "auroc_mahalanobis", "auroc_msp",
                           "auroc_energy", "fpr95_proto", "fpr95_knn" };
  double mean[2][G_N_ELEMENTS (scores)] = { { 0 } };
  double untrained = 0;
  const int seeds = 5;
  for (int ki = 0; ki < 2; ki++)
    for (int seed = 0; seed < seeds; seed++)
      {
        const char *sets[] = { "epochs=30", "ood_classes=7,8,9", ki ? "n_protos=6" : "n_protos=1", NULL };
        gpointer model = create ("palm", ds, seed, sets);
        untrained += metric (m, model, "auroc_proto") / (2 * seeds);
        train (m, model, m->total_steps (model));
        g_autoptr (PsMetrics) mt = m->evaluate (model);
        for (guint s = 0; s < G_N_ELEMENTS (scores); s++)
          {
            double v = NAN;
            g_assert_true (ps_metrics_get (mt, scores[s], &v));
            g_assert_true (isfinite (v));
            mean[ki][s] += v / seeds;
          }
        /* Each score's AUROC against the held-out classes together is the
         * count-weighted mean of its AUROCs against each class alone, so
         * it lies between the per-class extremes. */
        for (guint s = 0; s < 5; s++)
          {
            double all, lo = 1, hi = 0;
            g_assert_true (ps_metrics_get (mt, scores[s], &all));
            for (int c = 7; c <= 9; c++)
              {
                g_autofree char *a = g_strdup_printf ("%s_c%d", scores[s], c);
                g_autofree char *f = g_strdup_printf ("fpr95%s_c%d", scores[s] + 5, c);
                double v = NAN, fv = NAN;
                g_assert_true (ps_metrics_get (mt, a, &v));
                g_assert_true (ps_metrics_get (mt, f, &fv));
                g_assert_true (v >= 0 && v <= 1 && fv >= 0 && fv <= 1);
                lo = MIN (lo, v);
                hi = MAX (hi, v);
              }
            g_assert_cmpfloat (all, >=, lo - 1e-9);
            g_assert_cmpfloat (all, <=, hi + 1e-9);
          }
        m->free (model);
      }
  for (guint s = 0; s < G_N_ELEMENTS (scores); s++)
    g_test_message ("digits 7,8,9 held out, mean of %d seeds: %s K=1 %.3f, K=6 %.3f", seeds,
                    scores[s], mean[0][s], mean[1][s]);
  g_test_message ("untrained auroc_proto (mean) %.3f", untrained);
  g_assert_cmpfloat (untrained, <, 0.85);
  g_assert_cmpfloat (mean[0][0], >, 0.92);
  g_assert_cmpfloat (mean[1][0], >, 0.92);
  g_assert_cmpfloat (mean[1][0], >, mean[0][0] - 0.02);
}

static void
resume_exact (const char *id, const char * const *sets)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find (id);
  gpointer straight = create (id, ds, 3, sets);
  guint64 total = m->total_steps (straight);
  train (m, straight, total);
  gpointer first = create (id, ds, 3, sets);
  guint64 half = total / 2 + 3;
  train (m, first, half);
  g_autoptr (GBytes) ck = m->save (first);
  m->free (first);
  gpointer resumed = create (id, ds, 3, sets);
  g_autoptr (GError) error = NULL;
  g_assert_true (m->load (resumed, ck, &error));
  g_assert_no_error (error);
  train (m, resumed, total - half);
  g_autoptr (GBytes) s1 = m->save (straight), s2 = m->save (resumed);
  if (!g_bytes_equal (s1, s2))
    {
      gsize n1, n2;
      const guint8 *a = g_bytes_get_data (s1, &n1), *b = g_bytes_get_data (s2, &n2);
      gsize i = 0;
      while (i < MIN (n1, n2) && a[i] == b[i])
        i++;
      g_test_message ("%s: checkpoints differ at byte %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                      " / %" G_GSIZE_FORMAT, id, i, n1, n2);
    }
  g_assert_true (g_bytes_equal (s1, s2));
  /* A different seed gives a different run (the check is not vacuous). */
  gpointer other = create (id, ds, 4, sets);
  train (m, other, total);
  g_autoptr (GBytes) s3 = m->save (other);
  g_assert_false (g_bytes_equal (s1, s3));
  /* Truncated and foreign blobs are refused. */
  g_autoptr (GBytes) cut = g_bytes_new_from_bytes (ck, 0, g_bytes_get_size (ck) - 7);
  g_assert_false (m->load (resumed, cut, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  g_clear_error (&error);
  g_autoptr (GBytes) junk = g_bytes_new_static ("not a checkpoint at all", 23);
  g_assert_false (m->load (resumed, junk, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  m->free (straight);
  m->free (resumed);
  m->free (other);
}

static void
test_resume (void)
{
  const char *palm[] = { "epochs=2", "batch_size=50", "ood_classes=8,9", NULL };
  resume_exact ("palm", palm);
  const char *episodic[] = { "epochs=2", "mode=episodic", "n_shot=3", "n_query=5", NULL };
  resume_exact ("protonet", episodic);
}

static void
test_snapshot_explain (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("palm");
  const char *sets[] = { "epochs=5", "ood_classes=8,9", "n_protos=3", "ood_score=knn", NULL };
  gpointer model = create ("palm", ds, 0, sets);
  train (m, model, m->total_steps (model));
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  const char *kinds[] = { "sample_index", "labels", "embedding", "predictions", "confidence",
                          "scores", "score_name", "prototypes", "prototype_labels", "assignments",
                          "ood" };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    g_assert_nonnull (find_kind (snap, kinds[i]));
  PsArray *pr = find_kind (snap, "prototypes");
  g_assert_cmpuint (pr->shape[0], ==, 8 * 3);
  const float *p = ps_array_data (pr, NULL);
  for (gsize k = 0; k < pr->shape[0]; k++)
    {
      double n2 = 0;
      for (gsize j = 0; j < pr->shape[1]; j++)
        n2 += (double) p[k * pr->shape[1] + j] * p[k * pr->shape[1] + j];
      g_assert_cmpfloat (fabs (sqrt (n2) - 1.0), <, 1e-4);
    }
  PsArray *as = find_kind (snap, "assignments");
  g_assert_cmpuint (as->shape[0], ==, ds->n);
  g_assert_cmpuint (as->shape[1], ==, 24);
  PsArray *nm = find_kind (snap, "score_name");
  gsize len;
  const char *name = ps_array_data (nm, &len);
  g_assert_cmpmem (name, len, "ood_knn", 7);
  /* OOD rows score higher than ID rows on average. */
  const float *sc = ps_array_data (find_kind (snap, "scores"), NULL);
  const guint8 *ood = ps_array_data (find_kind (snap, "ood"), NULL);
  double mi = 0, mo = 0;
  int ni = 0, no = 0;
  for (guint i = 0; i < ds->n; i++)
    if (ood[i])
      mo += sc[i], no++;
    else
      mi += sc[i], ni++;
  g_assert_cmpint (no, >, 300);
  g_assert_cmpfloat (mo / no, >, mi / ni);

  /* Explain: by prototypes, strongest first, the nearest of the sample's
   * predicted class agreeing with the prediction for most samples. */
  int agree = 0;
  for (guint s = 0; s < 40; s++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PsExplanation) ex = m->explain (model, s * 17, &error);
      g_assert_no_error (error);
      g_assert_true (ex->by_prototypes);
      g_assert_cmpuint (ex->evidence->len, ==, 8);
      g_assert_true (isfinite (ex->ood_score));
      for (guint i = 1; i < ex->evidence->len; i++)
        g_assert_cmpfloat (g_array_index (ex->evidence, PsEvidence, i - 1).similarity, >=,
                           g_array_index (ex->evidence, PsEvidence, i).similarity);
      agree += g_array_index (ex->evidence, PsEvidence, 0).cls == ex->predicted;
    }
  g_assert_cmpint (agree, >=, 34);
  g_autoptr (GError) error = NULL;
  g_assert_null (m->explain (model, 100000, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  m->free (model);

  /* Bad set-ups are refused with a parameter error. */
  const char *bad[] = { "ood_classes=3,x", "ood_classes=12", "ood_classes=0,1,2,3,4,5,6,7,8",
                        "spec=64-32r-16", "spec=10-16u" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (PsParams) pp = ps_method_default_params (m);
      g_assert_true (ps_params_set_string (pp, bad[i], NULL));
      g_autoptr (GError) err = NULL;
      g_assert_null (m->create (m, pp, ds, 0, &err));
      g_assert_error (err, PS_ERROR, PS_ERROR_PARAM);
    }
}

/* The unlabelled-ID variant (no class mask) still groups the classes: its
 * prototypes, labelled afterwards by majority vote, classify well above
 * what the untrained network's votes give. */
static void
test_palm_unlabelled (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("palm");
  const char *sets[] = { "epochs=30", "unlabelled=true", "n_protos=6", NULL };
  gpointer model = create ("palm", ds, 2, sets);
  double before = metric (m, model, "test_acc");
  train (m, model, m->total_steps (model));
  double after = metric (m, model, "test_acc");
  g_test_message ("unlabelled PALM on digits: vote accuracy %.3f untrained, %.3f trained", before, after);
  g_assert_cmpfloat (before, <, 0.5);
  g_assert_cmpfloat (after, >, 0.7);
  m->free (model);
}

static void
test_protonet_snapshot_explain (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("protonet");
  const char *sets[] = { "epochs=8", "ood_classes=9", "ood_score=mahalanobis", NULL };
  gpointer model = create ("protonet", ds, 0, sets);
  train (m, model, m->total_steps (model));
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  PsArray *pr = find_kind (snap, "prototypes"), *pl = find_kind (snap, "prototype_labels");
  g_assert_nonnull (pr);
  g_assert_cmpuint (pr->shape[0], ==, 9);
  const gint32 *lab = ps_array_data (pl, NULL);
  for (int c = 0; c < 9; c++)
    g_assert_cmpint (lab[c], ==, c);   /* class 9 is held out: no prototype */
  PsArray *as = find_kind (snap, "assignments");
  const float *w = ps_array_data (as, NULL);
  double row = 0;
  for (int c = 0; c < 9; c++)
    row += w[c];
  g_assert_cmpfloat (fabs (row - 1.0), <, 1e-4);
  int correct = 0, total = 0;
  for (guint s = 0; s < ds->n; s += 23)
    {
      if (ds->y[s] == 9)
        continue;
      g_autoptr (GError) error = NULL;
      g_autoptr (PsExplanation) ex = m->explain (model, s, &error);
      g_assert_no_error (error);
      g_assert_true (ex->by_prototypes);
      g_assert_cmpuint (ex->evidence->len, ==, 9);
      g_assert_cmpint (g_array_index (ex->evidence, PsEvidence, 0).cls, ==, ex->predicted);
      correct += ex->predicted == ex->true_label;
      total++;
    }
  g_assert_cmpfloat ((double) correct / total, >, 0.9);
  m->free (model);
}

/* Moons in distribution against a uniform box: every score separates them
 * after training, and the snapshot carries 2-D points. */
static void
test_moons_box (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_builtin ("moons", 600, 0.1, 0, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("palm");
  const char *sets[] = { "epochs=30", "batch_size=64", "ood_box=500", "embed_dim=3", "n_protos=3",
                         "lr=0.005", NULL };
  gpointer model = create ("palm", ds, 0, sets);
  double before = metric (m, model, "test_acc");
  train (m, model, m->total_steps (model));
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double acc = NAN, knn = NAN, proto = NAN, maha = NAN;
  ps_metrics_get (mt, "test_acc", &acc);
  ps_metrics_get (mt, "auroc_knn", &knn);
  ps_metrics_get (mt, "auroc_proto", &proto);
  ps_metrics_get (mt, "auroc_mahalanobis", &maha);
  /* A unit-sphere embedding of 2-D data maps most of the box onto the
   * circle the moons occupy, so proto and KNN stay weak (~0.65-0.7 AUROC);
   * Mahalanobis on the 64-d features is the score that separates. */
  g_test_message ("moons vs box: test_acc %.3f (untrained %.3f), auroc proto %.3f knn %.3f "
                  "mahalanobis %.3f", acc, before, proto, knn, maha);
  g_assert_cmpfloat (before, <, 0.9);
  g_assert_cmpfloat (acc, >, 0.95);
  g_assert_cmpfloat (maha, >, 0.85);
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  g_assert_nonnull (find_kind (snap, "points"));
  PsArray *df = find_kind (snap, "decision_field"), *sf = find_kind (snap, "score_field");
  g_assert_nonnull (df);
  g_assert_nonnull (sf);
  g_assert_nonnull (find_kind (snap, "field_extent"));
  g_assert_cmpuint (df->shape[2], ==, 2);
  g_assert_cmpuint (sf->shape[0], ==, df->shape[0]);
  g_assert_true (ps_all_finite (ps_array_data (sf, NULL), ps_array_n_elements (sf)));
  m->free (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ps_blas_set_threads (1);
  g_test_add_func ("/proto/grad/similarity", test_grad_similarity);
  g_test_add_func ("/proto/grad/ce", test_grad_ce);
  g_test_add_func ("/proto/grad/palm", test_grad_palm);
  g_test_add_func ("/proto/sinkhorn/marginals", test_sinkhorn_marginals);
  g_test_add_func ("/proto/ema/unit", test_ema_unit);
  g_test_add_func ("/proto/ood/scores", test_ood_scores);
  g_test_add_func ("/proto/protonet/learns-digits", test_protonet_learns);
  g_test_add_func ("/proto/palm/learns-digits", test_palm_learns);
  g_test_add_func ("/proto/palm/ood-k6-vs-k1", test_palm_ood_k);
  g_test_add_func ("/proto/resume-exact", test_resume);
  g_test_add_func ("/proto/palm/snapshot-explain", test_snapshot_explain);
  g_test_add_func ("/proto/palm/moons-box", test_moons_box);
  g_test_add_func ("/proto/palm/unlabelled", test_palm_unlabelled);
  g_test_add_func ("/proto/protonet/snapshot-explain", test_protonet_snapshot_explain);
  return g_test_run ();
}
