//! The post-mortem directive (BAKUP's promise): recorded sealed, in the
//! export, and applied by the operator in both modes: erasure (also the
//! default), or the export mailed to the designated person through a real
//! SMTP server on loopback, then erasure, verified like the erasure test
//! (no trace in the server's file).

use base64::Engine as _;
use praxis_protocol::notice::PostMortemAction;
use praxis_server::clock::Clock as _;
use praxis_server::mail::{MailConfig, MailTransport};
use praxis_server::operator::apply_post_mortem;
use praxis_tests::smtp::SmtpServer;
use praxis_tests::{Backend, TestServer, Transport};
use serde_json::{Value, json};
use uuid::Uuid;

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The attachment of a received message, decoded (lettre picks the
/// transfer encoding by content).
fn attachment(data: &str) -> Vec<u8> {
    let start = data
        .find("filename=\"praxis-export.json\"")
        .expect("an attachment");
    let part_start = data[..start].rfind("\r\n--").expect("part start");
    let part = &data[part_start..];
    let split = part.find("\r\n\r\n").expect("part body");
    let (head, body) = (&part[..split], &part[split + 4..]);
    let body = &body[..body.find("\r\n--").unwrap_or(body.len())];
    let encoding = head.to_ascii_lowercase();
    if encoding.contains("content-transfer-encoding: base64") {
        let b64: String = body.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64")
    } else if encoding.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let b = joined.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex byte"));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    } else {
        body.as_bytes().to_vec()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directive_is_sealed_exported_and_applied_in_both_modes() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(s) = TestServer::start(backend, Transport::Oneshot).await {
            directive(s).await;
        }
    }
}

async fn directive(s: TestServer) {
    let smtp = SmtpServer::start().await;
    let mail = MailConfig {
        transport: MailTransport::Smtp(smtp.url()),
        from: "Praxis <no-reply@praxis.test>".into(),
    };
    let store = s.state.store().clone();
    let heir = "heir.marker@example.org";
    let words = "For Camille: the visit history marker";
    let u = s.user("pm-handover").await;
    let id: Uuid = u.id.parse().expect("id");

    // Without a directive: erasure, the default.
    let r = s
        .send("GET", "/v1/me/post-mortem", Some(&u.access), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"action": "erase"}));

    // Refusals change nothing.
    for bad in [
        json!({"action": "erase", "recipient": {"name": "A", "email": heir}}),
        json!({"action": "erase", "message": "hello"}),
        json!({"action": "hand_over"}),
        json!({"action": "hand_over", "recipient": {"name": "A", "email": "not an address"}}),
        // Shapes the device lets through; the server's address check does not.
        json!({"action": "hand_over", "recipient": {"name": "A", "email": "heir@example.org."}}),
        json!({"action": "hand_over", "recipient": {"name": "A", "email": "heir@@example.org"}}),
        json!({"action": "hand_over", "recipient": {"name": " ", "email": heir}}),
        json!({"action": "hand_over", "recipient": {"name": "A", "email": heir}, "message": "x".repeat(2001)}),
        json!({"action": "sell"}),
        json!({"action": "erase", "extra": 1}),
    ] {
        let r = s
            .send("PUT", "/v1/me/post-mortem", Some(&u.access), Some(&bad))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        store.post_mortem(id).await.expect("read").action,
        PostMortemAction::Erase
    );

    let set = json!({
        "action": "hand_over",
        // Kept trimmed, the address lower-cased.
        "recipient": {"name": " Camille Heir ", "email": format!(" {} ", heir.to_uppercase())},
        "message": words,
    });
    let r = s
        .send("PUT", "/v1/me/post-mortem", Some(&u.access), Some(&set))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = s
        .send("GET", "/v1/me/post-mortem", Some(&u.access), None)
        .await
        .json();
    assert_eq!(got["recipient"]["email"], heir);
    assert_eq!(got["message"], words);
    assert!(got["updated_at"].is_string());
    // In the export; sealed in the server's file.
    let doc = s
        .send("GET", "/v1/me/export", Some(&u.access), None)
        .await
        .json();
    assert_eq!(doc["post_mortem"]["action"], "hand_over");
    assert_eq!(doc["post_mortem"]["recipient"]["name"], "Camille Heir");
    if s.backend == Backend::Sqlite {
        s.sqlite_vacuum();
        let bytes = s.sqlite_file_bytes().expect("file");
        for m in [heir, "Camille Heir", words] {
            assert!(!contains(&bytes, m), "{m} in clear in the server's file");
        }
    }

    // A hand-over without a mail server: refused, nothing erased.
    let now = s.clock.now();
    let e = apply_post_mortem(&store, id, None, Some("DEATH-1"), now, None)
        .await
        .expect_err("no mail server");
    assert!(format!("{e:#}").contains("--smtp-url"), "{e:#}");
    assert!(store.user(id).await.expect("read").is_some());

    // Applied: the export reaches the designated person, then erasure.
    let done = apply_post_mortem(&store, id, Some(&mail), Some("DEATH-1"), now, None)
        .await
        .expect("apply");
    assert_eq!(done, PostMortemAction::HandOver);
    let got = smtp.wait_for(1).await;
    assert_eq!(got[0].to, vec![heir.to_owned()]);
    assert!(got[0].data.contains(words), "the message is in the mail");
    let export: Value = serde_json::from_slice(&attachment(&got[0].data)).expect("export");
    assert_eq!(export["user_id"], u.id.as_str());
    assert_eq!(export["account"]["email"], u.email.as_str());
    assert!(store.user(id).await.expect("read").is_none(), "erased");
    s.send(
        "POST",
        "/v1/sessions",
        None,
        Some(&json!({"email": u.email, "password": u.password})),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let audit = store.audit_of_user(id, 100).await.expect("audit");
    for event in [
        "operator_exported",
        "operator_post_mortem_applied",
        "operator_erased",
    ] {
        assert!(audit.iter().any(|e| e.event == event), "{event} audited");
    }
    if s.backend == Backend::Sqlite {
        s.sqlite_vacuum();
        let bytes = s.sqlite_file_bytes().expect("file");
        for m in [heir, "Camille Heir", words, u.email.as_str()] {
            assert!(!contains(&bytes, m), "{m} left after erasure");
        }
    }

    // Without a directive: erased, nothing mailed.
    let v = s.user("pm-default").await;
    let vid: Uuid = v.id.parse().expect("id");
    let done = apply_post_mortem(&store, vid, Some(&mail), None, now, None)
        .await
        .expect("apply");
    assert_eq!(done, PostMortemAction::Erase);
    assert!(store.user(vid).await.expect("read").is_none());
    // A directive set and then removed: the default again.
    let w = s.user("pm-removed").await;
    let wid: Uuid = w.id.parse().expect("id");
    s.send("PUT", "/v1/me/post-mortem", Some(&w.access), Some(&set))
        .await;
    let r = s
        .send("DELETE", "/v1/me/post-mortem", Some(&w.access), None)
        .await;
    assert_eq!(r.status, 204);
    let done = apply_post_mortem(&store, wid, Some(&mail), None, now, None)
        .await
        .expect("apply");
    assert_eq!(done, PostMortemAction::Erase);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(smtp.received().len(), 1, "only the hand-over was mailed");
}
