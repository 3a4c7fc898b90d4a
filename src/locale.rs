//! The parts of a locale tag, read in one place.
//!
//! Locales reach canvass from survey files (checked BCP 47 tags), from audience columns
//! and imports (often written the POSIX way, `pt_BR`) and from browsers' `Accept-Language`.
//! Interface words are chosen by language, paper by region and writing direction by
//! language again, so every one of those needs the same reading of a tag: the
//! `language-tags` crate parses it, with `_` taken as `-`.

use language_tags::LanguageTag;

/// A locale tag's language and region, normalised (`sl`, `SI`), so that callers compare
/// parts instead of splitting strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale {
    language: String,
    region: Option<String>,
}

impl Locale {
    /// Reads `tag` (`sl-SI`, `pt_BR`, `EN`). A tag that is not well-formed BCP 47 is its
    /// own language, lower case, with no region: it then fits only itself.
    pub fn parse(tag: &str) -> Locale {
        match LanguageTag::parse(&tag.replace('_', "-")) {
            Ok(parsed) => Locale {
                language: parsed.primary_language().to_string(),
                region: parsed.region().map(str::to_string),
            },
            Err(_) => Locale {
                language: tag.to_ascii_lowercase(),
                region: None,
            },
        }
    }

    /// The primary language subtag, lower case (`sl` of `sl-SI`).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The region subtag, upper case (`BR` of `pt_BR`, `419` of `es-419`), if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
}

/// Whether `tag` is written as BCP 47 writes it (`pt-BR`, not `pt_BR`): what a survey's
/// own `locales` must be, since they end up in `lang` attributes and e-mail headers.
pub fn well_formed(tag: &str) -> Result<(), language_tags::ParseError> {
    LanguageTag::parse(tag).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_and_region_are_read_from_either_separator_in_any_case() {
        let locale = Locale::parse("pt_br");
        assert_eq!((locale.language(), locale.region()), ("pt", Some("BR")));
        let locale = Locale::parse("SL-si");
        assert_eq!((locale.language(), locale.region()), ("sl", Some("SI")));
        let locale = Locale::parse("zh-Hant-TW");
        assert_eq!((locale.language(), locale.region()), ("zh", Some("TW")));
        assert_eq!(Locale::parse("es-419").region(), Some("419"));
        assert_eq!(Locale::parse("en").region(), None);
    }

    #[test]
    fn only_the_bcp_47_spelling_is_well_formed() {
        assert!(well_formed("pt-BR").is_ok() && well_formed("zh-Hant").is_ok());
        assert!(well_formed("pt_BR").is_err() && well_formed("en-").is_err());
    }

    #[test]
    fn a_tag_that_does_not_parse_is_its_own_language() {
        let locale = Locale::parse("Not A Tag");
        assert_eq!((locale.language(), locale.region()), ("not a tag", None));
        assert_eq!(Locale::parse("").language(), "");
    }
}
