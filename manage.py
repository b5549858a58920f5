#!/usr/bin/env python
"""Django's command-line utility; `agentops` (the console script) is the same with settings preset."""

from agentops.cli import main

if __name__ == "__main__":
    main()
