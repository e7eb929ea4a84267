"""Peak dense FLOP/s of known accelerators, for model FLOPs utilisation (MFU).

Owns the table of vendor-datasheet peaks (dense, i.e. without 2:4 structured sparsity)
by number format, keyed by substrings of ``torch.cuda.get_device_name()``, and the MFU
arithmetic (PaLM, Chowdhery et al. 2022: achieved model FLOP/s over peak). An accelerator
or format not in the table gives None: MFU is then left out of a report, never guessed.
Standard library only.

Example::

    >>> from training.hardware import mfu, peak_flops
    >>> peak_flops("NVIDIA H100 80GB HBM3"), peak_flops("NVIDIA A100-SXM4-80GB", "tf32")
    (989000000000000.0, 156000000000000.0)
    >>> round(mfu(500_000, 6 * 124e6, "NVIDIA H200", "bf16"), 3)
    0.376
    >>> peak_flops("Some Future GPU") is None
    True
"""

from __future__ import annotations

# (substring of the device name, {format: dense peak FLOP/s}). The first match wins, so a
# longer name comes before any name it contains ("H100 NVL" before "H100", "A100" before
# "A10", "L40S" before "L40" before "L4"). bf16 and fp16 are tensor-core rates with fp32
# accumulation; fp32 is the plain (non-tensor-core) rate.
PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200 NVL", {"bf16": 835e12, "fp16": 835e12, "tf32": 417e12, "fp32": 60e12}),
    # H200 SXM, and GH200 (the same Hopper GPU beside a Grace CPU).
    ("H200", {"bf16": 989e12, "fp16": 989e12, "tf32": 494e12, "fp32": 67e12}),
    ("H100 NVL", {"bf16": 835e12, "fp16": 835e12, "tf32": 417e12, "fp32": 60e12}),
    ("H100 PCIe", {"bf16": 756e12, "fp16": 756e12, "tf32": 378e12, "fp32": 51e12}),
    # The SXM part: "NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 ...".
    ("H100", {"bf16": 989e12, "fp16": 989e12, "tf32": 494e12, "fp32": 67e12}),
    ("A100", {"bf16": 312e12, "fp16": 312e12, "tf32": 156e12, "fp32": 19.5e12}),
    # The A10G (AWS's variant of the A10) has no NVIDIA datasheet; its tensor-core rates
    # are not published, so only the A10's are listed.
    ("A10G", {"fp32": 31.2e12}),
    ("A10", {"bf16": 125e12, "fp16": 125e12, "tf32": 62.5e12, "fp32": 31.2e12}),
    ("L40S", {"bf16": 362e12, "fp16": 362e12, "tf32": 183e12, "fp32": 91.6e12}),
    ("L40", {"bf16": 181e12, "fp16": 181e12, "tf32": 90.5e12, "fp32": 90.5e12}),
    ("L4", {"bf16": 121e12, "fp16": 121e12, "tf32": 60e12, "fp32": 30.3e12}),
    ("RTX 4090", {"bf16": 165e12, "fp16": 165e12, "tf32": 82.6e12, "fp32": 82.6e12}),
    ("RTX 3090", {"bf16": 71e12, "fp16": 71e12, "tf32": 35.6e12, "fp32": 35.6e12}),
    # Volta has fp16 tensor cores but no bf16: bf16 there is emulated, so no peak.
    ("V100-PCIE", {"fp16": 112e12, "fp32": 14e12}),
    ("V100", {"fp16": 125e12, "fp32": 15.7e12}),
    ("T4", {"fp16": 65e12, "fp32": 8.1e12}),
)

# Spellings of the formats (torch dtypes, their names) -> the table's keys.
ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32",
           "float": "fp32"}


def peak_flops(device_name: str, dtype: str = "bf16") -> float | None:
    """Dense peak FLOP/s of ``device_name`` in ``dtype`` ("bf16", "fp16", "tf32", "fp32"
    or a torch dtype's name), or None when the device or format is not in the table."""
    key = str(dtype).lower().removeprefix("torch.")
    key = ALIASES.get(key, key)
    for part, peaks in PEAKS:
        if part.lower() in device_name.lower():
            return peaks.get(key)
    return None


def mfu(tokens_per_s: float, flops_per_token: float, device_name: str,
        dtype: str = "bf16") -> float | None:
    """Model FLOPs utilisation: achieved FLOP/s over the device's peak (None if unknown)."""
    peak = peak_flops(device_name, dtype)
    return None if peak is None else tokens_per_s * flops_per_token / peak
