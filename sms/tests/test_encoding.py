import pytest

from sms.encoding import (
    MAX_PARTS,
    MessageTooLong,
    decode_gsm7,
    encode_gsm7,
    encode_parts,
    is_gsm7,
    septet_length,
    split,
)

# Every character of the default alphabet (ESC excluded) and of the extension table.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"


def body(part):
    """Payload without its UDH."""
    return part.payload[part.payload[0] + 1 :] if part.udhi else part.payload


# --- alphabet -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "septets"),
    [
        ("@", b"\x00"),
        ("£", b"\x01"),
        ("$", b"\x02"),
        ("¥", b"\x03"),
        ("è", b"\x04"),
        ("Ç", b"\x09"),
        ("\n", b"\x0a"),
        ("\r", b"\x0d"),
        ("Δ", b"\x10"),
        ("_", b"\x11"),
        ("É", b"\x1f"),
        ("¤", b"\x24"),
        ("¡", b"\x40"),
        ("§", b"\x5f"),
        ("¿", b"\x60"),
        ("ä", b"\x7b"),
        ("à", b"\x7f"),
        ("\f", b"\x1b\x0a"),
        ("^", b"\x1b\x14"),
        ("{", b"\x1b\x28"),
        ("}", b"\x1b\x29"),
        ("\\", b"\x1b\x2f"),
        ("[", b"\x1b\x3c"),
        ("~", b"\x1b\x3d"),
        ("]", b"\x1b\x3e"),
        ("|", b"\x1b\x40"),
        ("€", b"\x1b\x65"),
    ],
)
def test_gsm7_code_points_follow_23_038(char, septets):
    assert encode_gsm7(char) == septets


def test_default_alphabet_has_127_characters_and_extension_10():
    assert len(set(GSM7_BASIC)) == 127
    assert len(set(GSM7_EXTENSION)) == 10
    assert all(is_gsm7(ch) for ch in GSM7_BASIC + GSM7_EXTENSION)


def test_every_gsm7_character_round_trips():
    text = GSM7_BASIC + GSM7_EXTENSION
    assert decode_gsm7(encode_gsm7(text)) == text


def test_every_gsm7_character_round_trips_through_concatenated_parts():
    text = (GSM7_BASIC + GSM7_EXTENSION) * 3
    parts = encode_parts(text, reference=7)
    assert len(parts) == 3
    assert "".join(decode_gsm7(body(p)) for p in parts) == text


@pytest.mark.parametrize("char", ["`", "ç", "ê", "\t", "\x1b", "Ж", "😀"])
def test_characters_outside_gsm7_are_not_gsm7(char):
    assert not is_gsm7(char)


def test_backtick_forces_ucs2_and_round_trips():
    seg = split("run `make`")
    assert (seg.encoding, seg.data_coding) == ("ucs2", 8)
    [part] = encode_parts("run `make`", reference=0)
    assert part.data_coding == 8
    assert part.payload.decode("utf-16-be") == "run `make`"


def test_smpplib_helper_sends_backtick_as_the_section_sign():
    # Why we do not use smpplib.gsm: its table puts "`" in 0x5F, which handsets show as "§".
    gsm = pytest.importorskip("smpplib.gsm")
    assert gsm.gsm_encode("`") == b"\x5f"
    assert decode_gsm7(b"\x5f") == "§"


def test_our_table_matches_smpplib_except_the_backtick_slot():
    # An independent table to check ours against; it differs only at 0x5F ("`" vs "§").
    gsm = pytest.importorskip("smpplib.gsm")
    theirs = gsm.GSM_CHARACTER_TABLE
    for code in range(0x80):
        if code in (0x1B, 0x5F):
            continue
        assert encode_gsm7(theirs[code]) == bytes([code])
    for code in range(0x80):
        ch = theirs[0x80 + code]
        if ch != "`":
            assert encode_gsm7(ch) == bytes([0x1B, code])


def test_septet_length_counts_extension_characters_twice():
    assert septet_length("€") == 2
    assert septet_length("a€b[") == 6


def test_septet_length_refuses_non_gsm7_text():
    with pytest.raises(ValueError):
        septet_length("ê")


def test_decode_escape_followed_by_unknown_code_shows_default_character():
    assert decode_gsm7(b"\x1b\x41") == "A"


def test_decode_refuses_bytes_above_0x7f():
    with pytest.raises(ValueError):
        decode_gsm7(b"\x80")


# --- GSM-7 segmentation ---------------------------------------------------------------------


def test_empty_text_is_one_part():
    seg = split("")
    assert (seg.encoding, seg.parts, seg.part_count, seg.characters) == ("gsm7", [""], 1, 0)
    [part] = encode_parts("", reference=1)
    assert (part.payload, part.udhi) == (b"", False)


def test_160_gsm7_characters_fit_one_part():
    seg = split("a" * 160)
    assert (seg.encoding, seg.data_coding, seg.part_count, seg.characters) == ("gsm7", 0, 1, 160)


def test_161_gsm7_characters_make_153_plus_8():
    seg = split("a" * 161)
    assert [len(p) for p in seg.parts] == [153, 8]
    assert seg.part_count == 2
    assert seg.characters == 161


def test_extension_characters_count_two_septets_toward_the_limit():
    assert split("€" * 80).part_count == 1
    assert split("€" * 80).characters == 160
    seg = split("€" * 81)
    # 153 is odd: 76 euros (152 septets) per part, the 153rd septet stays empty.
    assert [len(p) for p in seg.parts] == [76, 5]


def test_escape_on_the_153rd_septet_moves_whole_to_the_next_part():
    text = "a" * 152 + "€" + "b" * 10
    seg = split(text)
    assert seg.parts == ["a" * 152, "€" + "b" * 10]
    parts = encode_parts(text, reference=9)
    assert [len(body(p)) for p in parts] == [152, 12]
    assert [decode_gsm7(body(p)) for p in parts] == ["a" * 152, "€" + "b" * 10]
    assert "".join(decode_gsm7(body(p)) for p in parts) == text


def test_escape_ending_on_the_153rd_septet_stays_in_the_part():
    seg = split("a" * 151 + "€" + "b" * 10)
    assert seg.parts == ["a" * 151 + "€", "b" * 10]


def test_extension_character_early_in_the_text_shortens_the_first_part():
    seg = split("€" + "a" * 200)
    assert seg.parts == ["€" + "a" * 151, "a" * 49]
    assert seg.characters == 202


def test_gsm7_single_part_payload_has_no_udh():
    [part] = encode_parts("Hello €", reference=1)
    assert part == encode_parts("Hello €", reference=2)[0]
    assert (part.payload, part.data_coding, part.udhi, part.text) == (
        b"Hello \x1b\x65",
        0,
        False,
        "Hello €",
    )


# --- UCS-2 segmentation ---------------------------------------------------------------------


def test_70_ucs2_characters_fit_one_part():
    seg = split("ê" * 70)
    assert (seg.encoding, seg.data_coding, seg.part_count, seg.characters) == ("ucs2", 8, 1, 70)


def test_71_ucs2_characters_make_67_plus_4():
    seg = split("ê" * 71)
    assert [len(p) for p in seg.parts] == [67, 4]


def test_ucs2_concatenated_parts_hold_67_each():
    assert split("ê" * 201).part_count == 3
    assert split("ê" * 202).part_count == 4


def test_one_non_gsm7_character_switches_the_whole_text_to_ucs2():
    seg = split("a" * 100 + "ê")
    assert (seg.encoding, seg.part_count, seg.characters) == ("ucs2", 2, 101)


def test_emoji_counts_two_utf16_units():
    assert split("😀" * 35).part_count == 1
    assert split("😀" * 35).characters == 70
    assert split("😀" * 36).part_count == 2


def test_emoji_is_never_split_across_parts():
    text = "a" * 66 + "😀" + "b" * 10
    seg = split(text)
    assert seg.parts == ["a" * 66, "😀" + "b" * 10]
    parts = encode_parts(text, reference=3)
    assert [len(body(p)) for p in parts] == [132, 24]
    # strict decoding fails on half a surrogate pair
    assert [body(p).decode("utf-16-be") for p in parts] == seg.parts


def test_ucs2_payload_is_utf16_big_endian():
    [part] = encode_parts("ça 😀", reference=0)
    assert part.payload == b"\x00\xe7\x00\x61\x00\x20\xd8\x3d\xde\x00"
    assert (part.data_coding, part.udhi) == (8, False)


# --- concatenation header -------------------------------------------------------------------


def test_concatenated_parts_start_with_the_exact_udh():
    parts = encode_parts("a" * 320, reference=0x2A)
    assert [p.payload[:6] for p in parts] == [
        bytes([0x05, 0x00, 0x03, 0x2A, 3, 1]),
        bytes([0x05, 0x00, 0x03, 0x2A, 3, 2]),
        bytes([0x05, 0x00, 0x03, 0x2A, 3, 3]),
    ]
    assert all(p.udhi and p.data_coding == 0 for p in parts)
    assert [p.text for p in parts] == ["a" * 153, "a" * 153, "a" * 14]


def test_reference_is_taken_modulo_256():
    parts = encode_parts("ê" * 71, reference=256 + 5)
    assert [p.payload[:6] for p in parts] == [
        bytes([0x05, 0x00, 0x03, 5, 2, 1]),
        bytes([0x05, 0x00, 0x03, 5, 2, 2]),
    ]


@pytest.mark.parametrize(
    ("text", "longest"),
    [
        ("a" * 1000, 6 + 153),  # unpacked septets; 140 octets once the SMSC packs them
        ("€" * 500, 6 + 152),
        ("ê" * 1000, 6 + 134),
        ("😀" * 500, 6 + 132),
    ],
)
def test_concatenated_payloads_fit_one_sms(text, longest):
    assert max(len(p.payload) for p in encode_parts(text, reference=1)) == longest


def test_more_than_255_parts_is_refused():
    text = "a" * (153 * MAX_PARTS + 1)
    assert split(text).part_count == 256
    assert len(encode_parts("a" * (153 * MAX_PARTS), reference=1)) == 255
    with pytest.raises(MessageTooLong):
        encode_parts(text, reference=1)
