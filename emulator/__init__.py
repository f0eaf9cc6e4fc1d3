"""A local emulator of the Chargebee/Brightback control plane, served over real HTTP."""

# The variable that hands the emulator its admin token. Here, not in emulator/cli.py, so
# that `emulator.embedded` (which only starts the emulator in its own process and calls
# its admin routes) does not import the server's modules (starlette, SQLite, the rules)
# into the process of the tool, the demo or a bench that drives it: ~10 MB of RSS.
TOKEN_ENV = "BRIGHTBACK_EMULATOR_ADMIN_TOKEN"  # noqa: S105 - the name of the variable

__all__ = ["TOKEN_ENV"]
