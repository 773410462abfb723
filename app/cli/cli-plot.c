/* cli-plot.c: `protoscope-cli plot RUN [RUN...] --view curves|embedding|compare
 * --out FILE.{png,svg,pdf}`.
 *
 * The figures come from ui/plot/ps-run-figures.c, the same code the window
 * draws its overview, embedding and compare views with, so an exported
 * figure matches the screen.  Built only with the ui option (it needs
 * Cairo); without it the command is absent from the table.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

#include "ps-run-figures.h"
#include "ps-store.h"

/* A run is named by its id, or by its exact name when that is unique. */
static gboolean
resolve_run (PsStore *store, const char *arg, gint64 *id, GError **error)
{
  char *end = NULL;
  errno = 0;
  gint64 n = g_ascii_strtoll (arg, &end, 10);
  if (errno == 0 && end != arg && *end == '\0')
    {
      g_autoptr (PsRunInfo) info = ps_store_get_run (store, n, error);
      *id = n;
      return info != NULL;
    }
  g_autoptr (GPtrArray) runs = ps_store_list_runs (store, NULL, NULL, NULL, NULL, NULL, error);
  if (runs == NULL)
    return FALSE;
  guint found = 0;
  for (guint i = 0; i < runs->len; i++)
    {
      PsRunInfo *info = g_ptr_array_index (runs, i);
      if (g_strcmp0 (info->name, arg) == 0)
        {
          *id = info->id;
          found++;
        }
    }
  if (found == 1)
    return TRUE;
  g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
               found == 0 ? "No run with id or name '%s'" : "The name '%s' is not unique: use the run id",
               arg);
  return FALSE;
}

static gboolean
parse_color_by (const char *s, PsColorBy *out)
{
  static const char *const names[] = { "class", "prediction", "correct", "score" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (s, names[i]) == 0)
      {
        *out = (PsColorBy) i;
        return TRUE;
      }
  return FALSE;
}

int
cli_cmd_plot (int argc, char **argv)
{
  g_autofree char *db = NULL, *out = NULL, *view = NULL, *metric = NULL, *color = NULL;
  g_autofree char *theme = NULL;
  gint64 step = -1;
  double width = 0, height = 0, scale = 1;
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "Run store file", "FILE" },
    { "view", 0, 0, G_OPTION_ARG_STRING, &view, "curves (default), embedding or compare", "VIEW" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the figure here (.png, .svg, .pdf)", "FILE" },
    { "metric", 0, 0, G_OPTION_ARG_STRING, &metric, "One metric (curves, compare)", "NAME" },
    { "step", 0, 0, G_OPTION_ARG_INT64, &step, "Snapshot step (embedding; default the last)", "N" },
    { "color-by", 0, 0, G_OPTION_ARG_STRING, &color, "class, prediction, correct or score", "MODE" },
    { "width", 0, 0, G_OPTION_ARG_DOUBLE, &width, "Width in points (default 800, or 700 for embeddings)", "W" },
    { "height", 0, 0, G_OPTION_ARG_DOUBLE, &height, "Height in points (default 500, or 600)", "H" },
    { "scale", 0, 0, G_OPTION_ARG_DOUBLE, &scale, "PNG pixels per point (default 1)", "S" },
    { "theme", 0, 0, G_OPTION_ARG_STRING, &theme, "light (default) or dark", "THEME" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("RUN [RUN...] - draw a figure of stored runs");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      cli_fail ("plot: %s", error->message);
      return CLI_EXIT_USAGE;
    }

  const char *v = view ? view : "curves";
  gboolean is_curves = g_str_equal (v, "curves"), is_emb = g_str_equal (v, "embedding");
  gboolean is_compare = g_str_equal (v, "compare");
  PsColorBy color_by = PS_COLOR_BY_CLASS;
  if (!is_curves && !is_emb && !is_compare)
    {
      cli_fail ("plot: --view must be curves, embedding or compare, not '%s'", v);
      return CLI_EXIT_USAGE;
    }
  if (argc < 2 || out == NULL)
    {
      cli_fail ("plot: usage: plot RUN [RUN...] --view curves|embedding|compare --out FILE.{png,svg,pdf}");
      return CLI_EXIT_USAGE;
    }
  if (color && !parse_color_by (color, &color_by))
    {
      cli_fail ("plot: --color-by must be class, prediction, correct or score, not '%s'", color);
      return CLI_EXIT_USAGE;
    }
  if ((!is_compare && argc != 2) || (is_compare && argc < 3))
    {
      cli_fail ("plot: --view %s takes %s", v, is_compare ? "two or more runs" : "one run");
      return CLI_EXIT_USAGE;
    }
  if (width < 0 || height < 0 || scale <= 0 || scale > 16)
    {
      cli_fail ("plot: --width and --height must be positive and --scale in (0, 16]");
      return CLI_EXIT_USAGE;
    }
  if (theme && !g_str_equal (theme, "light") && !g_str_equal (theme, "dark"))
    {
      cli_fail ("plot: --theme must be light or dark");
      return CLI_EXIT_USAGE;
    }
  PsThemeKind theme_kind = theme && g_str_equal (theme, "dark") ? PS_THEME_DARK : PS_THEME_LIGHT;

  g_autofree char *path = cli_store_path (db);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      /* Opening would create an empty store: say what is missing instead. */
      cli_fail ("plot: %s: no such store", path);
      return CLI_EXIT_FAIL;
    }
  PsStore *store = ps_store_open (path, &error);
  if (store == NULL)
    {
      cli_fail ("plot: %s", error->message);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (int i = 1; i < argc; i++)
    {
      gint64 id = 0;
      if (!resolve_run (store, argv[i], &id, &error))
        {
          cli_fail ("plot: %s", error->message);
          ps_store_close (store);
          return CLI_EXIT_FAIL;
        }
      g_array_append_val (ids, id);
    }

  g_autoptr (PsFigure) fig = NULL;
  gint64 *run = (gint64 *) ids->data;
  if (is_curves)
    fig = ps_run_figure_curves (store, run[0], metric, 0, theme_kind, &error);
  else if (is_compare)
    fig = ps_run_figure_compare (store, run, ids->len, metric, theme_kind, &error);
  else
    fig = ps_run_figure_embedding (store, run[0], step, color_by, theme_kind, &error);
  ps_store_close (store);
  if (fig == NULL)
    {
      cli_fail ("plot: %s", error->message);
      return CLI_EXIT_FAIL;
    }
  if (width == 0)
    width = is_emb ? 700 : 800;
  if (height == 0)
    height = is_emb ? 600 : 500;
  if (!ps_figure_export (fig, out, width, height, scale, &error))
    {
      cli_fail ("plot: %s", error->message);
      return CLI_EXIT_FAIL;
    }
  return CLI_EXIT_OK;
}
