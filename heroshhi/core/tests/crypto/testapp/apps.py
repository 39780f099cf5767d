from django.apps import AppConfig


class CryptoTestAppConfig(AppConfig):
    """Concrete models for the field-encryption tests; installed by config/settings_test.py."""

    name = "heroshhi.core.tests.crypto.testapp"
    label = "crypto_testapp"
    default_auto_field = "django.db.models.BigAutoField"
