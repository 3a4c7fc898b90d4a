//! The `when` condition language: which questions are asked, given earlier answers.
//!
//! `satisfaction <= 3 and (channel == phone or not solved == yes)`. Kept deliberately
//! small so that `check` can type-check every comparison against the question it names,
//! and so that the server, the importer and the page's script agree on what it means.

use std::fmt;

use crate::model::AnswerValue;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// It does not hold.
    Not(Box<Expr>),
    /// `question OP value`.
    Compare(Comparison),
}

/// One comparison of an earlier answer with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The question whose answer is compared.
    pub question: String,
    /// Character offset of the question name in the expression.
    pub question_at: usize,
    /// The operator.
    pub op: Op,
    /// The value compared with.
    pub value: AnswerValue,
    /// Character offset of the value in the expression.
    pub value_at: usize,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Whether the operator orders values (only numbers can be ordered).
    pub fn is_ordering(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne)
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A condition that does not parse, with the character offset of the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What was expected.
    pub message: String,
    /// Character offset in the expression.
    pub at: usize,
}

impl Expr {
    /// Parses a condition.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let tokens = tokenize(text)?;
        let mut parser = ExprParser {
            tokens,
            pos: 0,
            end: text.chars().count(),
        };
        let expr = parser.or()?;
        match parser.peek() {
            None => Ok(expr),
            Some((token, at)) => Err(ParseError {
                message: format!("unexpected `{token}`: join conditions with `and` or `or`"),
                at,
            }),
        }
    }

    /// Every comparison, for checking.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Comparison>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
            Expr::Not(a) => a.collect(out),
            Expr::Compare(c) => out.push(c),
        }
    }

    /// Evaluates the condition; a comparison with an unanswered question is false.
    pub fn eval(&self, answer: &dyn Fn(&str) -> Option<AnswerValue>) -> bool {
        match self {
            Expr::And(a, b) => a.eval(answer) && b.eval(answer),
            Expr::Or(a, b) => a.eval(answer) || b.eval(answer),
            Expr::Not(a) => !a.eval(answer),
            Expr::Compare(c) => answer(&c.question).is_some_and(|given| c.holds(&given)),
        }
    }
}

/// A condition as a respondent can be told it: the answers to earlier questions that make
/// a question apply. A page without scripts and a paper sheet show every question, so each
/// conditional one carries this in words ("answer only if you chose 1–3 above").
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Whether every part must hold, or any one of them.
    pub joined: Joined,
    /// Per earlier question, in the order the condition names them, the answers that make
    /// the condition hold.
    pub parts: Vec<Part>,
}

/// How the parts of a [`Description`] combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// Every part must hold (`and`).
    All,
    /// Any part may hold (`or`).
    Any,
}

/// One earlier question and the answers to it that count.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The earlier question's id.
    pub question: String,
    /// Its answers that count, in the question's own order.
    pub values: Vec<AnswerValue>,
}

impl Expr {
    /// The condition in the shape words can carry, given each question's possible answers
    /// (`None` for a question without a fixed set, such as free text). `None` when the
    /// condition has no such shape: a mix of `and` and `or` over different questions, a
    /// `not` over several, a free-text question, or a part that no answer satisfies.
    pub fn describe(
        &self,
        answers_of: &dyn Fn(&str) -> Option<Vec<AnswerValue>>,
    ) -> Option<Description> {
        let mut description = self.shape(answers_of)?;
        for part in &mut description.parts {
            let chosen = std::mem::take(&mut part.values);
            part.values = answers_of(&part.question)?
                .into_iter()
                .filter(|v| chosen.contains(v))
                .collect();
        }
        let satisfiable = description.parts.iter().all(|p| !p.values.is_empty());
        satisfiable.then_some(description)
    }

    fn shape(&self, answers_of: &dyn Fn(&str) -> Option<Vec<AnswerValue>>) -> Option<Description> {
        match self {
            Expr::Compare(c) => {
                let values = answers_of(&c.question)?
                    .into_iter()
                    .filter(|v| c.holds(v))
                    .collect();
                Some(Description::single(&c.question, values))
            }
            Expr::Not(inner) => {
                let Description { parts, .. } = inner.shape(answers_of)?;
                let [part] = &parts[..] else { return None };
                let values = answers_of(&part.question)?
                    .into_iter()
                    .filter(|v| !part.values.contains(v))
                    .collect();
                Some(Description::single(&part.question, values))
            }
            Expr::And(a, b) => {
                Description::join(a.shape(answers_of)?, b.shape(answers_of)?, Joined::All)
            }
            Expr::Or(a, b) => {
                Description::join(a.shape(answers_of)?, b.shape(answers_of)?, Joined::Any)
            }
        }
    }
}

impl Description {
    fn single(question: &str, values: Vec<AnswerValue>) -> Description {
        Description {
            joined: Joined::All,
            parts: vec![Part {
                question: question.to_string(),
                values,
            }],
        }
    }

    /// Two descriptions joined, when the result is still a flat list: parts about the same
    /// question merge (the answers both allow, or either allows).
    fn join(a: Description, b: Description, joined: Joined) -> Option<Description> {
        let flat = |d: &Description| d.parts.len() == 1 || d.joined == joined;
        if !flat(&a) || !flat(&b) {
            return None;
        }
        let mut parts: Vec<Part> = Vec::new();
        for part in a.parts.into_iter().chain(b.parts) {
            match parts.iter_mut().find(|p| p.question == part.question) {
                Some(earlier) => earlier.merge(&part.values, joined),
                None => parts.push(part),
            }
        }
        Some(Description { joined, parts })
    }
}

impl Part {
    fn merge(&mut self, values: &[AnswerValue], joined: Joined) {
        match joined {
            Joined::All => self.values.retain(|v| values.contains(v)),
            Joined::Any => {
                let new: Vec<AnswerValue> = values
                    .iter()
                    .filter(|v| !self.values.contains(v))
                    .cloned()
                    .collect();
                self.values.extend(new);
            }
        }
    }
}

impl Comparison {
    fn holds(&self, given: &AnswerValue) -> bool {
        let ordering = match (given, &self.value) {
            (AnswerValue::Number(a), AnswerValue::Number(b)) => a.cmp(b),
            (AnswerValue::Word(a), AnswerValue::Word(b)) if !self.op.is_ordering() => a.cmp(b),
            _ => return self.op == Op::Ne,
        };
        match self.op {
            Op::Eq => ordering.is_eq(),
            Op::Ne => ordering.is_ne(),
            Op::Lt => ordering.is_lt(),
            Op::Le => ordering.is_le(),
            Op::Gt => ordering.is_gt(),
            Op::Ge => ordering.is_ge(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Number(i64),
    Quoted(String),
    Op(Op),
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => f.write_str(w),
            Token::Number(n) => write!(f, "{n}"),
            Token::Quoted(s) => write!(f, "\"{s}\""),
            Token::Op(op) => f.write_str(op.symbol()),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                Token::Open
            }
            ')' => {
                i += 1;
                Token::Close
            }
            '=' | '!' | '<' | '>' => {
                let (op, len) = operator(&chars[i..]).ok_or_else(|| ParseError {
                    message: format!("`{c}` is not an operator: use ==, !=, <, <=, > or >="),
                    at: i,
                })?;
                i += len;
                Token::Op(op)
            }
            '"' | '\'' => {
                let close =
                    chars[i + 1..]
                        .iter()
                        .position(|&q| q == c)
                        .ok_or_else(|| ParseError {
                            message: "this quoted value is never closed".into(),
                            at: i,
                        })?;
                let value: String = chars[i + 1..i + 1 + close].iter().collect();
                i += close + 2;
                Token::Quoted(value)
            }
            _ if c.is_ascii_digit() || c == '-' => {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let digits: String = chars[start..i].iter().collect();
                Token::Number(digits.parse().map_err(|_| ParseError {
                    message: format!("`{digits}` is not a whole number"),
                    at: start,
                })?)
            }
            _ if c.is_alphanumeric() || c == '_' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || "_-.".contains(chars[i])) {
                    i += 1;
                }
                Token::Word(chars[start..i].iter().collect())
            }
            _ => {
                return Err(ParseError {
                    message: format!("unexpected character `{c}`"),
                    at: i,
                });
            }
        };
        tokens.push((token, start));
    }
    Ok(tokens)
}

fn operator(chars: &[char]) -> Option<(Op, usize)> {
    let second = chars.get(1) == Some(&'=');
    match (chars[0], second) {
        ('=', true) => Some((Op::Eq, 2)),
        ('!', true) => Some((Op::Ne, 2)),
        ('<', true) => Some((Op::Le, 2)),
        ('>', true) => Some((Op::Ge, 2)),
        ('<', false) => Some((Op::Lt, 1)),
        ('>', false) => Some((Op::Gt, 1)),
        _ => None,
    }
}

struct ExprParser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end: usize,
}

impl ExprParser {
    fn peek(&self) -> Option<(Token, usize)> {
        self.tokens.get(self.pos).cloned()
    }

    fn next(&mut self, expected: &str) -> Result<(Token, usize), ParseError> {
        let token = self.peek().ok_or_else(|| ParseError {
            message: format!("the condition ends where {expected} was expected"),
            at: self.end,
        })?;
        self.pos += 1;
        Ok(token)
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some((Token::Word(w), _)) if w == word);
        if found {
            self.pos += 1;
        }
        found
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if matches!(self.peek(), Some((Token::Open, _))) {
            self.pos += 1;
            let inner = self.or()?;
            return match self.next("`)`")? {
                (Token::Close, _) => Ok(inner),
                (token, at) => Err(ParseError {
                    message: format!("expected `)`, found `{token}`"),
                    at,
                }),
            };
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let (question, question_at) = match self.next("a question id")? {
            (Token::Word(w), at) => (w, at),
            (token, at) => {
                return Err(ParseError {
                    message: format!("expected a question id, found `{token}`"),
                    at,
                });
            }
        };
        let op = match self.next("an operator")? {
            (Token::Op(op), _) => op,
            (token, at) => {
                return Err(ParseError {
                    message: format!(
                        "expected an operator (==, !=, <, <=, >, >=) after `{question}`, found `{token}`"
                    ),
                    at,
                });
            }
        };
        let (value, value_at) = match self.next("a value")? {
            (Token::Number(n), at) => (AnswerValue::Number(n), at),
            (Token::Word(w) | Token::Quoted(w), at) => (AnswerValue::Word(w), at),
            (token, at) => {
                return Err(ParseError {
                    message: format!("expected a value, found `{token}`"),
                    at,
                });
            }
        };
        Ok(Expr::Compare(Comparison {
            question,
            question_at,
            op,
            value,
            value_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(q: &str) -> Option<AnswerValue> {
        match q {
            "satisfaction" => Some(AnswerValue::Number(2)),
            "channel" => Some(AnswerValue::word("phone")),
            _ => None,
        }
    }

    #[test]
    fn parses_and_evaluates() {
        let e = Expr::parse("satisfaction <= 3 and (channel == phone or not x == 1)").unwrap();
        assert!(e.eval(&answers));
        assert_eq!(e.comparisons().len(), 3);
        assert!(!Expr::parse("satisfaction > 3").unwrap().eval(&answers));
        assert!(!Expr::parse("missing == 1").unwrap().eval(&answers));
        assert!(Expr::parse("channel != 'email'").unwrap().eval(&answers));
    }

    fn answers_of(q: &str) -> Option<Vec<AnswerValue>> {
        match q {
            "score" => Some((1..=5).map(AnswerValue::Number).collect()),
            "solved" => Some(vec![AnswerValue::word("yes"), AnswerValue::word("no")]),
            _ => None,
        }
    }

    fn described(text: &str) -> Option<Vec<(String, Vec<String>)>> {
        let description = Expr::parse(text).unwrap().describe(&answers_of)?;
        Some(
            description
                .parts
                .into_iter()
                .map(|p| (p.question, p.values.iter().map(|v| v.to_string()).collect()))
                .collect(),
        )
    }

    fn part(question: &str, values: &[&str]) -> (String, Vec<String>) {
        (
            question.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        )
    }

    #[test]
    fn conditions_are_described_as_the_answers_that_count() {
        assert_eq!(
            described("score <= 3"),
            Some(vec![part("score", &["1", "2", "3"])])
        );
        assert_eq!(
            described("score != 3"),
            Some(vec![part("score", &["1", "2", "4", "5"])])
        );
        assert_eq!(
            described("not solved == yes"),
            Some(vec![part("solved", &["no"])])
        );
        assert_eq!(
            described("score == 5 or score < 2"),
            Some(vec![part("score", &["1", "5"])]),
            "merged in the scale's order"
        );
        assert_eq!(
            described("score >= 2 and score <= 3"),
            Some(vec![part("score", &["2", "3"])])
        );
        let both = Expr::parse("score <= 2 or solved == no")
            .unwrap()
            .describe(&answers_of)
            .unwrap();
        assert_eq!(both.joined, Joined::Any);
        assert_eq!(both.parts.len(), 2);
    }

    #[test]
    fn conditions_without_a_shape_in_words_are_not_described() {
        for text in [
            "why == slow",
            "score <= 2 and solved == no or score == 5",
            "not (score <= 2 or solved == no)",
            "score > 5",
            "score <= 2 and score >= 4",
        ] {
            assert_eq!(described(text), None, "{text}");
        }
    }

    #[test]
    fn reports_positions() {
        let err = Expr::parse("satisfaction <== 3").unwrap_err();
        assert_eq!(err.at, 15);
        let err = Expr::parse("satisfaction 3").unwrap_err();
        assert_eq!(err.at, 13);
        let err = Expr::parse("(a == 1").unwrap_err();
        assert!(err.message.contains("`)`"));
        assert_eq!(Expr::parse("a == 1 b").unwrap_err().at, 7);
    }
}
