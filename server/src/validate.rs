//! Validation of account fields. Every function returns the normalised
//! value or a `validation_failed` problem naming the field; no message
//! quotes the value.

use chrono::{Datelike, NaiveDate};
use praxis_protocol::ErrorCode;

use crate::error::AppError;

/// Normalised email: trimmed and lower-cased (uniqueness is
/// case-insensitive), at most 254 characters, a valid address whose domain
/// has a dot.
pub fn email(field: &str, raw: &str) -> Result<String, AppError> {
    let e = raw.trim().to_lowercase();
    let domain_ok = e
        .rsplit_once('@')
        .is_some_and(|(_, d)| d.contains('.') && !d.ends_with('.'));
    if e.len() > 254 || !domain_ok || !email_address::EmailAddress::is_valid(&e) {
        return Err(AppError::invalid(field, "Not a valid email address"));
    }
    Ok(e)
}

/// Free text such as a name or profession: trimmed, 1..=`max` characters,
/// no control characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, AppError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "Must be 1 to 200 printable characters",
        ));
    }
    Ok(t.to_owned())
}

/// A phone number in canonical E.164 form (`+` and 8 to 15 digits) that is
/// a valid number of its country.
pub fn phone(field: &str, raw: &str) -> Result<String, AppError> {
    let digits = raw.strip_prefix('+').unwrap_or("");
    let shape_ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    let valid = shape_ok
        && phonenumber::parse(None, raw).is_ok_and(|n| {
            n.is_valid() && n.format().mode(phonenumber::Mode::E164).to_string() == raw
        });
    if !valid {
        return Err(AppError::invalid(
            field,
            "Must be a valid phone number in E.164 form, e.g. +33612345678",
        ));
    }
    Ok(raw.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, stored upper-case.
pub fn country(field: &str, raw: &str) -> Result<String, AppError> {
    match isocountry::CountryCode::for_alpha2_caseless(raw) {
        Ok(c) if raw.len() == 2 => Ok(c.alpha2().to_owned()),
        _ => Err(AppError::invalid(
            field,
            "Must be an ISO 3166-1 alpha-2 country code",
        )),
    }
}

/// A well-formed and valid BCP 47 language tag, stored in canonical form.
pub fn language(field: &str, raw: &str) -> Result<String, AppError> {
    language_tags::LanguageTag::parse(raw)
        .ok()
        .filter(|t| raw.len() <= 35 && t.validate().is_ok())
        .and_then(|t| t.canonicalize().ok())
        .map(|t| t.to_string())
        .ok_or_else(|| AppError::invalid(field, "Must be a BCP 47 language tag, e.g. fr-FR"))
}

/// A date of birth, `YYYY-MM-DD`, not in the future, not before 1900, of a
/// person aged 18 or more on `today` (UTC). Someone born on 29 February
/// comes of age on 1 March in common years.
pub fn date_of_birth(field: &str, raw: &str, today: NaiveDate) -> Result<NaiveDate, AppError> {
    let bad = || AppError::invalid(field, "Must be a date in the form YYYY-MM-DD");
    if raw.len() != 10 {
        return Err(bad());
    }
    let dob = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad())?;
    if dob > today || dob.year() < 1900 {
        return Err(AppError::invalid(field, "Date of birth out of range"));
    }
    if age_on(dob, today) < 18 {
        return Err(AppError::new(ErrorCode::TooYoung).field(field));
    }
    Ok(dob)
}

/// Completed years between `dob` and `today`.
pub fn age_on(dob: NaiveDate, today: NaiveDate) -> i32 {
    let had_birthday = (today.month(), today.day()) >= (dob.month(), dob.day());
    today.year() - dob.year() - i32::from(!had_birthday)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn emails_normalise_and_validate() {
        assert_eq!(
            email("email", "  Jane.Doe@Example.ORG ").expect("ok"),
            "jane.doe@example.org"
        );
        for bad in [
            "",
            "no-at",
            "a@b",
            "a@@b.c",
            "a b@c.d",
            "a@b.",
            &format!("{}@x.org", "a".repeat(250)),
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_must_be_canonical_valid_e164() {
        assert_eq!(
            phone("phone", "+33612345678").expect("FR mobile"),
            "+33612345678"
        );
        assert!(phone("phone", "+14155552671").is_ok());
        for bad in [
            "0612345678",
            "+33 6 12 34 56 78",
            "+0123456789",
            "+1234",
            "+999999999999",
            "+33612345678x",
        ] {
            assert!(phone("phone", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn countries_and_languages() {
        assert_eq!(country("country", "fr").expect("ok"), "FR");
        assert!(country("country", "XX").is_err());
        assert!(country("country", "FRA").is_err());
        assert_eq!(language("language", "fr-FR").expect("ok"), "fr-FR");
        assert!(language("language", "en").is_ok());
        assert!(language("language", "not a tag").is_err());
        assert!(language("language", "xx-ZZZZZZZZZZ").is_err());
    }

    #[test]
    fn adults_only_counting_birthdays_exactly() {
        let today = d("2026-11-21");
        assert!(date_of_birth("d", "2008-11-21", today).is_ok(), "18 today");
        let tomorrow = date_of_birth("d", "2008-11-22", today).expect_err("18 tomorrow");
        assert_eq!(tomorrow.problem().code, ErrorCode::TooYoung);
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
        assert_eq!(age_on(d("2008-02-29"), d("2026-03-01")), 18);
        for bad in [
            "2030-01-01",
            "1899-12-31",
            "21-11-2000",
            "2000-13-01",
            "2000-1-01",
            "2000-02-30",
        ] {
            let e = date_of_birth("d", bad, today).expect_err(bad);
            assert_eq!(e.problem().code, ErrorCode::ValidationFailed, "{bad}");
        }
    }
}
