/* ps-tsne-tree.c: the quadtree behind the Barnes-Hut repulsion of t-SNE.
 *
 * The points are sorted by their Morton (Z-order) code, so every quadtree
 * cell is a contiguous range of the sorted array and the tree can be laid
 * out in depth-first order with, per node, the index just past its
 * subtree ("skip").  A traversal is then a plain loop over the node
 * array: accept a node and jump to its skip, or step into it with
 * index + 1.  No stack, no child pointers, and nodes visited one after the
 * other are usually adjacent in memory.  Walking the points in sorted
 * order also makes consecutive traversals touch the same nodes.
 *
 * Leaves hold up to QT_LEAF points whose interactions are summed exactly
 * when the leaf cannot be summarised, which both speeds up the inner loop
 * and makes theta = 0 exact.  A node with a single non-empty quadrant is
 * never stored: its only child has the same centre of mass and a smaller
 * cell, so it is accepted whenever the parent would be.
 */
#define G_LOG_DOMAIN "ps-eval"

#include "ps-tsne.h"

#include <math.h>
#include <string.h>

/* Vector kernels get an AVX2 clone on x86-64 (picked at load time); other
 * targets compile the generic version only. */
#if defined(__x86_64__)
#define VEC_CLONES __attribute__ ((target_clones ("avx2", "default")))
#else
#define VEC_CLONES
#endif

#define QT_LEAF   8
#define QT_LEVELS 16
#define QT_GROUP  32
/* Interaction lists are processed in blocks of this many lanes. */
#define QT_VEC    8

typedef struct
{
  float cx, cy;     /* centre of mass */
  float w2;         /* squared side of the cell */
  float count;      /* points below, as a float for the force arithmetic */
  guint32 begin;    /* first sorted position below */
  guint32 n_pts;    /* points held directly: > 0 only for leaves */
  guint32 skip;     /* index just past this node's subtree */
  guint32 pad;
} QNode;

struct _PsQuadTree
{
  guint n, cap_n;
  guint n_nodes, cap_nodes;
  QNode *nodes;
  guint32 *code;    /* [n] sorted Morton codes */
  guint32 *perm;    /* [n] original index of each sorted position */
  float *xs, *ys;   /* [n] sorted coordinates */
  guint32 *tmp_code, *tmp_perm;
  /* Groups: the highest nodes holding at most QT_GROUP points, in order;
   * they tile the sorted positions. */
  guint n_groups, cap_groups;
  guint32 *groups;
};

PsQuadTree *
ps_quadtree_new (void)
{
  return g_new0 (PsQuadTree, 1);
}

void
ps_quadtree_free (PsQuadTree *t)
{
  if (!t)
    return;
  g_free (t->nodes);
  g_free (t->code);
  g_free (t->perm);
  g_free (t->xs);
  g_free (t->ys);
  g_free (t->tmp_code);
  g_free (t->tmp_perm);
  g_free (t->groups);
  g_free (t);
}

/* Spreads the 16 low bits of v to the even bit positions. */
static inline guint32
spread_bits (guint32 v)
{
  v &= 0xffff;
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v;
}

static guint
new_node (PsQuadTree *t)
{
  if (t->n_nodes == t->cap_nodes)
    {
      t->cap_nodes = MAX (64, t->cap_nodes * 2);
      t->nodes = g_renew (QNode, t->nodes, t->cap_nodes);
    }
  memset (&t->nodes[t->n_nodes], 0, sizeof (QNode));
  return t->n_nodes++;
}

/* Builds the subtree over sorted positions [a, b), whose cell at `level`
 * has side `side`.  Returns the node's index. */
static guint
build_rec (PsQuadTree *t, guint a, guint b, guint level, double side)
{
  /* Descend through levels where every point falls in the same quadrant
   * (codes are sorted, so comparing the ends suffices). */
  while (b - a > QT_LEAF && level < QT_LEVELS)
    {
      guint shift = 2 * (QT_LEVELS - 1 - level);
      if (((t->code[a] >> shift) & 3) != ((t->code[b - 1] >> shift) & 3))
        break;
      level++;
      side *= 0.5;
    }
  guint idx = new_node (t);
  double sx = 0, sy = 0;
  if (b - a <= QT_LEAF || level == QT_LEVELS)
    {
      for (guint s = a; s < b; s++)
        {
          sx += t->xs[s];
          sy += t->ys[s];
        }
      t->nodes[idx].begin = a;
      t->nodes[idx].n_pts = b - a;
    }
  else
    {
      guint shift = 2 * (QT_LEVELS - 1 - level);
      guint s = a;
      for (guint q = 0; q < 4 && s < b; q++)
        {
          guint e = s;
          while (e < b && ((t->code[e] >> shift) & 3) == q)
            e++;
          if (e > s)
            {
              guint c = build_rec (t, s, e, level + 1, side * 0.5);
              sx += (double) t->nodes[c].cx * (e - s);
              sy += (double) t->nodes[c].cy * (e - s);
            }
          s = e;
        }
      t->nodes[idx].begin = a;
    }
  QNode *nd = &t->nodes[idx];
  nd->cx = (float) (sx / (b - a));
  nd->cy = (float) (sy / (b - a));
  nd->count = (float) (b - a);
  nd->w2 = (float) (side * side);
  nd->skip = t->n_nodes;
  return idx;
}

void
ps_quadtree_build (PsQuadTree *t, const float *y, guint n)
{
  g_return_if_fail (t != NULL && (y != NULL || n == 0));
  if (n > t->cap_n)
    {
      t->cap_n = n;
      t->code = g_renew (guint32, t->code, n);
      t->perm = g_renew (guint32, t->perm, n);
      t->xs = g_renew (float, t->xs, n);
      t->ys = g_renew (float, t->ys, n);
      t->tmp_code = g_renew (guint32, t->tmp_code, n);
      t->tmp_perm = g_renew (guint32, t->tmp_perm, n);
    }
  t->n = n;
  t->n_nodes = 0;
  t->n_groups = 0;
  if (n == 0)
    return;
  float xmin = y[0], xmax = y[0], ymin = y[1], ymax = y[1];
  for (guint i = 1; i < n; i++)
    {
      xmin = MIN (xmin, y[2 * i]);
      xmax = MAX (xmax, y[2 * i]);
      ymin = MIN (ymin, y[2 * i + 1]);
      ymax = MAX (ymax, y[2 * i + 1]);
    }
  /* A square root cell, slightly enlarged so the maximum maps inside. */
  double side = MAX ((double) xmax - xmin, (double) ymax - ymin);
  side = side > 0 ? side * (1 + 1e-5) : 1.0;
  double scale = 65536.0 / side;
  for (guint i = 0; i < n; i++)
    {
      double qx = ((double) y[2 * i] - xmin) * scale;
      double qy = ((double) y[2 * i + 1] - ymin) * scale;
      guint32 ix = (guint32) CLAMP (qx, 0.0, 65535.0);
      guint32 iy = (guint32) CLAMP (qy, 0.0, 65535.0);
      t->code[i] = (spread_bits (iy) << 1) | spread_bits (ix);
      t->perm[i] = i;
    }
  /* LSD radix sort by 8-bit digits; stable, so equal codes keep index order
   * and the tree is a deterministic function of y. */
  guint32 *src_c = t->code, *src_p = t->perm, *dst_c = t->tmp_code, *dst_p = t->tmp_perm;
  for (guint pass = 0; pass < 4; pass++)
    {
      guint cnt[257] = { 0 };
      guint shift = 8 * pass;
      for (guint i = 0; i < n; i++)
        cnt[((src_c[i] >> shift) & 0xff) + 1]++;
      for (guint b = 0; b < 256; b++)
        cnt[b + 1] += cnt[b];
      for (guint i = 0; i < n; i++)
        {
          guint pos = cnt[(src_c[i] >> shift) & 0xff]++;
          dst_c[pos] = src_c[i];
          dst_p[pos] = src_p[i];
        }
      guint32 *tc = src_c, *tp = src_p;
      src_c = dst_c;
      src_p = dst_p;
      dst_c = tc;
      dst_p = tp;
    }
  /* An even number of passes leaves the sorted data in code/perm. */
  g_assert (src_c == t->code && src_p == t->perm);
  for (guint s = 0; s < n; s++)
    {
      t->xs[s] = y[2 * t->perm[s]];
      t->ys[s] = y[2 * t->perm[s] + 1];
    }
  build_rec (t, 0, n, 0, side);
  /* Groups in one pass: a node small enough is a group and its subtree is
   * skipped. */
  for (guint k = 0; k < t->n_nodes;)
    {
      const QNode *nd = &t->nodes[k];
      if (nd->count <= QT_GROUP || nd->n_pts > 0)
        {
          if (t->n_groups == t->cap_groups)
            {
              t->cap_groups = MAX (64, t->cap_groups * 2);
              t->groups = g_renew (guint32, t->groups, t->cap_groups);
            }
          t->groups[t->n_groups++] = k;
          k = nd->skip;
        }
      else
        k++;
    }
}

guint
ps_quadtree_get_n (const PsQuadTree *t)
{
  return t->n;
}

/* Interaction list of one group: cells (weight = their count) and single
 * points (weight 1), structure of arrays, padded with weight-0 entries. */
typedef struct
{
  guint len, cap;
  float *x, *y, *w;
} IList;

/* The caller reserved room: a list never holds more than every node and
 * every point once, plus padding. */
static inline void
ilist_push (IList *l, float x, float y, float w)
{
  l->x[l->len] = x;
  l->y[l->len] = y;
  l->w[l->len] = w;
  l->len++;
}

typedef float v8sf __attribute__ ((vector_size (QT_VEC * sizeof (float))));

/* Sums one point's interactions over a list: out = (fx, fy, z).  Written
 * with vector extensions so that it runs QT_VEC lanes at a time on any
 * target; the AVX2 clone only widens the registers (no FMA, so no change
 * in rounding between clones). */
VEC_CLONES
static void
ilist_sum (const float *restrict lx, const float *restrict ly, const float *restrict lw,
           guint len, float px, float py, float *out)
{
  v8sf fx = { 0 }, fy = { 0 }, z = { 0 };
  const v8sf one = { 1, 1, 1, 1, 1, 1, 1, 1 };
  v8sf vx = one * px, vy = one * py;
  for (guint b = 0; b < len; b += QT_VEC)
    {
      v8sf cx, cy, w;
      memcpy (&cx, lx + b, sizeof cx);
      memcpy (&cy, ly + b, sizeof cy);
      memcpy (&w, lw + b, sizeof w);
      v8sf dx = vx - cx, dy = vy - cy;
      v8sf q = one / (one + dx * dx + dy * dy);
      v8sf wq = w * q;
      z += wq;
      wq *= q;
      fx += wq * dx;
      fy += wq * dy;
    }
  float sx = 0, sy = 0, sz = 0;
  for (guint l = 0; l < QT_VEC; l++)
    {
      sx += fx[l];
      sy += fy[l];
      sz += z[l];
    }
  out[0] = sx;
  out[1] = sy;
  out[2] = sz;
}

/* Repulsion by groups of nearby points (Barnes' modification): one
 * traversal per group builds an interaction list that is valid for every
 * point of the group, because a cell is accepted only when its side is
 * below theta times the distance from its centre of mass to the group's
 * bounding box, a lower bound of each point's own distance.  The
 * approximation is therefore never coarser than per-point Barnes-Hut, the
 * traversal cost is shared, and the per-point work is a branch-free loop
 * over the list.  Nodes containing the group are always opened, so each
 * point meets itself exactly once, in the direct part (q = 1, no force),
 * and that 1 is removed from its Z. */
double
ps_quadtree_repulsion (const PsQuadTree *t, float *rep, double theta, guint s0, guint s1)
{
  g_return_val_if_fail (t != NULL && rep != NULL && s1 <= t->n, 0.0);
  const QNode *nodes = t->nodes;
  const guint nn = t->n_nodes;
  const float *xs = t->xs, *ys = t->ys;
  const float theta2 = (float) (theta * theta);
  IList list = { 0 };
  list.cap = nn + t->n + QT_VEC;
  list.x = g_new (float, list.cap);
  list.y = g_new (float, list.cap);
  list.w = g_new (float, list.cap);
  double z_total = 0;
  for (guint g = 0; g < t->n_groups; g++)
    {
      const QNode *gn = &nodes[t->groups[g]];
      guint g0 = gn->begin, g1 = gn->begin + (guint) gn->count;
      guint a = MAX (g0, s0), b = MIN (g1, s1);
      if (a >= b)
        continue;
      float bx0 = xs[g0], bx1 = xs[g0], by0 = ys[g0], by1 = ys[g0];
      for (guint s = g0 + 1; s < g1; s++)
        {
          bx0 = MIN (bx0, xs[s]);
          bx1 = MAX (bx1, xs[s]);
          by0 = MIN (by0, ys[s]);
          by1 = MAX (by1, ys[s]);
        }
      list.len = 0;
      guint k = 0;
      while (k < nn)
        {
          const QNode *nd = &nodes[k];
          gboolean contains = nd->begin < g1 && nd->begin + (guint) nd->count > g0;
          if (!contains)
            {
              float dx = MAX (MAX (bx0 - nd->cx, nd->cx - bx1), 0.0f);
              float dy = MAX (MAX (by0 - nd->cy, nd->cy - by1), 0.0f);
              if (nd->w2 < theta2 * (dx * dx + dy * dy))
                {
                  ilist_push (&list, nd->cx, nd->cy, nd->count);
                  k = nd->skip;
                  continue;
                }
            }
          if (nd->n_pts > 0)
            for (guint j = nd->begin; j < nd->begin + nd->n_pts; j++)
              ilist_push (&list, xs[j], ys[j], 1.0f);
          k++;
        }
      while (list.len % QT_VEC)
        ilist_push (&list, bx0, by0, 0.0f);
      for (guint s = a; s < b; s++)
        {
          float out[3];
          ilist_sum (list.x, list.y, list.w, list.len, xs[s], ys[s], out);
          guint i = t->perm[s];
          rep[2 * i] = out[0];
          rep[2 * i + 1] = out[1];
          z_total += (double) out[2] - 1.0;
        }
    }
  g_free (list.x);
  g_free (list.y);
  g_free (list.w);
  return z_total;
}

double
ps_tsne_repulsion_bh (float *rep, const float *y, guint n, double theta)
{
  g_return_val_if_fail (rep != NULL && y != NULL && theta >= 0, 0.0);
  PsQuadTree *t = ps_quadtree_new ();
  ps_quadtree_build (t, y, n);
  double z = ps_quadtree_repulsion (t, rep, theta, 0, n);
  ps_quadtree_free (t);
  return z;
}

double
ps_tsne_repulsion_exact (float *rep, const float *y, guint n)
{
  g_return_val_if_fail (rep != NULL && y != NULL, 0.0);
  double z = 0;
  for (guint i = 0; i < n; i++)
    {
      double fx = 0, fy = 0;
      for (guint j = 0; j < n; j++)
        {
          if (j == i)
            continue;
          double dx = (double) y[2 * i] - y[2 * j], dy = (double) y[2 * i + 1] - y[2 * j + 1];
          double q = 1.0 / (1.0 + dx * dx + dy * dy);
          z += q;
          fx += q * q * dx;
          fy += q * q * dy;
        }
      rep[2 * i] = (float) fx;
      rep[2 * i + 1] = (float) fy;
    }
  return z;
}
