//! The store's guarantees, one set of tests run against both backends: a SQLite file and a
//! fresh PostgreSQL database (see `pg/mod.rs`). Each test speaks to the store only through
//! `Store`'s methods, as every step of canvass does.

mod pg;

use std::sync::atomic::{AtomicUsize, Ordering};

use canvass::model::AnswerValue;
use canvass::store::{
    Attempt, Claim, Handing, ImportOutcome, LinkFetch, NewMessage, NewResponse, Outcome, Raise,
    Status, Store, SuppressionReason, TargetKind, Write, Written,
};
use canvass::token::Key;
use jiff::Timestamp;

/// Runs `test` on a new SQLite store, then on a new PostgreSQL database when a server is
/// given for the tests.
fn on_each_backend(test: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&Store::open(&dir.path().join("state.db")).unwrap());
    if let Some(scratch) = pg::Scratch::new() {
        test(&Store::connect(&scratch.url).unwrap());
    }
}

fn response(key: &str, at: &str, score: i64) -> NewResponse {
    NewResponse {
        survey: "nps".into(),
        version: 1,
        definition_hash: "h".into(),
        response_key: key.into(),
        channel: "email".into(),
        source: "form".into(),
        rule: Some("r".into()),
        locale: Some("en".into()),
        submitted_at: at.into(),
        confirmed: true,
        complete: true,
        answers: [("recommend".to_string(), AnswerValue::Number(score))].into(),
        segments: [("plan".to_string(), "pro".to_string())].into(),
    }
}

fn answer(r: NewResponse) -> Write {
    Write::Response(Box::new(r))
}

/// The counting answers of survey `nps`, in the order written.
fn counting(store: &Store) -> Vec<(String, i64)> {
    let mut seen = Vec::new();
    store
        .for_each_counting_response("nps", |r| {
            seen.push((r.response_key, r.answers["recommend"].as_number().unwrap()));
            Ok::<_, std::convert::Infallible>(())
        })
        .unwrap();
    seen
}

fn handing(id: &str, recipient: &str, rule: &str) -> Handing {
    Handing {
        id: id.into(),
        survey: "nps".into(),
        version: 1,
        rule: rule.into(),
        channel: "email".into(),
        recipient: recipient.into(),
        seq: 0,
        locale: "en".into(),
        segments: "{}".into(),
        cap_since: None,
    }
}

fn status_of(store: &Store, rule: &str, recipient: &str) -> Option<Status> {
    let history = store.history("nps", rule, recipient).unwrap();
    history.last().map(|entry| entry.status)
}

fn key(byte: u8) -> Key {
    use base64::Engine as _;
    Key::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

const NOW: i64 = 1_800_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

#[test]
fn a_batch_is_recorded_handed_over_and_settled() {
    on_each_backend(|store| {
        store
            .queue_batch(&[handing("d1", "a", "r"), handing("d2", "b", "r")], now())
            .unwrap();
        assert!(store.contacted_since("a", NOW - 86_400).unwrap());
        let log = store.hand_log(now()).unwrap();
        let outcome = |id: &str, status| Outcome {
            id: id.into(),
            status,
            reply: "250 ok".into(),
        };
        log.settle(&outcome("d1", Status::Sent)).unwrap();
        log.settle(&outcome("d2", Status::Retrying)).unwrap();
        assert_eq!(store.recover_interrupted("nps", "r", now()).unwrap(), 0);
        store
            .queue_batch(&[handing("d2", "b", "r")], now())
            .unwrap();
        log.handing("d2").unwrap();
        assert_eq!(
            store.recover_interrupted("nps", "r", now()).unwrap(),
            1,
            "a message in the transport's hands when the run died is unknown"
        );
        let history = store.history("nps", "r", "b").unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].status, history[0].created_at),
            (Status::Unknown, now())
        );
        assert_eq!(store.retry_unknown("nps", "r", now()).unwrap(), 1);
        let counts = store.ledger_counts("nps", "r").unwrap();
        assert_eq!(
            (counts.get("sent"), counts.get("retrying")),
            (Some(&1), Some(&1))
        );
        assert!(!store.contacted_since("a", NOW).unwrap());
    });
}

#[test]
fn the_frequency_cap_is_decided_when_a_first_message_is_recorded() {
    on_each_backend(|store| {
        let capped = |id: &str, recipient: &str| Handing {
            cap_since: Some(NOW - 86_400),
            ..handing(id, recipient, "other")
        };
        store
            .queue_batch(&[handing("d1", "a", "r")], now())
            .unwrap();
        let refused = store
            .queue_batch(&[capped("e1", "a"), capped("e2", "b")], now())
            .unwrap();
        assert_eq!(refused, ["e1"]);
        assert_eq!(status_of(store, "other", "a"), None);
        assert_eq!(status_of(store, "other", "b"), Some(Status::Queued));
        let retry = store.queue_batch(&[capped("e2", "b")], now()).unwrap();
        assert!(retry.is_empty(), "a message does not cap itself");
    });
}

#[test]
fn a_second_answer_replaces_the_first_and_a_repeat_adds_nothing() {
    on_each_backend(|store| {
        let first = [
            answer(response("a", "2026-01-02T00:00:00Z", 3)),
            answer(response("b", "2026-01-01T00:00:00Z", 9)),
        ];
        store.commit_writes(&first, None).unwrap();
        store
            .commit_writes(&[answer(response("a", "2026-01-03T00:00:00Z", 10))], None)
            .unwrap();
        assert_eq!(counting(store), [("b".into(), 9), ("a".into(), 10)]);
        assert_eq!(store.responses_stored("nps", "a").unwrap(), 2, "kept");
        store
            .commit_writes(&[answer(response("a", "2026-01-03T00:00:00Z", 10))], None)
            .unwrap();
        assert_eq!(store.responses_stored("nps", "a").unwrap(), 2);
        let counted = store.counted_response("nps", "a").unwrap().unwrap();
        assert_eq!(counted.answers["recommend"], 10);
        assert!(counted.confirmed);
        assert!(store.answered("nps", &["x", "a"]).unwrap());
        assert!(!store.answered("nps", &["x"]).unwrap());
    });
}

#[test]
fn a_provisional_click_never_displaces_a_confirmed_answer() {
    on_each_backend(|store| {
        store
            .commit_writes(&[answer(response("d1", "2026-01-01T00:00:00Z", 7))], None)
            .unwrap();
        let click = NewResponse {
            confirmed: false,
            ..response("d1", "2026-01-02T00:00:00Z", 0)
        };
        store.commit_writes(&[answer(click.clone())], None).unwrap();
        assert_eq!(counting(store), [("d1".into(), 7)]);
        let mut other = click;
        other.response_key = "d2".into();
        store.commit_writes(&[answer(other)], None).unwrap();
        assert_eq!(
            counting(store),
            [("d1".into(), 7)],
            "a provisional click is not reported"
        );
        assert!(
            !store
                .counted_response("nps", "d2")
                .unwrap()
                .unwrap()
                .confirmed
        );
    });
}

#[test]
fn an_import_is_all_or_nothing_and_applied_once() {
    on_each_backend(|store| {
        let rows = [
            ("z", "2026-01-01T00:00:00Z", 1),
            ("k", "2026-01-02T00:00:00Z", 5),
            ("a", "2026-01-03T00:00:00Z", 2),
            ("k", "2026-01-04T00:00:00Z", 9),
        ];
        let mut abandoned = store.begin_import("d", "nps").unwrap().unwrap();
        abandoned
            .add((&response("lost", "2026-01-01T00:00:00Z", 4)).into())
            .unwrap();
        drop(abandoned);
        assert!(
            counting(store).is_empty(),
            "nothing of a dropped import stays"
        );
        let mut import = store.begin_import("d", "nps").unwrap().unwrap();
        for (key, at, score) in rows {
            import.add((&response(key, at, score)).into()).unwrap();
        }
        assert_eq!(
            import.commit().unwrap(),
            ImportOutcome::Imported { added: 4 }
        );
        assert!(store.begin_import("d", "nps").unwrap().is_none());
        assert_eq!(
            counting(store),
            [("z".into(), 1), ("a".into(), 2), ("k".into(), 9)],
            "within an import the later answer under a key counts"
        );
    });
}

#[test]
fn link_fetches_are_capped_per_link_and_unsubscribes_kept() {
    on_each_backend(|store| {
        let fetch = Write::Fetch(LinkFetch {
            delivery: "d".into(),
            question: Some("score".into()),
            value: Some("9".into()),
        });
        let writes: Vec<Write> = (0..30).map(|_| fetch.clone()).collect();
        store.commit_writes(&writes, None).unwrap();
        let removed = store.forget(&["nobody".into()]).unwrap();
        assert_eq!(removed.fetches, 0);
        store.queue_batch(&[handing("d", "p", "r")], now()).unwrap();
        let removed = store.forget(&["p".into()]).unwrap();
        assert_eq!(removed.fetches, 20, "twenty fetches a link are kept");
        assert_eq!(store.suppression("p").unwrap().as_deref(), Some("erased"));
        store
            .commit_writes(&[Write::Suppress("q".into())], None)
            .unwrap();
        store.suppress("q", SuppressionReason::Bounced).unwrap();
        assert_eq!(
            store.suppression("q").unwrap().as_deref(),
            Some("unsubscribed"),
            "the first reason is kept"
        );
    });
}

#[test]
fn a_person_is_exported_then_forgotten_and_old_data_pruned() {
    on_each_backend(|store| {
        let mut h = handing("dx", "person", "r");
        h.segments = r#"{"plan":"pro"}"#.into();
        store.queue_batch(&[h], now()).unwrap();
        store
            .commit_writes(&[answer(response("dx", "2026-01-01T00:00:00Z", 8))], None)
            .unwrap();
        let context = store.delivery_context("dx").unwrap().unwrap();
        assert_eq!(context.segments, r#"{"plan":"pro"}"#);
        assert_eq!(
            store.delivery_recipient("dx").unwrap().as_deref(),
            Some("person")
        );
        let data = store.respondent_data("person").unwrap();
        assert_eq!(data["deliveries"][0]["id"], "dx");
        assert_eq!(data["deliveries"][0]["segments"]["plan"], "pro");
        assert_eq!(data["responses"][0]["answers"]["recommend"], 8);
        assert_eq!(data["responses"][0]["confirmed"], 1);
        let removed = store.forget(&["person".into()]).unwrap();
        assert_eq!((removed.deliveries, removed.responses), (1, 1));
        assert!(counting(store).is_empty());
        store
            .commit_writes(&[answer(response("old", "2020-01-01T00:00:00Z", 1))], None)
            .unwrap();
        store
            .commit_writes(&[answer(response("new", "2030-01-01T00:00:00Z", 2))], None)
            .unwrap();
        let pruned = store.prune("2025-01-01T00:00:00Z").unwrap();
        assert_eq!(pruned.responses, 1);
        assert_eq!(counting(store), [("new".into(), 2)]);
    });
}

#[test]
fn a_store_takes_its_own_key_only_and_rotation_rekeys_it() {
    on_each_backend(|store| {
        store.check_key(&key(1)).unwrap();
        store.check_key(&key(1)).unwrap();
        let error = store.check_key(&key(2)).unwrap_err().to_string();
        assert!(error.contains(&key(1).fingerprint()), "{error}");
        store
            .queue_batch(&[handing("d1", "old-a", "r")], now())
            .unwrap();
        store.suppress("old-b", SuppressionReason::Bounced).unwrap();
        store
            .commit_writes(
                &[answer(response("old-a", "2026-01-01T00:00:00Z", 6))],
                None,
            )
            .unwrap();
        assert_eq!(store.recipients_outside(&["old-a".into()]).unwrap(), (0, 1));
        let pairs = [
            ("old-a".to_string(), "new-a".to_string()),
            ("old-b".to_string(), "new-b".to_string()),
        ];
        let rekeyed = store.rotate_key(&key(1), &key(2), &pairs).unwrap();
        assert_eq!(
            (rekeyed.deliveries, rekeyed.suppressions, rekeyed.responses),
            (1, 1, 1)
        );
        store.check_key(&key(2)).unwrap();
        assert!(store.is_previous_key(&key(1)).unwrap());
        assert_eq!(status_of(store, "r", "new-a"), Some(Status::Queued));
        assert_eq!(counting(store), [("new-a".into(), 6)]);
        assert!(store.counted_response("nps", "new-a").unwrap().is_some());
    });
}

/// Raises one webhook message on every answer, counting the answers it saw.
#[derive(Default)]
struct EveryAnswer(AtomicUsize);

impl Raise for EveryAnswer {
    fn raise(&self, written: &Written<'_>, out: &mut Vec<NewMessage>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        out.push(NewMessage {
            event: "response.created".into(),
            subscription: "hook".into(),
            target: TargetKind::Webhook,
            address: "HOOK_URL".into(),
            payload: format!(r#"{{"key":"{}"}}"#, written.response_key),
            contact: None,
        });
    }
}

#[test]
fn the_outbox_is_written_with_the_answer_claimed_once_and_retried() {
    on_each_backend(|store| {
        let raise = EveryAnswer::default();
        store
            .commit_writes(
                &[
                    answer(response("a", "2026-01-01T00:00:00Z", 1)),
                    answer(response("b", "2026-01-01T00:00:00Z", 2)),
                ],
                Some(&raise),
            )
            .unwrap();
        assert!(store.message_due().unwrap());
        let claimed = store.claim_messages(10, 60, Claim::Due).unwrap();
        assert_eq!(claimed.len(), 2);
        assert_eq!(claimed[0].payload, r#"{"key":"a"}"#);
        assert!(
            store.claim_messages(10, 60, Claim::Due).unwrap().is_empty(),
            "a claimed message is left to its deliverer"
        );
        let later = claimed[1].next_attempt_at + 3_600;
        store
            .record_attempts(&[
                Attempt::Delivered {
                    id: claimed[0].id,
                    reply: "200".into(),
                },
                Attempt::Refused {
                    id: claimed[1].id,
                    reply: "500".into(),
                    retry_at: Some(later),
                },
            ])
            .unwrap();
        let undelivered = store.undelivered_messages().unwrap();
        assert_eq!(undelivered.len(), 1);
        assert_eq!(undelivered[0].message_id, claimed[1].message_id);
        assert_eq!(
            (undelivered[0].attempts, undelivered[0].status.as_str()),
            (1, "pending")
        );
        assert_eq!(store.next_message_due().unwrap(), Some(later));
        let again = store
            .claim_messages(10, 60, Claim::Every { after: 0 })
            .unwrap();
        assert_eq!(
            again[0].message_id, claimed[1].message_id,
            "same webhook-id"
        );
        assert_eq!(
            store.next_message_due().unwrap(),
            None,
            "a message another deliverer holds is left to it"
        );
    });
}

#[test]
fn definitions_and_response_rates_read_back() {
    on_each_backend(|store| {
        let (ws, _) = canvass::workspace::Workspace::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme"),
        );
        let surveys: Vec<_> = ws
            .surveys
            .iter()
            .filter_map(|e| e.survey.as_ref().map(|s| &s.value))
            .collect();
        store.record_definitions(surveys.iter().copied()).unwrap();
        store.record_definitions(surveys.iter().copied()).unwrap();
        assert_eq!(store.definitions().unwrap().len(), surveys.len());
        store
            .queue_batch(&[handing("d1", "a", "r"), handing("d2", "b", "r")], now())
            .unwrap();
        let log = store.hand_log(now()).unwrap();
        log.settle(&Outcome {
            id: "d1".into(),
            status: Status::Sent,
            reply: "250 ok".into(),
        })
        .unwrap();
        let rates = store.delivered_by_rule("nps").unwrap();
        assert_eq!(rates.get(&(1, "r".to_string())), Some(&1));
        store.ping().unwrap();
    });
}

#[test]
fn a_rule_is_sent_by_one_run_at_a_time_across_connections() {
    let Some(scratch) = pg::Scratch::new() else {
        return;
    };
    let first = Store::connect(&scratch.url).unwrap();
    let second = Store::connect(&scratch.url).unwrap();
    assert_eq!(first.lock_rule("nps", "r").unwrap(), Some(true));
    assert_eq!(second.lock_rule("nps", "r").unwrap(), Some(false));
    assert_eq!(second.lock_rule("nps", "other").unwrap(), Some(true));
    drop(first);
    assert_eq!(
        second.lock_rule("nps", "r").unwrap(),
        Some(true),
        "a run that ends releases its rule"
    );
    let dir = tempfile::tempdir().unwrap();
    let local = Store::open(&dir.path().join("state.db")).unwrap();
    assert_eq!(
        local.lock_rule("nps", "r").unwrap(),
        None,
        "a lock file guards SQLite"
    );
}

#[test]
fn a_url_that_asks_for_tls_never_falls_back_to_plain_text() {
    let Some(scratch) = pg::Scratch::new() else {
        return;
    };
    let separator = if scratch.url.contains('?') { '&' } else { '?' };
    let error = Store::connect(&format!("{}{separator}sslmode=require", scratch.url))
        .expect_err("the test server speaks no TLS, so sslmode=require must refuse it")
        .to_string();
    assert!(
        error.contains("TLS") || error.contains("SSL") || error.contains("tls"),
        "{error}"
    );
    let prefer = Store::connect(&format!("{}{separator}sslmode=prefer", scratch.url));
    assert!(prefer.is_ok(), "prefer talks to a server without TLS");
}
