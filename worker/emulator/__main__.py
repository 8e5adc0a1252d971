"""Run the emulator: `python -m worker.emulator --port 8721 --latency 0.2 ...`."""

from __future__ import annotations

import argparse

from worker.emulator.server import serve
from worker.emulator.models import InvalidInput
from worker.emulator.state import EmulatorConfig, parse_credit


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m worker.emulator", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    parser.add_argument("--api-key", default=None, help="expected key (default: any non-empty key)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per Fish request")
    parser.add_argument("--concurrency", type=int, default=0, help="TTS requests in flight before 429 (0 = unlimited)")
    parser.add_argument("--train-seconds", type=float, default=0.0, help="time a new voice model takes to train")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction of TTS requests answered 500")
    parser.add_argument("--fail-training", action="store_true", help="new voice models end 'failed'")
    parser.add_argument("--tone-mode", action="store_true", help="TTS answers a sine whose pitch identifies the text")
    parser.add_argument("--credit", default=defaults.credit, help="API credit; 0 or less makes TTS answer 402")
    args = parser.parse_args(argv)
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error("--fail-rate must be between 0 and 1")
    if args.latency < 0 or args.concurrency < 0 or args.train_seconds < 0:
        parser.error("--latency, --concurrency and --train-seconds must not be negative")
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
        credit=credit,
    )


def main(argv: list[str] | None = None) -> None:
    serve(parse_args(argv))


if __name__ == "__main__":
    main()
