"""Reliability suite: bad inputs and faults, counted so the run can report what it tried."""


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def record(self, kind: str, faults: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + faults


tally = _Tally()
