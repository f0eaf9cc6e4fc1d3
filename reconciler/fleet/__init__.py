"""The fleet reconciler: many sites as one config, once or on an interval.

Split by concern so each piece is testable without a network: `state` (what was managed,
per-site history and retry backoff), `safety` (the fleet-wide destructive threshold),
`lock` (one applier per site), `gitinfo`, `drift` (normalised drift and who made it),
`progress`, `metrics`, and `loop` (one pass, and the interval loop around it).
"""

__all__: list[str] = []
