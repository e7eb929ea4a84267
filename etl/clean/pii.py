"""PII redaction: e-mail and IP addresses, IBANs, card, social security and phone numbers.

This module owns :func:`redact_pii`, which replaces each found item with a placeholder and
counts them by type: ``<EMAIL>``, ``<IP>`` (IPv4 with valid octets, IPv6 as validated by
:mod:`ipaddress`), ``<IBAN>``, ``<CARD>``, ``<SSN>`` and ``<PHONE>``. Types are redacted in
that order, so digits inside an address or an IBAN never look like a card or a phone number
later, and a card's digit groups never look like an SSN or a phone number.

Precision matters as much as recall, because a redacted number is lost training signal:

* phones need separators or a ``+`` country code: US/NANP ``(555) 123-4567``,
  ``555-123-4567``, ``555.123.4567``, ``555 123 4567``, ``+1 555 123 4567``, and
  international ``+44 20 7946 0958`` (8 to 15 digits); a bare run of digits (an order
  number, a ZIP code) is left alone, and so are dates, times and prices;
* cards are 13-19 digits, optionally grouped by spaces or dashes, that start like a card
  issuer's number (2221-2720, 3, 4, 5, 6) and pass the Luhn checksum;
* an IBAN (ISO 13616) is a country code of the SWIFT IBAN registry, two check digits
  (02-98) and the account part, upper case, exactly as long as that country's IBANs, either
  written solid (``DE89370400440532013000``) or in groups of four split by single spaces
  (``DE89 3704 0044 0532 0130 00``), and it must pass the ISO 7064 mod-97 check;
* a US social security number is ``AAA-GG-SSSS`` with the SSA's rules: area not 000, 666
  or 900-999, group not 00, serial not 0000. Only the dashed form counts: nine bare digits
  are far more often an order, ZIP+4 or account number, and the bare-digit rule above
  leaves those alone. A dashed triple right after ``+`` and a country code
  (``+49 123-45-6789``) is left to the phone rules;
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
    {'email': 1, 'ip': 1, 'phone': 1, 'card': 1, 'iban': 0, 'ssn': 0}
    >>> redact_pii("Pay DE89 3704 0044 0532 0130 00, SSN 078-05-1120, not 000-12-3456.")[0]
    'Pay <IBAN>, SSN <SSN>, not 000-12-3456.'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from llmlake.config_clean import PIIConfig

# New types go at the end: the clean report sums one pii_redactions map key per type.
PII_TYPES = ("email", "ip", "phone", "card", "iban", "ssn")

# IBAN length per country code, from the SWIFT IBAN registry (ISO 13616).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

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
# Not right after "DE89 ": that is the account part of an IBAN look-alike that failed its
# check, and digits that are not a valid IBAN are not a card either.
_CARD = re.compile(
    r"(?<![\w+.,-])(?<![A-Z]{2}[0-9]{2} )\d(?:[ -]?\d){12,18}(?!\w|[.,-]?\d)", re.ASCII
)


def _iban_pattern() -> re.Pattern[str]:
    """One alternative per IBAN length, so a match is exactly as long as its country wants.

    A pattern that took any length would swallow a following word ("... 0130 00 AND") and
    then fail the check as a whole, leaving the IBAN unredacted.
    """
    by_length: dict[int, list[str]] = {}
    for country, length in sorted(IBAN_LENGTHS.items()):
        by_length.setdefault(length, []).append(country)
    alternatives = []
    for length, countries in sorted(by_length.items()):
        n = length - 4  # the account part after country code and check digits
        grouped = rf"(?: [A-Z0-9]{{4}}){{{n // 4}}}" + (rf" [A-Z0-9]{{{n % 4}}}" if n % 4 else "")
        alternatives.append(rf"(?:{'|'.join(countries)})[0-9]{{2}}(?:[A-Z0-9]{{{n}}}|{grouped})")
    return re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)", re.ASCII)


_IBAN = _iban_pattern()
_IBAN_CHARS = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", re.ASCII)
# Dashed only (see the module docstring); not right after "+49 " and the like (a phone).
_SSN = re.compile(
    r"(?<![\w+.-])(?<!\+\d )(?<!\+\d\d )(?<!\+\d\d\d )\d{3}-\d{2}-\d{4}(?!\w|[.-]\d)", re.ASCII
)
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


def iban_ok(candidate: str) -> bool:
    """Whether ``candidate`` (spaces ignored) has its country's length and a valid mod-97 sum.

    ISO 7064 MOD 97-10: move the first four characters to the end, read letters as 10-35,
    and the number must leave 1 modulo 97. Check digits are 02-98: 00, 01 and 99 are never
    issued, yet 99 and 00 pass the sum wherever 02 and 97 do (they differ by 97).
    """
    iban = candidate.replace(" ", "")
    if not _IBAN_CHARS.fullmatch(iban) or IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    if not 2 <= int(iban[2:4]) <= 98:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def ssn_ok(candidate: str) -> bool:
    """Whether ``AAA-GG-SSSS`` follows the SSA's rules (area, group and serial not reserved)."""
    area, group, serial = candidate.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


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
_HAS_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}")
_HAS_SSN_SHAPE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")

# (type, placeholder, pattern, validator, cheap precondition)
_RULES: tuple[tuple[str, str, re.Pattern[str], Callable[[str], bool], re.Pattern[str]], ...] = (
    ("email", "<EMAIL>", _EMAIL, _always, _HAS_AT),
    ("ip", "<IP>", _IPV6, _is_ipv6, _HAS_IPV6_SHAPE),
    ("ip", "<IP>", _IPV4, _always, _HAS_IPV4_SHAPE),
    # IBANs before cards: an IBAN's account part can be a Luhn-valid run of 13-19 digits.
    ("iban", "<IBAN>", _IBAN, iban_ok, _HAS_IBAN_START),
    # Cards before SSNs and phones: a grouped card number holds SSN- and phone-like groups.
    ("card", "<CARD>", _CARD, is_card_number, _HAS_DIGIT_RUN),
    # SSNs before phones: "+44 20 7946 0958 078-05-1120" would otherwise go to the
    # international phone pattern as one 21-digit run, fail its length check and keep both.
    ("ssn", "<SSN>", _SSN, ssn_ok, _HAS_SSN_SHAPE),
    ("phone", "<PHONE>", _US_PHONE, _always, _HAS_DIGIT_RUN),
    ("phone", "<PHONE>", _INTL_PHONE, _is_intl_phone, _HAS_PLUS_DIGIT),
)


def _enabled(kind: str, cfg: PIIConfig) -> bool:
    return {"email": cfg.emails, "ip": cfg.ips, "phone": cfg.phones, "card": cfg.cards,
            "iban": cfg.ibans, "ssn": cfg.ssns}[kind]


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
