//! Checks of single values: ORCID check digits, SPDX licences, dates, DOIs, CURIEs, e-mails.
//!
//! Each check returns `Err(reason)` with a one-line reason that names the problem, for the
//! validator to attach the file and JSON path to.

/// Licences the BioImage Archive accepts without discussion.
pub const PREFERRED_LICENSES: [&str; 2] = ["CC0-1.0", "CC-BY-4.0"];

/// Person roles we know: BIA's contact roles plus the annotation roles MIFA credits.
pub const ROLES: [&str; 16] = [
    "annotator",
    "curator",
    "reviewer",
    "contact",
    "corresponding author",
    "data steward",
    "data acquisition",
    "data analyst",
    "experiment performer",
    "first author",
    "investigator",
    "principal investigator",
    "software development",
    "submitter",
    "supervision",
    "funding acquisition",
];

/// Outcome of a licence check that did not fail outright.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseStatus {
    /// CC0-1.0 or CC-BY-4.0.
    Preferred,
    /// A valid SPDX id the BIA may not accept; the string says why it is discouraged.
    Discouraged(String),
}

/// Checks an SPDX licence identifier (a single id, not an expression).
pub fn license(id: &str) -> Result<LicenseStatus, String> {
    if PREFERRED_LICENSES.contains(&id) {
        return Ok(LicenseStatus::Preferred);
    }
    match spdx::license_id(id) {
        Some(lic) if lic.name == id => {
            if lic.is_deprecated() {
                Ok(LicenseStatus::Discouraged(format!(
                    "{id:?} is a deprecated SPDX id; the BioImage Archive prefers CC0-1.0 or CC-BY-4.0"
                )))
            } else {
                Ok(LicenseStatus::Discouraged(format!(
                    "{id:?} is a valid SPDX id, but the BioImage Archive and MIFA prefer CC0-1.0 or CC-BY-4.0"
                )))
            }
        }
        Some(lic) => Err(format!(
            "{id:?} is not an SPDX id as written; did you mean {:?}?",
            lic.name
        )),
        None => {
            let same_but_case = spdx::identifiers::LICENSES
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(id))
                .map(|l| l.name);
            let hint = same_but_case
                .map(|name| format!("; did you mean {name:?}?"))
                .or_else(|| {
                    spdx::imprecise_license_id(id)
                        .map(|(lic, _)| format!("; did you mean {:?}?", lic.name))
                })
                .unwrap_or_else(|| "; use CC0-1.0 or CC-BY-4.0".to_string());
            Err(format!("{id:?} is not a known SPDX licence id{hint}"))
        }
    }
}

/// Checks an ORCID iD written `0000-0000-0000-000X`, including its ISO 7064 MOD 11-2 check digit.
pub fn orcid(id: &str) -> Result<(), String> {
    if id.starts_with("http") || id.contains("orcid.org") {
        return Err(format!(
            "{id:?}: write the bare iD (e.g. 0000-0002-1825-0097), not the URL"
        ));
    }
    let bytes = id.as_bytes();
    let shape_ok = bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            4 | 9 | 14 => b == b'-',
            18 => b.is_ascii_digit() || b == b'X',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(format!(
            "{id:?} is not an ORCID iD: expected 4 groups of 4 digits, e.g. 0000-0002-1825-0097"
        ));
    }
    let digits: Vec<u32> = bytes
        .iter()
        .filter(|b| b.is_ascii_digit())
        .take(15)
        .map(|b| u32::from(b - b'0'))
        .collect();
    let expected = orcid_check_digit(&digits);
    let actual = bytes[18] as char;
    if actual != expected {
        return Err(format!(
            "{id:?} has check digit {actual}, but its first 15 digits give {expected} (ISO 7064 MOD 11-2); a digit is mistyped"
        ));
    }
    Ok(())
}

/// ISO 7064 MOD 11-2 check character for the 15 base digits of an ORCID iD.
pub fn orcid_check_digit(base: &[u32]) -> char {
    let total = base.iter().fold(0u32, |t, d| (t + d) * 2);
    let result = (12 - total % 11) % 11;
    if result == 10 {
        'X'
    } else {
        char::from_digit(result, 10).expect("result < 10")
    }
}

/// Turns what people paste (`https://orcid.org/0000-…`, lowercase x) into the bare iD form.
pub fn normalize_orcid(input: &str) -> String {
    let s = input.trim();
    let s = s
        .strip_prefix("https://orcid.org/")
        .or_else(|| s.strip_prefix("http://orcid.org/"))
        .or_else(|| s.strip_prefix("orcid.org/"))
        .unwrap_or(s);
    s.to_ascii_uppercase()
}

/// Checks a calendar date `YYYY-MM-DD`.
pub fn date(s: &str) -> Result<(), String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|_| ())
        .map_err(|e| format!("{s:?} is not a date YYYY-MM-DD ({e})"))
}

/// Checks an RFC 3339 timestamp, e.g. `2024-05-01T12:00:00Z`; a bare date is accepted too.
pub fn timestamp(s: &str) -> Result<(), String> {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() || date(s).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z) or a date YYYY-MM-DD"
        ))
    }
}

/// Checks a DOI written without resolver prefix: `10.<registrant>/<suffix>`.
pub fn doi(s: &str) -> Result<(), String> {
    if s.starts_with("http") || s.starts_with("doi:") {
        return Err(format!(
            "{s:?}: write the bare DOI (10.xxxx/…), without resolver or doi: prefix"
        ));
    }
    let ok = s
        .strip_prefix("10.")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(registrant, suffix)| {
            registrant.len() >= 4
                && registrant.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !suffix.is_empty()
                && !suffix.chars().any(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a DOI of the form 10.NNNN/suffix"))
    }
}

/// Checks a PubMed id (digits only).
pub fn pmid(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 9 && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a PubMed id (1 to 9 digits)"))
    }
}

/// Checks an e-mail address' shape (one `@`, a dotted domain, no spaces).
pub fn email(s: &str) -> Result<(), String> {
    let ok = s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !s.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an e-mail address"))
    }
}

/// Checks a CURIE `PREFIX:LOCAL`, and the FBbi form when the prefix is FBbi.
pub fn curie(s: &str) -> Result<(), String> {
    let Some((prefix, local)) = s.split_once(':') else {
        return Err(format!(
            "{s:?} is not a CURIE: expected PREFIX:ID, e.g. GO:0005634"
        ));
    };
    let prefix_ok = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !prefix_ok || local.is_empty() || local.chars().any(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not a CURIE: expected PREFIX:ID, e.g. GO:0005634"
        ));
    }
    if prefix.eq_ignore_ascii_case("fbbi")
        && !(prefix == "FBbi" && local.len() == 8 && local.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "{s:?} is not an FBbi term: expected FBbi: and 8 digits, e.g. FBbi:00000246"
        ));
    }
    Ok(())
}

/// Checks a UDUNITS-2 unit name as OME-Zarr lists them for space and time axes.
pub fn unit(s: &str) -> Result<(), String> {
    if OME_UNITS.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an OME-Zarr unit (e.g. micrometer, nanometer, second)"
        ))
    }
}

/// Units OME-Zarr 0.4/0.5 recommends for space and time axes.
pub const OME_UNITS: [&str; 46] = [
    "angstrom",
    "attometer",
    "centimeter",
    "decimeter",
    "exameter",
    "femtometer",
    "foot",
    "gigameter",
    "hectometer",
    "inch",
    "kilometer",
    "megameter",
    "meter",
    "micrometer",
    "mile",
    "millimeter",
    "nanometer",
    "parsec",
    "petameter",
    "picometer",
    "terameter",
    "yard",
    "yoctometer",
    "yottameter",
    "zeptometer",
    "zettameter",
    "attosecond",
    "centisecond",
    "day",
    "decisecond",
    "exasecond",
    "femtosecond",
    "gigasecond",
    "hectosecond",
    "hour",
    "kilosecond",
    "megasecond",
    "microsecond",
    "millisecond",
    "minute",
    "nanosecond",
    "petasecond",
    "picosecond",
    "second",
    "terasecond",
    "zeptosecond",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orcid_known_ids() {
        // Examples published by ORCID, one ending in X.
        assert_eq!(orcid("0000-0002-1825-0097"), Ok(()));
        assert_eq!(orcid("0000-0001-5109-3700"), Ok(()));
        assert_eq!(orcid("0000-0002-1694-233X"), Ok(()));
        let err = orcid("0000-0002-1825-0098").unwrap_err();
        assert!(
            err.contains("check digit 8") && err.contains("give 7"),
            "{err}"
        );
        assert!(orcid("0000-0002-1825-009")
            .unwrap_err()
            .contains("not an ORCID"));
        assert!(orcid("https://orcid.org/0000-0002-1825-0097")
            .unwrap_err()
            .contains("bare"));
    }

    #[test]
    fn orcid_normalize() {
        assert_eq!(
            normalize_orcid(" https://orcid.org/0000-0002-1694-233x "),
            "0000-0002-1694-233X"
        );
    }

    proptest! {
        #[test]
        fn orcid_any_single_digit_change_is_caught(base in proptest::collection::vec(0u32..10, 15), pos in 0usize..15, delta in 1u32..10) {
            let check = orcid_check_digit(&base);
            let fmt = |d: &[u32], c: char| {
                let s: String = d.iter().map(|x| char::from_digit(*x, 10).unwrap()).collect();
                format!("{}-{}-{}-{}{}", &s[0..4], &s[4..8], &s[8..12], &s[12..15], c)
            };
            prop_assert_eq!(orcid(&fmt(&base, check)), Ok(()));
            let mut changed = base.clone();
            changed[pos] = (changed[pos] + delta) % 10;
            prop_assert!(orcid(&fmt(&changed, check)).is_err());
        }
    }

    #[test]
    fn licenses() {
        assert_eq!(license("CC-BY-4.0"), Ok(LicenseStatus::Preferred));
        assert_eq!(license("CC0-1.0"), Ok(LicenseStatus::Preferred));
        assert!(matches!(license("MIT"), Ok(LicenseStatus::Discouraged(_))));
        assert!(license("CC-BY-99").is_err());
        assert!(license("cc-by-4.0")
            .unwrap_err()
            .contains("did you mean \"CC-BY-4.0\""));
    }

    #[test]
    fn dates_and_ids() {
        assert!(date("2024-02-29").is_ok());
        assert!(date("2023-02-29").is_err());
        assert!(timestamp("2024-05-01T12:00:00+02:00").is_ok());
        assert!(timestamp("yesterday").is_err());
        assert!(doi("10.1038/s41592-024-02379-9").is_ok());
        assert!(doi("https://doi.org/10.1038/x").is_err());
        assert!(pmid("38225408").is_ok());
        assert!(pmid("PMC123").is_err());
        assert!(email("a.b@ebi.ac.uk").is_ok());
        assert!(email("a b@x.org").is_err());
        assert!(curie("FBbi:00000246").is_ok());
        assert!(curie("FBbi:246").is_err());
        assert!(curie("GO:0005634").is_ok());
        assert!(curie("nucleus").is_err());
        assert!(unit("micrometer").is_ok());
        assert!(unit("um").is_err());
    }
}
