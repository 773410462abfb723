/* ps-diffusion-sample.c: timestep spacings and the samplers (DDPM
 * ancestral, DDIM with eta, probability-flow ODE with Euler and Heun), with
 * the guidance hook, the trajectory recorder and the x0-variance detector;
 * and the snapshot and checkpoint helpers the diffusion methods share.
 */
#define G_LOG_DOMAIN "ps-diffusion"

#include "ps-diffusion.h"
#include "../base/ps-array.h"
#include "ps-method-util.h"

#include <math.h>
#include <string.h>

const char *
ps_sampler_name (PsSamplerKind kind)
{
  static const char *const names[] = { "ddpm", "ddim", "euler", "heun" };
  return (guint) kind < G_N_ELEMENTS (names) ? names[kind] : "?";
}

void
ps_sampler_config_init (PsSamplerConfig *cfg, PsSamplerKind kind, int steps)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->steps = steps;
  cfg->spacing = kind == PS_SAMPLER_EULER || kind == PS_SAMPLER_HEUN ? PS_SPACING_KARRAS
                                                                     : PS_SPACING_UNIFORM;
  cfg->eta = kind == PS_SAMPLER_DDPM ? 1.f : 0.f;
  cfg->t_start = -1;
}

int
ps_diff_timesteps (const PsDiffSchedule *s, int steps, PsSpacing spacing, int *ts)
{
  return ps_diff_timesteps_from (s, s->T - 1, steps, spacing, ts);
}

int
ps_diff_timesteps_from (const PsDiffSchedule *s, int t_start, int steps, PsSpacing spacing,
                        int *ts)
{
  g_return_val_if_fail (steps >= 1 && t_start >= 0 && t_start < s->T, 0);
  const int T = t_start + 1;
  steps = MIN (steps, T);
  int k = 0;
  const double rho = 7.0;
  double smin = pow (s->sigma[0], 1.0 / rho), smax = pow (s->sigma[T - 1], 1.0 / rho);
  for (int i = 0; i < steps; i++)
    {
      /* u runs from 1 (t = T-1) down to 0 (t = 0). */
      double u = steps == 1 ? 1.0 : (double) (steps - 1 - i) / (steps - 1);
      int t;
      if (spacing == PS_SPACING_QUADRATIC)
        t = (int) lround (u * u * (T - 1));
      else if (spacing == PS_SPACING_KARRAS)
        t = ps_diff_schedule_nearest_t (s, pow (smin + u * (smax - smin), rho));
      else
        t = (int) lround (u * (T - 1));
      if (k > 0 && t >= ts[k - 1])
        {
          /* Merged with its neighbour: take the next free timestep below
           * so the count stays as asked where possible. */
          t = ts[k - 1] - 1;
          if (t < 0)
            break;
        }
      ts[k++] = t;
    }
  return k;
}

static void
record_frame (PsSamplerConfig *cfg, int frame, int frames, int D, const float *x,
              const float *x0, const float *score, double sigma)
{
  if (cfg->traj_t)
    cfg->traj_t[frame] = (float) sigma;
  for (int i = 0; i < cfg->n_record; i++)
    {
      gsize dst = ((gsize) i * frames + frame) * D, src = (gsize) i * D;
      if (cfg->traj)
        memcpy (cfg->traj + dst, x + src, D * sizeof (float));
      if (cfg->traj_x0)
        memcpy (cfg->traj_x0 + dst, x0 + src, D * sizeof (float));
      if (cfg->traj_score)
        {
          if (score)
            memcpy (cfg->traj_score + dst, score + src, D * sizeof (float));
          else
            memset (cfg->traj_score + dst, 0, D * sizeof (float));
        }
    }
}

/* eps with the guidance hook applied: eps - scale sqrt(1-ab) grad. */
static void
guided_eps (const PsDiffSchedule *s, PsDiffEpsFunc fn, gpointer user, PsSamplerConfig *cfg,
            float *eps, float *grad, const float *x, int n, int D, int t, const int *cls)
{
  fn (user, eps, x, n, t, cls);
  if (cfg->guide && cfg->guide_scale != 0.f)
    {
      cfg->guide (cfg->guide_data, grad, x, n, t);
      float c = (float) (cfg->guide_scale * sqrt (1.0 - s->alpha_bar[t]));
      for (gsize i = 0; i < (gsize) n * D; i++)
        eps[i] -= c * grad[i];
    }
}

gboolean
ps_diff_sample (const PsDiffSchedule *s, PsDiffEpsFunc fn, gpointer user, float *x, int n,
                int D, const int *cls, PsSamplerConfig *cfg, PsRng *rng, const gint *cancel,
                GError **error)
{
  g_return_val_if_fail (cfg != NULL && cfg->steps >= 1 && n >= 0, FALSE);
  g_return_val_if_fail (cfg->n_record <= n, FALSE);
  g_autofree int *ts = g_new (int, MIN (cfg->steps, s->T));
  const int t_start = cfg->t_start >= 0 && cfg->t_start < s->T ? cfg->t_start : s->T - 1;
  const int K = ps_diff_timesteps_from (s, t_start, cfg->steps, cfg->spacing, ts);
  const int frames = K + 1;
  const gsize m = (gsize) n * D;
  g_autofree float *eps = g_new (float, MAX (m, 1));
  g_autofree float *eps2 = g_new (float, MAX (m, 1));
  g_autofree float *grad = g_new (float, MAX (m, 1));
  g_autofree float *x0 = g_new (float, MAX (m, 1));
  g_autofree float *xs = g_new (float, MAX (m, 1));
  g_autofree float *score = cfg->traj_score ? g_new (float, MAX (m, 1)) : NULL;
  /* Running sums of x0 and x0^2 over the detector's window. */
  const int W = cfg->x0_var_window > 0 && cfg->x0_var ? MIN (cfg->x0_var_window, K) : 0;
  g_autofree double *acc1 = W ? g_new0 (double, m) : NULL;
  g_autofree double *acc2 = W ? g_new0 (double, m) : NULL;
  const gboolean ode = cfg->kind == PS_SAMPLER_EULER || cfg->kind == PS_SAMPLER_HEUN;
  const float eta = cfg->kind == PS_SAMPLER_DDPM ? 1.f : cfg->kind == PS_SAMPLER_DDIM ? cfg->eta : 0.f;
  int nfe = 0;

  for (int k = 0; k < K; k++)
    {
      if (cancel && g_atomic_int_get (cancel))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "sampling cancelled");
          return FALSE;
        }
      const int t = ts[k];
      const double ab = s->alpha_bar[t];
      const double ab_next = k + 1 < K ? s->alpha_bar[ts[k + 1]] : 1.0;
      guided_eps (s, fn, user, cfg, eps, grad, x, n, D, t, cls);
      nfe++;
      ps_diff_eps_to_x0 (x0, x, eps, m, ab);
      if (cfg->clip_x0 > 0.f && !ode)
        {
          /* At high noise eps -> x0 multiplies the network's error by
           * 1/sqrt(ab) (over 100 at t = T-1); clamping to the data range
           * keeps that error out of the next state. */
          const float c = cfg->clip_x0;
          for (gsize i = 0; i < m; i++)
            x0[i] = CLAMP (x0[i], -c, c);
          ps_diff_x0_to_eps (eps, x, x0, m, ab);
        }
      if (score)
        {
          float c = (float) (-1.0 / sqrt (1.0 - ab));
          for (gsize i = 0; i < m; i++)
            score[i] = c * eps[i];
        }
      if (cfg->n_record > 0)
        record_frame (cfg, k, frames, D, x, x0, score, s->sigma[t]);
      if (W && k >= K - W)
        for (gsize i = 0; i < m; i++)
          {
            acc1[i] += x0[i];
            acc2[i] += (double) x0[i] * x0[i];
          }

      if (!ode)
        {
          /* DDIM (Song et al.): x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s - sig^2) eps
           * + sig z, with sig = eta sqrt((1-ab_s)/(1-ab)) sqrt(1 - ab/ab_s);
           * eta = 1 on consecutive steps is DDPM's posterior variance. */
          double sig = 0.0;
          if (eta > 0.f && ab_next < 1.0)
            sig = eta * sqrt ((1.0 - ab_next) / (1.0 - ab)) * sqrt (1.0 - ab / ab_next);
          float ca = (float) sqrt (ab_next);
          float ce = (float) sqrt (MAX (0.0, 1.0 - ab_next - sig * sig));
          float cz = (float) sig;
          for (gsize i = 0; i < m; i++)
            {
              float v = ca * x0[i] + ce * eps[i];
              if (cz > 0.f)
                v += cz * ps_rng_normal (rng);
              x[i] = v;
            }
        }
      else
        {
          /* PF-ODE in y = x / sqrt(ab): dy/dsigma = eps. */
          double sg = s->sigma[t];
          double sg_next = k + 1 < K ? s->sigma[ts[k + 1]] : 0.0;
          float inv = (float) (1.0 / sqrt (ab));
          float h = (float) (sg_next - sg);
          for (gsize i = 0; i < m; i++)
            xs[i] = x[i] * inv + h * eps[i];   /* y at sigma_next (Euler) */
          if (cfg->kind == PS_SAMPLER_HEUN && k + 1 < K)
            {
              /* The corrector needs eps at the predicted point; skipped on
               * the final step to sigma = 0 (where eps is undefined). */
              float back = (float) sqrt (ab_next);
              for (gsize i = 0; i < m; i++)
                x[i] = xs[i] * back;
              guided_eps (s, fn, user, cfg, eps2, grad, x, n, D, ts[k + 1], cls);
              nfe++;
              for (gsize i = 0; i < m; i++)
                xs[i] = xs[i] - h * eps[i] + h * 0.5f * (eps[i] + eps2[i]);
            }
          float back = (float) sqrt (ab_next);
          for (gsize i = 0; i < m; i++)
            x[i] = xs[i] * back;
        }
    }
  /* The final frame: the samples themselves. */
  if (cfg->n_record > 0)
    record_frame (cfg, K, frames, D, x, x, NULL, 0.0);
  if (W)
    for (int i = 0; i < n; i++)
      {
        double v = 0;
        for (int j = 0; j < D; j++)
          {
            gsize q = (gsize) i * D + j;
            double mu = acc1[q] / W;
            v += MAX (0.0, acc2[q] / W - mu * mu);
          }
        cfg->x0_var[i] = (float) v;
      }
  cfg->n_steps = K;
  cfg->nfe = nfe;
  return TRUE;
}

/* ---- Snapshot trajectories ------------------------------------------ */

void
ps_diffusion_add_trajectory (GPtrArray *out, const char *suffix, const float *traj,
                             const float *x0, const float *tt, const float *final,
                             int S, int F, int D)
{
  g_return_if_fail (out != NULL && suffix != NULL);
  g_autofree char *k1 = g_strdup_printf ("trajectory%s", suffix);
  g_autofree char *k2 = g_strdup_printf ("trajectory%s_x0", suffix);
  g_autofree char *k3 = g_strdup_printf ("trajectory%s_t", suffix);
  g_autofree char *k4 = g_strdup_printf ("samples%s", suffix);
  gsize sh[3] = { S, F, D };
  g_ptr_array_add (out, ps_array_new (k1, PS_DTYPE_F32, 3, sh, traj));
  g_ptr_array_add (out, ps_array_new (k2, PS_DTYPE_F32, 3, sh, x0));
  gsize st[1] = { F };
  g_ptr_array_add (out, ps_array_new (k3, PS_DTYPE_F32, 1, st, tt));
  g_ptr_array_add (out, ps_array_new_f32 (k4, final, S, D));
}

/* ---- Checkpoints of a one-network method ---------------------------- */

GBytes *
ps_diffusion_ckpt_save (guint32 magic, guint64 step, const PsRng *rng, PsModel *net)
{
  g_return_val_if_fail (rng != NULL && net != NULL, NULL);
  g_autoptr (GBytes) nb = ps_model_save (net);
  PsBlobWriter w;
  ps_blob_writer_init (&w, magic);
  ps_blob_put_u64 (&w, step);
  ps_blob_put_rng (&w, rng);
  ps_blob_put_bytes (&w, nb);
  return ps_blob_writer_finish (&w);
}

gboolean
ps_diffusion_ckpt_load (GBytes *blob, guint32 magic, const char *what, PsModel *net,
                        guint64 *step, PsRng *rng, GError **error)
{
  g_return_val_if_fail (net != NULL && step != NULL && rng != NULL, FALSE);
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, magic, what, error))
    return FALSE;
  guint64 st;
  PsRng rg;
  g_autoptr (GBytes) nb = NULL;
  if (!ps_blob_get_u64 (&r, &st, error) || !ps_blob_get_rng (&r, &rg, error)
      || !(nb = ps_blob_get_bytes (&r, error)))
    return FALSE;
  /* The step counter and RNG change only once the network has loaded,
   * so a failed load does not leave them out of step with it. */
  if (!ps_model_load_into (net, nb, error))
    return FALSE;
  *step = st;
  *rng = rg;
  return TRUE;
}
