"""Fish voice models through the same SDK client as TTS: create, read, list by tag, update, delete.

The SDK's `Voice` model rejects some valid answers, so reads go through its transport and are read leniently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fishaudio.exceptions import APIError, FishAudioError, NotFoundError
from pydantic import ValidationError

from worker.errors import FishRejected
from worker.fish.client import FishClient


@dataclass(frozen=True)
class VoiceInfo:
    """What the project needs of a Fish voice model, read leniently."""

    id: str
    state: str
    title: str
    tags: tuple[str, ...]


class FishVoices:
    """Voice-model calls on the same SDK client: create, read, list by tag, update, delete."""

    def __init__(self, client: FishClient) -> None:
        self._client = client
        self._sdk = client._sdk

    @property
    def longest_call_seconds(self) -> float:
        """The longest one call may run before the client gives up on it.

        httpx times each phase of a call on its own, not the whole: waiting for a pooled connection, connecting,
        sending, waiting for the answer. A call that goes through each once may take their sum.
        """
        timeout = self._sdk._client_wrapper._client.timeout
        phases = (timeout.pool, timeout.connect, timeout.write, timeout.read)
        if any(phase is None for phase in phases):
            raise ValueError(f"the Fish client's timeouts must bound every phase of a call: {timeout}")
        return float(sum(phases))  # type: ignore[arg-type]

    def create(self, *, title: str, clips: list[tuple[bytes, str]], tags: list[str]) -> VoiceInfo:
        try:
            voice = self._sdk.voices.create(
                title=title,
                voices=[audio for audio, _ in clips],
                texts=[text for _, text in clips],
                tags=tags,
                visibility="private",  # the API's own default is public
            )
            return VoiceInfo(id=voice.id, state=voice.state, title=voice.title, tags=tuple(voice.tags))
        except ValidationError:
            # Created, but the SDK cannot read the answer: find the model by its tag instead.
            found = self.find_by_tag(tags[0]) if tags else []
            if not found:
                raise FishRejected(
                    "the Fish API answered voice creation with a model the SDK cannot read", status=0
                ) from None
            return found[-1]
        except (APIError, FishAudioError, httpx.HTTPError) as exc:
            raise self._client._mapped(exc, reference_id=None) from None

    def get(self, model_id: str) -> VoiceInfo | None:
        """The model, or None when Fish no longer has it."""
        try:
            return _info(self._raw("GET", f"/model/{model_id}"))
        except NotFoundError:
            return None
        except (APIError, FishAudioError, httpx.HTTPError) as exc:
            raise self._client._mapped(exc, reference_id=None) from None

    def find_by_tag(self, tag: str) -> list[VoiceInfo]:
        """Every model of this account carrying `tag`, over all pages."""
        return [info for info in self.list_own(tag=tag) if tag in info.tags]

    def list_own(self, *, tag: str | None = None, page_size: int = 50) -> list[VoiceInfo]:
        """This account's own models (optionally those with `tag`), over all pages."""
        found: list[VoiceInfo] = []
        params: dict[str, Any] = {"page_size": page_size, "self": True, **({"tag": tag} if tag else {})}
        page = 1
        while True:
            try:
                answer = self._raw("GET", "/model", params={**params, "page_number": page})
            except (APIError, FishAudioError, httpx.HTTPError) as exc:
                raise self._client._mapped(exc, reference_id=None) from None
            items = answer.get("items", [])
            found.extend(map(_info, items))
            if not items or page * page_size >= int(answer.get("total", 0)):
                return found
            page += 1

    def update(self, model_id: str, *, title: str | None = None, tags: list[str] | None = None) -> None:
        try:
            self._sdk.voices.update(model_id, **{k: v for k, v in (("title", title), ("tags", tags)) if v is not None})
        except (APIError, FishAudioError, httpx.HTTPError) as exc:
            raise self._client._mapped(exc, reference_id=model_id) from None

    def delete(self, model_id: str) -> bool:
        """True if deleted, False if it was already gone."""
        try:
            self._sdk.voices.delete(model_id)
            return True
        except NotFoundError:
            return False
        except (APIError, FishAudioError, httpx.HTTPError) as exc:
            raise self._client._mapped(exc, reference_id=None) from None

    def _raw(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        # The SDK's Voice model rejects some valid answers (e.g. train_mode "full"):
        # read the JSON ourselves, through the SDK's own authenticated transport.
        return self._sdk._client_wrapper.request(method, path, **kwargs).json()


def _info(data: dict[str, Any]) -> VoiceInfo:
    return VoiceInfo(
        id=str(data.get("_id") or data.get("id") or ""),
        state=str(data.get("state", "")),
        title=str(data.get("title", "")),
        tags=tuple(str(t) for t in data.get("tags") or ()),
    )
