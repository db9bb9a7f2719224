/* image/decode.c: format detection and dispatch for encoded images (included by jclip.c after
 * the decoders).
 *
 * jc_img_sniff looks at magic bytes only, never at the file name. It recognises the formats
 * jclip decodes (JPEG, PNG, GIF, BMP, PNM) and WebP, and names as many others as it can so that
 * a refusal says what the file is ("TIFF is not supported") instead of a vague "unknown
 * format". A prefix of a signature that is too short to decide (a PNG signature cut after 4
 * bytes, "GIF8") goes to that format's reader, which reports truncation. */
#include "../jclip_base.h"
#include "image.h"

/* What the first bytes say. format: a JCLIP_FORMAT_* the library handles, or UNKNOWN with name
 * set to the detected format ("TIFF"), or UNKNOWN with name NULL when nothing matched. */
typedef struct {
    int format;
    const char *name;
} jc_sniff;

static int jc_sniff_is(const uint8_t *d, size_t n, size_t at, const char *magic, size_t mlen)
{
    return n >= at + mlen && memcmp(d + at, magic, mlen) == 0;
}

/* ISO base media file format (HEIF, AVIF, JPEG XL container brands, MP4/QuickTime): an "ftyp"
 * box first, its major brand and compatible brands naming the content. */
static const char *jc_sniff_ftyp(const uint8_t *d, size_t n)
{
    if (!jc_sniff_is(d, n, 4, "ftyp", 4) || n < 12) return NULL;
    uint32_t box = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    size_t end = box >= 16 && box <= n ? box : (n < 64 ? n : 64);
    static const struct { const char brand[5]; const char *name; } brands[] = {
        {"avif", "AVIF"}, {"avis", "AVIF (image sequence)"}, {"heic", "HEIC"}, {"heix", "HEIC"},
        {"heim", "HEIC"}, {"heis", "HEIC"}, {"hevc", "HEIC (image sequence)"}, {"hevx", "HEIC (image sequence)"},
        {"mif1", "HEIF"}, {"msf1", "HEIF (image sequence)"}, {"crx ", "Canon CR3 raw"}, {"jxl ", "JPEG XL"},
        {"jp2 ", "JPEG 2000"}, {"jpx ", "JPEG 2000"}, {"qt  ", "QuickTime video"},
    };
    /* The major brand first, then the compatible list (a "mif1" file listing "avif" is AVIF). */
    for (size_t k = 0; k < sizeof brands / sizeof brands[0]; k++)
        if (memcmp(d + 8, brands[k].brand, 4) == 0 && strcmp(brands[k].brand, "mif1") && strcmp(brands[k].brand, "msf1"))
            return brands[k].name;
    for (size_t at = 16; at + 4 <= end; at += 4)
        for (size_t k = 0; k < 2; k++)
            if (memcmp(d + at, brands[k].brand, 4) == 0) return brands[k].name;
    for (size_t at = 8; at + 4 <= end; at += 4)
        for (size_t k = 2; k < sizeof brands / sizeof brands[0]; k++)
            if (memcmp(d + at, brands[k].brand, 4) == 0) return brands[k].name;
    return "ISO media (MP4/HEIF family)";
}

/* Text-based formats: skips a UTF-8 BOM and leading white space, then looks at the markup. */
static const char *jc_sniff_text(const uint8_t *d, size_t n)
{
    size_t i = 0, lim = n < 1024 ? n : 1024;
    if (n >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) i = 3;
    while (i < lim && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n')) i++;
    if (i >= lim || d[i] != '<') return NULL;
    char low[1025];
    size_t m = 0;
    for (size_t k = i; k < lim; k++) low[m++] = (char)(d[k] >= 'A' && d[k] <= 'Z' ? d[k] + 32 : d[k]);
    if (memchr(low, 0, m)) return NULL; /* binary */
    low[m] = 0;
    if (strstr(low, "<svg")) return "SVG";
    if (strncmp(low, "<!doctype html", 14) == 0 || strncmp(low, "<html", 5) == 0 || strstr(low, "<html")) return "HTML";
    if (strncmp(low, "<?xml", 5) == 0) return "XML";
    return NULL;
}

/* TGA has no signature: accept its 18-byte header only when every field is plausible (or the
 * TGA 2.0 footer is present), and only after every format with a magic number was ruled out. */
static int jc_sniff_tga(const uint8_t *d, size_t n)
{
    if (n >= 26 && memcmp(d + n - 18, "TRUEVISION-XFILE.", 17) == 0) return 1;
    if (n < 18) return 0;
    unsigned cmap = d[1], type = d[2], depth = d[16];
    unsigned w = d[12] | d[13] << 8, h = d[14] | d[15] << 8, cmlen = d[5] | d[6] << 8, cmdepth = d[7];
    if (cmap > 1 || w == 0 || h == 0 || (d[17] & 0xC0)) return 0;
    if (!(type == 1 || type == 2 || type == 3 || type == 9 || type == 10 || type == 11)) return 0;
    if (!(depth == 8 || depth == 15 || depth == 16 || depth == 24 || depth == 32)) return 0;
    if ((type == 1 || type == 9) && (cmap != 1 || depth != 8)) return 0;
    if (cmap == 1 && (cmlen == 0 || !(cmdepth == 15 || cmdepth == 16 || cmdepth == 24 || cmdepth == 32))) return 0;
    if (cmap == 0 && (cmlen != 0 || cmdepth != 0)) return 0;
    /* Uncompressed: the file must hold the pixels. */
    if (type <= 3 && (uint64_t)w * h * ((depth + 7) / 8) + 18 > n) return 0;
    return 1;
}

static jc_sniff jc_img_sniff(const uint8_t *d, size_t n)
{
    static const uint8_t png_sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    jc_sniff s = {JC_FORMAT_UNKNOWN, NULL};
    if (!d || n == 0) return s;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) { s.format = JC_FORMAT_JPEG; return s; }
    if (n >= 4 && memcmp(d, png_sig, n < 8 ? n : 8) == 0) { s.format = JC_FORMAT_PNG; return s; }
    if (n >= 4 && memcmp(d, "GIF8", 4) == 0) { s.format = JC_FORMAT_GIF; return s; }
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') { s.format = JC_FORMAT_BMP; return s; }
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' && (n == 2 || d[2] == ' ' || (d[2] >= 9 && d[2] <= 13))) {
        s.format = JC_FORMAT_PNM;
        return s;
    }
    if (jc_sniff_is(d, n, 0, "RIFF", 4) && n >= 12) {
        if (memcmp(d + 8, "WEBP", 4) == 0) { s.format = JC_FORMAT_WEBP; return s; }
        if (memcmp(d + 8, "WAVE", 4) == 0) s.name = "RIFF WAVE audio (not an image)";
        else if (memcmp(d + 8, "AVI ", 4) == 0) s.name = "RIFF AVI video (not an image)";
        else if (memcmp(d + 8, "ACON", 4) == 0) s.name = "Windows animated cursor (ANI)";
        else s.name = "RIFF data that is not WebP";
        return s;
    }
    static const struct { size_t at; const char *magic; size_t len; const char *name; } tab[] = {
        {0, "II*\0", 4, "TIFF"}, {0, "MM\0*", 4, "TIFF"}, {0, "II+\0", 4, "BigTIFF"}, {0, "MM\0+", 4, "BigTIFF"},
        {0, "IIRO", 4, "Olympus ORF raw"}, {0, "IIU\0", 4, "Panasonic RW2 raw"}, {0, "FUJIFILMCCD-RAW", 15, "Fujifilm RAF raw"},
        {0, "\0\0\0\x0CjP  \r\n\x87\n", 12, "JPEG 2000"}, {0, "\xFF\x4F\xFF\x51", 4, "JPEG 2000 (codestream)"},
        {0, "\0\0\0\x0CJXL \r\n\x87\n", 12, "JPEG XL"}, {0, "\xFF\x0A", 2, "JPEG XL"},
        {0, "8BPS", 4, "PSD (Photoshop)"}, {0, "%PDF", 4, "PDF"}, {0, "%!PS", 4, "PostScript/EPS"},
        {0, "\xC5\xD0\xD3\xC6", 4, "EPS"}, {0, "qoif", 4, "QOI"}, {0, "DDS ", 4, "DDS"},
        {0, "\x76\x2F\x31\x01", 4, "OpenEXR"}, {0, "#?RADIANCE", 10, "Radiance HDR"}, {0, "#?RGBE", 6, "Radiance HDR"},
        {0, "SIMPLE  =", 9, "FITS"}, {0, "gimp xcf", 8, "GIMP XCF"}, {0, "icns", 4, "ICNS"},
        {0, "BPG\xFB", 4, "BPG"}, {0, "FLIF", 4, "FLIF"}, {0, "AT&TFORM", 8, "DjVu"},
        {0, "\x8BJNG\r\n\x1A\n", 8, "JNG"}, {0, "\x8AMNG\r\n\x1A\n", 8, "MNG"},
        {0, "\xD7\xCD\xC6\x9A", 4, "WMF"}, {40, " EMF", 4, "EMF"}, {0, "\x59\xA6\x6A\x95", 4, "Sun raster"},
        {0, "/* XPM */", 9, "XPM"}, {0, "#define ", 8, "XBM"}, {0, "SDPX", 4, "DPX"}, {0, "XPDS", 4, "DPX"},
        {0, "\x80\x2A\x5F\xD7", 4, "Cineon"}, {0, "farbfeld", 8, "farbfeld"}, {0, "P7\n", 3, "PAM"},
        {0, "PF\n", 3, "PFM"}, {0, "Pf\n", 3, "PFM"}, {0, "\x01\xDA\x00", 3, "SGI"}, {0, "\x01\xDA\x01", 3, "SGI"},
        {0, "PK\x03\x04", 4, "ZIP archive"}, {0, "\x1F\x8B", 2, "gzip data"}, {0, "7z\xBC\xAF\x27\x1C", 6, "7-Zip archive"},
        {0, "ID3", 3, "MP3 audio"}, {0, "OggS", 4, "Ogg media"}, {0, "fLaC", 4, "FLAC audio"}, {0, "\x1A\x45\xDF\xA3", 4, "Matroska/WebM video"},
        {0, "\x7F" "ELF", 4, "ELF executable"},
    };
    for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++)
        if (jc_sniff_is(d, n, tab[k].at, tab[k].magic, tab[k].len)) {
            if (tab[k].at == 40 && !(n >= 4 && d[0] == 1 && d[1] == 0 && d[2] == 0 && d[3] == 0)) continue;
            s.name = tab[k].name;
            return s;
        }
    if ((s.name = jc_sniff_ftyp(d, n)) != NULL) return s;
    /* ICO / CUR: reserved 0, type 1 or 2, a non-zero image count, a plausible first entry. */
    if (n >= 22 && d[0] == 0 && d[1] == 0 && (d[2] == 1 || d[2] == 2) && d[3] == 0 && (d[4] | d[5]) && d[9] == 0) {
        s.name = d[2] == 1 ? "ICO" : "CUR (Windows cursor)";
        return s;
    }
    /* PCX: manufacturer 10, version 0-5, RLE flag 0/1, 1/2/4/8 bits per plane. */
    if (n >= 128 && d[0] == 0x0A && d[1] <= 5 && d[1] != 1 && d[2] <= 1 && (d[3] == 1 || d[3] == 2 || d[3] == 4 || d[3] == 8)) {
        s.name = "PCX";
        return s;
    }
    if ((s.name = jc_sniff_text(d, n)) != NULL) return s;
    if (jc_sniff_tga(d, n)) s.name = "TGA";
    return s;
}

/* Why an unrecognised buffer was refused: empty, text, or binary. */
static int jc_img_refuse(const uint8_t *data, size_t len, const jc_sniff *s, char *err, size_t errcap)
{
    if (s->name) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "%s is not supported", s->name);
    if (!data || len == 0) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "empty input: not an image (0 bytes)");
    size_t text = 0, lim = len < 512 ? len : 512;
    for (size_t i = 0; i < lim; i++) text += (data[i] >= 32 && data[i] < 127) || data[i] == '\n' || data[i] == '\r' || data[i] == '\t' || data[i] >= 0x80;
    if (text == lim && memchr(data, 0, lim) == NULL)
        return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "unrecognised image format (not JPEG, PNG, WebP, GIF, BMP or PNM): the data looks like text");
    return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "unrecognised image format (not JPEG, PNG, WebP, GIF, BMP or PNM)");
}

/* Reads the header of any supported format. Returns JC_ERR_UNSUPPORTED, with a message that
 * names the format when it is known, for anything else. */
static JC_UNUSED int jc_img_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    jc_sniff s = jc_img_sniff(data, len);
    switch (s.format) {
    case JC_FORMAT_JPEG: return jc_jpeg_info(data, len, info, err, errcap);
    case JC_FORMAT_PNG: return jc_png_info(data, len, info, err, errcap);
    case JC_FORMAT_GIF: return jc_gif_info(data, len, info, err, errcap);
    case JC_FORMAT_BMP: return jc_bmp_info(data, len, info, err, errcap);
    case JC_FORMAT_PNM: return jc_pnm_info(data, len, info, err, errcap);
    case JC_FORMAT_WEBP: return jc_webp_info(data, len, info, err, errcap);
    default: return jc_img_refuse(data, len, &s, err, errcap);
    }
}

/* Decodes any supported format into packed RGB8 (see jc_png_decode / jc_jpeg_decode for the contract). */
static JC_UNUSED int jc_img_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                                jc_image_info *info, char *err, size_t errcap)
{
    jc_sniff s = jc_img_sniff(data, len);
    switch (s.format) {
    case JC_FORMAT_JPEG: return jc_jpeg_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    case JC_FORMAT_PNG: return jc_png_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    case JC_FORMAT_GIF: return jc_gif_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    case JC_FORMAT_BMP: return jc_bmp_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    case JC_FORMAT_PNM: return jc_pnm_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    case JC_FORMAT_WEBP: return jc_webp_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    default: return jc_img_refuse(data, len, &s, err, errcap);
    }
}
