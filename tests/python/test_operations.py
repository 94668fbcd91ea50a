"""The operator surface of a real router process: Prometheus metrics parsed by the reference parser, JSON
logs that never carry a key or a prompt, SIGHUP reload, and `airlock health` for probes."""

import json
import signal
import subprocess
import time
import urllib.request

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BINARY


def scrape(stack):
    with urllib.request.urlopen(stack.operator_url + "/metrics", timeout=5) as response:
        return {family.name: family for family in text_string_to_metric_families(response.read().decode())}


def client(stack):
    return openai.OpenAI(base_url=stack.router_url + "/v1", api_key="agent-placeholder", max_retries=0, timeout=20)


def test_metrics_parse_and_count_without_agent_controlled_labels(stack):
    marker = "MARKER-model-do-not-label"
    client(stack).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.PermissionDeniedError):
        client(stack).chat.completions.create(model=marker, messages=[{"role": "user", "content": "x"}])

    families = scrape(stack)
    requests = families["airlock_requests"]
    samples = {(s.labels["route"], s.labels["status"], s.labels["sandbox"]): s.value for s in requests.samples if s.name.endswith("_total")}
    assert samples[("chat.completions", "200", "sdk-agent")] >= 1
    assert samples[("chat.completions", "403", "sdk-agent")] >= 1
    assert families["airlock_admission_refusals"].samples
    assert "airlock_upstream_response_seconds" in families
    assert "airlock_receipt_append_seconds" in families
    assert any(s.labels.get("tenant") == "sdk-team" for s in families["airlock_budget_remaining_tokens"].samples)
    for family in families.values():
        for sample in family.samples:
            assert all(marker not in value for value in sample.labels.values()), sample


def test_metrics_are_not_served_to_agents(stack):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(stack.router_url + "/metrics", timeout=5)
    assert raised.value.code == 404


def test_logs_are_json_lines_without_key_or_prompt(stack):
    marker = "PROMPT-MARKER-9f3e"
    client(stack).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": marker}])
    with pytest.raises(openai.PermissionDeniedError):
        client(stack).chat.completions.create(model="nope", messages=[{"role": "user", "content": marker}])
    stack.router.send_signal(signal.SIGTERM)
    stack.router.wait(timeout=15)
    text = (stack.directory / "router.log").read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 3
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "label", "message"} <= record.keys()
    assert any(json.loads(line).get("request.id") for line in lines)
    assert stack.key not in text
    assert marker not in text


def test_sighup_reloads_atomically_and_keeps_the_old_config_on_error(stack):
    with pytest.raises(openai.PermissionDeniedError):
        client(stack).embeddings.create(model="embed-small", input="x")
    original = stack.config.read_text()
    stack.config.write_text(original.replace('models: ["gpt-4o-mini", "claude-sonnet"]', 'models: ["gpt-4o-mini", "claude-sonnet", "embed-small"]'))
    stack.router.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            client(stack).embeddings.create(model="embed-small", input="x")
            break
        except openai.PermissionDeniedError:
            assert time.monotonic() < deadline, "reload did not take effect"
            time.sleep(0.1)
    stack.config.write_text(original + "\nunknown_key: 1\n")
    stack.router.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while scrape(stack)["airlock_config_reloads"].samples and not any(
        s.labels.get("result") == "error" and s.value >= 1 for s in scrape(stack)["airlock_config_reloads"].samples
    ):
        assert time.monotonic() < deadline, "the bad reload was not counted"
        time.sleep(0.1)
    client(stack).embeddings.create(model="embed-small", input="x")
    assert stack.router.poll() is None
    log = (stack.directory / "router.log").read_text()
    assert "configuration reload refused" in log and "unknown_key" in log


def test_health_command(stack):
    healthy = subprocess.run([str(BINARY), "health", "--config", str(stack.config)], capture_output=True, text=True, timeout=20)
    assert healthy.returncode == 0, healthy.stdout
    assert healthy.stdout.startswith("healthy")
    stack.router.send_signal(signal.SIGTERM)
    stack.router.wait(timeout=15)
    down = subprocess.run([str(BINARY), "health", "--config", str(stack.config)], capture_output=True, text=True, timeout=20)
    assert down.returncode == 1
    assert down.stdout.startswith("unhealthy") and len(down.stdout.strip().splitlines()) == 1


def test_sighup_picks_up_a_provider_key_rotated_in_place(stack):
    client(stack).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    key_file = stack.directory / "provider.key"
    key_file.write_text("sk-rotated-key")
    stack.router.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        time.sleep(0.2)
        try:
            client(stack).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        except openai.AuthenticationError:
            break  # the mock still expects the old key: the router now sends the rotated one
        assert time.monotonic() < deadline, "the rotated key was not picked up"
    assert stack.mock_requests()[-1]["headers"]["authorization"] == "Bearer sk-rotated-key"
