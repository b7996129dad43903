"""Page routes: the same data as the JSON API, rendered with Jinja2."""
