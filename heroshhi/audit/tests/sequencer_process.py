"""The audit sequencer in a process of its own that stops, transaction open, in its second
batch: after the batch's rows and the chain head are written, before the commit. It prints
``holding`` then and waits to be killed (``test_sequencer_killed.py``).

    python -m heroshhi.audit.tests.sequencer_process <chain> <batch size>
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any
from unittest import mock

import django


def main(chain: str, batch_size: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    django.setup()
    from heroshhi.audit import sequencer
    from heroshhi.audit.models import AuditChainHead

    save = AuditChainHead.save
    heads_moved = 0

    def move_head_then_hold(head: AuditChainHead, *args: Any, **kwargs: Any) -> None:
        nonlocal heads_moved
        save(head, *args, **kwargs)
        heads_moved += 1
        if heads_moved == 2:
            print("holding", flush=True)
            time.sleep(600)

    with mock.patch.object(AuditChainHead, "save", move_head_then_hold):
        sequencer.audit_sequence(chain, batch_size=batch_size)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
