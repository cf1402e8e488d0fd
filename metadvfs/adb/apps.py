"""Map Android package names to catalog apps (``envs/apps``: each app file lists its ``android.packages``)."""

from __future__ import annotations


def catalog_app(package: str | None, known_apps: list[str] | None = None) -> str | None:
    """The catalog app name of a package.

    Args:
        package: Android package (``com.zhiliaoapp.musically``) or ``None``.
        known_apps: Catalog app names (default ``metadvfs.workload.apps.list_apps()``).

    Returns:
        The catalog app whose file lists the package, else a catalog name equal to one of the package's dotted
        components (``org.example.tiktok`` -> ``tiktok``), else ``None``.
    """
    if not package:
        return None
    from metadvfs.workload.apps import package_index

    known = package_index()
    if package in known:
        return known[package]
    if known_apps is None:
        from metadvfs.workload.apps import list_apps

        known_apps = list_apps()
    parts = package.lower().split(".")
    for name in known_apps:
        if name.lower() in parts:
            return name
    return None
