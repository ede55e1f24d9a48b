"""The interactive HTML report: one self-contained file that opens from disk with no network.

:func:`~echo_bench.report.build.render_html` inlines the page's CSS and JavaScript
(package data under ``report/assets/``), the data as JSON in a
``<script type="application/json">`` and every image as a base64 thumbnail.
The charts are drawn by the page's own small SVG code (no libraries, no CDN).
After rendering, the page writes its status into ``<body>`` attributes
(``data-charts-expected``, ``data-charts-rendered``, ``data-charts-failed``,
``data-gallery-images-expected``, ``data-gallery-images``, ``data-render-done``)
so a headless browser can check it.
"""

from echo_bench.report.build import ReportSettings, build_data, gallery, render_html, thumbnail

__all__ = ["ReportSettings", "build_data", "gallery", "render_html", "thumbnail"]
