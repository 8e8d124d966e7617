"""The web app: assembles each domain's routes, templates and static assets."""
