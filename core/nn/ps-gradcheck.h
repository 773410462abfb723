/* ps-gradcheck.h: finite-difference gradient checks for tests.
 *
 * Any backward pass can be checked the same way: perturb one input or
 * parameter at a time, evaluate the scalar loss on both sides, and compare
 * the central difference with the analytic gradient.  The loss is evaluated
 * in double by the caller's callback; values are float because that is what
 * the engine computes in.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

/* The scalar loss at the current values of the checked array. */
typedef double (*PsLossFunc) (gpointer user_data);

/* Checks grad[i] against (loss(x + h e_i) - loss(x - h e_i)) / 2h for every
 * i in [0, n) (or `max_checks` evenly spaced ones when max_checks > 0 and
 * smaller than n).  A component passes when |analytic - numeric| <=
 * rel_tol * max(|analytic|, |numeric|) + abs_tol.  A step of 1e-2 is tried
 * first and 2e-3 when it disagrees, since a large step may straddle a kink
 * (ReLU, max-pool switch) while a small one suffers float rounding; a real
 * bug fails at both.  x is restored exactly.  On failure returns FALSE and
 * a PS_ERROR_VALUE error naming `what`, the index and both values. */
gboolean ps_gradcheck (PsLossFunc loss, gpointer user_data, float *x, const float *grad,
                       gsize n, gsize max_checks, double rel_tol, double abs_tol,
                       const char *what, GError **error);

G_END_DECLS
