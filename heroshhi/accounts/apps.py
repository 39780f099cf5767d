from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "heroshhi.accounts"
    label = "accounts"
    verbose_name = "Accounts"
