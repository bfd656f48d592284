"""Text alphabets, part counting and wire forms (asms._encoding), with gsm0338 as an oracle."""

from __future__ import annotations

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asms._encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    PartCount,
    WireText,
    count_binary_parts,
    count_parts,
    decode_ucs2_hex,
    encode_for_http,
    encode_for_soap,
    fits_latin1_gsm,
    is_gsm7,
    latin1_form_value,
    parts_needed_exceeds,
    split_parts,
    ucs2_hex,
)

GSM_CHARS = sorted(GSM7_BASIC | GSM7_EXTENSION)
EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UCS-2


def oracle_units(text: str) -> tuple[str, int]:
    """(encoding, units) from independent codecs: gsm0338 for GSM, Python's UTF-16 for UCS-2.

    gsm0338 accepts U+001B as a character; asms deliberately does not (see
    test_escape_character_is_not_gsm_text), so such text is UCS-2 here too.
    """
    try:
        if "\x1b" in text:
            raise UnicodeEncodeError("gsm03.38", text, 0, 1, "escape is not text")
        return "gsm7", len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        return "ucs2", len(text.encode("utf-16-be")) // 2


def reference_parts(text: str) -> int:
    """A deliberately naive greedy packer, character by character."""
    encoding, units = oracle_units(text)
    single, concat = (160, 153) if encoding == "gsm7" else (70, 67)
    if units <= single:
        return 1
    parts, used = 1, 0
    for ch in text:
        cost = oracle_units(ch)[1] if encoding == "gsm7" else len(ch.encode("utf-16-be")) // 2
        if used + cost > concat:
            parts, used = parts + 1, 0
        used += cost
    return parts


# --- alphabet tables -------------------------------------------------------------------------


def test_basic_table_matches_gsm0338_except_escape() -> None:
    # Byte 0x1B alone decodes to nothing: it only escapes into the extension table.
    table = {bytes([i]).decode("gsm03.38") for i in range(128) if i != 0x1B}
    assert table == GSM7_BASIC
    assert len(GSM7_BASIC) == 127


def test_extension_table_is_the_ten_characters() -> None:
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION
    for ch in GSM7_EXTENSION:
        assert ch.encode("gsm03.38")[0] == 0x1B
        assert len(ch.encode("gsm03.38")) == 2


def test_escape_character_is_not_gsm_text() -> None:
    # U+001B would merge with the next character into an extension code on the air.
    assert not is_gsm7("a\x1be")
    assert count_parts("a\x1be").encoding == "ucs2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("Hello, world!", True),
        ("{curly} [square] ~tilde~ |bar| ^caret^ \\back\\ \f", True),
        ("€ and ΔΦΓΛΩΠΨΣΘΞ", True),
        ("@£$¥èéùìòÇØøÅåÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r_", True),
        ("back`tick", False),
        ("ç", False),  # only the capital Ç is in the table
        ("á", False),
        ("\t", False),
        ("中", False),
        (EMOJI, False),
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    assert is_gsm7(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("plain ascii {}", True),
        ("é à ü ß £ ¥ §", True),
        ("Ω", False),  # GSM, but not ISO-8859-1
        ("€", False),
        ("ç", False),  # ISO-8859-1, but not GSM
        ("`", False),
        ("中", False),
    ],
)
def test_fits_latin1_gsm(text: str, expected: bool) -> None:
    assert fits_latin1_gsm(text) is expected


# --- acceptance examples -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "parts"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_part_boundaries(n: int, parts: int) -> None:
    pc = count_parts("a" * n)
    assert (pc.encoding, pc.units, pc.parts) == ("gsm7", n, parts)


def test_empty_text_is_one_part_of_zero_units() -> None:
    assert count_parts("") == PartCount("gsm7", 0, 1)
    assert split_parts("") == [""]


def test_euro_costs_two_septets() -> None:
    pc = count_parts("€" * 80)
    assert (pc.encoding, pc.units, pc.parts) == ("gsm7", 160, 1)
    assert count_parts("€" * 81).parts == 2


def test_greek_capitals_are_gsm() -> None:
    pc = count_parts("Ω" * 70)
    assert (pc.encoding, pc.units, pc.parts) == ("gsm7", 70, 1)


def test_cjk_is_ucs2() -> None:
    assert count_parts("中" * 70) == PartCount("ucs2", 70, 1)
    pc = count_parts("中" * 71)
    assert (pc.encoding, pc.units, pc.parts) == ("ucs2", 71, 2)
    assert count_parts("中" * 134).parts == 2
    assert count_parts("中" * 135).parts == 3


def test_emoji_counts_two_units() -> None:
    pc = count_parts(EMOJI)
    assert (pc.encoding, pc.units, pc.parts) == ("ucs2", 2, 1)
    assert count_parts(EMOJI * 35).parts == 1
    assert count_parts(EMOJI * 35 + "a").parts == 2


def test_escape_pair_on_153_boundary_moves_to_next_part() -> None:
    # 152 septets, then "{" whose ESC would be septet 153 and its code septet 154.
    text = "a" * 152 + "{" + "b" * 10
    pc = count_parts(text)
    assert (pc.encoding, pc.units, pc.parts) == ("gsm7", 164, 2)
    assert split_parts(text) == ["a" * 152, "{" + "b" * 10]


def test_escape_pair_boundary_can_add_a_part() -> None:
    # 306 septets fit two parts exactly, but only if no pair straddles septet 153/154.
    aligned = "a" * 151 + "{" + "a" * 153
    assert count_parts(aligned).units == 306
    assert count_parts(aligned).parts == 2
    straddling = "a" * 152 + "{" + "a" * 152
    assert count_parts(straddling).units == 306
    assert count_parts(straddling).parts == 3
    assert [len(p) for p in split_parts(straddling)] == [152, 152, 1]


def test_surrogate_pair_on_67_boundary_moves_to_next_part() -> None:
    text = "中" * 66 + EMOJI + "中" * 10
    pc = count_parts(text)
    assert (pc.encoding, pc.units, pc.parts) == ("ucs2", 78, 2)
    assert split_parts(text) == ["中" * 66, EMOJI + "中" * 10]
    straddling = "中" * 66 + EMOJI + "中" * 66  # 134 units, but the pair cannot straddle
    assert count_parts(straddling).parts == 3


def test_lone_surrogates_are_counted_and_carried() -> None:
    # Not valid Unicode, but the functions stay total: one unit each, passed through as-is.
    assert count_parts("\ud800") == PartCount("ucs2", 1, 1)
    assert encode_for_http("a\udc00").value == "0061DC00"
    assert decode_ucs2_hex("D800") == "\ud800"
    long = "中" * 66 + "\ud800" + "中" * 10  # a lone surrogate is no pair to keep together
    assert count_parts(long) == PartCount("ucs2", 77, 2)
    assert split_parts(long) == ["中" * 66 + "\ud800", "中" * 10]


def test_ucs2_without_pairs_uses_plain_division() -> None:
    text = "中" * 200
    assert count_parts(text) == PartCount("ucs2", 200, 3)
    assert [len(p) for p in split_parts(text)] == [67, 67, 66]


def test_multipart_gsm_without_extension_characters() -> None:
    assert split_parts("x" * 400) == ["x" * 153, "x" * 153, "x" * 94]


def test_single_part_texts_split_to_themselves() -> None:
    assert split_parts("hello") == ["hello"]
    assert split_parts("中文") == ["中文"]


def test_per_part_capacity() -> None:
    assert count_parts("a").per_part == 160
    assert count_parts("a" * 161).per_part == 153
    assert count_parts("中").per_part == 70
    assert count_parts("中" * 71).per_part == 67


def test_part_count_default_capacity_and_equality() -> None:
    assert PartCount("gsm7", 10, 1).per_part == 160
    assert PartCount("gsm7", 200, 2).per_part == 153
    assert PartCount("ucs2", 10, 1).per_part == 70
    assert PartCount("ucs2", 100, 2).per_part == 67
    assert PartCount("8bit", 10, 1).per_part == 140
    assert PartCount("8bit", 200, 2).per_part == 134
    # per_part is derived information and does not take part in equality.
    assert PartCount("8bit", 10, 1, 134) == PartCount("8bit", 10, 1)
    assert count_parts("a" * 161) == PartCount("gsm7", 161, 2)


def test_part_count_is_frozen() -> None:
    pc = count_parts("a")
    with pytest.raises(AttributeError):
        pc.parts = 2  # type: ignore[misc]


# --- 8-bit -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "parts", "per_part"),
    [(0, 1, 140), (140, 1, 140), (141, 2, 134), (268, 2, 134), (269, 3, 134)],
)
def test_binary_parts(size: int, parts: int, per_part: int) -> None:
    pc = count_binary_parts(b"\x00" * size)
    assert (pc.encoding, pc.units, pc.parts, pc.per_part) == ("8bit", size, parts, per_part)


def test_binary_udh_counts_in_the_single_part() -> None:
    udh = bytes.fromhex("050415811581")  # port addressing, 6 bytes
    assert count_binary_parts(b"\x00" * 134, udh) == PartCount("8bit", 134, 1)
    assert count_binary_parts(b"\x00" * 134, udh).per_part == 134
    # Concatenated: the 6-byte UDH shares its length byte with the 5-byte concat element.
    pc = count_binary_parts(b"\x00" * 135, udh)
    assert (pc.parts, pc.per_part) == (2, 129)
    assert count_binary_parts(b"\x00" * 259, udh).parts == 3


def test_binary_udh_too_long_for_concatenation() -> None:
    with pytest.raises(ValueError, match="udh of 135 bytes leaves no room"):
        count_binary_parts(b"\x00" * 10, b"\x00" * 135)


def test_parts_needed_exceeds() -> None:
    three = count_parts("a" * 400)
    assert three.parts == 3
    assert parts_needed_exceeds(three, 2)
    assert not parts_needed_exceeds(three, 3)
    assert not parts_needed_exceeds(count_parts("a"), 1)


# --- wire forms --------------------------------------------------------------------------------


def test_http_latin1_gsm_goes_as_text() -> None:
    wire = encode_for_http("Héllo {wörld}")
    assert wire == WireText("Héllo {wörld}", False, PartCount("gsm7", 15, 1))


def test_http_greek_goes_as_ucs2_hex() -> None:
    wire = encode_for_http("ΩΨΘ")
    assert wire == WireText("03A903A80398", True, PartCount("ucs2", 3, 1))


def test_http_euro_costs_ucs2_parts() -> None:
    # 80 € fit one GSM part, but on HTTP they travel as UCS-2: 80 units, two parts.
    wire = encode_for_http("€" * 80)
    assert wire.unicode
    assert wire.value == "20AC" * 80
    assert wire.parts == PartCount("ucs2", 80, 2)


def test_http_non_gsm_latin1_goes_as_ucs2() -> None:
    assert encode_for_http("ç") == WireText("00E7", True, PartCount("ucs2", 1, 1))


def test_http_emoji_hex_is_a_surrogate_pair() -> None:
    assert encode_for_http(EMOJI) == WireText("D83DDE00", True, PartCount("ucs2", 2, 1))


def test_soap_sends_any_gsm_text_as_text() -> None:
    assert encode_for_soap("Ω€") == WireText("Ω€", False, PartCount("gsm7", 3, 1))
    assert encode_for_soap("€" * 80).parts == PartCount("gsm7", 160, 1)


def test_soap_non_gsm_goes_as_ucs2_hex() -> None:
    assert encode_for_soap("中") == WireText("4E2D", True, PartCount("ucs2", 1, 1))


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("é", "%E9"),
        ("a b", "a+b"),
        ("a+b&c=d", "a%2Bb%26c%3Dd"),
        ("{~}", "%7B~%7D"),
        ("£5 @ 10%", "%A35+%40+10%25"),
        ("line\nbreak", "line%0Abreak"),
        ("", ""),
    ],
)
def test_latin1_form_value(text: str, form: str) -> None:
    assert latin1_form_value(text) == form


def test_latin1_form_value_refuses_non_latin1() -> None:
    with pytest.raises(ValueError):
        latin1_form_value("€")


def test_ucs2_hex_examples() -> None:
    assert ucs2_hex("ΩΨΘ") == "03A903A80398"
    assert ucs2_hex("") == ""
    assert decode_ucs2_hex("03A903A80398") == "ΩΨΘ"
    assert decode_ucs2_hex("03a903a80398") == "ΩΨΘ"
    assert decode_ucs2_hex("D83DDE00") == EMOJI


@pytest.mark.parametrize("value", ["0", "041", "00410"])
def test_decode_ucs2_hex_rejects_bad_length(value: str) -> None:
    with pytest.raises(ValueError, match=f"multiple of 4 hex digits long, got {len(value)}"):
        decode_ucs2_hex(value)


@pytest.mark.parametrize(("value", "bad"), [("00G1", "G"), ("00 1", " "), ("0041004-", "-")])
def test_decode_ucs2_hex_rejects_non_hex(value: str, bad: str) -> None:
    with pytest.raises(ValueError, match=f"only hex digits, found {bad!r}"):
        decode_ucs2_hex(value)


# --- properties --------------------------------------------------------------------------------

# Unicode scalar values (no lone surrogates: those are covered by an example test).
scalar_values = st.characters(exclude_categories=["Cs"])
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700)
# Mostly 'a' with extension characters sprinkled in, so pairs often land on a boundary.
boundary_gsm_text = st.text(alphabet=st.sampled_from("aaaa{€"), min_size=150, max_size=620)
boundary_ucs2_text = st.text(alphabet=st.sampled_from(["中", "中", "中", EMOJI]), max_size=300)
any_text = st.one_of(
    gsm_text,
    boundary_gsm_text,
    boundary_ucs2_text,
    st.text(max_size=300),
    st.text(alphabet=st.one_of(st.sampled_from(GSM_CHARS), scalar_values), max_size=400),
)


def unit_cost(text: str, encoding: str) -> int:
    if encoding == "gsm7":
        return len(text.encode("gsm03.38"))
    return len(text.encode("utf-16-be")) // 2


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_count_parts_agrees_with_oracle(text: str) -> None:
    encoding, units = oracle_units(text)
    pc = count_parts(text)
    assert (pc.encoding, pc.units) == (encoding, units)
    assert is_gsm7(text) is (encoding == "gsm7")
    assert pc.parts == reference_parts(text)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_split_parts_is_consistent_with_count(text: str) -> None:
    pc = count_parts(text)
    parts = split_parts(text)
    assert "".join(parts) == text
    assert len(parts) == pc.parts
    costs = [unit_cost(p, pc.encoding) for p in parts]
    assert sum(costs) == pc.units
    assert all(cost <= pc.per_part for cost in costs)
    # Greedy packing: no part could have taken the next part's first character.
    for cost, nxt in zip(costs, parts[1:], strict=False):
        assert cost + unit_cost(nxt[0], pc.encoding) > pc.per_part


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_http_wire_form(text: str) -> None:
    wire = encode_for_http(text)
    if wire.unicode:
        assert decode_ucs2_hex(wire.value) == text
        assert wire.value == wire.value.upper()
        assert wire.parts.encoding == "ucs2"
        assert wire.parts.units == len(text.encode("utf-16-be")) // 2
        assert not fits_latin1_gsm(text)
    else:
        assert wire.value == text
        assert fits_latin1_gsm(text)
        text.encode("latin-1")  # must not raise
        assert wire.parts == count_parts(text)
        assert wire.parts.encoding == "gsm7"


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_soap_wire_form(text: str) -> None:
    wire = encode_for_soap(text)
    assert wire.unicode is not is_gsm7(text)
    assert wire.parts == count_parts(text)
    if wire.unicode:
        assert decode_ucs2_hex(wire.value) == text
    else:
        assert wire.value == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=scalar_values, max_size=200))
def test_ucs2_hex_round_trip(text: str) -> None:
    value = ucs2_hex(text)
    assert len(value) % 4 == 0
    assert decode_ucs2_hex(value) == text
    assert decode_ucs2_hex(value.lower()) == text
