/* cli-main.c: protoscope-cli, the headless front end (no GTK linked). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "ps-store.h"

typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *usage;
} CliCommand;

#ifndef PS_HAVE_PLOT
/* Without the ui option there is no Cairo figure library to draw with. */
int
cli_cmd_plot (int argc, char **argv)
{
  cli_fail ("plot: this protoscope-cli was built without Cairo (configure with -Dui=true)");
  return CLI_EXIT_FAIL;
}

int
cli_cmd_explain (int argc, char **argv)
{
  cli_fail ("explain: this protoscope-cli was built without Cairo (configure with -Dui=true)");
  return CLI_EXIT_FAIL;
}
#endif

static const CliCommand commands[] = {
  { "datasets", cli_cmd_datasets, "datasets                     list the built-in datasets" },
  { "methods",  cli_cmd_methods,  "methods [ID]                 list methods and their parameters" },
  { "train",    cli_cmd_train,    "train METHOD --dataset NAME|FILE [--labels FILE] [--label-column NAME]\n"
                                  "      [--set key=value ...] [--seed N] [--seeds N] [--db FILE] [--name NAME]\n"
                                  "      [--snapshot-every N] [--checkpoint-every N] [--json] [--no-store]" },
  { "demo",     cli_cmd_demo,     "demo                         train a small classifier on 2-D moons" },
  { "runs",     cli_cmd_runs,     "runs [--method M] [--dataset D] [--status S] [--name GLOB] [--tag T]" },
  { "show",     cli_cmd_show,     "show RUN                     parameters, status, error, metric summary" },
  { "metrics",  cli_cmd_metrics,  "metrics RUN [--csv]          every metric series" },
  { "export",   cli_cmd_export,   "export RUN --out DIR         metrics (CSV, JSON) and artifacts (.npy)" },
  { "delete",   cli_cmd_delete,   "delete RUN ..." },
  { "rename",   cli_cmd_rename,   "rename RUN NAME" },
  { "tag",      cli_cmd_tag,      "tag RUN TAG [--remove]" },
  { "resume",   cli_cmd_resume,   "resume RUN                   continue from the last checkpoint" },
  { "cancel",   cli_cmd_cancel,   "cancel RUN                   ask a running run (any process) to stop" },
  { "compare",  cli_cmd_compare,  "compare RUN RUN ...          final metrics and differing parameters" },
  { "merge",    cli_cmd_merge,    "merge OTHER.sqlite           copy runs from another store" },
  { "explain",  cli_cmd_explain,  "explain RUN --sample N [--out FILE.{png,svg,pdf}]  why a prototype model decided" },
  { "plot",     cli_cmd_plot,     "plot RUN [RUN...] --view curves|embedding|compare --out FILE.{png,svg,pdf}\n"
                                  "      [--metric NAME] [--step N] [--color-by class|prediction|correct|score]\n"
                                  "      [--width W --height H --scale S] [--theme light|dark] [--db FILE]" },
};

void
cli_fail (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  /* One line: newlines inside a message would break scripts that grep. */
  g_strdelimit (msg, "\n", ' ');
  fprintf (stderr, "protoscope-cli: %s\n", msg);
}

char *
cli_store_path (const char *db_option)
{
  if (db_option != NULL)
    return g_strdup (db_option);
  return ps_store_default_path ();
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: protoscope-cli COMMAND [OPTIONS]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %s\n", commands[i].usage);
  fprintf (out, "\nEvery command takes --db FILE (default: $XDG_DATA_HOME/protoscope/runs.sqlite).\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("protoscope-cli %s\n", PS_VERSION);
      return CLI_EXIT_OK;
    }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  cli_fail ("unknown command '%s' (try --help)", argv[1]);
  return CLI_EXIT_USAGE;
}
