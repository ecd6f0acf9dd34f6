"""The demo tells the whole story and checks itself (exit 0 only when the rollout completed
without exceeding a budget)."""

from __future__ import annotations

import pytest

from gitops_edge import demo


def test_demo_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "NotReady (link to the cloud down): shanghai-03, shanghai-07, beijing-02" in out
    assert "+          image: registry.example.com/edge/log-agent:1.4.3" in out
    assert "deferred: shanghai-03, shanghai-07" in out  # AdvancedRollingUpdate skips them
    assert "log-agent: every Ready node is current: yes" in out
    assert "node-exporter-shanghai: native RollingUpdate is stalled" in out
    assert "ota-updater pods carry PodNeedUpgrade=True" in out
    assert "AdvancedRollingUpdate: 53/53 nodes current (complete)" in out
    assert "budget: never exceeded" in out
    assert "north and south were never touched: yes" in out  # the canary wave caught it
    assert "canary wave: broken image caught and rolled back: yes" in out
