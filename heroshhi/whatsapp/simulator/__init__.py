"""A local WhatsApp Cloud API (Meta Graph API) for development and tests.

It plays Meta: the app sends to it exactly as it would to graph.facebook.com and receives signed
webhooks from it. It has no Django dependency at runtime (it is the outside world).

Run it:
    python -m heroshhi.whatsapp.simulator serve --port 8790 [--host 127.0.0.1]
        [--config var/wa-simulator.json] [--auto-read] [--latency-ms 150]
    python -m heroshhi.whatsapp.simulator say --from 919876543210 --name Asha --text Hi
    python -m heroshhi.whatsapp.simulator stop|resume --from 919876543210
    python -m heroshhi.whatsapp.simulator call --from 919876543210 [--event terminate]
    python -m heroshhi.whatsapp.simulator read|outbox --to 919876543210 ; log ; reset ; clock 90000
(`--url` or HEROSHHI_WA_SIMULATOR_URL points the client commands elsewhere; `--phone-number-id`
is needed only when several numbers are registered.)
In-process: `with running_simulator(port=0, latency_ms=0) as sim: ...` yields a
`SimulatorClient` (see client.py) with `.base_url`.

Config file (JSON, optional):
    {"numbers": [{"phone_number_id", "waba_id", "display_phone_number", "access_token",
                  "app_secret", "webhook_url", "throughput_per_second"?, "verify_token"?,
                  "verified_name"?}],
     "templates": {"<waba_id>": [{"name", "language", "category", "status",
                   "parameter_format", "components": [{"type": "BODY", "text": "Hi {{1}}"}],
                   "id"?}]},
     "settings": {<any /_sim/config key>}}
A WABA with no templates configured gets the defaults (defaults.py): welcome_offer (MARKETING,
en, 1 param), appointment_reminder (UTILITY, en, 2), lead_followup (MARKETING, en, 2),
order_update_hi (UTILITY, hi, 1), old_promo (PAUSED), rejected_promo (REJECTED).

Graph API (any /vN.M/ prefix; `Authorization: Bearer <number's access_token>`):
    POST /vN/{phone_number_id}/messages   send or mark read. Synchronous errors (Graph envelope
        error{message, type: OAuthException, code, error_subcode?, error_data{details},
        fbtrace_id}): bad token 401/190, unknown number 400/100, bad payload 400/100 (131008,
        131009 for media/interactive values), template missing/unapproved 132001, paused
        132015, disabled 132016, parameter count 132000, throughput 429/130429, pair rate
        400/131056. Asynchronous outcome as signed status webhooks: sent, delivered
        (auto_deliver), read (auto_read or /_sim/read), or one "failed" with errors[]:
        131047 free-form outside the 24 h window (simulated clock), 131050 MARKETING template
        after user_preferences stop, 131026 recipient listed in settings.undeliverable.
    GET  /vN/{waba_id}/message_templates?limit=&after=&fields=&status=&name=&category=&language=
    GET  /vN/{media_id}  -> {url, mime_type, sha256, file_size, id, messaging_product}
    GET  /vN/{phone_number_id} -> display_phone_number, verified_name, quality_rating, ...
    GET  /media-download/{media_id} (bearer) -> the bytes

Webhooks: POST to the number's webhook_url, body = Meta's envelope (compact JSON, escaped
unicode), header X-Hub-Signature-256: sha256=HMAC-SHA256(app_secret, raw body). A non-200
answer is retried max_retries times, backoff retry_backoff_seconds doubling. Every POST (first
try, retry, duplicate) is in the webhook log.

Control API (JSON, no auth; errors are {"error": {"code", "message", "fields"}} with 400/404;
phone_number_id may be omitted when exactly one number is registered):
    GET  /_sim/health                      {"ok": true}
    GET  /_sim/numbers                     {"numbers": [...]} (no secrets)
    POST /_sim/numbers                     upsert one number (config fields) -> {"number"}
    GET  /_sim/templates?waba_id=          {"templates": [...]} (configured or defaults)
    POST /_sim/templates                   {waba_id, templates: [...]} replaces that WABA's set
    GET  /_sim/config                      {"settings": {...}}
    POST /_sim/config                      any of: latency_ms (150), auto_deliver (true),
        auto_read (false), duplicate (0: extra copies of every webhook), reorder (false:
        a message's statuses newest first), batch (false: statuses due within batch_window_ms
        (250) go in one POST, one entry per message, all its statuses in one change),
        throughput_per_second (null = the number's own, default 80), pair_limit (10),
        pair_window_seconds (6), max_retries (3), retry_backoff_seconds (1.0),
        webhook_timeout_seconds (10), undeliverable ([digits]) -> {"settings"}
    POST /_sim/reset                       {everything?: false}. Clears messages, customers,
        windows, preferences, media, the webhook log, pending webhooks, the clock; settings
        and templates go back to the config file's (or the defaults). Numbers registered at
        runtime stay (re-registering is an upsert) unless everything=true.
    POST /_sim/clock                       {advance_seconds} -> {offset_seconds, now}
    POST /_sim/inbound                     {phone_number_id, from, name, type (text|button|
        interactive|image|document|audio|video|sticker|location|reaction|contacts|
        unsupported), text, button_payload, button_text, interactive_type (button_reply|
        list_reply), reply_id, reply_title, reply_description, media {filename, mime_type,
        caption, voice}, location {latitude, longitude, name, address}, contacts [...],
        referral {...}, user_id (default derived BSUID), omit_wa_id, context_id (default for
        button/interactive/reaction: the last message sent to this customer)}
        -> {wamid, wa_id, user_id, delivered_status (app's HTTP status or null), body}.
        Opens the customer's 24 h window.
    POST /_sim/user_preferences            {phone_number_id, wa_id, value: stop|resume, name?,
        omit_wa_id?} -> {delivered_status, body}
    POST /_sim/calls                       {phone_number_id, from, event: connect|terminate,
        call_id?, direction (USER_INITIATED), status (COMPLETED|FAILED), duration, name?}
        -> {call_id, delivered_status, body}
    POST /_sim/read                        {phone_number_id, to} customer opens the chat: read
        statuses for everything delivered and unread -> {wamids}
    POST /_sim/deliver                     {phone_number_id, to} phone comes online (when
        auto_deliver is off): delivered statuses -> {wamids}
    GET  /_sim/outbox?phone_number_id=&to= {"messages": [{wamid, to, type, text, template,
        category, status, error_code, biz_opaque_callback_data, ...}]}
    GET  /_sim/conversation?phone_number_id=&wa_id=  both directions + window_open, marketing
    GET  /_sim/webhook-log?bodies=1&since=N  {"entries": [{seq, at, url, kind, fields,
        item_ids, attempt, duplicate, response_status, error, body?}]}
    POST /_sim/raw-webhook                 {phone_number_id, body (object or verbatim string),
        sign (true), signature_override} -> {delivered_status} (no retries)
    POST /_sim/verify                      {phone_number_id, verify_token?} GET hub.challenge
        handshake -> {ok, status, body}
    GET  /_sim/customer                    "simulate a customer" page (+ customer.js/.css)
"""

from .client import SimulatorClient, SimulatorError
from .server import running_simulator

__all__ = ["SimulatorClient", "SimulatorError", "running_simulator"]
