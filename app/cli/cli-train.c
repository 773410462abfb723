/* cli-train.c: datasets, methods, train and demo. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ps-jobs.h"
#include "ps-method.h"
#include "ps-store.h"

/* ---- Datasets ------------------------------------------------------ */

gboolean
cli_prepare_dataset (const char *name_or_path, const char *labels_path,
                     const char *label_column, PsDataset **out, GError **error)
{
  *out = ps_dataset_open_spec (name_or_path, labels_path, label_column, TRUE, error);
  return *out != NULL;
}

int
cli_cmd_datasets (int argc, char **argv)
{
  const char * const *names = ps_dataset_builtin_names ();
  printf ("%-14s %s\n", "NAME", "DESCRIPTION");
  for (const char * const *n = names; *n; n++)
    printf ("%-14s %s\n", *n, ps_dataset_builtin_description (*n));
  printf ("\nAlso: a folder of MNIST-format IDX files, a .npy file (with --labels FILE.npy),\n"
          "or a .csv file with a header (with --label-column NAME).\n"
          "Generators take options: moons:n=2000,noise=0.1\n");
  return CLI_EXIT_OK;
}

/* ---- Methods ------------------------------------------------------- */

int
cli_cmd_methods (int argc, char **argv)
{
  const char *only = argc > 1 ? argv[1] : NULL;
  if (only && ps_method_find (only) == NULL)
    {
      cli_fail ("unknown method '%s'", only);
      return CLI_EXIT_USAGE;
    }
  const char *family = NULL;
  for (const PsMethod * const *m = ps_methods_all (); *m; m++)
    {
      if (only && strcmp ((*m)->id, only) != 0)
        continue;
      if (g_strcmp0 (family, (*m)->family) != 0)
        {
          family = (*m)->family;
          printf ("%s%s\n", m == ps_methods_all () && !only ? "" : "\n", family);
        }
      printf ("  %-16s %s\n", (*m)->id, (*m)->title);
      if ((*m)->paper)
        printf ("  %-16s paper: %s\n", "", (*m)->paper);
      g_autoptr (GString) s = g_string_new (NULL);
      ps_params_describe ((*m)->params, (*m)->n_params, s);
      fputs (s->str, stdout);
      if (only)
        printf ("\n%s\n", (*m)->summary);
    }
  return CLI_EXIT_OK;
}

/* ---- Train --------------------------------------------------------- */

static volatile sig_atomic_t interrupted = 0;

static void
on_sigint (int sig)
{
  interrupted++;
}

typedef struct
{
  PsJob *job;
  guint64 seed;
  guint64 step, total;
  double loss;
  gboolean ended;
} TrainSlot;

static void
draw_progress (TrainSlot *slots, guint n, gboolean tty, double *last_print)
{
  guint64 step = 0, total = 0;
  double loss = 0;
  guint counted = 0;
  for (guint i = 0; i < n; i++)
    {
      step += slots[i].step;
      total += slots[i].total;
      if (slots[i].total)
        {
          loss += slots[i].loss;
          counted++;
        }
    }
  if (total == 0)
    return;
  double frac = (double) step / total;
  if (tty)
    {
      char bar[31];
      int filled = (int) (frac * 30);
      for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
      bar[30] = 0;
      fprintf (stderr, "\r[%s] %5.1f%%  step %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "  loss %.4f ",
               bar, 100 * frac, step, total, counted ? loss / counted : 0);
      fflush (stderr);
    }
  else if (ps_now () - *last_print > 2.0 || step == total)
    {
      fprintf (stderr, "progress %5.1f%% step %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " loss %.4f\n",
               100 * frac, step, total, counted ? loss / counted : 0);
      *last_print = ps_now ();
    }
}

static void
print_metrics (FILE *out, PsMetrics *m, const char *indent)
{
  for (guint i = 0; i < ps_metrics_len (m); i++)
    fprintf (out, "%s%-20s %.4f\n", indent, ps_metrics_name (m, i), ps_metrics_value (m, i));
}

typedef struct
{
  const char *method;
  const char *dataset;
  const char *labels;
  const char *label_column;
  char **sets;
  gint64 seed;
  int seeds;
  const char *db;
  const char *name;
  gboolean json;
  gboolean no_store;
  int snapshot_every;
  int checkpoint_every;
  int eval_every;
  int parallel;
} TrainOptions;

static int
run_training (TrainOptions *o)
{
  g_autoptr (GError) error = NULL;
  const PsMethod *method = ps_method_find (o->method);
  if (method == NULL)
    {
      cli_fail ("unknown method '%s' (see `protoscope-cli methods`)", o->method);
      return CLI_EXIT_USAGE;
    }
  g_autoptr (PsParams) params = ps_method_default_params (method);
  for (char **s = o->sets; s && *s; s++)
    if (!ps_params_set_string (params, *s, &error))
      {
        cli_fail ("%s: %s", method->id, error->message);
        return CLI_EXIT_USAGE;
      }
  if (o->seeds < 1 || o->seeds > 100)
    {
      cli_fail ("--seeds must be between 1 and 100, not %d", o->seeds);
      return CLI_EXIT_USAGE;
    }
  if (o->seed < 0)
    {
      cli_fail ("--seed must not be negative");
      return CLI_EXIT_USAGE;
    }

  g_autoptr (PsDataset) ds = NULL;
  if (!cli_prepare_dataset (o->dataset, o->labels, o->label_column, &ds, &error))
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }

  g_autofree char *db = o->no_store ? NULL : cli_store_path (o->db);
  if (db != NULL)
    {
      /* Open once here so a bad store is reported before any work. */
      PsStore *check = ps_store_open (db, &error);
      if (check == NULL)
        {
          cli_fail ("%s", error->message);
          return CLI_EXIT_FAIL;
        }
      ps_store_close (check);
    }

  /* The run record keeps the labels file or column with the path, so the
   * run can be resumed or explained later on the same data. */
  g_autofree char *dataset_spec = ps_dataset_spec_string (o->dataset, o->labels, o->label_column);
  guint parallel = o->parallel > 0 ? (guint) o->parallel : MIN ((guint) o->seeds, g_get_num_processors ());
  PsRunner *runner = ps_runner_new (parallel);
  TrainSlot *slots = g_new0 (TrainSlot, o->seeds);
  for (int i = 0; i < o->seeds; i++)
    {
      PsJobSpec spec = { 0 };
      spec.method = method;
      spec.params = params;
      spec.dataset = ds;
      spec.dataset_name = dataset_spec;
      spec.seed = (guint64) o->seed + i;
      g_autofree char *name = NULL;
      if (o->name)
        name = o->seeds > 1 ? g_strdup_printf ("%s-s%" G_GUINT64_FORMAT, o->name, spec.seed)
                            : g_strdup (o->name);
      spec.name = name;
      spec.store_path = db;
      spec.snapshot_every = o->snapshot_every;
      spec.checkpoint_every = o->checkpoint_every;
      spec.eval_every = o->eval_every;
      slots[i].seed = spec.seed;
      slots[i].job = ps_runner_submit (runner, &spec, &error);
      if (slots[i].job == NULL)
        {
          cli_fail ("%s", error->message);
          for (int j = 0; j < i; j++)
            ps_job_cancel (slots[j].job);
          ps_runner_free (runner);
          for (int j = 0; j < i; j++)
            ps_job_unref (slots[j].job);
          g_free (slots);
          return CLI_EXIT_FAIL;
        }
      if (!o->json)
        {
          gint64 id = ps_job_get_run_id (slots[i].job);
          if (id > 0)
            fprintf (stderr, "run %" G_GINT64_FORMAT ": %s on %s, seed %" G_GUINT64_FORMAT " (%s)\n",
                     id, method->id, o->dataset, spec.seed, db);
        }
    }

  struct sigaction sa = { 0 }, old_sa;
  sa.sa_handler = on_sigint;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_sa);
  gboolean tty = isatty (STDERR_FILENO) && !o->json;
  double last_print = 0;
  guint ended = 0;
  gboolean cancel_sent = FALSE;
  while (ended < (guint) o->seeds)
    {
      if (interrupted && !cancel_sent)
        {
          fprintf (stderr, "\ninterrupted: stopping (a checkpoint is kept; `resume` continues)\n");
          for (int i = 0; i < o->seeds; i++)
            ps_job_cancel (slots[i].job);
          cancel_sent = TRUE;
        }
      PsEvent *ev = ps_runner_pop_event (runner, 100);
      if (ev == NULL)
        continue;
      TrainSlot *slot = NULL;
      for (int i = 0; i < o->seeds; i++)
        if (slots[i].job == ev->job)
          slot = &slots[i];
      if (slot != NULL)
        switch (ev->type)
          {
          case PS_EVENT_PROGRESS:
            slot->step = ev->step;
            slot->total = ev->total_steps;
            if (ev->loss == ev->loss)
              slot->loss = ev->loss;
            draw_progress (slots, o->seeds, tty, &last_print);
            break;
          case PS_EVENT_FINISHED:
          case PS_EVENT_FAILED:
          case PS_EVENT_CANCELLED:
            if (!slot->ended)
              {
                slot->ended = TRUE;
                ended++;
              }
            if (slot->total)
              slot->step = slot->total;
            break;
          default:
            break;
          }
      ps_event_free (ev);
    }
  sigaction (SIGINT, &old_sa, NULL);
  if (tty)
    fprintf (stderr, "\n");

  int exit_code = CLI_EXIT_OK;
  g_autoptr (GString) json = g_string_new (o->seeds > 1 ? "{\"runs\":[" : "");
  for (int i = 0; i < o->seeds; i++)
    {
      PsRunStatus st = ps_job_get_status (slots[i].job);
      g_autoptr (PsMetrics) m = ps_job_get_final_metrics (slots[i].job);
      g_autofree char *err = ps_job_get_error (slots[i].job);
      gint64 id = ps_job_get_run_id (slots[i].job);
      if (st == PS_RUN_FAILED)
        {
          cli_fail ("run %" G_GINT64_FORMAT " (seed %" G_GUINT64_FORMAT ") failed: %s", id,
                    slots[i].seed, err ? err : "unknown error");
          exit_code = CLI_EXIT_FAIL;
        }
      else if (st == PS_RUN_CANCELLED && exit_code == CLI_EXIT_OK)
        exit_code = CLI_EXIT_INTERRUPTED;
      if (!o->json && m != NULL)
        {
          printf ("run %" G_GINT64_FORMAT " seed %" G_GUINT64_FORMAT " %s\n", id, slots[i].seed,
                  ps_run_status_name (st));
          print_metrics (stdout, m, "  ");
        }
      g_autofree char *mj = m ? ps_metrics_to_json (m) : g_strdup ("{}");
      g_autofree char *ej = err ? g_strescape (err, NULL) : NULL;
      g_string_append_printf (json, "%s{\"run_id\":%" G_GINT64_FORMAT ",\"method\":\"%s\",\"seed\":%"
                              G_GUINT64_FORMAT ",\"status\":\"%s\",\"metrics\":%s%s%s%s}",
                              i ? "," : "", id, method->id, slots[i].seed, ps_run_status_name (st), mj,
                              ej ? ",\"error\":\"" : "", ej ? ej : "", ej ? "\"" : "");
      ps_job_unref (slots[i].job);
    }
  if (o->seeds > 1)
    g_string_append (json, "]}");
  if (o->json)
    printf ("%s\n", json->str);
  ps_runner_free (runner);
  g_free (slots);
  return exit_code;
}

int
cli_cmd_train (int argc, char **argv)
{
  TrainOptions o = { .seeds = 1, .snapshot_every = 0, .checkpoint_every = 0, .eval_every = 0 };
  gint64 seed = 0;
  g_autofree char *dataset = NULL, *labels = NULL, *label_column = NULL, *db = NULL, *name = NULL;
  g_auto (GStrv) sets = NULL;
  GOptionEntry entries[] = {
    { "dataset", 'd', 0, G_OPTION_ARG_STRING, &dataset, "Built-in name, IDX folder, .npy or .csv", "NAME|FILE" },
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels, "Labels .npy for a .npy dataset", "FILE" },
    { "label-column", 0, 0, G_OPTION_ARG_STRING, &label_column, "Label column of a CSV dataset", "NAME" },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Set a parameter (repeatable)", "KEY=VALUE" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 0)", "N" },
    { "seeds", 0, 0, G_OPTION_ARG_INT, &o.seeds, "Repeat with N seeds: seed, seed+1, ...", "N" },
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "Run store file", "FILE" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Run name", "NAME" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o.json, "Print the final metrics as JSON on the last line", NULL },
    { "no-store", 0, 0, G_OPTION_ARG_NONE, &o.no_store, "Do not store the run", NULL },
    { "snapshot-every", 0, 0, G_OPTION_ARG_INT, &o.snapshot_every, "Store a snapshot every N steps (0: at the end)", "N" },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_INT, &o.checkpoint_every, "Store a checkpoint every N steps (0: at the end)", "N" },
    { "eval-every", 0, 0, G_OPTION_ARG_INT, &o.eval_every, "Evaluate every N steps (0: at the end)", "N" },
    { "parallel", 0, 0, G_OPTION_ARG_INT, &o.parallel, "Jobs at once with --seeds (default: cores)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("METHOD - train a method and store the run");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      cli_fail ("train: %s", error->message);
      return CLI_EXIT_USAGE;
    }
  if (argc < 2)
    {
      cli_fail ("train: which method? (see `protoscope-cli methods`)");
      return CLI_EXIT_USAGE;
    }
  if (dataset == NULL)
    {
      cli_fail ("train: --dataset NAME|FILE is required (see `protoscope-cli datasets`)");
      return CLI_EXIT_USAGE;
    }
  if (o.snapshot_every < 0 || o.checkpoint_every < 0 || o.eval_every < 0)
    {
      cli_fail ("train: --snapshot-every, --checkpoint-every and --eval-every must not be negative");
      return CLI_EXIT_USAGE;
    }
  o.method = argv[1];
  o.dataset = dataset;
  o.labels = labels;
  o.label_column = label_column;
  o.sets = sets;
  o.seed = seed;
  o.db = db;
  o.name = name;
  return run_training (&o);
}

int
cli_cmd_demo (int argc, char **argv)
{
  g_autofree char *db = NULL;
  gboolean no_store = FALSE;
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "Run store file", "FILE" },
    { "no-store", 0, 0, G_OPTION_ARG_NONE, &no_store, "Do not store the run", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- train a small classifier on 2-D moons");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      cli_fail ("demo: %s", error->message);
      return CLI_EXIT_USAGE;
    }
  printf ("Protoscope demo: an MLP learns the two moons (2-D, 2 classes).\n");
  char *sets[] = { "spec=2-32r-32r-2", "epochs=30", "lr=0.01", "batch_size=32", NULL };
  TrainOptions o = { .method = "mlp", .dataset = "moons:n=1000,noise=0.15", .sets = sets,
                     .seeds = 1, .db = db, .name = "demo-moons", .no_store = no_store,
                     .snapshot_every = 20, .eval_every = 20 };
  return run_training (&o);
}
