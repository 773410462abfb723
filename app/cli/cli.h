/* cli.h: protoscope-cli's commands.  Each returns the process exit code. */
#pragma once

#include <glib.h>

#include "ps-dataset.h"

/* Exit codes: 0 ok, 1 failure (bad input, failed run), 2 usage, 130 interrupted. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INTERRUPTED 130

/* Prints "protoscope-cli: <message>" on stderr as one line. */
void cli_fail (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* The store path: --db FILE or the default. */
char *cli_store_path (const char *db_option);

int cli_cmd_datasets (int argc, char **argv);
int cli_cmd_methods  (int argc, char **argv);
int cli_cmd_train    (int argc, char **argv);
int cli_cmd_demo     (int argc, char **argv);

/* Run management (cli-runs.c). */
int cli_cmd_runs     (int argc, char **argv);
int cli_cmd_show     (int argc, char **argv);
int cli_cmd_metrics  (int argc, char **argv);
int cli_cmd_export   (int argc, char **argv);
int cli_cmd_delete   (int argc, char **argv);
int cli_cmd_rename   (int argc, char **argv);
int cli_cmd_tag      (int argc, char **argv);
int cli_cmd_resume   (int argc, char **argv);
int cli_cmd_cancel   (int argc, char **argv);
int cli_cmd_compare  (int argc, char **argv);
int cli_cmd_merge    (int argc, char **argv);

/* Figures of stored runs (cli-plot.c, built with the ui option; without
 * it the command reports that Cairo is missing). */
int cli_cmd_plot     (int argc, char **argv);
/* Explanation sheet of one sample of a stored run (cli-explain.c, built
 * with the ui option; without it, a clear error). */
int cli_cmd_explain  (int argc, char **argv);

/* ps_dataset_open_spec with the standard split (see ps-dataset.h);
 * `out` receives a new reference. */
gboolean cli_prepare_dataset (const char *name_or_path, const char *labels_path,
                              const char *label_column, PsDataset **out, GError **error);
