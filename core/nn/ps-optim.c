/* ps-optim.c: SGD, Adam, AdamW, clipping, EMA and learning-rate schedules. */
#define G_LOG_DOMAIN "ps-optim"

#include "ps-optim.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

/* At the project's -O2 GCC keeps these loops scalar (and sqrtf calls out
 * for errno), which made Adam a fifth of an MLP epoch.  The Adam loop is
 * therefore written with SSE for x86-64's baseline, and with AVX-512 where
 * the CPU has it; the lanes perform the same IEEE operations in the same
 * order as the scalar tail, so results are bit-identical to the scalar form. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("tree-vectorize")
#endif

#include <math.h>
#include <string.h>

float
ps_schedule_lr (const PsSchedule *sched, gint64 step)
{
  g_return_val_if_fail (sched != NULL, 0.f);

  if (step < 0)
    step = 0;
  if (sched->warmup_steps > 0 && step < sched->warmup_steps)
    return sched->lr * (float) ((double) (step + 1) / (double) sched->warmup_steps);

  gint64 s = step - MAX (sched->warmup_steps, 0);
  switch (sched->kind)
    {
    case PS_SCHED_CONSTANT:
      return sched->lr;
    case PS_SCHED_STEP:
      if (sched->step_every <= 0)
        return sched->lr;
      return (float) (sched->lr * pow (sched->gamma, (double) (s / sched->step_every)));
    case PS_SCHED_COSINE:
      {
        if (sched->total_steps <= 0 || s >= sched->total_steps)
          return sched->total_steps <= 0 ? sched->lr : sched->min_lr;
        double c = 0.5 * (1.0 + cos (G_PI * (double) s / (double) sched->total_steps));
        return (float) (sched->min_lr + (sched->lr - sched->min_lr) * c);
      }
    default:
      g_return_val_if_reached (sched->lr);
    }
}

void
ps_optim_config_init (PsOptimConfig *cfg, PsOptimKind kind, float lr)
{
  g_return_if_fail (cfg != NULL);

  memset (cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->sched.kind = PS_SCHED_CONSTANT;
  cfg->sched.lr = lr;
  cfg->sched.gamma = 0.1f;
  cfg->beta1 = 0.9f;
  cfg->beta2 = 0.999f;
  cfg->eps = 1e-8f;
  /* AdamW without decay is just Adam; give it the customary default. */
  if (kind == PS_OPTIM_ADAMW)
    cfg->weight_decay = 0.01f;
}

static gsize
state_floats (const PsOptimConfig *cfg, gsize n)
{
  switch (cfg->kind)
    {
    case PS_OPTIM_SGD:
      return cfg->momentum != 0.f ? n : 0;
    case PS_OPTIM_ADAM:
    case PS_OPTIM_ADAMW:
      return 2 * n;
    default:
      return 0;
    }
}

PsOptim *
ps_optim_new (const PsOptimConfig *cfg, gsize n_params)
{
  g_return_val_if_fail (cfg != NULL, NULL);
  g_return_val_if_fail (cfg->kind <= PS_OPTIM_ADAMW, NULL);

  PsOptim *opt = g_new0 (PsOptim, 1);
  opt->cfg = *cfg;
  opt->n = n_params;
  opt->n_state = state_floats (cfg, n_params);
  opt->state = ps_alloc0 (MAX (opt->n_state, 1) * sizeof (float));
  return opt;
}

void
ps_optim_free (PsOptim *opt)
{
  if (opt == NULL)
    return;
  ps_free (opt->state);
  ps_free (opt->ema);
  g_free (opt);
}

void
ps_optim_reset (PsOptim *opt)
{
  g_return_if_fail (opt != NULL);
  memset (opt->state, 0, MAX (opt->n_state, 1) * sizeof (float));
  opt->t = 0;
}

float
ps_clip_grad_norm (float *grads, gsize n, float max_norm)
{
  /* Accumulate in double: with a million parameters a float sum would lose
   * the small gradients entirely.  Eight independent partial sums (a fixed
   * order, so still deterministic) let the compiler use vector lanes. */
  double acc[8] = { 0 };
  gsize i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++)
      acc[k] += (double) grads[i + k] * grads[i + k];
  for (; i < n; i++)
    acc[0] += (double) grads[i] * grads[i];
  double ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  double norm = sqrt (ss);
  if (max_norm > 0.f && norm > max_norm)
    {
      float scale = (float) (max_norm / norm);
      for (i = 0; i < n; i++)
        grads[i] *= scale;
    }
  return (float) norm;
}

void
ps_optim_ema_enable (PsOptim *opt, float decay, const float *params)
{
  g_return_if_fail (opt != NULL);
  g_return_if_fail (decay >= 0.f && decay < 1.f);
  g_return_if_fail (params != NULL);

  if (opt->ema == NULL)
    opt->ema = ps_alloc0 (MAX (opt->n, 1) * sizeof (float));
  memcpy (opt->ema, params, opt->n * sizeof (float));
  opt->ema_decay = decay;
}

const float *
ps_optim_ema (PsOptim *opt)
{
  g_return_val_if_fail (opt != NULL, NULL);
  return opt->ema;
}

void
ps_optim_ema_update (PsOptim *opt, const float *params)
{
  g_return_if_fail (opt != NULL);
  if (opt->ema == NULL)
    return;
  const float d = opt->ema_decay, one_minus = 1.f - opt->ema_decay;
  float *ema = opt->ema;
  for (gsize i = 0; i < opt->n; i++)
    ema[i] = d * ema[i] + one_minus * params[i];
}

static void
sgd_step (PsOptim *opt, float lr, float *params, const float *grads)
{
  const PsOptimConfig *c = &opt->cfg;
  const float wd = c->weight_decay, mu = c->momentum;
  const gsize n = opt->n;

  if (mu == 0.f)
    {
      for (gsize i = 0; i < n; i++)
        params[i] -= lr * (grads[i] + wd * params[i]);
      return;
    }

  /* PyTorch's form: v = mu * v + g; the first step starts v at g. */
  float *v = opt->state;
  const gboolean first = opt->t == 0;
  for (gsize i = 0; i < n; i++)
    {
      float g = grads[i] + wd * params[i];
      float vi = first ? g : mu * v[i] + g;
      v[i] = vi;
      params[i] -= lr * (c->nesterov ? g + mu * vi : vi);
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PS_HAVE_AVX512_PATH 1

/* Whether the CPU has AVX-512F (PS_NO_AVX512 in the environment says no,
 * as in ps-act.c). */
static gboolean
use_avx512 (void)
{
  static int have = -1;
  if (G_UNLIKELY (have < 0))
    {
      __builtin_cpu_init ();
      have = __builtin_cpu_supports ("avx512f") && g_getenv ("PS_NO_AVX512") == NULL ? 1 : 0;
    }
  return have == 1;
}

/* The Adam loop of adam_step 16 lanes at a time, for the first n - n % 16
 * parameters: the same IEEE operations in the same order (no fused
 * multiply-adds: contraction is off, as gcc would otherwise fuse the
 * intrinsics), so the same bits as the SSE and scalar forms; only the
 * order of the squared-gradient sum (the reported norm) differs.  Returns
 * how many parameters it did and adds their squared gradients to *ss. */
static __attribute__ ((target ("avx512f"), optimize ("fp-contract=off"))) gsize
adam_avx512 (gsize n, float *restrict params, const float *restrict grads, float *restrict m,
             float *restrict v, float b1, float b2, float l2, float shrink, float lr, float eps,
             float inv_bc1, float inv_bc2, double *ss)
{
  const __m512 vb1 = _mm512_set1_ps (b1), vb2 = _mm512_set1_ps (b2);
  const __m512 v1b1 = _mm512_set1_ps (1.f - b1), v1b2 = _mm512_set1_ps (1.f - b2);
  const __m512 vl2 = _mm512_set1_ps (l2), vshrink = _mm512_set1_ps (shrink);
  const __m512 vlr = _mm512_set1_ps (lr), veps = _mm512_set1_ps (eps);
  const __m512 vbc1 = _mm512_set1_ps (inv_bc1), vbc2 = _mm512_set1_ps (inv_bc2);
  __m512d acc_lo = _mm512_setzero_pd (), acc_hi = _mm512_setzero_pd ();
  gsize i = 0;
  for (; i + 16 <= n; i += 16)
    {
      __m512 p = _mm512_loadu_ps (params + i);
      __m512 graw = _mm512_loadu_ps (grads + i);
      __m512d glo = _mm512_cvtps_pd (_mm512_castps512_ps256 (graw));
      __m512d ghi = _mm512_cvtps_pd (_mm256_castpd_ps (_mm512_extractf64x4_pd (
                                       _mm512_castps_pd (graw), 1)));
      acc_lo = _mm512_add_pd (acc_lo, _mm512_mul_pd (glo, glo));
      acc_hi = _mm512_add_pd (acc_hi, _mm512_mul_pd (ghi, ghi));
      __m512 g = _mm512_add_ps (graw, _mm512_mul_ps (vl2, p));
      __m512 mi = _mm512_add_ps (_mm512_mul_ps (vb1, _mm512_loadu_ps (m + i)),
                                 _mm512_mul_ps (v1b1, g));
      __m512 vi = _mm512_add_ps (_mm512_mul_ps (vb2, _mm512_loadu_ps (v + i)),
                                 _mm512_mul_ps (_mm512_mul_ps (v1b2, g), g));
      _mm512_storeu_ps (m + i, mi);
      _mm512_storeu_ps (v + i, vi);
      __m512 mhat = _mm512_mul_ps (mi, vbc1), vhat = _mm512_mul_ps (vi, vbc2);
      __m512 step = _mm512_div_ps (_mm512_mul_ps (vlr, mhat),
                                   _mm512_add_ps (_mm512_sqrt_ps (vhat), veps));
      _mm512_storeu_ps (params + i, _mm512_sub_ps (_mm512_mul_ps (p, vshrink), step));
    }
  double lanes[16];
  _mm512_storeu_pd (lanes, acc_lo);
  _mm512_storeu_pd (lanes + 8, acc_hi);
  double sum = 0.0;
  for (int k = 0; k < 16; k++)
    sum += lanes[k];
  *ss += sum;
  return i;
}
#endif

/* Returns the sum of squared gradients it read (before weight decay), so the
 * step needs no separate pass for the norm when it does not clip. */
static double
adam_step (PsOptim *opt, float lr, float *restrict params, const float *restrict grads)
{
  const PsOptimConfig *c = &opt->cfg;
  const gsize n = opt->n;
  float *restrict m = opt->state;
  float *restrict v = opt->state + n;
  const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
  const gint64 t = opt->t + 1;
  /* Bias corrections folded into two scalars, computed in double once. */
  const float inv_bc1 = (float) (1.0 / (1.0 - pow (b1, (double) t)));
  const float inv_bc2 = (float) (1.0 / (1.0 - pow (b2, (double) t)));
  const gboolean decoupled = c->kind == PS_OPTIM_ADAMW;
  const float wd = c->weight_decay;
  const float l2 = decoupled ? 0.f : wd;
  const float shrink = decoupled ? 1.f - lr * wd : 1.f;

  gsize i = 0;
  double ss = 0.0;
#ifdef PS_HAVE_AVX512_PATH
  if (use_avx512 ())
    i = adam_avx512 (n, params, grads, m, v, b1, b2, l2, shrink, lr, eps, inv_bc1, inv_bc2, &ss);
#endif
#if defined(__SSE2__)
  const __m128 vb1 = _mm_set1_ps (b1), vb2 = _mm_set1_ps (b2);
  const __m128 v1b1 = _mm_set1_ps (1.f - b1), v1b2 = _mm_set1_ps (1.f - b2);
  const __m128 vl2 = _mm_set1_ps (l2), vshrink = _mm_set1_ps (shrink);
  const __m128 vlr = _mm_set1_ps (lr), veps = _mm_set1_ps (eps);
  const __m128 vbc1 = _mm_set1_ps (inv_bc1), vbc2 = _mm_set1_ps (inv_bc2);
  __m128d ss_lo = _mm_setzero_pd (), ss_hi = _mm_setzero_pd ();
  for (; i + 4 <= n; i += 4)
    {
      __m128 p = _mm_loadu_ps (params + i);
      __m128 graw = _mm_loadu_ps (grads + i);
      __m128d glo = _mm_cvtps_pd (graw), ghi = _mm_cvtps_pd (_mm_movehl_ps (graw, graw));
      ss_lo = _mm_add_pd (ss_lo, _mm_mul_pd (glo, glo));
      ss_hi = _mm_add_pd (ss_hi, _mm_mul_pd (ghi, ghi));
      __m128 g = _mm_add_ps (graw, _mm_mul_ps (vl2, p));
      __m128 mi = _mm_add_ps (_mm_mul_ps (vb1, _mm_loadu_ps (m + i)), _mm_mul_ps (v1b1, g));
      __m128 vi = _mm_add_ps (_mm_mul_ps (vb2, _mm_loadu_ps (v + i)),
                              _mm_mul_ps (_mm_mul_ps (v1b2, g), g));
      _mm_storeu_ps (m + i, mi);
      _mm_storeu_ps (v + i, vi);
      __m128 mhat = _mm_mul_ps (mi, vbc1), vhat = _mm_mul_ps (vi, vbc2);
      __m128 step = _mm_div_ps (_mm_mul_ps (vlr, mhat), _mm_add_ps (_mm_sqrt_ps (vhat), veps));
      _mm_storeu_ps (params + i, _mm_sub_ps (_mm_mul_ps (p, vshrink), step));
    }
  double lanes[4];
  _mm_storeu_pd (lanes, ss_lo);
  _mm_storeu_pd (lanes + 2, ss_hi);
  ss += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; i < n; i++)
    {
      float p = params[i];
      ss += (double) grads[i] * grads[i];
      float g = grads[i] + l2 * p;
      float mi = b1 * m[i] + (1.f - b1) * g;
      float vi = b2 * v[i] + ((1.f - b2) * g) * g;
      m[i] = mi;
      v[i] = vi;
      float mhat = mi * inv_bc1, vhat = vi * inv_bc2;
      params[i] = p * shrink - (lr * mhat) / (sqrtf (vhat) + eps);
    }
  return ss;
}

float
ps_optim_step (PsOptim *opt, float *params, float *grads)
{
  g_return_val_if_fail (opt != NULL, 0.f);
  g_return_val_if_fail (params != NULL && grads != NULL, 0.f);

  /* The norm is always measured (a useful training signal); clipping needs
   * it before the update, otherwise Adam sums the squares in its own pass
   * (one read of the gradients fewer, a few percent of an MLP epoch). */
  const gboolean clip = opt->cfg.clip_norm > 0.f;
  const gboolean fused = !clip && opt->cfg.kind != PS_OPTIM_SGD;
  float norm = fused ? 0.f : ps_clip_grad_norm (grads, opt->n, opt->cfg.clip_norm);
  float lr = ps_schedule_lr (&opt->cfg.sched, opt->t);

  switch (opt->cfg.kind)
    {
    case PS_OPTIM_SGD:
      sgd_step (opt, lr, params, grads);
      break;
    case PS_OPTIM_ADAM:
    case PS_OPTIM_ADAMW:
      {
        double ss = adam_step (opt, lr, params, grads);
        if (fused)
          norm = (float) sqrt (ss);
      }
      break;
    default:
      g_return_val_if_reached (norm);
    }
  opt->t++;
  opt->last_lr = lr;
  opt->last_grad_norm = norm;
  ps_optim_ema_update (opt, params);
  return norm;
}
