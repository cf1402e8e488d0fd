"""The gym-free core: domains, observation/action codec, reward and environment options.

Nothing in this package imports gymnasium, torch or the simulator, so the phone-side runtime
(:mod:`metadvfs.export.runtime`) and the simulated, batched and live environments share one definition.
"""
