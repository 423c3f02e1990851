"""Maps an analyst can brief from: H3 cell values over a base layer, as a self-contained web page and a PNG.

- :mod:`jobs.maps.cells`: cell outlines, colour classes and their legend (values and units).
- :mod:`jobs.maps.layers`: the base drawn from the lakehouse's own layers (area boundaries with
  labels, any other vector layer) and the tile-server option.
- :mod:`jobs.maps.pages`: the forecast and patrol pages (Leaflet, vendored under ``static/leaflet``
  and inlined, so a page works offline from ``file://``).
- :mod:`jobs.maps.figures`: the same maps as matplotlib figures (legend, local dates, km scale bar).

Like the kernels, these functions take data and return data (HTML text, a Figure); the callers write them.
"""
