"""Speech nodes: `whisper-transcription` (OpenAI-compatible `/audio/transcriptions`), and the Clara
Python backend's `speech-to-text` (`/transcribe`) and `text-to-speech` (`/synthesize`).

Audio arrives as Studio's nodes pass it: base64, a data URL, an array of byte values, or a
`file-upload` object. It is sent as a multipart file named after its real type (sniffed from the
bytes), because the backend refuses file names whose extension it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.payloads import MB, Payload, data_url, decode, extension_for, normalise_type, sniff
from clara_runner.flow.nodes.remote import BACKEND, SLOW_CALL, backend_url, json_body, send
from clara_runner.flow.nodes.values import as_text, to_number

AUDIO_MAX_BYTES = 100 * MB
STUDIO_TRANSCRIBE_URL = "http://localhost:5001/transcribe"
"""Studio's default `baseUrl` for speech-to-text: it means "the Clara backend", wherever this server has it."""
WHISPER_PROMPT = "You are a transcription assistant. Transcribe the audio accurately."


def _audio(call: NodeCall, port: str) -> Payload:
    value = call.inputs.get(port)
    if value is None or value == "" or value == []:
        raise NodeError(f"no audio arrived on the {port} input; connect a node that provides the audio file")
    return decode(value, port, AUDIO_MAX_BYTES)


def _file_part(payload: Payload, fallback_extension: str) -> tuple[str, bytes, str]:
    media_type = payload.media_type()
    return f"audio.{extension_for(media_type, fallback_extension)}", payload.data, media_type


def _input_format(value: Any) -> str:
    """How the audio arrived, in Studio's words: `binary` (byte array), `object` or `string`."""
    if isinstance(value, list):
        return "binary"
    return "object" if isinstance(value, Mapping) else "string"


class WhisperTranscriptionNode(NodeType):
    """Transcribes audio with an OpenAI-compatible `POST {base}/audio/transcriptions`.

    The base URL is the node's `apiBaseUrl`, else the server's `OPENAI_API_BASE_URL`. The server's
    `OPENAI_API_KEY` is sent only to that configured URL; a workflow that names another URL sends its
    own `apiKey` or none.
    """

    type_name = "whisper-transcription"
    title = "Whisper Transcription"
    inputs = (PortSpec("audioData", "Audio Data", "any", aliases=("content", "file", "audio")),)
    outputs = (PortSpec("text", "Transcription", "string"), PortSpec("metadata", "Metadata", "object"))
    defaults = {
        "apiKey": "",
        "apiBaseUrl": "",
        "model": "gpt-4o-transcribe",
        "language": "auto",
        "temperature": 0,
        "prompt": WHISPER_PROMPT,
    }

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        payload = _audio(call, "audioData")
        services = call.context.services
        configured = services.openai_base_url.rstrip("/")
        base = call.text_prop("apiBaseUrl").strip().rstrip("/") or configured
        key = call.text_prop("apiKey").strip() or (services.openai_api_key if base == configured else "")
        model = call.text_prop("model")
        language = call.text_prop("language")
        temperature = to_number(call.prop("temperature"))
        prompt = as_text(call.prop("prompt"))
        form = {"model": model}
        if language != "auto":
            form["language"] = language
        if temperature > 0:
            form["temperature"] = str(temperature)
        if prompt.strip():
            form["prompt"] = prompt
        response = await send(
            call,
            "the transcription service",
            "POST",
            f"{base}/audio/transcriptions",
            data=form,
            files={"file": _file_part(payload, "mp3")},
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=SLOW_CALL,
        )
        result = json_body(response, "the transcription service")
        if not isinstance(result, Mapping):
            raise NodeError("the transcription service answered JSON that is not an object")
        metadata = {
            "language": result.get("language") or language,
            "duration": result.get("duration"),
            "model": model,
            "temperature": temperature,
            "prompt": prompt,
            "inputFormat": _input_format(call.inputs.get("audioData")),
        }
        if "usage" in result:
            metadata["usage"] = result["usage"]
        return {"text": as_text(result.get("text")), "metadata": metadata}


class SpeechToTextNode(NodeType):
    """Transcribes audio with the Clara backend's `POST /transcribe` (multipart `file`, `language`,
    `beam_size`, `initial_prompt`), or with any endpoint the node's `baseUrl` names."""

    type_name = "speech-to-text"
    title = "Speech to Text"
    inputs = (
        PortSpec("audioBase64", "Audio (Base64)", "string", aliases=("audio", "content", "file")),
        PortSpec("languageOverride", "Language Override", "string"),
    )
    outputs = (
        PortSpec("transcription", "Transcription", "string"),
        PortSpec("segments", "Segments", "array"),
        PortSpec("rawResponse", "Raw Response", "object", aliases=("raw",)),
        PortSpec("metadata", "Metadata", "object"),
    )
    defaults = {"baseUrl": STUDIO_TRANSCRIBE_URL, "language": "en", "beamSize": 5, "initialPrompt": ""}

    def endpoint(self, call: NodeCall) -> str:
        chosen = call.text_prop("baseUrl").strip()
        return backend_url(call, "/transcribe") if chosen in ("", STUDIO_TRANSCRIBE_URL) else chosen

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        payload = _audio(call, "audioBase64")
        url = self.endpoint(call)
        language = as_text(call.inputs.get("languageOverride")).strip() or call.text_prop("language")
        beam_size = int(to_number(call.prop("beamSize")))
        initial_prompt = call.text_prop("initialPrompt")
        form: dict[str, str] = {}
        if language:
            form["language"] = language
        if beam_size:
            form["beam_size"] = str(beam_size)
        if initial_prompt:
            form["initial_prompt"] = initial_prompt
        response = await send(
            call, BACKEND, "POST", url, data=form, files={"file": _file_part(payload, "wav")}, timeout=SLOW_CALL
        )
        body = json_body(response, BACKEND)
        transcription = body.get("transcription") if isinstance(body, Mapping) else None
        result = transcription if isinstance(transcription, Mapping) else {}
        text = result.get("text") or (body.get("text") if isinstance(body, Mapping) else "") or ""
        return {
            "transcription": as_text(text),
            "segments": result.get("segments") or [],
            "rawResponse": body,
            "metadata": {"language": result.get("language") or language, "beamSize": beam_size, "endpoint": url},
        }


class TextToSpeechNode(NodeType):
    """Speaks text with the Clara backend's `POST /synthesize`; the audio comes back as a data URL."""

    type_name = "text-to-speech"
    title = "Text to Speech"
    inputs = (PortSpec("text", "Text", "string"),)
    outputs = (
        PortSpec("audioUrl", "Audio URL", "string"),
        PortSpec("success", "Success", "boolean"),
        PortSpec("status", "Status", "string"),
        PortSpec("metadata", "Metadata", "object"),
    )
    defaults = {
        "engine": "kokoro",
        "voice": "af_sarah",
        "language": "en",
        "speed": 1.0,
        "volume": 1.0,
        "autoPlay": True,
        "slow": False,
    }

    def configuration_problems(self, node: Node) -> list[str]:
        speed = node.data.get("speed")
        if speed is not None and speed != "" and not 0 < to_number(speed) <= 4:
            return [f"speed must be a number above 0 and at most 4, not {speed!r}"]
        return []

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        text = as_text(call.inputs.get("text"))
        if not text.strip():
            raise NodeError("text-to-speech needs text: nothing arrived on its text input")
        speed = to_number(call.prop("speed")) or 1.0
        request = {
            "text": text,
            "engine": call.text_prop("engine"),
            "voice": call.text_prop("voice"),
            "language": call.text_prop("language"),
            "speed": speed,
            "slow": call.prop("slow") is True or speed < 1.0,
        }
        response = await send(call, BACKEND, "POST", backend_url(call, "/synthesize"), json=request, timeout=SLOW_CALL)
        audio = response.content
        if not audio:
            raise NodeError(f"{BACKEND} returned no audio for the text")
        declared = normalise_type(response.headers.get("content-type", ""))
        media_type = declared if declared.startswith("audio/") else sniff(audio) or "audio/wav"
        metadata = {
            "text": text[:100] + ("..." if len(text) > 100 else ""),
            "engine": request["engine"],
            "voice": request["voice"],
            "language": request["language"],
            "speed": speed,
            "volume": to_number(call.prop("volume")),
            "autoPlay": call.prop("autoPlay"),
            "textLength": len(text),
            "audioType": media_type,
            "audioBytes": len(audio),
        }
        return {"audioUrl": data_url(audio, media_type), "success": True, "status": "completed", "metadata": metadata}
