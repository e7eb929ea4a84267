"""PII redaction: e-mail addresses, IP addresses, phone numbers and payment card numbers.

This module owns :func:`redact_pii`, which replaces each found item with a placeholder and
counts them by type: ``<EMAIL>``, ``<IP>`` (IPv4 with valid octets, IPv6 as validated by
:mod:`ipaddress`), ``<PHONE>`` and ``<CARD>``. Types are redacted in that order, so digits
inside an address never look like a phone number later.

Precision matters as much as recall, because a redacted number is lost training signal:

* phones need separators or a ``+`` country code: US/NANP ``(555) 123-4567``,
  ``555-123-4567``, ``555.123.4567``, ``555 123 4567``, ``+1 555 123 4567``, and
  international ``+44 20 7946 0958`` (8 to 15 digits); a bare run of digits (an order
  number, a ZIP code) is left alone, and so are dates, times and prices;
* cards are 13-19 digits, optionally grouped by spaces or dashes, that start like a card
  issuer's number (2221-2720, 3, 4, 5, 6) and pass the Luhn checksum;
* an IPv4 address has exactly four dot-separated octets 0-255 without leading zeros, not
  preceded by a letter or dot (``v1.2.3.4`` is a version) and not followed by another
  ``.digit``; an IPv6 candidate must contain a digit and parse.

Example::

    >>> from etl.clean.pii import redact_pii
    >>> text, counts = redact_pii(
    ...     "Mail jo@example.com or call (555) 123-4567 from 10.0.0.1; card "
    ...     "4111 1111 1111 1111. Version 3.2.1 costs $19.99 since 1998.")
    >>> text
    'Mail <EMAIL> or call <PHONE> from <IP>; card <CARD>. Version 3.2.1 costs $19.99 since 1998.'
    >>> counts
    {'email': 1, 'ip': 1, 'phone': 1, 'card': 1}
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from llmlake.config_clean import PIIConfig

PII_TYPES = ("email", "ip", "phone", "card")

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.\d)", re.ASCII)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![\w:]|\.\d)",
    re.ASCII,
)
_CARD = re.compile(r"(?<![\w+.,-])\d(?:[ -]?\d){12,18}(?!\w|[.,-]?\d)", re.ASCII)
_US_PHONE = re.compile(
    r"(?<![\w+.-])(?:\+?1[ .-]?)?(?:\([2-9]\d\d\)[ .-]?|[2-9]\d\d[ .-])\d{3}[ .-]\d{4}"
    r"(?!\w|[.-]\d)",
    re.ASCII,
)
_INTL_PHONE = re.compile(
    r"(?<![\w+])\+[2-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){1,7}(?!\w|[.-]\d)", re.ASCII
)
# ASCII digits only: other scripts' digits are not phone or card numbers here.
_NOT_DIGIT = re.compile(r"[^0-9]")


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card_number(candidate: str) -> bool:
    """13-19 digits (separators ignored) with a card issuer's prefix and a valid Luhn sum."""
    digits = _NOT_DIGIT.sub("", candidate)
    if not 13 <= len(digits) <= 19:
        return False
    issuer = digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720
    return issuer and luhn_ok(digits)


def _is_ipv6(candidate: str) -> bool:
    if not any(c.isdigit() for c in candidate):
        return False  # "a::b" and "::" are code far more often than addresses
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _is_intl_phone(candidate: str) -> bool:
    return 8 <= len(_NOT_DIGIT.sub("", candidate)) <= 15


def _always(_: str) -> bool:
    return True


# Cheap tests that a pattern can match at all: each full pattern starts with a lookbehind,
# which makes the regex engine try it at every position, and most texts have no PII.
_HAS_AT = re.compile("@")
_HAS_IPV6_SHAPE = re.compile(r":[0-9A-Fa-f]{0,4}:")
_HAS_IPV4_SHAPE = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
_HAS_DIGIT_RUN = re.compile(r"[0-9][0-9 ().-]{6,}[0-9]")
_HAS_PLUS_DIGIT = re.compile(r"\+[0-9]")

# (type, placeholder, pattern, validator, cheap precondition)
_RULES: tuple[tuple[str, str, re.Pattern[str], Callable[[str], bool], re.Pattern[str]], ...] = (
    ("email", "<EMAIL>", _EMAIL, _always, _HAS_AT),
    ("ip", "<IP>", _IPV6, _is_ipv6, _HAS_IPV6_SHAPE),
    ("ip", "<IP>", _IPV4, _always, _HAS_IPV4_SHAPE),
    # Cards before phones: a grouped card number contains phone-like digit groups.
    ("card", "<CARD>", _CARD, is_card_number, _HAS_DIGIT_RUN),
    ("phone", "<PHONE>", _US_PHONE, _always, _HAS_DIGIT_RUN),
    ("phone", "<PHONE>", _INTL_PHONE, _is_intl_phone, _HAS_PLUS_DIGIT),
)


def _enabled(kind: str, cfg: PIIConfig) -> bool:
    return {"email": cfg.emails, "ip": cfg.ips, "phone": cfg.phones, "card": cfg.cards}[kind]


def redact_pii(text: str, cfg: PIIConfig | None = None) -> tuple[str, dict[str, int]]:
    """Return ``text`` with PII replaced by placeholders, and the count of each type."""
    cfg = cfg or PIIConfig()
    counts = dict.fromkeys(PII_TYPES, 0)
    if not cfg.enabled:
        return text, counts
    for kind, placeholder, pattern, valid, precondition in _RULES:
        if not _enabled(kind, cfg) or not precondition.search(text):
            continue

        def replace(m: re.Match[str], kind: str = kind, ph: str = placeholder, ok=valid) -> str:
            if not ok(m.group()):
                return m.group()
            counts[kind] += 1
            return ph

        text = pattern.sub(replace, text)
    return text, counts
