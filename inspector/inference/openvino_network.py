"""The network compiled by OpenVINO for the CPU: the compiled mode of a line PC without a GPU.

On a CPU, Inductor compiles the demo model for over a minute and then runs it no faster than eager;
OpenVINO's CPU plugin converts and compiles it in seconds and runs it several times faster
(docs/PERFORMANCE.md). The converted network is saved as OpenVINO IR in the compile cache, and the
plugin keeps its compiled blob there too, so a restart reads both and is live at once.

It runs in the precision its mode names. f32 is the default, as eager: bf16, OpenVINO's own choice on
a CPU that computes in it, was 1.7x as fast on the 2-core development CPU but moved the scores of
the candidates that could become boxes by 0.01-0.19 on frames of the synthetic line
(docs/PERFORMANCE.md), so it is a mode the line chooses, as INT8 is, with its accuracy measured.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from inspector.inference.calibration import FEWEST, CalibrationFrames
from inspector.inference.model import DetectorModel, Predictions, first_line

Reporter = Callable[[str, float, str], None]  # a stage, its fraction of the whole, a detail
F32, INT8 = "f32", "int8"
CALIBRATION_WAIT_S = 60.0  # for the line's frames; a paused line sends none
NETWORK, CHOICE = "network.xml", "precision.json"  # in the cache folder, with network.bin beside it


@functools.cache
def cpu_computes_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 here (its own default precision on such a
    CPU); asked once per process."""
    try:
        import openvino as ov

        return ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
    except Exception:  # no OpenVINO, or no CPU plugin: no bf16 mode
        return False


def openvino_version() -> str:
    """The release, as its users name it (``2026.4.1``, not the build string)."""
    import openvino

    return openvino.__version__.split("-")[0]


class OpenVinoNetwork:
    """``Predictions(model.network)`` as an OpenVINO compiled model for the CPU, for the input shape
    of ``example`` (and any batch up to its own).

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
        report: Reporter,
        precision: str = F32,
        calibration: CalibrationFrames | None = None,
    ) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.threads = threads
        self.problem = ""  # why a saved network could not be used, if it could not
        network = self._saved(cache, report)
        self.cache_hit = network is not None
        # the plugin keeps its compiled blobs here: a later run reuses the compile below
        self.core.set_property({"CACHE_DIR": str(cache / "compiled")})
        if network is None:
            report("converting the network", 0.15, f"OpenVINO {openvino_version()} traces the torch model")
            with warnings.catch_warnings():  # it traces with torch.jit, which warns that it is old
                warnings.simplefilter("ignore", FutureWarning)
                network = ov.convert_model(Predictions(model.network).eval(), example_input=example)
            if precision == INT8:
                if calibration is None:
                    raise RuntimeError("INT8 calibrates on frames of the line, and none were given")
                network = _quantized(network, calibration, model.dtype, report)
                self.why = f"calibrated on {calibration.taken()} frames of the line"
            else:
                self.why = "as eager" if precision == F32 else "the CPU's own: faster, scores move"
            self.precision = precision
            cache.mkdir(parents=True, exist_ok=True)
            ov.save_model(network, cache / NETWORK, compress_to_fp16=False)
            (cache / CHOICE).write_text(json.dumps({"precision": self.precision, "why": self.why}))
        report("compiling for the CPU", 0.7, f"OpenVINO {self.precision}, {threads} thread(s)")
        if len(example) > 1:  # any batch up to the example's: a call of fewer frames costs only theirs
            network.reshape(ov.PartialShape([ov.Dimension(1, len(example)), *example.shape[1:]]))
        self._request = self._compile(network, self.precision).create_infer_request()

    def _saved(self, cache: Path, report: Reporter) -> Any | None:
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

    def _compile(self, network: Any, precision: str) -> Any:
        config = {
            # an INT8 network keeps its head in floating point: f32 there, as eager has it
            "INFERENCE_PRECISION_HINT": F32 if precision == INT8 else precision,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        return self.core.compile_model(network, "CPU", config)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self._request.infer({0: x.numpy()}, share_inputs=True, share_outputs=True)
        return torch.from_numpy(out[0])


def _quantized(
    network: Any,
    calibration: CalibrationFrames,
    dtype: torch.dtype,
    report: Reporter,
) -> Any:
    """``network`` quantized to INT8 by NNCF on frames of the line, its detect head left in floating
    point (as ultralytics' own INT8 export does: the head's box decoding loses most in INT8)."""
    try:
        import nncf
    except ImportError:
        raise RuntimeError("the openvino-int8 mode needs NNCF: pip install 'inspector[int8]'") from None
    deadline, said = time.monotonic() + CALIBRATION_WAIT_S, -calibration.size
    while (taken := calibration.taken()) < calibration.size and time.monotonic() < deadline:
        if taken - said >= calibration.size // 8:  # eight steps, not a line per frame
            fraction = 0.2 + 0.3 * taken / calibration.size
            report("collecting frames", fraction, f"{taken} of {calibration.size} frames of the line, INT8")
            said = taken
        time.sleep(0.05)
    if taken < FEWEST:
        raise RuntimeError(
            f"INT8 calibrates on frames of the running line: {taken} arrived in {CALIBRATION_WAIT_S:.0f} s"
        )
    report("quantizing to INT8", 0.5, f"NNCF on {taken} frames of the line")
    ops = network.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in ops if op.get_type_name() == "Sigmoid"]
    head = sigmoids[-1].split("/", 1)[0] if sigmoids else None
    in_head = (f"{head}/", f"{head}.dfl")
    ignored = [
        op.get_friendly_name()
        for op in ops
        if head is not None
        and (op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith(in_head))
    ]
    # NNCF draws progress bars and logs each layer on the terminal: the station's progress says enough
    logging.getLogger("nncf").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return nncf.quantize(
            network,
            nncf.Dataset(calibration.inputs(dtype)),
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=taken,
            ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
        )
