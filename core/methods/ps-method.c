/* ps-method.c: metrics, explanations and the method registry. */
#define G_LOG_DOMAIN "ps-method"

#include "ps-method.h"

#include <json-glib/json-glib.h>
#include <math.h>

PsMetrics *
ps_metrics_new (void)
{
  PsMetrics *m = g_new0 (PsMetrics, 1);
  m->names = g_array_new (FALSE, FALSE, sizeof (char *));
  m->values = g_array_new (FALSE, FALSE, sizeof (double));
  return m;
}

void
ps_metrics_free (PsMetrics *m)
{
  if (m == NULL)
    return;
  for (guint i = 0; i < m->names->len; i++)
    g_free (g_array_index (m->names, char *, i));
  g_array_unref (m->names);
  g_array_unref (m->values);
  g_free (m);
}

void
ps_metrics_set (PsMetrics *m, const char *name, double value)
{
  for (guint i = 0; i < m->names->len; i++)
    if (g_strcmp0 (g_array_index (m->names, char *, i), name) == 0)
      {
        g_array_index (m->values, double, i) = value;
        return;
      }
  char *copy = g_strdup (name);
  g_array_append_val (m->names, copy);
  g_array_append_val (m->values, value);
}

gboolean
ps_metrics_get (const PsMetrics *m, const char *name, double *value)
{
  for (guint i = 0; i < m->names->len; i++)
    if (g_strcmp0 (g_array_index (m->names, char *, i), name) == 0)
      {
        if (value)
          *value = g_array_index (m->values, double, i);
        return TRUE;
      }
  return FALSE;
}

guint
ps_metrics_len (const PsMetrics *m)
{
  return m->names->len;
}

const char *
ps_metrics_name (const PsMetrics *m, guint i)
{
  g_return_val_if_fail (i < m->names->len, NULL);
  return g_array_index (m->names, char *, i);
}

double
ps_metrics_value (const PsMetrics *m, guint i)
{
  g_return_val_if_fail (i < m->values->len, NAN);
  return g_array_index (m->values, double, i);
}

char *
ps_metrics_to_json (const PsMetrics *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  for (guint i = 0; i < m->names->len; i++)
    {
      json_builder_set_member_name (b, ps_metrics_name (m, i));
      double v = ps_metrics_value (m, i);
      if (isfinite (v))
        json_builder_add_double_value (b, v);
      else
        json_builder_add_null_value (b);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

PsExplanation *
ps_explanation_new (void)
{
  PsExplanation *e = g_new0 (PsExplanation, 1);
  e->true_label = -1;
  e->predicted = -1;
  e->uncertainty = NAN;
  e->ood_score = NAN;
  e->confidence = NAN;
  e->evidence = g_array_new (FALSE, TRUE, sizeof (PsEvidence));
  e->arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  return e;
}

void
ps_explanation_free (PsExplanation *e)
{
  if (e == NULL)
    return;
  g_array_unref (e->evidence);
  g_ptr_array_unref (e->arrays);
  g_free (e->text);
  g_free (e);
}

/* ---- Registry ------------------------------------------------------ */

/* Each method module defines one `const PsMethod ps_method_<id>`; the list
 * below is the display order. */
#include "ps-methods-list.h"

const PsMethod * const *
ps_methods_all (void)
{
  return ps_method_list;
}

const PsMethod *
ps_method_find (const char *id)
{
  for (const PsMethod * const *m = ps_method_list; *m; m++)
    if (g_strcmp0 ((*m)->id, id) == 0)
      return *m;
  return NULL;
}

PsParams *
ps_method_default_params (const PsMethod *method)
{
  return ps_params_new (method->params, method->n_params);
}
