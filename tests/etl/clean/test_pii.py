"""PII redaction (etl.clean.pii): what must be redacted and what must stay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.pii import (
    IBAN_LENGTHS,
    PII_TYPES,
    PIIConfig,
    iban_ok,
    is_card_number,
    luhn_ok,
    redact_pii,
    ssn_ok,
)

PII = [
    ("email", "jo@example.com"),
    ("email", "first.last+tag@mail.co.uk"),
    ("email", "x_y-z@sub.domain-name.org"),
    ("ip", "192.168.0.1"),
    ("ip", "8.8.8.8"),
    ("ip", "255.255.255.255"),
    ("ip", "2001:db8::1"),
    ("ip", "fe80::1ff:fe23:4567:890a"),
    ("ip", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("ip", "::1"),
    ("ip", "::ffff:192.0.2.128"),
    ("phone", "(555) 123-4567"),
    ("phone", "555-123-4567"),
    ("phone", "555.123.4567"),
    ("phone", "555 123 4567"),
    ("phone", "+1 555 123 4567"),
    ("phone", "+1-555-123-4567"),
    ("phone", "1-800-555-1234"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "+49 30 12345678"),
    ("phone", "+33 1 23 45 67 89"),
    ("card", "4111 1111 1111 1111"),
    ("card", "4111-1111-1111-1111"),
    ("card", "4111111111111111"),
    ("card", "3782 822463 10005"),
    ("card", "5555 5555 5555 4444"),
    ("card", "6011 1111 1111 1117"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "DE89370400440532013000"),
    ("iban", "DE02 3704 0044 0532 0130 14"),  # the check digits 99 stands for (see NOT_PII)
    ("iban", "DE97 3704 0044 0532 0130 50"),
    ("iban", "GB29 NWBK 6016 1331 9268 19"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("iban", "NL91ABNA0417164300"),
    ("iban", "BE68 5390 0754 7034"),
    ("iban", "NO93 8601 1117 947"),  # the shortest (15)
    ("iban", "MT84 MALT 0110 0001 2345 MTLC AST0 01S"),  # 31, letters in the last group
    ("ssn", "078-05-1120"),
    ("ssn", "123-45-6789"),
    ("ssn", "665-01-0001"),
    ("ssn", "899-99-9999"),
    ("ssn", "001-01-0001"),
    # A dashed triple after a country code is a phone number, not an SSN.
    ("phone", "+49 123-45-6789"),
]

PLACEHOLDER = {
    "email": "<EMAIL>", "ip": "<IP>", "phone": "<PHONE>", "card": "<CARD>", "iban": "<IBAN>",
    "ssn": "<SSN>",
}
NONE = dict.fromkeys(PII_TYPES, 0)


def test_every_type_has_a_placeholder_and_a_switch() -> None:
    assert set(PLACEHOLDER) == set(PII_TYPES)
    assert set(redact_pii("")[1]) == set(PII_TYPES)


@pytest.mark.parametrize(("kind", "value"), PII)
def test_pii_is_redacted_in_context(kind: str, value: str) -> None:
    text, counts = redact_pii(f"Contact: {value}, thanks.")
    assert text == f"Contact: {PLACEHOLDER[kind]}, thanks."
    assert counts == {k: int(k == kind) for k in PLACEHOLDER}


# Look-alikes that are not PII: years, prices, versions, dates, times, ZIP codes, order and
# tracking numbers, ordinary numbers, code.
NOT_PII = [
    "1998",
    "2024",
    "in 1969 and 1970",
    "the 2020-2021 season",
    "$19.99",
    "€1,299.00",
    "1,299.00",
    "1,000,000",
    "3.14159",
    "1.5 million",
    "20%",
    "3.2.1",
    "v1.10.4",
    "v1.2.3.4",
    "version 10.0.19041.1",
    "1.2.3.4.5",
    "256.1.1.1",
    "2024-01-15",
    "01/15/2024",
    "15.01.2024",
    "12:30:45",
    "at 10:30 UTC",
    "24/7",
    "1/2",
    "90210",
    "ZIP 02134",
    "12345-6789",
    "Order #123456789",
    "order 1234567890123",
    "ISBN 978-3-16-148410-0",
    "pages 123-456",
    "555-1234",
    "call 911",
    "Room 101-B",
    "iPhone 15 Pro",
    "A4 paper",
    "std::vector",
    "a::b",
    "00:1A:2B:3C:4D:5E",
    "4111 1111 1111 1112",
    "0000 0000 0000 0000",
    "1 2 3 4 5 6 7 8 9 10 11 12 13",
    "user@localhost",
    "@handle",
    "+1",
    "(2020)",
    # IBAN look-alikes: a wrong check digit or account digit, a swapped pair, the wrong
    # length for the country, an unknown country, check digits outside 02-98 that pass the
    # sum (99 and 00 where 02 and 97 are right), mixed grouping, other codes.
    "DE89 3704 0044 0532 0130 01",  # its account digits are Luhn-valid: not a card either
    "DE88 3704 0044 0532 0130 00",
    "DE89370400440532013001",
    "DE89 3704 0044 0532 1030 00",
    "DE89 3704 0044 0532 0130 0",
    "DE89 3704 0044 0532 0130 000",
    "DE89 3704 0044 0532 0130 0012",
    "XX89 3704 0044 0532 0130 00",
    "GB99 NWBK 6016 1331 9268 19",
    "DE99 3704 0044 0532 0130 14",
    "DE00 3704 0044 0532 0130 50",
    "DE8937040044 0532013000",
    "GB29NWBK 6016 1331 9268 19",
    "ISO 13616",
    "MP3 player",
    "AB12 CD34 EF56",
    # SSN look-alikes: reserved area (000, 666, 900-999), group 00 or serial 0000, no
    # dashes, other digit groupings.
    "000-12-3456",
    "666-12-3456",
    "900-12-3456",
    "999-99-9999",
    "123-00-4567",
    "123-45-0000",
    "123456789",
    "123 45 6789",
    "123-45-67890",
    "1123-45-6789",
    "123-456-789",
    "12-345-6789",
    "123-45-6789-01",
    "A123-45-6789",
    "123-45-6789.5",
]


@pytest.mark.parametrize("value", NOT_PII)
def test_look_alikes_stay_untouched(value: str) -> None:
    text = f"See {value} here."
    assert redact_pii(text) == (text, NONE)


def test_several_items_and_counts() -> None:
    text, counts = redact_pii("a@b.example, c@d.example or 10.0.0.1 and 555-123-4567.")
    assert text == "<EMAIL>, <EMAIL> or <IP> and <PHONE>."
    assert counts == {**NONE, "email": 2, "ip": 1, "phone": 1}


def test_each_number_is_redacted_once_under_its_own_type() -> None:
    text, counts = redact_pii(
        "IBAN DE89 3704 0044 0532 0130 00, card 4111-1111-1111-1111, SSN 078-05-1120, "
        "call +44 20 7946 0958 078-05-1120 or 555-123-4567 / +49 123-45-6789."
    )
    assert text == ("IBAN <IBAN>, card <CARD>, SSN <SSN>, call <PHONE> <SSN> or <PHONE> / "
                    "<PHONE>.")
    assert counts == {**NONE, "iban": 1, "card": 1, "ssn": 2, "phone": 3}


@pytest.mark.parametrize(
    ("switch", "kept"),
    [("emails", "jo@example.com"), ("ibans", "DE89 3704 0044 0532 0130 00"),
     ("ssns", "078-05-1120"), ("cards", "4111 1111 1111 1111")],
)
def test_types_can_be_switched_off(switch: str, kept: str) -> None:
    text = f"{kept} 10.0.0.1"
    redacted, counts = redact_pii(text, PIIConfig(**{switch: False}))
    assert redacted == f"{kept} <IP>"
    assert counts == {**NONE, "ip": 1}
    assert redact_pii(text, PIIConfig(enabled=False)) == (text, NONE)


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert is_card_number("4111-1111-1111-1111") and not is_card_number("1111111111111117")


def test_iban_check() -> None:
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82 WEST 1234 5698 7654 33")  # checksum
    assert not iban_ok("GB82 WEST 1234 5698 7654 3")  # length
    assert not iban_ok("gb82 west 1234 5698 7654 32")  # upper case only
    assert not iban_ok("GBXX WEST 1234 5698 7654 32") and not iban_ok("")


def test_ssn_rules() -> None:
    assert ssn_ok("078-05-1120") and ssn_ok("899-01-0001")
    for bad in ("000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"):
        assert not ssn_ok(bad), bad


# -- properties -----------------------------------------------------------------------------
ISSUER_PREFIXES = ["4", "51", "55", "2221", "2720", "34", "37", "6011", "65", "3528", "36", "62"]


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid card number with an issuer prefix, grouped arbitrarily."""
    prefix = draw(st.sampled_from(ISSUER_PREFIXES))
    length = draw(st.integers(13, 19))
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"),
                min_size=length - len(prefix) - 1,
                max_size=length - len(prefix) - 1,
            )
        )
    )
    check = next(str(d) for d in range(10) if luhn_ok(body + str(d)))
    digits = body + check
    seps = draw(
        st.lists(
            st.sampled_from(["", "", " ", "-"]), min_size=len(digits) - 1, max_size=len(digits) - 1
        )
    )
    return digits[0] + "".join(s + d for s, d in zip(seps, digits[1:], strict=True))


@settings(max_examples=300, deadline=None)
@given(card_numbers(), st.sampled_from(["Card: {}.", "{}", "pay with {} today", "({})"]))
def test_any_grouped_luhn_valid_card_is_redacted(card: str, template: str) -> None:
    text, counts = redact_pii(template.format(card))
    assert text == template.format("<CARD>")
    assert counts["card"] == 1


_LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._%+-", min_size=0, max_size=20)
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from("abcxyz0123"),
    _LOCAL,
    st.lists(_LABEL, min_size=1, max_size=3),
    st.from_regex(r"[a-z]{2,10}", fullmatch=True),
)
def test_any_email_is_redacted(first: str, local: str, labels: list[str], tld: str) -> None:
    email = f"{first}{local}@{'.'.join(labels)}.{tld}"
    text, counts = redact_pii(f"Write to {email} today.")
    assert text == "Write to <EMAIL> today."
    assert counts["email"] == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=4, max_size=4))
def test_any_ipv4_is_redacted(octets: list[int]) -> None:
    ip = ".".join(map(str, octets))
    assert redact_pii(f"Host {ip} is up.") == ("Host <IP> is up.", {**NONE, "ip": 1})


@settings(max_examples=300, deadline=None)
@given(st.integers(1000, 2999), st.sampled_from(["In {} we left.", "({})", "{}-{}", "{}, {}"]))
def test_years_are_untouched(year: int, template: str) -> None:
    text = template.format(year, year + 1)
    assert redact_pii(text)[0] == text


def iban_with_check_digits(country: str, account: str) -> str:
    """The IBAN of ``account`` in ``country``, with the check digits that make it valid."""
    rearranged = account + country + "00"
    check = 98 - int("".join(str(int(ch, 36)) for ch in rearranged)) % 97
    return f"{country}{check:02d}{account}"


def grouped(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    """A valid IBAN of any registry country, its account part digits and capitals."""
    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    n = IBAN_LENGTHS[country] - 4
    chars = st.sampled_from("0123456789" * 3 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    account = "".join(draw(st.lists(chars, min_size=n, max_size=n)))
    return iban_with_check_digits(country, account)


TEMPLATES = ["IBAN: {}.", "{}", "pay to {} today", "({})"]


@settings(max_examples=300, deadline=None)
@given(ibans(), st.booleans(), st.sampled_from(TEMPLATES))
def test_any_valid_iban_is_redacted(iban: str, spaced: bool, template: str) -> None:
    assert iban_ok(iban)
    text, counts = redact_pii(template.format(grouped(iban) if spaced else iban))
    assert (text, counts) == (template.format("<IBAN>"), {**NONE, "iban": 1})


@settings(max_examples=300, deadline=None)
@given(ibans(), st.booleans(), st.data())
def test_an_iban_with_one_digit_changed_stays(iban: str, spaced: bool, data: st.DataObject) -> None:
    # Mod 97 catches every single-digit change; the look-alike must not become a card either.
    digits = [i for i, ch in enumerate(iban) if ch.isdigit() and i >= 2]
    i = data.draw(st.sampled_from(digits))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != iban[i]]))
    fake = iban[:i] + new + iban[i + 1:]
    text = f"IBAN: {grouped(fake) if spaced else fake}."
    assert redact_pii(text) == (text, NONE)


SSN_AREAS = st.integers(1, 899).filter(lambda a: a != 666)


@settings(max_examples=300, deadline=None)
@given(SSN_AREAS, st.integers(1, 99), st.integers(1, 9999), st.sampled_from(TEMPLATES))
def test_any_valid_ssn_is_redacted(area: int, group: int, serial: int, template: str) -> None:
    text, counts = redact_pii(template.format(f"{area:03d}-{group:02d}-{serial:04d}"))
    assert (text, counts) == (template.format("<SSN>"), {**NONE, "ssn": 1})


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.tuples(st.sampled_from([0, 666, *range(900, 1000)]), st.integers(0, 99),
                  st.integers(0, 9999)),
        st.tuples(SSN_AREAS, st.just(0), st.integers(0, 9999)),
        st.tuples(SSN_AREAS, st.integers(0, 99), st.just(0)),
    ),
    st.sampled_from(TEMPLATES),
)
def test_an_ssn_breaking_the_ssa_rules_stays(parts: tuple[int, int, int], template: str) -> None:
    area, group, serial = parts
    text = template.format(f"{area:03d}-{group:02d}-{serial:04d}")
    assert redact_pii(text) == (text, NONE)
