"""The synthetic world behind the feeds: phones and their routines, the social graph,
criminal groups with burner lines, and the co-location plants on real incidents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from jobs.synth import identifiers as ids
from jobs.synth.geometry import CellNetwork, Frame, build_cell_network, extent
from jobs.synth.settings import SynthSettings

TZ = ZoneInfo("America/Chicago")
REQUIRED = ("incident_id", "occurred_at", "lon", "lat", "category", "location_type")

# Relative call volume per local hour (operator traffic curves: night trough, evening peak).
HOURLY_WEEKDAY = np.array([0.5, 0.25, 0.15, 0.1, 0.1, 0.25, 0.8, 1.8, 2.8, 3.2, 3.4, 3.6,
                           4.0, 3.7, 3.5, 3.6, 4.0, 4.6, 5.0, 5.0, 4.6, 3.8, 2.6, 1.3])
HOURLY_WEEKEND = np.array([1.2, 0.8, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.0, 2.8, 3.4,
                           3.8, 3.8, 3.7, 3.7, 3.8, 4.2, 4.6, 4.8, 4.6, 4.2, 3.4, 2.2])
HOURLY_GROUP = np.array([1.5, 1.2, 0.8, 0.4, 0.2, 0.2, 0.3, 0.5, 0.8, 1.0, 1.4, 1.8,
                         2.0, 2.2, 2.4, 2.6, 3.0, 3.4, 3.8, 4.2, 4.4, 4.2, 3.4, 2.4])
SECONDS_PER_DAY = 86_400


def _cum(w: np.ndarray) -> np.ndarray:
    c = np.cumsum(w)
    return c / c[-1]


def sample_hours(rng: np.random.Generator, weekend: np.ndarray, curve: str = "population") -> np.ndarray:
    """Local hour of each event from the weekday/weekend (or group) traffic curve."""
    u = rng.random(len(weekend))
    if curve == "group":
        return np.searchsorted(_cum(HOURLY_GROUP), u, side="right").clip(0, 23)
    h_wd = np.searchsorted(_cum(HOURLY_WEEKDAY), u, side="right")
    h_we = np.searchsorted(_cum(HOURLY_WEEKEND), u, side="right")
    return np.where(weekend, h_we, h_wd).clip(0, 23)


@dataclass
class Incidents:
    """Real incidents inside the window, in the metric frame."""

    incident_id: np.ndarray
    t: np.ndarray  # epoch seconds UTC
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    category: np.ndarray
    location_type: np.ndarray
    cell: np.ndarray  # covering sector index


@dataclass
class World:
    """Everything the feed generators share. Line index ``i < n_phones`` is phone ``i``'s own SIM;
    burner lines follow; numbers past ``n_lines`` are off-network (no CDR leg of their own)."""

    settings: SynthSettings
    seed: int
    frame: Frame
    net: CellNetwork
    bbox: tuple[float, float, float, float]
    day_start: np.ndarray  # UTC epoch of local midnight of each day
    weekend: np.ndarray  # per day
    all_incidents_xy: np.ndarray  # every input incident (activity spots), metres
    inc: Incidents
    # phones (owners)
    home_x: np.ndarray
    home_y: np.ndarray
    work_x: np.ndarray
    work_y: np.ndarray
    employed: np.ndarray
    home_cell: np.ndarray
    work_cell: np.ndarray
    rate: np.ndarray
    community: np.ndarray
    nbr_offs: np.ndarray
    nbr: np.ndarray
    nbr_key: np.ndarray
    # lines (SIMs) and numbers
    numbers: np.ndarray  # msisdn per line, then off-network numbers
    imsi: np.ndarray  # per line
    line_owner: np.ndarray  # phone index owning each line
    line_from: np.ndarray
    line_to: np.ndarray
    n_lines: int
    # handset segments, sorted by (line, start)
    imei: np.ndarray
    seg_line: np.ndarray
    seg_start: np.ndarray
    seg_imei: np.ndarray
    # groups
    group_of_phone: np.ndarray  # -1 outside groups
    members: list[np.ndarray]
    burner_lines: list[list[np.ndarray]]  # per group, per member
    turf: np.ndarray  # (n_groups, 2)
    # truth assembled while building
    truth: dict[str, pa.Table] = field(default_factory=dict)
    # planted events (arrays) and overrides (line, t0, t1, cell or -1 = silent)
    extra_events: dict[str, np.ndarray] = field(default_factory=dict)
    overrides: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_phones(self) -> int:
        return len(self.home_x)

    @property
    def t_start(self) -> int:
        return int(self.day_start[0])

    @property
    def t_end(self) -> int:
        return int(self.day_start[-1] + SECONDS_PER_DAY)

    def clip_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = self.bbox
        return np.clip(x, x0, x1), np.clip(y, y0, y1)

    def locate(self, owner: np.ndarray, hour: np.ndarray, weekend: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Serving sector of each owner at a local hour: home at night, work on weekday office
        hours, otherwise near home or at a busy spot (an incident location stands for one)."""
        n = len(owner)
        u = rng.random(n)
        night = (hour >= 20) | (hour < 7)
        office = ~weekend & (hour >= 9) & (hour < 17) & self.employed[owner]
        at_home = np.where(night, u < 0.9, ~office & (u < 0.45))
        at_work = office & (u < 0.85)
        cell = np.where(at_home, self.home_cell[owner], self.work_cell[owner])
        away = ~(at_home | at_work)
        k = int(away.sum())
        if k:
            o = owner[away]
            spot = rng.random(k) < 0.3
            j = rng.integers(0, len(self.all_incidents_xy), k)
            ex = np.where(spot, self.all_incidents_xy[j, 0], self.home_x[o]) + rng.normal(0, 1, k) * np.where(spot, 200.0, 1500.0)
            ey = np.where(spot, self.all_incidents_xy[j, 1], self.home_y[o]) + rng.normal(0, 1, k) * np.where(spot, 200.0, 1500.0)
            ex, ey = self.clip_xy(ex, ey)
            cell[away] = self.net.serving(ex, ey)
        return cell

    def imei_index(self, line: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Handset (IMEI index) holding each line's SIM at time ``t``."""
        k = np.int64(1) << 32
        seg_key = self.seg_line.astype(np.int64) * k + self.seg_start
        i = np.searchsorted(seg_key, line.astype(np.int64) * k + t, side="right") - 1
        return self.seg_imei[np.clip(i, 0, None)]

    def active_burner(self, group: int, member: int, t: np.ndarray) -> np.ndarray:
        """Burner line of a member active at each time, or -1."""
        out = np.full(len(t), -1, dtype=np.int64)
        for ln in self.burner_lines[group][member]:
            on = (t >= self.line_from[ln]) & (t < self.line_to[ln]) & (out < 0)
            out[on] = ln
        return out


def incidents_in_window(incidents: pa.Table, settings: SynthSettings) -> tuple[pa.Table, int, int]:
    """Validate the incident table and cut the window; returns (window table, t0, t1) epoch seconds."""
    missing = [c for c in REQUIRED if c not in incidents.column_names]
    if missing:
        raise ValueError(f"incidents table lacks columns {missing}; it needs {list(REQUIRED)}")
    ts = incidents.schema.field("occurred_at").type
    if not pa.types.is_timestamp(ts) or ts.tz is None:
        raise TypeError(f"incidents.occurred_at must be a tz-aware timestamp (UTC), got {ts}")
    tbl = incidents.filter(pc.and_(pc.is_valid(incidents["lon"]), pc.is_valid(incidents["lat"])))
    if tbl.num_rows == 0:
        raise ValueError("incidents table has no located rows")
    t = pc.cast(tbl["occurred_at"], pa.timestamp("s", tz="UTC")).cast(pa.int64()).to_numpy()
    if settings.end is None:
        end_utc = datetime.fromtimestamp(int(t.max()), tz=TZ)
    else:
        end_utc = settings.end if settings.end.tzinfo else settings.end.replace(tzinfo=TZ)
    end_local = end_utc.astimezone(TZ)
    last_day = datetime(end_local.year, end_local.month, end_local.day, tzinfo=TZ)
    days = [last_day - timedelta(days=settings.days - 1 - d) for d in range(settings.days)]
    t0 = int(days[0].timestamp())
    t1 = int((last_day + timedelta(days=1)).timestamp())
    keep = (t >= t0) & (t < t1)
    return tbl.filter(pa.array(keep)), t0, t1


def _day_starts(t0: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    first = datetime.fromtimestamp(t0, tz=TZ)
    starts, weekend = [], []
    for d in range(n_days):
        day = datetime(first.year, first.month, first.day, tzinfo=TZ) + timedelta(days=d)
        day = datetime(day.year, day.month, day.day, tzinfo=TZ)  # re-resolve the UTC offset (DST)
        starts.append(int(day.timestamp()))
        weekend.append(day.weekday() >= 5)
    return np.array(starts, dtype=np.int64), np.array(weekend)


def _social_graph(rng: np.random.Generator, home: np.ndarray, s: SynthSettings,
                  extra_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Geographic communities, ~80% of ties inside them, heavy-tailed tie strengths (CSR)."""
    n = len(home)
    k = max(1, n // s.community_size)
    centres = home[rng.choice(n, k, replace=False)]
    _, community = cKDTree(centres).query(home)
    order = np.argsort(community, kind="stable")
    c_size = np.bincount(community, minlength=k)
    c_offs = np.concatenate([[0], np.cumsum(c_size)])
    sigma = 0.6
    deg = np.maximum(1, np.round(rng.lognormal(np.log(s.mean_contacts / 2) - sigma**2 / 2, sigma, n))).astype(np.int64)
    src = np.repeat(np.arange(n), deg)
    inside = rng.random(len(src)) < 0.8
    c = community[src]
    pick = order[c_offs[c] + (rng.random(len(src)) * c_size[c]).astype(np.int64)]
    dst = np.where(inside, pick, rng.integers(0, n, len(src)))
    w = 1.0 + rng.pareto(1.5, len(src))
    if len(extra_edges):
        src = np.concatenate([src, extra_edges[:, 0]])
        dst = np.concatenate([dst, extra_edges[:, 1]])
        w = np.concatenate([w, np.full(len(extra_edges), 6.0)])
    ok = src != dst
    a, b, w = np.minimum(src, dst)[ok], np.maximum(src, dst)[ok], w[ok]
    _, first = np.unique(a * n + b, return_index=True)
    a, b, w = a[first], b[first], w[first]
    u = np.concatenate([a, b])
    v = np.concatenate([b, a])
    ww = np.concatenate([w, w])
    o = np.lexsort((v, u))
    u, v, ww = u[o], v[o], ww[o]
    cnt = np.bincount(u, minlength=n)
    offs = np.concatenate([[0], np.cumsum(cnt)])
    cs = np.cumsum(ww)
    row_start = np.concatenate([[0.0], cs])[offs[:-1]]
    row_total = cs[np.maximum(offs[1:] - 1, 0)] - row_start
    within = (cs - row_start[u]) / np.where(row_total[u] > 0, row_total[u], 1.0)
    within[offs[1:][cnt > 0] - 1] = 1.0
    return community, offs, v, u + within


@dataclass
class _StudyArea:
    """Every located input incident in the metric frame, cut to the incidents' extent."""

    frame: Frame
    bbox: tuple[float, float, float, float]
    x: np.ndarray  # incidents inside ``bbox``, metres
    y: np.ndarray
    location_type: np.ndarray  # of those incidents


@dataclass
class _Phones:
    """Where the phone owners live and work, whether they work, and how often they call."""

    home_x: np.ndarray
    home_y: np.ndarray
    work_x: np.ndarray
    work_y: np.ndarray
    employed: np.ndarray
    rate: np.ndarray


@dataclass
class _Lines:
    """SIM lines (own, then burners), their numbers and owners, and the handset segments."""

    numbers: np.ndarray
    imsi: np.ndarray
    line_owner: np.ndarray
    line_from: np.ndarray
    line_to: np.ndarray
    n_lines: int
    imei: np.ndarray
    seg_line: np.ndarray  # sorted by (line, start)
    seg_start: np.ndarray
    seg_imei: np.ndarray
    burner_lines: list[list[np.ndarray]]  # per group, per member
    swap_rows: list  # (line, imei index, from, to, reason, group) for truth
    b_group: list  # per burner line
    b_member: list


def build_world(incidents: pa.Table, settings: SynthSettings, seed: int) -> World:
    """Lay phones, cells, groups, burners and plants over the real incidents.

    Each stage draws from its own random stream (``[seed, k]``), so the stages
    below are independent of each other's draws.
    """
    s = settings
    win, t0, t1 = incidents_in_window(incidents, s)
    area = _study_area(incidents)
    net = build_cell_network(area.frame, area.x, area.y, np.random.default_rng([seed, 1]))
    day_start, weekend = _day_starts(t0, s.days)
    inc = _window_incidents(win, area, net)
    rng = np.random.default_rng([seed, 2])
    phones = _phones(rng, area, s)
    group_of, members, turf = _groups(np.random.default_rng([seed, 3]), phones, inc, area, s)
    extra = np.array([(a, b) for m in members for i, a in enumerate(m) for b in m[i + 1:]], dtype=np.int64).reshape(-1, 2)
    community, offs, nbr, key = _social_graph(rng, np.column_stack([phones.home_x, phones.home_y]), s, extra)
    lines = _lines(np.random.default_rng([seed, 4]), members, len(phones.home_x), s, t0, t1)

    w = World(
        settings=s, seed=seed, frame=area.frame, net=net, bbox=area.bbox, day_start=day_start, weekend=weekend,
        all_incidents_xy=np.column_stack([area.x, area.y]), inc=inc,
        home_x=phones.home_x, home_y=phones.home_y, work_x=phones.work_x, work_y=phones.work_y,
        employed=phones.employed, home_cell=net.serving(phones.home_x, phones.home_y),
        work_cell=net.serving(phones.work_x, phones.work_y), rate=phones.rate,
        community=community, nbr_offs=offs, nbr=nbr, nbr_key=key,
        numbers=lines.numbers, imsi=lines.imsi, line_owner=lines.line_owner, line_from=lines.line_from,
        line_to=lines.line_to, n_lines=lines.n_lines, imei=lines.imei, seg_line=lines.seg_line,
        seg_start=lines.seg_start, seg_imei=lines.seg_imei,
        group_of_phone=group_of, members=members, burner_lines=lines.burner_lines, turf=np.array(turf).reshape(-1, 2),
    )
    _truth_identity(w, lines.swap_rows, lines.b_group, lines.b_member)
    _plant_colocations(w, np.random.default_rng([seed, 5]))
    _group_traffic(w, np.random.default_rng([seed, 6]))
    return w


def _study_area(incidents: pa.Table) -> _StudyArea:
    """The metric frame (centred on the median incident) and the located incidents inside their extent."""
    all_lon = incidents["lon"].to_numpy(zero_copy_only=False).astype(float)
    all_lat = incidents["lat"].to_numpy(zero_copy_only=False).astype(float)
    ok = np.isfinite(all_lon) & np.isfinite(all_lat)
    all_lon, all_lat = all_lon[ok], all_lat[ok]
    frame = Frame(float(np.median(all_lon)), float(np.median(all_lat)))
    ax, ay = frame.to_xy(all_lon, all_lat)
    bbox = extent(ax, ay)
    inside = (ax >= bbox[0]) & (ax <= bbox[2]) & (ay >= bbox[1]) & (ay <= bbox[3])
    location_type = np.asarray(incidents["location_type"].to_pylist(), dtype=object)[ok][inside]
    return _StudyArea(frame=frame, bbox=bbox, x=ax[inside], y=ay[inside], location_type=location_type)


def _window_incidents(win: pa.Table, area: _StudyArea, net: CellNetwork) -> Incidents:
    """The window's incidents inside the study area, with their covering sector."""
    wl = win["lon"].to_numpy(zero_copy_only=False).astype(float)
    wa = win["lat"].to_numpy(zero_copy_only=False).astype(float)
    wx, wy = area.frame.to_xy(wl, wa)
    bbox = area.bbox
    keep = (wx >= bbox[0]) & (wx <= bbox[2]) & (wy >= bbox[1]) & (wy <= bbox[3])
    win = win.filter(pa.array(keep))
    wx, wy, wl, wa = wx[keep], wy[keep], wl[keep], wa[keep]
    return Incidents(
        incident_id=np.asarray(win["incident_id"].cast(pa.string()).to_pylist(), dtype=object),
        t=pc.cast(win["occurred_at"], pa.timestamp("s", tz="UTC")).cast(pa.int64()).to_numpy(),
        lon=wl, lat=wa, x=wx, y=wy,
        category=np.asarray(win["category"].to_pylist(), dtype=object),
        location_type=np.asarray(win["location_type"].to_pylist(), dtype=object),
        cell=net.serving(wx, wy) if len(wx) else np.zeros(0, np.int64),
    )


def _phones(rng: np.random.Generator, area: _StudyArea, s: SynthSettings) -> _Phones:
    """Homes, workplaces, employment and call rates of ``s.n_phones`` owners."""
    n = s.n_phones
    ax, ay = area.x, area.y
    # homes where people live (residential incidents stand in for housing density) plus a uniform share
    res = np.flatnonzero(np.isin(area.location_type, ["residence", "street"]))
    res = res if len(res) else np.arange(len(ax))
    j = res[rng.integers(0, len(res), n)]
    uni = rng.random(n) < 0.15
    hx = np.where(uni, rng.uniform(area.bbox[0], area.bbox[2], n), ax[j] + rng.normal(0, 250, n))
    hy = np.where(uni, rng.uniform(area.bbox[1], area.bbox[3], n), ay[j] + rng.normal(0, 250, n))
    # work: a third downtown (the densest busy, non-residential spot), the rest at busy places
    busy = np.flatnonzero(~np.isin(area.location_type, ["residence", "street"]))
    busy = busy if len(busy) else np.arange(len(ax))
    bx, by = ax[busy], ay[busy]
    grid = np.floor(bx / 1000).astype(np.int64) * 100_000 + np.floor(by / 1000).astype(np.int64)
    vals, cnt = np.unique(grid, return_counts=True)
    top = vals[np.argmax(cnt)]
    dtx, dty = (top // 100_000) * 1000 + 500.0, (top % 100_000) * 1000 + 500.0
    dt = rng.random(n) < 0.35
    jb = rng.integers(0, len(bx), n)
    wx_ = np.where(dt, dtx + rng.normal(0, 700, n), bx[jb] + rng.normal(0, 150, n))
    wy_ = np.where(dt, dty + rng.normal(0, 700, n), by[jb] + rng.normal(0, 150, n))
    x0, y0, x1, y1 = area.bbox
    hx, hy = np.clip(hx, x0, x1), np.clip(hy, y0, y1)
    wx_, wy_ = np.clip(wx_, x0, x1), np.clip(wy_, y0, y1)
    employed = rng.random(n) < 0.62
    rate = s.calls_per_phone_day * rng.gamma(2.0, 0.5, n)
    return _Phones(home_x=hx, home_y=hy, work_x=wx_, work_y=wy_, employed=employed, rate=rate)


def _groups(rg: np.random.Generator, phones: _Phones, inc: Incidents, area: _StudyArea,
            s: SynthSettings) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Criminal groups: turf around a real incident, members living nearby (moves their homes in ``phones``).

    Returns the group of each phone (-1 outside groups), each group's members (sorted) and its turf centre.
    """
    n = len(phones.home_x)
    x0, y0, x1, y1 = area.bbox
    n_groups = min(s.n_groups, max(1, n // (2 * s.group_size[1])))
    group_of = np.full(n, -1, dtype=np.int64)
    free = rg.permutation(n)
    pos = 0
    members, turf = [], []
    src_pts = np.column_stack([inc.x, inc.y]) if len(inc.x) else np.column_stack([area.x, area.y])
    for g in range(n_groups):
        size = int(rg.integers(s.group_size[0], s.group_size[1] + 1))
        m = free[pos:pos + size]
        pos += size
        c = src_pts[rg.integers(0, len(src_pts))]
        turf.append(c)
        phones.home_x[m] = np.clip(c[0] + rg.normal(0, 700, size), x0, x1)
        phones.home_y[m] = np.clip(c[1] + rg.normal(0, 700, size), y0, y1)
        phones.employed[m] = rg.random(size) < 0.3
        group_of[m] = g
        members.append(np.sort(m))
    return group_of, members, turf


def _lines(ri: np.random.Generator, members: list[np.ndarray], n: int, s: SynthSettings, t0: int, t1: int) -> _Lines:
    """Lines (own SIMs, then burners) and handsets (own, then burner handsets), in this draw order."""
    b_owner, b_group, b_member, b_from, b_to, burner_lines = _burners(ri, members, n, s, t0, t1)
    nb = len(b_owner)
    n_lines = n + nb
    n_ext = max(200, n // 3)
    numbers = ids.msisdns(ri, n_lines + n_ext)
    imsi = ids.imsis(ri, n_lines)
    line_owner = np.concatenate([np.arange(n), np.array(b_owner, dtype=np.int64)])
    line_from = np.concatenate([np.full(n, t0 - 400 * SECONDS_PER_DAY), np.array(b_from, dtype=np.int64)])
    line_to = np.concatenate([np.full(n, t1 + 400 * SECONDS_PER_DAY), np.array(b_to, dtype=np.int64)])
    imei, seg_line, seg_start, seg_imei, swap_rows = _handsets(ri, n, nb, line_from, line_to, burner_lines, t0, t1)
    return _Lines(numbers=numbers, imsi=imsi, line_owner=line_owner, line_from=line_from, line_to=line_to,
                  n_lines=n_lines, imei=imei, seg_line=seg_line, seg_start=seg_start, seg_imei=seg_imei,
                  burner_lines=burner_lines, swap_rows=swap_rows, b_group=b_group, b_member=b_member)


def _burners(ri: np.random.Generator, members: list[np.ndarray], n: int, s: SynthSettings, t0: int,
             t1: int) -> tuple[list, list, list, list, list, list[list[np.ndarray]]]:
    """Short-lived burner lines of group members, one after another (line index ``n + k``).

    Returns per burner line its owner, group, member index, start and end, and per group and
    member the burner line indices.
    """
    b_owner, b_group, b_member, b_from, b_to = [], [], [], [], []
    burner_lines: list[list[np.ndarray]] = []
    span = t1 - t0
    for g, m in enumerate(members):
        per_member = []
        for mi, _ in enumerate(m):
            if ri.random() >= s.burner_fraction:
                per_member.append(np.zeros(0, np.int64))
                continue
            k = int(ri.integers(1, 4))
            start = t0 + int(ri.uniform(0, 0.3) * span)
            lines = []
            for _ in range(k):
                life = int(ri.uniform(4, 12) * SECONDS_PER_DAY)
                if start >= t1:
                    break
                lines.append(n + len(b_owner))
                b_owner.append(m[mi]); b_group.append(g); b_member.append(mi)
                b_from.append(start); b_to.append(min(start + life, t1))
                start = start + life + int(ri.uniform(0, 2) * 3600)
            per_member.append(np.array(lines, dtype=np.int64))
        burner_lines.append(per_member)
    return b_owner, b_group, b_member, b_from, b_to, burner_lines


def _handsets(ri: np.random.Generator, n: int, nb: int, line_from: np.ndarray, line_to: np.ndarray,
              burner_lines: list[list[np.ndarray]], t0: int,
              t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
    """Handsets: one per own line, 2% upgrade mid-window; burner handsets by pattern.

    Returns the IMEIs, the handset segments (line, start, IMEI index) sorted by line and
    start, and the swap rows of the truth table.
    """
    span = t1 - t0
    own_imei = ids.imeis(ri, n)
    seg_line = list(range(n))
    seg_start = list(line_from[:n])
    seg_imei = list(range(n))
    upgrade = np.flatnonzero(ri.random(n) < 0.02)
    n_up = len(upgrade)
    burner_imei_count = 3 * nb + 1
    all_imei = np.concatenate([own_imei, ids.imeis(ri, n_up), ids.imeis(ri, burner_imei_count, tacs=ids.BURNER_TACS)])
    swap_rows = []
    for i, ln in enumerate(upgrade.tolist()):
        ts = t0 + int(ri.uniform(0.2, 0.8) * span)
        seg_line.append(ln); seg_start.append(ts); seg_imei.append(n + i)
        swap_rows.append((ln, ln, t0 - 400 * SECONDS_PER_DAY, ts, "upgrade", -1))
        swap_rows.append((ln, n + i, ts, t1 + 400 * SECONDS_PER_DAY, "upgrade", -1))
    nxt = n + n_up
    for g, per_member in enumerate(burner_lines):
        for lines in per_member:
            if len(lines) == 0:
                continue
            if len(lines) >= 2 and ri.random() < 0.6:
                h = nxt; nxt += 1
                for ln in lines.tolist():
                    seg_line.append(ln); seg_start.append(line_from[ln]); seg_imei.append(h)
                    swap_rows.append((ln, h, line_from[ln], line_to[ln], "multi_sim_handset", g))
                continue
            for ln in lines.tolist():
                if ri.random() < 0.4:
                    k = int(ri.integers(2, 4))
                    cuts = np.sort(ri.uniform(line_from[ln], line_to[ln], k - 1)).astype(np.int64)
                    bounds = [int(line_from[ln]), *cuts.tolist(), int(line_to[ln])]
                    for a, b in zip(bounds[:-1], bounds[1:]):
                        h = nxt; nxt += 1
                        seg_line.append(ln); seg_start.append(a); seg_imei.append(h)
                        swap_rows.append((ln, h, a, b, "multi_handset_sim", g))
                else:
                    h = nxt; nxt += 1
                    seg_line.append(ln); seg_start.append(line_from[ln]); seg_imei.append(h)
    if nxt > len(all_imei):
        all_imei = np.concatenate([all_imei, ids.imeis(ri, nxt - len(all_imei), tacs=ids.BURNER_TACS)])
    seg_line_a = np.array(seg_line, dtype=np.int64)
    seg_start_a = np.array(seg_start, dtype=np.int64)
    seg_imei_a = np.array(seg_imei, dtype=np.int64)
    o = np.lexsort((seg_start_a, seg_line_a))
    return all_imei, seg_line_a[o], seg_start_a[o], seg_imei_a[o], swap_rows


def _ts(a: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(a, dtype=np.int64) * 1_000_000, pa.timestamp("us", tz="UTC"))


def _truth_identity(w: World, swap_rows: list, b_group: list, b_member: list) -> None:
    n = w.n_phones
    gm_phone, gm_group, gm_member, gm_line, gm_type = [], [], [], [], []
    for g, m in enumerate(w.members):
        for mi, p in enumerate(m.tolist()):
            gm_group.append(g); gm_member.append(mi); gm_line.append(p); gm_type.append("personal"); gm_phone.append(p)
            for ln in w.burner_lines[g][mi].tolist():
                gm_group.append(g); gm_member.append(mi); gm_line.append(ln); gm_type.append("burner"); gm_phone.append(p)
    gl = np.array(gm_line, dtype=np.int64)
    w.truth["group_members"] = pa.table({
        "group_id": pa.array([f"G{g:03d}" for g in gm_group], pa.string()),
        "member_id": pa.array([f"G{g:03d}-M{m:02d}" for g, m in zip(gm_group, gm_member)], pa.string()),
        "msisdn": pa.array(w.numbers[gl] if len(gl) else [], pa.string()),
        "imsi": pa.array(w.imsi[gl] if len(gl) else [], pa.string()),
        "line_type": pa.array(gm_type, pa.string()),
    })
    bl = np.arange(n, w.n_lines)
    w.truth["burners"] = pa.table({
        "msisdn": pa.array(w.numbers[bl], pa.string()),
        "imsi": pa.array(w.imsi[bl], pa.string()),
        "group_id": pa.array([f"G{g:03d}" for g in b_group], pa.string()),
        "member_id": pa.array([f"G{g:03d}-M{m:02d}" for g, m in zip(b_group, b_member)], pa.string()),
        "owner_msisdn": pa.array(w.numbers[w.line_owner[bl]], pa.string()),
        "active_from": _ts(w.line_from[bl]),
        "active_to": _ts(w.line_to[bl]),
    })
    ln = np.array([r[0] for r in swap_rows], dtype=np.int64)
    hi = np.array([r[1] for r in swap_rows], dtype=np.int64)
    w.truth["imei_swaps"] = pa.table({
        "msisdn": pa.array(w.numbers[ln] if len(ln) else [], pa.string()),
        "imsi": pa.array(w.imsi[ln] if len(ln) else [], pa.string()),
        "imei": pa.array(w.imei[hi] if len(hi) else [], pa.string()),
        "valid_from": _ts(np.array([r[2] for r in swap_rows], dtype=np.int64)),
        "valid_to": _ts(np.array([r[3] for r in swap_rows], dtype=np.int64)),
        "pattern": pa.array([r[4] for r in swap_rows], pa.string()),
        "group_id": pa.array([f"G{r[5]:03d}" if r[5] >= 0 else None for r in swap_rows], pa.string()),
    })


def _event_arrays(n: int) -> dict[str, np.ndarray]:
    return {"t": np.zeros(n, np.int64), "a": np.zeros(n, np.int64), "b": np.zeros(n, np.int64),
            "kind": np.zeros(n, np.int8), "dur": np.zeros(n, np.int32), "dir": np.zeros(n, np.int8),
            "served": np.zeros(n, np.int64), "cell": np.zeros(n, np.int64)}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return _event_arrays(0)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def two_legs(t, a, b, kind, dur, cell_a, cell_b, n_lines) -> dict[str, np.ndarray]:
    """MO record for every event, MT record where the other party is on the network; kind 2 = data."""
    mo = {"t": t, "a": a, "b": np.where(kind == 2, -1, b), "kind": kind, "dur": dur,
          "dir": np.zeros(len(t), np.int8), "served": a, "cell": cell_a}
    mt_mask = (kind != 2) & (b >= 0) & (b < n_lines)
    mt = {"t": t[mt_mask], "a": a[mt_mask], "b": b[mt_mask], "kind": kind[mt_mask], "dur": dur[mt_mask],
          "dir": np.ones(int(mt_mask.sum()), np.int8), "served": b[mt_mask], "cell": cell_b[mt_mask]}
    return _concat([mo, mt])


def durations(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Voice: log-normal, median ~1 min; SMS: 0; data sessions: median ~5 min."""
    v = np.clip(rng.lognormal(np.log(55), 1.0, len(kind)), 3, 7200)
    d = np.clip(rng.lognormal(np.log(300), 1.2, len(kind)), 1, 36000)
    return np.where(kind == 0, v, np.where(kind == 1, 0, d)).astype(np.int32)


def _plant_colocations(w: World, rng: np.random.Generator) -> None:
    """Members of a group meet near a real incident: their lines hit its covering sector
    within ``colocation_hours`` before it; sometimes one member's own phone goes silent."""
    s = w.settings
    H = int(s.colocation_hours * 3600)
    parts, ov, rows = [], [], []
    inc = w.inc
    if len(inc.t) == 0:
        w.truth["colocations"] = _coloc_table(w, [])
        w.overrides = {k: np.zeros(0, np.int64) for k in ("line", "t0", "t1", "cell")}
        return
    tree = cKDTree(np.column_stack([inc.x, inc.y]))
    used = np.zeros(len(inc.t), bool)
    valid_t = (inc.t - H >= w.t_start) & (inc.t + 2 * 3600 < w.t_end)
    for g, m in enumerate(w.members):
        _, cand = tree.query(w.turf[g], k=min(len(inc.t), 60))
        cand = np.atleast_1d(cand)
        cand = cand[valid_t[cand] & ~used[cand]]
        cand = rng.permutation(cand)
        chosen: list[int] = []
        for c in cand.tolist():
            if all(abs(int(inc.t[c]) - int(inc.t[o])) > 12 * 3600 for o in chosen):
                chosen.append(c)
            if len(chosen) == s.plants_per_group:
                break
        for c in chosen:
            used[c] = True
            ti, cell = int(inc.t[c]), int(inc.cell[c])
            k = int(rng.integers(2, min(4, len(m)) + 1))
            who = rng.choice(len(m), k, replace=False)
            line = np.array([int(w.active_burner(g, mi, np.array([ti - H]))[0]) for mi in who])
            use_burner = (line >= 0) & (rng.random(k) < 0.7)
            silent = -1
            if rng.random() < s.silent_fraction and (line >= 0).any():
                silent = int(rng.choice(np.flatnonzero(line >= 0)))
                use_burner[silent] = True
            chosen_line = np.where(use_burner, line, m[who])
            for i, mi in enumerate(who.tolist()):
                for ln in {int(m[mi]), int(chosen_line[i])}:
                    ov.append((ln, ti - H, ti, cell))
                rows.append((c, g, mi, int(chosen_line[i]), "colocated", ti - H, ti))
            if silent >= 0:
                own = int(m[who[silent]])
                ov.append((own, ti - 2 * 3600, ti + 2 * 3600, -1))
                rows.append((c, g, int(who[silent]), own, "silent", ti - 2 * 3600, ti + 2 * 3600))
            # planted calls: each planted line calls another planted line, 1-3 times
            n_ev = rng.integers(1, 4, k)
            src = np.repeat(np.arange(k), n_ev)
            dst = (src + rng.integers(1, k, len(src))) % k
            t = ti - rng.integers(300, H, len(src))
            kind = (rng.random(len(src)) < 0.4).astype(np.int8)
            cells = np.full(len(src), cell)
            parts.append(two_legs(t, chosen_line[src], chosen_line[dst], kind, durations(rng, kind),
                                  cells, cells, w.n_lines))
    w.extra_events = _concat(parts)
    o = np.array(ov, dtype=np.int64).reshape(-1, 4)
    w.overrides = {"line": o[:, 0], "t0": o[:, 1], "t1": o[:, 2], "cell": o[:, 3]}
    w.truth["colocations"] = _coloc_table(w, rows)


def _coloc_table(w: World, rows: list) -> pa.Table:
    c = np.array([r[0] for r in rows], dtype=np.int64)
    ln = np.array([r[3] for r in rows], dtype=np.int64)
    cell_ids = w.net.cell_ids()
    return pa.table({
        "incident_id": pa.array(w.inc.incident_id[c] if len(c) else [], pa.string()),
        "group_id": pa.array([f"G{r[1]:03d}" for r in rows], pa.string()),
        "member_id": pa.array([f"G{r[1]:03d}-M{r[2]:02d}" for r in rows], pa.string()),
        "msisdn": pa.array(w.numbers[ln] if len(ln) else [], pa.string()),
        "imsi": pa.array(w.imsi[ln] if len(ln) else [], pa.string()),
        "role": pa.array([r[4] for r in rows], pa.string()),
        "window_start": _ts(np.array([r[5] for r in rows], dtype=np.int64)),
        "window_end": _ts(np.array([r[6] for r in rows], dtype=np.int64)),
        "cell_id": pa.array(cell_ids[w.inc.cell[c]] if len(c) else [], pa.string()),
    })


def _group_traffic(w: World, rng: np.random.Generator) -> None:
    """Dense calling inside groups, on burners while they are active."""
    s = w.settings
    parts = [w.extra_events]
    for g, m in enumerate(w.members):
        k = len(m)
        cnt = rng.poisson(s.group_calls_per_member_day, (k, s.days))
        src = np.repeat(np.repeat(np.arange(k), s.days), cnt.ravel())
        day = np.repeat(np.tile(np.arange(s.days), k), cnt.ravel())
        if len(src) == 0:
            continue
        dst = (src + rng.integers(1, k, len(src))) % k
        hour = sample_hours(rng, w.weekend[day], curve="group")
        t = w.day_start[day] + hour * 3600 + rng.integers(0, 3600, len(src))
        a, b = m[src].copy(), m[dst].copy()
        for arr, who in ((a, src), (b, dst)):
            for mi in range(k):
                sel = who == mi
                if not sel.any():
                    continue
                bl = w.active_burner(g, mi, t[sel])
                use = (bl >= 0) & (rng.random(int(sel.sum())) < 0.85)
                arr[np.flatnonzero(sel)[use]] = bl[use]
        kind = (rng.random(len(src)) < 0.45).astype(np.int8)
        we = w.weekend[day]
        cell_a = w.locate(w.line_owner[a], hour, we, rng)
        cell_b = w.locate(w.line_owner[b], hour, we, rng)
        parts.append(two_legs(t, a, b, kind, durations(rng, kind), cell_a, cell_b, w.n_lines))
    w.extra_events = _concat(parts)
