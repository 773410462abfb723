/* ps-distill-guided.c: the w-conditioned student of guided distillation. */
#define G_LOG_DOMAIN "ps-distill"

#include "ps-distill-guided.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

PsWStudent *
ps_wstudent_new (int D, int emb_dim, int n_classes, int w_dim, const char *hidden, GError **error)
{
  g_return_val_if_fail (D > 0 && emb_dim >= 0 && n_classes >= 0 && w_dim >= 0, NULL);
  PsDenoiser *rows = ps_denoiser_new (D, emb_dim, n_classes, "", PS_DIFF_PRED_V, error);
  if (rows == NULL)
    return NULL;
  int in_size = rows->in_size + w_dim;
  g_autofree char *spec = hidden && hidden[0] ? g_strdup_printf ("%d-%s-%d", in_size, hidden, D)
                                              : g_strdup_printf ("%d-%d", in_size, D);
  PsModel *net = ps_model_new (spec, error);
  if (net == NULL || ps_model_out_size (net) != D)
    {
      if (net != NULL)
        g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                     "student spec '%s' does not end in %d outputs", spec, D);
      g_clear_pointer (&net, ps_model_free);
      ps_denoiser_free (rows);
      return NULL;
    }
  PsWStudent *s = g_new0 (PsWStudent, 1);
  s->rows = rows;
  s->net = net;
  s->D = D;
  s->n_classes = n_classes;
  s->w_dim = w_dim;
  s->base_size = rows->in_size;
  s->in_size = in_size;
  return s;
}

void
ps_wstudent_free (PsWStudent *s)
{
  if (s == NULL)
    return;
  ps_denoiser_free (s->rows);
  ps_model_free (s->net);
  g_free (s->in);
  g_free (s->dout);
  g_free (s->tv);
  g_free (s);
}

static void
reserve (PsWStudent *s, int n)
{
  if (n <= s->cap)
    return;
  s->cap = MAX (n, s->cap * 2);
  s->in = g_renew (float, s->in, (gsize) s->cap * s->in_size);
  s->dout = g_renew (float, s->dout, (gsize) s->cap * s->D);
  s->tv = g_renew (float, s->tv, s->cap);
}

void
ps_wstudent_init_from (PsWStudent *s, PsDenoiser *teacher)
{
  g_return_if_fail (teacher->D == s->D && teacher->n_classes == s->n_classes
                    && teacher->in_size == s->base_size);
  const PsLayerInfo *l0 = ps_model_layer (s->net, 0), *t0 = ps_model_layer (teacher->net, 0);
  g_return_if_fail (l0->kind == PS_LAYER_LINEAR && t0->kind == PS_LAYER_LINEAR
                    && l0->out_c == t0->out_c);
  g_return_if_fail (ps_model_n_params (s->net) - ps_model_n_params (teacher->net)
                    == (gsize) s->w_dim * l0->out_c);
  float *dst = ps_model_params (s->net);
  const float *src = ps_model_params (teacher->net);
  const int OC = l0->out_c, Cs = s->in_size, Ct = s->base_size;
  /* The first layer's weight [OC, C]: each output row gains w_dim zero
   * columns at its end.  Everything after it is laid out the same. */
  g_assert (l0->param_off == 0 && t0->param_off == 0);
  for (int o = 0; o < OC; o++)
    {
      memcpy (dst + (gsize) o * Cs, src + (gsize) o * Ct, Ct * sizeof (float));
      memset (dst + (gsize) o * Cs + Ct, 0, s->w_dim * sizeof (float));
    }
  gsize rest = ps_model_n_params (teacher->net) - (gsize) OC * Ct;
  memcpy (dst + (gsize) OC * Cs, src + (gsize) OC * Ct, rest * sizeof (float));
}

void
ps_wstudent_build_input (PsWStudent *s, const float *x, int n, const int *t, const int *cls,
                         const float *w)
{
  reserve (s, n);
  for (int i = 0; i < n; i++)
    s->tv[i] = (float) t[i];
  ps_denoiser_build_input (s->rows, x, n, s->tv, cls);
  const int B = s->base_size, W = s->w_dim;
  float last_w = NAN;
  g_autofree float *emb = g_new0 (float, MAX (W, 1));
  for (int i = 0; i < n; i++)
    {
      float *row = s->in + (gsize) i * s->in_size;
      memcpy (row, s->rows->in + (gsize) i * B, B * sizeof (float));
      if (W == 0)
        continue;
      /* Rows usually share one w (sampling): embed it once. */
      float wi = w ? w[i] : 0.f;
      if (wi != last_w)
        {
          ps_time_embed_forward (emb, &wi, 1, W, PS_WSTUDENT_W_PERIOD);
          last_w = wi;
        }
      memcpy (row + B, emb, W * sizeof (float));
    }
}

/* x0 = a x + b v at timestep t. */
static void
x0_coeffs (const PsDiffSchedule *sched, int t, float *a, float *b)
{
  double ab = sched->alpha_bar[t];
  *a = (float) sqrt (ab);
  *b = (float) -sqrt (1.0 - ab);
}

void
ps_wstudent_x0_rows (PsWStudent *s, const PsDiffSchedule *sched, float *x0, const float *x, int n,
                     const int *t, const int *cls, const float *w)
{
  gboolean was_training = ps_model_get_training (s->net);
  ps_model_set_training (s->net, FALSE);
  const int D = s->D, chunk = 256;
  for (int s0 = 0; s0 < n; s0 += chunk)
    {
      int B = MIN (chunk, n - s0);
      const float *xc = x + (gsize) s0 * D;
      ps_wstudent_build_input (s, xc, B, t + s0, cls ? cls + s0 : NULL, w ? w + s0 : NULL);
      const float *out = ps_model_forward (s->net, s->in, B);
      for (int i = 0; i < B; i++)
        {
          float a, b;
          x0_coeffs (sched, t[s0 + i], &a, &b);
          for (int j = 0; j < D; j++)
            {
              gsize q = (gsize) i * D + j;
              x0[(gsize) s0 * D + q] = a * xc[q] + b * out[q];
            }
        }
    }
  ps_model_set_training (s->net, was_training);
}

double
ps_wstudent_x0_loss (PsWStudent *s, const PsDiffSchedule *sched, const float *xt, const int *t,
                     const int *cls, const float *w, const float *target, int n, gboolean backward)
{
  const int D = s->D;
  ps_wstudent_build_input (s, xt, n, t, cls, w);
  ps_model_set_training (s->net, TRUE);
  const float *out = ps_model_forward (s->net, s->in, n);
  double l = 0;
  for (int i = 0; i < n; i++)
    {
      double ab = sched->alpha_bar[t[i]];
      float a, b;
      x0_coeffs (sched, t[i], &a, &b);
      /* Truncated SNR weighting, as in ps_denoiser_train_x0. */
      float wt = (float) MAX (1.0, ab / (1.0 - ab));
      for (int j = 0; j < D; j++)
        {
          gsize q = (gsize) i * D + j;
          float r = a * xt[q] + b * out[q] - target[q];
          l += (double) wt * r * r;
          s->dout[q] = 2.f * wt * r * b / n;
        }
    }
  l /= n;
  if (backward && isfinite (l))
    {
      ps_model_zero_grad (s->net);
      ps_model_backward (s->net, s->dout, PS_BACKWARD_PARAMS);
    }
  return l;
}

gboolean
ps_wstudent_train_x0 (PsWStudent *s, const PsDiffSchedule *sched, const float *xt, const int *t,
                      const int *cls, const float *w, const float *target, int n, float *loss,
                      GError **error)
{
  double l = ps_wstudent_x0_loss (s, sched, xt, t, cls, w, target, n, TRUE);
  if (!isfinite (l))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_DIVERGED, "guided student loss is not finite");
      return FALSE;
    }
  ps_model_step (s->net);
  if (loss)
    *loss = (float) l;
  return TRUE;
}

void
ps_wstudent_x0_w_grad (PsWStudent *s, const PsDiffSchedule *sched, float *dw, const float *x,
                       int n, const int *t, const int *cls, const float *w, const float *dx0)
{
  g_return_if_fail (s->w_dim > 0);
  const int D = s->D, W = s->w_dim;
  gboolean was_training = ps_model_get_training (s->net);
  ps_model_set_training (s->net, FALSE);
  ps_wstudent_build_input (s, x, n, t, cls, w);
  ps_model_forward (s->net, s->in, n);
  for (int i = 0; i < n; i++)
    {
      float a, b;
      x0_coeffs (sched, t[i], &a, &b);
      for (int j = 0; j < D; j++)
        s->dout[(gsize) i * D + j] = b * dx0[(gsize) i * D + j];
    }
  ps_model_backward (s->net, s->dout, PS_BACKWARD_INPUT);
  const float *gin = ps_model_input_grad (s->net);
  /* The w embedding's columns of the input gradient, back through the
   * sinusoids to w. */
  g_autofree float *gemb = g_new (float, W);
  for (int i = 0; i < n; i++)
    {
      memcpy (gemb, gin + (gsize) i * s->in_size + s->base_size, W * sizeof (float));
      float wi = w ? w[i] : 0.f;
      ps_time_embed_backward (dw + i, gemb, &wi, 1, W, PS_WSTUDENT_W_PERIOD);
    }
  ps_model_set_training (s->net, was_training);
}

double
ps_mean_displacement (const float *a, const float *b, int n, int D)
{
  double sum = 0;
  for (gsize i = 0; i < (gsize) n; i++)
    {
      double d2 = 0;
      for (int k = 0; k < D; k++)
        {
          double v = a[i * D + k] - b[i * D + k];
          d2 += v * v;
        }
      sum += sqrt (d2);
    }
  return n > 0 ? sum / n : 0;
}

double
ps_class_spread (const float *x, const int *cls, int n, int D, const double *means)
{
  double sum = 0;
  for (gsize i = 0; i < (gsize) n; i++)
    {
      double d2 = 0;
      for (int k = 0; k < D; k++)
        {
          double v = x[i * D + k] - means[(gsize) cls[i] * D + k];
          d2 += v * v;
        }
      sum += sqrt (d2);
    }
  return n > 0 ? sum / n : 0;
}
