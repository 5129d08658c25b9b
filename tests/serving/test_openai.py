"""The OpenAI routes (``/v1/embeddings``, ``/v1/chat/completions``, ``/v1/models``) through the unmodified
``openai`` client against one real server per module: the bundled embedding model and a registered
pyfunc chat model, behind a token."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from openai_models import ShoutChat

import loopwright as lw
from loopwright.llm.embeddings import embed
from loopwright.serving import ServerHandle, run_in_thread
from loopwright.serving.deployment import Deployment
from loopwright.serving.prediction_log import list_predictions

TOKEN = "s3cret-token"
TEXTS = ["The striker scored twice in the final.", "Whisk the eggs with sugar.", "Rain is expected."]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[ServerHandle]:
    home = tmp_path_factory.mktemp("openai") / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "loopwright.db")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOOPWRIGHT_HOME", str(home))
        env.delenv("LOOPWRIGHT_STORE_URI", raising=False)
        env.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
        lw.reset_clients()
        with lw.start_run(name="chat"):
            info = lw.log_model(ShoutChat(), "model", metadata={"task": "chat"})
        lw.register_model(info.uri, "shout")
        deployment = Deployment.from_dict(
            {"endpoints": {"all-MiniLM-L6-v2": "bundled:all-MiniLM-L6-v2", "shout": "models:/shout/1"}}
        )
        handle = run_in_thread(deployment, token=TOKEN)
        yield handle
        handle.stop()
        lw.reset_clients()


def client(server: ServerHandle, token: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)


def test_embeddings_match_the_in_process_model(server: ServerHandle) -> None:
    api = client(server)
    answer = api.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)  # the client asks for base64
    vectors = np.array([d.embedding for d in answer.data])
    assert [d.index for d in answer.data] == [0, 1, 2] and answer.model == "all-MiniLM-L6-v2"
    np.testing.assert_allclose(vectors, embed(TEXTS), atol=1e-5)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > len(" ".join(TEXTS).split())
    floats = api.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, embed(TEXTS[0])[0], atol=1e-5)


def test_concurrent_embeddings_are_batched_and_logged(server: ServerHandle) -> None:
    api = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)

    async def many() -> list[list[float]]:
        answers = await asyncio.gather(
            *(
                api.embeddings.create(model="all-MiniLM-L6-v2", input=f"sentence number {i}")
                for i in range(24)
            )
        )
        return [a.data[0].embedding for a in answers]

    vectors = asyncio.run(many())
    np.testing.assert_allclose(vectors, embed([f"sentence number {i}" for i in range(24)]), atol=1e-5)
    metrics = httpx.get(f"{server.url}/metrics").text
    batches = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("loopwright_batches_total{") and 'endpoint="all-MiniLM-L6-v2"' in line
    )
    assert 'protocol="openai"' in metrics
    assert 0 < batches < 24  # fewer model calls than requests: concurrent ones shared a batch
    assert server.app.prediction_log is not None and server.app.prediction_log.flush()
    logged = list_predictions("all-MiniLM-L6-v2")
    assert "sentence number 7" in set(logged["input"])
    assert len(logged.loc[logged["input"] == "sentence number 7", "prediction"].iloc[0]) == 384


def test_chat_completions_through_a_pyfunc(server: ServerHandle) -> None:
    answer = client(server).chat.completions.create(
        model="shout", messages=[{"role": "system", "content": "be loud"}, {"role": "user", "content": "hi"}]
    )
    assert answer.object == "chat.completion" and answer.model == "shout"
    assert answer.choices[0].message.role == "assistant" and answer.choices[0].message.content == "HI"
    assert answer.choices[0].finish_reason == "stop" and answer.usage is not None
    assert answer.usage.total_tokens == 4


def test_models_lists_what_is_served(server: ServerHandle) -> None:
    assert sorted(m.id for m in client(server).models.list()) == ["all-MiniLM-L6-v2", "shout"]


def test_errors_are_openai_shaped(server: ServerHandle) -> None:
    with pytest.raises(openai.PermissionDeniedError, match="the token is not accepted"):
        client(server, token="wrong").embeddings.create(model="all-MiniLM-L6-v2", input="x")
    bare = httpx.post(f"{server.url}/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "x"})
    assert bare.status_code == 401 and bare.json()["error"]["type"] == "authentication_error"
    api = client(server)
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-4'"):
        api.embeddings.create(model="gpt-4", input="x")
    with pytest.raises(openai.BadRequestError, match="is a chat model, not a embeddings model"):
        api.embeddings.create(model="shout", input="x")
    with pytest.raises(openai.BadRequestError, match="'input' must be a string"):
        api.embeddings.create(model="all-MiniLM-L6-v2", input=[])
    with pytest.raises(openai.BadRequestError, match="'messages'"):
        api.chat.completions.create(model="shout", messages=[])
    with pytest.raises(openai.InternalServerError):
        api.chat.completions.create(model="shout", messages=[{"role": "user", "content": "fail"}])
    malformed = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    error = malformed.json()["error"]
    assert malformed.status_code == 400 and set(error) == {"message", "type", "param", "code"}
    records = httpx.post(  # the endpoint's other routes refuse what is not text (never embed column names)
        f"{server.url}/endpoints/all-MiniLM-L6-v2/predict",
        json={"instances": [{"a": 1, "b": "x"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert records.status_code == 422 and "embeds texts" in records.json()["message"]
