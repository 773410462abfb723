/* ps-plot-raster.c: scatter points written straight into a pixel buffer,
 * and the same points as compact vector paths for SVG/PDF.
 *
 * A Cairo path per point costs about 3.5 us, so a million points would take
 * seconds.  Instead each point stamps a precomputed antialiased disc mask
 * into the ARGB32 buffer with integer src-over blending.  Sixteen masks
 * (a 4x4 grid of sub-pixel offsets) keep dense clouds from looking snapped
 * to the pixel grid without paying for per-point coverage maths.
 */
#define G_LOG_DOMAIN "ps-plot"

#include <math.h>
#include <string.h>

#include "ps-plot.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

#define SUBPIX 4
#define MAX_MASK_RADIUS 16
#define MAX_MASK_ROWS (2 * MAX_MASK_RADIUS + 7)

#ifdef HAVE_SSE2
/* Two pixels of a mask row for the SIMD path: coverage replicated over the
 * four channels of each pixel, and 256 minus the source alpha it yields
 * for each of the two alphas a scatter uses (normal and dimmed).  Every
 * point of a pass shares its alpha, so this part of src-over is
 * precomputed once per mask instead of once per pixel. */
typedef struct _Pair
{
  __m128i cov;
  __m128i inv[2];
} Pair;
#endif

/* One row of a disc mask, padded with zero coverage to a multiple of two
 * pixels so the SIMD path blends whole pairs (zero coverage leaves the
 * destination unchanged, bit for bit). */
typedef struct
{
  int x0;             /* first pixel offset of this row relative to the base pixel */
  int len;            /* pixels in the row, a multiple of 2 */
  const guint16 *cov; /* [len] coverage in 0..256 */
#ifdef HAVE_SSE2
  const struct _Pair *pairs; /* [len / 2] */
#endif
} MaskRow;

typedef struct
{
  int dy0;            /* first row offset */
  int n_rows;
  int xmin, xmax;     /* horizontal extent over all rows, xmax exclusive */
  MaskRow rows[MAX_MASK_ROWS];
} Mask;

typedef struct
{
  Mask masks[SUBPIX * SUBPIX];
  guint16 *cov_storage;
  gpointer cov16_storage;
} MaskSet;

/* Builds the sixteen disc masks for radius R (pixels).  Coverage uses the
 * distance from the pixel centre to the disc edge, a one-pixel linear ramp
 * that is indistinguishable from exact area coverage at these sizes. */
static void
mask_set_init (MaskSet *set, double R, guint alpha_normal, guint alpha_dim)
{
  int K = (int) ceil (R + 0.5) + 1;
  int side = 2 * K + 1 + 4;

  set->cov_storage = g_new0 (guint16, (gsize) SUBPIX * SUBPIX * side * side);
  guint16 *store = set->cov_storage;
#ifdef HAVE_SSE2
  set->cov16_storage = g_malloc0 (sizeof (Pair) * (gsize) SUBPIX * SUBPIX * side * side / 2 + 16);
  Pair *store16 = (Pair *) (((guintptr) set->cov16_storage + 15) & ~(guintptr) 15);
#else
  set->cov16_storage = NULL;
#endif

  for (int qy = 0; qy < SUBPIX; qy++)
    for (int qx = 0; qx < SUBPIX; qx++)
      {
        Mask *m = &set->masks[qy * SUBPIX + qx];
        double fx = (qx + 0.5) / SUBPIX;
        double fy = (qy + 0.5) / SUBPIX;
        m->n_rows = 0;
        m->dy0 = 0;
        m->xmin = G_MAXINT;
        m->xmax = G_MININT;
        for (int dy = -K; dy <= K; dy++)
          {
            double cy = dy + 0.5 - fy;
            int first = G_MAXINT, last = G_MININT;
            guint16 row[2 * MAX_MASK_RADIUS + 16] = { 0 };
            for (int dx = -K; dx <= K; dx++)
              {
                double cx = dx + 0.5 - fx;
                double d = sqrt (cx * cx + cy * cy);
                double c = CLAMP (R + 0.5 - d, 0.0, 1.0);
                row[dx + K] = (guint16) lround (c * 256.0);
                if (row[dx + K] > 0)
                  {
                    first = MIN (first, dx);
                    last = dx;
                  }
              }
            if (last < first)
              continue;
            if (m->n_rows == 0)
              m->dy0 = dy;
            MaskRow *mr = &m->rows[m->n_rows++];
            mr->x0 = first;
            mr->len = (last - first + 1 + 1) & ~1;
            memcpy (store, row + first + K, sizeof (guint16) * mr->len);
            mr->cov = store;
            store += mr->len;
            m->xmin = MIN (m->xmin, mr->x0);
            m->xmax = MAX (m->xmax, mr->x0 + mr->len);
#ifdef HAVE_SSE2
            mr->pairs = store16;
            for (int i = 0; i < mr->len; i += 2, store16++)
              {
                short c0 = mr->cov[i], c1 = mr->cov[i + 1];
                store16->cov = _mm_set_epi16 (c1, c1, c1, c1, c0, c0, c0, c0);
                for (int w = 0; w < 2; w++)
                  {
                    guint a = w == 0 ? alpha_normal : alpha_dim;
                    /* Exactly the alpha lane of (colour * cov) >> 8. */
                    short i0 = 256 - ((a * c0) >> 8), i1 = 256 - ((a * c1) >> 8);
                    store16->inv[w] = _mm_set_epi16 (i1, i1, i1, i1, i0, i0, i0, i0);
                  }
              }
#endif
          }
      }
}

static void
mask_set_clear (MaskSet *set)
{
  g_free (set->cov_storage);
  g_free (set->cov16_storage);
}

static inline guint32
scale_argb (guint32 c, guint32 s) /* s in 0..256 */
{
  guint32 rb = ((c & 0x00ff00ffu) * s >> 8) & 0x00ff00ffu;
  guint32 ag = (((c >> 8) & 0x00ff00ffu) * s) & 0xff00ff00u;
  return rb | ag;
}

static inline guint32
over (guint32 src, guint32 dst)
{
  guint32 inv = 256 - (src >> 24);
  return src + scale_argb (dst, inv);
}

/* Stamps `m` at base pixel (bx, by) clipped to [cx0, cx1) x [cy0, cy1),
 * one pixel at a time.  Used near clip edges. */
static void
stamp_clipped (guint32 *pixels, int stride, const Mask *m, int bx, int by, guint32 color,
               int cx0, int cy0, int cx1, int cy1)
{
  for (int r = 0; r < m->n_rows; r++)
    {
      int y = by + m->dy0 + r;
      if (y < cy0 || y >= cy1)
        continue;
      const MaskRow *mr = &m->rows[r];
      int x = bx + mr->x0;
      int i0 = 0, i1 = mr->len;
      if (x < cx0)
        i0 = cx0 - x;
      if (x + i1 > cx1)
        i1 = cx1 - x;
      guint32 *row = pixels + (gsize) y * stride + x;
      for (int i = i0; i < i1; i++)
        {
          guint16 cv = mr->cov[i];
          guint32 s = cv == 256 ? color : scale_argb (color, cv);
          row[i] = over (s, row[i]);
        }
    }
}

/* The same blend, four pixels per step, for stamps wholly inside the clip
 * rectangle: 16-bit lanes, (c * cov) >> 8 then src + dst * (256 - a) >> 8,
 * exactly the scalar arithmetic. */
static inline void
stamp (guint32 *pixels, int stride, const Mask *m, int bx, int by, guint32 color,
       int which, int cx0, int cy0, int cx1, int cy1)
{
#ifdef HAVE_SSE2
  if (bx + m->xmin >= cx0 && bx + m->xmax <= cx1
      && by + m->dy0 >= cy0 && by + m->dy0 + m->n_rows <= cy1)
    {
      const __m128i zero = _mm_setzero_si128 ();
      __m128i c1 = _mm_unpacklo_epi8 (_mm_cvtsi32_si128 ((int) color), zero);
      __m128i col = _mm_unpacklo_epi64 (c1, c1);
      for (int r = 0; r < m->n_rows; r++)
        {
          const MaskRow *mr = &m->rows[r];
          guint32 *row = pixels + (gsize) (by + m->dy0 + r) * stride + bx + mr->x0;
          const Pair *pr = mr->pairs;
          int i = 0;
          for (; i + 4 <= mr->len; i += 4, pr += 2)
            {
              __m128i d = _mm_loadu_si128 ((const __m128i *) (row + i));
              __m128i dlo = _mm_unpacklo_epi8 (d, zero);
              __m128i dhi = _mm_unpackhi_epi8 (d, zero);
              __m128i slo = _mm_srli_epi16 (_mm_mullo_epi16 (col, pr[0].cov), 8);
              __m128i shi = _mm_srli_epi16 (_mm_mullo_epi16 (col, pr[1].cov), 8);
              dlo = _mm_add_epi16 (slo, _mm_srli_epi16 (_mm_mullo_epi16 (dlo, pr[0].inv[which]), 8));
              dhi = _mm_add_epi16 (shi, _mm_srli_epi16 (_mm_mullo_epi16 (dhi, pr[1].inv[which]), 8));
              _mm_storeu_si128 ((__m128i *) (row + i), _mm_packus_epi16 (dlo, dhi));
            }
          if (i < mr->len)
            {
              /* The last pair of a row whose length is not a multiple of 4. */
              __m128i dlo = _mm_unpacklo_epi8 (_mm_loadl_epi64 ((const __m128i *) (row + i)), zero);
              __m128i slo = _mm_srli_epi16 (_mm_mullo_epi16 (col, pr[0].cov), 8);
              dlo = _mm_add_epi16 (slo, _mm_srli_epi16 (_mm_mullo_epi16 (dlo, pr[0].inv[which]), 8));
              _mm_storel_epi64 ((__m128i *) (row + i), _mm_packus_epi16 (dlo, zero));
            }
        }
      return;
    }
#endif
  stamp_clipped (pixels, stride, m, bx, by, color, cx0, cy0, cx1, cy1);
}

PsColor
ps_scatter_point_color (const PsScatterSpec *spec, gsize i)
{
  if (spec->scores != NULL)
    {
      double lo = spec->score_min, hi = spec->score_max;
      double t = hi > lo ? (spec->scores[i] - lo) / (hi - lo) : 0.5;
      return ps_colormap_color (spec->colormap, t);
    }
  if (spec->labels != NULL)
    return ps_palette_color (spec->labels[i]);
  if (spec->color.a > 0)
    return spec->color;
  return ps_palette_color (0);
}

/* The effective parameters with defaults filled in and a fitted score
 * range, so the raster and vector paths agree. */
static void
spec_resolve (PsScatterSpec *out, const PsScatterSpec *in)
{
  *out = *in;
  if (out->radius <= 0)
    out->radius = 2.2;
  if (out->alpha <= 0)
    out->alpha = 0.85;
  if (out->dim_alpha <= 0)
    out->dim_alpha = 0.12;
  if (out->scores != NULL && !(out->score_max > out->score_min))
    {
      double lo = INFINITY, hi = -INFINITY;
      for (gsize i = 0; i < out->n; i++)
        if (isfinite (out->scores[i]))
          {
            lo = MIN (lo, out->scores[i]);
            hi = MAX (hi, out->scores[i]);
          }
      if (!(hi > lo))
        {
          lo = isfinite (lo) ? lo - 0.5 : 0;
          hi = lo + 1;
        }
      out->score_min = lo;
      out->score_max = hi;
    }
}

#define SCORE_LUT 256
#define TILE_W 64
#define TILE_H 32

#define MAX_THREADS 4

typedef struct
{
  int sx, sy;     /* position in quarter pixels */
  guint32 color;  /* premultiplied ARGB */
} Entry;

typedef struct
{
  guint32 *pixels;
  int stride;
  const MaskSet *set;
  const Entry *entries;
  const guint32 *bin_start; /* [n_passes * n_tiles + 1] */
  int ntx, nty;
  gsize n_tiles;
  int n_passes;
  int ty0, ty1;             /* this band's tile rows */
  int cx0, cy0, cx1, cy1;   /* this band's clip rectangle */
} DrawJob;

static int raster_threads = 0;

void
ps_plot_set_raster_threads (int n)
{
  g_atomic_int_set (&raster_threads, MAX (n, 0));
}

static gpointer
draw_job_run (gpointer data)
{
  const DrawJob *j = data;
  int ta = MAX (j->ty0 - 1, 0), tb = MIN (j->ty1 + 1, j->nty);

  for (int pass = 0; pass < j->n_passes; pass++)
    {
      /* Bins of pass 0 hold the dimmed points when there are two passes. */
      int which = j->n_passes == 2 && pass == 0 ? 1 : 0;
      gsize first = pass * j->n_tiles + (gsize) ta * j->ntx;
      gsize last = pass * j->n_tiles + (gsize) tb * j->ntx;
      for (guint32 e = j->bin_start[first]; e < j->bin_start[last]; e++)
        {
          const Entry *en = &j->entries[e];
          int px = en->sx >> 2, py = en->sy >> 2; /* SUBPIX == 4: floor division */
          const Mask *m = &j->set->masks[(en->sy & 3) * SUBPIX + (en->sx & 3)];
          stamp (j->pixels, j->stride, m, px, py, en->color, which, j->cx0, j->cy0, j->cx1, j->cy1);
        }
    }
  return NULL;
}

typedef struct
{
  const PsScatterSpec *spec;
  gboolean by_score, by_label;
  const guint32 *lut_normal, *lut_dim;
  double qax, qbx, qay, qby, qmx, qmy;
  double score_a, score_b;
  int lim_lo_x, lim_lo_y;
  int ntx, nty, n_passes;
  gsize n_tiles, n_bins;
  guint32 *bin_of;          /* [n] bin of each point, G_MAXUINT32 if clipped */
  Entry *pre;               /* [n] each point's entry, in input order */
  Entry *entries;           /* [n_used] entries in bin order */
} Raster;

typedef struct
{
  const Raster *r;
  gsize i0, i1;             /* this thread's slice of the points */
  guint32 *count;           /* [n_bins] counts, then write offsets */
} BinJob;

/* Pass 1 over a slice: position, colour and bin of every point. */
static gpointer
bin_count_run (gpointer data)
{
  BinJob *job = data;
  const Raster *r = job->r;
  const PsScatterSpec *spec = r->spec;

  for (gsize i = job->i0; i < job->i1; i++)
    {
      double qx = spec->x[i] * r->qax + r->qbx;
      double qy = spec->y[i] * r->qay + r->qby;
      /* The comparisons also reject NaN. */
      if (!(qx >= 0 && qx < r->qmx && qy >= 0 && qy < r->qmy))
        {
          r->bin_of[i] = G_MAXUINT32;
          continue;
        }
      int ix = (int) qx, iy = (int) qy;
      int tx = MIN (ix / (TILE_W * SUBPIX), r->ntx - 1);
      int ty = MIN (iy / (TILE_H * SUBPIX), r->nty - 1);
      gboolean normal = spec->dimmed == NULL || spec->dimmed[i] == 0;
      const guint32 *lut = normal ? r->lut_normal : r->lut_dim;
      guint32 color;
      if (r->by_score)
        {
          double t = spec->scores[i] * r->score_a + r->score_b;
          int k = isnan (t) ? SCORE_LUT : (int) CLAMP (t, 0.0, SCORE_LUT - 1.0);
          color = lut[k];
        }
      else if (r->by_label)
        {
          gint32 l = spec->labels[i];
          color = lut[l < 0 ? SCORE_LUT : l % PS_PALETTE_SIZE];
        }
      else
        color = lut[0];
      r->pre[i].sx = ix + r->lim_lo_x * SUBPIX;
      r->pre[i].sy = iy + r->lim_lo_y * SUBPIX;
      r->pre[i].color = color;
      guint32 bin = (guint32) ((normal && r->n_passes == 2 ? r->n_tiles : 0)
                               + (gsize) ty * r->ntx + tx);
      r->bin_of[i] = bin;
      job->count[bin]++;
    }
  return NULL;
}

/* Pass 2 over the same slice: a stable scatter into bin order. */
static gpointer
bin_scatter_run (gpointer data)
{
  BinJob *job = data;
  const Raster *r = job->r;
  for (gsize i = job->i0; i < job->i1; i++)
    {
      guint32 bin = r->bin_of[i];
      if (bin != G_MAXUINT32)
        r->entries[job->count[bin]++] = r->pre[i];
    }
  return NULL;
}

/* A cached scratch block.  A second caller while the first holds it (two
 * threads rasterising at once) simply gets its own block. */
static GMutex scratch_lock;
static gpointer scratch_block;
static gsize scratch_size;

static gpointer
scratch_take (gsize bytes)
{
  gpointer p = NULL;
  g_mutex_lock (&scratch_lock);
  if (scratch_block != NULL && scratch_size >= bytes)
    {
      p = scratch_block;
      scratch_block = NULL;
    }
  g_mutex_unlock (&scratch_lock);
  return p != NULL ? p : g_malloc (MAX (bytes, 1));
}

static void
scratch_give (gpointer p, gsize bytes)
{
  g_mutex_lock (&scratch_lock);
  if (scratch_block == NULL || scratch_size < bytes)
    {
      g_free (scratch_block);
      scratch_block = p;
      scratch_size = bytes;
      p = NULL;
    }
  g_mutex_unlock (&scratch_lock);
  g_free (p);
}

/* Runs func on jobs[0..n) (each job_size bytes), jobs 1.. on new threads
 * and job 0 on the caller's. */
static void
run_parallel (GThreadFunc func, gpointer jobs, gsize job_size, int n)
{
  GThread *threads[MAX_THREADS] = { NULL };
  for (int k = 1; k < n; k++)
    threads[k] = g_thread_new ("ps-raster", func, (char *) jobs + k * job_size);
  func (jobs);
  for (int k = 1; k < n; k++)
    g_thread_join (threads[k]);
}

void
ps_scatter_rasterize (guint32 *pixels, int width, int height, int stride_bytes,
                      const PsPlotView *view, const PsScatterSpec *spec_in,
                      double scale)
{
  g_return_if_fail (pixels != NULL && view != NULL && spec_in != NULL);
  g_return_if_fail (stride_bytes % 4 == 0 && stride_bytes >= width * 4);

  PsScatterSpec spec;
  spec_resolve (&spec, spec_in);
  if (spec.n == 0)
    return;
  if (scale <= 0)
    scale = 1.0;

  double R = MIN (spec.radius * scale, (double) MAX_MASK_RADIUS);
  MaskSet set;
  mask_set_init (&set, R, (guint) lround (CLAMP (spec.alpha, 0.0, 1.0) * 255),
                 (guint) lround (CLAMP (spec.dim_alpha, 0.0, 1.0) * 255));

  int stride = stride_bytes / 4;
  /* Clip to the plot rectangle as well as the buffer. */
  int cx0 = MAX (0, (int) floor (view->px));
  int cy0 = MAX (0, (int) floor (view->py));
  int cx1 = MIN (width, (int) ceil (view->px + view->pw));
  int cy1 = MIN (height, (int) ceil (view->py + view->ph));
  int margin = (int) ceil (R) + 2;

  /* Colour lookup tables: two alphas (normal and dimmed) for each palette
   * entry or score bin, so the inner loop does no colour maths. */
  guint32 lut_normal[SCORE_LUT + 1], lut_dim[SCORE_LUT + 1];
  gboolean by_score = spec.scores != NULL;
  gboolean by_label = !by_score && spec.labels != NULL;
  guint n_lut = by_score ? SCORE_LUT : PS_PALETTE_SIZE;
  for (guint k = 0; k < n_lut; k++)
    {
      PsColor c = by_score ? ps_colormap_color (spec.colormap, (k + 0.5) / SCORE_LUT)
                : by_label ? ps_palette_color (k)
                : ps_scatter_point_color (&spec, 0);
      c.a = spec.alpha;
      lut_normal[k] = ps_color_to_argb32 (c);
      c.a = spec.dim_alpha;
      lut_dim[k] = ps_color_to_argb32 (c);
    }
  PsColor none = ps_palette_color (-1);
  none.a = spec.alpha;
  lut_normal[SCORE_LUT] = ps_color_to_argb32 (none);
  none.a = spec.dim_alpha;
  lut_dim[SCORE_LUT] = ps_color_to_argb32 (none);

  /* Positions in quarter pixels from (lim_lo_x, lim_lo_y): never negative
   * once clipped, so a cast is a floor (floorf is a libm call without
   * SSE4.1, a noticeable cost at a million points). */
  double ax = view->pw / (view->x1 - view->x0);
  double bx = view->px - view->x0 * ax;
  double ay = -view->ph / (view->y1 - view->y0);
  double by = view->py + view->ph - view->y0 * ay;
  Raster r = { 0 };
  r.spec = &spec;
  r.by_score = by_score;
  r.by_label = by_label;
  r.lut_normal = lut_normal;
  r.lut_dim = lut_dim;
  r.score_a = SCORE_LUT / (spec.score_max - spec.score_min);
  r.score_b = -spec.score_min * r.score_a;
  r.lim_lo_x = cx0 - margin;
  r.lim_lo_y = cy0 - margin;
  r.qax = ax * SUBPIX;
  r.qbx = (bx - r.lim_lo_x) * SUBPIX;
  r.qay = ay * SUBPIX;
  r.qby = (by - r.lim_lo_y) * SUBPIX;
  r.qmx = (double) (cx1 + margin - r.lim_lo_x) * SUBPIX;
  r.qmy = (double) (cy1 + margin - r.lim_lo_y) * SUBPIX;

  /* Stamping points in their given order touches the 6 MB buffer at
   * random and is bound by cache misses.  Binning them by screen tile
   * first (a stable counting sort) keeps each tile's pixels in L1 while its
   * points are stamped.  Dimmed points get the first set of bins so they
   * are drawn below the rest.  Overlaps across a tile border may swap draw
   * order; within a tile the order is kept, and the result does not
   * depend on the number of threads. */
  r.ntx = (cx1 - cx0 + 2 * margin + TILE_W - 1) / TILE_W;
  r.nty = (cy1 - cy0 + 2 * margin + TILE_H - 1) / TILE_H;
  r.n_passes = spec.dimmed != NULL ? 2 : 1;
  r.n_tiles = (gsize) r.ntx * r.nty;
  r.n_bins = r.n_tiles * r.n_passes;
  /* One block for the three per-point arrays, reused across calls: fresh
   * multi-megabyte blocks come from mmap and cost a page fault per 4 KiB
   * on every frame. */
  gsize scratch_bytes = spec.n * (sizeof (guint32) + 2 * sizeof (Entry));
  gpointer scratch = scratch_take (scratch_bytes);
  r.pre = scratch;
  r.entries = r.pre + spec.n;
  r.bin_of = (guint32 *) (r.entries + spec.n);

  int want = g_atomic_int_get (&raster_threads);
  if (want <= 0)
    want = (int) g_get_num_processors ();
  int n_threads = spec.n > 20000 ? CLAMP (want, 1, MAX_THREADS) : 1;
  n_threads = MIN (n_threads, r.nty);

  /* A parallel counting sort: each thread bins a slice of the points and
   * counts per bin; the offsets then give slice t of bin b the slots after
   * slices 0..t-1, which keeps the sort stable. */
  BinJob bins[MAX_THREADS];
  for (int k = 0; k < n_threads; k++)
    {
      bins[k].r = &r;
      bins[k].i0 = spec.n * k / n_threads;
      bins[k].i1 = spec.n * (k + 1) / n_threads;
      bins[k].count = g_new0 (guint32, r.n_bins);
    }
  run_parallel (bin_count_run, bins, sizeof (BinJob), n_threads);
  g_autofree guint32 *bin_start = g_new (guint32, r.n_bins + 1);
  guint32 running = 0;
  for (gsize t = 0; t < r.n_bins; t++)
    {
      bin_start[t] = running;
      for (int k = 0; k < n_threads; k++)
        {
          guint32 c = bins[k].count[t];
          bins[k].count[t] = running;
          running += c;
        }
    }
  bin_start[r.n_bins] = running;
  run_parallel (bin_scatter_run, bins, sizeof (BinJob), n_threads);
  for (int k = 0; k < n_threads; k++)
    g_free (bins[k].count);

  /* Threads split the buffer into bands of tile rows.  Each also stamps
   * the neighbouring tile rows clipped to its band, so bands never write
   * the same pixel and no locking is needed. */
  DrawJob jobs[MAX_THREADS];
  for (int k = 0; k < n_threads; k++)
    {
      DrawJob *j = &jobs[k];
      j->pixels = pixels;
      j->stride = stride;
      j->set = &set;
      j->entries = r.entries;
      j->bin_start = bin_start;
      j->ntx = r.ntx;
      j->nty = r.nty;
      j->n_tiles = r.n_tiles;
      j->n_passes = r.n_passes;
      j->ty0 = r.nty * k / n_threads;
      j->ty1 = r.nty * (k + 1) / n_threads;
      j->cx0 = cx0;
      j->cx1 = cx1;
      int band0 = r.lim_lo_y + j->ty0 * TILE_H, band1 = r.lim_lo_y + j->ty1 * TILE_H;
      j->cy0 = k == 0 ? cy0 : MAX (cy0, band0);
      j->cy1 = k == n_threads - 1 ? cy1 : MIN (cy1, band1);
    }
  run_parallel (draw_job_run, jobs, sizeof (DrawJob), n_threads);

  scratch_give (scratch, scratch_bytes);
  mask_set_clear (&set);
}

/* Vector path: points grouped by colour, each drawn as a zero-length
 * round-capped segment, which SVG and PDF render as a disc in about 25
 * bytes (a Cairo arc would be four Bezier curves, ~150 bytes). */
#define VECTOR_SCORE_BINS 32

void
ps_scatter_draw_vector (cairo_t *cr, const PsPlotView *view, const PsScatterSpec *spec_in)
{
  g_return_if_fail (cr != NULL && view != NULL && spec_in != NULL);

  PsScatterSpec spec;
  spec_resolve (&spec, spec_in);
  if (spec.n == 0)
    return;

  /* Key = colour group; dimmed points get keys after the normal ones but
   * are drawn first. */
  guint n_colors = spec.scores != NULL ? VECTOR_SCORE_BINS
                 : spec.labels != NULL ? PS_PALETTE_SIZE + 1 : 1;
  guint n_keys = 2 * n_colors;
  g_autofree guint32 *key = g_new (guint32, spec.n);
  g_autofree guint32 *start = g_new0 (guint32, n_keys + 1);
  for (gsize i = 0; i < spec.n; i++)
    {
      guint k = 0;
      if (spec.scores != NULL)
        {
          double t = (spec.scores[i] - spec.score_min) / (spec.score_max - spec.score_min);
          k = isnan (t) ? 0 : (guint) CLAMP (t * VECTOR_SCORE_BINS, 0.0, VECTOR_SCORE_BINS - 1.0);
        }
      else if (spec.labels != NULL)
        k = spec.labels[i] < 0 ? PS_PALETTE_SIZE : (guint) spec.labels[i] % PS_PALETTE_SIZE;
      gboolean dim = spec.dimmed != NULL && spec.dimmed[i];
      key[i] = dim ? k : n_colors + k;
      start[key[i] + 1]++;
    }
  for (guint k = 0; k < n_keys; k++)
    start[k + 1] += start[k];
  g_autofree guint32 *order = g_new (guint32, spec.n);
  g_autofree guint32 *fill = g_memdup2 (start, sizeof (guint32) * n_keys);
  for (gsize i = 0; i < spec.n; i++)
    order[fill[key[i]]++] = (guint32) i;

  cairo_save (cr);
  cairo_rectangle (cr, view->px, view->py, view->pw, view->ph);
  cairo_clip (cr);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  cairo_set_line_width (cr, 2 * spec.radius);
  for (guint k = 0; k < n_keys; k++)
    {
      if (start[k] == start[k + 1])
        continue;
      gboolean dim = k < n_colors;
      guint c = k % n_colors;
      PsColor col;
      if (spec.scores != NULL)
        col = ps_colormap_color (spec.colormap, (c + 0.5) / VECTOR_SCORE_BINS);
      else if (spec.labels != NULL)
        col = ps_palette_color (c == PS_PALETTE_SIZE ? -1 : (int) c);
      else
        col = ps_scatter_point_color (&spec, 0);
      cairo_set_source_rgba (cr, col.r, col.g, col.b, dim ? spec.dim_alpha : spec.alpha);
      cairo_new_path (cr);
      double m = spec.radius;
      for (guint32 j = start[k]; j < start[k + 1]; j++)
        {
          guint32 i = order[j];
          double px, py;
          ps_plot_view_to_pixel (view, spec.x[i], spec.y[i], &px, &py);
          if (!(px > view->px - m && px < view->px + view->pw + m
                && py > view->py - m && py < view->py + view->ph + m))
            continue;
          /* One decimal is far below what a reader can see and halves
           * the size of the numbers in the file. */
          px = round (px * 10) / 10;
          py = round (py * 10) / 10;
          cairo_move_to (cr, px, py);
          cairo_line_to (cr, px, py);
        }
      cairo_stroke (cr);
    }
  cairo_restore (cr);
}
