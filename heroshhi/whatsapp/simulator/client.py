"""`SimulatorClient`: the control API from Python (tests, the CLI, the demo seed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Self

import httpx


class SimulatorError(Exception):
    """The control API said no (400/404) or the simulator is not reachable."""

    def __init__(self, status: int | None, payload: Any) -> None:
        super().__init__(f"simulator answered {status}: {payload}")
        self.status = status
        self.payload = payload


class SimulatorClient:
    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        # trust_env=False: proxies from the environment must not capture loopback calls.
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def graph_url(self, version: str = "v23.0") -> str:
        return f"{self.base_url}/{version}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"/_sim/{path}", **kwargs)
        except httpx.HTTPError as error:
            raise SimulatorError(None, type(error).__name__) from error
        payload = response.json()
        if response.status_code != 200:
            raise SimulatorError(response.status_code, payload)
        return payload

    # -- setup ---------------------------------------------------------------------------

    def health(self) -> bool:
        return bool(self._call("GET", "health")["ok"])

    def add_number(
        self,
        *,
        phone_number_id: str,
        waba_id: str,
        display_phone_number: str,
        access_token: str,
        app_secret: str,
        webhook_url: str = "",
        **extra: Any,
    ) -> dict[str, Any]:
        """Register (or update) a business number; extra: throughput_per_second,
        verify_token, verified_name."""
        body = {
            "phone_number_id": phone_number_id,
            "waba_id": waba_id,
            "display_phone_number": display_phone_number,
            "access_token": access_token,
            "app_secret": app_secret,
            "webhook_url": webhook_url,
            **extra,
        }
        return self._call("POST", "numbers", json=body)["number"]

    def numbers(self) -> list[dict[str, Any]]:
        return self._call("GET", "numbers")["numbers"]

    def set_templates(self, waba_id: str, templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"waba_id": waba_id, "templates": templates}
        return self._call("POST", "templates", json=body)["templates"]

    def templates(self, waba_id: str) -> list[dict[str, Any]]:
        return self._call("GET", "templates", params={"waba_id": waba_id})["templates"]

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "config", json=settings)["settings"]

    def settings(self) -> dict[str, Any]:
        return self._call("GET", "config")["settings"]

    def reset(self, *, everything: bool = False) -> None:
        self._call("POST", "reset", json={"everything": everything})

    def advance_clock(self, seconds: float) -> float:
        return float(
            self._call("POST", "clock", json={"advance_seconds": seconds})["offset_seconds"]
        )

    # -- the customer --------------------------------------------------------------------

    def inbound(
        self, *, from_: str, type: str = "text", phone_number_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The customer sends a message. Returns wamid, wa_id, user_id, delivered_status
        (the app's HTTP status) and the webhook body."""
        body = {"from": from_, "type": type, "phone_number_id": phone_number_id, **fields}
        return self._call("POST", "inbound", json=body)

    def say(
        self, *, from_: str, text: str, name: str | None = None, phone_number_id: str | None = None
    ) -> dict[str, Any]:
        return self.inbound(from_=from_, text=text, name=name, phone_number_id=phone_number_id)

    def user_preferences(
        self, *, wa_id: str, value: str, phone_number_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """value: "stop" (Stop promotions) or "resume"."""
        body = {"wa_id": wa_id, "value": value, "phone_number_id": phone_number_id, **fields}
        return self._call("POST", "user_preferences", json=body)

    def call(
        self,
        *,
        from_: str,
        event: str = "connect",
        phone_number_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """fields: call_id, direction, status (COMPLETED/FAILED), duration, name."""
        body = {"from": from_, "event": event, "phone_number_id": phone_number_id, **fields}
        return self._call("POST", "calls", json=body)

    def read(self, *, to: str, phone_number_id: str | None = None) -> list[str]:
        body = {"to": to, "phone_number_id": phone_number_id}
        return self._call("POST", "read", json=body)["wamids"]

    def deliver(self, *, to: str, phone_number_id: str | None = None) -> list[str]:
        body = {"to": to, "phone_number_id": phone_number_id}
        return self._call("POST", "deliver", json=body)["wamids"]

    # -- inspection ----------------------------------------------------------------------

    def outbox(
        self, *, phone_number_id: str | None = None, to: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"phone_number_id": phone_number_id, "to": to}.items() if v}
        return self._call("GET", "outbox", params=params)["messages"]

    def conversation(self, *, wa_id: str, phone_number_id: str | None = None) -> dict[str, Any]:
        params = {
            k: v for k, v in {"phone_number_id": phone_number_id, "wa_id": wa_id}.items() if v
        }
        return self._call("GET", "conversation", params=params)

    def webhook_log(self, *, bodies: bool = False, since: int = 0) -> list[dict[str, Any]]:
        params = {"bodies": "1" if bodies else "0", "since": str(since)}
        return self._call("GET", "webhook-log", params=params)["entries"]

    def wait_for_webhooks(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        *,
        timeout: float = 5.0,
        bodies: bool = True,
    ) -> list[dict[str, Any]]:
        """Poll the webhook log until predicate(entries) holds; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.webhook_log(bodies=bodies)
            if predicate(entries):
                return entries
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook log did not reach the expected state: {entries!r}")
            time.sleep(0.02)

    def raw_webhook(
        self,
        *,
        body: Any,
        phone_number_id: str | None = None,
        sign: bool = True,
        signature_override: str | None = None,
    ) -> int | None:
        """POST an arbitrary body (object, or string sent verbatim) to the number's webhook."""
        payload = {
            "phone_number_id": phone_number_id,
            "body": body,
            "sign": sign,
            "signature_override": signature_override,
        }
        return self._call("POST", "raw-webhook", json=payload)["delivered_status"]

    def verify(
        self, *, phone_number_id: str | None = None, verify_token: str | None = None
    ) -> dict[str, Any]:
        """Meta's GET hub.challenge handshake against the number's webhook_url."""
        body = {"phone_number_id": phone_number_id, "verify_token": verify_token}
        return self._call("POST", "verify", json=body)
