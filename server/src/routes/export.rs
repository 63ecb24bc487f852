//! `GET /v1/me/export`: everything held about the caller, as one JSON
//! document with a published schema (`docs/export.schema.json`). The large
//! collections are streamed a page at a time, so a practitioner with
//! 100,000 visits is exported in constant memory.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use praxis_protocol::audit::AuditEntry;
use praxis_protocol::notice::NoticeVersion;
use praxis_protocol::{ErrorCode, Problem};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::Caller;
use crate::store::{Event, Store, StoreError};

/// The export format's version.
pub const FORMAT: &str = "praxis-export/1";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

type Chunks = mpsc::Sender<Result<Bytes, io::Error>>;

async fn send(tx: &Chunks, s: impl Into<Bytes>) -> Result<(), StoreError> {
    tx.send(Ok(s.into()))
        .await
        .map_err(|_| StoreError::Decode("export reader went away"))
}

/// Writes one collection of the user's scope as a JSON array, a page at a
/// time.
async fn array(store: &Store, user: Uuid, collection: &str, tx: &Chunks) -> Result<(), StoreError> {
    send(tx, "[").await?;
    let (mut after, mut first) = (0, true);
    loop {
        let (page, last) = store.export_page(user, collection, after).await?;
        if page.is_empty() {
            break;
        }
        let mut buf = Vec::with_capacity(page.len() * 256);
        for v in &page {
            if !first {
                buf.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut buf, v).map_err(|_| StoreError::Decode("record"))?;
        }
        send(tx, buf).await?;
        after = last;
    }
    send(tx, "]").await
}

fn field(name: &str, v: &Value) -> Result<String, StoreError> {
    Ok(format!(
        ",{}:{}",
        serde_json::to_string(name).map_err(|_| StoreError::Decode("name"))?,
        serde_json::to_string(v).map_err(|_| StoreError::Decode("value"))?
    ))
}

/// Entries of the user's audit history per page of the export.
const AUDIT_PAGE: i64 = 500;

/// Writes the user's audit history (newest first) as a JSON array, a page
/// at a time, starting with `first` (read before the export began, so the
/// export's own entry is not in it).
async fn audit_array(
    store: &Store,
    user: Uuid,
    first: Vec<AuditEntry>,
    tx: &Chunks,
) -> Result<(), StoreError> {
    send(tx, "[").await?;
    let (mut page, mut sep) = (first, "");
    while let Some(oldest) = page.last().map(|e| e.seq) {
        let full = page.len() as i64 == AUDIT_PAGE;
        let mut buf = Vec::with_capacity(page.len() * 160);
        for e in &page {
            buf.extend_from_slice(sep.as_bytes());
            sep = ",";
            serde_json::to_writer(&mut buf, e).map_err(|_| StoreError::Decode("audit"))?;
        }
        send(tx, buf).await?;
        if !full {
            break;
        }
        page = store.audit_of_user_before(user, oldest, AUDIT_PAGE).await?;
    }
    send(tx, "]").await
}

/// What the export streams after the small parts read up front.
struct Streamed {
    contacts: Value,
    tail: Value,
    audit: Vec<AuditEntry>,
}

async fn write(
    store: Store,
    user: Uuid,
    head: Value,
    rest: Streamed,
    tx: &Chunks,
) -> Result<(), StoreError> {
    let Streamed {
        contacts,
        tail,
        audit,
    } = rest;
    // `head` is an object: open it, leave it open for the streamed parts.
    let head = serde_json::to_string(&head).map_err(|_| StoreError::Decode("head"))?;
    send(tx, head[..head.len() - 1].to_owned()).await?;
    for (name, collection) in [
        ("consents", "consents"),
        ("appointments", "appointments"),
        ("visit_events", "visit_events"),
    ] {
        send(tx, format!(",\"{name}\":")).await?;
        array(&store, user, collection, tx).await?;
    }
    send(tx, ",\"contacts\":").await?;
    let contacts = serde_json::to_string(&contacts).map_err(|_| StoreError::Decode("contacts"))?;
    send(tx, contacts[..contacts.len() - 1].to_owned()).await?;
    send(tx, ",\"cards_held\":").await?;
    array(&store, user, praxis_protocol::contacts::COLLECTION, tx).await?;
    send(tx, "}").await?;
    if let Value::Object(map) = tail {
        for (k, v) in &map {
            send(tx, field(k, v)?).await?;
        }
    }
    send(tx, ",\"audit\":").await?;
    audit_array(&store, user, audit, tx).await?;
    send(tx, "}").await
}

/// The export document of `user` as a stream of chunks: the small parts
/// are read first (a failure is still an error, not a cut document), then
/// `event` goes on the audit chain and the rest streams from a task.
/// `None` when there is no such account.
pub(crate) async fn start(
    store: Store,
    user: Uuid,
    now: chrono::DateTime<chrono::Utc>,
    event: Event,
    notice: Option<NoticeVersion>,
) -> Result<Option<mpsc::Receiver<Result<Bytes, io::Error>>>, StoreError> {
    let Some(u) = store.user(user).await? else {
        return Ok(None);
    };
    let head = json!({
        "format": FORMAT,
        "exported_at": now,
        "user_id": user,
        "privacy_notice": notice,
        "account": {
            "email": u.email, "full_name": u.full_name, "phone": u.phone,
            "country": u.country, "language": u.language, "profession": u.profession,
            "date_of_birth": u.date_of_birth, "created_at": u.created_at,
            "updated_at": u.updated_at,
            "restricted": store.is_restricted(user).await?,
        },
        "organisations": store.memberships(user).await?,
    });
    let contacts = json!({
        "my_card": store.card(user).await?,
        "holders": store.holders(user).await?,
        "blocked": store.blocked_by(user).await?,
    });
    let tail = json!({
        "location": {
            "live_shares": store.shares_of(user, now).await?,
            "positions": store.my_positions(user).await?,
            "shared_with_me": store.shared_with(user, now).await?,
            "held_visit_events": store.held_visit_events(user).await?,
        },
        "post_mortem": store.post_mortem(user).await?,
        "objections": store
            .objections(user)
            .await?
            .into_iter()
            .filter(|o| o.objected)
            .map(|o| json!({ "basis": o.basis, "since": o.since }))
            .collect::<Vec<_>>(),
    });
    // The history's first page is read now, before the export's own entry
    // is appended; the rest follows it page by page.
    let audit = store.audit_of_user(user, AUDIT_PAGE).await?;
    store.audit(event, now).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(8);
    tokio::spawn(async move {
        let rest = Streamed {
            contacts,
            tail,
            audit,
        };
        if let Err(e) = write(store, user, head, rest, &tx).await {
            tracing::error!(error = %e, "export stream failed");
            let _ = tx.send(Err(io::Error::other("export failed"))).await;
        }
    });
    Ok(Some(rx))
}

/// Everything held about me: account, organisations, consents with their
/// history, visits, visit events, location data still held, contact cards
/// (mine, who holds it, those I hold) and the security events about me.
/// One JSON document (schema: `docs/export.schema.json`), streamed.
#[utoipa::path(get, path = "/v1/me/export", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, description = "The export document", content_type = "application/json", body = Object),
        (status = 401, body = Problem)))]
async fn export(State(state): State<AppState>, caller: Caller) -> AppResult<Response> {
    let rx = start(
        state.store().clone(),
        caller.user_id,
        state.now(),
        Event::user("exported", caller.user_id, json!({})),
        Some(NoticeVersion::from(&*state.settings().privacy_notice.get())),
    )
    .await?
    .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    tracing::info!(user_id = %caller.user_id, "data export");
    // Fused: the compression layer may poll once more after the end.
    let stream =
        futures_util::StreamExt::fuse(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (c, rx))
        }));
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"praxis-export.json\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
