/* test-methods.c: the method registry and the `mlp` classifier: it learns
 * (a bar an untrained model fails), same seed = same run, checkpoints
 * resume exactly, snapshots carry the documented kinds, explain works. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "method-test-util.h"

static void
test_registry (void)
{
  const PsMethod * const *all = ps_methods_all ();
  g_assert_nonnull (all[0]);
  for (const PsMethod * const *m = all; *m; m++)
    {
      g_assert_nonnull ((*m)->id);
      g_assert_nonnull ((*m)->title);
      g_assert_nonnull ((*m)->summary);
      g_assert_nonnull ((*m)->key_metric);
      g_assert_true (ps_method_find ((*m)->id) == *m);
      g_assert_nonnull ((*m)->create);
      g_assert_nonnull ((*m)->step);
      g_assert_nonnull ((*m)->save);
      g_assert_nonnull ((*m)->load);
      /* Every default is inside its own range. */
      for (guint i = 0; i < (*m)->n_params; i++)
        {
          const PsParamSpec *s = &(*m)->params[i];
          if (s->type == PS_PARAM_INT || s->type == PS_PARAM_FLOAT)
            {
              g_assert_cmpfloat (s->def, >=, s->min);
              g_assert_cmpfloat (s->def, <=, s->max);
            }
        }
    }
  g_assert_null (ps_method_find ("no-such-method"));

  /* Families are contiguous, so lists grouped by family show each once. */
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const char *prev = NULL;
  for (const PsMethod * const *m = all; *m; m++)
    {
      if (g_strcmp0 (prev, (*m)->family) != 0)
        {
          g_assert_false (g_hash_table_contains (seen, (*m)->family));
          g_hash_table_add (seen, (gpointer) (*m)->family);
        }
      prev = (*m)->family;
    }
}

static void
test_mlp_learns_digits (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("mlp");
  const char *sets[] = { "epochs=15", "batch_size=64", NULL };
  gpointer model = create ("mlp", ds, 1, sets);
  double before = metric (m, model, "test_acc");
  double t0 = ps_now ();
  train (m, model, m->total_steps (model));
  double secs = ps_now () - t0;
  double after = metric (m, model, "test_acc");
  g_test_message ("digits: test acc %.3f untrained, %.3f after %.2f s", before, after, secs);
  /* The bar: above 0.9, which the untrained network must fail. */
  g_assert_cmpfloat (before, <, 0.9);
  g_assert_cmpfloat (after, >, 0.9);
  g_assert_cmpfloat (secs, <, 20.0);
  m->free (model);
}

static GBytes *
params_after (const PsMethod *m, gpointer model)
{
  return m->save (model);
}

static void
test_mlp_same_seed_same_run (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("mlp");
  const char *sets[] = { "epochs=2", "batch_size=32", NULL };
  gpointer a = create ("mlp", ds, 7, sets), b = create ("mlp", ds, 7, sets), c = create ("mlp", ds, 8, sets);
  train (m, a, 60);
  train (m, b, 60);
  train (m, c, 60);
  g_autoptr (GBytes) sa = params_after (m, a), sb = params_after (m, b), sc = params_after (m, c);
  g_assert_true (g_bytes_equal (sa, sb));
  g_assert_false (g_bytes_equal (sa, sc));
  m->free (a);
  m->free (b);
  m->free (c);
}

static void
test_mlp_resume_exact (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("mlp");
  const char *sets[] = { "epochs=3", "batch_size=50", "spec=64-32r-10", NULL };
  gpointer straight = create ("mlp", ds, 3, sets);
  guint64 total = m->total_steps (straight);
  train (m, straight, total);

  /* Stop in the middle of an epoch, save, load into a fresh model, finish. */
  gpointer first = create ("mlp", ds, 3, sets);
  train (m, first, total / 2 + 3);
  g_autoptr (GBytes) ck = m->save (first);
  m->free (first);
  gpointer resumed = create ("mlp", ds, 3, sets);
  g_autoptr (GError) error = NULL;
  g_assert_true (m->load (resumed, ck, &error));
  g_assert_no_error (error);
  train (m, resumed, total - (total / 2 + 3));
  g_autoptr (GBytes) s1 = m->save (straight), s2 = m->save (resumed);
  g_assert_true (g_bytes_equal (s1, s2));

  /* A truncated or foreign checkpoint is refused with a message. */
  g_autoptr (GBytes) cut = g_bytes_new_from_bytes (ck, 0, g_bytes_get_size (ck) / 2);
  g_assert_false (m->load (resumed, cut, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  g_clear_error (&error);
  g_autoptr (GBytes) junk = g_bytes_new_static ("not a checkpoint at all", 23);
  g_assert_false (m->load (resumed, junk, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  m->free (straight);
  m->free (resumed);
}

static void
test_mlp_snapshot_2d (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_builtin ("moons", 400, 0.1, 0, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("mlp");
  const char *sets[] = { "epochs=40", "batch_size=32", "lr=0.01", NULL };
  gpointer model = create ("mlp", ds, 0, sets);
  train (m, model, m->total_steps (model));
  g_assert_cmpfloat (metric (m, model, "test_acc"), >, 0.95);
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  const char *kinds[] = { "sample_index", "labels", "points", "embedding", "predictions",
                          "confidence", "decision_field", "field_extent" };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    g_assert_nonnull (find_kind (snap, kinds[i]));
  PsArray *pts = find_kind (snap, "points");
  g_assert_cmpuint (pts->shape[0], ==, 400);
  g_assert_cmpuint (pts->shape[1], ==, 2);
  PsArray *field = find_kind (snap, "decision_field");
  g_assert_cmpuint (field->ndim, ==, 3);
  /* Probabilities: each grid cell sums to 1. */
  const float *f = ps_array_data (field, NULL);
  for (gsize c = 0; c < field->shape[0] * field->shape[1]; c += 97)
    g_assert_cmpfloat (fabsf (f[c * 2] + f[c * 2 + 1] - 1.f), <, 1e-4f);

  g_autoptr (PsExplanation) ex = m->explain (model, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ex->true_label, ==, ds->y[5]);
  g_assert_cmpuint (ex->evidence->len, ==, 8);
  /* A well-trained moons classifier's neighbours mostly share its prediction. */
  int agree = 0;
  for (guint i = 0; i < ex->evidence->len; i++)
    agree += g_array_index (ex->evidence, PsEvidence, i).cls == ex->predicted;
  g_assert_cmpint (agree, >=, 6);
  g_assert_null (m->explain (model, 100000, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  m->free (model);
}

static void
test_mlp_bad_spec (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("mlp");
  const char *bad[] = { "spec=10-5r-10", "spec=64-32r-3", "spec=64-xx-10" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (PsParams) p = ps_method_default_params (m);
      g_assert_true (ps_params_set_string (p, bad[i], NULL));
      g_autoptr (GError) error = NULL;
      g_assert_null (m->create (m, p, ds, 0, &error));
      g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ps_blas_set_threads (1);
  g_test_add_func ("/methods/registry", test_registry);
  g_test_add_func ("/methods/mlp/learns-digits", test_mlp_learns_digits);
  g_test_add_func ("/methods/mlp/same-seed", test_mlp_same_seed_same_run);
  g_test_add_func ("/methods/mlp/resume-exact", test_mlp_resume_exact);
  g_test_add_func ("/methods/mlp/snapshot-2d", test_mlp_snapshot_2d);
  g_test_add_func ("/methods/mlp/bad-spec", test_mlp_bad_spec);
  return g_test_run ();
}
