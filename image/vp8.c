/* image/vp8.c: WebP lossy (VP8 key frame) decoder, used by image/webp.c.
 *
 * RFC 6386 as libwebp 1.2.4 implements it, to the bit: the boolean decoder (with libwebp's
 * sign-bit shortcut and its end-of-data rule: a partition read past its end is an error),
 * segments, intra prediction with libwebp's border values (127 above the picture, 129 left of
 * it, the above-right of the last macroblock column repeated from its own top row), the
 * inverse WHT and DCT with int16 coefficient storage, the simple and normal loop filters with
 * libwebp's strength rules (no filtering at all when the frame level is 0, even if a segment
 * sets one), and libwebp's default output path: "fancy" chroma upsampling (each chroma sample
 * is interpolated 9-3-3-1 between its four neighbours) and its 14-bit fixed-point YUV->RGB.
 *
 * The frame is reconstructed into whole Y/U/V planes (macroblock aligned). Prediction reads
 * only unfiltered samples: the macroblock being built sits in a small work buffer with its
 * left column and the saved, unfiltered bottom row of the macroblock row above. Each
 * macroblock row is loop-filtered in the planes as soon as it is built, and the planes are
 * converted to RGB once all rows are done.
 *
 * The probability and quantizer tables below are the constants of RFC 6386 (sections 9.6, 13.5,
 * 14.1, 11.5), in libwebp's intra-mode order (DC, TM, VE, HE, RD, VR, LD, VL, HD, HU). */
#include "../jclip_base.h"
#include "image.h"

static const uint8_t jc_vp8_dc_table[128] = {
    4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 17,
    18, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 25, 25, 26, 27, 28,
    29, 30, 31, 32, 33, 34, 35, 36, 37, 37, 38, 39, 40, 41, 42, 43,
    44, 45, 46, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58,
    59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74,
    75, 76, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89,
    91, 93, 95, 96, 98, 100, 101, 102, 104, 106, 108, 110, 112, 114, 116, 118,
    122, 124, 126, 128, 130, 132, 134, 136, 138, 140, 143, 145, 148, 151, 154, 157,
};
static const uint16_t jc_vp8_ac_table[128] = {
    4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
    52, 53, 54, 55, 56, 57, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76,
    78, 80, 82, 84, 86, 88, 90, 92, 94, 96, 98, 100, 102, 104, 106, 108,
    110, 112, 114, 116, 119, 122, 125, 128, 131, 134, 137, 140, 143, 146, 149, 152,
    155, 158, 161, 164, 167, 170, 173, 177, 181, 185, 189, 193, 197, 201, 205, 209,
    213, 217, 221, 225, 229, 234, 239, 245, 249, 254, 259, 264, 269, 274, 279, 284,
};
static const uint8_t jc_vp8_coeff_proba0[4][8][3][11] = {
    {
        {
            {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128},
            {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128},
            {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128}
        },
        {
            {253, 136, 254, 255, 228, 219, 128, 128, 128, 128, 128},
            {189, 129, 242, 255, 227, 213, 255, 219, 128, 128, 128},
            {106, 126, 227, 252, 214, 209, 255, 255, 128, 128, 128}
        },
        {
            {1, 98, 248, 255, 236, 226, 255, 255, 128, 128, 128},
            {181, 133, 238, 254, 221, 234, 255, 154, 128, 128, 128},
            {78, 134, 202, 247, 198, 180, 255, 219, 128, 128, 128}
        },
        {
            {1, 185, 249, 255, 243, 255, 128, 128, 128, 128, 128},
            {184, 150, 247, 255, 236, 224, 128, 128, 128, 128, 128},
            {77, 110, 216, 255, 236, 230, 128, 128, 128, 128, 128}
        },
        {
            {1, 101, 251, 255, 241, 255, 128, 128, 128, 128, 128},
            {170, 139, 241, 252, 236, 209, 255, 255, 128, 128, 128},
            {37, 116, 196, 243, 228, 255, 255, 255, 128, 128, 128}
        },
        {
            {1, 204, 254, 255, 245, 255, 128, 128, 128, 128, 128},
            {207, 160, 250, 255, 238, 128, 128, 128, 128, 128, 128},
            {102, 103, 231, 255, 211, 171, 128, 128, 128, 128, 128}
        },
        {
            {1, 152, 252, 255, 240, 255, 128, 128, 128, 128, 128},
            {177, 135, 243, 255, 234, 225, 128, 128, 128, 128, 128},
            {80, 129, 211, 255, 194, 224, 128, 128, 128, 128, 128}
        },
        {
            {1, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128},
            {246, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128},
            {255, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128}
        }
    },
    {
        {
            {198, 35, 237, 223, 193, 187, 162, 160, 145, 155, 62},
            {131, 45, 198, 221, 172, 176, 220, 157, 252, 221, 1},
            {68, 47, 146, 208, 149, 167, 221, 162, 255, 223, 128}
        },
        {
            {1, 149, 241, 255, 221, 224, 255, 255, 128, 128, 128},
            {184, 141, 234, 253, 222, 220, 255, 199, 128, 128, 128},
            {81, 99, 181, 242, 176, 190, 249, 202, 255, 255, 128}
        },
        {
            {1, 129, 232, 253, 214, 197, 242, 196, 255, 255, 128},
            {99, 121, 210, 250, 201, 198, 255, 202, 128, 128, 128},
            {23, 91, 163, 242, 170, 187, 247, 210, 255, 255, 128}
        },
        {
            {1, 200, 246, 255, 234, 255, 128, 128, 128, 128, 128},
            {109, 178, 241, 255, 231, 245, 255, 255, 128, 128, 128},
            {44, 130, 201, 253, 205, 192, 255, 255, 128, 128, 128}
        },
        {
            {1, 132, 239, 251, 219, 209, 255, 165, 128, 128, 128},
            {94, 136, 225, 251, 218, 190, 255, 255, 128, 128, 128},
            {22, 100, 174, 245, 186, 161, 255, 199, 128, 128, 128}
        },
        {
            {1, 182, 249, 255, 232, 235, 128, 128, 128, 128, 128},
            {124, 143, 241, 255, 227, 234, 128, 128, 128, 128, 128},
            {35, 77, 181, 251, 193, 211, 255, 205, 128, 128, 128}
        },
        {
            {1, 157, 247, 255, 236, 231, 255, 255, 128, 128, 128},
            {121, 141, 235, 255, 225, 227, 255, 255, 128, 128, 128},
            {45, 99, 188, 251, 195, 217, 255, 224, 128, 128, 128}
        },
        {
            {1, 1, 251, 255, 213, 255, 128, 128, 128, 128, 128},
            {203, 1, 248, 255, 255, 128, 128, 128, 128, 128, 128},
            {137, 1, 177, 255, 224, 255, 128, 128, 128, 128, 128}
        }
    },
    {
        {
            {253, 9, 248, 251, 207, 208, 255, 192, 128, 128, 128},
            {175, 13, 224, 243, 193, 185, 249, 198, 255, 255, 128},
            {73, 17, 171, 221, 161, 179, 236, 167, 255, 234, 128}
        },
        {
            {1, 95, 247, 253, 212, 183, 255, 255, 128, 128, 128},
            {239, 90, 244, 250, 211, 209, 255, 255, 128, 128, 128},
            {155, 77, 195, 248, 188, 195, 255, 255, 128, 128, 128}
        },
        {
            {1, 24, 239, 251, 218, 219, 255, 205, 128, 128, 128},
            {201, 51, 219, 255, 196, 186, 128, 128, 128, 128, 128},
            {69, 46, 190, 239, 201, 218, 255, 228, 128, 128, 128}
        },
        {
            {1, 191, 251, 255, 255, 128, 128, 128, 128, 128, 128},
            {223, 165, 249, 255, 213, 255, 128, 128, 128, 128, 128},
            {141, 124, 248, 255, 255, 128, 128, 128, 128, 128, 128}
        },
        {
            {1, 16, 248, 255, 255, 128, 128, 128, 128, 128, 128},
            {190, 36, 230, 255, 236, 255, 128, 128, 128, 128, 128},
            {149, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128}
        },
        {
            {1, 226, 255, 128, 128, 128, 128, 128, 128, 128, 128},
            {247, 192, 255, 128, 128, 128, 128, 128, 128, 128, 128},
            {240, 128, 255, 128, 128, 128, 128, 128, 128, 128, 128}
        },
        {
            {1, 134, 252, 255, 255, 128, 128, 128, 128, 128, 128},
            {213, 62, 250, 255, 255, 128, 128, 128, 128, 128, 128},
            {55, 93, 255, 128, 128, 128, 128, 128, 128, 128, 128}
        },
        {
            {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128},
            {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128},
            {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128}
        }
    },
    {
        {
            {202, 24, 213, 235, 186, 191, 220, 160, 240, 175, 255},
            {126, 38, 182, 232, 169, 184, 228, 174, 255, 187, 128},
            {61, 46, 138, 219, 151, 178, 240, 170, 255, 216, 128}
        },
        {
            {1, 112, 230, 250, 199, 191, 247, 159, 255, 255, 128},
            {166, 109, 228, 252, 211, 215, 255, 174, 128, 128, 128},
            {39, 77, 162, 232, 172, 180, 245, 178, 255, 255, 128}
        },
        {
            {1, 52, 220, 246, 198, 199, 249, 220, 255, 255, 128},
            {124, 74, 191, 243, 183, 193, 250, 221, 255, 255, 128},
            {24, 71, 130, 219, 154, 170, 243, 182, 255, 255, 128}
        },
        {
            {1, 182, 225, 249, 219, 240, 255, 224, 128, 128, 128},
            {149, 150, 226, 252, 216, 205, 255, 171, 128, 128, 128},
            {28, 108, 170, 242, 183, 194, 254, 223, 255, 255, 128}
        },
        {
            {1, 81, 230, 252, 204, 203, 255, 192, 128, 128, 128},
            {123, 102, 209, 247, 188, 196, 255, 233, 128, 128, 128},
            {20, 95, 153, 243, 164, 173, 255, 203, 128, 128, 128}
        },
        {
            {1, 222, 248, 255, 216, 213, 128, 128, 128, 128, 128},
            {168, 175, 246, 252, 235, 205, 255, 255, 128, 128, 128},
            {47, 116, 215, 255, 211, 212, 255, 255, 128, 128, 128}
        },
        {
            {1, 121, 236, 253, 212, 214, 255, 255, 128, 128, 128},
            {141, 84, 213, 252, 201, 202, 255, 219, 128, 128, 128},
            {42, 80, 160, 240, 162, 185, 255, 205, 128, 128, 128}
        },
        {
            {1, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128},
            {244, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128},
            {238, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128}
        }
    }
};
static const uint8_t jc_vp8_coeff_update[4][8][3][11] = {
    {
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {176, 246, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {223, 241, 252, 255, 255, 255, 255, 255, 255, 255, 255},
            {249, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 244, 252, 255, 255, 255, 255, 255, 255, 255, 255},
            {234, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 246, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {239, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 248, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {251, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {251, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 254, 253, 255, 254, 255, 255, 255, 255, 255, 255},
            {250, 255, 254, 255, 254, 255, 255, 255, 255, 255, 255},
            {254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        }
    },
    {
        {
            {217, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {225, 252, 241, 253, 255, 255, 254, 255, 255, 255, 255},
            {234, 250, 241, 250, 253, 255, 253, 254, 255, 255, 255}
        },
        {
            {255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {223, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {238, 253, 254, 254, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 248, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {249, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 253, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {247, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {252, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 254, 253, 255, 255, 255, 255, 255, 255, 255, 255},
            {250, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        }
    },
    {
        {
            {186, 251, 250, 255, 255, 255, 255, 255, 255, 255, 255},
            {234, 251, 244, 254, 255, 255, 255, 255, 255, 255, 255},
            {251, 251, 243, 253, 254, 255, 254, 255, 255, 255, 255}
        },
        {
            {255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {236, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {251, 253, 253, 254, 254, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        }
    },
    {
        {
            {248, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {250, 254, 252, 254, 255, 255, 255, 255, 255, 255, 255},
            {248, 254, 249, 253, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255},
            {246, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255},
            {252, 254, 251, 254, 254, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 254, 252, 255, 255, 255, 255, 255, 255, 255, 255},
            {248, 254, 253, 255, 255, 255, 255, 255, 255, 255, 255},
            {253, 255, 254, 254, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 251, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {245, 251, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {253, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 251, 253, 255, 255, 255, 255, 255, 255, 255, 255},
            {252, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 252, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {249, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 253, 255, 255, 255, 255, 255, 255, 255, 255},
            {250, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        },
        {
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
            {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
        }
    }
};
static const uint8_t jc_vp8_bmode_proba[10][10][9] = {
    {
        {231, 120, 48, 89, 115, 113, 120, 152, 112},
        {152, 179, 64, 126, 170, 118, 46, 70, 95},
        {175, 69, 143, 80, 85, 82, 72, 155, 103},
        {56, 58, 10, 171, 218, 189, 17, 13, 152},
        {114, 26, 17, 163, 44, 195, 21, 10, 173},
        {121, 24, 80, 195, 26, 62, 44, 64, 85},
        {144, 71, 10, 38, 171, 213, 144, 34, 26},
        {170, 46, 55, 19, 136, 160, 33, 206, 71},
        {63, 20, 8, 114, 114, 208, 12, 9, 226},
        {81, 40, 11, 96, 182, 84, 29, 16, 36}
    },
    {
        {134, 183, 89, 137, 98, 101, 106, 165, 148},
        {72, 187, 100, 130, 157, 111, 32, 75, 80},
        {66, 102, 167, 99, 74, 62, 40, 234, 128},
        {41, 53, 9, 178, 241, 141, 26, 8, 107},
        {74, 43, 26, 146, 73, 166, 49, 23, 157},
        {65, 38, 105, 160, 51, 52, 31, 115, 128},
        {104, 79, 12, 27, 217, 255, 87, 17, 7},
        {87, 68, 71, 44, 114, 51, 15, 186, 23},
        {47, 41, 14, 110, 182, 183, 21, 17, 194},
        {66, 45, 25, 102, 197, 189, 23, 18, 22}
    },
    {
        {88, 88, 147, 150, 42, 46, 45, 196, 205},
        {43, 97, 183, 117, 85, 38, 35, 179, 61},
        {39, 53, 200, 87, 26, 21, 43, 232, 171},
        {56, 34, 51, 104, 114, 102, 29, 93, 77},
        {39, 28, 85, 171, 58, 165, 90, 98, 64},
        {34, 22, 116, 206, 23, 34, 43, 166, 73},
        {107, 54, 32, 26, 51, 1, 81, 43, 31},
        {68, 25, 106, 22, 64, 171, 36, 225, 114},
        {34, 19, 21, 102, 132, 188, 16, 76, 124},
        {62, 18, 78, 95, 85, 57, 50, 48, 51}
    },
    {
        {193, 101, 35, 159, 215, 111, 89, 46, 111},
        {60, 148, 31, 172, 219, 228, 21, 18, 111},
        {112, 113, 77, 85, 179, 255, 38, 120, 114},
        {40, 42, 1, 196, 245, 209, 10, 25, 109},
        {88, 43, 29, 140, 166, 213, 37, 43, 154},
        {61, 63, 30, 155, 67, 45, 68, 1, 209},
        {100, 80, 8, 43, 154, 1, 51, 26, 71},
        {142, 78, 78, 16, 255, 128, 34, 197, 171},
        {41, 40, 5, 102, 211, 183, 4, 1, 221},
        {51, 50, 17, 168, 209, 192, 23, 25, 82}
    },
    {
        {138, 31, 36, 171, 27, 166, 38, 44, 229},
        {67, 87, 58, 169, 82, 115, 26, 59, 179},
        {63, 59, 90, 180, 59, 166, 93, 73, 154},
        {40, 40, 21, 116, 143, 209, 34, 39, 175},
        {47, 15, 16, 183, 34, 223, 49, 45, 183},
        {46, 17, 33, 183, 6, 98, 15, 32, 183},
        {57, 46, 22, 24, 128, 1, 54, 17, 37},
        {65, 32, 73, 115, 28, 128, 23, 128, 205},
        {40, 3, 9, 115, 51, 192, 18, 6, 223},
        {87, 37, 9, 115, 59, 77, 64, 21, 47}
    },
    {
        {104, 55, 44, 218, 9, 54, 53, 130, 226},
        {64, 90, 70, 205, 40, 41, 23, 26, 57},
        {54, 57, 112, 184, 5, 41, 38, 166, 213},
        {30, 34, 26, 133, 152, 116, 10, 32, 134},
        {39, 19, 53, 221, 26, 114, 32, 73, 255},
        {31, 9, 65, 234, 2, 15, 1, 118, 73},
        {75, 32, 12, 51, 192, 255, 160, 43, 51},
        {88, 31, 35, 67, 102, 85, 55, 186, 85},
        {56, 21, 23, 111, 59, 205, 45, 37, 192},
        {55, 38, 70, 124, 73, 102, 1, 34, 98}
    },
    {
        {125, 98, 42, 88, 104, 85, 117, 175, 82},
        {95, 84, 53, 89, 128, 100, 113, 101, 45},
        {75, 79, 123, 47, 51, 128, 81, 171, 1},
        {57, 17, 5, 71, 102, 57, 53, 41, 49},
        {38, 33, 13, 121, 57, 73, 26, 1, 85},
        {41, 10, 67, 138, 77, 110, 90, 47, 114},
        {115, 21, 2, 10, 102, 255, 166, 23, 6},
        {101, 29, 16, 10, 85, 128, 101, 196, 26},
        {57, 18, 10, 102, 102, 213, 34, 20, 43},
        {117, 20, 15, 36, 163, 128, 68, 1, 26}
    },
    {
        {102, 61, 71, 37, 34, 53, 31, 243, 192},
        {69, 60, 71, 38, 73, 119, 28, 222, 37},
        {68, 45, 128, 34, 1, 47, 11, 245, 171},
        {62, 17, 19, 70, 146, 85, 55, 62, 70},
        {37, 43, 37, 154, 100, 163, 85, 160, 1},
        {63, 9, 92, 136, 28, 64, 32, 201, 85},
        {75, 15, 9, 9, 64, 255, 184, 119, 16},
        {86, 6, 28, 5, 64, 255, 25, 248, 1},
        {56, 8, 17, 132, 137, 255, 55, 116, 128},
        {58, 15, 20, 82, 135, 57, 26, 121, 40}
    },
    {
        {164, 50, 31, 137, 154, 133, 25, 35, 218},
        {51, 103, 44, 131, 131, 123, 31, 6, 158},
        {86, 40, 64, 135, 148, 224, 45, 183, 128},
        {22, 26, 17, 131, 240, 154, 14, 1, 209},
        {45, 16, 21, 91, 64, 222, 7, 1, 197},
        {56, 21, 39, 155, 60, 138, 23, 102, 213},
        {83, 12, 13, 54, 192, 255, 68, 47, 28},
        {85, 26, 85, 85, 128, 128, 32, 146, 171},
        {18, 11, 7, 63, 144, 171, 4, 4, 246},
        {35, 27, 10, 146, 174, 171, 12, 26, 128}
    },
    {
        {190, 80, 35, 99, 180, 80, 126, 54, 45},
        {85, 126, 47, 87, 176, 51, 41, 20, 32},
        {101, 75, 128, 139, 118, 146, 116, 128, 85},
        {56, 41, 15, 176, 236, 85, 37, 9, 62},
        {71, 30, 17, 119, 118, 255, 17, 18, 138},
        {101, 38, 60, 138, 55, 70, 43, 26, 142},
        {146, 36, 19, 30, 171, 255, 97, 27, 20},
        {138, 45, 61, 62, 219, 1, 81, 188, 64},
        {32, 41, 20, 117, 151, 142, 20, 21, 163},
        {112, 19, 12, 61, 195, 128, 48, 4, 24}
    }
};

static const uint8_t jc_vp8_bands[17] = {0, 1, 2, 3, 6, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 0};
static const uint8_t jc_vp8_zigzag[16] = {0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15};
static const uint8_t jc_vp8_cat3[] = {173, 148, 140, 0};
static const uint8_t jc_vp8_cat4[] = {176, 155, 140, 135, 0};
static const uint8_t jc_vp8_cat5[] = {180, 157, 141, 134, 130, 0};
static const uint8_t jc_vp8_cat6[] = {254, 254, 243, 230, 196, 177, 153, 140, 133, 130, 129, 0};

/* Intra modes, libwebp's numbering; 4..6 are the DC variants at the picture edges (16x16 and
 * chroma only). */
enum { JC_DC = 0, JC_TM = 1, JC_VE = 2, JC_HE = 3, JC_RD = 4, JC_VR = 5, JC_LD = 6, JC_VL = 7, JC_HD = 8, JC_HU = 9 };
enum { JC_DC_NOTOP = 4, JC_DC_NOLEFT = 5, JC_DC_NOTOPLEFT = 6 };

/* ---- boolean decoder (RFC 6386 section 7) --------------------------------------------------
 * value holds the not yet consumed bits; bits is the position of the current byte boundary
 * in it (negative: load more). range is kept minus one, in 127..254 between calls. Bytes are
 * loaded 7 at a time while 8 remain, then one by one; once the data is exhausted one zero byte
 * is appended and eof is set (libwebp's rule, which its callers treat as an error). */
typedef struct {
    uint64_t value;
    uint32_t range;
    int bits;
    int eof;
    const uint8_t *buf, *end, *max;
} jc_bool;

static void jc_bool_load(jc_bool *br)
{
    if (br->buf < br->max) {
        const uint8_t *p = br->buf;
        uint64_t v = (uint64_t)p[0] << 48 | (uint64_t)p[1] << 40 | (uint64_t)p[2] << 32 | (uint64_t)p[3] << 24 |
                     (uint64_t)p[4] << 16 | (uint64_t)p[5] << 8 | (uint64_t)p[6];
        br->buf += 7;
        br->value = v | (br->value << 56);
        br->bits += 56;
    } else if (br->buf < br->end) {
        br->value = (uint64_t)*br->buf++ | (br->value << 8);
        br->bits += 8;
    } else if (!br->eof) {
        br->value <<= 8;
        br->bits += 8;
        br->eof = 1;
    } else {
        br->bits = 0;
    }
}

static void jc_bool_init(jc_bool *br, const uint8_t *p, size_t n)
{
    br->range = 254;
    br->value = 0;
    br->bits = -8;
    br->eof = 0;
    br->buf = p;
    br->end = p + n;
    br->max = n >= 8 ? p + n - 7 : p;
    jc_bool_load(br);
}

static inline int jc_log2_floor(uint32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return 31 - __builtin_clz(v);
#else
    int r = 0;
    while (v >>= 1) r++;
    return r;
#endif
}

static inline int jc_bool_bit(jc_bool *br, int prob)
{
    uint32_t range = br->range;
    if (br->bits < 0) jc_bool_load(br);
    const int pos = br->bits;
    const uint32_t split = (range * (uint32_t)prob) >> 8;
    const uint32_t value = (uint32_t)(br->value >> pos);
    const int bit = value > split;
    if (bit) {
        range -= split;
        br->value -= (uint64_t)(split + 1) << pos;
    } else {
        range = split + 1;
    }
    const int shift = 7 ^ jc_log2_floor(range);
    range <<= shift;
    br->bits -= shift;
    br->range = range - 1;
    return bit;
}

/* The sign of a coefficient: libwebp reads it with split = range/2 and a fixed one-bit shift. */
static inline int jc_bool_signed(jc_bool *br, int v)
{
    if (br->bits < 0) jc_bool_load(br);
    const int pos = br->bits;
    const uint32_t split = br->range >> 1;
    const uint32_t value = (uint32_t)(br->value >> pos);
    const uint32_t mask = value > split ? 0xffffffffu : 0u;
    br->bits -= 1;
    br->range += mask;
    br->range |= 1;
    br->value -= (uint64_t)((split + 1) & mask) << pos;
    return mask ? -v : v;
}

static uint32_t jc_bool_value(jc_bool *br, int nbits)
{
    uint32_t v = 0;
    while (nbits-- > 0) v |= (uint32_t)jc_bool_bit(br, 0x80) << nbits;
    return v;
}

static int jc_bool_svalue(jc_bool *br, int nbits)
{
    int v = (int)jc_bool_value(br, nbits);
    return jc_bool_bit(br, 0x80) ? -v : v;
}

/* ---- decoder state ------------------------------------------------------------------------ */

#define JC_BPS JC_VP8_BPS /* stride of the prediction work buffer (kernels/kernels.h) */
#define JC_YOFF (JC_BPS * 1 + 8)
#define JC_UOFF (JC_YOFF + JC_BPS * 16 + JC_BPS)
#define JC_VOFF (JC_UOFF + 16)
#define JC_WORK_SIZE (JC_BPS * 17 + JC_BPS * 9)

typedef struct {
    uint8_t segment, skip, is_i4x4, uvmode;
    uint8_t imodes[16];
    uint32_t nz_y, nz_uv; /* per 4x4 block: 0 none, 1 DC only, 2 first three, 3 any (2 bits) */
    int16_t coeffs[384];
} jc_vp8_mbdata;

typedef struct {
    uint8_t limit, ilevel, hev, inner;
} jc_vp8_finfo;

typedef struct {
    int y1[2], y2[2], uv[2];
} jc_vp8_quant;

typedef struct {
    uint32_t width, height, mb_w, mb_h;
    jc_bool br;          /* first partition */
    jc_bool parts[8];
    int nparts;
    /* segment and filter headers */
    int use_segment, update_map, absolute_delta;
    int seg_quant[4], seg_filter[4];
    uint8_t seg_proba[3];
    int filter_simple, filter_level, sharpness, use_lf_delta;
    int ref_lf_delta[4], mode_lf_delta[4];
    int filter_type; /* 0 none, 1 simple, 2 normal */
    jc_vp8_quant q[4];
    uint8_t proba[4][8][3][11];
    const uint8_t (*bands[4][17])[11]; /* bands[t][n] = proba[t][band of position n]: one load less per token */
    int use_skip, skip_p;
    jc_vp8_finfo fstr[4][2];
    /* per-row state */
    uint8_t *intra_t;     /* 4 per macroblock column */
    uint8_t intra_l[4];
    uint8_t *nz_t, *nzdc_t; /* per column */
    uint8_t nz_l, nzdc_l;
    jc_vp8_mbdata *mbd;   /* mb_w */
    jc_vp8_finfo *finfo;  /* mb_w */
    uint8_t *ytop, *utop, *vtop; /* unfiltered bottom row of the macroblock row above */
    uint8_t *Y, *U, *V;   /* planes, mb_w*16 (8) wide */
    size_t ys, uvs;
    const jc_vp8_ops *ops; /* pixel stages: jc_vp8_scalar_ops or a SIMD table */
    uint8_t work[JC_WORK_SIZE];
} jc_vp8_dec;

/* ---- headers ------------------------------------------------------------------------------- */

/* The 10-byte frame tag and key frame header, as WebPGetFeatures checks them (chunk_size: the
 * declared size of the VP8 chunk). */
static int jc_vp8_info(const uint8_t *d, size_t len, size_t chunk_size, uint32_t *w, uint32_t *h)
{
    if (len < 10) return 0;
    if (d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a) return 0;
    uint32_t bits = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16;
    if (bits & 1) return 0;              /* not a key frame */
    if (((bits >> 1) & 7) > 3) return 0; /* profile */
    if (!((bits >> 4) & 1)) return 0;    /* invisible */
    if ((bits >> 5) >= chunk_size) return 0;
    *w = ((uint32_t)d[7] << 8 | d[6]) & 0x3fff;
    *h = ((uint32_t)d[9] << 8 | d[8]) & 0x3fff;
    return *w != 0 && *h != 0;
}

static int jc_vp8_headers(jc_vp8_dec *dec, const uint8_t *buf, size_t size, char *err, size_t errcap)
{
    if (size < 4) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 frame header truncated");
    uint32_t bits = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16;
    int key = !(bits & 1);
    if (((bits >> 1) & 7) > 3) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: VP8 profile %u", (bits >> 1) & 7);
    if (!((bits >> 4) & 1)) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "webp: VP8 frame not displayable");
    if (!key) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "webp: VP8 frame is not a key frame");
    size_t plen = bits >> 5;
    buf += 3;
    size -= 3;
    if (size < 7) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 picture header truncated");
    if (buf[0] != 0x9d || buf[1] != 0x01 || buf[2] != 0x2a) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad VP8 start code");
    dec->width = ((uint32_t)buf[4] << 8 | buf[3]) & 0x3fff;
    dec->height = ((uint32_t)buf[6] << 8 | buf[5]) & 0x3fff;
    dec->mb_w = (dec->width + 15) >> 4;
    dec->mb_h = (dec->height + 15) >> 4;
    buf += 7;
    size -= 7;
    if (plen > size) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 first partition of %zu bytes, %zu left", plen, size);
    jc_bool *br = &dec->br;
    jc_bool_init(br, buf, plen);
    buf += plen;
    size -= plen;
    (void)jc_bool_bit(br, 0x80); /* colour space */
    (void)jc_bool_bit(br, 0x80); /* clamping type: libwebp always clamps */
    /* segment header */
    dec->use_segment = jc_bool_bit(br, 0x80);
    dec->update_map = 0;
    dec->absolute_delta = 1;
    memset(dec->seg_quant, 0, sizeof dec->seg_quant);
    memset(dec->seg_filter, 0, sizeof dec->seg_filter);
    memset(dec->seg_proba, 255, sizeof dec->seg_proba);
    if (dec->use_segment) {
        dec->update_map = jc_bool_bit(br, 0x80);
        if (jc_bool_bit(br, 0x80)) {
            dec->absolute_delta = jc_bool_bit(br, 0x80);
            for (int s = 0; s < 4; s++) dec->seg_quant[s] = jc_bool_bit(br, 0x80) ? jc_bool_svalue(br, 7) : 0;
            for (int s = 0; s < 4; s++) dec->seg_filter[s] = jc_bool_bit(br, 0x80) ? jc_bool_svalue(br, 6) : 0;
        }
        if (dec->update_map)
            for (int s = 0; s < 3; s++) dec->seg_proba[s] = jc_bool_bit(br, 0x80) ? (uint8_t)jc_bool_value(br, 8) : 255;
    }
    if (br->eof) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 segment header truncated");
    /* filter header */
    dec->filter_simple = jc_bool_bit(br, 0x80);
    dec->filter_level = (int)jc_bool_value(br, 6);
    dec->sharpness = (int)jc_bool_value(br, 3);
    dec->use_lf_delta = jc_bool_bit(br, 0x80);
    memset(dec->ref_lf_delta, 0, sizeof dec->ref_lf_delta);
    memset(dec->mode_lf_delta, 0, sizeof dec->mode_lf_delta);
    if (dec->use_lf_delta && jc_bool_bit(br, 0x80)) {
        for (int i = 0; i < 4; i++)
            if (jc_bool_bit(br, 0x80)) dec->ref_lf_delta[i] = jc_bool_svalue(br, 6);
        for (int i = 0; i < 4; i++)
            if (jc_bool_bit(br, 0x80)) dec->mode_lf_delta[i] = jc_bool_svalue(br, 6);
    }
    dec->filter_type = dec->filter_level == 0 ? 0 : dec->filter_simple ? 1 : 2;
    if (br->eof) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 filter header truncated");
    /* partitions: sizes of all but the last (3 bytes each), the last takes the rest */
    dec->nparts = 1 << jc_bool_value(br, 2);
    size_t last = (size_t)dec->nparts - 1;
    if (size < 3 * last) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 partition table truncated");
    const uint8_t *sz = buf, *part = buf + 3 * last;
    size_t left = size - 3 * last;
    for (size_t p = 0; p < last; p++) {
        size_t ps = (size_t)sz[0] | (size_t)sz[1] << 8 | (size_t)sz[2] << 16;
        if (ps > left) ps = left;
        jc_bool_init(&dec->parts[p], part, ps);
        part += ps;
        left -= ps;
        sz += 3;
    }
    jc_bool_init(&dec->parts[last], part, left);
    if (part >= buf + size) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 partitions truncated");
    /* quantizers */
    int base_q = (int)jc_bool_value(br, 7);
    int dq[5];
    for (int i = 0; i < 5; i++) dq[i] = jc_bool_bit(br, 0x80) ? jc_bool_svalue(br, 4) : 0;
    for (int s = 0; s < 4; s++) {
        int q;
        if (dec->use_segment) {
            q = dec->seg_quant[s] + (dec->absolute_delta ? 0 : base_q);
        } else if (s > 0) {
            dec->q[s] = dec->q[0];
            continue;
        } else {
            q = base_q;
        }
#define JC_CLIPQ(v, m) ((v) < 0 ? 0 : (v) > (m) ? (m) : (v))
        jc_vp8_quant *m = &dec->q[s];
        m->y1[0] = jc_vp8_dc_table[JC_CLIPQ(q + dq[0], 127)];
        m->y1[1] = jc_vp8_ac_table[JC_CLIPQ(q, 127)];
        m->y2[0] = jc_vp8_dc_table[JC_CLIPQ(q + dq[1], 127)] * 2;
        m->y2[1] = (jc_vp8_ac_table[JC_CLIPQ(q + dq[2], 127)] * 101581) >> 16;
        if (m->y2[1] < 8) m->y2[1] = 8;
        m->uv[0] = jc_vp8_dc_table[JC_CLIPQ(q + dq[3], 117)];
        m->uv[1] = jc_vp8_ac_table[JC_CLIPQ(q + dq[4], 127)];
#undef JC_CLIPQ
    }
    (void)jc_bool_bit(br, 0x80); /* refresh entropy probabilities: irrelevant for one frame */
    for (int t = 0; t < 4; t++)
        for (int b = 0; b < 8; b++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 11; p++)
                    dec->proba[t][b][c][p] = jc_bool_bit(br, jc_vp8_coeff_update[t][b][c][p]) ? (uint8_t)jc_bool_value(br, 8)
                                                                                               : jc_vp8_coeff_proba0[t][b][c][p];
    for (int t = 0; t < 4; t++)
        for (int n = 0; n < 17; n++) dec->bands[t][n] = dec->proba[t][jc_vp8_bands[n]];
    dec->use_skip = jc_bool_bit(br, 0x80);
    dec->skip_p = dec->use_skip ? (int)jc_bool_value(br, 8) : 0;
    /* loop filter strengths per segment and block type */
    memset(dec->fstr, 0, sizeof dec->fstr);
    if (dec->filter_type > 0) {
        for (int s = 0; s < 4; s++) {
            int base = dec->filter_level;
            if (dec->use_segment) base = dec->seg_filter[s] + (dec->absolute_delta ? 0 : dec->filter_level);
            for (int i4 = 0; i4 <= 1; i4++) {
                jc_vp8_finfo *f = &dec->fstr[s][i4];
                int level = base;
                if (dec->use_lf_delta) level += dec->ref_lf_delta[0] + (i4 ? dec->mode_lf_delta[0] : 0);
                level = level < 0 ? 0 : level > 63 ? 63 : level;
                if (level > 0) {
                    int il = level;
                    if (dec->sharpness > 0) {
                        il >>= dec->sharpness > 4 ? 2 : 1;
                        if (il > 9 - dec->sharpness) il = 9 - dec->sharpness;
                    }
                    if (il < 1) il = 1;
                    f->ilevel = (uint8_t)il;
                    f->limit = (uint8_t)(2 * level + il);
                    f->hev = (uint8_t)(level >= 40 ? 2 : level >= 15 ? 1 : 0);
                } else {
                    f->limit = 0;
                }
                f->inner = (uint8_t)i4;
            }
        }
    }
    return JC_OK;
}

/* ---- modes and coefficients ---------------------------------------------------------------- */

static void jc_vp8_parse_modes(jc_vp8_dec *dec, uint32_t mb_x)
{
    jc_bool *br = &dec->br;
    uint8_t *top = dec->intra_t + 4 * (size_t)mb_x, *left = dec->intra_l;
    jc_vp8_mbdata *b = &dec->mbd[mb_x];
    if (dec->update_map)
        b->segment = (uint8_t)(!jc_bool_bit(br, dec->seg_proba[0]) ? jc_bool_bit(br, dec->seg_proba[1])
                                                                     : jc_bool_bit(br, dec->seg_proba[2]) + 2);
    else
        b->segment = 0;
    b->skip = dec->use_skip ? (uint8_t)jc_bool_bit(br, dec->skip_p) : 0;
    b->is_i4x4 = !jc_bool_bit(br, 145);
    if (!b->is_i4x4) {
        int ym = jc_bool_bit(br, 156) ? (jc_bool_bit(br, 128) ? JC_TM : JC_HE) : (jc_bool_bit(br, 163) ? JC_VE : JC_DC);
        b->imodes[0] = (uint8_t)ym;
        memset(top, ym, 4);
        memset(left, ym, 4);
    } else {
        uint8_t *modes = b->imodes;
        for (int y = 0; y < 4; y++) {
            int ym = left[y];
            for (int x = 0; x < 4; x++) {
                const uint8_t *p = jc_vp8_bmode_proba[top[x]][ym];
                if (!jc_bool_bit(br, p[0])) ym = JC_DC;
                else if (!jc_bool_bit(br, p[1])) ym = JC_TM;
                else if (!jc_bool_bit(br, p[2])) ym = JC_VE;
                else if (!jc_bool_bit(br, p[3])) ym = !jc_bool_bit(br, p[4]) ? JC_HE : !jc_bool_bit(br, p[5]) ? JC_RD : JC_VR;
                else ym = !jc_bool_bit(br, p[6]) ? JC_LD : !jc_bool_bit(br, p[7]) ? JC_VL : !jc_bool_bit(br, p[8]) ? JC_HD : JC_HU;
                top[x] = (uint8_t)ym;
            }
            memcpy(modes, top, 4);
            modes += 4;
            left[y] = (uint8_t)ym;
        }
    }
    b->uvmode = (uint8_t)(!jc_bool_bit(br, 142) ? JC_DC : !jc_bool_bit(br, 114) ? JC_VE : jc_bool_bit(br, 183) ? JC_TM : JC_HE);
}

static int jc_vp8_large(jc_bool *br, const uint8_t *p)
{
    int v;
    if (!jc_bool_bit(br, p[3])) {
        v = !jc_bool_bit(br, p[4]) ? 2 : 3 + jc_bool_bit(br, p[5]);
    } else if (!jc_bool_bit(br, p[6])) {
        if (!jc_bool_bit(br, p[7])) {
            v = 5 + jc_bool_bit(br, 159);
        } else {
            v = 7 + 2 * jc_bool_bit(br, 165);
            v += jc_bool_bit(br, 145);
        }
    } else {
        static const uint8_t *const cats[4] = {jc_vp8_cat3, jc_vp8_cat4, jc_vp8_cat5, jc_vp8_cat6};
        const int bit1 = jc_bool_bit(br, p[8]);
        const int bit0 = jc_bool_bit(br, p[9 + bit1]);
        const int cat = 2 * bit1 + bit0;
        v = 0;
        for (const uint8_t *t = cats[cat]; *t; t++) v += v + jc_bool_bit(br, *t);
        v += 3 + (8 << cat);
    }
    return v;
}

/* Reads the tokens of one 4x4 block from position n; returns the position after the last
 * non-zero coefficient (libwebp's "nz"). Dequantized values are stored as int16 as libwebp
 * stores them. */
static int jc_vp8_coeffs(jc_bool *br, const uint8_t (*const *bp)[11], int ctx, const int dq[2], int n, int16_t *out)
{
    const uint8_t *p = bp[n][ctx];
    for (; n < 16; ++n) {
        if (!jc_bool_bit(br, p[0])) return n;
        while (!jc_bool_bit(br, p[1])) {
            p = bp[++n][0];
            if (n == 16) return 16;
        }
        const uint8_t (*pc)[11] = bp[n + 1];
        int v;
        if (!jc_bool_bit(br, p[2])) {
            v = 1;
            p = pc[1];
        } else {
            v = jc_vp8_large(br, p);
            p = pc[2];
        }
        out[jc_vp8_zigzag[n]] = (int16_t)(jc_bool_signed(br, v) * dq[n > 0]);
    }
    return 16;
}

static inline uint32_t jc_nz_bits(uint32_t nzc, int nz, int dc_nz)
{
    return (nzc << 2) | (uint32_t)(nz > 3 ? 3 : nz > 1 ? 2 : dc_nz);
}

static void jc_vp8_wht(const int16_t *in, int16_t *out)
{
    int tmp[16];
    for (int i = 0; i < 4; i++) {
        int a0 = in[0 + i] + in[12 + i], a1 = in[4 + i] + in[8 + i];
        int a2 = in[4 + i] - in[8 + i], a3 = in[0 + i] - in[12 + i];
        tmp[0 + i] = a0 + a1;
        tmp[8 + i] = a0 - a1;
        tmp[4 + i] = a3 + a2;
        tmp[12 + i] = a3 - a2;
    }
    for (int i = 0; i < 4; i++) {
        int dc = tmp[0 + i * 4] + 3;
        int a0 = dc + tmp[3 + i * 4], a1 = tmp[1 + i * 4] + tmp[2 + i * 4];
        int a2 = tmp[1 + i * 4] - tmp[2 + i * 4], a3 = dc - tmp[3 + i * 4];
        out[0] = (int16_t)((a0 + a1) >> 3);
        out[16] = (int16_t)((a3 + a2) >> 3);
        out[32] = (int16_t)((a0 - a1) >> 3);
        out[48] = (int16_t)((a3 - a2) >> 3);
        out += 64;
    }
}

/* Returns 1 when the macroblock has no non-zero coefficient. */
static int jc_vp8_residuals(jc_vp8_dec *dec, uint32_t mb_x, jc_bool *tbr)
{
    jc_vp8_mbdata *b = &dec->mbd[mb_x];
    const jc_vp8_quant *q = &dec->q[b->segment];
    int16_t *dst = b->coeffs;
    uint8_t *tnz_p = &dec->nz_t[mb_x], *tdc_p = &dec->nzdc_t[mb_x];
    uint32_t nz_y = 0, nz_uv = 0;
    int first;
    int ac;
    memset(dst, 0, 384 * sizeof *dst);
    if (!b->is_i4x4) {
        int16_t dc[16];
        memset(dc, 0, sizeof dc);
        int ctx = *tdc_p + dec->nzdc_l;
        int nz = jc_vp8_coeffs(tbr, dec->bands[1], ctx, q->y2, 0, dc);
        *tdc_p = dec->nzdc_l = (uint8_t)(nz > 0);
        if (nz > 1) {
            jc_vp8_wht(dc, dst);
        } else {
            int dc0 = (dc[0] + 3) >> 3;
            for (int i = 0; i < 256; i += 16) dst[i] = (int16_t)dc0;
        }
        first = 1;
        ac = 0;
    } else {
        first = 0;
        ac = 3;
    }
    uint32_t tnz = *tnz_p & 0x0f, lnz = dec->nz_l & 0x0f;
    for (int y = 0; y < 4; y++) {
        uint32_t l = lnz & 1, nzc = 0;
        for (int x = 0; x < 4; x++) {
            int ctx = (int)(l + (tnz & 1));
            int nz = jc_vp8_coeffs(tbr, dec->bands[ac], ctx, q->y1, first, dst);
            l = nz > first;
            tnz = (tnz >> 1) | (l << 7);
            nzc = jc_nz_bits(nzc, nz, dst[0] != 0);
            dst += 16;
        }
        tnz >>= 4;
        lnz = (lnz >> 1) | (l << 7);
        nz_y = (nz_y << 8) | nzc;
    }
    uint32_t out_t = tnz, out_l = lnz >> 4;
    for (int ch = 0; ch < 4; ch += 2) {
        uint32_t nzc = 0;
        tnz = (uint32_t)*tnz_p >> (4 + ch);
        lnz = (uint32_t)dec->nz_l >> (4 + ch);
        for (int y = 0; y < 2; y++) {
            uint32_t l = lnz & 1;
            for (int x = 0; x < 2; x++) {
                int ctx = (int)(l + (tnz & 1));
                int nz = jc_vp8_coeffs(tbr, dec->bands[2], ctx, q->uv, 0, dst);
                l = nz > 0;
                tnz = (tnz >> 1) | (l << 3);
                nzc = jc_nz_bits(nzc, nz, dst[0] != 0);
                dst += 16;
            }
            tnz >>= 2;
            lnz = (lnz >> 1) | (l << 5);
        }
        nz_uv |= nzc << (4 * ch);
        out_t |= (tnz << 4) << ch;
        out_l |= (lnz & 0xf0) << ch;
    }
    *tnz_p = (uint8_t)out_t;
    dec->nz_l = (uint8_t)out_l;
    b->nz_y = nz_y;
    b->nz_uv = nz_uv;
    return !(nz_y | nz_uv);
}

/* ---- reconstruction ------------------------------------------------------------------------ */

static inline uint8_t jc_clip8b(int v)
{
    return (uint8_t)(!(v & ~0xff) ? v : v < 0 ? 0 : 255);
}

/* (a * k) >> 16 with the product wrapped to 32 bits: hostile coefficients can make the second
 * pass overflow, and a wrapped multiply (what the CPU and the SIMD twins do) is defined where a
 * signed overflow is not. Equal to the plain product wherever that fits. */
static inline int jc_vp8_mulk(int a, uint32_t k)
{
    return (int)(int32_t)((uint32_t)a * k) >> 16;
}
#define JC_MUL1(a) (jc_vp8_mulk((a), 20091u) + (a))
#define JC_MUL2(a) jc_vp8_mulk((a), 35468u)
#define JC_STORE(x, y, v) dst[(x) + (y) * JC_BPS] = jc_clip8b(dst[(x) + (y) * JC_BPS] + ((v) >> 3))

static void jc_vp8_idct(const int16_t *in, uint8_t *dst)
{
    int C[16], *tmp = C;
    for (int i = 0; i < 4; i++) {
        const int a = in[0] + in[8], b = in[0] - in[8];
        const int c = JC_MUL2(in[4]) - JC_MUL1(in[12]);
        const int d = JC_MUL1(in[4]) + JC_MUL2(in[12]);
        tmp[0] = a + d;
        tmp[1] = b + c;
        tmp[2] = b - c;
        tmp[3] = a - d;
        tmp += 4;
        in++;
    }
    tmp = C;
    for (int i = 0; i < 4; i++) {
        const int dc = tmp[0] + 4;
        const int a = dc + tmp[8], b = dc - tmp[8];
        const int c = JC_MUL2(tmp[4]) - JC_MUL1(tmp[12]);
        const int d = JC_MUL1(tmp[4]) + JC_MUL2(tmp[12]);
        JC_STORE(0, 0, a + d);
        JC_STORE(1, 0, b + c);
        JC_STORE(2, 0, b - c);
        JC_STORE(3, 0, a - d);
        tmp++;
        dst += JC_BPS;
    }
}

/* Only coefficients 0, 1 and 4 non-zero: same result as jc_vp8_idct, fewer operations. */
static void jc_vp8_idct_ac3(const int16_t *in, uint8_t *dst)
{
    const int a = in[0] + 4;
    const int c4 = JC_MUL2(in[4]), d4 = JC_MUL1(in[4]);
    const int c1 = JC_MUL2(in[1]), d1 = JC_MUL1(in[1]);
    const int rows[4] = {a + d4, a + c4, a - c4, a - d4};
    for (int y = 0; y < 4; y++) {
        const int DC = rows[y];
        JC_STORE(0, y, DC + d1);
        JC_STORE(1, y, DC + c1);
        JC_STORE(2, y, DC - c1);
        JC_STORE(3, y, DC - d1);
    }
}

static void jc_vp8_idct_dc(const int16_t *in, uint8_t *dst)
{
    const int DC = in[0] + 4;
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++) JC_STORE(i, j, DC);
}
#undef JC_STORE

static inline void jc_vp8_transform(const jc_vp8_ops *ops, uint32_t bits, const int16_t *src, uint8_t *dst)
{
    switch (bits >> 30) {
    case 3: ops->idct(src, dst); break;
    case 2: jc_vp8_idct_ac3(src, dst); break;
    case 1: ops->idct_dc(src, dst); break;
    default: break;
    }
}

static void jc_vp8_transform_uv(const jc_vp8_ops *ops, uint32_t bits, const int16_t *src, uint8_t *dst)
{
    if (!(bits & 0xff)) return;
    if (bits & 0xaa) {
        ops->idct(src, dst);
        ops->idct(src + 16, dst + 4);
        ops->idct(src + 32, dst + 4 * JC_BPS);
        ops->idct(src + 48, dst + 4 * JC_BPS + 4);
    } else {
        if (src[0]) ops->idct_dc(src, dst);
        if (src[16]) ops->idct_dc(src + 16, dst + 4);
        if (src[32]) ops->idct_dc(src + 32, dst + 4 * JC_BPS);
        if (src[48]) ops->idct_dc(src + 48, dst + 4 * JC_BPS + 4);
    }
}

#define JC_AVG3(a, b, c) ((uint8_t)(((a) + 2 * (b) + (c) + 2) >> 2))
#define JC_AVG2(a, b) (((a) + (b) + 1) >> 1)
#define JC_DST(x, y) dst[(x) + (y) * JC_BPS]

static void jc_pred_tm(uint8_t *dst, int size)
{
    const uint8_t *top = dst - JC_BPS;
    const int tl = top[-1];
    for (int y = 0; y < size; y++) {
        const int l = dst[-1] - tl;
        for (int x = 0; x < size; x++) dst[x] = jc_clip8b(top[x] + l);
        dst += JC_BPS;
    }
}

static void jc_pred_fill(uint8_t *dst, int size, int v)
{
    for (int j = 0; j < size; j++) memset(dst + j * JC_BPS, v, (size_t)size);
}

/* 16x16 luma (size 16) or 8x8 chroma (size 8) prediction; mode after the edge adjustment. */
static void jc_pred_block(uint8_t *dst, int size, int mode)
{
    const int sh = size == 16 ? 4 : 3;
    int dc;
    switch (mode) {
    case JC_TM: jc_pred_tm(dst, size); break;
    case JC_VE:
        for (int j = 0; j < size; j++) memcpy(dst + j * JC_BPS, dst - JC_BPS, (size_t)size);
        break;
    case JC_HE:
        for (int j = 0; j < size; j++) memset(dst + j * JC_BPS, dst[j * JC_BPS - 1], (size_t)size);
        break;
    case JC_DC:
        dc = size;
        for (int j = 0; j < size; j++) dc += dst[j * JC_BPS - 1] + dst[j - JC_BPS];
        jc_pred_fill(dst, size, dc >> (sh + 1));
        break;
    case JC_DC_NOTOP:
        dc = size >> 1;
        for (int j = 0; j < size; j++) dc += dst[j * JC_BPS - 1];
        jc_pred_fill(dst, size, dc >> sh);
        break;
    case JC_DC_NOLEFT:
        dc = size >> 1;
        for (int j = 0; j < size; j++) dc += dst[j - JC_BPS];
        jc_pred_fill(dst, size, dc >> sh);
        break;
    default: jc_pred_fill(dst, size, 0x80); break;
    }
}

static void jc_pred4(uint8_t *dst, int mode)
{
    const uint8_t *top = dst - JC_BPS;
    const int I = dst[-1], J = dst[-1 + JC_BPS], K = dst[-1 + 2 * JC_BPS], L = dst[-1 + 3 * JC_BPS];
    const int X = top[-1], A = top[0], B = top[1], C = top[2], D = top[3];
    const int E = top[4], F = top[5], G = top[6], H = top[7];
    switch (mode) {
    case JC_DC: {
        uint32_t dc = 4;
        for (int i = 0; i < 4; i++) dc += (uint32_t)top[i] + dst[-1 + i * JC_BPS];
        jc_pred_fill(dst, 4, (int)(dc >> 3));
        break;
    }
    case JC_TM: jc_pred_tm(dst, 4); break;
    case JC_VE: {
        const uint8_t v[4] = {JC_AVG3(X, A, B), JC_AVG3(A, B, C), JC_AVG3(B, C, D), JC_AVG3(C, D, E)};
        for (int i = 0; i < 4; i++) memcpy(dst + i * JC_BPS, v, 4);
        break;
    }
    case JC_HE:
        memset(dst, JC_AVG3(X, I, J), 4);
        memset(dst + JC_BPS, JC_AVG3(I, J, K), 4);
        memset(dst + 2 * JC_BPS, JC_AVG3(J, K, L), 4);
        memset(dst + 3 * JC_BPS, JC_AVG3(K, L, L), 4);
        break;
    case JC_RD:
        JC_DST(0, 3) = JC_AVG3(J, K, L);
        JC_DST(1, 3) = JC_DST(0, 2) = JC_AVG3(I, J, K);
        JC_DST(2, 3) = JC_DST(1, 2) = JC_DST(0, 1) = JC_AVG3(X, I, J);
        JC_DST(3, 3) = JC_DST(2, 2) = JC_DST(1, 1) = JC_DST(0, 0) = JC_AVG3(A, X, I);
        JC_DST(3, 2) = JC_DST(2, 1) = JC_DST(1, 0) = JC_AVG3(B, A, X);
        JC_DST(3, 1) = JC_DST(2, 0) = JC_AVG3(C, B, A);
        JC_DST(3, 0) = JC_AVG3(D, C, B);
        break;
    case JC_LD:
        JC_DST(0, 0) = JC_AVG3(A, B, C);
        JC_DST(1, 0) = JC_DST(0, 1) = JC_AVG3(B, C, D);
        JC_DST(2, 0) = JC_DST(1, 1) = JC_DST(0, 2) = JC_AVG3(C, D, E);
        JC_DST(3, 0) = JC_DST(2, 1) = JC_DST(1, 2) = JC_DST(0, 3) = JC_AVG3(D, E, F);
        JC_DST(3, 1) = JC_DST(2, 2) = JC_DST(1, 3) = JC_AVG3(E, F, G);
        JC_DST(3, 2) = JC_DST(2, 3) = JC_AVG3(F, G, H);
        JC_DST(3, 3) = JC_AVG3(G, H, H);
        break;
    case JC_VR:
        JC_DST(0, 0) = JC_DST(1, 2) = (uint8_t)JC_AVG2(X, A);
        JC_DST(1, 0) = JC_DST(2, 2) = (uint8_t)JC_AVG2(A, B);
        JC_DST(2, 0) = JC_DST(3, 2) = (uint8_t)JC_AVG2(B, C);
        JC_DST(3, 0) = (uint8_t)JC_AVG2(C, D);
        JC_DST(0, 3) = JC_AVG3(K, J, I);
        JC_DST(0, 2) = JC_AVG3(J, I, X);
        JC_DST(0, 1) = JC_DST(1, 3) = JC_AVG3(I, X, A);
        JC_DST(1, 1) = JC_DST(2, 3) = JC_AVG3(X, A, B);
        JC_DST(2, 1) = JC_DST(3, 3) = JC_AVG3(A, B, C);
        JC_DST(3, 1) = JC_AVG3(B, C, D);
        break;
    case JC_VL:
        JC_DST(0, 0) = (uint8_t)JC_AVG2(A, B);
        JC_DST(1, 0) = JC_DST(0, 2) = (uint8_t)JC_AVG2(B, C);
        JC_DST(2, 0) = JC_DST(1, 2) = (uint8_t)JC_AVG2(C, D);
        JC_DST(3, 0) = JC_DST(2, 2) = (uint8_t)JC_AVG2(D, E);
        JC_DST(0, 1) = JC_AVG3(A, B, C);
        JC_DST(1, 1) = JC_DST(0, 3) = JC_AVG3(B, C, D);
        JC_DST(2, 1) = JC_DST(1, 3) = JC_AVG3(C, D, E);
        JC_DST(3, 1) = JC_DST(2, 3) = JC_AVG3(D, E, F);
        JC_DST(3, 2) = JC_AVG3(E, F, G);
        JC_DST(3, 3) = JC_AVG3(F, G, H);
        break;
    case JC_HU:
        JC_DST(0, 0) = (uint8_t)JC_AVG2(I, J);
        JC_DST(2, 0) = JC_DST(0, 1) = (uint8_t)JC_AVG2(J, K);
        JC_DST(2, 1) = JC_DST(0, 2) = (uint8_t)JC_AVG2(K, L);
        JC_DST(1, 0) = JC_AVG3(I, J, K);
        JC_DST(3, 0) = JC_DST(1, 1) = JC_AVG3(J, K, L);
        JC_DST(3, 1) = JC_DST(1, 2) = JC_AVG3(K, L, L);
        JC_DST(3, 2) = JC_DST(2, 2) = JC_DST(0, 3) = JC_DST(1, 3) = JC_DST(2, 3) = JC_DST(3, 3) = (uint8_t)L;
        break;
    default: /* JC_HD */
        JC_DST(0, 0) = JC_DST(2, 1) = (uint8_t)JC_AVG2(I, X);
        JC_DST(0, 1) = JC_DST(2, 2) = (uint8_t)JC_AVG2(J, I);
        JC_DST(0, 2) = JC_DST(2, 3) = (uint8_t)JC_AVG2(K, J);
        JC_DST(0, 3) = (uint8_t)JC_AVG2(L, K);
        JC_DST(3, 0) = JC_AVG3(A, B, C);
        JC_DST(2, 0) = JC_AVG3(X, A, B);
        JC_DST(1, 0) = JC_DST(3, 1) = JC_AVG3(I, X, A);
        JC_DST(1, 1) = JC_DST(3, 2) = JC_AVG3(J, I, X);
        JC_DST(1, 2) = JC_DST(3, 3) = JC_AVG3(K, J, I);
        JC_DST(1, 3) = JC_AVG3(L, K, J);
        break;
    }
}
#undef JC_DST

static int jc_edge_mode(uint32_t mb_x, uint32_t mb_y, int mode)
{
    if (mode != JC_DC) return mode;
    if (mb_x == 0) return mb_y == 0 ? JC_DC_NOTOPLEFT : JC_DC_NOLEFT;
    return mb_y == 0 ? JC_DC_NOTOP : JC_DC;
}

static const uint16_t jc_vp8_scan[16] = {
    0 + 0 * JC_BPS, 4 + 0 * JC_BPS, 8 + 0 * JC_BPS, 12 + 0 * JC_BPS, 0 + 4 * JC_BPS,  4 + 4 * JC_BPS,
    8 + 4 * JC_BPS, 12 + 4 * JC_BPS, 0 + 8 * JC_BPS, 4 + 8 * JC_BPS, 8 + 8 * JC_BPS,  12 + 8 * JC_BPS,
    0 + 12 * JC_BPS, 4 + 12 * JC_BPS, 8 + 12 * JC_BPS, 12 + 12 * JC_BPS};

static void jc_vp8_reconstruct_row(jc_vp8_dec *dec, uint32_t mb_y)
{
    uint8_t *const yd = dec->work + JC_YOFF, *const ud = dec->work + JC_UOFF, *const vd = dec->work + JC_VOFF;
    for (int j = 0; j < 16; j++) yd[j * JC_BPS - 1] = 129;
    for (int j = 0; j < 8; j++) ud[j * JC_BPS - 1] = vd[j * JC_BPS - 1] = 129;
    if (mb_y > 0) {
        yd[-1 - JC_BPS] = ud[-1 - JC_BPS] = vd[-1 - JC_BPS] = 129;
    } else {
        memset(yd - JC_BPS - 1, 127, 16 + 4 + 1);
        memset(ud - JC_BPS - 1, 127, 8 + 1);
        memset(vd - JC_BPS - 1, 127, 8 + 1);
    }
    for (uint32_t mb_x = 0; mb_x < dec->mb_w; mb_x++) {
        const jc_vp8_mbdata *b = &dec->mbd[mb_x];
        if (mb_x > 0) {
            for (int j = -1; j < 16; j++) memcpy(yd + j * JC_BPS - 4, yd + j * JC_BPS + 12, 4);
            for (int j = -1; j < 8; j++) {
                memcpy(ud + j * JC_BPS - 4, ud + j * JC_BPS + 4, 4);
                memcpy(vd + j * JC_BPS - 4, vd + j * JC_BPS + 4, 4);
            }
        }
        uint8_t *yt = dec->ytop + 16 * (size_t)mb_x, *ut = dec->utop + 8 * (size_t)mb_x, *vt = dec->vtop + 8 * (size_t)mb_x;
        if (mb_y > 0) {
            memcpy(yd - JC_BPS, yt, 16);
            memcpy(ud - JC_BPS, ut, 8);
            memcpy(vd - JC_BPS, vt, 8);
        }
        uint32_t bits = b->nz_y;
        if (b->is_i4x4) {
            uint8_t *tr = yd - JC_BPS + 16;
            if (mb_y > 0) {
                if (mb_x >= dec->mb_w - 1) memset(tr, yt[15], 4);
                else memcpy(tr, yt + 16, 4);
            }
            memcpy(tr + JC_BPS * 4, tr, 4);
            memcpy(tr + JC_BPS * 8, tr, 4);
            memcpy(tr + JC_BPS * 12, tr, 4);
            for (int n = 0; n < 16; n++, bits <<= 2) {
                uint8_t *dst = yd + jc_vp8_scan[n];
                jc_pred4(dst, b->imodes[n]);
                jc_vp8_transform(dec->ops, bits, b->coeffs + n * 16, dst);
            }
        } else {
            jc_pred_block(yd, 16, jc_edge_mode(mb_x, mb_y, b->imodes[0]));
            if (bits)
                for (int n = 0; n < 16; n++, bits <<= 2) jc_vp8_transform(dec->ops, bits, b->coeffs + n * 16, yd + jc_vp8_scan[n]);
        }
        int uvm = jc_edge_mode(mb_x, mb_y, b->uvmode);
        jc_pred_block(ud, 8, uvm);
        jc_pred_block(vd, 8, uvm);
        jc_vp8_transform_uv(dec->ops, b->nz_uv, b->coeffs + 256, ud);
        jc_vp8_transform_uv(dec->ops, b->nz_uv >> 8, b->coeffs + 320, vd);
        if (mb_y < dec->mb_h - 1) {
            memcpy(yt, yd + 15 * JC_BPS, 16);
            memcpy(ut, ud + 7 * JC_BPS, 8);
            memcpy(vt, vd + 7 * JC_BPS, 8);
        }
        uint8_t *yo = dec->Y + (size_t)mb_y * 16 * dec->ys + 16 * (size_t)mb_x;
        uint8_t *uo = dec->U + (size_t)mb_y * 8 * dec->uvs + 8 * (size_t)mb_x;
        uint8_t *vo = dec->V + (size_t)mb_y * 8 * dec->uvs + 8 * (size_t)mb_x;
        for (int j = 0; j < 16; j++) memcpy(yo + j * dec->ys, yd + j * JC_BPS, 16);
        for (int j = 0; j < 8; j++) {
            memcpy(uo + j * dec->uvs, ud + j * JC_BPS, 8);
            memcpy(vo + j * dec->uvs, vd + j * JC_BPS, 8);
        }
    }
}

/* ---- loop filter (RFC 6386 section 15, libwebp's arithmetic) -------------------------------- */

static inline int jc_sclip1(int v) { return v < -128 ? -128 : v > 127 ? 127 : v; }
static inline int jc_sclip2(int v) { return v < -16 ? -16 : v > 15 ? 15 : v; }
static inline uint8_t jc_uclip(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }
static inline int jc_abs(int v) { return v < 0 ? -v : v; }

static inline void jc_filter2(uint8_t *p, ptrdiff_t s)
{
    const int p1 = p[-2 * s], p0 = p[-s], q0 = p[0], q1 = p[s];
    const int a = 3 * (q0 - p0) + jc_sclip1(p1 - q1);
    const int a1 = jc_sclip2((a + 4) >> 3), a2 = jc_sclip2((a + 3) >> 3);
    p[-s] = jc_uclip(p0 + a2);
    p[0] = jc_uclip(q0 - a1);
}

static inline void jc_filter4(uint8_t *p, ptrdiff_t s)
{
    const int p1 = p[-2 * s], p0 = p[-s], q0 = p[0], q1 = p[s];
    const int a = 3 * (q0 - p0);
    const int a1 = jc_sclip2((a + 4) >> 3), a2 = jc_sclip2((a + 3) >> 3), a3 = (a1 + 1) >> 1;
    p[-2 * s] = jc_uclip(p1 + a3);
    p[-s] = jc_uclip(p0 + a2);
    p[0] = jc_uclip(q0 - a1);
    p[s] = jc_uclip(q1 - a3);
}

static inline void jc_filter6(uint8_t *p, ptrdiff_t s)
{
    const int p2 = p[-3 * s], p1 = p[-2 * s], p0 = p[-s], q0 = p[0], q1 = p[s], q2 = p[2 * s];
    const int a = jc_sclip1(3 * (q0 - p0) + jc_sclip1(p1 - q1));
    const int a1 = (27 * a + 63) >> 7, a2 = (18 * a + 63) >> 7, a3 = (9 * a + 63) >> 7;
    p[-3 * s] = jc_uclip(p2 + a3);
    p[-2 * s] = jc_uclip(p1 + a2);
    p[-s] = jc_uclip(p0 + a1);
    p[0] = jc_uclip(q0 - a1);
    p[s] = jc_uclip(q1 - a2);
    p[2 * s] = jc_uclip(q2 - a3);
}

static inline int jc_hev(const uint8_t *p, ptrdiff_t s, int t)
{
    return jc_abs(p[-2 * s] - p[-s]) > t || jc_abs(p[s] - p[0]) > t;
}

static inline int jc_needs(const uint8_t *p, ptrdiff_t s, int t)
{
    return 4 * jc_abs(p[-s] - p[0]) + jc_abs(p[-2 * s] - p[s]) <= t;
}

static inline int jc_needs2(const uint8_t *p, ptrdiff_t s, int t, int it)
{
    const int p3 = p[-4 * s], p2 = p[-3 * s], p1 = p[-2 * s], p0 = p[-s];
    const int q0 = p[0], q1 = p[s], q2 = p[2 * s], q3 = p[3 * s];
    if (4 * jc_abs(p0 - q0) + jc_abs(p1 - q1) > t) return 0;
    return jc_abs(p3 - p2) <= it && jc_abs(p2 - p1) <= it && jc_abs(p1 - p0) <= it && jc_abs(q3 - q2) <= it &&
           jc_abs(q2 - q1) <= it && jc_abs(q1 - q0) <= it;
}

/* Simple filter across one edge: hs steps across it, vs along it. */
static inline void jc_simple_edge(uint8_t *p, ptrdiff_t hs, ptrdiff_t vs, int thresh)
{
    const int t2 = 2 * thresh + 1;
    for (int i = 0; i < 16; i++, p += vs)
        if (jc_needs(p, hs, t2)) jc_filter2(p, hs);
}

/* Normal filter across one edge of n pixels; outer: macroblock edge (6-tap) or inner (4-tap). */
static inline void jc_normal_edge(uint8_t *p, ptrdiff_t hs, ptrdiff_t vs, int n, int thresh, int ithresh, int hev, int outer)
{
    const int t2 = 2 * thresh + 1;
    for (int i = 0; i < n; i++, p += vs) {
        if (!jc_needs2(p, hs, t2, ithresh)) continue;
        if (jc_hev(p, hs, hev)) jc_filter2(p, hs);
        else if (outer) jc_filter6(p, hs);
        else jc_filter4(p, hs);
    }
}

/* The scalar twins of the jc_vp8_ops loop-filter entries (kernels/kernels.h), one per direction
 * and edge kind, so that the steps and the filter choice are constants in each. */
static void jc_vp8_simple_v16(uint8_t *p, ptrdiff_t s, int t) { jc_simple_edge(p, s, 1, t); }
static void jc_vp8_simple_h16(uint8_t *p, ptrdiff_t s, int t) { jc_simple_edge(p, 1, s, t); }
static void jc_vp8_simple_v16i(uint8_t *p, ptrdiff_t s, int t)
{
    for (int k = 4; k < 16; k += 4) jc_simple_edge(p + k * s, s, 1, t);
}
static void jc_vp8_simple_h16i(uint8_t *p, ptrdiff_t s, int t)
{
    for (int k = 4; k < 16; k += 4) jc_simple_edge(p + k, 1, s, t);
}
static void jc_vp8_v16(uint8_t *p, ptrdiff_t s, int t, int it, int hev) { jc_normal_edge(p, s, 1, 16, t, it, hev, 1); }
static void jc_vp8_h16(uint8_t *p, ptrdiff_t s, int t, int it, int hev) { jc_normal_edge(p, 1, s, 16, t, it, hev, 1); }
static void jc_vp8_v16i(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    for (int k = 4; k < 16; k += 4) jc_normal_edge(p + k * s, s, 1, 16, t, it, hev, 0);
}
static void jc_vp8_h16i(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    for (int k = 4; k < 16; k += 4) jc_normal_edge(p + k, 1, s, 16, t, it, hev, 0);
}
static void jc_vp8_v8(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    jc_normal_edge(u, s, 1, 8, t, it, hev, 1);
    jc_normal_edge(v, s, 1, 8, t, it, hev, 1);
}
static void jc_vp8_h8(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    jc_normal_edge(u, 1, s, 8, t, it, hev, 1);
    jc_normal_edge(v, 1, s, 8, t, it, hev, 1);
}
static void jc_vp8_v8i(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    jc_normal_edge(u + 4 * s, s, 1, 8, t, it, hev, 0);
    jc_normal_edge(v + 4 * s, s, 1, 8, t, it, hev, 0);
}
static void jc_vp8_h8i(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    jc_normal_edge(u + 4, 1, s, 8, t, it, hev, 0);
    jc_normal_edge(v + 4, 1, s, 8, t, it, hev, 0);
}

static void jc_vp8_filter_row(jc_vp8_dec *dec, uint32_t mb_y)
{
    const jc_vp8_ops *ops = dec->ops;
    const ptrdiff_t ys = (ptrdiff_t)dec->ys, uvs = (ptrdiff_t)dec->uvs;
    for (uint32_t mb_x = 0; mb_x < dec->mb_w; mb_x++) {
        const jc_vp8_finfo *f = &dec->finfo[mb_x];
        const int limit = f->limit;
        if (limit == 0) continue;
        uint8_t *y = dec->Y + (size_t)mb_y * 16 * dec->ys + 16 * (size_t)mb_x;
        if (dec->filter_type == 1) {
            if (mb_x > 0) ops->simple_h16(y, ys, limit + 4);
            if (f->inner) ops->simple_h16i(y, ys, limit);
            if (mb_y > 0) ops->simple_v16(y, ys, limit + 4);
            if (f->inner) ops->simple_v16i(y, ys, limit);
        } else {
            uint8_t *u = dec->U + (size_t)mb_y * 8 * dec->uvs + 8 * (size_t)mb_x;
            uint8_t *v = dec->V + (size_t)mb_y * 8 * dec->uvs + 8 * (size_t)mb_x;
            const int il = f->ilevel, hev = f->hev;
            if (mb_x > 0) {
                ops->h16(y, ys, limit + 4, il, hev);
                ops->h8(u, v, uvs, limit + 4, il, hev);
            }
            if (f->inner) {
                ops->h16i(y, ys, limit, il, hev);
                ops->h8i(u, v, uvs, limit, il, hev);
            }
            if (mb_y > 0) {
                ops->v16(y, ys, limit + 4, il, hev);
                ops->v8(u, v, uvs, limit + 4, il, hev);
            }
            if (f->inner) {
                ops->v16i(y, ys, limit, il, hev);
                ops->v8i(u, v, uvs, limit, il, hev);
            }
        }
    }
}

/* ---- output: fancy upsampling and YUV->RGB (libwebp's yuv.h / upsampling.c) ----------------- */

static inline int jc_yuv_clip(int v)
{
    return (v & ~16383) == 0 ? v >> 6 : v < 0 ? 0 : 255;
}

static inline void jc_yuv_rgb(int y, int u, int v, uint8_t *o)
{
    const int yy = (y * 19077) >> 8;
    o[0] = (uint8_t)jc_yuv_clip(yy + ((v * 26149) >> 8) - 14234);
    o[1] = (uint8_t)jc_yuv_clip(yy - ((u * 6419) >> 8) - ((v * 13320) >> 8) + 8708);
    o[2] = (uint8_t)jc_yuv_clip(yy + ((u * 33050) >> 8) - 17685);
}

/* One output row pair (bot_y NULL: a single row) of len pixels from chroma rows tu/tv (above)
 * and cu/cv (below); u and v travel packed in one word (u low, v << 16) as in libwebp. */
static void jc_upsample_pair(const uint8_t *top_y, const uint8_t *bot_y, const uint8_t *tu, const uint8_t *tv,
                             const uint8_t *cu, const uint8_t *cv, uint8_t *td, uint8_t *bd, uint32_t len)
{
#define JC_LOAD_UV(u, v) ((uint32_t)(u) | ((uint32_t)(v) << 16))
    const uint32_t last = (len - 1) >> 1;
    uint32_t tl = JC_LOAD_UV(tu[0], tv[0]), l = JC_LOAD_UV(cu[0], cv[0]);
    {
        const uint32_t uv0 = (3 * tl + l + 0x00020002u) >> 2;
        jc_yuv_rgb(top_y[0], (int)(uv0 & 0xff), (int)(uv0 >> 16), td);
    }
    if (bot_y) {
        const uint32_t uv0 = (3 * l + tl + 0x00020002u) >> 2;
        jc_yuv_rgb(bot_y[0], (int)(uv0 & 0xff), (int)(uv0 >> 16), bd);
    }
    for (uint32_t x = 1; x <= last; x++) {
        const uint32_t t = JC_LOAD_UV(tu[x], tv[x]), uv = JC_LOAD_UV(cu[x], cv[x]);
        const uint32_t avg = tl + t + l + uv + 0x00080008u;
        const uint32_t d12 = (avg + 2 * (t + l)) >> 3, d03 = (avg + 2 * (tl + uv)) >> 3;
        uint32_t a = (d12 + tl) >> 1, b = (d03 + t) >> 1;
        jc_yuv_rgb(top_y[2 * x - 1], (int)(a & 0xff), (int)(a >> 16), td + (2 * x - 1) * 3);
        jc_yuv_rgb(top_y[2 * x], (int)(b & 0xff), (int)(b >> 16), td + (2 * x) * 3);
        if (bot_y) {
            a = (d03 + l) >> 1;
            b = (d12 + uv) >> 1;
            jc_yuv_rgb(bot_y[2 * x - 1], (int)(a & 0xff), (int)(a >> 16), bd + (2 * x - 1) * 3);
            jc_yuv_rgb(bot_y[2 * x], (int)(b & 0xff), (int)(b >> 16), bd + (2 * x) * 3);
        }
        tl = t;
        l = uv;
    }
    if (!(len & 1)) {
        const uint32_t uv0 = (3 * tl + l + 0x00020002u) >> 2;
        jc_yuv_rgb(top_y[len - 1], (int)(uv0 & 0xff), (int)(uv0 >> 16), td + (len - 1) * 3);
        if (bot_y) {
            const uint32_t uv1 = (3 * l + tl + 0x00020002u) >> 2;
            jc_yuv_rgb(bot_y[len - 1], (int)(uv1 & 0xff), (int)(uv1 >> 16), bd + (len - 1) * 3);
        }
    }
#undef JC_LOAD_UV
}

/* The scalar pixel stages: the reference every SIMD table (kernels/, jc_cpu_vp8_ops) matches. */
static const jc_vp8_ops jc_vp8_scalar_ops = {
    "scalar",
    jc_vp8_simple_v16, jc_vp8_simple_h16, jc_vp8_simple_v16i, jc_vp8_simple_h16i,
    jc_vp8_v16, jc_vp8_h16, jc_vp8_v16i, jc_vp8_h16i,
    jc_vp8_v8, jc_vp8_h8, jc_vp8_v8i, jc_vp8_h8i,
    jc_upsample_pair,
    jc_vp8_idct, jc_vp8_idct_dc,
};

static void jc_vp8_emit_rgb(const jc_vp8_dec *dec, uint8_t *rgb, size_t stride)
{
    const uint32_t w = dec->width, h = dec->height;
    const uint8_t *Y = dec->Y, *U = dec->U, *V = dec->V;
    const size_t ys = dec->ys, uvs = dec->uvs;
    void (*const up)(const uint8_t *, const uint8_t *, const uint8_t *, const uint8_t *, const uint8_t *, const uint8_t *,
                     uint8_t *, uint8_t *, uint32_t) = dec->ops->upsample_pair;
    up(Y, NULL, U, V, U, V, rgb, NULL, w);
    uint32_t y = 1;
    for (; y + 1 < h; y += 2) {
        const size_t k = (y + 1) / 2;
        up(Y + y * ys, Y + (y + 1) * ys, U + (k - 1) * uvs, V + (k - 1) * uvs, U + k * uvs, V + k * uvs,
                         rgb + y * stride, rgb + (y + 1) * stride, w);
    }
    if (!(h & 1) && h > 1) {
        const size_t k = (h - 1) / 2;
        up(Y + (h - 1) * ys, NULL, U + k * uvs, V + k * uvs, U + k * uvs, V + k * uvs, rgb + (h - 1) * stride,
                         NULL, w);
    }
}

/* ---- driver --------------------------------------------------------------------------------- */

/* Decodes a VP8 key frame (data: the chunk payload, padding byte included as libwebp counts it)
 * into packed RGB rows of `stride` bytes. alpha_check, when not NULL, is called once the frame
 * header is valid (libwebp decodes the alpha plane alongside the first rows): it returns a
 * status. The frame's size must have been checked by the caller (jc_vp8_info). */
typedef int (*jc_vp8_alpha_fn)(void *ctx, uint32_t w, uint32_t h, char *err, size_t errcap);

static int jc_vp8_decode(const uint8_t *data, size_t len, uint8_t *rgb, size_t stride, jc_vp8_alpha_fn alpha_check,
                         void *alpha_ctx, char *err, size_t errcap)
{
    jc_vp8_dec *dec = (jc_vp8_dec *)JCLIP_MALLOC(sizeof(jc_vp8_dec));
    if (!dec) return jc_fail(err, errcap, JC_ERR_NOMEM, "webp: out of memory");
    memset(dec, 0, offsetof(jc_vp8_dec, work));
    {
        const jc_vp8_ops *simd = jc_cpu_vp8_ops();
        dec->ops = simd ? simd : &jc_vp8_scalar_ops;
    }
    uint8_t *mem = NULL;
    int rc = jc_vp8_headers(dec, data, len, err, errcap);
    if (rc != JC_OK) goto done;
    {
        const size_t mw = dec->mb_w, mh = dec->mb_h;
        dec->ys = mw * 16;
        dec->uvs = mw * 8;
        const size_t ysz = dec->ys * mh * 16, uvsz = dec->uvs * mh * 8;
        size_t total = ysz + 2 * uvsz + 4 * mw + 2 * mw + 32 * mw + mw * sizeof(jc_vp8_mbdata) + mw * sizeof(jc_vp8_finfo) + 64;
        mem = (uint8_t *)JCLIP_MALLOC(total);
        if (!mem) {
            rc = jc_fail(err, errcap, JC_ERR_NOMEM, "webp: out of memory");
            goto done;
        }
        uint8_t *p = mem;
        dec->mbd = (jc_vp8_mbdata *)p;
        p += mw * sizeof(jc_vp8_mbdata);
        dec->finfo = (jc_vp8_finfo *)p;
        p += mw * sizeof(jc_vp8_finfo);
        dec->Y = p;
        p += ysz;
        dec->U = p;
        p += uvsz;
        dec->V = p;
        p += uvsz;
        dec->intra_t = p;
        p += 4 * mw;
        dec->nz_t = p;
        p += mw;
        dec->nzdc_t = p;
        p += mw;
        dec->ytop = p;
        p += 16 * mw;
        dec->utop = p;
        p += 8 * mw;
        dec->vtop = p;
        memset(dec->intra_t, JC_DC, 4 * mw);
        memset(dec->nz_t, 0, 2 * mw);
        memset(dec->intra_l, JC_DC, 4);
        dec->nz_l = dec->nzdc_l = 0;
    }
    if (alpha_check) {
        rc = alpha_check(alpha_ctx, dec->width, dec->height, err, errcap);
        if (rc != JC_OK) goto done;
    }
    for (uint32_t mb_y = 0; mb_y < dec->mb_h; mb_y++) {
        jc_bool *tbr = &dec->parts[mb_y & (uint32_t)(dec->nparts - 1)];
        for (uint32_t mb_x = 0; mb_x < dec->mb_w; mb_x++) jc_vp8_parse_modes(dec, mb_x);
        if (dec->br.eof) {
            rc = jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 first partition ends early (macroblock row %u)", mb_y);
            goto done;
        }
        for (uint32_t mb_x = 0; mb_x < dec->mb_w; mb_x++) {
            jc_vp8_mbdata *b = &dec->mbd[mb_x];
            int skip = dec->use_skip ? b->skip : 0;
            if (!skip) {
                skip = jc_vp8_residuals(dec, mb_x, tbr);
            } else {
                dec->nz_l = dec->nz_t[mb_x] = 0;
                if (!b->is_i4x4) dec->nzdc_l = dec->nzdc_t[mb_x] = 0;
                b->nz_y = b->nz_uv = 0;
            }
            if (dec->filter_type > 0) {
                dec->finfo[mb_x] = dec->fstr[b->segment][b->is_i4x4];
                dec->finfo[mb_x].inner |= (uint8_t)!skip;
            }
            if (tbr->eof) {
                rc = jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: VP8 data ends early (macroblock %u,%u)", mb_x, mb_y);
                goto done;
            }
        }
        dec->nz_l = dec->nzdc_l = 0;
        memset(dec->intra_l, JC_DC, 4);
        jc_vp8_reconstruct_row(dec, mb_y);
        if (dec->filter_type > 0) jc_vp8_filter_row(dec, mb_y);
    }
    jc_vp8_emit_rgb(dec, rgb, stride);
    rc = JC_OK;
done:
    JCLIP_FREE(mem);
    JCLIP_FREE(dec);
    return rc;
}
