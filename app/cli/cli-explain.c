/* cli-explain.c: `protoscope-cli explain RUN --sample N --out FILE`.
 *
 * Rebuilds the run's model from its latest checkpoint, asks the method to
 * explain one dataset row and draws an explanation sheet: the image, its
 * top prototypes ("this looks like that": the image's similarity heatmap
 * with the matching box, above the prototype's source patch on its training
 * image), each one's similarity x weight = points, the "because" bars,
 * the sanity heatmaps (randomised last convolution, random attribution)
 * and the points per class.  The sheet is drawn by ui/plot's
 * ps-explain-sheet.c, as the window's Prototypes page draws it.  PNG, SVG
 * or PDF by the extension of FILE.  Without --out the explanation is
 * printed as text.
 *
 * Declaration for cli.h:
 *
 *   // Explanation sheet of one sample of a stored run (cli-explain.c;
 *   // needs the plot library, so only built with the ui option).
 *   int cli_cmd_explain  (int argc, char **argv);
 *
 * --scale S sets the pixels per unit of a PNG sheet (1000 units wide).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ps-explain-sheet.h"
#include "ps-method.h"
#include "ps-store.h"

int
cli_cmd_explain (int argc, char **argv)
{
  char *db = NULL, *out = NULL, *labels = NULL, *label_column = NULL;
  gint sample = -1;
  double scale = 2.0;
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "Run store file", "FILE" },
    { "sample", 'n', 0, G_OPTION_ARG_INT, &sample, "Dataset row to explain", "N" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the sheet here (.png, .svg, .pdf)", "FILE" },
    { "scale", 0, 0, G_OPTION_ARG_DOUBLE, &scale, "Pixels per unit of a PNG sheet (default 2; 1000 units wide)", "S" },
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels, "Labels .npy for a .npy dataset", "FILE" },
    { "label-column", 0, 0, G_OPTION_ARG_STRING, &label_column, "Label column of a CSV dataset", "NAME" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("RUN - explain one sample of a stored run");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      cli_fail ("explain: %s", error->message);
      return CLI_EXIT_USAGE;
    }
  if (!(scale >= 0.25 && scale <= 8))
    {
      cli_fail ("explain: --scale must be between 0.25 and 8, got %g", scale);
      return CLI_EXIT_USAGE;
    }
  if (argc != 2 || sample < 0)
    {
      cli_fail ("explain: usage: explain RUN --sample N [--out FILE]");
      return CLI_EXIT_USAGE;
    }
  char *end = NULL;
  errno = 0;
  gint64 id = g_ascii_strtoll (argv[1], &end, 10);
  if (errno != 0 || end == argv[1] || *end != '\0')
    {
      cli_fail ("explain: RUN must be a run id, got '%s'", argv[1]);
      return CLI_EXIT_USAGE;
    }

  g_autofree char *path = cli_store_path (db);
  PsStore *store = ps_store_open (path, &error);
  if (store == NULL)
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsRunInfo) info = ps_store_get_run (store, id, &error);
  gint64 ck_step = 0;
  g_autoptr (GBytes) ck = info ? ps_store_get_checkpoint (store, id, &ck_step, &error) : NULL;
  /* The last snapshot's global "because" importances of the prototypes,
   * drawn beside the local ones (absent for other methods). */
  g_autoptr (PsArray) because_global = ck ? ps_store_get_artifact (store, id, -1, "because_global", NULL)
                                          : NULL;
  g_autoptr (PsArray) protos = ck ? ps_store_get_artifact (store, id, -1, "prototype_labels", NULL) : NULL;
  ps_store_close (store);
  if (info == NULL || ck == NULL)
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id,
                error ? error->message : "it has no checkpoint");
      return CLI_EXIT_FAIL;
    }
  const PsMethod *method = ps_method_find (info->method);
  if (method == NULL || method->explain == NULL)
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": method '%s' %s", id, info->method,
                method == NULL ? "is not known to this build" : "has no explanations");
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsDataset) ds = NULL;
  if (!cli_prepare_dataset (info->dataset, labels, label_column, &ds, &error))
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id, error->message);
      return CLI_EXIT_FAIL;
    }
  if ((guint) sample >= ds->n)
    {
      cli_fail ("explain: sample %d is out of range (%s has %u rows)", sample, ds->name, ds->n);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsParams) params = ps_method_default_params (method);
  if (info->params_json && !ps_params_load_json (params, info->params_json, &error))
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id, error->message);
      return CLI_EXIT_FAIL;
    }
  gpointer model = method->create (method, params, ds, info->seed, &error);
  if (model == NULL || !method->load (model, ck, &error))
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id, error->message);
      if (model)
        method->free (model);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsExplanation) ex = method->explain (model, (guint) sample, &error);
  int rc = CLI_EXIT_OK;
  if (ex == NULL)
    {
      cli_fail ("explain: %s", error->message);
      rc = CLI_EXIT_FAIL;
    }
  else if (out != NULL)
    {
      if (ds->img_h == 0)
        {
          cli_fail ("explain: %s is not an image dataset; the sheet needs images", ds->name);
          rc = CLI_EXIT_FAIL;
        }
      else
        {
          g_autofree char *title = g_strdup_printf ("Run %" G_GINT64_FORMAT " (%s on %s, step %"
                                                    G_GINT64_FORMAT "), sample %d",
                                                    id, info->method, info->dataset, ck_step, sample);
          PsExplainSheetOptions opts;
          ps_explain_sheet_options_init (&opts);
          opts.title = title;
          opts.because_global = because_global;
          if (!ps_explain_sheet_write (out, ex, ds, &opts, scale, &error))
            {
              cli_fail ("explain: %s", error->message);
              rc = CLI_EXIT_FAIL;
            }
          else
            printf ("%s\n", out);
        }
    }
  if (ex != NULL && rc == CLI_EXIT_OK)
    {
      printf ("sample %d: true %d, predicted %d (p = %.3f)\n", ex->sample, ex->true_label,
              ex->predicted, ex->confidence);
      for (guint i = 0; i < ex->evidence->len; i++)
        {
          const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, i);
          printf ("  %s %d (class %d): similarity %.3f x weight %.3f = %.3f\n",
                  ex->by_prototypes ? "prototype" : "sample", e->index, e->cls, e->similarity,
                  e->weight, e->evidence);
        }
      /* The points the listed prototypes add, the rest, and the logit. */
      g_autofree char *sum = NULL;
      if (ex->by_prototypes)
        {
          if (protos != NULL)
            sum = ps_explain_sheet_points_sentence (ex, ds, (int) ps_array_n_elements (protos),
                                                    ex->evidence->len);
        }
      if (sum)
        printf ("%s\n", sum);
      if (ex->text)
        printf ("%s\n", ex->text);
    }
  method->free (model);
  g_free (db);
  g_free (out);
  g_free (labels);
  g_free (label_column);
  return rc;
}
