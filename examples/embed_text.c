/* examples/embed_text.c: the smallest program using only the drop-in pair jclip.c + jclip.h.
 *
 *   cc -O2 -o embed_text embed_text.c jclip.c -lm -lpthread
 *   ./embed_text model.jclip "a photo of a cat" "a photo of a dog"
 *
 * Embeds each text and prints the cosine similarity of every text to the first. */
#include "jclip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.jclip TEXT [TEXT...]\n", argv[0]);
        return 2;
    }
    char err[512];
    jclip_model *model = NULL;
    jclip_ctx *ctx = NULL;
    if (jclip_model_load(argv[1], &model, err, sizeof err) != JCLIP_OK ||
        jclip_ctx_create(model, NULL, &ctx, err, sizeof err) != JCLIP_OK) {
        fprintf(stderr, "embed_text: %s\n", err);
        jclip_model_free(model);
        return 1;
    }
    size_t dim = (size_t)jclip_embed_dim(model);
    int n = argc - 2;
    float *emb = (float *)malloc(sizeof(float) * dim * (size_t)n);
    int status = emb ? JCLIP_OK : JCLIP_ERR_NOMEM;
    for (int i = 0; i < n && status == JCLIP_OK; i++) {
        status = jclip_embed_text(ctx, argv[i + 2], strlen(argv[i + 2]), emb + (size_t)i * dim, dim);
        if (status != JCLIP_OK) fprintf(stderr, "embed_text: %s\n", jclip_ctx_error(ctx));
    }
    for (int i = 0; i < n && status == JCLIP_OK; i++) {
        double dot = 0; /* embeddings are L2-normalised: the dot product is the cosine */
        for (size_t k = 0; k < dim; k++) dot += (double)emb[k] * emb[(size_t)i * dim + k];
        printf("%.6f\t%s\n", dot, argv[i + 2]);
    }
    free(emb);
    jclip_ctx_free(ctx);
    jclip_model_free(model);
    return status == JCLIP_OK ? 0 : 1;
}
