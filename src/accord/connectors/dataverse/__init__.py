"""The Dataverse Web API connector (``connector = "dataverse"``).

``auth`` gets bearer tokens (Entra ID client credentials through msal, or a static token),
``http`` sends requests (TLS, retries, service protection), ``metadata`` reads table shapes
from ``EntityDefinitions``, ``odata`` renders filters and bodies, ``values`` converts JSON to
Accord's Python values and back, ``writes`` applies changes in bulk, and ``connector`` puts
them behind the :class:`~accord.connectors.base.Connector` interface.
"""
