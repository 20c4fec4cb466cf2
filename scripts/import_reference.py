"""Regenerate llmcalc/data/{gpus,models}.csv from the project's reference tables.

Usage: python scripts/import_reference.py ../shared/reference

The reference tables (datasheet and config facts, each with its source) are the input; this script
normalises columns (numbers in one unit per column, memory capacity in exact bytes, parsed
architecture fields), adds the catalog's own columns (aliases, typical price with its date and
source), applies the corrections below (each with its reason and source, recorded in the row's
notes) and adds accelerators that price rows name. Every output row keeps the `sources`,
`verification` and `notes` of its input row. prices.csv is copied with its own corrections; every
price row must name a catalog GPU (tests/test_units_and_catalog.py checks it).

Rows of the catalog that the reference does not have (entries added later, each with its own sources and
verification, e.g. Llama-3.3-70B, H800, B300) are kept as they are, after the imported rows.
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "llmcalc" / "data"

# name -> aliases (case and punctuation are ignored when matching)
GPU_ALIASES = {
    "A100-SXM4-40GB": "A100-40GB",
    "A100-SXM4-80GB": "A100;A100-80GB;A100-SXM;A100-80GB (NVLink)",
    "A100-PCIE-40GB": "A100-PCIe",
    "A100-PCIE-80GB": "A100-PCIe-80GB",
    "H100-SXM5-80GB": "H100;H100-SXM;H100-80GB;H100-SXM-80GB",
    "H100-PCIE-80GB": "H100-PCIe",
    "H100-NVL-94GB": "H100-NVL",
    "H200-SXM-141GB": "H200;H200-SXM;H200-141GB",
    "H200-NVL-141GB": "H200-NVL",
    "B200": "B200-180GB",
    "GB200 (per GPU)": "GB200",
    "V100-SXM2-32GB": "V100;V100-32GB",
    "V100-SXM2-16GB": "V100-16GB",
    "V100-SXM3-32GB-H": "V100-SXM3;DGX-2H",
    "GH200-96GB": "GH200;GH200-480GB",
    "TPU-v4": "TPUv4",
    "TPU-v5e": "TPUv5e;v5e",
    "TPU-v5p": "TPUv5p;v5p",
    "TPU-v6e": "TPUv6e;Trillium",
}

# Typical on-demand $/GPU-hour picked from prices.csv (the row named in price_source).
GPU_PRICES = {
    "A100-SXM4-40GB": (1.99, "2026-09-20", "Lambda 8x A100 SXM 40 GB, https://lambda.ai/instances"),
    "A100-SXM4-80GB": (2.70, "2026-09-20", "CoreWeave HGX A100 8-GPU node $21.60/h / 8, https://www.coreweave.com/pricing"),
    "A100-PCIE-80GB": (1.59, "2026-09-25", "RunPod Secure Cloud, https://www.runpod.io/pricing"),
    "H100-SXM5-80GB": (3.99, "2026-09-20", "Lambda 8x H100 SXM, https://lambda.ai/instances"),
    "H100-PCIE-80GB": (3.29, "2026-09-20", "Lambda 1x H100 PCIe, https://lambda.ai/instances"),
    "H100-NVL-94GB": (3.19, "2026-09-25", "RunPod Secure Cloud, https://www.runpod.io/pricing"),
    "H200-SXM-141GB": (4.50, "2026-09-25", "Nebius 1 GPU, https://nebius.com/prices"),
    "GH200-96GB": (2.29, "2026-09-20", "Lambda 1x GH200, https://lambda.ai/instances"),
    "B200": (6.69, "2026-09-20", "Lambda 8x B200 SXM6, https://lambda.ai/instances"),
    "GB200 (per GPU)": (10.50, "2026-09-20", "CoreWeave GB200 NVL72 4-GPU instance $42/h / 4, https://www.coreweave.com/pricing"),
    "L40S": (1.55, "2026-09-25", "Nebius 1 GPU, https://nebius.com/prices"),
    "A10": (1.29, "2026-09-20", "Lambda 1x A10, https://lambda.ai/instances"),
    "A10G": (1.006, "2026-06-17", "AWS g5.xlarge on-demand, us-east-1 (instance price incl. CPU/RAM), as listed on "
             "https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/"),
    # Lambda's "8x Tesla V100" instances are the 16 GB part; no dated 32 GB price was found.
    "V100-SXM2-16GB": (0.79, "2026-09-20", "Lambda 8x Tesla V100 16 GB, https://lambda.ai/instances"),
}

# Corrections to the reference tables: name -> {column: value}, with why and the source. The input
# column names are the reference's; the reason is appended to the row's notes, the source to its sources.
GPU_FIXES = {
    "B200": ({"fp32_TFLOPS": "75", "memory_bandwidth_TBps": "7.7"},
             "FP32 75 TFLOPS and 7.7 TB/s per GPU from NVIDIA's HGX B200 table (600 TFLOPS FP32 and 180 GB per "
             "GPU for 8 GPUs), the same table as the 180 GB and 1,000 W here; the 2024 DGX B200 datasheet gives "
             "8 TB/s (64 TB/s / 8) and 80 TFLOPS is GB200's FP32",
             "https://www.nvidia.com/en-us/data-center/hgx/ (HGX B200 table; copy: "
             "https://hpc-ai.com/blog/B200-Practical-Considerations-for-AI-Teams)"),
    "GB200 (per GPU)": ({"TDP_W": "1200"},
                        "TDP up to 1,200 W per Blackwell GPU in GB200 (NVIDIA's GB200 configuration)",
                        "https://glennklockwood.com/garden/processors/B200 (GB200 variant of B200 at 1,200 W)"),
    "MI250X": ({"TDP_W": "500"}, "TDP 500 W; 560 W is the peak board power of the OAM module",
               "https://www.amd.com/en/products/accelerators/instinct/mi200/mi250x.html"),
    "Gaudi2": ({"interconnect_GBps": "600",
                "interconnect_direction": "bidirectional aggregate (300 per direction: 24 x 100 GbE; 21 links "
                                          "scale-up in an 8-card node = 525 bidirectional)"},
               "interconnect stored as both directions like every other row: 24 x 100 Gb/s = 300 GB/s per "
               "direction, 600 GB/s bidirectional",
               "Intel Gaudi 3 at Hot Chips 2024 (https://servethehome.com/intel-gaudi-3-for-ai-training-and-inference); "
               "https://docs.habana.ai/en/latest/Management_and_Monitoring/Network_Configuration/index.html"),
    "Gaudi3": ({"interconnect_GBps": "1200",
                "interconnect_direction": "bidirectional aggregate (600 per direction: 24 x 200 GbE; 21 links "
                                          "scale-up in an 8-card node = 1,050 bidirectional)"},
               "interconnect stored as both directions like every other row: 24 x 200 Gb/s = 600 GB/s per "
               "direction, 1,200 GB/s bidirectional (Intel, Hot Chips 2024)",
               "Intel Gaudi 3 at Hot Chips 2024 (https://servethehome.com/intel-gaudi-3-for-ai-training-and-inference); "
               "https://docs.habana.ai/en/latest/Management_and_Monitoring/Network_Configuration/index.html"),
}

# Accelerators that price rows or published results name but the reference table lacks, in the reference's columns.
EXTRA_GPUS = [
    {"name": "V100-SXM2-16GB", "vendor": "NVIDIA", "form_factor": "SXM2", "memory_GB": "16",
     "memory_unit_note": "label GB; binary HBM2 (4 stacks x 4 GiB; nvidia-smi 16384 MiB)", "memory_type": "HBM2",
     "memory_bandwidth_TBps": "0.9", "fp32_TFLOPS": "15.7", "tf32_TFLOPS_dense": "", "bf16_TFLOPS_dense": "",
     "fp16_TFLOPS_dense": "125", "fp8_TFLOPS_dense": "", "int8_TOPS_dense": "", "fp4_TFLOPS_dense": "",
     "scaleup_interconnect": "NVLink 2 (6 links)", "interconnect_GBps": "300",
     "interconnect_direction": "bidirectional aggregate (150 per direction)", "TDP_W": "300", "release_year": "2017",
     "verification": "secondary (NVIDIA V100 datasheet; same GV100 compute as the 32 GB part)",
     "sources": "https://www.nvidia.com/en-us/data-center/v100/; "
                "https://images.nvidia.com/content/technologies/volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf",
     "notes": "the 16 GB V100 (2017) that Lambda rents; FP16 125 = tensor-core mixed precision; no BF16/TF32/FP8"},
    {"name": "V100-SXM3-32GB-H", "vendor": "NVIDIA", "form_factor": "SXM3 (DGX-2H, 16 GPUs on NVSwitch)",
     "memory_GB": "32", "memory_unit_note": "label GB", "memory_type": "HBM2",
     "memory_bandwidth_TBps": "0.9", "fp32_TFLOPS": "16.4", "tf32_TFLOPS_dense": "", "bf16_TFLOPS_dense": "",
     "fp16_TFLOPS_dense": "131", "fp8_TFLOPS_dense": "", "int8_TOPS_dense": "", "fp4_TFLOPS_dense": "",
     "scaleup_interconnect": "NVLink 2 (6 links) to NVSwitch", "interconnect_GBps": "300",
     "interconnect_direction": "bidirectional aggregate (150 per direction)", "TDP_W": "450", "release_year": "2018",
     "verification": "secondary (DGX-2H system figures as reported; per-GPU peak = system / 16)",
     "sources": "https://www.tomshardware.com/news/nvidia-worlds-largest-gpu-dgx-2h,38089.html (NVIDIA DGX-2H, "
                "Nov. 2018: 16 Tesla V100 SXM3 32 GB at 450 W, 2.1 petaFLOPS tensor for the system, DGX-2: 2.0 at "
                "350 W; 12 kW); https://arxiv.org/abs/1909.08053 (Shoeybi et al. 2019, Megatron-LM, section 5: 32 "
                "DGX-2H servers, 512 Tesla V100 SXM3 32GB GPUs)",
     "notes": "the V100 of NVIDIA's DGX-2H (the cluster of the Megatron-LM papers and README tables); FP16 131 = "
              "2.1 PFLOPS / 16 GPUs, i.e. the 640 tensor cores at 1.60 GHz (V100 SXM2: 125 at 1.53 GHz); FP32 "
              "80 SMs x 64 lanes x 2 x 1.60 GHz = 16.4; 450 W lets it hold that clock under tensor-core load; "
              "HBM2 bandwidth as the V100 datasheet (no separate figure published); no BF16/TF32/FP8"},
    {"name": "GH200-96GB", "vendor": "NVIDIA", "form_factor": "Grace Hopper superchip (1 H100 GPU + 1 Grace CPU)",
     "memory_GB": "96", "memory_unit_note": "label GB; HBM3 of the GPU (nvidia-smi 97871 MiB); the Grace CPU's "
                                            "480 GB LPDDR5X is not counted",
     "memory_type": "HBM3", "memory_bandwidth_TBps": "4.0", "fp32_TFLOPS": "67", "tf32_TFLOPS_dense": "494.5",
     "bf16_TFLOPS_dense": "989", "fp16_TFLOPS_dense": "989", "fp8_TFLOPS_dense": "1979", "int8_TOPS_dense": "1979",
     "fp4_TFLOPS_dense": "", "scaleup_interconnect": "NVLink 4 (18 links); NVLink-C2C 900 GB/s to Grace",
     "interconnect_GBps": "900", "interconnect_direction": "bidirectional aggregate (450 per direction)",
     "TDP_W": "", "release_year": "2024",
     "verification": "secondary (NVIDIA GH200 page figures as quoted; dense peaks as H100 SXM per ml-engineering)",
     "sources": "https://www.nvidia.com/en-us/data-center/grace-hopper-superchip/; "
                "https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md",
     "notes": "the 96 GB HBM3 version that Lambda and CoreWeave rent (a 144 GB HBM3e version exists); "
              "TDP 450-1,000 W is for the whole module (CPU + GPU + memory), so no per-GPU TDP is given"},
]

# Physical capacity where nvidia-smi / vendor docs give it (MiB); else the label is read per note.
MEMORY_MIB = {"H100-SXM5-80GB": 81559, "H100-PCIE-80GB": 81559, "H200-SXM-141GB": 143771, "GH200-96GB": 97871}

MODEL_FIXES = {
    "GPT-3 13B": ({"params_total_computed_B": "12.936"},
                  "reference count 12.936B recomputed from these fields: d_model 5,140 with attention width "
                  "n_heads x d_head = 40 x 128 = 5,120 (the 12.953B recount used 5,140 for both)", ""),
    "DeepSeek-V3": ({"max_context": "163840"},
                    "max_context is the config's max_position_embeddings (163,840), as for every model here; "
                    "DeepSeek documents 128K (131,072) tokens as the supported context", ""),
    "Chinchilla-70B": ({}, "norm is RMSNorm, as in Gopher, whose design Chinchilla reuses (Rae et al. 2021, "
                           "arXiv 2112.11446: 'RMSNorm instead of LayerNorm')", ""),
}
RMSNORM = {"Chinchilla-70B"}  # GELU-style MLP but RMSNorm (Gopher)

PRICE_FIXES = {  # (provider, gpu, instance_or_sku) -> {column: value}
    ("CoreWeave", "A100-80GB (NVLink)", "per-GPU list price"): {
        "page_date": "2023-07-20 (date of the seed article that cites it, https://cursor.sh/blog/llama-inference)"},
    ("AWS EC2", "A10G", "g5.xlarge"): {
        "page_date": "2026-06-17 (stated by the page)",
        "page_url": "https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/",
        "retrieved_via": "dated third-party page quoting AWS's us-east-1 on-demand rate card (June 2026)",
        "notes": "same $1.006/h as https://instances.vantage.sh/aws/ec2/g5.xlarge; g5.12xlarge 4xA10G $5.672; "
                 "g5.48xlarge 8xA10G $16.288"},
    ("Google Cloud", "H100-SXM-80GB", "a3-highgpu-1g (on-demand-equivalent list)"): {
        "pricing_type": "Spot/Flex-start only (on-demand-equivalent list price)"},
}


def fix(row: dict, fixes: dict) -> dict:
    """``row`` with its correction applied (values, reason appended to notes, source to sources)."""
    if row["name"] not in fixes:
        return row
    values, why, source = fixes[row["name"]]
    out = {**row, **values, "notes": "; ".join(filter(None, [row["notes"], "corrected: " + why]))}
    if source:
        out["sources"] = f"{row['sources']}; {source}"
    return out




def num(s: str) -> str:
    s = (s or "").strip()
    m = re.match(r"^[0-9.]+", s)
    return m.group(0) if m else ""


def memory_bytes(row) -> tuple[int, str]:
    name, label, note = row["name"], float(row["memory_GB"]), row["memory_unit_note"]
    if name in MEMORY_MIB:
        return MEMORY_MIB[name] * 2**20, f"{MEMORY_MIB[name]} MiB as reported by nvidia-smi"
    if re.search(r"GiB|binary", note):
        return int(label * 2**30), f"label {label:g} GB is binary: {label:g} GiB"
    return int(label * 1e9), f"label {label:g} GB read as decimal GB (conservative)"


def added_later(name: str, imported: list[dict]) -> list[dict]:
    """The rows of the current catalog file ``name`` whose names the import does not produce (kept as they are)."""
    path = OUT / name
    if not path.exists():
        return []
    produced = {r["name"] for r in imported}
    with open(path, newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["name"] not in produced]


def gpus(src: Path):
    rows = [fix(r, GPU_FIXES) for r in csv.DictReader(open(src / "gpus.csv", encoding="utf-8"))]
    v100 = next(i for i, r in enumerate(rows) if r["name"] == "V100-SXM2-32GB")
    rows[v100 + 1:v100 + 1] = EXTRA_GPUS[:2]                     # beside their SXM2 32 GB sibling
    h200 = next(i for i, r in enumerate(rows) if r["name"] == "H200-NVL-141GB")
    rows[h200 + 1:h200 + 1] = EXTRA_GPUS[2:]
    cols = ["name", "aliases", "vendor", "form_factor", "memory_gb_label", "memory_bytes", "memory_note",
            "memory_type", "bandwidth_TBps", "fp32_TFLOPS", "tf32_TFLOPS", "bf16_TFLOPS", "fp16_TFLOPS",
            "fp8_TFLOPS", "int8_TOPS", "fp4_TFLOPS", "interconnect", "interconnect_GBps",
            "interconnect_direction", "tdp_W", "release_year", "price_usd_per_gpu_hour", "price_date",
            "price_source", "verification", "sources", "notes"]
    later = added_later("gpus.csv", rows)
    with open(OUT / "gpus.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            mb, mnote = memory_bytes(r)
            price = GPU_PRICES.get(r["name"], ("", "", ""))
            w.writerow({
                "name": r["name"], "aliases": GPU_ALIASES.get(r["name"], ""), "vendor": r["vendor"],
                "form_factor": r["form_factor"], "memory_gb_label": num(r["memory_GB"]), "memory_bytes": mb,
                "memory_note": f"{mnote}; {r['memory_unit_note']}", "memory_type": r["memory_type"],
                "bandwidth_TBps": num(r["memory_bandwidth_TBps"]), "fp32_TFLOPS": num(r["fp32_TFLOPS"]),
                "tf32_TFLOPS": num(r["tf32_TFLOPS_dense"]), "bf16_TFLOPS": num(r["bf16_TFLOPS_dense"]),
                "fp16_TFLOPS": num(r["fp16_TFLOPS_dense"]), "fp8_TFLOPS": num(r["fp8_TFLOPS_dense"]),
                "int8_TOPS": num(r["int8_TOPS_dense"]), "fp4_TFLOPS": num(r["fp4_TFLOPS_dense"]),
                "interconnect": r["scaleup_interconnect"], "interconnect_GBps": num(r["interconnect_GBps"]),
                "interconnect_direction": r["interconnect_direction"], "tdp_W": num(r["TDP_W"]),
                "release_year": r["release_year"], "price_usd_per_gpu_hour": price[0], "price_date": price[1],
                "price_source": price[2], "verification": r["verification"], "sources": r["sources"],
                "notes": r["notes"],
            })
        w.writerows(later)


MODEL_ALIASES = {
    "GPT-3 175B": "gpt-3;gpt3;davinci", "LLaMA-1 7B": "llama-7b", "LLaMA-1 13B": "llama-13b",
    "LLaMA-1 33B": "llama-33b;llama-30b", "LLaMA-1 65B": "llama-65b", "Mistral-7B-v0.1": "mistral-7b",
    "Mixtral-8x7B-v0.1": "mixtral-8x7b;mixtral", "Mixtral-8x22B-v0.1": "mixtral-8x22b",
    "DeepSeek-V3": "deepseek-v3-671b", "Llama-3.1-405B": "llama-405b", "Falcon-40B": "falcon",
    "BLOOM-176B": "bloom", "OPT-175B": "opt", "Chinchilla-70B": "chinchilla",
}


def models(src: Path):
    rows = [fix(r, MODEL_FIXES) for r in csv.DictReader(open(src / "models.csv", encoding="utf-8"))]
    cols = ["name", "aliases", "family", "layers", "hidden", "heads", "kv_heads", "head_dim", "v_head_dim",
            "ffn", "ffn_type", "vocab", "tied_embeddings", "max_context", "position", "attention",
            "norm", "linear_bias", "qkv_bias", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim",
            "experts", "experts_per_token", "shared_experts", "moe_ffn", "dense_layers",
            "norms_per_layer", "embedding_norm", "parallel_attention", "params_published", "params_active_published",
            "params_reference_B", "params_active_reference_B", "training_tokens", "release",
            "verification", "sources", "notes"]
    later = added_later("models.csv", rows)
    with open(OUT / "models.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            ffn_type = r["ffn_type"].lower()
            gpt_style = "gelu-2" in ffn_type or "relu-2" in ffn_type
            att = r["attention_type"]
            attention = "mla" if att.startswith("MLA") else (
                "mqa" if r["n_kv_heads"] == "1" else ("gqa" if r["n_kv_heads"] != r["n_heads"] else "mha"))
            mla = attention == "mla"
            pos = r["position_encoding"].lower()
            name = r["name"]
            falcon = name.startswith("Falcon")
            heads, notes = r["n_heads"], r["notes"]
            if name == "GPT-3 XL":  # Table 2.1 prints 24 heads x 128 = 3072 != d_model 2048
                heads = "16"
                notes = ("heads set to 16 (x 128 = d_model 2048) so the attention width equals d_model; "
                         "Table 2.1 prints 24 heads. " + notes)
            w.writerow({
                "name": name, "aliases": MODEL_ALIASES.get(name, ""), "family": r["family"],
                "layers": r["n_layers"], "hidden": r["hidden_size"], "heads": heads,
                "kv_heads": heads if name == "GPT-3 XL" else r["n_kv_heads"],
                "head_dim": r["mla_qk_nope_head_dim"] if mla else num(r["head_dim"]),
                "v_head_dim": r["mla_v_head_dim"] if mla else "",
                "ffn": num(r["ffn_hidden"]),
                "ffn_type": ("swiglu" if "swiglu" in ffn_type else "geglu" if "geglu" in ffn_type
                             else "relu" if "relu" in ffn_type else "gelu"),
                "vocab": r["vocab_size"], "tied_embeddings": "yes" if r["tied_embeddings"].startswith("yes") else "no",
                "max_context": r["max_context"],
                "position": "learned" if "learned" in pos or name.startswith("GPT") else (
                    "alibi" if "alibi" in pos else "relative" if "relative" in pos else "rope"),
                "attention": attention,
                "norm": "layernorm" if gpt_style and name not in RMSNORM else "rmsnorm",
                "linear_bias": "yes" if gpt_style and not falcon else "no",
                "qkv_bias": "yes" if "QKV bias" in att else "no",
                "kv_lora_rank": r["mla_kv_lora_rank"], "q_lora_rank": r["mla_q_lora_rank"],
                "qk_rope_head_dim": r["mla_qk_rope_head_dim"],
                "experts": r["n_routed_experts"], "experts_per_token": r["experts_per_token"],
                "shared_experts": r["n_shared_experts"], "moe_ffn": r["moe_ffn_hidden"],
                "dense_layers": r["n_dense_layers"],
                "norms_per_layer": 4 if name.startswith("Gemma") else 2,
                "embedding_norm": "yes" if name.startswith("BLOOM") else "no",
                # attention and MLP read the same normalised input and add their outputs (Falcon, GPT-J):
                # the reference's attention column says "parallel attention+MLP block"
                "parallel_attention": "yes" if "parallel attention" in att.lower() else "no",
                "params_published": r["params_total_published"],
                "params_reference_B": r["params_total_computed_B"],
                "params_active_reference_B": r["params_active_computed_B"],
                "params_active_published": r["params_active_published"],
                "training_tokens": r["training_tokens"], "release": r["release"],
                "verification": r.get("verification", ""), "sources": r["sources"], "notes": notes,
            })
        w.writerows(later)


def prices(src: Path):
    rows = list(csv.DictReader(open(src / "prices.csv", encoding="utf-8")))
    with open(OUT / "prices.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, **PRICE_FIXES.get((r["provider"], r["gpu"], r["instance_or_sku"]), {})})


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference")
    OUT.mkdir(parents=True, exist_ok=True)
    gpus(src)
    models(src)
    prices(src)
    print("wrote", *sorted(p.name for p in OUT.glob("*.csv")))
