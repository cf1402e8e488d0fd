"""Exported governors: the ``metadvfs.governor/1`` directory format and the torch-free runtime that runs it."""
