/* ps-params.c: parameter values validated against a schema. */
#define G_LOG_DOMAIN "ps-params"

#include "ps-params.h"
#include "ps-base.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <errno.h>

typedef struct
{
  double number;   /* INT, FLOAT, BOOL */
  char *text;      /* CHOICE, STRING */
} PsParamValue;

struct _PsParams
{
  const PsParamSpec *specs;
  guint n_specs;
  PsParamValue *values;
};

static gboolean
choice_is_valid (const char *choices, const char *word)
{
  g_auto (GStrv) words = g_strsplit (choices, "|", -1);
  return g_strv_contains ((const char * const *) words, word);
}

static char *
choice_default (const char *choices)
{
  const char *bar = strchr (choices, '|');
  return bar ? g_strndup (choices, bar - choices) : g_strdup (choices);
}

PsParams *
ps_params_new (const PsParamSpec *specs, guint n_specs)
{
  PsParams *p = g_new0 (PsParams, 1);
  p->specs = specs;
  p->n_specs = n_specs;
  p->values = g_new0 (PsParamValue, MAX (n_specs, 1));
  for (guint i = 0; i < n_specs; i++)
    {
      const PsParamSpec *s = &specs[i];
      switch (s->type)
        {
        case PS_PARAM_CHOICE:
          p->values[i].text = choice_default (s->choices);
          break;
        case PS_PARAM_STRING:
          p->values[i].text = g_strdup (s->choices ? s->choices : "");
          break;
        default:
          p->values[i].number = s->def;
          break;
        }
    }
  return p;
}

PsParams *
ps_params_copy (const PsParams *params)
{
  PsParams *p = g_new0 (PsParams, 1);
  p->specs = params->specs;
  p->n_specs = params->n_specs;
  p->values = g_new0 (PsParamValue, MAX (p->n_specs, 1));
  for (guint i = 0; i < p->n_specs; i++)
    {
      p->values[i].number = params->values[i].number;
      p->values[i].text = g_strdup (params->values[i].text);
    }
  return p;
}

void
ps_params_free (PsParams *params)
{
  if (params == NULL)
    return;
  for (guint i = 0; i < params->n_specs; i++)
    g_free (params->values[i].text);
  g_free (params->values);
  g_free (params);
}

const PsParamSpec *
ps_params_find_spec (const PsParamSpec *specs, guint n_specs, const char *name)
{
  for (guint i = 0; i < n_specs; i++)
    if (g_strcmp0 (specs[i].name, name) == 0)
      return &specs[i];
  return NULL;
}

static int
index_of (const PsParams *params, const char *name)
{
  for (guint i = 0; i < params->n_specs; i++)
    if (g_strcmp0 (params->specs[i].name, name) == 0)
      return (int) i;
  return -1;
}

static gboolean
parse_value (const PsParamSpec *s, const char *value, PsParamValue *out, GError **error)
{
  char *end = NULL;
  switch (s->type)
    {
    case PS_PARAM_INT:
      {
        errno = 0;
        gint64 v = g_ascii_strtoll (value, &end, 10);
        if (end == value || *end != '\0' || errno != 0)
          {
            g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                         "parameter '%s': '%s' is not a whole number", s->name, value);
            return FALSE;
          }
        if (v < s->min || v > s->max)
          {
            g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                         "parameter '%s': %" G_GINT64_FORMAT " is outside its range %g to %g",
                         s->name, v, s->min, s->max);
            return FALSE;
          }
        out->number = (double) v;
        return TRUE;
      }
    case PS_PARAM_FLOAT:
      {
        double v = g_ascii_strtod (value, &end);
        if (end == value || *end != '\0')
          {
            g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                         "parameter '%s': '%s' is not a number", s->name, value);
            return FALSE;
          }
        if (!isfinite (v) || v < s->min || v > s->max)
          {
            g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                         "parameter '%s': %s is outside its range %g to %g",
                         s->name, value, s->min, s->max);
            return FALSE;
          }
        out->number = v;
        return TRUE;
      }
    case PS_PARAM_BOOL:
      if (g_ascii_strcasecmp (value, "true") == 0 || g_strcmp0 (value, "1") == 0
          || g_ascii_strcasecmp (value, "yes") == 0 || g_ascii_strcasecmp (value, "on") == 0)
        out->number = 1;
      else if (g_ascii_strcasecmp (value, "false") == 0 || g_strcmp0 (value, "0") == 0
               || g_ascii_strcasecmp (value, "no") == 0 || g_ascii_strcasecmp (value, "off") == 0)
        out->number = 0;
      else
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "parameter '%s': '%s' is not true or false", s->name, value);
          return FALSE;
        }
      return TRUE;
    case PS_PARAM_CHOICE:
      if (!choice_is_valid (s->choices, value))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "parameter '%s': '%s' is not one of %s", s->name, value, s->choices);
          return FALSE;
        }
      g_free (out->text);
      out->text = g_strdup (value);
      return TRUE;
    case PS_PARAM_STRING:
      g_free (out->text);
      out->text = g_strdup (value);
      return TRUE;
    default:
      g_assert_not_reached ();
    }
  return FALSE;
}

gboolean
ps_params_set (PsParams *params, const char *name, const char *value, GError **error)
{
  int i = index_of (params, name);
  if (i < 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "unknown parameter '%s'", name);
      return FALSE;
    }
  return parse_value (&params->specs[i], value, &params->values[i], error);
}

gboolean
ps_params_set_string (PsParams *params, const char *assignment, GError **error)
{
  const char *eq = strchr (assignment, '=');
  if (eq == NULL || eq == assignment)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "'%s' is not of the form name=value", assignment);
      return FALSE;
    }
  g_autofree char *name = g_strndup (assignment, eq - assignment);
  return ps_params_set (params, g_strstrip (name), eq + 1, error);
}

static const PsParamValue *
lookup (const PsParams *params, const char *name, PsParamType t1, PsParamType t2)
{
  int i = index_of (params, name);
  g_return_val_if_fail (i >= 0, NULL);
  g_return_val_if_fail (params->specs[i].type == t1 || params->specs[i].type == t2, NULL);
  return &params->values[i];
}

gint64
ps_params_get_int (const PsParams *params, const char *name)
{
  const PsParamValue *v = lookup (params, name, PS_PARAM_INT, PS_PARAM_INT);
  return v ? (gint64) v->number : 0;
}

double
ps_params_get_float (const PsParams *params, const char *name)
{
  const PsParamValue *v = lookup (params, name, PS_PARAM_FLOAT, PS_PARAM_INT);
  return v ? v->number : 0;
}

gboolean
ps_params_get_bool (const PsParams *params, const char *name)
{
  const PsParamValue *v = lookup (params, name, PS_PARAM_BOOL, PS_PARAM_BOOL);
  return v ? v->number != 0 : FALSE;
}

const char *
ps_params_get_string (const PsParams *params, const char *name)
{
  const PsParamValue *v = lookup (params, name, PS_PARAM_CHOICE, PS_PARAM_STRING);
  return v ? v->text : NULL;
}

char *
ps_params_format (const PsParams *params, const char *name)
{
  int i = index_of (params, name);
  g_return_val_if_fail (i >= 0, NULL);
  const PsParamSpec *s = &params->specs[i];
  const PsParamValue *v = &params->values[i];
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  switch (s->type)
    {
    case PS_PARAM_INT:
      return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) v->number);
    case PS_PARAM_FLOAT:
      return g_strdup (g_ascii_formatd (buf, sizeof buf, "%.6g", v->number));
    case PS_PARAM_BOOL:
      return g_strdup (v->number != 0 ? "true" : "false");
    default:
      return g_strdup (v->text);
    }
}

const PsParamSpec *
ps_params_specs (const PsParams *params, guint *n_specs)
{
  if (n_specs)
    *n_specs = params->n_specs;
  return params->specs;
}

JsonObject *
ps_params_to_json_object (const PsParams *params)
{
  JsonObject *o = json_object_new ();
  for (guint i = 0; i < params->n_specs; i++)
    {
      const PsParamSpec *s = &params->specs[i];
      const PsParamValue *v = &params->values[i];
      switch (s->type)
        {
        case PS_PARAM_INT:
          json_object_set_int_member (o, s->name, (gint64) v->number);
          break;
        case PS_PARAM_FLOAT:
          json_object_set_double_member (o, s->name, v->number);
          break;
        case PS_PARAM_BOOL:
          json_object_set_boolean_member (o, s->name, v->number != 0);
          break;
        default:
          json_object_set_string_member (o, s->name, v->text);
          break;
        }
    }
  return o;
}

char *
ps_params_to_json (const PsParams *params)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, ps_params_to_json_object (params));
  return json_to_string (node, FALSE);
}

gboolean
ps_params_load_json (PsParams *params, const char *json, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, json, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "parameters are not a JSON object");
      return FALSE;
    }
  JsonObject *o = json_node_get_object (root);
  g_autoptr (GList) members = json_object_get_members (o);
  for (GList *l = members; l; l = l->next)
    {
      const char *name = l->data;
      int i = index_of (params, name);
      if (i < 0)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "unknown parameter '%s'", name);
          return FALSE;
        }
      JsonNode *n = json_object_get_member (o, name);
      if (!JSON_NODE_HOLDS_VALUE (n))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "parameter '%s' is not a plain value", name);
          return FALSE;
        }
      g_autofree char *text = NULL;
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      switch (json_node_get_value_type (n))
        {
        case G_TYPE_INT64:
          text = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
          break;
        case G_TYPE_DOUBLE:
          {
            double d = json_node_get_double (n);
            /* An INT stored as 3.0 by another tool is still 3. */
            if (params->specs[i].type == PS_PARAM_INT && d == floor (d))
              text = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) d);
            else
              text = g_strdup (g_ascii_dtostr (buf, sizeof buf, d));
          }
          break;
        case G_TYPE_BOOLEAN:
          text = g_strdup (json_node_get_boolean (n) ? "true" : "false");
          break;
        default:
          text = g_strdup (json_node_get_string (n));
          break;
        }
      if (!ps_params_set (params, name, text ? text : "", error))
        return FALSE;
    }
  return TRUE;
}

void
ps_params_describe (const PsParamSpec *specs, guint n_specs, GString *out)
{
  for (guint i = 0; i < n_specs; i++)
    {
      const PsParamSpec *s = &specs[i];
      switch (s->type)
        {
        case PS_PARAM_INT:
          g_string_append_printf (out, "    %-18s int    %-10g [%g .. %g]  %s\n",
                                  s->name, s->def, s->min, s->max, s->help);
          break;
        case PS_PARAM_FLOAT:
          g_string_append_printf (out, "    %-18s float  %-10g [%g .. %g]  %s\n",
                                  s->name, s->def, s->min, s->max, s->help);
          break;
        case PS_PARAM_BOOL:
          g_string_append_printf (out, "    %-18s bool   %-10s             %s\n",
                                  s->name, s->def != 0 ? "true" : "false", s->help);
          break;
        case PS_PARAM_CHOICE:
          g_string_append_printf (out, "    %-18s choice {%s}  %s\n", s->name, s->choices, s->help);
          break;
        case PS_PARAM_STRING:
          g_string_append_printf (out, "    %-18s string \"%s\"  %s\n", s->name,
                                  s->choices ? s->choices : "", s->help);
          break;
        }
    }
}
