"""The web console in a real headless Chromium against a real `opsjobs serve` (with its
embedded runner): signing in, a run whose output shows while it runs, a cancel, the history,
and what a user without rights neither sees nor can do, whatever URL it types.

The browser is Debian's chromium with its chromedriver (`make browser` installs both); the
tests never download one. Every wait is explicit and has a deadline. Each page the tests
visit is saved as a screenshot at laptop and phone width under var/screenshots/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

import log_secrets
from helpers import add_job, run_cli, running_server
from helpers.proxy import Proxy
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.passwords import Passwords
from opsjobs.store import entities, operations, users
from opsjobs.store.core import Store

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP, PHONE = (1280, 800), (390, 844)
WAIT = 45  # seconds: generous, for a busy 2-core machine
OPERATOR, OPERATOR_PASSWORD = "console-operator", "console-operator-password"
LIMITED, LIMITED_PASSWORD = "console-limited", "console-limited-password"

pytestmark = pytest.mark.timeout(300)


# -- the server and its data -----------------------------------------------------------------


async def _seed(url: str, gate: Path) -> dict:
    """Two branches of objects, operations, two users: the operator may see and run on
    everything; the limited user may run on `site` but not see `secret`."""
    store = Store(url)
    await store.open()
    try:
        hasher = Passwords(time_cost=1, memory_kib=8)
        site = await entities.create_object(store, name="site", parent_ids=["1"])
        web = await entities.create_object(store, name="web-1", parent_ids=[site["id"]])
        secret = await entities.create_object(store, name="secret-db", parent_ids=["1"])
        # Under two parents: shown under each the user may see.
        shared = await entities.create_object(
            store, name="shared-disk", parent_ids=[site["id"], secret["id"]]
        )
        made = {}
        for owner, document in (
            (web["id"], _GATED),
            (web["id"], _LONG),
            (web["id"], _TWO_STEPS),
            (web["id"], _SAY_HI),
            (web["id"], _BATCH_GATED),
            (secret["id"], _LONG),
        ):
            document = _with_gate(document, gate)
            made[owner, document["name"]] = (
                await operations.create_operation(store, "object", owner, document)
            )["id"]
        for login, password, include, permissions in (
            (OPERATOR, OPERATOR_PASSWORD, ["1"], ["execute-operations", "run-bulks"]),
            (LIMITED, LIMITED_PASSWORD, [site["id"]], ["execute-operations"]),
        ):
            log_secrets.register_password(login, password)
            await users.create_user(
                store,
                login=login,
                password_hash=hasher.hash(password),
                permissions=permissions,
                include=include,
            )
        # A run a state trigger started: nobody asked for it (docs/api.md §5).
        # A run a state trigger started (nobody asked for it, docs/api.md §5), whose output was
        # cut to the cap, with a custom result holding markup.
        hidden_job = await add_job(
            store,
            secret["id"],
            process_meta={"triggerStates": [3, 4]},
            truncated=True,
            results=orjson.dumps(
                [{"payload": {"note": "<img src=x>"}, "by": None, "timestamp": 1_594_970_400_000}]
            ).decode(),
        )
        # Older jobs of two objects and a link, many at the very same time: the list of every
        # job pages through them from a cursor.
        link = await entities.create_link(
            store, source=web["id"], target=shared["id"], name="uplink"
        )
        for index in range(70):
            owner = (web["id"], shared["id"], link["id"])[index % 3]
            kind = EntityKind.LINK if index % 3 == 2 else EntityKind.OBJECT
            await add_job(store, owner, kind, timestamp=1_500_000_000_000 + index // 9 * 1000)
        return {
            "web": web["id"],
            "secret": secret["id"],
            "shared": shared["id"],
            "gated": made[web["id"], "Greet and wait"],
            "long": made[web["id"], "Sleep long"],
            "two_steps": made[web["id"], "Two steps"],
            "say_hi": made[web["id"], "Say hi"],
            "batch_gated": made[web["id"], "Wait for the batch gate"],
            "site": site["id"],
            "secret_op": made[secret["id"], "Sleep long"],
            "hidden_job": hidden_job,
        }
    finally:
        await store.close()


# Prints at once, then waits for the test to open the gate: what the browser shows before
# that can only have come live.
_GATED = {
    "name": "Greet and wait",
    "type": 2,
    "description": "says hello, waits for the gate",
    "parameters": {
        "type": "scriptText",
        "text": 'echo "hello {{args.name}}"\n'
        "while [ ! -e GATE ]; do sleep 0.05; done\necho 'gate open' >&2\necho finished\n",
        "timeout": 120,
        "arguments": {"name": {"type": "string", "required": True, "description": "who"}},
    },
}
# Two steps, each behind a gate of its own: the connection is cut between them.
_TWO_STEPS = {
    "name": "Two steps",
    "type": 2,
    "description": "one line, a gate, another line, another gate",
    "parameters": {
        "type": "scriptText",
        "text": "echo one\nwhile [ ! -e GATE.a ]; do sleep 0.05; done\necho two\n"
        "while [ ! -e GATE.b ]; do sleep 0.05; done\necho three\n",
        "timeout": 120,
    },
}
# Quick, for schedules: one line, with an argument.
_SAY_HI = {
    "name": "Say hi",
    "type": 2,
    "description": "one line",
    "parameters": {
        "type": "scriptText",
        "text": 'echo "hi {{args.who}}"\n',
        "timeout": 30,
        "arguments": {"who": {"type": "string", "default": "there"}},
    },
}
# A batch's job that waits for the test: the batch is seen running first.
_BATCH_GATED = {
    "name": "Wait for the batch gate",
    "type": 2,
    "description": "waits for its gate",
    "parameters": {
        "type": "scriptText",
        "text": "while [ ! -e GATE.batch ]; do sleep 0.05; done\necho batch done\n",
        "timeout": 120,
    },
}
_LONG = {
    "name": "Sleep long",
    "type": 2,
    "description": "runs until cancelled",
    "parameters": {"type": "scriptText", "text": "echo waiting\nexec sleep 300\n", "timeout": 600},
}


def _with_gate(document: dict, gate: Path) -> dict:
    parameters = dict(document["parameters"])
    parameters["text"] = parameters["text"].replace("GATE", str(gate))
    return {**document, "parameters": parameters}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("chromium and chromium-driver are not installed: run `make browser`")
    directory = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{directory / 'opsjobs.db'}"
    migrated = run_cli("migrate", "--database-url", url)
    assert migrated.returncode == 0, migrated.stderr
    gate = directory / "gate"
    seeded = asyncio.run(_seed(url, gate))
    with running_server(url) as (base, _process):
        port = int(base.rsplit(":", 1)[1])
        proxy = Proxy("127.0.0.1", port)  # what the browser reaches the server through
        proxy.set("forward")
        try:
            yield {
                **seeded,
                "base": base,
                "gate": gate,
                "proxy": proxy,
                "proxied": f"http://127.0.0.1:{proxy.port}",
            }
        finally:
            proxy.set("down")


# -- the browser -----------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
        assert_no_script_errors(driver)
    finally:
        driver.quit()


def assert_no_script_errors(driver) -> None:
    """No uncaught error and no Content-Security-Policy violation in the page's console
    (refused requests are logged too: they are the API's answers, and expected)."""
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("source") != "network"
        and entry["level"] in ("SEVERE", "WARNING")
        or "Content Security Policy" in entry["message"]
    ]
    assert not problems, problems


def wait(driver, condition: Callable, message: str):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, message)
    except TimeoutException:
        alert = driver.find_elements(By.ID, "alert")
        shown = alert[0].text if alert else ""
        raise AssertionError(f"{message} (alert: {shown!r}; url: {driver.current_url})") from None


def shoot(driver, name: str) -> None:
    """The page as it is, at laptop and at phone width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(width, height)
        driver.execute_script("return document.body.offsetHeight")  # laid out again
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
    driver.set_window_size(*DESKTOP)


def shoot_dark(driver, name: str) -> None:
    """The page as a viewer who prefers dark colours sees it."""
    dark = {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", dark)
    try:
        shoot(driver, name + "-dark")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def tree_entries(driver, object_id: str) -> int:
    """How many times the side tree lists the object (open branches or not)."""
    return len(driver.find_elements(By.CSS_SELECTOR, f'#tree a[href="#/object/{object_id}"]'))


def text_of(driver, element_id: str) -> str:
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : '';",
        element_id,
    )


def sign_in(
    driver, base: str, login: str, password: str, shot: str | None = None, *, keys: bool = False
) -> None:
    """Through the form: clicking, or (``keys``) typing only, as from a keyboard."""
    driver.get(base + "/")
    field = wait(driver, ec.element_to_be_clickable((By.ID, "login")), "the sign-in form")
    if shot:
        shoot(driver, shot)
    if keys:  # the form has the focus; Tab to the password, Enter sends
        assert driver.switch_to.active_element == field
        driver.switch_to.active_element.send_keys(login, Keys.TAB)
        driver.switch_to.active_element.send_keys(password, Keys.ENTER)
    else:
        field.send_keys(login)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "sign-in").click()
    wait(driver, ec.visibility_of_element_located((By.ID, "tree")), "the object tree")
    wait(driver, lambda d: login in text_of(d, "who"), "the signed-in user's name")


def open_page(driver, base: str, fragment: str) -> None:
    driver.get(f"{base}/console#{fragment}")


def job_id_of(driver) -> str:
    wait(driver, lambda d: "#/job/" in d.current_url, "the job page")
    return driver.current_url.rsplit("/", 1)[1]


def status_shown(driver) -> str:
    badges = driver.find_elements(By.CSS_SELECTOR, "#job-facts .status")
    return badges[0].text if badges else ""


def fetch(
    driver, method: str, path: str, headers: dict | None = None, body: dict | None = None
) -> list:
    """A request from the page itself, with its cookies: [status, body]."""
    return driver.execute_async_script(
        """
        const [method, path, headers, body, done] = arguments;
        fetch(path, {method, headers, credentials: "same-origin",
                     body: method === "GET" ? undefined : body})
          .then(async (r) => done([r.status, await r.text()]))
          .catch((e) => done([0, String(e)]));
        """,
        method,
        path,
        headers or {},
        orjson.dumps(body if body is not None else {}).decode(),
    )


# -- the tests -------------------------------------------------------------------------------


def test_run_with_live_output_cancel_and_history(server, browser):
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD, shot="sign-in")
    shoot(browser, "tree")
    assert tree_entries(browser, server["shared"]) == 2

    # The object's page, its operations, the run form with the argument the script uses.
    browser.find_element(By.LINK_TEXT, "web-1").click()
    run_link = wait(
        browser,
        ec.element_to_be_clickable((By.PARTIAL_LINK_TEXT, "Greet and wait")),
        "the operation's Run button",
    )
    shoot(browser, "object")
    run_link.click()
    field = wait(browser, ec.element_to_be_clickable((By.ID, "arg-name")), "the argument field")
    field.send_keys("Ada <b>&amp;")
    shoot(browser, "run-form")
    browser.find_element(By.ID, "run").click()

    # Output shows while the job still runs: the script cannot end before the gate opens.
    gated = job_id_of(browser)
    wait(browser, lambda d: "hello Ada <b>&amp;" in text_of(d, "out-stdout"), "live stdout")
    wait(browser, lambda d: status_shown(d) == "running", "the running status")
    assert browser.find_elements(By.CSS_SELECTOR, "#out-stdout b") == []  # text, not markup
    shoot(browser, "job-running")
    server["gate"].touch()
    wait(browser, lambda d: "Finished: succeeded" in text_of(d, "live"), "the end of the run")
    assert "finished" in text_of(browser, "out-stdout")
    assert "gate open" in text_of(browser, "out-stderr")
    facts = text_of(browser, "job-facts")
    assert "Exit code0" in facts and OPERATOR in facts
    shoot(browser, "job-finished")
    shoot_dark(browser, "job-finished")

    # A long run, cancelled from its page.
    open_page(browser, base, f"/run/object/{server['web']}/{server['long']}")
    wait(browser, ec.element_to_be_clickable((By.ID, "run")), "the run form").click()
    long_job = job_id_of(browser)
    wait(browser, lambda d: "waiting" in text_of(d, "out-stdout"), "the long run's output")
    wait(browser, ec.element_to_be_clickable((By.ID, "cancel")), "the cancel button").click()
    wait(browser, lambda d: "Finished: cancelled" in text_of(d, "live"), "the cancelled end")
    assert status_shown(browser) == "cancelled"
    assert not browser.find_element(By.ID, "cancel").is_displayed()
    shoot(browser, "job-cancelled")

    # Both in the object's history (with its chart) and in the list of every job.
    open_page(browser, base, f"/history/object/{server['web']}")
    for job in (gated, long_job):
        wait(
            browser,
            ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-job="{job}"]')),
            f"job {job} in the object's history",
        )
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")
    assert [r.get_attribute("data-job") for r in rows][:2] == [long_job, gated]  # newest first
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.c-succeeded")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.c-cancelled")
    shoot(browser, "history-object")
    shoot_dark(browser, "history-object")
    browser.find_element(By.ID, "f-status").send_keys("cancelled")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser, lambda d: "status=cancelled" in d.current_url, "the status filter")
    wait(
        browser,
        lambda d: (
            [r.get_attribute("data-job") for r in d.find_elements(By.CSS_SELECTOR, "tr[data-job]")]
            == [long_job]
        ),
        "only the cancelled job",
    )
    open_page(browser, base, "/jobs")
    for job in (gated, long_job, server["hidden_job"]):  # the operator sees secret-db too
        wait(
            browser,
            ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-job="{job}"]')),
            f"job {job} in the list of every job",
        )
    shoot(browser, "history-all")
    browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{server["hidden_job"]}"] a').click()
    wait(browser, lambda d: "state trigger" in text_of(d, "job-facts"), "who started the run")
    assert "states 3, 4" in text_of(browser, "job-facts")
    assert browser.find_element(By.ID, "truncated").is_displayed()
    assert '{"note":"<img src=x>"}' in text_of(browser, "main")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img")
    shoot(browser, "job-by-trigger")


def test_a_user_without_rights_neither_sees_nor_runs(server, browser):
    base = server["base"]
    sign_in(browser, base, LIMITED, LIMITED_PASSWORD)
    assert browser.find_elements(By.LINK_TEXT, "web-1")
    assert not browser.find_elements(By.PARTIAL_LINK_TEXT, "secret-db")
    assert tree_entries(browser, server["shared"]) == 1
    assert tree_entries(browser, server["secret"]) == 0
    search = browser.find_element(By.ID, "search")
    search.send_keys("secret")
    wait(browser, lambda d: text_of(d, "tree").startswith("0 found"), "an empty search")
    search.clear()
    search.send_keys("WEB")
    wait(browser, lambda d: text_of(d, "tree").startswith("1 found"), "a search by name")
    assert browser.find_elements(By.CSS_SELECTOR, "#tree a[href*='/object/']")
    shoot(browser, "search")
    secret, op = server["secret"], server["secret_op"]
    for fragment in (
        f"/object/{secret}",
        f"/run/object/{secret}/{op}",
        f"/history/object/{secret}",
        f"/job/{server['hidden_job']}",
    ):
        open_page(browser, base, "/")  # a page without a refusal between two refusals
        wait(browser, lambda d: "Pick one in the tree" in text_of(d, "main"), "the home page")
        assert not text_of(browser, "alert")
        open_page(browser, base, fragment)
        wait(
            browser,
            lambda d: "Not found, or not visible to you" in text_of(d, "alert"),
            f"the refusal of {fragment}",
        )
        assert "secret-db" not in text_of(browser, "main")
        assert "Nothing to show" in text_of(browser, "main")
        assert not browser.find_elements(By.ID, "run")
        shoot(browser, "refused-" + fragment.split("/")[1])
    # Not even by hand from the page, with its cookies and token.
    csrf = browser.get_cookie("csrf")["value"]
    status, body = fetch(
        browser,
        "POST",
        f"/node/api/objects/{secret}/operations/{op}/execute",
        {"X-CSRF-Token": csrf},
    )
    assert status == 404, body
    open_page(browser, base, "/jobs")
    wait(browser, ec.presence_of_element_located((By.ID, "filters")), "the list of every job")
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{server["hidden_job"]}"]')


def test_a_change_without_the_csrf_header_is_refused(server, browser):
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD, keys=True)
    execute = f"/node/api/objects/{server['web']}/operations/{server['long']}/execute"
    # The request the Run button sends, replayed with the session cookie but no header.
    status, body = fetch(browser, "POST", execute, {"Content-Type": "application/json"})
    assert status == 403 and "Wrong CSRF Token" in body, body
    status, body = fetch(browser, "DELETE", "/node/api/users/session")
    assert status == 403 and "Wrong CSRF Token" in body, body
    assert fetch(browser, "GET", "/node/api/users/current")[0] == 200  # still signed in
    # Signing out through the console sends the token, and ends the session.
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, ec.element_to_be_clickable((By.ID, "login")), "the sign-in form again")
    assert "signed out" in text_of(browser, "main")
    assert fetch(browser, "GET", "/node/api/users/current")[0] == 401
    shoot(browser, "signed-out")


def test_live_output_resumes_after_a_dropped_connection(server, browser):
    base, proxy, gate = server["proxied"], server["proxy"], server["gate"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD)
    open_page(browser, base, f"/run/object/{server['web']}/{server['two_steps']}")
    wait(browser, ec.element_to_be_clickable((By.ID, "run")), "the run form").click()
    job_id_of(browser)
    wait(browser, lambda d: text_of(d, "out-stdout") == "one\n", "the first line")
    wait(browser, lambda d: text_of(d, "live").startswith("Live"), "the stream")
    proxy.set("down")  # every connection cut, nothing listening
    wait(browser, lambda d: "reconnecting" in text_of(d, "live"), "the page noticing the drop")
    shoot(browser, "job-reconnecting")
    gate.with_suffix(".a").touch()  # output made while the page is cut off
    proxy.set("forward")
    wait(browser, lambda d: "resumed" in text_of(d, "live"), "the stream resumed")
    # From where it was: the second line once, the first not again; the job still runs.
    wait(browser, lambda d: text_of(d, "out-stdout") == "one\ntwo\n", "the output resumed")
    wait(browser, lambda d: status_shown(d) == "running", "the running status")
    gate.with_suffix(".b").touch()
    wait(browser, lambda d: "Finished: succeeded" in text_of(d, "live"), "the end of the run")
    assert text_of(browser, "out-stdout") == "one\ntwo\nthree\n"


def test_schedules_made_paused_resumed_and_their_jobs(server, browser):
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD)
    open_page(browser, base, f"/object/{server['web']}")
    wait(
        browser,
        ec.element_to_be_clickable((By.CSS_SELECTOR, '[aria-label="Schedule “Say hi”"]')),
        "the operation's Schedule button",
    ).click()
    name = wait(browser, ec.element_to_be_clickable((By.ID, "s-name")), "the schedule form")
    assert browser.switch_to.active_element == name
    name.clear()
    name.send_keys("hourly <b>hi</b>")
    # A cron time far away first: its next run is shown in the viewer's zone.
    cron = browser.find_element(By.ID, "s-cron")
    cron.clear()
    cron.send_keys("0 3 * * *")
    zone = browser.find_element(By.ID, "s-zone")
    zone.clear()
    zone.send_keys("Europe/Berlin")
    browser.find_element(By.ID, "arg-who").send_keys(" & <i>you</i>")
    shoot(browser, "schedule-form")
    browser.find_element(By.ID, "save-schedule").click()
    wait(browser, lambda d: "#/schedule/" in d.current_url, "the new schedule's page")
    schedule_id = browser.current_url.rsplit("/", 1)[1]
    wait(browser, lambda d: "Europe/Berlin" in text_of(d, "schedule-facts"), "its facts")
    assert "hourly <b>hi</b>" in text_of(browser, "main")
    assert not browser.find_elements(By.CSS_SELECTOR, "main b, main i")  # text, not markup
    status, body = fetch(browser, "GET", f"/node/api/schedules/{schedule_id}")
    assert status == 200, body
    schedule = orjson.loads(body)
    shown = browser.execute_script(
        "return new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'})"
        ".format(new Date(arguments[0]))",
        schedule["nextRunAt"],
    )
    assert text_of(browser, "next-run") == shown
    assert schedule["args"] == {"who": "there & <i>you</i>"}
    shoot(browser, "schedule")
    shoot_dark(browser, "schedule")

    # Pause and resume from its page, by keyboard: the next run goes and comes back.
    pause = wait(browser, ec.element_to_be_clickable((By.ID, "pause")), "the pause button")
    pause.send_keys(Keys.ENTER)
    wait(browser, lambda d: text_of(d, "next-run") == "—", "no next run while paused")
    assert "paused" in text_of(browser, "schedule-facts")
    shoot(browser, "schedule-paused")
    wait(browser, ec.element_to_be_clickable((By.ID, "resume")), "the resume button").click()
    wait(browser, lambda d: text_of(d, "next-run") not in ("", "—"), "a next run again")
    assert "active" in text_of(browser, "schedule-facts")

    # In the list, with its operation's name and target.
    open_page(browser, base, "/schedules")
    row = wait(
        browser,
        ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-schedule="{schedule_id}"]')),
        "the schedule in the list",
    )
    assert "Say hi" in row.text and "web-1" in row.text
    shoot(browser, "schedules")
    shoot_dark(browser, "schedules")

    # An interval of one second: its jobs come, each says which schedule started it.
    status, body = fetch(
        browser,
        "PATCH",
        f"/node/api/schedules/{schedule_id}",
        {"X-CSRF-Token": browser.get_cookie("csrf")["value"], "Content-Type": "application/json"},
        {"interval": 1},
    )
    assert status == 200, body
    wait(
        browser,
        lambda d: orjson.loads(fetch(d, "GET", f"/node/api/schedules/{schedule_id}")[1])[
            "lastJobId"
        ],
        "a first run",
    )
    open_page(browser, base, f"/schedule/{schedule_id}")
    wait(browser, lambda d: "every 1 s" in text_of(d, "schedule-facts"), "the interval")
    first = wait(
        browser,
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#schedule-jobs tr[data-job] a")),
        "its jobs on its page",
    )
    wait(browser, ec.element_to_be_clickable((By.ID, "pause")), "the pause button").click()
    wait(browser, lambda d: text_of(d, "next-run") == "—", "paused again")
    shoot(browser, "schedule-with-jobs")
    first.click()
    wait(browser, lambda d: "schedule hourly <b>hi</b>" in text_of(d, "job-facts"), "who ran it")
    assert OPERATOR in text_of(browser, "asked-by-schedule")
    wait(browser, lambda d: "Finished: succeeded" in text_of(d, "live"), "the run's end")
    assert "hi there & <i>you</i>" in text_of(browser, "out-stdout")
    shoot(browser, "job-by-schedule")
    browser.find_element(By.CSS_SELECTOR, "#asked-by-schedule a").click()
    wait(browser, lambda d: d.current_url.endswith(f"#/schedule/{schedule_id}"), "back to it")

    # Deleting takes a second, confirming, press; its jobs stay.
    wait(browser, ec.element_to_be_clickable((By.ID, "delete")), "the delete button").click()
    wait(browser, ec.element_to_be_clickable((By.ID, "confirm-delete")), "the confirm").click()
    wait(browser, lambda d: d.current_url.endswith("#/schedules"), "the list again")
    assert fetch(browser, "GET", f"/node/api/schedules/{schedule_id}")[0] == 404


def test_a_user_without_rights_neither_sees_nor_makes_schedules(server, browser):
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD)
    csrf = {"X-CSRF-Token": browser.get_cookie("csrf")["value"]}
    made = []
    for target, operation in (
        (server["secret"], server["secret_op"]),
        (server["web"], server["say_hi"]),
    ):
        body = {"name": "nightly", "operation": operation, "target": {"object": target}}
        status, answer = fetch(
            browser, "POST", "/node/api/schedules", csrf, {**body, "cron": "0 3 1 1 *"}
        )
        assert status == 200, answer
        made.append(orjson.loads(answer)["id"])
    secret_schedule, web_schedule = made
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, ec.element_to_be_clickable((By.ID, "login")), "the sign-in form")

    sign_in(browser, base, LIMITED, LIMITED_PASSWORD)
    open_page(browser, base, "/schedules")
    wait(browser, ec.presence_of_element_located((By.ID, "schedules")), "the list")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-schedule]")  # not the owner
    shoot(browser, "schedules-limited")
    secret, op = server["secret"], server["secret_op"]
    for fragment in (
        f"/schedule/{secret_schedule}",
        f"/schedule/{web_schedule}",  # its target is visible, the schedule is not theirs
        f"/schedules/new/object/{secret}/{op}",
    ):
        open_page(browser, base, "/")
        wait(browser, lambda d: "Pick one in the tree" in text_of(d, "main"), "the home page")
        open_page(browser, base, fragment)
        wait(
            browser,
            lambda d: "Not found, or not visible to you" in text_of(d, "alert"),
            f"the refusal of {fragment}",
        )
        assert "Nothing to show" in text_of(browser, "main")
        assert "secret-db" not in text_of(browser, "main")
        assert not browser.find_elements(By.ID, "save-schedule")
    shoot(browser, "refused-schedule")
    # Replayed by hand: without the header refused before anything; with it, out of sight.
    body = {"name": "x", "operation": op, "target": {"object": secret}, "interval": 60}
    json_type = {"Content-Type": "application/json"}
    status, answer = fetch(browser, "POST", "/node/api/schedules", json_type, body)
    assert status == 403 and "Wrong CSRF Token" in answer, answer
    token = {**json_type, "X-CSRF-Token": browser.get_cookie("csrf")["value"]}
    status, answer = fetch(browser, "POST", "/node/api/schedules", token, body)
    assert status == 404, answer
    for verb in ("pause", "resume"):
        path = f"/node/api/schedules/{secret_schedule}/{verb}"
        assert fetch(browser, "POST", path, json_type)[0] == 403
        assert fetch(browser, "POST", path, token)[0] == 404
    assert fetch(browser, "DELETE", f"/node/api/schedules/{web_schedule}", token)[0] == 404


def test_the_list_of_every_job_pages_from_a_cursor(server, browser):
    """Older, page by page, shows every job once, in the API's order (objects' and links'
    lists merged), also where many jobs share one millisecond across a page's end."""
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD)
    everything = []
    for kind, ids in (("objects", [server["web"], server["shared"], server["secret"]]),):
        status, body = fetch(browser, "POST", "/node/api/jobs", _json(browser), {kind: ids})
        assert status == 200, body
        everything += orjson.loads(body)
    link = browser.execute_script(
        "return [...document.querySelectorAll('#tree a[href^=\"#/link/\"]')]"
        ".map((a) => a.getAttribute('href').split('/').pop())"
    )
    status, body = fetch(browser, "POST", "/node/api/jobs", _json(browser), {"links": link})
    everything += orjson.loads(body)
    everything.sort(key=lambda job: (job["timestamp"], job["id"]), reverse=True)
    expected = [job["id"] for job in everything]
    open_page(browser, base, "/jobs")
    shown = []
    while True:
        wait(
            browser,
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, "tr[data-job]") or "No jobs." in text_of(d, "main")
            ),
            "a page",
        )
        rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")
        shown += [row.get_attribute("data-job") for row in rows]
        older = browser.find_elements(By.ID, "next")
        if not older:
            break
        url = browser.current_url
        older[0].click()
        wait(browser, lambda d, url=url: d.current_url != url, "the next page")
        assert "at=" in browser.current_url
    assert shown == expected
    assert len(expected) > 2 * 25  # three pages at least


def _json(driver) -> dict:
    return {"Content-Type": "application/json", "X-CSRF-Token": driver.get_cookie("csrf")["value"]}


def count_shown(driver, name: str) -> str:
    cells = driver.find_elements(By.CSS_SELECTOR, f'#batch-counts dd[data-count="{name}"]')
    return cells[0].text if cells else ""


def test_a_batch_runs_on_many_updates_its_counts_and_cancels(server, browser):
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD)
    open_page(browser, base, f"/object/{server['web']}")
    wait(
        browser,
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, '[aria-label="Run “Wait for the batch gate” on many"]')
        ),
        "the operation's Run on many button",
    ).click()
    name = wait(browser, ec.element_to_be_clickable((By.ID, "b-name")), "the batch form")
    name.clear()
    name.send_keys("rollout <b>1</b>")
    shoot(browser, "batch-form")
    browser.find_element(By.ID, "start-batch").click()
    wait(browser, lambda d: "#/batch/" in d.current_url, "the batch's page")
    batch_id = browser.current_url.rsplit("/", 1)[1]
    wait(browser, lambda d: count_shown(d, "running") == "1", "its job running")
    assert count_shown(browser, "skipped") == "0"
    assert "rollout <b>1</b>" in text_of(browser, "main")
    assert not browser.find_elements(By.CSS_SELECTOR, "main b")
    where = browser.find_element(By.ID, "batch-counts").rect
    shoot(browser, "batch-running")
    server["gate"].with_suffix(".batch").touch()
    wait(browser, lambda d: count_shown(d, "succeeded") == "1", "the count updated")
    wait(browser, lambda d: "Ended: finished" in text_of(d, "batch-live"), "the batch's end")
    assert browser.find_element(By.ID, "batch-counts").rect == where  # nothing moved
    assert not browser.find_element(By.ID, "cancel-batch").is_displayed()
    shoot(browser, "batch-finished")
    shoot_dark(browser, "batch-finished")
    browser.find_element(By.CSS_SELECTOR, "#batch-jobs tr[data-job] a[href^='#/job/']").click()
    wait(browser, lambda d: "batch rollout <b>1</b>" in text_of(d, "job-facts"), "who ran it")
    open_page(browser, base, "/batches")
    row = wait(
        browser,
        ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-batch="{batch_id}"]')),
        "the batch in the list",
    )
    assert "finished" in row.text
    shoot(browser, "batches")

    # A long one, cancelled from its page.
    csrf = {"Content-Type": "application/json", "X-CSRF-Token": browser.get_cookie("csrf")["value"]}
    body = {"operation": server["long"], "target": {"subtree": server["web"]}, "name": "long"}
    status, answer = fetch(browser, "POST", "/node/api/batches", csrf, body)
    assert status == 202, answer
    long_batch = orjson.loads(answer)["id"]
    open_page(browser, base, f"/batch/{long_batch}")
    wait(browser, lambda d: count_shown(d, "running") == "1", "the long job running")
    wait(browser, ec.element_to_be_clickable((By.ID, "cancel-batch")), "Cancel").click()
    wait(browser, lambda d: "Ended: cancelled" in text_of(d, "batch-live"), "cancelled")

    # Another user neither reads it nor makes one (no run-bulks), even by hand.
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, ec.element_to_be_clickable((By.ID, "login")), "the sign-in form")
    sign_in(browser, base, LIMITED, LIMITED_PASSWORD)
    open_page(browser, base, f"/batch/{batch_id}")
    wait(
        browser,
        lambda d: "Not found, or not visible to you" in text_of(d, "alert"),
        "the refusal of another's batch",
    )
    open_page(browser, base, "/batches")
    wait(browser, ec.presence_of_element_located((By.ID, "batches")), "the list")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-batch]")
    token = {
        "Content-Type": "application/json",
        "X-CSRF-Token": browser.get_cookie("csrf")["value"],
    }
    body = {"operation": server["say_hi"], "target": {"subtree": server["site"]}}
    assert (
        fetch(browser, "POST", "/node/api/batches", {"Content-Type": "application/json"}, body)[0]
        == 403
    )
    status, answer = fetch(browser, "POST", "/node/api/batches", token, body)
    assert status == 403 and "run-bulks" in answer, answer
    assert fetch(browser, "POST", f"/node/api/batches/{batch_id}/cancel", token)[0] == 404


def test_a_schedule_at_an_interval_from_the_form(server, browser):
    base = server["base"]
    sign_in(browser, base, OPERATOR, OPERATOR_PASSWORD)
    open_page(browser, base, f"/schedules/new/object/{server['web']}/{server['say_hi']}")
    wait(browser, ec.element_to_be_clickable((By.ID, "s-name")), "the schedule form")
    assert not browser.find_element(By.ID, "s-interval").is_displayed()  # cron is the default
    browser.find_element(By.ID, "timing-interval").click()
    interval = wait(browser, ec.visibility_of_element_located((By.ID, "s-interval")), "interval")
    assert not browser.find_element(By.ID, "s-cron").is_displayed()
    interval.clear()
    interval.send_keys("7200")
    browser.find_element(By.ID, "s-missed").send_keys("run once")
    browser.find_element(By.ID, "save-schedule").click()
    wait(browser, lambda d: "every 2 h" in text_of(d, "schedule-facts"), "its interval")
    assert "run once" in text_of(browser, "schedule-facts")
    schedule_id = browser.current_url.rsplit("/", 1)[1]
    status, body = fetch(browser, "GET", f"/node/api/schedules/{schedule_id}")
    schedule = orjson.loads(body)
    assert (schedule["interval"], schedule["cron"], schedule["missed"]) == (7200, None, "run-once")
    # A refused value is named, and nothing is made.
    open_page(browser, base, f"/schedules/new/object/{server['web']}/{server['say_hi']}")
    cron = wait(browser, ec.element_to_be_clickable((By.ID, "s-cron")), "the form again")
    cron.clear()
    cron.send_keys("0 0 30 2 *")
    browser.find_element(By.ID, "save-schedule").click()
    wait(browser, lambda d: "Refused: cron" in text_of(d, "alert"), "the refusal naming cron")
    assert "#/schedules/new/" in browser.current_url
    csrf = {"X-CSRF-Token": browser.get_cookie("csrf")["value"]}
    assert fetch(browser, "DELETE", f"/node/api/schedules/{schedule_id}", csrf)[0] == 200
