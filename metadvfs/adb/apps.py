"""Map Android package names to catalog apps (``envs/apps``)."""

from __future__ import annotations

KNOWN_PACKAGES: dict[str, str] = {
    "com.zhiliaoapp.musically": "tiktok",
    "com.ss.android.ugc.trill": "tiktok",
    "com.ss.android.ugc.aweme": "tiktok",
    "tv.danmaku.bili": "bilibili",
    "com.bilibili.app.in": "bilibili",
    "com.kwai.video": "kwai",
    "com.smile.gifmaker": "kwai",
    "com.taobao.taobao": "taobao",
    "com.sina.weibo": "weibo",
    "com.futuremark.dmandroid.application": "3dmark",
}
"""Play-store package names of the catalog apps."""


def catalog_app(package: str | None, known_apps: list[str] | None = None) -> str | None:
    """The catalog app name of a package.

    Args:
        package: Android package (``com.zhiliaoapp.musically``) or ``None``.
        known_apps: Catalog app names (default ``metadvfs.workload.apps.list_apps()``).

    Returns:
        The catalog name from :data:`KNOWN_PACKAGES`, else a catalog name equal to one of the package's dotted
        components (``org.example.tiktok`` -> ``tiktok``), else ``None``.
    """
    if not package:
        return None
    if package in KNOWN_PACKAGES:
        return KNOWN_PACKAGES[package]
    if known_apps is None:
        from metadvfs.workload.apps import list_apps

        known_apps = list_apps()
    parts = package.lower().split(".")
    for name in known_apps:
        if name.lower() in parts:
            return name
    return None
