/* tokenizer/wordpiece.c */
#include "../jclip_impl.h"
