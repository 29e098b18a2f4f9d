"""One anonymous visitor against the dashboard's server: the messages that froze it, a flood, a visitor who does not
read, and more page loads than the server has kernels for. Each test runs a real server (`animal-challenge dashboard`,
or the `voila_command` it executes, with smaller limits) as a subprocess and speaks to it as a browser would (HTTP,
and `widget_protocol.WidgetClient` on the kernel websocket). After each attack the server must still answer: its
static file `voila/static/voila.js` and a fresh page within 2 s, its memory about where it was.

No API runs: the page renders with its "the API does not answer" notices, which is all a visitor's messages need.
A server that freezes ignores SIGTERM; `serving` then kills its process group, so a failing run still ends.
"""

import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from servers import BIN, free_port
from websockets.exceptions import ConnectionClosed, InvalidStatus
from widget_protocol import WidgetClient, kernel_id_of, shut_down

from animal_challenge.config import Settings
from animal_challenge.dashboard_server import dashboard_env, voila_command
from animal_challenge.kernel_guard import MAX_PAGES_PER_ADDRESS
from animal_challenge.process import ServerProcess, patience

API_DOWN = "http://127.0.0.1:9"  # nothing listens there
ANSWER_WITHIN = 2.0  # seconds a static file, or the first byte of a page, may take after an attack
GROWTH_MB = 50  # the server's memory may grow this much during an attack (it froze growing by 40-70 MB a second)
STARTUP = 60  # seconds Voila may take to answer at all on a quiet machine (~5 s); `patience` stretches it when busy
FREEZE = (2**62).to_bytes(8, "little") + bytes(32)  # a v1 frame whose offset count is 2**62


@dataclass
class Served:
    "A dashboard server running as a subprocess, with its log."

    url: str
    pid: int
    log: Path
    opened: list[str] = field(default_factory=list)  # kernels of the pages this test run opened

    def log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 90.0) -> None:
        "Wait until `text` appears `count` times in the server's log."
        deadline = time.monotonic() + patience(timeout)
        while self.log_count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not {count} times in the server's log within {timeout} s")
            time.sleep(0.1)

    def logged_within(self, text: str, seconds: float) -> bool:
        "Whether `text` appears in the server's log within `seconds`."
        try:
            self.wait_for_log(text, timeout=seconds)
        except AssertionError:
            return False
        return True

    def wait_for_full_pool(self) -> None:
        "Wait until the pool has started a kernel for every pooled one a page took (Voila logs each refill)."
        taken = self.log_count("Using pre-heated kernel")
        self.wait_for_log("Kernel pool of dashboard.ipynb is filled", 1 + taken)

    def rss_mb(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / 2**20

    def static_file_seconds(self) -> float:
        "Seconds to GET voila.js in full (fails after ANSWER_WITHIN)."
        t = time.monotonic()
        answer = httpx.get(self.url + "voila/static/voila.js", timeout=ANSWER_WITHIN)
        assert answer.status_code == 200
        return time.monotonic() - t

    def page(self, first_byte_within: float = 60.0) -> "Page":
        "GET the dashboard page: the first byte must come within `first_byte_within` s, the rest within 60 s."
        page = get_page(self.url, first_byte_within)
        if page.status == 200:
            self.opened.append(page.kernel_id)
        return page

    def leave(self) -> None:
        "Stop the kernels of the pages opened so far, as the pages do when they unload."
        while self.opened:
            assert shut_down(self.url, self.opened.pop()) == 204

    def assert_answers(self, rss_before: float) -> dict:
        "The static file and a fresh page answer within ANSWER_WITHIN; the memory grew less than GROWTH_MB."
        static = self.static_file_seconds()
        page = self.page(first_byte_within=ANSWER_WITHIN)
        assert page.status == 200 and page.kernel_id
        growth = self.rss_mb() - rss_before
        assert growth < GROWTH_MB, f"the server grew by {growth:.0f} MB"
        print(
            f"voila.js {static:.2f} s, page first byte {page.first_byte:.2f} s (all {page.total:.2f} s), "
            f"server memory {self.rss_mb():.0f} MB ({growth:+.0f} MB)"
        )
        return {"static": static, "page": page}


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: str
    first_byte: float  # seconds from the request to the first byte of the answer
    total: float  # seconds to the last byte

    @property
    def kernel_id(self) -> str:
        return kernel_id_of(self.body)


def get_page(url: str, first_byte_within: float, source: str | None = None) -> Page:
    "GET `url` over a plain socket (from the address `source`), timing the first byte and the whole answer."
    parts = urlsplit(url)
    t = time.monotonic()
    where = {"source_address": (source, 0)} if source else {}
    with socket.create_connection((parts.hostname, parts.port), timeout=first_byte_within, **where) as sock:
        sock.sendall(f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        chunks = [sock.recv(65536)]
        first_byte = time.monotonic() - t
        sock.settimeout(60)
        while chunks[-1]:
            chunks.append(sock.recv(65536))
    total = time.monotonic() - t
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    if headers.get("Transfer-Encoding") == "chunked":
        body = dechunk(body)
    return Page(int(status_line.split()[1]), headers, body.decode(errors="replace"), first_byte, total)


def dechunk(body: bytes) -> bytes:
    "The payload of a chunked HTTP body."
    out = []
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out.append(rest[:n])
        body = rest[n + 2 :]
    return b"".join(out)


@contextmanager
def serving(cmd: list[str], url: str, log: Path, env: dict | None = None) -> Iterator[Served]:
    "A `ServerProcess` keeping its output in `log` (the tests wait on its lines); a frozen one is killed at the end."
    server = ServerProcess("dashboard", cmd, url + "voila/static/voila.js", env, log).start()
    try:
        server.wait_ready(STARTUP)
        yield Served(url, server.proc.pid, log)
    finally:
        server.stop(grace=10)  # a frozen server ignores SIGTERM: then SIGKILL


def close_code(client: WidgetClient, timeout: float = 20.0) -> tuple[int, str]:
    "Read what the server sends until it closes the websocket: the close code and reason."
    try:
        for _ in client.messages(timeout):
            pass
    except ConnectionClosed as closed:
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    "`animal-challenge dashboard` on a free port, with no API behind it."
    port, log = free_port(), tmp_path_factory.mktemp("dashboard") / "voila.log"
    cmd = [str(BIN / "animal-challenge"), "dashboard", "--api-url", API_DOWN, "--port", str(port)]
    url = f"http://127.0.0.1:{port}/"
    with serving(cmd, url, log) as served:
        yield served


@pytest.fixture
def dashboard(served) -> Iterator[Served]:
    "The dashboard server, with a full pool; the pages a test opens are closed after it (the cap is not in test)."
    served.wait_for_full_pool()
    yield served
    try:
        served.leave()
    except httpx.TransportError:  # frozen by the test: nothing to tidy
        served.opened.clear()


def test_an_offset_count_of_2_62_closes_the_websocket_and_the_server_keeps_answering(dashboard):
    page = dashboard.page()
    rss = dashboard.rss_mb()
    with WidgetClient.connect(dashboard.url, page.kernel_id) as visitor:
        visitor.send_raw(FREEZE)
        dashboard.assert_answers(rss)
        assert close_code(visitor) == (1007, "4611686018427387904 offsets; a kernel message has 6 to 10")
    assert dashboard.log_count(
        f"Kernel {page.kernel_id}: closing the websocket of session {visitor.session} (code 1007)"
    )


def test_widget_states_in_the_legacy_protocol_are_refused_before_the_websocket_opens(dashboard):
    "In the legacy protocol the answer with the plot's PNG froze the server (Voila reads it as a v1 frame)."
    page = dashboard.page()
    rss = dashboard.rss_mb()
    refused = None
    try:
        with WidgetClient.connect(dashboard.url, page.kernel_id, protocol="legacy") as visitor:
            visitor.states(timeout=15)  # every widget's state, the plot's PNG among them, and the answers
    except InvalidStatus as e:
        refused = e.response
    except TimeoutError:  # the answers stopped coming
        pass
    dashboard.assert_answers(rss)
    assert refused is not None and refused.status_code == 400
    assert b"This server speaks only the v1.kernel.websocket.jupyter.org kernel protocol" in refused.body


def test_a_flood_of_state_requests_is_cut_off_at_the_burst(dashboard):
    page = dashboard.page()
    rss = dashboard.rss_mb()
    with WidgetClient.connect(dashboard.url, page.kernel_id) as visitor:
        comms = visitor.comms()
        with contextlib.suppress(ConnectionClosed):  # the server closed it: the burst is passed
            for _ in range(40):  # ~130 requests a round: the burst of 400 is passed in 4, however slowly they go out
                for comm_id in comms:
                    visitor.request_state(comm_id)
        assert close_code(visitor) == (1008, "more than 400 messages at once or 20 a second")
    dashboard.assert_answers(rss)


def test_large_messages_are_cut_off_by_their_bytes(dashboard):
    "Each message is under the upload limit, but a flood of them would fill the kernel's memory: the bytes are counted."
    page = dashboard.page()
    rss = dashboard.rss_mb()
    with WidgetClient.connect(dashboard.url, page.kernel_id) as visitor:
        (comm,) = list(visitor.comms())[:1]
        padding = "x" * 600_000  # about half the largest message a page may send (an uploaded file)
        with contextlib.suppress(ConnectionClosed):  # closed by the server: the budget is spent
            for _ in range(10):
                visitor.send("comm_msg", {"comm_id": comm, "data": {"method": "custom", "content": {"pad": padding}}})
        code, reason = close_code(visitor)
    assert code == 1008 and "bytes at once or" in reason
    dashboard.assert_answers(rss)


def test_a_kernel_takes_two_websockets_at_most(dashboard):
    "The page opens one (a second while it reconnects); more would multiply what one visitor may send."
    page = dashboard.page()
    first, second = (WidgetClient.connect(dashboard.url, page.kernel_id) for _ in range(2))
    with first, second, pytest.raises(InvalidStatus) as refused:
        WidgetClient.connect(dashboard.url, page.kernel_id).close()
    assert refused.value.response.status_code == 429
    assert b"This kernel has 2 websockets open already." in refused.value.response.body


def test_the_widget_client_clicks_a_button_and_the_kernel_answers(dashboard):
    "What the page sends on a click reaches the button's handler: History's Refresh reports the API is down."
    page = dashboard.page()
    with WidgetClient.connect(dashboard.url, page.kernel_id) as visitor:
        every = visitor.states()  # asked once: the page's ~250 widgets twice would pass the burst of 400
        (refresh,) = visitor.find("ButtonModel", css_class="ac-history-refresh", states=every)
        (message,) = visitor.find("HTMLModel", css_class="ac-history-message", states=every)
        visitor.click(refresh)
        said = visitor.updates(until=lambda u: u["comm_id"] == message and "value" in u["state"])[-1]
    assert f"{API_DOWN} does not answer" in said["state"]["value"]


def test_a_visitor_who_does_not_read_is_cut_off(dashboard):
    "A 60 KB widget's state, asked for again and again and never read: the server stops at 4 MiB it could not send."
    page = dashboard.page()
    rss = dashboard.rss_mb()
    visitor = WidgetClient.connect(dashboard.url, page.kernel_id)
    (history,) = visitor.find("HTMLModel", css_class="ac-history")
    visitor.set_value(history, "x" * 60_000)
    closing = f"Kernel {page.kernel_id}: closing the websocket of session {visitor.session} (code 1008)"
    try:
        for n in [150, *[15] * 60]:  # 9 MB at once, then 0.9 MB a second (within the rate) until the server gives up
            for _ in range(n):
                visitor.request_state(history)
            if dashboard.logged_within(closing, seconds=1.0):
                break
    finally:
        visitor.ws.close_socket()
    assert dashboard.log_count(closing) and dashboard.log_count("more than 4194304 bytes sent and not read")
    dashboard.assert_answers(rss)


# -- a server with small limits: 3 kernels, culled after 3 s of idling --------------------------------------------

MAX_KERNELS = 3
CULL_AFTER = 3


def with_flag(cmd: list[str], flag: str) -> list[str]:
    "`cmd` with the flag of the same name as `flag` replaced by it (traitlets refuses a setting given twice)."
    name = flag.split("=")[0] + "="
    return [flag if f.startswith(name) else f for f in cmd]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Iterator[Served]:
    "The command `animal-challenge dashboard` runs, with at most 3 kernels and quick culling."
    port, log = free_port(), tmp_path_factory.mktemp("small") / "voila.log"
    settings = Settings(api_url=API_DOWN)
    cmd = voila_command(settings, port=port, cull_after=CULL_AFTER)
    cmd = with_flag(cmd, f"--GuardedKernelManager.max_kernels={MAX_KERNELS}")
    cmd = with_flag(cmd, "--GuardedKernelManager.max_pages_per_address=10")  # every page here comes from one address
    cmd = with_flag(cmd, "--MappingKernelManager.cull_interval=1")
    cmd = with_flag(cmd, "--VoilaKernelManager.fill_delay=0")  # a refill starts at once, not while the next page loads
    url = f"http://127.0.0.1:{port}/"
    env = dashboard_env(settings, base=dict(os.environ))
    with serving(cmd, url, log, env=env) as served:
        yield served


@pytest.fixture(scope="module")
def visitors() -> Iterator[list[WidgetClient]]:
    "The visitors of the small server, with their pages open (a kernel with a page connected is not culled)."
    found: list[WidgetClient] = []
    yield found
    for visitor in found:
        visitor.close()


def test_the_page_beyond_the_kernel_cap_gets_the_busy_page(small, visitors):
    for _ in range(MAX_KERNELS):  # the pool's two, then the refill started when the first page took its kernel
        small.wait_for_full_pool()  # Voila logs a refill refused at the cap as done too
        page = small.page()
        assert page.status == 200
        visitors.append(WidgetClient.connect(small.url, page.kernel_id))
    busy = [small.page(first_byte_within=30), small.page(first_byte_within=ANSWER_WITHIN)]
    for page in busy:
        assert page.status == 503 and page.headers["Retry-After"] == "60"
        assert "The dashboard is busy" in page.body and f"All {MAX_KERNELS} dashboard kernels are in use." in page.body
    static = small.static_file_seconds()
    assert static < ANSWER_WITHIN
    assert small.log_count(f"All {MAX_KERNELS} kernels are in use: a page gets the busy page (HTTP 503)") >= 2
    print(f"busy pages in {busy[0].total:.2f} s and {busy[1].total:.2f} s, voila.js {static:.2f} s")


def test_one_address_holds_its_share_of_pages_and_another_is_still_served(dashboard):
    "Plain GETs from one address (no browser, no websocket) take its share of kernels, no more; others still get in."
    limit = MAX_PAGES_PER_ADDRESS
    held = [dashboard.page() for _ in range(limit)]
    assert [p.status for p in held] == [200] * limit
    refused = dashboard.page()
    assert (refused.status, refused.headers.get("Retry-After")) == (429, "60"), (refused.headers, refused.body[:500])
    assert f"Your address has {limit} dashboard pages open already" in refused.body
    other = get_page(dashboard.url, 60, source="127.0.0.2")  # the pool's kernels are still there for others
    assert other.status == 200 and other.kernel_id
    dashboard.opened.append(other.kernel_id)
    assert shut_down(dashboard.url, dashboard.opened.pop(0)) == 204  # a page closed gives its place back
    again = dashboard.page()
    assert again.status == 200, again.body[:300]


def kernel_exists(served: Served, kernel_id: str) -> bool:
    return httpx.get(f"{served.url}api/kernels/{kernel_id}", timeout=10).status_code == 200


def test_idle_kernels_are_culled_and_the_pool_refills_in_their_room(small, visitors):
    "The visitors above close their pages without a word: their kernels idle, are culled, and the next page gets one."
    kernels = [v.kernel_id for v in visitors] or [small.page().kernel_id]
    for visitor in visitors:
        visitor.close()
    deadline = time.monotonic() + 60
    while any(kernel_exists(small, k) for k in kernels):
        assert time.monotonic() < deadline, "idle kernels were not culled within 60 s"
        time.sleep(0.2)
    page = small.page()
    assert page.status == 200 and page.kernel_id not in kernels


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v", "-s"]))


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory) -> Iterator[tuple[str, Served]]:
    "A real API with a model and an admin token, and a dashboard over it that holds no token (as `up` runs it)."
    from servers import data_service, running

    from animal_challenge.training import train_and_store

    tmp = tmp_path_factory.mktemp("stack")
    with data_service() as service:
        train_and_store(1, 1000, Settings(data_dir=tmp, data_service_url=service))
        api_port, port = free_port(), free_port()
        api = f"http://127.0.0.1:{api_port}"
        cmd = [str(BIN / "animal-challenge"), "api", "--port", str(api_port), "--data-dir", str(tmp)]
        env = {**os.environ, "ANIMAL_CHALLENGE_API_TOKEN": "the-admin-token-0123456789"}
        with running([*cmd, "--data-service-url", service], api + "/health", env, name="API"):
            # the settings hold the admin token, as `up`'s did: the dashboard must not hand it to its kernels
            settings = Settings(api_url=api, dashboard_port=port, api_token=env["ANIMAL_CHALLENGE_API_TOKEN"])
            url, log = f"http://127.0.0.1:{port}/", tmp / "voila.log"
            with serving(voila_command(settings), url, log, dashboard_env(settings, base={**env})) as served:
                yield api, served


def test_clicking_every_button_of_a_fresh_page_changes_no_model(guarded_stack):
    "An anonymous visitor speaking the widget protocol presses Train, Activate, Accept... : nothing changes."
    api, served = guarded_stack
    before = httpx.get(api + "/models", timeout=10).json()
    page = served.page()
    with WidgetClient.connect(served.url, page.kernel_id) as visitor:
        every = visitor.states()  # asked once: the page's ~250 widgets twice would pass the burst of 400
        (choice,) = visitor.find("DropdownModel", css_class="ac-activate-version", states=every)
        buttons = visitor.find("ButtonModel", states=every)
        assert len(buttons) >= 10
        for button in buttons:  # Models' Refresh first fills the Version choice, so Activate has a version to try
            visitor.click(button)
        visitor.set_value(choice, before[-1]["id"])  # even an inactive version chosen: Activate still needs the token
        for button in buttons:
            visitor.click(button)
        refused = visitor.updates(timeout=30, until=lambda u: "needs its admin token" in str(u["state"].get("value")))
    assert "needs its admin token: type it in the Token field" in refused[-1]["state"]["value"]
    after = httpx.get(api + "/models", timeout=10).json()
    assert [(v["id"], v["active"]) for v in after] == [(v["id"], v["active"]) for v in before]
    served.leave()
