"""belt_gate: certify a green indexer deployment against blue and the chains, then move the alias."""

from belt_gate.errors import BeltGateError, EndpointError, SettingsError, SwapError

__version__ = "0.1.0"

__all__ = ["BeltGateError", "EndpointError", "SettingsError", "SwapError", "__version__"]
