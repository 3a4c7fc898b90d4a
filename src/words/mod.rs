//! The interface words: every text canvass itself shows a respondent (the greeting, the
//! buttons, the collector's own pages, the problems beside a refused answer), one catalogue
//! per locale.
//!
//! The built-in catalogues are YAML files in `locales/`, embedded at compile time and
//! parsed once; a workspace adds a locale or changes words with `ui:` in `canvass.yaml`.
//! A locale without a complete set renders the missing words in English, and `canvass
//! check` reports it (E053), so that no respondent meets English chrome unannounced.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::answer::Problem;
use crate::locale::Locale;

/// A workspace's words (`ui:` in `canvass.yaml`): locale → key → text.
pub type WordOverrides = BTreeMap<String, BTreeMap<String, String>>;

/// The locale whose words stand in for missing ones.
pub const FALLBACK: &str = "en";

/// The built-in catalogues by language.
const BUILT_IN: &[(&str, &str)] = &[
    ("cs", include_str!("locales/cs.yaml")),
    ("de", include_str!("locales/de.yaml")),
    ("en", include_str!("locales/en.yaml")),
    ("es", include_str!("locales/es.yaml")),
    ("fr", include_str!("locales/fr.yaml")),
    ("lt", include_str!("locales/lt.yaml")),
    ("ms", include_str!("locales/ms.yaml")),
    ("sl", include_str!("locales/sl.yaml")),
];

/// The interface words of one locale, complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ui {
    /// The greeting before the message; `{name}` is the recipient's name, left out where the language would inflect it.
    pub greeting: String,
    /// Under one-click buttons: the click is the answer.
    pub one_click: String,
    /// The link to the whole survey.
    pub full_survey: String,
    /// The unsubscribe link, and the title and button of its page.
    pub unsubscribe: String,
    /// Why the message came.
    pub why: String,
    /// The form's submit button.
    pub submit: String,
    /// The mark on required questions.
    pub required: String,
    /// On paper: the mark on optional questions.
    pub optional: String,
    /// The answer yes.
    pub yes: String,
    /// The answer no.
    pub no: String,
    /// Above a form sent back with errors.
    pub fix_errors: String,
    /// The honeypot's label, for people whose browser shows it.
    pub leave_empty: String,
    /// On paper: how to answer.
    pub tick_one: String,
    /// On paper: the QR code's caption.
    pub scan: String,
    /// The QR code's alternative text.
    pub qr_alt: String,
    /// Beside a required question left unanswered.
    pub needs_answer: String,
    /// Beside an answer that is not one of the question's.
    pub pick_again: String,
    /// Beside a text over its limit; `{max}` is the limit.
    pub too_long: String,
    /// Atop a one-click landing page: the click counts, the rest is welcome.
    pub click_saved: String,
    /// The thank-you page's heading: the answers are stored.
    pub answers_saved: String,
    /// How dates are written (a strftime format).
    pub date_format: String,
    /// The unsubscribe page, before the person confirms.
    pub unsubscribe_text: String,
    /// The title after unsubscribing.
    pub unsubscribed_title: String,
    /// The text after unsubscribing.
    pub unsubscribed_text: String,
    /// The title for a link that does not verify.
    pub forged_title: String,
    /// The text for a link that does not verify.
    pub forged_text: String,
    /// The title for an expired link.
    pub expired_title: String,
    /// The text for an expired link; `{date}` is when it expired.
    pub expired_text: String,
    /// The title for a survey no longer served.
    pub closed_title: String,
    /// The text for a survey no longer served.
    pub closed_text: String,
    /// The title when an answer could not be stored.
    pub not_saved_title: String,
    /// The text when an answer could not be stored.
    pub not_saved_text: String,
    /// The title for an address with no page.
    pub not_found_title: String,
    /// The text for an address with no page.
    pub not_found_text: String,
    /// The title when a client sends too many requests.
    pub too_many_title: String,
    /// The text when a client sends too many requests.
    pub too_many_text: String,
    /// The title when a link has stored as many answers as it may.
    pub saturated_title: String,
    /// The text when a link has stored as many answers as it may.
    pub saturated_text: String,
    /// The title when a page fails to render.
    pub unavailable_title: String,
    /// The text when a page fails to render.
    pub unavailable_text: String,
    /// Under a question that applies only after some answers; `{conditions}` is one or
    /// more of [`Ui::applies_above`] and [`Ui::applies_question`].
    pub applies_if: String,
    /// An answer `{answer}` to the question just above.
    pub applies_above: String,
    /// An answer `{answer}` to the earlier question `{question}`.
    pub applies_question: String,
    /// Under a question whose condition has no shape in words.
    pub applies_other: String,
    /// Between the last two of several answers or conditions, any of which counts.
    pub or: String,
    /// Between the last two of several conditions, all of which count.
    pub and: String,
}

impl Ui {
    /// What a person reads beside a refused answer: short, and without the survey's logic.
    pub fn problem(&self, problem: &Problem) -> String {
        match problem {
            Problem::Required => self.needs_answer.clone(),
            Problem::TooLong(max) => self.too_long.replace("{max}", &max.to_string()),
            Problem::Invalid | Problem::NotAQuestion => self.pick_again.clone(),
        }
    }

    /// The expired-link text for a link that expired at `expires` (Unix seconds).
    pub fn expired(&self, expires: i64) -> String {
        let date = jiff::Timestamp::from_second(expires)
            .ok()
            .and_then(|t| jiff::fmt::strtime::format(&self.date_format, t).ok())
            .unwrap_or_default();
        self.expired_text.replace("{date}", &date)
    }
}

/// The words of every locale: the built-in catalogues with a workspace's on top, resolved
/// once (cheap to clone).
#[derive(Debug, Clone)]
pub struct Words {
    /// Per locale key (a language such as `lt`, or a whole tag such as `pt-br`), the
    /// complete words.
    resolved: Arc<BTreeMap<String, Arc<Ui>>>,
    /// The workspace's words.
    overrides: Arc<WordOverrides>,
}

impl Default for Words {
    fn default() -> Self {
        Words::new(&WordOverrides::new())
    }
}

impl Words {
    /// The built-in words with `overrides` on top.
    pub fn new(overrides: &WordOverrides) -> Words {
        let mut words = Words {
            resolved: Arc::default(),
            overrides: Arc::new(
                overrides
                    .iter()
                    .map(|(locale, words)| (locale.to_ascii_lowercase(), words.clone()))
                    .collect(),
            ),
        };
        let keys = built_in()
            .keys()
            .cloned()
            .chain(words.overrides.keys().cloned());
        let resolved = keys
            .map(|key| {
                let mut complete = built_in()[FALLBACK].clone();
                complete.extend(words.provided(&key));
                (key, Arc::new(to_ui(complete)))
            })
            .collect();
        words.resolved = Arc::new(resolved);
        words
    }

    /// The words for `locale`: its own, else its language's, else English.
    pub fn ui(&self, locale: &str) -> Arc<Ui> {
        let locale = locale.to_ascii_lowercase();
        let found = self
            .resolved
            .get(&locale)
            .or_else(|| self.resolved.get(Locale::parse(&locale).language()))
            .or_else(|| self.resolved.get(FALLBACK));
        found.cloned().expect("the English words are built in")
    }

    /// The keys `locale` has no words for, neither built in nor from the workspace.
    pub fn missing(&self, locale: &str) -> Vec<String> {
        let provided = self.provided(&locale.to_ascii_lowercase());
        self.keys()
            .filter(|key| !provided.contains_key(*key))
            .map(str::to_string)
            .collect()
    }

    /// Every key a locale needs, in alphabetical order.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> {
        built_in()[FALLBACK].keys().map(String::as_str)
    }

    /// The locale with words that best fits an `Accept-Language` header, else English.
    pub fn negotiate(&self, accept_language: &str) -> String {
        preferred(accept_language)
            .into_iter()
            .find_map(|tag| {
                [tag.as_str(), Locale::parse(&tag).language()]
                    .into_iter()
                    .find(|key| self.resolved.contains_key(*key))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| FALLBACK.to_string())
    }

    /// The words given for a locale key: the built-in ones of its language, the
    /// workspace's for its language, then the workspace's for the whole tag.
    fn provided(&self, key: &str) -> BTreeMap<String, String> {
        let locale = Locale::parse(key);
        let language = locale.language();
        let mut words = built_in().get(language).cloned().unwrap_or_default();
        let known = |(k, _): &(&String, &String)| built_in()[FALLBACK].contains_key(*k);
        let mut add = |locale: &str| {
            if let Some(extra) = self.overrides.get(locale) {
                words.extend(
                    extra
                        .iter()
                        .filter(known)
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
        };
        add(language);
        if key != language {
            add(key);
        }
        words
    }
}

/// The language tags of an `Accept-Language` header, most wanted first and lower case;
/// `*` and those refused with `q=0` left out.
fn preferred(accept_language: &str) -> Vec<String> {
    let mut ranges: Vec<(f32, &str)> = accept_language
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let tag = parts.next().filter(|t| !t.is_empty() && *t != "*")?;
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .map_or(Some(1.0), |q| q.parse().ok())?;
            (q > 0.0).then_some((q, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges
        .into_iter()
        .map(|(_, tag)| tag.to_ascii_lowercase())
        .collect()
}

/// The one of a survey's `locales` a person asked for: the link's `?locale=` when the
/// survey has it, else the best fit of the browser's `Accept-Language`, else the survey's
/// default (its first). A tag fits a locale of the same tag or the same language
/// (`sl-SI` takes `sl`, `pt` takes `pt-BR`).
pub fn choose_locale<'a>(
    locales: &'a [String],
    requested: Option<&str>,
    accept_language: &str,
) -> Option<&'a str> {
    let fits = |tag: &str| {
        let same = |l: &&String| l.eq_ignore_ascii_case(tag);
        let language = Locale::parse(tag);
        let same_language = |l: &&String| Locale::parse(l).language() == language.language();
        locales
            .iter()
            .find(same)
            .or_else(|| locales.iter().find(same_language))
    };
    requested
        .and_then(fits)
        .or_else(|| preferred(accept_language).iter().find_map(|tag| fits(tag)))
        .or(locales.first())
        .map(String::as_str)
}

/// The built-in catalogues, parsed on first use.
fn built_in() -> &'static BTreeMap<String, BTreeMap<String, String>> {
    static PARSED: OnceLock<BTreeMap<String, BTreeMap<String, String>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        BUILT_IN
            .iter()
            .map(|(language, text)| (language.to_string(), parse(language, text)))
            .collect()
    })
}

/// One built-in catalogue as key → text.
fn parse(language: &str, text: &str) -> BTreeMap<String, String> {
    let source = crate::load::Source::new(format!("locales/{language}.yaml"), text);
    let node = crate::load::parse(&source).expect("the built-in words parse");
    serde_json::from_value(crate::load::to_json(node).0).expect("the built-in words are texts")
}

/// A complete set of words as the typed struct.
fn to_ui(words: BTreeMap<String, String>) -> Ui {
    let map = words
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)));
    serde_json::from_value(serde_json::Value::Object(map.collect()))
        .expect("the English words name every key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_catalogue_is_complete_and_has_no_stray_key() {
        let words = Words::default();
        for (language, text) in BUILT_IN {
            let parsed = parse(language, text);
            assert!(
                words.missing(language).is_empty(),
                "{language}: {:?}",
                words.missing(language)
            );
            let map = parsed
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)));
            serde_json::from_value::<Ui>(serde_json::Value::Object(map.collect()))
                .unwrap_or_else(|e| panic!("{language}: {e}"));
        }
    }

    /// Words that are the same in English and another language: Spanish "No".
    const SAME_WORDS: &[(&str, &str)] = &[("es", "no")];

    #[test]
    fn no_catalogue_copies_an_english_word() {
        let english = &built_in()[FALLBACK];
        for (language, words) in built_in().iter().filter(|(l, _)| *l != FALLBACK) {
            let same = |key: &str| key == "date_format" || SAME_WORDS.contains(&(language, key));
            let copied: Vec<&String> = words
                .iter()
                .filter(|(key, text)| !same(key) && english.get(*key) == Some(text))
                .map(|(key, _)| key)
                .collect();
            assert!(
                copied.is_empty(),
                "{language} has English words for {copied:?}"
            );
        }
    }

    #[test]
    fn the_workspace_schema_lists_every_key() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/workspace.schema.json")).unwrap();
        let words = &schema["properties"]["ui"]["additionalProperties"]["properties"];
        let mut listed: Vec<&str> = words
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, Words::default().keys().collect::<Vec<_>>());
    }

    #[test]
    fn locales_fall_back_to_their_language_then_english() {
        let words = Words::default();
        assert_eq!(words.ui("lt-LT").submit, "Siųsti atsakymus");
        assert_eq!(words.ui("hr").submit, "Send my answers");
        assert_eq!(words.missing("hr").len(), built_in()[FALLBACK].len());
    }

    #[test]
    fn a_workspace_adds_a_locale_or_changes_a_word() {
        let overrides = WordOverrides::from([
            (
                "lt".into(),
                BTreeMap::from([("submit".into(), "Pateikti".into())]),
            ),
            ("HR".into(), BTreeMap::from([("yes".into(), "Da".into())])),
        ]);
        let words = Words::new(&overrides);
        assert_eq!(words.ui("lt").submit, "Pateikti");
        assert_eq!(words.ui("lt").yes, "Taip");
        assert_eq!(words.ui("hr").yes, "Da");
        assert!(words.missing("hr").contains(&"submit".to_string()));
        assert!(!words.missing("hr").contains(&"yes".to_string()));
    }

    #[test]
    fn the_browser_language_is_matched_against_the_catalogues() {
        let words = Words::default();
        assert_eq!(words.negotiate("xx, lt-LT;q=0.9, en;q=0.8"), "lt");
        assert_eq!(words.negotiate("de;q=0.1, ms"), "ms");
        assert_eq!(words.negotiate("xx"), "en");
        assert_eq!(words.negotiate(""), "en");
    }

    #[test]
    fn a_survey_locale_is_chosen_by_the_link_then_the_browser() {
        let locales = ["en".to_string(), "sl".to_string(), "pt-BR".to_string()];
        assert_eq!(choose_locale(&locales, Some("SL"), "pt"), Some("sl"));
        assert_eq!(
            choose_locale(&locales, Some("xx"), "pt, sl;q=0.9"),
            Some("pt-BR")
        );
        assert_eq!(choose_locale(&locales, None, "sl-SI, en;q=0.5"), Some("sl"));
        assert_eq!(choose_locale(&locales, None, "de, sl;q=0"), Some("en"));
        assert_eq!(choose_locale(&[], None, "sl"), None);
    }

    #[test]
    fn dates_and_problems_are_in_the_locale() {
        let cs = Words::default().ui("cs");
        assert!(
            cs.expired(1_738_281_600).contains("31. 1. 2025"),
            "{}",
            cs.expired(1_738_281_600)
        );
        assert_eq!(cs.problem(&Problem::Required), cs.needs_answer);
        assert!(cs.problem(&Problem::TooLong(500)).contains("500"));
    }
}
