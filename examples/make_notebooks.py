"""Write the example notebooks and execute them with a real Jupyter kernel, so they are saved with outputs.

    .venv/bin/python examples/make_notebooks.py              # write + execute all three
    .venv/bin/python examples/make_notebooks.py --no-execute # write them without outputs

Each notebook reproduces one source article's numbers with the ``%llmcost`` magics
(../shared/seeds/: 001 ChatGPT 20B / Chinchilla, 002 LLaMA-2-70B vs GPT-3.5 cost, 003 training
estimates). Cell ids are fixed so that tests/test_notebooks.py can find the cells it checks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text: str, cid: str):
    return new_markdown_cell(text.strip(), id=cid)


def code(text: str, cid: str):
    return new_code_cell(text.strip(), id=cid)


LOAD = """
%load_ext llmcalc
"""

NB01 = [
    md("""
# ChatGPT: only 20B parameters? — the scaling-law arithmetic

Source: *万万没想到，ChatGPT参数只有200亿？* (计算机视觉研究院, 2023; `shared/seeds/001`). A Microsoft
paper (CodeFusion, arXiv 2310.17680) listed ChatGPT as a 20B model. The article quotes 张俊林's guess
of how OpenAI would have sized it from at least **2.5T training tokens**:

* with the Chinchilla law, *training tokens / 20* ≈ the optimal size → **about 120B**;
* with OpenAI's own (Kaplan) scaling law, *tokens / 12.5* → **190–200B**.

`%llmcost` gives each number with units and the formula behind it.
""", "intro"),
    code(LOAD, "load"),
    md("""
## Chinchilla: 20 tokens per parameter

`chinchilla_params` is `=LLM_CHINCHILLA_PARAMS(tokens, [ratio])` in the spreadsheet; `--explain`
shows the formula, the inputs and the sources. (The article rounds 125B to "约 120B".)
""", "md-chinchilla"),
    code("%llmcost chinchilla_params 2.5T --explain", "chinchilla-20"),
    md("""
## OpenAI's scaling law: about 12.5 tokens per parameter

The second positional argument is the ratio, as in the spreadsheet function.
""", "md-kaplan"),
    code("%llmcost chinchilla_params 2.5T 12.5", "kaplan-12-5"),
    md("""
## The data sizes the article mentions

LLaMA 2 was trained on 2T tokens, the article assumes at least 2.5T for ChatGPT, and Mistral 7B on
8T. A list in brackets sweeps the argument:
""", "md-sizes"),
    code("%llmcost chinchilla_params [2T, 2.5T, 8T]", "sizes"),
    md("""
## And a 20B model?

Compute-optimal data for 20B parameters is only 400B tokens; trained on 2.5T tokens (125 tokens per
parameter) a 20B model is far past the Chinchilla point, which is the article's "固定模型大小，疯狂增加训练数据"
route (like Mistral).
""", "md-20b"),
    code("%llmcost chinchilla_tokens 20B", "tokens-20b"),
    md("""
## What each candidate costs to train on 2.5T tokens

Not in the article, but its argument in numbers: the training compute grows with N·D, so the
smaller model is the cheaper one to train *and* to serve. A `%%llmcost` training scenario with
the three sizes (1024 A100s, 45% MFU, no recomputation, the catalog's dated A100 price):
""", "md-train"),
    code("""
%%llmcost -o candidates
title: ChatGPT candidates on 2.5T tokens
model: 20B, 125B, 200B
tokens: 2.5T
gpu: 1024 x A100
recompute: no
""", "train-candidates"),
    code("""[round(d, 1) for d in candidates.column("days")]""", "train-candidates-days"),
]

NB02 = [
    md("""
# Why GPT-3.5 is (mostly) cheaper than LLaMA-2-70B

Source: Aman Sanger, *为什么多数情况下GPT-3.5比LLaMA 2更便宜?* (OneFlow translation of
cursor.sh/blog/llama-inference, 2023; `shared/seeds/002`). The article's assumptions, passed
explicitly below:

* LLaMA-2-70B as **P = 70B** parameters in 16 bits (140 GB of weights);
* **2 × A100-80GB** at **$4.42/h for both** ($2.21 per GPU-hour);
* **200 TFLOP/s** effective per GPU (≈ 65% of 312) and **1.3 TB/s** effective memory bandwidth.

Its numbers: prompt tokens cost **$0.00042 / 1K**; generated tokens **$0.066 / 1K** at batch 1,
**$0.0083** at 8, **$0.0021** at 32; 512 prompt tokens take ≈170 ms, 1536 ≈530 ms.
""", "intro"),
    code(LOAD, "load"),
    md("""
## The arithmetic of the model

16-bit weights, and the KV cache per token of context (the article's "320 KB" is KiB:
2 · 80 layers · 8 KV heads · 128 · 2 bytes), and for a 4096-token sequence ("1.3 GB"):
""", "md-arith"),
    code("%llmcost weights_gb 70B", "weights"),
    code("%llmcost kv_bytes_per_token llama-2-70b", "kv-per-token"),
    code("%llmcost kv_cache_gb llama-2-70b 4096", "kv-4096"),
    md("""
## Prompt tokens are cheap

Prefill reads the weights once and does 2·P FLOPs per token, so on an A100 (312 TFLOP/s,
2 TB/s) it is compute-bound beyond ≈156 tokens:
""", "md-prompt"),
    code("""%llmcost compute_bound_tokens A100 --flops "312 TFLOP/s" --bandwidth "2 TB/s\"""", "compute-bound"),
    md("""
The article's utilisations, kept in a Python string and inserted with `{A2}`; the price is per
GPU-hour, as in every llmcalc function:
""", "md-a2"),
    code("""
A2 = "--mfu '200 TFLOP/s' --bandwidth-utilization '1.3 TB/s' --dtype fp16"
%llmcost cost_per_1k_tokens 70B A100-80GB prompt 1 512 --gpus 2 --price $2.21/GPU-h {A2}
""", "prompt-cost"),
    code("%llmcost prefill_time 70B A100-80GB 1 [512, 1536] --gpus 2 {A2}", "prefill-latency"),
    md("""
## Generated tokens are slow and expensive

Each decode step reads all the weights for one token per sequence: memory-bound. On 2 GPUs
≈18.6 tokens/s at batch 1, and ≈74 on 8 GPUs:
""", "md-decode"),
    code("%llmcost decode_tokens_per_s 70B A100-80GB 1 512 --gpus [2, 8] {A2}", "decode-speed"),
    md("""
## The whole scenario, every cost side by side

`price: $4.42/h total` is the price of both GPUs together (divided by the GPU count); a bare
`$4.42/h` would mean per GPU-hour. The batch list sweeps and plots:
""", "md-scenario"),
    code("""
%%llmcost -o a2
title: LLaMA-2-70B on 2 x A100-80GB, the article's assumptions
model: 70B
gpu: 2 x A100-80GB
price: $4.42/h total
prompt: 512 tokens
generate: 512 tokens
batch: 1, 8, 32
mfu: 200 TFLOP/s
bandwidth: 1.3 TB/s
dtype: fp16
""", "scenario"),
    code("""[round(c, 5) for c in a2.column("cost_generated")]""", "scenario-generated"),
    md("""
## Large batches mean unacceptable latency

Batch 64 on 8 GPUs: the first token of 512-token prompts after ≈3 s, of 3596-token prompts after
20.1 s (the article's footnotes 12 and 13):
""", "md-batch64"),
    code("%llmcost prefill_time 70B A100-80GB 64 [512, 3596] --gpus 8 {A2}", "batch64-ttft"),
    md("""
## How large a batch fits

The KV cache must fit beside 140 GB of weights in 2 × 80 GB. The article estimates ≈8 sequences
for long contexts and 32 for ~1K tokens "because of extra memory inefficiencies"; the exact count
with 90% of the memory usable (vLLM's default), at 1,024 and 4,096 tokens:
""", "md-maxbatch"),
    code("%llmcost max_batch llama-2-70b A100-80GB [1024, 4096] --gpus 2 --dtype fp16", "max-batch"),
    md("""
## The same scenario with llmcalc's own model

Without `mfu:`/`bandwidth:` the scenario uses the catalog architecture of LLaMA-2-70B (KV cache
included) and llmcalc's calibrated performance model. Rows in red do not fit in memory:
""", "md-calibrated"),
    code("""
%%llmcost -o calibrated
model: llama-2-70b
gpu: 2 x A100-80GB
price: $4.42/h total
prompt: 512 tokens
generate: 512 tokens
batch: 1..64 x2
""", "calibrated"),
    code("""calibrated.column("fits")""", "calibrated-fits"),
]

NB03 = [
    md("""
# Training estimates for GPT-3 175B

Source: *大模型训练相关参数估算* (`shared/seeds/003`): parameters, training FLOPs, days, GPUs for a
deadline, memory and communication for GPT-3 (96 layers, hidden size 12288, 300B tokens) on A100s at
45% utilisation.
""", "intro"),
    code(LOAD, "load"),
    md("""
## 1. Parameters: P ≈ 12·L·h² ("≈ 174B"), exactly L(12h² + 13h) + V·h with V = 50257
""", "md-params"),
    code("%llmcost params 96 12288", "params"),
    code("%llmcost params 96 12288 50257", "params-exact"),
    md("""
## 2. Compute: 6 FLOPs per parameter per token without recomputation ("3.1428 × 10²³")
""", "md-flops"),
    code("%llmcost train_flops 174.6e9 300e9 no", "flops"),
    md("""
## 3. Training time: 8·P·D / (N · 312 TFLOP/s · 0.45) on 1024 A100s ("≈ 2921340 秒 ≈ 34 天")
""", "md-days"),
    code("%llmcost train_days 175e9 300e9 1024 A100", "days"),
    code("%llmcost train_days 175e9 300e9 1024 A100 --to s", "days-seconds"),
    md("""
## 4. GPUs for a 30-day deadline ("≈ 1154 块", rounded up to whole GPUs)
""", "md-gpus"),
    code("%llmcost train_gpus 175e9 300e9 30 A100", "gpus"),
    md("""
The "compute wall": on one A100 at its full 312 TFLOP/s, 3.1428 × 10²³ FLOPs take ≈32 years, and
finishing in 30 days needs ≈389 GPUs even at 100% utilisation (the article's 32 × 12 = 384):
""", "md-wall"),
    code("""
one_gpu = %llmcost train_days 174.6e9 300e9 1 A100 --mfu 1 --recompute no
print(f"{one_gpu.to('year').magnitude:.1f} years")
""", "one-gpu-years"),
    code("%llmcost train_gpus 174.6e9 300e9 30 A100 --mfu 1 --recompute no", "gpus-at-full-peak"),
    md("""
## 5. Memory: inference ≈ 1.2 × P × bytes ("840 GB" in fp32), training ≈ 20 bytes per parameter
("3500 GB", at least 44 GPUs of 80 GB)
""", "md-memory"),
    code("%llmcost infer_memory_gb 175e9 fp32", "infer-fp32"),
    code("%llmcost infer_memory_gb 175e9 fp16", "infer-fp16"),
    code("%llmcost train_memory_gb 175e9", "train-memory"),
    code("%llmcost train_min_gpus 175e9 A100-80GB", "min-gpus"),
    md("""
## Communication: 500 GB of tensor-parallel traffic per iteration over a 200 Gbps NIC ("20 秒")
and over 450 GB/s NVLink ("1.1 秒")
""", "md-comm"),
    code("%llmcost comm_seconds '500 GB' '200 Gb/s'", "comm-nic"),
    code("%llmcost comm_seconds '500 GB' '450 GB/s'", "comm-nvlink"),
    md("""
## The trade-off in one cell: GPU count against training time

"训练时长越短，所需的GPU数量就越多": a training scenario sweeping the GPU count, with the 30-day
deadline and the catalog's dated A100 price per GPU-hour:
""", "md-scenario"),
    code("""
%%llmcost -o gpt3
title: GPT-3 175B on 300B tokens
model: 175B
tokens: 300B
gpu: A100
gpus: 256..4096 x2
days: 30
""", "scenario"),
    code("""[round(d, 2) for d in gpt3.column("days")]""", "scenario-days"),
    md("""
And the article's utilisation range (30%–50% on clusters of hundreds of GPUs), on 1024 A100s:
""", "md-mfu"),
    code("""
%%llmcost -o mfu_sweep
model: 175B
tokens: 300B
gpu: 1024 x A100
mfu: 0.3..0.5 step 0.05
""", "mfu-scenario"),
    code("""[round(d, 2) for d in mfu_sweep.column("days")]""", "mfu-days"),
]

NOTEBOOKS = {
    "01-chatgpt-scaling.ipynb": NB01,
    "02-llama2-vs-gpt35-cost.ipynb": NB02,
    "03-training-estimates.ipynb": NB03,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(NOTEBOOKS[name]))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 120) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel ("python3": the ipykernel of this Python)."""
    from nbclient import NotebookClient
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    client.execute()
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    p.add_argument("names", nargs="*", help="which notebooks (default: all)")
    ns = p.parse_args(argv)
    for name in ns.names or NOTEBOOKS:
        nb = build(name)
        if not ns.no_execute:
            execute(nb)
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
