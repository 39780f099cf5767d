from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    name = "heroshhi.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # The embedded broker keeps its queue in folders that must exist before anyone
        # publishes or consumes.
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            for option in ("data_folder_in", "control_folder", "processed_folder"):
                Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[option])).mkdir(
                    parents=True, exist_ok=True
                )
