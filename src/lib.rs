//! canvass: survey-as-code for customer-experience teams.
//!
//! Surveys and their distribution rules are YAML files in a git repository. This library
//! holds every step of the flow; the `canvass` binary is a thin layer over it. Each module
//! owns one step:
//!
//! - [`load`]: YAML into a tree that knows every node's position;
//! - [`document`]: one loaded file, its JSON form and every node's position;
//! - [`schema`] and [`check`]: the shape and the meaning of the files, as [`diag`]nostics;
//! - [`model`] and [`when`]: the typed surveys, rules and the condition language;
//! - [`locale`]: a locale tag's language and region, read in one place;
//! - [`words`]: the interface words respondents read, per language, and a workspace's own;
//! - [`placeholders`]: the `{{ name }}` slots of texts, read one way by check and render;
//! - [`answer`]: one response validated against its survey, for every channel;
//! - [`workspace`], [`fsutil`] and [`scaffold`]: finding, loading and creating workspaces,
//!   and writing their files whole or not at all;
//! - [`plan`]: who receives what, and why others are skipped;
//! - [`send`]: transports, the send loop, retries and test sends;
//! - [`serve`]: the HTTP collector for one-click links, forms, open links and unsubscribes;
//! - [`store`]: the ledger, answers, keys, suppressions and outbox, over SQLite or
//!   PostgreSQL;
//! - [`token`]: signed response links and keyed recipient hashes;
//! - [`privacy`]: keys, forgetting a person and retention;
//! - [`diff`]: what a change to the files means for the answers, against a git revision;
//! - [`render`]: e-mail, web page, chat and print from minijinja templates;
//! - [`preview`]: the live preview server of every rendering;
//! - [`import`], [`score`] and [`report`]: answers in and out, folded into summaries;
//! - [`alerts`]: alerts and signed webhook events on answers, through the store's outbox.
//!
//! The library never prints: it returns values and diagnostics, and the caller chooses
//! how to show them.
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod alerts;
pub mod answer;
pub mod check;
pub mod diag;
pub mod diff;
pub mod document;
pub mod fsutil;
pub mod import;
pub mod load;
pub mod locale;
pub mod model;
pub mod placeholders;
pub mod plan;
pub mod preview;
pub mod privacy;
pub mod render;
pub mod report;
pub mod scaffold;
pub mod schema;
pub mod score;
pub mod send;
pub mod serve;
pub mod store;
pub mod token;
pub mod when;
pub mod words;
pub mod workspace;
