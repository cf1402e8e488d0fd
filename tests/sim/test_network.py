"""Network (Wi-Fi radio) power: the device ``wifi`` and app ``network`` sections, and their place in the power split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from metadvfs.catalog.devices import list_devices, load_device
from metadvfs.cli import app as cli_app
from metadvfs.errors import MetaDVFSError
from metadvfs.paths import data_dir
from metadvfs.sim.batch import TaskBatch
from metadvfs.sim.network import network_power_mw
from metadvfs.tasks.task import make_task
from metadvfs.workload.apps import apps_dir, load_app


def _dump(tmp_path: Path, doc: dict, name: str) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def _device_doc(name: str = "pixel6") -> dict:
    return yaml.safe_load((data_dir("devices") / f"{name}.yaml").read_text())


def _app_doc(name: str = "tiktok") -> dict:
    return yaml.safe_load((apps_dir() / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", list_devices())
def test_every_catalog_phone_has_power_profile_wifi_currents(name: str) -> None:
    w = load_device(name).wifi
    assert w is not None
    assert 0 < w.idle_ma < w.rx_ma < w.tx_ma  # listen < receive < transmit, as in every power_profile.xml
    assert w.voltage_v == 3.7


def test_pixel6_values_read_from_its_power_profile() -> None:
    w = load_device("pixel6").wifi
    assert w is not None and (w.idle_ma, w.rx_ma, w.tx_ma) == (38.0, 98.0, 470.0)


def test_network_power_is_the_batterystats_model() -> None:
    dev, app = load_device("pixel6"), load_app("tiktok")
    assert app.network is not None and dev.wifi is not None
    d_rx, d_tx = 3.0 / 600.0, 0.1 / 600.0
    want = 3.7 * (38.0 * (1.0 - d_rx - d_tx) + 98.0 * d_rx + 470.0 * d_tx)
    assert network_power_mw(dev, app) == pytest.approx(want)
    # a saturated link receives/transmits all the time: no idle-listen share, never above tx power
    busy = dataclasses.replace(app.network, rx_mbps=900.0, tx_mbps=300.0)
    p = network_power_mw(dev, dataclasses.replace(app, network=busy))
    assert p == pytest.approx(3.7 * (98.0 * 0.75 + 470.0 * 0.25))
    # a dozing radio draws less than an awake one
    doze = dataclasses.replace(app.network, awake_fraction=0.2)
    assert network_power_mw(dev, dataclasses.replace(app, network=doze)) < network_power_mw(dev, app)


def test_files_without_the_sections_load_and_draw_no_network_power(tmp_path: Path) -> None:
    ddoc = _device_doc()
    del ddoc["wifi"]
    ddoc["estimated"].pop("wifi.link_mbps")
    dev = load_device(_dump(tmp_path, ddoc, "nowifi.yaml"))
    assert dev.wifi is None
    assert network_power_mw(dev, load_app("tiktok")) == 0.0
    adoc = _app_doc()
    del adoc["network"]
    app = load_app(_dump(tmp_path, adoc, "nonet.yaml"))
    assert app.network is None
    assert network_power_mw(load_device("pixel6"), app) == 0.0
    assert load_app("weibo").network is None  # a catalog app without the section


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["wifi"].update(idle_ma=-1), "wifi.idle_ma: must be in [0, 5000]"),
        (lambda d: d["wifi"].update(rx_ma="lots"), "wifi.rx_ma: must be a finite number"),
        (lambda d: d["wifi"].update(link_mbps=0), "wifi.link_mbps: must be > 0"),
        (lambda d: d["wifi"].update(voltage_v=37), "wifi.voltage_v: must be in [0.5, 10]"),
        (lambda d: d["wifi"].pop("tx_ma"), "wifi.tx_ma: required key is missing"),
        (lambda d: d["wifi"].update(active_ma=5), "wifi.active_ma: unknown key"),
        (lambda d: d.update(wifi=[1, 2]), "wifi: must be a mapping"),
    ],
)
def test_malformed_wifi_section(tmp_path: Path, mutate, fragment: str) -> None:
    doc = _device_doc()
    mutate(doc)
    p = _dump(tmp_path, doc, "badwifi.yaml")
    with pytest.raises(MetaDVFSError) as info:
        load_device(p)
    msg = str(info.value)
    assert "\n" not in msg and p.name in msg and fragment in msg, msg


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["network"].update(rx_mbps=-1), "'network.rx_mbps': -1 is out of range; allowed [0, 1000]"),
        (lambda d: d["network"].update(awake_fraction=1.5), "'network.awake_fraction': 1.5 is out of range"),
        (lambda d: d["network"].update(tx_mbps="x"), "'network.tx_mbps': 'x' is not a number"),
        (lambda d: d["network"].pop("source"), "missing required field 'network.source'"),
        (lambda d: d["network"].update(source=""), "field 'network.source' must be a URL"),
        (lambda d: d["network"].update(duty=0.1), "unknown field network.'duty'"),
        (lambda d: d.update(network=3), "field 'network' must be a mapping"),
    ],
)
def test_malformed_network_section(tmp_path: Path, mutate, fragment: str) -> None:
    doc = _app_doc()
    mutate(doc)
    p = _dump(tmp_path, doc, "badnet.yaml")
    with pytest.raises(MetaDVFSError) as info:
        load_app(p)
    msg = str(info.value)
    assert "\n" not in msg and p.name in msg and fragment in msg, msg


def test_malformed_network_section_is_exit_2_on_the_cli(tmp_path: Path) -> None:
    doc = _app_doc()
    doc["network"]["awake_fraction"] = 2
    p = _dump(tmp_path, doc, "badnet.yaml")
    res = CliRunner().invoke(cli_app, ["replay", "--device", "pixel6", "--app", str(p), "--seconds", "1"])
    assert res.exit_code == 2, res.output
    assert "network.awake_fraction" in res.output and "Traceback" not in res.output


def test_network_power_is_whole_phone_not_soc(tmp_path: Path) -> None:
    """Same demand with and without the app's network section: SoC power equal, whole-phone power up by P_net."""
    adoc = _app_doc()
    del adoc["network"]
    plain = load_app(_dump(tmp_path, adoc, "tiktok.yaml"))  # same name as the catalog app: same demand bank
    streaming = load_app("tiktok")
    dev = load_device("pixel6")
    tb = TaskBatch([make_task(dev, plain), make_task(dev, streaming)], episode_seconds=2.0)
    assert tb.dev.net_mw is not None
    np.testing.assert_allclose(tb.dev.net_mw, [0.0, network_power_mw(dev, streaming)])
    tb.seed([5, 5])
    tb.reset_rows([0, 1])
    out = tb.core.step(np.full((2, 4), 3, dtype=np.int64), 100)
    np.testing.assert_allclose(out.power_mw[0], out.power_mw[1])  # SoC (per-domain) power unchanged
    diff = out.power_total_mw[1] - out.power_total_mw[0]
    assert diff == pytest.approx(network_power_mw(dev, streaming))
    assert diff > 100.0


def test_switching_the_app_updates_network_power() -> None:
    dev = load_device("pixel6")
    tb = TaskBatch([make_task(dev, "weibo")], episode_seconds=1.0)
    base = float(tb.dev.base_mw[0])
    assert base == dev.base_power_mw
    tb.set_task(0, make_task(dev, "tiktok"))
    assert float(tb.dev.base_mw[0]) == pytest.approx(base + network_power_mw(dev, load_app("tiktok")))
    tb.set_task(0, make_task(dev, "weibo"))
    assert float(tb.dev.base_mw[0]) == pytest.approx(base)


def test_summaries_show_the_sections() -> None:
    from metadvfs.catalog.devices import device_to_dict
    from metadvfs.workload.apps import app_to_dict

    assert device_to_dict(load_device("pixel6"))["wifi"]["idle_ma"] == 38.0
    assert app_to_dict(load_app("tiktok"))["network"]["rx_mbps"] == 3.0
    assert app_to_dict(load_app("weibo"))["network"] is None
