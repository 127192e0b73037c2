#!/usr/bin/env python3
"""Checks a Chromium screenshot of a mifa report (standard library only).

The page must not be blank, and (with ``--box``) inside the first thumbnail (``--box x,y,w,h`` in screenshot
pixels, as the page's script measures it) there must be clearly coloured pixels of several
hues over several grey levels: the demo image is greyscale (R = G = B), so colour there comes
from the overlays (labels filled in per-label colours, outlines in the set colour).

Usage: check_screenshot.py SHOT.png [--box x,y,w,h] [--min-saturated FRACTION] [--min-hues N]
Prints ``ok ...`` lines with the figures; exits 1 on failure.
"""

import argparse
import struct
import sys
import zlib


def read_png(path):
    """Decodes an 8-bit, non-interlaced greyscale, RGB or RGBA PNG into (w, h, channels, rows)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, color, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(
            f"{path}: unsupported PNG (bit depth {depth}, colour type {color}, interlace {interlace})"
        )
    raw = zlib.decompress(b"".join(idat))
    stride = w * channels
    if len(raw) != h * (stride + 1):
        raise ValueError(f"{path}: {len(raw)} bytes of pixel data, expected {h * (stride + 1)}")
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        bpp = channels
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        elif ftype != 0:
            raise ValueError(f"{path}: row {y}: unknown filter {ftype}")
        rows.append(line)
        prev = line
    return w, h, channels, rows


def rgb_at(rows, channels, x, y):
    r = rows[y]
    i = x * channels
    if channels < 3:
        return r[i], r[i], r[i]
    return r[i], r[i + 1], r[i + 2]


def hue_bucket(r, g, b):
    """One of 12 hue sectors (30° each)."""
    mx, mn = max(r, g, b), min(r, g, b)
    d = mx - mn
    if mx == r:
        h = ((g - b) / d) % 6
    elif mx == g:
        h = (b - r) / d + 2
    else:
        h = (r - g) / d + 4
    return int(h * 2) % 12


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("png")
    ap.add_argument("--box", help="x,y,w,h of the thumbnail in screenshot pixels")
    ap.add_argument("--min-saturated", type=float, default=0.02)
    ap.add_argument("--min-hues", type=int, default=3)
    a = ap.parse_args()
    try:
        w, h, channels, rows = read_png(a.png)
    except (OSError, ValueError, zlib.error) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1

    # Not blank: many colours, and both light (page) and dark (image) pixels.
    colours, dark, light = set(), 0, 0
    for y in range(0, h, 2):
        for x in range(0, w, 2):
            c = rgb_at(rows, channels, x, y)
            colours.add(c)
            s = sum(c)
            dark += s < 150
            light += s > 600
    sampled = ((h + 1) // 2) * ((w + 1) // 2)
    print(
        f"screenshot {w}x{h}: {len(colours)} distinct colours (every 2nd pixel), "
        f"{100 * dark / sampled:.1f}% dark, {100 * light / sampled:.1f}% light"
    )
    if len(colours) < 50 or dark == 0 or light == 0:
        print("FAIL: the screenshot looks blank", file=sys.stderr)
        return 1
    print("ok screenshot is not blank")

    if not a.box:
        print("ok no thumbnail to check (no --box)")
        return 0
    try:
        bx, by, bw, bh = (int(v) for v in a.box.split(","))
    except ValueError:
        print(f"FAIL: --box {a.box!r} is not x,y,w,h", file=sys.stderr)
        return 1
    x0, y0 = max(bx, 0), max(by, 0)
    x1, y1 = min(bx + bw, w), min(by + bh, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        print(
            f"FAIL: thumbnail box {bx},{by},{bw},{bh} lies outside the {w}x{h} screenshot "
            "(a taller --window-size would show it)",
            file=sys.stderr,
        )
        return 1
    saturated, grey_levels, hues = 0, set(), {}
    for y in range(y0, y1):
        for x in range(x0, x1):
            r, g, b = rgb_at(rows, channels, x, y)
            mx, mn = max(r, g, b), min(r, g, b)
            # Translucent fills over dark background are coloured but not bright.
            if mx >= 60 and mx - mn >= 40:
                saturated += 1
                k = hue_bucket(r, g, b)
                hues[k] = hues.get(k, 0) + 1
            elif mx - mn <= 8:
                grey_levels.add(mx // 16)
    area = (x1 - x0) * (y1 - y0)
    frac = saturated / area
    # A hue counts when it holds a visible share of the overlay, not a few blended edge pixels.
    strong = sorted(k * 30 for k, n in hues.items() if n >= max(20, saturated // 200))
    print(
        f"thumbnail box {x0},{y0} {x1 - x0}x{y1 - y0}: {saturated} saturated pixels "
        f"({100 * frac:.2f}%), hues (degrees) {strong}, {len(grey_levels)} grey levels"
    )
    if frac < a.min_saturated:
        print(
            f"FAIL: overlays not visible: {100 * frac:.2f}% saturated pixels < "
            f"{100 * a.min_saturated:.2f}%",
            file=sys.stderr,
        )
        return 1
    if len(strong) < a.min_hues:
        print(f"FAIL: {len(strong)} overlay hue(s) < {a.min_hues}", file=sys.stderr)
        return 1
    if len(grey_levels) < 4:
        print("FAIL: the image under the overlays is not visible (too few grey levels)", file=sys.stderr)
        return 1
    print(f"ok overlays visible: {100 * frac:.2f}% saturated pixels in {len(strong)} hues over the image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
