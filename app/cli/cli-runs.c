/* cli-runs.c: run management: runs, show, metrics, delete, rename, tag,
 * resume, cancel and merge (export and compare are in cli-runs-export.c).
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

/* ---- Shared helpers ------------------------------------------------ */

/* Parses `entries` (plus --db) for `command`; leaves positional arguments
 * in argc/argv (argv[0] is the command). */
gboolean
cli_runs_parse_options (const char *command, const char *synopsis, GOptionEntry *entries,
                        char **db, int *argc, char ***argv)
{
  GOptionEntry db_entry[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, db, "Run store file", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (synopsis);
  g_option_context_add_main_entries (ctx, db_entry, NULL);
  if (entries != NULL)
    g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &error))
    {
      cli_fail ("%s: %s", command, error->message);
      return FALSE;
    }
  return TRUE;
}

/* For the commands that take exactly one RUN: checks the arguments, opens
 * the store and resolves the run.  NULL (with *code the exit code) after
 * printing the error. */
static PsStore *
open_one_run (const char *command, int argc, char **argv, const char *db, gint64 *id, int *code)
{
  if (argc != 2)
    {
      cli_fail ("%s: expected one RUN (an id or a name)", command);
      *code = CLI_EXIT_USAGE;
      return NULL;
    }
  *code = CLI_EXIT_FAIL;
  PsStore *store = cli_runs_open_store (db);
  if (store != NULL && !cli_runs_resolve_run (store, argv[1], id))
    g_clear_pointer (&store, ps_store_close);
  return store;
}

/* Opens the store.  Only `merge` creates a missing store: for every other
 * command a missing file is a typo in --db, and creating an empty store
 * there would hide it. */
static PsStore *
open_store_full (const char *db_option, gboolean create)
{
  g_autofree char *path = cli_store_path (db_option);
  g_autoptr (GError) error = NULL;
  if (!create && !g_file_test (path, G_FILE_TEST_EXISTS))
    {
      cli_fail ("%s: no run store there (train a run first, or pass --db FILE)", path);
      return NULL;
    }
  PsStore *store = ps_store_open (path, &error);
  if (store == NULL)
    cli_fail ("%s", error->message);
  return store;
}

PsStore *
cli_runs_open_store (const char *db_option)
{
  return open_store_full (db_option, FALSE);
}

/* A run is named by its id, or by its exact name when that is unique. */
gboolean
cli_runs_resolve_run (PsStore *store, const char *arg, gint64 *id)
{
  char *end = NULL;
  errno = 0;
  gint64 n = g_ascii_strtoll (arg, &end, 10);
  if (errno == 0 && end != arg && *end == '\0')
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PsRunInfo) info = ps_store_get_run (store, n, &error);
      if (info == NULL)
        {
          cli_fail ("%s", error->message);
          return FALSE;
        }
      *id = n;
      return TRUE;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = ps_store_list_runs (store, NULL, NULL, NULL, NULL, NULL, &error);
  if (runs == NULL)
    {
      cli_fail ("%s", error->message);
      return FALSE;
    }
  guint found = 0;
  for (guint i = 0; i < runs->len; i++)
    {
      PsRunInfo *r = g_ptr_array_index (runs, i);
      if (g_strcmp0 (r->name, arg) == 0)
        {
          *id = r->id;
          found++;
        }
    }
  if (found == 1)
    return TRUE;
  if (found == 0)
    cli_fail ("%s: no run with id or name '%s'", ps_store_path (store), arg);
  else
    cli_fail ("%s: %u runs are named '%s'; use the id", ps_store_path (store), found, arg);
  return FALSE;
}

static char *
format_time (double t)
{
  if (t <= 0)
    return g_strdup ("-");
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local ((gint64) t);
  return dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

char *
cli_runs_format_value (double v)
{
  if (isnan (v))
    return g_strdup ("nan");
  return g_strdup_printf ("%.6g", v);
}

/* The key metric of a run for listings: the last test_acc, else the first
 * final metric.  NULL when the run has none. */
static char *
key_metric (PsStore *store, gint64 id)
{
  g_auto (GStrv) names = NULL;
  g_autofree double *values = NULL;
  if (!ps_store_final_metrics (store, id, &names, &values, NULL) || names[0] == NULL)
    return NULL;
  guint pick = 0;
  for (guint i = 0; names[i] != NULL; i++)
    if (strcmp (names[i], "test_acc") == 0)
      pick = i;
  g_autofree char *v = cli_runs_format_value (values[pick]);
  return g_strdup_printf ("%s=%s", names[pick], v);
}

/* A parameter value for display: doubles with 6 significant digits (the
 * JSON text keeps all 17), everything else as JSON. */
char *
cli_runs_json_value_text (JsonNode *node)
{
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE)
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      return g_strdup (g_ascii_formatd (buf, sizeof buf, "%.6g", json_node_get_double (node)));
    }
  return json_to_string (node, FALSE);
}

/* ---- runs ---------------------------------------------------------- */

int
cli_cmd_runs (int argc, char **argv)
{
  g_autofree char *db = NULL, *method = NULL, *dataset = NULL, *status = NULL;
  g_autofree char *name = NULL, *tag = NULL;
  GOptionEntry entries[] = {
    { "method", 0, 0, G_OPTION_ARG_STRING, &method, "Only runs of this method", "M" },
    { "dataset", 0, 0, G_OPTION_ARG_STRING, &dataset, "Only runs on this dataset", "D" },
    { "status", 0, 0, G_OPTION_ARG_STRING, &status, "Only runs with this status", "S" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Only runs whose name matches", "GLOB" },
    { "tag", 0, 0, G_OPTION_ARG_STRING, &tag, "Only runs with this tag", "T" },
    { NULL }
  };
  if (!cli_runs_parse_options ("runs", "- list the stored runs", entries, &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc > 1)
    {
      cli_fail ("runs: unexpected argument '%s'", argv[1]);
      return CLI_EXIT_USAGE;
    }
  if (status != NULL && !ps_run_status_from_name (status, NULL))
    {
      cli_fail ("runs: unknown status '%s' (queued, running, finished, failed, cancelled, "
                "interrupted, paused)", status);
      return CLI_EXIT_USAGE;
    }
  PsStore *store = cli_runs_open_store (db);
  if (store == NULL)
    return CLI_EXIT_FAIL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = ps_store_list_runs (store, method, dataset, status, name, tag,
                                                   &error);
  if (runs == NULL)
    {
      cli_fail ("%s", error->message);
      ps_store_close (store);
      return CLI_EXIT_FAIL;
    }
  if (runs->len == 0)
    printf ("no runs%s in %s\n", (method || dataset || status || name || tag) ? " match" : "",
            ps_store_path (store));
  else
    printf ("%-5s %-28s %-12s %-14s %-11s %-19s %s\n", "ID", "NAME", "METHOD", "DATASET",
            "STATUS", "CREATED", "KEY METRIC");
  for (guint i = 0; i < runs->len; i++)
    {
      PsRunInfo *r = g_ptr_array_index (runs, i);
      g_autofree char *created = format_time (r->created);
      g_autofree char *key = key_metric (store, r->id);
      g_autofree char *base = g_path_get_basename (r->dataset);
      printf ("%-5" G_GINT64_FORMAT " %-28s %-12s %-14s %-11s %-19s %s%s%s%s\n", r->id, r->name,
              r->method, base, ps_run_status_name (r->status), created, key ? key : "-",
              r->tags ? "  [" : "", r->tags ? r->tags : "", r->tags ? "]" : "");
    }
  ps_store_close (store);
  return CLI_EXIT_OK;
}

/* ---- show ---------------------------------------------------------- */

static void
print_params (const char *json, const char *indent)
{
  g_autoptr (JsonNode) node = json ? json_from_string (json, NULL) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      printf ("%s%s\n", indent, json ? json : "(none)");
      return;
    }
  JsonObject *obj = json_node_get_object (node);
  g_autoptr (GList) members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      g_autofree char *v = cli_runs_json_value_text (json_object_get_member (obj, l->data));
      printf ("%s%-20s %s\n", indent, (const char *) l->data, v);
    }
}

static int show_run (PsStore *store, gint64 id);

int
cli_cmd_show (int argc, char **argv)
{
  g_autofree char *db = NULL;
  if (!cli_runs_parse_options ("show", "RUN - a run's record and metric summary", NULL, &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  gint64 id;
  int code;
  PsStore *store = open_one_run ("show", argc, argv, db, &id, &code);
  if (store == NULL)
    return code;
  code = show_run (store, id);
  ps_store_close (store);
  return code;
}

static int
show_run (PsStore *store, gint64 id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsRunInfo) r = NULL;
  g_auto (GStrv) names = NULL;
  g_autoptr (GArray) snaps = NULL;
  if ((r = ps_store_get_run (store, id, &error)) == NULL
      || (names = ps_store_metric_names (store, id, &error)) == NULL
      || (snaps = ps_store_snapshot_steps (store, id, &error)) == NULL)
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }

  g_autofree char *created = format_time (r->created);
  g_autofree char *started = format_time (r->started);
  g_autofree char *finished = format_time (r->finished);
  printf ("run %" G_GINT64_FORMAT ": %s\n", r->id, r->name);
  printf ("  method     %s\n  dataset    %s\n  seed       %" G_GUINT64_FORMAT "\n", r->method,
          r->dataset, r->seed);
  printf ("  status     %s", ps_run_status_name (r->status));
  if (r->status == PS_RUN_RUNNING || r->status == PS_RUN_PAUSED)
    printf (" (%.0f%%)", 100 * r->progress);
  printf ("\n");
  if (r->error)
    printf ("  error      %s\n", r->error);
  printf ("  created    %s\n  started    %s\n  finished   %s", created, started, finished);
  if (r->started > 0 && r->finished >= r->started)
    printf (" (%.1f s)", r->finished - r->started);
  printf ("\n  version    %s\n  uuid       %s\n", r->version, r->uuid);
  if (r->tags)
    printf ("  tags       %s\n", r->tags);
  if (r->note)
    printf ("  note       %s\n", r->note);
  printf ("parameters\n");
  print_params (r->params_json, "  ");

  printf ("metrics%s\n", names[0] ? "" : " (none)");
  if (names[0])
    printf ("  %-20s %12s %12s %12s %8s %8s\n", "NAME", "LAST", "MIN", "MAX", "POINTS", "STEP");
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (GArray) steps = NULL, values = NULL;
      if (!ps_store_get_metric (store, id, names[i], &steps, &values, &error))
        {
          cli_fail ("%s", error->message);
          return CLI_EXIT_FAIL;
        }
      double lo = INFINITY, hi = -INFINITY, last = NAN;
      for (guint k = 0; k < values->len; k++)
        {
          double v = g_array_index (values, double, k);
          last = v;
          if (!isnan (v))
            lo = MIN (lo, v), hi = MAX (hi, v);
        }
      g_autofree char *sl = cli_runs_format_value (last);
      g_autofree char *slo = cli_runs_format_value (isinf (lo) ? NAN : lo);
      g_autofree char *shi = cli_runs_format_value (isinf (hi) ? NAN : hi);
      printf ("  %-20s %12s %12s %12s %8u %8" G_GINT64_FORMAT "\n", names[i], sl, slo, shi,
              values->len, steps->len ? g_array_index (steps, gint64, steps->len - 1) : 0);
    }
  if (snaps->len > 0)
    printf ("snapshots  %u (steps %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT ")\n", snaps->len,
            g_array_index (snaps, gint64, 0), g_array_index (snaps, gint64, snaps->len - 1));
  else
    printf ("snapshots  0\n");
  gint64 ck_step = -1;
  g_autoptr (GError) ck_error = NULL;
  g_autoptr (GBytes) ck = ps_store_get_checkpoint (store, id, &ck_step, &ck_error);
  if (ck != NULL)
    printf ("checkpoint step %" G_GINT64_FORMAT " (%" G_GSIZE_FORMAT " bytes)\n", ck_step,
            g_bytes_get_size (ck));
  else if (g_error_matches (ck_error, PS_ERROR, PS_ERROR_NOT_FOUND))
    printf ("checkpoint none\n");
  else
    {
      cli_fail ("%s", ck_error->message);
      return CLI_EXIT_FAIL;
    }
  return CLI_EXIT_OK;
}

/* ---- metrics ------------------------------------------------------- */

/* Every series as rows of (name, step, value). */
gboolean
cli_runs_write_metrics_csv (PsStore *store, gint64 id, FILE *out, GError **error)
{
  g_auto (GStrv) names = ps_store_metric_names (store, id, error);
  if (names == NULL)
    return FALSE;
  fprintf (out, "name,step,value\n");
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (GArray) steps = NULL, values = NULL;
      if (!ps_store_get_metric (store, id, names[i], &steps, &values, error))
        return FALSE;
      /* Metric names are identifiers; quote anyway in case one has a comma. */
      gboolean quote = strpbrk (names[i], ",\"\n") != NULL;
      for (guint k = 0; k < steps->len; k++)
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          double v = g_array_index (values, double, k);
          fprintf (out, "%s%s%s,%" G_GINT64_FORMAT ",%s\n", quote ? "\"" : "", names[i],
                   quote ? "\"" : "", g_array_index (steps, gint64, k),
                   isnan (v) ? "nan" : g_ascii_dtostr (buf, sizeof buf, v));
        }
    }
  return TRUE;
}

static int print_metrics_of (PsStore *store, gint64 id, gboolean csv);

int
cli_cmd_metrics (int argc, char **argv)
{
  g_autofree char *db = NULL;
  gboolean csv = FALSE;
  GOptionEntry entries[] = {
    { "csv", 0, 0, G_OPTION_ARG_NONE, &csv, "CSV: name,step,value", NULL },
    { NULL }
  };
  if (!cli_runs_parse_options ("metrics", "RUN - every metric series of a run", entries, &db, &argc,
                               &argv))
    return CLI_EXIT_USAGE;
  gint64 id;
  int code;
  PsStore *store = open_one_run ("metrics", argc, argv, db, &id, &code);
  if (store == NULL)
    return code;
  code = print_metrics_of (store, id, csv);
  ps_store_close (store);
  return code;
}

static int
print_metrics_of (PsStore *store, gint64 id, gboolean csv)
{
  g_autoptr (GError) error = NULL;
  if (csv)
    {
      if (!cli_runs_write_metrics_csv (store, id, stdout, &error))
        {
          cli_fail ("%s", error->message);
          return CLI_EXIT_FAIL;
        }
      return CLI_EXIT_OK;
    }
  g_auto (GStrv) names = ps_store_metric_names (store, id, &error);
  if (names == NULL)
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (GArray) steps = NULL, values = NULL;
      if (!ps_store_get_metric (store, id, names[i], &steps, &values, &error))
        {
          cli_fail ("%s", error->message);
          return CLI_EXIT_FAIL;
        }
      printf ("%s (%u points)\n", names[i], steps->len);
      for (guint k = 0; k < steps->len; k++)
        {
          g_autofree char *v = cli_runs_format_value (g_array_index (values, double, k));
          printf ("  %8" G_GINT64_FORMAT "  %s\n", g_array_index (steps, gint64, k), v);
        }
    }
  return CLI_EXIT_OK;
}

/* ---- delete, rename, tag, cancel ----------------------------------- */

int
cli_cmd_delete (int argc, char **argv)
{
  g_autofree char *db = NULL;
  if (!cli_runs_parse_options ("delete", "RUN... - delete runs and all their data", NULL, &db, &argc,
                               &argv))
    return CLI_EXIT_USAGE;
  if (argc < 2)
    {
      cli_fail ("delete: which RUN?");
      return CLI_EXIT_USAGE;
    }
  PsStore *store = cli_runs_open_store (db);
  if (store == NULL)
    return CLI_EXIT_FAIL;
  int code = CLI_EXIT_OK;
  for (int i = 1; i < argc; i++)
    {
      gint64 id;
      g_autoptr (GError) error = NULL;
      if (!cli_runs_resolve_run (store, argv[i], &id))
        code = CLI_EXIT_FAIL;
      else if (!ps_store_delete_run (store, id, &error))
        {
          cli_fail ("%s", error->message);
          code = CLI_EXIT_FAIL;
        }
      else
        printf ("deleted run %" G_GINT64_FORMAT "\n", id);
    }
  ps_store_close (store);
  return code;
}

int
cli_cmd_rename (int argc, char **argv)
{
  g_autofree char *db = NULL;
  if (!cli_runs_parse_options ("rename", "RUN NAME - rename a run", NULL, &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc != 3)
    {
      cli_fail ("rename: expected RUN NAME");
      return CLI_EXIT_USAGE;
    }
  PsStore *store = cli_runs_open_store (db);
  if (store == NULL)
    return CLI_EXIT_FAIL;
  int code = CLI_EXIT_FAIL;
  gint64 id;
  g_autoptr (GError) error = NULL;
  if (cli_runs_resolve_run (store, argv[1], &id))
    {
      if (ps_store_rename_run (store, id, argv[2], &error))
        {
          printf ("run %" G_GINT64_FORMAT " is now '%s'\n", id, argv[2]);
          code = CLI_EXIT_OK;
        }
      else
        cli_fail ("rename: %s", error->message);
    }
  ps_store_close (store);
  return code;
}

int
cli_cmd_tag (int argc, char **argv)
{
  g_autofree char *db = NULL;
  gboolean remove = FALSE;
  GOptionEntry entries[] = {
    { "remove", 0, 0, G_OPTION_ARG_NONE, &remove, "Remove the tag instead", NULL },
    { NULL }
  };
  if (!cli_runs_parse_options ("tag", "RUN TAG - add (or --remove) a tag", entries, &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc != 3)
    {
      cli_fail ("tag: expected RUN TAG");
      return CLI_EXIT_USAGE;
    }
  PsStore *store = cli_runs_open_store (db);
  if (store == NULL)
    return CLI_EXIT_FAIL;
  int code = CLI_EXIT_FAIL;
  gint64 id;
  g_autoptr (GError) error = NULL;
  if (cli_runs_resolve_run (store, argv[1], &id))
    {
      g_autoptr (PsRunInfo) r = NULL;
      if (ps_store_tag_run (store, id, argv[2], remove, &error)
          && (r = ps_store_get_run (store, id, &error)) != NULL)
        {
          printf ("run %" G_GINT64_FORMAT " tags: %s\n", id, r->tags ? r->tags : "(none)");
          code = CLI_EXIT_OK;
        }
      else
        cli_fail ("tag: %s", error->message);
    }
  ps_store_close (store);
  return code;
}

static int cancel_run (PsStore *store, gint64 id);

int
cli_cmd_cancel (int argc, char **argv)
{
  g_autofree char *db = NULL;
  if (!cli_runs_parse_options ("cancel", "RUN - ask a running run (in any process) to stop", NULL, &db,
                               &argc, &argv))
    return CLI_EXIT_USAGE;
  gint64 id;
  int code;
  PsStore *store = open_one_run ("cancel", argc, argv, db, &id, &code);
  if (store == NULL)
    return code;
  code = cancel_run (store, id);
  ps_store_close (store);
  return code;
}

static int
cancel_run (PsStore *store, gint64 id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsRunInfo) r = NULL;
  if ((r = ps_store_get_run (store, id, &error)) == NULL)
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }
  if (r->status != PS_RUN_RUNNING && r->status != PS_RUN_QUEUED && r->status != PS_RUN_PAUSED)
    {
      cli_fail ("cancel: run %" G_GINT64_FORMAT " is %s; only a queued, running or paused run "
                "can be cancelled", id, ps_run_status_name (r->status));
      return CLI_EXIT_FAIL;
    }
  if (!ps_store_request_cancel (store, id, &error))
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }
  printf ("asked run %" G_GINT64_FORMAT " to stop; its process stops it at the next step\n", id);
  return CLI_EXIT_OK;
}

/* ---- merge --------------------------------------------------------- */

int
cli_cmd_merge (int argc, char **argv)
{
  g_autofree char *db = NULL;
  if (!cli_runs_parse_options ("merge", "OTHER.sqlite - copy the runs of another store", NULL, &db,
                               &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc != 2)
    {
      cli_fail ("merge: expected one OTHER.sqlite");
      return CLI_EXIT_USAGE;
    }
  PsStore *store = open_store_full (db, TRUE);
  if (store == NULL)
    return CLI_EXIT_FAIL;
  guint copied = 0, skipped = 0;
  g_autoptr (GError) error = NULL;
  int code = CLI_EXIT_OK;
  if (ps_store_merge (store, argv[1], &copied, &skipped, &error))
    printf ("merged %u runs from %s into %s (%u already present)\n", copied, argv[1],
            ps_store_path (store), skipped);
  else
    {
      cli_fail ("merge: %s", error->message);
      code = CLI_EXIT_FAIL;
    }
  ps_store_close (store);
  return code;
}

/* ---- resume -------------------------------------------------------- */

static volatile sig_atomic_t resume_interrupted = 0;

static void
on_resume_sigint (int sig)
{
  resume_interrupted = 1;
}

int
cli_cmd_resume (int argc, char **argv)
{
  g_autofree char *db = NULL, *labels = NULL, *label_column = NULL;
  int snapshot_every = 0, checkpoint_every = 0, eval_every = 0;
  GOptionEntry entries[] = {
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels, "Labels .npy, as given to train", "FILE" },
    { "label-column", 0, 0, G_OPTION_ARG_STRING, &label_column, "Label column, as given to train", "NAME" },
    { "snapshot-every", 0, 0, G_OPTION_ARG_INT, &snapshot_every, "Store a snapshot every N steps (0: at the end)", "N" },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_INT, &checkpoint_every, "Store a checkpoint every N steps (0: at the end)", "N" },
    { "eval-every", 0, 0, G_OPTION_ARG_INT, &eval_every, "Evaluate every N steps (0: at the end)", "N" },
    { NULL }
  };
  if (!cli_runs_parse_options ("resume", "RUN - continue a stopped run from its last checkpoint",
                               entries, &db, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (snapshot_every < 0 || checkpoint_every < 0 || eval_every < 0)
    {
      cli_fail ("resume: --snapshot-every, --checkpoint-every and --eval-every must not be negative");
      return CLI_EXIT_USAGE;
    }
  g_autofree char *path = cli_store_path (db);
  gint64 id;
  int code;
  PsStore *store = open_one_run ("resume", argc, argv, db, &id, &code);
  if (store == NULL)
    return code;
  g_autoptr (GError) error = NULL;
  g_autoptr (PsRunInfo) info = NULL;
  info = ps_store_get_run (store, id, &error);
  ps_store_close (store);
  if (info == NULL)
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }

  /* The same data and the same split as `train` gave the run. */
  g_autoptr (PsDataset) ds = NULL;
  if (!cli_prepare_dataset (info->dataset, labels, label_column, &ds, &error))
    {
      cli_fail ("resume: run %" G_GINT64_FORMAT ": %s", id, error->message);
      return CLI_EXIT_FAIL;
    }

  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = { 0 };
  spec.dataset = ds;
  spec.dataset_name = info->dataset;
  spec.seed = info->seed;
  spec.store_path = path;
  spec.resume_run = id;
  spec.snapshot_every = snapshot_every;
  spec.checkpoint_every = checkpoint_every;
  spec.eval_every = eval_every;
  PsJob *job = ps_runner_submit (runner, &spec, &error);
  if (job == NULL)
    {
      cli_fail ("resume: %s", error->message);
      ps_runner_free (runner);
      return CLI_EXIT_FAIL;
    }
  fprintf (stderr, "resuming run %" G_GINT64_FORMAT " (%s on %s, seed %" G_GUINT64_FORMAT ")\n",
           id, info->method, info->dataset, info->seed);

  struct sigaction sa = { 0 }, old_sa;
  sa.sa_handler = on_resume_sigint;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_sa);
  gboolean ended = FALSE, cancel_sent = FALSE;
  while (!ended)
    {
      if (resume_interrupted && !cancel_sent)
        {
          fprintf (stderr, "interrupted: stopping (a checkpoint is kept)\n");
          ps_job_cancel (job);
          cancel_sent = TRUE;
        }
      PsEvent *ev = ps_runner_pop_event (runner, 100);
      if (ev == NULL)
        continue;
      if (ev->type == PS_EVENT_FINISHED || ev->type == PS_EVENT_FAILED
          || ev->type == PS_EVENT_CANCELLED)
        ended = TRUE;
      ps_event_free (ev);
    }
  sigaction (SIGINT, &old_sa, NULL);

  PsRunStatus st = ps_job_get_status (job);
  code = CLI_EXIT_OK;
  if (st == PS_RUN_FAILED)
    {
      g_autofree char *err = ps_job_get_error (job);
      cli_fail ("run %" G_GINT64_FORMAT " failed: %s", id, err ? err : "unknown error");
      code = CLI_EXIT_FAIL;
    }
  else if (st == PS_RUN_CANCELLED)
    code = CLI_EXIT_INTERRUPTED;
  g_autoptr (PsMetrics) m = ps_job_get_final_metrics (job);
  printf ("run %" G_GINT64_FORMAT " %s\n", id, ps_run_status_name (st));
  for (guint i = 0; m != NULL && i < ps_metrics_len (m); i++)
    {
      g_autofree char *v = cli_runs_format_value (ps_metrics_value (m, i));
      printf ("  %-22s %s\n", ps_metrics_name (m, i), v);
    }
  ps_job_unref (job);
  ps_runner_free (runner);
  return code;
}
