"""A minimal ICC v2 RGB display profile (matrix + gamma curves), written byte by byte, so
the tests can tag photos with a wide-gamut colour space without any profile file on disk."""

from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)
# Display P3, D50-adapted primaries (the columns of its RGB -> XYZ matrix), as in Apple's
# profile; its tone curve is close to a 2.2 gamma.
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2919, 0.6922, 0.0419), (0.1572, 0.0666, 0.7841))


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(values) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15f16(v) for v in values)


def _curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def _description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    body = b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text
    body += bytes(8) + bytes(3) + bytes(67)  # no Unicode or ScriptCode description
    return body + bytes(-len(body) % 4)


def rgb_profile(primaries=DISPLAY_P3, gamma: float = 2.2, name: str = "Test P3") -> bytes:
    """ICC profile bytes for an RGB space with these D50 primaries and a pure gamma curve."""
    tags = [
        (b"desc", _description(name)),
        (b"wtpt", _xyz(D50)),
        (b"rXYZ", _xyz(primaries[0])),
        (b"gXYZ", _xyz(primaries[1])),
        (b"bXYZ", _xyz(primaries[2])),
        (b"rTRC", _curve(gamma)),
        (b"gTRC", _curve(gamma)),
        (b"bTRC", _curve(gamma)),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0)
    header += b"".join(_s15f16(v) for v in D50) + bytes(4) + bytes(16) + bytes(28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
