/* test/t_png.c: png suite (included by test/run.c). */
static void suite_png(void)
{
}
