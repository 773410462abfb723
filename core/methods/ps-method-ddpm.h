/* ps-method-ddpm.h: what the window's live sampler borrows from a loaded
 * ddpm model (ps-method-ddpm.c). */
#pragma once

#include "ps-diffusion.h"

G_BEGIN_DECLS

/* The denoiser, its schedule, the run's DDIM step count and guidance
 * weight of a ddpm model made by ps_method_ddpm.create (borrowed; they live
 * as long as the model).  FALSE for a model of another method's kind is
 * not detectable: pass only ddpm models.  The caller swaps in the EMA
 * weights (ps_model_swap_ema) if it samples as ddpm does. */
void ps_ddpm_get_sampler (gpointer model, PsDenoiser **den, PsDiffSchedule **sched,
                          int *ddim_steps, float *guidance);

G_END_DECLS
