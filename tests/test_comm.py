"""The collective-communication model (llmcalc/perf/comm.py): α–β formulas on a two-level network."""
import numpy as np
import pytest

import llmcalc
from llmcalc.perf import comm

H100 = comm.cluster_of(llmcalc.gpu("H100"))
UP, OUT = H100.scale_up, H100.scale_out


def test_catalog_network_of_hgx_h100():
    # DGX H100: 8 GPUs on NVSwitch at 450 GB/s per direction, one 400 Gb/s NDR NIC per GPU
    assert H100.scale_up_size == 8 and UP.bandwidth == 450e9 and OUT.bandwidth == 50e9
    assert comm.cluster_of(llmcalc.gpu("GB200")).scale_up_size == 72


def test_all_reduce_inside_a_node_is_the_ring_formula():
    t = comm.all_reduce(1e9, 8, H100)
    assert t == pytest.approx(2 * 7 / 8 * 1e9 / UP.effective + 2 * 7 * UP.latency)


def test_data_parallel_ring_across_nodes_runs_at_one_nic_per_gpu():
    # tp=8 fills the node: the DP group (stride 8) has one member per node, so one NIC carries its ring
    t = comm.all_reduce(1e9, 64, H100, stride=8)
    bw = OUT.effective
    assert t == pytest.approx(2 * 63 / 64 * 1e9 / bw + 2 * 6 * OUT.latency)
    # the same 64 GPUs with stride 1: 8 members per node drive 8 NICs → NVLink-bound
    assert H100.bus_bandwidth(64, 1) == pytest.approx(min(UP.effective, 8 * OUT.effective))
    assert comm.all_reduce(1e9, 64, H100, stride=1) < t / 5


def test_single_gpu_groups_cost_nothing_and_arrays_broadcast():
    assert comm.all_reduce(1e9, 1, H100) == 0 and comm.all_gather(1e9, 1, H100) == 0 and comm.all_to_all(1e9, 1, H100) == 0
    t = comm.all_reduce(np.array([1e6, 1e9]), np.array([[2], [8]]), H100)
    assert t.shape == (2, 2) and np.all(np.diff(t, axis=1) > 0) and np.all(np.diff(t, axis=0) > 0)


def test_all_gather_is_half_an_all_reduce_in_bandwidth():
    big = 1e10
    ratio = comm.all_reduce(big, 8, H100) / comm.all_gather(big, 8, H100)
    assert ratio == pytest.approx(2.0, rel=0.01)
    assert comm.reduce_scatter(big, 8, H100) == comm.all_gather(big, 8, H100)


def test_point_to_point_and_all_to_all():
    assert comm.send_recv(1e8, H100) == pytest.approx(1e8 / UP.effective + UP.latency)
    assert comm.send_recv(1e8, H100, across=True) == pytest.approx(1e8 / OUT.effective + OUT.latency)
    # 8 GPUs in one node: 7/8 of the data over NVLink; 16 GPUs over two nodes: half leaves over the NIC
    assert comm.all_to_all(1e9, 8, H100) == pytest.approx(7 / 8 * 1e9 / UP.effective + 7 * UP.latency)
    assert comm.all_to_all(1e9, 16, H100) == pytest.approx(0.5 * 1e9 / OUT.effective + OUT.latency)


def test_overrides_name_the_argument():
    c = comm.with_overrides(H100, scale_up_size=72, scale_out_bandwidth=100e9)
    assert c.scale_up_size == 72 and c.scale_out.bandwidth == 100e9
    with pytest.raises(llmcalc.ArgumentError, match="cluster"):
        comm.with_overrides(H100, scale_up_size=0)
