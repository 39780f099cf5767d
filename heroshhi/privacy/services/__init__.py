"""Every write of the privacy engine, one module per entity: requests and their deadlines,
the rights' actions (access export, erasure, restriction, objection), holidays and reminders.
"""
