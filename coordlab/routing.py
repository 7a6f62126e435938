"""WebSocket routes: a lab's browser socket and its terminal socket. Any other path
(an empty id, an encoded slash, a typo) reaches ``NoSuchSocket``, which refuses the
handshake (HTTP 403) instead of failing with a server error."""

from django.urls import re_path

from coordlab.consumers import LabConsumer, NoSuchSocket
from coordlab.terminal import TerminalConsumer

#: lab ids as ``coordlab.labs.engine.new_lab_id`` makes them (and a little more, for older ones)
LAB_ID = r"(?P<lab_id>[A-Za-z0-9_-]{1,16})"

websocket_urlpatterns = [
    re_path(rf"^ws/labs/{LAB_ID}/terminal/$", TerminalConsumer.as_asgi()),
    re_path(rf"^ws/labs/{LAB_ID}/$", LabConsumer.as_asgi()),
    re_path(r"", NoSuchSocket.as_asgi()),
]
