"""The HTTP server of `agentops web`: an asynchronous front that no slow or idle client can take down.

gunicorn runs uvicorn workers (`worker.py`); each reads requests on an event loop, with a deadline for the
headers (`protocol.py`), and the front (`front.py`) reads whole bodies within their own deadlines and a
memory budget, answers /healthz itself, and admits at most as many requests to Django as it has threads,
shedding the rest with 503 and Retry-After. Django itself stays a WSGI application on a fixed pool of
threads, so its persistent database connections and everything written for WSGI keep working.
"""
