//! Routes. Every API route is registered through utoipa-axum's
//! `OpenApiRouter`, so the router and the OpenAPI document are built from
//! the same list and cannot drift apart.

mod accounts;
mod changes;
mod contacts;
mod credentials;
mod devices;
pub(crate) mod export;
mod health;
mod orgs;
mod passwords;
mod post_mortem;
mod privacy;
mod sessions;
pub(crate) mod sync;

pub(crate) use privacy::parse_policy_versions;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use praxis_protocol::ErrorCode;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::Predicate;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::AppError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Praxis API", description = "Accounts, organisations and sync for the Praxis apps."),
    modifiers(&BearerAuth),
    components(schemas(praxis_protocol::Problem, praxis_protocol::ErrorCode))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::routes())
        .merge(orgs::routes())
        .merge(sync::routes())
        .merge(changes::routes())
        .merge(sessions::routes())
        .merge(credentials::routes())
        .merge(devices::routes())
        .merge(privacy::routes())
        .merge(post_mortem::routes())
        .merge(contacts::routes())
        .merge(export::routes())
        .merge(health::routes())
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    declare_refusals(&mut doc);
    doc
}

/// The content type of every error answer.
const PROBLEM_JSON: &str = "application/problem+json";

/// Declares what any operation can answer besides its own statuses: the
/// refusals the extractors, the router and its layers produce for every
/// route (401 for a secured one; 400, 413 and 415 for one with a body; 400
/// for a malformed path parameter; 408, 500 and 503 for all), and
/// problem+json as the content of every error answer. Declared once here
/// rather than on each handler, so a new route cannot forget them.
fn declare_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Content, Ref, RefOr, Response};
    let problem = || Content::new(Some(Ref::from_schema_name("Problem")));
    for (path, item) in &mut doc.paths.paths {
        let has_params = path.contains('{');
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let body = op.request_body.is_some();
            let responses = &mut op.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.as_str() >= "400", response) {
                    response.content.shift_remove("application/json");
                    response.content.insert(PROBLEM_JSON.to_owned(), problem());
                }
            }
            let mut add = |status: &str, description: &str| {
                responses.entry(status.to_owned()).or_insert_with(|| {
                    let mut r = Response::new(description);
                    r.content.insert(PROBLEM_JSON.to_owned(), problem());
                    RefOr::T(r)
                });
            };
            if secured {
                add(
                    "401",
                    "unauthorized: missing, invalid, expired or revoked token",
                );
            }
            if body || has_params {
                add("400", "validation_failed (or malformed_json)");
            }
            if body {
                add("413", "payload_too_large");
                add("415", "unsupported_media_type");
            }
            add("408", "request_timeout");
            add("500", "internal");
            add("503", "unavailable, with Retry-After");
        }
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let (routes, mut doc) = api().split_for_parts();
    declare_refusals(&mut doc);
    let doc = std::sync::Arc::new(doc);
    let body_limit = state.settings().body_limit;
    routes
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = std::sync::Arc::clone(&doc);
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { AppError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { AppError::new(ErrorCode::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(CatchPanicLayer::custom(|_| panic_response()))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            server_date,
        ))
        // Sync pages compress well (repeated field names and HLCs); small
        // answers are not worth the CPU.
        .layer(
            tower_http::compression::CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(
                    tower_http::compression::predicate::SizeAbove::new(2048)
                        .and(tower_http::compression::predicate::NotForContentType::GRPC)
                        // A change stream's events must leave at once, not
                        // wait in a compressor's buffer.
                        .and(tower_http::compression::predicate::NotForContentType::SSE),
                ),
        )
        .layer(tower::util::option_layer(
            state.settings().request_metrics.then(|| {
                axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track)
            }),
        ))
        .layer(
            // Spans carry the route template, never the raw URI or headers:
            // nothing personal reaches the logs.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    tracing::info_span!("request", method = %req.method(), route)
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, _: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_ms = latency.as_millis() as u64,
                        "response"
                    );
                }),
        )
        .with_state(state)
}

/// Every answer's `Date` comes from the server's (injected) clock: devices
/// learn the server's time from it and run on it when their own clock is
/// off (see the core's `clock` module).
async fn server_date(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut res: Response,
) -> Response {
    let date = state.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        res.headers_mut().insert(header::DATE, v);
    }
    res
}

/// Every refusal is problem+json, including those no handler wrote:
/// axum's own extractor rejections (a path segment that is not UTF-8, a
/// bad query string), the timeout layer's empty `408`, and any other bare
/// error status. Their text (which may quote the request) is dropped.
async fn problem_for_bare_errors(res: Response) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == praxis_protocol::PROBLEM_CONTENT_TYPE.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    use axum::http::StatusCode as S;
    let code = match status {
        S::NOT_FOUND => ErrorCode::NotFound,
        S::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        S::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        S::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        S::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        S::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        S::UNAUTHORIZED => ErrorCode::Unauthorized,
        S::FORBIDDEN => ErrorCode::Forbidden,
        S::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::ValidationFailed,
        _ => ErrorCode::Internal,
    };
    let mut problem = AppError::new(code);
    if code == ErrorCode::ValidationFailed {
        problem = problem.detail("The request's path or query could not be read");
    }
    problem.into_response()
}

fn panic_response() -> Response {
    tracing::error!("handler panicked");
    let mut res = AppError::new(ErrorCode::Internal).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
