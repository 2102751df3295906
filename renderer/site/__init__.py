"""The static gallery site: page types (types), view-models (model), safe text (public),
images (images, figures), pages (pages, theme, builder) and a local preview (serve).

``renderer.site.builder.build_site(render_dirs, out_dir, SiteOptions(...))`` is the entry
point the CLI and the batch pipeline call; it alone decides whether the published site is
current (``current``) and says so in its ``SiteReport``.

A theme is a folder of Jinja2 templates that replace the default ones (``templates/``) one by
one, plus an optional ``static/`` folder copied over the default assets. Every template gets
``site_title``, ``gallery`` (a ``model.Gallery``), ``here`` (the page's path in the site),
``url(path)`` (a relative URL to any site path), ``built``, ``version``, ``has_layers``,
``has_classes`` and ``warnings``; ``photo.html`` also gets ``page`` (a ``model.PhotoPage``).
Macros for figures, legends, provenance and predictions live in ``_macros.html``.
"""
