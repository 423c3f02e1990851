"""Geometry of the synthetic world: a local metric frame, cell sites and sectors, camera views."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely
from scipy.spatial import cKDTree

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0
SECTOR_AZIMUTHS = np.array([0.0, 120.0, 240.0])
BEAM_WIDTH = 120.0

# Approximate centroids of Chicago community areas, for place names in posts.
NEIGHBOURHOODS: list[tuple[str, float, float]] = [
    ("the Loop", -87.6298, 41.8837), ("Near North Side", -87.6341, 41.9000),
    ("Lincoln Park", -87.6475, 41.9214), ("Lake View", -87.6532, 41.9434),
    ("Uptown", -87.6561, 41.9665), ("Rogers Park", -87.6700, 42.0095),
    ("Logan Square", -87.7079, 41.9231), ("Humboldt Park", -87.7209, 41.9020),
    ("West Town", -87.6750, 41.8963), ("Austin", -87.7650, 41.8940),
    ("East Garfield Park", -87.7032, 41.8807), ("West Garfield Park", -87.7290, 41.8800),
    ("North Lawndale", -87.7178, 41.8608), ("Little Village", -87.7130, 41.8440),
    ("Pilsen", -87.6640, 41.8545), ("Bridgeport", -87.6511, 41.8380),
    ("Bronzeville", -87.6176, 41.8250), ("Hyde Park", -87.5937, 41.7943),
    ("Woodlawn", -87.5966, 41.7797), ("Englewood", -87.6450, 41.7797),
    ("West Englewood", -87.6670, 41.7787), ("Chatham", -87.6127, 41.7407),
    ("South Shore", -87.5700, 41.7637), ("Auburn Gresham", -87.6531, 41.7435),
    ("Roseland", -87.6230, 41.6930), ("Chicago Lawn", -87.6957, 41.7756),
    ("Back of the Yards", -87.6565, 41.8079), ("Gage Park", -87.6962, 41.7954),
    ("Albany Park", -87.7187, 41.9683), ("Portage Park", -87.7654, 41.9579),
    ("Belmont Cragin", -87.7676, 41.9314), ("West Pullman", -87.6390, 41.6773),
    ("South Chicago", -87.5554, 41.7397), ("Garfield Ridge", -87.7660, 41.8120),
]


@dataclass(frozen=True)
class Frame:
    """Equirectangular metric frame around an origin (error < 0.1% over a city)."""

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return M_PER_DEG_LON_EQ * np.cos(np.radians(self.lat0))

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * M_PER_DEG_LAT

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / M_PER_DEG_LAT + self.lat0


@dataclass
class CellNetwork:
    """Sites (x, y in the frame) with three 120-degree sectors each; sector index = site * 3 + k."""

    frame: Frame
    site_x: np.ndarray
    site_y: np.ndarray
    range_m: np.ndarray  # per site
    tree: cKDTree

    @property
    def n_sites(self) -> int:
        return len(self.site_x)

    def serving(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Sector index serving each point: nearest site, sector whose beam holds the bearing."""
        _, site = self.tree.query(np.column_stack([x, y]))
        bearing = np.degrees(np.arctan2(x - self.site_x[site], y - self.site_y[site])) % 360.0
        k = (((bearing + BEAM_WIDTH / 2) % 360.0) // BEAM_WIDTH).astype(np.int64)
        return site * 3 + np.minimum(k, 2)

    def cell_ids(self) -> np.ndarray:
        """CGI-style ids ``MCC-MNC-LAC-CI`` for every sector."""
        site = np.repeat(np.arange(self.n_sites), 3)
        k = np.tile(np.arange(3), self.n_sites)
        lac = 1000 + site // 40
        ci = site * 10 + k + 1
        return np.array([f"310-260-{a}-{c}" for a, c in zip(lac.tolist(), ci.tolist())], dtype=object)

    def sector_polygons(self, n_arc: int = 25) -> np.ndarray:
        """Shapely polygons (EPSG:4326) of every sector: site, arc of ``range_m``, back to site."""
        n = self.n_sites
        site = np.repeat(np.arange(n), 3)
        az = np.tile(SECTOR_AZIMUTHS, n)
        ang = az[:, None] + np.linspace(-BEAM_WIDTH / 2, BEAM_WIDTH / 2, n_arc)[None, :]
        r = self.range_m[site][:, None]
        ax = self.site_x[site][:, None] + r * np.sin(np.radians(ang))
        ay = self.site_y[site][:, None] + r * np.cos(np.radians(ang))
        sx, sy = self.site_x[site][:, None], self.site_y[site][:, None]
        xs = np.concatenate([sx, ax, sx], axis=1)
        ys = np.concatenate([sy, ay, sy], axis=1)
        lon, lat = self.frame.to_lonlat(xs, ys)
        return shapely.polygons(np.stack([lon, lat], axis=-1))


def extent(x: np.ndarray, y: np.ndarray, q: float = 0.5) -> tuple[float, float, float, float]:
    """Robust bounding box (percentiles ``q`` and ``100 - q``) of points, in metres."""
    return (float(np.percentile(x, q)), float(np.percentile(y, q)),
            float(np.percentile(x, 100 - q)), float(np.percentile(y, 100 - q)))


def build_cell_network(
    frame: Frame,
    inc_x: np.ndarray,
    inc_y: np.ndarray,
    rng: np.random.Generator,
    *,
    spacing_m: float = 1400.0,
    dense_spacing_m: float = 700.0,
    dense_quantile: float = 0.8,
) -> CellNetwork:
    """Place cell sites on a jittered hexagonal lattice, denser where activity is high.

    A lattice of ``spacing_m`` covers the incidents' extent. Lattice cells whose
    incident count is above the ``dense_quantile`` (busy areas, downtown) get
    extra sites so that local spacing falls to about ``dense_spacing_m``, as
    operators densify capacity-limited areas. Each site's range is set so its
    sectors cover every point the site serves (checked on a 150 m probe grid).
    """
    x0, y0, x1, y1 = extent(inc_x, inc_y)
    pad = spacing_m / 2
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    row_h = spacing_m * np.sqrt(3) / 2
    ys = np.arange(y0, y1 + row_h, row_h)
    pts = []
    for i, yy in enumerate(ys):
        xs = np.arange(x0 + (spacing_m / 2 if i % 2 else 0.0), x1 + spacing_m, spacing_m)
        pts.append(np.column_stack([xs, np.full_like(xs, yy)]))
    base = np.concatenate(pts)
    # activity per lattice site: incidents nearest to it
    tree = cKDTree(base)
    _, nearest = tree.query(np.column_stack([inc_x, inc_y]))
    counts = np.bincount(nearest, minlength=len(base))
    busy = counts > np.quantile(counts[counts > 0], dense_quantile) if counts.any() else np.zeros(len(base), bool)
    offsets = dense_spacing_m * np.array([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]])
    extra = (base[busy][:, None, :] + offsets[None, :, :]).reshape(-1, 2)
    sites = np.concatenate([base, extra])
    sites = sites + rng.normal(0.0, 0.08 * dense_spacing_m, sites.shape)
    tree = cKDTree(sites)
    nn_d, _ = tree.query(sites, k=2)
    nominal = 0.9 * nn_d[:, 1]
    gx, gy = np.meshgrid(np.arange(x0, x1, 150.0), np.arange(y0, y1, 150.0))
    probe = np.column_stack([gx.ravel(), gy.ravel()])
    d, s = tree.query(probe)
    far = np.zeros(len(sites))
    np.maximum.at(far, s, d)
    range_m = np.maximum(nominal, far * 1.15 + 150.0)
    return CellNetwork(frame, sites[:, 0].copy(), sites[:, 1].copy(), range_m, tree)


def cell_sites_table(net: CellNetwork) -> pa.Table:
    """Raw cell-site register: one row per sector with its coverage polygon (WKB, EPSG:4326)."""
    n = net.n_sites
    site = np.repeat(np.arange(n), 3)
    lon, lat = net.frame.to_lonlat(net.site_x[site], net.site_y[site])
    return pa.table({
        "cell_id": pa.array(net.cell_ids(), pa.string()),
        "site_id": pa.array([f"CHI{s:05d}" for s in site.tolist()], pa.string()),
        "lon": pa.array(np.round(lon, 6)),
        "lat": pa.array(np.round(lat, 6)),
        "azimuth_deg": pa.array(np.tile(SECTOR_AZIMUTHS, n)),
        "beam_width_deg": pa.array(np.full(3 * n, BEAM_WIDTH)),
        "range_m": pa.array(np.round(net.range_m[site], 1)),
        "technology": pa.array(np.where(site % 5 == 0, "5G", "LTE").astype(object), pa.string()),
        "sector_wkb": pa.array(shapely.to_wkb(net.sector_polygons()), pa.binary()),
    })


def camera_view(
    height_m: float, near_m: float, far_m: float, *, width_px: int = 1920, height_px: int = 1080
) -> tuple[float, float]:
    """Pitch (radians below horizontal) and focal length (px) of a pinhole camera at ``height_m``
    whose image bottom row meets the ground ``near_m`` ahead and top row ``far_m`` ahead."""
    a_near = np.arctan2(height_m, near_m)
    a_far = np.arctan2(height_m, far_m)
    pitch = (a_near + a_far) / 2
    focal = (height_px / 2) / np.tan((a_near - a_far) / 2)
    return float(pitch), float(focal)


def pixel_to_ground(
    u: np.ndarray, v: np.ndarray, *, height_m: float, pitch: float, focal: float,
    width_px: int = 1920, height_px: int = 1080,
) -> tuple[np.ndarray, np.ndarray]:
    """Ground point (forward, right) in metres of each pixel for a level-roll pinhole camera.

    The pixel ray (x right, y down, z forward in camera axes) is rotated by the
    pitch and intersected with the ground plane ``height_m`` below the camera:
    a planar homography (Hartley & Zisserman, *Multiple View Geometry*, 2004, 8.1).
    """
    xc = (np.asarray(u, float) - width_px / 2) / focal
    yc = (np.asarray(v, float) - height_px / 2) / focal
    down = yc * np.cos(pitch) + np.sin(pitch)
    fwd = np.cos(pitch) - yc * np.sin(pitch)
    if np.any(down <= 0):
        raise ValueError("pixel above the horizon has no ground point")
    t = height_m / down
    return fwd * t, xc * t
