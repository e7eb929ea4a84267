"""PII redaction (etl.clean.pii): what must be redacted and what must stay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.pii import PIIConfig, is_card_number, luhn_ok, redact_pii

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
]

PLACEHOLDER = {"email": "<EMAIL>", "ip": "<IP>", "phone": "<PHONE>", "card": "<CARD>"}


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
]


@pytest.mark.parametrize("value", NOT_PII)
def test_look_alikes_stay_untouched(value: str) -> None:
    text = f"See {value} here."
    assert redact_pii(text) == (text, dict.fromkeys(PLACEHOLDER, 0))


def test_several_items_and_counts() -> None:
    text, counts = redact_pii("a@b.example, c@d.example or 10.0.0.1 and 555-123-4567.")
    assert text == "<EMAIL>, <EMAIL> or <IP> and <PHONE>."
    assert counts == {"email": 2, "ip": 1, "phone": 1, "card": 0}


def test_types_can_be_switched_off() -> None:
    text = "jo@example.com 10.0.0.1"
    assert redact_pii(text, PIIConfig(emails=False))[0] == "jo@example.com <IP>"
    assert redact_pii(text, PIIConfig(enabled=False))[0] == text


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert is_card_number("4111-1111-1111-1111") and not is_card_number("1111111111111117")


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
    assert redact_pii(f"Host {ip} is up.") == (
        "Host <IP> is up.",
        {"email": 0, "ip": 1, "phone": 0, "card": 0},
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(1000, 2999), st.sampled_from(["In {} we left.", "({})", "{}-{}", "{}, {}"]))
def test_years_are_untouched(year: int, template: str) -> None:
    text = template.format(year, year + 1)
    assert redact_pii(text)[0] == text
