from django.urls import path

from heroshhi.leads import views

app_name = "leads"

urlpatterns = [
    path("", views.lead_list, name="list"),
    path("new/", views.lead_new, name="create"),
    path("trash/", views.trash_list, name="trash"),
    path("<uuid:lead_id>/", views.lead_detail, name="detail"),
    path("<uuid:lead_id>/edit/", views.lead_edit, name="edit"),
    path("<uuid:lead_id>/notes/", views.note_new, name="note_add"),
    path("<uuid:lead_id>/delete/", views.lead_delete, name="delete"),
    path("<uuid:lead_id>/restore/", views.lead_undelete, name="restore"),
]
