"""SMS text encoding and segmentation (3GPP TS 23.038 / 23.040), without Django.

A text goes out as GSM-7 when every character is in the GSM 03.38 default alphabet or its
extension table, otherwise as UCS-2 (UTF-16, so emoji travel as surrogate pairs).

Part sizes, in the encoding's units (septets for GSM-7, UTF-16 code units for UCS-2):

    GSM-7   one part 160, concatenated 153 per part
    UCS-2   one part  70, concatenated  67 per part

The 7 septets / 3 code units lost per concatenated part are the 6-byte UDH
``05 00 03 ref total seq``. An extension character (ESC + code) and a surrogate pair are
never cut across two parts: handsets would show garbage or refuse the part.

GSM-7 payloads are *unpacked* septets, one byte each, which is what SMPP ``data_coding=0``
expects; packing to 7 bits is the SMSC's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sms.providers.base import SmsPart

GSM7_SINGLE = 160
GSM7_CONCAT = 153
UCS2_SINGLE = 70
UCS2_CONCAT = 67
# The concatenation UDH carries the part count in one octet.
MAX_PARTS = 255

DATA_CODING_GSM7 = 0
DATA_CODING_UCS2 = 8

_ESC = 0x1B

# GSM 03.38 default alphabet, 16 code points per row. Position 0x1B is the escape to the
# extension table, not a character: "\x1b" only holds its place and is left out of the maps.
# 0x09 is capital C-cedilla per 23.038 (lower-case "ç" is not in the alphabet); 0x5F is "§".
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10
    " !\"#¤%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60
    "pqrstuvwxyzäöñüà"  # 0x70
)
assert len(_BASIC_TABLE) == 128

# Extension table (sent as ESC + code, two septets each). 0x0A is form feed (page break).
_EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC_CODES = {ch: code for code, ch in enumerate(_BASIC_TABLE) if code != _ESC}
_EXTENSION_CHARS = frozenset(_EXTENSION_TABLE)
_GSM7_CHARS = frozenset(_BASIC_CODES) | _EXTENSION_CHARS

# text.translate(_TO_SEPTETS).encode("latin-1") turns a GSM-7 text into unpacked septets in C,
# one call, no per-character Python loop.
_TO_SEPTETS = {ord(ch): chr(code) for ch, code in _BASIC_CODES.items()}
_TO_SEPTETS.update({ord(ch): chr(_ESC) + chr(code) for ch, code in _EXTENSION_TABLE.items()})

_FROM_BASIC = {code: ch for ch, code in _BASIC_CODES.items()}
_FROM_EXTENSION = {code: ch for ch, code in _EXTENSION_TABLE.items()}


class MessageTooLong(ValueError):
    """The text needs more parts than the 8-bit concatenation header can number."""


@dataclass(frozen=True)
class Segmentation:
    encoding: str  # "gsm7" | "ucs2"
    data_coding: int  # 0 (GSM-7) | 8 (UCS-2)
    parts: list[str]  # the text of each part, in order; "".join(parts) is the whole text
    part_count: int
    # Units the whole text uses: septets for GSM-7 (an extension character counts 2),
    # UTF-16 code units for UCS-2 (an emoji outside the BMP counts 2).
    characters: int


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 default alphabet or extension table."""
    return _GSM7_CHARS.issuperset(text)


def septet_length(text: str) -> int:
    """Septets ``text`` takes in GSM-7; raises ValueError if it is not GSM-7 text."""
    if not is_gsm7(text):
        raise ValueError("text has characters outside the GSM-7 alphabet")
    return _septets(text)


def _septets(text: str) -> int:
    return len(text) + sum(map(text.count, _EXTENSION_CHARS))


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate (possible from a JSON "\ud83d" escape) counts as one
    # unit and is sent as is rather than crashing the encoder.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _slices(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _split_by_cost(text: str, limit: int, wide: frozenset[str] | None) -> list[str]:
    """Greedy split where each character costs 1 unit, or 2 when it is "wide".

    ``wide=None`` means "outside the BMP" (a surrogate pair in UTF-16). A wide character that
    does not fit whole in the current part starts the next one.
    """
    parts = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        wide_char = ch > "\uffff" if wide is None else ch in wide
        cost = 2 if wide_char else 1
        if used + cost > limit:
            parts.append(text[start:i])
            start = i
            used = 0
        used += cost
    parts.append(text[start:])
    return parts


def split(text: str) -> Segmentation:
    """How ``text`` is cut into SMS parts. Empty text is one (empty) part.

    Never raises: a text over ``MAX_PARTS`` parts is reported as such, ``encode_parts``
    refuses it.
    """
    if is_gsm7(text):
        septets = _septets(text)
        if septets <= GSM7_SINGLE:
            parts = [text]
        elif septets == len(text):  # no extension character: fixed-size slices
            parts = _slices(text, GSM7_CONCAT)
        else:
            parts = _split_by_cost(text, GSM7_CONCAT, _EXTENSION_CHARS)
        return Segmentation("gsm7", DATA_CODING_GSM7, parts, len(parts), septets)

    units = _utf16_units(text)
    if units <= UCS2_SINGLE:
        parts = [text]
    elif units == len(text):  # BMP only: fixed-size slices
        parts = _slices(text, UCS2_CONCAT)
    else:
        parts = _split_by_cost(text, UCS2_CONCAT, None)
    return Segmentation("ucs2", DATA_CODING_UCS2, parts, len(parts), units)


def encode_gsm7(text: str) -> bytes:
    """Unpacked septets, one byte each, ESC-prefixed for extension characters.

    Raises ValueError for a character outside GSM-7.
    """
    if not is_gsm7(text):
        raise ValueError("text has characters outside the GSM-7 alphabet")
    return text.translate(_TO_SEPTETS).encode("latin-1")


def decode_gsm7(payload: bytes) -> str:
    """Inverse of ``encode_gsm7`` for unpacked septets (no UDH).

    Follows 23.038 for odd input: ESC + a code not in the extension table shows the default
    alphabet character, ESC ESC shows a space, a trailing lone ESC is dropped.
    Raises ValueError on a byte above 0x7F (not a septet).
    """
    out = []
    escaped = False
    for byte in payload:
        if byte > 0x7F:
            raise ValueError(f"byte 0x{byte:02X} is not a GSM-7 septet")
        if escaped:
            escaped = False
            if byte == _ESC:
                out.append(" ")
            else:
                out.append(_FROM_EXTENSION.get(byte) or _FROM_BASIC[byte])
        elif byte == _ESC:
            escaped = True
        else:
            out.append(_FROM_BASIC[byte])
    return "".join(out)


def concatenation_udh(reference: int, total: int, sequence: int) -> bytes:
    """The 6-byte UDH: length 5, IE 0x00 (8-bit reference), IE length 3, ref, total, seq."""
    return bytes((0x05, 0x00, 0x03, reference % 256, total, sequence))


def encode_parts(text: str, reference: int) -> list[SmsPart]:
    """The SMPP-ready parts of ``text``.

    One part: the bare payload, ``udhi=False``. Several: each payload starts with the
    concatenation UDH using ``reference % 256`` and 1-based sequence numbers, ``udhi=True``.
    Raises MessageTooLong above ``MAX_PARTS`` parts.
    """
    seg = split(text)
    if seg.part_count > MAX_PARTS:
        raise MessageTooLong(f"text needs {seg.part_count} parts, at most {MAX_PARTS} allowed")

    if seg.encoding == "gsm7":

        def encode(part: str) -> bytes:
            return part.translate(_TO_SEPTETS).encode("latin-1")

    else:

        def encode(part: str) -> bytes:
            return part.encode("utf-16-be", "surrogatepass")

    if seg.part_count == 1:
        return [SmsPart(payload=encode(text), data_coding=seg.data_coding, udhi=False, text=text)]

    return [
        SmsPart(
            payload=concatenation_udh(reference, seg.part_count, seq) + encode(part),
            data_coding=seg.data_coding,
            udhi=True,
            text=part,
        )
        for seq, part in enumerate(seg.parts, start=1)
    ]
