"""The network compiled by OpenVINO for the CPU: the compiled mode of a line PC without a GPU.

On a CPU, Inductor compiles the demo model for over a minute and then runs it no faster than eager;
OpenVINO's CPU plugin converts and compiles it in seconds and runs it several times faster
(docs/PERFORMANCE.md). The converted network is saved as OpenVINO IR in the compile cache, and the
plugin keeps its compiled blob there too, so a restart reads both and is live at once.

The precision is the CPU's own where it is both faster and as accurate: OpenVINO picks bf16 on a
CPU that has it, which is much faster with AMX but slower than f32 without it, and its scores
drift. Both are measured once on the first frame and the choice is kept with the cache.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from inspector.inference.model import DetectorModel, Predictions, first_line

F32 = "f32"
NETWORK, CHOICE = "network.xml", "precision.json"  # in the cache folder, with network.bin beside it
SCORE_TOLERANCE = 0.02  # the largest score change a lower precision may make on a candidate
CANDIDATE_SCORE = 0.05  # the predictions whose scores are compared: those that could become boxes
FASTER_BY = 1.2  # a lower precision is chosen only when it is this much faster
TIMED_RUNS = 8


def openvino_version() -> str:
    """The release, as its users name it (``2026.4.1``, not the build string)."""
    import openvino

    return openvino.__version__.split("-")[0]


class OpenVinoNetwork:
    """``Predictions(model.network)`` as an OpenVINO compiled model for the CPU, for one input shape.

    Called with a contiguous float32 (N, 3, h, w) tensor, it returns the predictions as a tensor
    over OpenVINO's output buffer, which the next call overwrites. ``cache`` is this network's own
    folder (its key names the model, the input shape and the OpenVINO release).
    """

    def __init__(
        self,
        model: DetectorModel,
        example: torch.Tensor,
        cache: Path,
        threads: int,
        report: Callable[[str, float, str], None],
    ) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.threads = threads
        self.problem = ""  # why a saved network could not be used, if it could not
        network = self._saved(cache, report)
        self.cache_hit = network is not None
        if network is None:
            report("converting the network", 0.15, f"OpenVINO {openvino_version()} traces the torch model")
            network = ov.convert_model(Predictions(model.network).eval(), example_input=example)
            self.precision, self.why = self._choose_precision(network, example, report)
            cache.mkdir(parents=True, exist_ok=True)
            ov.save_model(network, cache / NETWORK, compress_to_fp16=False)
            (cache / CHOICE).write_text(json.dumps({"precision": self.precision, "why": self.why}))
        self.core.set_property({"CACHE_DIR": str(cache / "compiled")})  # the plugin's own blob
        report("compiling for the CPU", 0.7, f"OpenVINO {self.precision}, {threads} thread(s)")
        self._request = self._compile(network, self.precision).create_infer_request()

    def _saved(self, cache: Path, report: Callable[[str, float, str], None]) -> object | None:
        """The network and precision an earlier run saved in ``cache``; None when there are none,
        or they are damaged (then they go, and the network is converted again)."""
        if not (cache / NETWORK).exists():
            return None
        report("loading compiled", 0.15, "the OpenVINO network saved by an earlier run")
        try:
            network = self.core.read_model(cache / NETWORK)
            saved = json.loads((cache / CHOICE).read_text())
            self.precision, self.why = str(saved["precision"]), str(saved["why"])
        except Exception as exc:  # another release wrote it, or it is half a file
            shutil.rmtree(cache, ignore_errors=True)
            self.problem = f"; the saved one was unusable ({type(exc).__name__}: {first_line(exc)})"
            return None
        return network

    def _compile(self, network: object, precision: str) -> object:
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        return self.core.compile_model(network, "CPU", config)

    def _choose_precision(
        self, network: object, example: torch.Tensor, report: Callable[[str, float, str], None]
    ) -> tuple[str, str]:
        """The CPU's default precision when it beats f32 by ``FASTER_BY`` within ``SCORE_TOLERANCE``,
        else f32; and why, in words for the progress line and the log."""
        native = self.core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
        if native == F32:
            return F32, "the CPU's own precision"
        report("choosing precision", 0.4, f"timing {native} against f32 on this CPU")
        x = example.numpy()
        requests = {p: self._compile(network, p).create_infer_request() for p in (F32, native)}
        outputs = {p: np.array(r.infer({0: x})[0]) for p, r in requests.items()}
        scores = {p: out[:, 4:] for p, out in outputs.items()}
        relevant = scores[F32] >= CANDIDATE_SCORE
        drift = float(np.abs(scores[native] - scores[F32])[relevant].max(initial=0.0))
        times: dict[str, list[float]] = {F32: [], native: []}
        for _ in range(TIMED_RUNS):  # alternated, so a neighbour's burst falls on both
            for p, request in requests.items():
                start = time.perf_counter()
                request.infer({0: x})
                times[p].append(time.perf_counter() - start)
        speedup = float(np.median(times[F32]) / np.median(times[native]))
        if drift > SCORE_TOLERANCE:
            return F32, f"{native} moved a score by {drift:.3f}"
        if speedup < FASTER_BY:
            return F32, f"{native} was only {speedup:.2f}x as fast"
        return native, f"{speedup:.1f}x as fast as f32, scores within {drift:.3f}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self._request.infer({0: x.numpy()}, share_inputs=True, share_outputs=True)
        return torch.from_numpy(out[0])
