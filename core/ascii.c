/* The character classes' table (ascii.h). Written by
 * scripts/ascii-table.py; tests/unit/test-ascii.c checks every byte
 * against the RFCs' definitions. A constant: no constructor fills it, so
 * it is in read-only memory and ready before any code runs. */
#include "ascii.h"

#define T BERTH_CH_TCHAR
#define F BERTH_CH_FIELD
#define R BERTH_CH_TARGET
#define D BERTH_CH_DIGIT
#define X BERTH_CH_HEXDIG
#define A BERTH_CH_ALPHA
#define W BERTH_CH_OWS
#define H BERTH_CH_REGNAME

const unsigned char berth_ascii[256] = {
    /* 00 01 02 03 04 05 06 07 */
    0, 0, 0, 0, 0, 0, 0, 0,
    /* 08 09 0a 0b 0c 0d 0e 0f */
    0, F|W, 0, 0, 0, 0, 0, 0,
    /* 10 11 12 13 14 15 16 17 */
    0, 0, 0, 0, 0, 0, 0, 0,
    /* 18 19 1a 1b 1c 1d 1e 1f */
    0, 0, 0, 0, 0, 0, 0, 0,
    /* 20 '!' '"' '#' '$' '%' '&' 27 */
    F|W, T|F|R|H, F, T|F, T|F|R|H, T|F|R|H, T|F|R|H, T|F|R|H,
    /* '(' ')' '*' '+' ',' '-' '.' '/' */
    F|R|H, F|R|H, T|F|R|H, T|F|R|H, F|R|H, T|F|R|H, T|F|R|H, F|R,
    /* '0' '1' '2' '3' '4' '5' '6' '7' */
    T|F|R|D|X|H, T|F|R|D|X|H, T|F|R|D|X|H, T|F|R|D|X|H, T|F|R|D|X|H, T|F|R|D|X|H, T|F|R|D|X|H, T|F|R|D|X|H,
    /* '8' '9' ':' ';' '<' '=' '>' '?' */
    T|F|R|D|X|H, T|F|R|D|X|H, F|R, F|R|H, F, F|R|H, F, F|R,
    /* '@' 'A' 'B' 'C' 'D' 'E' 'F' 'G' */
    F|R, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|A|H,
    /* 'H' 'I' 'J' 'K' 'L' 'M' 'N' 'O' */
    T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H,
    /* 'P' 'Q' 'R' 'S' 'T' 'U' 'V' 'W' */
    T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H,
    /* 'X' 'Y' 'Z' '[' 5c ']' '^' '_' */
    T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, F|R, F|R, F|R, T|F|R, T|F|R|H,
    /* '`' 'a' 'b' 'c' 'd' 'e' 'f' 'g' */
    T|F|R, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|X|A|H, T|F|R|A|H,
    /* 'h' 'i' 'j' 'k' 'l' 'm' 'n' 'o' */
    T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H,
    /* 'p' 'q' 'r' 's' 't' 'u' 'v' 'w' */
    T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, T|F|R|A|H,
    /* 'x' 'y' 'z' '{' '|' '}' '~' 7f */
    T|F|R|A|H, T|F|R|A|H, T|F|R|A|H, F|R, T|F|R, F|R, T|F|R|H, 0,
    /* 80 81 82 83 84 85 86 87 */
    F, F, F, F, F, F, F, F,
    /* 88 89 8a 8b 8c 8d 8e 8f */
    F, F, F, F, F, F, F, F,
    /* 90 91 92 93 94 95 96 97 */
    F, F, F, F, F, F, F, F,
    /* 98 99 9a 9b 9c 9d 9e 9f */
    F, F, F, F, F, F, F, F,
    /* a0 a1 a2 a3 a4 a5 a6 a7 */
    F, F, F, F, F, F, F, F,
    /* a8 a9 aa ab ac ad ae af */
    F, F, F, F, F, F, F, F,
    /* b0 b1 b2 b3 b4 b5 b6 b7 */
    F, F, F, F, F, F, F, F,
    /* b8 b9 ba bb bc bd be bf */
    F, F, F, F, F, F, F, F,
    /* c0 c1 c2 c3 c4 c5 c6 c7 */
    F, F, F, F, F, F, F, F,
    /* c8 c9 ca cb cc cd ce cf */
    F, F, F, F, F, F, F, F,
    /* d0 d1 d2 d3 d4 d5 d6 d7 */
    F, F, F, F, F, F, F, F,
    /* d8 d9 da db dc dd de df */
    F, F, F, F, F, F, F, F,
    /* e0 e1 e2 e3 e4 e5 e6 e7 */
    F, F, F, F, F, F, F, F,
    /* e8 e9 ea eb ec ed ee ef */
    F, F, F, F, F, F, F, F,
    /* f0 f1 f2 f3 f4 f5 f6 f7 */
    F, F, F, F, F, F, F, F,
    /* f8 f9 fa fb fc fd fe ff */
    F, F, F, F, F, F, F, F,
};
