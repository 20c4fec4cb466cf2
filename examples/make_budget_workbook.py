"""Write examples/llm-budget.xlsx: a training budget, a serving budget, a training cluster and
self-hosting vs a hosted API, built from llmcalc's worksheet functions.

    .venv/bin/python examples/make_budget_workbook.py [OUT.xlsx]

Open it in Excel with the llmcalc add-in loaded (``llmcalc serve``, then sideload the manifest);
every blue cell is an input, every formula calls an llmcalc function. The inputs are the source
articles' (article 3: GPT-3 175B on 1,024 A100s at 45% MFU; article 2: LLaMA-2-70B on
2 × A100-80GB at $2.21 per GPU-hour, 200 TFLOP/s and 1.3 TB/s effective), so the numbers can be
checked against the articles. The tests recalculate this file with a formula engine
(tests/test_excel_workbook.py).

Inputs are cells, so formulas hold no long numbers. The file has no cached values; Excel
computes it on open (LibreOffice shows #NAME? for the LLM_ functions: use WEBSERVICE there,
docs/spreadsheets.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

OUT = Path(__file__).with_name("llm-budget.xlsx")
INPUT = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)

# (label, value or formula, unit/note). Row numbers follow from the order; formulas refer to them.
TRAINING_INPUTS = [
    ("Model parameters", 175e9, "parameters (GPT-3 175B, article 3)"),
    ("Training tokens", 300e9, "tokens"),
    ("GPU", "A100", "catalog name (A100 = A100-SXM4-80GB, 312 TFLOP/s dense bf16)"),
    ("GPUs", 1024, "GPUs"),
    ("MFU", 0.45, "fraction of peak sustained (article 3: 45%)"),
    ("Price per GPU-hour", 2.21, "USD (article 2: $4.42/h for 2 × A100-80GB)"),
    ("Deadline", 30, "days"),
]
TRAINING_OUTPUTS = [
    ("Training compute", "=LLM_TRAIN_FLOPS(B3,B4)", "FLOP (8·P·D with recomputation)"),
    ("Training time", "=LLM_TRAIN_DAYS(B3,B4,B6,B5,B7)", "days (article 3: ≈34)"),
    ("GPU-hours", "=LLM_TRAIN_GPU_HOURS(B3,B4,B5,B7)", "GPU-hours"),
    ("GPU cost", "=LLM_TRAIN_COST(B3,B4,B5,B8,B7)", "USD"),
    ("Cost check", "=B13*B8", "USD: GPU-hours × price, plain Excel arithmetic"),
    ("GPUs to meet the deadline", "=LLM_TRAIN_GPUS(B3,B4,B9,B5,B7)", "GPUs (article 3: ≈1154 for 30 days)"),
    ("Training state", "=LLM_TRAIN_MEMORY_GB(B3)", "GB at 20 bytes per parameter (article 3: 3500)"),
    ("Fewest 80 GB GPUs to hold it", '=LLM_TRAIN_MIN_GPUS(B3,"A100-80GB")', "GPUs (article 3: 44)"),
]
SENSITIVITY_GPUS = [256, 512, 1024, 2048, 4096]

SERVING_INPUTS = [
    ("Model", "llama-2-70b", "catalog name (LLaMA-2-70B, article 2)"),
    ("Model parameters", 70e9, "parameters (the article's roofline uses P only)"),
    ("GPU", "A100-80GB", "catalog name"),
    ("GPUs", 2, "GPUs (tensor parallel)"),
    ("Price per GPU-hour", "$2.21/h", "text with units works wherever a number does"),
    ("Effective compute per GPU", "200 TFLOP/s", "article 2"),
    ("Effective bandwidth per GPU", "1.3 TB/s", "article 2"),
    ("Number format", "fp16", "weights and KV cache"),
    ("Tokens per request", 512, "prompt tokens; also the context while generating"),
    ("Batch size", 8, "sequences served together"),
    ("Prompt tokens per month", 1e9, "tokens"),
    ("Generated tokens per month", 2e8, "tokens"),
]
SERVING_OUTPUTS = [
    ("KV cache per token", "=LLM_KV_BYTES_PER_TOKEN(B3)", "bytes (article 2: “320 KB”, i.e. KiB)"),
    ("KV cache of a 4096-token sequence", "=LLM_KV_CACHE_GB(B3,4096)", "GB (article 2: ≈1.3)"),
    ("Memory per GPU at this batch", "=LLM_SERVING_MEMORY_GB(B3,B12,4096,B10,B10,B6)", "GB (weights + KV cache)"),
    ("Prompt tokens", '=LLM_COST_PER_1K_TOKENS(B4,B5,"prompt",1,B11,B6,B7,B10,B10,B8,B9)',
     "USD per 1K (article 2: $0.00042)"),
    ("Generated tokens at this batch", '=LLM_COST_PER_1K_TOKENS(B4,B5,"generated",B12,B11,B6,B7,B10,B10,B8,B9)',
     "USD per 1K (article 2: $0.00825 at batch 8)"),
    ("Decode speed at batch 1", "=LLM_DECODE_TOKENS_PER_S(B4,B5,1,B11,B6,B10,B10,B8,B9)",
     "tokens/s (article 2: 18.6)"),
    ("Monthly serving cost", "=B13/1000*B20+B14/1000*B21", "USD"),
]
BATCHES = [1, 8, 32]

# A modern cluster: the layout, MFU and days the cluster model predicts (no assumed utilisation).
CLUSTER_INPUTS = [
    ("Model", "llama-3.1-70b", "catalog name (Llama-3.1-70B: 80 layers, GQA)"),
    ("GPU", "H100", "catalog name (H100 SXM: 8-GPU NVLink nodes, 400 Gb/s per GPU)"),
    ("Sequence length", 8192, "tokens"),
    ("Global batch", 512, "sequences per optimizer step"),
    ("Training tokens", 15e12, "tokens (Llama 3: 15T)"),
    ("Price per GPU-hour", 3.99, "USD (Lambda 8x H100 SXM, 2026-09-20)"),
]
CLUSTER_GPUS = [256, 512, 1024, 2048, 4096]

FLEET_INPUTS = [
    ("Model", "llama-3.1-70b", "catalog name"),
    ("GPU", "H100", "catalog name"),
    ("GPUs per replica", 4, "tensor parallel"),
    ("Number format", "fp8", "weights and KV cache"),
    ("Requests per second", 20, "traffic (the issue's budget question)"),
    ("Prompt tokens", 1500, "per request"),
    ("Output tokens", 300, "per request"),
    ("Time-to-first-token target", "1 s", ""),
    ("Time-per-output-token target", "40 ms", ""),
    ("Percentile of the targets", 90, "of the requests"),
    ("Price per GPU-hour", "$3.99/h", "USD (Lambda 8x H100 SXM, 2026-09-20)"),
    ("Hosted API", "gpt-4o", "llmcalc/data/api_prices.csv"),
]
# model, gpu, rate, prompt, output, TTFT and TPOT targets, GPUs, dtype, KV dtype, percentile, price
_F = "B3,B4,B7,B8,B9,B10,B11,B5,B6,B6,B12,B13"
FLEET_OUTPUTS = [
    ("Capacity of one replica", "=LLM_SERVING_CAPACITY(B3,B4,B8,B9,B10,B11,B5,B6,B6,B12)",
     "requests/s within the targets (simulated in-flight batching)"),
    ("GPUs needed", "=LLM_SERVING_GPUS(B3,B4,B7,B8,B9,B10,B11,B5,B6,B6,B12)", "GPUs (whole replicas)"),
    ("Self-hosting per month", f"=LLM_SERVING_COST({_F})", "USD (730 h at the price above)"),
    ("Self-hosting per million tokens", f"=LLM_SERVING_COST_PER_MTOK({_F})", "USD (prompt + output tokens)"),
    ("API per request", "=LLM_API_COST(B14,B8,B9)", "USD"),
    ("API per month", "=B21*B7*730*3600", "USD"),
    ("API / self-hosting", "=B22/B19", "above 1: self-hosting is cheaper at this traffic"),
    ("Breakeven", "=LLM_BREAKEVEN(B3,B4,B14,B8,B9,B10,B11,B5,B6,B6,B12,B13)",
     "requests/day above which self-hosting is cheaper"),
]
FLEET_RATES = [1, 5, 20, 50]


def _table(ws: Worksheet, first_row: int, rows, fill=None) -> int:
    for i, (label, value, note) in enumerate(rows):
        r = first_row + i
        ws.cell(r, 1, label)
        cell = ws.cell(r, 2, value)
        if fill:
            cell.fill = fill
        ws.cell(r, 3, note)
    return first_row + len(rows)


def training(ws: Worksheet):
    ws.title = "Training budget"
    ws["A1"] = "Training budget (article 3: GPT-3 175B)"
    ws["A1"].font = BOLD
    end = _table(ws, 3, TRAINING_INPUTS, INPUT)            # rows 3-9
    assert end == 10
    ws.cell(10, 1, "Results").font = BOLD
    end = _table(ws, 11, TRAINING_OUTPUTS)                  # rows 11-18
    assert end == 19
    ws.cell(20, 1, "GPU count sensitivity").font = BOLD
    for c, h in enumerate(("GPUs", "Days", "Weeks", "Cost (USD)"), start=1):
        ws.cell(21, c, h).font = BOLD
    for i, n in enumerate(SENSITIVITY_GPUS):
        r = 22 + i
        ws.cell(r, 1, n).fill = INPUT
        ws.cell(r, 2, f"=LLM_TRAIN_DAYS($B$3,$B$4,A{r},$B$5,$B$7)")
        ws.cell(r, 3, f"=B{r}/7")
        ws.cell(r, 4, "=$B$14")  # GPU-hours do not depend on how many GPUs share them


def serving(ws: Worksheet):
    ws["A1"] = "Serving budget (article 2: LLaMA-2-70B on 2 × A100-80GB)"
    ws["A1"].font = BOLD
    end = _table(ws, 3, SERVING_INPUTS, INPUT)              # rows 3-14
    assert end == 15
    ws.cell(16, 1, "Results").font = BOLD
    end = _table(ws, 17, SERVING_OUTPUTS)                   # rows 17-23
    assert end == 24
    ws.cell(25, 1, "Generated-token cost by batch size").font = BOLD
    for c, h in enumerate(("Batch", "USD per 1K generated"), start=1):
        ws.cell(26, c, h).font = BOLD
    for i, b in enumerate(BATCHES):
        r = 27 + i
        ws.cell(r, 1, b).fill = INPUT
        ws.cell(r, 2, f'=LLM_COST_PER_1K_TOKENS($B$4,$B$5,"generated",A{r},$B$11,$B$6,$B$7,$B$10,$B$10,$B$8,$B$9)')


def cluster(ws: Worksheet):
    ws["A1"] = "Training cluster: best layout, MFU and days by GPU count (the cluster model, no assumed MFU)"
    ws["A1"].font = BOLD
    end = _table(ws, 3, CLUSTER_INPUTS, INPUT)              # rows 3-8
    assert end == 9
    heads = ("GPUs", "Best layout", "Step (s)", "MFU", "Days", "Cost (USD)", "Days, LLM_TRAIN_DAYS(…, \"auto\")")
    for c, h in enumerate(heads, start=1):
        ws.cell(10, c, h).font = BOLD
    for i, n in enumerate(CLUSTER_GPUS):
        r = 11 + i
        ws.cell(r, 1, n).fill = INPUT
        ws.cell(r, 2, f"=LLM_TRAIN_PLAN($B$3,$B$4,A{r},$B$5,$B$6)")
        ws.cell(r, 3, f"=LLM_TRAIN_ITERATION_TIME($B$3,$B$4,B{r},$B$5,$B$6)")
        ws.cell(r, 4, f"=LLM_TRAIN_MFU($B$3,$B$4,B{r},$B$5,$B$6)")
        ws.cell(r, 5, f"=$B$7/($B$5*$B$6)*C{r}/86400")      # optimizer steps × seconds per step
        ws.cell(r, 6, f"=E{r}*24*A{r}*$B$8")                 # GPU-hours × price
        ws.cell(r, 7, f'=LLM_TRAIN_DAYS($B$3,$B$7,A{r},$B$4,"auto")')


def fleet(ws: Worksheet):
    ws["A1"] = "Self-hosting a traffic vs a hosted API (within latency targets)"
    ws["A1"].font = BOLD
    end = _table(ws, 3, FLEET_INPUTS, INPUT)                # rows 3-14
    assert end == 15
    ws.cell(16, 1, "Results").font = BOLD
    end = _table(ws, 17, FLEET_OUTPUTS)                     # rows 17-24
    assert end == 25
    ws.cell(26, 1, "Cost against traffic").font = BOLD
    for c, h in enumerate(("Requests per second", "GPUs", "Self-hosting (USD/month)", "API (USD/month)"), start=1):
        ws.cell(27, c, h).font = BOLD
    for i, rate in enumerate(FLEET_RATES):
        r = 28 + i
        ws.cell(r, 1, rate).fill = INPUT
        ws.cell(r, 2, f"=LLM_SERVING_GPUS($B$3,$B$4,A{r},$B$8,$B$9,$B$10,$B$11,$B$5,$B$6,$B$6,$B$12)")
        ws.cell(r, 3, f"=LLM_SERVING_COST($B$3,$B$4,A{r},$B$8,$B$9,$B$10,$B$11,$B$5,$B$6,$B$6,$B$12,$B$13)")
        ws.cell(r, 4, f"=$B$21*A{r}*730*3600")


def build(out: Path = OUT) -> Path:
    wb = Workbook()
    training(wb.active)
    serving(wb.create_sheet("Serving budget"))
    cluster(wb.create_sheet("Training cluster"))
    fleet(wb.create_sheet("Self-hosting vs API"))
    for ws in wb.worksheets:
        ws.column_dimensions["A"].width = 36
        ws.column_dimensions["B"].width = 18
        ws.column_dimensions["C"].width = 58
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, float) and cell.value >= 1e6:
                    cell.number_format = "0.00E+00"
    wb.calculation.fullCalcOnLoad = True
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
