"""``python -m assistant.app``: serve the browser app."""

from assistant.app.server import main

if __name__ == "__main__":  # importing this module must not start a server
    main()
