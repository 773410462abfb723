/* ps-because.h: "This looks like that, because ..." (Nauta et al.).
 *
 * Why does a prototype match?  Modify an image in one controlled way
 * (contrast, brightness, shape by blur or erosion, texture by noise,
 * position by a shift) and measure how much the prototype's similarity
 * drops: Delta = s(x) - s(T(x)).  A large drop means the prototype relies on
 * that characteristic.  Locally this is one image; globally, per prototype,
 * the similarity-weighted mean over its top-k most similar training images.
 * Images are grayscale [H, W] in [0, 1].
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

typedef enum
{
  PS_BECAUSE_CONTRAST = 0,    /* contrast halved around the image mean */
  PS_BECAUSE_BRIGHTNESS,      /* +0.25, clamped */
  PS_BECAUSE_BLUR,            /* shape: 3x3 box blur */
  PS_BECAUSE_EROSION,         /* thickness: 3x3 grey erosion (minimum) */
  PS_BECAUSE_NOISE,           /* texture: Gaussian noise, sd 0.2, clamped */
  PS_BECAUSE_SHIFT,           /* position: shifted by max(1, H / 14) pixels down and right */
  PS_BECAUSE_N_KINDS
} PsBecauseKind;

/* "contrast", "brightness", "blur", "erosion", "noise", "shift". */
const char *ps_because_name (PsBecauseKind kind);

/* out[H, W] = T_kind (img); rng is used by the noise only. */
void ps_because_transform (float *out, const float *img, int H, int W, PsBecauseKind kind,
                           PsRng *rng);

/* Similarities sims[n, K] of images x[n, H * W]. */
typedef void (*PsBecauseSimFn) (gpointer user, const float *x, int n, float *sims);

/* Local importance of one image: delta[K, PS_BECAUSE_N_KINDS]. */
void ps_because_local (float *delta, PsBecauseSimFn fn, gpointer user, const float *img,
                       int H, int W, int K, guint64 seed);

/* Global importance: for prototype k, the mean of Delta over the image
 * rows top[k, 0..topk) of images[n, H * W] (negative rows skipped),
 * weighted by topw[k, j] (their similarity to k; negatives count as 0).
 * importance[K, PS_BECAUSE_N_KINDS]. */
void ps_because_global (float *importance, PsBecauseSimFn fn, gpointer user,
                        const float *images, const int *top, const float *topw, int topk,
                        int H, int W, int K, guint64 seed);

/* Spearman rank correlation of a[n] and b[n] (tied values share their mean
 * rank); NAN when n < 2 or either side is constant. */
double ps_because_spearman (const float *a, const float *b, int n);

G_END_DECLS
