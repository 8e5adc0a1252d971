import json
import math
import time
from dataclasses import astuple

import numpy as np
import pytest
from scipy.signal import lfilter

from worker.audio import loudness
from worker.audio.acx import acx_report
from worker.audio.loudness import (
    Loudness,
    LoudnessMeter,
    measure,
)

# BS.1770-4, table 1 and table 2 (48 kHz).
SHELF_B = [1.53512485958697, -2.69169618940638, 1.19839281085285]
SHELF_A = [1.0, -1.69065929318241, 0.73248077421585]
HIGHPASS_B = [1.0, -2.0, 1.0]
HIGHPASS_A = [1.0, -1.99004745483398, 0.99007225036621]


def sine(seconds: float, *, rate: int, amplitude: float = 1.0, freq: float = 997.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def noise(seconds: float, *, rate: int, rms_db: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 10 ** (rms_db / 20), round(seconds * rate))


def feed_in_blocks(x: np.ndarray, *, rate: int, seed: int) -> Loudness:
    rng = np.random.default_rng(seed)
    meter = LoudnessMeter(rate)
    pos = 0
    while pos < x.size:
        size = int(rng.choice([1, 2, 37, 441, 4800, 100_000]))
        meter.add(x[pos : pos + size])
        pos += size
    return meter.result()


def reference_integrated(x: np.ndarray) -> float:
    """BS.1770-4 gating done directly on every block, with the 48 kHz table coefficients."""
    z = lfilter(HIGHPASS_B, HIGHPASS_A, lfilter(SHELF_B, SHELF_A, x))
    hop = 4800
    energies = np.array([np.mean(z[i : i + 4 * hop] ** 2) for i in range(0, z.size - 4 * hop + 1, hop)])
    lufs = -0.691 + 10 * np.log10(energies)
    above = energies[lufs > -70]
    threshold = -0.691 + 10 * np.log10(above.mean()) - 10
    return float(-0.691 + 10 * np.log10(energies[(lufs > -70) & (lufs > threshold)].mean()))


def test_k_weighting_matches_the_bs1770_table_at_48k() -> None:
    sos = loudness.k_weighting(48_000)
    np.testing.assert_allclose(sos[0, :3], SHELF_B, atol=1e-6)
    np.testing.assert_allclose(sos[0, 3:], SHELF_A, atol=1e-6)
    np.testing.assert_allclose(sos[1, :3], HIGHPASS_B, atol=1e-6)
    np.testing.assert_allclose(sos[1, 3:], HIGHPASS_A, atol=1e-6)


@pytest.mark.parametrize("rate", [48_000, 44_100, 22_050])
def test_full_scale_sine_reads_minus_3_lufs(rate: int) -> None:
    result = measure(sine(10, rate=rate), sample_rate=rate)
    assert result.integrated_lufs == pytest.approx(-3.01, abs=0.05 if rate == 48_000 else 0.1)
    assert result.rms_db == pytest.approx(-3.01, abs=0.01)
    assert result.peak_db == pytest.approx(0.0, abs=0.01)
    assert result.duration_seconds == pytest.approx(10.0)


@pytest.mark.parametrize("rate", [8_000, 16_000, 24_000, 96_000])
def test_k_weighting_is_flat_near_1khz_at_other_rates(rate: int) -> None:
    assert measure(sine(5, rate=rate), sample_rate=rate).integrated_lufs == pytest.approx(-3.01, abs=0.1)


@pytest.mark.parametrize("rate", [48_000, 22_050])
def test_sine_at_minus_20_db_reads_minus_23_lufs(rate: int) -> None:
    result = measure(sine(10, rate=rate, amplitude=0.1), sample_rate=rate)
    assert result.integrated_lufs == pytest.approx(-23.01, abs=0.1)
    assert result.rms_db == pytest.approx(-23.01, abs=0.01)
    assert result.peak_db == pytest.approx(-20.0, abs=0.01)


def test_silence_reads_minus_120_everywhere() -> None:
    result = measure(np.zeros(22_050 * 3), sample_rate=22_050)
    assert (result.integrated_lufs, result.rms_db, result.peak_db, result.noise_floor_db) == (-120.0,) * 4
    assert result.duration_seconds == pytest.approx(3.0)
    meter = LoudnessMeter(22_050)
    meter.add(np.zeros(22_050))
    assert meter.gain_for_rms(target_rms_db=-20.0, ceiling_db=-4.5) == 0.0


def test_empty_meter_reads_minus_120() -> None:
    assert LoudnessMeter(22_050).result() == Loudness(-120.0, -120.0, -120.0, -120.0, 0.0)


def test_quiet_tail_sets_the_noise_floor_and_is_gated_out() -> None:
    rate = 22_050
    tone = sine(10, rate=rate, amplitude=10 ** (-20 / 20) * math.sqrt(2))  # -20 dB RMS
    both = measure(np.concatenate([tone, noise(10, rate=rate, rms_db=-80)]), sample_rate=rate)
    assert both.noise_floor_db == pytest.approx(-80.0, abs=2.0)
    assert both.integrated_lufs == pytest.approx(measure(tone, sample_rate=rate).integrated_lufs, abs=0.5)
    assert both.rms_db == pytest.approx(-23.0, abs=0.05)  # ungated: half the time at -20 dB


def test_relative_gate_drops_quiet_speech_above_the_absolute_gate() -> None:
    rate = 48_000
    loud, quiet = sine(10, rate=rate, amplitude=0.1), sine(10, rate=rate, amplitude=0.1 * 10 ** (-22 / 20))
    result = measure(np.concatenate([loud, quiet]), sample_rate=rate)
    assert result.integrated_lufs == pytest.approx(-23.01, abs=0.1)  # ungated it would read about -26


def test_histogram_gating_matches_direct_gating() -> None:
    rate = 48_000
    rng = np.random.default_rng(3)
    envelope = np.repeat(10 ** (rng.uniform(-60, -10, 40) / 20), rate // 2)  # level jumps every 0.5 s
    x = envelope * rng.normal(0.0, 1.0, envelope.size)
    assert measure(x, sample_rate=rate).integrated_lufs == pytest.approx(reference_integrated(x), abs=0.01)


def test_noise_floor_is_the_quietest_half_second_as_the_store_measures() -> None:
    """Speech fills most windows; the room tone between them is what the store calls the noise floor."""
    rate = 22_050
    parts = [
        noise(1.0, rate=rate, rms_db=-68, seed=1),
        noise(19, rate=rate, rms_db=-20, seed=2),
    ]  # 2 quiet windows in 40
    result = measure(np.concatenate(parts), sample_rate=rate)
    assert result.noise_floor_db == pytest.approx(-68.0, abs=0.5) and result.silent_seconds == 0.0


def test_digital_silence_is_counted_apart() -> None:
    rate = 22_050
    parts = [noise(19, rate=rate, rms_db=-65, seed=1), np.zeros(rate)]  # two silent windows in 40
    result = measure(np.concatenate(parts), sample_rate=rate)
    assert result.noise_floor_db == -120.0 and result.silent_seconds == 1.0
    report = acx_report(result)
    assert report["checks"]["room_tone"] == {
        "value": 1.0,
        "limit": "no 0.5 s of digital silence (seconds found)",
        "pass": False,
    }


def test_noise_floor_of_a_clip_shorter_than_one_window() -> None:
    result = measure(noise(0.2, rate=22_050, rms_db=-50), sample_rate=22_050)
    assert result.noise_floor_db == pytest.approx(-50.0, abs=0.5)
    assert result.integrated_lufs == -120.0  # shorter than one 400 ms block


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_in_random_blocks_matches_one_call(seed: int) -> None:
    rate = 22_050
    x = np.concatenate(
        [
            sine(3, rate=rate, amplitude=0.3),
            noise(2.3, rate=rate, rms_db=-62),
            sine(1.7, rate=rate, amplitude=0.05, freq=220),
        ]
    )
    whole = measure(x, sample_rate=rate)
    parts = feed_in_blocks(x, rate=rate, seed=seed)
    np.testing.assert_allclose(astuple(parts), astuple(whole), rtol=0, atol=1e-6)


def test_result_can_be_read_midstream() -> None:
    rate = 16_000
    x = noise(4, rate=rate, rms_db=-30)
    meter = LoudnessMeter(rate)
    meter.add(x[:12_345])
    early = meter.result()
    meter.add(x[12_345:])
    assert early.duration_seconds == pytest.approx(12_345 / rate)
    assert meter.result() == measure(x, sample_rate=rate)


def test_float32_input_measures_like_float64() -> None:
    x = sine(2, rate=22_050, amplitude=0.25)
    a, b = measure(x.astype(np.float32), sample_rate=22_050), measure(x, sample_rate=22_050)
    np.testing.assert_allclose(astuple(a), astuple(b), atol=1e-4)


def test_gain_for_rms_brings_a_quiet_tone_to_the_target() -> None:
    rate = 22_050
    x = sine(5, rate=rate, amplitude=0.01)
    meter = LoudnessMeter(rate)
    meter.add(x)
    gain = meter.gain_for_rms(target_rms_db=-20.0, ceiling_db=-4.5)
    assert gain == pytest.approx(-20.0 - meter.result().rms_db, abs=0.01)  # no peak near the ceiling: plain gain
    assert measure(x * 10 ** (gain / 20), sample_rate=rate).rms_db == pytest.approx(-20.0, abs=0.01)


def test_gain_for_rms_adds_what_the_limiter_will_take_from_the_peaks() -> None:
    rate = 22_050
    x = noise(5, rate=rate, rms_db=-30)
    x[::200] = 0.9  # dense clicks: holding them under the ceiling takes energy out
    meter = LoudnessMeter(rate)
    meter.add(x)
    plain = -20.0 - meter.result().rms_db
    gain = meter.gain_for_rms(target_rms_db=-20.0, ceiling_db=-4.5)
    assert gain > plain + 1.0
    limited = np.clip(x * 10 ** (gain / 20), -(10 ** (-4.5 / 20)), 10 ** (-4.5 / 20))
    assert measure(limited, sample_rate=rate).rms_db == pytest.approx(-20.0, abs=0.1)
    assert LoudnessMeter(rate).gain_for_rms(target_rms_db=-20.0, ceiling_db=-4.5) == 0.0  # nothing measured


COMPLIANT = Loudness(integrated_lufs=-19.5, rms_db=-20.0, peak_db=-3.5, noise_floor_db=-65.0, duration_seconds=61.2345)


def test_acx_report_for_a_compliant_chapter() -> None:
    report = acx_report(COMPLIANT, true_peak_db=-3.7)
    json.dumps(report, allow_nan=False)
    assert report["pass"] is True
    assert report["duration_seconds"] == 61.23
    assert report["rms_db"] == -20.0
    assert report["checks"] == {
        "rms": {"value": -20.0, "limit": "-23 to -18 dB", "pass": True},
        "peak": {"value": -3.5, "limit": "at most -3 dB", "pass": True},
        "noise_floor": {"value": -65.0, "limit": "at most -60 dB", "pass": True},
        "room_tone": {"value": 0.0, "limit": "no 0.5 s of digital silence (seconds found)", "pass": True},
        "true_peak": {"value": -3.7, "limit": "at most -3 dBTP", "pass": True},
    }


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"rms_db": -25.0}, "rms"),
        ({"rms_db": -17.0}, "rms"),
        ({"peak_db": -2.0}, "peak"),
        ({"noise_floor_db": -55.0}, "noise_floor"),
    ],
)
def test_acx_report_flags_each_limit(change: dict[str, float], failing: str) -> None:
    report = acx_report(Loudness(**{**COMPLIANT.__dict__, **change}))
    assert report["pass"] is False
    assert {name for name, check in report["checks"].items() if not check["pass"]} == {failing}


def test_acx_report_for_silence_is_json_ready() -> None:
    report = acx_report(measure(np.zeros(8_000), sample_rate=8_000))
    assert json.loads(json.dumps(report, allow_nan=False))["rms_db"] == -120.0
    assert report["pass"] is False


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        LoudnessMeter(4_000)
    meter = LoudnessMeter(22_050)
    with pytest.raises(ValueError, match="mono"):
        meter.add(np.zeros((100, 2)))
    with pytest.raises(TypeError, match="float"):
        meter.add(np.zeros(100, dtype=np.int16))
    with pytest.raises(ValueError, match="NaN"):
        meter.add(np.array([0.0, np.nan]))


def test_a_minute_at_22k_measures_quickly() -> None:
    x = noise(60, rate=22_050, rms_db=-20)
    start = time.perf_counter()
    measure(x, sample_rate=22_050)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("rate", [22_050, 44_100, 192_000])
def test_k_weighting_as_one_filter_matches_the_two_biquads_in_turn(rate: int) -> None:
    from scipy.signal import sosfilt

    x = np.concatenate(
        [
            noise(1.5, rate=rate, rms_db=-25, seed=3),
            sine(1.0, rate=rate, amplitude=0.4, freq=60),
            noise(1, rate=rate, rms_db=-40),
        ]
    )
    meter = LoudnessMeter(rate)
    meter.add(x)
    z, hop = sosfilt(loudness.k_weighting(rate), x), rate // 10  # the biquads one after the other
    energies = np.array([np.mean(z[i : i + 4 * hop] ** 2) for i in range(0, z.size - 4 * hop + 1, hop)])
    lufs = -0.691 + 10 * np.log10(energies)
    threshold = -0.691 + 10 * np.log10(energies[lufs > -70].mean()) - 10
    expected = -0.691 + 10 * np.log10(energies[(lufs > -70) & (lufs > threshold)].mean())
    assert meter.result().integrated_lufs == pytest.approx(expected, abs=0.01)


def test_a_meter_without_levels_measures_the_same_and_cannot_tell_a_gain() -> None:
    rate = 44_100
    x = np.concatenate([sine(2, rate=rate, amplitude=0.3), noise(1.2, rate=rate, rms_db=-65)])
    full, light = LoudnessMeter(rate), LoudnessMeter(rate, levels=False)
    for meter in (full, light):
        meter.add(x)
    assert light.result() == full.result()
    with pytest.raises(ValueError, match="levels=False"):
        light.gain_for_rms(target_rms_db=-20.0, ceiling_db=-4.5)
