#!/usr/bin/env bash
# Django's deployment checklist against production-like settings; any warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
random_b64() { "$py" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'; }
export DJANGO_ENV=production
export DJANGO_DEBUG=false
export DJANGO_SECRET_KEY="$("$py" -c 'import secrets; print(secrets.token_urlsafe(64))')"
export HEROSHHI_MASTER_KEYS="k1:$(random_b64)"
export HEROSHHI_AUDIT_KEY="$(random_b64)"
export HEROSHHI_BACKUP_KEY="$(random_b64)"
export DJANGO_ALLOWED_HOSTS=crm.example.com
export EMAIL_HOST=smtp.example.com
export HEROSHHI_VAR_DIR="$tmp"
exec "$py" manage.py check --deploy --fail-level WARNING
