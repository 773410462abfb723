/* cli-runs-private.h: the helpers of cli-runs.c that cli-runs-export.c
 * shares. */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

#include "ps-store.h"

G_BEGIN_DECLS

/* Parses `entries` (plus --db) for `command`; leaves positional arguments
 * in argc/argv (argv[0] is the command). */
gboolean cli_runs_parse_options (const char *command, const char *synopsis, GOptionEntry *entries,
                                 char **db, int *argc, char ***argv);

/* Opens an existing store (--db FILE or the default); a missing file is
 * reported, not created.  NULL after printing the error. */
PsStore *cli_runs_open_store (const char *db_option);

/* A run is named by its id, or by its exact name when that is unique. */
gboolean cli_runs_resolve_run (PsStore *store, const char *arg, gint64 *id);

/* A metric value for display: 6 significant digits, or "nan". */
char *cli_runs_format_value (double v);

/* A parameter value for display: doubles with 6 significant digits (the
 * JSON text keeps all 17), everything else as JSON. */
char *cli_runs_json_value_text (JsonNode *node);

/* Every series as rows of (name, step, value). */
gboolean cli_runs_write_metrics_csv (PsStore *store, gint64 id, FILE *out, GError **error);

G_END_DECLS
