/* ps-distill-guided.h: the w-conditioned student of guided distillation
 * (Meng et al., "On distillation of guided diffusion models").
 *
 * A PsWStudent is a denoiser whose input rows are the PsDenoiser rows
 * [x, emb(t), one-hot(class | null)] followed by a sinusoidal embedding of
 * the guidance weight w (PS_WSTUDENT_W_PERIOD), so one network covers a
 * whole range of w.  It predicts v, like the distillation teacher.  With
 * w_dim = 0 and no classes its network is exactly the teacher's (same spec,
 * same checkpoint), which is how unguided progressive distillation uses it.
 *
 * Also the entry point the window uses to resample a guided distillation
 * run at a new w (implemented in ps-method-distill.c).
 */
#pragma once

#include <glib.h>
#include "ps-diffusion.h"

G_BEGIN_DECLS

/* The w embedding: ps_time_embed_forward of w itself with this period, so
 * the frequencies run from 1 to about 1/10 per unit of w: smooth over the
 * guidance range [0, 8], none wraps around. */
#define PS_WSTUDENT_W_PERIOD 10.f

typedef struct
{
  PsDenoiser *rows;   /* builds [x, emb(t), one-hot] (its own tiny network is unused) */
  PsModel *net;       /* in_size -> hidden -> D, v-prediction */
  int D, n_classes, w_dim;
  int base_size;      /* D + emb_dim + (n_classes ? n_classes + 1 : 0) */
  int in_size;        /* base_size + w_dim */
  int cap;
  float *in;          /* [cap, in_size] */
  float *dout;        /* [cap, D] */
  float *tv;          /* [cap] */
} PsWStudent;

PsWStudent *ps_wstudent_new  (int D, int emb_dim, int n_classes, int w_dim, const char *hidden,
                              GError **error);
void        ps_wstudent_free (PsWStudent *s);
/* Copies a v-prediction teacher with the same D, emb_dim, classes and
 * hidden layers into the student; the first layer's w columns start at
 * zero, so the student begins as the conditional teacher at any w. */
void        ps_wstudent_init_from (PsWStudent *s, PsDenoiser *teacher);
/* Input rows for x[n, D] at timesteps t[n], classes cls[n] (NULL: null
 * class) and guidance w[n] (NULL: 0), into s->in. */
void        ps_wstudent_build_input (PsWStudent *s, const float *x, int n, const int *t,
                                     const int *cls, const float *w);
/* The x0 prediction x0[n, D] (evaluation mode). */
void        ps_wstudent_x0_rows (PsWStudent *s, const PsDiffSchedule *sched, float *x0,
                                 const float *x, int n, const int *t, const int *cls,
                                 const float *w);
/* The distillation loss: the squared error of the x0 prediction against
 * target[n, D], summed over dimensions, weighted per row by max(1, SNR(t)),
 * mean over rows.  With `backward`, the parameter gradients are zeroed and
 * then hold this loss's gradient. */
double      ps_wstudent_x0_loss (PsWStudent *s, const PsDiffSchedule *sched, const float *xt,
                                 const int *t, const int *cls, const float *w,
                                 const float *target, int n, gboolean backward);
/* ps_wstudent_x0_loss with backward and one optimizer step.  Fails with
 * PS_ERROR_DIVERGED on a non-finite loss (weights untouched). */
gboolean    ps_wstudent_train_x0 (PsWStudent *s, const PsDiffSchedule *sched, const float *xt,
                                  const int *t, const int *cls, const float *w,
                                  const float *target, int n, float *loss, GError **error);
/* dw[n] += d/dw_i sum(dx0 * x0(x, t, cls, w)): how the prediction moves
 * with the guidance weight, through the network and the w embedding. */
void        ps_wstudent_x0_w_grad (PsWStudent *s, const PsDiffSchedule *sched, float *dw,
                                   const float *x, int n, const int *t, const int *cls,
                                   const float *w, const float *dx0);

/* Mean Euclidean distance between the rows of a[n, D] and b[n, D]
 * (samples of two deterministic samplers from the same noise). */
double      ps_mean_displacement (const float *a, const float *b, int n, int D);
/* Mean distance of each row of x[n, D] to the centre of its class,
 * means[cls[i], D]. */
double      ps_class_spread (const float *x, const int *cls, int n, int D, const double *means);

/* ---- Resampling a guided distillation run (ps-method-distill.c) ---- */

/* For a model of method `distill` with guided=true: samples noise[n, D]
 * (unit Gaussian, model space) for classes cls[n] at guidance w with the
 * last finished student on its own step grid (or, before any student has
 * finished, the teacher with classifier-free guidance on its full grid).
 * Returns the trajectories [n, F, D] in data space (x before each step,
 * the last frame the sample), their sigma per frame in *sigma [F] and F
 * in *n_frames; both arrays are the caller's (g_free).  Returns FALSE with
 * PS_ERROR_VALUE for an unguided model, PS_ERROR_CANCELLED when *cancel
 * becomes non-zero between steps. */
gboolean    ps_distill_sample_guided (gpointer model, float w, const float *noise,
                                      const int *cls, int n, const gint *cancel, float **traj,
                                      float **sigma, int *n_frames, GError **error);

G_END_DECLS
