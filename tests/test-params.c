/* test-params.c: parameter schemas, validation and JSON round trips. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-params.h"

static const PsParamSpec specs[] = {
  { "epochs", PS_PARAM_INT, 10, 1, 1000, NULL, "Passes over the data" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate", TRUE },
  { "ema", PS_PARAM_BOOL, 1, 0, 1, NULL, "Keep an EMA of weights" },
  { "optimizer", PS_PARAM_CHOICE, 0, 0, 0, "adam|sgd|adamw", "Optimizer" },
  { "spec", PS_PARAM_STRING, 0, 0, 0, "784-256r-10", "Network" },
};

static void
test_defaults (void)
{
  g_autoptr (PsParams) p = ps_params_new (specs, G_N_ELEMENTS (specs));
  g_assert_cmpint (ps_params_get_int (p, "epochs"), ==, 10);
  g_assert_cmpfloat_with_epsilon (ps_params_get_float (p, "lr"), 1e-3, 1e-12);
  g_assert_true (ps_params_get_bool (p, "ema"));
  g_assert_cmpstr (ps_params_get_string (p, "optimizer"), ==, "adam");
  g_assert_cmpstr (ps_params_get_string (p, "spec"), ==, "784-256r-10");
}

static void
test_set_and_validate (void)
{
  g_autoptr (PsParams) p = ps_params_new (specs, G_N_ELEMENTS (specs));
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_params_set_string (p, "epochs=20", &error));
  g_assert_no_error (error);
  g_assert_cmpint (ps_params_get_int (p, "epochs"), ==, 20);
  g_assert_true (ps_params_set_string (p, "optimizer=sgd", &error));
  g_assert_true (ps_params_set_string (p, "ema=off", &error));
  g_assert_false (ps_params_get_bool (p, "ema"));

  const char *bad[] = { "epochs=0", "epochs=1001", "epochs=2.5", "epochs=abc", "lr=nan",
                        "lr=2", "lr=", "ema=maybe", "optimizer=rmsprop", "nosuch=1", "=3",
                        "epochs" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_clear_error (&error);
      g_assert_false (ps_params_set_string (p, bad[i], &error));
      g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
    }
  /* Failed sets leave the value alone. */
  g_assert_cmpint (ps_params_get_int (p, "epochs"), ==, 20);
}

static void
test_json_round_trip (void)
{
  g_autoptr (PsParams) p = ps_params_new (specs, G_N_ELEMENTS (specs));
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_params_set_string (p, "lr=0.0125", &error));
  g_assert_true (ps_params_set_string (p, "spec=2-8r-2", &error));
  g_autofree char *json = ps_params_to_json (p);
  g_autoptr (PsParams) q = ps_params_new (specs, G_N_ELEMENTS (specs));
  g_assert_true (ps_params_load_json (q, json, &error));
  g_assert_no_error (error);
  g_autofree char *json2 = ps_params_to_json (q);
  g_assert_cmpstr (json, ==, json2);
  g_assert_cmpfloat (ps_params_get_float (q, "lr"), ==, 0.0125);

  g_assert_false (ps_params_load_json (q, "{\"epochs\": 5000}", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  g_assert_false (ps_params_load_json (q, "{\"typo\": 1}", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  g_assert_false (ps_params_load_json (q, "[1,2]", &error));
  g_clear_error (&error);
  g_assert_false (ps_params_load_json (q, "{not json", &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  /* A float written as 3.0 by another tool is accepted for an int. */
  g_assert_true (ps_params_load_json (q, "{\"epochs\": 3.0}", &error));
  g_assert_cmpint (ps_params_get_int (q, "epochs"), ==, 3);
}

static void
test_copy_format_describe (void)
{
  g_autoptr (PsParams) p = ps_params_new (specs, G_N_ELEMENTS (specs));
  g_assert_true (ps_params_set (p, "epochs", "7", NULL));
  g_autoptr (PsParams) q = ps_params_copy (p);
  g_assert_true (ps_params_set (p, "epochs", "8", NULL));
  g_assert_cmpint (ps_params_get_int (q, "epochs"), ==, 7);
  g_autofree char *s = ps_params_format (q, "lr");
  g_assert_cmpstr (s, ==, "0.001");
  g_autoptr (GString) d = g_string_new (NULL);
  ps_params_describe (specs, G_N_ELEMENTS (specs), d);
  g_assert_nonnull (strstr (d->str, "optimizer"));
  g_assert_nonnull (strstr (d->str, "adam|sgd|adamw"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/params/defaults", test_defaults);
  g_test_add_func ("/params/set-validate", test_set_and_validate);
  g_test_add_func ("/params/json", test_json_round_trip);
  g_test_add_func ("/params/copy-format-describe", test_copy_format_describe);
  return g_test_run ();
}
