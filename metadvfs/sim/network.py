"""Network (Wi-Fi radio) power of an app on a phone: whole-phone power outside the SoC rails.

The model is Android BatteryStats' own Wi-Fi power model (``WifiPowerCalculator``: controller time in each
state times that state's ``power_profile.xml`` current) fed with the app's time-averaged traffic instead of the
controller's activity counters:

- the controller receives for ``d_rx = rx_mbps / link_mbps`` and transmits for ``d_tx = tx_mbps / link_mbps`` of
  the time (clipped so that ``d_rx + d_tx <= 1``: a link slower than the traffic is busy all the time);
- it is awake (listening) for ``a = max(awake_fraction, d_rx + d_tx)`` of the time and dozes (no charge) for the
  rest;
- ``P = V * (I_idle * (a - d_rx - d_tx) + I_rx * d_rx + I_tx * d_tx)``.

The result is a constant per (phone, app) pair, added to the rest-of-phone power (``base_mw``): it counts in the
whole-phone power and heats the skin like the rest of the phone, never in SoC (CPU + GPU) power. An app without a
``network`` section, or a phone without a ``wifi`` section, gives 0 (docs/simulator.md, power model).
"""

from __future__ import annotations

from metadvfs.catalog.types import DeviceProfile
from metadvfs.workload.types import AppProfile


def network_power_mw(device: DeviceProfile, app: AppProfile) -> float:
    """Mean Wi-Fi radio power of ``app`` running on ``device``, mW.

    Args:
        device: Phone (its ``wifi`` currents in mA, voltage in V, link goodput in Mbit/s).
        app: App (its ``network`` traffic in Mbit/s and the radio's awake share).

    Returns:
        The radio's mean power, mW (0 when either side has no data).
    """
    w, n = device.wifi, app.network
    if w is None or n is None:
        return 0.0
    d_rx = n.rx_mbps / w.link_mbps
    d_tx = n.tx_mbps / w.link_mbps
    busy = d_rx + d_tx
    if busy > 1.0:  # the link cannot carry the traffic: it transmits or receives all the time
        d_rx, d_tx, busy = d_rx / busy, d_tx / busy, 1.0
    awake = max(n.awake_fraction, busy)
    return w.voltage_v * (w.idle_ma * (awake - busy) + w.rx_ma * d_rx + w.tx_ma * d_tx)
