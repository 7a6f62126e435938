from django.contrib import admin
from django.templatetags.static import static
from django.urls import path
from django.views.generic.base import RedirectView

from coordlab import classrooms, views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("labs/new/<slug:slug>/", views.start_lab, name="start-lab"),
    path("labs/<str:lab_id>/", views.lab_page, name="lab"),
    path("labs/<str:lab_id>/fork/", views.fork_lab, name="fork-lab"),
    path("labs/<str:lab_id>/close/", views.close_lab, name="close-lab"),
    path("join/", classrooms.join, name="join"),
    path("classrooms/new/<slug:slug>/", classrooms.start_classroom, name="start-classroom"),
    path("classrooms/<str:code>/", classrooms.classroom, name="classroom"),
    path("classrooms/<str:code>/control/", classrooms.control, name="classroom-control"),
    path("classrooms/<str:code>/watchers/", classrooms.watchers, name="classroom-watchers"),
    path("admin/", admin.site.urls),
    # pages without our <link rel="icon"> (Django's admin) make browsers ask for /favicon.ico
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]
