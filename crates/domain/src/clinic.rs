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
    /// Great-circle distance in kilometres (haversine; plenty accurate at Korea's scale).
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0088;
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
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
    }

    #[test]
    fn municipality_knows_its_province() {
        assert_eq!(MunicipalityCode(11010).province(), ProvinceCode(11));
        assert_eq!(MunicipalityCode(39020).province(), ProvinceCode(39));
    }
}
