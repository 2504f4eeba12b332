"""Stop signals become the run's own stop: the real signals, sent to this process."""

import os
import signal
import time

import pytest

from inspector.stop_signals import stop_signals_interrupt


def _signal_self(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.2)  # the handler runs at the interpreter's next step


def test_the_first_stop_signal_interrupts_and_later_ones_cannot_cut_the_closing_short():
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals_interrupt():
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            _signal_self(signal.SIGTERM)
        _signal_self(signal.SIGHUP)  # by default this would end the process
        _signal_self(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before
