"""In-flight batching of one replica, simulated step by step.

The scheduler is the one TensorRT-LLM and vLLM (v1) run: every step, each running sequence decodes
one token; the rest of the token budget (``max_tokens`` per step) goes to prompts in arrival order,
a prompt that does not fit being split into chunks (``chunked``) across steps; no more than
``max_seqs`` sequences are in flight. The KV cache is paged in blocks of ``block_size`` tokens.
Admission (``policy``): ``no_evict`` (TensorRT-LLM's default ``GUARANTEED_NO_EVICT``) admits a
request only when the blocks of its whole sequence (prompt + output) can be reserved, so nothing is
ever preempted; ``greedy`` (vLLM) admits while the prompt's blocks are free, and a decode step that
needs a block when none is free preempts the most recently admitted running sequence, whose blocks
are freed and whose prompt and generated tokens are recomputed later. A sequence's first token comes
out of the step that finishes its prompt; each later step adds one.

Everything a step costs comes from :class:`llmcalc.serving.steptime.StepTimes`. The loop keeps O(1)
work per step and per request: the blocks a decoding sequence needs are due every ``block_size``
steps (counted per residue of the step index), finishes are bucketed by step, and the running set is
an insertion-ordered dict (last admitted = first preempted).
"""
from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class Limits:
    """Scheduler limits of a replica: sequences in flight, tokens per step, KV blocks and their size."""

    max_seqs: int
    max_tokens: int
    kv_blocks: int
    block_size: int = 16
    chunked: bool = True
    policy: str = "no_evict"   # or "greedy": admit while the prompt fits, preempt when decoding runs out


@dataclass
class Run:
    """What a simulation produced, per request (seconds) and in total."""

    arrival: np.ndarray
    first: np.ndarray
    finish: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    steps: int
    busy: float              # seconds the replica was stepping
    prefill_busy: float      # of which the extra time of prompt tokens (steps with vs without their chunks)
    in_system_time: float    # ∫ requests in the system dt, sampled at step starts
    max_blocks: int          # most KV blocks ever held at once
    max_running: int         # most sequences ever holding KV blocks at once
    preemptions: int
    limits: Limits


def simulate(times, limits: Limits, prompt, output, *, arrival=None, concurrency=None, n_requests=None) -> Run:
    """Run the replica until every request has finished.

    Arrivals: ``arrival`` (sorted seconds, one per request), or ``concurrency`` = N clients in a closed
    loop (each sends its next request the moment the previous one finishes; ``n_requests`` in all).
    ``prompt`` / ``output``: tokens per request (arrays, or scalars for every request).
    """
    inf = float("inf")
    closed = arrival is None
    # Python lists of Python numbers (the loop indexes them one at a time); converted by NumPy in one pass
    if not closed:
        n = len(arrival)
        arr = np.asarray(arrival, dtype=float).tolist()
    else:
        n = int(n_requests)
        arr = [0.0] * min(int(concurrency), n) + [inf] * max(0, n - int(concurrency))
    P = np.broadcast_to(np.asarray(prompt), (n,)).astype(np.int64).tolist()     # (whole tokens: int() of each)
    O = np.broadcast_to(np.asarray(output), (n,)).astype(np.int64).tolist()
    bs = int(limits.block_size)
    max_tokens, max_seqs, chunked = int(limits.max_tokens), int(limits.max_seqs), bool(limits.chunked)
    total_blocks = int(limits.kv_blocks)
    free = total_blocks
    no_evict = limits.policy == "no_evict"
    reserve = [0] * n            # blocks reserved for a request's whole sequence (no_evict)
    committed = 0
    base, head, pre_attn, decode_run = times.base, times.head, times.prefill_attention, times.decode_run
    eager = times.eager
    mem, mmha, mmha_seq = times.mem, times.mmha, times.mmha_seq
    heappush, heappop = heapq.heappush, heapq.heappop

    first = [inf] * n
    finish = [inf] * n
    prompt_eff = P[:]            # prompt to (re)compute: grows by the generated tokens after a preemption
    pf_done = [0] * n            # prompt tokens already in the KV cache
    gen = [0] * n                # tokens generated so far
    join_step = [0] * n
    join_n = [0] * n
    version = [0] * n
    wait: deque = deque()
    running: dict = {}           # insertion-ordered: popitem() preempts the last admitted
    n_dec = 0
    res_count = [0] * bs         # decoding sequences due for a new block, per step index mod block_size
    finish_at: dict = {}         # step → [(request, version)] finishing at the end of that step
    fheap: list = []             # the steps of finish_at, for the pure-decode fast path
    finished: list = []          # (request, KV length) finishing at the end of this step
    sum_kv = 0                   # Σ KV length of the decoding sequences
    clock = busy = in_sys = pre_busy = 0.0
    step = done = n_partial = preemptions = max_blocks = max_running = 0
    ptr = 0                      # next request to arrive (open loop) / to send (closed loop)
    if closed:
        ptr = min(int(concurrency), n)
        wait.extend(range(ptr))
    next_arr = arr[ptr] if (not closed and ptr < n) else inf

    while done < n:
        while next_arr <= clock:
            wait.append(ptr)
            ptr += 1
            next_arr = arr[ptr] if ptr < n else inf
        if n_dec == 0 and not wait:
            if next_arr == inf:
                raise RuntimeError("serving simulation stalled")   # pragma: no cover - defensive
            clock = next_arr
            continue

        # fast path: only decoding until the next finish (and, unless the queue's head is blocked until a
        # finish frees room for it, the next arrival): run those steps at once, in closed form
        blocked = False
        if wait and no_evict and n_dec and not n_partial:
            h = wait[0]
            blocked = (pf_done[h] == 0 and (n_dec >= max_seqs or
                                            committed + -(-(prompt_eff[h] + O[h] - gen[h]) // bs) > total_blocks))
        if n_dec and (blocked or not wait):
            while fheap[0] < step:
                heappop(fheap)
            k = fheap[0] - step
            if k > 0 and free < n_dec * (-(-k // bs)):
                k = min(k, (free // n_dec) * bs)
            if k > 0 and next_arr < inf and not blocked:
                x = sum_kv + n_dec
                a1 = mem * x
                a2 = mmha * x + mmha_seq * n_dec
                t0 = base[n_dec] + head[n_dec] + (a1 if a1 > a2 else a2)
                k = min(k, int((next_arr - clock) / t0) + 1)
                lo, hi = 0, k              # largest k whose last step starts before the arrival
                if clock + decode_run(n_dec, x, k - 1) < next_arr:   # nearly always k itself (its steps
                    lo = k                                           # hardly lengthen): one evaluation
                else:
                    hi = k - 1
                while lo < hi:
                    mid = (lo + hi + 1) >> 1
                    if clock + decode_run(n_dec, x, mid - 1) < next_arr:
                        lo = mid
                    else:
                        hi = mid - 1
                k = lo
            if k > 0:
                t = decode_run(n_dec, sum_kv + n_dec, k)
                need = (k // bs) * n_dec
                for j in range(k % bs):
                    need += res_count[(step + j) % bs]
                free -= need
                in_sys += t * (n_dec + len(wait))
                clock += t
                busy += t
                sum_kv += n_dec * k
                step += k
                while next_arr <= clock:      # arrivals behind a blocked head: they wait from their arrival
                    in_sys += clock - next_arr
                    wait.append(ptr)
                    ptr += 1
                    next_arr = arr[ptr] if ptr < n else inf
                if total_blocks - free > max_blocks:
                    max_blocks = total_blocks - free
                continue

        # decode sequences that fill a block need a new one; preempt the last admitted when short
        need = res_count[step % bs]
        while need > free and n_dec:
            rid, _ = running.popitem()
            n_dec -= 1
            kv = join_n[rid] + step - join_step[rid]
            key = (join_step[rid] - join_n[rid]) % bs
            res_count[key] -= 1
            if key == step % bs:
                need -= 1
            free += -(-kv // bs)
            sum_kv -= kv
            g = 1 + step - join_step[rid]
            gen[rid] = g
            version[rid] += 1
            prompt_eff[rid] = P[rid] + g
            pf_done[rid] = 0
            if wait and pf_done[wait[0]]:
                wait.insert(1, rid)    # behind the prompt being chunked, which keeps its blocks
            else:
                wait.appendleft(rid)
            preemptions += 1
        free -= need

        # prompts: the rest of the token budget, in arrival order, chunked
        budget = max_tokens - n_dec
        tokens = rows = n_dec
        t = 0.0
        completing = []
        while budget > 0 and wait:
            rid = wait[0]
            done_pf = pf_done[rid]
            if done_pf == 0:
                if n_dec + n_partial + len(completing) >= max_seqs:
                    break
                if no_evict:
                    need_all = -(-(prompt_eff[rid] + O[rid] - gen[rid]) // bs)
                    if committed + need_all > total_blocks:
                        break
                    reserve[rid] = need_all
                    committed += need_all
            c = prompt_eff[rid] - done_pf
            if c > budget:
                if not chunked:
                    break
                c = budget
            held = -(-done_pf // bs)
            new = -(-(done_pf + c) // bs) - held
            if new > free:
                c = min(c, (held + free) * bs - done_pf)
                if c <= 0:
                    break
                new = -(-(done_pf + c) // bs) - held
            free -= new
            t += pre_attn(c, done_pf)
            if done_pf == 0:
                n_partial += 1
            pf_done[rid] = done_pf + c
            budget -= c
            tokens += c
            if done_pf + c == prompt_eff[rid]:
                wait.popleft()
                n_partial -= 1
                completing.append(rid)
                rows += 1
            else:
                break
        if tokens == 0:
            raise RuntimeError("a request does not fit in the KV cache")   # pragma: no cover - checked by callers

        t += base[tokens] + head[rows] + (eager if tokens > n_dec else 0.0)
        if tokens > n_dec:
            pre_busy += t - base[n_dec] - (head[n_dec] if n_dec else 0.0)
        if n_dec:
            x = sum_kv + n_dec
            a1 = mem * x
            a2 = mmha * x + mmha_seq * n_dec
            t += a1 if a1 > a2 else a2
        in_sys += t * (n_dec + len(wait) + len(completing))
        clock += t
        busy += t
        sum_kv += n_dec
        if total_blocks - free > max_blocks:
            max_blocks = total_blocks - free
        if n_dec + n_partial + len(completing) > max_running:
            max_running = n_dec + n_partial + len(completing)

        for rid in completing:
            if first[rid] == inf:
                first[rid] = clock
            g = gen[rid] + 1
            gen[rid] = g
            if g >= O[rid]:                  # a one-token request: done with its prompt
                finished.append((rid, prompt_eff[rid]))
                continue
            running[rid] = None
            n_dec += 1
            join_step[rid] = step + 1
            join_n[rid] = prompt_eff[rid]
            res_count[(step + 1 - prompt_eff[rid]) % bs] += 1
            sum_kv += prompt_eff[rid]
            fs = step + O[rid] - g
            if fs not in finish_at:
                finish_at[fs] = []
                heappush(fheap, fs)
            finish_at[fs].append((rid, version[rid]))

        if step in finish_at:
            for rid, v in finish_at.pop(step):
                if v != version[rid] or rid not in running:
                    continue
                del running[rid]
                n_dec -= 1
                kv = join_n[rid] + step + 1 - join_step[rid]
                res_count[(join_step[rid] - join_n[rid]) % bs] -= 1
                sum_kv -= kv
                finished.append((rid, kv))
        if finished:                         # free the blocks; a closed-loop client sends its next request
            for rid, kv in finished:
                free += -(-kv // bs)
                committed -= reserve[rid]
                finish[rid] = clock
                done += 1
                if closed and ptr < n:
                    arr[ptr] = clock
                    wait.append(ptr)
                    ptr += 1
            finished.clear()
        step += 1

    return Run(np.asarray(arr, dtype=float), np.asarray(first), np.asarray(finish), np.asarray(P), np.asarray(O),
               step, busy, pre_busy, in_sys, max_blocks, max_running, preemptions, limits)
