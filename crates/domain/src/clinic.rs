//! Clinics: where people are vaccinated, where they are, and how many they can see per hour.

use crate::product::Product;
use serde::{Deserialize, Serialize};

/// A clinic's dense index, assigned in load order. Dense so that per-clinic tables are arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClinicId(pub u32);

impl ClinicId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// KOSTAT statistical-area code of a province (시도), e.g. 11 for Seoul.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProvinceCode(pub u8);

/// KOSTAT statistical-area code of a municipality (시군구), e.g. 11010 for Jongno-gu.
/// Its first two digits are the province's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MunicipalityCode(pub u32);

impl MunicipalityCode {
    pub fn province(self) -> ProvinceCode {
        // Five-digit codes: the leading two digits name the province, so the quotient fits a u8.
        ProvinceCode((self.0 / 1000) as u8)
    }
}

/// A point on the earth, in degrees (WGS84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// Great-circle distance in kilometres on a sphere of the earth's mean radius (plenty accurate
    /// at Korea's scale).
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        self.unit().distance_km(other.unit())
    }

    /// The point as a unit vector from the earth's centre.
    pub fn unit(self) -> UnitVector {
        let (lat, lon) = (self.lat.to_radians(), self.lon.to_radians());
        let (sin_lat, cos_lat) = lat.sin_cos();
        let (sin_lon, cos_lon) = lon.sin_cos();
        UnitVector {
            x: cos_lat * cos_lon,
            y: cos_lat * sin_lon,
            z: sin_lat,
        }
    }
}

/// A point on the earth as a unit vector from its centre. The distance between two is computed
/// from the chord between them, with no sine or cosine per pair: a nearest-clinic scan keeps one
/// per clinic and measures hundreds of them per search (the haversine's four trigonometric calls
/// per pair were a fifth of a search's CPU).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitVector {
    x: f64,
    y: f64,
    z: f64,
}

impl UnitVector {
    /// Great-circle distance in kilometres. The chord `c` between two points `θ` apart on the
    /// unit sphere is `2·sin(θ/2)`, so `θ = 2·asin(c/2)`: the haversine formula, whose `a` is
    /// `(c/2)²`, without its trigonometry. Symmetric and exactly 0 for the same point.
    pub fn distance_km(self, other: UnitVector) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0088;
        let (dx, dy, dz) = (self.x - other.x, self.y - other.y, self.z - other.z);
        let half_chord = (dx * dx + dy * dy + dz * dz).sqrt() / 2.0;
        2.0 * EARTH_RADIUS_KM * half_chord.min(1.0).asin()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClinicKind {
    /// 위탁의료기관: a GP or hospital contracted to vaccinate.
    Consigned,
    /// 예방접종센터: a large public vaccination centre.
    Centre,
}

/// The hours a clinic vaccinates and how many people it can see in each hour ("time band").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    /// First band, as an hour of the day (9 means 09:00–10:00).
    pub open_hour: u8,
    /// The hour the last band ends (18 means the last band is 17:00–18:00).
    pub close_hour: u8,
    /// People per band.
    pub per_band: u16,
    /// Whether the clinic also vaccinates on Saturdays. No clinic vaccinates on Sundays.
    pub saturdays: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clinic {
    pub id: ClinicId,
    pub name: String,
    pub kind: ClinicKind,
    pub municipality: MunicipalityCode,
    pub location: GeoPoint,
    pub products: Vec<Product>,
    pub hours: Hours,
}

impl Clinic {
    pub fn province(&self) -> ProvinceCode {
        self.municipality.province()
    }

    pub fn offers(&self, product: Product) -> bool {
        self.products.contains(&product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seoul_to_busan_is_about_325_km() {
        let seoul = GeoPoint {
            lat: 37.5665,
            lon: 126.978,
        };
        let busan = GeoPoint {
            lat: 35.1796,
            lon: 129.0756,
        };
        let d = seoul.distance_km(busan);
        assert!((320.0..330.0).contains(&d), "{d}");
        assert_eq!(seoul.distance_km(seoul), 0.0);
        assert_eq!(busan.distance_km(seoul), d, "symmetric");
    }

    /// The chord form agrees with the haversine formula it replaced, near and far.
    #[test]
    fn distance_agrees_with_the_haversine_formula() {
        fn haversine(a: GeoPoint, b: GeoPoint) -> f64 {
            let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
            let (dlat, dlon) = (lat2 - lat1, (b.lon - a.lon).to_radians());
            let h =
                (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
            2.0 * 6371.0088 * h.sqrt().asin()
        }
        let seoul = GeoPoint {
            lat: 37.5665,
            lon: 126.978,
        };
        for (dlat, dlon) in [
            (0.0, 1e-6),
            (1e-5, 0.0),
            (0.001, 0.002),
            (0.05, -0.03),
            (-2.4, 2.1),
            (-4.0, -2.5),
        ] {
            let other = GeoPoint {
                lat: seoul.lat + dlat,
                lon: seoul.lon + dlon,
            };
            let (chord, reference) = (seoul.distance_km(other), haversine(seoul, other));
            assert!(
                (chord - reference).abs() <= 1e-9 * reference.max(1.0),
                "{dlat},{dlon}: {chord} against {reference}"
            );
        }
    }

    #[test]
    fn municipality_knows_its_province() {
        assert_eq!(MunicipalityCode(11010).province(), ProvinceCode(11));
        assert_eq!(MunicipalityCode(39020).province(), ProvinceCode(39));
    }
}
