from django.urls import path

from heroshhi.leads import (
    views,
    views_assignment,
    views_custom_fields,
    views_import,
    views_merge,
    views_pipeline,
    views_tasks,
)

app_name = "leads"

urlpatterns = [
    path("", views.lead_list, name="list"),
    path("new/", views.lead_new, name="create"),
    path("trash/", views.trash_list, name="trash"),
    path("bulk/", views.lead_bulk, name="bulk"),
    path("export.csv", views.lead_export, name="export"),
    path("import/", views_import.import_upload, name="import"),
    path("import/<uuid:import_id>/", views_import.import_map, name="import_map"),
    path("import/<uuid:import_id>/progress/", views_import.import_progress, name="import_progress"),
    path("import/<uuid:import_id>/errors.csv", views_import.import_report, name="import_report"),
    path("stages/", views_pipeline.stage_settings, name="stages"),
    path("stages/<uuid:stage_id>/", views_pipeline.stage_edit, name="stage_edit"),
    path("stages/<uuid:stage_id>/move/", views_pipeline.stage_reorder, name="stage_move"),
    path("stages/<uuid:stage_id>/delete/", views_pipeline.stage_remove, name="stage_delete"),
    path("fields/", views_custom_fields.custom_field_settings, name="custom_fields"),
    path(
        "fields/<uuid:field_id>/", views_custom_fields.custom_field_edit, name="custom_field_edit"
    ),
    path(
        "fields/<uuid:field_id>/move/",
        views_custom_fields.custom_field_reorder,
        name="custom_field_move",
    ),
    path(
        "fields/<uuid:field_id>/remove/",
        views_custom_fields.custom_field_remove,
        name="custom_field_remove",
    ),
    path(
        "fields/<uuid:field_id>/restore/",
        views_custom_fields.custom_field_unarchive,
        name="custom_field_restore",
    ),
    path("board/", views_pipeline.board, name="board"),
    path("board/<uuid:lead_id>/move/", views_pipeline.board_move, name="board_move"),
    path("assignment/", views_assignment.assignment_settings, name="assignment"),
    path("notifications/", views_assignment.notifications, name="notifications"),
    path("notifications/read/", views_assignment.notifications_read, name="notifications_read"),
    path("tasks/", views_tasks.my_tasks, name="tasks"),
    path("tasks/<uuid:task_id>/done/", views_tasks.task_done, name="task_done"),
    path("tasks/<uuid:task_id>/reopen/", views_tasks.task_undo, name="task_reopen"),
    path("<uuid:lead_id>/", views.lead_detail, name="detail"),
    path("<uuid:lead_id>/edit/", views.lead_edit, name="edit"),
    path("<uuid:lead_id>/take/", views_assignment.lead_take, name="take"),
    path("<uuid:lead_id>/notes/", views.note_new, name="note_add"),
    path("<uuid:lead_id>/tasks/", views_tasks.task_add, name="task_add"),
    path("<uuid:lead_id>/delete/", views.lead_delete, name="delete"),
    path("<uuid:lead_id>/restore/", views.lead_undelete, name="restore"),
    path("<uuid:lead_id>/merge/", views_merge.lead_merge_page, name="merge"),
]
