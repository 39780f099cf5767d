"""The platform admin console: business accounts, suspension and platform security events.

For staff (``User.is_staff``) only. Staff are not members of any workspace, so nothing here
reads a workspace's leads, messages, notes or its people: only counts, status and the
platform audit chain (PRODUCT.md, need-to-know).
"""
