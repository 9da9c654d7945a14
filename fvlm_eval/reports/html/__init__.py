"""``report.html``: ``page`` writes it, ``browser`` gathers the question browser's data, ``thumbnails`` its frames."""
