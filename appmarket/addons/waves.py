"""Partitioning an addon's target clusters into waves (pure, deterministic: clusters in name order).

Explicit waves take the clusters they name and the targets their selector matches, each cluster in the
first wave that claims it; targets no explicit wave claims form a last wave ``rest``. Without explicit
waves, ``wave_size`` clusters or ``wave_percent`` of the targets (rounded up) go in each wave, else all
targets go in one wave. Empty waves are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from appmarket.addons import selectors
from appmarket.addons.schemas import Strategy


def partition(targets: Mapping[str, Mapping[str, str]], strategy: Strategy) -> list[tuple[str, list[str]]]:
    """``targets``: cluster name -> labels. Returns (wave name, cluster names) in rollout order."""
    names = sorted(targets)
    if strategy.waves:
        taken: set[str] = set()
        out: list[tuple[str, list[str]]] = []
        for i, wave in enumerate(strategy.waves):
            sel = selectors.parse(wave.selector) if wave.selector is not None else None
            members = [n for n in names if n not in taken
                       and (n in wave.clusters or (sel is not None and selectors.matches(sel, targets[n])))]
            taken.update(members)
            if members:
                out.append((wave.name or f"wave-{i + 1}", members))
        rest = [n for n in names if n not in taken]
        if rest:
            out.append(("rest", rest))
        return out
    size = len(names) or 1
    if strategy.wave_size:
        size = strategy.wave_size
    elif strategy.wave_percent:
        size = max(1, math.ceil(len(names) * strategy.wave_percent / 100))
    chunks = [names[i:i + size] for i in range(0, len(names), size)]
    return [(f"wave-{i + 1}", chunk) for i, chunk in enumerate(chunks)]
