//! Finding clinics: by province, by municipality, and nearest to a point.
//!
//! [`ClinicIndex`] is built once from the clinic list and then answers every query from memory. Nearest
//! queries use a uniform latitude/longitude grid over [`KOREA_BOUNDS`] with cells of about 2.8 km, and
//! search outwards in widening circles (1 km, 2 km, 4 km, … up to the radius asked for), so a query in
//! Seoul for the 20 nearest clinics reads a few cells, not 13,000 clinics. The answer is exactly the
//! brute-force answer: every clinic within the radius, nearest first, ties by id, cut to the limit.

use crate::clinic::{Clinic, ClinicId, GeoPoint, MunicipalityCode, ProvinceCode, UnitVector};
use crate::region::KOREA_BOUNDS;
use std::collections::BTreeMap;

/// Most results one nearest query returns; larger limits are cut to this.
pub const NEAREST_LIMIT_MAX: usize = 200;
/// Widest radius one nearest query searches; larger radii are cut to this.
pub const NEAREST_RADIUS_KM_MAX: f64 = 50.0;

/// Cell height: 0.025° of latitude ≈ 2.8 km.
const CELL_LAT_DEG: f64 = 0.025;
/// Cell width: 0.03125° of longitude ≈ 2.8 km at 37.5° N, 2.9 km at 33° N.
const CELL_LON_DEG: f64 = 0.03125;
/// The first circle a nearest query searches; each next one is twice as wide.
const FIRST_RADIUS_KM: f64 = 1.0;
/// The earth's mean radius, as [`GeoPoint::distance_km`] uses it.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Why a search was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("the point's latitude or longitude is not a finite number")]
    NotANumber,
    #[error("the point ({lat}, {lon}) is outside Korea")]
    OutsideKorea { lat: f64, lon: f64 },
    #[error("the radius must be a positive, finite number of kilometres, got {0}")]
    InvalidRadius(f64),
}

impl SearchError {
    pub fn code(self) -> &'static str {
        match self {
            SearchError::NotANumber => "coordinates_not_numbers",
            SearchError::OutsideKorea { .. } => "outside_korea",
            SearchError::InvalidRadius(_) => "invalid_radius",
        }
    }

    pub fn message_ko(self) -> &'static str {
        match self {
            SearchError::NotANumber => "위치 좌표가 올바르지 않습니다.",
            SearchError::OutsideKorea { .. } => "국내 위치만 검색할 수 있습니다.",
            SearchError::InvalidRadius(_) => "검색 반경이 올바르지 않습니다.",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            SearchError::NotANumber => "The location's coordinates are not valid.",
            SearchError::OutsideKorea { .. } => "Only locations in Korea can be searched.",
            SearchError::InvalidRadius(_) => "The search radius is not valid.",
        }
    }
}

/// A clinic as the grid stores it: id and place side by side, so a cell's scan reads one slice;
/// the place as a unit vector, so measuring it needs no trigonometry ([`UnitVector`]).
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: ClinicId,
    place: UnitVector,
}

/// Clinics by province, by municipality and by place. Immutable once built.
#[derive(Debug, Clone)]
pub struct ClinicIndex {
    by_province: BTreeMap<ProvinceCode, Vec<ClinicId>>,
    by_municipality: BTreeMap<MunicipalityCode, Vec<ClinicId>>,
    rows: usize,
    cols: usize,
    /// `cell_start[c]..cell_start[c + 1]` are cell `c`'s entries (cells row-major, rows from the south).
    cell_start: Vec<usize>,
    entries: Vec<Entry>,
}

impl ClinicIndex {
    pub fn new(clinics: &[Clinic]) -> ClinicIndex {
        let mut by_province: BTreeMap<ProvinceCode, Vec<ClinicId>> = BTreeMap::new();
        let mut by_municipality: BTreeMap<MunicipalityCode, Vec<ClinicId>> = BTreeMap::new();
        for c in clinics {
            by_province.entry(c.province()).or_default().push(c.id);
            by_municipality
                .entry(c.municipality)
                .or_default()
                .push(c.id);
        }
        for ids in by_province.values_mut().chain(by_municipality.values_mut()) {
            ids.sort_unstable();
        }

        let rows = cells_across(KOREA_BOUNDS.lat_max - KOREA_BOUNDS.lat_min, CELL_LAT_DEG);
        let cols = cells_across(KOREA_BOUNDS.lon_max - KOREA_BOUNDS.lon_min, CELL_LON_DEG);
        let mut entries: Vec<(usize, Entry)> = clinics
            .iter()
            .map(|c| {
                let cell = row_of(c.location.lat, rows) * cols + col_of(c.location.lon, cols);
                let entry = Entry {
                    id: c.id,
                    place: c.location.unit(),
                };
                (cell, entry)
            })
            .collect();
        entries.sort_unstable_by_key(|&(cell, e)| (cell, e.id));
        let mut cell_start = vec![0; rows * cols + 1];
        for &(cell, _) in &entries {
            if let Some(count) = cell_start.get_mut(cell + 1) {
                *count += 1;
            }
        }
        for c in 1..cell_start.len() {
            cell_start[c] += cell_start[c - 1];
        }
        debug_assert_eq!(cell_start.last().copied(), Some(clinics.len()));
        ClinicIndex {
            by_province,
            by_municipality,
            rows,
            cols,
            cell_start,
            entries: entries.into_iter().map(|(_, e)| e).collect(),
        }
    }

    /// Number of clinics indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The province's clinics, by id (empty for a province with none).
    pub fn in_province(&self, province: ProvinceCode) -> &[ClinicId] {
        self.by_province.get(&province).map_or(&[], Vec::as_slice)
    }

    /// The municipality's clinics, by id (empty for a municipality with none).
    pub fn in_municipality(&self, municipality: MunicipalityCode) -> &[ClinicId] {
        self.by_municipality
            .get(&municipality)
            .map_or(&[], Vec::as_slice)
    }

    /// The clinics within `radius_km` of `point` (great-circle distance, bounds included), nearest first,
    /// ties by id, at most `limit` of them. `radius_km` is cut to [`NEAREST_RADIUS_KM_MAX`] and `limit` to
    /// [`NEAREST_LIMIT_MAX`]; a point outside [`KOREA_BOUNDS`] or a radius that is not a positive finite
    /// number is refused.
    pub fn nearest(
        &self,
        point: GeoPoint,
        radius_km: f64,
        limit: usize,
    ) -> Result<Vec<(ClinicId, f64)>, SearchError> {
        self.nearest_counting(point, radius_km, limit)
            .map(|(found, _)| found)
    }

    /// [`ClinicIndex::nearest`], also returning how many clinics' distances it computed.
    fn nearest_counting(
        &self,
        point: GeoPoint,
        radius_km: f64,
        limit: usize,
    ) -> Result<(Vec<(ClinicId, f64)>, usize), SearchError> {
        if !point.lat.is_finite() || !point.lon.is_finite() {
            return Err(SearchError::NotANumber);
        }
        if !KOREA_BOUNDS.contains(point) {
            return Err(SearchError::OutsideKorea {
                lat: point.lat,
                lon: point.lon,
            });
        }
        if !radius_km.is_finite() || radius_km <= 0.0 {
            return Err(SearchError::InvalidRadius(radius_km));
        }
        let radius_km = radius_km.min(NEAREST_RADIUS_KM_MAX);
        let limit = limit.min(NEAREST_LIMIT_MAX);
        let mut scanned = 0;
        if limit == 0 {
            return Ok((Vec::new(), scanned));
        }
        // Widening circles: once one holds `limit` clinics, nothing outside it can be among the nearest.
        let mut circle_km = FIRST_RADIUS_KM.min(radius_km);
        let mut found = Vec::new();
        loop {
            found.clear();
            scanned += self.within(point, circle_km, &mut found);
            if found.len() >= limit || circle_km >= radius_km {
                break;
            }
            circle_km = (circle_km * 2.0).min(radius_km);
        }
        found.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(limit);
        Ok((found, scanned))
    }

    /// Pushes every clinic within `radius_km` of `point` onto `found`; returns how many it looked at.
    fn within(&self, point: GeoPoint, radius_km: f64, found: &mut Vec<(ClinicId, f64)>) -> usize {
        // Every point of the spherical cap lies within these latitude and longitude spans (the longitude
        // one is exact for a cap away from the poles); a hair of margin absorbs rounding.
        let angle = radius_km / EARTH_RADIUS_KM;
        let dlat_deg = angle.to_degrees() * (1.0 + 1e-9) + 1e-9;
        let sin_dlon = angle.sin() / point.lat.to_radians().cos();
        let dlon_deg = if sin_dlon < 1.0 {
            sin_dlon.asin().to_degrees() * (1.0 + 1e-9) + 1e-9
        } else {
            360.0
        };
        let (row_lo, row_hi) = (
            row_of(point.lat - dlat_deg, self.rows),
            row_of(point.lat + dlat_deg, self.rows),
        );
        let (col_lo, col_hi) = (
            col_of(point.lon - dlon_deg, self.cols),
            col_of(point.lon + dlon_deg, self.cols),
        );
        let mut scanned = 0;
        let from = point.unit();
        for row in row_lo..=row_hi {
            // A row's cells from col_lo to col_hi are one contiguous run of entries.
            let start = self.cell_start.get(row * self.cols + col_lo).copied();
            let end = self.cell_start.get(row * self.cols + col_hi + 1).copied();
            let run = match (start, end) {
                (Some(start), Some(end)) => self.entries.get(start..end).unwrap_or(&[]),
                _ => &[],
            };
            scanned += run.len();
            for e in run {
                let d = from.distance_km(e.place);
                if d <= radius_km {
                    found.push((e.id, d));
                }
            }
        }
        scanned
    }
}

fn cells_across(span_deg: f64, cell_deg: f64) -> usize {
    // A few hundred cells at most, from constants.
    (span_deg / cell_deg).ceil().max(1.0) as usize
}

/// The grid row of a latitude; points beyond the bounds (clinics anywhere, query spans) clamp to the
/// edge rows, which keeps both sides of a query consistent. NaN clamps to row 0 (`as` saturates).
fn row_of(lat: f64, rows: usize) -> usize {
    (((lat - KOREA_BOUNDS.lat_min) / CELL_LAT_DEG)
        .floor()
        .max(0.0) as usize)
        .min(rows - 1)
}

fn col_of(lon: f64, cols: usize) -> usize {
    (((lon - KOREA_BOUNDS.lon_min) / CELL_LON_DEG)
        .floor()
        .max(0.0) as usize)
        .min(cols - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinic::{ClinicKind, Hours};
    use crate::demo::demo_clinics;
    use crate::region::Regions;

    fn clinic(id: u32, municipality: u32, lat: f64, lon: f64) -> Clinic {
        Clinic {
            id: ClinicId(id),
            name: format!("clinic {id}"),
            kind: ClinicKind::Consigned,
            municipality: MunicipalityCode(municipality),
            location: GeoPoint { lat, lon },
            products: vec![],
            hours: Hours {
                open_hour: 9,
                close_hour: 18,
                per_band: 6,
                saturdays: true,
            },
        }
    }

    fn ids(found: &[(ClinicId, f64)]) -> Vec<u32> {
        found.iter().map(|(id, _)| id.0).collect()
    }

    const CITY_HALL: GeoPoint = GeoPoint {
        lat: 37.5663,
        lon: 126.9779,
    };

    #[test]
    fn lookups_by_province_and_municipality_are_sorted_by_id() {
        let index = ClinicIndex::new(&[
            clinic(3, 11010, 37.59, 126.97),
            clinic(1, 11020, 37.56, 126.99),
            clinic(2, 11010, 37.58, 126.98),
            clinic(0, 21010, 35.10, 129.03),
        ]);
        assert_eq!(index.len(), 4);
        assert_eq!(
            index.in_province(ProvinceCode(11)),
            [ClinicId(1), ClinicId(2), ClinicId(3)]
        );
        assert_eq!(index.in_province(ProvinceCode(21)), [ClinicId(0)]);
        assert!(index.in_province(ProvinceCode(39)).is_empty());
        assert_eq!(
            index.in_municipality(MunicipalityCode(11010)),
            [ClinicId(2), ClinicId(3)]
        );
        assert!(index.in_municipality(MunicipalityCode(11030)).is_empty());
    }

    #[test]
    fn nearest_sorts_by_distance_then_id_and_respects_radius_and_limit() {
        // Two clinics in one building are exactly as far: the tie goes to the smaller id.
        let point = GeoPoint {
            lat: 37.5,
            lon: 127.0,
        };
        let index = ClinicIndex::new(&[
            clinic(3, 11010, 37.625, 127.0),     // ≈ 13.9 km north
            clinic(2, 11010, 37.5, 127.0078125), // ≈ 0.69 km east
            clinic(1, 11010, 37.5, 127.0078125), // the same building: ties with 2
            clinic(0, 11010, 37.5, 127.0),       // at the point
            clinic(4, 21010, 35.10, 129.03),     // Busan
        ]);
        let found = index.nearest(point, 5.0, 10).expect("valid query");
        assert_eq!(ids(&found), [0, 1, 2]);
        assert_eq!(found[0].1, 0.0);
        assert_eq!(found[1].1, found[2].1);
        assert!((found[1].1 - 0.6896).abs() < 0.001, "{found:?}");
        assert_eq!(ids(&index.nearest(point, 5.0, 2).expect("valid")), [0, 1]);
        assert_eq!(ids(&index.nearest(point, 0.5, 10).expect("valid")), [0]);
        assert_eq!(
            ids(&index.nearest(point, 14.0, 10).expect("valid")),
            [0, 1, 2, 3]
        );
        assert!(index.nearest(point, 5.0, 0).expect("valid").is_empty());
        // Busan is ≈ 300 km away: beyond the 50 km cap whatever the radius asked for.
        assert_eq!(
            ids(&index.nearest(point, 1000.0, 10).expect("valid")),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn limit_is_capped() {
        let clinics: Vec<Clinic> = (0..300)
            .map(|i| clinic(i, 11010, 37.5663 + f64::from(i) * 1e-5, 126.9779))
            .collect();
        let index = ClinicIndex::new(&clinics);
        let found = index.nearest(CITY_HALL, 10.0, 10_000).expect("valid");
        assert_eq!(found.len(), NEAREST_LIMIT_MAX);
        assert_eq!(ids(&found), (0..200).collect::<Vec<u32>>());
    }

    #[test]
    fn bad_queries_are_refused_with_a_code() {
        let index = ClinicIndex::new(&[clinic(0, 11010, 37.5663, 126.9779)]);
        let cases = [
            (
                GeoPoint {
                    lat: f64::NAN,
                    lon: 127.0,
                },
                5.0,
                "coordinates_not_numbers",
            ),
            (
                GeoPoint {
                    lat: 37.5,
                    lon: f64::INFINITY,
                },
                5.0,
                "coordinates_not_numbers",
            ),
            (
                GeoPoint {
                    lat: 35.68,
                    lon: 139.69,
                },
                5.0,
                "outside_korea",
            ),
            (
                GeoPoint {
                    lat: 39.03,
                    lon: 125.75,
                },
                5.0,
                "outside_korea",
            ),
            (CITY_HALL, 0.0, "invalid_radius"),
            (CITY_HALL, -1.0, "invalid_radius"),
            (CITY_HALL, f64::NAN, "invalid_radius"),
            (CITY_HALL, f64::INFINITY, "invalid_radius"),
        ];
        for (point, radius, code) in cases {
            let e = index.nearest(point, radius, 10).expect_err("refused");
            assert_eq!(e.code(), code, "{point:?} {radius}");
            assert!(!e.message_ko().is_empty() && !e.message_en().is_empty());
        }
    }

    #[test]
    fn clinics_outside_the_grid_are_still_found() {
        // Clinics beyond the bounds clamp into edge cells; a query near the edge still sees them.
        let index = ClinicIndex::new(&[
            clinic(0, 37430, 37.24, 132.05), // east of the box
            clinic(1, 39010, 32.98, 126.3),  // south of the box
        ]);
        let east = GeoPoint {
            lat: 37.24,
            lon: 131.95,
        };
        assert_eq!(ids(&index.nearest(east, 10.0, 5).expect("valid")), [0]);
        let south = GeoPoint {
            lat: 33.01,
            lon: 126.3,
        };
        assert_eq!(ids(&index.nearest(south, 10.0, 5).expect("valid")), [1]);
    }

    #[test]
    fn a_dense_query_reads_a_few_cells_not_the_country() {
        let clinics = demo_clinics(&Regions::korea(), 2021);
        let index = ClinicIndex::new(&clinics);
        let (found, scanned) = index
            .nearest_counting(CITY_HALL, NEAREST_RADIUS_KM_MAX, 20)
            .expect("valid");
        assert_eq!(found.len(), 20);
        assert!(scanned < 1_000, "scanned {scanned} of {}", clinics.len());
        // A wide query far from everything reads more, but never the whole country.
        let sea = GeoPoint {
            lat: 34.0,
            lon: 125.0,
        };
        let (_, scanned) = index
            .nearest_counting(sea, NEAREST_RADIUS_KM_MAX, 20)
            .expect("valid");
        assert!(scanned < clinics.len() / 10, "scanned {scanned}");
    }
}
