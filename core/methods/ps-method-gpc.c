/* ps-method-gpc.c: GPC's semi-supervised Gaussian mixture with split and
 * merge moves that estimate the number of classes (Zhao et al., "Learning
 * Semi-supervised Gaussian Mixture Models for Generalized Category
 * Discovery"), on a fixed embedding.
 *
 * Set-up (generalized category discovery): the classes of `new_classes`
 * (by default the upper half) are never labelled; of the other ("old")
 * classes, label_frac of the training rows keep their labels.  The
 * embedding is the PCA of the input to pca_dim dimensions.  Components
 * 0..n_old-1 start at the labelled class means and keep their labelled
 * rows clamped; k_init - n_old more start at random unlabelled rows.
 *
 * One step is one EM iteration.  Every move_every steps, a round of moves:
 *   split  each component (random order) is fitted with two sub-Gaussians
 *          on the rows it owns; the split is accepted when it lowers BIC
 *          (the labelled rows stay with the half that keeps the label);
 *   merge  the pairs with the closest means (Mahalanobis under the mean
 *          covariance) are tried; a merge is accepted when one Gaussian
 *          fitted to both lowers BIC, and two components that carry
 *          different known labels are never merged.
 * "Our reading" of the paper's Hastings ratio is this BIC comparison; the
 * paper's representation learning (ProtoNCE, SupCon) is dropped.
 */
#define G_LOG_DOMAIN "ps-gpc"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-gpc.h"
#include "../eval/ps-eval.h"
#include "../eval/ps-gmm.h"

#include <math.h>
#include <string.h>

static const PsParamSpec gpc_params[] = {
  { "new_classes", PS_PARAM_STRING, 0, 0, 0, "",
    "Classes never labelled, e.g. 5,6,7,8,9 (empty: the upper half; 'all': no labels at all)" },
  { "label_frac", PS_PARAM_FLOAT, 0.5, 0, 1, NULL, "Share of the old classes' training rows that keep labels" },
  { "pca_dim", PS_PARAM_INT, 16, 1, 512, NULL, "Embedding: PCA of the input to this many dimensions" },
  { "k_init", PS_PARAM_INT, 5, 1, 200, NULL, "Starting number of components (at least the old classes)" },
  { "iterations", PS_PARAM_INT, 60, 1, 100000, NULL, "EM iterations (steps)" },
  { "move_every", PS_PARAM_INT, 3, 1, 1000, NULL, "EM iterations between rounds of split and merge moves" },
  { "max_train", PS_PARAM_INT, 5000, 10, 10000000, NULL, "Training rows used (a seeded subset)" },
  { "reg", PS_PARAM_FLOAT, 1e-3, 0, 1, NULL, "Covariance ridge, as a share of the mean feature variance" },
};

typedef struct
{
  PsDataset *data;
  PsGpc gpc;
  PsPca *pca;
  int P;
  guint n;          /* training rows */
  guint *rows;
  float *x;         /* [n, P] */
  int n_old;
  int *old_slot;    /* [n_classes] old-class slot or -1 */
  guint8 *is_old;   /* [n_classes] */
  int *lab;         /* [n] old slot of a labelled row, -1 */
  guint64 step, total;
  int move_every;
  guint eval_n;
  guint *eval_rows;
  float *eval_x;    /* [eval_n, P] */
} Gpc;

/* ---- The mixture with moves (ps-gpc.h) -------------------------------------- */

static int
n_params_gauss (int D)
{
  return D + D * (D + 1) / 2;
}

void
ps_gpc_init (PsGpc *s, int D, double reg, guint64 seed)
{
  memset (s, 0, sizeof *s);
  s->D = D;
  s->reg = reg;
  ps_rng_init (&s->rng, seed, 11);
  s->events = g_array_new (FALSE, FALSE, sizeof (PsGpcEvent));
  s->k_history = g_array_new (FALSE, FALSE, sizeof (gint32));
}

void
ps_gpc_clear (PsGpc *s)
{
  g_clear_pointer (&s->g, ps_gaussmix_free);
  g_clear_pointer (&s->label, g_free);
  if (s->events)
    g_array_free (s->events, TRUE);
  if (s->k_history)
    g_array_free (s->k_history, TRUE);
  s->events = s->k_history = NULL;
}

/* Clamp targets: the component carrying a labelled row's class. */
static void
gpc_clamp (const PsGpc *s, const int *lab, guint n, int *clamp)
{
  for (guint i = 0; i < n; i++)
    {
      clamp[i] = -1;
      if (lab[i] >= 0)
        for (int k = 0; k < s->g->K; k++)
          if (s->label[k] == lab[i])
            {
              clamp[i] = k;
              break;
            }
    }
}

/* Mean and covariance (plus reg) of x rows sel[m] into a 1-component
 * mixture; NULL when m < 2. */
static PsGaussMix *
fit_one (const PsGpc *s, const float *x, const guint *sel, guint m)
{
  const int D = s->D;
  if (m < 2)
    return NULL;
  PsGaussMix *g = ps_gaussmix_new (1, D, s->reg);
  g_autofree float *sub = g_new (float, (gsize) m * D);
  for (guint i = 0; i < m; i++)
    memcpy (sub + (gsize) i * D, x + (gsize) sel[i] * D, D * sizeof (float));
  g_autofree float *r = g_new (float, m);
  for (guint i = 0; i < m; i++)
    r[i] = 1;
  ps_gaussmix_m_step (g, sub, m, r);
  g->weights[0] = 1;
  return g;
}

static double
loglik_sum (const PsGaussMix *g, const float *x, const guint *sel, guint m)
{
  const int D = g->D;
  g_autofree float *sub = g_new (float, (gsize) MAX (m, 1) * D);
  for (guint i = 0; i < m; i++)
    memcpy (sub + (gsize) i * D, x + (gsize) sel[i] * D, D * sizeof (float));
  return ps_gaussmix_log_likelihood (g, sub, m, NULL) * m;
}

/* Removes component k (the last one moves into its place). */
static void
remove_component (PsGpc *s, int k)
{
  PsGaussMix *g = s->g;
  const int K = g->K, D = g->D, L = K - 1;
  if (k != L)
    {
      g->weights[k] = g->weights[L];
      memcpy (g->means + (gsize) k * D, g->means + (gsize) L * D, D * sizeof (double));
      memcpy (g->covs + (gsize) k * D * D, g->covs + (gsize) L * D * D, (gsize) D * D * sizeof (double));
      s->label[k] = s->label[L];
    }
  g->K = L;
  double t = 0;
  for (int j = 0; j < L; j++)
    t += g->weights[j];
  for (int j = 0; j < L; j++)
    g->weights[j] = t > 0 ? g->weights[j] / t : 1.0 / L;
}

/* Appends a component with the parameters of h's component j. */
static void
append_component (PsGpc *s, const PsGaussMix *h, int j, double weight, int label)
{
  PsGaussMix *g = s->g;
  const int K = g->K + 1, D = g->D;
  g->weights = g_renew (double, g->weights, K);
  g->means = g_renew (double, g->means, (gsize) K * D);
  g->covs = g_renew (double, g->covs, (gsize) K * D * D);
  s->label = g_renew (int, s->label, K);
  g->weights[K - 1] = weight;
  memcpy (g->means + (gsize) (K - 1) * D, h->means + (gsize) j * D, D * sizeof (double));
  memcpy (g->covs + (gsize) (K - 1) * D * D, h->covs + (gsize) j * D * D, (gsize) D * D * sizeof (double));
  s->label[K - 1] = label;
  g->K = K;
}

static void
set_component (PsGpc *s, int k, const PsGaussMix *h, int j)
{
  const int D = s->D;
  memcpy (s->g->means + (gsize) k * D, h->means + (gsize) j * D, D * sizeof (double));
  memcpy (s->g->covs + (gsize) k * D * D, h->covs + (gsize) j * D * D, (gsize) D * D * sizeof (double));
}

static void
add_event (PsGpc *s, guint64 step, int kind, int a, int b)
{
  PsGpcEvent e = { .step = (gint32) step, .kind = kind, .a = a, .b = b, .k_after = s->g->K };
  g_array_append_val (s->events, e);
}

/* Tries to split component k; TRUE when accepted. */
static gboolean
try_split (PsGpc *s, const float *x, const gint32 *assign, const int *clamp, guint n, int k,
           guint64 step)
{
  const int D = s->D;
  g_autofree guint *sel = g_new (guint, MAX (n, 1));
  guint m = 0;
  for (guint i = 0; i < n; i++)
    if (assign[i] == k)
      sel[m++] = i;
  const int p = n_params_gauss (D);
  if (m < (guint) (2 * p) || m < 20)
    return FALSE;   /* too few rows to support two full Gaussians */
  g_autoptr (PsGaussMix) one = fit_one (s, x, sel, m);
  double l1 = loglik_sum (one, x, sel, m);
  /* Two sub-Gaussians: started at two random rows with the parent's
   * covariance; the parent's labelled rows are clamped to half 0. */
  g_autofree float *sub = g_new (float, (gsize) m * D);
  g_autofree int *cl = g_new (int, m);
  for (guint i = 0; i < m; i++)
    {
      memcpy (sub + (gsize) i * D, x + (gsize) sel[i] * D, D * sizeof (float));
      cl[i] = clamp[sel[i]] == k ? 0 : -1;
    }
  g_autoptr (PsGaussMix) two = ps_gaussmix_new (2, D, s->reg);
  guint a = ps_rng_below (&s->rng, m), b = ps_rng_below (&s->rng, m - 1);
  if (b >= a)
    b++;
  for (int j = 0; j < D; j++)
    {
      two->means[j] = sub[(gsize) a * D + j];
      two->means[D + j] = sub[(gsize) b * D + j];
    }
  memcpy (two->covs, one->covs, (gsize) D * D * sizeof (double));
  memcpy (two->covs + (gsize) D * D, one->covs, (gsize) D * D * sizeof (double));
  two->weights[0] = two->weights[1] = 0.5;
  double l2 = ps_gaussmix_fit (two, sub, m, cl, 30, 1e-4, NULL) * m;
  if (!isfinite (l2) || two->weights[1] * m < 2 || two->weights[0] * m < 2)
    return FALSE;
  double bic1 = -2 * l1 + p * log ((double) m);
  double bic2 = -2 * l2 + (2 * p + 1) * log ((double) m);
  if (!(bic2 < bic1))
    return FALSE;
  double w = s->g->weights[k];
  set_component (s, k, two, 0);
  s->g->weights[k] = w * two->weights[0];
  append_component (s, two, 1, w * two->weights[1], -1);
  add_event (s, step, PS_GPC_SPLIT, k, s->g->K - 1);
  return TRUE;
}

/* Tries merging a and b; TRUE when accepted. */
static gboolean
try_merge (PsGpc *s, const float *x, const gint32 *assign, guint n, int a, int b, guint64 step)
{
  const int D = s->D;
  if (s->label[a] >= 0 && s->label[b] >= 0)
    return FALSE;
  g_autofree guint *sel = g_new (guint, MAX (n, 1));
  guint m = 0;
  for (guint i = 0; i < n; i++)
    if (assign[i] == a || assign[i] == b)
      sel[m++] = i;
  if (m < 2)
    {
      /* Two empty components: drop the unlabelled one. */
      int drop = s->label[a] >= 0 ? b : a;
      remove_component (s, drop);
      add_event (s, step, PS_GPC_MERGE, a, b);
      return TRUE;
    }
  const int p = n_params_gauss (D);
  g_autoptr (PsGaussMix) one = fit_one (s, x, sel, m);
  double l1 = loglik_sum (one, x, sel, m);
  g_autoptr (PsGaussMix) two = ps_gaussmix_new (2, D, s->reg);
  double wa = s->g->weights[a], wb = s->g->weights[b];
  two->weights[0] = wa / (wa + wb + 1e-300);
  two->weights[1] = 1 - two->weights[0];
  memcpy (two->means, s->g->means + (gsize) a * D, D * sizeof (double));
  memcpy (two->means + D, s->g->means + (gsize) b * D, D * sizeof (double));
  memcpy (two->covs, s->g->covs + (gsize) a * D * D, (gsize) D * D * sizeof (double));
  memcpy (two->covs + (gsize) D * D, s->g->covs + (gsize) b * D * D, (gsize) D * D * sizeof (double));
  double l2 = loglik_sum (two, x, sel, m);
  double bic1 = -2 * l1 + p * log ((double) m);
  double bic2 = -2 * l2 + (2 * p + 1) * log ((double) m);
  if (!(bic1 < bic2))
    return FALSE;
  int keep = s->label[b] >= 0 ? b : a, drop = keep == a ? b : a;
  set_component (s, keep, one, 0);
  s->g->weights[keep] = wa + wb;
  remove_component (s, drop);
  add_event (s, step, PS_GPC_MERGE, keep, drop);
  return TRUE;
}

/* Squared Mahalanobis distance between the means of a and b under the
 * mean of their covariances (through its Cholesky factor). */
static double
mean_distance (const PsGaussMix *g, int a, int b)
{
  const int D = g->D;
  g_autofree double *c = g_new (double, (gsize) D * D);
  g_autofree double *d = g_new (double, D);
  for (gsize t = 0; t < (gsize) D * D; t++)
    c[t] = 0.5 * (g->covs[(gsize) a * D * D + t] + g->covs[(gsize) b * D * D + t]);
  for (int j = 0; j < D; j++)
    d[j] = g->means[(gsize) a * D + j] - g->means[(gsize) b * D + j];
  /* Solve by Cholesky in place. */
  for (int i = 0; i < D; i++)
    for (int j = 0; j <= i; j++)
      {
        double s = c[(gsize) i * D + j];
        for (int k = 0; k < j; k++)
          s -= c[(gsize) i * D + k] * c[(gsize) j * D + k];
        if (i == j)
          c[(gsize) i * D + i] = sqrt (MAX (s, 1e-300));
        else
          c[(gsize) i * D + j] = s / c[(gsize) j * D + j];
      }
  double q = 0;
  for (int i = 0; i < D; i++)
    {
      double s = d[i];
      for (int k = 0; k < i; k++)
        s -= c[(gsize) i * D + k] * d[k];
      d[i] = s / c[(gsize) i * D + i];
      q += d[i] * d[i];
    }
  return q;
}

double
ps_gpc_iterate (PsGpc *s, const float *x, const int *lab, guint n, gboolean moves, guint64 step)
{
  g_autofree int *clamp = g_new (int, MAX (n, 1));
  gpc_clamp (s, lab, n, clamp);
  double ll = ps_gaussmix_em_step (s->g, x, n, clamp, NULL);
  if (moves)
    {
      g_autofree gint32 *assign = g_new (gint32, MAX (n, 1));
      ps_gaussmix_predict (s->g, x, n, assign);
      for (guint i = 0; i < n; i++)
        if (clamp[i] >= 0)
          assign[i] = clamp[i];
      /* Splits, in random order over the components present now. */
      int K0 = s->g->K;
      g_autofree guint *order = g_new (guint, K0);
      ps_rng_permutation (&s->rng, order, K0);
      gboolean changed = FALSE;
      for (int t = 0; t < K0; t++)
        changed |= try_split (s, x, assign, clamp, n, (int) order[t], step);
      if (!changed && s->g->K > 1)
        {
          /* Merges: the closest pairs first, at most one per component. */
          int K = s->g->K;
          g_autofree double *dist = g_new (double, (gsize) K * K);
          for (int a = 0; a < K; a++)
            for (int b = a + 1; b < K; b++)
              dist[(gsize) a * K + b] = mean_distance (s->g, a, b);
          int tries = MIN (K - 1, 3);
          g_autofree guint8 *used = g_new0 (guint8, K);
          for (int t = 0; t < tries; t++)
            {
              int ba = -1, bb = -1;
              for (int a = 0; a < K; a++)
                for (int b = a + 1; b < K; b++)
                  if (!used[a] && !used[b] && !(s->label[a] >= 0 && s->label[b] >= 0)
                      && (ba < 0 || dist[(gsize) a * K + b] < dist[(gsize) ba * K + bb]))
                    {
                      ba = a;
                      bb = b;
                    }
              if (ba < 0)
                break;
              used[ba] = used[bb] = 1;
              if (try_merge (s, x, assign, n, ba, bb, step))
                break;   /* indices moved: stop this round */
            }
        }
    }
  gint32 k = s->g->K;
  g_array_append_val (s->k_history, k);
  return ll;
}

void
ps_gpc_start (PsGpc *s, const float *x, const int *lab, guint n, int n_old, int k_init)
{
  const int D = s->D, K = MAX (n_old, k_init);
  s->g = ps_gaussmix_new (MAX (K, 1), D, s->reg);
  s->label = g_new (int, MAX (K, 1));
  /* Pooled covariance of all rows for every start. */
  g_autofree guint *all = g_new (guint, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    all[i] = i;
  g_autoptr (PsGaussMix) pooled = fit_one (s, x, all, n);
  g_autofree guint *unl = g_new (guint, MAX (n, 1));
  guint nu = 0;
  for (guint i = 0; i < n; i++)
    if (lab[i] < 0)
      unl[nu++] = i;
  for (int k = 0; k < K; k++)
    {
      s->label[k] = k < n_old ? k : -1;
      memcpy (s->g->covs + (gsize) k * D * D, pooled->covs, (gsize) D * D * sizeof (double));
      g_autofree guint *sel = g_new (guint, MAX (n, 1));
      guint m = 0;
      if (k < n_old)
        for (guint i = 0; i < n; i++)
          if (lab[i] == k)
            sel[m++] = i;
      if (m >= 2)
        {
          g_autoptr (PsGaussMix) c = fit_one (s, x, sel, m);
          set_component (s, k, c, 0);
        }
      else
        {
          guint r = nu > 0 ? unl[ps_rng_below (&s->rng, nu)] : ps_rng_below (&s->rng, n);
          for (int j = 0; j < D; j++)
            s->g->means[(gsize) k * D + j] = x[(gsize) r * D + j];
        }
      s->g->weights[k] = 1.0 / K;
    }
}

/* ---- The method ------------------------------------------------------------- */

static void
gpc_free (gpointer p)
{
  Gpc *m = p;
  if (m == NULL)
    return;
  ps_gpc_clear (&m->gpc);
  ps_dataset_unref (m->data);
  ps_pca_free (m->pca);
  g_free (m->rows);
  g_free (m->x);
  g_free (m->old_slot);
  g_free (m->is_old);
  g_free (m->lab);
  g_free (m->eval_rows);
  g_free (m->eval_x);
  g_free (m);
}

static gpointer
gpc_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
            GError **error)
{
  const guint C = data->n_classes, d = data->d;
  if (C < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: GCD needs labels of at least two classes",
                   data->name);
      return NULL;
    }
  Gpc *m = g_new0 (Gpc, 1);
  m->data = ps_dataset_ref (data);
  m->is_old = g_new0 (guint8, C);
  m->old_slot = g_new (int, C);
  if (!ps_parse_new_classes (ps_params_get_string (params, "new_classes"), data, C, TRUE,
                             m->is_old, error))
    {
      gpc_free (m);
      return NULL;
    }
  for (guint c = 0; c < C; c++)
    m->old_slot[c] = m->is_old[c] ? m->n_old++ : -1;
  m->P = (int) MIN ((guint) ps_params_get_int (params, "pca_dim"), d);

  /* Training rows: a seeded subset of the train split (labels or not). */
  guint n_all;
  g_autofree guint *all = ps_split_indices (data, PS_SPLIT_TRAIN, FALSE, &n_all);
  PsRng sub;
  ps_rng_init (&sub, seed, 12);
  ps_rng_shuffle (&sub, all, n_all);
  m->n = MIN (n_all, (guint) ps_params_get_int (params, "max_train"));
  if (m->n < 10)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has too few training rows for GPC", data->name);
      gpc_free (m);
      return NULL;
    }
  m->rows = g_memdup2 (all, (gsize) m->n * sizeof (guint));
  g_autofree float *raw = ps_gather_rows (data, m->rows, m->n);
  m->pca = ps_pca_fit (raw, m->n, d, (guint) m->P, seed, error);
  if (m->pca == NULL)
    {
      gpc_free (m);
      return NULL;
    }
  m->x = g_new (float, (gsize) m->n * m->P);
  ps_pca_transform (m->pca, raw, m->n, m->x);
  /* Labels kept: label_frac of each old class's rows (seeded). */
  m->lab = g_new (int, m->n);
  double frac = ps_params_get_float (params, "label_frac");
  for (guint i = 0; i < m->n; i++)
    {
      int y = data->y[m->rows[i]];
      m->lab[i] = y >= 0 && (guint) y < C && m->is_old[y] && ps_rng_uniform_d (&sub) < frac
                  ? m->old_slot[y] : -1;
    }
  double var = 0;
  for (int j = 0; j < m->P; j++)
    var += m->pca->explained_variance[j] / m->P;
  ps_gpc_init (&m->gpc, m->P, ps_params_get_float (params, "reg") * var, seed);
  ps_gpc_start (&m->gpc, m->x, m->lab, m->n, m->n_old, (int) ps_params_get_int (params, "k_init"));
  m->total = (guint64) ps_params_get_int (params, "iterations");
  m->move_every = (int) ps_params_get_int (params, "move_every");
  PsSplit split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  m->eval_rows = ps_split_indices (data, split, TRUE, &m->eval_n);
  g_autofree float *ex = ps_gather_rows (data, m->eval_rows, m->eval_n);
  m->eval_x = g_new (float, (gsize) MAX (m->eval_n, 1) * m->P);
  ps_pca_transform (m->pca, ex, m->eval_n, m->eval_x);
  return m;
}

static guint64
gpc_total_steps (gpointer p)
{
  return ((Gpc *) p)->total;
}

static gboolean
gpc_step (gpointer p, PsStepInfo *info, GError **error)
{
  Gpc *m = p;
  gboolean moves = (m->step + 1) % m->move_every == 0 && m->step + 1 < m->total;
  double ll = ps_gpc_iterate (&m->gpc, m->x, m->lab, m->n, moves, m->step);
  m->step++;
  info->loss = -ll;
  info->done = m->step >= m->total;
  if (info->metrics)
    ps_metrics_set (info->metrics, "k_est", m->gpc.g->K);
  (void) error;
  return TRUE;
}

/* Cluster of each evaluation row, and accuracies by Hungarian matching. */
static PsMetrics *
gpc_evaluate (gpointer p)
{
  Gpc *m = p;
  PsMetrics *out = ps_metrics_new ();
  g_autofree gint32 *pred = g_new (gint32, MAX (m->eval_n, 1));
  g_autofree gint32 *y = g_new (gint32, MAX (m->eval_n, 1));
  ps_gaussmix_predict (m->gpc.g, m->eval_x, m->eval_n, pred);
  for (guint i = 0; i < m->eval_n; i++)
    y[i] = m->data->y[m->eval_rows[i]];
  double all, old_acc, new_acc;
  ps_cluster_accuracy_old_new (pred, y, m->eval_n, m->is_old, m->data->n_classes, &all, &old_acc,
                               &new_acc);
  ps_metrics_set (out, "acc_all", all);
  ps_metrics_set (out, "acc_old", old_acc);
  ps_metrics_set (out, "acc_new", new_acc);
  ps_metrics_set (out, "k_est", m->gpc.g->K);
  ps_metrics_set (out, "k_true", m->data->n_classes);
  guint ns = 0, nm = 0;
  for (guint i = 0; i < m->gpc.events->len; i++)
    {
      const PsGpcEvent *e = &g_array_index (m->gpc.events, PsGpcEvent, i);
      ns += e->kind == PS_GPC_SPLIT;
      nm += e->kind == PS_GPC_MERGE;
    }
  ps_metrics_set (out, "splits", ns);
  ps_metrics_set (out, "merges", nm);
  return out;
}

static GPtrArray *
gpc_snapshot (gpointer p)
{
  Gpc *m = p;
  PsDataset *ds = m->data;
  const PsGaussMix *g = m->gpc.g;
  const int K = g->K, P = m->P;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  ps_snapshot_add_common (out, ds, rows, n, x);
  g_autofree float *z = g_new (float, (gsize) MAX (n, 1) * P);
  ps_pca_transform (m->pca, x, n, z);
  /* For 2-D data with pca_dim >= 2 the PCA is only a rotation about the
   * mean: the embedding, the prototypes and the cluster moments are
   * rotated back into the data plane, so every view (which draws 2-D data
   * in that plane) puts them where the points are. */
  const gboolean plane = ds->d == 2 && P == 2;
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", plane ? x : z, n, P));
  g_autofree float *logp = g_new (float, (gsize) MAX (n, 1) * K);
  ps_gaussmix_log_likelihood (g, z, n, logp);
  /* Clusters mapped to classes by the Hungarian matching on these rows. */
  g_autofree gint32 *cl = g_new (gint32, MAX (n, 1));
  g_autofree gint32 *y = g_new (gint32, MAX (n, 1));
  g_autofree float *conf = g_new (float, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      float *r = logp + (gsize) i * K;
      int b = 0;
      for (int k = 1; k < K; k++)
        if (r[k] > r[b])
          b = k;
      double s = 0;
      for (int k = 0; k < K; k++)
        s += exp ((double) r[k] - r[b]);
      for (int k = 0; k < K; k++)
        r[k] = (float) (exp ((double) r[k] - r[b]) / s);
      cl[i] = b;
      conf[i] = r[b];
      y[i] = ds->y[rows[i]];
    }
  g_autofree gint32 *map = g_new (gint32, K + 1);
  for (int k = 0; k <= K; k++)
    map[k] = -1;
  ps_cluster_accuracy (cl, y, n, map);
  g_autofree gint32 *pred = g_new (gint32, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    pred[i] = map[cl[i]];
  gsize shape[1] = { n };
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  g_ptr_array_add (out, ps_array_new_i32 ("clusters", cl, n));
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape, conf));
  g_ptr_array_add (out, ps_array_new_f32 ("assignments", logp, n, K));
  g_autofree float *means = g_new (float, (gsize) K * P);
  g_autofree float *m2 = g_new (float, (gsize) K * 2);
  g_autofree float *c2 = g_new (float, (gsize) K * 4);
  g_autofree gint32 *plab = g_new (gint32, K);
  for (int k = 0; k < K; k++)
    {
      for (int j = 0; j < P; j++)
        means[(gsize) k * P + j] = (float) g->means[(gsize) k * P + j];
      /* The first two PCA axes are the view's projection of this
       * embedding (it is already by decreasing variance). */
      for (int a = 0; a < 2; a++)
        {
          m2[k * 2 + a] = a < P ? means[(gsize) k * P + a] : 0;
          for (int b = 0; b < 2; b++)
            c2[k * 4 + a * 2 + b] = a < P && b < P ? (float) g->covs[((gsize) k * P + a) * P + b]
                                                   : (a == b);
        }
      if (plane)
        {
          /* x = mean + V^T z and C_x = V^T C_z V (V: the components as rows). */
          const float *V = m->pca->components, *mu = m->pca->mean;
          float mx[2], cx[4];
          for (int a = 0; a < 2; a++)
            {
              mx[a] = mu[a] + m2[k * 2] * V[a] + m2[k * 2 + 1] * V[2 + a];
              for (int b = 0; b < 2; b++)
                {
                  double t = 0;
                  for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++)
                      t += (double) V[i * 2 + a] * c2[k * 4 + i * 2 + j] * V[j * 2 + b];
                  cx[a * 2 + b] = (float) t;
                }
            }
          memcpy (m2 + k * 2, mx, sizeof mx);
          memcpy (c2 + k * 4, cx, sizeof cx);
          memcpy (means + (gsize) k * P, mx, sizeof mx);
        }
      plab[k] = map[k];
    }
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", means, K, P));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", plab, K));
  g_ptr_array_add (out, ps_array_new_f32 ("cluster_means", m2, K, 2));
  gsize cshape[3] = { (gsize) K, 2, 2 };
  g_ptr_array_add (out, ps_array_new ("cluster_cov", PS_DTYPE_F32, 3, cshape, c2));
  /* events [E, 5] i32: step, kind (0 split, 1 merge), a, b, K after. */
  GArray *ev = m->gpc.events;
  gsize eshape[2] = { ev->len, 5 };
  g_ptr_array_add (out, ps_array_new ("events", PS_DTYPE_I32, 2, eshape, ev->data));
  g_ptr_array_add (out, ps_array_new_i32 ("k_history", (gint32 *) m->gpc.k_history->data,
                                          m->gpc.k_history->len));
  /* Which classes are old (partly labelled), and the known class each
   * component carries (-1 for a discovered one): the cluster view tells
   * old from new with them. */
  const guint C = ds->n_classes;
  g_autofree guint8 *old = g_new (guint8, MAX (C, 1));
  for (guint c = 0; c < C; c++)
    old[c] = m->is_old[c];
  gsize oshape[1] = { C };
  g_ptr_array_add (out, ps_array_new ("old_classes", PS_DTYPE_U8, 1, oshape, old));
  g_autofree gint32 *known = g_new (gint32, K);
  for (int k = 0; k < K; k++)
    {
      known[k] = -1;
      for (guint c = 0; c < C && m->gpc.label[k] >= 0; c++)
        if (m->old_slot[c] == m->gpc.label[k])
          known[k] = (gint32) c;
    }
  g_ptr_array_add (out, ps_array_new_i32 ("cluster_known", known, K));
  return out;
}

static PsExplanation *
gpc_explain (gpointer p, guint sample, GError **error)
{
  Gpc *m = p;
  PsDataset *ds = m->data;
  const PsGaussMix *g = m->gpc.g;
  const int K = g->K;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  g_autofree float *z = g_new (float, m->P);
  ps_pca_transform (m->pca, ds->x + (gsize) sample * ds->d, 1, z);
  g_autofree float *lp = g_new (float, K);
  ps_gaussmix_log_likelihood (g, z, 1, lp);
  g_autofree int *order = g_new (int, K);
  for (int k = 0; k < K; k++)
    order[k] = k;
  for (int i = 1; i < K; i++)
    for (int j = i; j > 0 && lp[order[j]] > lp[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  double s = 0;
  for (int k = 0; k < K; k++)
    s += exp ((double) lp[k] - lp[order[0]]);
  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->by_prototypes = TRUE;
  ex->uncertainty = NAN;
  ex->ood_score = NAN;
  int c0 = order[0];
  int lab = m->gpc.label[c0];
  ex->predicted = -1;
  if (lab >= 0)
    for (guint c = 0; c < ds->n_classes; c++)
      if (m->old_slot[c] == lab)
        ex->predicted = (int) c;
  for (int i = 0; i < K; i++)
    {
      int k = order[i];
      int cls = -1;
      if (m->gpc.label[k] >= 0)
        for (guint c = 0; c < ds->n_classes; c++)
          if (m->old_slot[c] == m->gpc.label[k])
            cls = (int) c;
      PsEvidence ev = { .index = k, .cls = cls, .similarity = lp[k],
                        .evidence = lp[k], .weight = (float) (exp ((double) lp[k] - lp[order[0]]) / s) };
      g_array_append_val (ex->evidence, ev);
    }
  ex->confidence = (float) (1.0 / s);
  ex->text = g_strdup_printf ("Most likely component %d of %d (responsibility %.2f), %s.", c0, K,
                              ex->confidence,
                              lab >= 0 ? "which carries a known (old) class"
                                       : "a discovered component without a known label");
  return ex;
}

#define GPC_MAGIC 0x31435047u  /* "GPC1" */

static GBytes *
gpc_save (gpointer p)
{
  Gpc *m = p;
  const PsGaussMix *g = m->gpc.g;
  const int K = g->K, D = g->D;
  PsBlobWriter w;
  ps_blob_writer_init (&w, GPC_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->gpc.rng);
  ps_blob_put_u32 (&w, (guint32) K);
  ps_blob_put (&w, g->weights, K * sizeof (double));
  ps_blob_put (&w, g->means, (gsize) K * D * sizeof (double));
  ps_blob_put (&w, g->covs, (gsize) K * D * D * sizeof (double));
  ps_blob_put (&w, m->gpc.label, K * sizeof (int));
  ps_blob_put_u32 (&w, m->gpc.events->len);
  ps_blob_put (&w, m->gpc.events->data, m->gpc.events->len * sizeof (PsGpcEvent));
  ps_blob_put_u32 (&w, m->gpc.k_history->len);
  ps_blob_put (&w, m->gpc.k_history->data, m->gpc.k_history->len * sizeof (gint32));
  return ps_blob_writer_finish (&w);
}

static gboolean
gpc_load (gpointer p, GBytes *blob, GError **error)
{
  Gpc *m = p;
  PsBlobReader r;
  guint64 step;
  PsRng rng;
  guint32 K, ne, nk;
  const int D = m->P;
  if (!ps_blob_reader_init (&r, blob, GPC_MAGIC, "gpc checkpoint", error)
      || !ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &K, error))
    return FALSE;
  if (K < 1 || K > 100000)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "gpc checkpoint: %u components", K);
      return FALSE;
    }
  g_autoptr (PsGaussMix) g = ps_gaussmix_new ((int) K, D, m->gpc.reg);
  g_autofree int *label = g_new (int, K);
  if (!ps_blob_get (&r, g->weights, K * sizeof (double), error)
      || !ps_blob_get (&r, g->means, (gsize) K * D * sizeof (double), error)
      || !ps_blob_get (&r, g->covs, (gsize) K * D * D * sizeof (double), error)
      || !ps_blob_get (&r, label, K * sizeof (int), error)
      || !ps_blob_get_u32 (&r, &ne, error))
    return FALSE;
  g_autofree PsGpcEvent *ev = g_new (PsGpcEvent, MAX (ne, 1));
  if (ne > 1000000 || !ps_blob_get (&r, ev, ne * sizeof (PsGpcEvent), error)
      || !ps_blob_get_u32 (&r, &nk, error))
    {
      if (error && *error == NULL)
        g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "gpc checkpoint: bad event count");
      return FALSE;
    }
  g_autofree gint32 *kh = g_new (gint32, MAX (nk, 1));
  if (nk > 100000000 || !ps_blob_get (&r, kh, nk * sizeof (gint32), error))
    {
      if (error && *error == NULL)
        g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "gpc checkpoint: bad history length");
      return FALSE;
    }
  ps_gaussmix_free (m->gpc.g);
  m->gpc.g = g_steal_pointer (&g);
  g_free (m->gpc.label);
  m->gpc.label = g_steal_pointer (&label);
  g_array_set_size (m->gpc.events, 0);
  g_array_append_vals (m->gpc.events, ev, ne);
  g_array_set_size (m->gpc.k_history, 0);
  g_array_append_vals (m->gpc.k_history, kh, nk);
  m->gpc.rng = rng;
  m->step = step;
  return TRUE;
}

const PsMethod ps_method_gpc = {
  .id = "gpc",
  .title = "GPC (semi-supervised GMM with split and merge)",
  .family = "Prototype learning",
  .paper = "Zhao, Wen & Han, Learning Semi-supervised Gaussian Mixture Models for Generalized "
           "Category Discovery, ICCV 2023",
  .summary = "Generalized category discovery: old classes are partly labelled, new classes "
             "(new_classes) never. A full-covariance Gaussian mixture on a PCA of the input keeps "
             "labelled rows clamped to their class's component and estimates the number of "
             "classes with split moves (two sub-Gaussians accepted when BIC falls) and merge moves "
             "(the closest pairs, never two known classes). Reports accuracy on all, old and new "
             "classes by Hungarian matching, and the estimated K. The small version keeps the "
             "semi-supervised EM and the split/merge search with BIC as our reading of the "
             "paper's acceptance ratio, on a fixed embedding: the paper's contrastive "
             "representation learning is dropped.",
  .key_metric = "acc_all",
  .params = gpc_params,
  .n_params = G_N_ELEMENTS (gpc_params),
  .create = gpc_create,
  .free = gpc_free,
  .total_steps = gpc_total_steps,
  .step = gpc_step,
  .evaluate = gpc_evaluate,
  .snapshot = gpc_snapshot,
  .explain = gpc_explain,
  .save = gpc_save,
  .load = gpc_load,
};
