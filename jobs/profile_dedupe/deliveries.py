"""What a destination receives for one message: its id and the external ids sent to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """One destination receives these external ids for a message."""

    destination_id: str
    ids: tuple[tuple[str, str], ...]  # canonical: sorted (type, value) pairs
