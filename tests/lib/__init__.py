"""Shared test helpers for dynfs (see emu.py for the Dataverse emulator harness)."""
