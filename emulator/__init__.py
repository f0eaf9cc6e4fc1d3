"""A local emulator of the Chargebee/Brightback control plane, served over real HTTP."""

__all__: list[str] = []
