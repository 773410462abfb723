/* ps-optim.h: optimizers, gradient clipping, weight EMA and learning-rate
 * schedules over one flat parameter slab.
 *
 * An optimizer sees the parameters and gradients as two float arrays of the
 * same length n (the model's slabs).  Its own state (momentum, Adam moments)
 * is one more slab of n or 2n floats, and the exponential moving average of
 * the weights, when enabled, a separate slab of n floats.  Everything is
 * deterministic: the same gradients give bit-identical updates.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

typedef enum
{
  PS_OPTIM_SGD = 0,    /* SGD with optional (Nesterov) momentum; coupled L2 decay */
  PS_OPTIM_ADAM = 1,   /* Adam (Kingma & Ba); weight decay added to the gradient */
  PS_OPTIM_ADAMW = 2,  /* Adam with decoupled weight decay (Loshchilov & Hutter) */
} PsOptimKind;

typedef enum
{
  PS_SCHED_CONSTANT = 0,  /* lr */
  PS_SCHED_STEP = 1,      /* lr * gamma^floor(s / step_every) */
  PS_SCHED_COSINE = 2,    /* min_lr + (lr - min_lr) * (1 + cos(pi * s / total)) / 2 */
} PsSchedKind;

/* A learning-rate schedule.  Steps count from 0.  With warmup_steps = W > 0
 * the rate rises linearly as lr_sched(0) * (step + 1) / W for steps < W, and
 * the schedule proper then runs with s = step - W (so the decay starts after
 * the warm-up).  Cosine holds min_lr once s >= total_steps. */
typedef struct
{
  PsSchedKind kind;
  float lr;           /* the base (peak) rate */
  int warmup_steps;   /* 0 = no warm-up */
  int step_every;     /* STEP: multiply by gamma every this many steps */
  float gamma;        /* STEP */
  int total_steps;    /* COSINE: steps from peak to floor (after warm-up) */
  float min_lr;       /* COSINE: the floor */
} PsSchedule;

/* Learning rate at step `step` (>= 0). */
float ps_schedule_lr (const PsSchedule *sched, gint64 step);

typedef struct
{
  PsOptimKind kind;
  PsSchedule sched;    /* sched.lr is the learning rate */
  float momentum;      /* SGD: 0 = plain SGD */
  gboolean nesterov;   /* SGD */
  float beta1, beta2, eps;  /* Adam/AdamW */
  float weight_decay;  /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
  float clip_norm;     /* > 0: rescale gradients whose global L2 norm exceeds it */
} PsOptimConfig;

/* Fills `cfg` with the usual defaults for `kind` (Adam betas 0.9/0.999,
 * eps 1e-8, no momentum, no decay, no clipping, constant schedule). */
void ps_optim_config_init (PsOptimConfig *cfg, PsOptimKind kind, float lr);

typedef struct
{
  PsOptimConfig cfg;
  gsize n;            /* number of parameters */
  gint64 t;           /* steps taken so far */
  float *state;       /* the state slab: SGD velocity[n], or Adam m[n] then v[n] */
  gsize n_state;      /* floats in `state` (0 for momentum-free SGD) */
  float *ema;         /* [n] weight average, or NULL */
  float ema_decay;
  float last_lr;        /* rate used by the last step */
  float last_grad_norm; /* global gradient norm before clipping, last step */
} PsOptim;

/* A new optimizer for `n_params` parameters; free with ps_optim_free. */
PsOptim *ps_optim_new  (const PsOptimConfig *cfg, gsize n_params);
void     ps_optim_free (PsOptim *opt);
/* Forgets the moments and the step count (the EMA is kept). */
void     ps_optim_reset (PsOptim *opt);

/* One update: clips `grads` in place when cfg.clip_norm > 0, updates
 * `params` in place, advances t and, when enabled, the EMA.  Returns the
 * global gradient norm measured before clipping. */
float ps_optim_step (PsOptim *opt, float *params, float *grads);

/* Global L2 norm of grads[n]; when max_norm > 0 and the norm exceeds it,
 * scales grads so their norm becomes max_norm.  Returns the norm before
 * scaling. */
float ps_clip_grad_norm (float *grads, gsize n, float max_norm);

/* Starts an EMA of the weights, ema = decay * ema + (1 - decay) * params
 * after each step, seeded with a copy of `params`.  decay in [0, 1). */
void         ps_optim_ema_enable (PsOptim *opt, float decay, const float *params);
/* The EMA slab [n] (owned by the optimizer), or NULL when disabled. */
const float *ps_optim_ema (PsOptim *opt);
/* Updates the EMA from `params` (ps_optim_step calls this itself). */
void         ps_optim_ema_update (PsOptim *opt, const float *params);

G_END_DECLS
