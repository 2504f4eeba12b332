"""Qt-free inference: checkpoint loading, letterboxing, backends and postprocessing."""
