/* ps-plot-color.c: the categorical palette, colormaps and themes. */
#define G_LOG_DOMAIN "ps-plot"

#include <math.h>

#include "ps-plot.h"

/* Twenty colours chosen for distinguishability: ten saturated mid-tones
 * first (so small class counts look strong), then ten lighter or darker
 * companions that differ in hue from their neighbours. */
static const guint32 palette_rgb[PS_PALETTE_SIZE] = {
  0x3a75b0, /* blue */
  0xee8435, /* orange */
  0x4f9e3f, /* green */
  0xc93b36, /* red */
  0x8c6bb8, /* purple */
  0x86584c, /* brown */
  0xd77cc0, /* pink */
  0x7a7a7a, /* grey */
  0xb8b83e, /* olive */
  0x36b5c9, /* cyan */
  0x9fc4e6, /* light blue */
  0xf5b97c, /* light orange */
  0x9ed98b, /* light green */
  0xf19793, /* salmon */
  0xc6b1dc, /* lavender */
  0x1f3f73, /* navy */
  0x0d7a66, /* dark teal */
  0xe6c52e, /* gold */
  0x7d1f4a, /* wine */
  0x5a6b1d, /* moss */
};

static PsColor
rgb_hex (guint32 v, double a)
{
  PsColor c = { ((v >> 16) & 0xff) / 255.0, ((v >> 8) & 0xff) / 255.0,
                (v & 0xff) / 255.0, a };
  return c;
}

PsColor
ps_palette_color (int index)
{
  if (index < 0)
    return rgb_hex (0x9a9a9a, 1.0);
  return rgb_hex (palette_rgb[index % PS_PALETTE_SIZE], 1.0);
}

/* Colormaps as a few evenly spaced stops, interpolated linearly in sRGB.
 * Nine stops keep viridis and inferno within a couple of levels of their
 * published 256-entry tables, which is all a plot needs. */
static const guint32 viridis_stops[] = {
  0x440154, 0x472c7a, 0x3b518b, 0x2c718e, 0x21908d,
  0x27ad81, 0x5cc863, 0xaadc32, 0xfde725,
};
static const guint32 inferno_stops[] = {
  0x000004, 0x1f0c48, 0x550f6d, 0x88226a, 0xba3655,
  0xe35933, 0xf98c0a, 0xf9c932, 0xfcffa4,
};
static const guint32 coolwarm_stops[] = {
  0x3b4cc0, 0x6788ee, 0x9abbff, 0xc9d7f0, 0xedd1c2,
  0xf7a889, 0xe26952, 0xb40426,
};
static const guint32 gray_stops[] = { 0x000000, 0xffffff };

PsColor
ps_colormap_color (PsColormap map, double t)
{
  const guint32 *stops;
  guint n;

  switch (map)
    {
    case PS_COLORMAP_INFERNO:
      stops = inferno_stops;
      n = G_N_ELEMENTS (inferno_stops);
      break;
    case PS_COLORMAP_COOLWARM:
      stops = coolwarm_stops;
      n = G_N_ELEMENTS (coolwarm_stops);
      break;
    case PS_COLORMAP_GRAY:
      stops = gray_stops;
      n = G_N_ELEMENTS (gray_stops);
      break;
    case PS_COLORMAP_VIRIDIS:
    default:
      stops = viridis_stops;
      n = G_N_ELEMENTS (viridis_stops);
      break;
    }

  if (isnan (t))
    return rgb_hex (0x9a9a9a, 1.0);
  t = CLAMP (t, 0.0, 1.0);
  double pos = t * (n - 1);
  guint i = (guint) pos;
  if (i >= n - 1)
    i = n - 2;
  double f = pos - i;
  PsColor a = rgb_hex (stops[i], 1.0);
  PsColor b = rgb_hex (stops[i + 1], 1.0);
  PsColor c = { a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f, 1.0 };
  return c;
}

void
ps_plot_theme_init (PsPlotTheme *theme, PsThemeKind kind)
{
  g_return_if_fail (theme != NULL);

  theme->font_size = 11.0;
  theme->title_size = 14.0;
  if (kind == PS_THEME_DARK)
    {
      theme->background = rgb_hex (0x1e1f22, 1.0);
      theme->plot_background = rgb_hex (0x26282c, 1.0);
      theme->foreground = rgb_hex (0xe6e6e6, 1.0);
      theme->muted = rgb_hex (0xa4a7ad, 1.0);
      theme->grid = rgb_hex (0x3a3d43, 1.0);
      theme->legend_background = rgb_hex (0x26282c, 0.9);
    }
  else
    {
      theme->background = rgb_hex (0xffffff, 1.0);
      theme->plot_background = rgb_hex (0xffffff, 1.0);
      theme->foreground = rgb_hex (0x222222, 1.0);
      theme->muted = rgb_hex (0x555555, 1.0);
      theme->grid = rgb_hex (0xe4e4e4, 1.0);
      theme->legend_background = rgb_hex (0xffffff, 0.9);
    }
}

guint32
ps_color_to_argb32 (PsColor c)
{
  double a = CLAMP (c.a, 0.0, 1.0);
  guint32 A = (guint32) lround (a * 255.0);
  guint32 R = (guint32) lround (CLAMP (c.r, 0.0, 1.0) * a * 255.0);
  guint32 G = (guint32) lround (CLAMP (c.g, 0.0, 1.0) * a * 255.0);
  guint32 B = (guint32) lround (CLAMP (c.b, 0.0, 1.0) * a * 255.0);
  return (A << 24) | (R << 16) | (G << 8) | B;
}
