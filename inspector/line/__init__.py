"""The hallway: one Qt-free line that the window, the headless run and the bench all drive.

``config.LineConfig`` says what to build; ``station.Station`` holds what outlives a line (the
defect log and the loaded models) and is the one place a line is assembled; ``line.Line`` runs the
one per-frame loop; ``switch.BackendSwitch`` owns the eager ⇄ compiled policy. Import them from
their modules: this package's own import stays light, so the command line starts fast.
"""
