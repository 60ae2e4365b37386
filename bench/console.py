"""The web console on the 1,000,000-job database, in a real browser: how long each history page
takes from navigation to its table on screen, and what each API call it made took.

``python -m bench.console`` (also a step of ``python -m bench``, unless ``--no-console``).
`opsjobs serve` runs on the cached 1M database pinned to one core (as the rest of the
benchmark); Debian's headless Chromium, driven by Selenium, runs on the other. Each user
signs in through the console's form once; then, for each page, the benchmark clears the
page's content, sets ``location.hash`` (the console's own navigation: the directory of
objects is already loaded, as it is for an operator moving between pages) and waits, frame
by frame, for the page's heading and its job table (or "No jobs."). The time is the page's
own ``performance.now()`` from the hash change to that frame; the API calls are the
Resource Timing entries of ``/node/api`` made in that time (their duration is the browser's:
request sent to the last byte of the answer). Every page is measured ``--rounds`` times,
in turn, and the median is reported. Figures go to ``bench/results/console.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from . import seed, servers

ROOT = Path(__file__).resolve().parent
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WAIT_S = 120
LOGINS = ("bench-admin", "noc-east", "watcher")


def available() -> bool:
    """Debian's chromium and chromedriver (`make browser`)."""
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


# Runs in the page: clear <main>, navigate, wait for the rendered table; answers the time
# and the API calls made meanwhile.
_NAVIGATE = """
const [hash, done] = arguments;
const main = document.getElementById("main");
main.replaceChildren();
performance.clearResourceTimings();
const started = performance.now();
location.hash = hash;
const ready = () => {
  const table = main.querySelector("table.jobs, table#schedules");
  const empty = [...main.querySelectorAll("p.muted")].some((p) => p.textContent === "No jobs.");
  return main.querySelector("h1") && (table || empty);
};
const failed = () => !document.getElementById("alert").hidden;
const tick = () => {
  if (ready() || failed()) {
    const ms = performance.now() - started;
    const calls = performance.getEntriesByType("resource")
      .filter((e) => e.name.includes("/node/api/"))
      .map((e) => ({url: e.name.replace(location.origin, ""), method: e.initiatorType,
                    ms: Math.round(e.duration * 10) / 10, bytes: e.encodedBodySize}));
    done({ms: Math.round(ms * 10) / 10, calls, rows: main.querySelectorAll("tr[data-job]").length,
          alert: failed() ? document.getElementById("alert").textContent : null});
  } else {
    requestAnimationFrame(tick);
  }
};
requestAnimationFrame(tick);
"""


def _deep(path: Path, depth: int) -> int:
    """The time just before the job ``depth`` deep in the whole list, newest first: the
    "Older" button's cursor there (at=T-1, none at T shown yet) is a page of that depth."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        (at,) = conn.execute(
            "SELECT timestamp FROM jobs ORDER BY timestamp DESC LIMIT 1 OFFSET ?", (depth,)
        ).fetchone()
    return at - 1


def _pages(busy: str, path: Path) -> dict[str, str]:
    """Name -> console URL fragment. The busy host holds 100,000 jobs."""
    day = 86_400_000
    now = int(time.time() * 1000)
    history = f"/history/object/{busy}"
    window = urlencode({"from": now - 30 * day, "to": now - 20 * day})
    return {
        "home": "/",
        "jobs": "/jobs",
        "jobs, status=failed": "/jobs?status=failed",
        "jobs, skip=1000": "/jobs?skip=1000",
        "jobs, skip=10000": "/jobs?skip=10000",
        "jobs, Older at 1000": f"/jobs?skip=1000&at={_deep(path, 1000)}",
        "jobs, Older at 10000": f"/jobs?skip=10000&at={_deep(path, 10000)}",
        "history": history,
        "history, status=failed": f"{history}?status=failed",
        "history, 10 days": f"{history}?{window}",
        "history, skip=50000": f"{history}?skip=50000",
        "history, skip=99975": f"{history}?skip=99975",
    }


def _browser(profile: Path, cpu: int | None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,800",
    ):
        options.add_argument(argument)
    service = Service(str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    if cpu is not None:  # the browser and its renderers on the load's core
        os.system(f"taskset -a -c -p {cpu} {service.process.pid} >/dev/null 2>&1")
    driver.set_script_timeout(WAIT_S)
    driver.set_page_load_timeout(WAIT_S)
    return driver


def _sign_in(driver, base: str, login: str, password: str) -> float:
    """Through the form; answers seconds until the tree of objects is shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/console")
    wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.05)
    field = wait.until(ec.element_to_be_clickable((By.ID, "login")))
    field.send_keys(login)
    driver.find_element(By.ID, "password").send_keys(password)
    started = time.perf_counter()
    driver.find_element(By.ID, "sign-in").click()
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#tree a")))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#latest table, #latest p"))
    wait.until(lambda d: "Loading" not in d.find_element(By.ID, "latest").text)
    return time.perf_counter() - started


def _sees(driver, path: str) -> bool:
    status = driver.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then((r) => done(r.status));", path
    )
    return status == 200


def _measure_user(driver, pages: dict[str, str], rounds: int, busy: str) -> dict:
    if not _sees(driver, f"/node/api/objects/{busy}"):  # its history is out of this user's sight
        pages = {name: page for name, page in pages.items() if not name.startswith("history")}
    runs: dict[str, list[dict]] = {name: [] for name in pages}
    for _ in range(rounds):
        for name, fragment in pages.items():
            driver.execute_script("location.hash = '#/none'")  # a hash change every time
            runs[name].append(driver.execute_async_script(_NAVIGATE, "#" + fragment))
    out = {}
    for name, done in runs.items():
        failures = [r["alert"] for r in done if r["alert"]]
        if failures:
            raise RuntimeError(f"{name}: the console showed {failures[0]!r}")
        slowest_call = [max((c["ms"] for c in r["calls"]), default=0.0) for r in done]
        out[name] = {
            "page_ms": statistics.median(r["ms"] for r in done),
            "page_ms_runs": [r["ms"] for r in done],
            "slowest_call_ms": statistics.median(slowest_call),
            "calls": done[len(done) // 2]["calls"],
            "rows": done[-1]["rows"],
        }
    return out


def measure(results: Path, rounds: int, logins: list[str], log=print) -> dict:
    big = seed.ensure(results, 1_000_000, log=log)
    available = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = (available[0], available[1]) if len(available) > 1 else (None, None)
    work = results / "work" / "console"
    work.mkdir(parents=True, exist_ok=True)
    port = servers.free_port()
    argv = servers.serve_command(port, big.url)
    server = servers.start("console-1M", argv, port, big.url, server_cpu, work / "logs")
    figures: dict = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.console " + " ".join(sys.argv[1:]),
        "load_average_at_start": list(os.getloadavg()),
        "rounds": rounds,
        "users": {},
    }
    try:
        pages = _pages(big.busy_object, big.path)
        for login in logins:
            driver = _browser(work / f"profile-{login}", load_cpu)
            try:
                signed_in = _sign_in(driver, server.url, login, big.passwords[login])
                log(f"{login}: signed in, tree and latest jobs in {signed_in:.2f} s")
                measured = _measure_user(driver, pages, rounds, big.busy_object)
            finally:
                driver.quit()
            figures["users"][login] = {"sign_in_to_home_s": round(signed_in, 2), "pages": measured}
            for name, page in measured.items():
                log(
                    f"{login:12} {name:24} page {page['page_ms']:8.1f} ms"
                    f"  slowest call {page['slowest_call_ms']:8.1f} ms  rows {page['rows']}"
                )
    finally:
        server.stop()
    figures["load_average_at_end"] = list(os.getloadavg())
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="times each page is measured")
    parser.add_argument("--logins", default=",".join(LOGINS), help="users, comma-separated")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="output folder")
    args = parser.parse_args(argv)
    # Stopped from outside: still stop the server and the browser (the finally clauses).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not available():
        print("chromium and chromium-driver are not installed: run `make browser`")
        return 1
    figures = measure(args.results, args.rounds, args.logins.split(","))
    out = args.results / "console.json"
    out.write_text(json.dumps(figures, indent=1))
    print(f"figures in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
