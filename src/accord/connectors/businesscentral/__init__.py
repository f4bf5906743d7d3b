"""The Business Central API v2.0 connector (``connector = "businesscentral"``).

It stands on the Dataverse connector's parts where the two services speak the same OData:
sign-in (:mod:`accord.connectors.dataverse.auth`), the HTTP client with its retries and
``Retry-After`` waits (:mod:`accord.connectors.dataverse.http`), filter rendering and JSON
values. What is Business Central's own is here: ``metadata`` reads table shapes from the CSDL
``$metadata``, ``tables`` names standard and custom APIs, ``batch`` speaks JSON ``$batch``,
``writes`` applies changes by number, and ``connector`` puts it behind the connector interface.
"""
