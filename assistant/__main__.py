from assistant.cli import main

if __name__ == "__main__":  # importing this module (e.g. from a worker process) must not run the CLI
    main()
