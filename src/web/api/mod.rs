//! The JSON API (`/api/v1`), behind a bearer token. Errors are `{"error":{"code","message"}}`,
//! plus `"field"` for bad input; `message` is a sentence for a person, never a parser's words.
//!
//! Every handler reads its body with [`Json`] and its query with [`Query`], which name the field
//! at fault; malformed JSON (400), a body that is not JSON (415) and a path parameter that
//! cannot be an id (404) are answered by the error handlers that `routes` registers
//! ([`json_error`], [`path_error`]); a wrong method on an existing path gets 405 with `Allow`
//! ([`not_allowed`]).

pub mod activity;
pub mod agents;
pub mod briefings;
pub mod channels;
pub mod chat;
pub mod events;
pub mod logins;
pub mod notifications;
pub mod reminders;
pub mod retention;
pub mod schedules;
pub mod tasks;
pub mod today;
pub mod two_factor;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::auth::tokens::ApiToken;
use crate::error::{ApiError, AppError};
use crate::services::Actor;

/// Who acts for this request: the holder of its token (see `middleware::require_token`, which
/// put the token there): an `admin` token acts for the person, any other as `api`. The token is
/// kept so that what it changes is recorded with it in the activity log.
pub struct ApiActor(pub Actor);

impl FromRequest for ApiActor {
    type Error = ApiError;
    type Future = std::future::Ready<Result<ApiActor, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        use actix_web::HttpMessage;
        // Without a token (a route outside the token gate) nothing is allowed beyond `api`.
        let actor = req.extensions().get::<ApiToken>().map(ApiToken::actor).unwrap_or(Actor::API);
        std::future::ready(Ok(ApiActor(actor)))
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError(AppError::NotFound(
        "there is no such API endpoint; the README lists them under “API”".into(),
    )))
}

/// The default service of a resource: its path exists, but not with this method.
pub fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move |req: HttpRequest| async move {
        Err::<HttpResponse, _>(ApiError(AppError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: allow.to_string(),
        }))
    })
}

/// A JSON body that cannot be read at all: not JSON (415), too large (413), malformed (400).
pub fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError(json_payload_error(err)).into()
}

fn json_payload_error(err: JsonPayloadError) -> AppError {
    match err {
        JsonPayloadError::ContentType => AppError::UnsupportedMediaType(
            "send the body as JSON, with the header Content-Type: application/json".into(),
        ),
        JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
            AppError::PayloadTooLarge(format!("the body is larger than the limit of {limit} bytes"))
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => json_data_error(None, &e),
        JsonPayloadError::Deserialize(e) => {
            let what = if e.is_eof() { "it ends too early" } else { "it has a syntax error" };
            AppError::Malformed(format!(
                "the body is not valid JSON: {what} (line {}, column {})",
                e.line(),
                e.column()
            ))
        }
        JsonPayloadError::Serialize(_) | JsonPayloadError::Payload(_) => {
            AppError::Malformed("the body could not be read; send it again".into())
        }
        _ => AppError::Malformed("the body could not be read as JSON".into()),
    }
}

/// The query string did not fit; [`Query`] answers for that itself, this is the fallback.
pub fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError(AppError::invalid("query", format!("cannot be read: {err}"))).into()
}

/// A path parameter of the wrong type (`/tasks/abc`): nothing lives there.
pub fn path_error(_: PathError, req: &HttpRequest) -> actix_web::Error {
    let (name, value) =
        req.match_info().iter().next().map(|(n, v)| (n.to_string(), v.to_string())).unwrap_or_default();
    let name = if name == "id" { "ID".to_string() } else { name };
    ApiError(AppError::NotFound(format!("there is nothing with {name} “{value}”; {name}s are whole numbers")))
        .into()
}

/// A JSON body deserialised field by field, so that a wrong field is named (`field`). The body
/// is read by actix's `Json` first, so [`json_error`] answers for anything that is not JSON.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Json<T>, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = body.await?.into_inner();
            from_json(value).map(Json).map_err(|e| ApiError(e).into())
        })
    }
}

/// Reads `T` out of JSON, naming the field at fault.
pub fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        json_data_error(Some(path), e.inner())
    })
}

/// A value of the wrong shape, in words: which field, and what it should be.
fn json_data_error(path: Option<String>, e: &serde_json::Error) -> AppError {
    let text = e.to_string();
    // serde_json adds " at line 1 column 5"; the field's name says more.
    let text = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let path = path.filter(|p| p != "." && !p.is_empty());
    let join = |parent: Option<&str>, name: &str| match parent {
        Some(p) => format!("{p}.{name}"),
        None => name.to_string(),
    };
    if let Some(name) = between(&text, "missing field `", "`") {
        return AppError::invalid(join(path.as_deref(), name), "is required");
    }
    if let Some(name) = between(&text, "unknown field `", "`") {
        let known = text.split_once("expected ").map(|(_, k)| k.replace('`', "")).unwrap_or_default();
        let hint = if known.is_empty() { String::new() } else { format!("; expected {known}") };
        // serde_path_to_error's path already ends with the unknown field.
        let field = match path.as_deref() {
            Some(p) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
            parent => join(parent, name),
        };
        return AppError::invalid(field, format!("is not a field here{hint}"));
    }
    let field = path.unwrap_or_else(|| "body".to_string());
    AppError::invalid(field, value_message(&text))
}

/// serde's "invalid type: string \"x\", expected i32" as "must be a whole number, not the text "x"".
fn value_message(text: &str) -> String {
    let words = |expected: &str| -> String {
        let e = expected.trim();
        match e {
            _ if ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "isize"].contains(&e) => {
                "a whole number".into()
            }
            "f32" | "f64" => "a number".into(),
            "a boolean" | "bool" => "true or false".into(),
            "a sequence" => "a list".into(),
            "a map" => "an object".into(),
            _ if e.starts_with("struct ") => "an object".into(),
            _ => e.replace('`', "").to_string(),
        }
    };
    let got = |unexpected: &str| -> String {
        let u = unexpected.trim();
        if let Some(s) = u.strip_prefix("string ") {
            format!("the text {s}")
        } else if let Some(n) = u.strip_prefix("integer ").or_else(|| u.strip_prefix("floating point ")) {
            format!("the number {}", n.trim_matches('`'))
        } else if let Some(b) = u.strip_prefix("boolean ") {
            b.trim_matches('`').to_string()
        } else if u == "sequence" {
            "a list".into()
        } else if u == "map" {
            "an object".into()
        } else {
            u.to_string()
        }
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.split_once(", expected ")
        {
            return format!("must be {}, not {}", words(expected), got(unexpected));
        }
    }
    if let Some(rest) = text.strip_prefix("unknown variant ")
        && let Some((value, expected)) = rest.split_once(", expected ")
    {
        let expected = expected.trim_start_matches("one of ").replace('`', "");
        return format!("“{}” is not one of {expected}", value.trim_matches('`'));
    }
    text.to_string()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// A query string deserialised field by field, so that `limit=abc` is answered with
/// "Limit: “abc” is not a whole number." and `field: "limit"`.
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Query<T>, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(from_query(req.query_string()).map(Query).map_err(|e| ApiError(e).into()))
    }
}

/// Reads `T` out of a query string, naming the parameter at fault.
pub fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let text = e.inner().to_string();
        if let Some(name) = between(&text, "missing field `", "`") {
            return AppError::invalid(name, "is required");
        }
        let field = if field.is_empty() || field == "." { "query".to_string() } else { field };
        let value = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let message = if text.contains("invalid digit")
            || text.contains("cannot parse integer")
            || text.contains("number too large")
            || text.contains("number too small")
        {
            format!("“{value}” is not a whole number")
        } else if text.contains("`true` or `false`") {
            format!("“{value}” is not true or false")
        } else {
            value_message(&text)
        };
        AppError::invalid(field, message)
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        count: Option<i32>,
        done: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<i64>,
        all: Option<bool>,
    }

    fn said(e: AppError) -> (String, String) {
        (e.field().unwrap_or("").to_string(), e.client_message())
    }

    #[test]
    fn json_errors_name_the_field_in_words() {
        let cases = [
            (serde_json::json!({}), "title", "Title is required."),
            (serde_json::json!({"title": 5}), "title", "Title must be a string, not the number 5."),
            (
                serde_json::json!({"title": "t", "count": "x"}),
                "count",
                "Count must be a whole number, not the text \"x\".",
            ),
            (
                serde_json::json!({"title": "t", "done": 1}),
                "done",
                "Done must be true or false, not the number 1.",
            ),
            (
                serde_json::json!({"title": "t", "colour": 1}),
                "colour",
                "Colour is not a field here; expected one of title, count, done.",
            ),
            (serde_json::json!("x"), "body", "The request body must be an object, not the text \"x\"."),
        ];
        for (value, field, message) in cases {
            let e = from_json::<Body>(value.clone()).unwrap_err();
            assert_eq!(said(e), (field.to_string(), message.to_string()), "{value}");
        }
    }

    #[test]
    fn query_errors_name_the_parameter_and_quote_the_value() {
        let e = from_query::<Params>("limit=abc").unwrap_err();
        assert_eq!(said(e), ("limit".into(), "Limit: “abc” is not a whole number.".into()));
        let e = from_query::<Params>("all=maybe").unwrap_err();
        assert_eq!(said(e), ("all".into(), "All: “maybe” is not true or false.".into()));
        assert_eq!(from_query::<Params>("limit=5").unwrap().limit, Some(5));
    }

    #[test]
    fn malformed_json_is_a_400_and_a_wrong_type_a_415() {
        let e = serde_json::from_str::<serde_json::Value>("{\"a\": ").unwrap_err();
        let e = json_payload_error(JsonPayloadError::Deserialize(e));
        assert_eq!(e.status(), 400);
        assert_eq!(e.client_message(), "The body is not valid JSON: it ends too early (line 1, column 6).");
        let e = json_payload_error(JsonPayloadError::ContentType);
        assert_eq!(e.status(), 415);
        assert_eq!(
            e.client_message(),
            "Send the body as JSON, with the header Content-Type: application/json."
        );
    }
}
