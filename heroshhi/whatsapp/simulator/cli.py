"""`python -m heroshhi.whatsapp.simulator <command>`: run the simulator or poke a running one."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .client import SimulatorClient, SimulatorError

DEFAULT_URL = "http://127.0.0.1:8790"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m heroshhi.whatsapp.simulator")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the simulator in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8790)
    serve.add_argument("--config", help="JSON file with numbers, templates and settings")
    serve.add_argument("--auto-read", action="store_true", help="customers read every message")
    serve.add_argument("--latency-ms", type=int, help="delay before each status webhook")

    def client_command(name: str, help: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help)
        command.add_argument(
            "--url", default=os.environ.get("HEROSHHI_WA_SIMULATOR_URL", DEFAULT_URL)
        )
        command.add_argument("--phone-number-id", help="business number (if several)")
        return command

    say = client_command("say", help="the customer sends a message")
    say.add_argument("--from", dest="from_", required=True, help="customer number, digits")
    say.add_argument("--name", help="customer profile name")
    say.add_argument("--text", default="")
    say.add_argument("--type", default="text", help="text, image, document, location, ...")
    for name, help in (("stop", "Stop promotions"), ("resume", "resume marketing messages")):
        preference = client_command(name, help=f"user_preferences: {help}")
        preference.add_argument("--from", dest="from_", required=True)
    call = client_command("call", help="the customer calls (calls webhook)")
    call.add_argument("--from", dest="from_", required=True)
    call.add_argument("--event", default="connect", choices=["connect", "terminate"])
    call.add_argument("--call-id")
    call.add_argument("--duration", type=int, default=0)
    call.add_argument("--status", default="COMPLETED", choices=["COMPLETED", "FAILED"])
    read = client_command("read", help="the customer opens the chat (read statuses)")
    read.add_argument("--to", required=True)
    outbox = client_command("outbox", help="messages the business sent")
    outbox.add_argument("--to")
    log = client_command("log", help="webhooks the simulator posted")
    log.add_argument("--bodies", action="store_true")
    reset = client_command("reset", help="forget messages and customers")
    reset.add_argument("--everything", action="store_true", help="numbers and templates too")
    clock = client_command("clock", help="move simulated time forward")
    clock.add_argument("seconds", type=float)
    config = client_command("config", help="change settings: KEY=JSON_VALUE ...")
    config.add_argument("pairs", nargs="*")
    return parser


def _run(args: argparse.Namespace, client: SimulatorClient) -> Any:
    number = args.phone_number_id
    match args.command:
        case "say":
            return client.inbound(
                from_=args.from_,
                type=args.type,
                text=args.text,
                name=args.name,
                phone_number_id=number,
            )
        case "stop" | "resume":
            return client.user_preferences(
                wa_id=args.from_, value=args.command, phone_number_id=number
            )
        case "call":
            return client.call(
                from_=args.from_,
                event=args.event,
                call_id=args.call_id,
                duration=args.duration,
                status=args.status,
                phone_number_id=number,
            )
        case "read":
            return client.read(to=args.to, phone_number_id=number)
        case "outbox":
            return client.outbox(phone_number_id=number, to=args.to)
        case "log":
            return client.webhook_log(bodies=args.bodies)
        case "reset":
            client.reset(everything=args.everything)
            return {"ok": True}
        case "clock":
            return {"offset_seconds": client.advance_clock(args.seconds)}
        case "config":
            changes = {}
            for pair in args.pairs:
                key, _, value = pair.partition("=")
                try:
                    changes[key] = json.loads(value)
                except ValueError:
                    changes[key] = value
            return client.configure(**changes) if changes else client.settings()
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from .server import serve

        settings: dict[str, Any] = {}
        if args.auto_read:
            settings["auto_read"] = True
        if args.latency_ms is not None:
            settings["latency_ms"] = args.latency_ms
        serve(host=args.host, port=args.port, config_path=args.config, settings=settings)
        return 0
    with SimulatorClient(args.url) as client:
        try:
            result = _run(args, client)
        except SimulatorError as error:
            print(json.dumps({"status": error.status, "error": error.payload}, indent=2))
            return 1
    if isinstance(result, dict):
        result.pop("body", None)  # the webhook body is in `log --bodies`
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
