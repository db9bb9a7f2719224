/* image/png.c */
#include "../jclip_impl.h"
