"""ettui: a terminal UI and headless CLI for ExactTarget batch file exports."""

__version__ = "0.1.0"
