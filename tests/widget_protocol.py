"""A dashboard visitor without a browser: opens the page, then speaks the Jupyter widget protocol to the page's kernel
by hand, the way the page's scripts do (and the way anybody who reads them can).

`WidgetClient.open(base_url)` GETs the page like a browser, takes the kernel id from the page's config and connects to
`/api/kernels/<id>/channels` with a session id. Then `comms()` lists the widget comms (`comm_info_request`),
`state(comm_id)` / `states()` read a widget's full state (`request_state`), `click(comm_id)` presses a button (what
the page sends on a click: `{"method": "custom", "content": {"event": "click"}}`) and `set_value(comm_id, value)`
changes a widget's value. `updates()` collects what the kernel sends back. The v1 kernel websocket protocol is the
default (what the page speaks); `protocol="legacy"` speaks the older JSON one (no subprotocol).

The tests use it to prove that the client works (it clicks a harmless button and sees the kernel answer) and to send
the messages a visitor can send; it is also the tool to check what an anonymous visitor can make the kernel do.
"""

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

V1 = "v1.kernel.websocket.jupyter.org"  # the kernel websocket subprotocol JupyterLab's services (and Voila's page) use
PROTOCOL_VERSION = "5.3"  # the Jupyter messaging protocol version of the messages sent
KERNEL_ID = re.compile(r'"kernelId": "([0-9a-f-]{36})"')  # where Voila's page names its kernel (page config)


def kernel_id_of(page: str) -> str:
    "The id of the kernel a Voila page was rendered with, from the page's HTML."
    found = KERNEL_ID.search(page)
    if found is None:
        raise ValueError("no kernelId in the page: not a Voila page, or the page was refused")
    return found.group(1)


def shut_down(base_url: str, kernel_id: str) -> int:
    "Ask Voila to stop the kernel `kernel_id`, as a page does when it unloads; the HTTP status (204: stopped)."
    xsrf = uuid.uuid4().hex  # tornado only checks that the header repeats the cookie
    headers = {"X-XSRFToken": xsrf, "Cookie": f"_xsrf={xsrf}"}
    return httpx.post(f"{base_url}voila/api/shutdown/{kernel_id}", headers=headers, timeout=30).status_code


def pack_v1(channel: str, parts: list[bytes]) -> bytes:
    "A v1 kernel websocket frame: offset count, offsets, channel name, then header, parent, metadata, content, buffers."
    chunks = [channel.encode(), *parts]
    offsets = [8 * (1 + len(chunks) + 1)]
    for chunk in chunks:
        offsets.append(offsets[-1] + len(chunk))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return head + b"".join(chunks)


def unpack_v1(frame: bytes) -> tuple[str, list[bytes]]:
    "Channel name and message parts of a v1 frame (the server's frames are trusted: no bounds checks)."
    n = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(n)]
    parts = [frame[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]  # n offsets bound n - 1 parts
    return parts[0].decode(), parts[1:]


def unpack_legacy_binary(frame: bytes) -> dict:
    "A message with buffers in the legacy protocol: part count, big-endian 32-bit offsets, JSON, buffers."
    n = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(n)]
    parts = [frame[a:b] for a, b in zip(offsets, [*offsets[1:], len(frame)], strict=True)]
    msg = json.loads(parts[0])
    msg["buffers"] = parts[1:]
    return msg


@dataclass
class WidgetClient:
    "One visitor's connection to the kernel of one dashboard page."

    base_url: str  # the dashboard, e.g. http://127.0.0.1:8866/
    kernel_id: str
    ws: ClientConnection
    protocol: str = "v1"  # "v1" or "legacy"
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    seen: list[dict] = field(default_factory=list)  # every message received, oldest first

    @classmethod
    def open(
        cls,
        base_url: str,  # the dashboard's URL, ending in /
        protocol: str = "v1",  # the kernel websocket protocol to speak: "v1" (as the page) or "legacy"
        timeout: float = 30.0,  # seconds for the page and for the websocket handshake
    ) -> "WidgetClient":
        "GET the page like a browser, then connect to its kernel's websocket as the page's scripts do."
        page = httpx.get(base_url, timeout=timeout)
        page.raise_for_status()
        return cls.connect(base_url, kernel_id_of(page.text), protocol, timeout)

    @classmethod
    def connect(cls, base_url: str, kernel_id: str, protocol: str = "v1", timeout: float = 30.0) -> "WidgetClient":
        "Connect to the websocket of kernel `kernel_id` (of a page already rendered)."
        session = uuid.uuid4().hex
        url = base_url.replace("http", "ws", 1).rstrip("/") + f"/api/kernels/{kernel_id}/channels?session_id={session}"
        ws = connect(
            url,
            subprotocols=[V1] if protocol == "v1" else None,
            open_timeout=timeout,
            max_size=None,  # the kernel's answers can be large (a widget's state holds the plot's PNG)
            compression=None,
            ping_interval=None,
            proxy=None,
        )
        ws.__enter__()  # used as its own context manager (websockets deprecates a bare connection); close() ends it
        return cls(base_url, kernel_id, ws, protocol, session)

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> "WidgetClient":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    # -- the wire -------------------------------------------------------------------------------------------------

    def frame(self, msg_type: str, content: dict, channel: str = "shell", buffers: list[bytes] = ()) -> tuple:
        "A message of the Jupyter protocol as this client's protocol puts it on the wire: (msg_id, data)."
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "session": self.session,
            "username": "visitor",
            "date": datetime.now(UTC).isoformat(),
            "version": PROTOCOL_VERSION,
        }
        if self.protocol == "v1":
            parts = [json.dumps(p).encode() for p in (header, {}, {}, content)]
            return msg_id, pack_v1(channel, [*parts, *buffers])
        msg = {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": channel}
        return msg_id, json.dumps(msg)

    def send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        "Send one message to the kernel; its msg_id (the parent id of the kernel's answers)."
        msg_id, data = self.frame(msg_type, content, channel)
        self.ws.send(data)
        return msg_id

    def send_raw(self, data: bytes | str) -> None:
        "Put `data` on the wire as one websocket message, as it is."
        self.ws.send(data)

    def decode(self, data: bytes | str) -> dict:
        "A received websocket message as a dict with channel, header, parent_header, content and buffers."
        if self.protocol == "v1":
            channel, parts = unpack_v1(data)
            header, parent, metadata, content = (json.loads(p) for p in parts[:4])
            return {
                "channel": channel,
                "header": header,
                "parent_header": parent,
                "metadata": metadata,
                "content": content,
                "buffers": parts[4:],
            }
        return unpack_legacy_binary(data) if isinstance(data, bytes) else {"buffers": [], **json.loads(data)}

    def recv(self, timeout: float) -> dict:
        "The next message from the kernel (TimeoutError after `timeout` seconds)."
        msg = self.decode(self.ws.recv(timeout=timeout))
        self.seen.append(msg)
        return msg

    def messages(self, timeout: float = 10.0) -> Iterator[dict]:
        "Messages from the kernel as they come, until `timeout` seconds have passed (then TimeoutError)."
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no awaited message from kernel {self.kernel_id} within {timeout} s")
            yield self.recv(left)

    def reply(self, msg_id: str, msg_type: str, timeout: float = 10.0) -> dict:
        "The kernel's `msg_type` message answering the request `msg_id`."
        for msg in self.messages(timeout):
            if msg["parent_header"].get("msg_id") == msg_id and msg["header"]["msg_type"] == msg_type:
                return msg
        raise AssertionError("unreachable")

    # -- the widget protocol ------------------------------------------------------------------------------------

    def comms(self, timeout: float = 10.0) -> dict[str, str]:
        "Every widget comm the kernel has open: comm id -> target name (`comm_info_request`)."
        msg_id = self.send("comm_info_request", {"target_name": "jupyter.widget"})
        reply = self.reply(msg_id, "comm_info_reply", timeout)
        return {cid: info["target_name"] for cid, info in reply["content"]["comms"].items()}

    def request_state(self, comm_id: str) -> str:
        "Ask for a widget's full state, without waiting for it (what the page does for every widget it draws)."
        return self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})

    def state(self, comm_id: str, timeout: float = 10.0) -> dict:
        "A widget's full state: its model name, its value, its description..."
        msg_id = self.request_state(comm_id)
        for msg in self.messages(timeout):
            data = msg["content"].get("data", {})
            if msg["parent_header"].get("msg_id") == msg_id and data.get("method") == "update":
                return data["state"]
        raise AssertionError("unreachable")

    def states(self, timeout: float = 30.0) -> dict[str, dict]:
        "The state of every widget of the page, asked for all at once as the page does: comm id -> state."
        asked = {self.request_state(cid): cid for cid in self.comms(timeout)}
        found = {}
        for msg in self.messages(timeout):
            data = msg["content"].get("data", {})
            if msg["parent_header"].get("msg_id") in asked and data.get("method") == "update":
                found[asked[msg["parent_header"]["msg_id"]]] = data["state"]
                if len(found) == len(asked):
                    return found
        raise AssertionError("unreachable")

    def find(
        self, model: str, css_class: str | None = None, timeout: float = 30.0, states: dict | None = None, **attrs: Any
    ) -> list[str]:
        "Comm ids of the widgets of `model` (e.g. 'ButtonModel') with CSS class `css_class` and the state `attrs`."
        # each call without `states` asks for every widget's state (~250 messages): the guard's burst is 400
        return [
            cid
            for cid, state in (states if states is not None else self.states(timeout)).items()
            if state.get("_model_name") == model
            and (css_class is None or css_class in state.get("_dom_classes", ()))
            and all(state.get(k) == v for k, v in attrs.items())
        ]

    def click(self, comm_id: str) -> str:
        "Press the button of comm `comm_id`, as the page does when it is clicked."
        return self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}})

    def set_value(self, comm_id: str, value: Any, name: str = "value") -> str:
        "Set a widget's `name` (its value by default), as the page does when the user changes it."
        data = {"method": "update", "state": {name: value}, "buffer_paths": []}
        return self.send("comm_msg", {"comm_id": comm_id, "data": data})

    def updates(self, timeout: float = 10.0, until: Any = None) -> list[dict]:
        "The widget updates the kernel sends (`comm_msg` with method update: comm id and state), until `until(update)`."
        found = []
        for msg in self.messages(timeout):
            data = msg["content"].get("data", {})
            if msg["header"]["msg_type"] == "comm_msg" and data.get("method") == "update":
                found.append({"comm_id": msg["content"]["comm_id"], "state": data["state"]})
                if until is None or until(found[-1]):
                    return found
        raise AssertionError("unreachable")
