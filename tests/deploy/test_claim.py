"""The phone claim (metadvfs.deploy.claim) on the twin, with a manual clock: no test waits on wall time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metadvfs.adb.link import AdbLink
from metadvfs.deploy import claim
from metadvfs.twin import ManualClock as PhoneClock
from metadvfs.twin import TwinServer


class ManualClock:
    """A clock that only moves when the code under test sleeps (plus an optional hook per sleep)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.on_sleep = lambda: None

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s
        self.on_sleep()


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinServer]:
    import os

    from metadvfs.adb.keys import ensure_key

    key = tmp_path_factory.mktemp("key") / "adbkey"
    ensure_key(key)
    os.environ["METADVFS_ADB_KEY"] = str(key)
    # the claim reads no simulated node: the phone's clock stands still (no driver thread competing for the CPU)
    with TwinServer(device="pixel6", app="tiktok", clock=PhoneClock()) as tw:
        yield tw


@pytest.fixture()
def link(twin: TwinServer) -> Iterator[AdbLink]:
    lk = AdbLink(twin.serial).connect()
    lk.require_root()
    yield lk
    lk.root_shell("rm -rf /data/local/metadvfs/claim /data/local/metadvfs/heartbeat")
    lk.close()


def _root(twin: TwinServer) -> Path:
    return twin.root / "data/local/metadvfs"


def test_claim_is_exclusive_and_released_by_owner_only(twin: TwinServer, link: AdbLink) -> None:
    a, b = claim.new_token(), claim.new_token()
    clock = ManualClock()
    assert claim.acquire(link, a, 3.0, clock=clock, sleep=clock.sleep) == []
    assert (_root(twin) / "claim/owner").read_text().strip() == a
    claim.release(link, b)  # not the owner: nothing happens
    assert (_root(twin) / "claim").is_dir()
    claim.release(link, a)
    assert not (_root(twin) / "claim").exists()


def test_advancing_heartbeat_means_busy(twin: TwinServer, link: AdbLink) -> None:
    owner = claim.new_token()
    clock = ManualClock()
    claim.acquire(link, owner, 3.0, clock=clock, sleep=clock.sleep)
    hb = _root(twin) / "heartbeat"
    n = [0]

    def beat() -> None:  # the owner is alive: its heartbeat moves between our looks
        n[0] += 1
        hb.write_text(f"{n[0]}\n")

    clock.on_sleep = beat
    with pytest.raises(claim.PhoneBusy, match=r"heartbeat .* is advancing") as ei:
        claim.acquire(link, claim.new_token(), 3.0, clock=clock, sleep=clock.sleep)
    assert ei.value.exit_code == 3
    assert (_root(twin) / "claim/owner").read_text().strip() == owner


def test_stale_claim_is_taken_over_after_timeout(twin: TwinServer, link: AdbLink) -> None:
    dead = claim.new_token()
    clock = ManualClock()
    claim.acquire(link, dead, 3.0, clock=clock, sleep=clock.sleep)  # its owner dies right away: no watchdog
    me = claim.new_token()
    notes = claim.acquire(link, me, 3.0, clock=clock, sleep=clock.sleep)
    assert any("stale claim" in n for n in notes)
    assert clock.t >= 3.0 + claim.STALE_MARGIN_S  # not before the holder's timeout + margin (manual time)
    assert clock.t < 3.0 + claim.STALE_MARGIN_S + 1.0
    assert (_root(twin) / "claim/owner").read_text().strip() == me


def test_held_claim_with_live_watchdog_times_out_as_busy(twin: TwinServer, link: AdbLink) -> None:
    holder = claim.new_token()
    clock = ManualClock()
    claim.acquire(link, holder, 3.0, clock=clock, sleep=clock.sleep)
    # a live process that looks like the holder's watchdog (its cmdline names metadvfs/watchdog.sh)
    link.root_shell(
        "printf 'while true; do sleep 1; done\\n' > /data/local/metadvfs/watchdog.sh; "
        "nohup sh /data/local/metadvfs/watchdog.sh > /dev/null 2>&1 & echo $! > /data/local/metadvfs/watchdog.pid"
    )
    try:
        with pytest.raises(claim.PhoneBusy, match="did not become free within 4 s"):
            claim.acquire(link, claim.new_token(), 3.0, clock=clock, sleep=clock.sleep, max_wait_s=4.0)
        assert (_root(twin) / "claim/owner").read_text().strip() == holder
    finally:
        link.root_shell(
            "kill $(cat /data/local/metadvfs/watchdog.pid); rm -f /data/local/metadvfs/watchdog.pid "
            "/data/local/metadvfs/watchdog.sh"
        )
