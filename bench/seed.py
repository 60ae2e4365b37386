"""The benchmark databases: a realistic tree, users with partial visibility, and job history.

Seeding is direct: ``opsjobs migrate`` makes the schema, then objects, parents, links and jobs
go in with ``sqlite3.executemany`` (the jobs table's secondary indexes are dropped for the
load and recreated from the schema's own SQL afterwards), and users are made through
``opsjobs.store.users`` with real Argon2 hashes. A seeded file is cached under
``bench/results/db/``, keyed by SEED_VERSION, the schema head and the job count; a file is
only ever used once seeding finished (it is renamed into place last).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from opsjobs.domain.ids import new_id
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import users as user_store
from opsjobs.store.core import Store
from opsjobs.store.migrate import head_revision

# Bump when the seeded content changes, so cached databases are rebuilt.
SEED_VERSION = 1

GROUPS = 100  # data-centre objects under the root
HOSTS_PER_GROUP = 100  # 10,000 host objects
SERVICES = ("svc-web", "svc-db", "svc-cache", "svc-queue", "svc-dns")
LINKS = 1000
LINK_JOB_SHARE = 0.01
BUSY_JOBS = 100_000  # jobs of one host, for the POST /node/api/jobs history test
HISTORY_DAYS = 180

ADMIN = "bench-admin"
# Non-admin logins used for the load (each sees part of the tree), see _users().
LOAD_LOGINS = ("noc-east", "noc-west", "dba", "auditor", "watcher")

OPERATIONS = (
    (
        "uptime",
        lambda r: (
            f" {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:01 up "
            f"{r.randint(1, 400)} days,  {r.randint(0, 23)}:{r.randint(10, 59)},  0 users,  "
            f"load average: {r.random():.2f}, {r.random():.2f}, {r.random():.2f}\n"
        ),
    ),
    (
        "Disk usage",
        lambda r: (
            "Filesystem      Size  Used Avail Use% Mounted on\n"
            f"/dev/vda1        50G  {r.randint(5, 49)}G  {r.randint(1, 40)}G  {r.randint(5, 99)}% /\n"
            f"/dev/vdb1       500G  {r.randint(5, 499)}G  {r.randint(1, 400)}G  "
            f"{r.randint(5, 99)}% /var/lib\n"
        ),
    ),
    ("Restart nginx", lambda r: ""),
    (
        "Ping gateway",
        lambda r: (
            "PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.\n"
            f"--- 10.0.0.1 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, "
            f"time {r.randint(2000, 2100)}ms\nrtt min/avg/max/mdev = 0.{r.randint(100, 999)}/"
            f"0.{r.randint(100, 999)}/1.{r.randint(100, 999)}/0.{r.randint(10, 99)} ms\n"
        ),
    ),
    (
        "Collect logs",
        lambda r: "".join(
            f"2026-0{r.randint(1, 9)}-1{r.randint(0, 9)}T1{r.randint(0, 9)}:0{r.randint(0, 9)}:00Z "
            f"app[{r.randint(100, 9999)}]: request served in {r.randint(1, 900)} ms\n"
            for _ in range(r.randint(5, 40))
        ),
    ),
)


@dataclass(frozen=True)
class Seeded:
    """A ready database and what the load needs to know about it."""

    path: Path
    jobs: int
    busy_object: str
    passwords: dict[str, str]  # login -> password
    seconds: float  # how long seeding took (0 when it came from the cache)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def cached_path(results: Path, jobs: int) -> Path:
    return results / "db" / f"seed-v{SEED_VERSION}-schema{head_revision()}-{jobs}.db"


def ensure(results: Path, jobs: int, *, reseed: bool = False, log=print) -> Seeded:
    path = cached_path(results, jobs)
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists() and not reseed:
        meta = json.loads(meta_path.read_text())
        return Seeded(path, jobs, meta["busy_object"], meta["passwords"], 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"seed-*-{jobs}.*"):
        old.unlink()
    building = path.with_name(path.name + ".building")
    for leftover in path.parent.glob(building.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    log(f"seeding {jobs:,} jobs into {path.name} (cached for later runs)")
    _migrate(building)
    rng = random.Random(f"opsjobs-bench-{jobs}")
    epoch = time.time()
    tree, objects, parents = _tree(rng, epoch)
    _load_tree(building, tree, objects, parents)
    made = asyncio.run(_make_users(building, tree))
    user_ids = [made[login][0] for login in LOAD_LOGINS]
    busy_object, rows = _job_rows(rng, tree, jobs, epoch, user_ids)
    _load_jobs(building, rows)
    passwords = {login: secret for login, (_id, secret) in made.items()}
    meta_path.write_text(json.dumps({"busy_object": busy_object, "passwords": passwords}))
    building.rename(path)
    seconds = time.perf_counter() - started
    log(f"seeded {jobs:,} jobs in {seconds:.1f} s")
    return Seeded(path, jobs, busy_object, passwords, seconds)


def _migrate(path: Path) -> None:
    opsjobs = Path(sys.executable).with_name("opsjobs")
    subprocess.run(
        [str(opsjobs), "migrate", "--database-url", f"sqlite:///{path}"],
        check=True,
        capture_output=True,
    )


# -- the tree and the jobs ------------------------------------------------------------------


@dataclass
class Tree:
    groups: list[str]
    services: dict[str, str]
    hosts: list[str]
    links: list[tuple[str, str, str]]  # (id, source, target)


def _tree(rng: random.Random, epoch: float) -> tuple[Tree, list[tuple], list[tuple]]:
    """Objects rows and parent rows: root > 100 data centres > 100 hosts each; five service
    groups under the root, and every seventh host also sits in one of them."""
    objects: list[tuple] = []
    parents: list[tuple] = []
    now = int(epoch * 1000)

    def add(name: str, parent_ids: list[str], at: float) -> str:
        object_id = new_id(at)
        objects.append((object_id, name, int(at * 1000), now))
        for position, parent in enumerate(parent_ids):
            parents.append((object_id, parent, position))
        return object_id

    created = epoch - 400 * 86400
    services = {name: add(name, ["1"], created) for name in SERVICES}
    groups, hosts = [], []
    for g in range(GROUPS):
        group_id = add(f"dc-{g:02d}", ["1"], created + g)
        groups.append(group_id)
        for h in range(HOSTS_PER_GROUP):
            extra = [services[SERVICES[h % len(SERVICES)]]] if h % 7 == 3 else []
            hosts.append(add(f"host-{g:02d}-{h:02d}", [group_id, *extra], created + 100 + g + h))
    links = []
    for _ in range(LINKS):
        source, target = rng.sample(hosts, 2)
        links.append((new_id(created + 200), source, target))
    return Tree(groups, services, hosts, links), objects, parents


def _job_rows(rng: random.Random, tree: Tree, jobs: int, epoch: float, user_ids: list[str]):
    """Job rows ordered by time (as a live system writes them), owners spread over the hosts;
    the busy host gets BUSY_JOBS of them (or a tenth, for small databases)."""
    busy = tree.hosts[1]  # dc-00/host-00-01: visible to the load users
    busy_count = min(BUSY_JOBS, jobs // 10)
    owners = [busy] * busy_count
    link_count = int(jobs * LINK_JOB_SHARE)
    owners += [None] * link_count  # link jobs, owner chosen below
    others = tree.hosts[:1] + tree.hosts[2:]
    owners += [rng.choice(others) for _ in range(jobs - busy_count - link_count)]
    start = epoch - HISTORY_DAYS * 86400
    times = sorted(rng.uniform(start, epoch - 60) for _ in range(jobs))
    rng.shuffle(owners)
    operation_ids = [new_id(start - 86400) for _ in OPERATIONS]
    # Outputs drawn from a pool of variants: generating each one would dominate seeding.
    outputs = [[make(rng) for _ in range(500)] for _name, make in OPERATIONS]
    return busy, _rows(rng, tree, times, owners, operation_ids, outputs, user_ids)


def _rows(rng, tree, times, owners, operation_ids, outputs, user_ids) -> Iterator[tuple]:
    """Rows one at a time, for executemany: a million at once would take a gigabyte."""
    dumps = orjson.dumps
    choice = rng.choice
    for at, owner in zip(times, owners, strict=True):
        owner_type = 1
        if owner is None:
            owner, owner_type = rng.choice(tree.links)[0], 2
        op = rng.randrange(len(OPERATIONS))
        name = OPERATIONS[op][0]
        ms = int(at * 1000)
        started = ms + rng.randint(3, 60)
        roll = rng.random()
        error = None
        if roll < 0.95:
            status, exit_code, stderr = "succeeded", 0, ""
        elif roll < 0.99:
            status, exit_code = "failed", 1
            stderr = f"{name.split()[0].lower()}: permission denied\n"
            error = "exit code 1"
        else:
            status, exit_code, stderr = "timeout", 137, ""
            error = "timed out after 60 s"
        triggered = rng.random() < 0.2
        description = dumps(
            {"stdout": choice(outputs[op]), "exitCode": exit_code, "stderr": stderr}
        )
        results = "[]"
        if rng.random() < 0.03:
            results = dumps(
                [
                    {
                        "payload": {"ack": True, "ticket": f"OPS-{rng.randint(1000, 99999)}"},
                        "by": rng.choice(user_ids),
                        "timestamp": started + 60_000,
                    }
                ]
            ).decode()
        yield (
            new_id(at),
            owner,
            owner_type,
            operation_ids[op],
            name,
            None if triggered else rng.choice(user_ids),
            ms,
            '{"triggerStates":[5]}' if triggered else None,
            description.decode(),
            results,
            status,
            started,
            started + rng.randint(5, 4000),
            error,
            0,
            f"host-{rng.randint(1, 3)}/{rng.randint(1000, 60000)}",
        )


_JOB_INSERT = (
    "INSERT INTO jobs (id, owner_id, owner_type, operation_id, operation_name, user_id, "
    '"timestamp", process_meta, description, results, status, started, finished, error, '
    "truncated, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # a fresh file: nothing to protect yet
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    return conn


def _load_tree(path: Path, tree: Tree, objects: list[tuple], parents: list[tuple]) -> None:
    now = int(time.time() * 1000)
    conn = _connect(path)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO objects (id, name, created, updated) VALUES (?, ?, ?, ?)", objects
        )
        conn.executemany(
            "INSERT INTO object_parents (object_id, parent_id, position) VALUES (?, ?, ?)",
            parents,
        )
        conn.executemany(
            "INSERT INTO links (id, name, source, target, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(i, "", s, t, now, now) for i, s, t in tree.links],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _load_jobs(path: Path, rows: Iterable[tuple]) -> None:
    """Insert in ID order with the secondary indexes dropped, then rebuild them from the
    schema's own SQL: sorting once is much faster than a million random index inserts."""
    conn = _connect(path)
    try:
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' "
            "AND sql IS NOT NULL"
        ).fetchall()
        conn.execute("BEGIN")
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.executemany(_JOB_INSERT, rows)
        for _name, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")  # as opsjobs keeps it
    finally:
        conn.close()


# -- users ----------------------------------------------------------------------------------


def _users(tree: Tree) -> list[dict]:
    """The admin, and non-admin users whose include/exclude rules each show part of the tree."""
    groups, hosts, services = tree.groups, tree.hosts, tree.services
    return [
        {"login": ADMIN, "permissions": list(PERMISSIONS), "include": ["1"]},
        # The first half of the data centres, without each centre's first host.
        {
            "login": "noc-east",
            "permissions": ["execute-operations"],
            "include": groups[:50],
            "exclude": [hosts[g * HOSTS_PER_GROUP] for g in range(GROUPS)],
        },
        # Everything except the second half of the data centres.
        {"login": "noc-west", "include": ["1"], "exclude": groups[50:]},
        # Through a group: the database service, plus a few centres of its own.
        {"login": "dba", "group": "databases", "include": groups[:3] + groups[60:62]},
        # Everything but one service group and ten centres.
        {"login": "auditor", "include": ["1"], "exclude": [services["svc-cache"], *groups[5:15]]},
        # A hand-picked list of hosts.
        {"login": "watcher", "include": hosts[: 20 * HOSTS_PER_GROUP : 3]},
    ]


async def _make_users(path: Path, tree: Tree) -> dict[str, tuple[str, str]]:
    """login -> (user ID, password)."""
    passwords = Passwords()  # opsjobs' production Argon2id cost
    store = Store(f"sqlite:///{path}")
    await store.open()
    made: dict[str, tuple[str, str]] = {}
    try:
        group = await user_store.create_group(
            store, name="databases", include=[tree.services["svc-db"]]
        )
        for spec in _users(tree):
            login = spec["login"]
            secret = f"bench-{login}-{random.Random(login).getrandbits(48):x}"
            user = await user_store.create_user(
                store,
                login=login,
                password_hash=passwords.hash(secret),
                permissions=spec.get("permissions", []),
                include=spec.get("include", []),
                exclude=spec.get("exclude", []),
                group_ids=[group["id"]] if spec.get("group") else [],
            )
            made[login] = (user["id"], secret)
    finally:
        await store.close()
    return made
