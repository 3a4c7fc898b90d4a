//! What templates see: a survey flattened into one locale, with every text resolved, every
//! answer value labelled and the interface words translated.
//!
//! Survey texts go into templates only as values of this model, never as template source,
//! so a `{{ … }}` or a `<script>` in a survey is data that the template escapes.

use serde::Serialize;

use crate::model::{Question, QuestionType, Survey, Text};
use crate::when::{Expr, Op};

/// One survey in one locale.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyView {
    /// The survey id.
    pub id: String,
    /// The BCP 47 locale the texts are in (the page's `lang`).
    pub lang: String,
    /// `ltr` or `rtl`, from the locale's language.
    pub dir: &'static str,
    /// The title.
    pub title: String,
    /// The sentence before the questions.
    pub intro: Option<String>,
    /// The thank-you text.
    pub thanks: Option<String>,
    /// The questions in order.
    pub questions: Vec<QuestionView>,
    /// The interface words in this locale.
    pub ui: &'static Ui,
    /// This view as a template value, made on first use so that a batch of messages
    /// converts the survey once.
    #[serde(skip)]
    value: std::sync::OnceLock<minijinja::Value>,
    /// The e-mail bodies compiled for this view, so that a batch renders them once.
    #[serde(skip)]
    pub(super) emails: super::email::EmailCache,
}

/// One question in one locale.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionView {
    /// The question id: the form field's name.
    pub id: String,
    /// The question type's YAML name (`nps`, `rating`, …).
    pub kind: &'static str,
    /// The question as asked.
    pub text: String,
    /// A hint under the question.
    pub help: Option<String>,
    /// Whether an answer is needed when the question is shown.
    pub required: bool,
    /// The answers to pick from (empty for free text).
    pub choices: Vec<ChoiceView>,
    /// The scale's low end with its label (`0 = Not at all likely`), shown beside the
    /// buttons because mail clients drop ARIA.
    pub low_end: Option<String>,
    /// The scale's high end with its label.
    pub high_end: Option<String>,
    /// Both ends in one line, for plain text and chat.
    pub ends: Option<String>,
    /// The `when` condition as JSON for the page's script, when the question has one.
    pub when: Option<String>,
    /// The longest text answer.
    pub max_length: Option<u32>,
}

/// One answer a person can pick.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceView {
    /// The submitted value.
    pub value: String,
    /// What people read on the button or beside the box.
    pub label: String,
    /// The scale label of this point, when the survey gives one.
    pub note: Option<String>,
    /// The one-click link (e-mail and chat only).
    pub href: Option<String>,
}

impl SurveyView {
    /// Flattens `survey` into `locale` (falling back to the survey's default locale).
    pub fn new(survey: &Survey, locale: &str) -> SurveyView {
        let fallback = survey.default_locale();
        let text = |t: &Text| t.get(locale, fallback).to_string();
        SurveyView {
            id: survey.id.clone(),
            lang: locale.to_string(),
            dir: direction(locale),
            title: text(&survey.title),
            intro: survey.intro.as_ref().map(text),
            thanks: survey.thanks.as_ref().map(text),
            questions: survey
                .questions
                .iter()
                .map(|q| QuestionView::new(q, locale, fallback))
                .collect(),
            ui: Ui::for_locale(locale),
            value: std::sync::OnceLock::new(),
            emails: Default::default(),
        }
    }

    /// This view as a template value (cheap to clone: reference-counted).
    pub fn value(&self) -> minijinja::Value {
        self.value
            .get_or_init(|| minijinja::Value::from_serialize(self))
            .clone()
    }

    /// The question with this id.
    pub fn question(&self, id: &str) -> Option<&QuestionView> {
        self.questions.iter().find(|q| q.id == id)
    }
}

impl QuestionView {
    fn new(question: &Question, locale: &str, fallback: &str) -> QuestionView {
        let text = |t: &Text| t.get(locale, fallback).to_string();
        let ui = Ui::for_locale(locale);
        let choices = question
            .values()
            .into_iter()
            .map(|value| {
                let value = value.to_string();
                let label = match question.kind {
                    QuestionType::YesNo if value == "yes" => ui.yes.to_string(),
                    QuestionType::YesNo => ui.no.to_string(),
                    QuestionType::Choice => question
                        .options
                        .iter()
                        .find(|o| o.id == value)
                        .map_or_else(|| value.clone(), |o| text(&o.text)),
                    _ => value.clone(),
                };
                let note = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| question.label(n))
                    .map(text);
                ChoiceView {
                    value,
                    label,
                    note,
                    href: None,
                }
            })
            .collect::<Vec<_>>();
        let end = |choice: Option<&ChoiceView>| {
            let c = choice.filter(|_| question.kind.is_scaled())?;
            Some(format!("{} = {}", c.label, c.note.as_deref()?))
        };
        let (low_end, high_end) = (end(choices.first()), end(choices.last()));
        let ends = match (&low_end, &high_end) {
            (Some(low), Some(high)) => Some(format!("{low}, {high}")),
            (low, high) => low.clone().or_else(|| high.clone()),
        };
        QuestionView {
            id: question.id.clone(),
            kind: question.kind.name(),
            text: text(&question.text),
            help: question.help.as_ref().map(text),
            required: question.required,
            low_end,
            high_end,
            ends,
            when: question
                .when
                .as_deref()
                .and_then(|w| Expr::parse(w).ok())
                .map(|e| condition_json(&e).to_string()),
            max_length: (question.kind == QuestionType::Text).then(|| {
                question
                    .max_length
                    .unwrap_or(crate::model::DEFAULT_MAX_LENGTH)
            }),
            choices,
        }
    }
}

/// A condition as JSON for the page's script: `{"and": [a, b]}`, `{"or": …}`,
/// `{"not": a}` and `{"q": id, "op": "<=", "v": 3}`.
fn condition_json(expr: &Expr) -> serde_json::Value {
    use serde_json::json;
    match expr {
        Expr::And(a, b) => json!({"and": [condition_json(a), condition_json(b)]}),
        Expr::Or(a, b) => json!({"or": [condition_json(a), condition_json(b)]}),
        Expr::Not(a) => json!({"not": condition_json(a)}),
        Expr::Compare(c) => json!({
            "q": c.question,
            "op": c.op.symbol(),
            "v": c.value,
            "ord": c.op != Op::Eq && c.op != Op::Ne,
        }),
    }
}

/// The writing direction of a locale's language.
pub fn direction(locale: &str) -> &'static str {
    let language = locale.split(['-', '_']).next().unwrap_or("");
    match language.to_ascii_lowercase().as_str() {
        "ar" | "he" | "fa" | "ur" | "yi" | "ps" | "sd" | "ug" | "dv" | "ckb" => "rtl",
        _ => "ltr",
    }
}

/// The interface words around the survey's own texts.
#[derive(Debug, Serialize)]
pub struct Ui {
    /// The greeting before the recipient's name.
    pub hello: &'static str,
    /// Under one-click buttons: the click is the answer.
    pub one_click: &'static str,
    /// The link to the whole survey.
    pub full_survey: &'static str,
    /// The unsubscribe link.
    pub unsubscribe: &'static str,
    /// Why the message came.
    pub why: &'static str,
    /// The form's submit button.
    pub submit: &'static str,
    /// The mark on required questions.
    pub required: &'static str,
    /// The answer yes.
    pub yes: &'static str,
    /// The answer no.
    pub no: &'static str,
    /// Above a form sent back with errors.
    pub fix_errors: &'static str,
    /// The honeypot's label, for people whose browser shows it.
    pub leave_empty: &'static str,
    /// On paper: how to answer.
    pub tick_one: &'static str,
    /// On paper: the QR code's caption.
    pub scan: &'static str,
    /// The QR code's alternative text.
    pub qr_alt: &'static str,
    /// The page's note on the optional questions.
    pub optional: &'static str,
}

const EN: Ui = Ui {
    hello: "Hello",
    one_click: "Click your answer: it is saved right away.",
    full_survey: "Answer the whole survey",
    unsubscribe: "Unsubscribe",
    why: "You receive this message because you were in touch with us.",
    submit: "Send my answers",
    required: "required",
    yes: "Yes",
    no: "No",
    fix_errors: "Some answers need another look; they are marked below.",
    leave_empty: "Leave this field empty",
    tick_one: "Tick one box per question.",
    scan: "Or answer online: scan the code.",
    qr_alt: "QR code of the online survey",
    optional: "optional",
};

const SL: Ui = Ui {
    hello: "Pozdravljeni",
    one_click: "Kliknite svoj odgovor: shranjen bo takoj.",
    full_survey: "Odgovorite na celotno anketo",
    unsubscribe: "Odjava",
    why: "To sporočilo ste prejeli, ker ste bili v stiku z nami.",
    submit: "Pošlji odgovore",
    required: "obvezno",
    yes: "Da",
    no: "Ne",
    fix_errors: "Nekatere odgovore preverite še enkrat; označeni so spodaj.",
    leave_empty: "To polje pustite prazno",
    tick_one: "Pri vsakem vprašanju označite eno polje.",
    scan: "Ali odgovorite na spletu: skenirajte kodo.",
    qr_alt: "Koda QR spletne ankete",
    optional: "neobvezno",
};

const CS: Ui = Ui {
    hello: "Dobrý den",
    one_click: "Klikněte na svou odpověď: uloží se hned.",
    full_survey: "Vyplnit celý dotazník",
    unsubscribe: "Odhlásit se",
    why: "Tuto zprávu dostáváte, protože jste byli v kontaktu s námi.",
    submit: "Odeslat odpovědi",
    required: "povinné",
    yes: "Ano",
    no: "Ne",
    fix_errors: "Některé odpovědi je třeba opravit; jsou označené níže.",
    leave_empty: "Toto pole nechte prázdné",
    tick_one: "U každé otázky zaškrtněte jedno políčko.",
    scan: "Nebo odpovězte online: naskenujte kód.",
    qr_alt: "QR kód online dotazníku",
    optional: "nepovinné",
};

const DE: Ui = Ui {
    hello: "Hallo",
    one_click: "Klicken Sie Ihre Antwort: Sie wird sofort gespeichert.",
    full_survey: "Die ganze Umfrage beantworten",
    unsubscribe: "Abmelden",
    why: "Sie erhalten diese Nachricht, weil Sie mit uns in Kontakt waren.",
    submit: "Antworten senden",
    required: "erforderlich",
    yes: "Ja",
    no: "Nein",
    fix_errors: "Einige Antworten brauchen noch einen Blick; sie sind unten markiert.",
    leave_empty: "Dieses Feld leer lassen",
    tick_one: "Kreuzen Sie pro Frage ein Kästchen an.",
    scan: "Oder online antworten: Code scannen.",
    qr_alt: "QR-Code der Online-Umfrage",
    optional: "freiwillig",
};

const FR: Ui = Ui {
    hello: "Bonjour",
    one_click: "Cliquez sur votre réponse : elle est enregistrée tout de suite.",
    full_survey: "Répondre à toute l’enquête",
    unsubscribe: "Se désabonner",
    why: "Vous recevez ce message parce que vous avez été en contact avec nous.",
    submit: "Envoyer mes réponses",
    required: "obligatoire",
    yes: "Oui",
    no: "Non",
    fix_errors: "Certaines réponses sont à revoir ; elles sont signalées ci-dessous.",
    leave_empty: "Laissez ce champ vide",
    tick_one: "Cochez une case par question.",
    scan: "Ou répondez en ligne : scannez le code.",
    qr_alt: "Code QR de l’enquête en ligne",
    optional: "facultatif",
};

const ES: Ui = Ui {
    hello: "Hola",
    one_click: "Haga clic en su respuesta: se guarda al instante.",
    full_survey: "Responder a toda la encuesta",
    unsubscribe: "Darse de baja",
    why: "Recibe este mensaje porque estuvo en contacto con nosotros.",
    submit: "Enviar respuestas",
    required: "obligatorio",
    yes: "Sí",
    no: "No",
    fix_errors: "Algunas respuestas necesitan revisión; están marcadas abajo.",
    leave_empty: "Deje este campo vacío",
    tick_one: "Marque una casilla por pregunta.",
    scan: "O responda en línea: escanee el código.",
    qr_alt: "Código QR de la encuesta en línea",
    optional: "opcional",
};

impl Ui {
    /// The words for a locale's language, English when canvass has no translation.
    pub fn for_locale(locale: &str) -> &'static Ui {
        let language = locale.split(['-', '_']).next().unwrap_or("");
        match language.to_ascii_lowercase().as_str() {
            "sl" => &SL,
            "cs" => &CS,
            "de" => &DE,
            "fr" => &FR,
            "es" => &ES,
            _ => &EN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_to_left_languages() {
        assert_eq!(direction("ar-EG"), "rtl");
        assert_eq!(direction("he"), "rtl");
        assert_eq!(direction("en-GB"), "ltr");
    }

    #[test]
    fn conditions_become_json() {
        let expr = Expr::parse("a <= 3 and not b == yes").unwrap();
        assert_eq!(
            condition_json(&expr).to_string(),
            r#"{"and":[{"q":"a","op":"<=","v":3,"ord":true},{"not":{"q":"b","op":"==","v":"yes","ord":false}}]}"#
        );
    }
}
