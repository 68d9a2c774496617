from tests.chat.conftest import connect  # noqa: F401 - real Socket.IO clients
