"""Timestamps: ISO-8601 or epoch milliseconds, checked against a window around arrival time.

"Arrival time" is the Kafka record timestamp of the ingested message, not the wall clock, so a replay
from a savepoint accepts and refuses exactly what the first run did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.contracts.rejections import Reason, Refusal

# Epoch values below this are taken for seconds by mistake, above it for millis: 1e11 ms is 1973-03-03.
_MIN_PLAUSIBLE_MS = 100_000_000_000


def parse_time_ms(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise Refusal(Reason.TIMESTAMP_INVALID, f"{field} must be ISO-8601 or epoch milliseconds, got a boolean", field)
    if isinstance(value, (int, float)):
        if value != value or value < _MIN_PLAUSIBLE_MS or value > 10**15:  # NaN, seconds, or absurd
            raise Refusal(Reason.TIMESTAMP_INVALID, f"{field}={value!r} is not epoch milliseconds", field)
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_time_ms(int(text), field)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise Refusal(
                Reason.TIMESTAMP_INVALID, f"{field}={text[:40]!r} is not ISO-8601 or epoch milliseconds", field
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # documented: naive times are UTC
        return int(parsed.timestamp() * 1000)
    raise Refusal(Reason.TIMESTAMP_INVALID, f"{field} must be ISO-8601 or epoch milliseconds", field)


def check_window(time_ms: int, arrival_ms: int, max_past_ms: int, max_future_ms: int, field: str) -> int:
    if time_ms < arrival_ms - max_past_ms:
        raise Refusal(
            Reason.TIMESTAMP_OUT_OF_RANGE,
            f"{field} is {(arrival_ms - time_ms) / 86_400_000:.1f} days before arrival "
            f"(limit {max_past_ms / 86_400_000:.0f})",
            field,
        )
    if time_ms > arrival_ms + max_future_ms:
        raise Refusal(
            Reason.TIMESTAMP_OUT_OF_RANGE,
            f"{field} is {(time_ms - arrival_ms) / 60_000:.0f} minutes after arrival "
            f"(limit {max_future_ms / 60_000:.0f})",
            field,
        )
    return time_ms


def skew_corrected(event_ms: int, sent_at_ms: int | None, arrival_ms: int) -> int:
    """SDK clocks drift: shift a device's event times by (arrival - sent_at), the device's clock error
    as seen when the batch arrived (network time is small next to typical skew)."""
    return event_ms if sent_at_ms is None else event_ms + (arrival_ms - sent_at_ms)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
