"""Many sites' states kept on disk, as the entries the state file holds.

A pass needs every remembered site at hand (a lookup per site as it is read, every name
for orphans), but holding each `SiteState` made memory grow with the fleet: ~6 KB a site,
400 MB at 50,000 sites on a second pass (issue 17). `SiteFile` keeps each entry as the
exact compact JSON text the state file holds, in an unnamed temporary file, and only its
place in memory (~150 bytes a site). A lookup parses one entry (tens of microseconds); a
writer copies the text as it is, never parsing it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from reconciler._append_file import AppendFile
from reconciler.fleet.site_state import SiteState
from reconciler.report.json_report import RawJSON

_LENGTH_BITS = 32


class SiteFile(MutableMapping[str, SiteState]):
    """`{site: SiteState}`, each entry kept as its state-file text in a temporary file.

    A site stored twice keeps its last entry (the earlier text stays in the file, unread).
    Every lookup makes a new `SiteState`: changing one changes nothing here until it is
    stored again. The file is unnamed, mode 0600, and holds what the state file holds:
    credential references, never a key.
    """

    def __init__(self) -> None:
        self._file = AppendFile("brightback-sites-")
        self._places: dict[str, int] = {}  # offset << 32 | length: one int, not a tuple
        self._writing = threading.Lock()

    def put_text(self, site: str, text: str) -> None:
        """Keep `text`, a site's compact entry, as it is."""
        data = text.encode()
        with self._writing:  # the file's order and the place agree for a site put twice
            offset = self._file.append(data)
            self._places[site] = offset << _LENGTH_BITS | len(data)

    def text(self, site: str) -> RawJSON:
        """The site's entry, exactly as the state file will hold it."""
        place = self._places[site]
        length = place & ((1 << _LENGTH_BITS) - 1)
        data, at = self._file.read_ahead(place >> _LENGTH_BITS, length)
        return RawJSON(data[at : at + length].decode())

    def without_spec(self, site: str) -> SiteState | None:
        """The site's state without its spec (`SiteState.from_dict(with_spec=False)`), or
        None: for a pass's lookup of a configured site, whose spec the pass sets anew."""
        return self._state(site, with_spec=False) if site in self._places else None

    def _state(self, site: str, *, with_spec: bool) -> SiteState:
        return SiteState.from_dict(json.loads(self.text(site)), with_spec=with_spec)

    def __setitem__(self, site: str, state: SiteState) -> None:
        self.put_text(site, state.to_text())

    def __getitem__(self, site: str) -> SiteState:
        return self._state(site, with_spec=True)

    def __delitem__(self, site: str) -> None:
        del self._places[site]

    def __contains__(self, site: object) -> bool:
        return site in self._places

    def __iter__(self) -> Iterator[str]:
        return iter(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def close(self) -> None:
        self._file.close()
        self._places = {}


def entry_text(sites: Mapping[str, SiteState], site: str) -> Any:
    """A site's state-file entry: the kept text when `sites` is a `SiteFile`, else made."""
    if isinstance(sites, SiteFile):
        return sites.text(site)
    return sites[site].to_dict()


__all__ = ["SiteFile", "entry_text"]
