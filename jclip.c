/* jclip.c: root of the unity build. Includes every module in dependency order so that
 * developers compile the same single translation unit that users drop into their project. */
#include "jclip_impl.h"

#include "tokenizer/wordpiece.c"
#include "image/inflate.c"
#include "image/png.c"
#include "image/jpeg.c"
#include "image/preprocess.c"
