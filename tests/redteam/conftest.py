"""The TUI tests here need the UI tests' home fixture too."""

from tests.ui.conftest import _ettui_home  # noqa: F401  (autouse fixture)
