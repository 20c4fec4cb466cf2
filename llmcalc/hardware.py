"""An accelerator's datasheet figures (dense peaks, memory, bandwidth, interconnect, price)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .errors import ArgumentError

# Bytes per element of each numeric format (weights, KV cache, compute).
DTYPE_BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5}
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "32": "fp32", "32bit": "fp32", "bfloat16": "bf16",
                 "float16": "fp16", "half": "fp16", "16": "fp16", "16bit": "fp16", "8": "int8", "8bit": "int8",
                 "float8": "fp8", "e4m3": "fp8", "4": "int4", "4bit": "int4", "nf4": "int4", "q4": "int4",
                 "q8": "int8", "fp4": "fp4", "float4": "fp4"}


def normalize_dtype(text: str, argument: str = "dtype") -> str:
    key = str(text)[:40].strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        shown = repr(text) if len(str(text)) <= 40 else repr(str(text)[:39]) + "…"
        raise ArgumentError(argument, f"unknown numeric format {shown}; use one of {', '.join(DTYPE_BYTES)}")
    return key


class GPU(BaseModel):
    """One accelerator. Peaks are dense (no 2:4 sparsity), in FLOP/s; bytes and bytes/s are SI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    vendor: str = ""
    memory_bytes: float
    memory_gb_label: float
    bandwidth: float                     # bytes/s (decimal)
    peak: dict[str, float]               # dtype -> dense FLOP/s (int8: OP/s)
    interconnect_bandwidth: float | None = None  # bytes/s, bidirectional aggregate per GPU
    interconnect: str = ""
    # the cluster a GPU is typically deployed in (llmcalc/data/networks.csv): its scale-up domain
    # (NVLink/NVSwitch, Infinity Fabric, ICI, PCIe) and its scale-out network, per GPU and direction
    scale_up_size: int = 1               # GPUs in one scale-up domain (8 for HGX, 72 for NVL72)
    scale_up_bandwidth: float = 0.0      # bytes/s per GPU, one direction
    scale_up_fabric: str = ""
    scale_out_bandwidth: float = 0.0     # bytes/s per GPU, one direction (its NIC share)
    scale_out_fabric: str = ""
    network_source: str = ""
    price_per_hour: float | None = None  # USD per GPU-hour, on-demand
    price_date: str = ""
    price_source: str = ""
    source: str = ""
    notes: str = ""

    def peak_flops(self, dtype: str = "bf16") -> float:
        """Dense peak FLOP/s for ``dtype`` (int4 weights compute in fp16/bf16: their peak)."""
        key = "bf16" if dtype == "int4" else dtype
        value = self.peak.get(key)
        if not value and key in ("bf16", "fp16"):  # V100 has fp16 tensor cores but no bf16
            value = self.peak.get("fp16") or self.peak.get("bf16")
        if not value:
            if not self.peak:  # nothing to choose from: the GPU is the problem, whatever the format
                raise ArgumentError("gpu", f"{self.name} has no published dense tensor-core peak (the vendor "
                                    "publishes none), so its compute time cannot be estimated from a datasheet; "
                                    "pick a GPU with a published peak or measure this one (llmcalc calibrate)")
            have = ", ".join(k for k in self.peak if k != "int8")
            raise ArgumentError("dtype", f"{self.name} has no published dense {dtype} peak (it has {have})")
        return value

    @property
    def memory_label_bytes(self) -> float:
        """The vendor's label read as decimal GB (80 GB -> 8e10 bytes): the articles' capacity."""
        return self.memory_gb_label * 1e9
