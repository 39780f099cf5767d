"""Public fingerprints of secret keys, so a key can be named (in a backup manifest, an error
message) without being revealed.

``HMAC-SHA256(key, label | purpose)``, 16 hex digits: keyed by the secret itself, so the
fingerprint is not a plain hash reusable elsewhere, and a different purpose gives a different
fingerprint for the same bytes. 64 bits tell keys apart and reveal nothing useful about them.
"""

from __future__ import annotations

import hashlib
import hmac

_LABEL = b"heroshhi/key-fingerprint/v1|"
FINGERPRINT_HEX_DIGITS = 16


def key_fingerprint(secret: bytes | str, *, purpose: str) -> str:
    material = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(material, _LABEL + purpose.encode(), hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_HEX_DIGITS]
