/* ps-plot.h: the pure-Cairo drawing layer shared by the window and the CLI.
 *
 * A PsFigure is a plain description of one plot: a title, two axes, a theme,
 * a legend or a colour bar and an ordered list of layers (scatter, decision
 * regions, prototypes, curves, histograms, heatmaps, images, ...).  Layers
 * copy the arrays they are given, as flat arrays of floats or doubles, so a
 * caller may free its buffers right after adding them.
 *
 * ps_figure_render() draws a figure onto any cairo_t.  On raster targets
 * scatter points are rasterised straight into a pixel buffer (one image
 * paint for a million points); on SVG/PDF targets they become one compact
 * path per colour.  ps_figure_export() picks PNG, SVG or PDF by extension.
 *
 * This library depends on Cairo, GLib and core/base only, never on GTK.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------------ */
/* Colours, palettes, colormaps and themes                              */
/* ------------------------------------------------------------------ */

typedef struct
{
  double r, g, b, a; /* straight (not premultiplied), each in [0, 1] */
} PsColor;

#define PS_PALETTE_SIZE 20

/* Colour of class `index` from a palette of PS_PALETTE_SIZE distinguishable
 * colours (cycled beyond that).  A negative index means "no class" and gives
 * a neutral grey. */
PsColor ps_palette_color (int index);

typedef enum
{
  PS_COLORMAP_VIRIDIS, /* perceptual, dark blue -> yellow: scores */
  PS_COLORMAP_INFERNO, /* perceptual, black -> yellow: heat overlays */
  PS_COLORMAP_COOLWARM, /* diverging blue -> white -> red: similarities */
  PS_COLORMAP_GRAY,
} PsColormap;

/* Colour at t in [0, 1] (clamped; NaN gives grey). */
PsColor ps_colormap_color (PsColormap map, double t);

typedef enum
{
  PS_THEME_LIGHT,
  PS_THEME_DARK,
} PsThemeKind;

typedef struct
{
  PsColor background; /* whole figure */
  PsColor plot_background; /* inside the axes */
  PsColor foreground; /* text, ticks */
  PsColor muted; /* tick labels, axis lines */
  PsColor grid;
  PsColor legend_background;
  double font_size; /* tick labels, in user units (px at scale 1) */
  double title_size;
} PsPlotTheme;

void ps_plot_theme_init (PsPlotTheme *theme, PsThemeKind kind);

/* ARGB32 premultiplied pixel of a straight colour, as cairo stores it. */
guint32 ps_color_to_argb32 (PsColor c);

/* ------------------------------------------------------------------ */
/* Ticks and transforms                                                 */
/* ------------------------------------------------------------------ */

/* Nice ticks (steps 1, 2 or 5 times a power of ten) inside [lo, hi], about
 * `target` of them, written to ticks[0..max_ticks).  Returns the count and
 * the step through *step_out (may be NULL).  lo > hi is allowed (swapped). */
guint ps_plot_nice_ticks (double lo, double hi, guint target,
                          double *ticks, guint max_ticks, double *step_out);

/* Widens [*lo, *hi] to the enclosing multiples of a nice step; a degenerate
 * range grows around its value so it is never empty. */
void ps_plot_nice_range (double *lo, double *hi, guint target);

/* Formats a tick value for a given step: as few decimals as the step needs,
 * scientific for very large or small magnitudes, "0" for values within
 * rounding of zero.  Writes into buf (NUL-terminated). */
void ps_plot_format_tick (char *buf, gsize size, double value, double step);

/* The mapping between data space and a pixel rectangle.  y grows upwards in
 * data space and downwards in pixels.  A reversed range (x0 > x1 or
 * y0 > y1) flips that axis. */
typedef struct
{
  double x0, x1, y0, y1; /* visible data range */
  double px, py, pw, ph; /* plot rectangle in pixels: left, top, width, height */
} PsPlotView;

void ps_plot_view_to_pixel (const PsPlotView *view, double x, double y,
                            double *px, double *py);
void ps_plot_view_to_data  (const PsPlotView *view, double px, double py,
                            double *x, double *y);
/* Pixels per data unit along x and y (always positive). */
void ps_plot_view_scale    (const PsPlotView *view, double *sx, double *sy);
/* Zooms by `factor` (> 1 zooms in) keeping the data point under the pixel
 * (cx, cy) fixed; pans by a pixel displacement. */
void ps_plot_view_zoom     (PsPlotView *view, double factor, double cx, double cy);
void ps_plot_view_pan      (PsPlotView *view, double dx_px, double dy_px);

/* ------------------------------------------------------------------ */
/* Scatter rasteriser                                                   */
/* ------------------------------------------------------------------ */

/* What a scatter draws.  Arrays are borrowed by ps_scatter_rasterize and
 * copied by ps_figure_add_scatter.  Colour comes from scores (through the
 * colormap) if given, else from labels (palette), else from `color`. */
typedef struct
{
  const float *x;          /* [n] */
  const float *y;          /* [n] */
  gsize n;
  const gint32 *labels;    /* [n] or NULL: class index, < 0 = none */
  const float *scores;     /* [n] or NULL */
  const guint8 *dimmed;    /* [n] or NULL: nonzero draws with dim_alpha, below the rest */
  double score_min, score_max; /* colormap range; equal values mean "fit to data",
                                * or in a figure with a colour bar, the bar's range */
  PsColormap colormap;
  PsColor color;           /* used when neither labels nor scores; a == 0 -> palette 0 */
  double radius;           /* px at scale 1; 0 -> 2.2 */
  double alpha;            /* 0 -> 0.85 */
  double dim_alpha;        /* 0 -> 0.12 */
} PsScatterSpec;

/* Draws the points into an ARGB32 premultiplied pixel buffer (a cairo image
 * surface's data; call cairo_surface_flush before and
 * cairo_surface_mark_dirty after).  `view` maps data to this buffer's pixels;
 * points outside view->p* are clipped.  `scale` multiplies the radius. */
void ps_scatter_rasterize (guint32 *pixels, int width, int height, int stride_bytes,
                           const PsPlotView *view, const PsScatterSpec *spec,
                           double scale);

/* How many threads ps_scatter_rasterize may use for large point sets
 * (0, the default, means one per processor, at most 4).  Process-wide. */
void ps_plot_set_raster_threads (int n);

/* The same points as vector paths on any cairo_t (one path per colour with
 * coordinates rounded to 0.1 px): for SVG and PDF. */
void ps_scatter_draw_vector (cairo_t *cr, const PsPlotView *view,
                             const PsScatterSpec *spec);

/* Colour of point i as the scatter draws it (alpha not applied). */
PsColor ps_scatter_point_color (const PsScatterSpec *spec, gsize i);

/* ------------------------------------------------------------------ */
/* Smoothing                                                            */
/* ------------------------------------------------------------------ */

/* Debiased exponential moving average, TensorBoard style: weight in [0, 1)
 * (0 = no smoothing).  out may equal in.  NaN inputs are skipped (their
 * output repeats the running value). */
void ps_smooth_ema (double *out, const double *in, gsize n, double weight);

/* ------------------------------------------------------------------ */
/* The figure                                                           */
/* ------------------------------------------------------------------ */

/* A figure belongs to one thread at a time (rendering caches extents). */
typedef struct _PsFigure PsFigure;

PsFigure *ps_figure_new  (void);
void      ps_figure_free (PsFigure *fig);

void ps_figure_set_title   (PsFigure *fig, const char *title);
void ps_figure_set_x_label (PsFigure *fig, const char *label);
void ps_figure_set_y_label (PsFigure *fig, const char *label);
void ps_figure_set_theme   (PsFigure *fig, PsThemeKind kind);
/* The full theme, for callers that adjust fonts or colours. */
PsPlotTheme *ps_figure_get_theme (PsFigure *fig);

/* Fixes the visible data range; without it the range fits the data with a
 * small margin.  lo > hi flips the axis (e.g. matrix rows top-down). */
void ps_figure_set_x_range (PsFigure *fig, double lo, double hi);
void ps_figure_set_y_range (PsFigure *fig, double lo, double hi);
void ps_figure_clear_ranges (PsFigure *fig);
/* One data unit has the same length along x and y (embeddings). */
void ps_figure_set_equal_aspect (PsFigure *fig, gboolean equal);
void ps_figure_set_show_axes (PsFigure *fig, gboolean show);
void ps_figure_set_show_grid (PsFigure *fig, gboolean show);
void ps_figure_set_show_legend (PsFigure *fig, gboolean show);
/* Names of the classes: a legend entry per class with its palette colour. */
void ps_figure_set_class_names (PsFigure *fig, const char *const *names, guint n);
/* Shows a colour bar on the right (instead of the class legend). */
void ps_figure_set_colorbar (PsFigure *fig, PsColormap map, double lo, double hi,
                             const char *label);
/* Adds a free legend entry (a line or a disc marker). */
void ps_figure_add_legend_entry (PsFigure *fig, const char *name, PsColor color,
                                 gboolean is_line);
/* Adds a legend entry with a prototype star. */
void ps_figure_add_legend_star (PsFigure *fig, const char *name, PsColor color);

/* Layers.  Arrays are copied.  They draw in three groups, each in the order
 * added: backgrounds (regions, images, matrices, image grids), then
 * scatters, then everything else (prototypes, links, curves, ...). */
void ps_figure_add_scatter (PsFigure *fig, const PsScatterSpec *spec);

/* Decision regions from a field of gw x gh cells covering the data rectangle
 * [x0, x1] x [y0, y1], row 0 at y0.  Either labels[gh*gw] (+ optional
 * confidence[gh*gw] in [0, 1]) or probs[gh*gw*k], whose argmax is the label
 * and (p_max - 1/k) / (1 - 1/k) the confidence.  The class colour's alpha
 * grows with confidence.  `smooth` scales the field bilinearly, else
 * nearest (crisp cells). */
void ps_figure_add_regions (PsFigure *fig, guint gw, guint gh,
                            double x0, double x1, double y0, double y1,
                            const gint32 *labels, const float *confidence,
                            const float *probs, guint k, gboolean smooth);

/* Prototype stars: positions [n], class (palette colour) [n] or NULL,
 * size [n] or NULL (px radius at scale 1; default 9). */
void ps_figure_add_prototypes (PsFigure *fig, const float *x, const float *y, gsize n,
                               const gint32 *classes, const float *sizes);

/* Segments from (x0[i], y0[i]) to (x1[i], y1[i]) with opacity weight[i]
 * (clamped to [0, 1]). */
void ps_figure_add_links (PsFigure *fig, const float *x0, const float *y0,
                          const float *x1, const float *y1, const float *weight,
                          gsize n, PsColor color);

/* The k-sigma ellipse of a 2-D Gaussian: mean (mx, my), covariance
 * cov[4] = {sxx, sxy, syx, syy}.  Outline plus a light fill. */
void ps_figure_add_ellipse (PsFigure *fig, double mx, double my, const double *cov,
                            double k_sigma, PsColor color);

/* Arrows at (x, y) along (u, v) times `scale` data units; scale 0 picks one
 * so the longest arrow spans about 1/20 of the wider axis range. */
void ps_figure_add_quiver (PsFigure *fig, const float *x, const float *y,
                           const float *u, const float *v, gsize n,
                           double scale, PsColor color);

/* S trajectories of T steps, xy[S][T][2], drawn as polylines whose alpha
 * fades in from `alpha_start` at t = 0 to 1 at the end, with a dot at the
 * end.  labels[S] or NULL picks colours (else `color`). */
void ps_figure_add_trajectories (PsFigure *fig, const float *xy, guint S, guint T,
                                 const gint32 *labels, PsColor color, double alpha_start);

/* A curve; color.a == 0 picks the next palette colour.  With smoothing in
 * (0, 1) the raw curve is drawn faint behind its debiased EMA. */
void ps_figure_add_curve (PsFigure *fig, const char *name, const double *x,
                          const double *y, gsize n, PsColor color, double smoothing);
/* A mean line with a +- std band. */
void ps_figure_add_band (PsFigure *fig, const char *name, const double *x,
                         const double *mean, const double *std, gsize n, PsColor color);
/* A histogram of `values` in `bins` bins over [lo, hi] (lo == hi: data
 * range), as translucent bars with a step outline; `density` normalises the
 * area to 1 so two sets of different size compare. */
void ps_figure_add_histogram (PsFigure *fig, const char *name, const float *values,
                              gsize n, guint bins, double lo, double hi,
                              gboolean density, PsColor color);
/* A vertical line (a threshold) with an optional legend name. */
void ps_figure_add_vline (PsFigure *fig, double x, PsColor color, const char *name,
                          gboolean dashed);

/* A matrix heatmap: values[rows*cols], cell (r, c) is centred on x = c,
 * y = r (row 0 at the top: the y range is set top-down); adds a colour
 * bar.  lo == hi fits the colour range to the data. */
void ps_figure_add_matrix (PsFigure *fig, const float *values, guint rows, guint cols,
                           PsColormap map, double lo, double hi, const char *label);

/* A grayscale image pixels[h*w] in [0, 1] (row 0 at the top) filling the
 * data rectangle [x0, x1] x [y0, y1], with an optional heatmap heat[hh*hw]
 * (values in [0, 1], upsampled bilinearly, colormap with alpha) and an
 * optional box given as box[4] = {x0, y0, x1, y1} in data units. */
void ps_figure_add_image (PsFigure *fig, const float *pixels, guint w, guint h,
                          double x0, double x1, double y0, double y1,
                          const float *heat, guint hw, guint hh, double heat_alpha,
                          const double *box);

/* A grid of n small grayscale images images[n][h][w] in [0, 1], `cols` per
 * row, each with an optional caption and optional heat overlay
 * heat[n][h][w].  Turns the axes off. */
void ps_figure_add_image_grid (PsFigure *fig, const float *images, guint n,
                               guint w, guint h, guint cols,
                               const char *const *captions, const float *heat);

/* Layout: the data <-> pixel view the figure uses at this size (after
 * fitting ranges).  The window uses it for hit testing, pan and zoom. */
void ps_figure_get_view (PsFigure *fig, double width, double height, PsPlotView *view);

typedef enum
{
  PS_RENDER_BACKGROUND = 1 << 0, /* background, grid, regions, images, heatmaps */
  PS_RENDER_POINTS     = 1 << 1, /* scatter layers */
  PS_RENDER_OVERLAY    = 1 << 2, /* other layers, axes, title, legend */
  PS_RENDER_ALL        = 0x7,
} PsRenderParts;

/* Draws the figure into the rectangle (0, 0, width, height) in user units of
 * `cr`.  Scatter points are rasterised unless the target is SVG/PDF/PS. */
void ps_figure_render (PsFigure *fig, cairo_t *cr, double width, double height);
void ps_figure_render_parts (PsFigure *fig, cairo_t *cr, double width, double height,
                             PsRenderParts parts);

/* Writes the figure to `path`: .png (width*scale x height*scale pixels),
 * .svg or .pdf (width x height points).  Unknown extensions and unwritable
 * paths are PS_ERROR errors. */
gboolean ps_figure_export (PsFigure *fig, const char *path, double width, double height,
                           double scale, GError **error);

/* Draws one page of width x height (points) into `path` with `draw`: a
 * .png of width*scale x height*scale pixels (scale <= 0 means 1), or a
 * .svg or .pdf.  `what` names the page in errors ("figure", "sheet").  An
 * unknown extension is PS_ERROR_UNSUPPORTED, a size out of 1..20000
 * PS_ERROR_PARAM, a failed write PS_ERROR_IO naming the path.  Every
 * export of a figure, sheet or composite view goes through here. */
typedef void (*PsPageDrawFunc) (cairo_t *cr, double width, double height, gpointer user_data);
gboolean ps_plot_write_page (const char *path, const char *what, double width, double height,
                             double scale, PsPageDrawFunc draw, gpointer user_data,
                             GError **error);

/* Writes points as CSV: header "x,y[,label][,score]" then one row per point. */
gboolean ps_points_write_csv (const char *path, const float *x, const float *y,
                              const gint32 *labels, const float *scores, gsize n,
                              GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsFigure, ps_figure_free)

G_END_DECLS
