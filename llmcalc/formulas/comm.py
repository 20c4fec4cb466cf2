"""Communication time over a link."""


def transfer_seconds(volume_bytes, bandwidth_bytes_per_s, efficiency=1.0):
    """t = V / (B·η).

    Source: article 3 (大模型训练面临的瓶颈, 通信瓶颈): 500 GB of tensor-parallel traffic over a
    200 Gb/s NIC takes 20 s, over 450 GB/s NVLink 4 (per direction) 1.1 s. η is the achieved
    fraction of the link's rate (nccl-tests bus bandwidth is ~80% of the unidirectional spec).
    """
    return volume_bytes / (bandwidth_bytes_per_s * efficiency)
