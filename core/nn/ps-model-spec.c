/* ps-model-spec.c: the model spec parser: a string such as
 * "2-16r-16r-2" or "1x28x28:c16k3p1r-m2-c32k3p1r-m2-f-64r-10" becomes the
 * input shape and the size table (layer kinds and per-sample shapes);
 * ps-model.c plans the slabs from it. */
#define G_LOG_DOMAIN "ps-model"

#include "ps-model.h"
#include "ps-model-private.h"

#include <stdio.h>
#include <string.h>

/* ---- Items ---------------------------------------------------------- */

typedef struct
{
  GArray *layers;   /* PsLayerInfo */
  int c, h, w;      /* current per-sample shape */
  gboolean image;   /* the current tensor is still C x H x W */
} Builder;

static gboolean
parse_int (const char **p, int *out)
{
  const char *s = *p;
  if (!g_ascii_isdigit (*s))
    return FALSE;
  gint64 v = 0;
  while (g_ascii_isdigit (*s))
    {
      v = v * 10 + (*s - '0');
      if (v > 1000000000)
        return FALSE;
      s++;
    }
  *p = s;
  *out = (int) v;
  return TRUE;
}

static gboolean
parse_float (const char **p, float *out)
{
  const char *s = *p;
  if (!g_ascii_isdigit (*s) && *s != '.')
    return FALSE;
  char *end = NULL;
  double v = g_ascii_strtod (s, &end);
  if (end == s)
    return FALSE;
  *p = end;
  *out = (float) v;
  return TRUE;
}

static PsLayerInfo *
add_layer (Builder *b, PsLayerKind kind)
{
  PsLayerInfo info = { 0 };
  info.kind = kind;
  info.in_c = info.out_c = b->c;
  info.in_h = info.out_h = b->h;
  info.in_w = info.out_w = b->w;
  g_array_append_val (b->layers, info);
  return &g_array_index (b->layers, PsLayerInfo, b->layers->len - 1);
}

static void
set_out (Builder *b, PsLayerInfo *l, int c, int h, int w)
{
  l->out_c = b->c = c;
  l->out_h = b->h = h;
  l->out_w = b->w = w;
}

/* Dense layers see an image as one flat vector; the shape bookkeeping is all
 * a flatten needs, since NCHW rows are already contiguous. */
static void
flatten_shape (Builder *b)
{
  b->c = b->c * b->h * b->w;
  b->h = b->w = 1;
  b->image = FALSE;
}

static gboolean
parse_item (Builder *b, const char *item, int index, GError **error)
{
  const char *p = item;
  int v = 0;

#define BAD(...) G_STMT_START { \
    g_autofree char *why_ = g_strdup_printf (__VA_ARGS__); \
    g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "model spec item %d \"%s\": %s", \
                 index + 1, item, why_); \
    return FALSE; } G_STMT_END

  if (*p == '\0')
    BAD ("empty item (two dashes in a row?)");

  gboolean spatial_head = FALSE;
  if (g_ascii_isdigit (*p))
    {
      parse_int (&p, &v);
      if (v <= 0)
        BAD ("a linear layer needs at least one output");
      if (b->image)
        flatten_shape (b);
      PsLayerInfo *l = add_layer (b, PS_LAYER_LINEAR);
      set_out (b, l, v, 1, 1);
    }
  else if (*p == 'c' && g_ascii_isdigit (p[1]))
    {
      p++;
      parse_int (&p, &v);
      if (!b->image)
        BAD ("a convolution needs an image input (a CxHxW: prefix, before any flatten)");
      if (v <= 0)
        BAD ("a convolution needs at least one output channel");
      int k = 3, pad = 0, stride = 1;
      for (;;)
        {
          int *slot = NULL;
          if (*p == 'k')
            slot = &k;
          else if (*p == 'p')
            slot = &pad;
          else if (*p == 's' && g_ascii_isdigit (p[1]))
            slot = &stride;
          else
            break;
          p++;
          if (!parse_int (&p, slot))
            BAD ("'%c' needs a number", p[-1]);
        }
      if (k < 1 || stride < 1 || pad >= k)
        BAD ("kernel %d, stride %d, padding %d is not a valid convolution", k, stride, pad);
      int oh = (b->h + 2 * pad - k) / stride + 1;
      int ow = (b->w + 2 * pad - k) / stride + 1;
      if (b->h + 2 * pad < k || b->w + 2 * pad < k)
        BAD ("a %dx%d kernel does not fit the %dx%d input", k, k, b->h, b->w);
      PsLayerInfo *l = add_layer (b, PS_LAYER_CONV);
      l->k = k;
      l->pad = pad;
      l->stride = stride;
      set_out (b, l, v, oh, ow);
      spatial_head = TRUE;
    }
  else if ((*p == 'm' || *p == 'a') && g_ascii_isdigit (p[1]))
    {
      gboolean is_max = *p == 'm';
      p++;
      int k = 1, stride;
      parse_int (&p, &k);
      stride = k;
      if (*p == 's' && g_ascii_isdigit (p[1]))
        {
          p++;
          parse_int (&p, &stride);
        }
      if (!b->image)
        BAD ("pooling needs an image input");
      if (k < 1 || stride < 1 || k > b->h || k > b->w)
        BAD ("a %dx%d pool (stride %d) does not fit the %dx%d input", k, k, stride, b->h, b->w);
      PsLayerInfo *l = add_layer (b, is_max ? PS_LAYER_MAXPOOL : PS_LAYER_AVGPOOL);
      l->k = k;
      l->stride = stride;
      set_out (b, l, b->c, (b->h - k) / stride + 1, (b->w - k) / stride + 1);
      spatial_head = TRUE;
    }
  else if (*p == 'f')
    {
      p++;
      if (!b->image)
        BAD ("flatten needs an image input");
      PsLayerInfo *l = add_layer (b, PS_LAYER_FLATTEN);
      flatten_shape (b);
      set_out (b, l, b->c, 1, 1);
    }
  (void) spatial_head;

  /* Modifiers, applied in the order written. */
  while (*p != '\0')
    {
      char ch = *p++;
      PsLayerInfo *l;
      switch (ch)
        {
        case 'r':
          add_layer (b, PS_LAYER_RELU);
          break;
        case 'g':
          add_layer (b, PS_LAYER_GELU);
          break;
        case 's':
          add_layer (b, PS_LAYER_SILU);
          break;
        case 't':
          add_layer (b, PS_LAYER_TANH);
          break;
        case 'l':
          l = add_layer (b, PS_LAYER_LEAKY_RELU);
          l->p = 0.01f;
          if (g_ascii_isdigit (*p) || *p == '.')
            {
              if (!parse_float (&p, &l->p) || !(l->p >= 0.f && l->p < 1.f))
                BAD ("a LeakyReLU slope must be in [0, 1)");
            }
          break;
        case 'n':
          add_layer (b, PS_LAYER_LAYERNORM);
          break;
        case 'u':
          add_layer (b, PS_LAYER_L2NORM);
          break;
        case 'd':
          {
            float prob;
            if (!parse_float (&p, &prob) || !(prob >= 0.f && prob < 1.f))
              BAD ("dropout needs a probability in [0, 1), e.g. d0.1");
            l = add_layer (b, PS_LAYER_DROPOUT);
            l->p = prob;
          }
          break;
        default:
          BAD ("unknown letter '%c' (expected one of r g s t l n d u, or a head: "
               "N, cOC, mK, aK, f)", ch);
        }
    }
  return TRUE;
#undef BAD
}

gboolean
ps_model_spec_parse (const char *spec, int *in_c, int *in_h, int *in_w,
                     PsLayerInfo **out_layers, int *out_n_layers, GError **error)
{
  g_autofree char *copy = g_strstrip (g_strdup (spec));
  g_autoptr (GArray) layers = g_array_new (FALSE, TRUE, sizeof (PsLayerInfo));
  Builder b = { layers, 0, 0, 0, FALSE };
  const char *body = copy;

  if (*copy == '\0')
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "model spec is empty");
      return FALSE;
    }
  for (const char *q = copy; *q; q++)
    if (g_ascii_isspace (*q))
      {
        g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                     "model spec \"%s\" contains a space", copy);
        return FALSE;
      }

  char *colon = strchr (copy, ':');
  if (colon != NULL)
    {
      *colon = '\0';
      int c, h, w;
      if (sscanf (copy, "%dx%dx%d", &c, &h, &w) != 3 || c <= 0 || h <= 0 || w <= 0 ||
          c > 1 << 16 || h > 1 << 16 || w > 1 << 16)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "model spec image shape \"%s\" is not CxHxW with positive sizes", copy);
          return FALSE;
        }
      g_autofree char *shape = g_strdup_printf ("%dx%dx%d", c, h, w);
      if (strcmp (shape, copy) != 0)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "model spec image shape \"%s\" is not CxHxW", copy);
          return FALSE;
        }
      b.c = c, b.h = h, b.w = w;
      b.image = TRUE;
      body = colon + 1;
    }

  g_auto (GStrv) items = g_strsplit (body, "-", -1);
  int first = 0;
  if (!b.image)
    {
      const char *p = items[0];
      int v = 0;
      if (!parse_int (&p, &v) || *p != '\0' || v <= 0)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "model spec \"%s\" must start with the input width (a positive "
                       "number) or an image shape CxHxW:", copy);
          return FALSE;
        }
      b.c = v, b.h = 1, b.w = 1;
      first = 1;
    }
  *in_c = b.c, *in_h = b.h, *in_w = b.w;

  for (int i = first; items[i] != NULL; i++)
    if (!parse_item (&b, items[i], i, error))
      return FALSE;

  if (layers->len == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "model spec \"%s\" has no layers", copy);
      return FALSE;
    }

  *out_n_layers = layers->len;
  *out_layers = (PsLayerInfo *) g_array_free (g_steal_pointer (&layers), FALSE);
  return TRUE;
}
