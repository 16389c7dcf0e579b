#!/usr/bin/env python3
"""Draws Tidemark's icons (no image library needed): a teal disc with a white tide line;
the tray's "failed" icon is a red disc with an exclamation mark. Run from anywhere:
python3 icons/make-icons.py"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TEAL = (18, 128, 140)
RED = (200, 40, 40)
WHITE = (255, 255, 255)


def png(size, pixel):
    rows = bytearray()
    for y in range(size):
        rows.append(0)
        for x in range(size):
            rows.extend(pixel(x, y, size))
    chunk = lambda tag, data: (struct.pack(">I", len(data)) + tag + data
                               + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def coverage(d, edge):
    # Antialiasing: how much of a pixel at signed distance d lies inside the shape.
    return max(0.0, min(1.0, 0.5 - d / edge))


def disc(colour, mark):
    def pixel(x, y, size):
        c = (size - 1) / 2
        u, v = (x - c) / size, (y - c) / size
        edge = 1.0 / size
        inside = coverage(math.hypot(u, v) - 0.46, edge)
        if inside == 0:
            return (0, 0, 0, 0)
        m = mark(u, v, edge)
        rgb = tuple(round(a * (1 - m) + b * m) for a, b in zip(colour, WHITE))
        return (*rgb, round(255 * inside))
    return pixel


def tide(u, v, edge):
    # A wave across the disc, a band as thick as a tenth of the icon.
    wave = 0.06 * math.sin(u * 2 * math.pi * 1.6)
    return coverage(abs(v - 0.04 - wave) - 0.06, edge)


def exclamation(u, v, edge):
    bar = coverage(max(abs(u) - 0.06, abs(v + 0.08) - 0.2), edge)
    dot = coverage(math.hypot(u, v - 0.27) - 0.07, edge)
    return max(bar, dot)


def write(name, size, pixel):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(png(size, pixel))


def ico(name, sizes, pixel):
    images = [png(s, pixel) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for s, data in zip(sizes, images):
        out += struct.pack("<BBBBHHII", s % 256, s % 256, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(out + b"".join(images))


def icns(name, pixel):
    body = b""
    for tag, size in ((b"ic07", 128), (b"ic08", 256), (b"ic09", 512)):
        data = png(size, pixel)
        body += tag + struct.pack(">I", 8 + len(data)) + data
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(b"icns" + struct.pack(">I", 8 + len(body)) + body)


app = disc(TEAL, tide)
write("32x32.png", 32, app)
write("128x128.png", 128, app)
write("128x128@2x.png", 256, app)
write("icon.png", 512, app)
write("tray.png", 32, app)
write("tray-failed.png", 32, disc(RED, exclamation))
ico("icon.ico", [16, 32, 48, 256], app)
icns("icon.icns", app)
