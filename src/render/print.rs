//! Print: the survey on paper with tick boxes, and a QR code of its open link for people
//! who would rather answer on their phone.

use base64::Engine as _;
use serde::Serialize;

use super::view::SurveyView;
use super::{RenderError, Renderer};
use crate::model::Survey;

/// The paper size the page is laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    /// 210 × 297 mm, most of the world.
    #[default]
    A4,
    /// 8.5 × 11 in, the Americas and the Philippines.
    Letter,
}

impl Paper {
    /// The paper people in a locale's region use: Letter in the US, Canada, Mexico, Chile,
    /// Colombia, Venezuela and the Philippines, A4 elsewhere.
    pub fn for_locale(locale: &str) -> Paper {
        match crate::locale::Locale::parse(locale).region() {
            Some("US" | "CA" | "MX" | "CL" | "CO" | "VE" | "PH") => Paper::Letter,
            _ => Paper::A4,
        }
    }
}

/// One printed page.
#[derive(Debug, Clone)]
pub struct PrintContext<'a> {
    /// The survey.
    pub survey: &'a Survey,
    /// The locale to print in.
    pub locale: &'a str,
    /// The collector's public address, for the QR code's open link.
    pub base_url: &'a str,
    /// The paper size.
    pub paper: Paper,
}

#[derive(Serialize)]
struct PrintView {
    s: SurveyView,
    paper: Paper,
    open_url: String,
    qr_data_uri: String,
}

impl Renderer {
    /// The print-ready page.
    pub fn print(&self, context: &PrintContext) -> Result<String, RenderError> {
        let open_url = super::open_link_in(context.base_url, &context.survey.id, context.locale);
        let view = PrintView {
            s: self.view(context.survey, context.locale),
            paper: context.paper,
            qr_data_uri: qr_data_uri(&open_url),
            open_url,
        };
        self.render("print.html", &view)
    }
}

/// The QR code of `url` as an SVG `data:` URI, for an `<img>` with alternative text.
fn qr_data_uri(url: &str) -> String {
    let svg = qrcode::QrCode::new(url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(160, 160)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_follows_the_region() {
        assert_eq!(Paper::for_locale("en-US"), Paper::Letter);
        assert_eq!(Paper::for_locale("en"), Paper::A4);
        assert_eq!(Paper::for_locale("sl-SI"), Paper::A4);
    }

    #[test]
    fn qr_is_an_svg() {
        let uri = qr_data_uri("https://x.example/o/nps");
        let svg = base64::engine::general_purpose::STANDARD
            .decode(uri.trim_start_matches("data:image/svg+xml;base64,"))
            .unwrap();
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    }
}
