/* ps-cbc.h: the shallow stable classification-by-components (RBF) model
 * and its certified robustness radius.
 *
 * K components w_k live in input space.  Component k is detected with
 * probability d_k(x) = exp(-|x - w_k|^2 / sigma).  Class c reasons with
 * r+_kc (component present supports c) and r-_kc (component absent
 * supports c), one softmax over the 2K logits A[c, :] (StableCBC drops
 * the original's indefinite reasoning):
 *
 *   p(c | x) = sum_k r+_kc d_k(x) + r-_kc (1 - d_k(x))
 *
 * Certified radius.  Under a perturbation |delta| <= eps the distance
 * r_k = |x - w_k| moves by at most eps, so d_k(x + delta) lies in
 * [exp(-(r_k + eps)^2 / sigma), exp(-max(0, r_k - eps)^2 / sigma)].  The
 * margin p(y) - p(c') = sum_k (a_ky - a_kc') d_k + (b_y - b_c') with
 * a = r+ - r-, b = sum_k r- is linear in the d_k, so its smallest value
 * over those intervals is a sound lower bound; it only falls as eps grows,
 * and the radius is the largest eps (found by bisection) at which every
 * bound stays positive.  It is a guarantee: no perturbation shorter than
 * the radius changes the prediction.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  int K, C, D;
  float sigma;
  float *W;    /* [K, D] components */
  float *A;    /* [C, 2K] reasoning logits: first K positive, then K negative */
} PsCbc;

/* Reasoning r[C, 2K] = softmax of each row of A. */
void  ps_cbc_reasoning (const PsCbc *m, float *r);
/* probs[n, C] (and, when non-NULL, detections det[n, K]) of x[n, D]. */
void  ps_cbc_forward (const PsCbc *m, float *probs, float *det, const float *x, int n);
/* radius[n]: the certified radius of the predicted class (0 on a tie);
 * pred[n] (may be NULL) receives the prediction. */
void  ps_cbc_certified_radius (const PsCbc *m, float *radius, int *pred, const float *x, int n);
/* grad[D] = d (p(a | x) - p(b | x)) / dx, for attacks. */
void  ps_cbc_margin_grad (const PsCbc *m, float *grad, const float *x, int a, int b);

G_END_DECLS
