"""The retention engine (P05/P16, P07, P14/P15, P17, P18): one run applies every rule and
writes one report.

Rules, in the order a run applies them:

* ``terminated_workspaces``: workspaces whose 30-day grace after termination has ended are
  deleted by ``heroshhi.workspaces.termination`` (its keys destroyed there);
* ``audit``: audit events older than 365 days are purged by ``audit_purge_expired``, which
  seals a checkpoint first so each chain stays verifiable;
* ``trash``: leads in the trash for 30 days are hard-deleted with everything that cascades
  from them (messages, conversations, calls, notes, tasks, timeline, consent records);
* ``message_retention``: where the owner chose it, messages older than N days are deleted
  (the conversation rows stay);
* ``inactive_leads``: where the owner chose it, leads with no activity for N months move
  to the trash (and so leave for good 30 days later).

Exempt by construction, because no rule names them: the opt-out ledger (P18) and the
analytics aggregates, which hold no personal data.

The engine is the only scheduler of these purges: the daily beat entry runs
``heroshhi.privacy.tasks.retention_run_daily`` and the separate audit and trash beat
entries were retired, so the report sees every deletion.

Safety: each batch is its own transaction and each rule only ever selects what is still
due, so a run can stop anywhere (crash, deploy, batch budget) and the next run finishes the
work; re-running changes nothing that is already done. A lock row keeps two runs from
working at once; a run whose heartbeat stopped for ``LOCK_STALE`` is taken over.
"""
