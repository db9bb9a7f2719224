/* image/jpeg.c */
#include "../jclip_impl.h"
