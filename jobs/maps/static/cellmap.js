/* crimefusion cell map (jobs/maps): draws the page's JSON (#cf-map-data) with Leaflet.
 * Base: tiles when the page names a tile server, else the study area's boundaries filled, with labels.
 * Cells shaded by class; hover a cell for its id, value, rank and drivers; legend, scale bar;
 * on a patrol page, the selected shift's cells outlined and numbered, its table highlighted. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("cf-map-data").textContent);

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v, d) { return Number(v).toFixed(d); }
  function count(n) { return Number(n).toLocaleString("en-US"); }

  var map = L.map("cf-map", { zoomSnap: 0.25, zoomDelta: 0.5 });
  map.attributionControl.setPrefix("Leaflet");
  function pane(name, z, interactive) {
    var p = map.createPane(name);
    p.style.zIndex = z;
    if (!interactive) { p.style.pointerEvents = "none"; }
    return name;
  }
  var basePane = pane("cf-base", 250, false);
  var cellPane = pane("cf-cells", 400, true);
  var outlinePane = pane("cf-outline", 450, false);
  var highlightPane = pane("cf-highlight", 460, false);
  var labelPane = pane("cf-labels", 650, false);

  // -- base layer ----------------------------------------------------------------------------
  if (data.tiles) {
    L.tileLayer(data.tiles.url, { attribution: esc(data.tiles.attribution), maxZoom: data.tiles.max_zoom })
      .addTo(map);
  }
  var areaCollection = { type: "FeatureCollection", features: data.areas };
  var areas = L.geoJSON(areaCollection, {
    pane: basePane, interactive: false,
    style: { color: "#8a8a8a", weight: 0.8, fill: !data.tiles, fillColor: "#fbfaf6", fillOpacity: 1,
             className: "cf-area" }
  });
  // the legend before the view, so that the view leaves room for it
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "cf-legend");
    div.innerHTML = data.legend_html;
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  legend.addTo(map);
  // the view first: Leaflet draws a layer only once the map has one
  var bounds = areas.getBounds();
  if (!bounds.isValid()) {
    bounds = L.latLngBounds([]);
    data.cells.rings.forEach(function (r) { for (var j = 0; j < r.length; j += 2) { bounds.extend([r[j], r[j + 1]]); } });
  }
  var room = legend.getContainer().offsetWidth;
  if (room > map.getSize().x / 2) { room = 0; }  // a narrow screen: the legend may cover the map's corner
  if (bounds.isValid()) {
    map.fitBounds(bounds, { paddingTopLeft: [12, 12], paddingBottomRight: [room ? room + 20 : 12, 12] });
  } else { map.setView([0, 0], 2); }
  areas.addTo(map);
  (data.layers || []).forEach(function (layer) {
    L.geoJSON({ type: "FeatureCollection", features: layer.features }, {
      pane: basePane, interactive: false,
      style: { color: layer.colour, weight: layer.weight, fill: false, className: "cf-layer cf-layer-" + layer.slug }
    }).addTo(map);
    layer.features.forEach(function (f) {
      if (f.properties.label && f.properties.label_at) {
        L.marker(f.properties.label_at, { pane: labelPane, interactive: false, keyboard: false,
          icon: L.divIcon({ className: "cf-layer-label", html: "<span>" + esc(f.properties.label) + "</span>",
                            iconSize: null }) }).addTo(map);
      }
    });
  });
  // boundaries again above the cells, so the shading never hides them
  L.geoJSON(areaCollection, {
    pane: outlinePane, interactive: false,
    style: { color: "#3d3d3d", weight: 1.4, fill: false, className: "cf-area-outline" }
  }).addTo(map);
  data.areas.forEach(function (f) {
    if (f.properties.label && f.properties.label_at) {
      L.marker(f.properties.label_at, { pane: labelPane, interactive: false, keyboard: false,
        icon: L.divIcon({ className: "cf-area-label", html: "<span>" + esc(f.properties.label) + "</span>",
                          iconSize: null }) }).addTo(map);
    }
  });

  // -- cells ---------------------------------------------------------------------------------
  var c = data.cells, n = c.ids.length, polys = new Array(n), index = {};
  function latlngs(i) {
    var r = c.rings[i], out = [];
    for (var j = 0; j < r.length; j += 2) { out.push([r[j], r[j + 1]]); }
    return out;
  }
  var cellGroup = L.featureGroup();
  for (var i = 0; i < n; i++) {
    var k = c.cls[i];
    var p = L.polygon(latlngs(i), {
      pane: cellPane, stroke: false, weight: 1.5, color: "#222",
      fillColor: k > 0 ? data.colours[k - 1] : "#000", fillOpacity: k > 0 ? (data.tiles ? 0.62 : 0.82) : 0,
      className: "cf-cell"
    });
    p.cfIndex = i;
    polys[i] = p;
    index[c.ids[i]] = i;
    cellGroup.addLayer(p);
  }
  cellGroup.addTo(map);
  cellGroup.eachLayer(function (layer) {
    var el = layer.getElement();
    if (el) { el.setAttribute("data-h3", c.ids[layer.cfIndex]); }
  });

  var selected = null;  // patrol: index of the shown shift
  var shiftRows = [];   // patrol: per shift, {h3: [rank, expected, share]}
  function tooltip(layer) {
    var i = layer.cfIndex, lines = ["<b>Cell " + esc(c.ids[i]) + "</b>"];
    lines.push("Expected: " + num(c.value[i], 2) + " " + esc(data.value_label));
    lines.push("Rank " + count(c.rank[i]) + " of " + count(n));
    if (c.drivers && c.drivers[i]) { lines.push("Drivers: " + esc(c.drivers[i])); }
    if (selected !== null && shiftRows[selected][c.ids[i]]) {
      var row = shiftRows[selected][c.ids[i]];
      lines.push("<b>Patrol " + esc(data.patrol.shifts[selected].label) + "</b>: #" + row[0] + ", " +
                 num(row[1], 2) + " expected (" + num(100 * row[2], 1) + " % of the shift)");
    }
    return lines.join("<br>");
  }
  cellGroup.bindTooltip(tooltip, { sticky: true, className: "cf-tip", direction: "top", offset: [0, -8] });
  cellGroup.on("mouseover", function (e) { e.layer.setStyle({ stroke: true }); });
  cellGroup.on("mouseout", function (e) { e.layer.setStyle({ stroke: false }); });

  // top cells, outlined
  for (var t = 0; t < n; t++) {
    if (c.top && c.top[t]) {
      L.polygon(latlngs(t), { pane: highlightPane, interactive: false, fill: false, color: "#000", weight: 2,
                              className: "cf-top" }).addTo(map);
    }
  }

  // -- scale ---------------------------------------------------------------------------------
  L.control.scale({ position: "bottomleft", maxWidth: 180, metric: true, imperial: true }).addTo(map);

  // -- patrol shifts ---------------------------------------------------------------------------
  if (data.patrol) {
    var shiftLayer = L.layerGroup().addTo(map);
    data.patrol.shifts.forEach(function (s) {
      var rows = {};
      s.cells.forEach(function (r) { rows[r[0]] = [r[1], r[2], r[3]]; });
      shiftRows.push(rows);
    });
    var select = document.getElementById("cf-shift");
    var tables = document.querySelectorAll("table.cf-shift-table");
    var show = function (k) {
      selected = k;
      shiftLayer.clearLayers();
      data.patrol.shifts[k].cells.forEach(function (r) {
        var i = index[r[0]];
        if (i === undefined) { return; }
        shiftLayer.addLayer(L.polygon(latlngs(i), { pane: highlightPane, interactive: false, fill: false,
                                                    color: "#1f4fd1", weight: 3, className: "cf-patrol" }));
        shiftLayer.addLayer(L.marker(polys[i].getBounds().getCenter(), {
          pane: labelPane, interactive: false, keyboard: false,
          icon: L.divIcon({ className: "cf-rank", html: "<span>" + r[1] + "</span>", iconSize: null }) }));
      });
      tables.forEach(function (tbl) { tbl.classList.toggle("cf-selected", Number(tbl.dataset.shift) === k); });
      if (select) { select.value = String(k); }
      document.body.dataset.shift = String(k);
    };
    if (select) { select.addEventListener("change", function () { show(Number(select.value)); }); }
    tables.forEach(function (tbl) {
      tbl.querySelector("caption").addEventListener("click", function () {
        show(Number(tbl.dataset.shift));
        document.getElementById("cf-map").scrollIntoView({ behavior: "smooth" });
      });
    });
    show(data.patrol.selected || 0);
  }
  document.body.dataset.ready = "1";  // for tests and screenshots: everything is drawn
})();
