from django.contrib import admin
from django.urls import path

from coordlab import views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("labs/new/<slug:slug>/", views.start_lab, name="start-lab"),
    path("labs/<str:lab_id>/", views.lab_page, name="lab"),
    path("admin/", admin.site.urls),
]
