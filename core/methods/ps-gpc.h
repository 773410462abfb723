/* ps-gpc.h: the semi-supervised Gaussian mixture with split and merge
 * moves behind the `gpc` method (see ps-method-gpc.c for the rules). */
#pragma once

#include "../base/ps-base.h"
#include "../eval/ps-gmm.h"

G_BEGIN_DECLS

enum { PS_GPC_SPLIT = 0, PS_GPC_MERGE = 1 };

typedef struct
{
  gint32 step, kind, a, b, k_after;
} PsGpcEvent;

typedef struct
{
  int D;
  double reg;
  PsRng rng;
  PsGaussMix *g;
  int *label;          /* [K] known class slot of each component, -1 */
  GArray *events;      /* PsGpcEvent */
  GArray *k_history;   /* gint32: K after each iteration */
} PsGpc;

void   ps_gpc_init  (PsGpc *s, int D, double reg, guint64 seed);
void   ps_gpc_clear (PsGpc *s);
/* Components 0..n_old-1 at the labelled class means (lab[n]: class slot
 * or -1), then up to k_init at random unlabelled rows. */
void   ps_gpc_start (PsGpc *s, const float *x, const int *lab, guint n, int n_old, int k_init);
/* One EM iteration, then (when `moves`) a round of splits or, when no
 * split was accepted, merges.  Returns the mean log-likelihood. */
double ps_gpc_iterate (PsGpc *s, const float *x, const int *lab, guint n, gboolean moves,
                       guint64 step);

G_END_DECLS
