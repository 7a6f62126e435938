from django.urls import path

from coordlab.consumers import LabConsumer
from coordlab.terminal import TerminalConsumer

websocket_urlpatterns = [
    path("ws/labs/<str:lab_id>/terminal/", TerminalConsumer.as_asgi()),
    path("ws/labs/<str:lab_id>/", LabConsumer.as_asgi()),
]
