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
#include "ps-distill-guided.h"

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
    "Guided distillation: a conditional teacher with classifier-free guidance and a "
    "w-conditioned student" },
  { "guidance", PS_PARAM_FLOAT, 1, 0, 20, NULL,
    "Guidance w of the snapshot and the headline metrics (guided)" },
  { "w_min", PS_PARAM_FLOAT, 0, 0, 20, NULL, "Smallest guidance w the student learns (guided)" },
  { "w_max", PS_PARAM_FLOAT, 4, 0, 20, NULL, "Largest guidance w the student learns (guided)" },
  { "w_emb_dim", PS_PARAM_INT, 16, 2, 256, NULL, "Width of the sinusoidal w embedding (guided)" },
  { "guide_steps", PS_PARAM_INT, 800, 1, 1000000, NULL,
    "Training iterations of the w-conditioned student on the guided teacher (guided)" },
  { "p_uncond", PS_PARAM_FLOAT, 0.1, 0, 1, NULL, "Share of teacher rows with the class dropped" },
  { "eval_samples", PS_PARAM_INT, 1000, 100, 100000, NULL, "Samples drawn by evaluate" },
  { "snapshot_samples", PS_PARAM_INT, 256, 8, 4096, NULL, "Trajectories recorded per sampler" },
};

#define MAX_ROUNDS 12
#define MAX_EVAL_W 3

typedef struct
{
  PsDataset *data;
  PsDiffSchedule *sched;
  PsDenoiser *teacher;          /* trained first; frozen (EMA weights) once distillation starts */
  PsWStudent *student;          /* the network being distilled */
  PsWStudent *prev;             /* the current round's teacher when it is a student */
  int prev_round;               /* the round whose teacher `prev` holds (G_MININT: none) */
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint64 step, teacher_steps, guide_steps, round_steps, total;
  int batch, D, N0, n_rounds, w_dim;
  gboolean guided;
  float guidance, w_min, w_max, p_uncond, student_lr;
  float scale, shift;
  gboolean ema_swapped;         /* the teacher's EMA weights are in place */
  float *students[MAX_ROUNDS];  /* finished students' weights [ns_params] */
  float *stage1;                /* guided: the w-student after stage 1 [ns_params] */
  float *teacher0;              /* the trained teacher's weights, once distillation starts */
  gsize n_params, ns_params;
  char *hidden;
  float *xb, *z, *x1, *z1, *x2, *tgt, *wb;
  int *cb, *tb, *t1;
  int eval_samples, snap_n;
  PsGmm *truth;
  double gen_noise;
} DistillModel;

/* A network a sampler asks for x0: the teacher (with classifier-free
 * guidance at w when conditional) or a student (conditioned on w). */
typedef struct
{
  PsDenoiser *den;
  PsWStudent *st;
  float w;
} Net;

static void
distill_free (gpointer p)
{
  DistillModel *m = p;
  if (m == NULL)
    return;
  ps_denoiser_free (m->teacher);
  ps_wstudent_free (m->student);
  ps_wstudent_free (m->prev);
  ps_diff_schedule_free (m->sched);
  ps_dataset_unref (m->data);
  for (int r = 0; r < MAX_ROUNDS; r++)
    g_free (m->students[r]);
  g_free (m->stage1);
  g_free (m->teacher0);
  g_free (m->hidden);
  g_free (m->train_idx);
  g_free (m->xb);
  g_free (m->z);
  g_free (m->x1);
  g_free (m->z1);
  g_free (m->x2);
  g_free (m->tgt);
  g_free (m->wb);
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

static PsWStudent *
new_student (DistillModel *m)
{
  PsWStudent *s = ps_wstudent_new (m->D, m->teacher->emb_dim, m->teacher->n_classes,
                                   m->w_dim, m->hidden, NULL);
  g_assert (s != NULL);
  return s;
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
  double w_min = ps_params_get_float (params, "w_min"), w_max = ps_params_get_float (params, "w_max");
  if (guided && w_min > w_max)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "w_min (%g) is above w_max (%g)", w_min, w_max);
      return NULL;
    }
  const char *hidden = ps_params_get_string (params, "hidden");
  int C = guided ? (int) data->n_classes : 0;
  int E = (int) ps_params_get_int (params, "emb_dim");
  PsDenoiser *teacher = ps_denoiser_new ((int) data->d, E, C, hidden, PS_DIFF_PRED_V, error);
  if (teacher == NULL)
    return NULL;

  DistillModel *m = g_new0 (DistillModel, 1);
  m->data = ps_dataset_ref (data);
  m->teacher = teacher;
  m->hidden = g_strdup (hidden);
  m->D = (int) data->d;
  m->guided = guided;
  m->w_dim = guided ? (int) ps_params_get_int (params, "w_emb_dim") : 0;
  m->student = new_student (m);
  m->prev = new_student (m);
  m->prev_round = G_MININT;
  m->n_params = ps_model_n_params (teacher->net);
  m->ns_params = ps_model_n_params (m->student->net);
  m->guidance = guided ? (float) ps_params_get_float (params, "guidance") : 0.f;
  m->w_min = (float) w_min;
  m->w_max = (float) w_max;
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
  m->guide_steps = guided ? (guint64) ps_params_get_int (params, "guide_steps") : 0;
  m->round_steps = (guint64) ps_params_get_int (params, "round_steps");
  m->total = m->teacher_steps + m->guide_steps + m->round_steps * (guint64) m->n_rounds;
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
  m->wb = g_new0 (float, m->batch);
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
  ps_model_set_optimizer (m->student->net, &cfg);
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
  /* Guided: a guidance weight per row, uniform on [w_min, w_max]. */
  for (int b = 0; m->guided && b < m->batch; b++)
    m->wb[b] = m->w_min + (m->w_max - m->w_min) * (float) ps_rng_uniform (&m->rng);
}

/* Phase of a training step: -2 the teacher, -1 the guided stage 1, else
 * the distillation round. */
static int
step_round (DistillModel *m, guint64 step)
{
  if (step < m->teacher_steps)
    return -2;
  step -= m->teacher_steps;
  if (step < m->guide_steps)
    return -1;
  return (int) ((step - m->guide_steps) / MAX (m->round_steps, 1));
}

/* The first step of the phase `r`. */
static guint64
round_start (DistillModel *m, int r)
{
  return m->teacher_steps + (r >= 0 ? m->guide_steps + (guint64) r * m->round_steps : 0);
}

/* The DDIM update from (z at ab) with prediction x0 to ab2, per row. */
static inline float
ddim_to (float z, float x0, double ab, double ab2)
{
  double e = (z - sqrt (ab) * x0) / sqrt (1.0 - ab);
  return (float) (sqrt (ab2) * x0 + sqrt (1.0 - ab2) * e);
}

/* The classifier-free guided x0 of the teacher with a weight per row:
 * (1 + w) x0(z, c) - w x0(z, null). */
static void
teacher_guided_x0 (DistillModel *m, float *x0, const float *z, int n, const int *t, const int *cls,
                   const float *w)
{
  const int D = m->D;
  g_autofree float *un = g_new (float, (gsize) n * D);
  ps_denoiser_x0_rows (m->teacher, m->sched, x0, z, n, t, cls, 0.f);
  ps_denoiser_x0_rows (m->teacher, m->sched, un, z, n, t, NULL, 0.f);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < D; k++)
      {
        gsize q = (gsize) i * D + k;
        x0[q] = (1.f + w[i]) * x0[q] - w[i] * un[q];
      }
}

/* Round r's teacher: the trained teacher (unguided round 0), else the
 * previous round's student or, guided, the stage-1 student, loaded into
 * `prev` once per round (also after a checkpoint load). */
static void
round_teacher_x0 (DistillModel *m, int r, float *x0, const float *z, int n, const int *t)
{
  if (!m->guided && r == 0)
    {
      ps_denoiser_x0_rows (m->teacher, m->sched, x0, z, n, t, NULL, 0.f);
      return;
    }
  if (m->prev_round != r)
    {
      const float *w = r == 0 ? m->stage1 : m->students[r - 1];
      g_assert (w != NULL);
      memcpy (ps_model_params (m->prev->net), w, m->ns_params * sizeof (float));
      m->prev_round = r;
    }
  ps_wstudent_x0_rows (m->prev, m->sched, x0, z, n, t, m->guided ? m->cb : NULL,
                       m->guided ? m->wb : NULL);
}

/* One student step of round r: two teacher DDIM steps give the target. */
static gboolean
student_step (DistillModel *m, int r, float *loss, GError **error)
{
  const int D = m->D, N = round_n (m, r), B = m->batch;
  draw_batch (m);
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
  round_teacher_x0 (m, r, m->x1, m->z, B, m->tb);
  for (int b = 0; b < B; b++)
    {
      double ab = grid_ab (m, jb[b], N), ab1 = grid_ab (m, 2 * jb[b] - 1, 2 * N);
      for (int k = 0; k < D; k++)
        {
          gsize q = (gsize) b * D + k;
          m->z1[q] = ddim_to (m->z[q], m->x1[q], ab, ab1);
        }
    }
  round_teacher_x0 (m, r, m->x2, m->z1, B, m->t1);
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
  return ps_wstudent_train_x0 (m->student, m->sched, m->z, m->tb, m->guided ? m->cb : NULL,
                               m->guided ? m->wb : NULL, m->tgt, B, loss, error);
}

/* Guided stage 1: at a uniform timestep and w per row, the student learns
 * the teacher's guided x0 in one evaluation. */
static gboolean
guide_step (DistillModel *m, float *loss, GError **error)
{
  const int D = m->D, B = m->batch;
  draw_batch (m);
  for (int b = 0; b < B; b++)
    {
      int t = (int) ps_rng_below (&m->rng, (guint32) m->sched->T);
      double ab = m->sched->alpha_bar[t];
      m->tb[b] = t;
      for (int k = 0; k < D; k++)
        {
          gsize q = (gsize) b * D + k;
          m->z[q] = (float) (sqrt (ab) * m->xb[q] + sqrt (1 - ab) * ps_rng_normal (&m->rng));
        }
    }
  teacher_guided_x0 (m, m->tgt, m->z, B, m->tb, m->cb, m->wb);
  return ps_wstudent_train_x0 (m->student, m->sched, m->z, m->tb, m->cb, m->wb, m->tgt, B, loss,
                               error);
}

static gboolean
distill_step (gpointer p, PsStepInfo *info, GError **error)
{
  DistillModel *m = p;
  int r = step_round (m, m->step);
  float loss = NAN;
  gboolean ok;
  if (r == -2)
    {
      draw_batch (m);
      ok = ps_denoiser_train_batch (m->teacher, m->sched, m->xb, m->guided ? m->cb : NULL,
                                    m->batch, m->p_uncond, NULL, &m->rng, &loss, error);
    }
  else
    {
      /* Distillation starts: the teacher takes its EMA weights for good
       * and the student starts from it (with zero weights on w). */
      if (m->step == m->teacher_steps)
        {
          m->ema_swapped = ps_model_swap_ema (m->teacher->net);
          g_free (m->teacher0);
          m->teacher0 = g_memdup2 (ps_model_params (m->teacher->net),
                                   m->n_params * sizeof (float));
          ps_wstudent_init_from (m->student, m->teacher);
        }
      ok = r == -1 ? guide_step (m, &loss, error) : student_step (m, r, &loss, error);
      /* A phase ends: keep the student it made. */
      if (m->step + 1 == round_start (m, r + 1))
        {
          float **slot = r == -1 ? &m->stage1 : &m->students[r];
          g_free (*slot);
          *slot = g_memdup2 (ps_model_params (m->student->net), m->ns_params * sizeof (float));
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

static void
net_x0 (DistillModel *m, const Net *net, float *x0, const float *x, int n, const int *t,
        const int *cls, float *wrow)
{
  if (net->st)
    ps_wstudent_x0_rows (net->st, m->sched, x0, x, n, t, cls, m->guided ? wrow : NULL);
  else
    ps_denoiser_x0_rows (net->den, m->sched, x0, x, n, t, cls, net->w);
}

/* N-step deterministic DDIM on the distillation grid, x[n, D] in place
 * (starting noise in, samples out, in model space); records up to
 * n_record trajectories (x before each step and the predicted x0) when
 * traj is non-NULL: [n_record, N + 1, D].  FALSE when *cancel becomes
 * non-zero. */
static gboolean
grid_sample (DistillModel *m, const Net *net, int N, float *x, int n, const int *cls,
             int n_record, float *traj, float *traj_x0, const gint *cancel)
{
  const int D = m->D;
  g_autofree float *x0 = g_new (float, (gsize) n * D);
  g_autofree int *t = g_new (int, n);
  g_autofree float *wrow = g_new (float, n);
  for (int i = 0; i < n; i++)
    wrow[i] = net->w;
  for (int k = 0; k < N; k++)
    {
      if (cancel && g_atomic_int_get (cancel))
        return FALSE;
      int j = N - k;
      for (int i = 0; i < n; i++)
        t[i] = grid_t (m, j, N);
      net_x0 (m, net, x0, x, n, t, cls, wrow);
      double ab = grid_ab (m, j, N), ab2 = grid_ab (m, j - 1, N);
      for (int i = 0; i < n_record && traj; i++)
        {
          memcpy (traj + ((gsize) i * (N + 1) + k) * D, x + (gsize) i * D, D * sizeof (float));
          if (traj_x0)
            memcpy (traj_x0 + ((gsize) i * (N + 1) + k) * D, x0 + (gsize) i * D,
                    D * sizeof (float));
        }
      for (gsize q = 0; q < (gsize) n * D; q++)
        x[q] = ddim_to (x[q], x0[q], ab, ab2);
    }
  for (int i = 0; i < n_record && traj; i++)
    {
      memcpy (traj + ((gsize) i * (N + 1) + N) * D, x + (gsize) i * D, D * sizeof (float));
      if (traj_x0)
        memcpy (traj_x0 + ((gsize) i * (N + 1) + N) * D, x + (gsize) i * D, D * sizeof (float));
    }
  return TRUE;
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

/* The teacher with its EMA weights into the scratch denoiser `into`. */
static void
load_teacher (DistillModel *m, PsDenoiser *into)
{
  if (m->teacher0)
    memcpy (ps_model_params (into->net), m->teacher0, m->n_params * sizeof (float));
  else
    {
      gboolean sw = ps_model_swap_ema (m->teacher->net);
      memcpy (ps_model_params (into->net), ps_model_params (m->teacher->net),
              m->n_params * sizeof (float));
      if (sw)
        ps_model_swap_ema (m->teacher->net);
    }
}

/* Round r's student into the scratch student `into`; FALSE when that
 * round has not finished. */
static gboolean
load_student (DistillModel *m, int r, PsWStudent *into)
{
  if (r < 0 || r >= m->n_rounds || m->students[r] == NULL)
    return FALSE;
  memcpy (ps_model_params (into->net), m->students[r], m->ns_params * sizeof (float));
  return TRUE;
}

/* The last finished round, or -1. */
static int
last_round (DistillModel *m)
{
  int last = -1;
  for (int r = 0; r < m->n_rounds; r++)
    if (m->students[r])
      last = r;
  return last;
}

/* Samples of `net` at N steps from noise[n, D], in data space. */
static float *
net_samples (DistillModel *m, const Net *net, int N, const float *noise, int n, const int *cls)
{
  float *x = g_memdup2 (noise, (gsize) n * m->D * sizeof (float));
  grid_sample (m, net, N, x, n, cls, 0, NULL, NULL, NULL);
  for (gsize q = 0; q < (gsize) n * m->D; q++)
    x[q] = (x[q] - m->shift) / m->scale;
  return x;
}

/* A teacher samples with guidance (two network evaluations a step), a
 * student in one (it has learned the guided prediction). */
static void
samples_metrics (DistillModel *m, PsMetrics *out, const Net *net, int N, const char *name,
                 const float *noise, int n, const int *cls, const float *ref, int nref)
{
  const int D = m->D;
  g_autofree float *x = net_samples (m, net, N, noise, n, cls);
  g_autofree char *k1 = g_strdup_printf ("swd_%s", name);
  g_autofree char *k2 = g_strdup_printf ("nfe_%s", name);
  ps_metrics_set (out, k1, ps_sliced_wasserstein (x, n, ref, nref, D, 128, 5));
  ps_metrics_set (out, k2, N * (m->guided && net->den && net->w != 0.f ? 2 : 1));
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
scratch_teacher (DistillModel *m)
{
  PsDenoiser *d = ps_denoiser_new (m->D, m->teacher->emb_dim, m->teacher->n_classes, m->hidden,
                                   PS_DIFF_PRED_V, NULL);
  g_assert (d != NULL);
  load_teacher (m, d);
  return d;
}

/* The training mean of each class, [C, D]. */
static double *
class_means (DistillModel *m)
{
  const int D = m->D, C = (int) m->data->n_classes;
  double *mu = g_new0 (double, (gsize) C * D);
  g_autofree int *cnt = g_new0 (int, C);
  for (guint i = 0; i < m->n_train; i++)
    {
      guint row = m->train_idx[i];
      int c = m->data->y[row];
      if (c < 0 || c >= C)
        continue;
      cnt[c]++;
      for (int k = 0; k < D; k++)
        mu[(gsize) c * D + k] += m->data->x[(gsize) row * D + k];
    }
  for (int c = 0; c < C; c++)
    for (int k = 0; k < D; k++)
      mu[(gsize) c * D + k] /= MAX (cnt[c], 1);
  return mu;
}

/* Guided: per w in {w_min, guidance, w_max}, the distance of each finished
 * student's samples (N steps) to the guided teacher's at its full N0
 * steps, beside the teacher's own N-step guided DDIM and the untrained
 * student (the conditional teacher without guidance at N steps):
 * swd_w<w>_student<N>, swd_w<w>_teacher<N>, swd_w<w>_untrained<N>; the mean
 * distance of each sample to the teacher's from the same noise,
 * disp_w<w>_*; and the mean distance to the class centre,
 * spread_w<w>_teacher<N0> and spread_w<w>_student<N>. */
static void
guided_metrics (DistillModel *m, PsMetrics *out, PsDenoiser *dt, PsWStudent *ds,
                const float *noise, int n, const int *cls)
{
  const int D = m->D;
  g_autofree double *mu = class_means (m);
  float ws[MAX_EVAL_W] = { m->w_min, m->guidance, m->w_max };
  for (int k = 0; k < MAX_EVAL_W; k++)
    {
      float w = ws[k];
      if ((k == 1 && (w == ws[0] || w == ws[2])) || (k == 2 && w == ws[0]))
        continue;
      Net teach = { dt, NULL, w }, untrained = { dt, NULL, 0.f }, stud = { NULL, ds, w };
      g_autofree float *ref = net_samples (m, &teach, m->N0, noise, n, cls);
      g_autofree char *kt = g_strdup_printf ("spread_w%g_teacher%d", w, m->N0);
      ps_metrics_set (out, kt, ps_class_spread (ref, cls, n, D, mu));
      for (int r = 0; r < m->n_rounds; r++)
        {
          if (!load_student (m, r, ds))
            continue;
          const int N = round_n (m, r);
          g_autofree float *xs = net_samples (m, &stud, N, noise, n, cls);
          g_autofree float *xn = net_samples (m, &teach, N, noise, n, cls);
          g_autofree float *xu = net_samples (m, &untrained, N, noise, n, cls);
          const struct { const char *what; const float *x; } rows[] = {
            { "student", xs }, { "teacher", xn }, { "untrained", xu },
          };
          for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
            {
              g_autofree char *key = g_strdup_printf ("swd_w%g_%s%d", w, rows[i].what, N);
              g_autofree char *kd = g_strdup_printf ("disp_w%g_%s%d", w, rows[i].what, N);
              ps_metrics_set (out, key, ps_sliced_wasserstein (rows[i].x, n, ref, n, D, 128, 5));
              ps_metrics_set (out, kd, ps_mean_displacement (rows[i].x, ref, n, D));
            }
          g_autofree char *ks = g_strdup_printf ("spread_w%g_student%d", w, N);
          ps_metrics_set (out, ks, ps_class_spread (xs, cls, n, D, mu));
        }
    }
}

/* The teacher at its full step count and at every student's step count
 * (naive few-step DDIM), and every finished student, on the same noise:
 * swd_teacher<N>, swd_student<N>, nfe_*, and on known mixtures
 * off_support_* and (guided) class_match_*, all at w = guidance; guided,
 * also the per-w metrics of guided_metrics. */
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
  PsDenoiser *dt = scratch_teacher (m);
  PsWStudent *ds = new_student (m);
  Net teach = { dt, NULL, m->guidance }, stud = { NULL, ds, m->guidance };
  g_autofree char *tn = g_strdup_printf ("teacher%d", m->N0);
  samples_metrics (m, out, &teach, m->N0, tn, noise, n, cls, ref, nref);
  double best = NAN;
  for (int r = 0; r < m->n_rounds; r++)
    {
      int N = round_n (m, r);
      g_autofree char *name = g_strdup_printf ("teacher%d", N);
      samples_metrics (m, out, &teach, N, name, noise, n, cls, ref, nref);
      if (load_student (m, r, ds))
        {
          g_autofree char *sn = g_strdup_printf ("student%d", N);
          samples_metrics (m, out, &stud, N, sn, noise, n, cls, ref, nref);
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
  if (m->guided)
    guided_metrics (m, out, dt, ds, noise, n, cls);
  ps_denoiser_free (dt);
  ps_wstudent_free (ds);
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
  PsDenoiser *dt = scratch_teacher (m);
  PsWStudent *dst = new_student (m);
  for (int r = -1; r < m->n_rounds; r++)
    {
      if (r >= 0 && !load_student (m, r, dst))
        continue;
      Net net = { r < 0 ? dt : NULL, r < 0 ? NULL : dst, m->guidance };
      int N = r < 0 ? m->N0 : round_n (m, r), F = N + 1;
      g_autofree float *x = g_memdup2 (noise, (gsize) S * D * sizeof (float));
      g_autofree float *traj = g_new0 (float, (gsize) S * F * D);
      g_autofree float *tx0 = g_new0 (float, (gsize) S * F * D);
      g_autofree float *tt = g_new0 (float, F);
      grid_sample (m, &net, N, x, S, cls, S, traj, tx0, NULL);
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
  ps_denoiser_free (dt);
  ps_wstudent_free (dst);
  return out;
}

gboolean
ps_distill_sample_guided (gpointer model, float w, const float *noise, const int *cls, int n,
                          const gint *cancel, float **traj, float **sigma, int *n_frames,
                          GError **error)
{
  DistillModel *m = model;
  g_return_val_if_fail (m != NULL && noise != NULL && cls != NULL && n > 0, FALSE);
  if (!m->guided)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "this distillation run is not guided: it has no guidance weight to change");
      return FALSE;
    }
  const int D = m->D, r = last_round (m);
  /* Scratch networks: sampling never touches the networks training uses. */
  PsDenoiser *dt = r < 0 ? scratch_teacher (m) : NULL;
  PsWStudent *dst = r < 0 ? NULL : new_student (m);
  if (dst)
    load_student (m, r, dst);
  Net net = { dt, dst, w };
  int N = r < 0 ? m->N0 : round_n (m, r), F = N + 1;
  g_autofree float *x = g_memdup2 (noise, (gsize) n * D * sizeof (float));
  float *tr = g_new (float, (gsize) n * F * D);
  gboolean ok = grid_sample (m, &net, N, x, n, cls, n, tr, NULL, cancel);
  ps_denoiser_free (dt);
  ps_wstudent_free (dst);
  if (!ok)
    {
      g_free (tr);
      g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "sampling was cancelled");
      return FALSE;
    }
  for (gsize q = 0; q < (gsize) n * F * D; q++)
    tr[q] = (tr[q] - m->shift) / m->scale;
  float *tt = g_new0 (float, F);
  for (int k = 0; k < N; k++)
    tt[k] = (float) ps_diff_sigma_from_alpha_bar (grid_ab (m, N - k, N));
  *traj = tr;
  *sigma = tt;
  *n_frames = F;
  return TRUE;
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
        ps_blob_put (&w, m->students[r], m->ns_params * sizeof (float));
    }
  /* Guided runs add the stage-1 student at the end. */
  if (m->guided)
    {
      ps_blob_put_u32 (&w, m->stage1 != NULL);
      if (m->stage1)
        ps_blob_put (&w, m->stage1, m->ns_params * sizeof (float));
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
  g_autofree float *t0 = has ? g_new (float, m->n_params) : NULL;
  if (has && !ps_blob_get (&r, t0, m->n_params * sizeof (float), error))
    return FALSE;
  gsize nb = m->ns_params * sizeof (float);
  float *st[MAX_ROUNDS + 1] = { NULL };   /* the rounds, then the stage-1 student */
  for (int k = 0; k < m->n_rounds + (m->guided ? 1 : 0); k++)
    {
      if (!ps_blob_get_u32 (&r, &has, error))
        goto fail;
      if (has)
        {
          st[k] = g_new (float, m->ns_params);
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
  /* Older checkpoints kept a round's teacher in the teacher network; the
   * rounds now read their teachers from the finished students. */
  if (m->teacher0)
    memcpy (ps_model_params (m->teacher->net), m->teacher0, m->n_params * sizeof (float));
  for (int k = 0; k < m->n_rounds; k++)
    {
      g_free (m->students[k]);
      m->students[k] = st[k];
    }
  g_free (m->stage1);
  m->stage1 = st[m->n_rounds];
  m->prev_round = G_MININT;
  return TRUE;
fail:
  for (int k = 0; k <= MAX_ROUNDS; k++)
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
             "steps each round (64, 32, ... 1 by default). The guided variant trains a "
             "conditional teacher with classifier-free guidance, then one w-conditioned student "
             "(w through a sinusoidal embedding) on the guided prediction for w in "
             "[w_min, w_max], and halves its steps at every w at once; a student step costs one "
             "network evaluation instead of two. Evaluated by sliced Wasserstein distance per "
             "round against the teacher's own few-step DDIM on the same noise, and per w "
             "against the guided teacher at its full step count.",
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
