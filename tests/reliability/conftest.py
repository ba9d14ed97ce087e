"""Print, at the end of the run, how many bad inputs and faults the reliability suite tried."""

from __future__ import annotations

from tests.reliability import tally


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not tally.counts:
        return
    total = sum(tally.counts.values())
    terminalreporter.write_sep("-", "reliability")
    for kind, count in sorted(tally.counts.items()):
        terminalreporter.write_line(f"{kind}: {count}")
    status = "nothing was lost" if exitstatus == 0 else "FAILURES above"
    terminalreporter.write_line(f"reliability: {total} bad inputs/faults tried; {status}")
