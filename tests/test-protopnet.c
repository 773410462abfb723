/* test-protopnet.c: the part-prototype machinery and the protopnet and
 * stprotopnet methods on the 8x8 digits: finite-difference gradients of
 * the prototype layer with cluster/separation costs and of the ST bank
 * losses, push really projects, the heatmap maximum lies in the reported
 * box, class points sum to the logits, a trained network clears a bar an
 * untrained one fails, heatmaps beat random attribution on the deletion
 * curve, snapshot kinds, and bit-identical resume from checkpoints taken in
 * the joint and in the push stage. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-protopnet.h"
#include "ps-because.h"
#include "proto-test-util.h"

/* ---- Finite differences ------------------------------------------------ */

typedef double (*LossFn) (gpointer ctx, float *x, float *grad);

static void
check_grad (const char *what, LossFn fn, gpointer ctx, float *x, int n)
{
  g_autofree float *g = g_new0 (float, n);
  fn (ctx, x, g);
  double gmax = 0;
  for (int i = 0; i < n; i++)
    gmax = MAX (gmax, fabs (g[i]));
  g_assert_cmpfloat (gmax, >, 1e-6);
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
  g_test_message ("%s: worst relative gradient error %.2e", what, worst);
  g_assert_cmpfloat (worst, <, 2e-2);
}

enum { B = 3, D = 4, HW = 5, K = 6, C = 3 };

typedef struct
{
  float feat[B * D * HW], protos[K * D], a[B * K];
  int y[B], pclass[K], kinds[K];
  gboolean wrt_protos;
} LayerCtx;

/* L = sum a * sim + 0.8 cluster - 0.08 separation over both banks. */
static double
layer_loss (gpointer p, float *x, float *grad)
{
  LayerCtx *c = p;
  (void) x;   /* x aliases feat or protos inside c */
  float sim[B * K], mind[B * K];
  int arg[B * K];
  ps_ppn_forward (sim, mind, arg, c->feat, c->protos, B, K, D, HW, PS_PPN_EPS);
  double L = 0;
  for (int i = 0; i < B * K; i++)
    L += c->a[i] * sim[i];
  float dmind[B * K] = { 0 };
  for (int bank = 0; bank < 2; bank++)
    {
      float cl, se;
      ps_ppn_cluster_sep (grad ? dmind : NULL, &cl, &se, mind, c->y, c->pclass, c->kinds, bank,
                          B, K, 0.8f, 0.08f);
      L += 0.8 * cl - 0.08 * se;
    }
  if (grad)
    {
      ps_ppn_sim_backward (dmind, c->a, mind, B * K, PS_PPN_EPS);
      ps_ppn_backward (c->wrt_protos ? NULL : grad, c->wrt_protos ? grad : NULL, dmind, c->feat,
                       c->protos, arg, B, K, D, HW);
    }
  return L;
}

static void
test_layer_gradient (void)
{
  LayerCtx c;
  PsRng r;
  ps_rng_init (&r, 3, 1);
  ps_rng_fill_uniform (&r, c.feat, G_N_ELEMENTS (c.feat), 0, 1);
  ps_rng_fill_uniform (&r, c.protos, G_N_ELEMENTS (c.protos), 0, 1);
  ps_rng_fill_normal (&r, c.a, G_N_ELEMENTS (c.a), 0, 1);
  for (int b = 0; b < B; b++)
    c.y[b] = b % C;
  for (int k = 0; k < K; k++)
    {
      c.pclass[k] = k % C;
      c.kinds[k] = k / C;
    }
  c.wrt_protos = FALSE;
  check_grad ("prototype layer d/dfeat", layer_loss, &c, c.feat, B * D * HW);
  c.wrt_protos = TRUE;
  check_grad ("prototype layer d/dprotos", layer_loss, &c, c.protos, K * D);
}

typedef struct
{
  float protos[K * D];
  int pclass[K], kinds[K];
} PairCtx;

static double
pair_loss (gpointer p, float *x, float *grad)
{
  PairCtx *c = p;
  return ps_ppn_pair_cosine_loss (grad, x, c->pclass, c->kinds, 0, K, D, C, +1.0f, 0.7f)
         + ps_ppn_pair_cosine_loss (grad, x, c->pclass, c->kinds, 1, K, D, C, -1.0f, 0.3f);
}

static void
test_pair_gradient (void)
{
  PairCtx c;
  PsRng r;
  ps_rng_init (&r, 4, 1);
  ps_rng_fill_normal (&r, c.protos, K * D, 0, 1);
  for (int k = 0; k < K; k++)
    {
      c.pclass[k] = k % C;
      c.kinds[k] = k / C;
    }
  check_grad ("ST bank losses", pair_loss, &c, c.protos, K * D);
}

static void
test_last_layer_and_upsample (void)
{
  /* Last layer backward against finite differences of a linear map is
   * exact, so check it on one coordinate by hand. */
  float sim[2 * 3] = { 1, 2, 3, 4, 5, 6 }, last[2 * 3] = { 1, 0, -1, 0.5f, 0.5f, 0.5f };
  float logits[4];
  ps_ppn_last_forward (logits, sim, last, 2, 3, 2);
  g_assert_cmpfloat_with_epsilon (logits[0], -2.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (logits[3], 7.5, 1e-6);
  /* Upsampling a constant map gives the constant; the maximum cell maps
   * onto the pixels at its centre. */
  float map[4] = { 0, 0, 0, 1 }, up[64];
  ps_ppn_upsample (up, map, 2, 2, 8, 8);
  int best = 0;
  for (int i = 1; i < 64; i++)
    if (up[i] > up[best])
      best = i;
  g_assert_cmpint (best / 8, >=, 4);
  g_assert_cmpint (best % 8, >=, 4);
}

/* ---- "Because": transforms and importances ---------------------------- */

/* Two fake prototypes: k = 0 responds to total ink, k = 1 to ink in the
 * top-left quarter only. */
static void
ink_sims (gpointer user, const float *x, int n, float *sims)
{
  for (int i = 0; i < n; i++)
    {
      double all = 0, tl = 0;
      for (int y = 0; y < 8; y++)
        for (int xx = 0; xx < 8; xx++)
          {
            float v = x[(gsize) i * 64 + y * 8 + xx];
            all += v;
            if (y < 4 && xx < 4)
              tl += v;
          }
      sims[i * 2 + 0] = (float) all;
      sims[i * 2 + 1] = (float) tl;
    }
}

static void
test_because (void)
{
  float img[64] = { 0 }, out[64];
  for (int y = 1; y < 4; y++)
    for (int x = 1; x < 4; x++)
      img[y * 8 + x] = 1.0f;   /* a 3x3 square in the top-left quarter */
  PsRng rng;
  ps_rng_init (&rng, 1, 1);
  ps_because_transform (out, img, 8, 8, PS_BECAUSE_EROSION, &rng);
  float sum = 0;
  for (int i = 0; i < 64; i++)
    {
      g_assert_cmpfloat (out[i], <=, img[i]);
      sum += out[i];
    }
  g_assert_cmpfloat (sum, ==, 1.0f);   /* only the centre survives a 3x3 erosion */
  ps_because_transform (out, img, 8, 8, PS_BECAUSE_SHIFT, &rng);
  g_assert_cmpfloat (out[4 * 8 + 4], ==, 1.0f);
  g_assert_cmpfloat (out[1 * 8 + 1], ==, 0.0f);
  float delta[2 * PS_BECAUSE_N_KINDS];
  ps_because_local (delta, ink_sims, NULL, img, 8, 8, 2, 0);
  /* Erosion removes ink: both similarities drop (positive importance);
   * brightness adds ink; a shift moves ink out of the quarter but keeps
   * the total. */
  g_assert_cmpfloat (delta[0 * PS_BECAUSE_N_KINDS + PS_BECAUSE_EROSION], >, 0);
  g_assert_cmpfloat (delta[0 * PS_BECAUSE_N_KINDS + PS_BECAUSE_BRIGHTNESS], <, 0);
  g_assert_cmpfloat (fabsf (delta[0 * PS_BECAUSE_N_KINDS + PS_BECAUSE_SHIFT]), <, 1e-5f);
  g_assert_cmpfloat (delta[1 * PS_BECAUSE_N_KINDS + PS_BECAUSE_SHIFT], >, 0);
  /* Global: with one image per prototype and weight 1 it equals the local. */
  int top[2] = { 0, 0 };
  float topw[2] = { 1, 1 }, imp[2 * PS_BECAUSE_N_KINDS];
  ps_because_global (imp, ink_sims, NULL, img, top, topw, 1, 8, 8, 2, 0);
  for (int i = 0; i < 2 * PS_BECAUSE_N_KINDS; i++)
    if (i % PS_BECAUSE_N_KINDS != PS_BECAUSE_NOISE)
      g_assert_cmpfloat (fabsf (imp[i] - delta[i]), <, 1e-5f);
}

/* ---- The methods on the digits -------------------------------------------- */

static PsDataset *
digits (void)
{
  static PsDataset *ds;
  if (ds == NULL)
    {
      g_autoptr (GError) error = NULL;
      ds = ps_dataset_load_builtin ("digits", 0, 0, 0, &error);
      g_assert_no_error (error);
      ps_dataset_assign_split (ds, 0.1, 0.2, 0);
    }
  return ds;
}

static PsParams *
params_for (const PsMethod *m, const char *const *sets)
{
  PsParams *p = ps_method_default_params (m);
  for (int i = 0; sets && sets[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (ps_params_set_string (p, sets[i], &error));
      g_assert_no_error (error);
    }
  return p;
}

static void
run_steps (const PsMethod *m, gpointer model, guint64 upto)
{
  gint cancel = 0;
  for (guint64 s = 0; s < upto; s++)
    {
      PsStepInfo info = { .step = s, .cancel = &cancel };
      g_autoptr (GError) error = NULL;
      g_assert_true (m->step (model, &info, &error));
      g_assert_no_error (error);
      g_assert_true (isfinite (info.loss));
      if (info.done)
        break;
    }
}

typedef struct
{
  const PsMethod *m;
  gpointer model;
} Trained;

static Trained *
trained (const char *id)
{
  static Trained t[2];
  int i = g_str_equal (id, "protopnet") ? 0 : 1;
  if (t[i].model == NULL)
    {
      t[i].m = ps_method_find (id);
      g_assert_nonnull (t[i].m);
      g_autoptr (PsParams) p = params_for (t[i].m, NULL);
      g_autoptr (GError) error = NULL;
      t[i].model = t[i].m->create (t[i].m, p, digits (), 7, &error);
      g_assert_no_error (error);
      run_steps (t[i].m, t[i].model, t[i].m->total_steps (t[i].model));
    }
  return &t[i];
}

static double
metric (PsMetrics *mt, const char *name)
{
  double v = NAN;
  g_assert_true (ps_metrics_get (mt, name, &v));
  return v;
}

static void
test_accuracy_bar (void)
{
  const PsMethod *m = ps_method_find ("protopnet");
  g_autoptr (PsParams) p = params_for (m, NULL);
  g_autoptr (GError) error = NULL;
  gpointer fresh = m->create (m, p, digits (), 7, &error);
  g_assert_no_error (error);
  g_autoptr (PsMetrics) before = m->evaluate (fresh);
  m->free (fresh);
  Trained *t = trained ("protopnet");
  g_autoptr (PsMetrics) after = t->m->evaluate (t->model);
  double a0 = metric (before, "test_acc"), a1 = metric (after, "test_acc");
  g_test_message ("digits: untrained %.3f, trained %.3f, after push %.3f, purity %.3f", a0, a1,
                  metric (after, "test_acc_push"), metric (after, "purity"));
  g_assert_cmpfloat (a0, <, 0.5);
  g_assert_cmpfloat (a1, >=, 0.85);
  g_assert_cmpfloat (metric (after, "purity"), >=, 0.7);
  /* The real heatmaps must destroy the evidence faster than random pixels,
   * on average over three seeds: on the 8x8 digits a 4x4 map upsampled is
   * a coarse attribution, and one seed alone beats random in about 7 of
   * 12 runs (docs/RESULTS.md, digits table), so one seed is a coin toss
   * with a bias, not a check. */
  double real = metric (after, "deletion_auc"), rnd = metric (after, "deletion_auc_random");
  for (guint64 seed = 8; seed <= 9; seed++)
    {
      gpointer other = m->create (m, p, digits (), seed, &error);
      g_assert_no_error (error);
      run_steps (m, other, m->total_steps (other));
      g_autoptr (PsMetrics) mo = m->evaluate (other);
      real += metric (mo, "deletion_auc");
      rnd += metric (mo, "deletion_auc_random");
      m->free (other);
    }
  g_test_message ("deletion AUC over seeds 7-9: heatmap %.3f, random %.3f", real / 3, rnd / 3);
  g_assert_cmpfloat (real, <, rnd);
}

static void
test_push_projects (void)
{
  Trained *t = trained ("protopnet");
  PsPpnModel *pm = t->model;
  PsDataset *ds = digits ();
  const int Kp = ps_ppn_model_n_protos (pm), Dp = ps_ppn_model_depth (pm);
  int fh, fw;
  ps_ppn_model_map_size (pm, &fh, &fw);
  const int HWp = fh * fw;
  const int *row = ps_ppn_model_push_row (pm), *pos = ps_ppn_model_push_pos (pm);
  const int *pc = ps_ppn_model_proto_class (pm);
  const float *protos = ps_ppn_model_protos (pm);
  g_autofree float *feat = g_new (float, (gsize) Dp * HWp);
  for (int k = 0; k < Kp; k++)
    {
      g_assert_cmpint (row[k], >=, 0);
      g_assert_cmpint (pos[k], >=, 0);
      g_assert_cmpint (pos[k], <, HWp);
      g_assert_cmpint (ds->split[row[k]], ==, PS_SPLIT_TRAIN);
      g_assert_cmpint (ds->y[row[k]], ==, pc[k]);
      ps_ppn_model_infer (pm, ds->x + (gsize) row[k] * ds->d, 1, feat, NULL, NULL);
      for (int d = 0; d < Dp; d++)
        g_assert_cmpfloat (protos[(gsize) k * Dp + d], ==, feat[(gsize) d * HWp + pos[k]]);
      /* ... and it is the nearest patch of its class among the training images. */
      float sim[1], mind[1];
      int arg[1];
      ps_ppn_forward (sim, mind, arg, feat, protos + (gsize) k * Dp, 1, 1, Dp, HWp, PS_PPN_EPS);
      g_assert_cmpfloat (mind[0], ==, 0.0f);
    }
}

static const PsArray *
find_array (PsExplanation *ex, const char *kind)
{
  for (guint i = 0; i < ex->arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (ex->arrays, i);
      if (g_str_equal (a->kind, kind))
        return a;
    }
  g_error ("explanation has no array '%s'", kind);
  return NULL;
}

static void
test_explain (void)
{
  Trained *t = trained ("protopnet");
  PsDataset *ds = digits ();
  int checked = 0;
  for (guint s = 0; s < ds->n && checked < 25; s++)
    {
      if (ds->split[s] != PS_SPLIT_TEST)
        continue;
      checked++;
      g_autoptr (GError) error = NULL;
      g_autoptr (PsExplanation) ex = t->m->explain (t->model, s, &error);
      g_assert_no_error (error);
      g_assert_true (ex->by_prototypes);
      g_assert_cmpuint (ex->evidence->len, >, 0);
      const PsArray *heat = find_array (ex, "heatmaps");
      const PsArray *boxes = find_array (ex, "boxes");
      const float *h = ps_array_data (heat, NULL);
      const gint32 *bx = ps_array_data (boxes, NULL);
      g_assert_cmpuint (heat->shape[1], ==, ds->img_h);
      int P = (int) (ds->img_h * ds->img_w), best = 0;
      for (int i = 1; i < P; i++)
        if (h[i] > h[best])
          best = i;
      int by = best / (int) ds->img_w, bxp = best % (int) ds->img_w;
      g_assert_cmpint (by, >=, bx[0]);
      g_assert_cmpint (bxp, >=, bx[1]);
      g_assert_cmpint (by, <=, bx[2]);
      g_assert_cmpint (bxp, <=, bx[3]);
      /* Points per class sum to the logits, and to what the model outputs. */
      const float *pts = ps_array_data (find_array (ex, "class_points"), NULL);
      const float *lg = ps_array_data (find_array (ex, "logits"), NULL);
      float out[64];
      ps_ppn_model_infer (t->model, ds->x + (gsize) s * ds->d, 1, NULL, NULL, out);
      int am = 0;
      for (guint c = 0; c < ds->n_classes; c++)
        {
          g_assert_cmpfloat (fabsf (pts[c] - lg[c]), <, 1e-4f * (1 + fabsf (lg[c])));
          g_assert_cmpfloat (fabsf (pts[c] - out[c]), <, 1e-4f * (1 + fabsf (out[c])));
          if (out[c] > out[am])
            am = (int) c;
        }
      g_assert_cmpint (ex->predicted, ==, am);
      /* The evidence is ordered and is similarity times weight. */
      for (guint i = 0; i < ex->evidence->len; i++)
        {
          PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, i);
          g_assert_cmpfloat (fabsf (e->evidence - e->similarity * e->weight), <, 1e-5f);
          if (i > 0)
            g_assert_cmpfloat (e->evidence, <=, g_array_index (ex->evidence, PsEvidence, i - 1).evidence);
        }
      find_array (ex, "source_images");
      find_array (ex, "heatmaps_random_conv");
      find_array (ex, "heatmaps_random");
      g_assert_cmpuint (find_array (ex, "because_local")->shape[1], ==, PS_BECAUSE_N_KINDS);
    }
  g_assert_cmpint (checked, ==, 25);
}

static void
test_snapshot_and_st (void)
{
  Trained *t = trained ("stprotopnet");
  g_autoptr (PsMetrics) mt = t->m->evaluate (t->model);
  g_test_message ("digits ST: test %.3f (each bank alone: trivial %.3f, support %.3f), "
                  "purity trivial %.3f support %.3f", metric (mt, "test_acc"),
                  metric (mt, "test_acc_trivial"), metric (mt, "test_acc_support"),
                  metric (mt, "purity_trivial"), metric (mt, "purity_support"));
  g_assert_cmpfloat (metric (mt, "test_acc"), >=, 0.85);
  /* Trained on alternating batches, each bank classifies by itself. */
  g_assert_cmpfloat (metric (mt, "test_acc_trivial"), >=, 0.75);
  g_assert_cmpfloat (metric (mt, "test_acc_support"), >=, 0.75);
  g_autoptr (GPtrArray) snap = t->m->snapshot (t->model);
  const char *want[] = { "embedding", "predictions", "prototypes", "prototype_labels",
                         "prototype_kind", "prototype_weight", "prototype_source",
                         "prototype_box", "prototype_images", "prototype_topk",
                         "because_global", "prototype_purity", "prototype_topk_box" };
  for (guint w = 0; w < G_N_ELEMENTS (want); w++)
    {
      const PsArray *found = NULL;
      for (guint i = 0; i < snap->len; i++)
        if (g_str_equal (((PsArray *) g_ptr_array_index (snap, i))->kind, want[w]))
          found = g_ptr_array_index (snap, i);
      g_assert_nonnull (found);
      if (g_str_equal (want[w], "prototype_kind"))
        {
          const gint32 *k = ps_array_data (found, NULL);
          int n0 = 0, n1 = 0;
          for (gsize i = 0; i < found->shape[0]; i++)
            {
              if (k[i] == 0)
                n0++;
              else
                n1++;
            }
          g_assert_cmpint (n0, ==, 30);
          g_assert_cmpint (n1, ==, 30);
        }
      if (g_str_equal (want[w], "prototype_topk_box"))
        proto_check_topk_boxes (snap, 8);
      if (g_str_equal (want[w], "prototype_purity"))
        {
          /* Its mean is the purity metric. */
          const float *pu = ps_array_data (found, NULL);
          double mean = 0;
          for (gsize i = 0; i < found->shape[0]; i++)
            mean += pu[i];
          mean /= found->shape[0];
          g_assert_cmpfloat (fabs (mean - metric (mt, "purity")), <, 1e-5);
        }
    }
}

/* ST-ProtoPNet's alternating schedule: the first joint batch trains the
 * trivial bank alone (its prototypes and last-layer columns move, the
 * support bank's do not); without alternation both move.  Trained on the
 * default schedule, each bank classifies by its own points. */
static void
test_st_alternate (void)
{
  const PsMethod *m = ps_method_find ("stprotopnet");
  for (int alt = 0; alt < 2; alt++)
    {
      const char *sets[] = { "pre_epochs=0", "warm_epochs=0", "max_train=300",
                             alt ? "alternate=true" : "alternate=false", NULL };
      g_autoptr (PsParams) p = params_for (m, sets);
      g_autoptr (GError) error = NULL;
      gpointer a = m->create (m, p, digits (), 4, &error);
      g_assert_no_error (error);
      const int K = ps_ppn_model_n_protos (a), D = ps_ppn_model_depth (a), C = 10;
      const int *kind = ps_ppn_model_proto_kind (a);
      g_autofree float *p0 = g_memdup2 (ps_ppn_model_protos (a), (gsize) K * D * sizeof (float));
      g_autofree float *l0 = g_memdup2 (ps_ppn_model_last (a), (gsize) C * K * sizeof (float));
      run_steps (m, a, 1);
      const float *p1 = ps_ppn_model_protos (a), *l1 = ps_ppn_model_last (a);
      int moved[2] = { 0, 0 }, moved_last[2] = { 0, 0 };
      for (int k = 0; k < K; k++)
        {
          for (int d = 0; d < D; d++)
            moved[kind[k]] += p1[(gsize) k * D + d] != p0[(gsize) k * D + d];
          for (int c = 0; c < C; c++)
            moved_last[kind[k]] += l1[(gsize) c * K + k] != l0[(gsize) c * K + k];
        }
      g_test_message ("alternate=%d: changed prototype entries trivial %d support %d, "
                      "last-layer entries %d / %d", alt, moved[0], moved[1], moved_last[0],
                      moved_last[1]);
      g_assert_cmpint (moved[0], >, K * D / 4);
      g_assert_cmpint (moved_last[0], >, 0);
      if (alt)
        {
          g_assert_cmpint (moved[1], ==, 0);
          g_assert_cmpint (moved_last[1], ==, 0);
        }
      else
        {
          g_assert_cmpint (moved[1], >, K * D / 4);
          g_assert_cmpint (moved_last[1], >, 0);
        }
      m->free (a);
    }
}

/* "This looks like that, because": global importances from two disjoint
 * halves of the training set agree (Spearman), well above the chance level
 * of pairing each prototype with another one. */
static void
test_because_stability (void)
{
  Trained *t = trained ("protopnet");
  double per = NAN, shuf = NAN;
  double st = ps_ppn_because_stability (t->model, 10, &per, &shuf);
  g_test_message ("because stability: per characteristic %.3f (prototypes paired at random "
                  "%.3f), per prototype %.3f", st, shuf, per);
  g_assert_cmpfloat (st, >=, 0.4);
  g_assert_cmpfloat (st, >, shuf + 0.25);
  g_assert_cmpfloat (per, >=, 0.8);
  g_autoptr (PsMetrics) mt = t->m->evaluate (t->model);
  g_assert_cmpfloat (metric (mt, "because_stability"), ==, st);
  /* The rank correlation itself: exact on small cases, ties included. */
  float a[5] = { 1, 2, 3, 4, 5 }, b[5] = { 10, 20, 30, 40, 50 }, c[5] = { 5, 4, 3, 2, 1 };
  float d[4] = { 1, 1, 2, 3 }, e[4] = { 1, 2, 3, 4 };
  g_assert_cmpfloat (fabs (ps_because_spearman (a, b, 5) - 1.0), <, 1e-12);
  g_assert_cmpfloat (fabs (ps_because_spearman (a, c, 5) + 1.0), <, 1e-12);
  /* Ranks 1.5 1.5 3 4 against 1 2 3 4: r = 4.5 / sqrt (4.5 * 5). */
  g_assert_cmpfloat (fabs (ps_because_spearman (d, e, 4) - sqrt (4.5 / 5.0)), <, 1e-12);
  g_assert_true (isnan (ps_because_spearman (d, e, 1)));
}

/* Resume from a checkpoint at `at` gives the same final blob as running on. */
static void
resume_at (double frac_of_stage, const char *stage)
{
  const PsMethod *m = ps_method_find ("stprotopnet");
  const char *sets[] = { "warm_epochs=1", "joint_epochs=1", "last_epochs=1", "max_train=600",
                         NULL };
  g_autoptr (PsParams) p = params_for (m, sets);
  g_autoptr (GError) error = NULL;
  gpointer a = m->create (m, p, digits (), 3, &error);
  g_assert_no_error (error);
  guint64 total = m->total_steps (a), at = 0;
  /* Find the first step of `stage` and go `frac` into it. */
  guint64 first = 0, last = 0;
  gboolean seen = FALSE;
  for (guint64 s = 0; s < total; s++)
    if (g_str_equal (ps_ppn_model_stage (a, s), stage))
      {
        if (!seen)
          first = s;
        seen = TRUE;
        last = s;
      }
  g_assert_true (seen);
  at = first + (guint64) ((last - first) * frac_of_stage);
  run_steps (m, a, at);
  g_autoptr (GBytes) ck = m->save (a);
  gpointer b = m->create (m, p, digits (), 99, &error);   /* another seed: load must override */
  g_assert_no_error (error);
  g_assert_true (m->load (b, ck, &error));
  g_assert_no_error (error);
  run_steps (m, a, total);
  run_steps (m, b, total);
  g_autoptr (GBytes) fa = m->save (a), fb = m->save (b);
  g_assert_true (g_bytes_equal (fa, fb));
  g_autoptr (PsMetrics) ma = m->evaluate (a), mb = m->evaluate (b);
  g_assert_cmpfloat (metric (ma, "test_acc"), ==, metric (mb, "test_acc"));
  m->free (a);
  m->free (b);
}

static void
test_resume_joint (void)
{
  resume_at (0.5, "joint");
}

static void
test_resume_push (void)
{
  resume_at (0.5, "push");
}

/* A mid push projects the prototypes inside joint training, and they stay
 * on those patches for the rest of it while the backbone keeps learning;
 * fails if the prototypes move after the mid push or if it does not
 * project. */
static void
test_mid_push (void)
{
  const PsMethod *m = ps_method_find ("protopnet");
  const char *sets[] = { "pre_epochs=0", "warm_epochs=1", "joint_epochs=2", "mid_push=1",
                         "last_epochs=1", "max_train=600", NULL };
  g_autoptr (PsParams) p = params_for (m, sets);
  g_autoptr (GError) error = NULL;
  gpointer a = m->create (m, p, digits (), 5, &error);
  g_assert_no_error (error);
  PsPpnModel *pm = a;
  guint64 total = m->total_steps (a), mid_end = 0, joint_end = 0;
  for (guint64 s = 1; s < total; s++)
    {
      const char *prev = ps_ppn_model_stage (a, s - 1), *cur = ps_ppn_model_stage (a, s);
      if (mid_end == 0 && g_str_equal (prev, "push") && g_str_equal (cur, "joint"))
        mid_end = s;
      if (g_str_equal (prev, "joint") && g_str_equal (cur, "push"))
        joint_end = s;
    }
  g_assert_cmpuint (mid_end, >, 0);
  g_assert_cmpuint (joint_end, >, mid_end);
  run_steps (m, a, mid_end);
  const int Kp = ps_ppn_model_n_protos (pm), Dp = ps_ppn_model_depth (pm);
  int fh, fw;
  ps_ppn_model_map_size (pm, &fh, &fw);
  const int HWp = fh * fw;
  g_autofree float *after_mid = g_memdup2 (ps_ppn_model_protos (pm), (gsize) Kp * Dp * sizeof (float));
  g_autofree float *feat = g_new (float, (gsize) Dp * HWp);
  PsDataset *ds = digits ();
  for (int k = 0; k < Kp; k++)
    {
      const int row = ps_ppn_model_push_row (pm)[k], pos = ps_ppn_model_push_pos (pm)[k];
      g_assert_cmpint (row, >=, 0);
      ps_ppn_model_infer (pm, ds->x + (gsize) row * ds->d, 1, feat, NULL, NULL);
      for (int d = 0; d < Dp; d++)
        g_assert_cmpfloat (after_mid[(gsize) k * Dp + d], ==, feat[(gsize) d * HWp + pos]);
    }
  /* The backbone learns on; the prototypes do not move. */
  g_autoptr (GBytes) before = m->save (a);
  run_steps (m, a, joint_end - mid_end);   /* run_steps counts steps from here */
  g_autoptr (GBytes) after = m->save (a);
  g_assert_false (g_bytes_equal (before, after));
  g_assert_cmpmem (ps_ppn_model_protos (pm), (gsize) Kp * Dp * sizeof (float), after_mid,
                   (gsize) Kp * Dp * sizeof (float));
  run_steps (m, a, total);
  m->free (a);
}

/* Pruning drops exactly the prototypes with fewer than prune_min of their
 * class among their prune_k nearest training images (each class keeping
 * one), zeroes their last-layer weights through fine-tuning, survives a
 * checkpoint, and the purity of the kept prototypes is not below that of
 * all.  Fails if pruning is skipped, prunes the wrong prototypes or lets
 * fine-tuning revive them. */
static void
test_prune (void)
{
  const PsMethod *m = ps_method_find ("protopnet");
  /* A strict bar (5 of 6) so that some prototypes fall on the digits. */
  const char *sets[] = { "prune_k=6", "prune_min=5", "last_epochs=2", NULL };
  g_autoptr (PsParams) p = params_for (m, sets);
  g_autoptr (GError) error = NULL;
  gpointer a = m->create (m, p, digits (), 7, &error);
  g_assert_no_error (error);
  run_steps (m, a, m->total_steps (a));
  PsPpnModel *pm = a;
  g_autoptr (PsMetrics) mt = m->evaluate (a);
  const int n_pruned = (int) metric (mt, "n_pruned");
  g_test_message ("pruned %d; purity kept %.3f, all %.3f; test acc %.3f", n_pruned,
                  metric (mt, "purity"), metric (mt, "purity_all"), metric (mt, "test_acc"));
  g_assert_cmpint (n_pruned, >, 0);
  g_assert_cmpfloat (metric (mt, "purity"), >=, metric (mt, "purity_all"));
  g_assert_cmpfloat (metric (mt, "test_acc"), >=, 0.8);

  g_autoptr (GPtrArray) snap = m->snapshot (a);
  const PsArray *pr = proto_snap_find (snap, "prototype_pruned"), *tk = proto_snap_find (snap, "prototype_topk");
  const gint32 *pruned = ps_array_data (pr, NULL), *top = ps_array_data (tk, NULL);
  const int K = ps_ppn_model_n_protos (pm), T = (int) tk->shape[1], C = 10;
  const int *pc = ps_ppn_model_proto_class (pm);
  const float *last = ps_ppn_model_last (pm);
  PsDataset *ds = digits ();
  int seen = 0, kept_per_class[10] = { 0 };
  g_assert_cmpint (T, >=, 6);
  for (int k = 0; k < K; k++)
    {
      int hits = 0;
      for (int t = 0; t < 6; t++)
        hits += ds->y[top[k * T + t]] == pc[k];
      if (pruned[k])
        {
          seen++;
          g_assert_cmpint (hits, <, 5);
          for (int c = 0; c < C; c++)
            g_assert_cmpfloat (last[c * K + k], ==, 0.0f);
        }
      else
        kept_per_class[pc[k]]++;
    }
  g_assert_cmpint (seen, ==, n_pruned);
  for (int c = 0; c < C; c++)
    g_assert_cmpint (kept_per_class[c], >, 0);
  /* A kept prototype below the bar must be its class's purest. */
  for (int k = 0; k < K; k++)
    {
      int hits = 0;
      for (int t = 0; t < 6; t++)
        hits += ds->y[top[k * T + t]] == pc[k];
      if (!pruned[k] && hits < 5)
        g_assert_cmpint (kept_per_class[pc[k]], ==, 1);
    }

  /* The flags survive a checkpoint. */
  g_autoptr (GBytes) ck = m->save (a);
  gpointer b = m->create (m, p, digits (), 99, &error);
  g_assert_no_error (error);
  g_assert_true (m->load (b, ck, &error));
  g_assert_no_error (error);
  g_autoptr (PsMetrics) mb = m->evaluate (b);
  g_assert_cmpfloat (metric (mb, "n_pruned"), ==, n_pruned);
  g_assert_cmpfloat (metric (mb, "test_acc"), ==, metric (mt, "test_acc"));
  m->free (a);
  m->free (b);
}

static void
test_bad_data (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) moons = ps_dataset_load_builtin ("moons", 200, 0.1, 0, &error);
  g_assert_no_error (error);
  const PsMethod *m = ps_method_find ("protopnet");
  g_autoptr (PsParams) p = params_for (m, NULL);
  g_assert_null (m->create (m, p, moons, 0, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
}

/* pre_epochs and joint_epochs of -1 (the defaults) follow the image size:
 * 3 + 8 epochs for 8x8 images, 6 + 3 for 28x28 ones; the step totals show
 * it against explicit settings. */
static guint64
steps_with_mid (PsDataset *ds, const char *id, const char *pre, const char *joint,
                const char *mid)
{
  const PsMethod *m = ps_method_find (id);
  g_autoptr (PsParams) p = ps_method_default_params (m);
  g_autoptr (GError) error = NULL;
  if (pre)
    g_assert_true (ps_params_set (p, "pre_epochs", pre, &error));
  if (joint)
    g_assert_true (ps_params_set (p, "joint_epochs", joint, &error));
  if (mid)
    g_assert_true (ps_params_set (p, "mid_push", mid, &error));
  gpointer model = m->create (m, p, ds, 1, &error);
  g_assert_no_error (error);
  guint64 total = m->total_steps (model);
  m->free (model);
  return total;
}

static guint64
steps_with (PsDataset *ds, const char *id, const char *pre, const char *joint)
{
  return steps_with_mid (ds, id, pre, joint, NULL);
}

static void
test_epochs_by_size (void)
{
  for (int big = 0; big < 2; big++)
    {
      const guint side = big ? 28 : 8, n = 40;
      g_autoptr (PsDataset) ds = ps_dataset_new (big ? "tiny28" : "tiny8", n, side * side);
      PsRng rng;
      ps_rng_init (&rng, 5, 0);
      for (guint i = 0; i < n; i++)
        {
          ds->y[i] = (gint32) (i % 2);
          for (guint j = 0; j < side * side; j++)
            ds->x[(gsize) i * side * side + j] = (float) ps_rng_uniform_d (&rng);
        }
      ds->img_c = 1;
      ds->img_h = ds->img_w = side;
      g_autoptr (GError) error = NULL;
      g_assert_true (ps_dataset_validate (ds, "tiny", &error));
      ps_dataset_assign_split (ds, 0.1, 0.2, 0);
      for (guint k = 0; k < 2; k++)
        {
          const char *id = k ? "stprotopnet" : "protopnet";
          guint64 dflt = steps_with (ds, id, NULL, NULL);
          /* Fashion-MNIST run H for 28x28: 10 + 5 epochs with a mid push
           * two epochs before the end; the digits 3 + 8 without one. */
          guint64 expect = steps_with_mid (ds, id, big ? "10" : "3", big ? "5" : "8",
                                           big ? "2" : "0");
          guint64 other = steps_with (ds, id, big ? "3" : "10", big ? "8" : "5");
          guint64 other_mid = steps_with_mid (ds, id, NULL, NULL, big ? "0" : "2");
          g_assert_cmpuint (dflt, ==, expect);
          g_assert_cmpuint (dflt, !=, other);
          g_assert_cmpuint (dflt, !=, other_mid);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/protopnet/layer-gradient", test_layer_gradient);
  g_test_add_func ("/protopnet/st-loss-gradient", test_pair_gradient);
  g_test_add_func ("/protopnet/last-layer-upsample", test_last_layer_and_upsample);
  g_test_add_func ("/protopnet/bad-data", test_bad_data);
  g_test_add_func ("/protopnet/epochs-by-size", test_epochs_by_size);
  g_test_add_func ("/protopnet/because", test_because);
  g_test_add_func ("/protopnet/accuracy-bar", test_accuracy_bar);
  g_test_add_func ("/protopnet/push-projects", test_push_projects);
  g_test_add_func ("/protopnet/mid-push", test_mid_push);
  g_test_add_func ("/protopnet/prune", test_prune);
  g_test_add_func ("/protopnet/explain", test_explain);
  g_test_add_func ("/protopnet/because-stability", test_because_stability);
  g_test_add_func ("/protopnet/st-snapshot", test_snapshot_and_st);
  g_test_add_func ("/protopnet/st-alternate", test_st_alternate);
  g_test_add_func ("/protopnet/resume-joint", test_resume_joint);
  g_test_add_func ("/protopnet/resume-push", test_resume_push);
  return g_test_run ();
}
