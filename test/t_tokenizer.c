/* test/t_tokenizer.c: tokenizer suite (included by test/run.c). */
static void suite_tokenizer(void)
{
}
