#!/usr/bin/env python3
"""Prints core/ascii.c's table: the character classes of HTTP for each
byte, as core/ascii.h names them. Run once when a class changes, and paste
the output over the table; tests/unit/test-ascii.c checks the table against
the RFCs' definitions, written out there again independently."""

TCHAR_EXTRA = "!#$%&'*+-.^_`|~"  # RFC 9110 5.6.2, beside DIGIT and ALPHA
REG_NAME_EXTRA = "-._~%!$&'()*+,;="  # RFC 3986 3.2.2: unreserved, pct-encoded's '%', sub-delims


def classes(c):
    ch = chr(c)
    alpha = "a" <= ch <= "z" or "A" <= ch <= "Z"
    digit = "0" <= ch <= "9"
    k = []
    if alpha or digit or ch in TCHAR_EXTRA:
        k.append("T")  # tchar
    if c == 0x09 or (c >= 0x20 and c != 0x7F):
        k.append("F")  # field-vchar, obs-text, SP, HTAB (RFC 9110 5.5)
    if 0x20 < c < 0x7F and ch not in '#"<>':
        k.append("R")  # a request-target byte as berth takes it (parse.c)
    if digit:
        k.append("D")
    if digit or ("a" <= ch <= "f") or ("A" <= ch <= "F"):
        k.append("X")
    if alpha:
        k.append("A")
    if c in (0x20, 0x09):
        k.append("W")  # OWS's bytes (RFC 9110 5.6.3)
    if alpha or digit or ch in REG_NAME_EXTRA:
        k.append("H")  # a reg-name's byte (RFC 3986 3.2.2), for Host
    return "|".join(k) or "0"


def shown(c):
    return "'%s'" % chr(c) if 0x20 < c < 0x7F and chr(c) not in "\\'" else "%02x" % c


def main():
    print("const unsigned char berth_ascii[256] = {")
    for row in range(0, 256, 8):
        print("    /* %s */" % " ".join(shown(c) for c in range(row, row + 8)))
        print("    %s," % ", ".join(classes(c) for c in range(row, row + 8)))
    print("};")


if __name__ == "__main__":
    main()
