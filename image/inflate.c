/* image/inflate.c */
#include "../jclip_impl.h"
