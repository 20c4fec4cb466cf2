"""Collective communication between GPUs: all-reduce, all-gather, reduce-scatter, point-to-point
and all-to-all, timed over the links a group of GPUs actually crosses.

One model serves cluster training (tensor, pipeline, data, context and expert parallelism) and
serving (tensor-parallel replicas). It is the α–β model of collective algorithms (Thakur,
Rabenseifner & Gropp 2005; Patarasuk & Yuan 2009) on a two-level network:

* a **scale-up domain** of ``scale_up_size`` GPUs (an HGX node over NVSwitch, a GB200 NVL72 rack,
  a TPU pod over ICI, a PCIe server), each GPU with ``scale_up_bandwidth`` bytes/s per direction;
* a **scale-out network** between domains, each GPU with its own NIC share of
  ``scale_out_bandwidth`` bytes/s per direction (rail-optimised InfiniBand/RoCE clusters).

A group of ``size`` GPUs whose consecutive members are ``stride`` ranks apart (Megatron-LM's rank
order puts tensor parallelism innermost: stride 1; data parallelism outside it: stride
tp·cp·…) has ``local = min(size, scale_up_size // stride)`` members in each domain it touches
(at least 1) and spans ``size / local`` domains.

Bandwidth: NCCL runs one ring (channel) per NIC, so a group with ``local`` members per domain
drives ``local`` NICs in parallel, and every GPU also moves the whole ring volume over its
scale-up link. The bus bandwidth of the group is therefore
``min(B_up·η_up, local·B_out·η_out)`` when it spans domains and ``B_up·η_up`` inside one
(nccl-tests' "bus bandwidth": PERFORMANCE.md of NVIDIA/nccl-tests).

Latency: a per-step α for each level. Rings inside a domain take ``local − 1`` steps per phase;
across domains NCCL uses trees (double binary trees) for all-reduce, ``⌈log2(domains)⌉``
steps per phase, and rings for all-gather / reduce-scatter.

Every function broadcasts over NumPy arrays of ``nbytes``, ``size`` and ``stride`` (a layout
search evaluates thousands of layouts in one call). The achieved-bandwidth fractions η and the
latencies α are global, physical parameters of a fabric class (NVLink/NVSwitch, PCIe,
InfiniBand/RoCE), defined in :data:`FABRIC_DEFAULTS`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ArgumentError

# Global fabric parameters: η = achieved bus bandwidth / nominal per-direction bandwidth for large
# messages, α = latency per algorithm step.
#   NVLink/NVSwitch: nccl-tests all_reduce bus bandwidth on DGX A100 ≈ 230 GB/s of 300 (0.77),
#     DGX H100 ≈ 360 GB/s of 450 without NVLS (0.8); NCCL LL-protocol step latency a few µs.
#   PCIe: 0.55 of the link. NCCL's own topology model plans PCIe at 0.75 of the raw rate (src/graph/topo.h:
#     PCI_BW 12 GB/s for Gen3 x16, 24 for Gen4) and the CPU-to-CPU hop of an 8-GPU two-socket server lower
#     still (SKL_QPI_BW 10, AMD_BW 16 GB/s); "on PCI systems the performance you get is usually determined
#     by the bandwidth your CPU and memory can deliver" (NCCL maintainer, NVIDIA/nccl issue #1639: 8 x RTX 5090
#     on Gen5 reach 28 GB/s bus bandwidth, 0.44 of 64). Read off the published TensorRT-LLM 0.9 L40S tables
#     (PCIe Gen4, TP 2-8): every row needs 16.7-18.3 GB/s of all-reduce bus bandwidth whatever the message
#     size (2-61 MB), 0.52-0.57 of the 32 GB/s link.
#   InfiniBand/RoCE: ~90% of the NIC line rate for large messages (nccl-tests multi-node), α ≈ 5–10 µs.
FABRIC_DEFAULTS = {
    "nvlink": {"efficiency": 0.80, "latency": 3e-6},
    "pcie": {"efficiency": 0.55, "latency": 5e-6},
    "network": {"efficiency": 0.90, "latency": 8e-6},
}


def _scalars(*xs) -> bool:
    """True when every argument is a plain number: the collectives then use float arithmetic
    (a layout search passes arrays; one plan passes numbers and should cost microseconds)."""
    for x in xs:
        t = type(x)
        if t is not float and t is not int and (not isinstance(x, (int, float)) or t is bool):
            return False
    return True


def fabric_class(name: str) -> str:
    """``nvlink`` for NVLink/NVSwitch/Infinity Fabric/ICI/on-die RoCE all-to-all, ``pcie`` for PCIe."""
    return "pcie" if "pcie" in name.lower() else "nvlink"


@dataclass(frozen=True)
class Link:
    """One level of the network, per GPU and direction: nominal bandwidth (bytes/s), achieved
    fraction η of it, and latency α per algorithm step (s)."""

    name: str
    bandwidth: float
    efficiency: float
    latency: float

    @functools.cached_property  # the link is frozen
    def effective(self) -> float:
        """Achieved bandwidth in bytes/s: B·η."""
        return self.bandwidth * self.efficiency


@dataclass(frozen=True)
class Cluster:
    """The network GPUs of one kind are deployed in: a scale-up domain and a scale-out network."""

    scale_up_size: int
    scale_up: Link
    scale_out: Link
    source: str = ""

    def local(self, size, stride=1):
        """Members of a group (``size`` GPUs, ``stride`` ranks apart) inside one scale-up domain."""
        if _scalars(size, stride):
            return self._group(size, stride)[0]
        size = np.asarray(size, dtype=float)
        stride = np.asarray(stride, dtype=float)
        fit = np.floor(self.scale_up_size / np.maximum(stride, 1.0))
        return np.clip(np.minimum(size, fit), 1.0, None)

    def bus_bandwidth(self, size, stride=1):
        """Achieved ring bandwidth per GPU (bytes/s) of a group: B_up·η inside one domain,
        min(B_up·η_up, local·B_out·η_out) across domains."""
        if _scalars(size, stride):
            return self._group(size, stride)[1]
        local = self.local(size, stride)
        spans = np.asarray(size, dtype=float) > local
        across = np.minimum(self.scale_up.effective, local * self.scale_out.effective)
        return np.where(spans, across, self.scale_up.effective)

    def _group(self, size, stride, tree=False):
        """(members per domain, bus bandwidth, Σ α of one phase) of a group given as plain numbers: :meth:`local`,
        :meth:`bus_bandwidth` and :func:`_latency` in float arithmetic, in one call (one plan costs microseconds;
        max and min are written out as the conditionals the builtins evaluate, which cost more than this)."""
        fs, stride = float(size), float(stride)
        fit = math.floor(self.scale_up_size / (1.0 if 1.0 > stride else stride))   # ⌊domain / max(stride, 1)⌋
        local = fit if fit < fs else fs                                            # min(size, fit)
        local = 1.0 if 1.0 > local else local                                      # max(…, 1)
        up = self.scale_up.effective
        if size > local:
            out = local * self.scale_out.effective
            bus = out if out < up else up                                          # min(up, local·out)
        else:
            bus = up
        domains = size / local
        steps_out = math.ceil(math.log2(1.0 if 1.0 > domains else domains)) if tree else domains - 1.0   # log2(max(d, 1))
        return local, bus, (local - 1.0) * self.scale_up.latency + steps_out * self.scale_out.latency

    def describe(self) -> str:
        return (f"{self.scale_up_size}-GPU {self.scale_up.name} domain at {self.scale_up.bandwidth / 1e9:g} GB/s per GPU "
                f"and direction; {self.scale_out.name} at {self.scale_out.bandwidth * 8 / 1e9:g} Gb/s per GPU")


def cluster_of(gpu) -> Cluster:
    """The typical cluster of a catalog GPU (``llmcalc/data/networks.csv``)."""
    up, out = FABRIC_DEFAULTS[fabric_class(gpu.scale_up_fabric)], FABRIC_DEFAULTS["network"]
    return _cluster(gpu.scale_up_size, gpu.scale_up_fabric, gpu.scale_up_bandwidth, up["efficiency"], up["latency"],
                    gpu.scale_out_fabric, gpu.scale_out_bandwidth, out["efficiency"], out["latency"], gpu.network_source)


@functools.lru_cache(maxsize=256)
def _cluster(size, up_name, up_bandwidth, up_efficiency, up_latency, out_name, out_bandwidth, out_efficiency, out_latency,
             source) -> Cluster:
    """:func:`cluster_of`, built once per network (every value that enters it is in the key)."""
    return Cluster(max(int(size), 1), Link(up_name or "scale-up", up_bandwidth or 1.0, up_efficiency, up_latency),
                   Link(out_name or "network", out_bandwidth or 1.0, out_efficiency, out_latency), source)


def with_overrides(cluster: Cluster, *, scale_up_size=None, scale_up_bandwidth=None,
                   scale_out_bandwidth=None) -> Cluster:
    """A copy with the domain size or a bandwidth (bytes/s per GPU and direction) replaced."""
    c = cluster
    if scale_up_size is not None:
        if scale_up_size < 1 or scale_up_size != int(scale_up_size):
            raise ArgumentError("cluster", f"the scale-up domain must be a whole number of GPUs ≥ 1, got {scale_up_size}")
        c = replace(c, scale_up_size=int(scale_up_size))
    if scale_up_bandwidth is not None:
        c = replace(c, scale_up=replace(c.scale_up, bandwidth=float(scale_up_bandwidth)))
    if scale_out_bandwidth is not None:
        c = replace(c, scale_out=replace(c.scale_out, bandwidth=float(scale_out_bandwidth)))
    return c


# ------------------------------------------------------------------------------------ collectives

def _latency(cluster: Cluster, size, stride, tree: bool):
    """Σ α over the steps of one phase: ring steps inside the domain, then ring or tree steps across."""
    if _scalars(size, stride):
        return cluster._group(size, stride, tree)[2]
    size = np.asarray(size, dtype=float)
    local = cluster.local(size, stride)
    domains = size / local
    inside = (local - 1.0) * cluster.scale_up.latency
    steps_out = np.ceil(np.log2(np.maximum(domains, 1.0))) if tree else (domains - 1.0)
    return inside + steps_out * cluster.scale_out.latency


def all_reduce(nbytes, size, cluster: Cluster, stride=1):
    """Seconds to all-reduce a buffer of ``nbytes`` over ``size`` GPUs.

    Formula: t = 2·(n−1)/n · S / B_bus + 2·α_phase (reduce-scatter + all-gather phases; trees
    across domains). n = 1 costs nothing. Source: Patarasuk & Yuan 2009 (bandwidth-optimal
    ring all-reduce); NCCL double binary trees for the inter-node latency (NVIDIA, 2019).
    """
    if _scalars(nbytes, size, stride):
        if size <= 1:
            return 0.0
        _, bus, alpha = cluster._group(size, stride, True)
        return 2.0 * (size - 1.0) / size * nbytes / bus + 2.0 * alpha
    n = np.asarray(size, dtype=float)
    t = 2.0 * (n - 1.0) / n * np.asarray(nbytes, dtype=float) / cluster.bus_bandwidth(n, stride) \
        + 2.0 * _latency(cluster, n, stride, tree=True)
    return np.where(n > 1, t, 0.0)


def all_gather(nbytes, size, cluster: Cluster, stride=1):
    """Seconds to all-gather a buffer whose gathered size is ``nbytes`` (each GPU holds nbytes/n).

    Formula: t = (n−1)/n · S / B_bus + α_phase (ring). Source: Thakur et al. 2005; NCCL
    all-gather is ring-only. Reduce-scatter costs the same (:func:`reduce_scatter`).
    """
    if _scalars(nbytes, size, stride):
        if size <= 1:
            return 0.0
        _, bus, alpha = cluster._group(size, stride)
        return (size - 1.0) / size * nbytes / bus + alpha
    n = np.asarray(size, dtype=float)
    t = (n - 1.0) / n * np.asarray(nbytes, dtype=float) / cluster.bus_bandwidth(n, stride) \
        + _latency(cluster, n, stride, tree=False)
    return np.where(n > 1, t, 0.0)


def reduce_scatter(nbytes, size, cluster: Cluster, stride=1):
    """Seconds to reduce-scatter an ``nbytes`` buffer (each GPU keeps nbytes/n of the sum): as :func:`all_gather`."""
    return all_gather(nbytes, size, cluster, stride)


def send_recv(nbytes, cluster: Cluster, across=False):
    """Seconds to send ``nbytes`` to one peer (pipeline-parallel activations and gradients).

    Formula: t = S / (B·η) + α over the scale-up link, or over the scale-out link when the peer is
    in another domain (``across``). Source: α–β model (Hockney 1994).
    """
    if isinstance(across, (bool, np.bool_)) and _scalars(nbytes):
        link = cluster.scale_out if across else cluster.scale_up
        return nbytes / link.effective + link.latency
    across = np.asarray(across, dtype=bool)
    bw = np.where(across, cluster.scale_out.effective, cluster.scale_up.effective)
    lat = np.where(across, cluster.scale_out.latency, cluster.scale_up.latency)
    return np.asarray(nbytes, dtype=float) / bw + lat


def all_to_all(nbytes, size, cluster: Cluster, stride=1):
    """Seconds for an all-to-all where each GPU sends ``nbytes`` in total, spread evenly over the group
    (expert-parallel token dispatch or combine; Ulysses context parallelism).

    Formula: each GPU sends (local−1)/n·S over its scale-up link and (n−local)/n·S over its NIC, in
    parallel: t = max((local−1)/n·S / (B_up·η), (n−local)/n·S / (B_out·η)) + (n−1)·α of the
    slower level. Source: α–β model; DeepSpeed-MoE / Megatron-LM expert parallelism use NCCL
    all-to-all (point-to-point sends to every peer).
    """
    if _scalars(nbytes, size, stride):
        if size <= 1:
            return 0.0
        local = cluster._group(size, stride)[0]
        t_up = (local - 1.0) / size * nbytes / cluster.scale_up.effective + (local - 1.0) * cluster.scale_up.latency
        t_out = ((size - local) / size * nbytes / cluster.scale_out.effective
                 + (cluster.scale_out.latency * (size / local - 1.0) if size > local else 0.0))
        return t_out if t_out > t_up else t_up                                     # max(t_up, t_out)
    n = np.asarray(size, dtype=float)
    S = np.asarray(nbytes, dtype=float)
    local = cluster.local(n, stride)
    t_up = (local - 1.0) / n * S / cluster.scale_up.effective + (local - 1.0) * cluster.scale_up.latency
    t_out = (n - local) / n * S / cluster.scale_out.effective + np.where(n > local, cluster.scale_out.latency * (n / local - 1.0), 0.0)
    return np.where(n > 1, np.maximum(t_up, t_out), 0.0)
