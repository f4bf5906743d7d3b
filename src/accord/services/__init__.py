"""Local stand-ins for the systems Accord talks to over HTTP, to develop and test against.

``common`` holds what every such service needs (TLS, a background uvicorn server, an OAuth2
token endpoint, bearer tokens, service protection and fault injection); ``dataverse`` is a
Dataverse Web API v9.2 look-alike on SQLite. Nothing here is imported by ``import accord``.
"""
