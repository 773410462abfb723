/* cli-runs-export.c: the export command (a run's record, metrics and
 * snapshots as JSON, CSV and .npy files) and compare (runs side by side).
 *
 * Every command takes --db FILE.  Bad input gives one line on stderr
 * naming the file or run and the problem, and a non-zero exit code.
 */
#include "cli.h"
#include "cli-runs-private.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ps-jobs.h"
#include "ps-method.h"
#include "ps-store.h"

/* ---- export -------------------------------------------------------- */

static const char *
npy_descr (PsDtype dtype)
{
  /* One-byte types have no byte order ('|'). */
  const gboolean le = G_BYTE_ORDER == G_LITTLE_ENDIAN;
  switch (dtype)
    {
    case PS_DTYPE_F32: return le ? "<f4" : ">f4";
    case PS_DTYPE_I32: return le ? "<i4" : ">i4";
    case PS_DTYPE_U8:  return "|u1";
    case PS_DTYPE_F64: return le ? "<f8" : ">f8";
    case PS_DTYPE_I64: return le ? "<i8" : ">i8";
    default:           return NULL;
    }
}

/* NPY format version 1.0: magic, version, a little-endian uint16 header
 * length, then a Python dict literal padded with spaces and ending with a
 * newline so that the data starts on a 64-byte boundary. */
static gboolean
write_npy (const char *path, const PsArray *a, GError **error)
{
  GString *h = g_string_new ("{'descr': '");
  g_string_append_printf (h, "%s', 'fortran_order': False, 'shape': (", npy_descr (a->dtype));
  for (guint d = 0; d < a->ndim; d++)
    g_string_append_printf (h, "%" G_GSIZE_FORMAT "%s", a->shape[d],
                            a->ndim == 1 ? "," : d + 1 < a->ndim ? ", " : "");
  g_string_append (h, "), }");
  gsize total = 10 + h->len + 1;
  gsize padded = (total + 63) / 64 * 64;
  while (10 + h->len + 1 < padded)
    g_string_append_c (h, ' ');
  g_string_append_c (h, '\n');

  gsize n_bytes = 0;
  gconstpointer data = ps_array_data (a, &n_bytes);
  GByteArray *out = g_byte_array_sized_new (10 + h->len + n_bytes);
  guint8 pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, h->len & 0xff, (h->len >> 8) & 0xff };
  g_byte_array_append (out, pre, sizeof pre);
  g_byte_array_append (out, (const guint8 *) h->str, h->len);
  if (n_bytes)
    g_byte_array_append (out, data, n_bytes);
  g_string_free (h, TRUE);
  gboolean ok = g_file_set_contents (path, (const char *) out->data, out->len, error);
  g_byte_array_unref (out);
  return ok;
}

/* Writes each array as DIR/<kind>.npy; a repeated kind gets -2, -3 ... */
static gboolean
write_snapshot (const char *dir, GPtrArray *arrays, guint *n_written, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: cannot create: %s", dir, g_strerror (saved));
      return FALSE;
    }
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      g_autofree char *kind = g_strdup (a->kind && *a->kind ? a->kind : "array");
      g_strcanon (kind, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "_-.", '_');
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (seen, kind)) + 1;
      g_hash_table_insert (seen, g_strdup (kind), GUINT_TO_POINTER (count));
      g_autofree char *file = count == 1 ? g_strdup_printf ("%s.npy", kind)
                                         : g_strdup_printf ("%s-%u.npy", kind, count);
      g_autofree char *path = g_build_filename (dir, file, NULL);
      if (!write_npy (path, a, error))
        return FALSE;
      (*n_written)++;
    }
  return TRUE;
}

static JsonNode *
double_node (double v)
{
  JsonNode *n = json_node_new (JSON_NODE_VALUE);
  if (isfinite (v))
    json_node_set_double (n, v);
  else
    json_node_init_null (n);
  return n;
}

static gboolean
write_json_file (const char *path, JsonNode *root, GError **error)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  return json_generator_to_file (gen, path, error);
}

static gboolean
export_run (PsStore *store, gint64 id, const char *out_dir, gboolean all_steps,
            guint *n_arrays, GError **error)
{
  g_autoptr (PsRunInfo) r = ps_store_get_run (store, id, error);
  if (r == NULL)
    return FALSE;
  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: cannot create: %s", out_dir,
                   g_strerror (saved));
      return FALSE;
    }

  /* metrics.csv */
  g_autofree char *csv_path = g_build_filename (out_dir, "metrics.csv", NULL);
  FILE *f = g_fopen (csv_path, "w");
  if (f == NULL)
    {
      int saved = errno;
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: %s", csv_path, g_strerror (saved));
      return FALSE;
    }
  gboolean ok = cli_runs_write_metrics_csv (store, id, f, error);
  if (fclose (f) != 0 && ok)
    {
      int saved = errno;
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: %s", csv_path, g_strerror (saved));
      ok = FALSE;
    }
  if (!ok)
    return FALSE;

  /* metrics.json: {"name": {"steps": [...], "values": [...]}} */
  g_auto (GStrv) names = ps_store_metric_names (store, id, error);
  if (names == NULL)
    return FALSE;
  g_autoptr (JsonObject) series = json_object_new ();
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (GArray) steps = NULL, values = NULL;
      if (!ps_store_get_metric (store, id, names[i], &steps, &values, error))
        return FALSE;
      JsonArray *js = json_array_new (), *jv = json_array_new ();
      for (guint k = 0; k < steps->len; k++)
        {
          json_array_add_int_element (js, g_array_index (steps, gint64, k));
          json_array_add_element (jv, double_node (g_array_index (values, double, k)));
        }
      JsonObject *o = json_object_new ();
      json_object_set_array_member (o, "steps", js);
      json_object_set_array_member (o, "values", jv);
      json_object_set_object_member (series, names[i], o);
    }
  g_autoptr (JsonNode) series_node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (series_node, series);
  g_autofree char *mj_path = g_build_filename (out_dir, "metrics.json", NULL);
  if (!write_json_file (mj_path, series_node, error))
    return FALSE;

  /* run.json: the record, parameters as an object, final metrics. */
  g_autoptr (JsonObject) run = json_object_new ();
  json_object_set_int_member (run, "id", r->id);
  json_object_set_string_member (run, "uuid", r->uuid);
  json_object_set_string_member (run, "name", r->name);
  json_object_set_string_member (run, "method", r->method);
  json_object_set_string_member (run, "dataset", r->dataset);
  json_object_set_int_member (run, "seed", (gint64) r->seed);
  json_object_set_string_member (run, "status", ps_run_status_name (r->status));
  json_object_set_member (run, "created", double_node (r->created));
  json_object_set_member (run, "started", r->started > 0 ? double_node (r->started) : json_node_new (JSON_NODE_NULL));
  json_object_set_member (run, "finished", r->finished > 0 ? double_node (r->finished) : json_node_new (JSON_NODE_NULL));
  if (r->error)
    json_object_set_string_member (run, "error", r->error);
  else
    json_object_set_null_member (run, "error");
  json_object_set_string_member (run, "version", r->version);
  if (r->tags)
    json_object_set_string_member (run, "tags", r->tags);
  if (r->note)
    json_object_set_string_member (run, "note", r->note);
  JsonNode *params = json_from_string (r->params_json ? r->params_json : "{}", NULL);
  json_object_set_member (run, "params", params ? params : json_node_new (JSON_NODE_NULL));
  g_auto (GStrv) fnames = NULL;
  g_autofree double *fvalues = NULL;
  if (!ps_store_final_metrics (store, id, &fnames, &fvalues, error))
    return FALSE;
  JsonObject *fm = json_object_new ();
  for (guint i = 0; fnames[i] != NULL; i++)
    json_object_set_member (fm, fnames[i], double_node (fvalues[i]));
  json_object_set_object_member (run, "final_metrics", fm);
  g_autoptr (JsonNode) run_node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (run_node, run);
  g_autofree char *rj_path = g_build_filename (out_dir, "run.json", NULL);
  if (!write_json_file (rj_path, run_node, error))
    return FALSE;

  /* Artifacts: the last snapshot beside the metrics, and with
   * all_steps every snapshot in snapshots/step-N/. */
  g_autoptr (GPtrArray) last = ps_store_get_artifacts (store, id, -1, error);
  if (last == NULL || !write_snapshot (out_dir, last, n_arrays, error))
    return FALSE;
  if (all_steps)
    {
      g_autoptr (GArray) steps = ps_store_snapshot_steps (store, id, error);
      if (steps == NULL)
        return FALSE;
      for (guint i = 0; i < steps->len; i++)
        {
          gint64 s = g_array_index (steps, gint64, i);
          g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, id, s, error);
          g_autofree char *sub = g_strdup_printf ("step-%06" G_GINT64_FORMAT, s);
          g_autofree char *dir = g_build_filename (out_dir, "snapshots", sub, NULL);
          if (arrays == NULL || !write_snapshot (dir, arrays, n_arrays, error))
            return FALSE;
        }
    }
  return TRUE;
}

int
cli_cmd_export (int argc, char **argv)
{
  g_autofree char *db = NULL, *out = NULL;
  gboolean all_steps = FALSE;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output folder (created)", "DIR" },
    { "all-steps", 0, 0, G_OPTION_ARG_NONE, &all_steps, "Also every snapshot, in snapshots/step-N/", NULL },
    { NULL }
  };
  if (!cli_runs_parse_options ("export", "RUN - metrics (CSV, JSON), run record and artifacts (.npy)",
                               entries, &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc != 2 || out == NULL)
    {
      cli_fail ("export: expected RUN --out DIR");
      return CLI_EXIT_USAGE;
    }
  PsStore *store = cli_runs_open_store (db);
  if (store == NULL)
    return CLI_EXIT_FAIL;
  gint64 id;
  int code = CLI_EXIT_FAIL;
  g_autoptr (GError) error = NULL;
  guint n_arrays = 0;
  if (cli_runs_resolve_run (store, argv[1], &id))
    {
      if (export_run (store, id, out, all_steps, &n_arrays, &error))
        {
          printf ("exported run %" G_GINT64_FORMAT " to %s (metrics.csv, metrics.json, run.json, "
                  "%u arrays)\n", id, out, n_arrays);
          code = CLI_EXIT_OK;
        }
      else
        cli_fail ("export: %s", error->message);
    }
  ps_store_close (store);
  return code;
}

/* ---- compare ------------------------------------------------------- */

typedef struct
{
  PsRunInfo *info;
  JsonNode *params;     /* an object, or NULL */
  GStrv names;          /* final metric names */
  double *values;
} CompareRun;

static void
compare_run_clear (CompareRun *c)
{
  ps_run_info_free (c->info);
  if (c->params)
    json_node_unref (c->params);
  g_strfreev (c->names);
  g_free (c->values);
}

/* A parameter's value as JSON text, or "-" when the run does not have it. */
static char *
param_text (CompareRun *c, const char *key)
{
  if (c->params == NULL || !JSON_NODE_HOLDS_OBJECT (c->params))
    return g_strdup ("-");
  JsonObject *o = json_node_get_object (c->params);
  if (!json_object_has_member (o, key))
    return g_strdup ("-");
  return cli_runs_json_value_text (json_object_get_member (o, key));
}

static gboolean
final_value (CompareRun *c, const char *name, double *v)
{
  for (guint i = 0; c->names[i] != NULL; i++)
    if (strcmp (c->names[i], name) == 0)
      {
        *v = c->values[i];
        return TRUE;
      }
  return FALSE;
}

#define CMP_COL 14

/* g_ptr_array_sort hands over pointers to the elements. */
static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static void
print_row (const char *label, char **cells, guint n)
{
  printf ("  %-22s", label);
  for (guint i = 0; i < n; i++)
    printf (" %*s", CMP_COL, cells[i]);
  printf ("\n");
}

static int compare_runs (PsStore *store, CompareRun *runs, guint n, char **args);

int
cli_cmd_compare (int argc, char **argv)
{
  g_autofree char *db = NULL;
  if (!cli_runs_parse_options ("compare", "RUN RUN... - final metrics and differing parameters", NULL,
                               &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc < 3)
    {
      cli_fail ("compare: expected at least two RUNs");
      return CLI_EXIT_USAGE;
    }
  PsStore *store = cli_runs_open_store (db);
  if (store == NULL)
    return CLI_EXIT_FAIL;

  guint n = argc - 1;
  CompareRun *runs = g_new0 (CompareRun, n);
  int code = compare_runs (store, runs, n, argv + 1);
  for (guint i = 0; i < n; i++)
    compare_run_clear (&runs[i]);
  g_free (runs);
  ps_store_close (store);
  return code;
}

static int
compare_runs (PsStore *store, CompareRun *runs, guint n, char **args)
{
  g_autoptr (GError) error = NULL;
  for (guint i = 0; i < n; i++)
    {
      gint64 id;
      if (!cli_runs_resolve_run (store, args[i], &id))
        return CLI_EXIT_FAIL;
      runs[i].info = ps_store_get_run (store, id, &error);
      if (runs[i].info == NULL
          || !ps_store_final_metrics (store, id, &runs[i].names, &runs[i].values, &error))
        {
          cli_fail ("%s", error->message);
          return CLI_EXIT_FAIL;
        }
      runs[i].params = json_from_string (runs[i].info->params_json, NULL);
    }

  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (cells, g_strdup_printf ("run %" G_GINT64_FORMAT, runs[i].info->id));
  print_row ("", (char **) cells->pdata, n);
  const char *fields[] = { "name", "method", "dataset", "seed", "status" };
  for (guint f = 0; f < G_N_ELEMENTS (fields); f++)
    {
      g_ptr_array_set_size (cells, 0);
      for (guint i = 0; i < n; i++)
        {
          PsRunInfo *r = runs[i].info;
          char *text;
          switch (f)
            {
            case 0: text = g_strdup (r->name); break;
            case 1: text = g_strdup (r->method); break;
            case 2: text = g_path_get_basename (r->dataset); break;
            case 3: text = g_strdup_printf ("%" G_GUINT64_FORMAT, r->seed); break;
            default: text = g_strdup (ps_run_status_name (r->status)); break;
            }
          /* Long names would break the columns. */
          if (g_utf8_strlen (text, -1) > CMP_COL)
            {
              char *cut = g_utf8_substring (text, 0, CMP_COL - 1);
              g_free (text);
              text = g_strconcat (cut, "~", NULL);
              g_free (cut);
            }
          g_ptr_array_add (cells, text);
        }
      print_row (fields[f], (char **) cells->pdata, n);
    }

  /* Parameters: the union of keys in first-seen order; only differing ones. */
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    if (runs[i].params && JSON_NODE_HOLDS_OBJECT (runs[i].params))
      {
        g_autoptr (GList) members = json_object_get_members (json_node_get_object (runs[i].params));
        for (GList *l = members; l; l = l->next)
          if (!g_ptr_array_find_with_equal_func (keys, l->data, g_str_equal, NULL))
            g_ptr_array_add (keys, g_strdup (l->data));
      }
  guint n_diff = 0;
  for (guint k = 0; k < keys->len; k++)
    {
      g_ptr_array_set_size (cells, 0);
      gboolean differs = FALSE;
      for (guint i = 0; i < n; i++)
        {
          char *t = param_text (&runs[i], g_ptr_array_index (keys, k));
          if (i > 0 && strcmp (t, g_ptr_array_index (cells, 0)) != 0)
            differs = TRUE;
          g_ptr_array_add (cells, t);
        }
      if (!differs)
        continue;
      if (n_diff++ == 0)
        printf ("parameters that differ\n");
      print_row (g_ptr_array_index (keys, k), (char **) cells->pdata, n);
    }
  if (n_diff == 0)
    printf ("parameters: identical\n");

  g_autoptr (GPtrArray) metric_names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    for (guint j = 0; runs[i].names[j]; j++)
      if (!g_ptr_array_find_with_equal_func (metric_names, runs[i].names[j], g_str_equal, NULL))
        g_ptr_array_add (metric_names, g_strdup (runs[i].names[j]));
  g_ptr_array_sort (metric_names, compare_strings);
  printf ("final metrics%s\n", metric_names->len ? "" : ": none");
  for (guint m = 0; m < metric_names->len; m++)
    {
      g_ptr_array_set_size (cells, 0);
      for (guint i = 0; i < n; i++)
        {
          double v;
          g_ptr_array_add (cells, final_value (&runs[i], g_ptr_array_index (metric_names, m), &v)
                                  ? cli_runs_format_value (v) : g_strdup ("-"));
        }
      print_row (g_ptr_array_index (metric_names, m), (char **) cells->pdata, n);
    }

  /* Runs that differ only by seed (same method, dataset and parameters)
   * form a group, summarised as mean +- std (sample std over the seeds). */
  g_autofree guint *group = g_new0 (guint, n);
  guint n_groups = 0;
  for (guint i = 0; i < n; i++)
    {
      group[i] = G_MAXUINT;
      for (guint j = 0; j < i && group[i] == G_MAXUINT; j++)
        {
          gboolean same = strcmp (runs[i].info->method, runs[j].info->method) == 0
                          && strcmp (runs[i].info->dataset, runs[j].info->dataset) == 0;
          for (guint k = 0; same && k < keys->len; k++)
            {
              g_autofree char *a = param_text (&runs[i], g_ptr_array_index (keys, k));
              g_autofree char *b = param_text (&runs[j], g_ptr_array_index (keys, k));
              same = strcmp (a, b) == 0;
            }
          if (same)
            group[i] = group[j];
        }
      if (group[i] == G_MAXUINT)
        group[i] = n_groups++;
    }
  gboolean header = FALSE;
  for (guint g = 0; g < n_groups; g++)
    {
      g_autoptr (GString) members = g_string_new (NULL);
      guint size = 0, first = 0;
      for (guint i = 0; i < n; i++)
        if (group[i] == g)
          {
            if (size++ == 0)
              first = i;
            g_string_append_printf (members, "%s%" G_GINT64_FORMAT " (seed %" G_GUINT64_FORMAT ")",
                                    members->len ? ", " : "", runs[i].info->id,
                                    runs[i].info->seed);
          }
      if (size < 2)
        continue;
      if (!header)
        printf ("over seeds (mean +- std)\n");
      header = TRUE;
      g_autofree char *base = g_path_get_basename (runs[first].info->dataset);
      printf ("  %s on %s: runs %s\n", runs[first].info->method, base, members->str);
      for (guint m = 0; m < metric_names->len; m++)
        {
          const char *name = g_ptr_array_index (metric_names, m);
          double sum = 0, sq = 0;
          guint k = 0;
          for (guint i = 0; i < n; i++)
            {
              double v;
              if (group[i] == g && final_value (&runs[i], name, &v) && !isnan (v))
                sum += v, sq += v * v, k++;
            }
          if (k == 0)
            continue;
          double mean = sum / k;
          double var = k > 1 ? MAX (0.0, (sq - k * mean * mean) / (k - 1)) : 0.0;
          printf ("    %-22s %.6g +- %.3g (n=%u)\n", name, mean, sqrt (var), k);
        }
    }
  return CLI_EXIT_OK;
}
