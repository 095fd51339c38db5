"""The admin API (``/v1``): ``handler.py`` is the Lambda entry and composition root, ``app.py``
the Powertools resolver, ``routers/`` the routes by resource, ``models/`` the API's own models."""
