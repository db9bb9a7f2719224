/* test/t_jpeg.c: jpeg suite (included by test/run.c). */
static void suite_jpeg(void)
{
}
