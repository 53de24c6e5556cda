"""The watcher service behind ``ettui watch`` (DESIGN.md's services layer, beside ``session.py``).

``watcher.py`` follows jobs and drops and fetches; ``profile_watch.py`` is what
a run knows of each profile (and the Session calls it makes); ``hook.py`` runs
``on_fetched``; ``state.py`` is its durable memory; ``events.py`` what it tells
the front end. Never imports textual.
"""

from ettui.watch.events import WatchEvent
from ettui.watch.state import WatchState
from ettui.watch.watcher import VENDOR_NAME, Watcher

__all__ = ["VENDOR_NAME", "WatchEvent", "WatchState", "Watcher"]
