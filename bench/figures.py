"""The ``extra_info`` schema every benchmark fills and ``bench.report`` reads.

One benchmark = one figure (a row of the report):

- ``figure``: what is measured, e.g. ``"GEMM x@W1 (128,784)@(784,512)"``; ``device``: cpu/cuda;
- ``unit``: ``"GFLOP/s"`` or ``"GB/s"`` (higher is better) or ``"ms"`` (lower is better);
- ``ours``: gpudnn's figure in ``unit``; ``ours_s``: its median seconds per call;
- ``limit`` / ``limit_name``: what the hardware (or the library under us) reaches on the same
  work, measured in the same run; ``ratio`` = ours / limit;
- ``peers``: {name: figure} of every peer that ran; ``peer`` / ``peer_name``: the best of them;
  ``peer_ratio`` = ours / peer;
- plus the raw counts (``flops``, ``bytes``, ``bytes_per_param``...) and seconds behind them.
"""

HIGHER_IS_BETTER = {"GFLOP/s": True, "GB/s": True, "ms": False}


def rate(amount, seconds, unit):
    """``amount`` (flops or bytes) per ``seconds`` in ``unit``; ms ignores the amount."""
    if unit == "ms":
        return seconds * 1e3
    return amount / seconds / 1e9


def record(benchmark, *, figure, device, unit, amount, ours_s, limit_s=None, limit_name=None,
           peers_s=None, **more):
    """Fill ``benchmark.extra_info`` from seconds per call; returns it."""
    info = benchmark.extra_info
    info.update(figure=figure, device=device, unit=unit, ours_s=ours_s,
                ours=rate(amount, ours_s, unit))
    if limit_s is not None:
        info.update(limit_s=limit_s, limit_name=limit_name, limit=rate(amount, limit_s, unit))
        info["ratio"] = info["ours"] / info["limit"]
    peers = {name: rate(amount, s, unit) for name, s in (peers_s or {}).items()}
    info["peers"] = peers
    if peers:
        pick = max if HIGHER_IS_BETTER[unit] else min
        best = pick(peers, key=peers.get)
        info.update(peer_name=best, peer=peers[best], peer_ratio=info["ours"] / peers[best])
    info.update(more)
    return info
