from ettui.cli import run

run()
