/* proto-test-util.h: checks shared by the part-prototype tests
 * (test-protopnet.c, test-probpsenn.c). */
#pragma once

#include "ps-array.h"

/* The first array of `kind` in a snapshot (fails the test without one). */
static inline const PsArray *
proto_snap_find (GPtrArray *snap, const char *kind)
{
  for (guint i = 0; i < snap->len; i++)
    if (g_str_equal (((PsArray *) g_ptr_array_index (snap, i))->kind, kind))
      return g_ptr_array_index (snap, i);
  g_error ("snapshot has no array '%s'", kind);
  return NULL;
}

/* prototype_topk_box [K, T, 4], where each prototype matches in each of
 * its T nearest training images: inside the side x side image, and,
 * wherever the nearest image is the one the prototype was pushed to,
 * exactly its own source box (push left it at distance 0 there); at
 * least one prototype must have its source image nearest. */
static inline void
proto_check_topk_boxes (GPtrArray *snap, int side)
{
  const PsArray *tb = proto_snap_find (snap, "prototype_topk_box");
  const PsArray *tk = proto_snap_find (snap, "prototype_topk");
  const PsArray *src = proto_snap_find (snap, "prototype_source");
  const PsArray *pbox = proto_snap_find (snap, "prototype_box");
  const gsize K = tb->shape[0], T = tb->shape[1];
  g_assert_cmpuint (tb->ndim, ==, 3);
  g_assert_cmpuint (tb->shape[2], ==, 4);
  g_assert_cmpuint (T, ==, tk->shape[1]);
  const gint32 *b = ps_array_data (tb, NULL), *top = ps_array_data (tk, NULL);
  const gint32 *sr = ps_array_data (src, NULL), *pb = ps_array_data (pbox, NULL);
  for (gsize i = 0; i < K * T; i++)
    {
      g_assert_cmpint (b[i * 4], >=, 0);
      g_assert_cmpint (b[i * 4 + 1], >=, 0);
      g_assert_cmpint (b[i * 4 + 2], >, b[i * 4]);
      g_assert_cmpint (b[i * 4 + 3], >, b[i * 4 + 1]);
      g_assert_cmpint (b[i * 4 + 2], <=, side);
      g_assert_cmpint (b[i * 4 + 3], <=, side);
    }
  guint own = 0;
  for (gsize k = 0; k < K; k++)
    if (top[k * T] == sr[k * 3])
      {
        own++;
        g_assert_cmpmem (b + k * T * 4, 4 * sizeof (gint32), pb + k * 4, 4 * sizeof (gint32));
      }
  g_test_message ("%u of %" G_GSIZE_FORMAT " prototypes have their source image nearest", own, K);
  g_assert_cmpuint (own, >, 0);
}
