"""Device profiles (devices/*.yaml) and their validating loader."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from metadvfs.catalog.devices import (
    device_to_dict,
    list_devices,
    load_device,
    profile_from_dict,
    profile_hash,
)
from metadvfs.catalog.types import CPU_DOMAINS, DOMAINS
from metadvfs.errors import MetaDVFSError
from metadvfs.paths import data_dir

SHIPPED = list_devices()  # every profile in devices/ gets the per-profile checks


def _raw(name: str) -> dict:
    return yaml.safe_load((data_dir("devices") / f"{name}.yaml").read_text())


def _write(tmp_path: Path, doc: dict, fname: str = "broken.yaml") -> Path:
    path = tmp_path / fname
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _expect_error(path: Path, *fragments: str) -> str:
    with pytest.raises(MetaDVFSError) as info:
        load_device(path)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert path.name in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


# ------------------------------------------------------------------------------------------- shipped data
def test_list_devices_contains_the_five_pixels():
    names = list_devices()
    assert names == sorted(names)
    assert set(SHIPPED) <= set(names)
    assert "README" not in names


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_loads_and_is_consistent(name):
    p = load_device(name)
    assert p.name == name
    assert p.path is not None and p.path.endswith(f"{name}.yaml")
    domains = [c.domain for c in p.clusters]
    assert domains == sorted(domains, key=CPU_DOMAINS.index)
    assert domains[0] == "little" and domains[-1] == "big"
    for c in p.clusters:
        assert all(b > a for a, b in zip(c.freqs_khz, c.freqs_khz[1:], strict=False))
        assert len(c.power_mw) == len(c.freqs_khz)
        assert all(pw > 0 for pw in c.power_mw)
        assert c.ipc > 0 and c.cores >= 1
    g = p.gpu
    assert all(b > a for a, b in zip(g.freqs_khz, g.freqs_khz[1:], strict=False))
    assert len(g.power_mw) == len(g.freqs_khz)
    assert g.throughput > 0
    present = {c.domain for c in p.clusters} | {"gpu"}
    for rule in p.thermal.rules:
        assert rule.clear_c < rule.trip_c
        assert set(rule.caps_khz) <= present
        for dom, cap in rule.caps_khz.items():
            freqs = g.freqs_khz if dom == "gpu" else p.cluster(dom).freqs_khz
            assert freqs[0] <= cap <= freqs[-1], (dom, cap)
    skin = [r.trip_c for r in p.thermal.rules if r.sensor == "skin"]
    die = [r.trip_c for r in p.thermal.rules if r.sensor == "die"]
    assert p.thermal.skin_throttle_c == min(skin)
    assert p.thermal.die_throttle_c == min(die)
    assert p.thermal.shutdown_c > p.thermal.skin_throttle_c
    # provenance: upstream sources as repository@commit:path, estimated values with a method
    assert p.sources and all(re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S+$", s) for s in p.sources)
    for key in ("metadata.year", "base_power_mw", "thermal.c_skin_j_per_c", "gpu.throughput"):
        assert key in p.estimated
    assert all(p.estimated.values())


def test_domain_masks():
    assert load_device("pixel3").domain_mask == (True, False, True, True)
    assert load_device("pixel3").cluster("mid") is None
    for name in ("pixel4", "pixel5", "pixel6", "pixel8"):
        assert load_device(name).domain_mask == (True, True, True, True)


def test_spot_values_traceable_to_device_data():
    p6 = load_device("pixel6")
    big = p6.cluster("big")
    assert big.fmax_khz == 2802000  # clusters[2].freqs_khz
    assert big.power_mw[-1] == pytest.approx(1943, abs=0.5)  # wattson_power_curve_mW active 1942.89
    assert p6.gpu.power_mw[-1] == 4599  # gpu.thermal_hal_state2power_mW[0]
    assert p6.gpu.freqs_khz[0] == 151000 and p6.gpu.fmax_khz == 848000
    assert [lv.freq_khz for lv in p6.gpu.mali_dvfs] == list(p6.gpu.freqs_khz)
    assert p6.gpu.mali_dvfs[-1].up_util == 100 and p6.gpu.mali_dvfs[0].down_util == 0
    assert p6.metadata.battery_mah == 4614

    p3 = load_device("pixel3")
    assert p3.gpu.fmax_khz == 710000 and p3.gpu.freqs_khz[0] == 180000
    assert p3.cluster("big").fmax_khz == 2649600  # power_profile list, not the DT's 2803200
    assert p3.cluster("big").power_mw[-1] == pytest.approx(253.77 * 3.85, abs=0.01)
    assert p3.cluster("big").capacity == 1740  # legacy efficiency
    first = next(r for r in p3.thermal.rules if r.caps_khz == {"big": 1996800})
    assert (first.trip_c, first.clear_c) == (39.0, 38.0)
    assert p3.thermal.shutdown_c == 57.0

    p4 = load_device("pixel4")
    assert p4.cluster("big").fmax_khz == 2841600 and p4.cluster("big").cores == 1
    assert p4.thermal.shutdown_c == 61.0

    p5 = load_device("pixel5")
    assert p5.gpu.freqs_khz == (275000, 400000, 500000, 625000)
    assert p5.cluster("little").cores == 6

    p8 = load_device("pixel8")
    assert p8.gpu.fmax_khz == 890000 and 940000 not in p8.gpu.freqs_khz
    assert p8.cluster("big").power_mw[-1] == 3714  # pixel_em default power_per_cpu
    assert p8.metadata.battery_mah is None
    assert all(lv.freq_khz in p8.gpu.freqs_khz for lv in p8.gpu.mali_dvfs)


def test_idle_and_static_power_per_opp():
    """Idle/static power is per OPP (voltage dependent): read where the data has it, scaled where it does not."""
    p6 = load_device("pixel6")
    mid, big, little = p6.cluster("mid"), p6.cluster("big"), p6.cluster("little")
    assert big.idle_mw[0] == pytest.approx(16.14) and big.idle_mw[-1] == pytest.approx(121.43)  # Wattson idle0
    assert mid.idle_mw[-1] == pytest.approx(23.5)
    assert little.static_mw[0] == pytest.approx(4.0) and little.static_mw[-1] == pytest.approx(35.29)  # 2-D static
    assert p6.gpu.idle_mw[0] == pytest.approx(15.68) and p6.gpu.idle_mw[-1] == pytest.approx(60.72)  # Wattson idle1
    p8 = load_device("pixel8")
    assert p8.cluster("big").idle_mw[-1] == 140  # pixel_em idle_power_per_cpu
    for name in SHIPPED:
        p = load_device(name)
        for c in (*p.clusters, p.gpu):
            assert len(c.idle_mw) == len(c.freqs_khz)
            assert c.idle_mw[-1] > c.idle_mw[0] > 0, (name, c.name)
        for c in p.clusters:
            assert len(c.static_mw) == len(c.freqs_khz) and c.static_mw[-1] > c.static_mw[0] > 0
    # Qualcomm: power_profile cpu.idle (5.4 mA x 3.85 V / 8 cores) at the lowest OPP
    p4 = load_device("pixel4")
    assert all(c.idle_mw[0] == pytest.approx(2.6) for c in p4.clusters)
    assert "clusters[0].idle_mw" in p4.estimated


def test_pixel5_little_power_is_read_per_cluster():
    """power_profile core_power of the 6-core little cluster is the cluster's current (see docs/devices.md)."""
    little = load_device("pixel5").cluster("little")
    assert little.power_mw[-1] == pytest.approx(176.19 / 6 * 3.85, abs=0.01)
    assert little.power_mw[0] == pytest.approx(41.92 / 6 * 3.85, abs=0.01)
    assert little.power_mw[-1] < load_device("pixel5").cluster("mid").power_mw[-1]


def test_scalar_idle_power_means_every_opp(tmp_path):
    doc = _raw("pixel6")
    doc["clusters"][1]["idle_mw"] = 7.5
    doc["clusters"][1]["static_mw"] = 0
    doc["gpu"]["idle_mw"] = 30
    p = load_device(_write(tmp_path, doc))
    n = len(doc["clusters"][1]["freqs_khz"])
    assert p.cluster("mid").idle_mw == (7.5,) * n and p.cluster("mid").static_mw == (0.0,) * n
    assert p.gpu.idle_mw == (30.0,) * len(doc["gpu"]["freqs_khz"])


def test_idle_power_list_must_match_opps(tmp_path):
    doc = _raw("pixel6")
    doc["clusters"][2]["idle_mw"] = doc["clusters"][2]["idle_mw"][:-1]
    _expect_error(_write(tmp_path, doc), "clusters[2].idle_mw", "length 16 does not match freqs_khz (17)")
    doc = _raw("pixel6")
    doc["gpu"]["idle_mw"] = "lots"
    _expect_error(_write(tmp_path, doc), "gpu.idle_mw", "number >= 0 (mW) or a list of 12 numbers")
    doc = _raw("pixel6")
    doc["clusters"][0]["static_mw"][2] = -1
    _expect_error(_write(tmp_path, doc), "clusters[0].static_mw[2]", "must be >= 0")


def test_load_is_cached():
    assert load_device("pixel6") is load_device("pixel6")
    assert load_device("pixel6") is load_device(data_dir("devices") / "pixel6.yaml")


def test_device_to_dict_is_json_able():
    for name in SHIPPED:
        d = device_to_dict(load_device(name))
        json.dumps(d)
        assert d["name"] == name
        for key in ("display_name", "soc", "clusters", "gpu", "domain_mask", "hash", "n_opps"):
            assert key in d
        assert {c["domain"] for c in d["clusters"]} <= set(DOMAINS)
        assert all(c["fmax_mhz"] > c["fmin_mhz"] for c in d["clusters"])
        assert d["gpu"]["fmax_mhz"] > 0 and d["gpu"]["n_opps"] >= 3
    assert device_to_dict(load_device("pixel3"))["domain_mask"] == [True, False, True, True]


def test_profile_hash_is_content_based(tmp_path):
    h = profile_hash(load_device("pixel6"))
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    # the same content as JSON hashes equal
    as_json = tmp_path / "p6.json"
    as_json.write_text(json.dumps(_raw("pixel6")))
    assert profile_hash(load_device(as_json)) == h
    doc = _raw("pixel6")
    doc["base_power_mw"] += 1
    assert profile_hash(profile_from_dict(doc)) != h


def test_user_profile_loads_by_path(tmp_path):
    doc = _raw("pixel5")
    doc["name"] = "myphone"
    doc["display_name"] = "My Phone"
    path = _write(tmp_path, doc, "myphone.yaml")
    p = load_device(str(path))
    assert p.name == "myphone" and p.path == str(path.resolve())
    assert p.clusters == load_device("pixel5").clusters
    # a bare relative path with a separator also counts as a path
    assert load_device(path).name == "myphone"


# ---------------------------------------------------------------------------------------------- malformed
def test_unsorted_freqs(tmp_path):
    doc = _raw("pixel6")
    f = doc["clusters"][1]["freqs_khz"]
    f[2], f[3] = f[3], f[2]
    _expect_error(_write(tmp_path, doc), "clusters[1].freqs_khz", "strictly increasing")


def test_negative_power(tmp_path):
    doc = _raw("pixel6")
    doc["clusters"][0]["power_mw"][3] = -1
    _expect_error(_write(tmp_path, doc), "clusters[0].power_mw[3]", "must be > 0", "-1")


def test_length_mismatch(tmp_path):
    doc = _raw("pixel6")
    doc["gpu"]["power_mw"] = doc["gpu"]["power_mw"][:-1]
    _expect_error(_write(tmp_path, doc), "gpu.power_mw", "length 11 does not match freqs_khz (12)")


def test_unknown_domain(tmp_path):
    doc = _raw("pixel6")
    doc["clusters"][0]["domain"] = "tiny"
    _expect_error(_write(tmp_path, doc), "clusters[0].domain", "little, mid, big")


def test_missing_key(tmp_path):
    doc = _raw("pixel6")
    del doc["gpu"]
    _expect_error(_write(tmp_path, doc), "gpu", "missing")
    doc = _raw("pixel6")
    del doc["clusters"][2]["ipc"]
    _expect_error(_write(tmp_path, doc), "clusters[2].ipc", "missing")


def test_wrong_schema(tmp_path):
    doc = _raw("pixel6")
    doc["schema"] = "metadvfs.device/2"
    _expect_error(_write(tmp_path, doc), "schema", "metadvfs.device/1")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("   \n")
    _expect_error(path, "empty")
    path.write_text("# only a comment\n")
    _expect_error(path, "empty")


def test_garbage_yaml(tmp_path):
    path = tmp_path / "garbage.yaml"
    path.write_text("schema: metadvfs.device/1\nclusters: [1, 2\n  name: : x\n")
    _expect_error(path, "invalid YAML", "line")
    path.write_text("- just\n- a list\n")
    _expect_error(path, "mapping")


def test_garbage_json(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_text('{"schema": ')
    _expect_error(path, "invalid JSON")


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda d: d.update(extra=1), ("extra", "unknown key")),
        (lambda d: d["clusters"][0].update(voltage=1), ("clusters[0].voltage", "unknown key")),
        (lambda d: d["clusters"][1].update(domain="little"), ("clusters[1].domain", "already used")),
        (lambda d: d["clusters"].reverse(), ("clusters", "ordered little")),
        (lambda d: d.update(clusters=d["clusters"][1:]), ("clusters", "'little' cluster is required")),
        (lambda d: d["clusters"][0].update(cores=0), ("clusters[0].cores", ">= 1")),
        (lambda d: d["clusters"][0].update(cores="four"), ("clusters[0].cores", "integer")),
        (lambda d: d["clusters"][0].update(ipc=0), ("clusters[0].ipc", "> 0")),
        (lambda d: d["gpu"].update(throughput=-1.0), ("gpu.throughput", "> 0")),
        (lambda d: d["gpu"].update(family="powervr"), ("gpu.family", "adreno, mali")),
        (
            lambda d: d["gpu"]["mali_dvfs"][0].update(freq_khz=123),
            ("gpu.mali_dvfs[0].freq_khz", "gpu.freqs_khz"),
        ),
        (lambda d: d["thermal"]["rules"][0].update(sensor="case"), ("thermal.rules[0].sensor", "skin, die")),
        (lambda d: d["thermal"]["rules"][0].update(clear_c=60), ("thermal.rules[0].clear_c", "< trip_c")),
        (
            lambda d: d["thermal"]["rules"][0]["caps_khz"].update(npu=1),
            ("thermal.rules[0].caps_khz.npu", "domain"),
        ),
        (lambda d: d["thermal"].update(shutdown_c=200), ("thermal.shutdown_c", "[0, 150]")),
        (lambda d: d["thermal"]["rules"][1].update(trip_c=-5), ("thermal.rules[1].trip_c", "[0, 150]")),
        (lambda d: d["thermal"].update(c_die_j_per_c=0), ("thermal.c_die_j_per_c", "> 0")),
        (lambda d: d["metadata"].update(year="2021"), ("metadata.year", "integer")),
        (lambda d: d["clusters"][2].update(freqs_khz=[]), ("clusters[2].freqs_khz", "at least 1")),
    ],
)
def test_invalid_fields(tmp_path, mutate, fragments):
    doc = copy.deepcopy(_raw("pixel6"))
    mutate(doc)
    _expect_error(_write(tmp_path, doc), *fragments)


def test_mid_cap_rejected_on_two_cluster_phone(tmp_path):
    doc = _raw("pixel3")
    doc["thermal"]["rules"][0]["caps_khz"]["mid"] = 1000000
    _expect_error(_write(tmp_path, doc), "thermal.rules[0].caps_khz.mid", "not present")


def test_duplicate_yaml_key(tmp_path):
    path = tmp_path / "dup.yaml"
    text = (data_dir("devices") / "pixel6.yaml").read_text()
    path.write_text(text + "base_power_mw: 1\n")
    _expect_error(path, "duplicate key", "base_power_mw")


def test_unknown_name_lists_known_devices():
    with pytest.raises(MetaDVFSError) as info:
        load_device("pixel99")
    msg = str(info.value)
    assert "pixel99" in msg and "\n" not in msg
    for name in SHIPPED:
        assert name in msg
    assert "or a device profile file" in msg and "devices/README.md" in msg


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(MetaDVFSError) as info:
        load_device(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value) and "not found" in str(info.value)
