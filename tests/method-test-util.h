/* method-test-util.h: helpers the method tests share (test-methods,
 * test-proto, test-proto2): a standard digits split, a model with some
 * parameters set, training through the method table, metric and snapshot
 * look-ups.  Header-only, so each test program stays one source file. */
#pragma once

#include <math.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"

/* The 8x8 digits with the standard 70/10/20 split. */
static G_GNUC_UNUSED PsDataset *
load_digits (void)
{
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_builtin ("digits", 0, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ds);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  return ds;
}

/* A model of method `id` with the "name=value" assignments `sets`. */
static G_GNUC_UNUSED gpointer
create (const char *id, PsDataset *ds, guint64 seed, const char * const *sets)
{
  const PsMethod *m = ps_method_find (id);
  g_assert_nonnull (m);
  g_autoptr (PsParams) p = ps_method_default_params (m);
  g_autoptr (GError) error = NULL;
  for (const char * const *s = sets; s && *s; s++)
    {
      g_assert_true (ps_params_set_string (p, *s, &error));
      g_assert_no_error (error);
    }
  gpointer model = m->create (m, p, ds, seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

/* Up to n steps (fewer when the method says it is done); every step must
 * succeed with a finite loss.  Returns the last loss. */
static G_GNUC_UNUSED double
train (const PsMethod *m, gpointer model, guint64 n)
{
  double last = NAN;
  for (guint64 s = 0; s < n; s++)
    {
      PsStepInfo info = { .step = s, .total_steps = n };
      g_autoptr (GError) error = NULL;
      g_assert_true (m->step (model, &info, &error));
      g_assert_no_error (error);
      g_assert_true (isfinite (info.loss));
      last = info.loss;
      if (info.done)
        break;
    }
  return last;
}

static G_GNUC_UNUSED double
metric (const PsMethod *m, gpointer model, const char *name)
{
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double v = NAN;
  g_assert_true (ps_metrics_get (mt, name, &v));
  return v;
}

static G_GNUC_UNUSED PsArray *
find_kind (GPtrArray *arrays, const char *kind)
{
  for (guint i = 0; i < arrays->len; i++)
    if (g_strcmp0 (((PsArray *) arrays->pdata[i])->kind, kind) == 0)
      return arrays->pdata[i];
  return NULL;
}
