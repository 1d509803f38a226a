//! Korea's provinces (시도) and municipalities (시군구): codes, names, centroids and population.
//!
//! The real data (KOSTAT/SGIS 2018 boundaries, 2021 population; see `data/ATTRIBUTION.md`) is embedded
//! in the binary, so [`Regions::korea`] needs no file system. [`Regions::parse`] is the only way to build
//! a [`Regions`], so every value of it is valid: codes unique and well formed, every municipality in a
//! known province, every centroid inside [`KOREA_BOUNDS`].

use crate::clinic::{GeoPoint, MunicipalityCode, ProvinceCode};
use std::collections::BTreeSet;
use std::fmt;

const PROVINCES_CSV: &str = include_str!("../data/kr_provinces_2018.csv");
const MUNICIPALITIES_CSV: &str = include_str!("../data/kr_municipalities_2018.csv");

const PROVINCES_HEADER: &str = "code,name,name_en,lat,lon,population_2021";
const MUNICIPALITIES_HEADER: &str = "code,province_code,province,province_en,name,name_en,lat,lon";

/// A latitude/longitude rectangle, in degrees, bounds included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoBounds {
    pub lat_min: f64,
    pub lat_max: f64,
    pub lon_min: f64,
    pub lon_max: f64,
}

impl GeoBounds {
    /// Whether the point lies inside (false for NaN coordinates).
    pub fn contains(&self, point: GeoPoint) -> bool {
        (self.lat_min..=self.lat_max).contains(&point.lat)
            && (self.lon_min..=self.lon_max).contains(&point.lon)
    }
}

/// A box around South Korea's land, islands included: Marado (33.11° N) to Goseong (38.6° N), Baengnyeongdo
/// (124.6° E) to Dokdo (131.9° E), with a small margin.
pub const KOREA_BOUNDS: GeoBounds = GeoBounds {
    lat_min: 33.0,
    lat_max: 38.7,
    lon_min: 124.5,
    lon_max: 132.0,
};

/// A province (시도): a special or metropolitan city, or a province proper.
#[derive(Debug, Clone, PartialEq)]
pub struct Province {
    pub code: ProvinceCode,
    /// Official name, e.g. "서울특별시", "충청북도".
    pub name_ko: String,
    pub name_en: String,
    /// Centroid of the province's largest polygon.
    pub center: GeoPoint,
    /// Resident registration population on 2021-12-31.
    pub population: u32,
}

impl Province {
    /// The short name used in everyday Korean: "서울", "부산", "경기", "충북", "제주".
    pub fn short_name_ko(&self) -> String {
        let name = self.name_ko.as_str();
        for suffix in ["특별자치시", "특별자치도", "특별시", "광역시"] {
            if let Some(stem) = name.strip_suffix(suffix) {
                return stem.to_owned();
            }
        }
        let chars: Vec<char> = name.chars().collect();
        match chars.as_slice() {
            // 충청북도 → 충북, 경상남도 → 경남, 전라북도 → 전북.
            [first, _, third, '도'] => [*first, *third].iter().collect(),
            // 경기도 → 경기, 강원도 → 강원.
            [first, second, '도'] => [*first, *second].iter().collect(),
            _ => name.to_owned(),
        }
    }
}

/// A municipality (시군구): an autonomous district (구), a city (시), a county (군) or a district of a
/// large city (일반구, e.g. 수원시 장안구).
#[derive(Debug, Clone, PartialEq)]
pub struct Municipality {
    pub code: MunicipalityCode,
    pub province: ProvinceCode,
    /// Name as KOSTAT writes it, e.g. "종로구", "수원시장안구" (city and district run together).
    pub name_ko: String,
    pub name_en: String,
    /// Centroid of the municipality's largest polygon.
    pub center: GeoPoint,
}

impl Municipality {
    /// The name as people write it: "종로구", and "수원시 장안구" for a district of a large city.
    pub fn display_name_ko(&self) -> String {
        match self.split_city_district() {
            Some((city, district)) => format!("{city} {district}"),
            None => self.name_ko.clone(),
        }
    }

    /// The most local part of the name: "종로구", "장안구" for 수원시장안구, "연천군".
    pub fn local_name_ko(&self) -> &str {
        match self.split_city_district() {
            Some((_, district)) => district,
            None => &self.name_ko,
        }
    }

    /// Whether this is a county (군): rural, with fewer people than a city or a district.
    pub fn is_county(&self) -> bool {
        self.name_ko.ends_with('군')
    }

    /// "수원시장안구" → ("수원시", "장안구"): a 시 followed by a district name of at least two characters
    /// ending in 구.
    fn split_city_district(&self) -> Option<(&str, &str)> {
        let name = self.name_ko.as_str();
        if !name.ends_with('구') {
            return None;
        }
        let (at, _) = name.char_indices().find(|&(_, c)| c == '시')?;
        let city_end = at + '시'.len_utf8();
        let (city, district) = name.split_at(city_end);
        (at > 0 && district.chars().count() >= 2).then_some((city, district))
    }
}

/// Which of the two input files an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionFile {
    Provinces,
    Municipalities,
}

impl fmt::Display for RegionFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegionFile::Provinces => "provinces CSV",
            RegionFile::Municipalities => "municipalities CSV",
        })
    }
}

/// A defect in region data, with the file and the 1-based line where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}, line {line}: {problem}")]
pub struct RegionError {
    pub file: RegionFile,
    pub line: usize,
    pub problem: RegionProblem,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegionProblem {
    #[error("the header should be `{expected}`, found `{found}`")]
    Header {
        expected: &'static str,
        found: String,
    },
    #[error("no data rows after the header")]
    NoRows,
    #[error("expected {expected} comma-separated fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("quoted fields are not supported (column `{column}`)")]
    Quoted { column: &'static str },
    #[error("column `{column}` is empty")]
    Empty { column: &'static str },
    #[error("column `{column}`: `{value}` is not {expected}")]
    Invalid {
        column: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("code {0} appears on an earlier line too")]
    DuplicateCode(u32),
    #[error("centroid ({lat}, {lon}) is outside Korea")]
    OutsideKorea { lat: f64, lon: f64 },
    #[error("province {0} is not in the provinces file")]
    UnknownProvince(u8),
    #[error("municipality code {code} does not start with its province code {province}")]
    CodeNotInProvince { code: u32, province: u8 },
    #[error("column `{column}` says `{found}` but the provinces file says `{expected}`")]
    ProvinceNameMismatch {
        column: &'static str,
        expected: String,
        found: String,
    },
}

/// All provinces and municipalities, each list sorted by code.
#[derive(Debug, Clone, PartialEq)]
pub struct Regions {
    provinces: Vec<Province>,
    municipalities: Vec<Municipality>,
}

impl Regions {
    /// Korea's 17 provinces and 250 municipalities (KOSTAT 2018), with 2021 population.
    pub fn korea() -> Regions {
        // The files are embedded at build time and covered by a test: failing here is a build defect.
        Regions::parse(PROVINCES_CSV, MUNICIPALITIES_CSV).expect("embedded region data parses")
    }

    /// Parses the two CSV files (the column layout of `data/kr_*_2018.csv`; no quoted fields; LF or CRLF).
    pub fn parse(provinces_csv: &str, municipalities_csv: &str) -> Result<Regions, RegionError> {
        let mut provinces = parse_provinces(provinces_csv)?;
        provinces.sort_by_key(|p| p.code);
        let mut municipalities = parse_municipalities(municipalities_csv, &provinces)?;
        municipalities.sort_by_key(|m| m.code);
        Ok(Regions {
            provinces,
            municipalities,
        })
    }

    /// Sorted by code.
    pub fn provinces(&self) -> &[Province] {
        &self.provinces
    }

    /// Sorted by code, hence grouped by province.
    pub fn municipalities(&self) -> &[Municipality] {
        &self.municipalities
    }

    pub fn province(&self, code: ProvinceCode) -> Option<&Province> {
        let at = self
            .provinces
            .binary_search_by_key(&code, |p| p.code)
            .ok()?;
        self.provinces.get(at)
    }

    pub fn municipality(&self, code: MunicipalityCode) -> Option<&Municipality> {
        let at = self
            .municipalities
            .binary_search_by_key(&code, |m| m.code)
            .ok()?;
        self.municipalities.get(at)
    }

    /// The province's municipalities, sorted by code (empty for an unknown province).
    pub fn municipalities_of(&self, province: ProvinceCode) -> &[Municipality] {
        // Sorted by code, and a municipality's code starts with its province's: they are contiguous.
        let start = self
            .municipalities
            .partition_point(|m| m.province < province);
        let end = self
            .municipalities
            .partition_point(|m| m.province <= province);
        self.municipalities.get(start..end).unwrap_or(&[])
    }

    /// Sum of the provinces' populations.
    pub fn total_population(&self) -> u64 {
        self.provinces.iter().map(|p| u64::from(p.population)).sum()
    }
}

/// A data row: its 1-based line number and its fields, trimmed.
struct Row<'a> {
    file: RegionFile,
    line: usize,
    fields: Vec<&'a str>,
    columns: &'static [&'static str],
}

impl<'a> Row<'a> {
    fn error(&self, problem: RegionProblem) -> RegionError {
        RegionError {
            file: self.file,
            line: self.line,
            problem,
        }
    }

    fn text(&self, index: usize) -> Result<&'a str, RegionError> {
        let column = self.columns.get(index).copied().unwrap_or("?");
        let value = self.fields.get(index).copied().unwrap_or("");
        if value.is_empty() {
            return Err(self.error(RegionProblem::Empty { column }));
        }
        if value.contains('"') {
            return Err(self.error(RegionProblem::Quoted { column }));
        }
        Ok(value)
    }

    fn number<T: std::str::FromStr>(
        &self,
        index: usize,
        expected: &'static str,
    ) -> Result<T, RegionError> {
        let value = self.text(index)?;
        value.parse().map_err(|_| {
            self.error(RegionProblem::Invalid {
                column: self.columns.get(index).copied().unwrap_or("?"),
                value: value.to_owned(),
                expected,
            })
        })
    }

    /// A code with exactly `digits` decimal digits (no sign, no leading zero).
    fn code(&self, index: usize, digits: u32) -> Result<u32, RegionError> {
        let expected = if digits == 2 {
            "a two-digit code"
        } else {
            "a five-digit code"
        };
        let code: u32 = self.number(index, expected)?;
        let range = 10u32.pow(digits - 1)..10u32.pow(digits);
        let plain = self
            .fields
            .get(index)
            .is_some_and(|f| f.len() as u32 == digits);
        if !range.contains(&code) || !plain {
            return Err(self.error(RegionProblem::Invalid {
                column: self.columns.get(index).copied().unwrap_or("?"),
                value: self.fields.get(index).copied().unwrap_or("").to_owned(),
                expected,
            }));
        }
        Ok(code)
    }

    fn point(&self, lat_index: usize, lon_index: usize) -> Result<GeoPoint, RegionError> {
        let lat: f64 = self.number(lat_index, "a latitude in degrees")?;
        let lon: f64 = self.number(lon_index, "a longitude in degrees")?;
        let point = GeoPoint { lat, lon };
        if !KOREA_BOUNDS.contains(point) {
            return Err(self.error(RegionProblem::OutsideKorea { lat, lon }));
        }
        Ok(point)
    }
}

/// Splits a file into data rows after checking its header. Blank lines are skipped.
fn rows<'a>(
    file: RegionFile,
    text: &'a str,
    header: &'static str,
    columns: &'static [&'static str],
) -> Result<Vec<Row<'a>>, RegionError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    let (_, first) = lines.next().unwrap_or((1, ""));
    if first.trim() != header {
        return Err(RegionError {
            file,
            line: 1,
            problem: RegionProblem::Header {
                expected: header,
                found: first.to_owned(),
            },
        });
    }
    let mut rows = Vec::new();
    for (line, content) in lines {
        if content.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split(',').map(str::trim).collect();
        let row = Row {
            file,
            line,
            fields,
            columns,
        };
        if row.fields.len() != columns.len() {
            return Err(row.error(RegionProblem::FieldCount {
                expected: columns.len(),
                found: row.fields.len(),
            }));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(RegionError {
            file,
            line: 2,
            problem: RegionProblem::NoRows,
        });
    }
    Ok(rows)
}

fn parse_provinces(text: &str) -> Result<Vec<Province>, RegionError> {
    const COLUMNS: &[&str] = &["code", "name", "name_en", "lat", "lon", "population_2021"];
    let mut seen = BTreeSet::new();
    let mut provinces = Vec::new();
    for row in rows(RegionFile::Provinces, text, PROVINCES_HEADER, COLUMNS)? {
        let code = row.code(0, 2)?;
        let name_ko = row.text(1)?.to_owned();
        let name_en = row.text(2)?.to_owned();
        let center = row.point(3, 4)?;
        let population: u32 = row.number(5, "a population (a whole number)")?;
        if !seen.insert(code) {
            return Err(row.error(RegionProblem::DuplicateCode(code)));
        }
        provinces.push(Province {
            // Two decimal digits: below 100, so it fits a u8.
            code: ProvinceCode(code as u8),
            name_ko,
            name_en,
            center,
            population,
        });
    }
    Ok(provinces)
}

fn parse_municipalities(
    text: &str,
    provinces: &[Province],
) -> Result<Vec<Municipality>, RegionError> {
    const COLUMNS: &[&str] = &[
        "code",
        "province_code",
        "province",
        "province_en",
        "name",
        "name_en",
        "lat",
        "lon",
    ];
    let mut seen = BTreeSet::new();
    let mut municipalities = Vec::new();
    for row in rows(
        RegionFile::Municipalities,
        text,
        MUNICIPALITIES_HEADER,
        COLUMNS,
    )? {
        let code = row.code(0, 5)?;
        let province_code = row.code(1, 2)? as u8;
        let province_ko = row.text(2)?;
        let province_en = row.text(3)?;
        let name_ko = row.text(4)?.to_owned();
        let name_en = row.text(5)?.to_owned();
        let center = row.point(6, 7)?;
        let code = MunicipalityCode(code);
        if code.province() != ProvinceCode(province_code) {
            return Err(row.error(RegionProblem::CodeNotInProvince {
                code: code.0,
                province: province_code,
            }));
        }
        let Some(province) = provinces
            .iter()
            .find(|p| p.code == ProvinceCode(province_code))
        else {
            return Err(row.error(RegionProblem::UnknownProvince(province_code)));
        };
        for (column, expected, found) in [
            ("province", &province.name_ko, province_ko),
            ("province_en", &province.name_en, province_en),
        ] {
            if expected != found {
                return Err(row.error(RegionProblem::ProvinceNameMismatch {
                    column,
                    expected: expected.clone(),
                    found: found.to_owned(),
                }));
            }
        }
        if !seen.insert(code.0) {
            return Err(row.error(RegionProblem::DuplicateCode(code.0)));
        }
        municipalities.push(Municipality {
            code,
            province: province.code,
            name_ko,
            name_en,
            center,
        });
    }
    Ok(municipalities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P_HEAD: &str = "code,name,name_en,lat,lon,population_2021\n";
    const M_HEAD: &str = "code,province_code,province,province_en,name,name_en,lat,lon\n";
    const SEOUL: &str = "11,서울특별시,Seoul,37.55189,126.9918,9509458\n";
    const JONGNO: &str = "11010,11,서울특별시,Seoul,종로구,Jongno-gu,37.59493,126.9773\n";

    fn parse_err(provinces: &str, municipalities: &str) -> RegionError {
        match Regions::parse(provinces, municipalities) {
            Ok(r) => panic!("expected an error, parsed {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn korea_parses_with_the_published_totals() {
        let korea = Regions::korea();
        assert_eq!(korea.provinces().len(), 17);
        assert_eq!(korea.municipalities().len(), 250);
        assert_eq!(korea.total_population(), 51_638_809);
        let seoul = korea.province(ProvinceCode(11)).expect("Seoul");
        assert_eq!(seoul.name_ko, "서울특별시");
        assert_eq!(seoul.population, 9_509_458);
        assert_eq!(korea.municipalities_of(ProvinceCode(11)).len(), 25);
        assert_eq!(korea.municipalities_of(ProvinceCode(31)).len(), 42);
        assert_eq!(korea.municipalities_of(ProvinceCode(29)).len(), 1);
        assert!(korea.municipalities_of(ProvinceCode(12)).is_empty());
        let jongno = korea.municipality(MunicipalityCode(11010)).expect("Jongno");
        assert_eq!(jongno.name_ko, "종로구");
        assert_eq!(jongno.province, ProvinceCode(11));
        assert_eq!(korea.municipality(MunicipalityCode(11011)), None);
        assert_eq!(korea.province(ProvinceCode(10)), None);
    }

    #[test]
    fn every_province_has_municipalities_and_they_are_its_own() {
        let korea = Regions::korea();
        let mut total = 0;
        for p in korea.provinces() {
            let ms = korea.municipalities_of(p.code);
            assert!(!ms.is_empty(), "{}", p.name_ko);
            assert!(
                ms.iter()
                    .all(|m| m.province == p.code && m.code.province() == p.code)
            );
            assert!(ms.windows(2).all(|w| w[0].code < w[1].code));
            total += ms.len();
        }
        assert_eq!(total, korea.municipalities().len());
    }

    #[test]
    fn names_as_people_write_them() {
        let korea = Regions::korea();
        let short: Vec<String> = korea
            .provinces()
            .iter()
            .map(Province::short_name_ko)
            .collect();
        assert_eq!(
            short,
            [
                "서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원",
                "충북", "충남", "전북", "전남", "경북", "경남", "제주"
            ]
        );
        let m = |code| {
            korea
                .municipality(MunicipalityCode(code))
                .expect("known code")
        };
        assert_eq!(m(31011).display_name_ko(), "수원시 장안구");
        assert_eq!(m(31011).local_name_ko(), "장안구");
        assert_eq!(m(37011).display_name_ko(), "포항시 남구");
        assert_eq!(m(38113).display_name_ko(), "창원시 마산합포구");
        assert_eq!(m(11010).display_name_ko(), "종로구");
        assert_eq!(m(29010).display_name_ko(), "세종시");
        assert_eq!(m(31150).display_name_ko(), "시흥시");
        assert_eq!(m(31150).local_name_ko(), "시흥시");
        assert!(m(31350).is_county());
        assert!(!m(31011).is_county());
    }

    #[test]
    fn parses_crlf_bom_and_blank_lines() {
        let provinces = format!("\u{feff}{}\r\n{}\r\n\r\n", P_HEAD.trim(), SEOUL.trim());
        let regions = Regions::parse(&provinces, &format!("{M_HEAD}\n{JONGNO}\n")).expect("parses");
        assert_eq!(regions.provinces().len(), 1);
        assert_eq!(regions.municipalities().len(), 1);
    }

    #[test]
    fn sorts_rows_by_code() {
        let provinces = format!("{P_HEAD}21,부산광역시,Busan,35.2,129.06,3350380\n{SEOUL}");
        let municipalities = format!(
            "{M_HEAD}21010,21,부산광역시,Busan,중구,Jung-gu,35.1,129.03\n{JONGNO}\
             11020,11,서울특별시,Seoul,중구,Jung-gu,37.56,126.99\n"
        );
        let regions = Regions::parse(&provinces, &municipalities).expect("parses");
        let codes: Vec<u32> = regions.municipalities().iter().map(|m| m.code.0).collect();
        assert_eq!(codes, [11010, 11020, 21010]);
        assert_eq!(regions.municipalities_of(ProvinceCode(11)).len(), 2);
        assert_eq!(regions.provinces()[0].code, ProvinceCode(11));
    }

    #[test]
    fn bad_header_is_line_one() {
        let e = parse_err("code,name\n11,서울\n", JONGNO);
        assert_eq!((e.file, e.line), (RegionFile::Provinces, 1));
        assert!(matches!(e.problem, RegionProblem::Header { .. }));
        let e = parse_err("", JONGNO);
        assert_eq!((e.file, e.line), (RegionFile::Provinces, 1));
        let e = parse_err(&format!("{P_HEAD}{SEOUL}"), "");
        assert_eq!((e.file, e.line), (RegionFile::Municipalities, 1));
    }

    #[test]
    fn header_only_has_no_rows() {
        let e = parse_err(P_HEAD, &format!("{M_HEAD}{JONGNO}"));
        assert_eq!(e.problem, RegionProblem::NoRows);
    }

    #[test]
    fn province_row_errors_carry_their_line() {
        let cases: [(&str, RegionProblem); 7] = [
            (
                "11,서울특별시,Seoul,37.5,127.0",
                RegionProblem::FieldCount {
                    expected: 6,
                    found: 5,
                },
            ),
            (
                "11,,Seoul,37.5,127.0,1",
                RegionProblem::Empty { column: "name" },
            ),
            (
                "11,\"서울\",Seoul,37.5,127.0,1",
                RegionProblem::Quoted { column: "name" },
            ),
            (
                "11,서울특별시,Seoul,north,127.0,1",
                RegionProblem::Invalid {
                    column: "lat",
                    value: "north".into(),
                    expected: "a latitude in degrees",
                },
            ),
            (
                "11,서울특별시,Seoul,37.5,127.0,-5",
                RegionProblem::Invalid {
                    column: "population_2021",
                    value: "-5".into(),
                    expected: "a population (a whole number)",
                },
            ),
            (
                "110,서울특별시,Seoul,37.5,127.0,1",
                RegionProblem::Invalid {
                    column: "code",
                    value: "110".into(),
                    expected: "a two-digit code",
                },
            ),
            (
                "11,서울특별시,Seoul,35.7,139.7,1",
                RegionProblem::OutsideKorea {
                    lat: 35.7,
                    lon: 139.7,
                },
            ),
        ];
        for (bad, problem) in cases {
            let text = format!("{P_HEAD}21,부산광역시,Busan,35.2,129.06,3350380\n{bad}\n");
            let e = parse_err(&text, &format!("{M_HEAD}{JONGNO}"));
            assert_eq!(e.file, RegionFile::Provinces, "{bad}");
            assert_eq!(e.line, 3, "{bad}");
            assert_eq!(e.problem, problem, "{bad}");
        }
    }

    #[test]
    fn nan_coordinates_are_refused() {
        let text = format!("{P_HEAD}11,서울특별시,Seoul,NaN,127.0,1\n");
        let e = parse_err(&text, &format!("{M_HEAD}{JONGNO}"));
        assert!(
            matches!(e.problem, RegionProblem::OutsideKorea { .. }),
            "{e}"
        );
    }

    #[test]
    fn duplicate_province_is_refused_on_its_second_line() {
        let text = format!("{P_HEAD}{SEOUL}\n{SEOUL}");
        let e = parse_err(&text, &format!("{M_HEAD}{JONGNO}"));
        assert_eq!(e.line, 4);
        assert_eq!(e.problem, RegionProblem::DuplicateCode(11));
    }

    #[test]
    fn municipality_row_errors_carry_their_line() {
        let provinces = format!("{P_HEAD}{SEOUL}21,부산광역시,Busan,35.2,129.06,3350380\n");
        let cases: [(&str, RegionProblem); 6] = [
            (
                "21010,11,서울특별시,Seoul,중구,Jung-gu,37.5,127.0",
                RegionProblem::CodeNotInProvince {
                    code: 21010,
                    province: 11,
                },
            ),
            (
                "22010,22,대구광역시,Daegu,중구,Jung-gu,35.8,128.6",
                RegionProblem::UnknownProvince(22),
            ),
            (
                "11020,11,부산광역시,Seoul,중구,Jung-gu,37.5,127.0",
                RegionProblem::ProvinceNameMismatch {
                    column: "province",
                    expected: "서울특별시".into(),
                    found: "부산광역시".into(),
                },
            ),
            (
                "11010,11,서울특별시,Seoul,종로구,Jongno-gu,37.59,126.97",
                RegionProblem::DuplicateCode(11010),
            ),
            (
                "1101,11,서울특별시,Seoul,종로구,Jongno-gu,37.59,126.97",
                RegionProblem::Invalid {
                    column: "code",
                    value: "1101".into(),
                    expected: "a five-digit code",
                },
            ),
            (
                "011010,11,서울특별시,Seoul,종로구,Jongno-gu,37.59,126.97",
                RegionProblem::Invalid {
                    column: "code",
                    value: "011010".into(),
                    expected: "a five-digit code",
                },
            ),
        ];
        for (bad, problem) in cases {
            let text = format!("{M_HEAD}{JONGNO}\n{bad}\n");
            let e = parse_err(&provinces, &text);
            assert_eq!(e.file, RegionFile::Municipalities, "{bad}");
            assert_eq!(e.line, 4, "{bad}");
            assert_eq!(e.problem, problem, "{bad}");
        }
    }

    #[test]
    fn error_message_names_file_and_line() {
        let e = parse_err(
            &format!("{P_HEAD}{SEOUL}"),
            &format!("{M_HEAD}11020,11,서울특별시,Seoul,중구,Jung-gu,37.5\n"),
        );
        assert_eq!(
            e.to_string(),
            "municipalities CSV, line 2: expected 8 comma-separated fields, found 7"
        );
    }

    #[test]
    fn bounds_contain_the_edges_of_korea() {
        let inside = [
            GeoPoint {
                lat: 33.11,
                lon: 126.27,
            }, // Marado
            GeoPoint {
                lat: 38.61,
                lon: 128.36,
            }, // Goseong
            GeoPoint {
                lat: 37.97,
                lon: 124.62,
            }, // Baengnyeongdo
            GeoPoint {
                lat: 37.24,
                lon: 131.87,
            }, // Dokdo
        ];
        for p in inside {
            assert!(KOREA_BOUNDS.contains(p), "{p:?}");
        }
        let outside = [
            GeoPoint {
                lat: 35.68,
                lon: 139.69,
            }, // Tokyo
            GeoPoint {
                lat: 39.03,
                lon: 125.75,
            }, // Pyongyang
            GeoPoint {
                lat: f64::NAN,
                lon: 127.0,
            },
        ];
        for p in outside {
            assert!(!KOREA_BOUNDS.contains(p), "{p:?}");
        }
    }
}
