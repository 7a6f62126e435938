"""The hostile-visitors bench (``bench.hostile``) runs at small scale against a real server
(started by ``bench.servers.lab_server``, as ``tests.server`` does) and prints every figure.

Its speed targets (frame rate under a flood, frame gaps during a forward, memory after)
are judged by ``make bench`` at full scale, never here: this only checks that each one
is measured and printed."""

from __future__ import annotations

import re

from bench import hostile

NUMBER = r"[\d,]+(?:\.\d+)?"


def test_the_quick_hostile_bench_measures_and_prints_every_figure(capsys):
    hostile.main(["--quick"])
    out = capsys.readouterr().out

    # 1. the flood: the viewers' windows, the ratio to quiet, the flooders and how they ended
    windows = {name: re.search(rf"^\s+{name}\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(\S+)\s+(\S+)$", out, re.M)
               for name in ("quiet", "flood", "after")}
    assert all(windows.values()), out
    assert float(windows["quiet"].group(2)) > 0, "the viewers got frames while nothing else happened"
    assert re.search(rf"flood vs quiet: frame rate {NUMBER}x \(target >= 0.8x: (met|NOT met)\), "
                     rf"p99 delay {NUMBER}x", out), out
    assert re.search(rf"flooders sent {NUMBER} commands", out), out
    assert "how the flooding sockets ended" in out
    assert re.search(r"^\s+\d+ (closed by the server with code \d+|open at the end of the flood)", out, re.M), out

    # 2. the forward: its replies, how long it took, the other lab's longest gap
    assert re.search(r"10x load: (done|REFUSED|no reply)", out), out
    assert re.search(r"forward: (first reply after|no reply)", out), out
    assert re.search(r"the forward took", out), out
    assert re.search(rf"longest gap between frames during the forward {NUMBER} ms \(target <= 200 ms: (met|NOT met)\)",
                     out), out

    # 3. memory before, during and after each part
    memory = re.findall(rf"server memory \(PSS, with its children\): before ({NUMBER}) MiB, peak during ({NUMBER}) "
                        rf"MiB, after ({NUMBER}) MiB \(([^)]*)\): after/before {NUMBER}x", out)
    assert len(memory) == 3, out  # the flood, the warm-up jump ahead, the measured one
    assert all(float(before) > 0 and float(peak) >= float(before) for before, peak, _, _ in memory), out
    assert "flooding sockets closed" in memory[0][3] and all("forward over" in m[3] for m in memory[1:])
    assert re.search(r"first, a 60 s jump ahead of another such lab, the first in this process: server memory", out)
