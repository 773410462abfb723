/* ps-method-distill.c: progressive distillation (Salimans & Ho) and its
 * guided variant (Meng et al.).  The method first trains a teacher
 * denoiser (v-prediction, EMA weights) for `teacher_steps`, then distils
 * it in rounds: a student initialised from the teacher learns to take in
 * one DDIM step what the teacher takes in two, so each round halves the
 * number of sampling steps, and the student becomes the next round's
 * teacher.  With `guided`, the teacher is a conditional model sampled with
 * classifier-free guidance at weight w and the students learn the guided
 * two-step target directly (one network evaluation a step instead of two).
 * Every round's student is kept, so evaluation reports the sliced
 * Wasserstein distance for each step count beside naive few-step DDIM of
 * the teacher, and the snapshot records every student's trajectories from
 * the teacher's starting noise.
 *
 * The time grid of an N-step sampler is t_j = round(j (T - 1) / N) for
 * j = N..1, then the clean end (alpha_bar = 1); the 2N grid contains the
 * N grid, so one student step spans exactly two teacher steps.
 */
#define G_LOG_DOMAIN "ps-distill"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-diffusion.h"

#include <math.h>
#include <string.h>

static const PsParamSpec distill_params[] = {
  { "teacher_steps", PS_PARAM_INT, 4000, 1, 10000000, NULL, "Training iterations of the teacher" },
  { "round_steps", PS_PARAM_INT, 800, 1, 1000000, NULL, "Training iterations of each student" },
  { "teacher_sampling_steps", PS_PARAM_INT, 64, 2, 1024, NULL,
    "DDIM steps of the teacher (a power of two); each round halves them" },
  { "min_steps", PS_PARAM_INT, 1, 1, 512, NULL, "Stop when the student takes this many steps" },
  { "batch_size", PS_PARAM_INT, 256, 1, 8192, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate of the teacher (Adam)", TRUE },
  { "student_lr", PS_PARAM_FLOAT, 3e-4, 1e-6, 1.0, NULL, "Learning rate of the students", TRUE },
  { "hidden", PS_PARAM_STRING, 0, 0, 0, "128s-128s-128s", "Hidden layers as a spec tail" },
  { "emb_dim", PS_PARAM_INT, 32, 2, 512, NULL, "Width of the sinusoidal time embedding" },
  { "timesteps", PS_PARAM_INT, 1000, 10, 4000, NULL, "Diffusion timesteps T" },
  { "ema", PS_PARAM_FLOAT, 0.995, 0, 0.99999, NULL, "EMA decay of the teacher's weights (0: off)" },
  { "guided", PS_PARAM_BOOL, 0, 0, 1, NULL,
    "Guided distillation: a conditional teacher with classifier-free guidance" },
  { "guidance", PS_PARAM_FLOAT, 1, 0, 20, NULL, "Guidance strength w of the guided teacher" },
  { "p_uncond", PS_PARAM_FLOAT, 0.1, 0, 1, NULL, "Share of teacher rows with the class dropped" },
  { "eval_samples", PS_PARAM_INT, 1000, 100, 100000, NULL, "Samples drawn by evaluate" },
  { "snapshot_samples", PS_PARAM_INT, 256, 8, 4096, NULL, "Trajectories recorded per sampler" },
};

#define MAX_ROUNDS 12

typedef struct
{
  PsDataset *data;
  PsDiffSchedule *sched;
  PsDenoiser *teacher, *student;
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint64 step, teacher_steps, round_steps, total;
  int batch, D, N0, n_rounds;
  gboolean guided;
  float guidance, p_uncond, student_lr;
  float scale, shift;
  gboolean ema_swapped;       /* the teacher's EMA weights are in place */
  float *students[MAX_ROUNDS];   /* finished students' weights [n_params] */
  float *teacher0;               /* the trained teacher's weights, once distillation starts */
  gsize n_params;
  char *hidden;
  float *xb, *z, *x1, *z1, *x2, *tgt;
  int *cb, *tb, *t1;
  int eval_samples, snap_n;
  PsGmm *truth;
  double gen_noise;
} DistillModel;

static void
distill_free (gpointer p)
{
  DistillModel *m = p;
  if (m == NULL)
    return;
  ps_denoiser_free (m->teacher);
  ps_denoiser_free (m->student);
  ps_diff_schedule_free (m->sched);
  ps_dataset_unref (m->data);
  for (int r = 0; r < MAX_ROUNDS; r++)
    g_free (m->students[r]);
  g_free (m->teacher0);
  g_free (m->hidden);
  g_free (m->train_idx);
  g_free (m->xb);
  g_free (m->z);
  g_free (m->x1);
  g_free (m->z1);
  g_free (m->x2);
  g_free (m->tgt);
  g_free (m->cb);
  g_free (m->tb);
  g_free (m->t1);
  ps_gmm_free (m->truth);
  g_free (m);
}

/* Step counts of round r's student (r = 0..n_rounds-1). */
static int
round_n (DistillModel *m, int r)
{
  return m->N0 >> (r + 1);
}

/* The timestep of grid point j of an N-step sampler (j >= 1). */
static int
grid_t (DistillModel *m, int j, int N)
{
  return (int) lround ((double) j * (m->sched->T - 1) / N);
}

static double
grid_ab (DistillModel *m, int j, int N)
{
  return j == 0 ? 1.0 : m->sched->alpha_bar[grid_t (m, j, N)];
}

static gboolean
is_generator (PsDataset *ds)
{
  return ds->d == 2 && ds->source && ps_dataset_builtin_description (ds->name) != NULL
         && g_str_has_prefix (ds->source, ds->name);
}

static gpointer
distill_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
                GError **error)
{
  gboolean guided = ps_params_get_bool (params, "guided");
  if (guided && data->n_classes < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: guided distillation needs labels",
                   data->name);
      return NULL;
    }
  int N0 = (int) ps_params_get_int (params, "teacher_sampling_steps");
  int minn = (int) ps_params_get_int (params, "min_steps");
  if ((N0 & (N0 - 1)) != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "teacher_sampling_steps must be a power of two, not %d", N0);
      return NULL;
    }
  const char *hidden = ps_params_get_string (params, "hidden");
  int C = guided ? (int) data->n_classes : 0;
  int E = (int) ps_params_get_int (params, "emb_dim");
  PsDenoiser *teacher = ps_denoiser_new ((int) data->d, E, C, hidden, PS_DIFF_PRED_V, error);
  if (teacher == NULL)
    return NULL;
  PsDenoiser *student = ps_denoiser_new ((int) data->d, E, C, hidden, PS_DIFF_PRED_V, error);
  g_assert (student != NULL);

  DistillModel *m = g_new0 (DistillModel, 1);
  m->data = ps_dataset_ref (data);
  m->teacher = teacher;
  m->student = student;
  m->hidden = g_strdup (hidden);
  m->n_params = ps_model_n_params (teacher->net);
  m->D = (int) data->d;
  m->guided = guided;
  m->guidance = guided ? (float) ps_params_get_float (params, "guidance") : 0.f;
  m->p_uncond = (float) ps_params_get_float (params, "p_uncond");
  m->student_lr = (float) ps_params_get_float (params, "student_lr");
  m->sched = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, (int) ps_params_get_int (params, "timesteps"));
  m->N0 = MIN (N0, m->sched->T);
  m->n_rounds = 0;
  while (m->n_rounds < MAX_ROUNDS && round_n (m, m->n_rounds) >= MAX (1, minn))
    m->n_rounds++;
  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (teacher->net, &init_rng);
  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, FALSE, &m->n_train);
  if (m->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no training samples", data->name);
      distill_free (m);
      return NULL;
    }
  m->teacher_steps = (guint64) ps_params_get_int (params, "teacher_steps");
  m->round_steps = (guint64) ps_params_get_int (params, "round_steps");
  m->total = m->teacher_steps + m->round_steps * (guint64) m->n_rounds;
  m->batch = (int) ps_params_get_int (params, "batch_size");
  m->eval_samples = (int) ps_params_get_int (params, "eval_samples");
  m->snap_n = (int) ps_params_get_int (params, "snapshot_samples");
  gsize bd = (gsize) m->batch * m->D;
  m->xb = g_new (float, bd);
  m->z = g_new (float, bd);
  m->x1 = g_new (float, bd);
  m->z1 = g_new (float, bd);
  m->x2 = g_new (float, bd);
  m->tgt = g_new (float, bd);
  m->cb = g_new (int, m->batch);
  m->tb = g_new (int, m->batch);
  m->t1 = g_new (int, m->batch);

  /* Images map from [0, max] to [-1, 1] as in ddpm. */
  m->scale = 1.f;
  m->shift = 0.f;
  if (data->img_h > 0)
    {
      float mx = 0;
      for (gsize i = 0; i < (gsize) data->n * data->d; i++)
        mx = MAX (mx, data->x[i]);
      if (mx > 0)
        {
          m->scale = 2.f / mx;
          m->shift = -1.f;
        }
    }
  if (is_generator (data))
    {
      const char *np = strstr (data->source, "noise=");
      m->gen_noise = np ? g_ascii_strtod (np + 6, NULL) : -1;
      m->truth = ps_gmm_for_generator (data->name, m->gen_noise);
    }
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
  ps_model_set_optimizer (teacher->net, &cfg);
  double ema = ps_params_get_float (params, "ema");
  if (ema > 0)
    ps_optim_ema_enable (ps_model_get_optimizer (teacher->net), (float) ema,
                         ps_model_params (teacher->net));
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, m->student_lr);
  ps_model_set_optimizer (student->net, &cfg);
  return m;
}

static guint64
distill_total_steps (gpointer p)
{
  return ((DistillModel *) p)->total;
}

static void
draw_batch (DistillModel *m)
{
  const int D = m->D;
  for (int b = 0; b < m->batch; b++)
    {
      guint row = m->train_idx[ps_rng_below (&m->rng, m->n_train)];
      for (int j = 0; j < D; j++)
        m->xb[(gsize) b * D + j] = m->data->x[(gsize) row * D + j] * m->scale + m->shift;
      m->cb[b] = m->data->y ? m->data->y[row] : 0;
    }
}

static void
copy_params (PsDenoiser *dst, PsDenoiser *src)
{
  g_assert (ps_model_n_params (dst->net) == ps_model_n_params (src->net));
  memcpy (ps_model_params (dst->net), ps_model_params (src->net),
          ps_model_n_params (src->net) * sizeof (float));
}

/* Which round a training step belongs to (-1: the teacher). */
static int
step_round (DistillModel *m, guint64 step)
{
  if (step < m->teacher_steps)
    return -1;
  return (int) ((step - m->teacher_steps) / MAX (m->round_steps, 1));
}

/* The DDIM update from (z at ab) with prediction x0 to ab2, per row. */
static inline float
ddim_to (float z, float x0, double ab, double ab2)
{
  double e = (z - sqrt (ab) * x0) / sqrt (1.0 - ab);
  return (float) (sqrt (ab2) * x0 + sqrt (1.0 - ab2) * e);
}

/* One student step of round r: two teacher DDIM steps give the target. */
static gboolean
student_step (DistillModel *m, int r, float *loss, GError **error)
{
  const int D = m->D, N = round_n (m, r), B = m->batch;
  draw_batch (m);
  const int *cls = m->guided ? m->cb : NULL;
  /* Only the original teacher is guided by two evaluations; from round 1
   * on, the teacher is a student that has learned the guided prediction
   * (and whose null class was never trained). */
  const float w = r == 0 ? m->guidance : 0.f;
  g_autofree int *jb = g_new (int, B);
  for (int b = 0; b < B; b++)
    {
      int j = 1 + (int) ps_rng_below (&m->rng, (guint32) N);
      jb[b] = j;
      m->tb[b] = grid_t (m, j, N);
      m->t1[b] = grid_t (m, 2 * j - 1, 2 * N);
      double ab = grid_ab (m, j, N);
      for (int k = 0; k < D; k++)
        {
          gsize q = (gsize) b * D + k;
          m->z[q] = (float) (sqrt (ab) * m->xb[q] + sqrt (1 - ab) * ps_rng_normal (&m->rng));
        }
    }
  ps_denoiser_x0_rows (m->teacher, m->sched, m->x1, m->z, B, m->tb, cls, w);
  for (int b = 0; b < B; b++)
    {
      double ab = grid_ab (m, jb[b], N), ab1 = grid_ab (m, 2 * jb[b] - 1, 2 * N);
      for (int k = 0; k < D; k++)
        {
          gsize q = (gsize) b * D + k;
          m->z1[q] = ddim_to (m->z[q], m->x1[q], ab, ab1);
        }
    }
  ps_denoiser_x0_rows (m->teacher, m->sched, m->x2, m->z1, B, m->t1, cls, w);
  for (int b = 0; b < B; b++)
    {
      double ab = grid_ab (m, jb[b], N), ab1 = grid_ab (m, 2 * jb[b] - 1, 2 * N);
      double ab2 = grid_ab (m, jb[b] - 1, N);
      double a = sqrt (ab), s = sqrt (1 - ab), a2 = sqrt (ab2), s2 = sqrt (1 - ab2);
      for (int k = 0; k < D; k++)
        {
          gsize q = (gsize) b * D + k;
          double z2 = ddim_to (m->z1[q], m->x2[q], ab1, ab2);
          /* The x0 whose single DDIM step from z lands on z2. */
          m->tgt[q] = (float) ((z2 - s2 / s * m->z[q]) / (a2 - s2 / s * a));
        }
    }
  return ps_denoiser_train_x0 (m->student, m->sched, m->z, m->tb, cls, m->tgt, B, loss, error);
}

static gboolean
distill_step (gpointer p, PsStepInfo *info, GError **error)
{
  DistillModel *m = p;
  int r = step_round (m, m->step);
  float loss = NAN;
  gboolean ok;
  if (r < 0)
    {
      draw_batch (m);
      ok = ps_denoiser_train_batch (m->teacher, m->sched, m->xb, m->guided ? m->cb : NULL,
                                    m->batch, m->p_uncond, NULL, &m->rng, &loss, error);
    }
  else
    {
      if (m->step == m->teacher_steps + (guint64) r * m->round_steps)
        {
          /* A round starts: the teacher is the EMA teacher (round 0) or the
           * previous student, and the student starts from it. */
          if (r == 0)
            {
              m->ema_swapped = ps_model_swap_ema (m->teacher->net);
              g_free (m->teacher0);
              m->teacher0 = g_memdup2 (ps_model_params (m->teacher->net),
                                       m->n_params * sizeof (float));
            }
          else
            copy_params (m->teacher, m->student);
          copy_params (m->student, m->teacher);
        }
      ok = student_step (m, r, &loss, error);
      if (m->step + 1 == m->teacher_steps + (guint64) (r + 1) * m->round_steps)
        {
          g_free (m->students[r]);
          m->students[r] = g_memdup2 (ps_model_params (m->student->net),
                                      m->n_params * sizeof (float));
        }
    }
  if (!ok)
    {
      if (!g_error_matches (*error, PS_ERROR, PS_ERROR_DIVERGED))
        return FALSE;
      g_clear_error (error);
      loss = NAN;
    }
  m->step++;
  info->loss = loss;
  info->done = m->step >= m->total;
  return TRUE;
}

/* N-step deterministic DDIM on the distillation grid, x[n, D] in place
 * (starting noise in, samples out, in model space); records up to
 * n_record trajectories (x before each step and the predicted x0) when
 * traj is non-NULL: [n_record, N + 1, D]. */
static void
grid_sample (DistillModel *m, PsDenoiser *d, int N, float *x, int n, const int *cls, float cfg_w,
             int n_record, float *traj, float *traj_x0)
{
  const int D = m->D;
  g_autofree float *x0 = g_new (float, (gsize) n * D);
  g_autofree int *t = g_new (int, n);
  for (int k = 0; k < N; k++)
    {
      int j = N - k;
      for (int i = 0; i < n; i++)
        t[i] = grid_t (m, j, N);
      ps_denoiser_x0_rows (d, m->sched, x0, x, n, t, cls, cfg_w);
      double ab = grid_ab (m, j, N), ab2 = grid_ab (m, j - 1, N);
      for (int i = 0; i < n_record && traj; i++)
        {
          memcpy (traj + ((gsize) i * (N + 1) + k) * D, x + (gsize) i * D, D * sizeof (float));
          memcpy (traj_x0 + ((gsize) i * (N + 1) + k) * D, x0 + (gsize) i * D, D * sizeof (float));
        }
      for (gsize q = 0; q < (gsize) n * D; q++)
        x[q] = ddim_to (x[q], x0[q], ab, ab2);
    }
  for (int i = 0; i < n_record && traj; i++)
    {
      memcpy (traj + ((gsize) i * (N + 1) + N) * D, x + (gsize) i * D, D * sizeof (float));
      memcpy (traj_x0 + ((gsize) i * (N + 1) + N) * D, x + (gsize) i * D, D * sizeof (float));
    }
}

static int *
sample_classes (DistillModel *m, int n)
{
  if (!m->guided)
    return NULL;
  int *c = g_new (int, n);
  for (int i = 0; i < n; i++)
    c[i] = i % (int) m->data->n_classes;
  return c;
}

/* Round r's student (r = -1: the teacher) in the scratch denoiser `into`;
 * FALSE when that round has not finished. */
static gboolean
load_student (DistillModel *m, int r, PsDenoiser *into)
{
  if (r < 0)
    {
      /* Before distillation the live teacher, with its EMA weights. */
      if (m->teacher0)
        memcpy (ps_model_params (into->net), m->teacher0, m->n_params * sizeof (float));
      else
        {
          gboolean sw = ps_model_swap_ema (m->teacher->net);
          copy_params (into, m->teacher);
          if (sw)
            ps_model_swap_ema (m->teacher->net);
        }
      return TRUE;
    }
  if (m->students[r] == NULL)
    return FALSE;
  memcpy (ps_model_params (into->net), m->students[r], m->n_params * sizeof (float));
  return TRUE;
}

/* The teacher samples with guidance (two network evaluations a step), a
 * student without (it has learned the guided prediction). */
static void
samples_metrics (DistillModel *m, PsMetrics *out, PsDenoiser *d, gboolean is_teacher, int N,
                 const char *name, const float *noise, int n, const int *cls, const float *ref,
                 int nref)
{
  const int D = m->D;
  g_autofree float *x = g_memdup2 (noise, (gsize) n * D * sizeof (float));
  float w = is_teacher ? m->guidance : 0.f;
  grid_sample (m, d, N, x, n, cls, w, 0, NULL, NULL);
  for (gsize q = 0; q < (gsize) n * D; q++)
    x[q] = (x[q] - m->shift) / m->scale;
  g_autofree char *k1 = g_strdup_printf ("swd_%s", name);
  g_autofree char *k2 = g_strdup_printf ("nfe_%s", name);
  ps_metrics_set (out, k1, ps_sliced_wasserstein (x, n, ref, nref, D, 128, 5));
  ps_metrics_set (out, k2, N * (m->guided && w != 0.f ? 2 : 1));
  if (m->truth)
    {
      int covered;
      double off;
      g_autofree int *on = g_new (int, n);
      ps_mode_stats (m->truth, x, n, &covered, &off, on);
      g_autofree char *k3 = g_strdup_printf ("off_support_%s", name);
      ps_metrics_set (out, k3, off);
      if (cls && m->truth->K == (int) m->data->n_classes)
        {
          int hit = 0;
          for (int i = 0; i < n; i++)
            hit += on[i] == cls[i];
          g_autofree char *k4 = g_strdup_printf ("class_match_%s", name);
          ps_metrics_set (out, k4, (double) hit / n);
        }
    }
}

/* The reference sample: a fresh draw of the generator, else held-out rows. */
static float *
reference (DistillModel *m, int n, int *nref)
{
  if (is_generator (m->data))
    {
      g_autoptr (PsDataset) fresh = ps_dataset_generate_2d (m->data->name, (guint) n,
                                                            m->gen_noise, 987654, NULL);
      if (fresh)
        {
          *nref = n;
          return g_memdup2 (fresh->x, (gsize) n * m->D * sizeof (float));
        }
    }
  guint nt;
  g_autofree guint *rows = ps_split_indices (m->data, PS_SPLIT_TEST, FALSE, &nt);
  if (nt == 0)
    {
      g_free (rows);
      rows = ps_split_indices (m->data, PS_SPLIT_TRAIN, FALSE, &nt);
    }
  *nref = (int) nt;
  return ps_gather_rows (m->data, rows, nt);
}

static PsDenoiser *
scratch_denoiser (DistillModel *m)
{
  PsDenoiser *d = ps_denoiser_new (m->D, m->teacher->emb_dim, m->teacher->n_classes, m->hidden,
                                   PS_DIFF_PRED_V, NULL);
  g_assert (d != NULL);
  return d;
}

/* The teacher at its full step count and at every student's step count
 * (naive few-step DDIM), and every finished student, on the same noise:
 * swd_teacher<N>, swd_student<N>, nfe_*, and on known mixtures
 * off_support_* and (guided) class_match_*. */
static PsMetrics *
distill_evaluate (gpointer p)
{
  DistillModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  const int n = m->eval_samples, D = m->D;
  g_autofree float *noise = g_new (float, (gsize) n * D);
  PsRng rng;
  ps_rng_init (&rng, 12345, 3);
  ps_rng_fill_normal (&rng, noise, (gsize) n * D, 0.f, 1.f);
  g_autofree int *cls = sample_classes (m, n);
  int nref;
  g_autofree float *ref = reference (m, n, &nref);
  if (nref == 0)
    return out;
  PsDenoiser *d = scratch_denoiser (m);
  load_student (m, -1, d);
  g_autofree char *tn = g_strdup_printf ("teacher%d", m->N0);
  samples_metrics (m, out, d, TRUE, m->N0, tn, noise, n, cls, ref, nref);
  double best = NAN;
  for (int r = 0; r < m->n_rounds; r++)
    {
      int N = round_n (m, r);
      g_autofree char *name = g_strdup_printf ("teacher%d", N);
      load_student (m, -1, d);
      samples_metrics (m, out, d, TRUE, N, name, noise, n, cls, ref, nref);
      if (load_student (m, r, d))
        {
          g_autofree char *sn = g_strdup_printf ("student%d", N);
          samples_metrics (m, out, d, FALSE, N, sn, noise, n, cls, ref, nref);
          g_autofree char *key = g_strdup_printf ("swd_%s", sn);
          ps_metrics_get (out, key, &best);
        }
    }
  /* The key metric: the last finished student's distance (else the
   * teacher's). */
  if (isnan (best))
    {
      g_autofree char *key = g_strdup_printf ("swd_%s", tn);
      ps_metrics_get (out, key, &best);
    }
  ps_metrics_set (out, "swd", best);
  ps_denoiser_free (d);
  return out;
}

/* Trajectories of the teacher ("trajectory", N0 steps) and of every
 * finished student ("trajectory_student<N>") from the same starting noise. */
static GPtrArray *
distill_snapshot (gpointer p)
{
  DistillModel *m = p;
  PsDataset *ds = m->data;
  const int D = m->D, S = m->snap_n;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint nr;
  g_autofree guint *rows = ps_snapshot_rows (ds, &nr);
  g_autofree float *xd = ps_gather_rows (ds, rows, nr);
  ps_snapshot_add_common (out, ds, rows, nr, xd);
  g_autofree float *noise = g_new (float, (gsize) S * D);
  PsRng rng;
  ps_rng_init (&rng, 777, 5);
  ps_rng_fill_normal (&rng, noise, (gsize) S * D, 0.f, 1.f);
  g_autofree int *cls = sample_classes (m, S);
  PsDenoiser *d = scratch_denoiser (m);
  for (int r = -1; r < m->n_rounds; r++)
    {
      if (!load_student (m, r, d))
        continue;
      int N = r < 0 ? m->N0 : round_n (m, r), F = N + 1;
      g_autofree float *x = g_memdup2 (noise, (gsize) S * D * sizeof (float));
      g_autofree float *traj = g_new0 (float, (gsize) S * F * D);
      g_autofree float *tx0 = g_new0 (float, (gsize) S * F * D);
      g_autofree float *tt = g_new0 (float, F);
      grid_sample (m, d, N, x, S, cls, r < 0 ? m->guidance : 0.f, S, traj, tx0);
      for (int k = 0; k < N; k++)
        tt[k] = (float) ps_diff_sigma_from_alpha_bar (grid_ab (m, N - k, N));
      gsize all = (gsize) S * F * D;
      for (gsize q = 0; q < all; q++)
        {
          traj[q] = (traj[q] - m->shift) / m->scale;
          tx0[q] = (tx0[q] - m->shift) / m->scale;
        }
      for (gsize q = 0; q < (gsize) S * D; q++)
        x[q] = (x[q] - m->shift) / m->scale;
      g_autofree char *suffix = r < 0 ? g_strdup ("") : g_strdup_printf ("_student%d", N);
      ps_diffusion_add_trajectory (out, suffix, traj, tx0, tt, x, S, F, D);
    }
  ps_denoiser_free (d);
  return out;
}

#define DISTILL_MAGIC 0x4c545344u  /* "DSTL" */

static GBytes *
distill_save (gpointer p)
{
  DistillModel *m = p;
  g_autoptr (GBytes) tnet = ps_model_save (m->teacher->net);
  g_autoptr (GBytes) snet = ps_model_save (m->student->net);
  PsBlobWriter w;
  ps_blob_writer_init (&w, DISTILL_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_u32 (&w, (guint32) m->ema_swapped);
  ps_blob_put_bytes (&w, tnet);
  ps_blob_put_bytes (&w, snet);
  ps_blob_put_u32 (&w, m->teacher0 != NULL);
  if (m->teacher0)
    ps_blob_put (&w, m->teacher0, m->n_params * sizeof (float));
  for (int r = 0; r < m->n_rounds; r++)
    {
      ps_blob_put_u32 (&w, m->students[r] != NULL);
      if (m->students[r])
        ps_blob_put (&w, m->students[r], m->n_params * sizeof (float));
    }
  return ps_blob_writer_finish (&w);
}

static gboolean
distill_load (gpointer p, GBytes *blob, GError **error)
{
  DistillModel *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, DISTILL_MAGIC, "distill checkpoint", error))
    return FALSE;
  guint64 step;
  PsRng rng;
  guint32 swapped, has;
  g_autoptr (GBytes) tnet = NULL;
  g_autoptr (GBytes) snet = NULL;
  if (!ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &swapped, error) || !(tnet = ps_blob_get_bytes (&r, error))
      || !(snet = ps_blob_get_bytes (&r, error)) || !ps_blob_get_u32 (&r, &has, error))
    return FALSE;
  gsize nb = m->n_params * sizeof (float);
  g_autofree float *t0 = has ? g_new (float, m->n_params) : NULL;
  if (has && !ps_blob_get (&r, t0, nb, error))
    return FALSE;
  float *st[MAX_ROUNDS] = { NULL };
  for (int k = 0; k < m->n_rounds; k++)
    {
      if (!ps_blob_get_u32 (&r, &has, error))
        goto fail;
      if (has)
        {
          st[k] = g_new (float, m->n_params);
          if (!ps_blob_get (&r, st[k], nb, error))
            goto fail;
        }
    }
  if (!ps_model_load_into (m->teacher->net, tnet, error)
      || !ps_model_load_into (m->student->net, snet, error))
    goto fail;
  m->step = step;
  m->rng = rng;
  m->ema_swapped = swapped != 0;
  g_free (m->teacher0);
  m->teacher0 = g_steal_pointer (&t0);
  for (int k = 0; k < m->n_rounds; k++)
    {
      g_free (m->students[k]);
      m->students[k] = st[k];
    }
  return TRUE;
fail:
  for (int k = 0; k < MAX_ROUNDS; k++)
    g_free (st[k]);
  return FALSE;
}

const PsMethod ps_method_distill = {
  .id = "distill",
  .title = "Progressive and guided distillation",
  .family = "Diffusion",
  .paper = "Salimans & Ho 2022 (progressive distillation); Meng et al. 2023 (guided distillation)",
  .summary = "Trains a v-prediction teacher, then distils it in rounds into students that take "
             "one deterministic DDIM step where their teacher takes two, halving the sampling "
             "steps each round (64, 32, ... 1 by default). The guided variant distils a "
             "conditional teacher sampled with classifier-free guidance at a fixed weight, so "
             "a student step costs one network evaluation instead of two (the paper's "
             "w-conditioned student is not built). Evaluated by sliced Wasserstein distance per "
             "round against the teacher's own few-step DDIM on the same noise.",
  .key_metric = "swd",
  .params = distill_params,
  .n_params = G_N_ELEMENTS (distill_params),
  .create = distill_create,
  .free = distill_free,
  .total_steps = distill_total_steps,
  .step = distill_step,
  .evaluate = distill_evaluate,
  .snapshot = distill_snapshot,
  .explain = NULL,
  .save = distill_save,
  .load = distill_load,
};
