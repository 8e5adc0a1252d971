"""The mastering chain (FFmpeg's highpass, volume, alimiter, astats at 4x for the true peak) and room tone."""

from __future__ import annotations

import numpy as np
import pytest

from worker.audio.acx import acx_report
from worker.audio.loudness import LoudnessMeter, measure
from worker.audio.mastering import CEILING_DB, MasteringChain
from worker.audio.roomtone import RoomTone

RATE = 44_100


def spiky_speech(seconds: float, *, seed: int = 3) -> np.ndarray:
    """Syllable-like bursts with sharp transients: a crest factor far above a sine's (about 20 dB)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 4  # bursts, with near-silence between
    x = 0.1 * envelope * rng.standard_normal(t.size)
    for start in rng.integers(0, t.size - RATE // 100, 30):  # plosives: 3 ms bursts far above the syllables
        x[start : start + RATE // 330] += 0.6 * np.hanning(RATE // 330) * rng.choice([-1.0, 1.0])
    return x.astype(np.float32)


def run(chain: MasteringChain, x: np.ndarray, *, block: int = 4_410) -> np.ndarray:
    out = [b for i in range(0, x.size, block) for b in chain.process(x[i : i + block])]
    return np.concatenate([*out, *chain.finish()])


def test_a_high_crest_factor_signal_reaches_the_rms_target_with_peaks_under_the_ceiling() -> None:
    x = spiky_speech(20)
    before = measure(x, sample_rate=RATE)
    assert before.peak_db - before.rms_db > 20, "the test signal must be spiky (speech: about 15-20 dB)"
    assert before.peak_db + (-20.0 - before.rms_db) > 0, "plain gain to -20 dB RMS would clip it"
    meter = LoudnessMeter(RATE)
    meter.add(x)
    chain = MasteringChain(rate=RATE, gain_db=meter.gain_for_rms(target_rms_db=-20.0, ceiling_db=CEILING_DB))
    y = run(chain, x)
    after = measure(y, sample_rate=RATE)
    # A limiter cannot hold a 20+ dB crest without taking some loudness: within ACX's range, near the target.
    assert -22.0 <= after.rms_db <= -19.5
    assert after.peak_db <= -3.5
    assert chain.true_peak_db <= -3.5
    report = acx_report(after, true_peak_db=chain.true_peak_db)
    assert (
        report["checks"]["rms"]["pass"] and report["checks"]["peak"]["pass"] and report["checks"]["true_peak"]["pass"]
    )


def test_the_chain_keeps_every_sample_where_it_was() -> None:
    x = np.zeros(RATE * 2, dtype=np.float32)
    x[RATE] = 0.5  # one click, one second in
    y = run(MasteringChain(rate=RATE, gain_db=0.0), x, block=1_000)
    assert y.size == x.size
    assert abs(int(np.argmax(np.abs(y))) - RATE) <= 2


def test_the_high_pass_takes_out_rumble() -> None:
    t = np.arange(RATE * 3) / RATE
    rumble, voice = 0.1 * np.sin(2 * np.pi * 25 * t), 0.1 * np.sin(2 * np.pi * 440 * t)
    spectrum = lambda s, f: np.abs(np.fft.rfft(s[RATE:]))[int(f * (s.size - RATE) / RATE)]  # noqa: E731
    y = run(MasteringChain(rate=RATE, gain_db=0.0), (rumble + voice).astype(np.float32))
    x = (rumble + voice).astype(np.float32)
    assert spectrum(y, 25) < spectrum(x, 25) / 4  # at least 12 dB down
    assert spectrum(y, 440) == pytest.approx(spectrum(x, 440), rel=0.05)


def test_room_tone_is_a_steady_bed_far_under_the_noise_floor_limit_and_never_zeros() -> None:
    tone = RoomTone(rate=RATE)
    x = np.concatenate([tone.seconds(0.3), tone.seconds(9.7)])
    result = measure(x, sample_rate=RATE)
    assert result.rms_db == pytest.approx(-70.0, abs=0.5)
    assert -75 < result.noise_floor_db < -65 and result.silent_seconds == 0.0
    assert result.peak_db < -50
    assert np.count_nonzero(x == 0) < x.size / 1000
    windows = x[: 20 * (RATE // 2)].reshape(20, -1)
    levels = 10 * np.log10((windows.astype(np.float64) ** 2).mean(axis=1))
    assert levels.max() - levels.min() < 3.0, "steady: no half second much louder than another"


def test_room_tone_through_the_chain_comes_out_at_its_level() -> None:
    gain = 12.0
    tone = RoomTone(rate=RATE, level_db=-70.0 - gain)  # scaled before the chain's gain, as chapters do
    y = run(MasteringChain(rate=RATE, gain_db=gain), tone.seconds(5))
    assert measure(y, sample_rate=RATE).rms_db == pytest.approx(-70.0, abs=1.5)


def ebur128_true_peak_db(y: np.ndarray) -> float:
    """FFmpeg's BS.1770 meter (ebur128, peak=true) over `y`: a measurement the chain does not use."""
    from fractions import Fraction

    import av
    import av.error
    import av.filter

    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=RATE, layout="mono", time_base=Fraction(1, RATE))
    meter, sink = graph.add("ebur128", "peak=true:metadata=1"), graph.add("abuffersink")
    source.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(y, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
    source.push(frame)
    source.push(None)
    peak = 0.0
    while True:
        try:
            peak = float(dict(sink.pull().metadata).get("lavfi.r128.true_peak", peak))
        except (av.error.BlockingIOError, av.error.EOFError):
            return 20 * np.log10(peak) if peak > 0 else -120.0


@pytest.mark.parametrize("signal", ["speech", "quarter-rate sine", "silence"])
def test_the_true_peak_is_the_one_ebur128_measures(signal: str) -> None:
    t = np.arange(RATE * 3) / RATE
    x = {
        "speech": spiky_speech(6),
        # Samples at 45 degrees of a quarter-rate sine: each sample 3 dB under the peak between them.
        "quarter-rate sine": (0.4 * np.sin(2 * np.pi * (RATE / 4) * t + np.pi / 4)).astype(np.float32),
        "silence": np.zeros(RATE * 2, dtype=np.float32),
    }[signal]
    chain = MasteringChain(rate=RATE, gain_db=6.0)
    y = run(chain, x)
    if signal == "silence":
        assert chain.true_peak_db == -120.0
        return
    assert chain.true_peak_db == pytest.approx(ebur128_true_peak_db(y), abs=0.1)
    if signal == "quarter-rate sine":
        assert chain.true_peak_db > 20 * np.log10(np.abs(y[RATE:]).max()) + 1.0, (
            "the peak between the samples, not the samples'"
        )
