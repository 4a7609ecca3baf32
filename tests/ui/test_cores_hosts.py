"""The cores panel's line for a cluster's other hosts (``Snapshot.hosts``), under this host's cores."""

from __future__ import annotations

from mptop.tui.app import MptopApp
from mptop.tui.widgets.cores import CoresPanel, hosts_line
from mptop.workers.snapshot import HostSample
from tests.ui.samples import SampleSource, snapshot


def test_hosts_line_names_each_host_with_its_workers_cpu_and_rss() -> None:
    line = hosts_line(
        (HostSample("10.0.0.7", 3, 140.0, 3 << 30), HostSample("10.0.0.8", 1, None, None))
    )
    assert line.startswith(" other hosts: 10.0.0.7 3 workers CPU 140")
    assert "RSS 3.0G" in line and "│ 10.0.0.8 1 worker CPU" in line


async def test_the_panel_grows_a_line_for_other_hosts_and_loses_it_again() -> None:
    app = MptopApp(SampleSource())
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(CoresPanel)
        cores = snapshot(cores=2).cores
        panel.update_cores(cores)
        await pilot.pause()
        height = panel.size.height
        panel.update_cores(cores, (HostSample("10.0.0.7", 2, 50.0, 1 << 30),))
        await pilot.pause()
        assert panel.size.height == height + 1
        assert "other hosts: 10.0.0.7 2 workers" in panel.render_line(height).text
        panel.update_cores(cores)
        await pilot.pause()
        assert panel.size.height == height
