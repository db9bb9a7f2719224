/* model/file.h: a parsed .jclip weight file (reader: model/file.c, layout: convert/FORMAT.md). */
#ifndef JC_FILE_H
#define JC_FILE_H

#include "../jclip.h"
#include "../jclip_base.h"

#define JC_FILE_MAGIC "JCLIPWTS"
#define JC_FILE_VERSION 1u
#define JC_FILE_HEADER_SIZE 128u
#define JC_FILE_ALIGN 64u
#define JC_FILE_MAX_META 4096u
#define JC_FILE_MAX_TENSORS 65536u
#define JC_FILE_MAX_DIMS 4u

/* Tensor element types. q8: an [N, K] weight (K % 32 == 0) stored as int8 Wq [N, K] followed by
 * fp32 block scales Sw [N, K / 32] (w = Wq * Sw[n][k / 32], kernels/kernels.h's q8 contract);
 * for a tensor of more than two dimensions N is the first and K the product of the others. */
enum { JC_DT_F32 = 0, JC_DT_BF16 = 1, JC_DT_Q8 = 2 };

enum { JC_FILE_U64 = 0, JC_FILE_F64 = 1, JC_FILE_STR = 2, JC_FILE_F32A = 3, JC_FILE_I32A = 4, JC_FILE_BLOB = 5 };

typedef struct {
    const char *key; size_t key_len;
    int type;
    uint64_t u;       /* JC_FILE_U64 */
    double f;         /* JC_FILE_F64 */
    const uint8_t *data; /* STR/F32A/I32A/BLOB payload */
    uint64_t n;       /* bytes (STR/BLOB) or elements (arrays) */
} jc_file_meta;

typedef struct {
    const char *name; size_t name_len;
    int dtype, ndim;
    uint64_t dims[JC_FILE_MAX_DIMS];
    const uint8_t *data;
    uint64_t nbytes;
} jc_file_tensor;


/* A parsed .jclip file: the whole image plus its metadata and tensor table. */
typedef struct jc_file {
    const uint8_t *data;      /* the whole file (mapped or in memory), 64-byte aligned */
    size_t size;              /* bytes */
    jc_file_meta *meta;       /* [n_meta] */
    uint32_t n_meta;
    jc_file_tensor *tensors;  /* [n_tensors] */
    uint32_t n_tensors;
} jc_file;

#endif /* JC_FILE_H */
