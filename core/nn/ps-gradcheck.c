/* ps-gradcheck.c: finite-difference gradient checks for tests. */
#define G_LOG_DOMAIN "ps-gradcheck"

#include "ps-gradcheck.h"

#include <math.h>

static gboolean
close_enough (double a, double b, double rel_tol, double abs_tol)
{
  return fabs (a - b) <= rel_tol * MAX (fabs (a), fabs (b)) + abs_tol;
}

gboolean
ps_gradcheck (PsLossFunc loss, gpointer user_data, float *x, const float *grad,
              gsize n, gsize max_checks, double rel_tol, double abs_tol,
              const char *what, GError **error)
{
  g_return_val_if_fail (loss != NULL, FALSE);
  g_return_val_if_fail (n == 0 || (x != NULL && grad != NULL), FALSE);

  const float steps[] = { 1e-2f, 2e-3f };
  gsize count = max_checks > 0 && max_checks < n ? max_checks : n;

  for (gsize c = 0; c < count; c++)
    {
      /* Evenly spaced indices cover every layer of a long slab. */
      gsize i = count == n ? c : (gsize) ((double) c * (double) n / (double) count);
      double numeric = 0.0;
      gboolean ok = FALSE;
      for (guint k = 0; k < G_N_ELEMENTS (steps) && !ok; k++)
        {
          float h = steps[k], saved = x[i];
          x[i] = saved + h;
          double lp = loss (user_data);
          x[i] = saved - h;
          double lm = loss (user_data);
          x[i] = saved;
          numeric = (lp - lm) / (2.0 * h);
          ok = close_enough (grad[i], numeric, rel_tol, abs_tol);
        }
      if (!ok)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                       "%s[%" G_GSIZE_FORMAT "]: analytic %.6g vs numeric %.6g",
                       what != NULL ? what : "grad", i, grad[i], numeric);
          return FALSE;
        }
    }
  return TRUE;
}
