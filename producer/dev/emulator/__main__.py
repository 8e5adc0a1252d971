"""Run the emulator: `python -m producer.dev.emulator --port 8721 --latency 0.2 ...`."""

from __future__ import annotations

import argparse

from producer.dev.emulator.models import InvalidInput
from producer.dev.emulator.server import serve
from producer.dev.emulator.state import EmulatorConfig, TakeSettings, parse_credit


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog="narrate emulator", description="The Fish API emulator: a development and test tool."
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    parser.add_argument("--api-key", default=None, help="expected key (default: any non-empty key)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per Fish request")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="TTS and ASR requests in flight before 429 (0 = unlimited)"
    )
    parser.add_argument("--train-seconds", type=float, default=0.0, help="time a new voice model takes to train")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction of TTS and ASR requests answered 500")
    parser.add_argument("--fail-training", action="store_true", help="new voice models end 'failed'")
    parser.add_argument("--tone-mode", action="store_true", help="TTS answers a sine whose pitch identifies the text")
    parser.add_argument("--canned-audio", action="store_true", help="TTS answers one pre-encoded clip (benchmarks)")
    parser.add_argument("--credit", default=defaults.credit, help="API credit; 0 or less makes TTS answer 402")
    parser.add_argument(
        "--rate-limit-rate", type=float, default=0.0, help="fraction of TTS and ASR requests answered 429"
    )
    parser.add_argument(
        "--stall-rate", type=float, default=0.0, help="fraction of TTS and ASR requests that stall first"
    )
    parser.add_argument("--stall-seconds", type=float, default=0.0, help="how long a stalled TTS request sleeps")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random faults (default: from the OS)")
    _add_take_arguments(parser)
    args = parser.parse_args(argv)
    for flag in ("fail_rate", "rate_limit_rate", "stall_rate", *_TAKE_RATES):
        if not 0.0 <= getattr(args, flag) <= 1.0:  # also refuses nan
            parser.error(f"--{flag.replace('_', '-')} must be between 0 and 1")
    if not 0.0 <= args.stall_seconds < float("inf"):
        parser.error("--stall-seconds must be a finite number of seconds, not negative")
    if args.latency < 0 or args.concurrency < 0 or args.train_seconds < 0 or not args.asr_latency_factor >= 0:
        parser.error("--latency, --concurrency, --train-seconds and --asr-latency-factor must not be negative")
    try:
        credit = str(parse_credit(args.credit))
    except InvalidInput as exc:
        parser.error(str(exc))
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key or None,
        latency=args.latency,
        concurrency=args.concurrency,
        train_seconds=args.train_seconds,
        fail_rate=args.fail_rate,
        fail_training=args.fail_training,
        tone_mode=args.tone_mode,
        canned_audio=args.canned_audio,
        credit=credit,
        rate_limit_rate=args.rate_limit_rate,
        stall_rate=args.stall_rate,
        stall_seconds=args.stall_seconds,
        seed=args.seed,
        takes=TakeSettings(**{name: getattr(args, name) for name in (*_TAKE_RATES, "asr_latency_factor")}),
    )


_TAKE_RATES = ("fault_drop", "fault_repeat", "fault_garble", "fault_cut", "asr_noise")


def _add_take_arguments(parser: argparse.ArgumentParser) -> None:
    """Faulted takes and the hearing's noise: what proof-listening must catch, and what it must forgive."""
    takes = parser.add_argument_group("takes and hearing (POST /v1/asr)")
    takes.add_argument("--fault-drop", type=float, default=0.0, help="fraction of takes that leave a sentence out")
    takes.add_argument("--fault-repeat", type=float, default=0.0, help="fraction of takes that say a phrase twice")
    takes.add_argument("--fault-garble", type=float, default=0.0, help="fraction of takes that garble a word")
    takes.add_argument("--fault-cut", type=float, default=0.0, help="fraction of takes cut off in the last clause")
    takes.add_argument("--asr-noise", type=float, default=0.0, help="fraction of heard words misheard")
    takes.add_argument(
        "--asr-latency-factor", type=float, default=0.2, help="an ASR request sleeps this times --latency"
    )


def main(argv: list[str] | None = None) -> None:
    serve(parse_args(argv))


if __name__ == "__main__":
    main()
