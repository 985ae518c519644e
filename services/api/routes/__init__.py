"""The query API's routers, one module per resource."""
