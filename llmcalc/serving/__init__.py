"""Serving simulation of one replica (a tensor-parallel group of GPUs) under real traffic.

    from llmcalc.serving import Replica
    r = Replica("llama-3-8b", "H100", dtype="fp8")
    r.poisson(rate=20, prompt=1500, output=300, duration=600)      # → metrics dict
    r.closed_loop(concurrency=64, prompt=1500, output=300)
    r.max_throughput(prompt=1500, output=300)

* :mod:`.steptime` tabulates the calibrated step-time model (:mod:`llmcalc.perf.serving_engine`);
* :mod:`.simulate` runs the in-flight batching scheduler with a paged KV cache;
* :mod:`.arrivals` draws arrival times; :mod:`.metrics` summarises latencies and throughput.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError
from ..hardware import DTYPE_BYTES
from ..perf import serving_engine as se
from ..perf.profile import hardware
from . import arrivals, metrics
from .simulate import Limits, Run, simulate
from .steptime import StepTimes

__all__ = ["Replica", "replica", "Limits", "Run", "StepTimes", "simulate", "arrivals", "metrics", "DEFAULTS"]

# Scheduler defaults of current engines: TensorRT-LLM max_num_tokens 8192 (trtllm-bench), vLLM
# max_num_batched_tokens 8192 with chunked prefill; 16-token KV blocks (vLLM); 90% of the memory left
# after weights and activations for the KV cache (TensorRT-LLM kv_cache_free_gpu_mem_fraction).
DEFAULTS = {"max_seqs": 1024, "max_tokens": 8192, "block_size": 16, "memory_fraction": 0.9}


def weight_bytes_per_gpu(model, eng, gpus: int, dtype: str) -> float:
    """Bytes of weights on each GPU: every parameter at ``dtype`` (the LM head, embedding and — for an engine
    without FP8 experts — MoE experts at 16 bits), split evenly over the tensor-parallel group."""
    wb = DTYPE_BYTES[dtype]
    total = float(model.params())
    sixteen = float(model.embedding_params() + model.lm_head_params())
    if model.experts and dtype in ("fp8", "int8") and not eng.facts.get("fp8_moe", True):
        sixteen += float(model.moe_layers * model.moe_params())
    low = total - sixteen
    return (low * wb + sixteen * max(wb, 2.0)) / gpus


@dataclass
class Replica:
    """One model replica on ``gpus`` tensor-parallel GPUs with a serving engine's step times."""

    model: object
    gpu: object
    gpus: int = 1
    dtype: str = "fp8"
    kv_dtype: str | None = None
    engine: object = None
    profile: object = None
    max_seqs: int = DEFAULTS["max_seqs"]
    max_tokens: int = DEFAULTS["max_tokens"]
    block_size: int = DEFAULTS["block_size"]
    memory_fraction: float = DEFAULTS["memory_fraction"]
    policy: str = "no_evict"

    def __post_init__(self):
        from ..catalog import gpu as catalog_gpu, model as catalog_model
        self.model = catalog_model(self.model)
        self.gpu = catalog_gpu(self.gpu)
        self.engine = se.engine(self.engine)
        self.hw = hardware(self.gpu, self.profile)
        # NVFP4 and INT4 checkpoints keep an FP8 (or 16-bit) KV cache, never 4-bit
        self.kv_dtype = self.kv_dtype or {"fp4": "fp8", "int4": "fp16"}.get(self.dtype, self.dtype)
        self.times = StepTimes.build(self.model, self.gpu, self.hw, self.engine, gpus=self.gpus, dtype=self.dtype,
                                     kv_dtype=self.kv_dtype, max_tokens=self.max_tokens, max_rows=self.max_tokens)
        a = se.attention_coefficients(self.model, self.hw, self.engine, gpus=self.gpus, dtype=self.dtype,
                                      kv_dtype=self.kv_dtype)
        self.kv_bytes_per_token = a.kv_bytes_per_position
        self.weight_bytes = weight_bytes_per_gpu(self.model, self.engine, self.gpus, self.dtype)
        self.kv_bytes = self.kv_memory()
        self.kv_blocks = int(self.kv_bytes // (self.block_size * self.kv_bytes_per_token))
        self.cache = {}
        if self.kv_blocks <= 0:
            raise ArgumentError("gpus", f"{self.model.name} does not fit on {self.gpus} × {self.gpu.name} in "
                                        f"{self.dtype}: {self.weight_bytes / 1e9:.1f} GB of weights per GPU leave no room "
                                        "for a KV cache")

    def describe(self) -> str:
        return (f"{self.model.name} on {self.gpus} × {self.gpu.name} ({self.dtype}, {self.engine.name.split(' (')[0]})")

    def kv_memory(self) -> float:
        """Bytes per GPU left for the KV cache.

        Formula: f · (memory − weights − activations of a ``max_tokens`` step), activations = tokens ·
        (3.4·FFN + 39·hidden)/TP bytes (the transient-activation constants of the reference engine,
        llmcalc/perf/memory.py); f = ``memory_fraction`` = 0.9 of the memory left free, as TensorRT-LLM's
        ``kv_cache_free_gpu_mem_fraction`` (vLLM's ``gpu_memory_utilization`` takes 0.9 of the total instead)."""
        m = self.model
        ffn = (m.experts_per_token + m.shared_experts) * (m.moe_ffn or m.ffn) if m.experts else m.ffn
        act = self.max_tokens * (3.4 * ffn + 39.0 * m.hidden) / self.gpus
        return self.memory_fraction * (self.gpu.memory_bytes - self.weight_bytes - act)

    @property
    def kv_tokens(self) -> int:
        """Tokens the KV cache holds (all sequences together)."""
        return self.kv_blocks * self.block_size

    def limits(self) -> Limits:
        return Limits(self.max_seqs, self.max_tokens, self.kv_blocks, self.block_size, policy=self.policy)

    def _check(self, prompt, output):
        need = -(-(int(np.max(prompt)) + int(np.max(output))) // self.block_size)
        if need > self.kv_blocks:
            raise ArgumentError("prompt", f"a request of {int(np.max(prompt))} + {int(np.max(output))} tokens does not "
                                          f"fit: it needs {need * self.block_size:,} tokens of KV cache; {self.gpus} × "
                                          f"{self.gpu.name} hold {self.kv_tokens:,}")

    def run(self, prompt, output, **kw) -> Run:
        self._check(prompt, output)
        return simulate(self.times, self.limits(), prompt, output, **kw)

    def poisson(self, rate, prompt, output, *, duration=None, n_requests=None, seed=0) -> dict:
        """Poisson arrivals at ``rate`` requests/s for ``duration`` seconds (or ``n_requests``)."""
        t = arrivals.poisson(rate, duration=duration, n=n_requests, seed=seed)
        return metrics.summarize(self.run(prompt, output, arrival=t))

    def closed_loop(self, concurrency, prompt, output, *, n_requests=None) -> dict:
        """``concurrency`` clients, each sending its next request when the previous one finishes."""
        n = int(n_requests or max(4 * concurrency, 200))
        return metrics.summarize(self.run(prompt, output, concurrency=int(concurrency), n_requests=n))

    def max_throughput(self, prompt, output, *, n_requests=None) -> dict:
        """Every request queued at t = 0, as offline benchmarks run (trtllm-bench, vLLM's benchmark_throughput):
        3× as many requests as the replica holds in flight (1,000–3,000); throughput = output tokens / makespan."""
        in_flight = min(self.max_seqs, max(1, self.kv_tokens // max(int(np.max(prompt)) + int(np.max(output)), 1)))
        n = int(n_requests or min(max(3 * in_flight, 1000), 3000))
        return metrics.summarize(self.run(prompt, output, arrival=np.zeros(n)))

_REPLICAS: dict = {}


def replica(model, gpu, gpus=1, dtype="bf16", kv_dtype=None, engine=None, profile=None) -> Replica:
    """A :class:`Replica`, built once per configuration (its step table and simulation results are reused)."""
    key = (getattr(model, "name", model), repr(model) if not isinstance(model, str) else "",
           getattr(gpu, "name", gpu), int(gpus), dtype, kv_dtype, str(engine), str(profile))
    r = _REPLICAS.get(key)
    if r is None:
        if len(_REPLICAS) > 64:
            _REPLICAS.clear()
        r = _REPLICAS[key] = Replica(model, gpu, gpus=int(gpus), dtype=dtype, kv_dtype=kv_dtype, engine=engine,
                                     profile=profile)
    return r
