//! The `{{ placeholder }}` names a survey's texts may use, and where they sit in a text:
//! one reading shared by `check` (which reports unknown ones) and `render` (which fills
//! them in), so that the two can never disagree.

use crate::model::Audience;

/// The placeholders a rule's texts may use: `name`, `survey` and the declared columns.
pub fn allowed_placeholders(audience: Option<&Audience>) -> Vec<String> {
    let mut allowed = vec!["name".to_string(), "survey".to_string()];
    if let Some(audience) = audience {
        allowed.extend(audience.placeholders.iter().cloned());
    }
    allowed
}

/// The `{{ placeholder }}` names used in a string, with their character offsets.
pub fn placeholders(text: &str) -> Vec<(String, usize)> {
    placeholder_spans(text)
        .into_iter()
        .map(|(name, range)| (name, text[..range.start].chars().count()))
        .collect()
}

/// The `{{ placeholder }}` names used in a string, with the byte range of each whole
/// `{{ … }}`, for substituting them.
pub fn placeholder_spans(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut found = Vec::new();
    let mut consumed = 0;
    while let Some(open) = text[consumed..].find("{{") {
        let start = consumed + open;
        let Some(close) = text[start + 2..].find("}}") else {
            break;
        };
        let end = start + 2 + close + 2;
        found.push((text[start + 2..end - 2].trim().to_string(), start..end));
        consumed = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_with_offsets() {
        assert_eq!(
            placeholders("Hi {{ name }}, é {{plan}}"),
            vec![("name".to_string(), 3), ("plan".to_string(), 17)]
        );
        assert!(placeholders("no {{ end").is_empty());
    }
}
