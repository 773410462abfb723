/* ps-diffusion-private.h: what the denoiser (ps-diffusion.c) and its
 * direct MLP path (ps-diffusion-mlp.c) share. */
#pragma once

#include "ps-diffusion.h"

G_BEGIN_DECLS

/* The denoiser's table of time embeddings, built once. */
void ps_denoiser_ensure_emb_table (PsDenoiser *d);

/* The direct path of a plain dense/SiLU denoiser (ps-diffusion-mlp.c). */
typedef struct _DenMlp DenMlp;

void         ps_den_mlp_free            (gpointer mlp);
/* d's direct path, or NULL when its network is not a plain dense/SiLU
 * stack (or the path is switched off). */
DenMlp      *ps_den_mlp                 (PsDenoiser *d);
/* out[n, D] = the network at timestep t for every row (shared t). */
void         ps_den_mlp_eval_shared_t   (PsDenoiser *d, DenMlp *p, float *out, const float *x,
                                         int n, int t, const int *cls);
/* Forward over full input rows, keeping what backward needs. */
const float *ps_den_mlp_forward_train   (PsDenoiser *d, DenMlp *p, const float *in, int n);
/* Parameter gradients of the last forward_train for dout[n, D]. */
void         ps_den_mlp_backward_params (PsDenoiser *d, DenMlp *p, const float *in,
                                         const float *dout, int n);

G_END_DECLS
