"""Every environment variable, validated once, with its default and meaning.

The ecosystem's own names stay as they are: `FISH_API_KEY` for the Fish SDK and
`AWS_*` (including `AWS_ENDPOINT_URL`) for boto3, which reads them itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.contract import Synthesis
from worker.hearing.thresholds import Thresholds
from worker.infra.redisconn import SENTINEL_SCHEME, is_sentinel, parse_sentinel


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NARRATE_", extra="ignore", frozen=True)

    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Celery broker and job-state store: redis://, rediss://, or sentinel://host:port;sentinel://…"
        " (Redis Sentinel).",
    )
    redis_master_name: str = Field(
        "", description="With a sentinel:// broker URL: the name of the master Sentinel watches."
    )
    fish_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("FISH_API_KEY"),
        description="Fish Audio API key (the SDK's own variable). Never logged.",
    )
    fish_base_url: str = Field("https://api.fish.audio", description="Fish API base URL.")
    fish_model: str = Field("s2-pro", description="Fish model, always sent explicitly.")
    # Synthesis defaults for every job and book that does not set its own (worker.contract.Synthesis).
    fish_latency: Literal["normal", "balanced"] = Field(
        "normal", description="normal: Fish's higher-quality mode (the SDK's own default is balanced)."
    )
    fish_speed: float | None = Field(None, ge=0.5, le=2.0, description="Speaking rate; unset: Fish's (1.0).")
    fish_temperature: float | None = Field(None, ge=0.0, le=1.0, description="Unset: Fish's.")
    fish_top_p: float | None = Field(None, ge=0.0, le=1.0, description="Unset: Fish's.")
    fish_normalize: bool | None = Field(None, description="Fish's text normalization; unset: Fish's (on).")
    fish_timeout_seconds: float = Field(120.0, gt=0, description="Timeout of one Fish request (connect + read).")
    fish_concurrency: int = Field(5, ge=1, description="Fish requests in flight, cluster-wide (5/15/50 by Fish tier).")
    promote_after: int = Field(
        5,
        description="A reference used more than N times is promoted to a Fish voice"
        " (0: on first use; negative or 'off': never).",
    )
    reference_encoding: Literal["flac", "original"] = Field(
        "flac",
        description="How one-shot requests carry a 16-bit WAV reference: flac (lossless, about half"
        " the bytes) or original (the file as uploaded).",
    )
    promote_wait_seconds: float = Field(
        30.0,
        ge=0,
        description="For this long after a promotion starts, renders of that reference wait for the"
        " new voice instead of sending the clips again (0: never wait).",
    )
    promote_poll_seconds: float = Field(10.0, gt=0, description="Seconds between checks of a training voice model.")
    promote_timeout_seconds: float = Field(
        1800.0, gt=0, description="Training that takes longer than this counts as failed."
    )
    promote_retry_seconds: float = Field(
        600.0, ge=0, description="Back-off before a failed promotion is tried again (doubles each time)."
    )
    promote_max_attempts: int = Field(3, ge=1, description="Promotion attempts per reference before giving up.")
    max_text_bytes: int = Field(500_000, gt=0, description="Largest text one job may carry, in UTF-8 bytes.")
    chunk_bytes: int = Field(1_000, ge=100, description="Largest text sent in one Fish request, in UTF-8 bytes.")
    max_attempts: int = Field(6, ge=1, description="Attempts per job for transient errors (429, 5xx, timeouts).")
    max_retry_seconds: float = Field(
        6 * 3600.0, gt=0, description="A job still failing this long after its first attempt fails for good."
    )
    max_message_bytes: int = Field(
        1_000_000, gt=0, description="Largest job message a worker accepts, in bytes of JSON."
    )
    credit_check_seconds: float = Field(
        60.0, gt=0, description="How often beat checks Fish credit while the 402 breaker is open."
    )
    retry_base_seconds: float = Field(
        2.0, gt=0, description="First retry delay; doubles each attempt, with full jitter."
    )
    retry_max_seconds: float = Field(120.0, gt=0, description="Cap on one retry delay.")
    task_soft_time_limit: int = Field(540, gt=0, description="Seconds before a render is asked to stop (soft limit).")
    task_time_limit: int = Field(600, gt=0, description="Seconds before a render is killed.")
    visibility_timeout: int = Field(3600, gt=0, description="Seconds before Redis redelivers an unacknowledged task.")
    job_ttl_days: int = Field(30, gt=0, description="Days a finished job record is kept.")
    sweep_seconds: float = Field(60.0, gt=0, description="How often beat looks for jobs whose message was lost.")
    sweep_stale_seconds: float = Field(
        300.0, gt=0, description="A job queued or running this long with no message anywhere is re-sent."
    )
    price_per_million_bytes: float = Field(
        15.0, ge=0, description="USD per million UTF-8 bytes of text, for estimates (Fish list price)."
    )
    asr_price_per_hour: float = Field(
        0.36,
        ge=0,
        description="USD per hour of audio Fish's speech-to-text hears, billed per second (Fish list price).",
    )
    qc: Literal["off", "report", "retake"] | None = Field(
        None,
        description="Proof-listening when a job or book names none (--qc); unset: a book's preset decides, jobs off.",
    )
    qc_retakes: int = Field(2, ge=0, le=5, description="Takes rendered again at most per chunk (--qc-retakes).")
    qc_thresholds: Thresholds = Field(
        default_factory=Thresholds,
        description="Where recognition noise ends and a fault begins, as JSON of worker/hearing/thresholds.py's"
        ' fields (e.g. {"max_divergent_run": 5}); unset fields keep their defaults.',
    )
    qc_expected_retake_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of takes expected to be taken again under --qc retake, for estimates and --budget.",
    )
    target_rms_db: float = Field(
        -20.0, ge=-40, le=-6, description="Loudness target of audiobook chapters, RMS dBFS (ACX: -23 to -18)."
    )
    preset: Literal["standard", "acx"] = Field(
        "standard", description="How books' audio is made when a book names no preset (worker/books/presets.py)."
    )
    pipelines_file: str = Field(
        "", description="YAML file of scheduled pipelines (producer/pipelines/config.py); empty: none."
    )
    reconcile_seconds: float = Field(60.0, gt=0, description="How often beat runs the audiobook reconciler.")
    reconcile_stale_seconds: float = Field(
        300.0, gt=0, description="An audiobook with no progress for this long has its missing work re-sent."
    )
    s3_sse: Literal["", "AES256", "aws:kms"] = Field(
        "", description="Server-side encryption of everything written to S3: AES256 (SSE-S3) or aws:kms (SSE-KMS)."
    )
    s3_sse_kms_key_id: str = Field("", description="KMS key for aws:kms (default: the bucket's AWS-managed key).")
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key that signs completion webhooks (X-Narrate-Signature)."
    )
    webhook_max_attempts: int = Field(8, ge=1, description="Attempts to deliver one completion webhook.")
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve Prometheus /metrics and a cheap /healthz on this port from each worker; unset: off.",
    )
    heartbeat_file: str = Field(
        "", description="A file the worker touches at every heartbeat, for liveness probes that read it; empty: none."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Worker log lines: text for people, json for log pipelines (one object per line)."
    )

    @field_validator("promote_after", mode="before")
    @classmethod
    def _off_means_never(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("off", "never", "false", "no"):
            return -1
        return value

    @field_validator("broker_url")
    @classmethod
    def _redis_only(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("redis", "rediss", SENTINEL_SCHEME):
            raise ValueError("NARRATE_BROKER_URL must be a redis://, rediss:// or sentinel:// URL")
        if scheme == SENTINEL_SCHEME:
            parse_sentinel(value)
        return value

    @model_validator(mode="after")
    def _sentinel_names_its_master(self) -> Settings:
        if is_sentinel(self.broker_url) and not self.redis_master_name:
            raise ValueError(
                "a sentinel:// NARRATE_BROKER_URL needs NARRATE_REDIS_MASTER_NAME: the master's name in Sentinel"
            )
        return self

    @model_validator(mode="after")
    def _limits_in_order(self) -> Settings:
        # Redis redelivers a task still running past the visibility timeout; the
        # time limits must end it first, or one job runs twice at once.
        if not self.task_soft_time_limit < self.task_time_limit < self.visibility_timeout:
            raise ValueError("need NARRATE_TASK_SOFT_TIME_LIMIT < NARRATE_TASK_TIME_LIMIT < NARRATE_VISIBILITY_TIMEOUT")
        # A task received with a countdown is unacknowledged from receipt: it must have run
        # and finished before Redis hands it out again, or it runs twice.
        for name in ("retry_max_seconds", "promote_poll_seconds"):
            if getattr(self, name) >= self.longest_countdown:
                raise ValueError(
                    f"NARRATE_{name.upper()} ({getattr(self, name):g}) must be under NARRATE_VISIBILITY_TIMEOUT"
                    f" - NARRATE_TASK_TIME_LIMIT ({self.longest_countdown:g} s): a countdown longer than that"
                    " lets Redis redeliver the task while it waits or runs"
                )
        return self

    @property
    def longest_countdown(self) -> float:
        """The longest wait a task may be scheduled with (see _limits_in_order)."""
        return float(self.visibility_timeout - self.task_time_limit)

    def fish_key(self) -> str:
        """The key to hand to the SDK; the emulator accepts any non-empty key."""
        if self.fish_api_key is not None:
            return self.fish_api_key.get_secret_value()
        return "emulator-key"

    job_ttl_seconds: int | None = Field(
        None,
        gt=0,
        description="Seconds finished records (jobs, books) are kept; overrides NARRATE_JOB_TTL_DAYS"
        " (tests, short-lived stacks).",
    )

    @property
    def record_ttl_seconds(self) -> int:
        """How long a finished job's or book's keys stay in Redis."""
        return self.job_ttl_seconds or self.job_ttl_days * 86400

    # A chapter's assembly spools its speech as 16-bit samples beside its chapter file and its AAC book part
    # (worker/books/spool.py): at 44.1 kHz about 418 MB per audio hour with MP3 chapters (WAV chapters: 678 MB),
    # so 4 GiB holds a chapter of about 10 hours (WAV: 6.3). The assembly pods' emptyDir holds two tasks' worth.
    spool_limit_bytes: int = Field(
        4 * 1024**3,
        gt=0,
        description="Local disk one chapter assembly may fill; a chapter estimated to need more is refused at submit.",
    )
    credit_resume_usd: float = Field(
        5.0,
        ge=0,
        description="The credit check resumes Fish calls only once the account holds this much API credit (USD).",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address /metrics listens on (workers and `narrate metrics serve`); unset: loopback only."
        " Set the pod's own address (or 0.0.0.0, on purpose) where Prometheus scrapes from elsewhere.",
    )
    webhook_allow: str = Field(
        "",
        description="Webhook receivers admitted although their addresses are internal: CIDRs or host names,"
        " comma-separated (e.g. 10.20.0.0/16,hooks.internal); empty: public addresses only.",
    )
    webhook_unsigned: bool = Field(
        False,
        description="Send webhooks without a signature when NARRATE_WEBHOOK_SECRET is unset; false: such webhooks are"
        " refused at submit.",
    )
    parse_seconds: float = Field(
        60.0,
        gt=0,
        description="The pipelines service reads each source, batch file and sidecar in a child process stopped after"
        " this many seconds: one hostile file ends as a failed entry, never as a stuck worker.",
    )
    epub_max_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="The largest EPUB read, as a file and unpacked (all its entries together): a larger one"
        " is refused before anything in it is unpacked.",
    )
    epub_document_max_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="The largest document inside an EPUB (a chapter, the package, a table of contents),"
        " unpacked: checked before it is unpacked.",
    )
    cover_max_bytes: int = Field(
        10 * 1024 * 1024,
        gt=0,
        description="The largest cover image a book may carry: a larger one is refused when the book is"
        " read, and never embedded in the .m4b.",
    )
    fetch_max_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="The largest object a pipeline or a batch file fetches from S3 (a source, a clip,"
        " a lexicon, a sidecar): a larger one is refused, by its size, before it is downloaded.",
    )


def default_synthesis(settings: Settings) -> Synthesis:
    """The synthesis settings from the environment, under what a job, book or preset sets."""
    return Synthesis(
        latency=settings.fish_latency,
        speed=settings.fish_speed,
        temperature=settings.fish_temperature,
        top_p=settings.fish_top_p,
        normalize=settings.fish_normalize,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
