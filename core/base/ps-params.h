/* ps-params.h: parameter schemas and parameter values.
 *
 * A method declares its parameters once as a static array of PsParamSpec.
 * The same schema builds the CLI flags, the GUI form and the stored run
 * record (parameters are stored as a JSON object).  Values live in a
 * PsParams, which always holds every parameter of its schema (defaults
 * filled in), validated against the ranges.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum
{
  PS_PARAM_INT,
  PS_PARAM_FLOAT,
  PS_PARAM_BOOL,
  PS_PARAM_CHOICE,   /* one of the '|'-separated words in `choices` */
  PS_PARAM_STRING,
} PsParamType;

typedef struct
{
  const char *name;      /* lower_snake_case, used as `--set name=value` */
  PsParamType type;
  double def;            /* default for INT/FLOAT/BOOL */
  double min, max;       /* inclusive range for INT/FLOAT */
  const char *choices;   /* CHOICE: "a|b|c", the first is the default; STRING: default */
  const char *help;      /* one sentence, shown as a tooltip and in `methods` */
  gboolean log_scale;    /* FLOAT: a learning rate and such; the GUI uses log steps */
} PsParamSpec;

typedef struct _PsParams PsParams;

/* A new value set holding the defaults of `specs`.  The specs array must
 * outlive the PsParams (they are static tables in practice). */
PsParams   *ps_params_new        (const PsParamSpec *specs, guint n_specs);
PsParams   *ps_params_copy       (const PsParams *params);
void        ps_params_free       (PsParams *params);

/* "name=value": parse and validate one assignment. */
gboolean    ps_params_set_string (PsParams *params, const char *assignment, GError **error);
/* Set by name with a string value, validated. */
gboolean    ps_params_set        (PsParams *params, const char *name, const char *value, GError **error);

gint64      ps_params_get_int    (const PsParams *params, const char *name);
double      ps_params_get_float  (const PsParams *params, const char *name);
gboolean    ps_params_get_bool   (const PsParams *params, const char *name);
/* CHOICE and STRING values; owned by the PsParams. */
const char *ps_params_get_string (const PsParams *params, const char *name);
/* The value formatted as it would be typed; free with g_free. */
char       *ps_params_format     (const PsParams *params, const char *name);

const PsParamSpec *ps_params_specs (const PsParams *params, guint *n_specs);
const PsParamSpec *ps_params_find_spec (const PsParamSpec *specs, guint n_specs, const char *name);

/* JSON: `{"name": value, ...}`, in schema order.  Loading a JSON object
 * validates every value; unknown keys are an error (so a typo is caught). */
char       *ps_params_to_json    (const PsParams *params);
JsonObject *ps_params_to_json_object (const PsParams *params);
gboolean    ps_params_load_json  (PsParams *params, const char *json, GError **error);

/* One line per parameter, for `protoscope-cli methods`. */
void        ps_params_describe   (const PsParamSpec *specs, guint n_specs, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsParams, ps_params_free)

G_END_DECLS
