from __future__ import annotations

from collections.abc import Iterator

import pytest

from clara_runner.flow.context import ServiceEndpoints
from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.audio import SpeechToTextNode, TextToSpeechNode, WhisperTranscriptionNode
from tests import samples
from tests.fakes.clara_backend import MP3_BYTES, FakeClaraBackend
from tests.fakes.transcription_server import FakeTranscriptionServer
from tests.flow.nodes.calling import backend_services, call_node
from tests.support import shared_workflow

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def openai() -> Iterator[FakeTranscriptionServer]:
    with FakeTranscriptionServer(api_key="sk-server") as fake:
        yield fake


def _configured(openai: FakeTranscriptionServer) -> ServiceEndpoints:
    return ServiceEndpoints(openai_base_url=openai.base_url, openai_api_key="sk-server")


# whisper-transcription


async def test_whisper_posts_multipart_to_the_configured_base_url_with_the_server_key(
    openai: FakeTranscriptionServer,
) -> None:
    audio = samples.wav()
    result = await call_node(
        WhisperTranscriptionNode(), inputs={"audioData": samples.b64(audio)}, services=_configured(openai)
    )
    assert result["text"] == openai.text
    assert result["metadata"]["model"] == "gpt-4o-transcribe"
    assert result["metadata"]["language"] == "auto"
    assert result["metadata"]["usage"]["total_tokens"] == 21
    (request,) = openai.requests
    assert request.headers["authorization"] == "Bearer sk-server"
    assert request.form == {
        "model": "gpt-4o-transcribe",
        "prompt": "You are a transcription assistant. Transcribe the audio accurately.",
    }
    upload = request.files["file"][0]
    assert (upload.filename, upload.content_type, upload.data) == ("audio.wav", "audio/wav", audio)


async def test_whisper_sends_language_temperature_and_prompt_when_set(openai: FakeTranscriptionServer) -> None:
    data = {"language": "de", "temperature": 0.2, "prompt": "Namen: Ada", "model": "whisper-1"}
    await call_node(
        WhisperTranscriptionNode(), data, inputs={"audioData": list(MP3_BYTES)}, services=_configured(openai)
    )
    (request,) = openai.requests
    assert request.form == {"model": "whisper-1", "language": "de", "temperature": "0.2", "prompt": "Namen: Ada"}
    assert request.files["file"][0].filename == "audio.mp3"


async def test_whisper_never_sends_the_server_key_to_a_url_the_workflow_chose(
    openai: FakeTranscriptionServer,
) -> None:
    services = ServiceEndpoints(openai_base_url=f"{UNREACHABLE}/v1", openai_api_key="sk-server")
    with pytest.raises(NodeError, match=r"answered 401 Unauthorized: Incorrect API key provided\."):
        await call_node(
            WhisperTranscriptionNode(),
            {"apiBaseUrl": openai.base_url},
            inputs={"audioData": samples.b64(samples.wav())},
            services=services,
        )
    assert "authorization" not in openai.requests[0].headers
    result = await call_node(
        WhisperTranscriptionNode(),
        {"apiBaseUrl": openai.base_url + "/", "apiKey": "sk-server"},
        inputs={"audioData": samples.b64(samples.wav())},
        services=services,
    )
    assert result["text"] == openai.text


async def test_whisper_takes_a_file_upload_object(openai: FakeTranscriptionServer) -> None:
    upload = {"name": "call.wav", "type": "audio/wav", "size": 10, "content": samples.b64(samples.wav())}
    result = await call_node(WhisperTranscriptionNode(), inputs={"audioData": upload}, services=_configured(openai))
    assert result["text"] == openai.text
    assert result["metadata"]["inputFormat"] == "object"


async def test_whisper_fails_clearly_without_audio_or_service() -> None:
    with pytest.raises(NodeError, match="no audio arrived on the audioData input"):
        await call_node(WhisperTranscriptionNode(), services=ServiceEndpoints())
    with pytest.raises(NodeError, match="audioData is not valid base64"):
        await call_node(WhisperTranscriptionNode(), inputs={"audioData": "#!"}, services=ServiceEndpoints())
    services = ServiceEndpoints(openai_base_url=f"{UNREACHABLE}/v1")
    with pytest.raises(NodeError, match=r"could not reach the transcription service at http://127\.0\.0\.1:9/v1"):
        await call_node(WhisperTranscriptionNode(), inputs={"audioData": samples.b64(b"RIFF")}, services=services)


# speech-to-text


def _speech_node_data() -> dict[str, object]:
    nodes = shared_workflow("audio-transcription.json")["flow"]["nodes"]
    data: dict[str, object] = next(node for node in nodes if node["type"] == "speech-to-text")["data"]
    return data


async def test_speech_to_text_with_the_workflow_configuration_calls_the_backend(backend: FakeClaraBackend) -> None:
    audio = samples.wav()
    result = await call_node(
        SpeechToTextNode(),
        _speech_node_data(),
        inputs={"audioBase64": samples.data_url(audio, "audio/wav")},
        services=backend_services(backend.url),
    )
    request = backend.last("/transcribe")
    assert request.form == {"language": "en", "beam_size": "5"}
    assert (request.files["file"][0].filename, request.files["file"][0].data) == ("audio.wav", audio)
    assert result["transcription"] == backend.transcript
    assert result["segments"] == [{"id": 1, "start": 0.0, "end": 2.4, "text": backend.transcript, "words": []}]
    assert result["rawResponse"]["status"] == "success"
    assert result["metadata"] == {"language": "en", "beamSize": 5, "endpoint": f"{backend.url}/transcribe"}


async def test_speech_to_text_language_override_prompt_and_mp3(backend: FakeClaraBackend) -> None:
    result = await call_node(
        SpeechToTextNode(),
        {"beamSize": 2, "initialPrompt": "Support call"},
        inputs={"audioBase64": samples.data_url(MP3_BYTES, "audio/mpeg"), "languageOverride": "fr"},
        services=backend_services(backend.url),
    )
    request = backend.last("/transcribe")
    assert request.form == {"language": "fr", "beam_size": "2", "initial_prompt": "Support call"}
    assert request.files["file"][0].filename == "audio.mp3"
    assert result["metadata"]["language"] == "fr"


async def test_speech_to_text_uses_the_node_base_url_when_it_names_another_endpoint(backend: FakeClaraBackend) -> None:
    result = await call_node(
        SpeechToTextNode(),
        {"baseUrl": f"{backend.url}/transcribe"},
        inputs={"audioBase64": samples.b64(samples.wav())},
        services=backend_services(UNREACHABLE),
    )
    assert result["transcription"] == backend.transcript


async def test_speech_to_text_reports_what_the_backend_refused(backend: FakeClaraBackend) -> None:
    webm = b"\x1aE\xdf\xa3" + b"\x00" * 32
    with pytest.raises(NodeError, match="answered 400 Bad Request: Unsupported audio format: webm"):
        await call_node(
            SpeechToTextNode(), inputs={"audioBase64": samples.b64(webm)}, services=backend_services(backend.url)
        )


# text-to-speech


async def test_text_to_speech_returns_the_audio_as_a_data_url(backend: FakeClaraBackend) -> None:
    result = await call_node(TextToSpeechNode(), inputs={"text": "Hello there"}, services=backend_services(backend.url))
    assert result["audioUrl"] == samples.data_url(samples.wav(), "audio/wav")
    assert (result["success"], result["status"]) == (True, "completed")
    assert result["metadata"]["audioBytes"] == len(samples.wav())
    assert backend.last("/synthesize").json() == {
        "text": "Hello there",
        "engine": "kokoro",
        "voice": "af_sarah",
        "language": "en",
        "speed": 1.0,
        "slow": False,
    }


async def test_text_to_speech_with_another_engine_and_a_slow_speed(backend: FakeClaraBackend) -> None:
    data = {"engine": "gtts", "speed": 0.8, "language": "fr"}
    result = await call_node(
        TextToSpeechNode(), data, inputs={"text": "Bonjour"}, services=backend_services(backend.url)
    )
    assert result["audioUrl"] == samples.data_url(MP3_BYTES, "audio/mpeg")
    sent = backend.last("/synthesize").json()
    assert (sent["engine"], sent["speed"], sent["slow"], sent["language"]) == ("gtts", 0.8, True, "fr")


async def test_text_to_speech_needs_text_and_a_reachable_backend() -> None:
    with pytest.raises(NodeError, match="needs text"):
        await call_node(TextToSpeechNode(), inputs={"text": "  "}, services=backend_services(UNREACHABLE))
    with pytest.raises(
        NodeError, match=r"could not reach the Clara Python backend at http://127\.0\.0\.1:9/synthesize"
    ):
        await call_node(TextToSpeechNode(), inputs={"text": "hi"}, services=backend_services(UNREACHABLE))


async def test_a_run_without_http_clients_fails_the_node_clearly() -> None:
    with pytest.raises(NodeError, match="started without an HTTP client, so the node cannot reach"):
        await call_node(TextToSpeechNode(), inputs={"text": "hi"})


def test_text_to_speech_reports_an_impossible_speed_at_deploy() -> None:
    node = Node(id="n", type="text-to-speech", name="", data={"speed": 0})
    assert TextToSpeechNode().configuration_problems(node) == ["speed must be a number above 0 and at most 4, not 0"]
