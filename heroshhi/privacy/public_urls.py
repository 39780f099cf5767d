from django.urls import path

from heroshhi.privacy import public_views

app_name = "privacy_public"

urlpatterns = [
    path("", public_views.public_request, name="form"),
]
