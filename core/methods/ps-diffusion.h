/* ps-diffusion.h: the shared machinery of the diffusion lab.
 *
 * One noise schedule (discrete VP timesteps t = 0..T-1 with alpha_bar[t],
 * and the VE view sigma = sqrt((1 - alpha_bar) / alpha_bar) of the same
 * process), one denoiser (a sequential MLP fed the rows
 * [x, sinusoidal-embedding(t), one-hot(class | null)]) that predicts eps,
 * x0 or v, and samplers that only ever ask for eps(x, t).  Analytic scores
 * (a Gaussian, a known Gaussian mixture, the training set as a mixture of
 * deltas) are written as the same eps function, so every sampler runs on a
 * network or on an exact score unchanged.
 *
 * Conventions: x_t = sqrt(ab) x0 + sqrt(1 - ab) eps; the score of x_t is
 * -eps / sqrt(1 - ab); v = sqrt(ab) eps - sqrt(1 - ab) x0.  The VE variable
 * is y = x_t / sqrt(ab) = x0 + sigma eps, whose probability-flow ODE is
 * dy/dsigma = eps.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"
#include "../nn/ps-model.h"

G_BEGIN_DECLS

/* ---- Schedules ------------------------------------------------------ */

typedef enum
{
  PS_DIFF_SCHED_LINEAR = 0,  /* beta from 1e-4 to 0.02 (DDPM) */
  PS_DIFF_SCHED_COSINE = 1,  /* Nichol & Dhariwal, s = 0.008, beta clipped at 0.999 */
} PsDiffScheduleKind;

typedef struct
{
  PsDiffScheduleKind kind;
  int T;
  double *beta;       /* [T] */
  double *alpha_bar;  /* [T], decreasing */
  double *sigma;      /* [T], increasing: the VE noise level of each step */
} PsDiffSchedule;

PsDiffSchedule *ps_diff_schedule_new  (PsDiffScheduleKind kind, int T);
void            ps_diff_schedule_free (PsDiffSchedule *s);
/* The timestep whose sigma is nearest to `sigma` (clamped to 0..T-1). */
int             ps_diff_schedule_nearest_t (const PsDiffSchedule *s, double sigma);

double ps_diff_sigma_from_alpha_bar (double alpha_bar);
double ps_diff_alpha_bar_from_sigma (double sigma);

/* Parameterisation conversions at one alpha_bar, elementwise over n floats. */
void ps_diff_eps_to_x0 (float *x0, const float *x, const float *eps, gsize n, double ab);
void ps_diff_x0_to_eps (float *eps, const float *x, const float *x0, gsize n, double ab);
void ps_diff_v_to_eps  (float *eps, const float *x, const float *v, gsize n, double ab);
void ps_diff_v_to_x0   (float *x0, const float *x, const float *v, gsize n, double ab);
void ps_diff_to_v      (float *v, const float *eps, const float *x0, gsize n, double ab);

/* ---- The eps interface every sampler uses --------------------------- */

/* Writes eps[n, D] for x[n, D] at integer timestep t.  cls[n] holds a class
 * per row (-1: unconditional) or is NULL. */
typedef void (*PsDiffEpsFunc) (gpointer user, float *eps, const float *x, int n, int t,
                               const int *cls);
/* Writes grad[n, D] = d/dx log p(condition | x_t) for the guidance hook. */
typedef void (*PsDiffGuideFunc) (gpointer user, float *grad, const float *x, int n, int t);

/* ---- The denoiser ----------------------------------------------------- */

typedef enum
{
  PS_DIFF_PRED_EPS = 0,
  PS_DIFF_PRED_X0 = 1,
  PS_DIFF_PRED_V = 2,
} PsDiffPred;

typedef struct
{
  PsModel *net;
  int D;            /* data dimension */
  int emb_dim;      /* width of the time embedding */
  int n_classes;    /* 0: unconditional; else C classes plus a null slot */
  PsDiffPred pred;
  int in_size;      /* D + emb_dim + (n_classes ? n_classes + 1 : 0) */
  /* Scratch, grown on demand. */
  int cap;
  float *in;        /* [cap, in_size] */
  float *tv;        /* [cap] */
  float *target;    /* [cap, D] */
  float *dout;      /* [cap, D] */
  float *aux;       /* [cap, D] */
  int *cls;         /* [cap] */
  float *emb_table; /* [PS_DENOISER_EMB_TABLE, emb_dim]: embeddings of integer t, lazily */
  /* The direct path for a plain MLP (dense layers, each optionally followed
   * by SiLU): its own activations and fused kernels, set up lazily; NULL
   * until then, and for other networks (which run through ps_model). */
  gpointer mlp;
  gboolean mlp_checked;
} PsDenoiser;

#define PS_DENOISER_EMB_TABLE 4096

/* An MLP "in-hidden-D" where `hidden` is a spec tail such as
 * "128s-128s-128s" (SiLU).  Weights are zero until ps_model_init. */
PsDenoiser *ps_denoiser_new  (int D, int emb_dim, int n_classes, const char *hidden,
                              PsDiffPred pred, GError **error);
void        ps_denoiser_free (PsDenoiser *d);
/* The direct path for plain dense/SiLU networks (on by default where the
 * network allows it): FALSE makes every pass go through ps_model, as a
 * reference for tests and comparisons.  get_direct says whether the direct
 * path runs. */
void        ps_denoiser_set_direct (PsDenoiser *d, gboolean enable);
gboolean    ps_denoiser_get_direct (PsDenoiser *d);
/* Fills the input rows [x, emb(t), one-hot(cls or null)] (t is a float per
 * row so training can draw any timestep). */
void        ps_denoiser_build_input (PsDenoiser *d, const float *x, int n, const float *t,
                                     const int *cls);
/* The eps prediction at integer t.  With cfg_w != 0 and a conditional
 * network, classifier-free guidance: (1 + w) eps(x, c) - w eps(x, null). */
void        ps_denoiser_eps (PsDenoiser *d, const PsDiffSchedule *s, float *eps, const float *x,
                             int n, int t, const int *cls, float cfg_w);
/* dx[n, D] = d/dx sum(deps * eps(x, t, cls)), the input gradient through the
 * network and the parameterisation (used by guidance). */
void        ps_denoiser_eps_input_grad (PsDenoiser *d, const PsDiffSchedule *s, float *dx,
                                        const float *x, int n, int t, const int *cls,
                                        const float *deps);
/* One optimizer step of the denoising loss on x0[n, D]: t uniform on
 * 0..T-1 (or t_fixed[n] when non-NULL), eps ~ N(0, I), a class dropped to
 * null with probability p_uncond.  MSE on the parameterisation's target.
 * Fails with PS_ERROR_DIVERGED on a non-finite loss (weights untouched). */
gboolean    ps_denoiser_train_batch (PsDenoiser *d, const PsDiffSchedule *s, const float *x0,
                                     const int *cls, int n, float p_uncond, const int *t_fixed,
                                     PsRng *rng, float *loss, GError **error);
/* Per-row denoising error |eps - eps_hat|^2 for given t[n] and noise[n, D]
 * (the diffusion classifier's ELBO term). */
void        ps_denoiser_errors (PsDenoiser *d, const PsDiffSchedule *s, float *err,
                                const float *x0, const float *noise, const int *t, const int *cls,
                                int n);

/* The x0 prediction x0[n, D] with a timestep per row t[n] (cls may be
 * NULL); with cfg_w != 0 and a conditional network, the classifier-free
 * guided combination (1 + w) x0(x, c) - w x0(x, null).  Computed from the
 * network output directly, so it stays exact where alpha_bar is tiny. */
void        ps_denoiser_x0_rows (PsDenoiser *d, const PsDiffSchedule *s, float *x0,
                                 const float *x, int n, const int *t, const int *cls, float cfg_w);
/* One optimizer step regressing the x0 prediction at (x_t, t[n], cls) onto
 * target[n, D] (distillation): squared error summed over dimensions,
 * weighted per row by max(1, SNR(t)) (truncated SNR weighting), mean over
 * rows.  Fails with PS_ERROR_DIVERGED on a non-finite loss (weights
 * untouched). */
gboolean    ps_denoiser_train_x0 (PsDenoiser *d, const PsDiffSchedule *s, const float *xt,
                                  const int *t, const int *cls, const float *target, int n,
                                  float *loss, GError **error);

/* A PsDiffEpsFunc over a denoiser: user data is this struct. */
typedef struct
{
  PsDenoiser *den;
  const PsDiffSchedule *sched;
  float cfg_w;
} PsDenoiserEps;
void ps_denoiser_eps_func (gpointer user, float *eps, const float *x, int n, int t, const int *cls);

/* ---- Samplers (ps-diffusion-sample.c) ------------------------------- */

typedef enum
{
  PS_SAMPLER_DDPM = 0,   /* ancestral, posterior variance (DDIM eta = 1 on the chosen steps) */
  PS_SAMPLER_DDIM = 1,   /* DDIM with eta */
  PS_SAMPLER_EULER = 2,  /* probability-flow ODE in sigma, Euler */
  PS_SAMPLER_HEUN = 3,   /* probability-flow ODE in sigma, Heun (2 NFE a step but the last) */
} PsSamplerKind;

typedef enum
{
  PS_SPACING_UNIFORM = 0,
  PS_SPACING_QUADRATIC = 1,  /* dense near t = 0 */
  PS_SPACING_KARRAS = 2,     /* rho = 7 in sigma, mapped to the nearest timestep */
} PsSpacing;

const char *ps_sampler_name (PsSamplerKind kind);   /* "ddpm", "ddim", "euler", "heun" */

typedef struct
{
  PsSamplerKind kind;
  int steps;               /* number of timesteps visited (<= T) */
  PsSpacing spacing;
  float eta;               /* DDIM only */
  /* Guidance hook: eps -= scale * sqrt(1 - ab) * grad log p(c | x_t). */
  PsDiffGuideFunc guide;
  gpointer guide_data;
  float guide_scale;
  /* Start timestep: x holds x_t at t_start (-1 = T-1, pure noise).  Used
   * after an analytic jump to an intermediate level. */
  int t_start;
  /* Trajectory recorder, optional (NULL): the first n_record rows.  Frame k
   * (k = 0..n_steps) holds x before step k (frame n_steps: the sample);
   * x0 the prediction made at step k (frame n_steps: the sample); t the
   * sigma of frame k (0 for the last). */
  int n_record;
  float *traj;             /* [n_record, steps + 1, D] */
  float *traj_x0;          /* [n_record, steps + 1, D] */
  float *traj_score;       /* [n_record, steps + 1, D], score of x_t (0 at the end) */
  float *traj_t;           /* [steps + 1] */
  /* Hallucination detector, optional: the variance (summed over dims) of the
   * predicted x0 over the last `x0_var_window` steps, per row [n]. */
  int x0_var_window;
  float *x0_var;
  /* DDPM/DDIM only: clamp the predicted x0 to [-clip_x0, clip_x0] (and
   * take eps consistent with it) when > 0; images in [-1, 1] use 1. */
  float clip_x0;
  /* Out. */
  int n_steps;             /* steps actually taken (spacing may merge duplicates) */
  int nfe;                 /* network evaluations per sample */
} PsSamplerConfig;

void ps_sampler_config_init (PsSamplerConfig *cfg, PsSamplerKind kind, int steps);
/* Decreasing distinct timesteps ts[0] > ... > ts[k-1] >= 0 with ts[0] = T-1;
 * returns k (<= steps). */
int  ps_diff_timesteps (const PsDiffSchedule *s, int steps, PsSpacing spacing, int *ts);
/* The same below t_start: ts[0] = t_start. */
int  ps_diff_timesteps_from (const PsDiffSchedule *s, int t_start, int steps, PsSpacing spacing,
                             int *ts);
/* Runs the sampler on x[n, D] in place: in, the starting noise x_T (unit
 * Gaussian); out, the samples.  Returns FALSE (PS_ERROR_CANCELLED) when
 * *cancel becomes non-zero. */
gboolean ps_diff_sample (const PsDiffSchedule *s, PsDiffEpsFunc fn, gpointer user, float *x,
                         int n, int D, const int *cls, PsSamplerConfig *cfg, PsRng *rng,
                         const gint *cancel, GError **error);

/* ---- Analytic scores (ps-diffusion-score.c) ------------------------- */

/* A Gaussian mixture in D dimensions: weights[K], means[K, D] and either
 * full covariances cov[K, D, D] or isotropic variances var[K] (cov NULL).
 * var = 0 gives a delta mixture (the training-set score). */
typedef struct
{
  int K, D;
  double *weights;
  double *means;
  double *cov;   /* [K, D, D] or NULL */
  double *var;   /* [K] when cov is NULL */
} PsGmm;

PsGmm *ps_gmm_new (int K, int D, gboolean full_cov);
void   ps_gmm_free (PsGmm *g);
/* Mean and covariance of x[n, D]. */
PsGmm *ps_gmm_gaussian_fit (const float *x, int n, int D);
/* The training set as K = n deltas. */
PsGmm *ps_gmm_delta_mixture (const float *x, int n, int D);
/* The true mixture of a built-in 2-D generator when known ("ring", "grid",
 * "blobs"), else NULL. */
PsGmm *ps_gmm_for_generator (const char *kind, double noise);
/* Exact eps of the diffused mixture at timestep t: the user data is a
 * PsGmmEps.  Rows with cls >= 0 use component cls only when
 * per_component is set (class = component). */
typedef struct
{
  const PsGmm *gmm;
  const PsDiffSchedule *sched;
} PsGmmEps;
void ps_gmm_eps_func (gpointer user, float *eps, const float *x, int n, int t, const int *cls);
/* The score at alpha_bar `ab` directly: score[n, D]. */
void ps_gmm_score (const PsGmm *g, float *score, const float *x, int n, double ab);
/* The exact Gaussian PF-ODE jump (GaussTeleport) in the VE variable, from
 * sigma_from to sigma_to, for a single-component (Gaussian) PsGmm with a
 * full covariance: x are VP states at t_from, written back at t_to. */
void ps_gmm_gaussian_jump (const PsGmm *g, const PsDiffSchedule *s, float *x, int n,
                           int t_from, int t_to);

/* ---- 2-D measures --------------------------------------------------- */

/* Sliced Wasserstein-1 distance between a[na, D] and b[nb, D] over
 * n_proj random directions (quantiles matched on min(na, nb) points). */
double ps_sliced_wasserstein (const float *a, int na, const float *b, int nb, int D,
                              int n_proj, guint64 seed);
/* Energy distance 2E|a-b| - E|a-a'| - E|b-b'| (V-statistics). */
double ps_energy_distance (const float *a, int na, const float *b, int nb, int D);
/* On a known mixture: modes whose 3-sigma disc holds at least 10% of their
 * expected share, and the share of samples within no mode's disc.
 * on_mode[n] (optional) gets the nearest mode or -1. */
void   ps_mode_stats (const PsGmm *g, const float *x, int n, int *modes_covered,
                      double *off_support, int *on_mode);

/* ---- Frechet distance (ps-diffusion-fd.c) --------------------------- */

#define PS_FD_FEATURES 64

/* The Frechet distance between Gaussian fits of a[na, F] and b[nb, F]:
 * |mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca Cb)^(1/2)). */
double   ps_frechet_distance (const float *a, int na, const float *b, int nb, int F);
/* A classifier "D-128r-64r-C" trained (Adam, batch 64, seeded) for
 * `epochs` passes over x[n, D] with labels y[n], in evaluation mode. */
PsModel *ps_fd_feature_net_train (const float *x, const int *y, int n, int D, int C,
                                  int epochs, guint64 seed, GError **error);
/* Its penultimate features feat[n, PS_FD_FEATURES] for x[n, D]. */
void     ps_fd_features (PsModel *net, const float *x, int n, float *feat);

/* ---- Shared by the diffusion methods -------------------------------- */

/* The checkpoint of a method with one denoiser network: magic, the step
 * counter, the RNG state and the network blob, in that order. */
GBytes  *ps_diffusion_ckpt_save (guint32 magic, guint64 step, const PsRng *rng, PsModel *net);
/* Reads it back into net; step and rng are written only on success.
 * `what` names the checkpoint in error messages. */
gboolean ps_diffusion_ckpt_load (GBytes *blob, guint32 magic, const char *what, PsModel *net,
                                 guint64 *step, PsRng *rng, GError **error);
/* Adds the snapshot arrays "trajectory<suffix>" and "trajectory<suffix>_x0"
 * [S, F, D], "trajectory<suffix>_t" [F] and "samples<suffix>" [S, D]. */
void     ps_diffusion_add_trajectory (GPtrArray *out, const char *suffix, const float *traj,
                                      const float *x0, const float *tt, const float *final,
                                      int S, int F, int D);

G_END_DECLS
