"""Pixel statistics of a PNG screenshot, with the Python standard library
only (zlib): enough to tell whether a page shows its charts.

    python3 png_stats.py shot.png [--color NAME=#rrggbb ...] [--tolerance 24]

Prints one JSON object:

- width, height;
- nonwhite: pixels that are not (nearly) white;
- dark: pixels with every channel below 110 (text, axes);
- colored: pixels whose channels differ by 48 or more (not white, black
  or gray: chart bars, not text);
- colors: for each --color, the pixels within --tolerance of it on every
  channel.

Handles 8-bit RGB and RGBA, non-interlaced (what Chromium writes); alpha is
ignored. Exits 2 on anything else.
"""

import argparse
import json
import struct
import sys
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fail(message):
    print(f"png_stats: {message}", file=sys.stderr)
    sys.exit(2)


def chunks(data):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 12 + length


def add_bytes(a, b, ones):
    """Bytewise (a + b) mod 256 of two equal-length byte strings, at once."""
    n = len(a)
    x = int.from_bytes(a, "big")
    y = int.from_bytes(b, "big")
    low7 = ones * 0x7F
    high = ones * 0x80
    return (((x & low7) + (y & low7)) ^ ((x ^ y) & high)).to_bytes(n, "big")


def decode(path):
    """(width, height, bytes per pixel, list of unfiltered rows)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(SIGNATURE):
        fail(f"{path} is not a PNG")
    header = None
    compressed = []
    for kind, body in chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
    if header is None:
        fail("no IHDR chunk")
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or color_type not in (2, 6) or interlace != 0:
        fail(f"unsupported PNG: depth {depth}, color type {color_type}, interlace {interlace}")
    bpp = 3 if color_type == 2 else 4
    raw = zlib.decompress(b"".join(compressed))
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        fail("truncated image data")
    ones = int.from_bytes(b"\x01" * stride, "big")
    prev = bytes(stride)
    rows = []
    for r in range(height):
        start = r * (stride + 1)
        kind = raw[start]
        line = raw[start + 1 : start + 1 + stride]
        if kind == 0:
            cur = bytes(line)
        elif kind == 2:
            cur = add_bytes(line, prev, ones)
        elif kind == 1:
            cur = bytearray(line)
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 0xFF
        elif kind == 3:
            cur = bytearray(line)
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                cur[i] = (cur[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            cur = bytearray(line)
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pred) & 0xFF
        else:
            fail(f"bad filter type {kind} on row {r}")
        cur = bytes(cur)
        rows.append(cur)
        prev = cur
    return width, height, bpp, rows


def parse_color(text):
    name, _, value = text.partition("=")
    value = value.lstrip("#")
    if not name or len(value) != 6:
        fail(f"--color wants NAME=#rrggbb, not {text!r}")
    return name, tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("png")
    parser.add_argument("--color", action="append", default=[], help="NAME=#rrggbb")
    parser.add_argument("--tolerance", type=int, default=24)
    args = parser.parse_args()
    targets = [parse_color(c) for c in args.color]
    width, height, bpp, rows = decode(args.png)
    # Count distinct pixel values per row, then classify each value once.
    histogram = {}
    for row in rows:
        pixels = (row if bpp == 3 else bytes(b for i, b in enumerate(row) if i % 4 != 3))
        for i in range(0, len(pixels), 3):
            key = pixels[i : i + 3]
            histogram[key] = histogram.get(key, 0) + 1
    nonwhite = dark = colored = 0
    counts = {name: 0 for name, _ in targets}
    tol = args.tolerance
    for key, n in histogram.items():
        r, g, b = key
        if min(r, g, b) < 245:
            nonwhite += n
        if max(r, g, b) < 110:
            dark += n
        if max(r, g, b) - min(r, g, b) >= 48:
            colored += n
        for name, (tr, tg, tb) in targets:
            if abs(r - tr) <= tol and abs(g - tg) <= tol and abs(b - tb) <= tol:
                counts[name] += n
    json.dump(
        {
            "width": width,
            "height": height,
            "nonwhite": nonwhite,
            "dark": dark,
            "colored": colored,
            "colors": counts,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
