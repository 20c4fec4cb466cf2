"""Citations: every paper, article, datasheet and dataset a user function relies on, declared once.

A function names its sources by key, optionally with the section or figure it uses
(``cite("narayanan2021", "Eq. 4")``); ``.explain()`` shows the readable citation — authors, title,
venue, year, the part used and where to read it — never a repository path.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One citable work."""

    key: str
    authors: str
    title: str
    venue: str
    year: str
    url: str = ""

    def text(self, where: str = "") -> str:
        parts = [f"{self.authors}, “{self.title}”", self.venue, self.year]
        head = ", ".join(p for p in parts if p)
        return head + (f", {where}" if where else "") + (f" — {self.url}" if self.url else "")


_ALL = [
    Source("article1", "计算机视觉研究院 (WeChat account)", "万万没想到,ChatGPT参数只有200亿? (ChatGPT has only 20B parameters?)",
           "reposted on python88.com", "2023", "http://www.python88.com/topic/163847"),
    Source("article2", "Aman Sanger (Cursor); Chinese translation by OneFlow",
           "Why GPT-3.5 is (mostly) cheaper than Llama 2 (为什么多数情况下GPT-3.5比LLaMA 2更便宜)",
           "Cursor blog", "2023", "https://cursor.sh/blog/llama-inference"),
    Source("article3", "anonymous Chinese technical article", "大模型训练相关参数估算 (Estimating the parameters of LLM training)",
           "online article", "2023"),
    Source("kaplan2020", "Kaplan et al.", "Scaling Laws for Neural Language Models", "arXiv 2001.08361", "2020",
           "https://arxiv.org/abs/2001.08361"),
    Source("hoffmann2022", "Hoffmann et al.", "Training Compute-Optimal Large Language Models", "NeurIPS", "2022",
           "https://arxiv.org/abs/2203.15556"),
    Source("narayanan2021", "Narayanan et al.", "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM",
           "SC'21", "2021", "https://arxiv.org/abs/2104.04473"),
    Source("korthikanti2022", "Korthikanti et al.", "Reducing Activation Recomputation in Large Transformer Models",
           "MLSys'23", "2022", "https://arxiv.org/abs/2205.05198"),
    Source("rajbhandari2020", "Rajbhandari et al.", "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
           "SC'20", "2020", "https://arxiv.org/abs/1910.02054"),
    Source("megatron-core", "NVIDIA", "Megatron-LM / Megatron-Core: num_floating_point_operations (model FLOPs), distributed "
           "optimizer, overlap of gradient reduction, parameter gathering and tensor-parallel communication",
           "GitHub NVIDIA/Megatron-LM", "2024", "https://github.com/NVIDIA/Megatron-LM"),
    Source("dao2023", "Tri Dao", "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning",
           "ICLR'24", "2023", "https://arxiv.org/abs/2307.08691"),
    Source("vllm-engine-args", "vLLM project", "Engine arguments: gpu_memory_utilization (default 0.9)", "vLLM documentation",
           "2024", "https://docs.vllm.ai/en/latest/serving/engine_args.html"),
    Source("nccl-tests", "NVIDIA", "nccl-tests: performance (algorithm and bus bandwidth)", "GitHub NVIDIA/nccl-tests",
           "2023", "https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md"),
    Source("pint", "pint developers", "pint unit definitions (GB = 1e9 B, GiB = 2^30 B, Gb = 1e9 bit)", "pint documentation",
           "2024", "https://pint.readthedocs.io"),
    Source("trtllm-perf", "NVIDIA", "TensorRT-LLM performance overview (static-batch throughput and first-token latency "
           "tables; gptSessionBenchmark)", "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md", "2024",
           "https://nvidia.github.io/TensorRT-LLM/performance/perf-overview.html"),
    Source("vllm-paged", "Kwon et al.", "Efficient Memory Management for Large Language Model Serving with PagedAttention",
           "SOSP'23", "2023", "https://arxiv.org/abs/2309.06180"),
    Source("sarathi", "Agrawal et al.", "Taming Throughput-Latency Tradeoff in LLM Inference with Sarathi-Serve "
           "(chunked prefill)", "OSDI'24", "2024", "https://arxiv.org/abs/2403.02310"),
    Source("api-prices", "API providers' public price pages (OpenAI, Anthropic, Google, DeepSeek, DeepInfra, Fireworks, "
           "Together)", "Hosted-API token prices: dated, each with its page and how it was verified",
           "llmcalc API price catalog (llmcalc/data/api_prices.csv)", "2026"),
    Source("perf-model", "llmcalc", "Performance model: per-operator roofline of the reference engine, fitted on measured H100 runs",
           "llmcalc documentation (docs/performance.md; measurements in h100-calibration.json)", "2026"),
    Source("gpu-catalog", "vendor datasheets (NVIDIA, AMD, Intel, Google)",
           "GPU catalog: dense peak FLOP/s, memory, bandwidth, interconnect; each entry lists its own sources",
           "llmcalc GPU catalog (llmcalc.gpu(name).source)", "2026"),
    Source("model-catalog", "model publishers (config.json files and papers)",
           "Model catalog: architectures and exact parameter counts; each entry lists its own sources",
           "llmcalc model catalog (llmcalc.model(name).source)", "2026"),
    Source("price-catalog", "cloud providers' public price pages",
           "GPU price catalog: dated on-demand $ per GPU-hour, each with its page", "llmcalc price catalog (llmcalc list prices)",
           "2026"),
]
SOURCES: dict[str, Source] = {s.key: s for s in _ALL}


def cite(key: str, where: str = "") -> str:
    """The readable citation of a source (``where``: the section, equation or figure used)."""
    return SOURCES[key].text(where)
