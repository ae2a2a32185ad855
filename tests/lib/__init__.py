"""Shared test helpers for dynfs.

client.py    HTTP clients: http_request, WebApi, EmulatorClient (the /_emulator control surface)
emuproc.py   the emulator process: Emulator (an EmulatorClient that starts and stops dvemu.py)
multipart.py $batch bodies: build requests, parse responses
crypto.py    certificates, RSA signing, client assertions, PKCE
mount.py     dynfs mounts (Mount), record rendering, request counting, Ini configs
fixtures.py  pytest fixture factories: an emulator (+ options), a mount on it, per-test mounts
auth.py      helpers of the auth tests (configs per flow, token stores, dynfs login)
tools.py     running the tools users edit with, counting their write requests
"""
