/* ps-methods-list.h: the registered methods, in display order.  Included
 * once, by ps-method.c.  Add a method here and in meson.build. */
#pragma once

static const PsMethod * const ps_method_list[] = {
  NULL,
};
