"""Better-Auth's organization plugin, honoured by the API: roles and statements (``access``),
its member rules (``rules``), cached memberships (``memberships``, ``cache``) and member
management (``service``). No web framework here; the dependencies are in
``app.routers.org_deps``."""
