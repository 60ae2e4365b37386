"""`opsjobs serve --workers 2` for real: /metrics sums the request series of both workers,
whichever answers the scrape; logs in the JSON format carry the request's ID."""

from __future__ import annotations

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from helpers import cli_env, running_server


def pings_counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "opsjobs_http_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/node/api/ping",
                "status": "200",
            }:
                return sample.value
    return 0.0


def test_two_workers_report_one_sum_and_json_logs_carry_the_request_id(database_url):
    env = cli_env(OPSJOBS_LOG_FORMAT="json", OPSJOBS_LOG_LEVEL="debug")
    with running_server(database_url, "--workers", "2", env=env) as (base, process):
        before = pings_counted(base)
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(40):  # new connections: granian spreads them over the workers
                assert httpx.get(f"{base}/node/api/ping", timeout=10).status_code == 200
            # A scrape logs one line at debug level: it carries the request's ID.
            answered = client.get("/metrics", headers={"X-Request-ID": "probe-7"})
            assert answered.headers["x-request-id"] == "probe-7"
        seen = {pings_counted(base) - before for _ in range(8)}
        # running_server's own start-up pings may land after `before`: never fewer than ours.
        assert len(seen) == 1 and min(seen) >= 40, seen
    lines = process.log_path.read_text().splitlines()
    documents = [orjson.loads(line) for line in lines if line.startswith("{")]
    assert documents and all("event" in d and "level" in d for d in documents)
    assert any(d.get("request_id") == "probe-7" for d in documents), lines[-20:]


def test_serve_runs_with_the_settings_of_its_config_file(database_url, tmp_path):
    # Closed to this machine by the file: the worker that answers read the file too.
    config = tmp_path / "opsjobs.toml"
    config.write_text('metrics_open_to = ["192.0.2.0/24"]\nlog_format = "json"\n')
    with running_server(database_url, "--config", str(config)) as (base, process):
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    first = process.log_path.read_text().splitlines()[0]
    assert orjson.loads(first)["event"], first
