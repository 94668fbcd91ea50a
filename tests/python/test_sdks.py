"""The official OpenAI and Anthropic Python SDKs, unmodified, pointed at the router: a call, a stream, and an
error each SDK must raise as its own exception type. The SDKs hold a fake key; the router injects the real one."""

import time

import anthropic
import openai
import pytest


def openai_client(stack):
    return openai.OpenAI(base_url=stack.router_url + "/v1", api_key="agent-has-no-key", max_retries=0, timeout=20)


def anthropic_client(stack):
    return anthropic.Anthropic(base_url=stack.router_url, api_key="agent-has-no-key", max_retries=0, timeout=20)


def test_openai_call(stack):
    completion = openai_client(stack).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "say hello"}]
    )
    assert completion.choices[0].message.content == "Hello from the Airlock mock upstream."
    assert completion.usage.prompt_tokens == 2
    seen = stack.mock_requests()[-1]
    assert seen["headers"]["authorization"] == f"Bearer {stack.key}"
    assert "agent-has-no-key" not in str(seen["headers"])


def test_openai_stream_counts_usage(stack):
    # Everyday agent code: every chunk has a choice. The router asks the upstream for usage to account, but the
    # chunk that carries it (with no choices) is the agent's only if the agent asked for it.
    stream = openai_client(stack).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream please"}], stream=True
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "Hello from the Airlock mock upstream."
    assert all(chunk.usage is None for chunk in chunks)
    assert '"include_usage":true' in stack.mock_requests()[-1]["body"]


def test_openai_stream_with_usage_asked_by_the_agent(stack):
    stream = openai_client(stack).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks[:-1])
    assert text == "Hello from the Airlock mock upstream."


def test_openai_responses_and_models(stack):
    client = openai_client(stack)
    response = client.responses.create(model="gpt-4o-mini", input="one two")
    assert response.output_text == "Hello from the Airlock mock upstream."
    # Each SDK lists only the models served through its own API: the OpenAI SDK cannot call claude-sonnet here.
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("claude-sonnet")


def test_anthropic_models(stack):
    client = anthropic_client(stack)
    assert [m.id for m in client.models.list()] == ["claude-sonnet"]
    assert client.models.retrieve("claude-sonnet").id == "claude-sonnet"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("gpt-4o-mini")


def test_openai_forbidden_model_is_permission_denied(stack):
    with pytest.raises(openai.PermissionDeniedError) as raised:
        openai_client(stack).chat.completions.create(model="embed-small", messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == 403
    assert raised.value.code == "model_not_allowed"


def test_openai_upstream_rate_limit_is_rate_limit_error(stack):
    stack.add_fault({"status": 429, "retry_after": "0", "count": 5})
    with pytest.raises(openai.RateLimitError):
        openai_client(stack).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_anthropic_call(stack):
    message = anthropic_client(stack).messages.create(
        model="claude-sonnet", max_tokens=64, messages=[{"role": "user", "content": "say hello"}]
    )
    assert message.content[0].text == "Hello from the Airlock mock upstream."
    assert message.usage.output_tokens == 6
    seen = stack.mock_requests()[-1]
    assert seen["headers"]["x-api-key"] == stack.key
    assert "authorization" not in seen["headers"]


def test_anthropic_stream(stack):
    with anthropic_client(stack).messages.stream(
        model="claude-sonnet", max_tokens=64, messages=[{"role": "user", "content": "stream"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the Airlock mock upstream."
    assert final.usage.output_tokens == 6


def test_anthropic_bad_request_is_bad_request_error(stack):
    with pytest.raises(anthropic.BadRequestError) as raised:
        anthropic_client(stack).messages.create(model="claude-sonnet", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == 400


def test_anthropic_forbidden_model_is_permission_denied(stack):
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic_client(stack).messages.create(model="embed-small", max_tokens=5, messages=[{"role": "user", "content": "x"}])


def test_sdk_timeout_cancels_the_upstream_call_and_is_recorded_as_the_agents_abort(stack):
    # Everyday agent code: a client timeout. The model is silent for 20 s; the SDK gives up after 1 s and closes.
    stack.add_fault({"delay_before_headers_ms": 20000, "count": 1})
    impatient = openai.OpenAI(base_url=stack.router_url + "/v1", api_key="agent-has-no-key", max_retries=0, timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "think hard"}])
    # The router noticed at once: the upstream exchange was cancelled long before the model would have answered.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stack.mock_requests()[-1]["cancelled"]:
        time.sleep(0.1)
    assert stack.mock_requests()[-1]["cancelled"] is True
    # And the next call on a fresh client works (the sandbox's slot was given back).
    completion = openai_client(stack).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "Hello from the Airlock mock upstream."


def test_raw_response_idiom_sees_the_providers_framing(stack):
    raw = openai_client(stack).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "say hello"}]
    )
    assert raw.status_code == 200
    assert raw.headers.get("x-request-id")
    # A complete answer keeps the upstream's length; it is not re-framed as chunks.
    assert raw.headers.get("content-length") == str(len(raw.http_response.content))
    assert "transfer-encoding" not in raw.headers
    assert raw.parse().choices[0].message.content == "Hello from the Airlock mock upstream."
